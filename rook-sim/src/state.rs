//! The simulation's state (issue 21's middle layer): its options (`SimOptions`) and
//! `SimState`, the plain data below it composed - the store or the real server it stands
//! for (`Backend`), the request log, faults, RBAC, and the operator's (operator/mod.rs),
//! kubelets' (kube/nodes.rs), health's (operator/health.rs), rollouts' (kube/events.rs) and
//! Ceph's (ceph/state.rs) own state - with the one way the simulated operator, kubelets and
//! Ceph health read and write a cluster (issue 20): the embedded API server's store, or a
//! real kube-apiserver over HTTPS (remote/mod.rs). The rules (what Rook writes, in which
//! order; what a kubelet reports) are written once, against these calls, in the layers
//! above; nothing here acts on its own.
//!
//! On the embedded server a write also does what the real control plane's controllers do in
//! answer to it: a Deployment whose template or replicas changed is rolled, a pod created on
//! a node is run by its kubelet, a CephCluster change wakes the operator, a pod deleted
//! refreshes the health. Those live above this layer (kube/control.rs); they run through a
//! hook (`Controllers`) registered once at start (`SimState::set_controllers`), so the
//! state never calls up. On a real server its own controllers, and rook-sim's watches
//! (remote/kubelets.rs), do it.
//!
//! The calls are synchronous: the embedded store answers at once, and a remote call blocks
//! only the task that makes it (`tokio::task::block_in_place`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use serde_json::Value;

use crate::operator::{Operator, OperatorConfig};
use crate::remote::Remote;
use crate::resources::Kind;
use crate::secrets::random_hex;
use crate::server::faults::Faults;
use crate::server::log::RequestLog;
use crate::server::store::Store;
use crate::topology::Topology;
use crate::{kube, operator, server};

/// Where the cluster lives.
pub enum Backend {
    /// The embedded API server's store (`demo`, quick tests).
    Embedded,
    /// A real kube-apiserver (`demo --serve --on KUBECONFIG`).
    Remote(Arc<Remote>),
}

/// Which CephCluster CRD the cluster has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crd {
    /// Rook as released: no `imageOverrides`; the apiserver prunes it.
    Released,
    /// The proposed Rook (rook/rook#14965): `spec.cephVersion.imageOverrides`.
    Proposed,
}

#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The generated cluster, when neither `from` nor `objects` is given.
    pub topology: Topology,
    /// Dump files (`kubectl get cephclusters.ceph.rook.io,deployments,pods -n NS -o yaml`,
    /// multi-document YAML or JSON) to start from instead of the generated topology: the
    /// store holds exactly their objects, plus a Namespace for each namespace seen.
    pub from: Vec<PathBuf>,
    /// Objects to start from, as `from` (each named by its origin in messages).
    pub objects: Vec<(String, Value)>,
    pub crd: Crd,
    pub operator: OperatorConfig,
    /// Where to write the kubeconfig; default: a fresh folder under the system temp dir.
    pub kubeconfig_out: Option<PathBuf>,
    /// 0: any free port.
    pub port: u16,
    /// The bearer token the kubeconfig's user presents; default: a random one. Tests set a
    /// recognisable one to check that it is never printed.
    pub token: Option<String>,
    /// Bind the kubeconfig's user to these roles (`server::rbac::Policy`): anything else is answered
    /// 403 as the apiserver's RBAC answers it. None: the user may do everything.
    pub rbac: Option<server::rbac::Policy>,
    /// Run on the real kube-apiserver this kubeconfig points at (`demo --serve --on`)
    /// instead of the embedded one: rook-sim installs the CRD, the namespace, the
    /// CephCluster and its Deployments there, registers the simulated nodes, and runs the
    /// simulated Rook operator and kubelets against it (remote/). The embedded server's
    /// request log, faults and RBAC do not apply there: the real server's do.
    pub on: Option<PathBuf>,
    /// With `on`: the kubeconfig whose user the front forwards the clients' requests as
    /// (default: `on`'s), so a test can run the plugin as a least-privileged user of the
    /// real server's RBAC and still read its requests in the request log.
    pub proxy_as: Option<PathBuf>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            topology: Topology::default(),
            from: Vec::new(),
            objects: Vec::new(),
            crd: Crd::Proposed,
            operator: OperatorConfig::default(),
            kubeconfig_out: None,
            port: 0,
            token: None,
            rbac: None,
            on: None,
            proxy_as: None,
        }
    }
}

pub struct SimState {
    store: Mutex<Store>,
    /// The API server the operator and kubelets act on (the reads and writes below).
    pub backend: Backend,
    /// On a real server: the connection the front (request log, faults) forwards the
    /// clients' requests through, as `SimOptions::proxy_as`'s user.
    pub front: Option<Arc<Remote>>,
    /// The CephCluster `openAPIV3Schema` in force.
    pub schema: Value,
    pub crd: Crd,
    pub log: RequestLog,
    pub faults: Faults,
    pub token: String,
    /// The admin endpoint's token (`admin`): not the kubeconfig user's.
    pub admin_token: String,
    pub operator: Operator,
    addr: OnceLock<String>,
    /// Bumped to cut every open watch mid-stream (a dropped-connection fault).
    pub watch_epoch: tokio::sync::watch::Sender<u64>,
    /// Requests being answered now, and the most at once: shows a client's concurrency
    /// without timing anything.
    pub in_flight: std::sync::atomic::AtomicUsize,
    pub max_in_flight: std::sync::atomic::AtomicUsize,
    /// The user's RBAC (None: everything allowed); changeable while running.
    rbac: Mutex<Option<server::rbac::Policy>>,
    /// Nodes, their pulled images, pods that fail to pull or never turn Ready.
    pub kubelet: kube::nodes::Kubelet,
    /// `status.ceph.health` of each cluster.
    pub health: operator::health::Health,
    /// Template-change rollouts per Deployment, and their order.
    pub replacements: kube::events::Replacements,
    /// What the simulated Ceph keeps (flags, require-osd-release, keys) and the faults on
    /// its CLI (ceph/state.rs).
    pub ceph: crate::ceph::state::CephState,
    /// What the control plane does after a write on the embedded server, set once at start
    /// (`set_controllers`).
    controllers: OnceLock<Box<dyn Controllers>>,
}

/// What the control plane does after a write on the embedded server, whoever made it (an
/// API request, the simulated operator, a kubelet): the Deployment controller rolls a
/// changed Deployment, a kubelet runs a pod bound to its node, the operator wakes on a
/// CephCluster change, the health follows the pods. The layer that runs them registers its
/// implementation once at start (`SimState::set_controllers`), so the state and the client
/// that write never call up into them. On a real server its own controllers and rook-sim's
/// watches react instead.
pub trait Controllers: Send + Sync {
    /// `created` was created in `ns`.
    fn created(&self, state: &Arc<SimState>, kind: &'static Kind, ns: &str, created: &Value);
    /// Object `ns/name` changed from `old` to `new`.
    fn updated(&self, state: &Arc<SimState>, kind: &'static Kind, ns: &str, name: &str, old: &Value, new: &Value);
    /// Object `ns/name` was deleted.
    fn deleted(&self, state: &Arc<SimState>, kind: &'static Kind, ns: &str, name: &str);
}

impl SimState {
    /// A simulation's state: its store (empty on a real server), where the operator and
    /// kubelets act (`backend`) and what the front forwards to (`front`), with `opts`' CRD,
    /// token and RBAC, fresh logs, faults and kubelets.
    pub(crate) fn new(
        store: Store,
        backend: Backend,
        front: Option<Arc<Remote>>,
        schema: Value,
        opts: &SimOptions,
        operator: Operator,
    ) -> Arc<SimState> {
        let (watch_epoch, _) = tokio::sync::watch::channel(0);
        Arc::new(SimState {
            store: Mutex::new(store),
            backend,
            front,
            schema,
            crd: opts.crd,
            log: RequestLog::default(),
            faults: Faults::default(),
            token: opts.token.clone().unwrap_or_else(|| random_hex(40)),
            admin_token: random_hex(40),
            operator,
            addr: OnceLock::new(),
            watch_epoch,
            in_flight: Default::default(),
            max_in_flight: Default::default(),
            rbac: Mutex::new(opts.rbac.clone()),
            kubelet: Default::default(),
            health: Default::default(),
            replacements: Default::default(),
            ceph: Default::default(),
            controllers: OnceLock::new(),
        })
    }

    /// Register what the control plane does after each write (`Controllers`); once, at
    /// start. Later calls are ignored.
    pub fn set_controllers(&self, c: Box<dyn Controllers>) {
        let _ = self.controllers.set(c);
    }

    /// Run the registered controllers after `created` was created (nothing when none are).
    pub fn after_create(self: &Arc<Self>, kind: &'static Kind, ns: &str, created: &Value) {
        if let Some(c) = self.controllers.get() {
            c.created(self, kind, ns, created);
        }
    }

    /// Run the registered controllers after `ns/name` changed from `old` to `new`.
    pub fn after_update(self: &Arc<Self>, kind: &'static Kind, ns: &str, name: &str, old: &Value, new: &Value) {
        if let Some(c) = self.controllers.get() {
            c.updated(self, kind, ns, name, old, new);
        }
    }

    /// Run the registered controllers after `ns/name` was deleted.
    pub fn after_delete(self: &Arc<Self>, kind: &'static Kind, ns: &str, name: &str) {
        if let Some(c) = self.controllers.get() {
            c.deleted(self, kind, ns, name);
        }
    }

    /// The address the server listens on, set once it is bound.
    pub(crate) fn set_addr(&self, addr: String) {
        let _ = self.addr.set(addr);
    }

    /// Bind the kubeconfig's user to other roles from now on (None: allow everything).
    pub fn set_rbac(&self, policy: Option<server::rbac::Policy>) {
        *self.rbac.lock().unwrap_or_else(|p| p.into_inner()) = policy;
    }

    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn addr(&self) -> String {
        self.addr.get().cloned().unwrap_or_default()
    }

    /// Is the kubeconfig's user allowed this request? (Always, without a policy.)
    pub fn authorize(&self, a: &server::rbac::Attributes) -> bool {
        self.rbac.lock().unwrap_or_else(|p| p.into_inner()).as_ref().is_none_or(|p| p.allows(a))
    }
}

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
