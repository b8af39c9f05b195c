//! The watch-fed view (`cluster::view`, issue 24) against a server: it holds what a fresh
//! `read::snapshot` reads, through other clients' changes, watches the server cuts and
//! history compacted past its resourceVersion (410), with one LIST per collection until
//! history is lost.

mod common;

use std::time::{Duration, Instant};

use common::*;
use kubectl_ceph_image::cluster::Kube;
use kubectl_ceph_image::cluster::connect::{ConnectOptions, connect};
use kubectl_ceph_image::cluster::read;
use kubectl_ceph_image::cluster::view::View;
use rook_sim::{Crd, Fault, FaultKind, Sim};

const IMG: &str = "quay.io/ceph/ceph:v20.2.5";

fn client(sim: &Sim) -> (tokio::runtime::Runtime, Kube) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let o = ConnectOptions {
        kubeconfig: Some(sim.kubeconfig().to_path_buf()),
        namespace: Some(ns(sim)),
        request_timeout: Some(Duration::from_secs(20)),
        ..Default::default()
    };
    let kube = rt.block_on(connect(&o)).unwrap_or_else(|e| panic!("connect: {e}")).kube;
    (rt, kube)
}

/// Others' changes reach the view through its watches, a moment later: the view's
/// snapshot is the fresh read's within 10 s.
fn converges(rt: &tokio::runtime::Runtime, kube: &Kube, view: &View, ns: &str) {
    let start = Instant::now();
    loop {
        let fresh = rt.block_on(read::snapshot(kube, ns, None)).unwrap();
        let held = rt.block_on(view.snapshot()).unwrap();
        if held == fresh {
            return;
        }
        if start.elapsed() > Duration::from_secs(10) {
            assert_eq!(held, fresh, "the view is what a fresh read gives");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A thread that cuts the simulation's watches every `period` (`Sim::drop_watches`) until
/// stopped, as a server or a proxy ends them.
struct Cutter {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<usize>,
}

impl Cutter {
    fn every(sim: &std::sync::Arc<Sim>, period: Duration) -> Cutter {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (sim, stop) = (sim.clone(), done.clone());
        let thread = std::thread::spawn(move || {
            let mut cuts = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::sleep(period);
                sim.drop_watches();
                cuts += 1;
            }
            cuts
        });
        Cutter { done, thread }
    }

    /// Stop cutting; how many times the watches were cut.
    fn stop(self) -> usize {
        self.done.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.join().expect("the cutter thread")
    }
}

/// The plugin's whole passes over the daemons of `ns` in `ours` (Deployments, pods): LISTs
/// of `read::PAGE` a page without a continue token.
fn whole_lists(ours: &[rook_sim::LoggedRequest], ns: &str) -> (usize, usize) {
    let sel = format!("labelSelector=rook_cluster%3D{ns}&limit=500");
    let count = |resource: &str| {
        let pass = |q: &&rook_sim::LoggedRequest| q.query.contains(&sel) && !q.query.contains("continue=");
        ours.iter().filter(|q| q.verb == "list" && q.resource == resource).filter(pass).count()
    };
    (count("deployments"), count("pods"))
}

on_both! {
    fn the_view_is_a_fresh_read_through_changes_and_dropped_watches() {
        let sim = sim_with(Crd::Proposed, 3);
        let ns = ns(&sim);
        let (rt, kube) = client(&sim);
        let view = rt.block_on(View::start(&kube, &ns, None)).unwrap();
        rt.block_on(async { view.follow() });
        converges(&rt, &kube, &view, &ns);
        // another client's writes, and Rook's and the kubelets' answers to them
        run(&sim, &["set", "mgr", IMG, "--yes", "--wait", "--timeout", "60s"]).ok();
        converges(&rt, &kube, &view, &ns);
        let (_, watches_before) = view.requests();
        sim.drop_watches();
        run(&sim, &["pause", "osd.1", "--yes"]).ok();
        run(&sim, &["set", "base", IMG, "--yes", "--wait", "--timeout", "60s"]).ok();
        converges(&rt, &kube, &view, &ns);
        let (lists, watches) = view.requests();
        assert_eq!(lists, [1, 1, 1], "a cut watch is resumed, not listed again");
        assert!(watches.iter().zip(watches_before).all(|(now, then)| *now > then), "{watches:?}");
    }
}

/// History compacted past the view's resourceVersion while its watches could not be
/// reopened (503): the watch meets 410 and the collection is listed again.
#[test]
fn expired_history_lists_the_collection_again() {
    let sim = sim_with(Crd::Proposed, 3);
    let ns = ns(&sim);
    let (rt, kube) = client(&sim);
    let view = rt.block_on(View::start(&kube, &ns, None)).unwrap();
    rt.block_on(async { view.follow() });
    let refused = sim.faults().add(Fault::new(FaultKind::Status(503)).verb("watch"));
    sim.drop_watches();
    run(&sim, &["pause", "osd.1", "--yes"]).ok();
    sim.settle();
    sim.compact();
    sim.faults().remove(refused);
    converges(&rt, &kube, &view, &ns);
    let (lists, _) = view.requests();
    assert!(lists.iter().all(|n| *n == 2), "each collection listed again once: {lists:?}");
    let osd1 = rt.block_on(view.snapshot()).unwrap();
    assert!(osd1.daemons.iter().any(|d| d.id.to_string() == "osd.1" && d.labelled), "the pause is in the view");
}

on_both! {
    /// Issue 24's acceptance: the server cuts the upgrade's watches again and again while it
    /// runs; each is resumed from where it was (no LIST after the first, so no re-plan from
    /// scratch), every stage runs once, and no daemon restarts twice.
    fn watches_cut_mid_upgrade_are_resumed_without_a_relist_or_a_second_restart() {
        let sim = std::sync::Arc::new(slow_sim(Crd::Proposed, 40));
        let ns = ns(&sim);
        let planned = run(&sim, &["upgrade", IMG, "--dry-run", "-o", "json"]).ok().json();
        let stages = planned["plan"]["stages"].as_array().unwrap().len();
        sim.reset_replacements();
        sim.clear_log();
        let cutter = Cutter::every(&sim, Duration::from_millis(300));
        let r = run(&sim, &["upgrade", IMG, "--yes", "--timeout", "60s"]);
        let cuts = cutter.stop();
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stdout.contains("Upgrade done"), "{}", r.stdout);
        assert!(cuts >= 3, "the watches were cut {cuts} times");
        // each stage once; planned again only after a 409 on its CephCluster patch (Rook
        // writes the status all the time: `drive` reads and plans that stage again)
        let ran = r.stderr.lines().filter(|l| l.starts_with("stage ")).count();
        let conflicts = r.stderr.matches("(409 Conflict): reading the cluster again").count();
        assert_eq!(ran, stages + conflicts, "each stage once, none planned again: {}", r.stderr);
        assert!(conflicts <= 3, "{conflicts} conflicts: {}", r.stderr);
        let ours: Vec<_> =
            sim.log().into_iter().filter(|q| q.user_agent.starts_with("kubectl-ceph-image/")).collect();
        assert_eq!(whole_lists(&ours, &ns), (1, 1), "listed once, then watched");
        let resumed = ours.iter().filter(|q| q.verb == "watch" && q.resource == "deployments").count();
        assert!(resumed >= 2, "the cut watches were opened again: {resumed}");
        sim.settle();
        let counts = sim.replacements(&ns);
        assert!(!counts.is_empty() && counts.values().all(|n| *n == 1), "replaced once each: {counts:?}");
        let c = sim.get(&rook_sim::resources::CEPHCLUSTERS, &ns, &ns).unwrap();
        assert_eq!(c["spec"]["cephVersion"]["image"], IMG);
        assert!(c["metadata"]["annotations"].get("kubectl-ceph-image/upgrade").is_none(), "state left");
    }

    /// The fence's steps follow the same view (issue 24): with its watches cut every 200 ms,
    /// a fence of 6 OSDs in 3 steps lists the daemons once, resumes the watches, and patches
    /// and replaces each OSD once.
    fn a_fence_whose_watches_are_cut_resumes_them() {
        let sim = std::sync::Arc::new(slow_sim(Crd::Released, 40));
        let ns = ns(&sim);
        sim.reset_replacements();
        sim.clear_log();
        let cutter = Cutter::every(&sim, Duration::from_millis(200));
        let args = ["set", "osd", IMG, "--strategy", "fence", "--max-unavailable", "2", "--pause-between", "0s"];
        let r = run(&sim, &[&args[..], &["--yes", "--timeout", "60s"]].concat());
        let cuts = cutter.stop();
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        assert!(cuts >= 2, "the watches were cut {cuts} times");
        let ours: Vec<_> =
            sim.log().into_iter().filter(|q| q.user_agent.starts_with("kubectl-ceph-image/")).collect();
        assert_eq!(whole_lists(&ours, &ns), (1, 1), "listed once, then watched");
        let patched: Vec<String> = ours
            .iter()
            .filter(|q| q.verb == "patch" && q.resource == "deployments")
            .filter_map(|q| q.name.clone())
            .collect();
        let unique: std::collections::BTreeSet<&String> = patched.iter().collect();
        assert_eq!((patched.len(), unique.len()), (6, 6), "each OSD patched once: {patched:?}");
        sim.settle();
        let counts = sim.replacements(&ns);
        assert!(counts.len() == 6 && counts.values().all(|n| *n == 1), "replaced once each: {counts:?}");
    }
}
