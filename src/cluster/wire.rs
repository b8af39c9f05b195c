//! Typed partial views of the API objects: only the fields the plan needs are
//! deserialised (a real OSD Deployment is several KB; we keep a few hundred bytes), and
//! their conversion into the planner's model. Pure: unit-tested without a server.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::daemon::{DaemonId, DaemonType};
use crate::model::{
    CephContainer, Cluster, DNR_LABEL, Daemon, FENCE_AT, FENCE_IMAGE, FENCE_REPLACED, Fence, Pod, REPLACE_ANNOTATIONS,
    daemon_order,
};

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub resource_version: Option<String>,
    #[serde(default)]
    pub generation: Option<i64>,
    #[serde(default)]
    pub creation_timestamp: Option<String>,
    #[serde(default)]
    pub owner_references: Vec<OwnerRef>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OwnerRef {
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    #[serde(default, rename = "continue")]
    pub continue_: Option<String>,
    #[serde(default)]
    pub resource_version: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct List<T> {
    pub metadata: ListMeta,
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
}

/// Any object, for its metadata alone (e.g. a namespace).
#[derive(Debug, Clone, Deserialize)]
pub struct Named {
    pub metadata: Meta,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EnvVar {
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Container {
    pub name: String,
    #[serde(default)]
    pub image: Option<String>,
    /// Of the env (dozens of variables on an OSD), only `CONTAINER_IMAGE` is kept.
    #[serde(default, rename = "env", deserialize_with = "container_image_only")]
    pub container_image: Option<String>,
}

impl Container {
    pub fn container_image_env(&self) -> Option<&str> {
        self.container_image.as_deref()
    }
}

fn container_image_only<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct Visit;
    impl<'de> serde::de::Visitor<'de> for Visit {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of environment variables")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(e) = seq.next_element::<EnvVar>()? {
                if e.name == "CONTAINER_IMAGE" && found.is_none() {
                    found = e.value;
                }
            }
            Ok(found)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(Visit)
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default)]
    pub containers: Vec<Container>,
    #[serde(default)]
    pub init_containers: Vec<Container>,
    #[serde(default)]
    pub node_name: Option<String>,
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct PodTemplate {
    #[serde(default)]
    pub spec: PodSpec,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct DeploymentSpec {
    #[serde(default)]
    pub replicas: Option<i32>,
    #[serde(default)]
    pub template: PodTemplate,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Deployment {
    pub metadata: Meta,
    #[serde(default)]
    pub spec: DeploymentSpec,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct PodStatus {
    #[serde(default)]
    pub phase: Option<String>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// A pod's metadata as far as the plan needs it: no labels or annotations kept.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodMeta {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub owner_references: Vec<OwnerRef>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WirePod {
    pub metadata: PodMeta,
    #[serde(default)]
    pub spec: PodSpec,
    #[serde(default)]
    pub status: PodStatus,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CephVersionSpec {
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub image_overrides: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    #[serde(default)]
    pub osd_max_updates_in_parallel: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    #[serde(default)]
    pub ceph_version: Option<CephVersionSpec>,
    #[serde(default)]
    pub storage: Option<StorageSpec>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct VersionStatus {
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct CephStatus {
    #[serde(default)]
    pub versions: BTreeMap<String, BTreeMap<String, u64>>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct ClusterStatus {
    #[serde(default)]
    pub version: Option<VersionStatus>,
    #[serde(default)]
    pub ceph: Option<CephStatus>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CephCluster {
    pub metadata: Meta,
    #[serde(default)]
    pub spec: ClusterSpec,
    #[serde(default)]
    pub status: Option<ClusterStatus>,
}

impl CephCluster {
    pub fn into_model(self) -> Cluster {
        let cv = self.spec.ceph_version.unwrap_or_default();
        let status = self.status.unwrap_or_default();
        let version = status.version.unwrap_or_default();
        Cluster {
            namespace: self.metadata.namespace.unwrap_or_default(),
            name: self.metadata.name,
            resource_version: self.metadata.resource_version.unwrap_or_default(),
            generation: self.metadata.generation.unwrap_or(0),
            base_image: cv.image.unwrap_or_default(),
            overrides: cv.image_overrides,
            held: self.metadata.labels.contains_key(DNR_LABEL),
            status_image: version.image,
            status_version: version.version,
            ceph_versions: status.ceph.map(|c| c.versions).unwrap_or_default(),
            osd_max_updates_in_parallel: self.spec.storage.and_then(|s| s.osd_max_updates_in_parallel).unwrap_or(20),
        }
    }
}

/// The containers that run Ceph, by the same rule as `ceph_images`.
pub fn ceph_containers(spec: &PodSpec) -> Vec<CephContainer> {
    let main_env = spec.containers.iter().find_map(|c| c.container_image_env()).map(str::to_string);
    let tagged = |c: &Container, init: bool| {
        let has_env = c.container_image_env().is_some();
        (has_env || (main_env.is_some() && c.image == main_env)).then(|| CephContainer {
            name: c.name.clone(),
            init,
            has_env,
        })
    };
    spec.init_containers
        .iter()
        .filter_map(|c| tagged(c, true))
        .chain(spec.containers.iter().filter_map(|c| tagged(c, false)))
        .collect()
}

fn fence_of(annotations: &BTreeMap<String, String>) -> Option<Fence> {
    Some(Fence {
        image: annotations.get(FENCE_IMAGE)?.clone(),
        replaced: annotations.get(FENCE_REPLACED).cloned(),
        at: annotations.get(FENCE_AT).cloned(),
    })
}

/// The image of the daemon's main container and every image/`CONTAINER_IMAGE` value the
/// operator would rewrite. A container runs Ceph when it carries `CONTAINER_IMAGE` or runs
/// the image that variable names; Rook's helpers (mgr `watch-active`) do neither.
pub fn ceph_images(spec: &PodSpec) -> (Option<String>, Vec<String>) {
    let all = || spec.init_containers.iter().chain(&spec.containers);
    let main_env = spec.containers.iter().find_map(|c| c.container_image_env()).map(str::to_string);
    let main = spec
        .containers
        .iter()
        .find(|c| c.container_image_env().is_some())
        .and_then(|c| c.image.clone())
        .or_else(|| main_env.clone());
    let mut set = BTreeSet::new();
    for c in all() {
        let runs_ceph = c.container_image_env().is_some() || (main_env.is_some() && c.image == main_env);
        if runs_ceph {
            if let Some(i) = &c.image {
                set.insert(i.clone());
            }
            if let Some(e) = c.container_image_env() {
                set.insert(e.to_string());
            }
        }
    }
    (main, set.into_iter().collect())
}

fn daemon_id(d: &Deployment, t: DaemonType) -> Option<String> {
    let l = &d.metadata.labels;
    let id = match t {
        DaemonType::Crashcollector | DaemonType::Exporter => l.get("node_name"),
        DaemonType::Cephfsmirror => l.get("fs-mirror").or(l.get("ceph_daemon_id")),
        _ => l.get(t.id_label()).or(l.get("ceph_daemon_id")),
    };
    id.cloned().or_else(|| d.metadata.name.strip_prefix(&format!("{}-", t.app_label())).map(str::to_string))
}

/// The Deployment a pod belongs to: its ReplicaSet owner minus the template hash.
pub fn pod_deployment(p: &WirePod) -> Option<String> {
    let rs = p.metadata.owner_references.iter().find(|o| o.kind == "ReplicaSet")?;
    rs.name.rsplit_once('-').map(|(d, _)| d.to_string())
}

fn pod_model(p: WirePod) -> Pod {
    let ready = p.status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
    let (image, _) = ceph_images(&p.spec);
    Pod {
        name: p.metadata.name,
        node: p.spec.node_name,
        phase: p.status.phase.unwrap_or_else(|| "Unknown".into()),
        ready,
        image,
    }
}

/// One daemon per recognised Deployment, with its pods, in Rook's order.
pub fn daemons(deployments: Vec<Deployment>, pods: Vec<WirePod>) -> Vec<Daemon> {
    let mut by_deploy: BTreeMap<String, Vec<Pod>> = BTreeMap::new();
    for p in pods {
        if let Some(d) = pod_deployment(&p) {
            by_deploy.entry(d).or_default().push(pod_model(p));
        }
    }
    let mut out: Vec<Daemon> = deployments
        .into_iter()
        .filter_map(|d| {
            let t = DaemonType::from_app_label(d.metadata.labels.get("app")?)?;
            let id = daemon_id(&d, t)?;
            let (image, ceph_images) = ceph_images(&d.spec.template.spec);
            let mut pods = by_deploy.remove(&d.metadata.name).unwrap_or_default();
            pods.sort_by(|a, b| a.name.cmp(&b.name));
            let node = d
                .spec
                .template
                .spec
                .node_selector
                .get("kubernetes.io/hostname")
                .cloned()
                .or_else(|| pods.iter().find_map(|p| p.node.clone()));
            Some(Daemon {
                id: DaemonId::new(t, id),
                labelled: d.metadata.labels.contains_key(DNR_LABEL),
                under_replacement: REPLACE_ANNOTATIONS.iter().any(|a| d.metadata.annotations.contains_key(*a)),
                deployment: d.metadata.name,
                node,
                ceph_images,
                image,
                pods,
                resource_version: d.metadata.resource_version.clone().unwrap_or_default(),
                ceph_containers: ceph_containers(&d.spec.template.spec),
                fence: fence_of(&d.metadata.annotations),
                labels: d.metadata.labels,
            })
        })
        .collect();
    out.sort_by_key(daemon_order);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ceph_containers_are_found_and_rook_helpers_are_not() {
        let spec: PodSpec = serde_json::from_value(json!({
            "initContainers": [{"name": "chown", "image": "ceph:1", "env": [{"name": "CONTAINER_IMAGE", "value": "ceph:1"}]}],
            "containers": [
                {"name": "mgr", "image": "ceph:1", "env": [{"name": "CONTAINER_IMAGE", "value": "ceph:1"}]},
                {"name": "watch-active", "image": "rook:1", "env": [{"name": "ROOK_CLUSTER_ID", "value": "x"}]},
                {"name": "log-collector", "image": "ceph:1"}]
        }))
        .unwrap();
        assert_eq!(ceph_images(&spec), (Some("ceph:1".into()), vec!["ceph:1".into()]));
        let drifted: PodSpec = serde_json::from_value(json!({
            "containers": [{"name": "osd", "image": "ceph:2", "env": [{"name": "CONTAINER_IMAGE", "value": "ceph:1"}]}]
        }))
        .unwrap();
        assert_eq!(ceph_images(&drifted).1, vec!["ceph:1".to_string(), "ceph:2".to_string()]);
    }

    #[test]
    fn pods_join_their_deployment_and_daemons_sort_in_rook_order() {
        let dep = |name: &str, app: &str, idl: &str, id: &str| -> Deployment {
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": app, idl: id}},
                "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "ceph:1", "env": [{"name": "CONTAINER_IMAGE", "value": "ceph:1"}]}]}}}}))
            .unwrap()
        };
        let pod = |name: &str, rs: &str| -> WirePod {
            serde_json::from_value(json!({"metadata": {"name": name, "ownerReferences": [{"kind": "ReplicaSet", "name": rs}]},
                "spec": {"nodeName": "n1", "containers": []}, "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}))
            .unwrap()
        };
        let ds = daemons(
            vec![
                dep("rook-ceph-osd-10", "rook-ceph-osd", "ceph-osd-id", "10"),
                dep("rook-ceph-osd-9", "rook-ceph-osd", "ceph-osd-id", "9"),
                dep("rook-ceph-mon-a", "rook-ceph-mon", "mon", "a"),
                dep("something-else", "nginx", "x", "y"),
            ],
            vec![pod("rook-ceph-osd-9-abcdefghij-xyz12", "rook-ceph-osd-9-abcdefghij")],
        );
        let ids: Vec<String> = ds.iter().map(|d| d.id.to_string()).collect();
        assert_eq!(ids, ["mon.a", "osd.9", "osd.10"]);
        assert_eq!(ds[1].pods.len(), 1);
        assert!(ds[1].pods[0].ready);
        assert_eq!(ds[1].node.as_deref(), Some("n1"));
    }
}
