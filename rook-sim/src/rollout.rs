//! What Kubernetes' Deployment controller does when a pod template changes, for both the
//! simulated operator and writes through the API (e.g. a fence): Recreate (the old pods go,
//! new ones start Pending, then turn Running and Ready).

use serde_json::Value;

use super::operator::Operator;
use super::resources::{DEPLOYMENTS, PODS};
use super::store::Store;
use super::topology::{self, Daemon};

fn owned_by(labels: &std::collections::BTreeMap<String, String>, d: &Daemon, ns: &str) -> bool {
    labels.get("app").map(String::as_str) == Some(d.t.app)
        && labels.get("rook_cluster").map(String::as_str) == Some(ns)
        && labels.get("app.kubernetes.io/instance") == Some(&d.instance)
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

/// Replace the Deployment's pods with new, Pending ones from its current template; the
/// seeds name them for `finish`.
pub fn start(store: &mut Store, op: &Operator, ns: &str, d: &Daemon) -> Vec<u64> {
    let Some(dep) = store.get_value(&DEPLOYMENTS, ns, &d.deployment_name()) else { return vec![] };
    let old: Vec<String> = store
        .iter(&PODS, Some(ns), None)
        .filter(|(_, s)| owned_by(&s.labels, d, ns))
        .map(|((_, n), _)| n.clone())
        .collect();
    for name in old {
        let _ = store.delete(&PODS, ns, &name, false);
    }
    let replicas = dep["spec"]["replicas"].as_u64().unwrap_or(1);
    let mut seeds = Vec::new();
    for _ in 0..replicas {
        let seq = op.next_seq();
        let p = topology::pod(&dep, &d.node, seq, false, &Operator::pod_ip(seq));
        if store.create(&PODS, ns, p, false).is_ok() {
            seeds.push(seq);
        }
    }
    write_status(store, ns, &d.deployment_name(), |dep| {
        for k in ["readyReplicas", "availableReplicas", "updatedReplicas"] {
            dep["status"][k] = 0.into();
        }
    });
    seeds
}

/// The new pods are Running and Ready; the Deployment's status says so.
pub fn finish(store: &mut Store, ns: &str, d: &Daemon, seeds: &[u64]) {
    let Some(dep) = store.get_value(&DEPLOYMENTS, ns, &d.deployment_name()) else { return };
    for seq in seeds {
        let ready = topology::pod(&dep, &d.node, *seq, true, &Operator::pod_ip(*seq));
        let name = ready["metadata"]["name"].as_str().unwrap_or_default().to_string();
        if let Some(mut cur) = store.get_value(&PODS, ns, &name) {
            cur["status"] = ready["status"].clone();
            if let Some(m) = cur["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
            let _ = store.update(&PODS, ns, &name, cur, false);
        }
    }
    let n = seeds.len() as u64;
    write_status(store, ns, &d.deployment_name(), |dep| {
        for k in ["readyReplicas", "availableReplicas", "updatedReplicas"] {
            dep["status"][k] = n.into();
        }
        dep["status"]["observedGeneration"] = dep["metadata"]["generation"].clone();
    });
}
