//! Surviving faults, and following a rollout with --wait, on the embedded server and on the
//! real control plane (`on_both!`: there rook-sim's front is the fault proxy in front of the
//! real server). Each test asserts the final objects and the request log: nothing lost,
//! nothing done twice that should not be.

mod common;

use std::time::Duration;

use common::*;
use rook_sim::resources::{CEPHCLUSTERS, PODS};
use rook_sim::{Crd, Fault, FaultKind};

const IMG: &str = "quay.io/ceph/ceph:v20.2.5";

fn statuses(sim: &rook_sim::Sim, verb: &str, resource: &str) -> Vec<u16> {
    sim.log().iter().filter(|l| l.verb == verb && l.resource == resource).map(|l| l.status).collect()
}

on_both! {
    fn reads_are_retried_on_5xx_and_dropped_connections() {
        let sim = sim(Crd::Proposed);
        sim.faults().add(Fault::new(FaultKind::Status(503)).verb("list").resource("deployments").times(2));
        sim.faults().add(Fault::new(FaultKind::Drop).verb("list").resource("pods").times(1));
        sim.faults().add(Fault::new(FaultKind::Status(500)).verb("list").resource("cephclusters").times(1));
        run(&sim, &["status", "-o", "json"]).ok();
        assert_eq!(statuses(&sim, "list", "deployments"), [503, 503, 200]);
        // the daemons' pods (the list of the operator pod, where Ceph is asked, comes after)
        let daemon_pods: Vec<u16> = sim
            .log()
            .iter()
            .filter(|l| l.verb == "list" && l.resource == "pods" && l.query.contains("rook_cluster"))
            .map(|l| l.status)
            .collect();
        assert_eq!(daemon_pods, [0, 200], "0: the connection was dropped");
        assert_eq!(statuses(&sim, "list", "cephclusters"), [500, 200]);
    }

    fn a_write_that_did_not_land_is_sent_again() {
        let sim = sim(Crd::Proposed);
        sim.settle();
        sim.faults().add(Fault::new(FaultKind::Drop).verb("patch").resource("cephclusters").times(1));
        run(&sim, &["set", "mgr", IMG, "--yes"]).ok();
        let c = sim.get(&CEPHCLUSTERS, &ns(&sim), &ns(&sim)).unwrap();
        assert_eq!(c["spec"]["cephVersion"]["imageOverrides"]["mgr"], IMG);
        assert_eq!(c["metadata"]["generation"], 2, "applied once");
        assert_eq!(statuses(&sim, "patch", "cephclusters"), [0, 200]);
    }

    fn a_write_that_landed_but_lost_its_answer_is_not_applied_twice() {
        let sim = sim(Crd::Proposed);
        // a quiet cluster: on the real server a status write of the simulated Rook between the
        // plugin's read and its patch would make the lost write a lost 409, not a landed one
        sim.settle();
        sim.faults().add(Fault::new(FaultKind::DropAfterApply).verb("patch").resource("cephclusters").times(1));
        let r = run(&sim, &["set", "mgr", IMG, "--yes"]).ok();
        // The executor reads the object back after the lost answer and finds it applied.
        assert!(r.stdout.contains("Applied"), "{}", r.stdout);
        let c = sim.get(&CEPHCLUSTERS, &ns(&sim), &ns(&sim)).unwrap();
        assert_eq!(c["spec"]["cephVersion"]["imageOverrides"]["mgr"], IMG);
        assert_eq!(c["metadata"]["generation"], 2, "the repeat met its precondition and changed nothing");
        // the repeat is refused by the precondition: 409, then a re-read finds nothing to do
        let s = statuses(&sim, "patch", "cephclusters");
        assert_eq!(s.first(), Some(&0));
        assert!(s[1..].iter().all(|x| *x == 409), "{s:?}");
    }

    fn idempotent_label_patches_are_repeated_after_a_drop() {
        let sim = sim(Crd::Proposed);
        sim.faults().add(
            Fault::new(FaultKind::DropAfterApply).verb("patch").resource("deployments").name("rook-ceph-osd-2").times(1),
        );
        run(&sim, &["pause", "osd.1", "osd.2", "--yes"]).ok();
        let s: Vec<u16> =
            sim.log().iter().filter(|l| l.name.as_deref() == Some("rook-ceph-osd-2")).map(|l| l.status).collect();
        assert_eq!(s, [0, 200]);
    }

    fn a_conflict_storm_ends_in_a_clear_failure_and_loses_nothing() {
        let sim = sim(Crd::Proposed);
        sim.faults().conflict_next_writes(1000);
        let r = run(&sim, &["set", "mgr", IMG, "--yes"]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("gave up after 5 conflicts"), "{}", r.stderr);
        let c = sim.get(&CEPHCLUSTERS, &ns(&sim), &ns(&sim)).unwrap();
        assert!(c["spec"]["cephVersion"].get("imageOverrides").is_none());
        let patches = statuses(&sim, "patch", "cephclusters");
        assert_eq!(patches.len(), 6, "bounded: {patches:?}");
        assert!(patches.iter().all(|s| *s == 409));
    }

    fn wait_follows_the_rollout_to_ready_pods_on_the_new_image() {
        let sim = slow_sim(Crd::Proposed, 30);
        let r = run(&sim, &["set", "mgr", IMG, "--yes", "--wait", "--timeout", "60s"]).ok();
        assert!(r.stderr.contains("rollout done: 2 daemon(s)"), "{}", r.stderr);
        assert!(r.stderr.contains("1/2 restarted") && r.stderr.contains("2/2 restarted"), "a line per event: {}", r.stderr);
        // by the time it returns, the mgr pods are Ready on the new image
        let mgrs: Vec<_> = sim
            .list(&PODS, &ns(&sim))
            .into_iter()
            .filter(|p| p["metadata"]["labels"]["app"] == "rook-ceph-mgr")
            .collect();
        assert_eq!(mgrs.len(), 2);
        for p in &mgrs {
            assert_eq!(p["spec"]["containers"][0]["image"], IMG);
            assert_eq!(p["status"]["phase"], "Running");
        }
        assert!(sim.log().iter().any(|l| l.verb == "watch"));
    }

    fn a_dropped_watch_resumes_without_missing_an_event() {
        let sim = slow_sim(Crd::Proposed, 60);
        let sim = std::sync::Arc::new(sim);
        let dropper = {
            let sim = sim.clone();
            std::thread::spawn(move || {
                for _ in 0..4 {
                    std::thread::sleep(Duration::from_millis(250));
                    sim.drop_watches();
                }
            })
        };
        let r = run(&sim, &["set", "base", IMG, "--yes", "--wait", "--timeout", "120s"]);
        dropper.join().unwrap();
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("rollout done"), "{}", r.stderr);
        let watches: Vec<_> = sim.log().into_iter().filter(|l| l.verb == "watch").collect();
        assert!(watches.len() >= 2, "the watch was resumed: {watches:?}");
        // each watch starts from the resourceVersion seen last: never 0, never going back
        let rv = |q: &str| -> u64 {
            q.split('&').find_map(|kv| kv.strip_prefix("resourceVersion=")).and_then(|v| v.parse().ok()).unwrap_or(0)
        };
        let rvs: Vec<u64> = watches.iter().map(|w| rv(&w.query)).collect();
        assert!(rvs.iter().all(|r| *r > 0), "{rvs:?}");
        assert!(rvs.windows(2).all(|w| w[0] <= w[1]), "resumed from the last resourceVersion seen: {rvs:?}");
        assert!(rvs.last() > rvs.first(), "events were seen between the drops: {rvs:?}");
        sim.settle();
        // every daemon's pod (the Rook operator's own pod runs Rook's image)
        for p in sim.list(&PODS, &ns(&sim)).into_iter().filter(|p| p["metadata"]["labels"]["rook_cluster"].is_string()) {
            assert_eq!(p["spec"]["containers"][0]["image"], IMG, "{}", p["metadata"]["name"]);
        }
    }

    fn wait_times_out_naming_the_daemons_not_done() {
        let sim = slow_sim(Crd::Proposed, 3000);
        let r = run(&sim, &["set", "mgr", IMG, "--yes", "--wait", "--timeout", "1s"]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("timed out") && r.stderr.contains("mgr.a"), "{}", r.stderr);
    }

    fn held_daemons_are_not_waited_for_and_labels_need_no_wait() {
        let sim = slow_sim(Crd::Proposed, 20);
        run(&sim, &["pause", "osd.1", "--yes", "--wait"]).ok();
        let r = run(&sim, &["set", "base", IMG, "--yes", "--wait", "--timeout", "60s", "-o", "json"]).ok();
        let out = r.json();
        let held: Vec<&str> = out["plan"]["daemons"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["action"] == "held")
            .map(|d| d["daemon"].as_str().unwrap())
            .collect();
        assert_eq!(held, ["osd.1"]);
        assert!(r.stderr.contains("rollout done"), "{}", r.stderr);
    }

    /// A slow or hung API server on a terminal: past two seconds the plugin says what it waits
    /// for and which attempt it is, instead of silence (without a terminal it says nothing).
    fn a_slow_answer_on_a_terminal_says_what_it_waits_for() {
        let sim = sim_with(Crd::Proposed, 3);
        sim.faults().set_latency(std::time::Duration::from_millis(2500));
        let mut cmd = std::process::Command::new(bin());
        cmd.arg("status").env("KUBECONFIG", sim.kubeconfig()).env("TERM", "xterm");
        let mut p = common::pty::Pty::spawn_sized(cmd, 24, 80);
        p.expect("waiting for https://127.0.0.1:");
        p.expect("to answer list pods (attempt 1 of 5, gives up after 30s)...");
        assert_eq!(p.wait(), 0);
        assert!(p.screen().contains("Total: "), "then the status");
    }
}
