//! The OSD stages of a staged upgrade: canaries first, then batches of at most
//! `osdMaxUpdatesInParallel` OSDs within one failure domain (host, rack or zone, from the
//! topology labels Rook sets, FACTS §6), and the nodes each stage pre-pulls on.

use std::collections::BTreeSet;

use super::{Class, Params, Stage, StageKind, State, gates, mover};
use crate::model::daemon::DaemonType;
use crate::model::{Daemon, Snapshot};
use crate::plan::Batching;
use crate::plan::order::failure_domain;

/// The OSD stages: every OSD this upgrade moves or moved is batched the same way every
/// round (one failure domain a batch, at most `--max-unavailable`), so a batch keeps its
/// number across rounds and resumes; batches with nothing left to move or release are
/// skipped. A failure domain already started (the canary's) comes first. `releases`: the
/// Deployments whose hold this type's stages release.
pub(super) fn osd_stages(
    snap: &Snapshot,
    p: &Params,
    state: Option<&State>,
    class: &[Class],
    releases: &[String],
) -> Vec<Stage> {
    let image = p.image.as_str();
    let batching = Batching { by: p.batch_by, max: p.max_unavailable };
    let osds: Vec<(&Daemon, bool)> = snap
        .daemons
        .iter()
        .zip(class)
        .filter(|(d, _)| d.id.dtype == DaemonType::Osd)
        .filter_map(|(d, k)| match k {
            Class::OnTarget => Some((d, false)),
            Class::Moves(_) => Some((d, true)),
            _ => None,
        })
        .collect();
    let started: BTreeSet<&str> =
        osds.iter().filter(|(_, moves)| !moves).filter_map(|(d, _)| failure_domain(d, p.batch_by)).collect();
    let all: Vec<&Daemon> = osds.iter().map(|(d, _)| *d).collect();
    let mut batches = osd_batches_of(snap, &all, batching);
    batches
        .sort_by_key(|b| !b.first().and_then(|d| failure_domain(d, p.batch_by)).is_some_and(|f| started.contains(f)));
    // Sets, not scans: every batch asks of each of its OSDs (2000 OSDs, every round).
    let moving: BTreeSet<&str> = osds.iter().filter(|(_, m)| *m).map(|(d, _)| d.deployment.as_str()).collect();
    let releasing: BTreeSet<&str> = releases.iter().map(String::as_str).collect();
    let moves = |d: &Daemon| moving.contains(d.deployment.as_str());
    let n = batches.len();
    let mut canary = if state.is_some_and(|s| s.canary_done) { 0 } else { p.canary as usize };
    let total: usize = osds.iter().filter(|(_, m)| *m).count();
    let mut out = Vec::new();
    for (k, b) in batches.into_iter().enumerate() {
        let fd = b.first().and_then(|d| failure_domain(d, p.batch_by)).map(str::to_string);
        let mut movers: Vec<&Daemon> = b.iter().copied().filter(|d| moves(d)).collect();
        let mut release: Vec<String> =
            b.iter().filter(|d| releasing.contains(d.deployment.as_str())).map(|d| d.deployment.clone()).collect();
        if movers.is_empty() && release.is_empty() {
            continue;
        }
        let new = |name: String| Stage {
            failure_domain: fd.clone(),
            gates: gates(image),
            ..Stage::new(name, StageKind::Release, vec![DaemonType::Osd])
        };
        if canary > 0 && !movers.is_empty() {
            let head: Vec<&Daemon> = movers.drain(..canary.min(movers.len())).collect();
            let mut s = new(format!("osd canary ({} of {total})", head.len()));
            s.release = head.iter().map(|d| d.deployment.clone()).filter(|d| release.contains(d)).collect();
            release.retain(|d| !s.release.contains(d));
            s.daemons = head.iter().map(|d| mover(d, false)).collect();
            s.canary = true;
            s.gates.push("then a stop for confirmation (`upgrade resume` goes on)".into());
            out.push(s);
            canary = 0;
            if movers.is_empty() && release.is_empty() {
                continue;
            }
        }
        // A batch falls back to the host where its OSDs have no label of the wider domain.
        let by = if b.first().is_some_and(|d| falls_back(d, p.batch_by)) {
            crate::plan::FailureDomain::Host
        } else {
            p.batch_by
        };
        let mut s = new(format!("osd batch {}/{n} ({} {})", k + 1, domain_word(by), fd.as_deref().unwrap_or("?")));
        s.daemons = movers.iter().map(|d| mover(d, false)).collect();
        s.release = release;
        out.push(s);
    }
    out
}

/// The nodes that pull before anything restarts, sorted, and the daemons that have no
/// node: every distinct node of a daemon any of `stages` moves, mons and daemons that move
/// early included, so that every node that restarts a daemon has the image first.
pub(super) fn prepull_nodes(stages: &[Stage]) -> (Vec<String>, Vec<String>) {
    let movers = stages.iter().flat_map(|s| &s.daemons);
    let nodes: BTreeSet<&str> = movers.clone().flat_map(|m| m.nodes.iter().map(String::as_str)).collect();
    let unplaced = movers.filter(|m| m.nodes.is_empty()).map(|m| m.daemon.clone()).collect();
    (nodes.into_iter().map(str::to_string).collect(), unplaced)
}

/// The labels that name a failure domain wider than the host (`plan::failure_domain`);
/// empty for the host.
pub(super) fn domain_labels(by: crate::plan::FailureDomain) -> &'static [&'static str] {
    match by {
        crate::plan::FailureDomain::Host => &[],
        crate::plan::FailureDomain::Rack => &["topology-location-rack"],
        crate::plan::FailureDomain::Zone => &["topology-location-zone", "topology.kubernetes.io/zone"],
    }
}

/// The OSD is batched by host although a wider domain was asked for: it has no label of it.
pub(super) fn falls_back(d: &Daemon, by: crate::plan::FailureDomain) -> bool {
    let keys = domain_labels(by);
    !keys.is_empty() && !keys.iter().any(|k| d.labels.contains_key(k))
}

pub(super) fn domain_word(by: crate::plan::FailureDomain) -> &'static str {
    by.crush_type()
}

/// OSD batches: one failure domain a batch, at most `max` OSDs (default the CephCluster's
/// osdMaxUpdatesInParallel), domains in the order their first OSD comes.
pub(super) fn osd_batches_of<'a>(snap: &Snapshot, osds: &[&'a Daemon], b: Batching) -> Vec<Vec<&'a Daemon>> {
    let max = b.max.unwrap_or(snap.cluster.osd_max_updates_in_parallel).max(1) as usize;
    let mut domains: Vec<(String, Vec<&Daemon>)> = Vec::new();
    for d in osds {
        let fd = failure_domain(d, b.by).unwrap_or("").to_string();
        match domains.iter_mut().find(|(k, _)| *k == fd) {
            Some((_, v)) => v.push(d),
            None => domains.push((fd, vec![d])),
        }
    }
    domains.into_iter().flat_map(|(_, v)| v.chunks(max).map(<[&Daemon]>::to_vec).collect::<Vec<_>>()).collect()
}
