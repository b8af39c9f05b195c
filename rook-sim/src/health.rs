//! `status.ceph.health` of a CephCluster as Ceph reports it through Rook, to the extent a
//! staged upgrade gates on it: `HEALTH_WARN` while a daemon pod a restart started is not
//! Ready yet, back to `HEALTH_OK` `health_settle` after the last one turned Ready (PGs
//! peering, the OSD marked up). `Sim::set_health` pins a value (e.g. `HEALTH_ERR`) until
//! it is unpinned. Every write of the health also writes `status.ceph.lastChecked`
//! (RFC 3339, milliseconds), so a client can tell the health was refreshed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::SimState;
use super::operator::Operator;
use super::resources::{CEPHCLUSTERS, PODS};
use super::store::Store;

pub const OK: &str = "HEALTH_OK";
pub const WARN: &str = "HEALTH_WARN";

#[derive(Default)]
pub struct Health {
    /// Pinned health per namespace.
    pinned: Mutex<BTreeMap<String, String>>,
    /// Pods restarts started, per namespace, not yet seen Ready.
    restarting: Mutex<BTreeMap<String, BTreeSet<String>>>,
    /// Bumped per namespace whenever it is seen restarting: a pending return to
    /// `HEALTH_OK` from before is void.
    epoch: Mutex<BTreeMap<String, u64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `2026-05-01T10:00:00.123Z`: RFC 3339 as Rook writes it, with milliseconds.
pub fn now_checked() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

impl Health {
    /// Pods a restart just started (Pending) in `ns`.
    pub fn note_started<'a>(&self, ns: &str, pods: impl IntoIterator<Item = &'a str>) {
        lock(&self.restarting).entry(ns.to_string()).or_default().extend(pods.into_iter().map(str::to_string));
    }

    pub fn pin(&self, ns: &str, health: Option<&str>) {
        let mut p = lock(&self.pinned);
        match health {
            Some(h) => {
                p.insert(ns.to_string(), h.to_string());
            }
            None => {
                p.remove(ns);
            }
        }
    }

    pub fn pinned(&self, ns: &str) -> Option<String> {
        lock(&self.pinned).get(ns).cloned()
    }

    /// A restarted pod turned Ready (its kubelet says so).
    pub fn note_ready(&self, ns: &str, pod: &str) {
        if let Some(set) = lock(&self.restarting).get_mut(ns) {
            set.remove(pod);
        }
    }

    /// Whether a restarted pod of `ns` is still not Ready (forgetting those that are gone:
    /// a lookup, not a parse, as this runs on every pod change of a large rollout).
    fn restarting(&self, store: &Store, ns: &str) -> bool {
        let mut r = lock(&self.restarting);
        let Some(set) = r.get_mut(ns) else { return false };
        set.retain(|name| store.get(&PODS, ns, name).is_some());
        !set.is_empty()
    }

    /// The health to write now for `ns`: the pinned value, `HEALTH_WARN` while a restarted
    /// pod is not Ready, else `current` (a return to OK waits for the settle time), or OK.
    pub fn now(&self, store: &Store, ns: &str, current: Option<&str>) -> String {
        if let Some(p) = self.pinned(ns) {
            return p;
        }
        if self.restarting(store, ns) {
            *lock(&self.epoch).entry(ns.to_string()).or_default() += 1;
            return WARN.into();
        }
        current.unwrap_or(OK).to_string()
    }

    fn epoch(&self, ns: &str) -> u64 {
        lock(&self.epoch).get(ns).copied().unwrap_or(0)
    }
}

/// The CephCluster Rook reconciles in `ns`: (name, object).
fn cluster(store: &Store, ns: &str) -> Option<(String, Value)> {
    let c = Operator::clusters(store).into_iter().find(|c| c["metadata"]["namespace"] == ns)?;
    Some((c["metadata"]["name"].as_str().unwrap_or_default().to_string(), c))
}

/// Write `health` (and lastChecked) into the CephCluster of `ns`.
fn write(store: &mut Store, ns: &str, health: &str) {
    let Some((name, mut c)) = cluster(store, ns) else { return };
    c["status"]["ceph"]["health"] = health.into();
    c["status"]["ceph"]["lastChecked"] = now_checked().into();
    if let Some(m) = c["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    let _ = store.update(&CEPHCLUSTERS, ns, &name, c, false);
}

fn current(store: &Store, ns: &str) -> Option<String> {
    let (_, c) = cluster(store, ns)?;
    c.pointer("/status/ceph/health").and_then(Value::as_str).map(str::to_string)
}

/// Re-evaluate the health of `ns` after a pod changed: written when it changes; a return to
/// `HEALTH_OK` is written `health_settle` after the last restarted pod turned Ready.
/// Must run inside the simulation's runtime.
pub fn refresh(state: &Arc<SimState>, ns: &str) {
    let mut store = state.store();
    if cluster(&store, ns).is_none() {
        return;
    }
    let cur = current(&store, ns);
    let h = state.health.now(&store, ns, cur.as_deref());
    if Some(&h) != cur.as_ref() {
        write(&mut store, ns, &h);
    }
    // all restarted pods Ready, and not pinned: Ceph comes back to OK after a while
    if state.health.pinned(ns).is_none() && h != OK && !state.health.restarting(&store, ns) {
        drop(store);
        settle_later(state, ns);
    }
}

fn settle_later(state: &Arc<SimState>, ns: &str) {
    let epoch = state.health.epoch(ns);
    let (state, ns) = (state.clone(), ns.to_string());
    tokio::spawn(async move {
        tokio::time::sleep(state.operator.config().health_settle).await;
        let mut store = state.store();
        if state.health.epoch(&ns) == epoch
            && state.health.pinned(&ns).is_none()
            && !state.health.restarting(&store, &ns)
            && current(&store, &ns).as_deref() != Some(OK)
        {
            write(&mut store, &ns, OK);
        }
    });
}

/// Pin (or with `None` unpin) the health of `ns` and write what it is now. Unpinned, it is
/// `HEALTH_WARN` while a restarted pod is not Ready, else `HEALTH_OK` at once.
pub fn set(state: &Arc<SimState>, ns: &str, health: Option<&str>) {
    state.health.pin(ns, health);
    let mut store = state.store();
    let h = state.health.now(&store, ns, None);
    write(&mut store, ns, &h);
}
