//! Issue 12: an interrupted run says what it did, and a re-run finishes it with no write
//! applied twice. Drives the built binary against rook-sim over HTTPS.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use rook_sim::Crd;

fn interrupted_pause_prints_its_journal_and_a_rerun_finishes(signal: i32, code: i32) {
    let sim = sim_with(Crd::Proposed, 120);
    // Slow answers, so the signal comes while label patches are still being sent.
    sim.faults().set_latency(Duration::from_millis(40));
    let child = Command::new(bin())
        .env("KUBECONFIG", sim.kubeconfig())
        .env("NO_COLOR", "1")
        .args(["pause", "osd", "-l", "app=rook-ceph-osd", "--yes"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the plugin runs");
    // Send the signal once some patches have landed (bounded wait, no timing asserted).
    for _ in 0..400 {
        if sim.log().iter().any(|l| l.verb == "patch" && l.status == 200) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    unsafe { libc::kill(child.id() as i32, signal) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    let done = labelled(&sim);
    assert!(!done.is_empty() && done.len() < 120, "interrupted part way: {} labelled", done.len());
    assert!(stderr.contains(": done") && stderr.contains(": not sent"), "the journal: {stderr}");
    assert!(stderr.contains("Running the same command again finishes the job"), "{stderr}");
    // The journal's done writes are exactly what the cluster shows.
    let journal_done = stderr.lines().filter(|l| l.ends_with(": done")).count();
    assert_eq!(journal_done, done.len(), "{stderr}");
    sim.faults().set_latency(Duration::ZERO);
    sim.clear_log();
    run(&sim, &["pause", "osd", "-l", "app=rook-ceph-osd", "--yes"]).ok();
    assert_eq!(labelled(&sim).len(), 120);
    let patched: Vec<String> = sim.mutating_requests().iter().map(|l| l.name.clone().unwrap()).collect();
    assert_eq!(patched.len(), 120 - done.len(), "only what was left is sent again");
    assert!(patched.iter().all(|p| !done.contains(p)), "nothing applied twice");
}

#[test]
fn sigint_during_a_pause() {
    interrupted_pause_prints_its_journal_and_a_rerun_finishes(libc::SIGINT, 130);
}

#[test]
fn sigterm_during_a_pause() {
    interrupted_pause_prints_its_journal_and_a_rerun_finishes(libc::SIGTERM, 143);
}

#[test]
fn reconcile_now_whose_label_answer_is_lost_never_leaves_the_cluster_paused() {
    use rook_sim::resources::CEPHCLUSTERS;
    use rook_sim::{Fault, FaultKind};
    let sim = sim(Crd::Released);
    const IMG: &str = "registry.example.com/ceph/ceph:v20.2.5-mgrfix";
    run(&sim, &["set", "mgr", IMG, "--strategy", "fence", "--yes"]).ok();
    // Every CephCluster write lands but its answer is lost once.
    sim.faults().add(Fault::new(FaultKind::DropAfterApply).verb("patch").resource("cephclusters").times(2));
    let r = run(&sim, &["unset", "mgr", "--strategy", "fence", "--reconcile-now", "--yes"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Started an operator reconcile"), "{}", r.stdout);
    let c = sim.get(&CEPHCLUSTERS, "rook-ceph", "rook-ceph").unwrap();
    assert!(c["metadata"]["labels"].get("ceph.rook.io/do-not-reconcile").is_none(), "the cluster label is gone");
}
