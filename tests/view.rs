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

on_both! {
    fn the_view_is_a_fresh_read_through_changes_and_dropped_watches() {
        let sim = sim_with(Crd::Proposed, 3);
        let ns = ns(&sim);
        let (rt, kube) = client(&sim);
        let view = rt.block_on(View::start(&kube, &ns, None)).unwrap();
        view.follow();
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
    view.follow();
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
