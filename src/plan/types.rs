//! The restart plan's shapes: the change asked for, what it does to each daemon, the
//! plan with its summary and warnings, and the requests the planner refuses.

use serde::Serialize;

use crate::model::daemon::DaemonType;
use crate::model::warning::Warning;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Base,
    Type(DaemonType),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `set TYPE IMAGE` / `set base IMAGE`
    SetImage {
        target: Target,
        image: String,
    },
    /// `unset TYPE`
    Unset(DaemonType),
    /// Label these Deployments.
    Pause(Vec<String>),
    /// Unlabel these Deployments.
    Resume(Vec<String>),
    PauseCluster,
    ResumeCluster,
    /// `set TYPE IMAGE --strategy fence`: label every Deployment of the type and rewrite
    /// its Ceph containers to the image (DESIGN §3.2), OSDs in batches of `batching`.
    Fence {
        dtype: DaemonType,
        image: String,
        batching: Batching,
    },
    /// `unset TYPE --strategy fence [--reconcile-now]`: remove the fences of the type.
    Unfence {
        dtype: DaemonType,
        reconcile_now: bool,
    },
}

/// The CRUSH failure domain an OSD batch stays inside (`--batch-by`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureDomain {
    #[default]
    Host,
    Rack,
    Zone,
}

impl FailureDomain {
    /// Its CRUSH bucket type, as `ceph osd tree` names it (`host`, `rack`, `zone`).
    pub fn crush_type(self) -> &'static str {
        match self {
            FailureDomain::Host => "host",
            FailureDomain::Rack => "rack",
            FailureDomain::Zone => "zone",
        }
    }
}

/// How a fence batches OSDs: one failure domain a batch, at most `max` OSDs
/// (`--max-unavailable`; default the CephCluster's osdMaxUpdatesInParallel).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Batching {
    pub by: FailureDomain,
    pub max: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// Its pods are replaced.
    Restart,
    Unchanged,
    /// do-not-reconcile keeps it as it is.
    Held,
    /// The plugin cannot tell which of its containers run Ceph.
    NotManaged,
    /// An OSD Deployment scaled to 0 replicas: Rook's OSD update sets it back to 1 and
    /// starts it (FACTS §6, pkg/operator/ceph/cluster/osd/spec.go).
    Start,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodRef {
    pub name: String,
    pub node: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonPlan {
    pub daemon: String,
    #[serde(rename = "type")]
    pub dtype: DaemonType,
    pub deployment: String,
    /// Its first node (`nodes[0]`).
    pub node: Option<String>,
    /// Every node one of its pods is on (`Daemon::nodes`): an RGW of several instances
    /// has several.
    pub nodes: Vec<String>,
    pub action: Action,
    pub image_from: Option<String>,
    pub image_to: Option<String>,
    /// The image its main container runs when that is an image of its own by design (NFS on
    /// `CephNFS.spec.server.image`, the NVMe-oF gateway): it stays, and only the Ceph image
    /// its `CONTAINER_IMAGE` and Ceph containers name goes `image_from` -> `image_to`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub own_image: Option<String>,
    /// The pods that restart (restart), or would restart on resume (held).
    pub pods: Vec<PodRef>,
    /// Rollout step in Rook's order (OSDs in batches of osdMaxUpdatesInParallel).
    pub step: Option<u32>,
    /// Rolled by its own controller from `step` on, alongside the mgr and OSD steps that
    /// follow, not after them (mds, rgw, nfs, rbd-mirror, cephfs-mirror; FACTS §5,
    /// rook/rook#18367).
    pub alongside: bool,
    pub note: Option<String>,
    /// The Deployment's do-not-reconcile label after the change.
    pub labelled: bool,
    /// The pods its rollout ends with (`spec.replicas`, at least 1): what `--wait` and the
    /// step gates wait for (`wait::Target::replicas`). Not in the JSON plan, whose `pods`
    /// lists the pods that restart.
    #[serde(skip)]
    pub replicas: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub restart: usize,
    pub restart_pods: usize,
    pub unchanged: usize,
    pub held: usize,
    pub not_managed: usize,
    /// OSDs at 0 replicas that Rook starts again.
    pub start: usize,
    /// Deployments that are copies of a daemon, not daemons (canaries, maintenance copies):
    /// never changed by the plan.
    pub copies: usize,
    /// Deployments of the cluster the plugin does not plan for.
    pub not_handled: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeView {
    pub action: &'static str,
    pub target: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub deployments: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub namespace: String,
    pub cluster: String,
    pub change: ChangeView,
    /// The object would not change at all.
    pub noop: bool,
    /// The change starts an operator reconcile (a spec change, or toggling the
    /// CephCluster-level label); Deployment labels alone start none.
    pub triggers_reconcile: bool,
    pub summary: Summary,
    pub warnings: Vec<Warning>,
    pub daemons: Vec<DaemonPlan>,
    /// Copies of daemons (canaries, maintenance copies): what they are; the plan never
    /// touches them.
    pub copies: Vec<crate::model::Copy>,
    /// Deployments the plugin does not plan for, with the reason.
    pub not_handled: Vec<crate::model::NotHandled>,
}

impl Plan {
    pub fn restarts(&self) -> impl Iterator<Item = &DaemonPlan> {
        self.daemons.iter().filter(|d| d.action == Action::Restart)
    }

    /// Same consequences: used after a 409 to decide whether to re-ask.
    pub fn same_outcome(&self, other: &Plan) -> bool {
        self.noop == other.noop
            && self.warnings == other.warnings
            && self
                .daemons
                .iter()
                .map(|d| (&d.deployment, d.action, &d.image_to, &d.pods))
                .eq(other.daemons.iter().map(|d| (&d.deployment, d.action, &d.image_to, &d.pods)))
    }
}

/// Requests the planner refuses: bad input, nothing is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    CannotHold {
        daemon: String,
        reason: String,
    },
    CannotFence {
        dtype: DaemonType,
        reason: String,
    },
    /// An override of a type Rook does not run for this cluster (external clusters).
    NotRunHere {
        dtype: DaemonType,
        reason: String,
    },
    /// The image is Rook's operator image, not a Ceph image.
    NotCeph {
        image: String,
    },
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::CannotHold { daemon, reason } => write!(f, "cannot hold {daemon}: {reason}"),
            PlanError::CannotFence { dtype, reason } => write!(f, "cannot fence {dtype}: {reason}"),
            PlanError::NotRunHere { dtype, reason } => write!(f, "cannot set a {dtype} image override: {reason}"),
            PlanError::NotCeph { image } => write!(
                f,
                "{image} is the Rook operator's image, not a Ceph image: its tag is Rook's version; Ceph daemons \
                 run a Ceph image such as quay.io/ceph/ceph:v19.2.3"
            ),
        }
    }
}
