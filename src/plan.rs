//! The restart plan (DESIGN §4): a pure function of (snapshot, requested change) that says,
//! for every daemon, whether its pods restart, stay unchanged, are held by
//! do-not-reconcile, or are not managed, in Rook's order, with every warning and its reason.
//! No I/O here: everything it needs is in the `Snapshot`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::daemon::{DaemonType, HoldScope};
use crate::image::{CephVersion, ceph_version};
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
    /// its Ceph containers to the image (DESIGN §3.2).
    Fence {
        dtype: DaemonType,
        image: String,
    },
    /// `unset TYPE --strategy fence [--reconcile-now]`: remove the fences of the type.
    Unfence {
        dtype: DaemonType,
        reconcile_now: bool,
    },
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
    pub note: Option<String>,
    /// The Deployment's do-not-reconcile label after the change.
    pub labelled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub restart: usize,
    pub restart_pods: usize,
    pub unchanged: usize,
    pub held: usize,
    pub not_managed: usize,
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
    CannotHold { daemon: String, reason: String },
    CannotFence { dtype: DaemonType, reason: String },
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::CannotHold { daemon, reason } => write!(f, "cannot hold {daemon}: {reason}"),
            PlanError::CannotFence { dtype, reason } => write!(f, "cannot fence {dtype}: {reason}"),
        }
    }
}

/// The cluster as it would be after the change.
struct After {
    base: String,
    overrides: BTreeMap<String, String>,
    cluster_held: bool,
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
            labelled: snap.daemons.iter().filter(|d| d.labelled).map(|d| d.deployment.clone()).collect(),
            pins: BTreeMap::new(),
        }
    }

    fn desired(&self, t: DaemonType) -> &str {
        self.overrides.get(t.key()).unwrap_or(&self.base)
    }

    /// Held after the change, with the reason (FACTS §2).
    fn held(&self, d: &Daemon, all: &[Daemon]) -> Option<String> {
        if self.cluster_held && d.id.dtype.held_by_cluster_label() {
            return Some("the CephCluster carries ceph.rook.io/do-not-reconcile".into());
        }
        match d.id.dtype.hold_scope() {
            HoldScope::Daemon => self.labelled.contains(&d.deployment).then(|| "labelled do-not-reconcile".into()),
            HoldScope::ObjectStore => all
                .iter()
                .find(|o| o.id.dtype == d.id.dtype && o.id.id == d.id.id && self.labelled.contains(&o.deployment))
                .map(|o| format!("{} is labelled and holds object store {}", o.deployment, d.id.id)),
            HoldScope::AllOfType => all
                .iter()
                .find(|o| o.id.dtype == d.id.dtype && self.labelled.contains(&o.deployment))
                .map(|o| format!("{} is labelled and holds every rbd-mirror", o.deployment)),
            HoldScope::Ineffective | HoldScope::NotHonoured => None,
        }
    }
}

/// For each daemon of the snapshot, why it is held now (None: not held).
pub fn held_now(snap: &Snapshot) -> Vec<Option<String>> {
    let now = After::now(snap);
    snap.daemons.iter().map(|d| now.held(d, &snap.daemons)).collect()
}

fn pods_of(d: &Daemon) -> Vec<PodRef> {
    d.pods.iter().map(|p| PodRef { name: p.name.clone(), node: p.node.clone() }).collect()
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
        Change::Fence { dtype, image } => {
            let ds = snap.daemons.iter().filter(|d| d.id.dtype == *dtype).map(|d| d.deployment.clone()).collect();
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
    let mut step = 0u32;
    let mut osd_in_batch = 0u32;
    let batch = c.osd_max_updates_in_parallel.max(1);
    let mut held_missing = 0usize;
    for d in &snap.daemons {
        let desired = after.desired(d.id.dtype).to_string();
        let held_now_reason = after.held(d, &snap.daemons);
        let managed = !d.ceph_images.is_empty();
        let drifts = managed && d.differs_from(&desired);
        let pinned = after.pins.get(&d.deployment);
        let (action, note, pods) = if let (Some(pin), true) = (pinned, managed) {
            if d.differs_from(pin) {
                (
                    Action::Restart,
                    Some(format!(
                        "fenced: its Deployment is rewritten to {pin} and rolls at once; the operator then leaves it alone"
                    )),
                    pods_of(d),
                )
            } else {
                (Action::Unchanged, Some(format!("fenced: already runs {pin}; labelled and annotated")), vec![])
            }
        } else if !managed {
            (Action::NotManaged, Some("no container with CONTAINER_IMAGE: cannot tell which run Ceph".into()), vec![])
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
        } else if reconcile && drifts {
            (Action::Restart, None, pods_of(d))
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
                note = Some("labelled, but Rook does not honour the label here: the rewrite drops it".into());
            }
            (Action::Unchanged, note, vec![])
        };
        let this_step = (action == Action::Restart).then(|| {
            if d.id.dtype == crate::daemon::DaemonType::Osd {
                if osd_in_batch == 0 {
                    step += 1;
                }
                osd_in_batch = (osd_in_batch + 1) % batch;
            } else {
                osd_in_batch = 0;
                step += 1;
            }
            step
        });
        daemons.push(DaemonPlan {
            daemon: d.id.to_string(),
            dtype: d.id.dtype,
            deployment: d.deployment.clone(),
            node: d.node.clone(),
            action,
            image_from: d.image.clone(),
            image_to: Some(pinned.cloned().unwrap_or(desired)).filter(|_| managed),
            pods,
            step: this_step,
            note,
            labelled: after.labelled.contains(&d.deployment),
        });
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
        release_warnings(snap, &daemons, &mut warnings);
    }
    for change in changes {
        if let Change::SetImage { image, .. } = change
            && !noop
            && let Ok(r) = crate::image::parse(image)
            && r.is_floating()
        {
            warnings.push(Warning {
                code: "floating-image",
                message: format!("{image} has neither tag nor digest: each node pulls whatever :latest is at the time"),
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
        }
    }
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
    })
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
            message: "while any mon is labelled, Rook stops mon health checks and failover for the whole cluster"
                .into(),
        }),
        DaemonType::Rgw => {
            let stores: BTreeSet<&str> = targets.iter().map(|d| d.id.id.as_str()).collect();
            w.push(Warning {
                code: "rgw-scope",
                message: format!(
                    "fencing rgw holds every RGW of object store(s) {}: Rook reconciles none of them while one is labelled",
                    stores.into_iter().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        DaemonType::Rbdmirror => w.push(Warning {
            code: "rbd-mirror-scope",
            message: "fencing rbd-mirror holds all rbd-mirror daemons: any labelled one stops their reconcile".into(),
        }),
        _ => {}
    }
}

fn pause_warnings(newly: &[&Daemon], all: &[Daemon], w: &mut Vec<Warning>) {
    if newly.iter().any(|d| d.id.dtype == DaemonType::Mon) {
        w.push(Warning {
            code: "mon-failover",
            message: "while any mon is labelled, Rook stops mon health checks and failover for the whole cluster"
                .into(),
        });
    }
    let mut stores = BTreeSet::new();
    for d in newly.iter().filter(|d| d.id.dtype == DaemonType::Rgw) {
        if stores.insert(d.id.id.clone()) {
            let n = all.iter().filter(|o| o.id.dtype == DaemonType::Rgw && o.id.id == d.id.id).count();
            w.push(Warning {
                code: "rgw-scope",
                message: format!(
                    "one labelled RGW holds the whole object store {}: all {n} of its RGW Deployment(s)",
                    d.id.id
                ),
            });
        }
    }
    if newly.iter().any(|d| d.id.dtype == DaemonType::Rbdmirror) {
        let n = all.iter().filter(|o| o.id.dtype == DaemonType::Rbdmirror).count();
        w.push(Warning {
            code: "rbd-mirror-scope",
            message: format!("any labelled rbd-mirror holds all rbd-mirror daemons ({n} in this cluster)"),
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

/// Release-order checks (FACTS §5) on what would run after the change.
fn release_warnings(snap: &Snapshot, plans: &[DaemonPlan], w: &mut Vec<Warning>) {
    let mut unknown: BTreeSet<String> = BTreeSet::new();
    let mut running: Vec<(DaemonType, Option<CephVersion>)> = Vec::new();
    let mut downgrades: BTreeMap<(DaemonType, String, String), usize> = BTreeMap::new();
    let mut jumps: BTreeMap<(DaemonType, String, String), usize> = BTreeMap::new();
    for (p, d) in plans.iter().zip(&snap.daemons) {
        if p.action == Action::NotManaged {
            continue;
        }
        let now = d.image.as_deref();
        let then = if p.action == Action::Restart { p.image_to.as_deref() } else { now };
        let v = then.and_then(ceph_version);
        if v.is_none()
            && let Some(i) = then
        {
            unknown.insert(i.to_string());
        }
        running.push((d.id.dtype, v));
        if p.action == Action::Restart
            && let (Some(from), Some(to)) = (now.and_then(ceph_version), v)
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
            message: format!("cannot tell the Ceph release of {i} (no version tag): release-order checks skip it"),
        });
    }
    for ((t, from, to), n) in &downgrades {
        w.push(Warning {
            code: "downgrade",
            message: format!(
                "{n} {t} daemon(s) would go from {from} down to {to}: a Ceph daemon once upgraded cannot be downgraded"
            ),
        });
    }
    for ((t, from, to), n) in &jumps {
        w.push(Warning {
            code: "major-jump",
            message: format!(
                "{n} {t} daemon(s) would go from {from} to {to}: an upgrade may skip at most one major release \
                 (e.g. Reef 18 or Squid 19 to Tentacle 20)"
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
                "{t} would run Ceph {v} ({}) while the mons run {mon} ({}): Rook and Ceph upgrade the mons first",
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
    let mut versions: BTreeMap<String, BTreeMap<DaemonType, usize>> = BTreeMap::new();
    for (t, v) in &running {
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
}

/// Apply one change to the cluster-as-it-would-be; (nothing changes, starts a reconcile).
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
            let noop = after.base == *image;
            after.base = image.clone();
            (noop, !noop)
        }
        Change::SetImage { target: Target::Type(t), image } => {
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
            if !noop {
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
        Change::Fence { dtype, image } => {
            check_fenceable(*dtype)?;
            let targets: Vec<&Daemon> = snap.daemons.iter().filter(|d| d.id.dtype == *dtype).collect();
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
            let targets: Vec<&Daemon> =
                snap.daemons.iter().filter(|d| d.id.dtype == *dtype && d.fence.is_some()).collect();
            for d in &targets {
                after.labelled.remove(&d.deployment);
            }
            let noop = targets.is_empty();
            if !noop && !reconcile_now {
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
                            "{} is being replaced (osd.rook.io/replace*): Rook set its label and it keeps it",
                            d.id
                        ),
                    );
                    continue;
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
