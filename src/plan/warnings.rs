//! The planner's warnings and refusals: what a change would do that the operator should
//! know before it is sent (FACTS §5 version rules, §6 field shapes), and the changes it
//! refuses (`PlanError`), each with its reason.

use std::collections::{BTreeMap, BTreeSet};

use super::{Action, Change, DaemonPlan, PlanError, Target};
use crate::model::daemon::{DaemonType, HoldScope};
use crate::model::image::{Build, CephVersion};
use crate::model::warning::Warning;
use crate::model::{Daemon, Snapshot};

/// `spec.skipUpgradeChecks: true`, loudly and first, in every plan (issue 23 item 4): Rook
/// then upgrades on HEALTH_ERR, asks Ceph no ok-to-stop for any daemon and updates OSDs one
/// at a time (`cluster/version.go`, `osd/update.go`); users set it to unblock the autumn-2026
/// wave and left it set.
pub fn skip_upgrade_checks(c: &crate::model::Cluster, w: &mut Vec<Warning>) {
    if c.skip_upgrade_checks {
        w.push(Warning {
            code: "skip-upgrade-checks",
            message: format!(
                "!! spec.skipUpgradeChecks is true on CephCluster {}: Rook skips its own checks - it upgrades on \
                 HEALTH_ERR, asks Ceph no ok-to-stop for any daemon, updates OSDs one at a time. Unset it unless \
                 you mean it: kubectl -n {} patch cephcluster {} --type merge -p '{{\"spec\":{{\"skipUpgradeChecks\":false}}}}'",
                c.name, c.namespace, c.name
            ),
        });
    }
}

pub(super) fn show(o: &Option<String>) -> &str {
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
pub(super) fn replacement_warnings(snap: &Snapshot, t: DaemonType, verb: &str, w: &mut Vec<Warning>) {
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

pub(super) fn fence_warnings(t: DaemonType, targets: &[&Daemon], w: &mut Vec<Warning>) {
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

pub(super) fn pause_warnings(newly: &[&Daemon], all: &[Daemon], w: &mut Vec<Warning>) {
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
/// upgrade: one `(type, build)` per running daemon, None for a build not known. Versions
/// are told apart by build, as `ceph versions` does (`Snapshot::build_of`): a hotfix build
/// of the running release is a version of its own to Ceph's DAEMON_OLD_VERSION.
pub fn version_mix_warnings(running: &[(DaemonType, Option<Build>)], w: &mut Vec<Warning>) {
    let mut versions: BTreeMap<&Build, BTreeMap<DaemonType, usize>> = BTreeMap::new();
    for (t, v) in running {
        if let Some(v) = v {
            *versions.entry(v).or_default().entry(*t).or_default() += 1;
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
pub(super) fn release_warnings(snap: &Snapshot, plans: &[DaemonPlan], base_after: &str, w: &mut Vec<Warning>) {
    let mut unknown: BTreeSet<String> = BTreeSet::new();
    let mut running: Vec<(DaemonType, Option<CephVersion>)> = Vec::new();
    let mut builds: Vec<(DaemonType, Option<Build>)> = Vec::new();
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
        builds.push((d.id.dtype, then.and_then(|i| snap.build_of(i))));
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
        // Say which it is: a Ceph image whose tag names a release but no version, one whose
        // tag names neither, or an image of another repository.
        let why = match crate::model::support::named_major(i) {
            Some(m) => format!(
                "its tag names {} {m} but no X.Y.Z, and Rook has not detected it",
                CephVersion { major: m, minor: 0, patch: 0 }.release()
            ),
            None if crate::model::image::is_ceph_repository(i) => {
                "Rook has not detected it, and its tag names no X.Y.Z version".to_string()
            }
            None => "Rook has not detected it, and it is not a Ceph repository image whose tag names a version".into(),
        };
        w.push(Warning {
            code: "unknown-version",
            message: format!("cannot tell the Ceph release of {i} ({why}): release-order checks skip it"),
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
    // The spec image below what Rook detected, with no daemon of Rook's to restart (an
    // external cluster: Rook runs none of its daemons, but its own client side moves to the
    // older image): the same warning, for the cluster.
    let detected = snap.cluster.status_version.as_deref().and_then(crate::model::image::parse_version);
    if downgrades.is_empty()
        && base_after != snap.cluster.base_image
        && let (Some(from), Some(to)) = (detected, snap.version_of(base_after))
        && to < from
    {
        w.push(Warning {
            code: "downgrade",
            message: format!(
                "the spec image would go from {from} (what Rook detected) down to {to}: a Ceph cluster once upgraded \
                 cannot be downgraded"
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
    version_mix_warnings(&builds, w);
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
pub(super) fn gateway_warnings(snap: &Snapshot, plans: &[DaemonPlan], w: &mut Vec<Warning>) {
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
pub(super) fn manager_warnings(c: &crate::model::Cluster, changes: &[Change], w: &mut Vec<Warning>) {
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
