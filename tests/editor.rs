//! The interactive editor through a pseudo-terminal, against the simulated cluster.

mod common;

use std::collections::BTreeSet;

use common::pty::{CTRL_C, DOWN, ENTER, ESC, Pty};
use common::*;
use rook_sim::resources::DEPLOYMENTS;
use rook_sim::{Crd, Sim};

fn editor(sim: &Sim) -> Pty {
    let mut cmd = std::process::Command::new(bin());
    cmd.env("KUBECONFIG", sim.kubeconfig()).env("TERM", "xterm").env_remove("NO_COLOR");
    let pty = Pty::spawn(cmd);
    pty.expect("Review and submit staged changes (0)");
    pty
}

fn down(p: &mut Pty, n: usize) {
    for _ in 0..n {
        p.send(DOWN);
    }
}

/// From the main menu: hold osd.1 and osd.10, found by the filter `osd.1`. The osd menu's
/// hold entry is the second (a staged image adds no entry: the menu follows the cluster).
fn stage_hold_of_osd_1_and_10(p: &mut Pty, staged_after: usize) {
    down(p, 2); // osd
    p.send(ENTER);
    p.expect("Hold osd daemons");
    p.send(DOWN);
    p.send(ENTER);
    p.expect("Filter osd daemons by id or node");
    p.send("osd.1");
    p.send(ENTER);
    p.expect("3 daemons to hold");
    p.send(" "); // osd.1
    p.send(DOWN);
    p.send(" "); // osd.10
    p.send(ENTER);
    p.expect(&format!("Review and submit staged changes ({staged_after})"));
}

#[test]
fn setting_the_mgr_image_changes_only_its_override() {
    let sim = sim(Crd::Proposed);
    let before = cluster_fields(&sim);
    let mut p = editor(&sim);
    down(&mut p, 1); // mgr
    p.send(ENTER);
    p.expect("Set the mgr image...");
    p.send(ENTER);
    p.expect("Type an image...");
    p.send(ENTER); // type one
    p.expect("Image for mgr (imageOverrides.mgr), e.g.");
    p.send("Not A Valid Image");
    p.send(ENTER);
    p.expect("invalid image reference");
    // clear the line and type a valid one
    p.send(&"\x7f".repeat(20));
    p.send("registry.example.com/ceph:v20.2.5");
    p.send(ENTER);
    p.expect("Review and submit staged changes (1)");
    assert!(sim.mutating_requests().is_empty(), "staging sends nothing");
    down(&mut p, 11);
    p.send(ENTER);
    p.expect("Submit these changes to CephCluster rook-ceph/rook-ceph?");
    assert!(p.screen().contains("mgr.a"), "the plan was shown first");
    p.send("y");
    p.expect("cephcluster.ceph.rook.io/rook-ceph patched");
    p.send("q");
    assert_eq!(p.wait(), 0);
    let mut after = cluster_fields(&sim);
    assert_eq!(
        after["spec"]["cephVersion"]["imageOverrides"],
        serde_json::json!({"mgr": "registry.example.com/ceph:v20.2.5"})
    );
    after["spec"]["cephVersion"].as_object_mut().unwrap().remove("imageOverrides");
    let mut b = before;
    for v in [&mut after, &mut b] {
        v["metadata"].as_object_mut().unwrap().remove("managedFields");
    }
    assert_eq!(after, b, "nothing else changed");
    assert_eq!(sim.mutating_requests().len(), 1);
}

#[test]
fn holding_two_osds_found_by_the_filter_labels_exactly_those() {
    let sim = sim(Crd::Proposed);
    let mut p = editor(&sim);
    stage_hold_of_osd_1_and_10(&mut p, 1);
    down(&mut p, 11);
    p.send(ENTER);
    p.expect("Submit these changes");
    p.send("y");
    p.expect("deployment.apps/rook-ceph-osd-10 labeled");
    p.send("q");
    assert_eq!(p.wait(), 0);
    let labelled: BTreeSet<String> = sim
        .list(&DEPLOYMENTS, "rook-ceph")
        .into_iter()
        .filter(|d| d["metadata"]["labels"].get("ceph.rook.io/do-not-reconcile").is_some())
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(labelled, BTreeSet::from(["rook-ceph-osd-1".to_string(), "rook-ceph-osd-10".to_string()]));
}

#[test]
fn declining_at_the_confirmation_sends_nothing() {
    let sim = sim(Crd::Proposed);
    let mut p = editor(&sim);
    down(&mut p, 10); // base image
    p.send(ENTER);
    p.expect("Image for every type without an override");
    p.send(ENTER);
    p.send("quay.io/ceph/ceph:v20.2.5");
    p.send(ENTER);
    p.expect("Review and submit staged changes (1)");
    down(&mut p, 11);
    p.send(ENTER);
    p.expect("Submit these changes");
    p.send("n");
    p.expect("Not submitted; the changes stay staged.");
    p.send(ESC); // quit from the main menu
    p.expect("1 staged change(s) discarded; nothing was sent");
    assert_eq!(p.wait(), 0);
    assert!(sim.mutating_requests().is_empty(), "{:?}", sim.mutating_requests());
}

#[test]
fn ctrl_c_exits_130_with_the_cursor_shown() {
    let sim = sim(Crd::Proposed);
    let mut p = editor(&sim);
    p.send(DOWN);
    p.send(CTRL_C);
    assert_eq!(p.wait(), 130);
    let raw = p.raw();
    let hide = raw.rfind("\x1b[?25l");
    let show = raw.rfind("\x1b[?25h");
    assert!(show.is_some() && show > hide, "the cursor is shown again after it was last hidden");
    assert!(sim.mutating_requests().is_empty());
}

#[test]
fn without_a_terminal_no_subcommand_is_a_usage_error() {
    let sim = sim(Crd::Proposed);
    let r = run(&sim, &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("status, set, unset, pause, resume"), "{}", r.stderr);
}

#[test]
fn demo_opens_the_editor_on_an_in_process_cluster() {
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("demo").env("TERM", "xterm").env("KUBECONFIG", "/nonexistent");
    let mut p = Pty::spawn(cmd);
    p.expect("CephCluster rook-ceph/rook-ceph");
    p.expect("Review and submit staged changes (0)");
    p.send("q");
    assert_eq!(p.wait(), 0);
}

/// Issue 12: an OSD image change staged with holds on some OSDs. The holds land before the
/// CephCluster patch that starts the rollout, so no held OSD restarts; the others do.
#[test]
fn an_image_change_with_holds_never_restarts_a_held_daemon() {
    let sim = sim(Crd::Proposed);
    let before = pod_names(&sim, "rook-ceph-osd");
    let mut p = editor(&sim);
    down(&mut p, 2); // osd
    p.send(ENTER);
    p.expect("Set the osd image...");
    p.send(ENTER);
    p.expect("Type an image...");
    p.send(ENTER);
    p.expect("Image for osd (imageOverrides.osd), e.g.");
    p.send("registry.example.com/ceph:v20.2.5");
    p.send(ENTER);
    p.expect("Review and submit staged changes (1)");
    stage_hold_of_osd_1_and_10(&mut p, 2);
    down(&mut p, 11);
    p.send(ENTER);
    p.expect("Submit these changes");
    p.send("y");
    p.expect("cephcluster.ceph.rook.io/rook-ceph patched");
    p.send("q");
    assert_eq!(p.wait(), 0);
    // The simulated operator rolls the OSDs it may: wait (bounded) until it is done.
    let held = ["rook-ceph-osd-1-", "rook-ceph-osd-10-"];
    let is_held = |n: &str| held.iter().any(|h| n.starts_with(h));
    let mut after = pod_names(&sim, "rook-ceph-osd");
    for _ in 0..200 {
        let replaced = before.iter().filter(|b| !is_held(b)).all(|b| !after.contains(b));
        if replaced && after.len() == before.len() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        after = pod_names(&sim, "rook-ceph-osd");
    }
    for b in &before {
        if is_held(b) {
            assert!(after.contains(b), "held {b} was restarted: {after:?}");
        } else {
            assert!(!after.contains(b), "{b} should have been replaced: {after:?}");
        }
    }
    let order: Vec<String> = sim
        .mutating_requests()
        .iter()
        .map(|l| format!("{} {}", l.resource, l.name.clone().unwrap_or_default()))
        .collect();
    let cluster_at = order.iter().position(|o| o.starts_with("cephclusters")).expect("the CephCluster patch");
    assert_eq!(cluster_at, 2, "both holds land before the CephCluster patch: {order:?}");
}
