//! The journal of a run of the executor: what became of every write, in order, and the
//! text that says it and what finishes the job.

use serde::Serialize;

use crate::plan::writes::Write;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum Done {
    /// Sent and verified (or found applied after a lost answer).
    Applied,
    Failed {
        error: String,
    },
    /// The object changed since it was read (409) and the write is not applied.
    Conflict {
        error: String,
    },
    NotSent,
    /// Sent (or being sent) when a second signal ended the process: it may have landed.
    InFlight,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub object: String,
    pub action: String,
    pub done: Done,
    /// A cleanup write (it undoes a temporary write of this run).
    pub cleanup: bool,
}

/// What happened to every write of a run, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Journal {
    pub entries: Vec<Entry>,
    /// Stopped by SIGINT (130) or SIGTERM (143).
    pub interrupted: Option<i32>,
    /// A gate that did not pass (a step's pods not Ready within --timeout, HEALTH_ERR):
    /// the writes may all be done, but the run is not.
    pub gate: Option<String>,
}

impl Journal {
    pub fn new(writes: &[Write]) -> Journal {
        Journal {
            entries: writes
                .iter()
                .map(|w| Entry {
                    object: w.object.describe(),
                    action: w.action.clone(),
                    done: Done::NotSent,
                    cleanup: w.cleanup,
                })
                .collect(),
            interrupted: None,
            gate: None,
        }
    }

    /// Every write applied.
    pub fn complete(&self) -> bool {
        self.entries.iter().all(|e| matches!(e.done, Done::Applied))
    }

    /// Every write applied and no signal stopped the run.
    pub fn all_done(&self) -> bool {
        self.complete() && self.interrupted.is_none() && self.gate.is_none()
    }

    pub fn count(&self, f: impl Fn(&Done) -> bool) -> usize {
        self.entries.iter().filter(|e| f(&e.done)).count()
    }

    pub fn conflict(&self) -> bool {
        self.entries.iter().any(|e| matches!(e.done, Done::Conflict { .. }))
    }

    /// A cleanup write (removing the CephCluster-level label) is not done while the write it
    /// undoes may have landed: the label may be on. (A pre-pull pod's delete is a cleanup
    /// write too, of a pod: not a label.)
    pub fn label_left_on(&self) -> bool {
        self.entries.iter().enumerate().any(|(i, e)| {
            e.cleanup
                && e.object.starts_with("cephcluster.")
                && !matches!(e.done, Done::Applied)
                && self.entries[..i]
                    .iter()
                    .any(|x| x.object == e.object && !x.cleanup && !matches!(x.done, Done::NotSent))
        })
    }

    /// The journal for people: every write and what became of it; then what finishes it.
    pub fn text(&self, rerun: &str) -> String {
        let mut t = String::new();
        for e in &self.entries {
            let what = match &e.done {
                Done::Applied => "done".to_string(),
                Done::Failed { error } => format!("FAILED: {error}"),
                Done::Conflict { error } => format!("NOT DONE (changed since read): {error}"),
                Done::NotSent => "not sent".to_string(),
                Done::InFlight => "UNKNOWN (in flight when the process was stopped; it may have landed)".to_string(),
            };
            t.push_str(&format!(
                "{} {}: {}\n",
                crate::output::clean(&e.object),
                crate::output::clean(&e.action),
                // an error's own line breaks stay; everything else unsafe is escaped
                crate::output::terminal(&what, false)
            ));
        }
        let label_on = self.label_left_on();
        if label_on {
            t.push_str(
                "The CephCluster-level ceph.rook.io/do-not-reconcile label this run added may still be on: Rook's \
                 mon, mgr and osd reconcile is then stopped for the whole cluster. Remove it first: kubectl \
                 ceph-image resume cluster\n",
            );
        }
        if let Some(gate) = &self.gate {
            t.push_str(&format!(
                "Stopped at a gate: {}. The restarted pods may still be coming up; running the same command again \
                 waits for them before any further step: {rerun}\n",
                crate::output::clean(gate)
            ));
        } else if self.complete() {
            if self.interrupted.is_some() {
                t.push_str(&format!(
                    "Every write of this run was done (those in flight when the signal came finished). If the command \
                     had more to do (waiting, further stages), running it again goes on from here: {rerun}\n"
                ));
            }
        } else {
            let done = self.count(|d| matches!(d, Done::Applied));
            t.push_str(&format!(
                "{done} of {} write(s) done; the rest not. {}unning the same command again finishes the job (done \
                 writes are not repeated): {rerun}\n",
                self.entries.len(),
                if label_on { "After `kubectl ceph-image resume cluster`, r" } else { "R" }
            ));
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cleanup_left_undone_says_the_cluster_is_paused_and_how_to_undo_it() {
        let entry = |action: &str, done: Done, cleanup: bool| Entry {
            object: "cephcluster.ceph.rook.io/rook-ceph".into(),
            action: action.into(),
            done,
            cleanup,
        };
        let mut j = Journal::default();
        j.entries.push(entry("add ceph.rook.io/do-not-reconcile", Done::Applied, false));
        j.entries.push(entry(
            "remove ceph.rook.io/do-not-reconcile",
            Done::Failed { error: "Error from server (InternalError)".into() },
            true,
        ));
        let t = j.text("kubectl ceph-image unset mgr --strategy fence --reconcile-now --yes");
        assert!(t.contains("stopped for the whole cluster") && t.contains("kubectl ceph-image resume cluster"), "{t}");
        assert!(t.contains("After `kubectl ceph-image resume cluster`, running the same command again"), "{t}");
        // The label was never added: nothing to say about it.
        j.entries[0].done = Done::NotSent;
        assert!(!j.text("x").contains("resume cluster"));
        // Added while a second signal ended the process: it may be on.
        j.entries[0].done = Done::InFlight;
        assert!(j.text("x").contains("may still be on"));
        j.entries[0].done = Done::Applied;
        j.entries[1].done = Done::Applied;
        assert!(!j.text("x").contains("resume cluster"));
        j.interrupted = Some(130);
        assert!(!j.all_done() && j.complete(), "a signal after the last write is still an interrupt");
        assert!(j.text("x").contains("Every write of this run was done"));
    }

    #[test]
    fn a_pre_pull_pod_left_undeleted_is_not_a_cluster_label_left_on() {
        let entry = |action: &str, done: Done, cleanup: bool| Entry {
            object: "pod/ceph-image-prepull-node-00".into(),
            action: action.into(),
            done,
            cleanup,
        };
        let mut j = Journal::default();
        j.entries.push(entry("create", Done::Applied, false));
        j.entries.push(entry("delete", Done::Failed { error: "Error from server (Forbidden)".into() }, true));
        assert!(!j.label_left_on());
        let t = j.text("kubectl ceph-image upgrade resume");
        assert!(!t.contains("resume cluster") && t.contains("1 of 2 write(s) done"), "{t}");
    }
}
