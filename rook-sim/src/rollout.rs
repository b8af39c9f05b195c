//! What Kubernetes' Deployment and ReplicaSet controllers do, for both the simulated
//! operator and writes through the API (e.g. a fence or a `kubectl scale`): when a pod
//! template changes, Recreate (the old pods go, new ones start Pending, then turn Running
//! and Ready); when only `replicas` changes, pods are added or removed.
//!
//! A Deployment's pods are the ones its ReplicaSets (`<deployment>-<hash>`) control, as in
//! Kubernetes: a mon canary's pods match the mon's selector but are not the mon's. Failed
//! pods are not active: a rollout leaves them where they are and they never count as ready.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::Value;

use super::SimState;
use super::operator::Operator;
use super::resources::{DEPLOYMENTS, PODS};
use super::store::Store;
use super::topology;

/// One sequence for the events whose order tests compare: rollouts (`Replacements`) and
/// finished image pulls (`kubelet::Kubelet::pull_log`). One counter for the process, so a
/// pull numbered below a rollout happened before it, whichever simulation they belong to.
static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The next number of [`SEQ`] (from 1).
pub fn next_seq() -> u64 {
    SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
}

/// Template-change rollouts, whoever caused them (the operator or a client's write): how
/// many per Deployment, and in which order they started.
#[derive(Default)]
pub struct Replacements {
    inner: Mutex<ReplacementLog>,
}

#[derive(Default)]
struct ReplacementLog {
    counts: BTreeMap<String, BTreeMap<String, u32>>,
    /// (seq, namespace, Deployment), in the order the rollouts started.
    log: Vec<(u64, String, String)>,
}

impl Replacements {
    fn lock(&self) -> std::sync::MutexGuard<'_, ReplacementLog> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record(&self, ns: &str, deployment: &str) {
        let mut r = self.lock();
        // taken under the lock: the log stays in sequence order
        let seq = next_seq();
        *r.counts.entry(ns.to_string()).or_default().entry(deployment.to_string()).or_default() += 1;
        r.log.push((seq, ns.to_string(), deployment.to_string()));
    }

    pub fn counts(&self, ns: &str) -> BTreeMap<String, u32> {
        self.lock().counts.get(ns).cloned().unwrap_or_default()
    }

    pub fn log(&self, ns: &str) -> Vec<(u64, String)> {
        self.lock().log.iter().filter(|(_, n, _)| n == ns).map(|(s, _, d)| (*s, d.clone())).collect()
    }

    /// Forget the counts and the log (sequence numbers keep growing).
    pub fn reset(&self) {
        let mut r = self.lock();
        r.counts.clear();
        r.log.clear();
    }
}

/// A pod a rollout created, still Pending.
#[derive(Debug, Clone)]
pub struct Started {
    pub name: String,
    pub seq: u64,
    pub node: String,
}

/// The ReplicaSet controlling a pod, from its owner references.
fn controller_replicaset(pod: &Value) -> Option<&str> {
    pod["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["kind"] == "ReplicaSet" && r["controller"] != false)?
        .get("name")?
        .as_str()
}

/// The pods of Deployment `dep`: (name, pod), in name order.
pub fn owned_pods(store: &Store, ns: &str, dep: &Value) -> Vec<(String, Value)> {
    let name = dep["metadata"]["name"].as_str().unwrap_or_default();
    let selector: Vec<(String, String)> = dep["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default();
    store
        .iter(&PODS, Some(ns), None)
        .filter(|(_, s)| selector.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .filter_map(|((_, n), s)| {
            let p: Value = serde_json::from_slice(&s.bytes).ok()?;
            let mine = match controller_replicaset(&p) {
                Some(rs) => rs.rsplit_once('-').is_some_and(|(d, hash)| d == name && !hash.is_empty()),
                // a pod without owner references: the selector decides
                None => true,
            };
            mine.then(|| (n.clone(), p))
        })
        .collect()
}

fn phase(p: &Value) -> &str {
    p.pointer("/status/phase").and_then(Value::as_str).unwrap_or_default()
}

fn write_status(store: &mut Store, ns: &str, name: &str, f: impl FnOnce(&mut Value)) {
    if let Some(mut dep) = store.get_value(&DEPLOYMENTS, ns, name) {
        f(&mut dep);
        if let Some(m) = dep["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        let _ = store.update(&DEPLOYMENTS, ns, name, dep, false);
    }
}

/// Bring the Deployment's pods to its template and replica count: with `replace_all`
/// (the template changed) every active pod goes and `replicas` new ones start; otherwise
/// pods are only added or removed to match `replicas`. New pods go to `node` when given,
/// else to the node of the pods they replace, the Deployment's hostname nodeSelector, or
/// any node the namespace's pods run on. Returns the new (Pending) pods for `finish`.
pub fn start(
    state: &SimState,
    store: &mut Store,
    ns: &str,
    name: &str,
    replace_all: bool,
    node: Option<&str>,
) -> Vec<Started> {
    let Some(dep) = store.get_value(&DEPLOYMENTS, ns, name) else { return vec![] };
    let owned = owned_pods(store, ns, &dep);
    let active: Vec<&(String, Value)> = owned.iter().filter(|(_, p)| phase(p) != "Failed").collect();
    let node = node
        .map(str::to_string)
        .or_else(|| {
            owned.iter().find_map(|(_, p)| p["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()).map(str::to_string))
        })
        .or_else(|| {
            dep.pointer("/spec/template/spec/nodeSelector/kubernetes.io~1hostname")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .or_else(|| store.iter(&PODS, Some(ns), None).find_map(|(_, s)| s.node.clone().filter(|n| !n.is_empty())))
        .unwrap_or_else(|| "node-00".to_string());
    let replicas = dep["spec"]["replicas"].as_u64().unwrap_or(1) as usize;
    let (delete, keep): (Vec<&String>, usize) = if replace_all {
        (active.iter().map(|(n, _)| n).collect(), 0)
    } else {
        let keep = active.len().min(replicas);
        (active.iter().skip(keep).map(|(n, _)| n).collect(), keep)
    };
    if replace_all && (!delete.is_empty() || replicas > 0) {
        state.replacements.record(ns, name);
    }
    for n in delete {
        let _ = store.delete(&PODS, ns, n, false);
    }
    let mut started = Vec::new();
    for _ in keep..replicas {
        let seq = state.operator.next_seq();
        let p = topology::pod(&dep, &node, seq, false, &Operator::pod_ip(seq));
        let pod_name = p["metadata"]["name"].as_str().unwrap_or_default().to_string();
        if store.create(&PODS, ns, p, false).is_ok() {
            started.push(Started { name: pod_name, seq, node: node.clone() });
        }
    }
    state.kubelet.add_node(&node);
    state.health.note_started(ns, started.iter().map(|s| s.name.as_str()));
    let ready = keep as u64;
    write_status(store, ns, name, |dep| {
        dep["status"]["replicas"] = (replicas as u64).into();
        for k in ["readyReplicas", "availableReplicas"] {
            dep["status"][k] = ready.into();
        }
        dep["status"]["updatedReplicas"] = if replace_all { 0 } else { ready }.into();
    });
    started
}

/// The Deployment's status from its pods: Running and Ready ones are ready.
pub fn refresh_status(store: &mut Store, ns: &str, name: &str) {
    let Some(dep) = store.get_value(&DEPLOYMENTS, ns, name) else { return };
    let owned = owned_pods(store, ns, &dep);
    let running = owned.iter().filter(|(_, p)| super::kubelet::is_ready(p)).count() as u64;
    let replicas = dep["spec"]["replicas"].as_u64().unwrap_or(1);
    write_status(store, ns, name, |dep| {
        dep["status"]["replicas"] = replicas.into();
        for k in ["readyReplicas", "availableReplicas", "updatedReplicas"] {
            dep["status"][k] = running.into();
        }
        dep["status"]["observedGeneration"] = dep["metadata"]["generation"].clone();
    });
}
