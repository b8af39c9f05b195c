//! Staged upgrades (DESIGN §10, issue 15): the plan, pure. `upgrade IMAGE` moves the base
//! image to IMAGE in stages with the plugin's own levers, so that each daemon type moves
//! when the operator's order says and not when Rook's own controllers would:
//!
//! - **holds** (`ceph.rook.io/do-not-reconcile`, annotated `UPGRADE_HOLD`) keep the types
//!   Rook honours the label for (mgr, osd, rgw, nfs, rbd-mirror; FACTS §2) where they are;
//!   a stage releases them (label removed) and starts a reconcile by adding and removing
//!   the CephCluster-level label (Rook v1.19+), so Rook itself rebuilds each Deployment
//!   once, with exactly the template it generates: nothing restarts twice;
//! - **overrides** (`spec.cephVersion.imageOverrides`, where the CRD has it) pin the types
//!   Rook cannot hold (mds: the label never matches; cephfs-mirror, nvmeof, crash and
//!   exporter ignore it) to the image they run; a stage removes the override;
//! - on released Rook those types cannot be pinned at all: the plan says that they move
//!   with the base image change, right after the mons (`Mover::early`).
//!
//! The base image changes in the mon stage (mons first: FACTS §5, cephadm's rule), in one
//! merge patch with the overrides that pin what cannot be held. OSDs go in batches that
//! never span two failure domains (`--batch-by`, `--max-unavailable`), after an optional
//! canary of N OSDs. Gateways (mds, rgw, nfs...) wait until every OSD runs the target
//! (rook/rook#18367).

pub mod check;
pub mod writes;

mod osd;
mod types;

use std::collections::{BTreeMap, BTreeSet};

use crate::model::daemon::{DaemonType, HoldScope};
use crate::model::{Daemon, Snapshot};
use crate::plan::Warning;
use osd::{domain_labels, falls_back, osd_stages, prepull_nodes};
use types::{Class, Lever, gates, mover};

mod preflight;
pub use preflight::{NOT_STARTING, preflight, stage_blocked};
pub use types::{Excluded, Left, Mover, Params, Stage, StageKind, State, StatusDoc, Summary, UpgradePlan};

/// Ceph's order (FACTS §5): mons, mgrs, OSDs, then the gateways and the node daemons,
/// which is the declaration order of `DaemonType`.
pub const DEFAULT_ORDER: [DaemonType; 11] = DaemonType::ALL;

/// `--order mon,mgr,osd,...`: the types named first, in that order, then the rest in
/// Ceph's order. Refused (with the reason) when a type comes before the mons: every
/// other daemon must run a release the mons already run (FACTS §5; cephadm refuses
/// staggered upgrades that skip earlier types).
pub fn order_of(named: &[DaemonType]) -> Result<Vec<DaemonType>, String> {
    let mut out: Vec<DaemonType> = Vec::new();
    for t in named {
        if out.contains(t) {
            return Err(format!("--order names {t} twice"));
        }
        out.push(*t);
    }
    if let Some(first) = out.first()
        && *first != DaemonType::Mon
    {
        return Err(format!(
            "--order puts {first} before the mons: no daemon may run a release the mons do not run yet (Ceph \
             upgrades the mons first; cephadm refuses it too). Start the order with mon"
        ));
    }
    for t in DEFAULT_ORDER {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    // mgr and osd come right after the mons: Ceph's documented order, and no client-facing
    // daemon may run a newer release than the OSDs (rook/rook#18367).
    for (i, core) in [DaemonType::Mgr, DaemonType::Osd].into_iter().enumerate() {
        if out[i + 1] != core {
            return Err(format!(
                "--order puts {} before the {core}s: Ceph upgrades mon, mgr, then osd before any other daemon, and \
                 gateways must not run a newer release than the OSDs (rook/rook#18367). --order chooses the order \
                 of the types after them (e.g. --order mon,mgr,osd,rgw,mds)",
                out[i + 1]
            ));
        }
    }
    Ok(out)
}

fn lever(t: DaemonType, overrides: bool, partial: bool) -> Lever {
    match (t, t.hold_scope()) {
        (DaemonType::Mon, _) => Lever::Base,
        (_, HoldScope::Daemon | HoldScope::ObjectStore | HoldScope::AllOfType) => Lever::Hold,
        _ if partial => Lever::Set,
        _ if overrides => Lever::Override,
        _ => Lever::Early,
    }
}

/// Every daemon of `t` (with Ceph containers) runs `image`.
fn type_on(snap: &Snapshot, t: DaemonType, image: &str) -> bool {
    snap.daemons.iter().filter(|d| d.id.dtype == t && !d.ceph_images.is_empty()).all(|d| !d.differs_from(image))
}

/// `--types`: the types this upgrade moves, or None for every type (none named, or every
/// type the cluster runs named). Refused where the CRD has no `imageOverrides` (the mons
/// move only with the base image there, and everything Rook cannot hold with them), and
/// where a type would move ahead of an earlier type of the order that does not run the
/// target yet (FACTS §5: cephadm refuses staggered upgrades that skip earlier types).
fn scope_of(
    snap: &Snapshot,
    p: &Params,
    order: &[DaemonType],
    overrides: bool,
) -> Result<Option<BTreeSet<DaemonType>>, String> {
    if p.types.is_empty() {
        return Ok(None);
    }
    let named: BTreeSet<DaemonType> = p.types.iter().copied().collect();
    let present: BTreeSet<DaemonType> = snap.daemons.iter().map(|d| d.id.dtype).collect();
    if present.is_subset(&named) {
        return Ok(None);
    }
    if !overrides {
        return Err(format!(
            "--types needs spec.cephVersion.imageOverrides, which this cluster's CephCluster CRD does not have: on \
             released Rook the mons move only with spec.cephVersion.image, and mds, crash, exporter and \
             cephfs-mirror move with them, so a partial upgrade would hold the other types from every reconcile \
             indefinitely. Upgrade every type (stop between stages with --canary, `upgrade pause`, \
             --pause-between), or move one type with `kubectl ceph-image set TYPE {} --strategy fence`",
            p.image
        ));
    }
    // Types not named and not on the target yet, before the last type named.
    let last = order.iter().rposition(|t| named.contains(t)).unwrap_or(0);
    let behind: Vec<DaemonType> = order[..last]
        .iter()
        .copied()
        .filter(|t| !named.contains(t) && present.contains(t) && !type_on(snap, *t, &p.image))
        .collect();
    if let Some(first_named_after) = behind.first().and_then(|b| {
        let i = order.iter().position(|o| o == b).unwrap_or(0);
        order[i..].iter().find(|t| named.contains(t))
    }) {
        let all: Vec<&str> =
            order.iter().filter(|o| named.contains(o) || behind.contains(o)).map(|o| o.key()).collect();
        let names: Vec<&str> = behind.iter().map(|b| b.key()).collect();
        return Err(format!(
            "--types moves {first_named_after} while {} (earlier in the order) do(es) not run {} yet: no daemon may \
             run a release the earlier types do not run (cephadm refuses it too). Name them as well (--types {})",
            names.join(", "),
            p.image,
            all.join(",")
        ));
    }
    Ok(Some(named))
}

/// The plan from a snapshot. `overrides`: the CRD has `imageOverrides`. `state`: an
/// upgrade under way (its pins are this upgrade's, not the operator's). Errors are
/// refusals with the reason (exit 2).
/// The flags a stage that moves OSDs sets around them (`Stage::flags`): `noout` on the
/// batch's failure domain (the CRUSH node of that name, as Ceph's `osd tree` names it at
/// run time), `noautoscale`; none where the stage moves no OSD or `--no-noout` /
/// `--no-noautoscale` turned them off.
fn osd_flags(s: &Stage, p: &Params) -> Vec<String> {
    if !s.daemons.iter().any(|d| d.dtype == DaemonType::Osd) {
        return Vec::new();
    }
    let mut f = Vec::new();
    if p.noout {
        f.push(match &s.failure_domain {
            // the CRUSH node Ceph's tree names, or the OSDs themselves where it has no
            // node of that kind (a failure domain that fell back to the host)
            Some(fd) => format!("noout on {fd} while it restarts"),
            None => "noout on the CRUSH nodes of its OSDs while they restart".into(),
        });
    }
    if p.noautoscale {
        f.push(format!("{} during the OSD stages", crate::model::osd_flag::NOAUTOSCALE));
    }
    f
}

pub fn plan(snap: &Snapshot, p: &Params, overrides: bool, state: Option<&State>) -> Result<UpgradePlan, String> {
    let c = &snap.cluster;
    let image = p.image.as_str();
    if c.external {
        return Err(format!(
            "CephCluster {}/{} is external: Rook runs no mon, mgr or osd here, so there is nothing to upgrade in \
             stages; upgrade the Ceph cluster where it runs",
            c.namespace, c.name
        ));
    }
    if c.held && !c.upgrade_reconcile {
        return Err("the CephCluster carries ceph.rook.io/do-not-reconcile: Rook reconciles no mon, mgr or osd \
                    while it does. `resume cluster` first"
            .into());
    }
    if snap.rook_release().is_some_and(|r| r < (1, 19)) {
        return Err(format!(
            "this cluster runs Rook {}: a staged upgrade releases each stage by adding and removing the \
             CephCluster-level do-not-reconcile label, which Rook honours from v1.19",
            snap.rook_version.as_deref().unwrap_or("?")
        ));
    }
    let order = order_of(&p.order)?;
    let scope = scope_of(snap, p, &order, overrides)?;
    let partial = scope.is_some();
    let in_scope = |t: DaemonType| scope.as_ref().is_none_or(|s| s.contains(&t));
    let mut warnings = Vec::new();
    crate::plan::warnings::skip_upgrade_checks(c, &mut warnings);
    // Versions: one major release at most, never down (FACTS §5).
    if let Some(to) = snap.version_of(image) {
        let mut down = Vec::new();
        let mut too_far = Vec::new();
        for d in snap.daemons.iter().filter(|d| in_scope(d.id.dtype)) {
            let Some(from) = d.image.as_deref().and_then(|i| snap.version_of(i)) else { continue };
            if from > to {
                down.push(d.id.to_string());
            } else if to.major > from.major + 1 {
                too_far.push(d.id.to_string());
            }
        }
        if !down.is_empty() {
            let newest = snap
                .daemons
                .iter()
                .filter_map(|d| d.image.as_deref().and_then(|i| snap.version_of(i)))
                .max()
                .unwrap_or(to);
            return Err(format!(
                "{image} is Ceph {to}, older than what {} run(s): a daemon once upgraded cannot be downgraded; name \
                 Ceph {newest} or newer",
                summarise(&down)
            ));
        }
        if !too_far.is_empty() {
            return Err(format!(
                "{image} is Ceph {to}, more than one major release past what {} run(s): an upgrade may skip at most \
                 one (e.g. Reef 18 or Squid 19 to Tentacle 20)",
                summarise(&too_far)
            ));
        }
        if (to.major, to.minor, to.patch) == (20, 2, 0) {
            warnings.push(Warning {
                code: "tentacle-20.2.0",
                message: "Tentacle 20.2.0 is not recommended (data corruption with read affinity, rook/rook#16839)"
                    .into(),
            });
        }
    }
    // After the release-order checks: a downgrade or a jump is said as such first.
    if let Some(why) = snap.upgrade_refusal(image, state.is_none_or(|s| !s.spec_set)) {
        return Err(why);
    }
    // Rook's own rollout of another image in flight (issue 22 kind 4), before this upgrade
    // writes the spec image.
    if let Some(message) = snap.rook_rollout_warning(image, true).filter(|_| state.is_none_or(|s| !s.spec_set)) {
        warnings.push(Warning { code: "rook-rollout", message });
    }
    if snap.version_of(image).is_none() {
        warnings.push(Warning {
            code: "unknown-version",
            message: format!(
                "the Ceph release of {image} cannot be told (its tag names none, or it is a digest): the release-order \
                 checks (no downgrade, at most one major release) are skipped"
            ),
        });
    }
    if c.health.as_deref() == Some("HEALTH_ERR") {
        warnings.push(Warning {
            code: "health-err",
            message: "the CephCluster reports HEALTH_ERR: no stage starts until it clears (each stage waits for it \
                      within --timeout, then stops), as Rook itself refuses to upgrade on HEALTH_ERR"
                .into(),
        });
    }
    let pins_of_ours: BTreeMap<String, String> = state.map(|s| s.pins.clone()).unwrap_or_default();
    // Operator holds: the snapshot without this upgrade's own holds.
    let held = crate::plan::held_now_but(snap, |d| d.upgrade_hold.is_some());
    let base_moved = c.base_image == image;
    // The spec already sends this type to the target: its daemons move once released.
    let moved = |t: DaemonType| {
        if partial { c.overrides.get(t.key()).is_some_and(|o| o == image) } else { base_moved }
    };
    let mut excluded = Vec::new();
    let mut class: Vec<Class> = Vec::with_capacity(snap.daemons.len());
    for (i, d) in snap.daemons.iter().enumerate() {
        let t = d.id.dtype;
        let ex = |reason: String| Excluded {
            daemon: d.id.to_string(),
            deployment: d.deployment.clone(),
            image: d.image.clone(),
            reason,
        };
        // An override of the operator's that already names the target is not in the way.
        let own_override =
            c.overrides.get(t.key()).filter(|o| pins_of_ours.get(t.key()) != Some(*o) && o.as_str() != image);
        let k = if !in_scope(t) {
            Class::OutOfScope
        } else if !d.ceph_images.is_empty() && !d.differs_from(image) && d.fence.is_none() {
            Class::OnTarget
        } else if d.ceph_images.is_empty() {
            excluded.push(ex("the plugin cannot tell which of its containers run Ceph".into()));
            Class::Excluded
        } else if d.under_replacement {
            excluded.push(ex("being replaced (osd.rook.io/replace*): Rook owns its label".into()));
            Class::Excluded
        } else if let Some(f) = &d.fence {
            excluded.push(ex(format!(
                "fenced to {} by this plugin: `unset {t} --strategy fence` first to include it",
                f.image
            )));
            Class::Excluded
        } else if let Some(o) = own_override {
            excluded.push(ex(format!(
                "the {t} type has its own override ({o}): it does not follow the base image; `unset {t}` to include it"
            )));
            Class::Excluded
        } else if let Some(why) = &held[i] {
            excluded.push(ex(format!("{why}: the upgrade leaves what you hold; resume it to include it")));
            Class::Excluded
        } else {
            Class::Moves(lever(t, overrides, partial))
        };
        class.push(k);
    }
    let movers: Vec<(Lever, &Daemon)> = snap
        .daemons
        .iter()
        .zip(&class)
        .filter_map(|(d, k)| match k {
            Class::Moves(l) => Some((*l, d)),
            _ => None,
        })
        .collect();
    let on_target = class.iter().filter(|k| **k == Class::OnTarget).count();
    // Our holds on daemons already on the target: released in their type's stage.
    let release_only: Vec<&Daemon> = snap
        .daemons
        .iter()
        .zip(&class)
        .filter(|(d, k)| **k == Class::OnTarget && d.upgrade_hold.is_some())
        .map(|(d, _)| d)
        .collect();
    let mut stages: Vec<Stage> = Vec::new();
    let stage = Stage::new;
    // Prepare: hold what Rook honours the label for, before the spec sends it to the target.
    let mut prepare = stage("prepare".into(), StageKind::Prepare, vec![]);
    prepare.holds = movers
        .iter()
        .filter(|(l, d)| *l == Lever::Hold && !moved(d.id.dtype) && d.upgrade_hold.is_none())
        .map(|(_, d)| d.deployment.clone())
        .collect();
    prepare.gates = vec!["every hold labeled and read back before anything moves".into()];
    if !prepare.holds.is_empty() {
        stages.push(prepare);
    }
    // Base: the mons, and what cannot be kept.
    let with_movers: BTreeSet<DaemonType> = movers.iter().map(|(_, d)| d.id.dtype).collect();
    let mut base = stage("mon".into(), StageKind::Base, vec![DaemonType::Mon]);
    if partial {
        // The mons' and the held types' overrides, in one patch; the held ones wait.
        for t in with_movers.iter().filter(|t| matches!(lever(**t, overrides, true), Lever::Base | Lever::Hold)) {
            if !moved(*t) {
                base.overrides.insert(t.key().to_string(), image.to_string());
            }
        }
        if !with_movers.contains(&DaemonType::Mon) {
            base.name = "overrides".into();
            base.types = vec![];
        }
    } else if !base_moved {
        base.base = Some(image.to_string());
        for (l, d) in &movers {
            if *l == Lever::Override && !base.pins.contains_key(d.id.dtype.key()) {
                let (now, _) = c.desired_image(d.id.dtype);
                base.pins.insert(d.id.dtype.key().to_string(), now.to_string());
            }
        }
        // Overrides that already name the target say nothing once the base does: they go in
        // the same patch, which restarts nothing for them.
        base.unpin = c
            .overrides
            .iter()
            .filter(|(k, v)| v.as_str() == image && !pins_of_ours.contains_key(*k))
            .map(|(k, _)| k.clone())
            .collect();
    }
    base.daemons = movers
        .iter()
        .filter(|(l, _)| matches!(l, Lever::Base | Lever::Early))
        .map(|(l, d)| mover(d, *l == Lever::Early))
        .collect();
    base.gates = gates(image);
    if base.base.is_some() || !base.overrides.is_empty() || !base.daemons.is_empty() {
        stages.push(base);
    }
    let early: BTreeSet<DaemonType> =
        movers.iter().filter(|(l, _)| *l == Lever::Early).map(|(_, d)| d.id.dtype).collect();
    if !early.is_empty() {
        let names: Vec<String> = early.iter().map(|t| t.ceph_name().to_string()).collect();
        warnings.push(Warning {
            code: "moves-early",
            message: format!(
                "{} cannot be held on this Rook (the do-not-reconcile label has no effect on them and the CRD has no \
                 imageOverrides): they move in the mon stage, with the base image change (mds and \
                 cephfs-mirror once every mon runs {image}; crash and exporter once status.version shows it), before \
                 the mgr and OSD stages",
                names.join(", ")
            ),
        });
    }
    let mut osd_batches = 0usize;
    for t in order.iter().copied().filter(|t| *t != DaemonType::Mon) {
        let l = lever(t, overrides, partial);
        let of_type: Vec<&Daemon> = movers
            .iter()
            .filter(|(l, d)| d.id.dtype == t && matches!(l, Lever::Hold | Lever::Override | Lever::Set))
            .map(|(_, d)| *d)
            .collect();
        let releases: Vec<String> = of_type
            .iter()
            .chain(release_only.iter().filter(|d| d.id.dtype == t))
            .filter(|d| d.upgrade_hold.is_some() || (l == Lever::Hold && !moved(t)))
            .map(|d| d.deployment.clone())
            .collect();
        let unpin: Vec<String> = if l == Lever::Override
            && (c.overrides.contains_key(t.key()) && pins_of_ours.contains_key(t.key())
                || !base_moved && !of_type.is_empty())
        {
            vec![t.key().to_string()]
        } else {
            vec![]
        };
        let set: BTreeMap<String, String> = if l == Lever::Set && !moved(t) && !of_type.is_empty() {
            BTreeMap::from([(t.key().to_string(), image.to_string())])
        } else {
            BTreeMap::new()
        };
        if of_type.is_empty() && releases.is_empty() && unpin.is_empty() {
            continue;
        }
        if t == DaemonType::Osd && l == Lever::Hold {
            let mut s = osd_stages(snap, p, state, &class, &releases);
            osd_batches += s.iter().filter(|s| !s.canary && !s.daemons.is_empty()).count();
            stages.append(&mut s);
            continue;
        }
        let mut s = stage(t.ceph_name().to_string(), StageKind::Release, vec![t]);
        s.daemons = of_type.iter().map(|d| mover(d, false)).collect();
        s.release = releases;
        s.unpin = unpin;
        s.overrides = set;
        s.gates = gates(image);
        stages.push(s);
    }
    for s in stages.iter_mut() {
        s.flags = osd_flags(s, p);
    }
    if !excluded.is_empty() {
        let names: Vec<String> = excluded.iter().map(|e| e.daemon.clone()).collect();
        warnings.push(Warning {
            code: "upgrade-excludes",
            message: format!(
                "{} stay(s) on their image (see Excluded): the cluster runs mixed versions until they move",
                summarise(&names)
            ),
        });
    }
    // What runs afterwards: the target where the upgrade moves a daemon, its image elsewhere.
    let mut left: BTreeMap<DaemonType, Left> = BTreeMap::new();
    let mut running = Vec::new();
    for (d, k) in snap.daemons.iter().zip(&class) {
        if d.ceph_images.is_empty() || d.replicas == Some(0) {
            continue;
        }
        let after = match k {
            Class::OnTarget | Class::Moves(_) => Some(image),
            _ => d.image.as_deref(),
        };
        running.push((d.id.dtype, after.and_then(|i| snap.build_of(i))));
        if *k == Class::OutOfScope {
            let e = left.entry(d.id.dtype).or_insert_with(|| Left {
                dtype: d.id.dtype,
                daemons: 0,
                images: BTreeSet::new(),
            });
            e.daemons += 1;
            e.images.extend(d.image.clone());
        }
    }
    crate::plan::warnings::version_mix_warnings(&running, &mut warnings);
    let osds: Vec<&Mover> = stages.iter().flat_map(|s| &s.daemons).filter(|m| m.dtype == DaemonType::Osd).collect();
    let moving: BTreeSet<&str> = osds.iter().map(|m| m.deployment.as_str()).collect();
    let missing =
        snap.daemons.iter().filter(|d| falls_back(d, p.batch_by) && moving.contains(d.deployment.as_str())).count();
    if missing > 0 {
        warnings.push(Warning {
            code: "batch-by-fallback",
            message: format!(
                "{missing} OSD Deployment(s) have no {} label: they are batched by host, the smaller failure domain",
                domain_labels(p.batch_by).join(" or ")
            ),
        });
    }
    let starts: Vec<String> = osds.iter().filter(|m| m.starts).map(|m| m.daemon.clone()).collect();
    if !starts.is_empty() {
        warnings.push(Warning {
            code: "starts-scaled-down",
            message: format!(
                "{} {} scaled to 0 replicas: when its stage releases it, Rook's OSD update sets 1 replica and starts \
                 it on {image}. If it is being removed, purge it (or hold it: `pause osd.ID`) before the upgrade",
                summarise(&starts),
                if starts.len() == 1 { "is" } else { "are" }
            ),
        });
    }
    if p.prepull && !state.is_some_and(|s| s.prepulled) {
        let (nodes, unplaced) = prepull_nodes(&stages);
        if !unplaced.is_empty() {
            warnings.push(Warning {
                code: "prepull-no-node",
                message: format!(
                    "no node is known for {} (no pod on a node, no hostname pin): the pre-pull cannot pull for \
                     them; they pull {image} when they restart",
                    summarise(&unplaced)
                ),
            });
        }
        if !nodes.is_empty() {
            let mut s = stage("prepull".into(), StageKind::Prepull, vec![]);
            s.nodes = nodes;
            s.gates = vec![format!(
                "{image} pulled on every one of these nodes (its pod Running or done) within --timeout; a failed \
                 pull stops the upgrade before anything restarts. The pods are deleted either way"
            )];
            stages.insert(0, s);
        }
    }
    let moving: Vec<&Mover> = stages.iter().flat_map(|s| &s.daemons).collect();
    let summary = Summary {
        moving: moving.len(),
        pods: moving.iter().map(|m| m.pods.len()).sum(),
        on_target,
        excluded: excluded.len(),
        stages: stages.len(),
        osd_batches,
    };
    let done = stages.is_empty() && (partial || base_moved) && pins_of_ours.is_empty();
    Ok(UpgradePlan {
        namespace: c.namespace.clone(),
        cluster: c.name.clone(),
        image: image.to_string(),
        from: state.and_then(|s| s.from.clone()).unwrap_or_else(|| c.base_image.clone()),
        levers: if overrides { "overrides" } else { "holds" },
        order,
        types: scope.map(|s| s.into_iter().collect()).unwrap_or_default(),
        left: left.into_values().collect(),
        summary,
        warnings,
        stages,
        excluded,
        done,
        check: None,
    })
}

/// A list of daemon names for a message: all of them up to 6, else "osd.1, osd.2, osd.3,
/// osd.4, osd.5 and 40 more".
pub fn summarise(names: &[String]) -> String {
    crate::output::some_of(names, 6, 5, ", ", |n| format!(" and {n} more"))
}
