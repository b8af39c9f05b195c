//! The restart plan (DESIGN §4): a pure function of (snapshot, requested change) that says,
//! for every daemon, whether its pods restart, stay unchanged, are held by
//! do-not-reconcile, or are not managed, in Rook's order, with every warning and its reason.
//! No I/O here: everything it needs is in the `Snapshot`.

mod change;
pub mod order;
pub mod status;
pub mod upgrade;
pub mod warnings;
pub mod writes;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::daemon::{DaemonType, HoldScope};
use crate::model::{Daemon, Snapshot};
use change::{After, stage};
use order::{rook_steps, sequential_steps};
use upgrade::summarise;
use warnings::{gateway_warnings, manager_warnings, release_warnings, show};

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

/// The warnings' shape lives with the model, whose own checks make some of them.
pub use crate::model::warning::{WARNING_CODES, Warning};

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

/// The Deployments a fence of `t` rewrites: not an OSD under replacement (Rook's), not a
/// daemon the operator already holds with its own label (the fence would take the hold
/// over, and unfencing would then release it), not one held by a maintenance copy, not one
/// whose rollout is paused (`kubectl rollout pause`: its step would wait for a rollout that
/// cannot happen).
pub fn fence_targets(snap: &Snapshot, t: DaemonType) -> impl Iterator<Item = &Daemon> {
    snap.daemons.iter().filter(move |d| {
        d.id.dtype == t
            && !d.under_replacement
            && !d.paused
            && d.held_by.is_none()
            && !(d.labelled && d.fence.is_none())
    })
}

/// Daemons of type `t` that nothing holds or fences but that run an image other than
/// their desired one: after an unfence, those wait for the operator's next reconcile.
/// Their ids ("mgr.a").
pub fn unfenced_stale(snap: &Snapshot, t: DaemonType) -> Vec<String> {
    let now = After::now(snap);
    let desired = now.desired(t).to_string();
    snap.daemons
        .iter()
        .filter(|d| d.id.dtype == t && d.fence.is_none() && !d.ceph_images.is_empty() && !d.under_replacement)
        .filter(|d| now.held(d, &snap.daemons).is_none() && d.differs_from(&desired))
        .map(|d| d.id.to_string())
        .collect()
}

/// For each daemon of the snapshot, why it is held now (None: not held).
pub fn held_now(snap: &Snapshot) -> Vec<Option<String>> {
    let now = After::now(snap);
    snap.daemons.iter().map(|d| now.held(d, &snap.daemons)).collect()
}

/// The pods a restart interrupts: running ones. Pending pods are replaced too but run
/// nothing now; Failed ones are left as they are (FACTS §6).
fn pods_of(d: &Daemon) -> Vec<PodRef> {
    d.pods.iter().filter(|p| p.running()).map(|p| PodRef { name: p.name.clone(), node: p.node.clone() }).collect()
}

/// What a replacement of the pods does to those that do not run now.
fn not_running_note(d: &Daemon) -> Option<String> {
    let pending = d.pods.iter().filter(|p| p.replaced_by_rollout() && !p.running()).count();
    let failed = d.pods.iter().filter(|p| p.phase == "Failed").count();
    let mut parts = Vec::new();
    if pending > 0 {
        parts.push(format!("{pending} pod(s) not running ({}) are replaced too", phases(d)));
    }
    if failed > 0 {
        parts.push(format!("{failed} Failed pod(s) are left as they are"));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn phases(d: &Daemon) -> String {
    let s: BTreeSet<&str> =
        d.pods.iter().filter(|p| p.replaced_by_rollout() && !p.running()).map(|p| p.phase.as_str()).collect();
    s.into_iter().collect::<Vec<_>>().join(", ")
}

fn join_notes(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    }
}

fn change_view(snap: &Snapshot, change: &Change) -> ChangeView {
    let c = &snap.cluster;
    let v = |action, target: String, from: Option<String>, to: Option<String>, deployments: Vec<String>| ChangeView {
        action,
        target,
        from,
        to,
        deployments,
    };
    match change {
        Change::SetImage { target: Target::Base, image } => {
            v("set", "base".into(), Some(c.base_image.clone()), Some(image.clone()), vec![])
        }
        Change::SetImage { target: Target::Type(t), image } => {
            v("set", t.key().into(), c.overrides.get(t.key()).cloned(), Some(image.clone()), vec![])
        }
        Change::Unset(t) => v("unset", t.key().into(), c.overrides.get(t.key()).cloned(), None, vec![]),
        Change::Pause(ds) => v("pause", "daemons".into(), None, None, ds.clone()),
        Change::Resume(ds) => v("resume", "daemons".into(), None, None, ds.clone()),
        Change::PauseCluster => v("pause", "cluster".into(), None, None, vec![]),
        Change::ResumeCluster => v("resume", "cluster".into(), None, None, vec![]),
        Change::Fence { dtype, image, .. } => {
            let ds = fence_targets(snap, *dtype).map(|d| d.deployment.clone()).collect();
            v("fence", dtype.key().into(), None, Some(image.clone()), ds)
        }
        Change::Unfence { dtype, .. } => {
            let ds = snap
                .daemons
                .iter()
                .filter(|d| d.id.dtype == *dtype && d.fence.is_some())
                .map(|d| d.deployment.clone())
                .collect();
            v("unfence", dtype.key().into(), None, None, ds)
        }
    }
}

/// What a resume lets Rook do to the daemons it releases (held now, not after): one whose
/// main container was moved by hand (`kubectl set image`, rook/rook#15849) goes back to its
/// desired image at the operator's next reconcile (`moved-by-hand`), and where that is a
/// lower Ceph release than it runs, the plan says it is a downgrade (`downgrade`).
fn resume_warnings(snap: &Snapshot, after: &After, plans: &[DaemonPlan], w: &mut Vec<Warning>) {
    let before = After::now(snap);
    for (d, p) in snap.daemons.iter().zip(plans) {
        if p.action == Action::Held || before.held(d, &snap.daemons).is_none() {
            continue;
        }
        let desired = after.desired(d.id.dtype);
        if d.ceph_images.is_empty() || !d.differs_from(desired) {
            continue;
        }
        let from = d.image.as_deref().and_then(|i| snap.version_of(i));
        let to = snap.version_of(desired);
        if let Some(h) = &d.moved_by_hand {
            w.push(Warning {
                code: "moved-by-hand",
                message: format!(
                    "{}: its {} container was moved by hand to {} (Rook wrote {}): once resumed, the operator's next \
                     reconcile moves it back to {desired} and restarts it",
                    d.id, h.container, h.image, h.rook
                ),
            });
        }
        if let (Some(f), Some(t)) = (from, to)
            && t < f
        {
            w.push(Warning {
                code: "downgrade",
                message: format!(
                    "{} runs Ceph {f} ({}); once resumed, the operator's next reconcile moves it to {desired} (Ceph \
                     {t}): a downgrade, and a Ceph daemon once upgraded cannot be downgraded; make its image the \
                     desired one first (`set {} {}` or `set base`), or keep it held",
                    d.id,
                    show(&d.image),
                    d.id.dtype,
                    show(&d.image)
                ),
            });
        }
    }
}

pub fn plan(snap: &Snapshot, change: &Change) -> Result<Plan, PlanError> {
    plan_many(snap, std::slice::from_ref(change))
}

/// One plan for several staged changes (the editor submits them together).
pub fn plan_many(snap: &Snapshot, changes: &[Change]) -> Result<Plan, PlanError> {
    let c = &snap.cluster;
    let by_name: BTreeMap<&str, &Daemon> = snap.daemons.iter().map(|d| (d.deployment.as_str(), d)).collect();
    let mut after = After::now(snap);
    let mut warnings: Vec<Warning> = Vec::new();
    // What the change does to the objects, and whether it starts a reconcile.
    let (mut noop, mut reconcile) = (true, false);
    for change in changes {
        let (n, r) = stage(snap, &by_name, &mut after, change, &mut warnings)?;
        noop &= n;
        reconcile |= r;
    }

    let mut daemons = Vec::with_capacity(snap.daemons.len());
    let mut held_missing = 0usize;
    let (mut paused_left_out, mut paused_restarting) = (Vec::new(), Vec::new());
    for d in &snap.daemons {
        let desired = after.desired(d.id.dtype).to_string();
        let held_now_reason = after.held(d, &snap.daemons);
        let managed = !d.ceph_images.is_empty();
        let drifts = managed && d.differs_from(&desired);
        let pinned = after.pins.get(&d.deployment);
        let scaled_down = d.replicas == Some(0);
        let (action, note, pods) = if let (Some(pin), true) = (pinned, managed) {
            if scaled_down {
                (
                    Action::Unchanged,
                    Some(format!("fenced to {pin}; scaled to 0 replicas, so it starts on it when scaled up")),
                    vec![],
                )
            } else if d.differs_from(pin) {
                (
                    Action::Restart,
                    Some(format!(
                        "fenced: its Deployment is rewritten to {pin} and rolls at once; the operator then leaves it alone"
                    )),
                    pods_of(d),
                )
            } else {
                (Action::Unchanged, Some(format!("fenced: already runs {pin}; labeled and annotated")), vec![])
            }
        } else if !managed {
            (
                Action::NotManaged,
                Some("no container runs a Ceph image of this cluster or carries CONTAINER_IMAGE".into()),
                vec![],
            )
        } else if let Some(reason) = &held_now_reason {
            let on_resume = if drifts {
                format!("held ({reason}): stays on {}; restarts to {desired} when resumed", show(&d.image))
            } else {
                format!("held ({reason}): unchanged when resumed")
            };
            if reconcile && drifts {
                held_missing += 1;
            }
            (Action::Held, Some(on_resume), if drifts { pods_of(d) } else { vec![] })
        } else if reconcile && scaled_down && d.id.dtype == DaemonType::Osd {
            (
                Action::Start,
                Some(format!(
                    "scaled to 0 replicas: Rook's OSD update sets 1 replica and starts it on {desired} (scale it \
                     down again or hold it to keep it stopped)"
                )),
                vec![],
            )
        } else if reconcile && drifts {
            let note = if scaled_down {
                Some("scaled to 0 replicas: its Deployment is rewritten; no pod runs".into())
            } else {
                None
            };
            (Action::Restart, join_notes(note, not_running_note(d)), pods_of(d))
        } else if drifts {
            // Not held, not reconciled now: it changes at the operator's next reconcile.
            (
                Action::Unchanged,
                Some(format!(
                    "restarts to {desired} at the operator's next reconcile (removing a label does not start one)"
                )),
                vec![],
            )
        } else {
            let mut note = None;
            if d.labelled && matches!(d.id.dtype.hold_scope(), HoldScope::NotHonoured) && reconcile {
                note = Some("labeled, but Rook does not honour the label here: the rewrite drops it".into());
            }
            if d.labelled && !d.label_holds {
                note = Some(
                    "labeled, but this floating mon's label holds nothing: Rook's skip query selects \
                     app=rook-ceph-mon"
                        .into(),
                );
            }
            if scaled_down && d.id.dtype == DaemonType::Osd {
                note = Some("scaled to 0 replicas: the operator's next reconcile starts it again".into());
            }
            (Action::Unchanged, note, vec![])
        };
        // A main container moved by hand: what the reconcile (or the resume) undoes.
        let note = match (&d.moved_by_hand, action) {
            (Some(h), Action::Restart | Action::Held) if pinned.is_none() && drifts => join_notes(
                note,
                Some(format!("its {} container was moved by hand to {} (Rook wrote {})", h.container, h.image, h.rook)),
            ),
            _ => note,
        };
        // A daemon with containers on an image of their own (NVMe-oF gateway, NFS on its
        // server image): which of its containers change, and which keep their image.
        let note = if d.own_images.is_empty() || action != Action::Restart {
            note
        } else {
            let to = pinned.map_or(desired.as_str(), String::as_str);
            let moving: Vec<String> = d
                .ceph_containers
                .iter()
                .map(|c| match (c.runs_ceph, c.has_env, c.init) {
                    (true, _, true) => format!("{} (init)", c.name),
                    (true, ..) => c.name.clone(),
                    (false, ..) => format!("the CONTAINER_IMAGE of {}", c.name),
                })
                .collect();
            let own: Vec<String> = d.own_images.iter().map(|(c, i)| format!("{c} stays on {i}")).collect();
            let changes =
                if moving.is_empty() { String::new() } else { format!("{} move to {to}; ", moving.join(", ")) };
            join_notes(note, Some(format!("{changes}{}", own.join(", "))))
        };
        // `kubectl rollout pause`: the Deployment controller rolls out no template change, so
        // a fence leaves the Deployment out (`fence_targets`) rather than wait for a rollout
        // that cannot happen; Rook's own update writes the whole spec it generates, which
        // has no `paused`, and so clears it (rook pkg/operator/k8sutil/deployment.go).
        let fenced_type = changes.iter().any(|ch| matches!(ch, Change::Fence { dtype, .. } if *dtype == d.id.dtype));
        let note = match (d.paused, action == Action::Restart, fenced_type) {
            (false, ..) => note,
            (true, true, _) => join_notes(
                note,
                Some("rollout paused (kubectl rollout pause): Rook's update clears the pause, so it restarts".into()),
            ),
            (true, false, true) => {
                paused_left_out.push(d.deployment.clone());
                join_notes(note, Some("rollout paused (kubectl rollout pause): left out of the fence".into()))
            }
            (true, false, false) => join_notes(note, Some("rollout paused (kubectl rollout pause)".into())),
        };
        if d.paused && action == Action::Restart {
            paused_restarting.push(d.deployment.clone());
        }
        daemons.push(DaemonPlan {
            daemon: d.id.to_string(),
            dtype: d.id.dtype,
            deployment: d.deployment.clone(),
            node: d.node.clone(),
            nodes: d.nodes(),
            action,
            image_from: d.image.clone(),
            image_to: Some(pinned.cloned().unwrap_or(desired)).filter(|_| managed),
            pods,
            step: None,
            alongside: false,
            note,
            labelled: after.labelled.contains(&d.deployment),
            replicas: d.rollout_replicas(),
        });
    }
    if !paused_left_out.is_empty() {
        warnings.push(Warning {
            code: "rollout-paused",
            message: format!(
                "{} paused with kubectl rollout pause: the fence leaves {} out, since no rollout \
                 happens while paused; resume first (kubectl rollout resume deployment/{} -n {}), then run \
                 the fence again",
                summarise(&paused_left_out),
                if paused_left_out.len() == 1 { "it" } else { "them" },
                paused_left_out[0],
                c.namespace
            ),
        });
    }
    if !paused_restarting.is_empty() {
        warnings.push(Warning {
            code: "rollout-paused",
            message: format!(
                "{} paused with kubectl rollout pause: Rook's update of the Deployment clears the pause, \
                 so {} restart with the rest",
                summarise(&paused_restarting),
                if paused_restarting.len() == 1 { "it" } else { "they" }
            ),
        });
    }
    if after.pins.is_empty() {
        rook_steps(snap, &mut daemons);
    } else {
        let batching = changes
            .iter()
            .find_map(|c| match c {
                Change::Fence { batching, .. } => Some(*batching),
                _ => None,
            })
            .unwrap_or_default();
        sequential_steps(snap, &mut daemons, batching);
    }
    if changes.iter().any(|c| matches!(c, Change::Resume(_))) {
        let pending: Vec<&DaemonPlan> = daemons
            .iter()
            .filter(|p| {
                p.action == Action::Unchanged && p.note.as_deref().is_some_and(|n| n.starts_with("restarts to"))
            })
            .filter(|p| by_name.get(p.deployment.as_str()).is_some_and(|d| d.labelled))
            .collect();
        if !pending.is_empty() {
            warnings.push(Warning {
                code: "resume-pending",
                message: format!(
                    "{} resumed daemon(s) differ from the spec image and restart at the operator's next reconcile, \
                     which removing the label does not start (a CephCluster change or `pause cluster` + `resume \
                     cluster` does)",
                    pending.len()
                ),
            });
        }
    }
    if changes.iter().any(|c| matches!(c, Change::Resume(_))) {
        resume_warnings(snap, &after, &daemons, &mut warnings);
    }
    // Two Deployments with one daemon id: said in every plan; a hold or fence acts on all.
    let acting: Vec<(&str, Vec<String>)> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Pause(names) => Some(("pause", names.clone())),
            Change::Resume(names) => Some(("resume", names.clone())),
            Change::Fence { dtype, .. } => {
                Some(("fence", fence_targets(snap, *dtype).map(|d| d.deployment.clone()).collect()))
            }
            Change::Unfence { dtype, .. } => {
                Some(("unfence", fence_targets(snap, *dtype).map(|d| d.deployment.clone()).collect()))
            }
            _ => None,
        })
        .collect();
    warnings.extend(snap.duplicate_warnings(&acting));
    if held_missing > 0 {
        warnings.push(Warning {
            code: "held-miss-update",
            message: format!(
                "{held_missing} held daemon(s) keep their image and miss this change until resumed; \
                 do-not-reconcile is a temporary skip, not an upgrade strategy"
            ),
        });
    }
    if reconcile || !after.pins.is_empty() {
        release_warnings(snap, &daemons, &after.base, &mut warnings);
    }
    if reconcile {
        gateway_warnings(snap, &daemons, &mut warnings);
    }
    if changes.iter().any(|c| matches!(c, Change::SetImage { .. } | Change::Unset(_))) && !noop {
        manager_warnings(c, changes, &mut warnings);
    }
    // A staged upgrade's state is on the CephCluster: a change by hand crosses its plan.
    if c.upgrade.is_some() && !noop {
        warnings.push(Warning {
            code: "upgrade-under-way",
            message: "a staged upgrade is under way on this CephCluster (`kubectl ceph-image upgrade status`): this \
                      change crosses its plan; an image change stops it at its next stage, and its holds stay"
                .into(),
        });
    }
    for change in changes {
        if let Change::SetImage { image, .. } = change
            && !noop
            && let Ok(r) = crate::model::image::parse(image)
            && (r.is_floating() || (r.tag.as_deref() == Some("latest") && r.digest.is_none()))
        {
            warnings.push(Warning {
                code: "floating-image",
                message: format!(
                    "{image} names no fixed release (no tag, or :latest, and no digest): each node pulls whatever it \
                     is at the time; Rook recommends a full version+build tag (v19.2.3-20250717) or a digest"
                ),
            });
        }
    }
    let mut summary = Summary::default();
    for d in &daemons {
        match d.action {
            Action::Restart => {
                summary.restart += 1;
                summary.restart_pods += d.pods.len();
            }
            Action::Unchanged => summary.unchanged += 1,
            Action::Held => summary.held += 1,
            Action::NotManaged => summary.not_managed += 1,
            Action::Start => summary.start += 1,
        }
    }
    summary.copies = snap.copies.len();
    summary.not_handled = snap.not_handled.len();
    Ok(Plan {
        namespace: c.namespace.clone(),
        cluster: c.name.clone(),
        change: match changes {
            [one] => change_view(snap, one),
            many => ChangeView {
                action: "batch",
                target: format!("{} staged changes", many.len()),
                from: None,
                to: None,
                deployments: many.iter().flat_map(|c| change_view(snap, c).deployments).collect(),
            },
        },
        noop,
        triggers_reconcile: reconcile,
        summary,
        warnings,
        daemons,
        copies: snap.copies.clone(),
        not_handled: snap.not_handled.clone(),
    })
}
