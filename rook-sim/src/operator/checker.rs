//! Rook's Ceph status checker, as far as a staged upgrade gates on it: writes
//! `status.ceph.health` (and `lastChecked`) of a CephCluster from the health state
//! (health.rs) as the pods restart, and pins it for `Sim::set_health`.

use std::sync::Arc;

use serde_json::Value;

use crate::SimState;
use crate::operator::health::{OK, now_checked};
use crate::resources::{CEPHCLUSTERS, PODS};

/// Write the health (and `lastChecked`) of CephCluster `ns/name`.
/// A pinned health wins over the `health` a refresh computed before the pin (on a real
/// server the GET and PUT of a write leave room for `set` in between).
fn write(state: &Arc<SimState>, name: &str, ns: &str, health: &str) {
    let _ = state.update_status(&CEPHCLUSTERS, ns, name, |c| {
        c["status"]["ceph"]["health"] = state.health.pinned(ns).unwrap_or_else(|| health.to_string()).into();
        c["status"]["ceph"]["lastChecked"] = now_checked().into();
    });
}

/// The CephCluster of `ns`: its name and its health as written now.
fn current(state: &SimState, ns: &str) -> Option<(String, Option<String>)> {
    let c = crate::operator::reconcile::cluster_in(state, ns)?;
    let name = c["metadata"]["name"].as_str().unwrap_or_default().to_string();
    Some((name, c.pointer("/status/ceph/health").and_then(Value::as_str).map(str::to_string)))
}

/// Write the health of `ns` where it changed (see the module): `HEALTH_WARN` while a
/// restarted pod is not Ready; once all are Ready, `HEALTH_OK` `health_settle` later.
/// Must run inside the simulation's runtime.
///
/// On a real server one runs at a time for a namespace, and those asked for while it runs
/// are one more run after it: each LISTs the namespace's pods (`SimState::get_many`), and
/// every pod status a kubelet writes asks for one. Run as asked, 246 pods starting at once
/// had dozens LISTing together, 4.2 GB of parsed pods at the peak (heaptrack, 200 OSDs)
/// and most of rook-sim's CPU. The embedded server's reads are lookups: it runs each.
pub fn refresh(state: &Arc<SimState>, ns: &str) {
    if !state.is_remote() {
        return refresh_once(state, ns);
    }
    if !state.health.begin_refresh(ns) {
        return;
    }
    loop {
        refresh_once(state, ns);
        if !state.health.end_refresh(ns) {
            break;
        }
    }
}

fn refresh_once(state: &Arc<SimState>, ns: &str) {
    let Some((name, cur)) = current(state, ns) else { return };
    let h = state.health.now(ns, cur.as_deref(), |names| state.get_many(&PODS, ns, names));
    if Some(&h) != cur.as_ref() {
        write(state, &name, ns, &h);
    }
    // all restarted pods Ready, and not pinned: Ceph comes back to OK after a while
    if state.health.pinned(ns).is_none()
        && h != OK
        && !state.health.restarting(ns, |names| state.get_many(&PODS, ns, names))
    {
        settle_later(state, ns);
    }
}

fn settle_later(state: &Arc<SimState>, ns: &str) {
    let epoch = state.health.epoch(ns);
    let (state, ns) = (state.clone(), ns.to_string());
    tokio::spawn(async move {
        tokio::time::sleep(state.operator.config().health_settle).await;
        if state.health.epoch(&ns) == epoch
            && state.health.pinned(&ns).is_none()
            && !state.health.restarting(&ns, |names| state.get_many(&PODS, &ns, names))
            && let Some((name, cur)) = current(&state, &ns)
            && cur.as_deref() != Some(OK)
        {
            write(&state, &name, &ns, OK);
        }
    });
}

/// Pin (or with `None` unpin) the health of `ns` and write what it is now. Unpinned, it is
/// `HEALTH_WARN` while a restarted pod is not Ready, else `HEALTH_OK` at once.
pub fn set(state: &Arc<SimState>, ns: &str, health: Option<&str>) {
    state.health.pin(ns, health);
    let Some((name, _)) = current(state, ns) else { return };
    let h = state.health.now(ns, None, |names| state.get_many(&PODS, ns, names));
    write(state, &name, ns, &h);
}
