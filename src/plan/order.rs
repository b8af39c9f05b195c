//! The order daemons restart in: Rook's (FACTS §5: mons, mgrs, OSDs, then the rest), OSDs
//! in batches by failure domain (`osdMaxUpdatesInParallel`, `--batch-by`), and one step per
//! daemon where the plugin restarts them itself.

use super::{Action, Batching, DaemonPlan, FailureDomain};
use crate::model::daemon::DaemonType;
use crate::model::{Daemon, Snapshot};

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
pub(super) fn osd_batches(
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
pub(super) fn sequential_steps(snap: &Snapshot, daemons: &mut [DaemonPlan], batching: Batching) {
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
pub(super) fn rook_steps(snap: &Snapshot, daemons: &mut [DaemonPlan]) {
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
