//! `Sim::start` on a real kube-apiserver (`SimOptions::on`, `demo --serve --on KUBECONFIG`):
//! install what Rook's manifests and operator would have made (the CephCluster CRD, the
//! namespace, the daemons' ServiceAccounts, the CephCluster and its Deployments, from the
//! generated topology or from dumps; for a generated cluster the Rook operator's own
//! Deployment too, as on the embedded server), register the simulated nodes, and run the
//! same simulated operator and kubelets as on the embedded server, through remote/. The
//! real controller-manager makes the ReplicaSets and pods, the real scheduler binds them.
//!
//! Clients reach it through the same front as the embedded server (its HTTPS port, token,
//! kubeconfig, request log, fault and admin endpoints), which forwards every API request to
//! the real server as `SimOptions::proxy_as`'s user: the fault proxy in front of it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::operator::rook;
use crate::operator::{Operator, rollout_complete};
use crate::remote::kubelets::{register_nodes, start_heartbeats, start_watches};
use crate::remote::{Remote, SERVICEACCOUNTS, exec};
use crate::resources::{CEPHCLUSTERS, CRDS, DEPLOYMENTS, NAMESPACES, PODS};
use crate::state::Backend;
use crate::{Sim, SimOptions, SimState, crd_object, load, runtime, topology, write_private};

/// How long `start` waits for the daemons' pods to run before it hands over: this, and
/// `START_PER_DEPLOYMENT` more for each Deployment (2031 at 2000 OSDs: the kubelets start
/// `kubelet::REMOTE_STARTS` pods at a time, each a few writes to a server sharing the cores).
/// 200 OSDs (245 Deployments) took 96 s on an idle 2-core machine and more than 156 s (the
/// earlier 150 ms a Deployment) while a build shared it: the real controller-manager and
/// scheduler, on the same cores, set the pace. A start that makes no progress still fails.
const START_TIMEOUT: Duration = Duration::from_secs(120);
const START_PER_DEPLOYMENT: Duration = Duration::from_millis(500);

pub fn start(opts: SimOptions) -> Result<Sim, String> {
    let rt = runtime()?;
    let handle = rt.handle().clone();
    let holder = std::cell::RefCell::new(Some(rt));
    match start_on(opts, &holder, handle) {
        Ok(sim) => Ok(sim),
        Err(e) => {
            // this may run inside the caller's runtime (demo), where dropping one blocks
            if let Some(rt) = holder.borrow_mut().take() {
                rt.shutdown_background();
            }
            Err(e)
        }
    }
}

fn start_on(
    opts: SimOptions,
    holder: &std::cell::RefCell<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
) -> Result<Sim, String> {
    let on = opts.on.clone().expect("on");
    let rt = handle;
    let remote = Arc::new(Remote::connect(&on, rt.clone())?);
    let front = match &opts.proxy_as {
        Some(p) => Arc::new(Remote::connect(p, rt.clone())?),
        None => remote.clone(),
    };
    let tls = crate::server::tls::generate()?;
    let operator = Operator::new(opts.operator.clone(), opts.topology.rook_image.clone());
    let crd = crd_object(opts.crd);
    let schema = crd.pointer("/spec/versions/0/schema/openAPIV3Schema").cloned().expect("schema");
    // the simulated RBAC does not apply on a real server: its own does
    let opts = SimOptions { rbac: None, ..opts };
    let state = SimState::new(
        crate::server::store::Store::new(),
        Backend::Remote(remote.clone()),
        Some(front),
        schema,
        &opts,
        operator,
    );
    state.set_controllers(Box::new(crate::kube::control::ControlPlane));
    // what this start created goes again if the start fails part way
    let mut cleanup = Cleanup { remote: remote.clone(), namespaces: Vec::new() };
    let mut paused = Vec::new();
    // before the nodes are registered: they report kubelet-exec's port
    let exec_token = kubelet_exec(&remote);
    let Installed { namespaces, run_in, skipped } = {
        let _guard = rt.enter();
        let n = install(&state, &remote, &opts, crd, &mut cleanup.namespaces, &mut paused)?;
        start_heartbeats(&state, &on, remote.kubelet_port.get().copied())?;
        start_watches(&state, remote.clone(), &n.run_in);
        if let Some(token) = exec_token {
            serve_exec(&state, &remote, token, &n.run_in)?;
        }
        n
    };
    let op_state = state.clone();
    rt.spawn(async move { op_state.operator.run(&op_state).await });
    // The front: the same HTTPS API as the embedded server's, with its request log and
    // faults, forwarding every request to the real server.
    let (url, _) = crate::serve_on(&rt, &state, opts.port, &tls)?;
    {
        let _guard = rt.enter();
        wait_for_pods(&state, &run_in)?;
        // Paused as in the dump once their pods run: a Deployment created paused gets no
        // ReplicaSet and no pod from the real controller, unlike the cluster dumped.
        for (ns, name) in &paused {
            state.update(&DEPLOYMENTS, ns, name, |d| d["spec"]["paused"] = true.into())?;
        }
        let generated = opts.from.is_empty() && opts.objects.is_empty();
        for ns in &namespaces {
            if generated {
                state.operator.update_status(&state, ns, &opts.topology.ceph_image);
            } else {
                state.operator.fill_versions(&state, ns);
            }
            // as `Sim::start` on the embedded server: the keys the cluster was created with
            crate::ceph::keys_at_creation(&state, ns);
        }
    }
    let (kubeconfig, owned_dir) = match &opts.kubeconfig_out {
        Some(p) => (p.clone(), None),
        None => {
            let dir = std::env::temp_dir().join(format!("rook-sim-on-{}-{}", std::process::id(), crate::random_hex(8)));
            std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            (dir.join("kubeconfig"), Some(dir))
        }
    };
    write_private(&kubeconfig, &crate::kubeconfig_yaml(&url, &tls.ca_pem, &state.token, &namespaces[0]))?;
    let admin_files = Some(crate::server::admin::Files::write(&kubeconfig, &state.admin_token, &tls.ca_pem)?);
    Ok(Sim {
        url,
        ca_pem: tls.ca_pem,
        state,
        rt: holder.borrow_mut().take(),
        kubeconfig,
        admin_files,
        owned_dir,
        namespaces,
        skipped,
        created_namespaces: std::mem::take(&mut cleanup.namespaces),
    })
}

/// The control plane's kubelet-exec, from its Secret (exec.rs): its port, kept for the
/// Nodes' status, and the token it sends. None when the control plane has none (one not
/// started by scripts/control-plane): the Nodes then report no kubelet port, and exec into
/// a simulated pod fails as against a node without a kubelet.
fn kubelet_exec(remote: &Remote) -> Option<String> {
    let (ns, name) = exec::SECRET;
    let secret = remote.block(remote.call("GET", &format!("/api/v1/namespaces/{ns}/secrets/{name}"), None)).ok()?;
    let (port, token) = exec::from_secret(&secret)?;
    let _ = remote.kubelet_port.set(port);
    Some(token)
}

/// Serve this simulation's exec endpoint (exec.rs) on 127.0.0.1 and name it on its
/// namespaces, so kubelet-exec sends their pods' commands here.
fn serve_exec(state: &Arc<SimState>, remote: &Remote, token: String, namespaces: &[String]) -> Result<(), String> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| format!("cannot listen on 127.0.0.1 for exec: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let url = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
    let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
    let st = state.clone();
    let handler: exec::Handler = Arc::new(move |t| {
        let st = st.clone();
        Box::pin(async move { answer_exec(&st, t).await })
    });
    tokio::spawn(exec::serve(listener, token, handler));
    let patch = serde_json::to_vec(&json!({"metadata": {"annotations": {exec::ANNOTATION: url}}})).expect("json");
    for ns in namespaces {
        remote
            .block(remote.call(
                "PATCH",
                &format!("/api/v1/namespaces/{ns}"),
                Some(("application/merge-patch+json", patch.clone())),
            ))
            .map_err(|e| e.message)?;
    }
    Ok(())
}

/// An exec as the pod's kubelet and container answer it: no such pod, its node down, no
/// running container of that name (a kubelet finds only running ones), or what the
/// container's command answers (`ceph::exec`, the same as on the embedded server).
async fn answer_exec(state: &Arc<SimState>, t: exec::Target) -> exec::Answer {
    let Some(pod) = state.get(&PODS, &t.namespace, &t.pod) else { return exec::Answer::NoPod };
    let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
    if node.is_empty() {
        return exec::Answer::NoPod;
    }
    if state.kubelet.is_down(node) {
        return exec::Answer::NodeDown;
    }
    let running = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["name"] == t.container.as_str() && c["state"].get("running").is_some());
    if !running {
        return exec::Answer::NoContainer(t.container);
    }
    if !t.run {
        return exec::Answer::Ran { stdout: Vec::new(), stderr: Vec::new(), exit_code: 0 };
    }
    let o = crate::ceph::exec(state, &t.namespace, &t.pod, &t.container, &t.command).await;
    exec::Answer::Ran { stdout: o.stdout, stderr: o.stderr, exit_code: o.exit_code }
}

/// Leave out what the server sets, and finalizers: Rook's (`cephcluster.ceph.rook.io`) waits
/// for a cleanup the simulated Rook does not run, and would keep the namespace from ever
/// being deleted.
fn strip_server_fields(v: &mut Value) {
    if let Some(m) = v["metadata"].as_object_mut() {
        for k in
            ["uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink", "finalizers"]
        {
            m.remove(k);
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
}

/// What `install` made: the namespaces with a CephCluster (first one first), those whose
/// pods the simulated kubelets run and answer exec for (these and the Rook operator's, when
/// it has one of its own), and the dumped objects left out.
struct Installed {
    namespaces: Vec<String>,
    run_in: Vec<String>,
    skipped: Vec<String>,
}

/// Create what Rook's manifests and operator made; register the daemons and nodes.
fn install(
    state: &Arc<SimState>,
    remote: &Remote,
    opts: &SimOptions,
    mut crd: Value,
    created: &mut Vec<String>,
    paused: &mut Vec<(String, String)>,
) -> Result<Installed, String> {
    // The CRD: created where there is none. One that differs is never replaced: a
    // released schema would prune imageOverrides from every CephCluster already there.
    if let Some(o) = crd.as_object_mut() {
        o.remove("status");
    }
    let name = crd["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let has_overrides = |c: &Value| {
        c.pointer(
            "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/cephVersion/properties/imageOverrides",
        )
        .is_some()
    };
    match remote.get(&CRDS, "", &name) {
        None => {
            remote.create(&CRDS, "", crd)?;
        }
        Some(cur) if has_overrides(&cur) != has_overrides(&crd) => {
            let (is, asked) = if has_overrides(&cur) { ("proposed", "released") } else { ("released", "proposed") };
            return Err(format!(
                "the API server's CephCluster CRD is the {is} one; --crd {asked} would replace it for every \
                 CephCluster there (a released schema prunes their imageOverrides). Use --crd {is}, or another \
                 control plane. Nothing was changed."
            ));
        }
        Some(_) => {}
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !remote.get(&CRDS, "", &name).is_some_and(|c| {
        c["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Established" && c["status"] == "True"))
    }) {
        if Instant::now() > deadline {
            return Err(format!("the CRD {name} was not Established within 30 s"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    let generated = opts.from.is_empty() && opts.objects.is_empty();
    let mut clusters: Vec<(String, Value)> = Vec::new();
    let mut deployments: Vec<(String, Value)> = Vec::new();
    let mut nodes: BTreeSet<String> = BTreeSet::new();
    let mut skipped = Vec::new();
    let mut managed: Vec<(String, rook::Managed)> = Vec::new();
    let mut dumped_namespaces: Vec<String> = Vec::new();
    // the Rook operator's namespace, when it is not the cluster's
    let mut operator_ns: Option<String> = None;
    if generated {
        let t = &opts.topology;
        let mut c = topology::ceph_cluster(&t.namespace, &t.ceph_image);
        crate::strip_nulls(&mut c);
        clusters.push((t.namespace.clone(), c));
        for i in 0..t.node_count() {
            nodes.insert(t.node_name(i));
        }
        // The operator itself, as `sim::bootstrap` makes it on the embedded server: `ceph` is
        // asked in its pod through pods/exec (kubectl-rook-ceph, the plugin's Ceph::find).
        // Placed by the real scheduler, as Rook's operator.yaml leaves it.
        let ns = t.operator_namespace.clone().unwrap_or_else(|| t.namespace.clone());
        if ns != t.namespace {
            operator_ns = Some(ns.clone());
        }
        deployments.push((ns.clone(), topology::operator_deployment(&ns, &t.rook_image)));
    } else {
        let loaded = load::from_sources(&opts.from, &opts.objects)?;
        skipped = loaded.skipped.clone();
        for o in &loaded.objects {
            let mut v = load::clean(o.object.clone());
            crate::strip_nulls(&mut v);
            if o.kind == &NAMESPACES {
                if let Some(n) = v.pointer("/metadata/name").and_then(Value::as_str) {
                    dumped_namespaces.push(n.to_string());
                }
            } else if o.kind == &CEPHCLUSTERS {
                clusters.push((o.namespace.clone(), v));
            } else if o.kind == &DEPLOYMENTS {
                deployments.push((o.namespace.clone(), v));
            } else if o.kind == &PODS {
                // the real controllers make the pods; their nodes are the cluster's nodes
                if let Some(n) = v.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) {
                    nodes.insert(n.to_string());
                }
            }
        }
        for (_, d) in &deployments {
            if let Some(n) =
                d.pointer("/spec/template/spec/nodeSelector/kubernetes.io~1hostname").and_then(Value::as_str)
            {
                nodes.insert(n.to_string());
            }
        }
    }
    let mut namespaces: Vec<String> = Vec::new();
    for ns in clusters.iter().chain(deployments.iter()).map(|(ns, _)| ns).chain(dumped_namespaces.iter()) {
        if !namespaces.contains(ns) {
            namespaces.push(ns.clone());
        }
    }
    // Before anything is created: a CephCluster already there is someone else's.
    for (ns, c) in &clusters {
        let name = c["metadata"]["name"].as_str().unwrap_or_default();
        if remote.get(&CEPHCLUSTERS, ns, name).is_some() {
            return Err(format!(
                "the API server already has CephCluster {ns}/{name} (another simulation, or one left by an \
                 earlier one): start in another namespace (-n), delete that namespace, or use another control \
                 plane. Nothing was changed."
            ));
        }
    }
    // ... and an operator in a namespace of its own is someone else's
    if let Some(ns) = &operator_ns
        && remote.get(&DEPLOYMENTS, ns, "rook-ceph-operator").is_some()
    {
        return Err(format!(
            "the API server already has a Rook operator Deployment {ns}/rook-ceph-operator: name another operator \
             namespace, or use another control plane. Nothing was changed."
        ));
    }
    // the nodes first: pods created before any node is schedulable wait out the
    // scheduler's back-off
    if nodes.is_empty() {
        nodes.insert("node-00".into());
    }
    register_nodes(state, remote, &nodes)?;
    for ns in &namespaces {
        if remote.get(&NAMESPACES, "", ns).is_none() {
            remote.create(&NAMESPACES, "", json!({"metadata": {"name": ns}}))?;
            created.push(ns.clone());
        }
    }
    // the CephClusters, and their uids for the owner references
    let mut uids: BTreeMap<String, String> = BTreeMap::new();
    let mut images: BTreeMap<String, String> = BTreeMap::new();
    for (ns, mut c) in clusters {
        strip_server_fields(&mut c);
        c["metadata"]["namespace"] = ns.clone().into();
        if let Some(m) = c["metadata"].as_object_mut() {
            m.remove("ownerReferences");
        }
        let created = remote.create(&CEPHCLUSTERS, &ns, c)?;
        uids.entry(ns.clone()).or_insert_with(|| created["metadata"]["uid"].as_str().unwrap_or_default().to_string());
        images.entry(ns.clone()).or_insert_with(|| {
            created.pointer("/spec/cephVersion/image").and_then(Value::as_str).unwrap_or_default().to_string()
        });
    }
    let cluster_namespaces: Vec<String> = namespaces.iter().filter(|n| uids.contains_key(*n)).cloned().collect();
    if cluster_namespaces.is_empty() {
        return Err("no CephCluster to simulate".into());
    }
    if generated {
        let t = &opts.topology;
        for d in t.daemons() {
            let dep = d.deployment(&t.namespace, &t.ceph_image, &t.rook_image, &uids[&t.namespace]);
            deployments.push((t.namespace.clone(), dep));
            managed.push((t.namespace.clone(), rook::Managed::Generated(d)));
        }
    }
    // the ServiceAccounts Rook's manifests create (ServiceAccount admission refuses a pod
    // that names a missing one)
    let mut accounts: BTreeSet<(String, String)> = BTreeSet::new();
    for (ns, d) in &deployments {
        let sa = d.pointer("/spec/template/spec/serviceAccountName").and_then(Value::as_str).unwrap_or("default");
        if sa != "default" {
            accounts.insert((ns.clone(), sa.to_string()));
        }
    }
    for (ns, sa) in accounts {
        if remote.get(&SERVICEACCOUNTS, &ns, &sa).is_none() {
            remote.create(&SERVICEACCOUNTS, &ns, json!({"metadata": {"name": sa, "namespace": ns}}))?;
        }
    }
    // The nodes have the cluster's images (its pods ran there before rook-sim started, as
    // the embedded server counts the images of its Running pods): only an image new to a
    // node is pulled, with `pull_delay`.
    for (_, d) in &deployments {
        for image in crate::kube::nodes::images_of(&json!({"spec": d["spec"]["template"]["spec"]})) {
            for n in &nodes {
                state.kubelet.mark_pulled(n, &image);
            }
        }
    }
    let mut versions: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for (ns, mut d) in deployments {
        strip_server_fields(&mut d);
        d["metadata"]["namespace"] = ns.clone().into();
        // owner references to the objects of the dump point at the new CephCluster, or go
        if let Some(refs) = d["metadata"]["ownerReferences"].as_array_mut() {
            refs.retain(|r| r["kind"] == "CephCluster" && uids.contains_key(&ns));
            for r in refs.iter_mut() {
                r["uid"] = uids[&ns].clone().into();
            }
        }
        if !generated
            && let Some(image) = images.get(&ns)
            && let Some(l) = rook::LoadedDaemon::from_deployment(&d, image)
        {
            if let Some(v) = d.pointer("/metadata/labels/rook-version").and_then(Value::as_str) {
                *versions.entry(ns.clone()).or_default().entry(v.to_string()).or_default() += 1;
            }
            managed.push((ns.clone(), rook::Managed::Loaded(l)));
        }
        if d["spec"]["paused"] == true {
            d["spec"]["paused"] = false.into();
            paused.push((ns.clone(), d["metadata"]["name"].as_str().unwrap_or_default().to_string()));
        }
        remote.create(&DEPLOYMENTS, &ns, d)?;
    }
    for (ns, m) in managed {
        state.operator.register(&ns, m);
    }
    for (ns, v) in versions {
        if let Some((v, _)) = v.into_iter().max_by_key(|(v, n)| (*n, rook::rook_minor(v))) {
            state.operator.set_rook_version(&ns, &v);
        }
    }
    let run_in = cluster_namespaces.iter().chain(operator_ns.iter()).cloned().collect();
    Ok(Installed { namespaces: cluster_namespaces, run_in, skipped })
}

/// The namespaces a start created, deleted (with their pods) when it fails part way.
struct Cleanup {
    remote: Arc<Remote>,
    namespaces: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            self.remote.delete_namespace(ns);
        }
    }
}

/// Until every Deployment of the namespaces has rolled out on the real server (the real
/// controllers made the pods, the scheduler bound them, the simulated kubelets ran them).
fn wait_for_pods(state: &Arc<SimState>, namespaces: &[String]) -> Result<(), String> {
    let count: usize = namespaces.iter().map(|ns| state.list(&DEPLOYMENTS, Some(ns)).len()).sum();
    let timeout = START_TIMEOUT + START_PER_DEPLOYMENT * count as u32;
    let deadline = Instant::now() + timeout;
    loop {
        let pending: Vec<String> = namespaces
            .iter()
            .flat_map(|ns| state.list(&DEPLOYMENTS, Some(ns)))
            .filter(|d| !rollout_complete(d))
            .map(|d| d["metadata"]["name"].as_str().unwrap_or_default().to_string())
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "on the real server, these Deployments did not roll out within {} s: {}",
                timeout.as_secs(),
                pending.join(", ")
            ));
        }
        // each look is a LIST of every Deployment from the real server (10 MB at 2000 OSDs):
        // every 200 ms, it kept the simulation's cores busy while its kubelets had pods to run
        std::thread::sleep(Duration::from_millis(200).max(Duration::from_millis(count as u64)));
    }
}
