//! Writes: JSON merge patches of only the changed fields, `fieldManager=kubectl-ceph-image`,
//! the CephCluster's `metadata.resourceVersion` as a precondition. Never a PUT of an object
//! read earlier, so no field the plugin does not model can be lost.

use futures::StreamExt;
use kube::api::{Patch, PatchParams, ValidationDirective};
use kube::core::Request;
use serde_json::{Value, json};

use super::api::{Kube, What, request_error};
use super::read::{CEPHCLUSTERS, cluster_path, deployments_path};
use super::wire::{CephCluster, Deployment};
use crate::error::Result;
use crate::model::{DNR_LABEL, FIELD_MANAGER};
use crate::plan::{Change, Target};

/// The exact merge patch for a CephCluster change (None: the change is on Deployments).
pub fn cluster_patch(change: &Change, resource_version: &str) -> Option<Value> {
    let body = match change {
        Change::SetImage { target: Target::Base, image } => json!({"spec": {"cephVersion": {"image": image}}}),
        Change::SetImage { target: Target::Type(t), image } => {
            json!({"spec": {"cephVersion": {"imageOverrides": {t.key(): image}}}})
        }
        Change::Unset(t) => json!({"spec": {"cephVersion": {"imageOverrides": {t.key(): null}}}}),
        Change::PauseCluster => json!({"metadata": {"labels": {DNR_LABEL: "true"}}}),
        Change::ResumeCluster => json!({"metadata": {"labels": {DNR_LABEL: null}}}),
        Change::Pause(_) | Change::Resume(_) => return None,
    };
    let mut body = body;
    body["metadata"]["resourceVersion"] = resource_version.into();
    Some(body)
}

/// The label patch of one Deployment.
pub fn label_patch(add: bool) -> Value {
    if add {
        json!({"metadata": {"labels": {DNR_LABEL: "true"}}})
    } else {
        json!({"metadata": {"labels": {DNR_LABEL: null}}})
    }
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

pub async fn patch_cluster(kube: &Kube, ns: &str, name: &str, patch: &Value, dry_run: bool) -> Result<CephCluster> {
    let what = What::new("patch", format!("{CEPHCLUSTERS} \"{name}\""), Some(ns));
    let req =
        Request::new(cluster_path(ns)).patch(name, &params(dry_run), &Patch::Merge(patch)).map_err(request_error)?;
    kube.json(req, &what).await
}

pub async fn patch_deployment(kube: &Kube, ns: &str, name: &str, patch: &Value, dry_run: bool) -> Result<Deployment> {
    let what = What::new("patch", format!("deployments.apps \"{name}\""), Some(ns));
    let req = Request::new(deployments_path(ns))
        .patch(name, &params(dry_run), &Patch::Merge(patch))
        .map_err(request_error)?;
    kube.json(req, &what).await
}

/// How many label patches are in flight at once: enough to finish 200 OSDs quickly,
/// few enough not to trip API priority and fairness.
pub const CONCURRENCY: usize = 16;

/// Label or unlabel many Deployments concurrently (bounded); every result, in input order.
/// Idempotent, so running it again completes what a failed run left.
pub async fn label_many(
    kube: &Kube,
    ns: &str,
    names: &[String],
    add: bool,
    dry_run: bool,
) -> Vec<(String, Result<Deployment>)> {
    let patch = label_patch(add);
    let mut results: Vec<(usize, String, Result<Deployment>)> = futures::stream::iter(names.iter().enumerate())
        .map(|(i, n)| {
            let patch = &patch;
            async move { (i, n.clone(), patch_deployment(kube, ns, n, patch, dry_run).await) }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    results.sort_by_key(|(i, _, _)| *i);
    results.into_iter().map(|(_, n, r)| (n, r)).collect()
}
