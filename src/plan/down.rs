//! Daemons that cannot run where they are, from their pods alone (issue #22, kind 5): a
//! node that goes NotReady leaves its pods `Unknown` (the node controller marks them not
//! Ready once the kubelet stops reporting), `Terminating` (evicted after the toleration of
//! `node.kubernetes.io/unreachable`, 300 s by default) or `Pending` (a replacement pinned
//! to the node by Rook's `kubernetes.io/hostname` node selector cannot run elsewhere,
//! FACTS §6), and Ceph marks its OSDs down. Restarting daemons of one failure domain while
//! OSDs of another are down takes a second copy of the data away: the fence and the
//! staged upgrade refuse it. Ceph's own `ok-to-stop` is a later check; this one needs no
//! Ceph access. No I/O here.

use std::collections::BTreeMap;

use super::FailureDomain;
use super::order::failure_domain;
use crate::model::daemon::DaemonType;
use crate::model::{Daemon, Pod, Snapshot};
use crate::output::{clean, some_of};

/// Running, Ready and not going away: a daemon with such a pod serves.
fn serves(p: &Pod) -> bool {
    p.running() && p.ready
}

/// The daemon should run (its Deployment is not scaled to 0: Rook scales a removed or
/// `out` OSD's Deployment down on purpose) and no pod of it is Running and Ready.
pub fn not_running(d: &Daemon) -> bool {
    d.replicas != Some(0) && !d.pods.iter().any(serves)
}

/// [`not_running`], and no other Deployment claiming the same daemon id (a leftover copy
/// beside the live one, `duplicate-id`) serves it either: the daemon is down, not a copy.
fn is_down(snap: &Snapshot, d: &Daemon) -> bool {
    not_running(d) && !snap.daemons.iter().any(|o| o.id == d.id && !not_running(o))
}

/// The node a daemon that does not run is stuck on: a pod's node (the one still there),
/// else the node its Deployment is pinned to.
fn stuck_on(d: &Daemon) -> String {
    d.pods.iter().find_map(|p| p.node.clone()).or_else(|| d.node.clone()).unwrap_or_else(|| "(no node)".into())
}

/// Daemons that do not run, grouped by the node they are stuck on, in node order; with
/// each node whether it looks down: a pod of it is `Unknown` (its kubelet stopped
/// reporting), or no daemon pod on it serves.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotRunning {
    pub node: String,
    pub node_down: bool,
    /// Daemon ids (`osd.3`), in Rook's order.
    pub daemons: Vec<String>,
}

/// Every node with daemons that do not run (see [`NotRunning`]).
pub fn not_running_by_node(snap: &Snapshot) -> Vec<NotRunning> {
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in snap.daemons.iter().filter(|d| is_down(snap, d)) {
        by.entry(stuck_on(d)).or_default().push(d.id.to_string());
    }
    by.into_iter()
        .map(|(node, daemons)| {
            let pods = || snap.daemons.iter().flat_map(|d| &d.pods).filter(|p| p.node.as_deref() == Some(&node));
            // An unscheduled pod (no node) says nothing about a node.
            let node_down = pods().next().is_some() && (pods().any(|p| p.phase == "Unknown") || !pods().any(serves));
            NotRunning { node, node_down, daemons }
        })
        .collect()
}

/// The failure domain a daemon is in, for `by`: an OSD's from its topology labels
/// ([`failure_domain`]); any other daemon's is that of the OSDs on its node (a mon on a
/// host of rack r1 is in r1), else its node.
pub fn domain_of(snap: &Snapshot, d: &Daemon, by: FailureDomain) -> String {
    if d.id.dtype == DaemonType::Osd {
        return failure_domain(d, by).map(str::to_string).unwrap_or_else(|| stuck_on(d));
    }
    let node = stuck_on(d);
    snap.daemons
        .iter()
        .filter(|o| o.id.dtype == DaemonType::Osd && o.on_node(&node))
        .find_map(|o| failure_domain(o, by))
        .map(str::to_string)
        .unwrap_or(node)
}

/// The refusal when restarting `restarting` (Deployment names) would take daemons of one
/// failure domain down while OSDs of another are down; None when no OSD is down, or when
/// every restarting daemon is in the one failure domain whose OSDs are down (that domain
/// is down already). A restart spread over several domains (a mon or mgr stage) is
/// refused while any OSD is down: one of its domains is always another. At 2000 OSDs the
/// text stays short.
pub fn blocker(snap: &Snapshot, by: FailureDomain, restarting: &[&str]) -> Option<String> {
    blocker_but(snap, by, restarting, &[])
}

/// [`blocker`], not counting the OSDs of `awaited` (Deployments) as down: a re-run of an
/// interrupted fence waits for the daemons its earlier run restarted before any step, so
/// their pods coming up are not a node down.
pub fn blocker_but(snap: &Snapshot, by: FailureDomain, restarting: &[&str], awaited: &[&str]) -> Option<String> {
    let moving: Vec<&Daemon> = snap.daemons.iter().filter(|d| restarting.contains(&d.deployment.as_str())).collect();
    if moving.is_empty() {
        return None;
    }
    let domains: Vec<String> = moving.iter().map(|d| domain_of(snap, d, by)).collect();
    let only = domains.iter().all(|d| d == &domains[0]).then(|| domains[0].clone());
    // domain -> (nodes, OSD ids) of OSDs down outside the restarted domains
    let mut down: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    let down_osds = snap
        .daemons
        .iter()
        .filter(|d| d.id.dtype == DaemonType::Osd && is_down(snap, d) && !awaited.contains(&d.deployment.as_str()));
    for o in down_osds {
        let fd = domain_of(snap, o, by);
        if only.as_ref() == Some(&fd) {
            continue;
        }
        let e = down.entry(fd).or_default();
        let node = stuck_on(o);
        if !e.0.contains(&node) {
            e.0.push(node);
        }
        e.1.push(o.id.to_string());
    }
    if down.is_empty() {
        return None;
    }
    let word = by.crush_type();
    let parts: Vec<String> = down
        .iter()
        .map(|(fd, (nodes, ids))| {
            let ids = some_of(ids, 6, 5, ", ", |n| format!(" and {n} more"));
            if by == FailureDomain::Host {
                format!("{ids} on {word} {fd}")
            } else {
                format!("{ids} in {word} {fd} (node {})", some_of(nodes, 3, 2, ", ", |n| format!(" and {n} more")))
            }
        })
        .collect();
    let mut mine: Vec<&str> = domains.iter().map(String::as_str).filter(|d| !down.contains_key(*d)).collect();
    if mine.is_empty() {
        mine = domains.iter().map(String::as_str).collect();
    }
    mine.sort_unstable();
    mine.dedup();
    Some(
        clean(&format!(
            "OSDs of another failure domain are down (not Running and Ready): {}; restarting {} in {word} {} now would \
         take a second failure domain down",
            some_of(&parts, 4, 3, "; ", |n| format!("; and {n} more {word}(s)")),
            some_of(&moving.iter().map(|d| d.id.to_string()).collect::<Vec<_>>(), 4, 3, ", ", |n| format!(
                " and {n} more"
            )),
            some_of(&mine, 3, 2, ", ", |n| format!(" and {n} more"))
        ))
        .into_owned(),
    )
}

/// The first step of a fence's plan that would restart daemons of one failure domain while
/// OSDs of another are down ([`blocker_but`]), as "step N: why"; None when no step would.
/// OSDs an earlier run already fenced to `image` are awaited (the fence waits for them
/// before any step), not down.
pub fn fence_blocker(
    snap: &Snapshot,
    plan: &crate::plan::Plan,
    by: FailureDomain,
    dtype: DaemonType,
    image: &str,
) -> Option<String> {
    let awaited: Vec<&str> = snap
        .daemons
        .iter()
        .filter(|d| d.id.dtype == dtype && d.fenced_to(image))
        .map(|d| d.deployment.as_str())
        .collect();
    let mut steps: Vec<u32> = plan.daemons.iter().filter_map(|d| d.step).collect();
    steps.sort_unstable();
    steps.dedup();
    steps.into_iter().find_map(|n| {
        let deps: Vec<&str> =
            plan.daemons.iter().filter(|d| d.step == Some(n)).map(|d| d.deployment.as_str()).collect();
        blocker_but(snap, by, &deps, &awaited).map(|why| format!("step {n}: {why}"))
    })
}

/// One line for a plan: the daemons that are to restart but cannot start on their node
/// because it looks down (Rook pins OSDs and mons to their node, FACTS §6), or None.
pub fn cannot_start(snap: &Snapshot, restarting: &[&str]) -> Option<String> {
    let groups: Vec<String> = not_running_by_node(snap)
        .into_iter()
        .filter(|g| g.node_down)
        .filter_map(|g| {
            let ids: Vec<&String> = g
                .daemons
                .iter()
                .filter(|id| {
                    snap.daemons.iter().any(|d| &d.id.to_string() == *id && restarting.contains(&d.deployment.as_str()))
                })
                .collect();
            let ids: Vec<String> = ids.into_iter().cloned().collect();
            (!ids.is_empty())
                .then(|| format!("{} on {}", some_of(&ids, 6, 5, ", ", |n| format!(" and {n} more")), g.node))
        })
        .collect();
    if groups.is_empty() {
        return None;
    }
    Some(
        clean(&format!(
            "node(s) look down (pods Unknown, Terminating or Pending): {} cannot start there until the node is back",
            some_of(&groups, 4, 3, "; ", |n| format!("; and {n} more node(s)"))
        ))
        .into_owned(),
    )
}
