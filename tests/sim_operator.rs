//! The simulated Rook operator behaves as FACTS.md says Rook does.

mod common;

use std::collections::BTreeMap;

use common::*;
use rook_sim::resources::{CEPHCLUSTERS, DEPLOYMENTS, EVENTS, PODS};
use rook_sim::{Crd, Sim};
use serde_json::Value;

const DNR: &str = "ceph.rook.io/do-not-reconcile";
const NEW: &str = "quay.io/ceph/ceph:v20.2.5";

fn label(sim: &Sim, deploy: &str) {
    sim.update(&DEPLOYMENTS, "rook-ceph", deploy, |d| d["metadata"]["labels"][DNR] = "true".into()).unwrap();
}

fn unlabel(sim: &Sim, deploy: &str) {
    sim.update(&DEPLOYMENTS, "rook-ceph", deploy, |d| {
        d["metadata"]["labels"].as_object_mut().unwrap().remove(DNR);
    })
    .unwrap();
}

fn set_base(sim: &Sim, image: &str) {
    sim.update(&CEPHCLUSTERS, "rook-ceph", "rook-ceph", |c| c["spec"]["cephVersion"]["image"] = image.into()).unwrap();
    sim.settle();
}

/// Pod name → (app, image of its first container), for the cluster's daemons (not the
/// Rook operator's own pod).
fn pods(sim: &Sim) -> BTreeMap<String, (String, String)> {
    sim.list(&PODS, "rook-ceph")
        .into_iter()
        .filter(|p| p["metadata"]["labels"]["rook_cluster"] == "rook-ceph")
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap().to_string(),
                (
                    p["metadata"]["labels"]["app"].as_str().unwrap().to_string(),
                    p["spec"]["containers"][0]["image"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

fn pod_of<'a>(pods: &'a BTreeMap<String, (String, String)>, deploy: &str) -> Vec<(&'a String, &'a (String, String))> {
    pods.iter()
        .filter(|(n, _)| {
            n.strip_prefix(&format!("{deploy}-")).is_some_and(|rest| rest.len() == 16 && rest.as_bytes()[10] == b'-')
        })
        .collect()
}

#[test]
fn base_image_change_replaces_every_pod_but_the_held_ones() {
    let sim = sim(Crd::Released);
    for d in ["rook-ceph-osd-3", "rook-ceph-mgr-b", "rook-ceph-mon-c", "rook-ceph-nfs-my-nfs-a"] {
        label(&sim, d);
    }
    let before = pods(&sim);
    set_base(&sim, NEW);
    let after = pods(&sim);
    assert_eq!(before.len(), after.len(), "one pod per daemon before and after");
    for held in ["rook-ceph-osd-3", "rook-ceph-mgr-b", "rook-ceph-mon-c", "rook-ceph-nfs-my-nfs-a"] {
        let b = pod_of(&before, held);
        let a = pod_of(&after, held);
        assert_eq!(a, b, "{held} is held: its pod stays");
        assert_ne!(a[0].1.1, NEW);
    }
    let kept: Vec<&String> = before.keys().filter(|k| after.contains_key(*k)).collect();
    assert_eq!(kept.len(), 4, "every other pod was replaced: {kept:?}");
    for (name, (_, image)) in &after {
        if !before.contains_key(name) {
            assert_eq!(image, NEW, "{name} runs the new image");
        }
    }
    let c = sim.get(&CEPHCLUSTERS, "rook-ceph", "rook-ceph").unwrap();
    assert_eq!(c["status"]["version"]["image"], NEW);
    // mixed versions show in status.ceph.versions: one osd and one mgr still on 20.2.4
    let osd = c["status"]["ceph"]["versions"]["osd"].as_object().unwrap();
    assert_eq!(osd.len(), 2);
    assert!(osd.iter().any(|(k, v)| k.contains("20.2.4") && v == 1));
    // held Deployments keep their label; the others carry the new ceph-version label
    let d = sim.get(&DEPLOYMENTS, "rook-ceph", "rook-ceph-osd-3").unwrap();
    assert_eq!(d["metadata"]["labels"]["ceph-version"], "20.2.4-0");
    let d = sim.get(&DEPLOYMENTS, "rook-ceph", "rook-ceph-osd-4").unwrap();
    assert_eq!(d["metadata"]["labels"]["ceph-version"], "20.2.5-0");
}

#[test]
fn types_that_ignore_the_label_are_rewritten_and_lose_it() {
    let sim = sim(Crd::Released);
    for d in [
        "rook-ceph-crashcollector-node-00",
        "rook-ceph-exporter-node-01",
        "rook-ceph-mds-myfs-a",
        "rook-ceph-fs-mirror",
    ] {
        label(&sim, d);
    }
    let before = pods(&sim);
    set_base(&sim, NEW);
    let after = pods(&sim);
    for d in [
        "rook-ceph-crashcollector-node-00",
        "rook-ceph-exporter-node-01",
        "rook-ceph-mds-myfs-a",
        "rook-ceph-fs-mirror",
    ] {
        assert_ne!(pod_of(&before, d), pod_of(&after, d), "{d} does not honour the label");
        let dep = sim.get(&DEPLOYMENTS, "rook-ceph", d).unwrap();
        assert!(dep["metadata"]["labels"].get(DNR).is_none(), "{d}: Rook's rewrite drops labels it does not set");
    }
}

#[test]
fn one_rgw_or_rbd_mirror_label_holds_its_whole_scope() {
    let sim = sim(Crd::Released);
    label(&sim, "rook-ceph-rgw-my-store-a");
    label(&sim, "rook-ceph-rbd-mirror-a");
    let before = pods(&sim);
    set_base(&sim, NEW);
    let after = pods(&sim);
    assert_eq!(pod_of(&before, "rook-ceph-rgw-my-store-a"), pod_of(&after, "rook-ceph-rgw-my-store-a"));
    assert_eq!(pod_of(&before, "rook-ceph-rbd-mirror-a"), pod_of(&after, "rook-ceph-rbd-mirror-a"));
}

#[test]
fn image_override_replaces_only_mgr_pods() {
    let sim = sim(Crd::Proposed);
    let before = pods(&sim);
    sim.update(&CEPHCLUSTERS, "rook-ceph", "rook-ceph", |c| {
        c["spec"]["cephVersion"]["imageOverrides"] = serde_json::json!({"mgr": NEW});
    })
    .unwrap();
    sim.settle();
    let after = pods(&sim);
    let replaced: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    assert_eq!(replaced.len(), 2);
    assert!(replaced.iter().all(|n| n.starts_with("rook-ceph-mgr-")), "{replaced:?}");
    for (name, (app, image)) in &after {
        if app == "rook-ceph-mgr" {
            assert_eq!(image, NEW, "{name}");
        } else {
            assert_eq!(image, "quay.io/ceph/ceph:v20.2.4", "{name}");
        }
    }
    // the mgr's watch-active sidecar stays on the Rook image
    let mgr =
        sim.list(&PODS, "rook-ceph").into_iter().find(|p| p["metadata"]["labels"]["app"] == "rook-ceph-mgr").unwrap();
    assert_eq!(mgr["spec"]["containers"][1]["name"], "watch-active");
    assert_eq!(mgr["spec"]["containers"][1]["image"], "docker.io/rook/ceph:v1.20.6");
    let env: Vec<&Value> = mgr["spec"]["containers"][0]["env"].as_array().unwrap().iter().collect();
    assert!(env.iter().any(|e| e["name"] == "CONTAINER_IMAGE" && e["value"] == NEW));
}

#[test]
fn removing_a_label_replaces_nothing_until_the_next_spec_change() {
    let sim = sim(Crd::Released);
    label(&sim, "rook-ceph-osd-5");
    set_base(&sim, NEW);
    let held = pods(&sim);
    unlabel(&sim, "rook-ceph-osd-5");
    sim.settle();
    assert_eq!(pods(&sim), held, "removing the label triggers no reconcile");
    set_base(&sim, "quay.io/ceph/ceph:v20.2.6");
    let after = pods(&sim);
    assert_ne!(pod_of(&held, "rook-ceph-osd-5"), pod_of(&after, "rook-ceph-osd-5"));
    assert_eq!(pod_of(&after, "rook-ceph-osd-5")[0].1.1, "quay.io/ceph/ceph:v20.2.6");
}

#[test]
fn cluster_label_holds_mon_mgr_osd_only_and_toggling_it_reconciles() {
    let sim = sim(Crd::Released);
    sim.update(&CEPHCLUSTERS, "rook-ceph", "rook-ceph", |c| c["metadata"]["labels"] = serde_json::json!({DNR: "true"}))
        .unwrap();
    sim.settle();
    let before = pods(&sim);
    set_base(&sim, NEW);
    let after = pods(&sim);
    for (name, (app, _)) in &before {
        let stays = after.contains_key(name);
        let core = matches!(app.as_str(), "rook-ceph-mon" | "rook-ceph-mgr" | "rook-ceph-osd");
        assert_eq!(stays, core, "{name} ({app})");
    }
    let events = sim.list(&EVENTS, "rook-ceph");
    assert!(events.iter().any(|e| e["reason"] == "ReconcileSkipped"));
    // removing the cluster-level label is itself a reconcile trigger
    sim.update(&CEPHCLUSTERS, "rook-ceph", "rook-ceph", |c| {
        c["metadata"]["labels"].as_object_mut().unwrap().remove(DNR);
    })
    .unwrap();
    sim.settle();
    assert!(pods(&sim).values().all(|(_, image)| image == NEW));
}

#[test]
fn two_thousand_osds_start_and_list_in_pages() {
    // kubectl needs ~10 s to decode this many objects, so a kube-rs client lists here;
    // the kubectl interop suite covers paging with --chunk-size.
    let sim = sim_with(Crd::Proposed, 2000);
    let nodes = 2000usize.div_ceil(12);
    let expected = 3 + 2 + 2000 + 2 + 1 + 1 + 1 + 1 + 2 * nodes;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (deploys, pods) = rt.block_on(async {
        let kc = kube::config::Kubeconfig::read_from(sim.kubeconfig()).unwrap();
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.unwrap();
        let client = kube::Client::try_from(cfg).unwrap();
        let deps: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
            kube::Api::namespaced(client.clone(), "rook-ceph");
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client, "rook-ceph");
        (count_pages(&deps).await, count_pages(&pods).await)
    });
    assert_eq!(deploys, expected);
    assert_eq!(pods, expected);
    let lists = sim.log().into_iter().filter(|r| r.verb == "list").count();
    assert_eq!(lists, 2 * expected.div_ceil(500));
}

/// Every item of a LIST by `rook_cluster`, 500 at a time.
async fn count_pages<K>(api: &kube::Api<K>) -> usize
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let (mut n, mut token) = (0, None::<String>);
    loop {
        let mut p = kube::api::ListParams::default().labels("rook_cluster=rook-ceph").limit(500);
        if let Some(t) = &token {
            p = p.continue_token(t);
        }
        let page = api.list(&p).await.unwrap();
        n += page.items.len();
        token = page.metadata.continue_.filter(|c| !c.is_empty());
        if token.is_none() {
            return n;
        }
    }
}

// ---- staged upgrades (issue 15): health, image pulls, never-ready daemons, replacements ----

const NS: &str = "rook-ceph";

fn sim_cfg(f: impl FnOnce(&mut rook_sim::OperatorConfig)) -> Sim {
    let mut opts = rook_sim::SimOptions { crd: Crd::Released, ..Default::default() };
    opts.operator.daemon_delay = std::time::Duration::ZERO;
    f(&mut opts.operator);
    Sim::start(opts).expect("simulated cluster starts")
}

/// Polls `f` every 5 ms until it gives a value; fails after `secs` seconds naming `what`.
fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn health(sim: &Sim) -> (String, String) {
    let c = sim.get(&CEPHCLUSTERS, NS, NS).unwrap();
    let s = |p: &str| c.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    (s("/status/ceph/health"), s("/status/ceph/lastChecked"))
}

/// One request to the simulated Kubernetes API with the real curl, as the kubeconfig user.
fn api(sim: &Sim, method: &str, path: &str, content_type: &str, body: Option<&Value>) -> (u16, Value) {
    let mut c = std::process::Command::new("curl");
    c.args(["-sS", "--max-time", "20", "-w", "\n%{http_code}", "-X", method, "--cacert"]).arg(sim.ca_file());
    c.arg("-H").arg(format!("Authorization: Bearer {}", sim.token()));
    if let Some(b) = body {
        c.arg("-H").arg(format!("Content-Type: {content_type}")).arg("--data-binary").arg(b.to_string());
    }
    let out = c.arg(format!("{}{path}", sim.url)).output().expect("curl runs (it is needed by these tests)");
    assert!(out.status.success(), "curl failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("status line");
    (code.trim().parse().unwrap(), serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}")))
}

fn pull_pod(name: &str, node: &str, image: &str) -> Value {
    serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"nodeName": node, "restartPolicy": "Never",
            "containers": [{"name": "pull", "image": image, "command": ["true"]}]}})
}

fn pod_value(sim: &Sim, name: &str) -> Option<Value> {
    sim.get(&PODS, NS, name)
}

fn phase(p: &Value) -> &str {
    p["status"]["phase"].as_str().unwrap_or_default()
}

fn waiting_reason(p: &Value) -> &str {
    p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"].as_str().unwrap_or_default()
}

fn ready(p: &Value) -> bool {
    p["status"]["conditions"].as_array().into_iter().flatten().any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// The pods (values) of one Deployment.
fn pods_of(sim: &Sim, deploy: &str) -> Vec<Value> {
    sim.list(&PODS, NS)
        .into_iter()
        .filter(|p| {
            p["metadata"]["name"]
                .as_str()
                .unwrap()
                .strip_prefix(&format!("{deploy}-"))
                .is_some_and(|rest| rest.len() == 16 && rest.as_bytes()[10] == b'-')
        })
        .collect()
}

/// A client's image change of one Deployment (what a fence or `kubectl set image` sends).
fn patch_image(sim: &Sim, deploy: &str, image: &str) {
    let patch =
        serde_json::json!([{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": image}]);
    let (code, v) = api(
        sim,
        "PATCH",
        &format!("/apis/apps/v1/namespaces/{NS}/deployments/{deploy}"),
        "application/json-patch+json",
        Some(&patch),
    );
    assert_eq!(code, 200, "{v}");
}

#[test]
fn health_warns_while_restarted_pods_are_not_ready_and_settles_back() {
    let sim = sim_cfg(|c| {
        c.ready_delay = std::time::Duration::from_millis(30);
        c.health_settle = std::time::Duration::from_millis(1000);
    });
    let (h0, checked0) = health(&sim);
    assert_eq!(h0, "HEALTH_OK");
    assert!(checked0.parse::<jiff::Timestamp>().is_ok(), "lastChecked is RFC 3339: {checked0}");
    sim.update(&CEPHCLUSTERS, NS, NS, |c| c["spec"]["cephVersion"]["image"] = NEW.into()).unwrap();
    let (_, checked1) = wait_for("HEALTH_WARN while the mons restart", 10, || {
        let h = health(&sim);
        (h.0 == "HEALTH_WARN").then_some(h)
    });
    assert_ne!(checked1, checked0, "lastChecked is written with the health");
    sim.settle();
    // every pod is Ready now; the health comes back only after health_settle
    assert!(sim.list(&PODS, NS).iter().all(ready));
    let (_, checked2) = wait_for("HEALTH_OK again", 10, || {
        let h = health(&sim);
        (h.0 == "HEALTH_OK").then_some(h)
    });
    // OK is written health_settle after the last pod turned Ready, so at least that long
    // after the first WARN (the times Rook-sim wrote, not a clock read by the test: no
    // timing assertion that a loaded machine could fail)
    let (warned, ok) = (checked1.parse::<jiff::Timestamp>().unwrap(), checked2.parse::<jiff::Timestamp>().unwrap());
    assert!(ok.duration_since(warned) >= jiff::SignedDuration::from_millis(1000), "WARN at {warned}, OK at {ok}");

    // a pinned value holds through restarts until unpinned
    sim.set_health(NS, Some("HEALTH_ERR"));
    assert_eq!(health(&sim).0, "HEALTH_ERR");
    set_base(&sim, "quay.io/ceph/ceph:v20.2.6");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(health(&sim).0, "HEALTH_ERR");
    let before = health(&sim).1;
    std::thread::sleep(std::time::Duration::from_millis(2));
    sim.set_health(NS, None);
    let (h, checked) = health(&sim);
    assert_eq!(h, "HEALTH_OK", "nothing restarts: OK at once");
    assert_ne!(checked, before);
}

#[test]
fn a_never_ready_daemon_stays_unready_and_keeps_health_warn() {
    let sim = sim_cfg(|c| c.ready_timeout = std::time::Duration::from_millis(300));
    sim.never_ready(NS, "rook-ceph-osd-3");
    sim.reset_replacements();
    set_base(&sim, NEW);
    let p = pods_of(&sim, "rook-ceph-osd-3");
    assert_eq!(p.len(), 1);
    assert_eq!(phase(&p[0]), "Running");
    assert!(!ready(&p[0]), "readiness stays false");
    assert_eq!(p[0]["spec"]["containers"][0]["image"], NEW);
    let d = sim.get(&DEPLOYMENTS, NS, "rook-ceph-osd-3").unwrap();
    // a count of 0 is left out of the status, as the apiserver's JSON (omitempty) leaves it out
    assert_eq!(d["status"].get("readyReplicas"), None, "{}", d["status"]);
    assert_eq!(d["status"]["unavailableReplicas"], 1, "{}", d["status"]);
    for other in ["rook-ceph-osd-4", "rook-ceph-mgr-a", "rook-ceph-rgw-my-store-a"] {
        assert!(pods_of(&sim, other).iter().all(ready), "{other}");
    }
    // the operator went on after ready_timeout: every daemon was replaced once
    assert!(sim.replacements(NS).values().all(|n| *n == 1));
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(health(&sim).0, "HEALTH_WARN", "a daemon that never comes Ready keeps the cluster in WARN");
    // cleared: the next readiness probe passes
    sim.clear_never_ready();
    wait_for("osd-3 Ready", 10, || pods_of(&sim, "rook-ceph-osd-3").iter().all(ready).then_some(()));
    wait_for("HEALTH_OK", 10, || (health(&sim).0 == "HEALTH_OK").then_some(()));
    let d = sim.get(&DEPLOYMENTS, NS, "rook-ceph-osd-3").unwrap();
    assert_eq!(d["status"]["readyReplicas"], 1);
}

#[test]
fn never_ready_over_the_admin_endpoint() {
    let sim = sim_cfg(|c| c.ready_timeout = std::time::Duration::from_millis(200));
    let out = std::process::Command::new("curl")
        .args(["-sS", "-X", "POST", "-H", "Content-Type: application/json", "--cacert"])
        .arg(sim.ca_file())
        .arg("-H")
        .arg(format!("Authorization: Bearer {}", sim.admin_token()))
        .args(["--data-binary", r#"{"kind":"never-ready","name":"rook-ceph-osd-3"}"#])
        .arg(format!("{}/rook-sim/faults", sim.url))
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, serde_json::json!({"kind": "never-ready", "namespace": NS, "name": "rook-ceph-osd-3"}));
    // a client's image change of that Deployment: its new pod runs but is never Ready
    patch_image(&sim, "rook-ceph-osd-3", NEW);
    let p = wait_for("the new osd-3 pod Running", 10, || {
        pods_of(&sim, "rook-ceph-osd-3").into_iter().find(|p| phase(p) == "Running")
    });
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(!ready(&pod_value(&sim, p["metadata"]["name"].as_str().unwrap()).unwrap()));
    assert_eq!(sim.replacements(NS), BTreeMap::from([("rook-ceph-osd-3".to_string(), 1)]));
}

#[test]
fn pods_created_through_the_api_pull_and_run_to_completion() {
    let sim = sim_cfg(|c| c.pull_delay = std::time::Duration::from_millis(300));
    assert!(!sim.pulled("node-00").contains(NEW));
    assert!(sim.pulled("node-00").contains("quay.io/ceph/ceph:v20.2.4"), "what runs there is pulled");
    let t = std::time::Instant::now();
    let (code, v) = api(
        &sim,
        "POST",
        &format!("/api/v1/namespaces/{NS}/pods"),
        "application/json",
        Some(&pull_pod("pull-a", "node-00", NEW)),
    );
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["status"]["phase"], "Pending");
    assert_eq!(v["spec"]["nodeName"], "node-00");
    std::thread::sleep(std::time::Duration::from_millis(100));
    let p = pod_value(&sim, "pull-a").unwrap();
    assert_eq!((phase(&p), waiting_reason(&p)), ("Pending", "ContainerCreating"), "pulling");
    wait_for("pull-a Succeeded", 10, || (phase(&pod_value(&sim, "pull-a").unwrap()) == "Succeeded").then_some(()));
    let first = t.elapsed();
    assert!(first >= std::time::Duration::from_millis(300));
    assert!(sim.pulled("node-00").contains(NEW));
    let p = pod_value(&sim, "pull-a").unwrap();
    assert_eq!(p["status"]["containerStatuses"][0]["state"]["terminated"]["reason"], "Completed");
    // the node has it now: a second pod there does not wait for a pull
    let t = std::time::Instant::now();
    api(
        &sim,
        "POST",
        &format!("/api/v1/namespaces/{NS}/pods"),
        "application/json",
        Some(&pull_pod("pull-b", "node-00", NEW)),
    );
    wait_for("pull-b Succeeded", 10, || (phase(&pod_value(&sim, "pull-b").unwrap()) == "Succeeded").then_some(()));
    // no pull: quicker than the first by its pull (compared with the first rather than a
    // fixed bound, which a loaded machine could miss)
    assert!(t.elapsed() < first, "{:?} against {first:?}", t.elapsed());
    // a delete whose uid precondition names another pod is refused, as the apiserver does
    let uid = pod_value(&sim, "pull-a").unwrap()["metadata"]["uid"].as_str().unwrap().to_string();
    let opts =
        |uid: &str| serde_json::json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid}});
    let (code, v) =
        api(&sim, "DELETE", &format!("/api/v1/namespaces/{NS}/pods/pull-a"), "application/json", Some(&opts("other")));
    assert_eq!((code, v["reason"].as_str()), (409, Some("Conflict")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("the UID in the precondition (other) does not match"), "{v}");
    assert!(pod_value(&sim, "pull-a").is_some());
    let (code, v) =
        api(&sim, "DELETE", &format!("/api/v1/namespaces/{NS}/pods/pull-a"), "application/json", Some(&opts(&uid)));
    assert_eq!(code, 200, "{v}");
    // deleting works without options too; twice is a 404
    let (code, v) = api(&sim, "DELETE", &format!("/api/v1/namespaces/{NS}/pods/pull-b"), "", None);
    assert_eq!(code, 200, "{v}");
    let (code, v) = api(&sim, "DELETE", &format!("/api/v1/namespaces/{NS}/pods/pull-a"), "", None);
    assert_eq!((code, v["reason"].as_str()), (404, Some("NotFound")));
    assert!(pod_value(&sim, "pull-a").is_none());
}

#[test]
fn a_pre_pulled_node_restarts_its_daemon_sooner() {
    let sim = sim_cfg(|c| c.pull_delay = std::time::Duration::from_millis(400));
    api(
        &sim,
        "POST",
        &format!("/api/v1/namespaces/{NS}/pods"),
        "application/json",
        Some(&pull_pod("prepull", "node-00", NEW)),
    );
    wait_for("pre-pull", 10, || (phase(&pod_value(&sim, "prepull").unwrap()) == "Succeeded").then_some(()));
    // osd-0 runs on node-00 (pulled), osd-1 on node-01 (not)
    patch_image(&sim, "rook-ceph-osd-0", NEW);
    patch_image(&sim, "rook-ceph-osd-1", NEW);
    wait_for("osd-0 Ready", 10, || pods_of(&sim, "rook-ceph-osd-0").iter().all(ready).then_some(()));
    let p = &pods_of(&sim, "rook-ceph-osd-1")[0];
    assert_eq!((phase(p), waiting_reason(p)), ("Pending", "ContainerCreating"), "node-01 still pulls");
    wait_for("osd-1 Ready", 10, || pods_of(&sim, "rook-ceph-osd-1").iter().all(ready).then_some(()));
    assert!(sim.pulled("node-01").contains(NEW));
    assert_eq!(
        sim.replacements(NS),
        BTreeMap::from([("rook-ceph-osd-0".to_string(), 1), ("rook-ceph-osd-1".to_string(), 1)]),
        "client patches count as replacements"
    );
    // The pull log and the replacement log share one sequence: node-00's pull came before
    // any rollout, node-01's after osd-1's rollout began (its pod pulled it). The images
    // nodes had from the start are not pulls.
    let pulls = sim.pull_log();
    let pulls_of: Vec<(&str, &str)> = pulls.iter().map(|(_, n, i)| (n.as_str(), i.as_str())).collect();
    assert_eq!(pulls_of, [("node-00", NEW), ("node-01", NEW)], "{pulls:?}");
    let rollouts: BTreeMap<String, u64> = sim.replacement_log(NS).into_iter().map(|(s, d)| (d, s)).collect();
    assert!(pulls[0].0 < rollouts["rook-ceph-osd-0"], "{pulls:?} {rollouts:?}");
    assert!(pulls[1].0 > rollouts["rook-ceph-osd-1"], "{pulls:?} {rollouts:?}");
}

#[test]
fn failing_pulls_and_missing_nodes_leave_pods_pending_with_the_reason() {
    let sim = sim_cfg(|_| {});
    sim.fail_pulls("node-02", NEW);
    api(
        &sim,
        "POST",
        &format!("/api/v1/namespaces/{NS}/pods"),
        "application/json",
        Some(&pull_pod("pull-c", "node-02", NEW)),
    );
    wait_for("ImagePullBackOff", 10, || {
        (waiting_reason(&pod_value(&sim, "pull-c").unwrap()) == "ImagePullBackOff").then_some(())
    });
    // a daemon pod on that node too (osd-2 runs on node-02)
    patch_image(&sim, "rook-ceph-osd-2", NEW);
    wait_for("osd-2 in back-off", 10, || {
        pods_of(&sim, "rook-ceph-osd-2")
            .iter()
            .any(|p| matches!(waiting_reason(p), "ErrImagePull" | "ImagePullBackOff"))
            .then_some(())
    });
    assert_eq!(phase(&pod_value(&sim, "pull-c").unwrap()), "Pending");
    assert!(!sim.pulled("node-02").contains(NEW));
    // another node pulls the same image fine
    api(
        &sim,
        "POST",
        &format!("/api/v1/namespaces/{NS}/pods"),
        "application/json",
        Some(&pull_pod("pull-d", "node-01", NEW)),
    );
    wait_for("pull-d Succeeded", 10, || (phase(&pod_value(&sim, "pull-d").unwrap()) == "Succeeded").then_some(()));
    sim.clear_pull_failures();
    wait_for("pull-c Succeeded", 10, || (phase(&pod_value(&sim, "pull-c").unwrap()) == "Succeeded").then_some(()));
    wait_for("osd-2 Ready", 10, || pods_of(&sim, "rook-ceph-osd-2").iter().all(ready).then_some(()));

    // a node that does not exist
    api(
        &sim,
        "POST",
        &format!("/api/v1/namespaces/{NS}/pods"),
        "application/json",
        Some(&pull_pod("pull-x", "node-99", NEW)),
    );
    // created with its nodeName (PodScheduled True, as the apiserver admits it), then its
    // kubelet, which finds no such node, says so: wait for that, not the first condition seen
    let cond = wait_for("the pod unschedulable", 10, || {
        let p = pod_value(&sim, "pull-x").unwrap();
        p["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "PodScheduled" && c["status"] == "False")
            .cloned()
    });
    assert_eq!((cond["status"].as_str(), cond["reason"].as_str()), (Some("False"), Some("Unschedulable")));
    assert!(cond["message"].as_str().unwrap().contains("node-99"));
    assert_eq!(phase(&pod_value(&sim, "pull-x").unwrap()), "Pending");
    let ev = wait_for("a FailedScheduling event", 10, || {
        sim.list(&EVENTS, NS).into_iter().find(|e| e["reason"] == "FailedScheduling")
    });
    assert_eq!(ev["involvedObject"]["name"], "pull-x");
}

#[test]
fn pod_writes_are_validated_as_the_apiserver_does() {
    let sim = sim_cfg(|_| {});
    let path = format!("/api/v1/namespaces/{NS}/pods");
    let no_containers = serde_json::json!({"metadata": {"name": "p"}, "spec": {"nodeName": "node-00"}});
    let (code, v) = api(&sim, "POST", &path, "application/json", Some(&no_containers));
    assert_eq!((code, v["reason"].as_str()), (422, Some("Invalid")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("spec.containers: Required value"), "{v}");
    let no_image = serde_json::json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}});
    let (code, v) = api(&sim, "POST", &path, "application/json", Some(&no_image));
    assert_eq!(code, 422);
    assert!(v["message"].as_str().unwrap().contains("spec.containers[0].image: Required value"), "{v}");
    let (code, _) = api(&sim, "POST", &path, "application/json", Some(&pull_pod("p", "node-00", NEW)));
    assert_eq!(code, 201);
    let (code, v) = api(&sim, "POST", &path, "application/json", Some(&pull_pod("p", "node-00", NEW)));
    assert_eq!((code, v["reason"].as_str()), (409, Some("AlreadyExists")));
    // a dry run creates nothing and runs nothing
    let (code, _) =
        api(&sim, "POST", &format!("{path}?dryRun=All"), "application/json", Some(&pull_pod("q", "node-00", NEW)));
    assert_eq!(code, 201);
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(pod_value(&sim, "q").is_none());
}

/// Replacement order of a base-image change on a slow operator (one OSD at a time).
fn rollout_order(rook_version: &str) -> (Sim, Vec<(u64, String)>) {
    let sim = sim_cfg(|c| {
        c.daemon_delay = std::time::Duration::from_millis(5);
        c.ready_delay = std::time::Duration::from_millis(3);
        c.osd_batch = 1;
    });
    sim.state.operator.set_rook_version(NS, rook_version);
    set_base(&sim, NEW);
    let log = sim.replacement_log(NS);
    (sim, log)
}

fn position(log: &[(u64, String)], f: impl Fn(&str) -> bool) -> Vec<usize> {
    log.iter().enumerate().filter(|(_, (_, d))| f(d)).map(|(i, _)| i).collect()
}

#[test]
fn every_daemon_is_replaced_once_in_rooks_order() {
    let (sim, log) = rollout_order("v1.20.6");
    let counts = sim.replacements(NS);
    let daemons = sim.list(&DEPLOYMENTS, NS).into_iter().filter(|d| d["metadata"]["labels"]["rook_cluster"] == NS);
    assert_eq!(counts.len(), daemons.count(), "every daemon (the operator's own Deployment is none)");
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    assert!(log.windows(2).all(|w| w[0].0 < w[1].0), "sequence numbers grow");
    let mons = position(&log, |d| d.starts_with("rook-ceph-mon-"));
    assert_eq!(mons, [0, 1, 2], "the mons first, one at a time");
    let last_osd = *position(&log, |d| d.starts_with("rook-ceph-osd-")).last().unwrap();
    // Rook before v1.21: the other controllers roll while the OSDs still roll (rook #18367)
    let mds = position(&log, |d| d.starts_with("rook-ceph-mds-"));
    let rgw = position(&log, |d| d.starts_with("rook-ceph-rgw-"));
    assert!(mds[0] < last_osd && rgw[0] < last_osd, "{log:?}");

    let (_, log) = rollout_order("v1.21.0");
    let last_osd = *position(&log, |d| d.starts_with("rook-ceph-osd-")).last().unwrap();
    let rgw = position(&log, |d| d.starts_with("rook-ceph-rgw-"));
    let mds = position(&log, |d| d.starts_with("rook-ceph-mds-"));
    assert!(rgw[0] > last_osd, "v1.21: RGW waits for the OSDs (#18369): {log:?}");
    assert!(mds[0] < last_osd, "the MDS still does not: {log:?}");
}

#[test]
fn released_osds_roll_when_the_cluster_label_is_toggled() {
    let sim = sim_cfg(|_| {});
    let osds: Vec<String> = (0..12).map(|i| format!("rook-ceph-osd-{i}")).collect();
    for d in &osds {
        label(&sim, d);
    }
    set_base(&sim, NEW);
    for d in &osds {
        assert_ne!(pods_of(&sim, d)[0]["spec"]["containers"][0]["image"], NEW, "{d} is held");
    }
    // the plugin releases two: labels off (no reconcile), then the cluster label on and off
    sim.reset_replacements();
    unlabel(&sim, "rook-ceph-osd-1");
    unlabel(&sim, "rook-ceph-osd-7");
    sim.settle();
    assert!(sim.replacements(NS).is_empty(), "removing a label triggers nothing");
    sim.update(&CEPHCLUSTERS, NS, NS, |c| c["metadata"]["labels"] = serde_json::json!({DNR: "true"})).unwrap();
    sim.settle();
    sim.update(&CEPHCLUSTERS, NS, NS, |c| {
        c["metadata"]["labels"].as_object_mut().unwrap().remove(DNR);
    })
    .unwrap();
    sim.settle();
    assert_eq!(
        sim.replacements(NS),
        BTreeMap::from([("rook-ceph-osd-1".to_string(), 1), ("rook-ceph-osd-7".to_string(), 1)])
    );
    for d in &osds {
        let image = pods_of(&sim, d)[0]["spec"]["containers"][0]["image"].as_str().unwrap().to_string();
        assert_eq!(image == NEW, d == "rook-ceph-osd-1" || d == "rook-ceph-osd-7", "{d}: {image}");
    }
}
