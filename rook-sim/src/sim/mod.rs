//! The running simulation (`Sim`): the calls the tests, the benchmarks and `demo` make
//! on it, and what starting one shares (the CRD, the kubeconfig, the server's socket, the
//! runtime). The composition root: it reaches every layer below - the API server, the
//! operator, the kubelets, the Ceph CLI - and starting it (start.rs, or on a real server
//! remote/on_server.rs) registers the controllers (`crate::state::Controllers`).

pub mod start;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::operator;
use crate::resources::{DEPLOYMENTS, Kind, PODS};
use crate::server::faults::Faults;
use crate::server::log::LoggedRequest;
use crate::state::{Backend, Crd, SimState};
use crate::{kube, server};

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
    let mut v: Value = serde_saphyr::from_str(include_str!("../../assets/cephcluster-crd.yaml")).expect("CRD parses");
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

    /// As [`Sim::update`], through the `status` subresource (only `status` is written): what
    /// Rook writes of a CephCluster, on a real server as on the embedded one.
    pub fn update_status(
        &self,
        kind: &'static Kind,
        ns: &str,
        name: &str,
        f: impl FnMut(&mut Value),
    ) -> Result<Value, String> {
        let _rt = self.runtime().enter();
        self.state.update_status(kind, ns, name, f)
    }

    /// Run the Deployment controller on Deployment `name` as after an API write that changed
    /// its pod template (`template_changed`) or its replicas: [`Sim::update`] changes the
    /// stored object only, as if the controller had not seen it yet.
    pub fn run_deployment_controller(&self, ns: &str, name: &str, template_changed: bool) {
        let _rt = self.runtime().enter();
        kube::control::deployment_controller(&self.state, ns, name, template_changed);
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
        operator::checker::set(&self.state, ns, health);
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

    /// Run `ceph ARGS...` against the cluster in `ns` as [`crate::ceph::exec`] answers it (in the
    /// simulation's runtime; a hang fault blocks the caller).
    pub fn ceph(&self, ns: &str, args: &[&str]) -> crate::ceph::ExecOutcome {
        let mut argv = vec!["ceph".to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        let state = self.state.clone();
        let ns = ns.to_string();
        self.rt.as_ref().expect("runtime").block_on(async move { crate::ceph::exec(&state, &ns, "", "", &argv).await })
    }

    /// Make the `ceph` CLI hang, fail or print garbage: on every command, or those starting
    /// with `command` (`"osd ok-to-stop"`), `count` times (None: until cleared). Returns the
    /// fault's id. The admin endpoint's `/rook-sim/ceph/faults` does the same.
    pub fn ceph_fault(&self, kind: crate::ceph::state::FaultKind, command: Option<&str>, count: Option<u32>) -> u64 {
        self.state.ceph.add_fault(crate::ceph::state::Fault {
            id: 0,
            kind,
            command: command.map(|c| c.split_whitespace().collect::<Vec<_>>().join(" ")),
            remaining: count,
        })
    }

    pub fn clear_ceph_faults(&self) {
        self.state.ceph.clear_faults();
    }

    /// Ceph's `mon_warn_older_version_delay` (default one week): DAEMON_OLD_VERSION is raised
    /// only once versions have been mixed this long. Tests set 0.
    pub fn set_old_version_delay(&self, d: Duration) {
        self.state.ceph.set_old_version_delay(d);
    }

    /// Rotate every service key of the cluster in `ns` to AES256K (as Rook's key rotation
    /// does): AUTH_INSECURE_SERVICE_KEY_TYPE clears.
    pub fn rotate_service_keys(&self, ns: &str) {
        self.state.ceph.with(ns, |s| s.all_aes256k = true);
    }

    /// Put a fault in force as the admin endpoint would.
    pub fn apply_fault(&self, s: &server::admin::Setting) -> Value {
        server::admin::apply(&self.state, s)
    }
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
        if let Backend::Remote(r) = &self.state.backend {
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
