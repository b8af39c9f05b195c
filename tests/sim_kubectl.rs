//! The simulation checked by a client nobody here wrote: the real kubectl.

mod common;

use common::*;
use rook_sim::Crd;
use rook_sim::resources::{CEPHCLUSTERS, DEPLOYMENTS};
use serde_json::Value;

#[test]
fn get_deployments_by_label_returns_every_osd() {
    let sim = sim_with(Crd::Proposed, 30);
    let out = kubectl_ok(&sim, &["get", "deploy", "-l", "app=rook-ceph-osd", "-o", "name"]);
    let mut names: Vec<&str> = out.lines().collect();
    names.sort();
    let mut want: Vec<String> = (0..30).map(|i| format!("deployment.apps/rook-ceph-osd-{i}")).collect();
    want.sort();
    assert_eq!(names, want);
    // set-based selectors too
    let out = kubectl_ok(&sim, &["get", "deploy", "-l", "app in (rook-ceph-mon,rook-ceph-mgr)", "-o", "name"]);
    assert_eq!(out.lines().count(), 5);
}

#[test]
fn get_cephclusters_as_json() {
    let sim = sim(Crd::Released);
    let out = kubectl_ok(&sim, &["get", "cephclusters.ceph.rook.io", "-o", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    let c = &v["items"][0];
    assert_eq!(c["kind"], "CephCluster");
    assert_eq!(c["spec"]["cephVersion"]["image"], "quay.io/ceph/ceph:v20.2.4");
    assert_eq!(c["status"]["version"]["version"], "20.2.4-0");
    // the short name from the CRD resolves too
    assert!(kubectl_ok(&sim, &["get", "ceph", "-o", "name"]).contains("cephcluster.ceph.rook.io/rook-ceph"));
}

#[test]
fn label_and_unlabel_a_deployment() {
    let sim = sim(Crd::Released);
    kubectl_ok(&sim, &["label", "deploy", "rook-ceph-osd-3", "ceph.rook.io/do-not-reconcile=true"]);
    let d = sim.get(&DEPLOYMENTS, "rook-ceph", "rook-ceph-osd-3").unwrap();
    assert_eq!(d["metadata"]["labels"]["ceph.rook.io/do-not-reconcile"], "true");
    kubectl_ok(&sim, &["label", "deploy", "rook-ceph-osd-3", "ceph.rook.io/do-not-reconcile-"]);
    let d = sim.get(&DEPLOYMENTS, "rook-ceph", "rook-ceph-osd-3").unwrap();
    assert!(d["metadata"]["labels"].get("ceph.rook.io/do-not-reconcile").is_none());
    // kubectl label sends a merge patch; the log shows both
    let patches: Vec<_> = sim.log().into_iter().filter(|r| r.verb == "patch").collect();
    assert_eq!(patches.len(), 2);
    assert!(patches.iter().all(|p| p.content_type.starts_with("application/merge-patch+json")));
}

fn merge_overrides(sim: &rook_sim::Sim) -> Value {
    let out = kubectl(
        sim,
        &[
            "patch",
            "cephcluster",
            "rook-ceph",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"bogus":1,"cephVersion":{"imageOverrides":{"mgr":"quay.io/ceph/ceph:v20.2.5"}}}}"#,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unknown field \"spec.bogus\""),
        "the apiserver warns of what it pruned: {}",
        stderr(&out)
    );
    sim.get(&CEPHCLUSTERS, "rook-ceph", "rook-ceph").unwrap()
}

#[test]
fn merge_patch_prunes_against_the_released_crd() {
    let sim = sim(Crd::Released);
    let c = merge_overrides(&sim);
    assert!(c["spec"].get("bogus").is_none());
    assert!(c["spec"]["cephVersion"].get("imageOverrides").is_none(), "released Rook prunes imageOverrides");
    assert_eq!(c["metadata"]["generation"], 1, "nothing survived, so nothing changed");
}

#[test]
fn merge_patch_keeps_overrides_with_the_proposed_crd() {
    let sim = sim(Crd::Proposed);
    let c = merge_overrides(&sim);
    assert!(c["spec"].get("bogus").is_none());
    assert_eq!(c["spec"]["cephVersion"]["imageOverrides"]["mgr"], "quay.io/ceph/ceph:v20.2.5");
    assert_eq!(c["metadata"]["generation"], 2);
    // the served CRD says so too
    let crd = kubectl_ok(&sim, &["get", "crd", "cephclusters.ceph.rook.io", "-o", "json"]);
    let crd: Value = serde_json::from_str(&crd).unwrap();
    assert!(
        crd.pointer(
            "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/cephVersion/properties/imageOverrides"
        )
        .is_some()
    );
}

#[test]
fn strategic_patch_of_a_custom_resource_is_415() {
    let sim = sim(Crd::Proposed);
    let out = kubectl(&sim, &["patch", "cephcluster", "rook-ceph", "-p", r#"{"spec":{"mon":{"count":5}}}"#]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("the body of the request was in an unknown format"), "{}", stderr(&out));
    assert!(
        sim.log()
            .iter()
            .any(|r| r.status == 415 && r.content_type.starts_with("application/strategic-merge-patch+json"))
    );
    // a built-in kind takes it
    kubectl_ok(
        &sim,
        &[
            "patch",
            "deploy",
            "rook-ceph-mgr-a",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"mgr","image":"x:1"}]}}}}"#,
        ],
    );
    let d = sim.get(&DEPLOYMENTS, "rook-ceph", "rook-ceph-mgr-a").unwrap();
    let cs = d["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(cs.len(), 3, "merged by name, not replaced");
    assert_eq!(cs[0]["image"], "x:1");
    assert_eq!(cs[1]["image"], "docker.io/rook/ceph:v1.20.6");
}

#[test]
fn server_dry_run_persists_nothing() {
    let sim = sim(Crd::Proposed);
    let before = sim.get(&CEPHCLUSTERS, "rook-ceph", "rook-ceph").unwrap();
    let out = kubectl_ok(
        &sim,
        &[
            "patch",
            "cephcluster",
            "rook-ceph",
            "--type",
            "merge",
            "--dry-run=server",
            "-o",
            "json",
            "-p",
            r#"{"spec":{"mon":{"count":5}}}"#,
        ],
    );
    let answered: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answered["spec"]["mon"]["count"], 5, "the dry run answers with the would-be object");
    assert_eq!(sim.get(&CEPHCLUSTERS, "rook-ceph", "rook-ceph").unwrap(), before);
    assert!(sim.log().iter().any(|r| r.verb == "patch" && r.is_dry_run()));
}

#[test]
fn stale_resource_version_is_a_conflict() {
    let sim = sim(Crd::Proposed);
    let out = kubectl(
        &sim,
        &[
            "patch",
            "cephcluster",
            "rook-ceph",
            "--type",
            "merge",
            "-p",
            r#"{"metadata":{"resourceVersion":"2"},"spec":{"mon":{"count":5}}}"#,
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Error from server (Conflict)"), "{}", stderr(&out));
    assert_eq!(sim.get(&CEPHCLUSTERS, "rook-ceph", "rook-ceph").unwrap()["spec"]["mon"]["count"], 3);
}

#[test]
fn chunked_list_returns_every_item() {
    let sim = sim_with(Crd::Proposed, 40);
    let all = kubectl_ok(&sim, &["get", "pods", "-o", "name"]);
    sim.clear_log();
    let chunked = kubectl_ok(&sim, &["get", "pods", "--chunk-size", "7", "-o", "name"]);
    assert_eq!(all, chunked);
    let n = all.lines().count();
    assert!(n > 40);
    let lists = sim.log().into_iter().filter(|r| r.verb == "list" && r.resource == "pods").count();
    assert_eq!(lists, n.div_ceil(7), "one request per chunk of 7");
}

#[test]
fn a_wrong_token_is_unauthorized() {
    let sim = sim(Crd::Proposed);
    let out = kubectl(&sim, &["--token", "not-the-token", "get", "pods"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("the server has asked for the client to provide credentials"), "{}", stderr(&out));
    let log = sim.log();
    assert!(!log.is_empty() && log.iter().all(|r| r.status == 401), "{log:?}");
}

#[test]
fn no_token_is_unauthorized() {
    let sim = sim(Crd::Proposed);
    let pem = sim.ca_pem.clone();
    let der: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD.decode(der).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt.block_on(async {
        let mut cfg = kube::Config::new(sim.url.parse().unwrap());
        cfg.root_cert = Some(vec![der]);
        let client = kube::Client::try_from(cfg).unwrap();
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client, "rook-ceph");
        pods.list(&Default::default()).await.unwrap_err()
    });
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 401);
            assert_eq!(s.reason, "Unauthorized");
        }
        other => panic!("expected a 401 Status, got {other:?}"),
    }
}
