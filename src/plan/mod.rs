//! The restart plan (DESIGN §4): a pure function of (snapshot, requested change) that says,
//! for every daemon, whether its pods restart, stay unchanged, are held by
//! do-not-reconcile, or are not managed, in Rook's order, with every warning and its reason.
//! No I/O here: everything it needs is in the `Snapshot`.

pub mod status;
pub mod upgrade;
pub mod writes;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::daemon::{DaemonType, HoldScope};
use crate::model::image::CephVersion;
use crate::model::{Daemon, Snapshot};

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
    pub node: Option<String>,
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

/// The cluster as it would be after the change.
struct After {
    base: String,
    overrides: BTreeMap<String, String>,
    cluster_held: bool,
    /// The CephCluster-level label is honoured from Rook v1.19 (FACTS §2).
    cluster_label_works: bool,
    labelled: BTreeSet<String>,
    /// Deployments the change itself rewrites to an image (a fence): Kubernetes rolls
    /// them at once, whatever the operator does.
    pins: BTreeMap<String, String>,
}

impl After {
    /// The cluster as it is, before any change is staged.
    fn now(snap: &Snapshot) -> After {
        let c = &snap.cluster;
        After {
            base: c.base_image.clone(),
            overrides: c.overrides.clone(),
            cluster_held: c.held,
            cluster_label_works: snap.rook_release().is_none_or(|r| r >= (1, 19)),
            labelled: snap.daemons.iter().filter(|d| d.labelled).map(|d| d.deployment.clone()).collect(),
            pins: BTreeMap::new(),
        }
    }

    fn desired(&self, t: DaemonType) -> &str {
        self.overrides.get(t.key()).unwrap_or(&self.base)
    }

    /// Held after the change, with the reason (FACTS §2).
    fn held(&self, d: &Daemon, all: &[Daemon]) -> Option<String> {
        if self.cluster_held && self.cluster_label_works && d.id.dtype.held_by_cluster_label() {
            return Some("the CephCluster carries ceph.rook.io/do-not-reconcile".into());
        }
        if let Some(by) = &d.held_by {
            return Some(format!("{by} is labeled and Rook skips every Deployment with its id label"));
        }
        if let Some(f) = d.fence.as_ref().filter(|_| self.labelled.contains(&d.deployment)) {
            return Some(format!("fenced by this plugin to {}", f.image));
        }
        if d.under_replacement && d.labelled {
            return Some("Rook's OSD replacement holds it (osd.rook.io/replace*); never resumed by this plugin".into());
        }
        match d.id.dtype.hold_scope() {
            HoldScope::Daemon => {
                (d.label_holds && self.labelled.contains(&d.deployment)).then(|| "labeled do-not-reconcile".into())
            }
            HoldScope::ObjectStore => all
                .iter()
                .find(|o| o.id.dtype == d.id.dtype && o.id.id == d.id.id && self.labelled.contains(&o.deployment))
                .map(|o| format!("{} is labeled and holds object store {}", o.deployment, d.id.id)),
            HoldScope::AllOfType => all
                .iter()
                .find(|o| o.id.dtype == d.id.dtype && self.labelled.contains(&o.deployment))
                .map(|o| format!("{} is labeled and holds every rbd-mirror", o.deployment)),
            HoldScope::Ineffective | HoldScope::NotHonoured => None,
        }
    }
}

/// The Deployments a fence of `t` rewrites: not an OSD under replacement (Rook's), not a
/// daemon the operator already holds with its own label (the fence would take the hold
/// over, and unfencing would then release it), not one held by a maintenance copy.
pub fn fence_targets(snap: &Snapshot, t: DaemonType) -> impl Iterator<Item = &Daemon> {
    snap.daemons.iter().filter(move |d| {
        d.id.dtype == t && !d.under_replacement && d.held_by.is_none() && !(d.labelled && d.fence.is_none())
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
        let note = if d.own_images.is_empty() || action != Action::Restart {
            note
        } else {
            let own: Vec<String> = d.own_images.iter().map(|(c, i)| format!("{c} stays on {i}")).collect();
            join_notes(note, Some(own.join(", ")))
        };
        daemons.push(DaemonPlan {
            daemon: d.id.to_string(),
            dtype: d.id.dtype,
            deployment: d.deployment.clone(),
            node: d.node.clone(),
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

/// An OSD's failure domain as its Deployment's topology labels give it (Rook sets
/// `topology-location-<level>` from the OSD's CRUSH location): `ceph osd ok-to-stop` keeps
/// a batch inside one failure domain (FACTS §5). A rack or zone the labels do not give
/// falls back to the host, the smaller domain, so a batch never spans two.
pub fn failure_domain(d: &Daemon, by: FailureDomain) -> Option<&str> {
    let wider = match by {
        FailureDomain::Host => None,
        FailureDomain::Rack => d.labels.get("topology-location-rack"),
        FailureDomain::Zone => d.labels.get("topology-location-zone").or(d.labels.get("topology.kubernetes.io/zone")),
    };
    wider
        .map(String::as_str)
        .or_else(|| {
            ["topology-location-host", "failure-domain"].iter().find_map(|k| d.labels.get(k).map(String::as_str))
        })
        .or(d.hostname.as_deref())
        .or(d.node.as_deref())
}

/// OSD batches (indices into `plans`) as Rook forms them: never two failure domains in a
/// batch, at most `max` OSDs each; domains in the order their first OSD comes.
fn osd_batches(
    snap: &Snapshot,
    plans: &[DaemonPlan],
    moving: impl Fn(&DaemonPlan) -> bool,
    batching: Batching,
) -> Vec<Vec<usize>> {
    let max = batching.max.unwrap_or(snap.cluster.osd_max_updates_in_parallel).max(1) as usize;
    let mut domains: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, _) in plans.iter().enumerate().filter(|(_, p)| p.dtype == DaemonType::Osd && moving(p)) {
        let fd = snap.daemons.get(i).and_then(|d| failure_domain(d, batching.by)).unwrap_or("").to_string();
        match domains.iter_mut().find(|(k, _)| *k == fd) {
            Some((_, v)) => v.push(i),
            None => domains.push((fd, vec![i])),
        }
    }
    domains.into_iter().flat_map(|(_, v)| v.chunks(max).map(<[usize]>::to_vec).collect::<Vec<_>>()).collect()
}

/// Steps when the plugin itself writes the Deployments (a fence): one daemon a step in
/// Rook's order, OSDs in batches of one failure domain, at most `osdMaxUpdatesInParallel`.
fn sequential_steps(snap: &Snapshot, daemons: &mut [DaemonPlan], batching: Batching) {
    let batches = osd_batches(snap, daemons, |p| p.action == Action::Restart, batching);
    let mut step = 0u32;
    let mut osds_done = false;
    for i in 0..daemons.len() {
        if daemons[i].action != Action::Restart {
            continue;
        }
        if daemons[i].dtype == DaemonType::Osd {
            if !osds_done {
                for b in &batches {
                    step += 1;
                    for &j in b {
                        daemons[j].step = Some(step);
                    }
                }
                osds_done = true;
            }
            continue;
        }
        step += 1;
        daemons[i].step = Some(step);
    }
}

/// Steps as Rook rolls a spec change (FACTS §5): mons one at a time, then mgrs, then OSD
/// batches; mds, rgw, nfs, rbd-mirror, cephfs-mirror and nvmeof belong to their own
/// controllers, which wait only for the mons: they start right after the last mon and
/// roll alongside the mgr and OSD steps (rook/rook#18367). From Rook v1.21 the object
/// store waits for the OSDs too (PR #18369). crash and exporter follow at the end.
fn rook_steps(snap: &Snapshot, daemons: &mut [DaemonPlan]) {
    let batch = snap.cluster.osd_max_updates_in_parallel.max(1);
    let rgw_waits_for_osds = snap.rook_release().is_some_and(|r| r >= (1, 21));
    let moving = |a: Action| matches!(a, Action::Restart | Action::Start);
    let mut step = 0u32;
    for d in daemons.iter_mut().filter(|d| moving(d.action) && d.dtype == DaemonType::Mon) {
        step += 1;
        d.step = Some(step);
    }
    let gateways_from = step + 1;
    for d in daemons.iter_mut().filter(|d| moving(d.action) && d.dtype == DaemonType::Mgr) {
        step += 1;
        d.step = Some(step);
    }
    let batching = Batching { by: FailureDomain::Host, max: Some(batch) };
    for b in osd_batches(snap, daemons, |p| moving(p.action), batching) {
        step += 1;
        for j in b {
            daemons[j].step = Some(step);
        }
    }
    let after_osds = step + 1;
    let mut last = step;
    for d in daemons.iter_mut().filter(|d| moving(d.action) && d.dtype.rolls_with_osds()) {
        let from = if d.dtype == DaemonType::Rgw && rgw_waits_for_osds { after_osds } else { gateways_from };
        d.step = Some(from);
        d.alongside = true;
        last = last.max(from);
    }
    let node_daemons = last + 1;
    for d in daemons
        .iter_mut()
        .filter(|d| moving(d.action) && matches!(d.dtype, DaemonType::Crashcollector | DaemonType::Exporter))
    {
        d.step = Some(node_daemons);
    }
}

fn show(o: &Option<String>) -> &str {
    o.as_deref().unwrap_or("?")
}

/// Types Rook does not hold are refused, with the reason (DESIGN §4).
pub fn check_holdable(d: &Daemon) -> Result<(), PlanError> {
    match d.id.dtype.hold_scope() {
        HoldScope::NotHonoured => Err(PlanError::CannotHold {
            daemon: d.id.to_string(),
            reason: format!(
                "Rook does not honour ceph.rook.io/do-not-reconcile on {} Deployments: its next reconcile rewrites \
                 the Deployment and drops the label",
                d.id.dtype
            ),
        }),
        _ => Ok(()),
    }
}

/// Types a fence cannot hold: Rook ignores the label there (DESIGN §3.2).
pub fn check_fenceable(t: DaemonType) -> Result<(), PlanError> {
    let reason = match t.hold_scope() {
        HoldScope::NotHonoured => format!(
            "Rook does not honour ceph.rook.io/do-not-reconcile on {t} Deployments: its next reconcile would \
             rewrite the image back"
        ),
        HoldScope::Ineffective => "Rook's mds check never matches the label on current Rook: the next reconcile \
                                   would rewrite the image back"
            .to_string(),
        _ => return Ok(()),
    };
    Err(PlanError::CannotFence { dtype: t, reason })
}

/// OSDs under replacement carry Rook's own label (FACTS §2): the plugin leaves them alone.
fn replacement_warnings(snap: &Snapshot, t: DaemonType, verb: &str, w: &mut Vec<Warning>) {
    for d in snap.daemons.iter().filter(|d| d.id.dtype == t && d.under_replacement) {
        w.push(Warning {
            code: "osd-replacement",
            message: format!(
                "{} is being replaced (osd.rook.io/replace*): Rook set its label and owns it, so it is not {verb}; \
                 removing that label would make Rook scale a destroyed OSD back up",
                d.id
            ),
        });
    }
}

fn fence_warnings(t: DaemonType, targets: &[&Daemon], w: &mut Vec<Warning>) {
    w.push(Warning {
        code: "fence-misses-updates",
        message: format!(
            "fenced {t} daemons miss the operator's updates (config, keys, Rook upgrades) until the fence is \
             removed: `kubectl ceph-image unset {t} --strategy fence`"
        ),
    });
    w.push(Warning {
        code: "fence-rollout",
        message: "Kubernetes restarts each fenced Deployment as soon as its patch lands: the plugin sends the \
                  patches step by step in Rook's order and waits for each step's pods to be Running and Ready \
                  (up to --timeout) before the next, but Rook's own checks (mon quorum, ok-to-stop) do not run"
            .into(),
    });
    match t {
        DaemonType::Mon => w.push(Warning {
            code: "mon-failover",
            message: "while any mon is labeled, Rook stops mon health checks and failover for the whole cluster".into(),
        }),
        DaemonType::Rgw => {
            let stores: BTreeSet<&str> = targets.iter().map(|d| d.id.id.as_str()).collect();
            w.push(Warning {
                code: "rgw-scope",
                message: format!(
                    "fencing rgw holds every RGW of object store(s) {}: Rook reconciles none of them while one is labeled",
                    stores.into_iter().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        DaemonType::Rbdmirror => w.push(Warning {
            code: "rbd-mirror-scope",
            message: "fencing rbd-mirror holds all rbd-mirror daemons: any labeled one stops their reconcile".into(),
        }),
        _ => {}
    }
}

fn pause_warnings(newly: &[&Daemon], all: &[Daemon], w: &mut Vec<Warning>) {
    for d in newly.iter().filter(|d| !d.label_holds) {
        w.push(Warning {
            code: "label-ignored",
            message: format!(
                "{} ({}) is the floating mon: its label holds nothing (Rook's skip query selects app=rook-ceph-mon) \
                 and stops no failover",
                d.id, d.deployment
            ),
        });
    }
    if newly.iter().any(|d| d.id.dtype == DaemonType::Mon && d.label_holds) {
        w.push(Warning {
            code: "mon-failover",
            message: "while any mon is labeled, Rook stops mon health checks and failover for the whole cluster".into(),
        });
    }
    let mut stores = BTreeSet::new();
    for d in newly.iter().filter(|d| d.id.dtype == DaemonType::Rgw) {
        if stores.insert(d.id.id.clone()) {
            let n = all.iter().filter(|o| o.id.dtype == DaemonType::Rgw && o.id.id == d.id.id).count();
            w.push(Warning {
                code: "rgw-scope",
                message: format!(
                    "one labeled RGW holds the whole object store {}: all {n} of its RGW Deployment(s)",
                    d.id.id
                ),
            });
        }
    }
    if newly.iter().any(|d| d.id.dtype == DaemonType::Rbdmirror) {
        let n = all.iter().filter(|o| o.id.dtype == DaemonType::Rbdmirror).count();
        w.push(Warning {
            code: "rbd-mirror-scope",
            message: format!("any labeled rbd-mirror holds all rbd-mirror daemons ({n} in this cluster)"),
        });
    }
    if newly.iter().any(|d| d.id.dtype == DaemonType::Mds) {
        w.push(Warning {
            code: "mds-ineffective",
            message: "the mds label does not take effect on current Rook: its check compares the bare letter with \
                      <fs>-a and never matches, so the next reconcile still updates (and unlabels) the mds"
                .into(),
        });
    }
}

/// `mixed-versions` (more than one Ceph version would run) and `daemon-old-version` (three
/// or more: HEALTH_ERR after a week; FACTS §5) for what would run after a change or an
/// upgrade: one `(type, version)` per running daemon, None for a release not known.
pub fn version_mix_warnings(running: &[(DaemonType, Option<CephVersion>)], w: &mut Vec<Warning>) {
    let mut versions: BTreeMap<String, BTreeMap<DaemonType, usize>> = BTreeMap::new();
    for (t, v) in running {
        if let Some(v) = v {
            *versions.entry(v.to_string()).or_default().entry(*t).or_default() += 1;
        }
    }
    if versions.len() > 1 {
        let parts: Vec<String> = versions
            .iter()
            .map(|(v, types)| {
                let ts: Vec<String> = types.iter().map(|(t, n)| format!("{n} {}", t.ceph_name())).collect();
                format!("{v} on {}", ts.join(", "))
            })
            .collect();
        w.push(Warning {
            code: "mixed-versions",
            message: format!(
                "after this change the cluster runs several Ceph versions ({}): Rook treats every reconcile as an \
                 upgrade while versions are mixed and refuses to run on HEALTH_ERR",
                parts.join("; ")
            ),
        });
    }
    if versions.len() >= 3 {
        w.push(Warning {
            code: "daemon-old-version",
            message: format!(
                "{} distinct Ceph versions would run: after mon_warn_older_version_delay (one week) Ceph raises \
                 DAEMON_OLD_VERSION as HEALTH_ERR (three or more versions), and Rook then stops reconciling every \
                 child CR (pools, filesystems, object stores) and refuses upgrades. Converge the versions within \
                 the week, or mute it: spec.healthCheck.muteHealthWarning in the CephCluster (Rook v1.19.10 / \
                 v1.20.6) or `ceph health mute DAEMON_OLD_VERSION --sticky`",
                versions.len()
            ),
        });
    }
}

/// Release-order checks (FACTS §5) on what would run after the change.
fn release_warnings(snap: &Snapshot, plans: &[DaemonPlan], base_after: &str, w: &mut Vec<Warning>) {
    let mut unknown: BTreeSet<String> = BTreeSet::new();
    let mut running: Vec<(DaemonType, Option<CephVersion>)> = Vec::new();
    let mut downgrades: BTreeMap<(DaemonType, String, String), usize> = BTreeMap::new();
    let mut jumps: BTreeMap<(DaemonType, String, String), usize> = BTreeMap::new();
    for (p, d) in plans.iter().zip(&snap.daemons) {
        // A Deployment at 0 replicas runs nothing (unless Rook starts it now).
        if p.action == Action::NotManaged || (d.replicas == Some(0) && p.action != Action::Start) {
            continue;
        }
        let now = d.image.as_deref();
        let then = if matches!(p.action, Action::Restart | Action::Start) { p.image_to.as_deref() } else { now };
        let v = then.and_then(|i| snap.version_of(i));
        if v.is_none()
            && let Some(i) = then
        {
            unknown.insert(i.to_string());
        }
        running.push((d.id.dtype, v));
        if p.action == Action::Restart
            && let (Some(from), Some(to)) = (now.and_then(|i| snap.version_of(i)), v)
        {
            if to < from {
                *downgrades.entry((d.id.dtype, from.to_string(), to.to_string())).or_default() += 1;
            }
            if to.major > from.major + 2 {
                *jumps.entry((d.id.dtype, from.to_string(), to.to_string())).or_default() += 1;
            }
        }
    }
    for i in &unknown {
        w.push(Warning {
            code: "unknown-version",
            message: format!(
                "cannot tell the Ceph release of {i} (Rook has not detected it, and it is not a Ceph repository image \
                 whose tag names a version): release-order checks skip it"
            ),
        });
    }
    for ((t, from, to), n) in &downgrades {
        w.push(Warning {
            code: "downgrade",
            message: format!(
                "{n} {} daemon(s) would go from {from} down to {to}: a Ceph daemon once upgraded cannot be downgraded",
                t.ceph_name()
            ),
        });
    }
    // One warning, naming the types as Ceph does, grouped by (from, to): not one per type.
    let mut jump_types: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for ((t, from, to), n) in &jumps {
        jump_types.entry((from.clone(), to.clone())).or_default().push(format!("{n} {}", t.ceph_name()));
    }
    if !jump_types.is_empty() {
        let moves: Vec<String> = jump_types
            .iter()
            .map(|((from, to), types)| format!("{} daemon(s) from {from} to {to}", types.join(", ")))
            .collect();
        w.push(Warning {
            code: "major-jump",
            message: format!(
                "{} would skip more than one major release: an upgrade may skip at most one (e.g. Reef 18 or \
                 Squid 19 to Tentacle 20)",
                moves.join("; ")
            ),
        });
    }
    let mon_max = running.iter().filter(|(t, _)| *t == DaemonType::Mon).filter_map(|(_, v)| *v).max();
    if let Some(mon) = mon_max {
        let mut ahead: BTreeMap<DaemonType, CephVersion> = BTreeMap::new();
        for (t, v) in &running {
            if let Some(v) = v
                && *t != DaemonType::Mon
                && v.major > mon.major
            {
                let e = ahead.entry(*t).or_insert(*v);
                *e = (*e).max(*v);
            }
        }
        for (t, v) in ahead {
            let mut message = format!(
                "{} would run Ceph {v} ({}) while the mons run {mon} ({}): Rook and Ceph upgrade the mons first",
                t.ceph_name(),
                v.release(),
                mon.release()
            );
            if t == DaemonType::Mgr && v.major == 20 && (v.minor, v.patch) < (2, 4) && mon.major == 19 {
                message.push_str(
                    "; the Tentacle notes warn that Squid 19.2.6 to Tentacle below 20.2.4 can leave the mgrs \
                     upgraded and the rest failing",
                );
            }
            w.push(Warning { code: "ahead-of-mons", message });
        }
    }
    version_mix_warnings(&running, w);
    // cephx AES256K keys: 19.2.6+, 20.2.4+, 21+ (FACTS §5).
    let aes = |v: &CephVersion| match v.major {
        19 => (v.minor, v.patch) >= (2, 6),
        20 => (v.minor, v.patch) >= (2, 4),
        m => m >= 21,
    };
    let spec_version = snap.version_of(base_after);
    if let Some(sv) = spec_version.filter(|v| aes(v)) {
        let below: BTreeSet<String> = running
            .iter()
            .filter(|(t, v)| *t == DaemonType::Osd && v.is_some_and(|v| !aes(&v)))
            .filter_map(|(_, v)| v.map(|v| v.to_string()))
            .collect();
        let n = running.iter().filter(|(t, v)| *t == DaemonType::Osd && v.is_some_and(|v| !aes(&v))).count();
        if n > 0 {
            w.push(Warning {
                code: "aes256k-boundary",
                message: format!(
                    "{n} OSD(s) would stay below the cephx AES256K boundary ({}) while the spec image is {sv}: \
                     since Rook v1.20.5 cephx key rotation stays off for the whole cluster while any OSD runs below \
                     19.2.6 / 20.2.4, and a field report saw HEALTH_ERR (key-type mismatch) with mons on 20.2.4 and \
                     OSDs on 20.2.2",
                    below.into_iter().collect::<Vec<_>>().join(", ")
                ),
            });
        }
    }
    let targets: BTreeSet<CephVersion> = plans
        .iter()
        .filter(|p| matches!(p.action, Action::Restart | Action::Start))
        .filter_map(|p| p.image_to.as_deref().and_then(|i| snap.version_of(i)))
        .collect();
    if targets.contains(&CephVersion { major: 20, minor: 2, patch: 0 }) {
        w.push(Warning {
            code: "tentacle-20.2.0",
            message: "Ceph 20.2.0 is not recommended: data corruption with read affinity (rook/rook#16839); use a \
                      later Tentacle release"
                .into(),
        });
    }
}

/// Gateways roll alongside the OSDs (FACTS §5, rook/rook#18367): say so where the OSD
/// phase is long (more than one batch), and how to hold them until the OSDs are done.
fn gateway_warnings(snap: &Snapshot, plans: &[DaemonPlan], w: &mut Vec<Warning>) {
    let osds = plans.iter().filter(|p| p.dtype == DaemonType::Osd && p.action == Action::Restart).count();
    let batch = snap.cluster.osd_max_updates_in_parallel.max(1) as usize;
    let early: Vec<&DaemonPlan> = plans.iter().filter(|p| p.alongside && p.action == Action::Restart).collect();
    let early: Vec<&DaemonPlan> = early
        .into_iter()
        .filter(|p| {
            p.step.is_some_and(|s| plans.iter().any(|o| o.dtype == DaemonType::Osd && o.step.is_some_and(|os| os >= s)))
        })
        .collect();
    if osds <= batch || early.is_empty() {
        return;
    }
    let mut types: BTreeMap<DaemonType, usize> = BTreeMap::new();
    for p in &early {
        *types.entry(p.dtype).or_default() += 1;
    }
    let stores: BTreeSet<&str> = early
        .iter()
        .filter(|p| p.dtype == DaemonType::Rgw)
        .filter_map(|p| snap.daemons.iter().find(|d| d.deployment == p.deployment).map(|d| d.id.id.as_str()))
        .collect();
    let list: Vec<String> = types.iter().map(|(t, n)| format!("{n} {}", t.ceph_name())).collect();
    let mut message = format!(
        "{} restart while the {osds} OSDs still roll in {} batches, not after them: their controllers wait only \
         for the mons (rook/rook#18367: S3 multipart failures for an hour on 551 OSDs)",
        list.join(", "),
        osds.div_ceil(batch)
    );
    if !stores.is_empty() {
        let ids: Vec<String> = stores.iter().map(|s| format!("rgw.{s}")).collect();
        message.push_str(&format!(
            "; to keep the RGWs until the OSDs are done: `kubectl ceph-image pause {}` first, then `resume` them \
             after the OSDs",
            ids.join(" ")
        ));
    }
    if types.contains_key(&DaemonType::Mds) {
        message.push_str("; the MDS cannot be held this way (the mds label does not take effect on current Rook)");
    }
    w.push(Warning { code: "gateways-with-osds", message });
}

/// Helm, Flux and Argo CD write their own values back at their next sync (FACTS §6).
fn manager_warnings(c: &crate::model::Cluster, changes: &[Change], w: &mut Vec<Warning>) {
    let paths: Vec<String> = changes
        .iter()
        .filter_map(|ch| match ch {
            Change::SetImage { target: Target::Base, .. } => Some("cephClusterSpec.cephVersion.image".to_string()),
            Change::SetImage { target: Target::Type(t), .. } | Change::Unset(t) => {
                Some(format!("cephClusterSpec.cephVersion.imageOverrides.{}", t.key()))
            }
            _ => None,
        })
        .collect();
    if let Some(o) = c.managers.iter().find(|m| m.controller) {
        w.push(Warning {
            code: "owned",
            message: format!(
                "the CephCluster is controlled by {} {}: it writes its spec back, undoing this change with its \
                 restarts half done (set/unset refuse without --force)",
                o.tool, o.name
            ),
        });
    }
    for m in c.managers.iter().filter(|m| !m.controller) {
        let name = if m.name.is_empty() { String::new() } else { format!(" {}", m.name) };
        let (what, fix) = match m.tool.as_str() {
            "Helm" => (
                format!("Helm release{name} (the rook-ceph-cluster chart)"),
                format!("change {} in the release's values and `helm upgrade`", paths.join(" and ")),
            ),
            "Flux" => (format!("Flux{name}"), "change the CephCluster in the Git source Flux applies".to_string()),
            _ => (
                format!("Argo CD application{name}"),
                "change the CephCluster in the application's source (or disable self-heal first)".to_string(),
            ),
        };
        w.push(Warning {
            code: "managed-elsewhere",
            message: format!(
                "the CephCluster is managed by {what}: its next sync writes spec.cephVersion back and undoes this \
                 change, its restarts half done; {fix}"
            ),
        });
    }
}

/// Apply one change to the cluster-as-it-would-be; (nothing changes, starts a reconcile).
/// The Rook operator image (`rook/ceph`) can never run a Ceph daemon (FACTS §5).
fn check_image(image: &str) -> Result<(), PlanError> {
    let name = image.split('@').next().unwrap_or(image);
    let repo = name.rsplit_once(':').filter(|(_, t)| !t.contains('/')).map_or(name, |(r, _)| r);
    if repo == "rook/ceph" || repo.ends_with("/rook/ceph") {
        return Err(PlanError::NotCeph { image: image.to_string() });
    }
    Ok(())
}

fn stage(
    snap: &Snapshot,
    by_name: &BTreeMap<&str, &Daemon>,
    after: &mut After,
    change: &Change,
    warnings: &mut Vec<Warning>,
) -> Result<(bool, bool), PlanError> {
    let warn = |w: &mut Vec<Warning>, code, message: String| w.push(Warning { code, message });
    let out = match change {
        Change::SetImage { target: Target::Base, image } => {
            check_image(image)?;
            let noop = after.base == *image;
            after.base = image.clone();
            (noop, !noop)
        }
        Change::SetImage { target: Target::Type(t), image } => {
            check_image(image)?;
            if snap.cluster.external && !t.runs_on_external() {
                return Err(PlanError::NotRunHere {
                    dtype: *t,
                    reason: format!(
                        "CephCluster {}/{} is external (spec.external.enable): Rook runs no {t} daemons here, \
                         the external Ceph cluster does, so an override would have no effect",
                        snap.cluster.namespace, snap.cluster.name
                    ),
                });
            }
            let noop = after.overrides.get(t.key()) == Some(image);
            after.overrides.insert(t.key().into(), image.clone());
            (noop, !noop)
        }
        Change::Unset(t) => {
            let noop = after.overrides.remove(t.key()).is_none();
            (noop, !noop)
        }
        Change::PauseCluster => {
            let noop = after.cluster_held;
            after.cluster_held = true;
            if !noop && !after.cluster_label_works {
                warn(
                    warnings,
                    "cluster-label-unsupported",
                    format!(
                        "this cluster runs Rook {}: the CephCluster-level label is honoured from Rook v1.19 only, so it \
                         holds nothing here; label the daemons instead (`pause osd --node NODE`, `pause mon.a`)",
                        snap.rook_version.as_deref().unwrap_or("?")
                    ),
                );
            } else if !noop {
                warn(
                    warnings,
                    "cluster-label",
                    "the CephCluster-level label skips mon, mgr and osd reconcile for the whole cluster; the \
                     filesystem, object store, nfs, crash and exporter controllers ignore it"
                        .into(),
                );
            }
            (noop, !noop)
        }
        Change::ResumeCluster => {
            let noop = !after.cluster_held;
            after.cluster_held = false;
            (noop, !noop)
        }
        Change::Pause(names) => {
            for n in names {
                let d = by_name.get(n.as_str()).copied();
                if let Some(d) = d {
                    check_holdable(d)?;
                }
            }
            let newly: Vec<&Daemon> =
                names.iter().filter_map(|n| by_name.get(n.as_str()).copied()).filter(|d| !d.labelled).collect();
            for d in &newly {
                after.labelled.insert(d.deployment.clone());
            }
            pause_warnings(&newly, &snap.daemons, warnings);
            (newly.is_empty(), false)
        }
        Change::Fence { dtype, image, .. } => {
            check_fenceable(*dtype)?;
            check_image(image)?;
            if snap.cluster.external && !dtype.runs_on_external() {
                return Err(PlanError::CannotFence {
                    dtype: *dtype,
                    reason: "this CephCluster is external (spec.external.enable): Rook runs no such daemons here"
                        .into(),
                });
            }
            // An OSD under replacement is Rook's: never fenced (FACTS §2).
            let targets: Vec<&Daemon> = fence_targets(snap, *dtype).collect();
            if let Change::Fence { batching, .. } = change
                && batching.by != FailureDomain::Host
                && *dtype == DaemonType::Osd
            {
                let key = if batching.by == FailureDomain::Rack {
                    "topology-location-rack"
                } else {
                    "topology-location-zone"
                };
                let missing = targets.iter().filter(|d| !d.labels.contains_key(key)).count();
                if missing > 0 {
                    warn(
                        warnings,
                        "batch-by-fallback",
                        format!(
                            "{missing} OSD Deployment(s) have no {key} label: they are batched by host, the smaller \
                             failure domain"
                        ),
                    );
                }
            }
            replacement_warnings(snap, *dtype, "fenced", warnings);
            let skipped: Vec<String> = snap
                .daemons
                .iter()
                .filter(|d| d.id.dtype == *dtype && !d.under_replacement)
                .filter(|d| d.held_by.is_some() || (d.labelled && d.fence.is_none()))
                .map(|d| d.id.to_string())
                .collect();
            if !skipped.is_empty() {
                warn(
                    warnings,
                    "fence-skips-held",
                    format!(
                        "{} already held (its own do-not-reconcile label or a maintenance copy's): not fenced, so \
                         that hold stays yours and unfencing never releases it; resume it first to fence it",
                        skipped.join(", ")
                    ),
                );
            }
            for d in &targets {
                after.pins.insert(d.deployment.clone(), image.clone());
                after.labelled.insert(d.deployment.clone());
            }
            let noop = targets.iter().all(|d| d.fenced_to(image));
            if !noop {
                fence_warnings(*dtype, &targets, warnings);
            }
            (noop, false)
        }
        Change::Unfence { dtype, reconcile_now } => {
            let targets: Vec<&Daemon> = snap
                .daemons
                .iter()
                .filter(|d| d.id.dtype == *dtype && d.fence.is_some() && !d.under_replacement)
                .collect();
            replacement_warnings(snap, *dtype, "unfenced", warnings);
            for d in &targets {
                after.labelled.remove(&d.deployment);
            }
            // A re-run after an unfence whose reconcile never started (interrupted between
            // the two): nothing is fenced, but the daemons still run the pinned image.
            let stale = *reconcile_now && targets.is_empty() && !unfenced_stale(snap, *dtype).is_empty();
            if stale {
                warn(
                    warnings,
                    "unfence-pending",
                    format!(
                        "no {dtype} Deployment is fenced, but {} still run(s) an image other than {}: starting the                          reconcile that returns them",
                        unfenced_stale(snap, *dtype).join(", "),
                        after.desired(*dtype)
                    ),
                );
            }
            let noop = targets.is_empty() && !stale;
            if !targets.is_empty() {
                let desired = after.desired(*dtype).to_string();
                let to = snap.version_of(&desired);
                let down: Vec<String> = targets
                    .iter()
                    .filter(|d| {
                        let from = d.image.as_deref().and_then(|i| snap.version_of(i));
                        matches!((from, to), (Some(f), Some(t)) if t < f)
                    })
                    .map(|d| d.id.to_string())
                    .collect();
                if !down.is_empty() {
                    warn(
                        warnings,
                        "downgrade",
                        format!(
                            "{} would return to {desired} when unfenced, a lower Ceph release than the fence runs: a \
                             Ceph daemon once upgraded cannot be downgraded; set the base image (or an override) to \
                             the fence's image first",
                            down.join(", ")
                        ),
                    );
                }
            }
            if !targets.is_empty() && !reconcile_now {
                let desired = after.desired(*dtype).to_string();
                let n = targets.iter().filter(|d| d.differs_from(&desired)).count();
                if n > 0 {
                    warn(
                        warnings,
                        "unfence-pending",
                        format!(
                            "{n} unfenced {dtype} daemon(s) keep their image until the operator's next reconcile, \
                             when they return to {desired}; removing the label does not start one \
                             (--reconcile-now does, by adding and removing the CephCluster-level label)"
                        ),
                    );
                }
            }
            (noop, !noop && *reconcile_now)
        }
        Change::Resume(names) => {
            let mut any = false;
            for n in names {
                let Some(d) = by_name.get(n.as_str()).copied() else { continue };
                if d.under_replacement {
                    warn(
                        warnings,
                        "osd-replacement",
                        format!(
                            "{} is being replaced (osd.rook.io/replace*): Rook set its label and owns it, so it is not \
                             resumed; removing that label would make Rook scale a destroyed OSD back up",
                            d.id
                        ),
                    );
                    continue;
                }
                if let Some(by) = &d.held_by {
                    warn(
                        warnings,
                        "held-by-copy",
                        format!(
                            "{} stays held: {by} carries the label and Rook skips every Deployment with its id; \
                             end the maintenance (`kubectl rook-ceph maintenance stop`) to release it",
                            d.id
                        ),
                    );
                }
                if d.labelled {
                    any = true;
                    after.labelled.remove(&d.deployment);
                    if let Some(f) = &d.fence {
                        warn(
                            warnings,
                            "fence-revert",
                            format!(
                                "{} was fenced to {} by this plugin: resuming it drops the fence, and its image \
                                 reverts to {} at the operator's next reconcile",
                                d.id,
                                f.image,
                                after.desired(d.id.dtype)
                            ),
                        );
                    }
                }
            }
            (!any, false)
        }
    };
    Ok(out)
}
