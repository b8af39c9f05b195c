//! The plugin on the real Kubernetes control plane (issue 20): what only a real
//! kube-apiserver shows — its RBAC, its field validation and its patch engine — and the
//! control plane itself as `scripts/control-plane` promises it.

mod common;

use common::control_plane::{ControlPlane, control_plane};
use common::*;
use rook_sim::Crd;

/// The plugin as `user` of the control plane, in namespace `ns`.
fn plugin_as(cp: &ControlPlane, user: &str, ns: &str, args: &[&str]) -> Run {
    let out =
        plugin_at(&cp.kubeconfig(user)).arg("-n").arg(ns).args(args).write_stdin("").output().expect("plugin runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn the_control_plane_answers_as_its_release_with_every_user() {
    let cp = control_plane(Crd::Released);
    assert_eq!(cp.kubectl_ok("admin", &["get", "--raw", "/readyz/etcd"]).trim(), "ok");
    let v: serde_json::Value = serde_json::from_str(&cp.kubectl_ok("admin", &["version", "-o", "json"])).unwrap();
    let client = v["clientVersion"]["gitVersion"].as_str().unwrap();
    assert!(client.starts_with("v1."), "{v}");
    assert_eq!(v["serverVersion"]["gitVersion"], client, "kubectl is built from the server's release");
    // token users and the client-certificate user are who they say; editor has no rights
    for user in ["admin", "editor", "viewer", "certuser"] {
        let who: serde_json::Value =
            serde_json::from_str(&cp.kubectl_ok(user, &["auth", "whoami", "-o", "json"])).unwrap();
        assert_eq!(who["status"]["userInfo"]["username"], user);
    }
    let o = cp.kubectl("editor", &["get", "pods", "-n", "default"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("Forbidden"), "{}", stderr(&o));
}

#[test]
fn the_real_controllers_make_the_pods_of_seeded_deployments() {
    let cp = control_plane(Crd::Released);
    let ns = cp.namespace("seed");
    let sim = sim_with(Crd::Released, 3);
    cp.seed_from(&sim, &ns);
    // The Deployment controller makes a ReplicaSet per Deployment, the ReplicaSet
    // controller its pod (Pending: this control plane has no nodes yet).
    let deployments = sim.list(&rook_sim::resources::DEPLOYMENTS, "rook-ceph").len();
    let mut pods = 0;
    for _ in 0..100 {
        pods = cp.kubectl_ok("admin", &["-n", &ns, "get", "pods", "-o", "name"]).lines().count();
        if pods == deployments {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        pods,
        deployments,
        "one pod per Deployment, made by the real ReplicaSet controller; events:\n{}",
        cp.kubectl_ok("admin", &["-n", &ns, "get", "events"])
    );
    let rs = cp.kubectl_ok("admin", &["-n", &ns, "get", "replicasets", "-o", "name"]);
    assert_eq!(rs.lines().count(), deployments);
    // the plugin reads the cluster as it is
    let r = plugin_as(cp, "admin", &ns, &["status", "-o", "json"]).ok();
    let v = r.json();
    assert_eq!(v["crdImageOverrides"], false, "{v}");
}

/// The acceptance case of issue 20: on released Rook, as the least-privileged editor (no
/// CRD read), `set mgr IMAGE --yes` probes with a dryRun=All patch; the real server answers
/// that 422 Invalid (strict field validation on a patch), which the plugin must read as "this
/// CRD has no imageOverrides": refuse naming the fence, exit 1, and send no write.
#[test]
fn set_on_released_rook_as_the_least_privileged_editor_refuses_with_the_fence() {
    let cp = control_plane(Crd::Released);
    let ns = cp.namespace("editor");
    let sim = sim_with(Crd::Released, 3);
    cp.seed_from(&sim, &ns);
    cp.bind("editor", &ns, &["ceph-image-viewer", "ceph-image-editor"]);
    let before = cp.kubectl_ok("admin", &["-n", &ns, "get", "cephcluster", "rook-ceph", "-o", "json"]);
    let r = plugin_as(cp, "editor", &ns, &["set", "mgr", "quay.io/ceph/ceph:v20.2.5", "--yes"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("no spec.cephVersion.imageOverrides"), "{}", r.stderr);
    assert!(r.stderr.contains("--strategy fence"), "{}", r.stderr);
    assert!(!r.stderr.contains("managedFields"), "the server's quoted object is not shown: {}", r.stderr);
    // what the real server logged: the probe (dryRun=All, answered 422) and no other write
    let probes: Vec<_> = cp
        .requests("editor", &ns)
        .into_iter()
        .filter(|(verb, uri, _)| verb == "patch" && uri.contains("dryRun=All"))
        .collect();
    assert_eq!(probes.len(), 1, "{probes:?}");
    assert_eq!(probes[0].2, 422, "kube-apiserver answers a strict patch with a pruned field 422 Invalid");
    assert_eq!(cp.mutating_requests("editor", &ns), vec![]);
    let after = cp.kubectl_ok("admin", &["-n", &ns, "get", "cephcluster", "rook-ceph", "-o", "json"]);
    let rv = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap()["metadata"]["resourceVersion"].clone();
    assert_eq!(rv(&before), rv(&after), "the CephCluster is unchanged");
}

/// The same refusal where the user may also read the CRD: the plugin learns it from the
/// schema and sends no probe at all. (The viewer token user here, given the editor's roles,
/// so that the binding cannot reach the test above, which runs at the same time.)
#[test]
fn set_on_released_rook_with_the_crd_reader_refuses_without_a_probe() {
    let cp = control_plane(Crd::Released);
    let ns = cp.namespace("crdreader");
    let sim = sim_with(Crd::Released, 3);
    cp.seed_from(&sim, &ns);
    cp.bind("viewer", &ns, &["ceph-image-viewer", "ceph-image-editor"]);
    cp.kubectl_ok(
        "admin",
        &[
            "create",
            "clusterrolebinding",
            &format!("crd-reader-{ns}"),
            "--clusterrole",
            "ceph-image-crd-reader",
            "--user",
            "viewer",
        ],
    );
    let r = plugin_as(cp, "viewer", &ns, &["set", "mgr", "quay.io/ceph/ceph:v20.2.5", "--yes"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("--strategy fence"), "{}", r.stderr);
    let patches: Vec<_> = cp.requests("viewer", &ns).into_iter().filter(|(verb, _, _)| verb == "patch").collect();
    assert_eq!(patches, vec![], "the CRD's schema answered: no probe");
    cp.kubectl_ok("admin", &["delete", "clusterrolebinding", &format!("crd-reader-{ns}")]);
}

/// Issue 20's acceptance: rook-sim's operator and kubelets on the real control plane bring
/// every daemon up through real ReplicaSets, scheduled by the real scheduler onto the
/// simulated nodes; the plugin's `status` sees them.
#[test]
fn rook_sim_on_the_real_control_plane_brings_every_daemon_up() {
    let cp = control_plane(Crd::Released);
    let sim = cp.sim("onreal", 12);
    let ns = sim.namespaces[0].clone();
    let pods: serde_json::Value = serde_json::from_str(
        &cp.kubectl_ok("admin", &["-n", &ns, "get", "pods", "-l", "app=rook-ceph-osd", "-o", "json"]),
    )
    .unwrap();
    let pods = pods["items"].as_array().unwrap();
    assert_eq!(pods.len(), 12);
    for p in pods {
        assert_eq!(p["status"]["phase"], "Running", "{}", p["metadata"]["name"]);
        let ready =
            p["status"]["conditions"].as_array().unwrap().iter().any(|c| c["type"] == "Ready" && c["status"] == "True");
        assert!(ready, "{} is Ready", p["metadata"]["name"]);
        let owner = &p["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "ReplicaSet", "made by the real ReplicaSet controller");
        assert!(p["spec"]["nodeName"].as_str().unwrap().starts_with("node-"), "bound by the real scheduler");
    }
    let nodes = cp.kubectl_ok("admin", &["get", "nodes", "-l", "rook-sim/simulated=true", "-o", "name"]);
    assert!(nodes.lines().count() >= 3, "{nodes}");
    let r = plugin_as(cp, "admin", &ns, &["status", "-o", "json"]).ok();
    let v = r.json();
    let osd = v["types"].as_array().unwrap().iter().find(|t| t["type"] == "osd").cloned().unwrap_or_default();
    assert_eq!(osd["daemons"], 12, "{v}");
}

/// The images every pod of an app label runs (first container), sorted.
fn images_of(cp: &ControlPlane, ns: &str, app: &str) -> Vec<String> {
    let pods: serde_json::Value = serde_json::from_str(
        &cp.kubectl_ok("admin", &["-n", ns, "get", "pods", "-l", &format!("app={app}"), "-o", "json"]),
    )
    .unwrap();
    let mut v: Vec<String> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"].get("deletionTimestamp").is_none())
        .map(|p| p["spec"]["containers"][0]["image"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// An override on the proposed CRD, on the real server: the simulated Rook sees the
/// CephCluster change through its watch, rewrites the mgr Deployments, the real controllers
/// roll them, and `--wait` returns once they run the image; nothing else restarts.
#[test]
fn set_mgr_with_wait_on_the_real_control_plane_moves_only_the_mgrs() {
    let cp = control_plane(Crd::Proposed);
    let sim = cp.sim("override", 3);
    let ns = sim.namespaces[0].clone();
    let image = "quay.io/ceph/ceph:v20.2.5";
    let r = plugin_as(cp, "admin", &ns, &["set", "mgr", image, "--yes", "--wait", "--timeout", "120s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(images_of(cp, &ns, "rook-ceph-mgr"), vec![image.to_string(); 2]);
    sim.settle();
    let moved: Vec<String> = sim.replacements(&ns).into_keys().collect();
    assert_eq!(moved, vec!["rook-ceph-mgr-a", "rook-ceph-mgr-b"], "only the mgrs rolled");
    assert!(images_of(cp, &ns, "rook-ceph-osd").iter().all(|i| i != image));
}

/// The fence on released Rook, on the real server: the plugin's strategic merge patch of
/// the OSD Deployments is rolled by the real Deployment controller (Recreate), and `--wait`
/// returns once every OSD runs the image; the labels hold them from the simulated Rook.
#[test]
fn the_fence_on_the_real_control_plane_rolls_the_osds_through_the_real_controller() {
    let cp = control_plane(Crd::Released);
    let sim = cp.sim("fence", 3);
    let ns = sim.namespaces[0].clone();
    let image = "quay.io/ceph/ceph:v20.2.5";
    let r = plugin_as(
        cp,
        "admin",
        &ns,
        &["set", "osd", image, "--strategy", "fence", "--yes", "--wait", "--timeout", "120s"],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(images_of(cp, &ns, "rook-ceph-osd"), vec![image.to_string(); 3]);
    let labelled = cp.kubectl_ok(
        "admin",
        &["-n", &ns, "get", "deploy", "-l", "app=rook-ceph-osd,ceph.rook.io/do-not-reconcile", "-o", "name"],
    );
    assert_eq!(labelled.lines().count(), 3, "{labelled}");
    // a second ReplicaSet per OSD Deployment: the real controller rolled them
    let rs = cp.kubectl_ok("admin", &["-n", &ns, "get", "rs", "-l", "app=rook-ceph-osd", "-o", "name"]);
    assert_eq!(rs.lines().count(), 6, "{rs}");
}

/// Issue 20's acceptance: on the real control plane, with the real Deployment controller
/// rolling the 2-instance RGW (Rook's RollingUpdate, maxUnavailable 1, maxSurge 0) and the
/// simulated kubelets running its pods, the fence with `--wait` returns only once both RGW
/// pods run the image and are Ready.
#[test]
fn the_fence_waits_for_both_pods_of_a_two_instance_rgw_on_the_real_control_plane() {
    let cp = control_plane(Crd::Released);
    let operator = rook_sim::OperatorConfig {
        daemon_delay: std::time::Duration::ZERO,
        // long enough that a gate calling the rollout done at the first new pod returns
        // while the second is still to come
        ready_delay: std::time::Duration::from_millis(1500),
        ..Default::default()
    };
    let sim = cp.sim_of("rgw2", rook_sim::Topology { osds: 3, rgw_instances: 2, ..Default::default() }, operator, None);
    let ns = sim.namespaces[0].clone();
    assert_eq!(images_of(cp, &ns, "rook-ceph-rgw").len(), 2, "two RGW pods");
    let image = "quay.io/ceph/ceph:v20.2.5";
    let r = run(&sim, &["set", "rgw", image, "--strategy", "fence", "--yes", "--wait", "--timeout", "120s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // the moment --wait returned: both RGW pods on the image, Running and Ready, no old one left
    let pods: serde_json::Value = serde_json::from_str(
        &cp.kubectl_ok("admin", &["-n", &ns, "get", "pods", "-l", "app=rook-ceph-rgw", "-o", "json"]),
    )
    .unwrap();
    let pods = pods["items"].as_array().unwrap();
    assert_eq!(pods.len(), 2, "{pods:?}");
    for p in pods {
        assert_eq!(p["spec"]["containers"][0]["image"], image);
        let ready =
            p["status"]["conditions"].as_array().unwrap().iter().any(|c| c["type"] == "Ready" && c["status"] == "True");
        assert!(ready, "{} Ready when --wait returned", p["metadata"]["name"]);
    }
}

/// What a fresh user found: a second simulation must never change what the first one
/// has. A CRD other than the server's is refused before anything is changed (a released
/// schema would prune every CephCluster's imageOverrides); so is a CephCluster already there.
#[test]
fn a_second_simulation_changes_nothing_of_the_first() {
    let cp = control_plane(Crd::Proposed);
    let first = cp.sim("first", 3);
    let ns = first.namespaces[0].clone();
    run(&first, &["set", "mgr", "quay.io/ceph/ceph:v20.2.5", "--yes"]).ok();
    let crd_before = cp.kubectl_ok(
        "admin",
        &["get", "crd", "cephclusters.ceph.rook.io", "-o", "jsonpath={.metadata.resourceVersion}"],
    );
    // the released CRD on a server that has the proposed one
    let opts = rook_sim::SimOptions {
        topology: rook_sim::Topology { osds: 3, namespace: format!("{ns}-released"), ..Default::default() },
        crd: Crd::Released,
        on: Some(cp.kubeconfig("rook-sim")),
        ..Default::default()
    };
    let err = rook_sim::Sim::start(opts).err().expect("refused");
    assert!(err.contains("is the proposed one") && err.contains("Nothing was changed"), "{err}");
    // a CephCluster already there (the first one's namespace)
    let opts = rook_sim::SimOptions {
        topology: rook_sim::Topology { osds: 3, namespace: ns.clone(), ..Default::default() },
        crd: Crd::Proposed,
        on: Some(cp.kubeconfig("rook-sim")),
        ..Default::default()
    };
    let err = rook_sim::Sim::start(opts).err().expect("refused");
    assert!(err.contains(&format!("already has CephCluster {ns}/{ns}")), "{err}");
    let crd_after = cp.kubectl_ok(
        "admin",
        &["get", "crd", "cephclusters.ceph.rook.io", "-o", "jsonpath={.metadata.resourceVersion}"],
    );
    assert_eq!(crd_before, crd_after, "the CRD is untouched");
    let c: serde_json::Value =
        serde_json::from_str(&cp.kubectl_ok("admin", &["-n", &ns, "get", "cephcluster", &ns, "-o", "json"])).unwrap();
    assert_eq!(
        c["spec"]["cephVersion"]["imageOverrides"]["mgr"], "quay.io/ceph/ceph:v20.2.5",
        "the first's override stays"
    );
    let refused_ns = cp.kubectl("admin", &["get", "namespace", &format!("{ns}-released")]);
    assert!(!refused_ns.status.success(), "the refused start created no namespace");
}

/// A simulation that stops deletes the namespaces it created, with their pods (no kubelet
/// is left to finish their graceful deletion).
#[test]
fn a_simulation_that_stops_leaves_no_namespace_behind() {
    let cp = control_plane(Crd::Released);
    let sim = cp.sim("gone", 3);
    let ns = sim.namespaces[0].clone();
    drop(sim);
    let mut gone = false;
    for _ in 0..300 {
        let o = cp.kubectl("admin", &["get", "namespace", &ns, "-o", "name"]);
        if !o.status.success() {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(gone, "namespace {ns} is deleted within 30 s");
}

/// `demo --serve --on KUBECONFIG -n NAME` through the binary: the cluster lives in NAME, the
/// printed kubeconfig points at rook-sim's front in that namespace, and SIGTERM removes it.
#[test]
fn demo_serve_on_a_real_server_in_a_namespace_of_its_own() {
    use std::io::BufRead;
    let cp = control_plane(Crd::Proposed);
    let ns = "demo-own-namespace";
    let mut child = std::process::Command::new(bin())
        .args(["demo", "--serve", "--osds", "3", "--restart-delay-ms", "0", "--ready-delay-ms", "20", "-n", ns, "--on"])
        .arg(cp.kubeconfig("rook-sim"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("demo starts");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let kubeconfig = first.trim().strip_prefix("export KUBECONFIG=").expect(&first).to_string();
    let status =
        plugin_at(std::path::Path::new(&kubeconfig)).args(["status", "-o", "json"]).write_stdin("").output().unwrap();
    let osds = cp.kubectl_ok("admin", &["-n", ns, "get", "pods", "-l", "app=rook-ceph-osd", "-o", "name"]);
    // SAFETY: kill(2) on the child this test started, by its pid
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["namespace"], ns, "{v}");
    assert_eq!(osds.lines().count(), 3, "{osds}");
    let left = cp.kubectl("admin", &["get", "namespace", ns, "-o", "jsonpath={.metadata.deletionTimestamp}"]);
    assert!(!left.status.success() || !stdout(&left).is_empty(), "the namespace is being deleted or gone");
}

/// deploy/rbac.yaml on the real server's RBAC: the plugin as the `editor` token user, bound
/// (RoleBindings in the cluster's namespace) to ceph-image-viewer and ceph-image-editor and
/// nothing else, through rook-sim's front: set base with --wait, pause, resume and a fence
/// with --wait all pass; as `viewer` bound to the viewer role only, a write fails naming
/// the verb, the resource and the user in the real server's words, and is the only write.
#[test]
fn the_least_roles_of_deploy_rbac_suffice_on_the_real_server() {
    let cp = control_plane(Crd::Released);
    let operator = rook_sim::OperatorConfig {
        daemon_delay: std::time::Duration::ZERO,
        ready_delay: std::time::Duration::from_millis(20),
        ..Default::default()
    };
    let sim = cp.sim_with("rbac", 3, operator.clone(), Some("editor"));
    let ns = sim.namespaces[0].clone();
    cp.bind("editor", &ns, &["ceph-image-viewer", "ceph-image-editor"]);
    for args in [
        &["status"][..],
        &["pause", "osd.1", "--yes"],
        &["resume", "osd.1", "--yes"],
        &["set", "mgr", "quay.io/ceph/ceph:v20.2.5", "--strategy", "fence", "--yes", "--wait", "--timeout", "120s"],
        &["set", "base", "quay.io/ceph/ceph:v20.2.5", "--yes", "--wait", "--timeout", "120s"],
    ] {
        let r = run(&sim, args);
        assert_eq!(r.code, 0, "{args:?} as editor: {}\n{}", r.stdout, r.stderr);
    }
    // the CRD's read (ceph-image-crd-reader, cluster-wide) and the exec into the Rook
    // operator pod (ceph-image-ceph-exec) are the rules left out: the plugin copes without
    // them, as deploy/rbac.yaml says (status says Ceph was not asked)
    let forbidden: Vec<String> =
        sim.log().iter().filter(|l| l.status == 403).map(|l| format!("{} {}", l.verb, l.resource)).collect();
    assert!(forbidden.iter().all(|f| f == "get customresourcedefinitions" || f == "get pods/exec"), "{forbidden:?}");
    // the real server's audit log: the front passes the plugin's user agent on; the
    // simulation's own requests (as the rook-sim user) say rook-sim
    let agents = cp.user_agents("editor", &ns);
    assert!(!agents.is_empty() && agents.iter().all(|a| a.starts_with("kubectl-ceph-image/")), "{agents:?}");
    let sims = cp.user_agents("rook-sim", &ns);
    assert!(!sims.is_empty() && sims.iter().all(|a| a == "rook-sim"), "{sims:?}");
    let viewer = cp.sim_with("rbacview", 3, operator, Some("viewer"));
    let vns = viewer.namespaces[0].clone();
    cp.bind("viewer", &vns, &["ceph-image-viewer"]);
    run(&viewer, &["status"]).ok();
    let r = run(&viewer, &["pause", "osd.1", "--yes"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("Forbidden") && r.stderr.contains("User \"viewer\" cannot patch resource \"deployments\""),
        "{}",
        r.stderr
    );
}

/// Field shapes through `--from` on the real control plane: each dump's CephCluster and
/// Deployments are recreated there, the real controllers make the pods on the dump's nodes,
/// and the plugin's `status` and a dry run of a base change work on them. One test, one file
/// after the other: the dumps name their own namespaces.
#[test]
fn field_shapes_load_onto_the_real_control_plane() {
    let cp = control_plane(Crd::Released);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/field");
    for file in
        ["01-floating-mon.yaml", "12-two-clusters-two-namespaces.yaml", "27-two-filesystems-two-object-stores.yaml"]
    {
        let opts = rook_sim::SimOptions {
            from: vec![dir.join(file)],
            crd: Crd::Released,
            operator: rook_sim::OperatorConfig {
                daemon_delay: std::time::Duration::ZERO,
                ready_delay: std::time::Duration::from_millis(20),
                ..Default::default()
            },
            on: Some(cp.kubeconfig("rook-sim")),
            ..Default::default()
        };
        let sim = rook_sim::Sim::start(opts).unwrap_or_else(|e| panic!("{file}: {e}"));
        for ns in sim.namespaces.clone() {
            let r = run(&sim, &["-n", &ns, "status", "-o", "json"]);
            assert_eq!(r.code, 0, "{file} {ns}: {}\n{}", r.stdout, r.stderr);
            let daemons = r.json()["types"].as_array().map(|t| t.len()).unwrap_or(0);
            assert!(daemons > 0, "{file} {ns}: {}", r.stdout);
            let r = run(&sim, &["-n", &ns, "set", "base", "quay.io/ceph/ceph:v20.2.5", "--dry-run", "-o", "json"]);
            assert_eq!(r.code, 0, "{file} {ns}: {}\n{}", r.stdout, r.stderr);
        }
        drop(sim);
    }
}
