//! Deployments and Pods of a cluster -> daemons, copies that are not daemons, and
//! Deployments the plugin does not handle (with the reason). Nothing read is silently
//! left out: `deployments_read` = daemons + copies + not handled. Pure: unit-tested on the
//! field shapes (`../shared/field`, FACTS §6) without a server.
//!
//! Which containers run Ceph is decided by image, not by env: a container runs Ceph when
//! its image is a Ceph image of this cluster (the base image, an override, what Rook
//! detected, a `CONTAINER_IMAGE` value of the Deployment, a fence's images). An NFS
//! Ganesha or NVMe-oF gateway container carries `CONTAINER_IMAGE` but runs its own image
//! on purpose; Rook's helpers (mgr `watch-active`, old-Rook and KMS init containers) run
//! the operator image.

use std::collections::{BTreeMap, BTreeSet};

use crate::cluster::wire::{Container, Deployment, PodSpec, WirePod, pod_deployment};
use crate::daemon::{DaemonId, DaemonType};
use crate::model::{
    CephContainer, Cluster, Copy, DNR_LABEL, Daemon, FENCE_AT, FENCE_IMAGE, FENCE_REPLACED, Fence, NotHandled, Pod,
    REPLACE_ANNOTATIONS, Snapshot, daemon_order,
};

/// The floating mon of a two-node DRBD cluster (Rook v1.20): a real mon under another app
/// label, so Rook's skip query (`app=rook-ceph-mon`) never finds its label (FACTS §6).
pub const FLOATING_MON_APP: &str = "rook-ceph-floating-mon";
const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// What one Deployment is.
enum Kind {
    Daemon { dtype: DaemonType, id: String, floating: bool },
    Copy { kind: &'static str, of: Option<String> },
    NotHandled(String),
}

fn type_of_app(app: &str) -> Option<(DaemonType, bool)> {
    if app == FLOATING_MON_APP {
        return Some((DaemonType::Mon, true));
    }
    DaemonType::from_app_label(app).map(|t| (t, false))
}

/// The daemon id from the type's id label (FACTS §3), `ceph_daemon_id` on older Rook, or
/// the Deployment name after `rook-ceph-<type>-`.
fn daemon_id(d: &Deployment, t: DaemonType) -> Option<String> {
    let l = &d.metadata.labels;
    let id = match t {
        DaemonType::Crashcollector | DaemonType::Exporter => l.get("node_name").or(l.get(HOSTNAME_LABEL)),
        _ => l.get(t.id_label()).or(l.get("ceph_daemon_id")),
    };
    id.filter(|v| !v.is_empty())
        .cloned()
        .or_else(|| d.metadata.name.strip_prefix(&format!("{}-", t.app_label())).map(str::to_string))
}

fn kind(d: &Deployment) -> Kind {
    let l = &d.metadata.labels;
    let Some(app) = l.get("app") else {
        return Kind::NotHandled("no app label: not a Rook daemon Deployment".into());
    };
    let Some((dtype, floating)) = type_of_app(app) else {
        return Kind::NotHandled(format!("app={app} is not a Ceph daemon type the plugin plans for"));
    };
    let id = daemon_id(d, dtype);
    let of = id.as_ref().map(|i| DaemonId::new(dtype, i.clone()).to_string());
    let name = d.metadata.name.as_str();
    if l.get("mon_canary").is_some_and(|v| v == "true") || name.ends_with("-canary") {
        return Kind::Copy { kind: "mon canary", of };
    }
    if name.ends_with("-maintenance") {
        return Kind::Copy { kind: "maintenance copy", of };
    }
    if name.ends_with("-debug") {
        return Kind::Copy { kind: "debug copy", of };
    }
    match id {
        Some(id) => Kind::Daemon { dtype, id, floating },
        None => Kind::NotHandled(format!("app={app} but no {} label: cannot tell which daemon", dtype.id_label())),
    }
}

/// The Ceph images of this cluster, before looking at any Deployment.
fn cluster_images(c: &Cluster) -> BTreeSet<String> {
    let mut s: BTreeSet<String> = c.overrides.values().cloned().collect();
    s.insert(c.base_image.clone());
    s.extend(c.status_image.clone());
    s.remove("");
    s
}

fn containers(spec: &PodSpec) -> impl Iterator<Item = (&Container, bool)> {
    spec.init_containers.iter().map(|c| (c, true)).chain(spec.containers.iter().map(|c| (c, false)))
}

/// The Ceph images a pod spec may run: the cluster's plus its own `CONTAINER_IMAGE`
/// values and a fence's images.
fn ceph_set(cluster: &BTreeSet<String>, spec: &PodSpec, fence: Option<&Fence>) -> BTreeSet<String> {
    let mut s = cluster.clone();
    s.extend(containers(spec).filter_map(|(c, _)| c.container_image_env().map(str::to_string)));
    if let Some(f) = fence {
        s.insert(f.image.clone());
        s.extend(f.replaced.clone());
    }
    s.remove("");
    s
}

/// What runs Ceph in a pod spec: the containers the fence rewrites, the image of the
/// daemon's main Ceph container, every image and `CONTAINER_IMAGE` value the operator
/// would rewrite, and the containers that run their own image on purpose.
pub struct CephParts {
    pub containers: Vec<CephContainer>,
    pub main: Option<String>,
    pub images: Vec<String>,
    pub own_images: Vec<(String, String)>,
}

pub fn ceph_parts(spec: &PodSpec, ceph: &BTreeSet<String>) -> CephParts {
    let runs = |c: &Container| c.image.as_ref().is_some_and(|i| ceph.contains(i));
    let mut out = CephParts { containers: vec![], main: None, images: vec![], own_images: vec![] };
    let mut images = BTreeSet::new();
    for (c, init) in containers(spec) {
        let has_env = c.container_image_env().is_some();
        let runs_ceph = runs(c);
        if runs_ceph || has_env {
            out.containers.push(CephContainer { name: c.name.clone(), init, has_env, runs_ceph });
        }
        if runs_ceph {
            images.extend(c.image.clone());
        }
        if let Some(e) = c.container_image_env() {
            images.insert(e.to_string());
        }
        if has_env && !runs_ceph {
            out.own_images.push((c.name.clone(), c.image.clone().unwrap_or_default()));
        }
    }
    // The main Ceph container: the first main container that runs Ceph and carries the
    // variable, else the first that runs Ceph, else what the variable names.
    out.main = spec
        .containers
        .iter()
        .find(|c| runs(c) && c.container_image_env().is_some())
        .or_else(|| spec.containers.iter().find(|c| runs(c)))
        .and_then(|c| c.image.clone())
        .or_else(|| spec.containers.iter().find_map(|c| c.container_image_env().map(str::to_string)));
    out.images = images.into_iter().collect();
    out
}

/// The image of a pod's (or pod template's) main Ceph container, judged by its own
/// `CONTAINER_IMAGE` values alone: for following a rollout to a known image.
pub fn main_image(spec: &PodSpec, also: Option<&str>) -> Option<String> {
    let mut set = ceph_set(&BTreeSet::new(), spec, None);
    set.extend(also.map(str::to_string));
    ceph_parts(spec, &set).main
}

/// Every Ceph image a pod template runs, judged as `main_image` is.
pub fn images(spec: &PodSpec, also: Option<&str>) -> Vec<String> {
    let mut set = ceph_set(&BTreeSet::new(), spec, None);
    set.extend(also.map(str::to_string));
    ceph_parts(spec, &set).images
}

fn fence_of(annotations: &BTreeMap<String, String>) -> Option<Fence> {
    Some(Fence {
        image: annotations.get(FENCE_IMAGE)?.clone(),
        replaced: annotations.get(FENCE_REPLACED).cloned(),
        at: annotations.get(FENCE_AT).cloned(),
    })
}

fn pod_model(p: WirePod, ceph: &BTreeSet<String>) -> Pod {
    let ready = p.status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
    let image = ceph_parts(&p.spec, ceph).main;
    Pod {
        name: p.metadata.name,
        node: p.spec.node_name,
        phase: p.status.phase.unwrap_or_else(|| "Unknown".into()),
        ready,
        image,
        terminating: p.metadata.deletion_timestamp.is_some(),
    }
}

/// `19.2.3` from a `ceph-version` label or `status.version` (`19.2.3-0`).
fn version_text(v: &str) -> Option<String> {
    crate::image::parse_version(v).map(|v| v.to_string())
}

fn rook_version_key(v: &str) -> Option<(u32, u32, u32)> {
    let mut it = v.strip_prefix('v')?.splitn(3, '.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    let patch = it.next().map(|p| p.split(|c: char| !c.is_ascii_digit()).next().unwrap_or("0")).unwrap_or("0");
    Some((major, minor, patch.parse().unwrap_or(0)))
}

/// The snapshot the planner works on: every Deployment of the cluster classified, pods
/// joined to their Deployment, one node identity, the versions Rook knows.
pub fn classify(cluster: Cluster, deployments: Vec<Deployment>, pods: Vec<WirePod>) -> Snapshot {
    let known = cluster_images(&cluster);
    let mut pods_by_deploy: BTreeMap<String, Vec<WirePod>> = BTreeMap::new();
    for p in pods {
        if let Some(d) = pod_deployment(&p) {
            pods_by_deploy.entry(d).or_default().push(p);
        }
    }
    let deployments_read = deployments.len();
    let mut daemons = Vec::new();
    let mut copies = Vec::new();
    let mut not_handled = Vec::new();
    // (app, id) of every labelled Deployment: Rook's skip set per type (FACTS §2, §6).
    let mut skip: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut versions: BTreeMap<String, String> = BTreeMap::new();
    if let (Some(i), Some(v)) = (&cluster.status_image, cluster.status_version.as_deref().and_then(version_text)) {
        versions.insert(i.clone(), v);
    }
    let mut rook_version: Option<String> = None;
    for d in deployments {
        let fence = fence_of(&d.metadata.annotations);
        let ceph = ceph_set(&known, &d.spec.template.spec, fence.as_ref());
        let wire_pods = pods_by_deploy.remove(&d.metadata.name).unwrap_or_default();
        let mut pods: Vec<Pod> = wire_pods.into_iter().map(|p| pod_model(p, &ceph)).collect();
        pods.sort_by(|a, b| a.name.cmp(&b.name));
        let labelled = d.metadata.labels.contains_key(DNR_LABEL);
        let hostname = d.spec.template.spec.node_selector.get(HOSTNAME_LABEL).cloned();
        let node = pods
            .iter()
            .filter(|p| p.replaced_by_rollout())
            .find_map(|p| p.node.clone())
            .or_else(|| pods.iter().find_map(|p| p.node.clone()));
        if let Some(app) = d.metadata.labels.get("app")
            && labelled
            && let Some((t, _)) = type_of_app(app)
            && let Some(id) = daemon_id(&d, t)
        {
            skip.entry((app.clone(), id)).or_insert_with(|| d.metadata.name.clone());
        }
        match kind(&d) {
            Kind::NotHandled(reason) => not_handled.push(NotHandled {
                deployment: d.metadata.name,
                app: d.metadata.labels.get("app").cloned(),
                reason,
            }),
            Kind::Copy { kind, of } => copies.push(Copy {
                deployment: d.metadata.name,
                kind,
                of,
                labelled,
                pods: pods.iter().filter(|p| p.replaced_by_rollout()).count(),
                node: node.or(hostname),
            }),
            Kind::Daemon { dtype, id, floating } => {
                let parts = ceph_parts(&d.spec.template.spec, &ceph);
                if fence.is_none()
                    && let (Some(main), Some(v)) =
                        (&parts.main, d.metadata.labels.get("ceph-version").and_then(|v| version_text(v)))
                {
                    versions.entry(main.clone()).or_insert(v);
                }
                if let Some(rv) = d.metadata.labels.get("rook-version")
                    && rook_version_key(rv) > rook_version.as_deref().and_then(rook_version_key)
                {
                    rook_version = Some(rv.clone());
                }
                // crash and exporter name their node in `node_name` (FACTS §6).
                let named_node = matches!(dtype, DaemonType::Crashcollector | DaemonType::Exporter)
                    .then(|| d.metadata.labels.get("node_name").cloned())
                    .flatten();
                daemons.push(Daemon {
                    id: DaemonId::new(dtype, id),
                    labelled,
                    label_holds: !floating,
                    held_by: None,
                    under_replacement: REPLACE_ANNOTATIONS.iter().any(|a| d.metadata.annotations.contains_key(*a)),
                    node: node.or(named_node),
                    hostname,
                    replicas: d.spec.replicas,
                    rook_version: d.metadata.labels.get("rook-version").cloned(),
                    own_images: parts.own_images,
                    ceph_images: parts.images,
                    image: parts.main,
                    pods,
                    resource_version: d.metadata.resource_version.clone().unwrap_or_default(),
                    ceph_containers: parts.containers,
                    fence,
                    deployment: d.metadata.name,
                    labels: d.metadata.labels,
                });
            }
        }
    }
    // Held by another Deployment's label: Rook looks up `app=<type app>` Deployments with
    // the label and skips every daemon whose id label matches (a maintenance copy holds
    // the real OSD; the floating mon's own label holds nothing).
    for d in &mut daemons {
        if let Some(by) = skip.get(&(d.id.dtype.app_label().to_string(), d.id.id.clone()))
            && *by != d.deployment
        {
            d.held_by = Some(by.clone());
        }
    }
    // One node identity: where a pod told the node name for a hostname label value, a
    // daemon with no pod on that node gets the name too.
    let names: BTreeMap<String, String> = daemons
        .iter()
        .filter_map(|d| Some((d.hostname.clone()?, d.pods.iter().find_map(|p| p.node.clone())?)))
        .collect();
    for d in &mut daemons {
        if d.node.is_none() {
            d.node = d.hostname.as_ref().map(|h| names.get(h).cloned().unwrap_or_else(|| h.clone()));
        }
    }
    daemons.sort_by_key(daemon_order);
    copies.sort_by(|a, b| a.deployment.cmp(&b.deployment));
    not_handled.sort_by(|a, b| a.deployment.cmp(&b.deployment));
    Snapshot { cluster, daemons, copies, not_handled, deployments_read, versions, rook_version }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    fn set(images: &[&str]) -> BTreeSet<String> {
        images.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ceph_containers_are_found_by_image_and_helpers_are_not() {
        let s = spec(json!({
            "initContainers": [{"name": "chown", "image": "ceph:1"}],
            "containers": [
                {"name": "mgr", "image": "ceph:1", "env": [{"name": "CONTAINER_IMAGE", "value": "ceph:1"}]},
                {"name": "watch-active", "image": "rook:1", "env": [{"name": "ROOK_CLUSTER_ID", "value": "x"}]},
                {"name": "log-collector", "image": "ceph:1"}]
        }));
        let p = ceph_parts(&s, &ceph_set(&set(&["ceph:1"]), &s, None));
        assert_eq!(p.main.as_deref(), Some("ceph:1"));
        assert_eq!(p.images, ["ceph:1"]);
        let names: Vec<&str> = p.containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["chown", "mgr", "log-collector"], "watch-active runs the Rook image");
        assert!(p.own_images.is_empty());
    }

    #[test]
    fn an_nfs_ganesha_container_keeps_its_own_image() {
        let s = spec(json!({
            "initContainers": [{"name": "generate-minimal-ceph-conf", "image": "ceph:19", "env": [{"name": "CONTAINER_IMAGE", "value": "ceph:19"}]}],
            "containers": [
                {"name": "nfs-ganesha", "image": "ganesha:5", "env": [{"name": "CONTAINER_IMAGE", "value": "ceph:19"}]},
                {"name": "dbus-daemon", "image": "ganesha:5"}]
        }));
        let p = ceph_parts(&s, &ceph_set(&set(&["ceph:19"]), &s, None));
        assert_eq!(p.images, ["ceph:19"], "the Ganesha image is not drift");
        assert_eq!(p.own_images, [("nfs-ganesha".to_string(), "ganesha:5".to_string())]);
        let ganesha = p.containers.iter().find(|c| c.name == "nfs-ganesha").unwrap();
        assert!(ganesha.has_env && !ganesha.runs_ceph, "the fence rewrites its variable, never its image");
        assert!(!p.containers.iter().any(|c| c.name == "dbus-daemon"));
    }

    #[test]
    fn a_drifted_daemon_is_still_ceph_through_its_variable() {
        let s = spec(
            json!({"containers": [{"name": "rgw", "image": "ceph:v19.2.0", "env": [{"name": "CONTAINER_IMAGE", "value": "ceph:v19.2.0"}]}]}),
        );
        let p = ceph_parts(&s, &ceph_set(&set(&["ceph:v19.2.1"]), &s, None));
        assert_eq!(p.images, ["ceph:v19.2.0"]);
        assert_eq!(p.main.as_deref(), Some("ceph:v19.2.0"));
    }
}
