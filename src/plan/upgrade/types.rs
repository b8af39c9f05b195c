//! The staged upgrade's shapes: what was asked (`Params`), its state on the CephCluster
//! (`State`), the plan with its stages and the daemons each moves, `upgrade status`'s view
//! (`StatusDoc`), and the small builders every stage shares (a mover from a daemon, a
//! stage's gates).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::Daemon;
use crate::model::daemon::DaemonType;
use crate::plan::Warning;

/// What the operator asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Params {
    /// The target image (validated by the caller).
    pub image: String,
    /// Stage order of the types; `order_of` completes and checks it.
    pub order: Vec<DaemonType>,
    /// OSDs of the first batch that go alone first, then a stop for confirmation (0: none).
    pub canary: u32,
    pub batch_by: crate::plan::FailureDomain,
    /// At most this many OSDs a batch (None: the CephCluster's osdMaxUpdatesInParallel).
    pub max_unavailable: Option<u32>,
    /// `--types`: only these types move, each through its own `imageOverrides.<type>`;
    /// empty: every type, through the base image.
    #[serde(default)]
    pub types: Vec<DaemonType>,
    /// `--pause-between`, milliseconds: the wait after each OSD batch, kept in the state so
    /// that a resumed upgrade keeps its pace.
    #[serde(default)]
    pub pause_between_ms: u64,
    /// `--prepull`: before anything restarts, every node of a daemon the upgrade moves
    /// pulls the image (a `StageKind::Prepull` stage first). Absent in the state of an
    /// upgrade started before the flag existed: false.
    #[serde(default)]
    pub prepull: bool,
    /// `noout` on each OSD stage's failure domain while it restarts (off: `--no-noout`).
    /// Absent in an older state: on.
    #[serde(default = "on")]
    pub noout: bool,
    /// `noautoscale` during the OSD stages (off: `--no-noautoscale`). Absent: on.
    #[serde(default = "on")]
    pub noautoscale: bool,
}

fn on() -> bool {
    true
}

impl Params {
    /// An upgrade of every type to `image` in Rook's order (`order_of`), with no canary,
    /// batches by the default failure domain, the CephCluster's `osdMaxUpdatesInParallel`,
    /// no pause between batches and no pre-pull: what `upgrade IMAGE` asks with no flag.
    pub fn new(image: impl Into<String>) -> Self {
        Params {
            image: image.into(),
            order: crate::model::daemon::DaemonType::ALL.to_vec(),
            canary: 0,
            batch_by: Default::default(),
            max_unavailable: None,
            types: vec![],
            pause_between_ms: 0,
            prepull: false,
            noout: true,
            noautoscale: true,
        }
    }
}

/// The upgrade's state on the CephCluster (`UPGRADE_STATE`, JSON): what was asked and
/// where it is, so another terminal can see, pause, resume or abort it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub params: Params,
    /// Overrides this upgrade wrote to pin what cannot be held: type key -> image.
    #[serde(default)]
    pub pins: BTreeMap<String, String>,
    /// `running`, `paused` (by `upgrade pause`, or after the canary), `failed`, `aborted`
    /// (kept so that its holds and pins are known as this plugin's: a new upgrade takes
    /// them over).
    pub phase: String,
    /// The stage it is in or stopped at ("osd batch 2/6 (host node-01)").
    #[serde(default)]
    pub stage: String,
    /// Why it stopped (a gate that did not pass, a failed write).
    #[serde(default)]
    pub message: Option<String>,
    /// The canary ran and was confirmed (or resumed past): no second canary.
    #[serde(default)]
    pub canary_done: bool,
    /// The pre-pull passed on every node (`--prepull`): it is not planned again.
    #[serde(default)]
    pub prepulled: bool,
    /// RFC 3339.
    #[serde(default)]
    pub updated: String,
    /// The stage that sets the target in the spec (the base image, or with `--types` the
    /// overrides) has landed: from then on the spec must keep naming the target.
    #[serde(default)]
    pub spec_set: bool,
    /// The base image when the upgrade started (the plan's `from` on a resume, when the
    /// base image already moved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// OSD map flags this upgrade set and has not removed yet (issue 23 item 5): recorded
    /// before each is set, dropped once it is removed, so a killed run's flags are known
    /// and removed by `upgrade resume` or `upgrade abort`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<crate::model::osd_flag::OsdFlag>,
    /// The run that took it on last: a second one is refused, naming it, while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<crate::model::Runner>,
}

/// A daemon a stage moves to the target.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mover {
    pub daemon: String,
    #[serde(rename = "type")]
    pub dtype: DaemonType,
    pub deployment: String,
    /// Its first node; every node one of its pods is on (`--prepull` pulls on each).
    pub node: Option<String>,
    pub nodes: Vec<String>,
    /// Its running pods, which the stage replaces.
    pub pods: Vec<String>,
    pub from: Option<String>,
    /// Rook moves it with the base image change: it cannot be held or pinned here.
    pub early: bool,
    /// An OSD Deployment at 0 replicas: Rook's OSD update sets 1 replica and starts it on
    /// the target when its stage releases it (FACTS §6).
    pub starts: bool,
    /// The pods its rollout ends with (`spec.replicas`, at least 1): what the stage's pod
    /// gate waits for. Not in the JSON plan.
    #[serde(skip)]
    pub replicas: usize,
}

/// What a stage writes before it waits at its gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StageKind {
    /// `--prepull`: a pod per node in `Stage::nodes` pulls the image, and is deleted;
    /// nothing restarts and the cluster's objects are not touched. Always the first stage.
    Prepull,
    /// Holds (and nothing that restarts): before the base image changes.
    Prepare,
    /// The base image (and the pins of what cannot be held), in one patch.
    Base,
    /// Holds removed and/or overrides removed, then a reconcile.
    Release,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    pub name: String,
    pub kind: StageKind,
    pub types: Vec<DaemonType>,
    pub daemons: Vec<Mover>,
    /// Prepare: Deployments to hold.
    pub holds: Vec<String>,
    /// Base: the `spec.cephVersion.image` it sets (None with `--types`).
    pub base: Option<String>,
    /// Base: overrides written with the base image, to pin what cannot be held.
    pub pins: BTreeMap<String, String>,
    /// `--types`: `imageOverrides.<type>` set to the target in this stage.
    pub overrides: BTreeMap<String, String>,
    /// Release: Deployments whose upgrade hold is removed.
    pub release: Vec<String>,
    /// Override keys removed: a pin in its type's stage; in the base stage, overrides that
    /// name the target already (they restart nothing once the base image does).
    pub unpin: Vec<String>,
    /// The failure domain of an OSD batch.
    pub failure_domain: Option<String>,
    /// A canary: the upgrade stops for confirmation after it.
    pub canary: bool,
    /// What must hold before the next stage starts.
    pub gates: Vec<String>,
    /// The OSD map flags set before it restarts its OSDs and removed after its gates
    /// (`noout on host node-01`, `noautoscale`; issue 23 item 5). Empty: no OSD moves.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// Prepull: the nodes that pull the image, sorted (the nodes of every daemon the later
    /// stages move; a daemon with no node is named by the `prepull-no-node` warning).
    /// Empty for the other kinds.
    pub nodes: Vec<String>,
}

impl Stage {
    /// A stage that writes and waits for nothing yet.
    pub(super) fn new(name: String, kind: StageKind, types: Vec<DaemonType>) -> Stage {
        Stage {
            name,
            kind,
            types,
            daemons: Vec::new(),
            holds: Vec::new(),
            base: None,
            pins: BTreeMap::new(),
            overrides: BTreeMap::new(),
            release: Vec::new(),
            unpin: Vec::new(),
            failure_domain: None,
            canary: false,
            gates: Vec::new(),
            flags: Vec::new(),
            nodes: Vec::new(),
        }
    }
}

/// A daemon the upgrade leaves on its image, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Excluded {
    pub daemon: String,
    pub deployment: String,
    pub image: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Daemons the stages move.
    pub moving: usize,
    /// Their running pods.
    pub pods: usize,
    /// Daemons already on the target.
    pub on_target: usize,
    pub excluded: usize,
    pub stages: usize,
    pub osd_batches: usize,
}

/// The staged upgrade: every stage with its daemons, pods and nodes, its writes and gates.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradePlan {
    pub namespace: String,
    pub cluster: String,
    pub image: String,
    /// The base image when the upgrade started (now, for a new one).
    pub from: String,
    /// `overrides` when the CRD has imageOverrides (what cannot be held is pinned), else
    /// `holds` (released Rook: what cannot be held moves early).
    pub levers: &'static str,
    pub order: Vec<DaemonType>,
    /// `--types`: the types this upgrade moves (empty: every type).
    pub types: Vec<DaemonType>,
    /// `--types`: the types it leaves where they are.
    pub left: Vec<Left>,
    pub summary: Summary,
    pub warnings: Vec<Warning>,
    pub stages: Vec<Stage>,
    pub excluded: Vec<Excluded>,
    /// Nothing is left to do.
    pub done: bool,
    /// `upgrade check`'s blockers and warnings for this target (`check::check`), where the
    /// command gathered them (`upgrade IMAGE`, dry run and real run); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<Findings>,
}

/// How a type is kept where it is until its stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lever {
    /// The mons: the base image change moves them (with `--types`: `imageOverrides.mon`).
    Base,
    Hold,
    /// Pinned to the image it runs with an override, removed in its stage.
    Override,
    /// Cannot be kept: moves with the base image change.
    Early,
    /// `--types`, a type Rook cannot hold: `imageOverrides.<type>` is set to the target in
    /// its own stage (the base image does not change, so nothing moves it early).
    Set,
}

pub(super) fn mover(d: &Daemon, early: bool) -> Mover {
    Mover {
        daemon: d.id.to_string(),
        dtype: d.id.dtype,
        deployment: d.deployment.clone(),
        node: d.node.clone(),
        nodes: d.nodes(),
        pods: d.pods.iter().filter(|p| p.running()).map(|p| p.name.clone()).collect(),
        from: d.image.clone(),
        early,
        starts: d.replicas == Some(0) && d.id.dtype == DaemonType::Osd,
        replicas: d.rollout_replicas(),
    }
}

pub(super) fn gates(image: &str) -> Vec<String> {
    vec![
        format!("every pod of the stage Running and Ready on {image} (within --timeout)"),
        "Ceph reports the stage's daemons on the target release (`ceph versions`)".to_string(),
        "no HEALTH_ERR in `ceph health detail` (where Ceph cannot be asked: the CephCluster's status.ceph.health, \
         refreshed after the stage)"
            .to_string(),
    ]
}

/// Where each daemon stands in the upgrade.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Class {
    OnTarget,
    Moves(Lever),
    Excluded,
    /// `--types` leaves its type alone.
    OutOfScope,
}

/// A type `--types` leaves where it is: how many daemons, on which image(s).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Left {
    #[serde(rename = "type")]
    pub dtype: DaemonType,
    pub daemons: usize,
    pub images: BTreeSet<String>,
}

/// One blocker or risk: `{code, message, fix}` in JSON. Strings from the cluster in it are
/// sanitised (`check::check`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// A stable identifier, one of `check::CHECK_CODES`.
    pub code: &'static str,
    /// What is wrong or at risk, in one line.
    pub message: String,
    /// What to do about it, in one line (a command where there is one).
    pub fix: String,
}

/// `upgrade check -o json`'s `blockers` and `warnings` (and `plan.check` of `upgrade IMAGE
/// --dry-run -o json`). Nothing blocks when `blockers` is empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Findings {
    pub blockers: Vec<Finding>,
    pub warnings: Vec<Finding>,
}

/// `upgrade status`'s view (`-o json`): the state on the CephCluster and how far the upgrade is.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDoc {
    pub namespace: String,
    pub cluster: String,
    /// None: no upgrade under way.
    pub state: Option<State>,
    pub image: Option<String>,
    /// Daemons on the target image, of those the upgrade moves or moved.
    pub on_target: usize,
    pub total: usize,
    /// The next stage (what it waits for), and how many are left.
    pub next_stage: Option<String>,
    pub stages_left: usize,
    pub excluded: usize,
}
