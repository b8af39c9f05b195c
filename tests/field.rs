//! The plan on real cluster shapes (FACTS §6): every file in `tests/fixtures/field/` (copies
//! of `../shared/field`, reduced from published reports) and every file in
//! `tests/fixtures/kinds/` (shapes with no field file) is read as the plugin reads a cluster
//! (the same wire types and classification) and planned for `set base`, `set mgr`, a fence
//! and a pause. Each daemon's action and pods are pinned in a snapshot, and the facts each
//! kind stands for are asserted outright below.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kubectl_ceph_image::classify::classify;
use kubectl_ceph_image::cluster::wire::{CephCluster, Deployment, WirePod};
use kubectl_ceph_image::model::Snapshot;
use kubectl_ceph_image::model::daemon::DaemonType;
use kubectl_ceph_image::plan::{Action, Change, Plan, Target, plan};

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no fixtures in {}", d.display());
    v
}

#[derive(serde::Deserialize)]
struct Head {
    kind: String,
    metadata: kubectl_ceph_image::cluster::wire::Meta,
}

/// Every CephCluster of a file with what the plugin would read for it: the Deployments and
/// Pods labelled `rook_cluster=<namespace>`. Each document is decoded straight into the
/// plugin's typed wire structs, as the API's JSON is: a label like `pod-template-hash:
/// 77773e1466` (a float to an untyped YAML reader) stays the string it is.
fn snapshots(path: &Path) -> Vec<Snapshot> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut docs: Vec<(Head, &str)> = Vec::new();
    for doc in text.split("\n---") {
        if doc.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---") {
            continue;
        }
        let head: Head = decode(doc);
        docs.push((head, doc));
    }
    fn decode<T: serde::de::DeserializeOwned>(doc: &str) -> T {
        // Fields the wire types skip are still scanned: a hash like 77773e1466 must not
        // fail as an overflowing float there.
        let mut opts = serde_saphyr::Options::default();
        opts.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::AsString;
        serde_saphyr::from_str_with_options(doc, opts).unwrap_or_else(|e| panic!("{e}"))
    }
    let in_cluster = |h: &Head, ns: &str| {
        h.metadata.namespace.as_deref() == Some(ns)
            && h.metadata.labels.get("rook_cluster").map(String::as_str) == Some(ns)
    };
    docs.iter()
        .filter(|(h, _)| h.kind == "CephCluster")
        .map(|(_, doc)| {
            let cluster: CephCluster = decode(doc);
            let ns = cluster.metadata.namespace.clone().unwrap();
            let deployments: Vec<Deployment> = docs
                .iter()
                .filter(|(h, _)| h.kind == "Deployment" && in_cluster(h, &ns))
                .map(|(_, d)| decode(d))
                .collect();
            let pods: Vec<WirePod> =
                docs.iter().filter(|(h, _)| h.kind == "Pod" && in_cluster(h, &ns)).map(|(_, d)| decode(d)).collect();
            classify(cluster.into_model(), deployments, pods)
        })
        .collect()
}

/// The same repository one patch release on: a routine base change for this cluster.
fn next_patch(image: &str) -> String {
    if image.is_empty() {
        return "quay.io/ceph/ceph:v18.2.5".into();
    }
    // A digest pins the old build: the next patch is named by its tag alone.
    let image = image.split('@').next().unwrap();
    let (repo, tag) = image.rsplit_once(':').unwrap();
    let v = tag.trim_start_matches('v');
    let mut parts: Vec<String> = v.split(['.', '-']).map(str::to_string).collect();
    parts[2] = (parts[2].parse::<u32>().unwrap() + 1).to_string();
    format!("{repo}:v{}.{}.{}", parts[0], parts[1], parts[2])
}

fn compact(p: &Plan) -> String {
    let mut out = String::new();
    for d in &p.daemons {
        let step = match (d.step, d.alongside) {
            (Some(s), true) => format!(" step {s}+"),
            (Some(s), false) => format!(" step {s}"),
            _ => String::new(),
        };
        let pods: Vec<&str> = d.pods.iter().map(|x| x.name.as_str()).collect();
        out.push_str(&format!(
            "  {} ({}): {:?}{step} pods [{}]{}\n",
            d.daemon,
            d.deployment,
            d.action,
            pods.join(" "),
            d.note.as_deref().map(|n| format!(" -- {n}")).unwrap_or_default()
        ));
    }
    for c in &p.copies {
        out.push_str(&format!("  not a daemon: {} = {} of {}\n", c.deployment, c.kind, c.of.as_deref().unwrap_or("?")));
    }
    for n in &p.not_handled {
        out.push_str(&format!("  not handled: {} ({})\n", n.deployment, n.reason));
    }
    let codes: Vec<&str> = p.warnings.iter().map(|w| w.code).collect();
    out.push_str(&format!(
        "  summary: restart {} ({} pods), start {}, held {}, unchanged {}, not managed {}; warnings [{}]\n",
        p.summary.restart,
        p.summary.restart_pods,
        p.summary.start,
        p.summary.held,
        p.summary.unchanged,
        p.summary.not_managed,
        codes.join(" ")
    ));
    out
}

/// The plans pinned for one cluster: set base, set mgr, fence the mgrs, pause the first OSD
/// (or, with no OSD, the first daemon Rook holds).
fn plans(s: &Snapshot) -> Vec<(String, Result<Plan, String>)> {
    let base = next_patch(&s.cluster.base_image);
    let mgr = format!("{base}-mgrfix");
    let mut out = vec![
        (format!("set base {base}"), Change::SetImage { target: Target::Base, image: base.clone() }),
        (format!("set mgr {mgr}"), Change::SetImage { target: Target::Type(DaemonType::Mgr), image: mgr.clone() }),
        (
            format!("fence mgr {mgr}"),
            Change::Fence { dtype: DaemonType::Mgr, image: mgr.clone(), batching: Default::default() },
        ),
    ];
    let pausable = s.daemons.iter().find(|d| d.id.dtype == DaemonType::Osd).or_else(|| {
        s.daemons.iter().find(|d| d.id.dtype.hold_scope() == kubectl_ceph_image::model::daemon::HoldScope::Daemon)
    });
    if let Some(d) = pausable {
        out.push((format!("pause {}", d.id), Change::Pause(vec![d.deployment.clone()])));
    }
    out.into_iter().map(|(name, c)| (name, plan(s, &c).map_err(|e| e.to_string()))).collect()
}

fn report(s: &Snapshot) -> String {
    let mut out = format!(
        "CephCluster {}/{}: {} Deployment(s) read = {} daemon(s) + {} not daemon(s) + {} not handled; Rook {}\n",
        s.cluster.namespace,
        s.cluster.name,
        s.deployments_read,
        s.daemons.len(),
        s.copies.len(),
        s.not_handled.len(),
        s.rook_version.as_deref().unwrap_or("?")
    );
    for d in &s.daemons {
        out.push_str(&format!(
            "  {} node={} hostname={} image={} version={}\n",
            d.id,
            d.node.as_deref().unwrap_or("-"),
            d.hostname.as_deref().unwrap_or("-"),
            d.image.as_deref().unwrap_or("-"),
            d.image.as_deref().and_then(|i| s.version_of(i)).map(|v| v.to_string()).unwrap_or("-".into())
        ));
        if d.nodes().len() > 1 {
            out.push_str(&format!("    nodes={}\n", d.nodes().join(",")));
        }
    }
    for (name, p) in plans(s) {
        out.push_str(&format!("\n{name}:\n"));
        match p {
            Ok(p) => out.push_str(&compact(&p)),
            Err(e) => out.push_str(&format!("  refused: {e}\n")),
        }
    }
    out
}

fn pin(dir: &str) {
    for path in fixtures(dir) {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let all: Vec<String> = snapshots(&path).iter().map(report).collect();
        // Nothing read is left out: every Deployment is a daemon, a copy or not handled.
        for s in snapshots(&path) {
            assert_eq!(s.deployments_read, s.daemons.len() + s.copies.len() + s.not_handled.len(), "{name}");
        }
        insta::assert_snapshot!(format!("{dir}__{name}"), all.join("\n"));
    }
}

#[test]
fn field_plans_are_pinned() {
    pin("field");
}

#[test]
fn kind_plans_are_pinned() {
    pin("kinds");
}

// The facts each kind stands for, asserted outright (the snapshots pin the rest).

fn load(dir: &str, file: &str) -> Snapshot {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(dir).join(file);
    snapshots(&p).remove(0)
}

fn by_daemon(p: &Plan) -> BTreeMap<String, (Action, Vec<String>, Option<u32>, bool)> {
    p.daemons
        .iter()
        .map(|d| (d.daemon.clone(), (d.action, d.pods.iter().map(|x| x.name.clone()).collect(), d.step, d.alongside)))
        .collect()
}

fn set_base(s: &Snapshot) -> Plan {
    plan(s, &Change::SetImage { target: Target::Base, image: next_patch(&s.cluster.base_image) }).unwrap()
}

#[test]
fn floating_mon_is_a_mon_that_its_label_cannot_hold() {
    let mut s = load("field", "01-floating-mon.yaml");
    let p = set_base(&s);
    let m = by_daemon(&p);
    assert_eq!(m["mon.c"].0, Action::Restart, "the floating mon restarts with the mons");
    assert_eq!(m["mon.c"].1, ["rook-ceph-mon-c-6b42522bfc-g5vcp"]);
    // Labelled, it still restarts: Rook's skip query selects app=rook-ceph-mon.
    s.daemons.iter_mut().find(|d| d.deployment == "rook-ceph-mon-c").unwrap().labelled = true;
    assert_eq!(by_daemon(&set_base(&s))["mon.c"].0, Action::Restart);
}

#[test]
fn mon_canary_is_not_a_daemon_and_the_rook_tag_is_not_a_ceph_version() {
    let s = load("field", "02-mon-canary.yaml");
    assert_eq!(s.copies.len(), 1);
    assert_eq!((s.copies[0].deployment.as_str(), s.copies[0].kind), ("rook-ceph-mon-c-canary", "mon canary"));
    assert_eq!(s.daemons.iter().filter(|d| d.id.to_string() == "mon.c").count(), 1);
    let p = set_base(&s);
    assert!(p.warnings.iter().all(|w| w.code != "major-jump"), "{:?}", p.warnings);
    assert!(p.daemons.iter().all(|d| d.deployment != "rook-ceph-mon-c-canary"));
    // mon.c's pod is Pending: replaced, but it restarts nothing that runs.
    let m = by_daemon(&p);
    assert_eq!(m["mon.c"].0, Action::Restart);
    assert!(m["mon.c"].1.is_empty(), "a Pending pod is not a running pod");
}

#[test]
fn node_names_and_hostname_labels_are_one_identity() {
    let s = load("field", "04-node-name-vs-hostname-label.yaml");
    let nodes: std::collections::BTreeSet<&str> = s.daemons.iter().filter_map(|d| d.node.as_deref()).collect();
    assert_eq!(nodes.len(), 3, "3 nodes, not 5: {nodes:?}");
    let osd0 = s.daemons.iter().find(|d| d.id.to_string() == "osd.0").unwrap();
    assert!(osd0.on_node("ip-10-0-1-11.ec2.internal") && osd0.on_node("ip-10-0-1-11"));
}

#[test]
fn scaled_down_failed_and_pending_pods() {
    let s = load("field", "05-osd-removal-crashloop-rollout.yaml");
    let p = set_base(&s);
    let m = by_daemon(&p);
    assert_eq!(m["osd.2"].0, Action::Start, "Rook's OSD update sets replicas 1 again");
    assert!(m["mgr.b"].1.is_empty(), "the Pending standby mgr runs nothing");
    assert!(m["osd.0"].1.is_empty(), "a terminating pod and a Pending pod: nothing running");
}

#[test]
fn nvmeof_gateways_restart_on_a_base_change_and_keep_their_image() {
    let s = load("field", "07-nvmeof-gateway.yaml");
    let gw: Vec<_> = s.daemons.iter().filter(|d| d.id.dtype == DaemonType::Nvmeof).collect();
    assert_eq!(gw.len(), 2);
    assert_eq!(gw[0].own_images, [("nvmeof-gateway".to_string(), "quay.io/ceph/nvmeof:1.5".to_string())]);
    let p = set_base(&s);
    assert!(by_daemon(&p).iter().filter(|(k, _)| k.starts_with("nvmeof.")).all(|(_, v)| v.0 == Action::Restart));
    let mgr = plan(
        &s,
        &Change::SetImage { target: Target::Type(DaemonType::Mgr), image: "quay.io/ceph/ceph:v20.2.5".into() },
    )
    .unwrap();
    assert!(by_daemon(&mgr).iter().filter(|(k, _)| k.starts_with("nvmeof.")).all(|(_, v)| v.0 == Action::Unchanged));
}

#[test]
fn old_rook_with_a_registry_port_and_failed_pods() {
    let s = load("field", "08-private-registry-failed-pods-rook-1.1.yaml");
    assert_eq!(
        s.daemons.iter().filter(|d| d.id.dtype == DaemonType::Osd).count(),
        3,
        "no ceph_daemon_type label needed"
    );
    for d in &s.daemons {
        assert!(d.pods.iter().filter(|p| p.running()).count() <= 1, "{}: a Failed pod is not running", d.id);
    }
    let p = set_base(&s);
    assert!(p.warnings.iter().all(|w| w.code != "unknown-version" && w.code != "major-jump"), "{:?}", p.warnings);
}

#[test]
fn rgw_store_label_holds_the_store_and_versions_come_from_rook() {
    let s = load("field", "10-rgw-held-by-store-label.yaml");
    let p = set_base(&s);
    let m = by_daemon(&p);
    assert_eq!(m["rgw.my-store"].0, Action::Held);
    assert_eq!(m["rgw.s3-store"].0, Action::Restart);
    assert!(m["rgw.s3-store"].3, "rgw rolls alongside the OSDs on Rook < 1.21");
}

#[test]
fn two_clusters_are_planned_apart() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/field/12-two-clusters-two-namespaces.yaml");
    let all = snapshots(&p);
    assert_eq!(all.len(), 2);
    // The same Deployment names in both namespaces, each cluster on its own release: a
    // plan that mixed them would show the other cluster's image or version.
    let names =
        |s: &Snapshot| s.daemons.iter().map(|d| d.deployment.clone()).collect::<std::collections::BTreeSet<_>>();
    assert!(!names(&all[0]).is_disjoint(&names(&all[1])), "the file has identically named Deployments");
    assert_ne!(all[0].cluster.base_image, all[1].cluster.base_image);
    for s in &all {
        let p = set_base(s);
        let base = s.cluster.base_image.as_str();
        assert!(
            p.restarts().all(|d| d.image_from.as_deref() == Some(base)),
            "{}: {:?}",
            s.cluster.namespace,
            p.daemons
        );
        assert!(p.warnings.iter().all(|w| w.code != "mixed-versions" && w.code != "major-jump"), "{:?}", p.warnings);
    }
}

#[test]
fn external_cluster_refuses_overrides_of_types_rook_does_not_run() {
    let s = load("field", "17-external-cluster.yaml");
    assert!(s.cluster.external && s.daemons.is_empty());
    let e = plan(
        &s,
        &Change::SetImage { target: Target::Type(DaemonType::Mgr), image: "quay.io/ceph/ceph:v18.2.5".into() },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("external") && e.contains("no mgr daemons"), "{e}");
    assert!(
        plan(
            &s,
            &Change::SetImage { target: Target::Type(DaemonType::Rgw), image: "quay.io/ceph/ceph:v18.2.5".into() }
        )
        .is_ok()
    );
}

#[test]
fn maintenance_copy_is_not_a_daemon_and_holds_the_real_osd() {
    let s = load("kinds", "k1-maintenance-copy.yaml");
    assert_eq!(s.copies.len(), 1);
    assert_eq!(s.copies[0].kind, "maintenance copy");
    let p = set_base(&s);
    let m = by_daemon(&p);
    assert_eq!(m["osd.1"].0, Action::Held, "the copy's label holds osd.1: Rook skips by id label");
    assert!(p.daemons.iter().all(|d| d.deployment != "rook-ceph-osd-1-maintenance"));
    let resume = plan(&s, &Change::Resume(vec!["rook-ceph-osd-1".into()])).unwrap();
    assert!(resume.noop, "osd.1 carries no label of its own");
}

#[test]
fn nfs_server_image_is_intended_and_never_rewritten() {
    let s = load("kinds", "k2-nfs-server-image.yaml");
    let nfs = s.daemons.iter().find(|d| d.id.dtype == DaemonType::Nfs).unwrap();
    assert!(!nfs.differs_from(&s.cluster.base_image), "the Ganesha image is not drift");
    let g = nfs.ceph_containers.iter().find(|c| c.name == "nfs-ganesha").unwrap();
    assert!(g.has_env && !g.runs_ceph);
    let mgr = plan(
        &s,
        &Change::SetImage { target: Target::Type(DaemonType::Mgr), image: "quay.io/ceph/ceph:v19.2.4".into() },
    )
    .unwrap();
    assert_eq!(by_daemon(&mgr)["nfs.my-nfs-a"].0, Action::Unchanged);
    assert_eq!(by_daemon(&set_base(&s))["nfs.my-nfs-a"].0, Action::Restart);
    // The fence rewrites nfs-ganesha's CONTAINER_IMAGE only, never its image.
    let patch = kubectl_ceph_image::plan::writes::fence_patch(nfs, "quay.io/ceph/ceph:v19.2.4", "now");
    let ganesha = &patch["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(ganesha["name"], "nfs-ganesha");
    assert!(ganesha.get("image").is_none(), "{ganesha}");
    assert_eq!(ganesha["env"][0]["value"], "quay.io/ceph/ceph:v19.2.4");
}

/// A daemon that runs its own image by design (issue 22 kind 2): `status` counts what its
/// main container runs (the Ganesha server image, the NVMe-oF gateway image), not the Ceph
/// image its CONTAINER_IMAGE names; the plan's IMAGE column says that image stays.
#[test]
fn status_and_plans_show_the_image_a_daemon_of_its_own_image_runs() {
    use kubectl_ceph_image::plan::status::view;
    let now: jiff::Timestamp = "2026-12-07T12:00:00Z".parse().unwrap();
    let running = |s: &Snapshot, t: DaemonType| -> Vec<(String, usize)> {
        let v = view(s, now);
        v.types.iter().find(|x| x.dtype == t).unwrap().running.iter().map(|r| (r.image.clone(), r.pods)).collect()
    };
    let nfs = load("kinds", "k2-nfs-server-image.yaml");
    assert_eq!(running(&nfs, DaemonType::Nfs), [("quay.io/nfs-ganesha/nfs-ganesha:5.7".to_string(), 1)]);
    assert_eq!(running(&nfs, DaemonType::Mon), [("quay.io/ceph/ceph:v19.2.3".to_string(), 1)]);
    let gw = load("field", "07-nvmeof-gateway.yaml");
    assert_eq!(running(&gw, DaemonType::Nvmeof), [("quay.io/ceph/nvmeof:1.5".to_string(), 2)]);
    let text = kubectl_ceph_image::render::plan(&set_base(&gw), &kubectl_ceph_image::output::Styles::plain());
    let row = text.lines().find(|l| l.contains("nvmeof.") && l.contains("->")).expect("an nvmeof row");
    assert!(
        row.ends_with("quay.io/ceph/nvmeof:1.5 (stays; Ceph quay.io/ceph/ceph:v20.2.4 -> quay.io/ceph/ceph:v20.2.5)"),
        "{row}"
    );
    let row = text.lines().find(|l| l.contains("mon.a") && l.contains("->")).expect("a mon row");
    assert!(row.ends_with("quay.io/ceph/ceph:v20.2.4 -> quay.io/ceph/ceph:v20.2.5"), "{row}");
}

#[test]
fn owners_refuse_and_markers_warn() {
    let owned = load("kinds", "k3-controller-owned.yaml");
    let set = Change::SetImage { target: Target::Base, image: "quay.io/ceph/ceph:v19.2.4".into() };
    let e = kubectl_ceph_image::commands::change::check_owner(&owned, std::slice::from_ref(&set), false).unwrap_err();
    assert!(e.to_string().contains("StorageCluster ocs-storagecluster") && e.to_string().contains("--force"), "{e}");
    assert!(kubectl_ceph_image::commands::change::check_owner(&owned, std::slice::from_ref(&set), true).is_ok());
    let helm = load("kinds", "k4-helm-managed.yaml");
    let p = plan(&helm, &set).unwrap();
    let m: Vec<&str> =
        p.warnings.iter().filter(|w| w.code == "managed-elsewhere").map(|w| w.message.as_str()).collect();
    assert_eq!(m.len(), 2, "Helm and Argo CD: {m:?}");
    assert!(m[0].contains("cephClusterSpec.cephVersion.image") && m[0].contains("rook-ceph-cluster"), "{}", m[0]);
}

#[test]
fn osd_under_replacement_is_never_fenced_unfenced_or_resumed() {
    let s = load("kinds", "k5-osd-under-replacement.yaml");
    let fence = plan(
        &s,
        &Change::Fence {
            dtype: DaemonType::Osd,
            image: "quay.io/ceph/ceph:v19.2.4".into(),
            batching: Default::default(),
        },
    )
    .unwrap();
    assert_ne!(by_daemon(&fence)["osd.2"].0, Action::Restart);
    assert!(fence.warnings.iter().any(|w| w.code == "osd-replacement" && w.message.contains("osd.2")));
    let unfence = plan(&s, &Change::Unfence { dtype: DaemonType::Osd, reconcile_now: false }).unwrap();
    assert!(!unfence.change.deployments.contains(&"rook-ceph-osd-2".to_string()));
    assert!(unfence.daemons.iter().find(|d| d.daemon == "osd.2").unwrap().labelled, "Rook's label stays");
    let resume = plan(&s, &Change::Resume(vec!["rook-ceph-osd-2".into()])).unwrap();
    assert!(resume.noop && resume.warnings.iter().any(|w| w.code == "osd-replacement"));
    let text = kubectl_ceph_image::render::plan(&resume, &kubectl_ceph_image::output::Styles::plain());
    assert!(text.contains("osd-replacement"), "the text says why, as JSON does:\n{text}");
}

/// Held daemons on builds Rook never deployed (issue 22 kind 6): Rook's `ceph-version`
/// label still names what it last deployed, so `status` shows the build their image runs
/// (its tag, as `ceph versions` tells builds apart), or none, never the stale label.
#[test]
fn held_daemons_show_the_build_they_run_not_rooks_stale_label() {
    let s = load("kinds", "k11-held-builds-same-digest.yaml");
    let v = kubectl_ceph_image::plan::status::view(&s, "2026-12-07T12:00:00Z".parse().unwrap());
    let held: BTreeMap<&str, Option<&str>> = v.held.iter().map(|h| (h.daemon.as_str(), h.version.as_deref())).collect();
    assert_eq!(held["mgr.a"], Some("19.2.3-hotfix.2"));
    assert_eq!(held["mgr.b"], None, "ceph-ci:main names no version, and the label is Rook's, not its");
    assert_eq!(held["osd.1"], Some("19.2.3.1"));
    assert_eq!(s.version_of("quay.ceph.io/ceph-ci/ceph:main"), None);
    // A daemon Rook deployed and left alone: its label is what it runs.
    assert_eq!(s.version_of(&s.cluster.base_image).map(|v| v.to_string()).as_deref(), Some("19.2.3"));
}

#[test]
fn an_empty_label_value_holds() {
    let s = load("kinds", "k6-empty-label-value.yaml");
    assert_eq!(by_daemon(&set_base(&s))["osd.1"].0, Action::Held);
}

#[test]
fn osd_batches_never_span_two_failure_domains() {
    // The stretch cluster: OSDs on four hosts over two zones.
    let s = load("field", "14-stretch-cluster-arbiter.yaml");
    for p in [
        set_base(&s),
        plan(
            &s,
            &Change::Fence {
                dtype: DaemonType::Osd,
                image: next_patch(&s.cluster.base_image),
                batching: Default::default(),
            },
        )
        .unwrap(),
    ] {
        let mut by_step: BTreeMap<u32, std::collections::BTreeSet<String>> = BTreeMap::new();
        for d in p.daemons.iter().filter(|d| d.dtype == DaemonType::Osd && d.action == Action::Restart) {
            let daemon = s.daemons.iter().find(|x| x.deployment == d.deployment).unwrap();
            let fd = kubectl_ceph_image::plan::order::failure_domain(daemon, Default::default()).unwrap().to_string();
            by_step.entry(d.step.unwrap()).or_default().insert(fd);
        }
        assert!(by_step.len() > 1, "{by_step:?}");
        for (step, domains) in &by_step {
            assert_eq!(domains.len(), 1, "step {step} spans {domains:?}");
        }
    }
}

#[test]
fn a_fence_leaves_operator_holds_alone_and_unfencing_warns_of_a_downgrade() {
    let s = load("field", "10-rgw-held-by-store-label.yaml");
    let p = plan(
        &s,
        &Change::Fence {
            dtype: DaemonType::Rgw,
            image: "quay.io/ceph/ceph:v19.2.2".into(),
            batching: Default::default(),
        },
    )
    .unwrap();
    assert!(!p.change.deployments.contains(&"rook-ceph-rgw-my-store-a".to_string()), "{:?}", p.change.deployments);
    assert!(p.warnings.iter().any(|w| w.code == "fence-skips-held" && w.message.contains("rgw.my-store")));
    // k5's osd.0 is fenced to v19.2.3 over a base of v19.2.3: no downgrade; move the base down.
    let mut s = load("kinds", "k5-osd-under-replacement.yaml");
    s.cluster.base_image = "quay.io/ceph/ceph:v19.2.2".into();
    let p = plan(&s, &Change::Unfence { dtype: DaemonType::Osd, reconcile_now: false }).unwrap();
    assert!(p.warnings.iter().any(|w| w.code == "downgrade" && w.message.contains("osd.0")), "{:?}", p.warnings);
}

#[test]
fn the_rook_operator_image_is_refused_and_old_rook_ignores_the_cluster_label() {
    let s = load("field", "02-mon-canary.yaml");
    let e = plan(&s, &Change::SetImage { target: Target::Base, image: "rook/ceph:v1.11.7".into() }).unwrap_err();
    assert!(e.to_string().contains("Rook operator's image"), "{e}");
    let old = load("field", "08-private-registry-failed-pods-rook-1.1.yaml");
    let p = plan(&old, &Change::PauseCluster).unwrap();
    assert!(p.warnings.iter().any(|w| w.code == "cluster-label-unsupported"), "{:?}", p.warnings);
    assert_eq!(p.summary.held, 0, "Rook v1.1 does not honour the CephCluster-level label");
}

#[test]
fn pausing_the_floating_mon_says_it_holds_nothing() {
    let s = load("field", "01-floating-mon.yaml");
    let p = plan(&s, &Change::Pause(vec!["rook-ceph-mon-c".into()])).unwrap();
    let codes: Vec<&str> = p.warnings.iter().map(|w| w.code).collect();
    assert!(codes.contains(&"label-ignored") && !codes.contains(&"mon-failover"), "{codes:?}");
}

#[test]
fn batching_by_a_domain_the_labels_do_not_give_falls_back_to_the_host_and_says_so() {
    let s = load("field", "14-stretch-cluster-arbiter.yaml");
    let batching = kubectl_ceph_image::plan::Batching { by: kubectl_ceph_image::plan::FailureDomain::Rack, max: None };
    let p = plan(&s, &Change::Fence { dtype: DaemonType::Osd, image: next_patch(&s.cluster.base_image), batching })
        .unwrap();
    assert!(p.warnings.iter().any(|w| w.code == "batch-by-fallback"), "{:?}", p.warnings);
}

/// Kind 3 of issue 22 (field 21, and the mgr of kind k7): a Deployment paused with `kubectl
/// rollout pause` rolls out nothing, so a fence leaves it out (its step would wait for a
/// rollout that cannot happen) and says how to resume; a change through Rook restarts it
/// anyway, since Rook's update writes a spec without `paused`.
#[test]
fn a_paused_deployment_is_left_out_of_a_fence_and_rook_clears_the_pause() {
    for (dir, file, dtype, paused) in [
        ("field", "21-osd-rollout-paused.yaml", DaemonType::Osd, "osd.1"),
        ("kinds", "k7-mgr-rollout-paused.yaml", DaemonType::Mgr, "mgr.a"),
    ] {
        let s = load(dir, file);
        let d = s.daemons.iter().find(|d| d.id.to_string() == paused).unwrap();
        assert!(d.paused, "{file}: spec.paused read");
        assert_eq!(s.daemons.iter().filter(|d| d.paused).count(), 1, "{file}: only {paused} is paused");
        let image = "quay.io/ceph/ceph:v19.2.4";
        let fence = plan(&s, &Change::Fence { dtype, image: image.into(), batching: Default::default() }).unwrap();
        let dp = fence.daemons.iter().find(|p| p.daemon == paused).unwrap();
        assert_ne!(dp.action, Action::Restart, "{file}: a fence does not restart the paused {paused}");
        assert!(dp.note.as_deref().unwrap_or("").contains("left out of the fence"), "{file}: {:?}", dp.note);
        let w = fence.warnings.iter().find(|w| w.code == "rollout-paused").expect("rollout-paused warning");
        assert!(w.message.contains(&format!("kubectl rollout resume deployment/{}", d.deployment)), "{}", w.message);
        let change = Change::Fence { dtype, image: image.into(), batching: Default::default() };
        let writes = kubectl_ceph_image::plan::writes::build(&s, std::slice::from_ref(&change), &fence, "now");
        assert!(!writes.is_empty(), "{file}: the fence writes the other Deployments");
        assert!(
            writes.iter().all(|w| w.object.describe() != format!("deployment.apps/{}", d.deployment)),
            "{file}: no write touches the paused Deployment"
        );
        // every other daemon of the type is fenced, so the fence is not a no-op
        assert!(fence.daemons.iter().any(|p| p.dtype == dtype && p.action == Action::Restart), "{file}");
        let base = set_base(&s);
        let dp = base.daemons.iter().find(|p| p.daemon == paused).unwrap();
        assert_eq!(dp.action, Action::Restart, "{file}: Rook's update restarts {paused} whatever the pause");
        assert!(dp.note.as_deref().unwrap_or("").contains("Rook's update clears the pause"), "{:?}", dp.note);
        assert!(base.warnings.iter().any(|w| w.code == "rollout-paused"), "{file}");
    }
}

/// Kind 3, every daemon of the type left out (a fresh-user trial: a fence of the one RGW,
/// paused by `kubectl rollout pause`, said "Nothing to change" and exited 0 while the RGW
/// kept its image): refused before anything is sent, naming each daemon and what frees it.
#[test]
fn a_fence_that_would_leave_out_every_daemon_of_its_type_is_refused() {
    let s = load("kinds", "k7-mgr-rollout-paused.yaml");
    let mut all = s.clone();
    for d in all.daemons.iter_mut().filter(|d| d.id.dtype == DaemonType::Mgr) {
        if d.id.to_string() != "mgr.a" {
            d.labelled = true;
        }
    }
    let e = plan(
        &all,
        &Change::Fence {
            dtype: DaemonType::Mgr,
            image: "quay.io/ceph/ceph:v19.2.4".into(),
            batching: Default::default(),
        },
    )
    .expect_err("nothing to fence");
    let e = e.to_string();
    assert!(e.starts_with("cannot fence mgr: no mgr daemon can be fenced"), "{e}");
    assert!(e.contains("mgr.a: its Deployment is paused (`kubectl -n rook-ceph rollout resume deployment/"), "{e}");
    assert!(
        e.contains("mgr.b: held by its own do-not-reconcile label (`kubectl ceph-image resume mgr.b` first)"),
        "{e}"
    );
    // one daemon left to fence: planned as before
    assert!(
        plan(
            &s,
            &Change::Fence {
                dtype: DaemonType::Mgr,
                image: "quay.io/ceph/ceph:v19.2.4".into(),
                batching: Default::default()
            }
        )
        .is_ok()
    );
}

/// Kind 9, a cluster Rook is still creating (phase Progressing, no `status.ceph` yet): Rook's
/// child controllers skip their reconcile until it has a health (`IsReadyToReconcile`), so a
/// base change restarts the mons, mgrs and OSDs but not the RGW, and the plan says why. A
/// Ready cluster whose copy carries no `status.ceph` plans as before.
#[test]
fn a_cluster_being_created_gates_rooks_child_controllers() {
    let mut s = load("kinds", "k10-rgw-three-instances.yaml");
    s.cluster.health = None;
    s.cluster.rook.ceph_present = false;
    s.cluster.rook.phase = Some("Progressing".into());
    let p = set_base(&s);
    let rgw = p.daemons.iter().find(|d| d.daemon == "rgw.s3").unwrap();
    assert_ne!(rgw.action, Action::Restart, "{:?}", rgw.note);
    assert!(p.daemons.iter().any(|d| d.dtype == DaemonType::Osd && d.action == Action::Restart));
    let w = p.warnings.iter().find(|w| w.code == "health-stale").expect("health-stale warning");
    assert!(
        w.message.contains("1 rgw will not restart now") && w.message.contains("no status.ceph health yet"),
        "{}",
        w.message
    );
    s.cluster.rook.phase = Some("Ready".into());
    let p = set_base(&s);
    assert_eq!(p.daemons.iter().find(|d| d.daemon == "rgw.s3").unwrap().action, Action::Restart);
}

/// Advice that works on the Rook at hand (issue 22 kind 1): to keep a daemon moved by hand
/// (or held on a newer release) where it is, released Rook (a CRD without imageOverrides)
/// refuses `set TYPE IMAGE`, so the warnings name `--strategy fence` there.
#[test]
fn advice_to_keep_a_moved_daemon_names_the_command_this_rook_takes() {
    let now = jiff::Timestamp::now();
    let mut s = load("field", "19-log-collector-sidecars.yaml");
    let d = daemon(&s, "rgw.s3-store").deployment.clone();
    let advice = |s: &Snapshot| {
        let v = kubectl_ceph_image::plan::status::view(s, now);
        let moved = v.warnings.iter().find(|w| w.code == "moved-by-hand").expect("moved-by-hand").message.clone();
        let r = plan(s, &Change::Resume(vec![d.clone()])).unwrap();
        let down = r.warnings.iter().find(|w| w.code == "downgrade").expect("downgrade").message.clone();
        (moved, down)
    };
    s.cluster.crd_overrides = Some(false);
    for w in <[String; 2]>::from(advice(&s)) {
        assert!(w.contains("`set rgw quay.io/ceph/ceph:v19.2.3 --strategy fence`"), "{w}");
    }
    s.cluster.crd_overrides = Some(true);
    for w in <[String; 2]>::from(advice(&s)) {
        assert!(w.contains("`set rgw quay.io/ceph/ceph:v19.2.3`") && !w.contains("--strategy fence"), "{w}");
    }
    // The CRD not read: both, each where it applies.
    s.cluster.crd_overrides = None;
    let (moved, _) = advice(&s);
    assert!(
        moved.contains("where the CRD has imageOverrides, else `resume rgw.s3-store` and at once `set rgw"),
        "{moved}"
    );
}

/// The advice never names a command that refuses (a second fresh trial): a held daemon is
/// resumed before the fence that leaves held daemons out; an mds or crash collector,
/// which no label holds, gets `set base`, never a fence.
#[test]
fn advice_names_no_command_that_would_refuse() {
    use kubectl_ceph_image::model::daemon::DaemonType as T;
    let mut s = load("field", "19-log-collector-sidecars.yaml");
    s.cluster.crd_overrides = Some(false);
    let img = "quay.io/ceph/ceph:v19.2.3";
    assert_eq!(
        s.cluster.keep_advice(T::Rgw, img, Some("rgw.s3-store")),
        "`resume rgw.s3-store` and at once `set rgw quay.io/ceph/ceph:v19.2.3 --strategy fence` (a fence leaves a \
         held daemon out), as this Rook's CRD has no imageOverrides; or `set base`"
    );
    for t in [T::Mds, T::Crashcollector, T::Exporter] {
        let a = s.cluster.keep_advice(t, img, None);
        assert!(a.contains("`set base quay.io/ceph/ceph:v19.2.3`") && !a.contains("--strategy fence"), "{a}");
        // each fence form it could have named is refused by the planner
        assert!(plan(&s, &Change::Fence { dtype: t, image: img.into(), batching: Default::default() }).is_err());
    }
}

/// Versions by build (issue 22 kind 6, field 25): a hotfix tag of the running release is a
/// version of its own to Ceph, a date-stamped rebuild is not, and the same digest of the
/// same repository is the same image whatever tag stands beside it.
#[test]
fn versions_are_told_apart_by_build_as_ceph_versions_does() {
    let s = load("field", "25-image-reference-shapes.yaml");
    let codes = |image: &str| -> (Vec<&'static str>, String) {
        let p = plan(&s, &Change::Fence { dtype: DaemonType::Mgr, image: image.into(), batching: Default::default() })
            .unwrap();
        let mixed = p.warnings.iter().find(|w| w.code == "mixed-versions").map(|w| w.message.clone());
        (p.warnings.iter().map(|w| w.code).collect(), mixed.unwrap_or_default())
    };
    // mgr.a (held) runs hotfix.1; a second hotfix build for mgr.b makes three builds of 19.2.3.
    let (c, mixed) = codes("registry.example.com/storage/ceph:v19.2.3-hotfix.2");
    assert!(c.contains(&"daemon-old-version"), "{c:?}");
    assert!(mixed.contains("19.2.3-hotfix.1 on 1 mgr") && mixed.contains("19.2.3-hotfix.2 on 1 mgr"), "{mixed}");
    // Ceph's date-stamped rebuild of 19.2.3 is 19.2.3: two builds, as today.
    let (c, mixed) = codes("quay.io/ceph/ceph:v19.2.3-20250717");
    assert!(!c.contains(&"daemon-old-version"), "{c:?}");
    assert!(mixed.contains("19.2.3 on 3 mon, 1 mgr"), "{mixed}");
    // The spec's digest without its tag is the spec image: still two builds, not three.
    let digest = s.cluster.base_image.split_once('@').unwrap().1.to_string();
    let (c, _) = codes(&format!("quay.io/ceph/ceph@{digest}"));
    assert!(!c.contains(&"daemon-old-version") && !c.contains(&"unknown-version"), "{c:?}");
}

/// Floating tags and releases the running Rook will not run (issue 22 kind 7): a Ceph tag
/// with no X.Y.Z floats as :latest does, on every plan, and `upgrade` refuses it; a base
/// change to a release outside Rook's supported list is planned as Rook does it (its
/// version check stops the reconcile: nothing restarts) and names allowUnsupported.
#[test]
fn floating_tags_and_releases_rook_will_not_run() {
    let mut s = load("field", "01-floating-mon.yaml");
    assert_eq!(s.rook_version.as_deref(), Some("v1.20.6"));
    let base =
        |s: &Snapshot, image: &str| plan(s, &Change::SetImage { target: Target::Base, image: image.into() }).unwrap();
    let codes = |p: &Plan| p.warnings.iter().map(|w| w.code).collect::<Vec<_>>();

    let p = base(&s, "quay.io/ceph/ceph:v21.2.0");
    assert_eq!(p.summary.restart, 0, "Rook's version check stops the reconcile: nothing restarts");
    assert!(!p.triggers_reconcile);
    let w = p.warnings.iter().find(|w| w.code == "unsupported-release").expect("unsupported-release");
    assert!(
        w.message.contains("allowUnsupported: true") && w.message.contains("Squid 19 and Tentacle 20"),
        "{}",
        w.message
    );
    // With allowUnsupported, Rook runs it: the mons restart first as ever.
    s.cluster.allow_unsupported = true;
    let p = base(&s, "quay.io/ceph/ceph:v21.2.0");
    assert!(p.summary.restart > 0 && !codes(&p).contains(&"unsupported-release"), "{:?}", codes(&p));
    // Below Rook's minimum (19.2.0 for v1.20), allowUnsupported does not help.
    let p = base(&s, "quay.io/ceph/ceph:v18.2.7");
    assert_eq!(p.summary.restart, 0);
    assert!(codes(&p).contains(&"unsupported-release"), "{:?}", codes(&p));
    s.cluster.allow_unsupported = false;

    for floating in ["quay.io/ceph/ceph:v21", "quay.io/ceph/ceph:main", "quay.io/ceph/ceph:latest-main"] {
        assert!(codes(&base(&s, floating)).contains(&"floating-image"), "{floating}");
        let fence = Change::Fence { dtype: DaemonType::Mgr, image: floating.into(), batching: Default::default() };
        assert!(codes(&plan(&s, &fence).unwrap()).contains(&"floating-image"), "fence {floating}");
        let e = s.upgrade_refusal(floating, true).expect("upgrade refuses a floating tag");
        assert!(e.contains("names no fixed release"), "{e}");
    }
    assert!(!codes(&base(&s, "quay.io/ceph/ceph:v20.2.5-20261001")).contains(&"floating-image"));
    let e = s.upgrade_refusal("quay.io/ceph/ceph:v21.2.0", true).expect("upgrade refuses what Rook will not run");
    assert!(e.contains("allowUnsupported"), "{e}");
    assert_eq!(s.upgrade_refusal("quay.io/ceph/ceph:v20.2.5", true), None);
}

/// Releases every Rook a cluster may run refuses (issue 22 kind 7): Rook v1.1 runs Mimic
/// and Nautilus from 13.2.4 only, a tag naming a release without a version (`v20`,
/// `latest-tentacle`) is judged by that release, and a spec image below what Rook detected
/// is a downgrade even where Rook runs no daemon (an external cluster).
#[test]
fn every_rook_minor_and_release_named_tags_are_judged() {
    let base =
        |s: &Snapshot, image: &str| plan(s, &Change::SetImage { target: Target::Base, image: image.into() }).unwrap();
    let warning = |p: &Plan, code: &str| p.warnings.iter().find(|w| w.code == code).map(|w| w.message.clone());
    let old = load("field", "08-private-registry-failed-pods-rook-1.1.yaml");
    for image in ["registry.example.com:5000/ceph/ceph:v16.2.15", "registry.example.com:5000/ceph/ceph:v12.2.13"] {
        let p = base(&old, image);
        assert_eq!(p.summary.restart, 0, "{image}: Rook v1.1 refuses it, nothing restarts");
        let w = warning(&p, "unsupported-release").unwrap_or_else(|| panic!("{image}"));
        assert!(w.contains("Rook v1.1.0"), "{w}");
    }
    let p = base(&old, "registry.example.com:5000/ceph/ceph:v14.2.22");
    assert!(p.summary.restart > 0 && warning(&p, "unsupported-release").is_none());

    let r117 = load("field", "10-rgw-held-by-store-label.yaml");
    for image in ["quay.io/ceph/ceph:v20", "quay.io/ceph/ceph:latest-tentacle"] {
        let p = base(&r117, image);
        assert_eq!(p.summary.restart, 0, "{image} names Tentacle, which Rook v1.17 refuses");
        let w = warning(&p, "unsupported-release").expect("unsupported-release");
        assert!(w.contains("Reef 18 and Squid 19 only") && w.contains("Tentacle 20"), "{w}");
    }
    let p = base(&r117, "quay.io/ceph/ceph:latest-squid");
    assert!(p.summary.restart > 0 && warning(&p, "unsupported-release").is_none());
    let w = warning(&p, "unknown-version").expect("unknown-version");
    assert!(w.contains("names squid 19 but no X.Y.Z") && !w.contains("not a Ceph repository"), "{w}");

    let r16 = load("field", "13-rook-1.6-hashed-crash-names.yaml");
    let w = warning(&base(&r16, "quay.io/ceph/ceph:v17.2.8"), "unsupported-release").expect("unsupported-release");
    assert!(w.contains("Nautilus 14") && !w.contains("nknown"), "{w}");

    let ext = load("field", "17-external-cluster.yaml");
    let w = warning(&base(&ext, "quay.io/ceph/ceph:v15.2.17"), "downgrade").expect("downgrade on an external cluster");
    assert!(w.contains("18.2.4") && w.contains("15.2.17"), "{w}");
}

/// HEALTH_ERR as Rook's gates treat it (issue 22 kind 9, FACTS §7): the CephCluster
/// upgrade refuses another build, the child controllers skip their reconcile unless every
/// HEALTH_ERR code is one they allow, so with the cephx codes the gateways move alone.
#[test]
fn health_err_holds_what_rooks_health_gates_hold() {
    use kubectl_ceph_image::model::HealthCheck;
    let mut s = load("field", "27-two-filesystems-two-object-stores.yaml");
    let next = next_patch(&s.cluster.base_image);
    let base = |s: &Snapshot| plan(s, &Change::SetImage { target: Target::Base, image: next.clone() }).unwrap();
    let moves =
        |p: &Plan, t: DaemonType| p.daemons.iter().filter(|d| d.dtype == t && d.action == Action::Restart).count();
    let healthy = base(&s);
    assert!(moves(&healthy, DaemonType::Osd) > 0 && moves(&healthy, DaemonType::Rgw) > 0);
    assert!(moves(&healthy, DaemonType::Mds) > 0);
    let check = |code: &str| HealthCheck { code: code.into(), severity: "HEALTH_ERR".into(), message: "m".into() };

    s.cluster.health = Some("HEALTH_ERR".into());
    s.cluster.rook.health_checks = vec![check("OSD_FULL")];
    let p = base(&s);
    assert_eq!(p.summary.restart, 0, "nothing moves: the upgrade gate and the child controllers' gate");
    let w = p.warnings.iter().find(|w| w.code == "health-err").expect("health-err");
    assert!(w.message.contains("OSD_FULL") && w.message.contains("refusing to upgrade"), "{}", w.message);

    // Only the cephx code: the child controllers reconcile through it, the CephCluster does not.
    s.cluster.rook.health_checks = vec![check("AUTH_INSECURE_SERVICE_KEY_TYPE")];
    let p = base(&s);
    assert_eq!(moves(&p, DaemonType::Osd), 0);
    assert_eq!(moves(&p, DaemonType::Mon), 0);
    assert_eq!(moves(&p, DaemonType::Rgw), moves(&healthy, DaemonType::Rgw), "gateways move alone");

    // skipUpgradeChecks forces the CephCluster's upgrade; the child controllers still skip on OSD_FULL.
    s.cluster.skip_upgrade_checks = true;
    s.cluster.rook.health_checks = vec![check("OSD_FULL")];
    let p = base(&s);
    assert_eq!(moves(&p, DaemonType::Osd), moves(&healthy, DaemonType::Osd));
    assert_eq!(moves(&p, DaemonType::Rgw), 0);
    assert_eq!(moves(&p, DaemonType::Mds), 0);
}

/// Stale or absent `status.ceph`, and Rook's own failure (issue 22 kind 9): `status` shows
/// health with its checks and its age and Rook's phase and message, and says when it is
/// too old to trust; the upgrade's gate refuses the same (model::support::health_blocks).
#[test]
fn status_shows_health_with_its_checks_and_age_and_rooks_phase() {
    use kubectl_ceph_image::model::HealthCheck;
    use kubectl_ceph_image::plan::status::view;
    let mut s = load("field", "01-floating-mon.yaml");
    let now: jiff::Timestamp = "2026-12-07T12:00:00Z".parse().unwrap();
    let text = |s: &Snapshot| {
        let v = view(s, now);
        (kubectl_ceph_image::render::status(&v, &kubectl_ceph_image::output::Styles::plain()), v)
    };
    s.cluster.rook.last_checked = Some("2026-12-04T07:30:00Z".into());
    s.cluster.health = Some("HEALTH_ERR".into());
    s.cluster.rook.health_checks = vec![HealthCheck {
        code: "OSD_FULL".into(),
        severity: "HEALTH_ERR".into(),
        message: "1 full osd(s)\u{1b}[8m".into(),
    }];
    s.cluster.rook.phase = Some("Progressing".into());
    s.cluster.rook.state = Some("Error".into());
    s.cluster.rook.message = Some("failed to create cluster: allowUnsupported must be set".into());
    let (t, v) = text(&s);
    assert!(t.contains("health HEALTH_ERR (last checked 3d4h ago)"), "{t}");
    assert!(t.contains("  OSD_FULL (HEALTH_ERR): 1 full osd(s)") && !t.contains('\u{1b}'), "{t}");
    assert!(t.contains("Rook: phase Progressing, state Error: failed to create cluster"), "{t}");
    assert_eq!(v.health_age_seconds, Some(275400));
    // HEALTH_ERR speaks for itself; stale OK health is warned about.
    assert!(!v.warnings.iter().any(|w| w.code == "health-stale"));
    s.cluster.health = Some("HEALTH_OK".into());
    let (_, v) = text(&s);
    let w = v.warnings.iter().find(|w| w.code == "health-stale").expect("health-stale");
    assert!(w.message.contains("3d4h ago") && w.message.contains("not running"), "{}", w.message);
    // A cluster still being created: no status.ceph at all.
    s.cluster.health = None;
    s.cluster.rook.last_checked = None;
    let (t, v) = text(&s);
    assert!(t.contains("health unknown (no status.ceph)"), "{t}");
    assert!(v.warnings.iter().any(|w| w.code == "health-stale" && w.message.contains("absent")));
    // Fresh health shows no age and no warning.
    s.cluster.health = Some("HEALTH_OK".into());
    s.cluster.rook.last_checked = Some("2026-12-07T11:59:10Z".into());
    let (t, v) = text(&s);
    assert!(t.contains("health HEALTH_OK;") && !v.warnings.iter().any(|w| w.code == "health-stale"), "{t}");
}

/// Rook's own upgrade caught half way (issue 22 kind 4): the spec image ahead of what the
/// daemons run. `status` says Rook is rolling it out and how far; a new `upgrade` to that
/// image says its canary and batches cannot apply, and claims no hold.
#[test]
fn rooks_own_rollout_half_way_is_said_and_not_staged_over() {
    use kubectl_ceph_image::plan::status::view;
    let mut s = load("field", "01-floating-mon.yaml");
    let now = jiff::Timestamp::now();
    assert_eq!(view(&s, now).rook_rollout, None, "every daemon runs the spec image");
    let next = next_patch(&s.cluster.base_image);
    s.cluster.base_image = next.clone();
    // Rook has moved the mons so far.
    for d in s.daemons.iter_mut().filter(|d| d.id.dtype == DaemonType::Mon) {
        d.ceph_images = vec![next.clone()];
        d.image = Some(next.clone());
    }
    let r = view(&s, now).rook_rollout.expect("Rook's rollout is seen");
    assert_eq!((r.image.as_str(), r.on_target, r.total), (next.as_str(), 3, 7));
    let e = s.upgrade_refusal(&next, true).expect("a new upgrade to the image Rook rolls is refused");
    assert!(e.contains("3 of 7") && e.contains("cannot apply") && e.contains("no hold was set"), "{e}");
    assert_eq!(s.upgrade_refusal(&next, false), None, "the plugin's own upgrade, past its spec write, goes on");
    // Held by the CephCluster-level label, Rook rolls nothing: not Rook's rollout.
    s.cluster.held = true;
    assert_eq!(view(&s, now).rook_rollout, None);
}

/// Only Rook's own rollout is called one (issue 22 kind 4): on a Ready cluster whose
/// detected image is the spec's, held daemons and other references to the same digest are
/// not a rollout; while Rook rolls out one image, a new spec image (set base, upgrade) is
/// warned about: the daemons Rook has not moved go straight to it.
#[test]
fn only_rooks_own_rollout_counts_and_a_new_image_over_it_is_warned() {
    use kubectl_ceph_image::plan::status::view;
    use kubectl_ceph_image::plan::upgrade::{Params, plan as upgrade_plan};
    let now = jiff::Timestamp::now();
    let mut s = load("kinds", "k11-held-builds-same-digest.yaml");
    assert_eq!(view(&s, now).rook_rollout, None, "phase Ready, the spec image detected: holds and hand edits");
    assert!(s.same_image(
        "quay.io/ceph/ceph@sha256:ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12",
        &s.cluster.base_image
    ));
    s.cluster.rook.phase = Some("Progressing".into());
    let r = s.rook_rollout().expect("Progressing");
    assert_eq!((r.on_target, r.total), (4, 4), "held daemons are left out; the same digest is the same image");

    // Rook half way to the next patch: the mons moved, the rest not yet.
    let mut s = load("field", "01-floating-mon.yaml");
    let next = next_patch(&s.cluster.base_image);
    s.cluster.base_image = next.clone();
    s.cluster.rook.phase = Some("Progressing".into());
    for d in s.daemons.iter_mut().filter(|d| d.id.dtype == DaemonType::Mon) {
        d.ceph_images = vec![next.clone()];
        d.image = Some(next.clone());
    }
    let further = next_patch(&next);
    let p = plan(&s, &Change::SetImage { target: Target::Base, image: further.clone() }).unwrap();
    let w = p.warnings.iter().find(|w| w.code == "rook-rollout").expect("rook-rollout on set base");
    assert!(
        w.message.contains(&format!("Rook is rolling out {next}"))
            && w.message.contains("go straight")
            && w.message.contains("starts over"),
        "{}",
        w.message
    );
    let up = upgrade_plan(&s, &Params::new(further), true, None).unwrap();
    let w = up.warnings.iter().find(|w| w.code == "rook-rollout").expect("rook-rollout on upgrade");
    assert!(w.message.contains("holds stop Rook's rollout") && w.message.contains("in their stage"), "{}", w.message);
    // Rook's rollout of that very image is refused, not warned about.
    assert!(s.upgrade_refusal(&next, true).is_some());
}

fn daemon<'a>(s: &'a Snapshot, id: &str) -> &'a kubectl_ceph_image::model::Daemon {
    s.daemons.iter().find(|d| d.id.to_string() == id).unwrap_or_else(|| panic!("no {id}"))
}

fn fence(s: &Snapshot, dtype: DaemonType, image: &str) -> (Plan, Vec<kubectl_ceph_image::plan::writes::Write>) {
    let change = Change::Fence { dtype, image: image.into(), batching: Default::default() };
    let p = plan(s, &change).unwrap();
    let w = kubectl_ceph_image::plan::writes::build(s, std::slice::from_ref(&change), &p, "now");
    (p, w)
}

/// The patch of `deployment` in a plan's writes, and its container of `name` (None: the
/// patch does not touch it).
fn patched(
    writes: &[kubectl_ceph_image::plan::writes::Write],
    deployment: &str,
    name: &str,
) -> Option<serde_json::Value> {
    let w = writes.iter().find(|w| w.object.describe() == format!("deployment.apps/{deployment}")).expect("a write");
    let spec = &w.patch["spec"]["template"]["spec"];
    ["containers", "initContainers"]
        .iter()
        .flat_map(|k| spec[*k].as_array().cloned().unwrap_or_default())
        .find(|c| c["name"] == name)
}

/// Kind 1: a main container moved by hand (`kubectl set image`, rook/rook#15849). The daemon
/// runs what its main container (Rook's name for it) runs, whatever its sidecars and its
/// CONTAINER_IMAGE say: drift in `status` with Ceph's version for that image, a resume
/// warns that Rook moves it back (a downgrade here), and a fence rewrites that container.
#[test]
fn a_main_container_moved_by_hand_is_what_the_daemon_runs() {
    let now = jiff::Timestamp::now();
    // A held RGW, its `rgw` container moved up; `ops-log`, `log-collector` and the variable not.
    let s = load("field", "19-log-collector-sidecars.yaml");
    let d = daemon(&s, "rgw.s3-store");
    assert_eq!(d.image.as_deref(), Some("quay.io/ceph/ceph:v19.2.3"), "the rgw container, not a sidecar");
    assert!(d.pods.iter().all(|p| p.image.as_deref() == Some("quay.io/ceph/ceph:v19.2.3")));
    assert_eq!(d.moved_by_hand.as_ref().map(|h| h.container.as_str()), Some("rgw"));
    assert_eq!(s.version_of("quay.io/ceph/ceph:v19.2.3").unwrap().to_string(), "19.2.3", "not its stale label");
    let v = kubectl_ceph_image::plan::status::view(&s, now);
    let rgw = v.types.iter().find(|t| t.dtype == DaemonType::Rgw).unwrap();
    assert_eq!(rgw.drifted, 1, "held and on another image: drift");
    assert!(rgw.running.iter().any(|c| c.image == "quay.io/ceph/ceph:v19.2.3" && c.pods == 1));
    let held = v.held.iter().find(|h| h.daemon == "rgw.s3-store").unwrap();
    assert_eq!(held.version.as_deref(), Some("19.2.3"));
    let w = v.warnings.iter().find(|w| w.code == "moved-by-hand").expect("moved-by-hand in status");
    assert!(w.message.contains("rgw container") && w.message.contains("downgrade"), "{}", w.message);
    let r = plan(&s, &Change::Resume(vec![d.deployment.clone()])).unwrap();
    let codes: Vec<&str> = r.warnings.iter().map(|w| w.code).collect();
    assert!(codes.contains(&"moved-by-hand") && codes.contains(&"downgrade"), "{codes:?}");
    let down = r.warnings.iter().find(|w| w.code == "downgrade").unwrap();
    assert!(down.message.contains("19.2.3") && down.message.contains("19.2.1"), "{}", down.message);
    // The other store and every sidecar-carrying daemon run what Rook wrote: no drift.
    assert!(v.types.iter().filter(|t| t.dtype != DaemonType::Rgw).all(|t| t.drifted == 0));

    // An MGR moved by hand to a hotfix build in another registry, not held.
    let s = load("kinds", "k8-mgr-main-moved-by-hand.yaml");
    let hot = "registry.example.com/ceph/ceph:v19.2.3-hotfix1";
    let d = daemon(&s, "mgr.a");
    assert_eq!(d.image.as_deref(), Some(hot));
    assert!(d.differs_from(&s.cluster.base_image));
    let v = kubectl_ceph_image::plan::status::view(&s, now);
    assert_eq!(v.types.iter().find(|t| t.dtype == DaemonType::Mgr).unwrap().drifted, 1);
    assert!(v.warnings.iter().any(|w| w.code == "moved-by-hand" && w.message.contains("next reconcile")));
    let (_, writes) = fence(&s, DaemonType::Mgr, "quay.io/ceph/ceph:v19.2.4");
    let mgr = patched(&writes, "rook-ceph-mgr-a", "mgr").expect("the fence rewrites the main container");
    assert_eq!(mgr["image"], "quay.io/ceph/ceph:v19.2.4");
    assert_eq!(mgr["env"][0]["value"], "quay.io/ceph/ceph:v19.2.4");
    assert_eq!(patched(&writes, "rook-ceph-mgr-a", "log-collector").unwrap()["image"], "quay.io/ceph/ceph:v19.2.4");
    assert!(patched(&writes, "rook-ceph-mgr-a", "watch-active").is_none(), "the Rook image stays");
    let set = plan(
        &s,
        &Change::SetImage { target: Target::Type(DaemonType::Mgr), image: "quay.io/ceph/ceph:v19.2.2".into() },
    );
    let a = set.unwrap().daemons.into_iter().find(|p| p.daemon == "mgr.a").unwrap();
    assert_eq!(a.action, Action::Restart, "the reconcile moves it back");
    assert!(a.note.unwrap_or_default().contains("moved by hand"));
}

/// Kind 2: a main container on an image of its own by design (NFS on spec.server.image,
/// the NVMe-oF gateway), told apart from kind 1 by what Rook writes: the same Ganesha image
/// is intended on one NFS server and a hand edit on the other.
#[test]
fn an_image_of_its_own_is_told_apart_from_a_hand_edit_by_what_rook_writes() {
    let s = load("kinds", "k9-nfs-own-image-and-moved-by-hand.yaml");
    let ganesha = "quay.io/nfs-ganesha/nfs-ganesha:V6.5";
    let own = daemon(&s, "nfs.my-nfs-a");
    assert!(!own.differs_from(&s.cluster.base_image), "the NFS image is not drift: {:?}", own.ceph_images);
    assert!(own.moved_by_hand.is_none());
    let names: Vec<&str> = own.own_images.iter().map(|(c, _)| c.as_str()).collect();
    assert!(names.contains(&"nfs-ganesha") && names.contains(&"dbus-daemon"), "{names:?}");
    let moved = daemon(&s, "nfs.other-nfs-a");
    assert_eq!(moved.image.as_deref(), Some(ganesha));
    assert!(moved.differs_from(&s.cluster.base_image), "Rook wrote the Ceph image there: drift");
    let v = kubectl_ceph_image::plan::status::view(&s, jiff::Timestamp::now());
    assert_eq!(v.types.iter().find(|t| t.dtype == DaemonType::Nfs).unwrap().drifted, 1);
    // A change that does not touch what it runs does not restart it.
    let set = plan(
        &s,
        &Change::SetImage { target: Target::Type(DaemonType::Mgr), image: "quay.io/ceph/ceph:v19.2.4".into() },
    )
    .unwrap();
    let by = by_daemon(&set);
    assert_eq!(by["nfs.my-nfs-a"].0, Action::Unchanged);
    assert_eq!(by["nfs.other-nfs-a"].0, Action::Restart, "the reconcile reverts the hand edit");
    // A base change restarts it and says which of its containers change.
    let base = set_base(&s);
    let p = base.daemons.iter().find(|p| p.daemon == "nfs.my-nfs-a").unwrap();
    assert_eq!(p.action, Action::Restart);
    let note = p.note.as_deref().unwrap_or_default();
    assert!(
        note.contains("generate-minimal-ceph-conf") && note.contains("the CONTAINER_IMAGE of nfs-ganesha"),
        "{note}"
    );
    assert!(note.contains(&format!("nfs-ganesha stays on {ganesha}")), "{note}");
    // A fence never swaps its image for Ceph's, nor the dbus sidecar's variable that names it.
    let (_, writes) = fence(&s, DaemonType::Nfs, "quay.io/ceph/ceph:v19.2.4");
    let g = patched(&writes, "rook-ceph-nfs-my-nfs-a", "nfs-ganesha").unwrap();
    assert!(g.get("image").is_none(), "{g}");
    assert_eq!(g["env"][0]["value"], "quay.io/ceph/ceph:v19.2.4");
    assert!(patched(&writes, "rook-ceph-nfs-my-nfs-a", "dbus-daemon").is_none());
    assert!(patched(&writes, "rook-ceph-nfs-my-nfs-a", "sssd").is_none());
    assert!(patched(&writes, "rook-ceph-nfs-my-nfs-a", "copy-sssd-sockets").is_none());
    let g = patched(&writes, "rook-ceph-nfs-other-nfs-a", "nfs-ganesha").unwrap();
    assert_eq!(g["image"], "quay.io/ceph/ceph:v19.2.4", "the hand edit is a Ceph container: fenced");
    assert_eq!(
        patched(&writes, "rook-ceph-nfs-other-nfs-a", "dbus-daemon").unwrap()["image"],
        "quay.io/ceph/ceph:v19.2.4"
    );
    // NVMe-oF: the gateway image is always its own.
    let s = load("field", "07-nvmeof-gateway.yaml");
    let base = set_base(&s);
    for p in base.daemons.iter().filter(|p| p.dtype == DaemonType::Nvmeof) {
        let note = p.note.as_deref().unwrap_or_default();
        assert!(note.contains("generate-ceph-conf (init)") && note.contains("nvmeof-gateway stays on"), "{note}");
    }
}

/// Kind 3: a gateway with several replicas: every node one of its pods runs on is its node.
#[test]
fn every_node_of_a_gateway_with_several_replicas_is_its_node() {
    let s = load("kinds", "k10-rgw-three-instances.yaml");
    let d = daemon(&s, "rgw.s3");
    assert_eq!(d.nodes(), ["node-1", "node-2", "node-3"]);
    assert_eq!(d.node.as_deref(), Some("node-1"));
    assert!(["node-1", "node-2", "node-3"].iter().all(|n| d.on_node(n)));
    let pause = plan(&s, &Change::Pause(vec![d.deployment.clone()])).unwrap();
    let held = pause.daemons.iter().find(|p| p.daemon == "rgw.s3").unwrap();
    assert_eq!(
        (held.action, held.nodes.as_slice()),
        (Action::Held, &["node-1", "node-2", "node-3"].map(String::from)[..])
    );
    let params = kubectl_ceph_image::plan::upgrade::Params {
        prepull: true,
        ..kubectl_ceph_image::plan::upgrade::Params::new("quay.io/ceph/ceph:v19.2.4")
    };
    // The RGW alone, so that no other daemon names its node for it.
    let mut only = s.clone();
    only.daemons.retain(|d| d.id.dtype == DaemonType::Rgw);
    only.deployments_read = 1;
    let up = kubectl_ceph_image::plan::upgrade::plan(&only, &params, true, None).unwrap();
    assert_eq!(up.stages[0].nodes, ["node-1", "node-2", "node-3"], "the pre-pull pulls on every node of the RGW");
    let text = kubectl_ceph_image::render::upgrade::text(&up, false);
    for n in ["node-1", "node-2", "node-3"] {
        assert!(text.contains(&format!("{n}: rgw.s3")), "{text}");
    }
}

/// A fixture served as the plugin meets it: on the embedded server (`demo --serve --from`)
/// or, on the real control plane, in a namespace of its own; the simulated Rook acts on it.
fn served(dir: &str, file: &str) -> rook_sim::Sim {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(dir).join(file);
    if common::real() {
        return common::control_plane::control_plane(rook_sim::Crd::Proposed).sim_from_file("kinds", &path);
    }
    rook_sim::Sim::start(rook_sim::SimOptions {
        from: vec![path],
        crd: rook_sim::Crd::Proposed,
        operator: rook_sim::OperatorConfig { daemon_delay: std::time::Duration::ZERO, ..Default::default() },
        ..Default::default()
    })
    .expect("the fixture loads")
}

fn container<'a>(d: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    d["spec"]["template"]["spec"]["containers"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap()
}

on_both! {
    /// Kinds 1 and 2 through the binary: status and resume on a held RGW moved by hand; a
    /// fence that lands on an MGR moved by hand and on NFS servers (one on its own image).
    fn hand_edits_and_own_images_through_the_plugin() {
        use rook_sim::resources::DEPLOYMENTS;
        let sim = served("field", "19-log-collector-sidecars.yaml");
        let v = common::run(&sim, &["status", "-o", "json"]).ok().json();
        let rgw = v["types"].as_array().unwrap().iter().find(|t| t["type"] == "rgw").unwrap();
        assert_eq!(rgw["drifted"], 1, "{rgw}");
        assert_eq!(v["held"][0]["version"], "19.2.3", "{}", v["held"]);
        assert!(v["warnings"].as_array().unwrap().iter().any(|w| w["code"] == "moved-by-hand"), "{}", v["warnings"]);
        let r = common::run(&sim, &["resume", "rgw.s3-store", "--dry-run", "-o", "json"]).ok().json();
        let c = r["plan"]["warnings"].to_string();
        assert!(c.contains("\"downgrade\"") && c.contains("\"moved-by-hand\""), "{c}");
        assert!(sim.log().iter().all(|l| !l.is_write_attempt()), "a dry run sends no write");

        let sim = served("kinds", "k8-mgr-main-moved-by-hand.yaml");
        let image = "quay.io/ceph/ceph:v19.2.4";
        common::run(&sim, &["set", "mgr", image, "--strategy", "fence", "--yes"]).ok();
        let ns = common::ns(&sim);
        let d = sim.get(&DEPLOYMENTS, &ns, "rook-ceph-mgr-a").unwrap();
        assert_eq!(container(&d, "mgr")["image"], image, "the fence moved the main container");
        assert_eq!(container(&d, "log-collector")["image"], image);
        assert_eq!(container(&d, "watch-active")["image"], "docker.io/rook/ceph:v1.20.6");

        let sim = served("kinds", "k9-nfs-own-image-and-moved-by-hand.yaml");
        let v = common::run(&sim, &["status", "-o", "json"]).ok().json();
        let nfs = v["types"].as_array().unwrap().iter().find(|t| t["type"] == "nfs").unwrap();
        assert_eq!(nfs["drifted"], 1, "only the hand edit: {nfs}");
        common::run(&sim, &["set", "nfs", image, "--strategy", "fence", "--yes"]).ok();
        let ns = common::ns(&sim);
        let own = sim.get(&DEPLOYMENTS, &ns, "rook-ceph-nfs-my-nfs-a").unwrap();
        let ganesha = "quay.io/nfs-ganesha/nfs-ganesha:V6.5";
        assert_eq!(container(&own, "nfs-ganesha")["image"], ganesha, "never swapped for Ceph's");
        assert_eq!(container(&own, "dbus-daemon")["image"], ganesha);
        assert_eq!(container(&own, "dbus-daemon")["env"][0]["value"], ganesha, "its variable names the NFS image");
        assert_eq!(container(&own, "nfs-ganesha")["env"][0]["value"], image);
        let moved = sim.get(&DEPLOYMENTS, &ns, "rook-ceph-nfs-other-nfs-a").unwrap();
        assert_eq!(container(&moved, "nfs-ganesha")["image"], image, "the hand edit is Ceph's: fenced");
    }

    /// Kinds 3, 6 and 7 through the binary, the Deployments and CephCluster read from the
    /// server: a fence leaves a paused MGR out (and patches nothing of it), a base change
    /// says Rook's write clears the pause; a third build of 19.2.3 is told apart; a release
    /// Rook will not run restarts nothing, and a floating tag is refused by `upgrade` before
    /// anything is sent.
    fn paused_builds_and_floating_tags_through_the_plugin() {
        use rook_sim::resources::DEPLOYMENTS;
        let warning = |p: &serde_json::Value, code: &str| {
            p["plan"]["warnings"].as_array().unwrap().iter().find(|w| w["code"] == code).map(|w| w["message"].to_string())
        };
        let daemon = |p: &serde_json::Value, id: &str| {
            p["plan"]["daemons"].as_array().unwrap().iter().find(|d| d["daemon"] == id).unwrap().clone()
        };
        let image = "quay.io/ceph/ceph:v19.2.4";
        let sim = served("kinds", "k7-mgr-rollout-paused.yaml");
        let ns = common::ns(&sim);
        let paused_before = sim.get(&DEPLOYMENTS, &ns, "rook-ceph-mgr-a").unwrap();
        assert_eq!(paused_before["spec"]["paused"], true);
        let p = common::run(&sim, &["set", "mgr", image, "--strategy", "fence", "--dry-run", "-o", "json"]).ok().json();
        let a = daemon(&p, "mgr.a");
        assert_ne!(a["action"], "restart", "{a}");
        assert!(a["note"].as_str().unwrap_or("").contains("left out of the fence"), "{a}");
        let w = warning(&p, "rollout-paused").expect("rollout-paused");
        assert!(w.contains("rollout resume deployment/rook-ceph-mgr-a"), "{w}");
        common::run(&sim, &["set", "mgr", image, "--strategy", "fence", "--yes"]).ok();
        let writes: Vec<String> = sim.mutating_requests().iter().filter_map(|l| l.name.clone()).collect();
        assert!(writes.contains(&"rook-ceph-mgr-b".to_string()), "{writes:?}");
        assert!(!writes.contains(&"rook-ceph-mgr-a".to_string()), "the paused Deployment is not written: {writes:?}");
        let after = sim.get(&DEPLOYMENTS, &ns, "rook-ceph-mgr-a").unwrap();
        assert_eq!(after["spec"], paused_before["spec"], "mgr-a as it was");
        let p = common::run(&sim, &["set", "base", image, "--dry-run", "-o", "json"]).ok().json();
        let a = daemon(&p, "mgr.a");
        assert!(a["note"].as_str().unwrap_or("").contains("Rook's update clears the pause"), "{a}");

        let sim = served("field", "25-image-reference-shapes.yaml");
        let hotfix = "registry.example.com/storage/ceph:v19.2.3-hotfix.2";
        let p = common::run(&sim, &["set", "mgr", hotfix, "--strategy", "fence", "--dry-run", "-o", "json"]).ok().json();
        assert!(warning(&p, "daemon-old-version").is_some(), "{}", p["plan"]["warnings"]);
        let mixed = warning(&p, "mixed-versions").expect("mixed-versions");
        assert!(mixed.contains("19.2.3-hotfix.1 on 1 mgr") && mixed.contains("19.2.3-hotfix.2 on 1 mgr"), "{mixed}");
        let p = common::run(&sim, &["set", "base", "quay.io/ceph/ceph:v21.2.0", "--dry-run", "-o", "json"]).ok().json();
        assert_eq!(p["plan"]["summary"]["restart"], 0, "Rook's version check stops the reconcile");
        assert!(warning(&p, "unsupported-release").expect("unsupported-release").contains("allowUnsupported"));
        let p = common::run(&sim, &["set", "base", "quay.io/ceph/ceph:main", "--dry-run", "-o", "json"]).ok().json();
        assert!(warning(&p, "floating-image").is_some(), "{}", p["plan"]["warnings"]);
        let r = common::run(&sim, &["upgrade", "quay.io/ceph/ceph:main", "--yes"]);
        assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("names no fixed release"), "{}", r.stderr);
        assert!(sim.log().iter().all(|l| !l.is_write_attempt()), "nothing sent on field 25");
    }

    /// Kind 8 through the binary: an RGW of three instances is on each of its nodes.
    fn a_gateway_of_three_instances_is_on_each_of_its_nodes() {
        let sim = served("kinds", "k10-rgw-three-instances.yaml");
        for n in ["node-1", "node-2", "node-3"] {
            let p = common::run(&sim, &["pause", "rgw", "--node", n, "--dry-run", "-o", "json"]).ok().json();
            let held = p["plan"]["daemons"].as_array().unwrap().iter().find(|d| d["daemon"] == "rgw.s3").unwrap();
            assert_eq!(held["action"], "held", "--node {n} selects it: {held}");
            assert_eq!(held["nodes"], serde_json::json!(["node-1", "node-2", "node-3"]));
        }
        let t = common::run(&sim, &["pause", "rgw.s3", "--dry-run"]).ok().stdout;
        assert!(t.contains("node-1,node-2,node-3"), "{t}");
    }

    /// Kind 4 through the binary: another client sets the spec image and the simulated Rook
    /// rolls it out slowly (1.5 s a daemon). Caught half way, `status` says Rook is rolling
    /// it out and how far; `upgrade` to that image is refused, sends nothing and claims no
    /// hold. (Once Rook is done there is no rollout to say: planner-level test above.)
    fn rooks_own_rollout_half_way_through_the_plugin() {
        use rook_sim::resources::CEPHCLUSTERS;
        const NEXT: &str = "quay.io/ceph/ceph:v20.2.5";
        let sim = common::slow_sim(rook_sim::Crd::Released, 1500);
        let ns = common::ns(&sim);
        sim.update(&CEPHCLUSTERS, &ns, &ns, |c| c["spec"]["cephVersion"]["image"] = NEXT.into()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let rollout = loop {
            let v = common::run(&sim, &["status", "-o", "json"]).ok().json();
            let r = v["rookRollout"].clone();
            if r["onTarget"].as_u64().is_some_and(|n| n >= 1) || std::time::Instant::now() > deadline {
                break r;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        };
        assert_eq!(rollout["image"], NEXT, "{rollout}");
        let (on, total) = (rollout["onTarget"].as_u64().unwrap(), rollout["total"].as_u64().unwrap());
        assert!(on >= 1 && on < total, "caught half way: {rollout}");
        let t = common::run(&sim, &["status"]).ok().stdout;
        assert!(t.contains(&format!("Rook is rolling out {NEXT}: ")), "{t}");
        sim.clear_log();
        let r = common::run(&sim, &["upgrade", NEXT, "--yes"]);
        // refused as the plan's other refusals are (a downgrade, a floating tag): exit 2
        assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains(&format!("Rook is already rolling out {NEXT}"))
                && r.stderr.contains("cannot apply to it; no hold was set"),
            "{}",
            r.stderr
        );
        assert!(sim.log().iter().all(|l| !l.is_write_attempt()), "{:?}", sim.mutating_requests());
    }
}

/// A node gone NotReady (issue #22 kind 5): the stretch cluster's c-node-2 stops reporting,
/// so its pods show phase Unknown and not Ready, as the node controller leaves them.
fn with_node_down(node: &str) -> Snapshot {
    let mut s = load("field", "14-stretch-cluster-arbiter.yaml");
    for p in s.daemons.iter_mut().flat_map(|d| d.pods.iter_mut()).filter(|p| p.node.as_deref() == Some(node)) {
        p.phase = "Unknown".into();
        p.ready = false;
    }
    s
}

#[test]
fn a_node_down_shows_in_status_grouped_by_node() {
    let s = with_node_down("c-node-2");
    let v = kubectl_ceph_image::plan::status::view(&s, jiff::Timestamp::now());
    let down: Vec<_> = v.not_running.iter().filter(|g| g.node_down).collect();
    assert_eq!(down.len(), 1, "{:?}", v.not_running);
    assert_eq!(down[0].node, "c-node-2");
    assert!(down[0].daemons.contains(&"osd.3".to_string()) && down[0].daemons.contains(&"mon.d".to_string()));
    assert!(v.warnings.iter().any(|w| w.code == "node-down" && w.message.contains("c-node-2")), "{:?}", v.warnings);
    let text = kubectl_ceph_image::render::status(&v, &kubectl_ceph_image::output::Styles::plain());
    assert!(text.contains("Not running:") && text.contains("c-node-2 (looks down): mon.d"), "{text}");
    // with every node up there is no such section
    let up = kubectl_ceph_image::plan::status::view(
        &load("field", "14-stretch-cluster-arbiter.yaml"),
        jiff::Timestamp::now(),
    );
    assert!(up.not_running.is_empty(), "{:?}", up.not_running);
}

#[test]
fn no_failure_domain_restarts_while_osds_of_another_are_down() {
    use kubectl_ceph_image::plan::FailureDomain::{Host, Zone};
    use kubectl_ceph_image::plan::down::blocker;
    let s = with_node_down("c-node-2");
    // osd.0 on b-node-1 while osd.3 on c-node-2 is down: refused, with who is down where
    let why = blocker(&s, Host, &["rook-ceph-osd-0"]).expect("refused");
    assert!(why.contains("osd.3 on host c-node-2") && why.contains("osd.0"), "{why}");
    // a mon on another host too: its restart takes a second failure domain down
    assert!(blocker(&s, Host, &["rook-ceph-mon-a"]).is_some());
    // the down host's own OSDs may restart (nothing else is down)
    assert_eq!(blocker(&s, Host, &["rook-ceph-osd-3"]), None);
    // by zone: osd.2 shares zone c with osd.3 and may restart; osd.0 in zone b may not
    assert_eq!(blocker(&s, Zone, &["rook-ceph-osd-2"]), None);
    let why = blocker(&s, Zone, &["rook-ceph-osd-0"]).expect("refused");
    assert!(why.contains("in zone c (node c-node-2)"), "{why}");
    // every node up: nothing refused
    assert_eq!(blocker(&load("field", "14-stretch-cluster-arbiter.yaml"), Host, &["rook-ceph-osd-0"]), None);
}

#[test]
fn a_plan_says_the_down_nodes_daemons_cannot_start_there() {
    let s = with_node_down("c-node-2");
    let image = next_patch(&s.cluster.base_image);
    let p = plan(&s, &Change::Fence { dtype: DaemonType::Osd, image, batching: Default::default() }).unwrap();
    let w = p.warnings.iter().find(|w| w.code == "node-down").expect("node-down warning");
    assert!(w.message.contains("osd.3 on c-node-2") && !w.message.contains("osd.0"), "{}", w.message);
    let up = load("field", "14-stretch-cluster-arbiter.yaml");
    let image = next_patch(&up.cluster.base_image);
    let p = plan(&up, &Change::Fence { dtype: DaemonType::Osd, image, batching: Default::default() }).unwrap();
    assert!(p.warnings.iter().all(|w| w.code != "node-down"));
}

/// `status` says what a plan would (issue 22 kind 4 nits): Deployments paused with
/// `kubectl rollout pause`, and a spec image that floats.
#[test]
fn status_tells_paused_rollouts_and_a_floating_spec_image() {
    use kubectl_ceph_image::plan::status::view;
    let now = jiff::Timestamp::now();
    let s = load("field", "21-osd-rollout-paused.yaml");
    let paused: Vec<&str> = s.daemons.iter().filter(|d| d.paused).map(|d| d.deployment.as_str()).collect();
    assert!(!paused.is_empty());
    let v = view(&s, now);
    let w = v.warnings.iter().find(|w| w.code == "rollout-paused").expect("rollout-paused in status");
    assert!(w.message.contains(paused[0]) && w.message.contains("kubectl rollout resume"), "{}", w.message);
    assert!(!v.warnings.iter().any(|w| w.code == "floating-image"));
    let mut s = load("field", "01-floating-mon.yaml");
    assert!(!view(&s, now).warnings.iter().any(|w| w.code == "rollout-paused" || w.code == "floating-image"));
    s.cluster.base_image = "quay.io/ceph/ceph:v19".into();
    let v = view(&s, now);
    let w = v.warnings.iter().find(|w| w.code == "floating-image").expect("floating-image in status");
    assert!(w.message.contains("spec.cephVersion.image is quay.io/ceph/ceph:v19"), "{}", w.message);
}

#[test]
fn an_upgrade_osd_batch_of_another_host_is_blocked_while_a_node_is_down() {
    use kubectl_ceph_image::plan::upgrade::{Params, plan as upgrade_plan, stage_blocked as batch_blocked};
    let s = with_node_down("c-node-2");
    let params = Params::new(next_patch(&s.cluster.base_image));
    let up = upgrade_plan(&s, &params, true, None).unwrap();
    let batch = |osd: &str| {
        up.stages.iter().find(|st| st.daemons.iter().any(|m| m.daemon == osd)).unwrap_or_else(|| panic!("{osd}"))
    };
    let why = batch_blocked(&s, batch("osd.0"), params.batch_by).expect("osd.0's batch is blocked");
    assert!(why.contains("osd.3 on host c-node-2"), "{why}");
    assert_eq!(batch_blocked(&s, batch("osd.3"), params.batch_by), None, "the down host's own batch");
    // a stage of several failure domains (the mons) has one other than the down host's
    let mons = up.stages.iter().find(|st| st.daemons.iter().any(|m| m.dtype == DaemonType::Mon)).expect("mon stage");
    let why = batch_blocked(&s, mons, params.batch_by).expect("the mon stage is blocked");
    assert!(why.contains("restarting mon."), "{why}");
    // and the upgrade does not start: nothing is written
    let now = jiff::Timestamp::now();
    let codes: Vec<&str> =
        kubectl_ceph_image::plan::upgrade::preflight(&s, &up, params.batch_by, now).iter().map(|w| w.code).collect();
    assert!(codes.contains(&"node-down"), "{codes:?}");
    let up_again = load("field", "14-stretch-cluster-arbiter.yaml");
    assert_eq!(batch_blocked(&up_again, batch("osd.0"), params.batch_by), None);
}
