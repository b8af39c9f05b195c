//! The one way rook-sim's simulated Rook operator, kubelets and Ceph health read and write a
//! cluster (issue 20): the embedded API server's store, or a real kube-apiserver over HTTPS
//! (`remote`). The rules (what Rook writes, in which order; what a kubelet reports) are
//! written once, against these calls.
//!
//! On the embedded server a write also does what the real control plane's controllers do in
//! answer to it (`after_write`): a Deployment whose template or replicas changed is rolled
//! (rollout.rs, the Deployment controller's part), a pod's status written refreshes its
//! Deployment's status, a CephCluster write wakes the operator as Rook's watch would, a pod
//! created on a node is run by that node's kubelet. On a real server its own controllers do
//! the first two, and rook-sim's watches (remote.rs) do the others.
//!
//! The calls are synchronous: the embedded store answers at once, and a remote call blocks
//! only the task that makes it (`tokio::task::block_in_place`).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::SimState;
use crate::resources::Kind;
use crate::state::Backend;

/// How many times a read-modify-write is tried when another writer got there first (409).
const CONFLICT_RETRIES: usize = 10;

impl SimState {
    /// Is this simulation running on a real API server?
    pub fn is_remote(&self) -> bool {
        matches!(self.backend, Backend::Remote(_))
    }

    /// One object, or None when it does not exist (or cannot be read).
    pub fn get(&self, kind: &'static Kind, ns: &str, name: &str) -> Option<Value> {
        match &self.backend {
            Backend::Embedded => self.store().get_value(kind, ns, name),
            Backend::Remote(r) => r.get(kind, ns, name),
        }
    }

    /// Every object of a kind, in one namespace or (None) all, in (namespace, name) order.
    pub fn list(&self, kind: &'static Kind, ns: Option<&str>) -> Vec<Value> {
        match &self.backend {
            Backend::Embedded => self
                .store()
                .iter(kind, ns, None)
                .map(|(_, s)| serde_json::from_slice(&s.bytes).expect("stored JSON"))
                .collect(),
            Backend::Remote(r) => r.list(kind, ns),
        }
    }

    /// Each named object of `ns` (None where it does not exist), in the order of `names`:
    /// one read per object on the embedded server, one LIST on a real one.
    pub fn get_many(&self, kind: &'static Kind, ns: &str, names: &[String]) -> Vec<Option<Value>> {
        match &self.backend {
            Backend::Embedded => {
                let store = self.store();
                names.iter().map(|n| store.get_value(kind, ns, n)).collect()
            }
            Backend::Remote(r) => {
                let mut by_name: std::collections::HashMap<String, Value> = r
                    .list(kind, Some(ns))
                    .into_iter()
                    .map(|v| (v["metadata"]["name"].as_str().unwrap_or_default().to_string(), v))
                    .collect();
                names.iter().map(|n| by_name.remove(n)).collect()
            }
        }
    }

    /// The labels of every object of a kind in `ns` (what a label-selected LIST of Rook's
    /// would match on), without decoding the objects on the embedded server.
    pub fn labels(&self, kind: &'static Kind, ns: &str) -> Vec<BTreeMap<String, String>> {
        match &self.backend {
            Backend::Embedded => self.store().iter(kind, Some(ns), None).map(|(_, s)| s.labels.clone()).collect(),
            Backend::Remote(r) => r.list(kind, Some(ns)).iter().map(crate::server::store::labels_of).collect(),
        }
    }

    /// Create an object (its `metadata.generateName` names it when it has no name).
    pub fn create(self: &Arc<Self>, kind: &'static Kind, ns: &str, obj: Value) -> Result<Value, String> {
        match &self.backend {
            Backend::Embedded => {
                let created = self.store().create(kind, ns, obj, false).map_err(|e| e.message)?;
                self.after_create(kind, ns, &created);
                Ok(created)
            }
            Backend::Remote(r) => r.create(kind, ns, obj),
        }
    }

    /// Read, change with `f`, write back with the read's resourceVersion as precondition;
    /// on a 409 read again and change again. Err when the object is gone or the write fails.
    pub fn update(
        self: &Arc<Self>,
        kind: &'static Kind,
        ns: &str,
        name: &str,
        f: impl FnMut(&mut Value),
    ) -> Result<Value, String> {
        self.read_modify_write(kind, ns, name, false, f)
    }

    /// As `update`, through the `status` subresource (only `status` is written).
    pub fn update_status(
        self: &Arc<Self>,
        kind: &'static Kind,
        ns: &str,
        name: &str,
        f: impl FnMut(&mut Value),
    ) -> Result<Value, String> {
        self.read_modify_write(kind, ns, name, true, f)
    }

    fn read_modify_write(
        self: &Arc<Self>,
        kind: &'static Kind,
        ns: &str,
        name: &str,
        status: bool,
        mut f: impl FnMut(&mut Value),
    ) -> Result<Value, String> {
        match &self.backend {
            Backend::Embedded => {
                let mut store = self.store();
                let old = store.get_value(kind, ns, name).ok_or_else(|| format!("{} {name} not found", kind.plural))?;
                let mut new = old.clone();
                f(&mut new);
                let written = store.update(kind, ns, name, new, false).map_err(|e| e.message)?;
                drop(store);
                self.after_update(kind, ns, name, &old, &written);
                Ok(written)
            }
            Backend::Remote(r) => {
                for _ in 0..CONFLICT_RETRIES {
                    let old = r.get(kind, ns, name).ok_or_else(|| format!("{} {name} not found", kind.plural))?;
                    let mut new = old.clone();
                    f(&mut new);
                    if new == old {
                        return Ok(old);
                    }
                    match r.replace(kind, ns, name, &new, status) {
                        Ok(v) => return Ok(v),
                        Err(e) if e.code == 409 => continue,
                        Err(e) => return Err(e.message),
                    }
                }
                Err(format!("{} {name}: still conflicting after {CONFLICT_RETRIES} tries", kind.plural))
            }
        }
    }

    /// Delete an object now (a pod: with no grace period, as a kubelet finishes a deletion).
    pub fn delete(self: &Arc<Self>, kind: &'static Kind, ns: &str, name: &str) -> Result<(), String> {
        match &self.backend {
            Backend::Embedded => {
                self.store().delete(kind, ns, name, false).map_err(|e| e.message)?;
                self.after_delete(kind, ns, name);
                Ok(())
            }
            Backend::Remote(r) => r.delete(kind, ns, name, None),
        }
    }
}
