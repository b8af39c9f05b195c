//! The planner, table-driven, no server: every rule of DESIGN §4.

use std::collections::BTreeMap;

use kubectl_ceph_image::model::daemon::{DaemonId, DaemonType as T};
use kubectl_ceph_image::model::{Cluster, Daemon, Pod, Snapshot, daemon_order};
use kubectl_ceph_image::plan::{Action, Change, Plan, PlanError, Target, plan};

const V4: &str = "quay.io/ceph/ceph:v20.2.4";
const V5: &str = "quay.io/ceph/ceph:v20.2.5";

fn d(t: T, id: &str, image: &str) -> Daemon {
    let deployment = match t {
        T::Cephfsmirror => "rook-ceph-fs-mirror".to_string(),
        T::Rgw => format!("rook-ceph-rgw-{id}-a"),
        _ => format!("{}-{id}", t.app_label()),
    };
    Daemon {
        id: DaemonId::new(t, id),
        pods: vec![Pod {
            name: format!("{deployment}-abcdefghij-xyz12"),
            node: Some("node-1".into()),
            phase: "Running".into(),
            ready: true,
            image: Some(image.into()),
            own_image: None,
            terminating: false,
        }],
        deployment,
        node: Some("node-1".into()),
        hostname: Some("node-1".into()),
        labelled: false,
        label_holds: true,
        held_by: None,
        replicas: Some(1),
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
        paused: false,
    }
}

/// A small cluster of every type, all on `image`.
fn cluster(image: &str) -> Snapshot {
    let mut ds = vec![
        d(T::Mon, "a", image),
        d(T::Mon, "b", image),
        d(T::Mon, "c", image),
        d(T::Mgr, "a", image),
        d(T::Mgr, "b", image),
        d(T::Mds, "myfs-a", image),
        d(T::Mds, "myfs-b", image),
        d(T::Rgw, "my-store", image),
        d(T::Nfs, "my-nfs-a", image),
        d(T::Rbdmirror, "a", image),
        d(T::Rbdmirror, "b", image),
        d(T::Cephfsmirror, "fs-mirror", image),
        d(T::Crashcollector, "node-1", image),
        d(T::Exporter, "node-1", image),
    ];
    for i in 0..5 {
        ds.push(d(T::Osd, &i.to_string(), image));
    }
    ds.sort_by(daemon_order);
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
            osd_max_updates_in_parallel: 2,
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
        deployments_read: ds.len(),
        daemons: ds,
        copies: vec![],
        not_handled: vec![],
        versions: BTreeMap::new(),
        rook_version: Some("v1.20.6".into()),
    }
}

fn with(mut s: Snapshot, deployment: &str, f: impl Fn(&mut Daemon)) -> Snapshot {
    let x = s.daemons.iter_mut().find(|x| x.deployment == deployment).unwrap_or_else(|| panic!("{deployment}"));
    f(x);
    s
}

fn actions(p: &Plan) -> BTreeMap<String, Action> {
    p.daemons.iter().map(|x| (x.daemon.clone(), x.action)).collect()
}

fn restarting(p: &Plan) -> Vec<String> {
    p.restarts().map(|x| x.daemon.clone()).collect()
}

fn codes(p: &Plan) -> Vec<&'static str> {
    p.warnings.iter().map(|w| w.code).collect()
}

fn set(t: T, image: &str) -> Change {
    Change::SetImage { target: Target::Type(t), image: image.into() }
}

#[test]
fn an_override_restarts_only_its_type() {
    let p = plan(&cluster(V4), &set(T::Mgr, V5)).unwrap();
    assert_eq!(restarting(&p), ["mgr.a", "mgr.b"]);
    assert!(p.triggers_reconcile && !p.noop);
    assert_eq!(p.summary.restart_pods, 2);
    let mgr = p.restarts().next().unwrap();
    assert_eq!((mgr.image_from.as_deref(), mgr.image_to.as_deref()), (Some(V4), Some(V5)));
    assert_eq!(codes(&p), ["mixed-versions"]);
}

#[test]
fn the_base_image_restarts_every_type_without_an_override() {
    let mut s = cluster(V4);
    s.cluster.overrides.insert("mgr".into(), V4.into());
    let p = plan(&s, &Change::SetImage { target: Target::Base, image: V5.into() }).unwrap();
    let r = restarting(&p);
    assert!(!r.iter().any(|x| x.starts_with("mgr.")), "the mgr override pins it: {r:?}");
    assert_eq!(r.len(), s.daemons.len() - 2);
}

#[test]
fn rook_order_with_osd_batches() {
    let p = plan(&cluster(V4), &Change::SetImage { target: Target::Base, image: V5.into() }).unwrap();
    let steps: Vec<(String, u32)> = p.restarts().map(|x| (x.daemon.clone(), x.step.unwrap())).collect();
    let order: Vec<&str> = steps.iter().map(|(x, _)| x.split('.').next().unwrap()).collect();
    let mut dedup = order.clone();
    dedup.dedup();
    assert_eq!(dedup, ["mon", "mgr", "osd", "mds", "rgw", "nfs", "rbd-mirror", "cephfs-mirror", "crash", "exporter"]);
    let osd_steps: Vec<u32> = steps.iter().filter(|(x, _)| x.starts_with("osd.")).map(|(_, s)| *s).collect();
    // osdMaxUpdatesInParallel = 2: five OSDs in three batches, after 3 mons and 2 mgrs
    assert_eq!(osd_steps, [6, 6, 7, 7, 8]);
    let ids: Vec<&str> = steps.iter().filter(|(x, _)| x.starts_with("osd.")).map(|(x, _)| x.as_str()).collect();
    assert_eq!(ids, ["osd.0", "osd.1", "osd.2", "osd.3", "osd.4"]);
}

#[test]
fn held_daemons_stay_and_say_what_resume_does() {
    let s = with(cluster(V4), "rook-ceph-mgr-b", |x| x.labelled = true);
    let p = plan(&s, &set(T::Mgr, V5)).unwrap();
    assert_eq!(restarting(&p), ["mgr.a"]);
    let b = p.daemons.iter().find(|x| x.daemon == "mgr.b").unwrap();
    assert_eq!(b.action, Action::Held);
    assert!(b.note.as_deref().unwrap().contains(&format!("restarts to {V5} when resumed")));
    assert_eq!(b.pods.len(), 1, "the pods that restart on resume");
    assert!(codes(&p).contains(&"held-miss-update"));
}

#[test]
fn the_cluster_label_holds_mon_mgr_osd_only() {
    let mut s = cluster(V4);
    s.cluster.held = true;
    let p = plan(&s, &Change::SetImage { target: Target::Base, image: V5.into() }).unwrap();
    for (name, a) in actions(&p) {
        let core = ["mon.", "mgr.", "osd."].iter().any(|pre| name.starts_with(pre));
        assert_eq!(a, if core { Action::Held } else { Action::Restart }, "{name}");
    }
}

#[test]
fn hold_scopes_follow_rook() {
    // one rgw label holds its store; one rbd-mirror holds all; mds label is ineffective;
    // crash/exporter/cephfs-mirror ignore it.
    let mut s = cluster(V4);
    for dep in [
        "rook-ceph-rgw-my-store-a",
        "rook-ceph-rbd-mirror-a",
        "rook-ceph-mds-myfs-a",
        "rook-ceph-crashcollector-node-1",
        "rook-ceph-exporter-node-1",
        "rook-ceph-fs-mirror",
    ] {
        s = with(s, dep, |x| x.labelled = true);
    }
    let p = plan(&s, &Change::SetImage { target: Target::Base, image: V5.into() }).unwrap();
    let a = actions(&p);
    assert_eq!(a["rgw.my-store"], Action::Held);
    assert_eq!(a["rbd-mirror.a"], Action::Held);
    assert_eq!(a["rbd-mirror.b"], Action::Held, "held by rbd-mirror.a's label");
    assert_eq!(a["mds.myfs-a"], Action::Restart, "the mds label does not take effect");
    assert_eq!(a["crash.node-1"], Action::Restart);
    assert_eq!(a["exporter.node-1"], Action::Restart);
    assert_eq!(a["cephfs-mirror.fs-mirror"], Action::Restart);
}

#[test]
fn drift_restarts_on_any_reconcile_and_unmanaged_daemons_are_named() {
    // osd.2 runs a hand-edited image: a mgr change starts a reconcile that reverts it.
    let s = with(cluster(V4), "rook-ceph-osd-2", |x| {
        x.ceph_images = vec![V5.into()];
        x.image = Some(V5.into());
    });
    let s = with(s, "rook-ceph-osd-3", |x| x.ceph_images.clear());
    let p = plan(&s, &set(T::Mgr, V5)).unwrap();
    assert_eq!(restarting(&p), ["mgr.a", "mgr.b", "osd.2"]);
    assert_eq!(actions(&p)["osd.3"], Action::NotManaged);
    // a label change starts no reconcile: nothing restarts
    let p = plan(&s, &Change::Pause(vec!["rook-ceph-osd-4".into()])).unwrap();
    assert!(restarting(&p).is_empty() && !p.triggers_reconcile);
}

#[test]
fn noops() {
    let s = cluster(V4);
    assert!(plan(&s, &Change::SetImage { target: Target::Base, image: V4.into() }).unwrap().noop);
    assert!(plan(&s, &Change::Unset(T::Mgr)).unwrap().noop);
    assert!(plan(&s, &Change::ResumeCluster).unwrap().noop);
    let l = with(s.clone(), "rook-ceph-osd-1", |x| x.labelled = true);
    assert!(plan(&l, &Change::Pause(vec!["rook-ceph-osd-1".into()])).unwrap().noop);
    assert!(plan(&s, &Change::Resume(vec!["rook-ceph-osd-1".into()])).unwrap().noop);
    let mut o = s.clone();
    o.cluster.overrides.insert("mgr".into(), V5.into());
    let p = plan(&o, &set(T::Mgr, V5)).unwrap();
    assert!(p.noop && !p.triggers_reconcile && restarting(&p).is_empty());
}

#[test]
fn release_order_warnings() {
    // mgr ahead of the mons
    let p = plan(&cluster(V4), &set(T::Mgr, "quay.io/ceph/ceph:v21.1.0")).unwrap();
    assert!(codes(&p).contains(&"ahead-of-mons"), "{:?}", p.warnings);
    // the Tentacle note: mons on Squid, mgr to Tentacle below 20.2.4
    let p = plan(&cluster("quay.io/ceph/ceph:v19.2.6"), &set(T::Mgr, "quay.io/ceph/ceph:v20.2.3")).unwrap();
    let w = p.warnings.iter().find(|w| w.code == "ahead-of-mons").unwrap();
    assert!(w.message.contains("Squid 19.2.6 to Tentacle below 20.2.4"), "{}", w.message);
    // more than one major release skipped: 17 -> 20 (18 -> 20 is allowed)
    let p = plan(
        &cluster("quay.io/ceph/ceph:v17.2.7"),
        &Change::SetImage { target: Target::Base, image: "quay.io/ceph/ceph:v20.2.4".into() },
    )
    .unwrap();
    let jumps: Vec<&str> = p.warnings.iter().filter(|w| w.code == "major-jump").map(|w| w.message.as_str()).collect();
    assert_eq!(jumps.len(), 1, "one warning, not one per type: {jumps:?}");
    assert!(jumps[0].contains("rbd-mirror") && !jumps[0].contains("rbdmirror"), "Ceph's type names: {}", jumps[0]);
    let p = plan(
        &cluster("quay.io/ceph/ceph:v18.2.7"),
        &Change::SetImage { target: Target::Base, image: "quay.io/ceph/ceph:v20.2.4".into() },
    )
    .unwrap();
    assert!(!codes(&p).contains(&"major-jump"), "{:?}", p.warnings);
    assert!(!codes(&p).contains(&"mixed-versions"), "everything moves together");
    // downgrade
    let p = plan(&cluster(V5), &set(T::Osd, V4)).unwrap();
    assert!(codes(&p).contains(&"downgrade"));
    // unknown release and a floating reference
    let p = plan(&cluster(V4), &set(T::Mgr, "quay.io/ceph/ceph")).unwrap();
    assert!(codes(&p).contains(&"unknown-version") && codes(&p).contains(&"floating-image"), "{:?}", codes(&p));
}

#[test]
fn pause_warnings_and_refusals() {
    let s = cluster(V4);
    let p = plan(&s, &Change::Pause(vec!["rook-ceph-mon-a".into()])).unwrap();
    assert_eq!(codes(&p), ["mon-failover"]);
    assert_eq!(actions(&p)["mon.a"], Action::Held);
    let p = plan(&s, &Change::Pause(vec!["rook-ceph-rgw-my-store-a".into()])).unwrap();
    assert_eq!(codes(&p), ["rgw-scope"]);
    let p = plan(&s, &Change::Pause(vec!["rook-ceph-rbd-mirror-b".into()])).unwrap();
    assert_eq!(codes(&p), ["rbd-mirror-scope"]);
    assert_eq!(actions(&p)["rbd-mirror.a"], Action::Held, "one holds all");
    let p = plan(&s, &Change::Pause(vec!["rook-ceph-mds-myfs-a".into()])).unwrap();
    assert_eq!(codes(&p), ["mds-ineffective"]);
    assert_eq!(actions(&p)["mds.myfs-a"], Action::Unchanged, "not held: Rook ignores it");
    for dep in ["rook-ceph-crashcollector-node-1", "rook-ceph-exporter-node-1", "rook-ceph-fs-mirror"] {
        let e = plan(&s, &Change::Pause(vec![dep.into()])).unwrap_err();
        assert!(matches!(e, PlanError::CannotHold { .. }), "{dep}");
        assert!(e.to_string().contains("does not honour"));
    }
    let p = plan(&s, &Change::PauseCluster).unwrap();
    assert_eq!(codes(&p), ["cluster-label"]);
    assert!(p.triggers_reconcile, "adding the CephCluster label starts a reconcile");
}

#[test]
fn resume_rules() {
    let s = with(cluster(V4), "rook-ceph-osd-1", |x| {
        x.labelled = true;
        x.under_replacement = true;
    });
    let p = plan(&s, &Change::Resume(vec!["rook-ceph-osd-1".into()])).unwrap();
    assert!(p.noop);
    assert_eq!(codes(&p), ["osd-replacement"]);
    assert!(p.daemons.iter().find(|x| x.daemon == "osd.1").unwrap().labelled, "keeps its label");
    // a held, drifted OSD: resuming restarts nothing now and says when it will
    let mut s = with(cluster(V4), "rook-ceph-osd-2", |x| x.labelled = true);
    s.cluster.base_image = V5.into();
    let p = plan(&s, &Change::Resume(vec!["rook-ceph-osd-2".into()])).unwrap();
    assert!(restarting(&p).is_empty());
    assert_eq!(codes(&p), ["resume-pending"]);
    // resuming the CephCluster label reconciles the drifted daemons
    let mut s = cluster(V4);
    s.cluster.held = true;
    s.cluster.base_image = V5.into();
    let p = plan(&s, &Change::ResumeCluster).unwrap();
    assert_eq!(restarting(&p).len(), s.daemons.len());
}

#[test]
fn same_outcome_compares_consequences() {
    let s = cluster(V4);
    let a = plan(&s, &set(T::Mgr, V5)).unwrap();
    let mut s2 = s.clone();
    s2.cluster.resource_version = "8".into();
    assert!(a.same_outcome(&plan(&s2, &set(T::Mgr, V5)).unwrap()));
    let s3 = with(s, "rook-ceph-mgr-b", |x| x.labelled = true);
    assert!(!a.same_outcome(&plan(&s3, &set(T::Mgr, V5)).unwrap()));
}

/// Issue 23 item 4: `skipUpgradeChecks: true` is a loud warning, first, in every plan.
#[test]
fn skip_upgrade_checks_is_said_first_and_loudly() {
    let mut s = cluster(V4);
    s.cluster.skip_upgrade_checks = true;
    let p = plan(&s, &set(T::Mgr, V5)).unwrap();
    assert_eq!(codes(&p)[0], "skip-upgrade-checks");
    assert!(p.warnings[0].message.starts_with("!! spec.skipUpgradeChecks is true"), "{}", p.warnings[0].message);
    let p = plan(&s, &Change::Unset(T::Mgr)).unwrap();
    assert_eq!(codes(&p)[0], "skip-upgrade-checks");
    s.cluster.skip_upgrade_checks = false;
    assert!(!codes(&plan(&s, &set(T::Mgr, V5)).unwrap()).contains(&"skip-upgrade-checks"));
}
