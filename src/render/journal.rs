//! A run's journal for people (`plan::journal`): every write and what became of it, then
//! what finishes the job (the text of a failed or stopped run's error); what was done, as
//! kubectl says it (`deployment.apps/x labeled`), with its totals; the objects whose
//! writes met 409.

use crate::output::clean;
use crate::plan::journal::{Done, Journal};
use crate::render;

/// The journal for people: every write and what became of it; then what finishes it
/// (`rerun`: the command that does).
pub fn text(j: &Journal, rerun: &str) -> String {
    let mut t = String::new();
    for e in &j.entries {
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
    let label_on = j.label_left_on();
    if label_on {
        t.push_str(
            "The CephCluster-level ceph.rook.io/do-not-reconcile label this run added may still be on: Rook's \
             mon, mgr and osd reconcile is then stopped for the whole cluster. Remove it first: kubectl \
             ceph-image resume cluster\n",
        );
    }
    if let Some(gate) = &j.gate {
        t.push_str(&format!(
            "Stopped at a gate: {}. The restarted pods may still be coming up; running the same command again \
             waits for them before any further step: {rerun}\n",
            crate::output::clean(gate)
        ));
    } else if j.complete() {
        if j.interrupted.is_some() {
            t.push_str(&format!(
                "Every write of this run was done (those in flight when the signal came finished). If the command \
                 had more to do (waiting, further stages), running it again goes on from here: {rerun}\n"
            ));
        }
    } else {
        let done = j.count(|d| matches!(d, Done::Applied));
        t.push_str(&format!(
            "{done} of {} write(s) done; the rest not. {}unning the same command again finishes the job (done \
             writes are not repeated): {rerun}\n",
            j.entries.len(),
            if label_on { "After `kubectl ceph-image resume cluster`, r" } else { "R" }
        ));
    }
    t
}

/// What was done, as kubectl says it (`deployment.apps/x labeled`): every line with
/// `wide`, else at most `render::LIST_MAX` of them; then the totals, last.
pub fn results_summary(j: &Journal, dry_run: bool, wide: bool) -> String {
    let all = results_text(j, dry_run);
    let lines: Vec<&str> = all.lines().collect();
    let mut t = String::new();
    let shown = if wide { lines.len() } else { lines.len().min(render::LIST_MAX) };
    for l in &lines[..shown] {
        t.push_str(l);
        t.push('\n');
    }
    if shown < lines.len() {
        t.push_str(&format!("... and {} more (every one with -o wide or -o json)\n", lines.len() - shown));
    }
    // counted from the writes, not read back from the lines: an OSD flag's object is words
    let mut verbs: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for e in &j.entries {
        *verbs.entry(verb(&e.action)).or_default() += 1;
    }
    let said: Vec<String> = verbs.iter().map(|(v, n)| format!("{n} {v}")).collect();
    t.push_str(&format!(
        "Total: {} write(s) done: {}{}.\n",
        lines.len(),
        said.join(", "),
        if dry_run { " (server dry run)" } else { "" }
    ));
    t
}

/// One line per write that was done, as kubectl says it (`deployment.apps/x labeled`).
pub fn results_text(j: &Journal, dry_run: bool) -> String {
    let mut t = String::new();
    for e in &j.entries {
        let verb = verb(&e.action);
        t.push_str(&format!("{} {verb}{}\n", clean(&e.object), if dry_run { " (server dry run)" } else { "" }));
    }
    t
}

/// What a write did, in kubectl's words (`labeled`, `unfenced`, ...) from its action
/// (`plan::writes::Write::action`); an OSD flag is `set` or `unset`, as `ceph osd` says.
fn verb(action: &str) -> &'static str {
    if action.starts_with("add") {
        "labeled"
    } else if action.starts_with("remove") && action.contains("fence") {
        "unfenced"
    } else if action.starts_with("remove") {
        "unlabeled"
    } else if action.starts_with("fence") {
        "fenced"
    } else if action == "set" {
        "set"
    } else if action == "unset" {
        "unset"
    } else {
        "patched"
    }
}

/// The objects whose writes met 409 ("cephcluster.ceph.rook.io/x", "deployment.apps/y").
pub fn conflicted(j: &Journal) -> String {
    let mut o: Vec<String> = j
        .entries
        .iter()
        .filter(|e| matches!(e.done, Done::Conflict { .. }))
        .map(|e| clean(&e.object).into_owned())
        .collect();
    o.dedup();
    o.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::journal::Entry;

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
        let t = text(&j, "kubectl ceph-image unset mgr --strategy fence --reconcile-now --yes");
        assert!(t.contains("stopped for the whole cluster") && t.contains("kubectl ceph-image resume cluster"), "{t}");
        assert!(t.contains("After `kubectl ceph-image resume cluster`, running the same command again"), "{t}");
        // The label was never added: nothing to say about it.
        j.entries[0].done = Done::NotSent;
        assert!(!text(&j, "x").contains("resume cluster"));
        // Added while a second signal ended the process: it may be on.
        j.entries[0].done = Done::InFlight;
        assert!(text(&j, "x").contains("may still be on"));
        j.entries[0].done = Done::Applied;
        j.entries[1].done = Done::Applied;
        assert!(!text(&j, "x").contains("resume cluster"));
        j.interrupted = Some(130);
        assert!(!j.all_done() && j.complete(), "a signal after the last write is still an interrupt");
        assert!(text(&j, "x").contains("Every write of this run was done"));
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
        let t = text(&j, "kubectl ceph-image upgrade resume");
        assert!(!t.contains("resume cluster") && t.contains("1 of 2 write(s) done"), "{t}");
    }

    /// A fence step under noout: the flag's writes are `set` and `unset`, counted as such
    /// (they were counted as "osd", the second word of their object, by a fresh user's trial).
    #[test]
    fn the_totals_count_osd_flag_writes_by_what_they_did() {
        let entry = |object: &str, action: &str| Entry {
            object: object.into(),
            action: action.into(),
            done: Done::Applied,
            cleanup: false,
        };
        let mut j = Journal::default();
        j.entries.push(entry("ceph osd flag noout on osd.0, osd.1", "set"));
        j.entries.push(entry("deployment.apps/rook-ceph-osd-0", "fence to quay.io/ceph/ceph:v20.2.5"));
        j.entries.push(entry("deployment.apps/rook-ceph-osd-1", "fence to quay.io/ceph/ceph:v20.2.5"));
        j.entries.push(entry("ceph osd flag noout on osd.0, osd.1", "unset"));
        let t = results_summary(&j, false, false);
        assert!(t.contains("ceph osd flag noout on osd.0, osd.1 set\n"), "{t}");
        assert!(t.contains("ceph osd flag noout on osd.0, osd.1 unset\n"), "{t}");
        assert!(t.ends_with("Total: 4 write(s) done: 2 fenced, 1 set, 1 unset.\n"), "{t}");
    }
}
