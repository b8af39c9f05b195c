//! Typed partial views of the API objects: only the fields the plan needs are
//! deserialised (a real OSD Deployment is several KB; we keep a few hundred bytes), and
//! their conversion into the planner's model. Pure: unit-tested without a server.
//!
//! Decoded as leniently as Go's `encoding/json` decodes into client-go's types: a `null`
//! (or missing) string, map, list or object reads as empty, a `null` map value as `""`,
//! a `null` list element is skipped; one such field never fails a whole command
//! (see `lenient`).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::{Cluster, DNR_LABEL, HealthCheck, Manager, RookStatus, UpgradeKnobs};

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default, deserialize_with = "lenient::string_map")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "lenient::string_map")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub resource_version: Option<String>,
    #[serde(default)]
    pub generation: Option<i64>,
    #[serde(default)]
    pub creation_timestamp: Option<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub owner_references: Vec<OwnerRef>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct OwnerRef {
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub kind: String,
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub name: String,
    #[serde(default)]
    pub controller: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    #[serde(default, rename = "continue")]
    pub continue_: Option<String>,
    #[serde(default)]
    pub resource_version: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct List<T> {
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub metadata: ListMeta,
    #[serde(default = "Vec::new", deserialize_with = "lenient::list", bound(deserialize = "T: Deserialize<'de>"))]
    pub items: Vec<T>,
}

/// Any object, for its metadata alone (e.g. a namespace).
#[derive(Debug, Clone, Deserialize)]
pub struct Named {
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub metadata: Meta,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct EnvVar {
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Container {
    #[serde(default, deserialize_with = "lenient::null_default")]
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
            while let Some(e) = seq.next_element::<Option<EnvVar>>()? {
                let Some(e) = e else { continue };
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
    #[serde(default, deserialize_with = "lenient::list")]
    pub containers: Vec<Container>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub init_containers: Vec<Container>,
    #[serde(default)]
    pub node_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string_map")]
    pub node_selector: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct PodTemplate {
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub spec: PodSpec,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct DeploymentSpec {
    #[serde(default)]
    pub replicas: Option<i32>,
    /// `kubectl rollout pause`: the Deployment controller rolls out no template change.
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub paused: bool,
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub template: PodTemplate,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Deployment {
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub metadata: Meta,
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub spec: DeploymentSpec,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Condition {
    #[serde(rename = "type", default, deserialize_with = "lenient::null_default")]
    pub type_: String,
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub status: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct PodStatus {
    #[serde(default)]
    pub phase: Option<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub conditions: Vec<Condition>,
}

/// A pod's metadata as far as the plan needs it: no labels or annotations kept.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodMeta {
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub name: String,
    #[serde(default, deserialize_with = "lenient::list")]
    pub owner_references: Vec<OwnerRef>,
    #[serde(default)]
    pub deletion_timestamp: Option<String>,
    /// Where a watch resumes after this pod's event (`cluster::view`).
    #[serde(default)]
    pub resource_version: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WirePod {
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub metadata: PodMeta,
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub spec: PodSpec,
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub status: PodStatus,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CephVersionSpec {
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default, deserialize_with = "lenient::string_map")]
    pub image_overrides: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub allow_unsupported: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    #[serde(default)]
    pub osd_max_updates_in_parallel: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct ExternalSpec {
    #[serde(default, deserialize_with = "lenient::null_default")]
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
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub skip_upgrade_checks: bool,
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub continue_upgrade_after_checks_even_if_not_healthy: bool,
    /// `upgradeOSDRequiresHealthyPGs` (camelCase would spell it `...Osd...Pgs`).
    #[serde(default, rename = "upgradeOSDRequiresHealthyPGs", deserialize_with = "lenient::null_default")]
    pub upgrade_osd_requires_healthy_pgs: bool,
    /// `waitTimeoutForHealthyOSDInMinutes`.
    #[serde(default, rename = "waitTimeoutForHealthyOSDInMinutes")]
    pub wait_timeout_for_healthy_osd_in_minutes: Option<i64>,
    #[serde(default)]
    pub disruption_management: Option<DisruptionSpec>,
    #[serde(default)]
    pub security: Option<SecuritySpec>,
}

/// `spec.disruptionManagement`, as far as the upgrade check reads it.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DisruptionSpec {
    #[serde(default)]
    pub pg_healthy_regex: Option<String>,
}

/// `spec.security.cephx.daemon`: the daemons' key settings (Rook v1.19.9 / v1.20.5+).
#[derive(Debug, Clone, Deserialize, Default)]
pub struct SecuritySpec {
    #[serde(default)]
    pub cephx: Option<CephxSpec>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct CephxSpec {
    #[serde(default)]
    pub daemon: Option<KeySpec>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct KeySpec {
    #[serde(default)]
    pub key_rotation_policy: Option<String>,
    #[serde(default)]
    pub key_type: Option<String>,
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
    #[serde(default, deserialize_with = "lenient::counts")]
    pub versions: BTreeMap<String, BTreeMap<String, u64>>,
    #[serde(default)]
    pub health: Option<String>,
    /// Health check code -> severity and message (Rook's `CephHealthMessage`).
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub details: BTreeMap<String, HealthMessage>,
    /// RFC 3339, when Rook last asked Ceph (`cluster/cephstatus.go`, about every 60 s).
    #[serde(default, rename = "lastChecked")]
    pub last_checked: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct HealthMessage {
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct ClusterStatus {
    #[serde(default)]
    pub phase: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub version: Option<VersionStatus>,
    #[serde(default)]
    pub ceph: Option<CephStatus>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CephCluster {
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub metadata: Meta,
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub spec: ClusterSpec,
    #[serde(default)]
    pub status: Option<ClusterStatus>,
}

impl CephCluster {
    pub fn into_model(self) -> Cluster {
        let sp = &self.spec;
        let daemon = sp.security.as_ref().and_then(|s| s.cephx.as_ref()).and_then(|c| c.daemon.clone());
        let knobs = UpgradeKnobs {
            continue_upgrade_after_checks_even_if_not_healthy: sp.continue_upgrade_after_checks_even_if_not_healthy,
            upgrade_osd_requires_healthy_pgs: sp.upgrade_osd_requires_healthy_pgs,
            pg_healthy_regex: sp
                .disruption_management
                .as_ref()
                .and_then(|d| d.pg_healthy_regex.clone())
                .filter(|r| !r.is_empty()),
            wait_timeout_for_healthy_osd_minutes: sp.wait_timeout_for_healthy_osd_in_minutes.filter(|m| *m > 0),
            osd_max_updates_in_parallel: sp.storage.as_ref().and_then(|s| s.osd_max_updates_in_parallel),
            daemon_key_rotation_policy: daemon.as_ref().and_then(|d| d.key_rotation_policy.clone()),
            daemon_key_type: daemon.and_then(|d| d.key_type),
        };
        let cv = self.spec.ceph_version.unwrap_or_default();
        let status = self.status.unwrap_or_default();
        let version = status.version.unwrap_or_default();
        let managers = managers(&self.metadata);
        let health = status.ceph.as_ref().and_then(|c| c.health.clone());
        let rook = RookStatus {
            phase: status.phase.clone().filter(|s| !s.is_empty()),
            state: status.state.clone().filter(|s| !s.is_empty()),
            message: status.message.clone().filter(|s| !s.is_empty()),
            ceph_present: status.ceph.is_some(),
            last_checked: status.ceph.as_ref().and_then(|c| c.last_checked.clone()).filter(|s| !s.is_empty()),
            health_checks: status
                .ceph
                .as_ref()
                .map(|c| {
                    c.details
                        .iter()
                        .map(|(code, m)| HealthCheck {
                            code: code.clone(),
                            severity: m.severity.clone().unwrap_or_default(),
                            message: m.message.clone().unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
        Cluster {
            rook,
            allow_unsupported: cv.allow_unsupported,
            skip_upgrade_checks: self.spec.skip_upgrade_checks,
            knobs,
            external: self.spec.external.is_some_and(|e| e.enable),
            managers,
            health,
            upgrade: self.metadata.annotations.get(crate::model::UPGRADE_STATE).cloned(),
            upgrade_reconcile: self.metadata.annotations.contains_key(crate::model::UPGRADE_RECONCILE),
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
            crd_overrides: None,
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

/// `deserialize_with` helpers that read `null` as Go does: the zero value.
pub mod lenient {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer};

    /// A `null` (or missing, with `default`) value reads as the type's default.
    pub fn null_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
        Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
    }

    /// A map of strings: `null` reads as empty, a `null` value as `""` (labels, annotations,
    /// node selectors, image overrides).
    pub fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
        let m = Option::<BTreeMap<String, Option<String>>>::deserialize(d)?.unwrap_or_default();
        Ok(m.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect())
    }

    /// A list: `null` reads as empty, `null` elements are skipped.
    pub fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
        let v = Option::<Vec<Option<T>>>::deserialize(d)?.unwrap_or_default();
        Ok(v.into_iter().flatten().collect())
    }

    /// `status.ceph.versions`: type -> version line -> count, any level `null`.
    pub fn counts<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, BTreeMap<String, u64>>, D::Error> {
        type Raw = BTreeMap<String, Option<BTreeMap<String, Option<u64>>>>;
        let m = Option::<Raw>::deserialize(d)?.unwrap_or_default();
        Ok(m.into_iter()
            .map(|(t, lines)| {
                (t, lines.unwrap_or_default().into_iter().map(|(l, n)| (l, n.unwrap_or_default())).collect())
            })
            .collect())
    }
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

    /// Every map, list, string and object the plugin reads may be `null`, as Go reads it.
    #[test]
    fn nulls_read_as_empty_as_go_reads_them() {
        let meta = json!({"name": null, "namespace": null, "labels": null, "annotations": null,
            "resourceVersion": null, "generation": null, "creationTimestamp": null, "ownerReferences": null});
        let d: Deployment = serde_json::from_value(json!({"metadata": meta, "spec": null})).unwrap();
        assert!(d.metadata.name.is_empty() && d.metadata.labels.is_empty());
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "rook-ceph-osd-5", "labels": {"app": "rook-ceph-osd", "x": null},
                         "ownerReferences": [null, {"kind": null, "name": null}]},
            "spec": {"replicas": null, "template": {"spec": {"containers": [null, {"name": null, "image": null,
                "env": [null, {"name": null, "value": null}, {"name": "CONTAINER_IMAGE", "value": "ceph:1"}]}],
                "initContainers": null, "nodeName": null, "nodeSelector": {"kubernetes.io/hostname": null}}}}
        }))
        .unwrap();
        assert_eq!(d.metadata.labels["x"], "");
        assert_eq!(d.metadata.owner_references.len(), 1);
        let c = &d.spec.template.spec.containers;
        assert_eq!((c.len(), c[0].name.as_str(), c[0].container_image_env()), (1, "", Some("ceph:1")));
        assert_eq!(d.spec.template.spec.node_selector["kubernetes.io/hostname"], "");
        let d: Deployment = serde_json::from_value(json!({"metadata": null, "spec": {"template": null}})).unwrap();
        assert!(d.spec.template.spec.containers.is_empty());

        let p: WirePod = serde_json::from_value(json!({
            "metadata": {"name": null, "ownerReferences": null, "deletionTimestamp": null},
            "spec": {"containers": null, "initContainers": [null]},
            "status": {"phase": null, "conditions": [null, {"type": null, "status": null}]}
        }))
        .unwrap();
        assert_eq!(p.status.conditions.len(), 1);
        let p: WirePod = serde_json::from_value(json!({"metadata": null, "spec": null, "status": null})).unwrap();
        assert!(p.spec.containers.is_empty());

        let c: CephCluster = serde_json::from_value(json!({
            "metadata": {"name": "rook-ceph", "labels": null, "annotations": {"a": null}, "ownerReferences": null},
            "spec": {"cephVersion": {"image": null, "imageOverrides": null}, "storage": null, "external": {"enable": null}},
            "status": {"version": null, "ceph": {"versions": {"mon": null, "osd": {"ceph version 19": null}}, "health": null}}
        }))
        .unwrap();
        let m = c.into_model();
        assert!(m.base_image.is_empty() && m.overrides.is_empty() && !m.external);
        assert_eq!(m.ceph_versions["osd"]["ceph version 19"], 0);
        let c: CephCluster =
            serde_json::from_value(json!({"metadata": {"name": "x"}, "spec": null, "status": null})).unwrap();
        assert_eq!(c.into_model().osd_max_updates_in_parallel, 20);
        let l: List<Named> =
            serde_json::from_value(json!({"metadata": {"continue": null, "resourceVersion": null}, "items": null}))
                .unwrap();
        assert!(l.items.is_empty());
        let l: List<Named> =
            serde_json::from_value(json!({"metadata": {}, "items": [null, {"metadata": null}]})).unwrap();
        assert_eq!(l.items.len(), 1);
    }
}
