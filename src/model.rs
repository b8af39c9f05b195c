//! What the planner knows of a cluster: the CephCluster and one entry per daemon
//! Deployment with its pods. Built from the API by `cluster::wire`; pure data.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::daemon::{DaemonId, DaemonType};

pub const DNR_LABEL: &str = "ceph.rook.io/do-not-reconcile";
/// Annotations Rook's OSD replacement (v1.21) sets together with the label (FACTS §2).
pub const REPLACE_ANNOTATIONS: [&str; 3] =
    ["osd.rook.io/replace-in-progress", "osd.rook.io/replace", "osd.rook.io/replace-ready-for-swap"];
pub const FIELD_MANAGER: &str = "kubectl-ceph-image";
/// Annotations recording a fence (DESIGN §3.2): what the plugin pinned, what it replaced, when.
pub const FENCE_IMAGE: &str = "kubectl-ceph-image/fenced-image";
pub const FENCE_REPLACED: &str = "kubectl-ceph-image/replaced-image";
pub const FENCE_AT: &str = "kubectl-ceph-image/fenced-at";

/// A Deployment the plugin pinned to an image with `--strategy fence`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fence {
    pub image: String,
    pub replaced: Option<String>,
    pub at: Option<String>,
}

/// A container that runs the Ceph image, as the fence rewrites it.
#[derive(Debug, Clone, PartialEq)]
pub struct CephContainer {
    pub name: String,
    pub init: bool,
    /// Carries `CONTAINER_IMAGE`, which the fence rewrites too.
    pub has_env: bool,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ImageSource {
    Base,
    Override,
}

impl Cluster {
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
    /// The image its Ceph daemon container runs (pod spec).
    pub image: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Daemon {
    pub id: DaemonId,
    pub deployment: String,
    pub node: Option<String>,
    /// The Deployment carries `ceph.rook.io/do-not-reconcile`.
    pub labelled: bool,
    /// Rook's OSD replacement set the label (`osd.rook.io/replace*`).
    pub under_replacement: bool,
    /// Distinct images of the containers that run Ceph, and `CONTAINER_IMAGE` values:
    /// the operator rewrites all of them to the desired image (FACTS §4).
    pub ceph_images: Vec<String>,
    /// The image of the daemon's main Ceph container in the Deployment.
    pub image: Option<String>,
    pub pods: Vec<Pod>,
    /// The Deployment's labels, for `-l/--selector`.
    pub labels: BTreeMap<String, String>,
    pub resource_version: String,
    pub ceph_containers: Vec<CephContainer>,
    pub fence: Option<Fence>,
}

impl Daemon {
    /// Would the operator change this Deployment's pod template to run `desired`?
    pub fn differs_from(&self, desired: &str) -> bool {
        self.ceph_images.iter().any(|i| i != desired)
    }

    /// Labelled, annotated as fenced to `image`, and running it: a fence to `image` has
    /// nothing left to do here.
    pub fn fenced_to(&self, image: &str) -> bool {
        self.labelled && self.fence.as_ref().is_some_and(|f| f.image == image) && !self.differs_from(image)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub cluster: Cluster,
    /// In Rook's order: by type, then id (OSDs numerically).
    pub daemons: Vec<Daemon>,
}

/// Sort key for daemons: Rook's type order, then the id with numbers in numeric order.
pub fn daemon_order(d: &Daemon) -> (DaemonType, u64, String) {
    (d.id.dtype, d.id.id.parse::<u64>().unwrap_or(u64::MAX), d.id.id.clone())
}
