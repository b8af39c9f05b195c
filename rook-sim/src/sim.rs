//! A simulation: its options (`SimOptions`), its state shared by the server, the operator
//! and the kubelets (`SimState`), and the running cluster (`Sim`) with the calls the tests,
//! the benchmarks and `demo` make on it.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use base64::Engine;
use serde_json::{Value, json};

use crate::operator::{self, Operator, OperatorConfig};
use crate::resources::{CEPHCLUSTERS, CRDS, DEPLOYMENTS, Kind, NAMESPACES, PODS};
use crate::server::faults::Faults;
use crate::server::log::{LoggedRequest, RequestLog};
use crate::server::store::Store;
use crate::topology::Topology;
use crate::{client, kube, load, remote, server, topology};

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
    /// simulated Rook operator and kubelets against it (remote.rs). The embedded server's
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
    /// The API server the operator and kubelets act on (client.rs).
    pub backend: client::Backend,
    /// On a real server: the connection the front (request log, faults) forwards the
    /// clients' requests through, as `SimOptions::proxy_as`'s user.
    pub front: Option<Arc<remote::Remote>>,
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
    pub kubelet: kube::kubelet::Kubelet,
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
        backend: client::Backend,
        front: Option<Arc<remote::Remote>>,
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

pub(crate) fn random_hex(n: usize) -> String {
    let mut s = String::new();
    while s.len() < n {
        // RandomState is seeded from the OS: enough for a loopback test token.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0),
        );
        s.push_str(&format!("{:016x}", h.finish()));
    }
    s.truncate(n);
    s
}

pub(crate) fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// The CephCluster CRD object, released or proposed.
pub fn crd_object(crd: Crd) -> Value {
    let mut v: Value = serde_saphyr::from_str(include_str!("../assets/cephcluster-crd.yaml")).expect("CRD parses");
    if crd == Crd::Proposed {
        server::schema::add_image_overrides(&mut v);
    }
    v["status"] = json!({
        "acceptedNames": v["spec"]["names"].clone(),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}],
        "storedVersions": ["v1"],
    });
    v
}

fn ensure_namespace(store: &mut Store, ns: &str) {
    if store.get(&NAMESPACES, "", ns).is_none() {
        let _ = store.create(&NAMESPACES, "", json!({"metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}), false);
    }
}

fn store_with_crd(crd: Crd, namespaces: &[&str]) -> (Store, Value) {
    let mut store = Store::new();
    for ns in ["default", "kube-system"].iter().chain(namespaces) {
        ensure_namespace(&mut store, ns);
    }
    let crd = crd_object(crd);
    let schema = crd.pointer("/spec/versions/0/schema/openAPIV3Schema").cloned().expect("schema");
    store.create(&CRDS, "", crd, false).expect("crd");
    (store, schema)
}

/// The generated cluster (`opts.topology`).
fn bootstrap(opts: &SimOptions, operator: &Operator) -> (Store, Value) {
    let t = &opts.topology;
    let operator_ns = t.operator_namespace.clone().unwrap_or_else(|| t.namespace.clone());
    let (mut store, schema) = store_with_crd(opts.crd, &[t.namespace.as_str(), operator_ns.as_str()]);
    let mut cluster = topology::ceph_cluster(&t.namespace, &t.ceph_image);
    strip_nulls(&mut cluster);
    server::schema::prune(&mut cluster, &schema);
    let cluster = store.create(&CEPHCLUSTERS, &t.namespace, cluster, false).expect("cluster");
    let uid = cluster["metadata"]["uid"].as_str().unwrap_or_default().to_string();
    let nodes: Vec<String> = (0..t.node_count()).map(|i| t.node_name(i)).collect();
    for d in t.daemons() {
        let dep = d.deployment(&t.namespace, &t.ceph_image, &t.rook_image, &uid);
        let dep = store.create(&DEPLOYMENTS, &t.namespace, dep, false).expect("deployment");
        for node in d.pod_nodes(&nodes) {
            let seq = operator.next_seq();
            let pod = topology::pod(&dep, &node, seq, true, &Operator::pod_ip(seq));
            store.create(&PODS, &t.namespace, pod, false).expect("pod");
        }
        operator.register(&t.namespace, operator::rook::Managed::Generated(d));
    }
    // the operator itself, Running (`ceph` is asked in it through pods/exec: ceph::exec)
    let dep = topology::operator_deployment(&operator_ns, &t.rook_image);
    let dep = store.create(&DEPLOYMENTS, &operator_ns, dep, false).expect("operator deployment");
    let seq = operator.next_seq();
    let pod = topology::pod(&dep, &nodes[0], seq, true, &Operator::pod_ip(seq));
    store.create(&PODS, &operator_ns, pod, false).expect("operator pod");
    kube::rollout::initial_status(&mut store, &operator_ns, "rook-ceph-operator");
    (store, schema)
}

/// A cluster loaded from dumped objects: exactly those objects. Rook manages the daemon
/// Deployments of every namespace with a CephCluster; the operator's Rook version there is
/// the `rook-version` most of them carry. Returns the store, the schema and the namespaces
/// with a CephCluster (first one first).
fn bootstrap_loaded(
    opts: &SimOptions,
    operator: &Operator,
    loaded: load::Loaded,
) -> Result<(Store, Value, Vec<String>, Vec<String>), String> {
    let mut namespaces: Vec<&str> = Vec::new();
    for o in &loaded.objects {
        let ns = if o.kind == &NAMESPACES {
            o.object["metadata"]["name"].as_str().unwrap_or_default()
        } else {
            &o.namespace
        };
        if !ns.is_empty() && !namespaces.contains(&ns) {
            namespaces.push(ns);
        }
    }
    let (mut store, schema) = store_with_crd(opts.crd, &[]);
    let mut cluster_namespaces: Vec<String> = Vec::new();
    let mut cluster_images: std::collections::BTreeMap<String, String> = Default::default();
    // Namespaces first (a dumped Namespace replaces the one made for it), then clusters.
    for kind in [&NAMESPACES, &CEPHCLUSTERS, &DEPLOYMENTS, &PODS] {
        for o in loaded.objects.iter().filter(|o| o.kind == kind) {
            let mut v = load::clean(o.object.clone());
            strip_nulls(&mut v);
            if kind == &NAMESPACES {
                let name = v["metadata"]["name"].as_str().unwrap_or_default().to_string();
                let _ = store.delete(&NAMESPACES, "", &name, false);
            }
            if kind == &CEPHCLUSTERS {
                server::schema::prune(&mut v, &schema);
                if !cluster_namespaces.contains(&o.namespace) {
                    cluster_namespaces.push(o.namespace.clone());
                }
                let image = v.pointer("/spec/cephVersion/image").and_then(Value::as_str).unwrap_or_default();
                cluster_images.entry(o.namespace.clone()).or_insert_with(|| image.to_string());
            }
            store.load(kind, &o.namespace, v).map_err(|e| format!("{}: {}", o.origin, e.message))?;
        }
        if kind == &NAMESPACES {
            for ns in &namespaces {
                ensure_namespace(&mut store, ns);
            }
        }
    }
    for ns in &cluster_namespaces {
        let deployments: Vec<Value> = store
            .iter(&DEPLOYMENTS, Some(ns), None)
            .map(|(_, s)| serde_json::from_slice(&s.bytes).expect("json"))
            .collect();
        let mut versions: std::collections::BTreeMap<String, usize> = Default::default();
        for dep in &deployments {
            let name = dep["metadata"]["name"].as_str().unwrap_or_default().to_string();
            if dep.get("status").is_none() {
                kube::rollout::initial_status(&mut store, ns, &name);
            }
            if let Some(d) = operator::rook::LoadedDaemon::from_deployment(dep, &cluster_images[ns]) {
                if let Some(v) = dep.pointer("/metadata/labels/rook-version").and_then(Value::as_str) {
                    *versions.entry(v.to_string()).or_default() += 1;
                }
                operator.register(ns, operator::rook::Managed::Loaded(d));
            }
        }
        if let Some((v, _)) = versions.into_iter().max_by_key(|(v, n)| (*n, operator::rook::rook_minor(v))) {
            operator.set_rook_version(ns, &v);
        }
    }
    Ok((store, schema, cluster_namespaces, loaded.skipped))
}

pub fn kubeconfig_yaml(server: &str, ca_pem: &str, token: &str, namespace: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: rook-sim\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\n\
         contexts:\n- name: rook-sim\n  context:\n    cluster: rook-sim\n    user: rook-sim-admin\n    namespace: {namespace}\n\
         current-context: rook-sim\nusers:\n- name: rook-sim-admin\n  user:\n    token: {token}\n"
    )
}

/// A running simulated cluster. Dropping it stops the server.
pub struct Sim {
    pub state: Arc<SimState>,
    pub(crate) rt: Option<tokio::runtime::Runtime>,
    pub(crate) kubeconfig: PathBuf,
    /// The admin endpoint's token and CA files (None on a real server: no such endpoint).
    pub(crate) admin_files: Option<server::admin::Files>,
    pub(crate) owned_dir: Option<PathBuf>,
    pub url: String,
    pub ca_pem: String,
    /// The namespaces with a CephCluster; the kubeconfig's context names the first.
    pub namespaces: Vec<String>,
    /// Loaded objects of kinds the simulation does not serve, skipped (one line each).
    pub skipped: Vec<String>,
    /// On a real server: the namespaces this simulation created, deleted when it stops.
    pub(crate) created_namespaces: Vec<String>,
}

impl Sim {
    pub fn start(opts: SimOptions) -> Result<Sim, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        if opts.on.is_some() {
            return remote::on_server::start(opts);
        }
        let tls = server::tls::generate()?;
        let operator = Operator::new(opts.operator.clone(), opts.topology.rook_image.clone());
        let loaded = if opts.from.is_empty() && opts.objects.is_empty() {
            None
        } else {
            Some(load::from_sources(&opts.from, &opts.objects)?)
        };
        let (store, schema, namespaces, skipped) = match loaded {
            None => {
                let (store, schema) = bootstrap(&opts, &operator);
                (store, schema, vec![opts.topology.namespace.clone()], Vec::new())
            }
            Some(l) => bootstrap_loaded(&opts, &operator, l)?,
        };
        let generated = opts.from.is_empty() && opts.objects.is_empty();
        let state = SimState::new(store, client::Backend::Embedded, None, schema, &opts, operator);
        state.set_controllers(Box::new(client::ControlPlane));
        if generated {
            for i in 0..opts.topology.node_count() {
                state.kubelet.add_node(&opts.topology.node_name(i));
            }
        }
        state.kubelet.seed(&state.store());
        let rt = runtime()?;
        {
            let _guard = rt.enter();
            if generated {
                state.operator.update_status(&state, &opts.topology.namespace, &opts.topology.ceph_image);
            } else {
                for ns in &namespaces {
                    state.operator.fill_versions(&state, ns);
                }
            }
            for ns in &namespaces {
                crate::ceph::keys_at_creation(&state, ns);
            }
        }
        let (url, addr) = serve_on(rt.handle(), &state, opts.port, &tls)?;
        let op_state = state.clone();
        rt.spawn(async move { op_state.operator.run(&op_state).await });

        let (kubeconfig, owned_dir) = match &opts.kubeconfig_out {
            Some(p) => (p.clone(), None),
            None => {
                let dir = std::env::temp_dir().join(format!("rook-sim-{}-{}", std::process::id(), addr.port()));
                std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                (dir.join("kubeconfig"), Some(dir))
            }
        };
        write_private(&kubeconfig, &kubeconfig_yaml(&url, &tls.ca_pem, &state.token, &namespaces[0]))?;
        let admin_files = Some(server::admin::Files::write(&kubeconfig, &state.admin_token, &tls.ca_pem)?);
        Ok(Sim {
            state,
            rt: Some(rt),
            kubeconfig,
            admin_files,
            owned_dir,
            url,
            ca_pem: tls.ca_pem,
            namespaces,
            skipped,
            created_namespaces: Vec::new(),
        })
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    pub fn token(&self) -> &str {
        &self.state.token
    }

    /// The token of the admin endpoint (`/rook-sim/faults`), not the kubeconfig user's.
    pub fn admin_token(&self) -> &str {
        &self.state.admin_token
    }

    /// The file next to the kubeconfig holding `admin_token` (mode 0600). Panics on a real
    /// server, which has no admin endpoint.
    pub fn admin_token_file(&self) -> &Path {
        &self.admin_files.as_ref().expect("the embedded server's admin endpoint").token
    }

    /// The CA certificate (PEM) next to the kubeconfig, for `curl --cacert`. Panics on a
    /// real server.
    pub fn ca_file(&self) -> &Path {
        &self.admin_files.as_ref().expect("the embedded server's admin endpoint").ca
    }

    pub fn log(&self) -> Vec<LoggedRequest> {
        self.state.log.entries()
    }

    pub fn clear_log(&self) {
        self.state.log.clear()
    }

    /// Requests that would have changed something (writes, not counting `dryRun=All`).
    pub fn mutating_requests(&self) -> Vec<LoggedRequest> {
        self.state.log.mutating()
    }

    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// Block until the simulated operator has finished every reconcile asked for so far.
    ///
    /// On a real server the operator hears of a write only when the server's watch event
    /// arrives, and the real controllers roll the pods: there it waits (at most 60 s) until
    /// the cluster is quiet — the operator idle, every Deployment of the cluster rolled out
    /// and no pod terminating — at two checks 300 ms apart.
    pub fn settle(&self) {
        let state = self.state.clone();
        let rt = self.rt.as_ref().expect("runtime");
        if !state.is_remote() {
            rt.block_on(async move { state.operator.settle().await });
            return;
        }
        let namespaces = self.namespaces.clone();
        rt.block_on(async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            let mut quiet = 0;
            while quiet < 2 && std::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                state.operator.settle().await;
                let calm = namespaces.iter().all(|ns| {
                    state.list(&DEPLOYMENTS, Some(ns)).iter().all(operator::rollout_complete)
                        && state.list(&PODS, Some(ns)).iter().all(|p| p["metadata"].get("deletionTimestamp").is_none())
                });
                quiet = if calm { quiet + 1 } else { 0 };
            }
        });
    }

    pub fn get(&self, kind: &'static Kind, ns: &str, name: &str) -> Option<Value> {
        let _rt = self.runtime().enter();
        self.state.get(kind, ns, name)
    }

    /// Objects of a kind in a namespace, in name order.
    pub fn list(&self, kind: &'static Kind, ns: &str) -> Vec<Value> {
        let _rt = self.runtime().enter();
        self.state.list(kind, Some(ns))
    }

    /// Change an object as another client would (no request logged), e.g. a concurrent
    /// writer between the plugin's read and its patch. Triggers the operator like an
    /// API write of a CephCluster would; a Deployment's pods are left as they are (see
    /// [`Sim::run_deployment_controller`]).
    pub fn update(
        &self,
        kind: &'static Kind,
        ns: &str,
        name: &str,
        f: impl FnMut(&mut Value),
    ) -> Result<Value, String> {
        let _rt = self.runtime().enter();
        // FnMut: on a real server a 409 reads again and changes again
        self.state.update(kind, ns, name, f)
    }

    /// Run the Deployment controller on Deployment `name` as after an API write that changed
    /// its pod template (`template_changed`) or its replicas: [`Sim::update`] changes the
    /// stored object only, as if the controller had not seen it yet.
    pub fn run_deployment_controller(&self, ns: &str, name: &str, template_changed: bool) {
        let _rt = self.runtime().enter();
        client::deployment_controller(&self.state, ns, name, template_changed);
    }

    /// Bind the kubeconfig's user to other roles from now on (None: allow everything).
    pub fn set_rbac(&self, policy: Option<server::rbac::Policy>) {
        self.state.set_rbac(policy);
    }

    /// The most requests (watches aside) the simulation was answering at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Cut every open watch connection mid-stream.
    pub fn drop_watches(&self) {
        self.state.watch_epoch.send_modify(|e| *e += 1);
    }

    /// Expire old continue tokens and watch resourceVersions (410), as etcd compaction.
    pub fn compact(&self) {
        self.state.store().compact();
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("runtime")
    }

    /// Pin `status.ceph.health` of the cluster in `ns` to `health` (e.g. `HEALTH_ERR`)
    /// until called with `None`; then it is `HEALTH_WARN` while a restarted daemon pod is
    /// not Ready, else `HEALTH_OK`. Written at once, with `lastChecked`. Ceph itself agrees
    /// on HEALTH_ERR: `ceph health detail` raises OSD_FULL while it is pinned.
    pub fn set_health(&self, ns: &str, health: Option<&str>) {
        let _rt = self.runtime().enter();
        self.state.ceph.with(ns, |c| c.osd_full = health == Some("HEALTH_ERR"));
        operator::health::set(&self.state, ns, health);
    }

    /// What the simulated Ceph of `ns` keeps now that no object shows: its OSD map flags,
    /// flags per CRUSH node or OSD, `require_osd_release` (None until first read).
    pub fn ceph_state(&self, ns: &str) -> crate::ceph::state::Cluster {
        self.state.ceph.with(ns, |c| c.clone())
    }

    /// The images `node` has pulled (or had from the start: those its Running pods ran).
    pub fn pulled(&self, node: &str) -> BTreeSet<String> {
        self.state.kubelet.pulled(node)
    }

    /// Every image pull a pod made, in the order they finished: (sequence number, node,
    /// image). The numbers come from the sequence [`Sim::replacement_log`] numbers
    /// rollouts in, so a pull numbered below a rollout finished before that rollout began.
    pub fn pull_log(&self) -> Vec<(u64, String, String)> {
        self.state.kubelet.pull_log()
    }

    /// `image` as cached on `node` runs Ceph `version` (`20.2.4-0`) whatever its tag says: a
    /// tag re-pushed with another build while the node kept its copy (`IfNotPresent`).
    /// `ceph versions` says so; the pod specs cannot.
    pub fn set_stale_image(&self, node: &str, image: &str, version: &str) {
        self.state.kubelet.set_stale(node, image, version);
    }

    /// The nodes pods can run on.
    pub fn nodes(&self) -> BTreeSet<String> {
        self.state.kubelet.nodes()
    }

    /// Pulls of `image` on `node` fail (`ErrImagePull`, then `ImagePullBackOff`), for
    /// daemon and pull pods alike, until [`Sim::clear_pull_failures`].
    pub fn fail_pulls(&self, node: &str, image: &str) {
        self.state.kubelet.fail_pulls(node, image);
    }

    /// Pulls work again; pods waiting in `ImagePullBackOff` pull on their next retry.
    pub fn clear_pull_failures(&self) {
        self.state.kubelet.clear_pull_failures();
    }

    /// New pods of Deployment `deployment` in `ns` run but never turn Ready (readiness
    /// false), until [`Sim::clear_never_ready`].
    pub fn never_ready(&self, ns: &str, deployment: &str) {
        self.state.kubelet.set_never_ready(ns, deployment);
    }

    /// Take `node` down (NotReady: its pods turn phase Unknown and not Ready, new pods
    /// bound to it stay Pending) or, `false`, bring it back (its pods Ready again).
    pub fn set_node_down(&self, node: &str, down: bool) {
        let _rt = self.runtime().enter();
        crate::kube::kubelet::set_node_down(&self.state, node, down);
    }

    /// Pods held not Ready turn Ready at their next readiness probe.
    pub fn clear_never_ready(&self) {
        self.state.kubelet.clear_never_ready();
    }

    /// How many times each Deployment of `ns` had its pods replaced by a template change
    /// (by the operator or a client's write), since start or [`Sim::reset_replacements`].
    pub fn replacements(&self, ns: &str) -> BTreeMap<String, u32> {
        self.state.replacements.counts(ns)
    }

    /// The rollouts of `ns` as (sequence number, Deployment), in the order they started.
    pub fn replacement_log(&self, ns: &str) -> Vec<(u64, String)> {
        self.state.replacements.log(ns)
    }

    /// Forget the replacement counts and log, and the pod event log, of every namespace.
    pub fn reset_replacements(&self) {
        self.state.replacements.reset();
    }

    /// What the Deployment and ReplicaSet controllers and the kubelets did to the pods of
    /// `ns`'s Deployments (created, deleted, Ready), in order, since start or
    /// [`Sim::reset_replacements`]; numbered in the sequence [`Sim::replacement_log`] uses.
    pub fn pod_events(&self, ns: &str) -> Vec<kube::events::PodEvent> {
        self.state.replacements.pod_events(ns)
    }

    /// Stop a rollout of Deployment `deployment` midway: from now on at most `pods` pods of
    /// its new ReplicaSet get a node; the others its controller creates stay Pending,
    /// unschedulable, until [`Sim::release_rollout`].
    pub fn hold_rollout(&self, ns: &str, deployment: &str, pods: usize) {
        kube::rollout::hold(&self.state, ns, deployment, pods);
    }

    /// Lift [`Sim::hold_rollout`]: the held pods are scheduled and start.
    pub fn release_rollout(&self, ns: &str, deployment: &str) {
        let _rt = self.runtime().enter();
        kube::rollout::release(&self.state, ns, deployment);
    }
}

/// Write a file that holds a credential: mode 0600 whether the file is new or was already
/// there with a wider mode. The mode is set on the open file before anything is truncated or
/// written, so the credential is never readable by others, not even for a moment.
pub(crate) fn write_private(path: &Path, content: &str) -> Result<(), String> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let err = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true);
    #[cfg(unix)]
    o.mode(0o600);
    let mut f = o.open(path).map_err(err)?;
    #[cfg(unix)]
    f.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    f.set_len(0).map_err(err)?;
    f.write_all(content.as_bytes()).map_err(err)
}

/// Serve the simulation's HTTPS API on 127.0.0.1:`port` (0: any free port) on `rt`:
/// returns its URL and address. Bound with std, then handed to the runtime: `Sim::start`
/// may be called from inside another runtime (demo), where block_on is not allowed.
pub(crate) fn serve_on(
    rt: &tokio::runtime::Handle,
    state: &Arc<SimState>,
    port: u16,
    tls: &server::tls::Tls,
) -> Result<(String, std::net::SocketAddr), String> {
    let std_listener = std::net::TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    std_listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let addr = std_listener.local_addr().map_err(|e| e.to_string())?;
    let listener = {
        let _guard = rt.enter();
        tokio::net::TcpListener::from_std(std_listener).map_err(|e| e.to_string())?
    };
    state.set_addr(addr.to_string());
    rt.spawn(server::serve(state.clone(), listener, tls.server_config.clone()));
    Ok((format!("https://{addr}"), addr))
}

/// The simulation's own runtime (two workers): its server, operator and kubelets run there.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("rook-sim")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let client::Backend::Remote(r) = &self.state.backend {
            for ns in &self.created_namespaces {
                r.delete_namespace(ns);
            }
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
        if let Some(d) = &self.owned_dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
