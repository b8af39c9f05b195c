//! Connecting as kubectl does, and what reaches the terminal.

mod common;

use std::time::Duration;

use common::*;
use rook_sim::Crd;
use rook_sim::resources::CEPHCLUSTERS;

#[test]
fn kubeconfig_split_over_several_files_is_merged() {
    let sim = sim(Crd::Proposed);
    let kc = std::fs::read_to_string(sim.kubeconfig()).unwrap();
    // file one: clusters and users; file two: the context, without a namespace
    let (head, rest) = kc.split_once("contexts:").unwrap();
    let (_, users) = rest.split_once("current-context: rook-sim\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one");
    let two = dir.path().join("two");
    std::fs::write(&one, format!("{head}{users}")).unwrap();
    std::fs::write(
        &two,
        "apiVersion: v1\nkind: Config\ncontexts:\n- name: split\n  context:\n    cluster: rook-sim\n    user: rook-sim-admin\ncurrent-context: split\n",
    )
    .unwrap();
    let joined = std::env::join_paths([&two, &one]).unwrap();
    let out = plugin(&sim).env("KUBECONFIG", &joined).args(["status", "-o", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["namespace"], "rook-ceph", "no namespace in the context: rook-ceph");
}

#[test]
fn request_timeout_names_the_request_and_the_flag() {
    let sim = sim(Crd::Proposed);
    sim.faults().set_latency(Duration::from_millis(1500));
    let r = run(&sim, &["status", "--request-timeout", "300ms"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("within the request timeout") && r.stderr.contains("--request-timeout"), "{}", r.stderr);
}

#[test]
fn strings_from_the_cluster_are_sanitised_before_the_terminal() {
    let sim = sim(Crd::Proposed);
    sim.update(&CEPHCLUSTERS, "rook-ceph", "rook-ceph", |c| {
        c["spec"]["cephVersion"]["imageOverrides"] =
            serde_json::json!({"mgr": "quay.io/ceph/ceph:v1\u{1b}]0;pwned\u{7}\u{1b}[2J"});
    })
    .unwrap();
    for args in [&["status"][..], &["set", "mgr", "quay.io/ceph/ceph:v20.2.5", "--dry-run"][..]] {
        let r = run(&sim, args).ok();
        assert!(!r.stdout.contains('\u{1b}') && !r.stdout.contains('\u{7}'), "{args:?}: {:?}", r.stdout);
        assert!(
            r.stdout.contains("quay.io/ceph/ceph:v1\\x1b]0;pwned\\x07\\x1b[2J"),
            "{args:?}: shown, control characters escaped visibly: {}",
            r.stdout
        );
    }
}

on_both! {
    /// Every request names the plugin (`kubectl-ceph-image/VERSION (OS/ARCH)`, kubectl's form),
    /// so an API server's audit log tells the plugin's requests from kubectl's (a fresh user
    /// found it sent none).
    fn every_request_names_the_plugin_as_its_user_agent() {
        let sim = sim(rook_sim::Crd::Proposed);
        run(&sim, &["status"]).ok();
        run(&sim, &["pause", "osd.1", "--yes", "--wait"]).ok();
        let log = sim.log();
        assert!(!log.is_empty());
        let want = format!("kubectl-ceph-image/{} (", env!("CARGO_PKG_VERSION"));
        for l in &log {
            assert!(l.user_agent.starts_with(&want), "{} {}: {:?}", l.verb, l.path, l.user_agent);
        }
    }
}
