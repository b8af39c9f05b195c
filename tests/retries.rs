//! The one retry policy (src/cluster/api.rs): at most 5 sends of a request, the server's
//! Retry-After honoured, the server's own error at the end; and --wait riding out a failed
//! watch. Retry-After is 0 here (1 in one test), so no test waits long.

mod common;

use common::*;
use rook_sim::resources::{CEPHCLUSTERS, DEPLOYMENTS};
use rook_sim::{Crd, Fault, FaultKind};

const IMG: &str = "quay.io/ceph/ceph:v20.2.5";
/// `ATTEMPTS` in src/cluster/api.rs.
const ATTEMPTS: usize = 5;

fn statuses(sim: &rook_sim::Sim, verb: &str, resource: &str) -> Vec<u16> {
    sim.log().iter().filter(|l| l.verb == verb && l.resource == resource).map(|l| l.status).collect()
}

fn throttled(retry_after: u64) -> Fault {
    Fault::new(FaultKind::Throttled { retry_after })
}

#[test]
fn a_read_throttled_forever_is_sent_5_times_and_fails_as_kubectl_says() {
    let sim = sim(Crd::Proposed);
    sim.faults().add(throttled(0).verb("list").resource("cephclusters"));
    let r = run(&sim, &["status"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("Error from server (TooManyRequests): Too many requests, please try again later."),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("gave up after 5 attempts"), "{}", r.stderr);
    // kube's own retry layer is off: every request sent is one the plugin counted
    assert_eq!(statuses(&sim, "list", "cephclusters"), [429; ATTEMPTS]);
}

#[test]
fn retry_after_is_honoured_and_a_throttled_read_then_succeeds() {
    let sim = sim(Crd::Proposed);
    sim.faults().add(throttled(1).verb("list").resource("cephclusters").times(1));
    sim.faults().add(Fault::new(FaultKind::Status(503)).verb("list").resource("pods").times(1));
    let r = run(&sim, &["status", "-v"]).ok();
    assert!(r.stderr.contains("retrying in 1000 ms (Error from server (TooManyRequests)"), "{}", r.stderr);
    assert!(r.stderr.contains("retrying in 200 ms (Error from server (ServiceUnavailable)"), "{}", r.stderr);
    assert_eq!(statuses(&sim, "list", "cephclusters"), [429, 200]);
    // the daemons' pods, then (after them) the operator pod's, where Ceph is asked
    assert_eq!(statuses(&sim, "list", "pods"), [503, 200, 200]);
}

#[test]
fn label_patches_throttled_forever_are_bounded_by_daemons_times_attempts() {
    let sim = sim_with(Crd::Proposed, 24);
    sim.faults().add(throttled(0).verb("patch").resource("deployments"));
    let osds: Vec<String> = (0..24).map(|i| format!("osd.{i}")).collect();
    let mut args = vec!["pause"];
    args.extend(osds.iter().map(String::as_str));
    args.push("--yes");
    let r = run(&sim, &args);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("0 of 24 write(s) done"), "the journal: {}", r.stderr);
    assert!(r.stderr.contains("FAILED: Error from server (TooManyRequests)"), "{}", r.stderr);
    // A throttled write was refused before it was processed: nothing to read back.
    assert!(statuses(&sim, "get", "deployments").is_empty(), "no read-back of a refused write");
    let patches = statuses(&sim, "patch", "deployments");
    assert_eq!(patches, vec![429; 24 * ATTEMPTS], "each of the 24 Deployments {ATTEMPTS} times, no more");
    for d in sim.list(&DEPLOYMENTS, "rook-ceph") {
        assert!(d["metadata"]["labels"].get("ceph.rook.io/do-not-reconcile").is_none());
    }
}

#[test]
fn a_label_patch_answered_503_forever_is_sent_5_times_in_all() {
    // the executor's loop around the transport's: one bound for both (it was 5 x 5)
    let sim = sim(Crd::Proposed);
    sim.faults().add(Fault::new(FaultKind::Status(503)).verb("patch").resource("deployments"));
    let r = run(&sim, &["pause", "osd.0", "--yes"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("FAILED: Error from server (ServiceUnavailable)"), "{}", r.stderr);
    assert!(r.stderr.contains("gave up after 5 attempts"), "{}", r.stderr);
    assert_eq!(statuses(&sim, "patch", "deployments"), [503; ATTEMPTS], "the README's at most 5");
}

#[test]
fn a_label_patch_answered_500_then_503_is_sent_5_times_in_all() {
    // a server error (may have landed: read back, sent again by the executor), then
    // refusals the transport repeats: still 5 sends in all
    let sim = sim(Crd::Proposed);
    sim.faults().add(Fault::new(FaultKind::Status(500)).verb("patch").resource("deployments").times(1));
    sim.faults().add(Fault::new(FaultKind::Status(503)).verb("patch").resource("deployments"));
    let r = run(&sim, &["pause", "osd.0", "--yes"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("gave up after 5 attempts"), "{}", r.stderr);
    assert_eq!(statuses(&sim, "patch", "deployments"), [500, 503, 503, 503, 503]);
}

#[test]
fn a_watch_failing_once_does_not_fail_set_wait() {
    let sim = slow_sim(Crd::Proposed, 30);
    sim.faults().add(Fault::new(FaultKind::Status(503)).verb("watch").resource("pods").times(1));
    let r = run(&sim, &["set", "mgr", IMG, "--yes", "--wait", "--timeout", "60s"]).ok();
    assert!(r.stderr.contains("Error from server (ServiceUnavailable)"), "the failure is shown: {}", r.stderr);
    assert!(r.stderr.contains("rollout done: 2 daemon(s)"), "{}", r.stderr);
    let watches = statuses(&sim, "watch", "pods");
    assert_eq!(watches.first(), Some(&503), "{watches:?}");
    assert!(watches[1..].iter().all(|s| *s == 200) && watches.len() >= 2, "{watches:?}");
    let c = sim.get(&CEPHCLUSTERS, "rook-ceph", "rook-ceph").unwrap();
    assert_eq!(c["spec"]["cephVersion"]["imageOverrides"]["mgr"], IMG);
}

#[test]
fn a_watch_throttled_forever_ends_at_the_timeout_naming_the_failure() {
    let sim = slow_sim(Crd::Proposed, 30);
    sim.faults().add(throttled(0).verb("watch").resource("pods"));
    let r = run(&sim, &["set", "mgr", IMG, "--yes", "--wait", "--timeout", "2s"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("timed out after 2s"), "{}", r.stderr);
    assert!(
        r.stderr.contains("(the last failed request: Error from server (TooManyRequests): Too many requests"),
        "{}",
        r.stderr
    );
}
