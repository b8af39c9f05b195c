//! One staged change applied to the desired state (`After`): the base image, the
//! overrides, the holds and fences after it, and whether it starts a reconcile.

use std::collections::{BTreeMap, BTreeSet};

use super::warnings::{check_fenceable, check_holdable, fence_warnings, pause_warnings, replacement_warnings};
use super::{Change, FailureDomain, PlanError, Target};
use crate::model::daemon::{DaemonType, HoldScope};
use crate::model::warning::Warning;
use crate::model::{Daemon, Snapshot};

/// The cluster as it would be after the change.
pub(super) struct After {
    pub(super) base: String,
    pub(super) overrides: BTreeMap<String, String>,
    pub(super) cluster_held: bool,
    /// The CephCluster-level label is honoured from Rook v1.19 (FACTS §2).
    pub(super) cluster_label_works: bool,
    pub(super) labelled: BTreeSet<String>,
    /// Deployments whose label is the staged upgrade's own hold, judged as if unlabelled
    /// (`held_now_but`); empty otherwise.
    pub(super) ours: BTreeSet<String>,
    /// Deployments the change itself rewrites to an image (a fence): Kubernetes rolls
    /// them at once, whatever the operator does.
    pub(super) pins: BTreeMap<String, String>,
}

impl After {
    /// The cluster as it is, before any change is staged.
    pub(super) fn now(snap: &Snapshot) -> After {
        After::now_but(snap, |_| false)
    }

    /// As `now`, with the labels of the daemons `ours` picks left out.
    fn now_but(snap: &Snapshot, ours: impl Fn(&Daemon) -> bool) -> After {
        let c = &snap.cluster;
        let (mut mine, mut labelled) = (BTreeSet::new(), BTreeSet::new());
        for d in snap.daemons.iter().filter(|d| d.labelled) {
            if ours(d) { &mut mine } else { &mut labelled }.insert(d.deployment.clone());
        }
        After {
            base: c.base_image.clone(),
            overrides: c.overrides.clone(),
            cluster_held: c.held,
            cluster_label_works: snap.rook_release().is_none_or(|r| r >= (1, 19)),
            labelled,
            ours: mine,
            pins: BTreeMap::new(),
        }
    }

    pub(super) fn desired(&self, t: DaemonType) -> &str {
        self.overrides.get(t.key()).unwrap_or(&self.base)
    }

    /// Held after the change, with the reason (FACTS §2).
    pub(super) fn held(&self, d: &Daemon, all: &[Daemon]) -> Option<String> {
        if self.cluster_held && self.cluster_label_works && d.id.dtype.held_by_cluster_label() {
            return Some("the CephCluster carries ceph.rook.io/do-not-reconcile".into());
        }
        if let Some(by) = &d.held_by {
            return Some(format!("{by} is labeled and Rook skips every Deployment with its id label"));
        }
        if let Some(f) = d.fence.as_ref().filter(|_| self.labelled.contains(&d.deployment)) {
            return Some(format!("fenced by this plugin to {}", f.image));
        }
        if d.under_replacement && d.labelled && !self.ours.contains(&d.deployment) {
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

/// Apply one change to the cluster-as-it-would-be; (nothing changes, starts a reconcile).
/// The Rook operator image (`rook/ceph`) can never run a Ceph daemon (FACTS §5).
pub(super) fn check_image(image: &str) -> Result<(), PlanError> {
    let name = image.split('@').next().unwrap_or(image);
    let repo = name.rsplit_once(':').filter(|(_, t)| !t.contains('/')).map_or(name, |(r, _)| r);
    if repo == "rook/ceph" || repo.ends_with("/rook/ceph") {
        return Err(PlanError::NotCeph { image: image.to_string() });
    }
    Ok(())
}

pub(super) fn stage(
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
            // The label a staged upgrade put on to start a reconcile (`UPGRADE_RECONCILE`)
            // becomes the operator's: the upgrade never removes it then.
            let noop = after.cluster_held && !snap.cluster.upgrade_reconcile;
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
            // A hold of a staged upgrade's becomes the operator's: the upgrade never
            // releases it then (its annotation goes; the label stays).
            let newly: Vec<&Daemon> = names
                .iter()
                .filter_map(|n| by_name.get(n.as_str()).copied())
                .filter(|d| !d.labelled || d.upgrade_hold.is_some())
                .collect();
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
            if targets.is_empty() {
                left_out_of_fence(snap, *dtype)?;
            }
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

/// A fence whose every daemon is left out (held, paused by `kubectl rollout pause`, under
/// replacement) would change nothing while the type keeps its image: refused, naming
/// each daemon and what frees it, rather than called "nothing to change". Ok where the
/// type has no daemon at all (the plan says there is nothing to fence).
fn left_out_of_fence(snap: &Snapshot, t: DaemonType) -> Result<(), PlanError> {
    let why: Vec<String> = snap
        .daemons
        .iter()
        .filter(|d| d.id.dtype == t)
        .map(|d| {
            let what = if d.under_replacement {
                "an OSD under replacement (Rook's own)".to_string()
            } else if d.paused {
                format!(
                    "its Deployment is paused (`kubectl -n {} rollout resume deployment/{}`)",
                    snap.cluster.namespace, d.deployment
                )
            } else if let Some(copy) = &d.held_by {
                format!("held by its maintenance copy {copy}")
            } else {
                format!("held by its own do-not-reconcile label (`kubectl ceph-image resume {}` first)", d.id)
            };
            format!("{}: {what}", d.id)
        })
        .collect();
    if why.is_empty() {
        return Ok(());
    }
    Err(PlanError::CannotFence {
        dtype: t,
        reason: crate::output::clean(&format!(
            "no {t} daemon can be fenced, so its image would not change: {}",
            crate::output::some_of(&why, 6, 5, "; ", |n| format!("; and {n} more"))
        ))
        .into_owned(),
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
    held_now_but(snap, |_| false)
}

/// As `held_now`, the labels of the daemons `ours` picks judged as absent (the staged
/// upgrade's own holds are not the operator's). Borrows the snapshot: a 2000-OSD upgrade
/// asks this every round, and a copy of the snapshot cost more than the answer.
pub fn held_now_but(snap: &Snapshot, ours: impl Fn(&Daemon) -> bool) -> Vec<Option<String>> {
    let now = After::now_but(snap, ours);
    snap.daemons.iter().map(|d| now.held(d, &snap.daemons)).collect()
}
