//! What the planner knows of a cluster: the CephCluster and one entry per daemon
//! Deployment with its pods (the `Snapshot`, built by `classify` from `cluster::wire`'s
//! records), and the pure rules about them: images and versions, selectors, warnings,
//! Rook's support rules (`support`), Ceph's answers (`ceph`), OSD flags (`osd_flag`), the
//! versions `version` reports (`version`).

pub mod ceph;
pub mod daemon;
pub mod image;
pub mod osd_flag;
pub mod selector;
pub mod support;
pub mod version;

pub use support::{HealthCheck, RookStatus};
pub mod warning;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::model::daemon::{DaemonId, DaemonType};

pub const DNR_LABEL: &str = "ceph.rook.io/do-not-reconcile";
/// Annotations Rook's OSD replacement (v1.21) sets together with the label (FACTS §2).
pub const REPLACE_ANNOTATIONS: [&str; 3] =
    ["osd.rook.io/replace-in-progress", "osd.rook.io/replace", "osd.rook.io/replace-ready-for-swap"];
pub const FIELD_MANAGER: &str = "kubectl-ceph-image";
/// Annotations recording a fence (DESIGN §3.2): what the plugin pinned, what it replaced, when.
pub const FENCE_IMAGE: &str = "kubectl-ceph-image/fenced-image";
pub const FENCE_REPLACED: &str = "kubectl-ceph-image/replaced-image";
pub const FENCE_AT: &str = "kubectl-ceph-image/fenced-at";
/// On a Deployment: a hold a staged upgrade put there (the value is the upgrade's target
/// image), so the upgrade releases its own holds and never one of the operator's.
pub const UPGRADE_HOLD: &str = "kubectl-ceph-image/upgrade-hold";
/// On the CephCluster: the state of a staged upgrade (JSON, `upgrade::State`), so
/// `upgrade status|pause|resume|abort` work from any terminal.
pub const UPGRADE_STATE: &str = "kubectl-ceph-image/upgrade";
/// On the CephCluster, next to the CephCluster-level do-not-reconcile label while a staged
/// upgrade's stage has it on to start a reconcile: the label is the upgrade's, and a
/// resume after a kill in that window removes it rather than refuse a held cluster.
pub const UPGRADE_RECONCILE: &str = "kubectl-ceph-image/upgrade-reconcile";

/// A process that runs a staged upgrade, as its state (`UPGRADE_STATE`) records it, so a
/// second run can be refused naming it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Runner {
    /// The host's name, as its kernel has it.
    pub host: String,
    pub pid: u32,
    /// When it took the upgrade on (RFC 3339).
    pub since: String,
}

/// A Deployment the plugin pinned to an image with `--strategy fence`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fence {
    pub image: String,
    pub replaced: Option<String>,
    pub at: Option<String>,
}

/// A container the fence rewrites: one that runs a Ceph image of this cluster (its image
/// is rewritten), or carries `CONTAINER_IMAGE` (the variable is rewritten), or both.
/// An NFS `nfs-ganesha` or NVMe-oF gateway container carries the variable but runs its
/// own image: only the variable changes (FACTS §4, §6).
#[derive(Debug, Clone, PartialEq)]
pub struct CephContainer {
    pub name: String,
    pub init: bool,
    /// Carries `CONTAINER_IMAGE`, which the fence rewrites too.
    pub has_env: bool,
    /// Runs a Ceph image of this cluster; false for an intended non-Ceph image.
    pub runs_ceph: bool,
}

/// A daemon's main container moved by hand to another image than the one Rook wrote
/// (`kubectl set image deployment/... rgw=IMAGE` on a held daemon, as rook/rook#15849
/// advises): the variable `CONTAINER_IMAGE` of that container still names Rook's image.
/// The daemon runs `image`; Rook's next reconcile of it moves it back to its desired image.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HandMoved {
    /// The main container (`rgw`, `mgr`, ...).
    pub container: String,
    /// What it runs now.
    pub image: String,
    /// What Rook wrote: its `CONTAINER_IMAGE`.
    pub rook: String,
}

/// Who else writes the CephCluster's spec (FACTS §6): a controller owner reverts a direct
/// patch; Helm, Flux and Argo CD write their own values back at their next sync.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manager {
    /// `StorageCluster` (a controller ownerReference), `Helm`, `Flux`, `Argo CD`.
    pub tool: String,
    /// The owner's or release's name, as the markers give it.
    pub name: String,
    /// A controller ownerReference: the owner writes the spec back; a direct change is
    /// refused without `--force`.
    pub controller: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    pub namespace: String,
    pub name: String,
    pub resource_version: String,
    pub generation: i64,
    /// `spec.cephVersion.image`
    pub base_image: String,
    /// `spec.cephVersion.imageOverrides`, keys as stored.
    pub overrides: BTreeMap<String, String>,
    /// The CephCluster carries `ceph.rook.io/do-not-reconcile`.
    pub held: bool,
    /// `status.version.image` / `.version`: what Rook last detected for the spec image.
    pub status_image: Option<String>,
    pub status_version: Option<String>,
    /// `status.ceph.versions`: `ceph versions` counts per type.
    pub ceph_versions: BTreeMap<String, BTreeMap<String, u64>>,
    /// `spec.storage.osdMaxUpdatesInParallel` (Rook's default 20).
    pub osd_max_updates_in_parallel: u32,
    /// `spec.external.enable`: Rook runs no mon, mgr or osd here (FACTS §6).
    pub external: bool,
    /// Controller owners and GitOps/Helm markers found on the CephCluster.
    pub managers: Vec<Manager>,
    /// `status.ceph.health` (`HEALTH_OK`, `HEALTH_WARN`, `HEALTH_ERR`).
    pub health: Option<String>,
    /// `spec.cephVersion.allowUnsupported`: Rook runs a Ceph release outside its supported
    /// list (`cluster/version.go` validateCephVersion).
    pub allow_unsupported: bool,
    /// `spec.skipUpgradeChecks`: Rook upgrades on HEALTH_ERR and drops ok-to-stop.
    pub skip_upgrade_checks: bool,
    /// Rook's other upgrade knobs and the daemons' cephx key settings, as the spec has them.
    pub knobs: UpgradeKnobs,
    /// What Rook last wrote of the cluster's state and Ceph's health besides the codes above.
    pub rook: RookStatus,
    /// The `kubectl-ceph-image/upgrade` annotation: a staged upgrade's state (JSON).
    pub upgrade: Option<String>,
    /// The CephCluster carries `UPGRADE_RECONCILE`: its do-not-reconcile label (if on) is a
    /// staged upgrade's, put there to start a reconcile.
    pub upgrade_reconcile: bool,
    /// Does the CephCluster CRD have `spec.cephVersion.imageOverrides`? Some(false) on
    /// released Rook, where `set TYPE IMAGE` is refused and `--strategy fence` is the way;
    /// None where the command did not read the CRD (an override present proves it has).
    #[serde(skip)]
    pub crd_overrides: Option<bool>,
}

/// Rook's upgrade knobs in the CephCluster spec besides `skipUpgradeChecks` and
/// `storage.osdMaxUpdatesInParallel` (rook `pkg/apis/ceph.rook.io/v1/types.go` ClusterSpec,
/// DisruptionManagementSpec, CephxConfig; read by `cluster/osd/update.go`, `cluster/osd/osd.go`,
/// `cluster/mgr/mgr.go`), as written: absent reads as Rook's default (false, None).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeKnobs {
    /// `spec.continueUpgradeAfterChecksEvenIfNotHealthy`: Rook restarts a daemon Ceph does
    /// not call ok-to-stop (OSDs after the wait below; mgr, RGW, MDS at once; never mons).
    pub continue_upgrade_after_checks_even_if_not_healthy: bool,
    /// `spec.upgradeOSDRequiresHealthyPGs`: every PG must match `pg_healthy_regex` before
    /// each OSD batch (ignored with `skipUpgradeChecks`).
    pub upgrade_osd_requires_healthy_pgs: bool,
    /// `spec.disruptionManagement.pgHealthyRegex`; None: Rook's default
    /// `^active(\+(clean|deep|scrubbing|snaptrim|snaptrim_wait))+$`.
    pub pg_healthy_regex: Option<String>,
    /// `spec.waitTimeoutForHealthyOSDInMinutes`, minutes; None: Rook's default 10.
    pub wait_timeout_for_healthy_osd_minutes: Option<i64>,
    /// `spec.storage.osdMaxUpdatesInParallel` as written (None: unset, Rook's default 20).
    pub osd_max_updates_in_parallel: Option<u32>,
    /// `spec.security.cephx.daemon.keyRotationPolicy` (`Disabled`, `KeyGeneration`).
    pub daemon_key_rotation_policy: Option<String>,
    /// `spec.security.cephx.daemon.keyType` (`aes`, `aes256k`).
    pub daemon_key_type: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ImageSource {
    Base,
    Override,
}

impl Cluster {
    /// The command that makes `image` the desired image of type `t`, as advice: `set t
    /// IMAGE` where the CRD has per-type overrides, `set t IMAGE --strategy fence` on
    /// released Rook (which refuses the plain form), both where the CRD was not read; then
    /// `or set base`. `held`: the daemon's id where it carries its own hold, which a fence
    /// leaves out (so the fence form says to resume it first, at once); a type Rook does
    /// not let a label hold (crash, exporter, mds) gets no fence form at all.
    pub fn keep_advice(&self, t: DaemonType, image: &str, held: Option<&str>) -> String {
        let plain = format!("`set {t} {image}`");
        let fence = match held {
            _ if matches!(
                t.hold_scope(),
                crate::model::daemon::HoldScope::Ineffective | crate::model::daemon::HoldScope::NotHonoured
            ) =>
            {
                format!("`set base {image}` ({t} cannot be fenced: Rook does not let a label hold it)")
            }
            Some(id) => format!(
                "`resume {id}` and at once `set {t} {image} --strategy fence` (a fence leaves a held daemon out)"
            ),
            None => format!("`set {t} {image} --strategy fence`"),
        };
        match self.crd_overrides.or((!self.overrides.is_empty()).then_some(true)) {
            Some(true) => format!("{plain}, or `set base`"),
            Some(false) => format!("{fence}, as this Rook's CRD has no imageOverrides; or `set base`"),
            None => format!("{plain} where the CRD has imageOverrides, else {fence}; or `set base`"),
        }
    }

    /// The image a type should run: its override, else the base image.
    pub fn desired_image(&self, t: DaemonType) -> (&str, ImageSource) {
        match self.overrides.get(t.key()) {
            Some(i) => (i.as_str(), ImageSource::Override),
            None => (self.base_image.as_str(), ImageSource::Base),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    pub name: String,
    pub node: Option<String>,
    pub phase: String,
    pub ready: bool,
    /// The image its Ceph daemon container runs (pod spec); for a main container on an
    /// image of its own (NFS on `CephNFS.spec.server.image`, the NVMe-oF gateway), the Ceph
    /// image its `CONTAINER_IMAGE` names, which is what Rook moves.
    pub image: Option<String>,
    /// The image its main container runs when that is an image of its own by design (see
    /// `image`), e.g. `quay.io/nfs-ganesha/nfs-ganesha:V6.5`; `None` when the main container
    /// runs Ceph (then `image` is what it runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub own_image: Option<String>,
    /// `metadata.deletionTimestamp` is set: it is going away, whatever its phase.
    pub terminating: bool,
}

impl Pod {
    /// The image its main container runs now: its own image where it has one, else its
    /// Ceph image (`image`).
    pub fn runs(&self) -> Option<&str> {
        self.own_image.as_deref().or(self.image.as_deref())
    }

    /// Running now and not going away: what a restart interrupts.
    pub fn running(&self) -> bool {
        self.phase == "Running" && !self.terminating
    }

    /// A rollout replaces it: not Failed or Succeeded (Kubernetes leaves those as they
    /// are; a Failed pod is not running and is not restarted) and not already terminating.
    pub fn replaced_by_rollout(&self) -> bool {
        !self.terminating && !matches!(self.phase.as_str(), "Failed" | "Succeeded")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Daemon {
    pub id: DaemonId,
    pub deployment: String,
    /// The node's name as `kubectl get nodes` shows it (a pod's `spec.nodeName`), else
    /// the hostname label value when no pod tells the name.
    pub node: Option<String>,
    /// The `kubernetes.io/hostname` label value the Deployment is pinned to; differs from
    /// the node name on AWS/kops (FACTS §6).
    pub hostname: Option<String>,
    /// The Deployment carries `ceph.rook.io/do-not-reconcile` (any value, "" included).
    pub labelled: bool,
    /// Its own label holds it: false for the floating mon (`app=rook-ceph-floating-mon`),
    /// which Rook's skip query (`app=rook-ceph-mon`) never finds (FACTS §6).
    pub label_holds: bool,
    /// Another Deployment's label holds it: Rook keys its skip set by the id label, so a
    /// labelled maintenance copy `rook-ceph-osd-<id>-maintenance` holds `rook-ceph-osd-<id>`.
    pub held_by: Option<String>,
    /// `spec.replicas` (None: unset, i.e. 1).
    pub replicas: Option<i32>,
    /// `spec.paused` (`kubectl rollout pause`): the Deployment controller rolls out no
    /// template change until `kubectl rollout resume`, so a fence would wait for a rollout
    /// that cannot happen; Rook's own update clears it, since Rook writes the whole spec it
    /// generates (rook pkg/operator/k8sutil/deployment.go UpdateDeploymentAndWait).
    pub paused: bool,
    /// The `rook-version` label: the Rook that last wrote the Deployment.
    pub rook_version: Option<String>,
    /// Containers that carry `CONTAINER_IMAGE` but run an image of their own on purpose
    /// (NFS Ganesha, NVMe-oF gateway): (container, image). Never drift, never rewritten.
    pub own_images: Vec<(String, String)>,
    /// Its main container was moved by hand to another image than Rook wrote.
    pub moved_by_hand: Option<HandMoved>,
    /// Rook's OSD replacement set the label (`osd.rook.io/replace*`).
    pub under_replacement: bool,
    /// Distinct images of the containers that run Ceph, and `CONTAINER_IMAGE` values:
    /// the operator rewrites all of them to the desired image (FACTS §4).
    pub ceph_images: Vec<String>,
    /// The image of the daemon's main Ceph container in the Deployment.
    pub image: Option<String>,
    pub pods: Vec<Pod>,
    /// The Deployment's labels, for `-l/--selector`.
    pub labels: Labels,
    pub resource_version: String,
    pub ceph_containers: Vec<CephContainer>,
    pub fence: Option<Fence>,
    /// A staged upgrade's hold: the `kubectl-ceph-image/upgrade-hold` annotation's value
    /// (the upgrade's target image).
    pub upgrade_hold: Option<String>,
}

impl Daemon {
    /// The pods its Deployment rolls to when it restarts: `spec.replicas` (unset: 1), at
    /// least one (a Deployment at 0 that Rook starts again runs one). What `--wait` and the
    /// gates wait for (`wait::Target::replicas`).
    pub fn rollout_replicas(&self) -> usize {
        self.replicas.map_or(1, |r| r.max(1) as usize)
    }

    /// Would the operator change this Deployment's pod template to run `desired`?
    pub fn differs_from(&self, desired: &str) -> bool {
        self.ceph_images.iter().any(|i| i != desired)
    }

    /// Labelled, annotated as fenced to `image`, and running it: a fence to `image` has
    /// nothing left to do here.
    /// On this node, named as `kubectl get nodes` shows it or by its hostname label value
    /// (they differ on AWS/kops; FACTS §6).
    pub fn on_node(&self, node: &str) -> bool {
        self.node.as_deref() == Some(node)
            || self.hostname.as_deref() == Some(node)
            || self.pods.iter().any(|p| p.replaced_by_rollout() && p.node.as_deref() == Some(node))
    }

    /// Every node one of its pods is on (not Failed, Succeeded or going away), sorted and
    /// distinct, as `kubectl get nodes` names them; else the one node known for it (its
    /// hostname pin). An RGW of an object store with `instances: 2` has two (FACTS §3:
    /// replicas = instances), and each is its node.
    pub fn nodes(&self) -> Vec<String> {
        let mut nodes: Vec<String> =
            self.pods.iter().filter(|p| p.replaced_by_rollout()).filter_map(|p| p.node.clone()).collect();
        nodes.sort();
        nodes.dedup();
        if nodes.is_empty() {
            nodes.extend(self.node.clone());
        }
        nodes
    }

    pub fn fenced_to(&self, image: &str) -> bool {
        self.labelled && self.fence.as_ref().is_some_and(|f| f.image == image) && !self.differs_from(image)
    }
}

/// A Deployment's labels, compact: sorted by key, keys and values shared between
/// Deployments (at 20000 OSDs a `BTreeMap<String, String>` per Deployment was a quarter of
/// the plugin's memory; most keys and many values repeat on every Deployment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(Box<[(Arc<str>, Arc<String>)]>);

impl Labels {
    /// From (key, value) pairs already shared (see `classify::Interner`); the last value of
    /// a key repeated wins, as in a map.
    pub fn from_shared(mut pairs: Vec<(Arc<str>, Arc<String>)>) -> Labels {
        pairs.reverse();
        pairs.sort_by(|a, b| a.0.cmp(&b.0)); // stable: the last given comes first
        pairs.dedup_by(|b, a| a.0 == b.0);
        Labels(pairs.into_boxed_slice())
    }

    pub fn get(&self, key: &str) -> Option<&String> {
        let i = self.0.binary_search_by(|(k, _)| (**k).cmp(key)).ok()?;
        Some(&self.0[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: AsRef<str>, V: Into<String>> FromIterator<(K, V)> for Labels {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(it: I) -> Labels {
        Labels::from_shared(it.into_iter().map(|(k, v)| (Arc::from(k.as_ref()), Arc::new(v.into()))).collect())
    }
}

impl From<BTreeMap<String, String>> for Labels {
    fn from(m: BTreeMap<String, String>) -> Labels {
        m.into_iter().collect()
    }
}

/// A Deployment that carries a daemon's labels but is not the daemon (FACTS §6).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Copy {
    pub deployment: String,
    /// `mon canary` (Rook deletes it once the mon is placed), `maintenance copy` or
    /// `debug copy` (kubectl-rook-ceph `maintenance start` / `debug start`).
    pub kind: &'static str,
    /// The daemon it copies, as Ceph names it (`mon.c`, `osd.3`).
    pub of: Option<String>,
    /// Carries do-not-reconcile: a maintenance copy's label holds the real daemon too.
    pub labelled: bool,
    pub pods: usize,
    pub node: Option<String>,
}

/// Rook's rollout of the spec image as the Deployments show it (`Snapshot::rook_rollout`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RookRollout {
    /// `spec.cephVersion.image`.
    pub image: String,
    /// Daemons following it that run it.
    pub on_target: usize,
    /// Daemons following it.
    pub total: usize,
}

/// A Deployment of the cluster the plugin does not plan for, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotHandled {
    pub deployment: String,
    pub app: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub cluster: Cluster,
    /// In Rook's order: by type, then id (OSDs numerically).
    pub daemons: Vec<Daemon>,
    /// Deployments that look like daemons and are not (canaries, maintenance copies).
    pub copies: Vec<Copy>,
    /// Deployments of the cluster that are neither, with the reason.
    pub not_handled: Vec<NotHandled>,
    /// Deployments read: daemons + copies + not handled, always.
    pub deployments_read: usize,
    /// Ceph version (`19.2.3`) of each image whose version Rook knows: `status.version`
    /// for the spec image, the `ceph-version` label for the image a Deployment runs.
    pub versions: BTreeMap<String, String>,
    /// The newest `rook-version` label (`v1.20.6`) of the cluster's daemon Deployments.
    pub rook_version: Option<String>,
}

impl Snapshot {
    /// The Ceph release an image runs: what Rook detected for it (`versions`), else its
    /// tag if it is an image of a Ceph repository, else that of the same image (same
    /// repository and digest) under another tag (`build_of`); never the Rook operator
    /// image's tag.
    pub fn version_of(&self, image: &str) -> Option<crate::model::image::CephVersion> {
        match self.versions.get(image) {
            Some(v) => crate::model::image::parse_version(v),
            None => self.build_of(image).map(|b| b.version),
        }
    }

    /// The Ceph build an image runs, as `ceph versions` tells builds apart (a hotfix tag is
    /// a build of its own, a date-stamped rebuild is not): the build its tag names; for an
    /// image pinned by digest alone, the build of another image of the cluster with the
    /// same repository and digest (the same image); else the version Rook detected.
    pub fn build_of(&self, image: &str) -> Option<crate::model::image::Build> {
        use crate::model::image::{detected_build, pinned, tag_build};
        if let Some(b) = tag_build(image) {
            return Some(b);
        }
        if let Some(p) = pinned(image) {
            let known = self.versions.keys().map(String::as_str);
            let spec = std::iter::once(self.cluster.base_image.as_str())
                .chain(self.cluster.overrides.values().map(String::as_str));
            let running = self.daemons.iter().flat_map(|d| d.ceph_images.iter().map(String::as_str));
            let same = known.chain(spec).chain(running).filter(|i| pinned(i).as_ref() == Some(&p));
            if let Some(b) = same.filter_map(tag_build).next() {
                return Some(b);
            }
        }
        self.versions.get(image).and_then(|v| detected_build(v))
    }

    /// Why a staged upgrade to `image` must not start (`support::upgrade_refusal`), and,
    /// for a new upgrade (`fresh`: none of the plugin's under way), Rook's own rollout of
    /// that very image in flight: Rook paces it (mons, mgrs, OSDs by its ok-to-stop), so
    /// a canary and batches of the plugin's cannot apply to what it has begun.
    pub fn upgrade_refusal(&self, image: &str, fresh: bool) -> Option<String> {
        let (rook, allow) = (self.rook_version.as_deref(), self.cluster.allow_unsupported);
        if let Some(why) = support::upgrade_refusal(image, self.version_of(image), rook, allow) {
            return Some(why);
        }
        let r = self.rook_rollout().filter(|r| fresh && r.image == image && r.on_target < r.total)?;
        Some(format!(
            "Rook is already rolling out {image} (it is spec.cephVersion.image): {} of {} daemon(s) that follow it run \
             it, {} do not yet. Rook's rollout paces them (mons one by one, OSDs by Ceph's ok-to-stop), so a staged \
             upgrade's canary and batches cannot apply to it; no hold was set. Follow it with `kubectl ceph-image \
             status`, or stop it with `kubectl ceph-image pause cluster` (the CephCluster-level label) before \
             choosing how to go on",
            r.on_target,
            r.total,
            r.total - r.on_target
        ))
    }

    /// Rook's own rollout of the spec image, seen from the Deployments: among the daemons
    /// Rook moves to `spec.cephVersion.image` (no override of their type, with replicas, and
    /// not held: no do-not-reconcile label of their own or of another Deployment, no fence,
    /// no staged upgrade's hold), how many run it (the same image: `same_image`). Only a
    /// rollout Rook is doing: its phase `Progressing`, or a spec image it has not detected
    /// yet (`status.version.image` another, or none); on a `Ready` cluster whose detected
    /// image is the spec's, daemons on other images are hand edits and holds, not a rollout
    /// (`status` shows them as drift). None then, while the CephCluster-level label stops
    /// Rook's mon/mgr/osd reconcile, or on an external cluster.
    pub fn rook_rollout(&self) -> Option<RookRollout> {
        let c = &self.cluster;
        if c.held || c.external || c.base_image.is_empty() {
            return None;
        }
        let progressing = c.rook.phase.as_deref() == Some("Progressing");
        let undetected = c.status_image.as_deref().is_none_or(|i| !self.same_image(i, &c.base_image));
        if !progressing && !undetected {
            return None;
        }
        let follow: Vec<&Daemon> = self
            .daemons
            .iter()
            .filter(|d| !d.ceph_images.is_empty() && d.replicas != Some(0) && d.fence.is_none())
            .filter(|d| !d.labelled && d.held_by.is_none() && d.upgrade_hold.is_none())
            .filter(|d| !c.overrides.contains_key(d.id.dtype.key()))
            .collect();
        let on_target =
            follow.iter().filter(|d| d.ceph_images.iter().all(|i| self.same_image(i, &c.base_image))).count();
        Some(RookRollout { image: c.base_image.clone(), on_target, total: follow.len() })
    }

    /// Two references to one image: equal, or the same digest of the same repository
    /// whatever tag stands beside it (`image::pinned`, distribution/reference's rule).
    pub fn same_image(&self, a: &str, b: &str) -> bool {
        use crate::model::image::pinned;
        a == b || pinned(a).is_some_and(|p| pinned(b).as_ref() == Some(&p))
    }

    /// What a new change of the spec image to `image` does while Rook's own rollout of
    /// another image is in flight (`rook_rollout`): the daemons Rook has not moved go
    /// straight to `image`; by Rook's pacing for a plain change, in their stage for a
    /// staged upgrade (`staged`), whose holds stop Rook's rollout where they land. None when
    /// no rollout of another image is under way.
    pub fn rook_rollout_warning(&self, image: &str, staged: bool) -> Option<String> {
        let r = self.rook_rollout().filter(|r| r.on_target < r.total && !self.same_image(&r.image, image))?;
        let left = r.total - r.on_target;
        let how = if staged {
            "the upgrade's holds stop Rook's rollout where they land (a daemon Rook is restarting then may still \
             finish on that image), the daemons it has not moved go straight from what they run to the target in \
             their stage, and those it cannot hold move with the spec image at Rook's pace"
        } else {
            "Rook starts over toward it: the daemons it has not moved go straight from what they run to it, those \
             it moved restart once more, and Rook's own pacing applies (mons one by one, OSDs in batches by Ceph's \
             ok-to-stop, gateways alongside the OSDs)"
        };
        Some(format!(
            "Rook is rolling out {} now (its phase {}): {} of {} daemon(s) that follow the spec image run it, {left} \
             not yet. Changing spec.cephVersion.image to {image} under it: {how}. Let Rook finish first (follow it \
             with `kubectl ceph-image status`), or stop it with `kubectl ceph-image pause cluster` and choose how to \
             go on",
            r.image,
            self.cluster.rook.phase.as_deref().unwrap_or("unknown"),
            r.on_target,
            r.total,
        ))
    }

    /// Daemon ids claimed by more than one Deployment (two labelled `ceph-osd-id=5`), each
    /// with the names of those Deployments, in Rook's order. Rook keys its skip set and its
    /// OSD updates by the id label, so a command on such an id acts on all of them.
    pub fn duplicate_ids(&self) -> Vec<(&DaemonId, Vec<&str>)> {
        let mut by_id: BTreeMap<&DaemonId, Vec<&str>> = BTreeMap::new();
        for d in &self.daemons {
            by_id.entry(&d.id).or_default().push(&d.deployment);
        }
        let mut dups: Vec<(&DaemonId, Vec<&str>)> = by_id.into_iter().filter(|(_, ds)| ds.len() > 1).collect();
        dups.sort_by_key(|(id, _)| (id.dtype, id.id.parse::<u64>().unwrap_or(u64::MAX), id.id.clone()));
        dups
    }

    /// The warning for each duplicated id: what Rook does with it, and, where `acting` (verb,
    /// Deployments changed) touches one of them, that the command acts on every one.
    pub fn duplicate_warnings(&self, acting: &[(&str, Vec<String>)]) -> Vec<crate::model::warning::Warning> {
        self.duplicate_ids()
            .into_iter()
            .map(|(id, ds)| {
                let names = ds.join(", ");
                let touched = acting.iter().find(|(_, changed)| ds.iter().any(|d| changed.iter().any(|c| c == d)));
                let message = match touched {
                    Some((verb, _)) => format!(
                        "{id} is claimed by {} Deployments ({names}): this {verb} acts on all of them, as Rook \
                         keys daemons by the id label; delete the stray Deployment to end the ambiguity",
                        ds.len()
                    ),
                    None => format!(
                        "{id} is claimed by {} Deployments ({names}): Rook keys daemons by the id label, so which \
                         one it updates is not defined; a pause, resume or fence of {id} acts on all of them",
                        ds.len()
                    ),
                };
                crate::model::warning::Warning { code: "duplicate-id", message }
            })
            .collect()
    }

    /// Rook's (major, minor) from `rook_version`, where a behaviour differs by release.
    pub fn rook_release(&self) -> Option<(u32, u32)> {
        let (major, minor, _) = crate::model::support::rook_version_key(self.rook_version.as_deref()?)?;
        Some((major, minor))
    }
}

/// Daemon order: Rook's type order, then the id with numbers in numeric order. A
/// comparison, not a key: a key holding the id would be copied at every comparison of a
/// sort (2345 daemons, every round of an upgrade).
pub fn daemon_order(a: &Daemon, b: &Daemon) -> std::cmp::Ordering {
    let key = |d: &Daemon| d.id.id.parse::<u64>().unwrap_or(u64::MAX);
    (a.id.dtype, key(a), &a.id.id).cmp(&(b.id.dtype, key(b), &b.id.id))
}
