//! Write requests as the plugin sends them: PATCH (JSON merge, or strategic merge for
//! Deployments) with `fieldManager=kubectl-ceph-image` and `fieldValidation=Strict`, POST
//! and DELETE with preconditions. Never a PUT of an object read earlier, so no field the
//! plugin does not model can be lost. What each patch holds is decided in `plan::writes`.

use kube::api::{Patch, PatchParams, PostParams, ValidationDirective};
use kube::core::Request;
use serde_json::{Value, json};

use super::api::{Kube, What, request_error};
use super::read::{CEPHCLUSTERS, cluster_path, deployments_path, pods_path};
use super::wire::CephCluster;
use crate::error::Result;
use crate::model::FIELD_MANAGER;

fn params(dry_run: bool) -> PatchParams {
    PatchParams {
        dry_run,
        field_manager: Some(FIELD_MANAGER.into()),
        // An unknown field is an error, not a silent drop.
        field_validation: Some(ValidationDirective::Strict),
        ..Default::default()
    }
}

/// A PATCH as the plugin sends it (`params`): a JSON merge patch, or a strategic merge
/// patch (Deployments only: custom resources answer 415).
pub fn patch_request(
    path: &str,
    name: &str,
    patch: &Value,
    strategic: bool,
    dry_run: bool,
) -> Result<http::Request<Vec<u8>>> {
    let req = Request::new(path);
    if strategic {
        req.patch(name, &params(dry_run), &Patch::Strategic(patch))
    } else {
        req.patch(name, &params(dry_run), &Patch::Merge(patch))
    }
    .map_err(request_error)
}

pub fn get_request(path: &str, name: &str) -> Result<http::Request<Vec<u8>>> {
    Request::new(path).get(name, &Default::default()).map_err(request_error)
}

/// A POST of the whole object, `fieldManager` set.
pub fn create_request(path: &str, object: &Value, dry_run: bool) -> Result<http::Request<Vec<u8>>> {
    let pp = PostParams { dry_run, field_manager: Some(FIELD_MANAGER.into()) };
    let body = serde_json::to_vec(object)
        .map_err(|e| crate::error::Error::Failed(format!("cannot encode the object to create: {e}")))?;
    Request::new(path).create(&pp, body).map_err(request_error)
}

/// The DELETE of a pod: `DeleteOptions` in the body, with `uid` as the precondition when
/// given (the apiserver answers 409 if the pod by that name is another one), and `dryRun`.
/// kube-apiserver reads a DELETE's options from its body whenever it has one and then
/// ignores the query (handlers/delete.go): a `dryRun=All` in the query alone deletes the
/// pod. It is in the query too, where request logs (and `api::is_write`) look for it.
pub fn delete_pod_request(ns: &str, name: &str, uid: Option<&str>, dry_run: bool) -> Result<http::Request<Vec<u8>>> {
    let mut body = json!({"kind": "DeleteOptions", "apiVersion": "v1"});
    if let Some(uid) = uid {
        body["preconditions"] = json!({"uid": uid});
    }
    if dry_run {
        body["dryRun"] = json!(["All"]);
    }
    let url = format!("{}/{name}{}", pods_path(ns), if dry_run { "?dryRun=All" } else { "" });
    http::Request::delete(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&body).expect("a DeleteOptions encodes"))
        .map_err(|e| crate::error::Error::Failed(format!("cannot build the request: {e}")))
}

pub async fn patch_cluster(kube: &Kube, ns: &str, name: &str, patch: &Value, dry_run: bool) -> Result<CephCluster> {
    let what = What::new("patch", format!("{CEPHCLUSTERS} \"{name}\""), Some(ns));
    kube.json(patch_request(&cluster_path(ns), name, patch, false, dry_run)?, &what).await
}

/// The same patches, answered as the whole object (`execute` judges it by JSON pointers).
pub async fn patch_cluster_value(kube: &Kube, ns: &str, name: &str, patch: &Value, dry_run: bool) -> Result<Value> {
    let what = What::new("patch", format!("{CEPHCLUSTERS} \"{name}\""), Some(ns));
    kube.json(patch_request(&cluster_path(ns), name, patch, false, dry_run)?, &what).await
}

pub async fn patch_deployment_value(kube: &Kube, ns: &str, name: &str, patch: &Value, dry_run: bool) -> Result<Value> {
    let what = What::new("patch", format!("deployments.apps \"{name}\""), Some(ns));
    kube.json(patch_request(&deployments_path(ns), name, patch, false, dry_run)?, &what).await
}

pub async fn strategic_patch_deployment_value(
    kube: &Kube,
    ns: &str,
    name: &str,
    patch: &Value,
    dry_run: bool,
) -> Result<Value> {
    let what = What::new("patch", format!("deployments.apps \"{name}\""), Some(ns));
    kube.json(patch_request(&deployments_path(ns), name, patch, true, dry_run)?, &what).await
}

pub async fn get_cluster_value(kube: &Kube, ns: &str, name: &str) -> Result<Value> {
    let what = What::new("get", format!("{CEPHCLUSTERS} \"{name}\""), Some(ns));
    kube.json(get_request(&cluster_path(ns), name)?, &what).await
}

pub async fn get_deployment_value(kube: &Kube, ns: &str, name: &str) -> Result<Value> {
    let what = What::new("get", format!("deployments.apps \"{name}\""), Some(ns));
    kube.json(get_request(&deployments_path(ns), name)?, &what).await
}

/// Create a pod (a pre-pull pod). Answered as the object stored (the executor judges it
/// by JSON pointers).
pub async fn create_pod_value(kube: &Kube, ns: &str, name: &str, pod: &Value, dry_run: bool) -> Result<Value> {
    let what = What::new("create", format!("pods \"{name}\""), Some(ns));
    kube.json(create_request(&pods_path(ns), pod, dry_run)?, &what).await
}

/// Delete a pod (`delete_pod_request`).
pub async fn delete_pod_value(kube: &Kube, ns: &str, name: &str, uid: Option<&str>, dry_run: bool) -> Result<Value> {
    let what = What::new("delete", format!("pods \"{name}\""), Some(ns));
    kube.json(delete_pod_request(ns, name, uid, dry_run)?, &what).await
}

pub async fn get_pod_value(kube: &Kube, ns: &str, name: &str) -> Result<Value> {
    let what = What::new("get", format!("pods \"{name}\""), Some(ns));
    kube.json(get_request(&pods_path(ns), name)?, &what).await
}

/// How many label patches are in flight at once: enough to finish 200 OSDs quickly,
/// few enough not to trip API priority and fairness.
pub const CONCURRENCY: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    /// kube-apiserver takes a DELETE's options from its body alone when it has one: the
    /// dry run must be said there, or the "dry run" deletes the pod.
    #[test]
    fn a_dry_run_delete_says_so_in_its_delete_options() {
        let req = delete_pod_request("rook-ceph", "p", Some("u-1"), true).unwrap();
        let body: Value = serde_json::from_slice(req.body()).unwrap();
        assert_eq!(body["dryRun"], json!(["All"]), "{body}");
        assert_eq!(body["preconditions"], json!({"uid": "u-1"}));
        assert_eq!(req.uri().query(), Some("dryRun=All"), "where request logs see it");
        let req = delete_pod_request("rook-ceph", "p", None, false).unwrap();
        let body: Value = serde_json::from_slice(req.body()).unwrap();
        assert_eq!(body, json!({"kind": "DeleteOptions", "apiVersion": "v1"}));
        assert_eq!(req.uri().query(), None);
    }
}
