//! pause / resume, on the embedded server and on the real control plane (`on_both!`).

mod common;

use std::collections::BTreeSet;

use common::*;
use rook_sim::resources::{CEPHCLUSTERS, DEPLOYMENTS};
use rook_sim::{Crd, Fault, FaultKind};

const DNR: &str = "ceph.rook.io/do-not-reconcile";

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

on_both! {
    fn pause_osd_on_a_node_labels_exactly_its_osds() {
        let sim = sim_with(Crd::Proposed, 30);
        let r = run(&sim, &["pause", "osd", "--node", "node-01", "--yes"]).ok();
        let want: BTreeSet<String> = (0..30).filter(|i| i % 3 == 1).map(|i| format!("rook-ceph-osd-{i}")).collect();
        assert_eq!(labelled(&sim), want);
        assert_eq!(r.stdout.matches(" labeled\n").count(), 10, "{}", r.stdout);
        let patched: BTreeSet<String> = sim.mutating_requests().iter().map(|l| l.name.clone().unwrap()).collect();
        assert_eq!(patched, want, "one label patch per OSD of the node, nothing else");
        // every label patch is a merge patch of the label alone
        for l in sim.mutating_requests() {
            assert_eq!(l.body.as_deref(), Some(r#"{"metadata":{"labels":{"ceph.rook.io/do-not-reconcile":"true"}}}"#));
        }
        // running it again sends nothing: already held
        sim.clear_log();
        let again = run(&sim, &["pause", "osd", "--node", "node-01", "--yes"]).ok();
        assert!(again.stdout.contains("Nothing to change"), "{}", again.stdout);
        assert!(sim.mutating_requests().is_empty());
        // and resume takes them all back
        run(&sim, &["resume", "osd", "--node", "node-01", "--yes"]).ok();
        assert!(labelled(&sim).is_empty());
    }

    fn selector_picks_daemons() {
        let sim = sim(Crd::Proposed);
        run(&sim, &["pause", "-l", "ceph-osd-id in (1,2)", "--yes"]).ok();
        assert_eq!(labelled(&sim), set(&["rook-ceph-osd-1", "rook-ceph-osd-2"]));
        let r = run(&sim, &["pause", "-l", "app=nothing", "--yes"]);
        assert_eq!(r.code, 2);
        assert!(r.stderr.contains("matching the selector"), "{}", r.stderr);
    }

    fn a_forbidden_deployment_is_reported_and_the_rest_complete() {
        let sim = sim(Crd::Proposed);
        sim.faults().add(Fault::new(FaultKind::Forbidden).verb("patch").resource("deployments").name("rook-ceph-osd-2"));
        let r = run(&sim, &["pause", "osd.1", "osd.2", "osd.3", "--yes"]);
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("rook-ceph-osd-2 add ceph.rook.io/do-not-reconcile: FAILED: Error from server (Forbidden)"),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("2 of 3 write(s) done"), "the journal: {}", r.stderr);
        assert_eq!(labelled(&sim), set(&["rook-ceph-osd-1", "rook-ceph-osd-3"]));
        // RBAC fixed: the same command completes what is left, and only that
        sim.faults().clear();
        sim.clear_log();
        run(&sim, &["pause", "osd.1", "osd.2", "osd.3", "--yes"]).ok();
        assert_eq!(labelled(&sim), set(&["rook-ceph-osd-1", "rook-ceph-osd-2", "rook-ceph-osd-3"]));
        let patched: Vec<String> = sim.mutating_requests().iter().map(|l| l.name.clone().unwrap()).collect();
        assert_eq!(patched, ["rook-ceph-osd-2"]);
    }

    fn resume_keeps_the_label_of_an_osd_under_replacement() {
        let sim = sim(Crd::Proposed);
        sim.update(&DEPLOYMENTS, &ns(&sim), "rook-ceph-osd-2", |d| {
            d["metadata"]["labels"][DNR] = "true".into();
            d["metadata"]["annotations"]["osd.rook.io/replace-in-progress"] = "true".into();
        })
        .unwrap();
        run(&sim, &["pause", "osd.3", "--yes"]).ok();
        let r = run(&sim, &["resume", "osd.2", "osd.3", "--yes"]).ok();
        assert!(r.stdout.contains("osd.2 is being replaced"), "{}", r.stdout);
        assert_eq!(labelled(&sim), set(&["rook-ceph-osd-2"]));
    }

    fn warnings_of_scope_and_failover() {
        let sim = sim(Crd::Proposed);
        let r = run(&sim, &["pause", "mon.a", "rgw.my-store", "rbd-mirror.a", "mds.myfs-a", "--dry-run"]).ok();
        for w in ["mon-failover", "rgw-scope", "rbd-mirror-scope", "mds-ineffective"] {
            assert!(r.stdout.contains(w), "{w}: {}", r.stdout);
        }
        assert!(sim.log().iter().all(|l| !l.is_write_attempt()));
    }

    fn resume_of_a_drifted_daemon_says_when_it_restarts() {
        let sim = sim(Crd::Proposed);
        run(&sim, &["pause", "osd.4", "--yes"]).ok();
        run(&sim, &["set", "base", "quay.io/ceph/ceph:v20.2.5", "--yes"]).ok();
        sim.settle();
        let out = run(&sim, &["resume", "osd.4", "--yes", "-o", "json"]).ok().json();
        let codes: Vec<&str> =
            out["plan"]["warnings"].as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["resume-pending"]);
        let osd4 = out["plan"]["daemons"].as_array().unwrap().iter().find(|d| d["daemon"] == "osd.4").unwrap();
        assert_eq!(osd4["action"], "unchanged", "nothing restarts now");
        assert!(osd4["note"].as_str().unwrap().contains("next reconcile"));
    }

    fn pause_cluster_labels_the_cephcluster_and_says_it_reconciles() {
        let sim = sim(Crd::Proposed);
        let out = run(&sim, &["pause", "cluster", "--yes", "-o", "json"]).ok().json();
        assert_eq!(out["plan"]["triggersReconcile"], true);
        let c = sim.get(&CEPHCLUSTERS, &ns(&sim), &ns(&sim)).unwrap();
        assert_eq!(c["metadata"]["labels"][DNR], "true");
        let body = sim.mutating_requests()[0].body.clone().unwrap();
        assert!(body.contains("resourceVersion"), "a precondition: {body}");
        // while held, a base change restarts no mon/mgr/osd
        let plan = run(&sim, &["set", "base", "quay.io/ceph/ceph:v20.2.5", "--dry-run", "-o", "json"]).ok().json();
        for d in plan["plan"]["daemons"].as_array().unwrap() {
            let core = matches!(d["type"].as_str().unwrap(), "mon" | "mgr" | "osd");
            assert_eq!(d["action"] == "held", core, "{d}");
        }
        run(&sim, &["resume", "cluster", "--yes"]).ok();
        let c = sim.get(&CEPHCLUSTERS, &ns(&sim), &ns(&sim)).unwrap();
        assert!(c["metadata"]["labels"].get(DNR).is_none());
    }

    fn label_patches_go_concurrently_and_bounded() {
        let sim = sim_with(Crd::Proposed, 40);
        sim.faults().set_latency(std::time::Duration::from_millis(100));
        let ids: Vec<String> = (0..40).map(|i| format!("osd.{i}")).collect();
        let mut args: Vec<&str> = vec!["pause", "--yes"];
        args.extend(ids.iter().map(String::as_str));
        run(&sim, &args).ok();
        assert_eq!(labelled(&sim).len(), 40);
        // the reads overlap at most 3; more means the patches overlapped, and never past 16
        let most = sim.max_in_flight();
        assert!(most > 3 && most <= 16, "{most} requests at once");
    }
}
