//! `upgrade check`: each finding on a snapshot built to have it, none on a healthy one.

use std::collections::BTreeMap;

use super::*;
use crate::model::daemon::DaemonId;
use crate::model::{Cluster, Daemon, Manager, Pod};

const V4: &str = "quay.io/ceph/ceph:v20.2.4";
const V5: &str = "quay.io/ceph/ceph:v20.2.5";
const SQUID5: &str = "quay.io/ceph/ceph:v19.2.5";

fn now() -> jiff::Timestamp {
    "2026-12-07T12:00:00Z".parse().unwrap()
}

fn d(t: DaemonType, id: &str, node: &str, image: &str) -> Daemon {
    let deployment = format!("{}-{id}", t.app_label());
    Daemon {
        id: DaemonId::new(t, id),
        pods: vec![Pod {
            name: format!("{deployment}-abcdefghij-xyz12"),
            node: Some(node.into()),
            phase: "Running".into(),
            ready: true,
            image: Some(image.into()),
            own_image: None,
            terminating: false,
        }],
        deployment,
        node: Some(node.into()),
        hostname: Some(node.into()),
        labelled: false,
        label_holds: true,
        held_by: None,
        replicas: Some(1),
        paused: false,
        rook_version: Some("v1.20.6".into()),
        own_images: vec![],
        moved_by_hand: None,
        under_replacement: false,
        ceph_images: vec![image.into()],
        image: Some(image.into()),
        labels: Default::default(),
        resource_version: "1".into(),
        ceph_containers: vec![],
        fence: None,
        upgrade_hold: None,
    }
}

/// Three nodes, a mon, an OSD and an RGW each (the RGW on node-1), all on `image`, HEALTH_OK
/// written a minute ago.
fn healthy(image: &str) -> Snapshot {
    let mut ds = vec![];
    for (i, n) in ["node-1", "node-2", "node-3"].iter().enumerate() {
        ds.push(d(DaemonType::Mon, ["a", "b", "c"][i], n, image));
        ds.push(d(DaemonType::Osd, &i.to_string(), n, image));
    }
    ds.push(d(DaemonType::Mgr, "a", "node-1", image));
    ds.push(d(DaemonType::Rgw, "store", "node-1", image));
    ds.sort_by(crate::model::daemon_order);
    Snapshot {
        cluster: Cluster {
            namespace: "rook-ceph".into(),
            name: "rook-ceph".into(),
            resource_version: "7".into(),
            generation: 1,
            base_image: image.into(),
            overrides: BTreeMap::new(),
            held: false,
            upgrade_reconcile: false,
            status_image: Some(image.into()),
            status_version: None,
            ceph_versions: BTreeMap::new(),
            osd_max_updates_in_parallel: 20,
            external: false,
            managers: vec![],
            health: Some("HEALTH_OK".into()),
            allow_unsupported: false,
            skip_upgrade_checks: false,
            knobs: Default::default(),
            rook: crate::model::RookStatus {
                phase: Some("Ready".into()),
                ceph_present: true,
                last_checked: Some("2026-12-07T11:59:00Z".into()),
                ..Default::default()
            },
            upgrade: None,
            crd_overrides: None,
        },
        deployments_read: ds.len(),
        daemons: ds,
        copies: vec![],
        not_handled: vec![],
        versions: BTreeMap::new(),
        rook_version: Some("v1.21.2".into()),
    }
}

fn asked(health: &str, checks: &[(&str, &str)]) -> CephAnswer {
    CephAnswer {
        asked: true,
        pod: Some("rook-ceph/rook-ceph-operator-x".into()),
        health: Some(health.into()),
        checks: checks
            .iter()
            .map(|(code, sev)| HealthCheck { code: code.to_string(), severity: sev.to_string(), message: "m".into() })
            .collect(),
        ..Default::default()
    }
}

fn codes(list: &[Finding]) -> Vec<&'static str> {
    list.iter().map(|f| f.code).collect()
}

/// (blocker codes, warning codes) of a check with Ceph answering HEALTH_OK.
fn run(s: &Snapshot, image: &str) -> (Vec<&'static str>, Vec<&'static str>) {
    let f = check(s, Some(&asked("HEALTH_OK", &[])), Some(&[]), image, now());
    for x in f.blockers.iter().chain(&f.warnings) {
        assert!(CHECK_CODES.contains(&x.code), "{} not in CHECK_CODES", x.code);
        assert!(!x.message.is_empty() && !x.fix.is_empty() && !x.fix.contains('\n'), "{x:?}");
    }
    (codes(&f.blockers), codes(&f.warnings))
}

#[test]
fn a_healthy_cluster_has_nothing_in_the_way() {
    assert_eq!(run(&healthy(V4), V5), (vec![], vec![]));
}

#[test]
fn version_rules_block() {
    let s = healthy(V5);
    assert_eq!(run(&s, V4).0, ["downgrade"]);
    let reef = healthy("quay.io/ceph/ceph:v18.2.7");
    let mut reef = reef;
    reef.rook_version = Some("v1.16.9".into());
    assert!(!run(&reef, V5).0.contains(&"major-jump"), "Tentacle upgrades from Reef and Squid");
    let quincy = healthy("quay.io/ceph/ceph:v17.2.8");
    assert!(run(&quincy, V5).0.contains(&"major-jump"), "Quincy to Tentacle skips two");
    let (b, _) = run(&healthy("quay.io/ceph/ceph:v19.2.3"), "quay.io/ceph/ceph:v20.2.0");
    assert_eq!(b, ["known-bad-release"]);
    assert_eq!(run(&healthy(V4), "quay.io/ceph/ceph:v20").0, ["floating-image"]);
    let (_, w) = run(&healthy("quay.io/ceph/ceph:v19.2.3"), SQUID5);
    assert_eq!(w, ["end-of-life"]);
}

#[test]
fn umbrella_needs_a_rook_that_runs_it_or_allow_unsupported() {
    let mut s = healthy(V5);
    s.rook_version = Some("v1.20.6".into());
    let f = check(&s, None, None, "quay.io/ceph/ceph:v21.2.0", now());
    let u = f.blockers.iter().find(|b| b.code == "unsupported-release").expect("blocked");
    assert!(u.fix.contains("Umbrella 21") && u.fix.contains("allowUnsupported"), "{u:?}");
    s.cluster.allow_unsupported = true;
    let (b, w) = run(&s, "quay.io/ceph/ceph:v21.2.0");
    assert!(!b.contains(&"unsupported-release") && w.contains(&"allow-unsupported"), "{b:?} {w:?}");
}

#[test]
fn health_codes_say_which_gates_they_block() {
    let s = healthy(V4);
    let ceph = asked("HEALTH_ERR", &[("OSD_FULL", "HEALTH_ERR"), ("OSD_DOWN", "HEALTH_WARN")]);
    let f = check(&s, Some(&ceph), Some(&[]), V5, now());
    assert_eq!(codes(&f.blockers), ["health-err"]);
    assert!(
        f.blockers[0].message.contains("OSD_FULL") && f.blockers[0].message.contains("RGW, MDS and NFS controllers")
    );
    assert!(f.blockers[0].fix.contains("health-checks/#osd-full"), "{:?}", f.blockers[0]);
    assert_eq!(codes(&f.warnings), ["health-warn"]);
    // An allow-listed code: Rook's child controllers go on through it.
    let ceph = asked("HEALTH_ERR", &[("MGR_MODULE_ERROR", "HEALTH_ERR")]);
    let f = check(&s, Some(&ceph), Some(&[]), V5, now());
    assert!(f.blockers[0].message.contains("reconcile through it"), "{:?}", f.blockers[0]);
    // Not asked: Rook's status.ceph is the source, and the check says Ceph was not asked.
    let mut s = healthy(V4);
    s.cluster.health = Some("HEALTH_ERR".into());
    s.cluster.rook.health_checks =
        vec![HealthCheck { code: "PG_DAMAGED".into(), severity: "HEALTH_ERR".into(), message: "x".into() }];
    let not = CephAnswer { error: Some("forbidden".into()), ..Default::default() };
    let f = check(&s, Some(&not), None, V5, now());
    assert_eq!(codes(&f.blockers), ["health-err"], "one finding, not the preflight's again");
    assert!(f.blockers[0].message.starts_with("Rook's status.ceph reports PG_DAMAGED"));
    assert_eq!(codes(&f.warnings), ["ceph-not-asked"]);
    // Asked: Ceph's HEALTH_ERR is named once, not again as Rook's; Rook's that Ceph no
    // longer says still stops the staged upgrade's preflight.
    let f = check(&s, Some(&asked("HEALTH_ERR", &[("PG_DAMAGED", "HEALTH_ERR")])), None, V5, now());
    assert_eq!(codes(&f.blockers), ["health-err"]);
    let f = check(&s, Some(&asked("HEALTH_OK", &[])), None, V5, now());
    assert_eq!(codes(&f.blockers), ["health-err"]);
    assert!(f.blockers[0].message.contains("staged upgrade refuses"), "{:?}", f.blockers[0]);
}

#[test]
fn stale_or_absent_health_blocks_as_the_preflight_does() {
    let mut s = healthy(V4);
    s.cluster.rook.last_checked = Some("2026-12-07T08:00:00Z".into());
    assert_eq!(run(&s, V5).0, ["health-stale"]);
    s.cluster.health = None;
    assert_eq!(run(&s, V5).0, ["health-stale"]);
}

#[test]
fn cephx_keys_past_the_boundary_and_crossing_it() {
    let s = healthy(V4);
    let ceph = asked("HEALTH_ERR", &[("AUTH_INSECURE_SERVICE_KEY_TYPE", "HEALTH_ERR")]);
    let f = check(&s, Some(&ceph), Some(&[]), V5, now());
    assert_eq!(codes(&f.blockers), ["cephx-key-type"]);
    assert!(f.blockers[0].fix.contains("keyType: aes256k") && f.blockers[0].message.contains("allow-list"));
    // From below the boundary (20.2.2) to 20.2.4: a warning, with what Ceph can say.
    let (b, w) = run(&healthy("quay.io/ceph/ceph:v20.2.2"), V4);
    assert_eq!((b, w.clone()), (vec![], vec!["cephx-boundary"]));
    let f = check(&healthy("quay.io/ceph/ceph:v19.2.3"), None, None, V4, now());
    let x = f.warnings.iter().find(|w| w.code == "cephx-boundary").unwrap();
    assert!(x.message.contains("from 19.2.3") && x.message.contains("unknown"), "{x:?}");
    // Above it on both sides: nothing.
    assert_eq!(run(&healthy(V4), V5), (vec![], vec![]));
}

#[test]
fn the_toolbox_on_another_image_is_named() {
    let s = healthy("quay.io/ceph/ceph:v20.2.2");
    let tb = [Toolbox {
        pod: "rook-ceph-tools-x-y".into(),
        deployment: Some("rook-ceph-tools".into()),
        image: "quay.io/ceph/ceph:v20.2.2".into(),
    }];
    let f = check(&s, Some(&asked("HEALTH_OK", &[])), Some(&tb), V4, now());
    let t = f.warnings.iter().find(|w| w.code == "toolbox-image").expect("named");
    assert!(
        t.message.contains("AES256K keyrings")
            && t.fix.contains("set image deploy/rook-ceph-tools rook-ceph-tools=quay.io/ceph/ceph:v20.2.4"),
        "{t:?}"
    );
    let on = [Toolbox { image: V4.into(), ..tb[0].clone() }];
    let f = check(&s, Some(&asked("HEALTH_OK", &[])), Some(&on), V4, now());
    assert!(!codes(&f.warnings).contains(&"toolbox-image"));
}

#[test]
fn rgw_must_not_run_ahead_of_the_osds() {
    let mut s = healthy(V4);
    for x in s.daemons.iter_mut().filter(|x| x.id.dtype == DaemonType::Rgw) {
        *x = d(DaemonType::Rgw, "store", "node-1", V5);
    }
    assert_eq!(run(&s, V5).1, ["rgw-order"]);
    // RGWs not ahead: nothing to say of a healthy cluster (the staged upgrade keeps them
    // after the OSDs; a fresh user's trial found this warned on every Rook 1.20 cluster)
    let mut s = healthy(V4);
    s.rook_version = Some("v1.20.6".into());
    assert_eq!(run(&s, V5).1, Vec::<&str>::new());
}

#[test]
fn rooks_knobs() {
    let mut s = healthy(V4);
    s.cluster.skip_upgrade_checks = true;
    s.cluster.knobs.continue_upgrade_after_checks_even_if_not_healthy = true;
    s.cluster.knobs.wait_timeout_for_healthy_osd_minutes = Some(30);
    s.cluster.knobs.upgrade_osd_requires_healthy_pgs = true;
    s.cluster.knobs.osd_max_updates_in_parallel = Some(50);
    let f = check(&s, Some(&asked("HEALTH_OK", &[])), Some(&[]), V5, now());
    assert_eq!(codes(&f.warnings), ["skip-upgrade-checks", "continue-if-unhealthy", "healthy-pgs", "osd-max-updates"]);
    assert!(f.warnings[0].message.starts_with("!!") && f.warnings[0].fix.contains("\"skipUpgradeChecks\":false"));
    assert!(f.warnings[1].message.contains("(30 min)") && f.warnings[2].message.contains("ignored"));
    s.cluster.skip_upgrade_checks = false;
    s.cluster.knobs.pg_healthy_regex = Some("^active\\+clean$".into());
    let w = run(&s, V5).1;
    assert_eq!(w, ["continue-if-unhealthy", "healthy-pgs", "osd-max-updates"]);
}

#[test]
fn nodes_down_daemons_down_and_paused_rollouts() {
    let mut s = healthy(V4);
    for x in s.daemons.iter_mut().filter(|x| x.node.as_deref() == Some("node-3")) {
        x.pods[0].phase = "Unknown".into();
        x.pods[0].ready = false;
    }
    let f = check(&s, Some(&asked("HEALTH_OK", &[])), Some(&[]), V5, now());
    assert_eq!(codes(&f.blockers), ["node-down"]);
    assert!(f.blockers[0].message.contains("node-3") && f.blockers[0].message.contains("osd.2"));
    let mut s = healthy(V4);
    s.daemons.iter_mut().find(|x| x.id.to_string() == "osd.1").unwrap().pods[0].ready = false;
    s.daemons.iter_mut().find(|x| x.id.to_string() == "osd.0").unwrap().paused = true;
    let (b, w) = run(&s, V5);
    assert_eq!((b, w), (vec!["daemons-down"], vec!["rollout-paused"]));
}

#[test]
fn rook_in_flight_owners_and_the_plugins_own_upgrade() {
    let mut s = healthy(V4);
    s.cluster.base_image = V5.into();
    s.cluster.rook.phase = Some("Progressing".into());
    assert_eq!(run(&s, V5).0, ["rook-rollout"]);
    let mut s = healthy(V4);
    s.cluster.managers = vec![
        Manager { tool: "StorageCluster".into(), name: "ocs-storagecluster".into(), controller: true },
        Manager { tool: "Helm".into(), name: "rook-ceph-cluster".into(), controller: false },
    ];
    assert_eq!(run(&s, V5), (vec!["owned"], vec!["managed-elsewhere"]));
    let mut s = healthy(V4);
    s.cluster.held = true;
    s.cluster.external = true;
    s.rook_version = Some("v1.18.9".into());
    let b = run(&s, V5).0;
    assert_eq!(b, ["external-cluster", "rook-too-old", "cluster-held"]);
    let mut s = healthy(V4);
    let st = |image: &str, phase: &str| {
        format!(
            r#"{{"params": {{"image": "{image}", "order": [], "canary": 0, "batchBy": "host", "types": []}}, "phase": "{phase}", "updated": "x"}}"#
        )
    };
    s.cluster.upgrade = Some(st(V5, "running"));
    assert_eq!(run(&s, "quay.io/ceph/ceph:v20.2.6").0, ["upgrade-under-way"]);
    s.cluster.upgrade = Some(st(V5, "paused"));
    assert_eq!(run(&s, V5), (vec![], vec!["upgrade-under-way"]));
    s.cluster.upgrade = Some(st(V5, "aborted"));
    assert_eq!(run(&s, V5), (vec![], vec![]));
}

#[test]
fn every_code_is_in_the_readme() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = readme.split("### Upgrade check codes").nth(1).expect("the README's table of upgrade check codes");
    for c in CHECK_CODES {
        assert!(table.contains(&format!("| `{c}` |")), "{c} is not in the README's table");
    }
}
