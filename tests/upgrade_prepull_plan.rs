//! The staged upgrade's pre-pull stage (`upgrade IMAGE --prepull`), planned without a
//! server: which nodes pull, what the plan says about daemons with no node, that a pull
//! once passed is not planned again, and that states written before the flag still parse.

use std::collections::BTreeMap;

use kubectl_ceph_image::model::daemon::{DaemonId, DaemonType as T};
use kubectl_ceph_image::model::{Cluster, Daemon, Pod, Snapshot, daemon_order};
use kubectl_ceph_image::plan::FailureDomain;
use kubectl_ceph_image::plan::upgrade::{Params, StageKind, State, UpgradePlan, plan};
use kubectl_ceph_image::render::upgrade::text;

const FROM: &str = "quay.io/ceph/ceph:v20.2.4";
const TO: &str = "quay.io/ceph/ceph:v20.2.6";

fn d(t: T, id: &str, node: Option<&str>) -> Daemon {
    let deployment = format!("{}-{id}", t.app_label());
    Daemon {
        id: DaemonId::new(t, id),
        pods: vec![Pod {
            name: format!("{deployment}-abcdefghij-xyz12"),
            node: node.map(str::to_string),
            phase: if node.is_some() { "Running" } else { "Pending" }.into(),
            ready: node.is_some(),
            image: Some(FROM.into()),
            own_image: None,
            terminating: false,
        }],
        deployment,
        node: node.map(str::to_string),
        hostname: node.map(str::to_string),
        labelled: false,
        label_holds: true,
        held_by: None,
        replicas: Some(1),
        rook_version: Some("v1.20.6".into()),
        own_images: vec![],
        moved_by_hand: None,
        under_replacement: false,
        ceph_images: vec![FROM.into()],
        image: Some(FROM.into()),
        labels: Default::default(),
        resource_version: "1".into(),
        ceph_containers: vec![],
        fence: None,
        upgrade_hold: None,
        paused: false,
    }
}

fn snapshot(mut daemons: Vec<Daemon>, overrides: &[(&str, &str)]) -> Snapshot {
    daemons.sort_by(daemon_order);
    Snapshot {
        cluster: Cluster {
            namespace: "rook-ceph".into(),
            name: "rook-ceph".into(),
            resource_version: "7".into(),
            generation: 1,
            base_image: FROM.into(),
            overrides: overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            held: false,
            upgrade_reconcile: false,
            status_image: Some(FROM.into()),
            status_version: None,
            ceph_versions: BTreeMap::new(),
            osd_max_updates_in_parallel: 20,
            external: false,
            managers: vec![],
            health: Some("HEALTH_OK".into()),
            allow_unsupported: false,
            skip_upgrade_checks: false,
            knobs: Default::default(),
            rook: Default::default(),
            upgrade: None,
            crd_overrides: None,
        },
        deployments_read: daemons.len(),
        daemons,
        copies: vec![],
        not_handled: vec![],
        versions: BTreeMap::new(),
        rook_version: Some("v1.20.6".into()),
    }
}

fn params(prepull: bool) -> Params {
    Params { batch_by: FailureDomain::Host, prepull, ..Params::new(TO) }
}

fn state(prepulled: bool) -> State {
    State {
        params: params(true),
        pins: BTreeMap::new(),
        phase: "running".into(),
        stage: String::new(),
        message: None,
        canary_done: false,
        prepulled,
        updated: String::new(),
        from: None,
        spec_set: false,
        flags: vec![],
        runner: None,
    }
}

/// mons on node-a..c, OSDs on node-b and node-d, a crash collector on node-e whose type has
/// its own override (so it stays where it is), an mds with no node.
fn cluster() -> Snapshot {
    snapshot(
        vec![
            d(T::Mon, "a", Some("node-c")),
            d(T::Mon, "b", Some("node-a")),
            d(T::Mon, "c", Some("node-b")),
            d(T::Osd, "0", Some("node-d")),
            d(T::Osd, "1", Some("node-b")),
            d(T::Crashcollector, "node-e", Some("node-e")),
            d(T::Mds, "myfs-a", None),
        ],
        &[("crashcollector", FROM)],
    )
}

fn codes(p: &UpgradePlan) -> Vec<&'static str> {
    p.warnings.iter().map(|w| w.code).collect()
}

#[test]
fn the_prepull_stage_comes_first_with_every_node_of_a_daemon_that_moves() {
    let p = plan(&cluster(), &params(true), true, None).unwrap();
    let first = &p.stages[0];
    assert_eq!((first.name.as_str(), first.kind), ("prepull", StageKind::Prepull));
    assert_eq!(first.nodes, ["node-a", "node-b", "node-c", "node-d"], "sorted, once each; node-e moves nothing");
    assert!(first.daemons.is_empty(), "it moves nothing itself");
    assert_eq!(p.stages[1].kind, StageKind::Prepare, "before the holds and everything that restarts");
    assert!(p.stages[1..].iter().all(|s| s.nodes.is_empty()));
    assert!(codes(&p).contains(&"prepull-no-node"), "{:?}", p.warnings);
    let w = p.warnings.iter().find(|w| w.code == "prepull-no-node").unwrap();
    assert!(w.message.contains("mds.myfs-a"), "{}", w.message);
    // the stage is one more, and moves nobody twice
    let without = plan(&cluster(), &params(false), true, None).unwrap();
    assert_eq!(p.summary.stages, without.summary.stages + 1);
    assert_eq!(p.summary.moving, without.summary.moving);
    assert!(!codes(&without).contains(&"prepull-no-node"));
    assert!(without.stages.iter().all(|s| s.kind != StageKind::Prepull));
}

#[test]
fn a_pull_that_passed_is_not_planned_again() {
    let p = plan(&cluster(), &params(true), true, Some(&state(true))).unwrap();
    assert!(p.stages.iter().all(|s| s.kind != StageKind::Prepull));
    let p = plan(&cluster(), &params(true), true, Some(&state(false))).unwrap();
    assert_eq!(p.stages[0].kind, StageKind::Prepull, "a failed or interrupted one is");
}

#[test]
fn nothing_to_move_is_nothing_to_pull() {
    let mut s = cluster();
    s.cluster.base_image = TO.into();
    for d in &mut s.daemons {
        d.ceph_images = vec![TO.into()];
        d.image = Some(TO.into());
    }
    let p = plan(&s, &params(true), true, None).unwrap();
    assert!(p.done && p.stages.is_empty(), "{:?}", p.stages);
}

#[test]
fn the_text_names_the_nodes_and_summarises_many() {
    let many: Vec<Daemon> = (0..30).map(|i| d(T::Osd, &i.to_string(), Some(&format!("node-{i:02}")))).collect();
    let p = plan(&snapshot(many, &[]), &params(true), true, None).unwrap();
    assert_eq!(p.stages[0].nodes.len(), 30);
    let t = text(&p, false);
    assert!(t.contains(&format!("Stage 1: prepull\n  pull {TO} on 30 node(s) first")), "{t}");
    assert!(t.contains("node-07 ... (+22 more)"), "{t}");
    let wide = text(&p, true);
    assert!(wide.contains("node-28 node-29\n"), "-o wide lists them all: {wide}");
}

#[test]
fn states_and_parameters_written_before_the_flag_still_parse() {
    let old = serde_json::json!({
        "params": {"image": TO, "order": ["mon", "mgr", "osd"], "canary": 0, "batchBy": "host", "maxUnavailable": null},
        "pins": {}, "phase": "running", "stage": "mgr", "canaryDone": false, "updated": "2026-01-01T00:00:00Z"
    });
    let st: State = serde_json::from_value(old).expect("an older state parses");
    assert!(!st.params.prepull && !st.prepulled);
    let round = serde_json::to_value(state(true)).unwrap();
    assert_eq!(
        (&round["params"]["prepull"], &round["prepulled"]),
        (&serde_json::json!(true), &serde_json::json!(true))
    );
}
