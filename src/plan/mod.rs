//! The restart plan (DESIGN §4): a pure function of (snapshot, requested change) that says,
//! for every daemon, whether its pods restart, stay unchanged, are held by
//! do-not-reconcile, or are not managed, in Rook's order, with every warning and its reason.
//! No I/O here: everything it needs is in the `Snapshot`. Beside it, as pure: the list of
//! writes a change makes (`writes`), the status view (`status`), the down-OSD gate
//! (`down`), what to ask Ceph before a restart (`ok_to_stop`), the staged upgrade's
//! stages and checks (`upgrade`) and the journal of a run of those writes (`journal`: what
//! became of each; the executor fills it in).

mod change;
pub mod down;
pub mod journal;
pub mod ok_to_stop;
pub mod order;
pub mod status;
mod types;
pub mod upgrade;
pub mod warnings;
pub mod writes;

use std::collections::{BTreeMap, BTreeSet};

use crate::model::daemon::{DaemonType, HoldScope};
use crate::model::{Daemon, Snapshot};
use change::{After, stage};
use order::{rook_steps, sequential_steps};
use upgrade::summarise;
use warnings::{gateway_warnings, manager_warnings, release_warnings, show};

pub use change::{fence_targets, held_now, held_now_but, unfenced_stale};
pub use types::{
    Action, Batching, Change, ChangeView, DaemonPlan, FailureDomain, Plan, PlanError, PodRef, Summary, Target,
};

/// The warnings' shape lives with the model, whose own checks make some of them.
pub use crate::model::warning::{WARNING_CODES, Warning};

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
                     desired one first ({}), or keep it held",
                    d.id,
                    show(&d.image),
                    snap.cluster.keep_advice(
                        d.id.dtype,
                        show(&d.image),
                        d.labelled.then(|| d.id.to_string()).as_deref()
                    )
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
    warnings::skip_upgrade_checks(c, &mut warnings);
    // What the change does to the objects, and whether it starts a reconcile.
    let (mut noop, mut reconcile) = (true, false);
    for change in changes {
        let (n, r) = stage(snap, &by_name, &mut after, change, &mut warnings)?;
        noop &= n;
        reconcile |= r;
    }
    // Rook checks the spec image's release before it reconciles anything: one it will not
    // run stops the reconcile there, and nothing restarts (model::support).
    let refused = (after.base != c.base_image).then_some(&after.base).and_then(|to| {
        let v = snap.version_of(to);
        crate::model::support::image_refusal(to, v, snap.rook_version.as_deref(), c.allow_unsupported)
    });
    if refused.is_some() {
        reconcile = false;
    }
    // Rook's health gates (FACTS §7): its CephCluster upgrade refuses a spec image of
    // another build on HEALTH_ERR (cluster/version.go, unless skipUpgradeChecks), and its
    // child controllers skip their reconcile on HEALTH_ERR unless every code is allowed.
    let err = c.health.as_deref() == Some("HEALTH_ERR");
    let upgrade_refused = reconcile
        && err
        && !c.skip_upgrade_checks
        && after.base != c.base_image
        && snap.build_of(&after.base).is_none_or(|b| Some(b) != snap.build_of(&c.base_image));
    let child_skip = crate::model::support::child_reconcile_skipped(
        c.health.as_deref(),
        &c.rook.health_checks,
        c.rook.phase.as_deref(),
        snap.rook_version.as_deref(),
    );
    let gated = |t: DaemonType| -> Option<String> {
        match crate::model::support::child_controller(t) {
            Some(ctl) => child_skip.as_ref().map(|why| format!("{why}: Rook's {ctl} controller skips its reconcile until it clears")),
            None => upgrade_refused.then(|| "the CephCluster reports HEALTH_ERR: Rook refuses to upgrade to another build until it clears (or skipUpgradeChecks)".to_string()),
        }
    };
    let mut gated_daemons: BTreeMap<String, usize> = BTreeMap::new();

    let mut daemons = Vec::with_capacity(snap.daemons.len());
    let mut held_missing = 0usize;
    let (mut paused_left_out, mut paused_restarting) = (Vec::new(), Vec::new());
    for d in &snap.daemons {
        let gate = if reconcile { gated(d.id.dtype) } else { None };
        let reconcile = reconcile && gate.is_none();
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
        } else if let (Some(why), true) = (&gate, drifts) {
            *gated_daemons.entry(d.id.dtype.ceph_name().to_string()).or_default() += 1;
            (Action::Unchanged, Some(format!("stays on {} while {why}", show(&d.image))), vec![])
        } else if drifts && refused.is_some() {
            // The `unsupported-release` warning says why, once for every daemon.
            (Action::Unchanged, None, vec![])
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
            own_image: d.pods.iter().find_map(|p| p.own_image.clone()).or_else(|| {
                let main = crate::classify::main_container(d.id.dtype);
                d.own_images.iter().find(|(c, _)| c == main).map(|(_, i)| i.clone())
            }),
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
    if !gated_daemons.is_empty() {
        let n: Vec<String> = gated_daemons.iter().map(|(t, n)| format!("{n} {t}")).collect();
        let mut message = format!("{} will not restart now: ", n.join(", "));
        if upgrade_refused {
            message.push_str(
                "Rook's CephCluster upgrade refuses another build on HEALTH_ERR (cluster/version.go, 'refusing to \
                 upgrade' unless spec.skipUpgradeChecks); ",
            );
        }
        if let Some(why) = &child_skip {
            message.push_str(&format!(
                "{why}: Rook's object store, filesystem, NFS and mirror controllers skip their reconcile unless \
                 Ceph's health is HEALTH_OK or HEALTH_WARN, or every HEALTH_ERR code is one they allow ({}; \
                 controller/controller_utils.go); ",
                crate::model::support::CHILD_RECONCILE_ALLOWS.join(", ")
            ));
        }
        message.push_str("they move once Rook reports a health that allows it, without another change");
        warnings.push(if c.health.as_deref() == Some("HEALTH_ERR") {
            Warning { code: "health-err", message }
        } else {
            Warning { code: "health-stale", message }
        });
    }
    if after.base != c.base_image
        && let Some(message) = snap.rook_rollout_warning(&after.base, false)
    {
        warnings.push(Warning { code: "rook-rollout", message });
    }
    if let Some(why) = &refused {
        warnings.push(Warning {
            code: "unsupported-release",
            message: format!(
                "{why}. Rook's version check (cluster/version.go) stops the whole CephCluster reconcile at the new \
                 spec image: nothing restarts, the CephCluster shows the error, and no other change of its spec is \
                 reconciled until the image is one Rook runs (or spec.cephVersion.allowUnsupported is set where \
                 that is allowed)"
            ),
        });
    }
    for change in changes {
        let (image, what) = match change {
            Change::SetImage { target: Target::Type(t), image } => (image, format!("the {} override", t.key())),
            Change::Fence { dtype, image, .. } => (image, format!("the fence of {}", dtype.key())),
            Change::SetImage { image, .. } => (image, String::new()),
            _ => continue,
        };
        if noop {
            continue;
        }
        if crate::model::support::floats(image) {
            warnings.push(Warning {
                code: "floating-image",
                message: format!(
                    "{image} names no fixed release (no tag, :latest, or a tag with no X.Y.Z such as v21 or main, \
                     and no digest): each node pulls whatever it is at the time, so daemons restarted apart may run \
                     different builds; Rook recommends a full version+build tag (v19.2.3-20250717) or a digest"
                ),
            });
        }
        if !what.is_empty()
            && let Some(why) = crate::model::support::image_refusal(
                image,
                snap.version_of(image),
                snap.rook_version.as_deref(),
                c.allow_unsupported,
            )
        {
            warnings.push(Warning {
                code: "unsupported-release",
                message: format!(
                    "{why}. Rook's version check covers the spec image; {what} runs it outside that check, on a \
                     release Rook does not test"
                ),
            });
        }
    }
    // A restart on a node that looks down replaces pods that cannot start there.
    let moving: Vec<&str> = daemons
        .iter()
        .filter(|d| matches!(d.action, Action::Restart | Action::Start))
        .map(|d| d.deployment.as_str())
        .collect();
    if !noop && let Some(message) = down::cannot_start(snap, &moving) {
        warnings.push(Warning { code: "node-down", message });
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
