//! What the control plane does after each write on the embedded server (`ControlPlane`,
//! registered at start as `SimState`'s `Controllers`): the Deployment controller rolls a
//! Deployment whose template or replicas changed (rollout.rs), a pod's status written
//! refreshes its Deployment's status, a CephCluster write wakes the operator as Rook's watch
//! would, a pod created on a node is run by that node's kubelet, a pod deleted refreshes
//! the health. On a real server its own controllers do the first two, and rook-sim's
//! watches (remote/kubelets.rs) the others.

use std::sync::Arc;

use serde_json::Value;

use crate::SimState;
use crate::resources::{CEPHCLUSTERS, DEPLOYMENTS, Kind, PODS};
use crate::state::Controllers;

/// The controllers of the embedded server (`crate::state::Controllers`), registered at start:
/// what Kubernetes' controllers, the kubelets and Rook's watch do after each write.
pub struct ControlPlane;

impl Controllers for ControlPlane {
    fn created(&self, state: &Arc<SimState>, kind: &'static Kind, ns: &str, created: &Value) {
        after_create(state, kind, ns, created);
    }

    fn updated(&self, state: &Arc<SimState>, kind: &'static Kind, ns: &str, name: &str, old: &Value, new: &Value) {
        after_update(state, kind, ns, name, old, new);
    }

    /// A pod deleted (a restarted daemon pod before it turned Ready no longer counts):
    /// the health is refreshed.
    fn deleted(&self, state: &Arc<SimState>, kind: &'static Kind, ns: &str, _name: &str) {
        if kind == &PODS {
            crate::operator::checker::refresh(state, ns);
        }
    }
}

/// What the control plane does after an object is created on the embedded server: a
/// CephCluster wakes the operator; a pod bound to a node is run by its kubelet.
pub fn after_create(state: &Arc<SimState>, kind: &'static Kind, ns: &str, created: &Value) {
    if kind == &CEPHCLUSTERS {
        state.operator.trigger();
    }
    if kind == &PODS
        && let Some(pod) = created["metadata"]["name"].as_str()
        && created.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty())
    {
        crate::kube::kubelet::spawn(state, ns, pod);
    }
}

/// What the control plane does after an object changed on the embedded server, whoever
/// wrote it: a Deployment whose template or replicas changed is rolled by the Deployment
/// controller; a pod's new status is counted in its Deployment's status; a CephCluster
/// change wakes the operator when Rook's watch would react to it (FACTS §2).
pub fn after_update(state: &Arc<SimState>, kind: &'static Kind, ns: &str, name: &str, old: &Value, new: &Value) {
    if kind == &DEPLOYMENTS {
        // `kubectl rollout resume` rolls out what changed while paused
        let resumed = crate::kube::rollout::paused(old) && !crate::kube::rollout::paused(new);
        let restart = new["spec"]["template"] != old["spec"]["template"]
            || (resumed && crate::kube::rollout::template_pending(&state.store(), ns, name));
        if restart || resumed || new["spec"]["replicas"] != old["spec"]["replicas"] {
            deployment_controller(state, ns, name, restart);
        }
    }
    // the kubelet's report of a pod turning Running or Ready: the controllers take their
    // next step (a RollingUpdate goes on as each new pod turns Ready)
    let phase = |p: &Value| p.pointer("/status/phase").cloned();
    if kind == &PODS
        && (phase(old), crate::kube::kubelet::is_ready(old)) != (phase(new), crate::kube::kubelet::is_ready(new))
        && let Some(d) = crate::kube::kubelet::deployment_of(new)
    {
        crate::kube::rollout::pod_changed(state, ns, &d, name, crate::kube::kubelet::is_ready(new));
    }
    if kind == &CEPHCLUSTERS {
        state.operator.cluster_written(old, new);
    }
}

/// Kubernetes rolls a Deployment whose pod template changed, and adds or removes pods when
/// its replicas change: the Deployment controller's part on the embedded server, for every
/// writer (the simulated operator, a fence, a `kubectl scale`) and any Deployment.
pub fn deployment_controller(state: &Arc<SimState>, ns: &str, name: &str, restart: bool) {
    let node = state.operator.daemon(ns, name).and_then(|d| d.node().map(str::to_string));
    let started = crate::kube::rollout::start(state, &mut state.store(), ns, name, restart, node.as_deref());
    crate::operator::checker::refresh(state, ns);
    for p in &started {
        crate::kube::kubelet::spawn(state, ns, &p.name);
    }
}
