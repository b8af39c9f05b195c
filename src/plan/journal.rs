//! The journal of a run of the executor: what became of every write, in order. Data: the
//! executor fills it in; its text (what was done, what finishes the job) is made in
//! `render::journal`.

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
}
