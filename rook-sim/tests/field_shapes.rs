//! The simulated operator on the shapes real clusters have (FACTS §6): the field fixtures
//! (`tests/fixtures/field/`) and small ones for kinds with no field file
//! (`tests/fixtures/kinds/`), loaded into rook-sim and reconciled after a base-image change.

use std::path::PathBuf;
use std::time::Duration;

use rook_sim::resources::{CEPHCLUSTERS, DEPLOYMENTS, PODS};
use rook_sim::{OperatorConfig, Sim, SimOptions};
use serde_json::Value;

const DNR: &str = "ceph.rook.io/do-not-reconcile";
const NEW: &str = "quay.io/ceph/ceph:v20.2.5";

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(rel)
}

fn opts(files: &[&str]) -> SimOptions {
    SimOptions {
        from: files.iter().map(|f| fixture(f)).collect(),
        operator: OperatorConfig {
            daemon_delay: Duration::ZERO,
            ready_delay: Duration::from_millis(1),
            osd_batch: 20,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn load(files: &[&str]) -> Sim {
    Sim::start(opts(files)).expect("fixture loads")
}

/// A sim whose operator waits per daemon, one OSD at a time: the order shows in pod IPs.
fn load_slow(objects: Vec<(String, Value)>) -> Sim {
    let mut o = opts(&[]);
    o.objects = objects;
    o.operator = OperatorConfig {
        daemon_delay: Duration::from_millis(5),
        ready_delay: Duration::from_millis(5),
        osd_batch: 1,
        ..Default::default()
    };
    Sim::start(o).expect("objects load")
}

fn set_base(sim: &Sim, ns: &str, name: &str, image: &str) {
    sim.update(&CEPHCLUSTERS, ns, name, |c| c["spec"]["cephVersion"]["image"] = image.into()).unwrap();
    sim.settle();
}

fn dep(sim: &Sim, ns: &str, name: &str) -> Value {
    sim.get(&DEPLOYMENTS, ns, name).unwrap_or_else(|| panic!("{ns}/{name} exists"))
}

/// (init?, name) -> image of a Deployment's containers.
fn images(d: &Value) -> Vec<(String, String)> {
    let spec = &d["spec"]["template"]["spec"];
    ["initContainers", "containers"]
        .iter()
        .flat_map(|k| spec[*k].as_array().cloned().unwrap_or_default())
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["image"].as_str().unwrap().to_string()))
        .collect()
}

fn container_image_env(d: &Value) -> Vec<String> {
    let spec = &d["spec"]["template"]["spec"];
    ["initContainers", "containers"]
        .iter()
        .flat_map(|k| spec[*k].as_array().cloned().unwrap_or_default())
        .flat_map(|c| c["env"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["name"] == "CONTAINER_IMAGE")
        .map(|e| e["value"].as_str().unwrap().to_string())
        .collect()
}

/// The pods of a Deployment (through its ReplicaSets), name -> pod.
fn pods_of(sim: &Sim, ns: &str, name: &str) -> Vec<(String, Value)> {
    let d = dep(sim, ns, name);
    rook_sim::kube::rollout::owned_pods(&sim.state.store(), ns, &d)
}

fn pod_names(sim: &Sim, ns: &str, name: &str) -> Vec<String> {
    pods_of(sim, ns, name).into_iter().map(|(n, _)| n).collect()
}

/// The order the simulated operator created a pod in (it numbers pod IPs).
fn seq(p: &Value) -> u64 {
    let ip = p["status"]["podIP"].as_str().unwrap_or_default();
    let parts: Vec<u64> = ip.split('.').filter_map(|x| x.parse().ok()).collect();
    assert_eq!(parts.len(), 4, "a pod the simulated operator made: {p}");
    parts[2] * 250 + parts[3] - 2
}

fn rv(v: &Value) -> String {
    v["metadata"]["resourceVersion"].as_str().unwrap().to_string()
}

#[test]
fn floating_mon_rolls_with_the_mons_and_its_own_label_holds_nothing() {
    let sim = load(&["field/01-floating-mon.yaml"]);
    sim.update(&DEPLOYMENTS, "rook-ceph", "rook-ceph-mon-c", |d| d["metadata"]["labels"][DNR] = "true".into()).unwrap();
    set_base(&sim, "rook-ceph", "rook-ceph", NEW);
    let c = dep(&sim, "rook-ceph", "rook-ceph-mon-c");
    let imgs = images(&c);
    assert!(imgs.contains(&("mon".into(), NEW.into())), "{imgs:?}");
    assert!(imgs.contains(&("drbd-init".into(), "quay.io/linbit/drbd-utils:latest".into())), "{imgs:?}");
    assert!(imgs.contains(&("floating-mon-shutdown".into(), "quay.io/linbit/drbd-utils:latest".into())));
    assert!(c["metadata"]["labels"].get(DNR).is_none(), "Rook rebuilt it: the label is gone");
    // the mons (floating one included) rolled before any mgr
    let mon_seqs: Vec<u64> = ["a", "b", "c"]
        .iter()
        .flat_map(|m| pods_of(&sim, "rook-ceph", &format!("rook-ceph-mon-{m}")))
        .map(|(_, p)| seq(&p))
        .collect();
    let mgr_seqs: Vec<u64> = pods_of(&sim, "rook-ceph", "rook-ceph-mgr-a").into_iter().map(|(_, p)| seq(&p)).collect();
    assert_eq!(mon_seqs.len(), 3);
    assert!(mon_seqs.iter().max() < mgr_seqs.iter().min(), "mons {mon_seqs:?} before mgrs {mgr_seqs:?}");
    // mgr watch-active stays on the Rook image
    assert!(
        images(&dep(&sim, "rook-ceph", "rook-ceph-mgr-a"))
            .contains(&("watch-active".into(), "docker.io/rook/ceph:v1.20.6".into()))
    );
    // versions: three mons on the new release
    let cl = sim.get(&CEPHCLUSTERS, "rook-ceph", "rook-ceph").unwrap();
    let mons = cl["status"]["ceph"]["versions"]["mon"].as_object().unwrap();
    assert_eq!(mons.len(), 1);
    assert!(mons.keys().next().unwrap().contains("20.2.5"), "{mons:?}");
    assert_eq!(mons.values().next().unwrap(), 3);
}

#[test]
fn a_labelled_mon_holds_itself_and_the_floating_mon_still_rolls() {
    let sim = load(&["field/01-floating-mon.yaml"]);
    let held = pod_names(&sim, "rook-ceph", "rook-ceph-mon-a");
    sim.update(&DEPLOYMENTS, "rook-ceph", "rook-ceph-mon-a", |d| d["metadata"]["labels"][DNR] = "true".into()).unwrap();
    set_base(&sim, "rook-ceph", "rook-ceph", NEW);
    assert!(images(&dep(&sim, "rook-ceph", "rook-ceph-mon-a")).iter().all(|(_, i)| i != NEW));
    assert_eq!(pod_names(&sim, "rook-ceph", "rook-ceph-mon-a"), held);
    assert!(images(&dep(&sim, "rook-ceph", "rook-ceph-mon-c")).contains(&("mon".into(), NEW.into())));
}

#[test]
fn mon_canary_is_never_touched_and_the_pending_mon_is_replaced() {
    let sim = load(&["field/02-mon-canary.yaml"]);
    let canary = dep(&sim, "rook-ceph", "rook-ceph-mon-c-canary");
    let canary_pods = pod_names(&sim, "rook-ceph", "rook-ceph-mon-c-canary");
    assert_eq!(canary_pods.len(), 1);
    let before_c = pod_names(&sim, "rook-ceph", "rook-ceph-mon-c");
    assert_eq!(before_c.len(), 1, "the canary's pod is not the mon's: {before_c:?}");
    set_base(&sim, "rook-ceph", "rook-ceph", "quay.io/ceph/ceph:v17.2.7");
    assert_eq!(dep(&sim, "rook-ceph", "rook-ceph-mon-c-canary"), canary);
    assert_eq!(pod_names(&sim, "rook-ceph", "rook-ceph-mon-c-canary"), canary_pods);
    let after_c = pods_of(&sim, "rook-ceph", "rook-ceph-mon-c");
    assert_eq!(after_c.len(), 1);
    assert_ne!(after_c[0].0, before_c[0], "the Pending mon pod was replaced");
    assert_eq!(after_c[0].1["status"]["phase"], "Running");
}

#[test]
fn maintenance_copy_is_never_touched_and_holds_the_real_osd() {
    let sim = load(&["kinds/maintenance-copy.yaml"]);
    let copy = dep(&sim, "rook-ceph", "rook-ceph-osd-1-maintenance");
    let real = dep(&sim, "rook-ceph", "rook-ceph-osd-1");
    set_base(&sim, "rook-ceph", "rook-ceph", NEW);
    assert_eq!(dep(&sim, "rook-ceph", "rook-ceph-osd-1-maintenance"), copy);
    assert_eq!(rv(&dep(&sim, "rook-ceph", "rook-ceph-osd-1")), rv(&real), "held through the copy's id label");
    assert_eq!(dep(&sim, "rook-ceph", "rook-ceph-osd-1")["spec"]["replicas"], 0);
    assert!(pod_names(&sim, "rook-ceph", "rook-ceph-osd-1").is_empty());
    assert!(images(&dep(&sim, "rook-ceph", "rook-ceph-osd-0")).iter().all(|(_, i)| i == NEW));
}

#[test]
fn osd_at_zero_replicas_comes_back_and_pending_and_terminating_pods_are_replaced() {
    let sim = load(&["field/05-osd-removal-crashloop-rollout.yaml"]);
    assert!(pod_names(&sim, "rook-ceph", "rook-ceph-osd-2").is_empty());
    let mgr_b = pod_names(&sim, "rook-ceph", "rook-ceph-mgr-b");
    set_base(&sim, "rook-ceph", "rook-ceph", NEW);
    let d = dep(&sim, "rook-ceph", "rook-ceph-osd-2");
    assert_eq!(d["spec"]["replicas"], 1);
    let p = pods_of(&sim, "rook-ceph", "rook-ceph-osd-2");
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].1["status"]["phase"], "Running");
    assert_eq!(p[0].1["spec"]["containers"][0]["image"], NEW);
    let osd0 = pods_of(&sim, "rook-ceph", "rook-ceph-osd-0");
    assert_eq!(osd0.len(), 1, "the old Terminating and the PodInitializing pods are gone: {osd0:?}");
    let b = pods_of(&sim, "rook-ceph", "rook-ceph-mgr-b");
    assert_eq!(b.len(), 1);
    assert!(!mgr_b.contains(&b[0].0) && b[0].1["status"]["phase"] == "Running");
}

#[test]
fn osd_under_replacement_stays_held_until_its_label_goes() {
    let sim = load(&["kinds/osd-under-replacement.yaml"]);
    set_base(&sim, "rook-ceph", "rook-ceph", NEW);
    let d = dep(&sim, "rook-ceph", "rook-ceph-osd-2");
    assert_eq!(d["spec"]["replicas"], 0);
    assert!(d["metadata"]["labels"].get(DNR).is_some());
    assert!(pod_names(&sim, "rook-ceph", "rook-ceph-osd-2").is_empty());
    // removing the label triggers nothing; the next spec change scales it back up
    sim.update(&DEPLOYMENTS, "rook-ceph", "rook-ceph-osd-2", |d| {
        d["metadata"]["labels"].as_object_mut().unwrap().remove(DNR);
    })
    .unwrap();
    sim.settle();
    assert_eq!(dep(&sim, "rook-ceph", "rook-ceph-osd-2")["spec"]["replicas"], 0);
    set_base(&sim, "rook-ceph", "rook-ceph", "quay.io/ceph/ceph:v20.2.6");
    let d = dep(&sim, "rook-ceph", "rook-ceph-osd-2");
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(pods_of(&sim, "rook-ceph", "rook-ceph-osd-2").len(), 1);
}

#[test]
fn an_empty_label_value_holds() {
    let sim = load(&["kinds/empty-label-value.yaml"]);
    let before = pod_names(&sim, "rook-ceph", "rook-ceph-osd-1");
    set_base(&sim, "rook-ceph", "rook-ceph", NEW);
    assert_eq!(pod_names(&sim, "rook-ceph", "rook-ceph-osd-1"), before);
    assert!(images(&dep(&sim, "rook-ceph", "rook-ceph-osd-1")).iter().all(|(_, i)| i != NEW));
    assert!(images(&dep(&sim, "rook-ceph", "rook-ceph-osd-0")).iter().all(|(_, i)| i == NEW));
}

#[test]
fn nfs_on_its_ganesha_image_restarts_and_keeps_that_image() {
    let sim = load(&["kinds/nfs-server-image.yaml"]);
    let before = pod_names(&sim, "rook-ceph", "rook-ceph-nfs-my-nfs-a");
    set_base(&sim, "rook-ceph", "rook-ceph", NEW);
    let d = dep(&sim, "rook-ceph", "rook-ceph-nfs-my-nfs-a");
    let imgs = images(&d);
    let ganesha = "quay.io/nfs-ganesha/nfs-ganesha:V6.5";
    assert!(imgs.contains(&("generate-minimal-ceph-conf".into(), NEW.into())), "{imgs:?}");
    assert!(imgs.contains(&("nfs-ganesha".into(), ganesha.into())), "{imgs:?}");
    assert!(imgs.contains(&("dbus-daemon".into(), ganesha.into())), "{imgs:?}");
    assert!(container_image_env(&d).iter().all(|e| e == NEW));
    let after = pod_names(&sim, "rook-ceph", "rook-ceph-nfs-my-nfs-a");
    assert_eq!(after.len(), 1);
    assert_ne!(after, before, "restarted");
}

#[test]
fn nvmeof_gateway_restarts_on_its_image_and_ignores_the_label() {
    let sim = load(&["field/07-nvmeof-gateway.yaml"]);
    assert!(sim.skipped.iter().any(|s| s.contains("CephNVMeOFGateway")), "{:?}", sim.skipped);
    sim.update(&DEPLOYMENTS, "rook-ceph", "rook-ceph-nvmeof-nvmeof-b", |d| {
        d["metadata"]["labels"][DNR] = "true".into()
    })
    .unwrap();
    let before = pod_names(&sim, "rook-ceph", "rook-ceph-nvmeof-nvmeof-b");
    set_base(&sim, "rook-ceph", "rook-ceph", NEW);
    for gw in ["a", "b"] {
        let d = dep(&sim, "rook-ceph", &format!("rook-ceph-nvmeof-nvmeof-{gw}"));
        let imgs = images(&d);
        assert!(imgs.contains(&("generate-ceph-conf".into(), NEW.into())), "{imgs:?}");
        assert!(imgs.contains(&("nvmeof-gateway".into(), "quay.io/ceph/nvmeof:1.5".into())), "{imgs:?}");
        assert!(container_image_env(&d).iter().all(|e| e == NEW));
    }
    assert_ne!(pod_names(&sim, "rook-ceph", "rook-ceph-nvmeof-nvmeof-b"), before, "no do-not-reconcile support");
}

#[test]
fn rook_image_helpers_keep_their_image() {
    let sim = load(&["field/08-private-registry-failed-pods-rook-1.1.yaml"]);
    let new = "registry.lab.example:50443/ceph/ceph:v14.2.4-20191010";
    set_base(&sim, "rook-ceph", "rook-ceph", new);
    let imgs = images(&dep(&sim, "rook-ceph", "rook-ceph-osd-0"));
    assert!(imgs.contains(&("config-init".into(), "registry.lab.example:50443/rook/ceph:v1.1.0".into())), "{imgs:?}");
    assert!(imgs.contains(&("copy-bins".into(), "registry.lab.example:50443/rook/ceph:v1.1.0".into())), "{imgs:?}");
    assert!(imgs.contains(&("osd".into(), new.into())), "{imgs:?}");

    let sim = load(&["field/09-osd-on-pvc-encrypted-kms.yaml"]);
    set_base(&sim, "rook-ceph", "rook-ceph", NEW);
    let imgs = images(&dep(&sim, "rook-ceph", "rook-ceph-osd-3"));
    assert!(imgs.contains(&("encryption-kms-get-kek".into(), "docker.io/rook/ceph:v1.20.6".into())), "{imgs:?}");
    assert!(imgs.iter().filter(|(n, _)| n != "encryption-kms-get-kek").all(|(_, i)| i == NEW), "{imgs:?}");
}

#[test]
fn failed_pods_stay_and_do_not_count() {
    let sim = load(&["field/08-private-registry-failed-pods-rook-1.1.yaml"]);
    let failed: Vec<String> = sim
        .list(&PODS, "rook-ceph")
        .into_iter()
        .filter(|p| p["status"]["phase"] == "Failed")
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(failed.len(), 3);
    set_base(&sim, "rook-ceph", "rook-ceph", "registry.lab.example:50443/ceph/ceph:v14.2.4-20191010");
    for f in &failed {
        let p = sim.get(&PODS, "rook-ceph", f).expect("a Failed pod stays");
        assert_eq!(p["status"]["phase"], "Failed");
    }
    let d = dep(&sim, "rook-ceph", "rook-ceph-mgr-a");
    assert_eq!(d["status"]["readyReplicas"], 1, "the Failed pod is not ready");
    let cl = sim.get(&CEPHCLUSTERS, "rook-ceph", "rook-ceph").unwrap();
    assert_eq!(cl["status"]["ceph"]["versions"]["mgr"].as_object().unwrap().values().next().unwrap(), 1);
}

#[test]
fn a_held_object_store_stays_on_its_release() {
    let sim = load(&["field/10-rgw-held-by-store-label.yaml"]);
    let before = pod_names(&sim, "rook-ceph", "rook-ceph-rgw-my-store-a");
    assert_eq!(before.len(), 2);
    set_base(&sim, "rook-ceph", "rook-ceph", "quay.io/ceph/ceph:v19.2.2");
    assert_eq!(pod_names(&sim, "rook-ceph", "rook-ceph-rgw-my-store-a"), before);
    assert!(images(&dep(&sim, "rook-ceph", "rook-ceph-rgw-s3-store-a")).iter().all(|(_, i)| i.ends_with("v19.2.2")));
}

#[test]
fn two_clusters_in_two_namespaces_reconcile_apart() {
    let sim = load(&["field/12-two-clusters-two-namespaces.yaml"]);
    assert_eq!(sim.namespaces, ["rook-ceph", "rook-ceph-secondary"]);
    let primary = pod_names(&sim, "rook-ceph", "rook-ceph-osd-0");
    set_base(&sim, "rook-ceph-secondary", "my-cluster", "quay.io/ceph/ceph:v19.2.3");
    assert_eq!(pod_names(&sim, "rook-ceph", "rook-ceph-osd-0"), primary);
    assert!(images(&dep(&sim, "rook-ceph", "rook-ceph-osd-0")).iter().all(|(_, i)| i.ends_with("v19.2.3")));
    let sec = dep(&sim, "rook-ceph-secondary", "rook-ceph-osd-0");
    assert!(images(&sec).iter().all(|(_, i)| i == "quay.io/ceph/ceph:v19.2.3"), "{:?}", images(&sec));
    assert!(
        sim.list(&rook_sim::resources::NAMESPACES, "").iter().any(|n| n["metadata"]["name"] == "rook-ceph-tertiary")
    );
}

#[test]
fn external_cluster_reconciles_no_mon_mgr_osd_and_keeps_its_status() {
    let sim = load(&["field/17-external-cluster.yaml"]);
    let before = sim.get(&CEPHCLUSTERS, "rook-ceph", "rook-ceph-external").unwrap();
    sim.update(&CEPHCLUSTERS, "rook-ceph", "rook-ceph-external", |c| {
        c["spec"]["healthCheck"]["daemonHealth"]["mon"]["interval"] = "60s".into()
    })
    .unwrap();
    sim.settle();
    let after = sim.get(&CEPHCLUSTERS, "rook-ceph", "rook-ceph-external").unwrap();
    assert_eq!(after["status"], before["status"]);
    assert!(sim.list(&DEPLOYMENTS, "rook-ceph").is_empty());
}

/// Fixture 10 as objects, with every Deployment's rook-version set to `version`.
fn fixture_10_on(version: &str) -> Vec<(String, Value)> {
    let text = std::fs::read_to_string(fixture("field/10-rgw-held-by-store-label.yaml")).unwrap();
    let mut docs = rook_sim::load::parse_text("10", &text).unwrap();
    for (_, d) in &mut docs {
        if d["kind"] == "Deployment" {
            d["metadata"]["labels"]["rook-version"] = version.into();
        }
    }
    docs
}

/// (latest OSD pod, the s3-store RGW pod, earliest mgr pod, latest mon pod) in creation order.
fn rollout_order(sim: &Sim) -> (u64, u64, u64, u64) {
    let max =
        |names: &[&str]| names.iter().flat_map(|n| pods_of(sim, "rook-ceph", n)).map(|(_, p)| seq(&p)).max().unwrap();
    let min =
        |names: &[&str]| names.iter().flat_map(|n| pods_of(sim, "rook-ceph", n)).map(|(_, p)| seq(&p)).min().unwrap();
    (
        max(&["rook-ceph-osd-0", "rook-ceph-osd-1", "rook-ceph-osd-2"]),
        max(&["rook-ceph-rgw-s3-store-a"]),
        min(&["rook-ceph-mgr-a", "rook-ceph-mgr-b"]),
        max(&["rook-ceph-mon-a", "rook-ceph-mon-b", "rook-ceph-mon-c"]),
    )
}

#[test]
fn rgw_rolls_while_osds_still_roll_before_rook_1_21() {
    // rook #18367: the object-store controller waits for the mons only
    let sim = load_slow(fixture_10_on("v1.20.6"));
    set_base(&sim, "rook-ceph", "rook-ceph", "quay.io/ceph/ceph:v19.2.2");
    let (last_osd, rgw, first_mgr, last_mon) = rollout_order(&sim);
    assert!(last_mon < rgw && last_mon < first_mgr, "mons first: mon {last_mon}, mgr {first_mgr}, rgw {rgw}");
    assert!(rgw < last_osd, "RGW ({rgw}) rolled before the last OSD ({last_osd})");
}

#[test]
fn rgw_waits_for_the_osds_from_rook_1_21() {
    // PR #18369: from v1.21 the object-store controller waits for the OSDs too
    let sim = load_slow(fixture_10_on("v1.21.0"));
    set_base(&sim, "rook-ceph", "rook-ceph", "quay.io/ceph/ceph:v19.2.2");
    let (last_osd, rgw, _, last_mon) = rollout_order(&sim);
    assert!(last_mon < rgw && last_osd < rgw, "RGW ({rgw}) after every OSD ({last_osd})");
    assert_eq!(dep(&sim, "rook-ceph", "rook-ceph-osd-0")["metadata"]["labels"]["rook-version"], "v1.21.0");
}

#[test]
fn every_field_fixture_loads() {
    for e in std::fs::read_dir(fixture("field")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            let sim = Sim::start(SimOptions { from: vec![p.clone()], ..Default::default() })
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert!(!sim.namespaces.is_empty());
        }
    }
}

#[test]
fn load_errors_name_the_file_and_document() {
    let dir = std::env::temp_dir().join(format!("rook-sim-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.yaml");
    std::fs::write(
        &f,
        "# a dump\n---\napiVersion: ceph.rook.io/v1\nkind: CephCluster\nmetadata: {name: c, namespace: rook-ceph}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: rook-ceph}\nspec: {replicas: 1}\n",
    )
    .unwrap();
    let e = Sim::start(SimOptions { from: vec![f.clone()], ..Default::default() }).err().expect("refused");
    assert!(
        e.contains("bad.yaml, document 2 (line 7): Deployment rook-ceph/d has no spec.template.spec.containers"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
