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

/// Pod name → (app, image of its first container), for pods of a Deployment prefix.
fn pods(sim: &Sim) -> BTreeMap<String, (String, String)> {
    sim.list(&PODS, "rook-ceph")
        .into_iter()
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
