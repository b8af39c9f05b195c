//! Writes: JSON merge patches of only the changed fields, `fieldManager=kubectl-ceph-image`,
//! the CephCluster's `metadata.resourceVersion` as a precondition. Never a PUT of an object
//! read earlier, so no field the plugin does not model can be lost.

use kube::api::{Patch, PatchParams, PostParams, ValidationDirective};
use kube::core::Request;
use serde_json::{Value, json};

use super::api::{Kube, What, request_error};
use super::read::{CEPHCLUSTERS, cluster_path, deployments_path, pods_path};
use super::wire::CephCluster;
use crate::error::Result;
use crate::model::{DNR_LABEL, Daemon, FENCE_AT, FENCE_IMAGE, FENCE_REPLACED, FIELD_MANAGER};
use crate::plan::{Change, Target};

/// The exact merge patch for a CephCluster change (None: the change is on Deployments),
/// with `resource_version` as its precondition.
pub fn cluster_patch(change: &Change, resource_version: &str) -> Option<Value> {
    let mut body = cluster_change(change)?;
    body["metadata"]["resourceVersion"] = resource_version.into();
    Some(body)
}

/// The fields a CephCluster change sets, as a merge patch without a precondition (None:
/// the change is on Deployments). Only a dryRun=All probe is sent so (`cluster_patch` for
/// every write).
pub fn cluster_change(change: &Change) -> Option<Value> {
    let body = match change {
        Change::SetImage { target: Target::Base, image } => json!({"spec": {"cephVersion": {"image": image}}}),
        Change::SetImage { target: Target::Type(t), image } => {
            json!({"spec": {"cephVersion": {"imageOverrides": {t.key(): image}}}})
        }
        Change::Unset(t) => json!({"spec": {"cephVersion": {"imageOverrides": {t.key(): null}}}}),
        Change::PauseCluster => json!({"metadata": {"labels": {DNR_LABEL: "true"}}}),
        Change::ResumeCluster => json!({"metadata": {"labels": {DNR_LABEL: null}}}),
        Change::Pause(_) | Change::Resume(_) | Change::Fence { .. } | Change::Unfence { .. } => return None,
    };
    Some(body)
}

/// The label patch of one Deployment. Removing the label from a fenced Deployment also
/// removes the fence's annotations, so nothing claims a fence that no longer holds.
pub fn label_patch(add: bool, fenced: bool) -> Value {
    if add {
        json!({"metadata": {"labels": {DNR_LABEL: "true"}}})
    } else if fenced {
        unfence_patch()
    } else {
        json!({"metadata": {"labels": {DNR_LABEL: null}}})
    }
}

/// The fence of one Deployment (DESIGN §3.2), one strategic merge patch: the label, the
/// annotations recording the pin, and every container running Ceph (and its
/// `CONTAINER_IMAGE`) rewritten to `image`, merged by container name so the Rook-image
/// helpers stay as they are. `metadata.resourceVersion` is the precondition.
pub fn fence_patch(d: &Daemon, image: &str, now: &str) -> Value {
    let replaced = d.fence.as_ref().and_then(|f| f.replaced.clone()).or_else(|| d.image.clone()).unwrap_or_default();
    // A container on its own image on purpose (NFS Ganesha, NVMe-oF gateway) keeps it:
    // only its CONTAINER_IMAGE names the new Ceph image (FACTS §6).
    let container = |c: &crate::model::CephContainer| {
        let mut v = json!({"name": c.name});
        if c.runs_ceph {
            v["image"] = image.into();
        }
        if c.has_env {
            v["env"] = json!([{"name": "CONTAINER_IMAGE", "value": image}]);
        }
        v
    };
    let inits: Vec<Value> = d.ceph_containers.iter().filter(|c| c.init).map(container).collect();
    let mains: Vec<Value> = d.ceph_containers.iter().filter(|c| !c.init).map(container).collect();
    let mut spec = json!({});
    if !inits.is_empty() {
        spec["initContainers"] = inits.into();
    }
    if !mains.is_empty() {
        spec["containers"] = mains.into();
    }
    json!({
        "metadata": {
            "resourceVersion": d.resource_version,
            "labels": {DNR_LABEL: "true"},
            "annotations": {FENCE_IMAGE: image, FENCE_REPLACED: replaced, FENCE_AT: now},
        },
        "spec": {"template": {"spec": spec}},
    })
}

/// Remove a fence: the label and the annotations (a merge patch; nothing else changes).
pub fn unfence_patch() -> Value {
    json!({"metadata": {
        "labels": {DNR_LABEL: null},
        "annotations": {FENCE_IMAGE: null, FENCE_REPLACED: null, FENCE_AT: null},
    }})
}

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
