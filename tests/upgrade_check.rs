//! `upgrade check IMAGE` (issue 23 item 6) on simulated clusters: nothing blocks on a
//! healthy one (exit 0), each blocker shows on a cluster built to have it (exit 4, JSON
//! codes), the same findings head `upgrade IMAGE --dry-run`, and it never writes. The
//! rules one by one are unit-tested in `src/plan/upgrade/check_tests.rs`.

mod common;

use common::*;
use rook_sim::resources::{CEPHCLUSTERS, PODS};
use rook_sim::topology::Topology;
use rook_sim::{Crd, OperatorConfig, Sim, SimOptions};
use serde_json::Value;

const V5: &str = "quay.io/ceph/ceph:v20.2.5";

fn codes(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap().to_string()).collect()
}

on_both! {
    fn a_healthy_cluster_has_no_blocker_and_nothing_is_written() {
        let sim = sim_with(Crd::Released, 3);
        sim.settle();
        sim.clear_log();
        let r = run(&sim, &["upgrade", "check", V5, "-o", "json"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        let j = r.json();
        assert_eq!(codes(&j["blockers"]), Vec::<String>::new(), "{j}");
        // Ceph is asked in the operator pod, on the real control plane too
        assert_eq!(j["cephAsked"], true, "{j}");
        assert!(!codes(&j["warnings"]).contains(&"ceph-not-asked".to_string()), "{j}");
        for w in j["warnings"].as_array().unwrap() {
            assert!(!w["fix"].as_str().unwrap().is_empty(), "{w}");
        }
        let t = run(&sim, &["upgrade", "check", V5]);
        assert_eq!(t.code, 0);
        assert!(t.stdout.contains("Nothing blocks an upgrade to quay.io/ceph/ceph:v20.2.5."), "{}", t.stdout);
        assert!(sim.mutating_requests().is_empty(), "{:?}", sim.mutating_requests());
        assert!(sim.log().iter().any(|r| r.resource == "pods/exec"), "Ceph was asked");
    }
}

/// A cluster below the cephx boundary with a node down and Rook's risky knobs set.
#[test]
fn a_cluster_built_to_have_blockers_names_each_and_the_plan_starts_with_them() {
    let sim = Sim::start(SimOptions {
        topology: Topology { osds: 3, ceph_image: "quay.io/ceph/ceph:v20.2.2".into(), ..Default::default() },
        crd: Crd::Released,
        operator: OperatorConfig { daemon_delay: std::time::Duration::ZERO, ..Default::default() },
        ..Default::default()
    })
    .unwrap();
    let ns = ns(&sim);
    sim.update(&CEPHCLUSTERS, &ns, &ns, |c| {
        c["spec"]["skipUpgradeChecks"] = true.into();
        c["spec"]["continueUpgradeAfterChecksEvenIfNotHealthy"] = true.into();
    })
    .unwrap();
    // a node without the operator pod, so that Ceph can still be asked
    let operator = sim.list(&PODS, &ns).into_iter().find(|p| p["metadata"]["labels"]["app"] == "rook-ceph-operator");
    let op_node = operator.and_then(|p| p["spec"]["nodeName"].as_str().map(str::to_string));
    let node = sim.nodes().into_iter().find(|n| Some(n) != op_node.as_ref()).unwrap();
    sim.set_node_down(&node, true);
    sim.settle();
    sim.clear_log();
    let r = run(&sim, &["upgrade", "check", "quay.io/ceph/ceph:v20.2.4", "-o", "json"]);
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert!(codes(&j["blockers"]).contains(&"node-down".to_string()), "{j}");
    let w = codes(&j["warnings"]);
    for c in ["skip-upgrade-checks", "continue-if-unhealthy", "cephx-boundary", "health-warn"] {
        assert!(w.contains(&c.to_string()), "{c} missing: {j}");
    }
    let down = j["blockers"].as_array().unwrap().iter().find(|b| b["code"] == "node-down").unwrap();
    assert!(down["message"].as_str().unwrap().contains(&node), "{down}");
    // The same findings head the plan; the dry run still refuses through the preflight.
    let p = run(&sim, &["upgrade", "quay.io/ceph/ceph:v20.2.4", "--dry-run", "-o", "json"]);
    let pj = p.json();
    assert_eq!(pj["plan"]["check"]["blockers"], j["blockers"], "{pj}");
    assert_eq!(p.code, 1, "{}", p.stderr);
    let t = run(&sim, &["upgrade", "quay.io/ceph/ceph:v20.2.4", "--dry-run"]);
    assert!(t.stdout.starts_with("Blockers (1):\n  x node-down: "), "{}", t.stdout);
    assert!(t.stdout.contains("! skip-upgrade-checks: !! spec.skipUpgradeChecks is true"), "{}", t.stdout);
    assert!(sim.mutating_requests().is_empty(), "{:?}", sim.mutating_requests());
}

/// Past the boundary with `aes` keys: Ceph's AUTH_INSECURE_SERVICE_KEY_TYPE blocks.
#[test]
fn keys_left_aes_past_the_cephx_boundary_block() {
    let sim = Sim::start(SimOptions {
        topology: Topology { osds: 3, ceph_image: "quay.io/ceph/ceph:v20.2.2".into(), ..Default::default() },
        crd: Crd::Released,
        operator: OperatorConfig { daemon_delay: std::time::Duration::ZERO, ..Default::default() },
        ..Default::default()
    })
    .unwrap();
    run(&sim, &["set", "base", "quay.io/ceph/ceph:v20.2.4", "--yes"]).ok();
    sim.settle();
    let r = run(&sim, &["upgrade", "check", V5, "-o", "json"]);
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    let b = j["blockers"].as_array().unwrap().iter().find(|b| b["code"] == "cephx-key-type").expect("named");
    assert!(b["message"].as_str().unwrap().starts_with("Ceph reports AUTH_INSECURE_SERVICE_KEY_TYPE"), "{b}");
    assert!(b["fix"].as_str().unwrap().contains("keyType: aes256k"), "{b}");
}

/// Field shapes: the toolbox on the old image (field 20), an OSD paused by `kubectl
/// rollout pause` (field 21).
#[test]
fn the_toolbox_and_a_paused_rollout_from_the_field() {
    for (file, code) in
        [("20-toolbox-operator-job-pods.yaml", "toolbox-image"), ("21-osd-rollout-paused.yaml", "rollout-paused")]
    {
        let sim = Sim::start(SimOptions {
            from: vec![format!("{}/tests/fixtures/field/{file}", env!("CARGO_MANIFEST_DIR")).into()],
            crd: Crd::Released,
            operator: OperatorConfig { daemon_delay: std::time::Duration::ZERO, ..Default::default() },
            ..Default::default()
        })
        .unwrap();
        let j = run(&sim, &["upgrade", "check", "quay.io/ceph/ceph:v19.2.5", "-o", "json"]).json();
        assert!(codes(&j["warnings"]).contains(&code.to_string()), "{file}: {j}");
    }
}

#[test]
fn bad_input_exits_2_before_any_request() {
    let sim = sim_with(Crd::Released, 3);
    sim.clear_log();
    for args in [&["upgrade", "check"][..], &["upgrade", "check", "Quay.io/ceph ceph"][..]] {
        let r = run(&sim, args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    }
    assert!(sim.log().is_empty(), "{:?}", sim.log());
}
