//! The simulated nodes on a real kube-apiserver: registered as Nodes, their Leases renewed,
//! and the watches that run their kubelets and wake the operator (see remote/mod.rs).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::{NODES, Remote};
use crate::SimState;
use crate::resources::{CEPHCLUSTERS, DEPLOYMENTS, PODS};

/// A Node as a kubelet registers it: Ready, room for every pod the simulation starts.
pub fn node_object(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "rook-sim/simulated": "true"}},
        "spec": {},
    })
}

/// The status a kubelet posts: Ready, the address the kube-apiserver dials for exec (every
/// simulated node is on 127.0.0.1) and, with `kubelet_port`, the port it dials
/// (kubelet-exec's; without, the API server would dial the default 10250).
fn node_status(now: &str, kubelet_port: Option<u16>) -> Value {
    let capacity = json!({"cpu": "1000", "memory": "4Ti", "pods": "5000", "ephemeral-storage": "100Ti"});
    let mut status = json!({
        "capacity": capacity, "allocatable": capacity,
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status (rook-sim)",
             "lastHeartbeatTime": now, "lastTransitionTime": now},
            {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "lastHeartbeatTime": now, "lastTransitionTime": now},
            {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "lastHeartbeatTime": now, "lastTransitionTime": now},
            {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "lastHeartbeatTime": now, "lastTransitionTime": now},
        ],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": "127.0.0.1"}],
        "nodeInfo": {"kubeletVersion": "v1.37.2-rook-sim", "containerRuntimeVersion": "rook-sim://1",
            "operatingSystem": "linux", "architecture": "amd64", "kernelVersion": "", "osImage": "rook-sim",
            "kubeProxyVersion": "", "machineID": "", "systemUUID": "", "bootID": ""},
    });
    if let Some(port) = kubelet_port {
        status["daemonEndpoints"] = json!({"kubeletEndpoint": {"Port": port}});
    }
    status
}

/// Register the simulated nodes (a Node, Ready, and its Lease), as kubelets do.
pub fn register_nodes(state: &Arc<SimState>, remote: &Remote, nodes: &BTreeSet<String>) -> Result<(), String> {
    let now = crate::server::store::now_rfc3339();
    for n in nodes {
        // several simulations may share a control plane and register the same node at once
        if remote.get(&NODES, "", n).is_none()
            && let Err(e) = remote.create(&NODES, "", node_object(n))
            && remote.get(&NODES, "", n).is_none()
        {
            return Err(e);
        }
        let port = remote.kubelet_port.get().copied();
        state.update_status(&NODES, "", n, |node| node["status"] = node_status(&now, port))?;
        state.kubelet.add_node(n);
    }
    Ok(())
}

/// How often the kubelets renew their nodes' Leases: a fifth of the control plane's
/// `--node-monitor-grace-period` (10 s, testbed/cmd/control-plane), as a kubelet renews
/// every 10 s against the default 50 s.
const LEASE_RENEWAL: Duration = Duration::from_secs(1);
/// How many Leases are renewed at once: enough that a few hundred nodes renew within the
/// second, few enough not to open a connection per node.
const RENEWALS_AT_ONCE: usize = 16;
/// How often they post their nodes' status, in renewals: every 10 s (a kubelet's
/// `nodeStatusUpdateFrequency`).
const STATUS_EVERY: u64 = 10;

/// A node's Lease renewed (a merge patch of `renewTime`: several simulations sharing a
/// control plane renew the same node's Lease without conflicts), created when not there.
async fn renew_lease(remote: &Remote, node: &str, now_micro: &str) {
    let path = format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}");
    let patch = serde_json::to_vec(&json!({"spec": {"renewTime": now_micro}})).expect("json");
    if let Err(e) = remote.call("PATCH", &path, Some(("application/merge-patch+json", patch))).await
        && e.code == 404
    {
        let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": node, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": now_micro}});
        let body = serde_json::to_vec(&lease).expect("json");
        let _ = remote
            .call(
                "POST",
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                Some(("application/json", body)),
            )
            .await;
    }
}

/// The kubelets' heartbeats: every `LEASE_RENEWAL`, each node's Lease renewed
/// (`RENEWALS_AT_ONCE` at a time, so one slow answer does not hold up the other nodes);
/// every `STATUS_EVERY` renewals its status posted (a merge patch of `status`, which is all
/// the kubelet's). A node that is down (`Kubelet::is_down`) does neither: its kubelet is not
/// there, and the node-lifecycle controller marks it NotReady (Unknown) once its grace
/// period passes. A node back up posts its status at once, Ready again.
async fn heartbeats(state: Arc<SimState>, remote: Remote, port: Option<u16>) {
    let mut tick: u64 = 0;
    let mut was_down: BTreeSet<String> = BTreeSet::new();
    loop {
        let now_micro = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        let (up, down): (Vec<String>, Vec<String>) =
            state.kubelet.nodes().into_iter().partition(|n| !state.kubelet.is_down(n));
        {
            use futures::StreamExt;
            let renewals = up.iter().map(|n| renew_lease(&remote, n, &now_micro));
            futures::stream::iter(renewals).buffer_unordered(RENEWALS_AT_ONCE).collect::<Vec<()>>().await;
        }
        for n in &up {
            if tick.is_multiple_of(STATUS_EVERY) || was_down.contains(n) {
                let status = json!({"status": node_status(&crate::server::store::now_rfc3339(), port)});
                let body = serde_json::to_vec(&status).expect("json");
                let path = format!("/api/v1/nodes/{n}/status");
                let _ = remote.call("PATCH", &path, Some(("application/merge-patch+json", body))).await;
            }
        }
        was_down = down.into_iter().collect();
        tick += 1;
        tokio::time::sleep(LEASE_RENEWAL).await;
    }
}

/// Run the kubelets' heartbeats on a thread of their own, through a connection of their own
/// (`kubeconfig`'s), as a kubelet sends them through a client apart from its other requests
/// (`HeartbeatClient`, kubernetes cmd/kubelet/app/server.go). In the simulation's runtime
/// they were late whenever its tasks were busy: starting 246 pods on two cores, a Lease was
/// renewed 25 s after the one before, the node-lifecycle controller marked every node
/// NotReady (grace period 10 s) and every pod on them not Ready. The thread ends when the
/// simulation's runtime does (it holds the sender of the thread's stop signal).
pub fn start_heartbeats(state: &Arc<SimState>, kubeconfig: &std::path::Path, port: Option<u16>) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the kubelets' heartbeats: {e}"))?;
    let remote = Remote::connect(kubeconfig, rt.handle().clone())?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _stop_when_dropped = stop_tx;
        std::future::pending::<()>().await
    });
    let state = state.clone();
    std::thread::Builder::new()
        .name("rook-sim-heartbeats".into())
        .spawn(move || {
            rt.block_on(async move {
                tokio::select! {
                    _ = stop_rx => {}
                    _ = heartbeats(state, remote, port) => {}
                }
            })
        })
        .map_err(|e| format!("cannot start the kubelets' heartbeats: {e}"))?;
    Ok(())
}

/// Start the watches that stand for the embedded server's reactions to writes (see the
/// module). `namespaces`: the namespaces with a CephCluster.
pub fn start_watches(state: &Arc<SimState>, remote: Arc<Remote>, namespaces: &[String]) {
    for ns in namespaces {
        // pods: the kubelets of the simulated nodes
        let (st, seen, me) = (state.clone(), Mutex::new(Seen::default()), remote.clone());
        tokio::spawn(remote.clone().informer(&PODS, Some(ns.clone()), move |etype, pod| {
            on_pod(&st, &me, &seen, etype, &pod);
        }));
        // Deployments: rollouts counted as the embedded server's Deployment controller counts them
        let st = state.clone();
        let mut templates: HashMap<String, Value> = HashMap::new();
        tokio::spawn(remote.clone().informer(&DEPLOYMENTS, Some(ns.clone()), move |etype, dep| {
            let ns = dep["metadata"]["namespace"].as_str().unwrap_or_default().to_string();
            let name = dep["metadata"]["name"].as_str().unwrap_or_default().to_string();
            let template = dep["spec"]["template"].clone();
            match etype {
                "DELETED" => {
                    templates.remove(&name);
                }
                _ => {
                    if let Some(old) = templates.insert(name.clone(), template.clone())
                        && old != template
                    {
                        st.replacements.record(&ns, &name);
                    }
                }
            }
        }));
        // CephClusters: what Rook's CephCluster watch reacts to
        let st = state.clone();
        let mut seen: HashMap<String, Value> = HashMap::new();
        tokio::spawn(remote.clone().informer(&CEPHCLUSTERS, Some(ns.clone()), move |etype, c| {
            let name = c["metadata"]["name"].as_str().unwrap_or_default().to_string();
            match (etype, seen.insert(name, c.clone())) {
                ("DELETED", _) => {}
                (_, Some(old)) => st.operator.cluster_written(&old, &c),
                (_, None) => {}
            }
        }));
    }
}

/// The pods the kubelets have taken on (by uid): run, and being deleted.
#[derive(Default)]
pub struct Seen {
    run: HashSet<String>,
    deleting: HashSet<String>,
}

/// A pod event, as the kubelet of its node sees it: a new pod bound to a simulated node is
/// run (one already Running from before rook-sim started is left as it is, its images
/// counted as pulled); a pod being deleted is removed once its containers stopped; a pod
/// the node controller marked not Ready while its node was late is reported Ready again.
fn on_pod(state: &Arc<SimState>, remote: &Arc<Remote>, seen: &Mutex<Seen>, etype: &str, pod: &Value) {
    let uid = pod["metadata"]["uid"].as_str().unwrap_or_default().to_string();
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default().to_string();
    let name = pod["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    if etype == "DELETED" {
        seen.run.remove(&uid);
        seen.deleting.remove(&uid);
        drop(seen);
        crate::operator::checker::refresh(state, &ns);
        return;
    }
    if node.is_empty() {
        return;
    }
    // Every node of the real server here is a simulated one (several simulations may share
    // a control plane and its nodes): the scheduler's choice is the kubelet's node.
    if !state.kubelet.has_node(node) {
        state.kubelet.add_node(node);
    }
    if pod["metadata"].get("deletionTimestamp").is_some_and(|t| !t.is_null()) {
        if seen.deleting.insert(uid.clone()) {
            let (state, remote, ns) = (state.clone(), remote.clone(), ns.clone());
            tokio::spawn(async move {
                // the containers stop (a Ceph daemon exits on SIGTERM), then the kubelet removes the pod
                tokio::time::sleep(state.operator.config().ready_delay).await;
                let _ = remote.delete(&PODS, &ns, &name, Some(&uid));
            });
        }
        return;
    }
    if crate::kube::kubelet::marked_not_ready(pod) && !state.kubelet.is_down(node) {
        let (state, ns, name, uid) = (state.clone(), ns.clone(), name.clone(), pod["metadata"]["uid"].clone());
        tokio::spawn(async move { crate::kube::kubelet::report_ready_again(&state, &ns, &name, &uid) });
    }
    if !seen.run.insert(uid) {
        return;
    }
    drop(seen);
    if pod.pointer("/status/phase").and_then(Value::as_str).is_some_and(|p| p != "Pending") {
        for i in crate::kube::nodes::images_of(pod) {
            state.kubelet.mark_pulled(node, &i);
        }
        return;
    }
    state.health.note_started(&ns, [name.as_str()]);
    crate::kube::kubelet::spawn(state, &ns, &name);
}
