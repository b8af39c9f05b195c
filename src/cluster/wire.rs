//! Typed partial views of the API objects: only the fields the plan needs are
//! deserialised (a real OSD Deployment is several KB; we keep a few hundred bytes), and
//! their conversion into the planner's model. Pure: unit-tested without a server.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::{Cluster, DNR_LABEL, Manager};

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
    #[serde(default)]
    pub controller: Option<bool>,
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
    #[serde(default)]
    pub deletion_timestamp: Option<String>,
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
pub struct ExternalSpec {
    #[serde(default)]
    pub enable: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    #[serde(default)]
    pub ceph_version: Option<CephVersionSpec>,
    #[serde(default)]
    pub storage: Option<StorageSpec>,
    #[serde(default)]
    pub external: Option<ExternalSpec>,
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
    #[serde(default)]
    pub health: Option<String>,
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
        let managers = managers(&self.metadata);
        let health = status.ceph.as_ref().and_then(|c| c.health.clone());
        Cluster {
            external: self.spec.external.is_some_and(|e| e.enable),
            managers,
            health,
            upgrade: self.metadata.annotations.get(crate::model::UPGRADE_STATE).cloned(),
            namespace: self.metadata.namespace.unwrap_or_default(),
            name: self.metadata.name,
            resource_version: self.metadata.resource_version.unwrap_or_default(),
            generation: self.metadata.generation.unwrap_or(0),
            base_image: cv.image.unwrap_or_default(),
            overrides: cv.image_overrides,
            held: self.metadata.labels.contains_key(DNR_LABEL),
            status_image: version.image.filter(|i| !i.is_empty()),
            status_version: version.version.filter(|v| !v.is_empty()),
            ceph_versions: status.ceph.map(|c| c.versions).unwrap_or_default(),
            osd_max_updates_in_parallel: self.spec.storage.and_then(|s| s.osd_max_updates_in_parallel).unwrap_or(20),
        }
    }
}

/// Who else writes this CephCluster's spec, from its metadata (FACTS §6): a controller
/// ownerReference (ODF's `StorageCluster`), Helm (`app.kubernetes.io/managed-by: Helm`,
/// `meta.helm.sh/release-name`), Flux (`kustomize.toolkit.fluxcd.io/*`,
/// `helm.toolkit.fluxcd.io/*`) and Argo CD (`argocd.argoproj.io/*`) markers.
pub fn managers(m: &Meta) -> Vec<Manager> {
    let mut out: Vec<Manager> = m
        .owner_references
        .iter()
        .filter(|o| o.controller == Some(true))
        .map(|o| Manager { tool: o.kind.clone(), name: o.name.clone(), controller: true })
        .collect();
    let any = |prefix: &str| m.labels.keys().chain(m.annotations.keys()).any(|k| k.starts_with(prefix));
    let get = |k: &str| m.labels.get(k).or(m.annotations.get(k)).cloned();
    if m.labels.get("app.kubernetes.io/managed-by").is_some_and(|v| v == "Helm") || any("meta.helm.sh/") {
        let name = get("meta.helm.sh/release-name").or(get("app.kubernetes.io/instance")).unwrap_or_default();
        out.push(Manager { tool: "Helm".into(), name, controller: false });
    }
    if any("kustomize.toolkit.fluxcd.io/") || any("helm.toolkit.fluxcd.io/") {
        let name = get("kustomize.toolkit.fluxcd.io/name").or(get("helm.toolkit.fluxcd.io/name")).unwrap_or_default();
        out.push(Manager { tool: "Flux".into(), name, controller: false });
    }
    if any("argocd.argoproj.io/") {
        let name = get("argocd.argoproj.io/instance")
            .or(get("argocd.argoproj.io/tracking-id").map(|t| t.split(':').next().unwrap_or("").to_string()))
            .unwrap_or_default();
        out.push(Manager { tool: "Argo CD".into(), name, controller: false });
    }
    out
}

/// The Deployment a pod belongs to: its ReplicaSet owner minus the template hash.
pub fn pod_deployment(p: &WirePod) -> Option<String> {
    let rs = p.metadata.owner_references.iter().find(|o| o.kind == "ReplicaSet")?;
    rs.name.rsplit_once('-').map(|(d, _)| d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn managers_from_owner_and_markers() {
        let m: Meta = serde_json::from_value(json!({
            "name": "ocs-storagecluster-cephcluster",
            "ownerReferences": [{"kind": "StorageCluster", "name": "ocs-storagecluster", "controller": true}],
            "labels": {"app.kubernetes.io/managed-by": "Helm", "kustomize.toolkit.fluxcd.io/name": "infra"},
            "annotations": {"meta.helm.sh/release-name": "rook-ceph-cluster", "argocd.argoproj.io/tracking-id": "ceph:ceph.rook.io/CephCluster:rook-ceph/rook-ceph"}
        }))
        .unwrap();
        let got: Vec<(String, String, bool)> =
            managers(&m).into_iter().map(|x| (x.tool, x.name, x.controller)).collect();
        assert_eq!(
            got,
            [
                ("StorageCluster".into(), "ocs-storagecluster".into(), true),
                ("Helm".into(), "rook-ceph-cluster".into(), false),
                ("Flux".into(), "infra".into(), false),
                ("Argo CD".into(), "ceph".into(), false),
            ]
        );
        assert!(managers(&Meta::default()).is_empty());
    }
}
