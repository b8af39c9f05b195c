//! Reading a CephCluster and its daemons: the CephCluster list of the namespace and one
//! paginated LIST each of Deployments and Pods (`limit=500`, `continue`), all three sent
//! at once. A 2000-OSD cluster costs a handful of requests.

use kube::api::ListParams;
use kube::core::Request;
use serde::de::DeserializeOwned;

use super::api::{Kube, What, request_error};
use super::wire::{CephCluster, List};
use crate::classify::{DeploymentRecords, PodRecords, classify_records};
use crate::error::{Error, Result};
use crate::model::Snapshot;

pub const PAGE: u32 = 500;
pub const CEPHCLUSTERS: &str = "cephclusters.ceph.rook.io";

pub fn cluster_path(ns: &str) -> String {
    format!("/apis/ceph.rook.io/v1/namespaces/{ns}/cephclusters")
}
pub fn deployments_path(ns: &str) -> String {
    format!("/apis/apps/v1/namespaces/{ns}/deployments")
}
pub fn pods_path(ns: &str) -> String {
    format!("/api/v1/namespaces/{ns}/pods")
}

/// `rook_cluster=<ns>`: every Deployment and Pod Rook made for the cluster, not only the
/// apps the plugin knows, so that classification can say what each one is and nothing is
/// silently left out (a floating mon, NVMe-oF gateways, canaries, maintenance copies).
pub fn daemon_selector(ns: &str) -> String {
    format!("rook_cluster={ns}")
}

/// One page of a LIST as the plugin sends it: `labelSelector`, `limit` and, after the first
/// page, the `continue` token the page before gave.
pub fn list_request(path: &str, selector: &str, limit: u32, token: Option<&str>) -> Result<http::Request<Vec<u8>>> {
    let mut lp = ListParams::default().labels(selector).limit(limit);
    if let Some(t) = token {
        lp = lp.continue_token(t);
    }
    Request::new(path).list(&lp).map_err(request_error)
}

/// Every item of a LIST and the list's resourceVersion (a watch starts from it).
pub struct Listed<T> {
    pub items: Vec<T>,
    pub resource_version: String,
}

/// Every item of a LIST, 500 at a time (see `list_fold`).
pub async fn list_all<T: DeserializeOwned>(kube: &Kube, path: &str, selector: &str, what: &What) -> Result<Listed<T>> {
    let (items, resource_version) = list_fold(kube, path, selector, what, Vec::new, |v, t| v.push(t)).await?;
    Ok(Listed { items, resource_version })
}

/// A LIST, 500 at a time, each item handed to `fold` as its page arrives and the page
/// then dropped: memory holds one page and what `fold` keeps of it, whatever the size of
/// the cluster. Returns what was folded and the list's resourceVersion (a watch starts
/// from it). A continue token that expired (410) restarts the list once, as kubectl does,
/// from a fresh `start()`.
pub async fn list_fold<T: DeserializeOwned, S>(
    kube: &Kube,
    path: &str,
    selector: &str,
    what: &What,
    mut start: impl FnMut() -> S,
    mut fold: impl FnMut(&mut S, T),
) -> Result<(S, String)> {
    pages_back_to_the_system();
    let mut restarted = false;
    'outer: loop {
        let mut state = start();
        let mut token: Option<String> = None;
        let mut resource_version = None;
        loop {
            let req = list_request(path, selector, PAGE, token.as_deref())?;
            let page: List<T> = match kube.json(req, what).await {
                Ok(p) => p,
                Err(e) if e.api_code() == Some(410) && token.is_some() && !restarted => {
                    restarted = true;
                    continue 'outer;
                }
                Err(e) => return Err(e),
            };
            for item in page.items {
                fold(&mut state, item);
            }
            // the first page's resourceVersion is the list's
            resource_version = resource_version.or(page.metadata.resource_version);
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(c) => token = Some(c),
                None => return Ok((state, resource_version.unwrap_or_else(|| "0".into()))),
            }
        }
    }
}

/// A LIST page is the one large allocation here (500 OSD Deployments are about 7 MB of
/// JSON, held twice while the body is joined) and it lives only until it is folded. glibc
/// raises its mmap threshold to the size of the largest block freed (up to 32 MiB), so
/// after the first page every page lands in the heap arenas, whose high-water mark stays
/// resident: at 2000 OSDs 20 of the 52 MiB of `status`. A fixed threshold keeps blocks
/// of 256 KiB and more mapped on their own, so each page goes back to the system when it
/// is dropped. Other allocators (musl) return such blocks anyway.
fn pages_back_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            use std::ffi::c_int;
            unsafe extern "C" {
                fn mallopt(param: c_int, value: c_int) -> c_int;
            }
            const M_MMAP_THRESHOLD: c_int = -3;
            // SAFETY: mallopt is glibc's, takes its own lock, and changes only where later
            // allocations come from; no memory is touched.
            unsafe { mallopt(M_MMAP_THRESHOLD, 256 * 1024) };
        });
    }
}

/// The CephCluster to work on: `--cluster` when given, else the only one in the namespace.
pub async fn find_cluster(kube: &Kube, ns: &str, name: Option<&str>) -> Result<CephCluster> {
    let (items, _) = list_clusters(kube, ns).await?;
    choose_cluster(kube, ns, name, items).await
}

/// Every CephCluster of the namespace (one LIST, unpaged: a namespace holds one or a
/// few) and the list's resourceVersion. No CephCluster type at all (404) is said as such.
pub async fn list_clusters(kube: &Kube, ns: &str) -> Result<(Vec<CephCluster>, String)> {
    let what = What::new("list", CEPHCLUSTERS, Some(ns));
    let req = Request::new(cluster_path(ns)).list(&ListParams::default()).map_err(request_error)?;
    match kube.json::<List<CephCluster>>(req, &what).await {
        Ok(l) => Ok((l.items, l.metadata.resource_version.unwrap_or_else(|| "0".into()))),
        Err(e) if e.api_code() == Some(404) => Err(Error::Refused(format!(
            "the cluster has no CephCluster resource type ({CEPHCLUSTERS}): is Rook installed? (kubectl get crd {CEPHCLUSTERS})"
        ))),
        Err(e) => Err(e),
    }
}

/// Of the namespace's CephClusters (`items`, in the API's order), the one named `name`,
/// else the only one; none or several is a usage error that names them (with none, one
/// more request says whether the namespace exists or where CephClusters are).
pub async fn choose_cluster(
    kube: &Kube,
    ns: &str,
    name: Option<&str>,
    mut items: Vec<CephCluster>,
) -> Result<CephCluster> {
    if let Some(n) = name {
        return match items.iter().position(|c| c.metadata.name == n) {
            Some(i) => Ok(items.swap_remove(i)),
            None => {
                Err(Error::usage(format!("no CephCluster named {n:?} in namespace {ns}; {}", names_hint(&items, ns))))
            }
        };
    }
    match items.len() {
        1 => Ok(items.remove(0)),
        0 => Err(no_cluster(kube, ns).await),
        _ => Err(Error::usage(format!(
            "namespace {ns} has {} CephClusters: choose one with --cluster NAME ({})",
            items.len(),
            items.iter().map(|c| c.metadata.name.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

fn names_hint(items: &[CephCluster], ns: &str) -> String {
    if items.is_empty() {
        format!("namespace {ns} has none")
    } else {
        format!("it has: {}", items.iter().map(|c| c.metadata.name.as_str()).collect::<Vec<_>>().join(", "))
    }
}

/// Why a namespace has no CephCluster: it does not exist, or the clusters are elsewhere.
async fn no_cluster(kube: &Kube, ns: &str) -> Error {
    let what = What::new("get", format!("namespaces \"{ns}\""), None);
    let req = match Request::new("/api/v1/namespaces").get(ns, &Default::default()) {
        Ok(r) => r,
        Err(e) => return request_error(e),
    };
    match kube.send(req, &what).await {
        Err(e) if e.api_code() == Some(404) => {
            return Error::usage(format!("namespace {ns:?} does not exist: pass the CephCluster's namespace with -n"));
        }
        Err(e) if e.api_code() != Some(403) => return e,
        _ => {}
    }
    // Where are the CephClusters, then? (may be forbidden cluster-wide: then just say so)
    let what = What::new("list", CEPHCLUSTERS, None);
    let elsewhere: Vec<String> = match Request::new("/apis/ceph.rook.io/v1/cephclusters").list(&ListParams::default()) {
        Ok(req) => match kube.json::<List<CephCluster>>(req, &what).await {
            Ok(l) => l
                .items
                .iter()
                .map(|c| format!("{}/{}", c.metadata.namespace.as_deref().unwrap_or(""), c.metadata.name))
                .collect(),
            Err(_) => vec![],
        },
        Err(_) => vec![],
    };
    if elsewhere.is_empty() {
        Error::usage(format!("no CephCluster in namespace {ns}: pass the CephCluster's namespace with -n"))
    } else {
        Error::usage(format!(
            "no CephCluster in namespace {ns}; CephClusters exist in: {} (pass -n NAMESPACE)",
            elsewhere.join(", ")
        ))
    }
}

/// The CephCluster and every daemon Deployment and Pod of it, each LIST page reduced to
/// compact records as it arrives (DESIGN §8: memory does not grow with the bytes read).
pub async fn snapshot(kube: &Kube, ns: &str, cluster: Option<&str>) -> Result<Snapshot> {
    let sel = daemon_selector(ns);
    let (dpath, ppath) = (deployments_path(ns), pods_path(ns));
    let dwhat = What::new("list", "deployments.apps", Some(ns));
    let pwhat = What::new("list", "pods", Some(ns));
    let (c, deployments, pods) = tokio::join!(
        find_cluster(kube, ns, cluster),
        list_fold(kube, &dpath, &sel, &dwhat, DeploymentRecords::default, DeploymentRecords::add),
        list_fold(kube, &ppath, &sel, &pwhat, PodRecords::default, PodRecords::add),
    );
    let cluster = c?.into_model();
    Ok(classify_records(cluster, deployments?.0, pods?.0))
}

/// GET the CephCluster (to read back a write).
pub async fn get_cluster(kube: &Kube, ns: &str, name: &str) -> Result<CephCluster> {
    let what = What::new("get", format!("{CEPHCLUSTERS} \"{name}\""), Some(ns));
    let req = Request::new(cluster_path(ns)).get(name, &Default::default()).map_err(request_error)?;
    kube.json(req, &what).await
}

/// Does this cluster's CRD have `spec.cephVersion.imageOverrides`?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Yes,
    No,
    /// Reading the CRD is forbidden: a dry-run write must tell.
    Unknown,
}

pub async fn overrides_support(kube: &Kube) -> Result<Support> {
    overrides_support_why(kube).await.map(|(s, _)| s)
}

/// As [`overrides_support`], with the server's words when reading the CRD is forbidden.
pub async fn overrides_support_why(kube: &Kube) -> Result<(Support, Option<String>)> {
    let what = What::new("get", format!("customresourcedefinitions.apiextensions.k8s.io \"{CEPHCLUSTERS}\""), None);
    let req = Request::new("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
        .get(CEPHCLUSTERS, &Default::default())
        .map_err(request_error)?;
    let crd: serde_json::Value = match kube.json(req, &what).await {
        Ok(v) => v,
        Err(e) if e.api_code() == Some(403) => return Ok((Support::Unknown, Some(super::api::first_line(&e)))),
        Err(e) => return Err(e),
    };
    Ok((if crd_has_overrides(&crd) { Support::Yes } else { Support::No }, None))
}

/// Every served version's schema must carry the field, or the API server may prune it.
pub fn crd_has_overrides(crd: &serde_json::Value) -> bool {
    let Some(versions) = crd.pointer("/spec/versions").and_then(|v| v.as_array()) else { return false };
    let served: Vec<&serde_json::Value> =
        versions.iter().filter(|v| v.get("served").and_then(|s| s.as_bool()).unwrap_or(true)).collect();
    !served.is_empty()
        && served.iter().all(|v| {
            v.pointer("/schema/openAPIV3Schema/properties/spec/properties/cephVersion/properties/imageOverrides")
                .is_some()
        })
}
