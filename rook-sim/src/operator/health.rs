//! `status.ceph.health` of a CephCluster as Ceph reports it through Rook, to the extent a
//! staged upgrade gates on it: `HEALTH_WARN` while a daemon pod a restart started is not
//! Ready yet, back to `HEALTH_OK` `health_settle` after the last one turned Ready (PGs
//! peering, the OSD marked up). `Sim::set_health` pins a value (e.g. `HEALTH_ERR`) until
//! it is unpinned. Every write of the health also writes `status.ceph.lastChecked`
//! (RFC 3339, milliseconds), so a client can tell the health was refreshed.
//!
//! This file is the health's state, plain data `SimState` holds; checker.rs writes it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use serde_json::Value;

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
    /// Namespaces a refresh is running for, and whether another was asked for meanwhile
    /// (`checker::refresh` on a real server).
    refreshing: Mutex<BTreeMap<String, bool>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `2026-05-01T10:00:00.123Z`: RFC 3339 as Rook writes it, with milliseconds.
pub fn now_checked() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

impl Health {
    /// A refresh of `ns` is to start: true when none runs; false when one does, which then
    /// runs once more when it is done (`end_refresh`).
    pub fn begin_refresh(&self, ns: &str) -> bool {
        let mut r = lock(&self.refreshing);
        match r.get_mut(ns) {
            Some(again) => {
                *again = true;
                false
            }
            None => {
                r.insert(ns.to_string(), false);
                true
            }
        }
    }

    /// The refresh of `ns` is done: true when another was asked for while it ran (run
    /// once more, then ask again); false when none was (no refresh runs now).
    pub fn end_refresh(&self, ns: &str) -> bool {
        let mut r = lock(&self.refreshing);
        match r.get_mut(ns) {
            Some(again) if *again => {
                *again = false;
                true
            }
            _ => {
                r.remove(ns);
                false
            }
        }
    }

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
    /// Is a pod a restart started, and that still exists, not Ready yet? `pods` reads the
    /// named pods of `ns` (None where one is gone): `SimState::get_many`, passed in so this
    /// state stays plain data below the client.
    pub fn restarting(&self, ns: &str, pods: impl FnOnce(&[String]) -> Vec<Option<Value>>) -> bool {
        let names: Vec<String> =
            lock(&self.restarting).get(ns).map(|s| s.iter().cloned().collect()).unwrap_or_default();
        if names.is_empty() {
            return false;
        }
        let exist = pods(&names);
        let mut r = lock(&self.restarting);
        let Some(set) = r.get_mut(ns) else { return false };
        for (name, pod) in names.iter().zip(exist) {
            if pod.is_none() {
                set.remove(name);
            }
        }
        !set.is_empty()
    }

    /// The health of `ns` now: the pinned one, `HEALTH_WARN` while a restarted pod is not
    /// Ready, else what it is (`current`) or `HEALTH_OK`. `pods`: as for `restarting`.
    pub fn now(&self, ns: &str, current: Option<&str>, pods: impl FnOnce(&[String]) -> Vec<Option<Value>>) -> String {
        if let Some(p) = self.pinned(ns) {
            return p;
        }
        if self.restarting(ns, pods) {
            *lock(&self.epoch).entry(ns.to_string()).or_default() += 1;
            return WARN.into();
        }
        current.unwrap_or(OK).to_string()
    }

    pub fn epoch(&self, ns: &str) -> u64 {
        lock(&self.epoch).get(ns).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One refresh at a time per namespace; those asked for meanwhile fold into one more.
    #[test]
    fn refreshes_asked_while_one_runs_fold_into_one_more() {
        let h = Health::default();
        assert!(h.begin_refresh("a"));
        assert!(!h.begin_refresh("a") && !h.begin_refresh("a"), "a refresh runs");
        assert!(h.begin_refresh("b"), "another namespace is not held up");
        assert!(h.end_refresh("a"), "asked for meanwhile: once more");
        assert!(!h.end_refresh("a"), "nothing asked for since");
        assert!(h.begin_refresh("a"), "none runs now");
        assert!(!h.end_refresh("a") && !h.end_refresh("b"));
    }
}
