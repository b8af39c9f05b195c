//! What Kubernetes' Deployment and ReplicaSet controllers do, for both the simulated
//! operator and writes through the API (e.g. a fence or a `kubectl scale`), as
//! `pkg/controller/deployment` of Kubernetes v1.37 does it (`rolling.go`, `recreate.go`,
//! `sync.go` `calculateStatus`, `util/deployment_util.go` `ResolveFenceposts`,
//! `NewRSNewReplicas`):
//!
//! - A pod template change makes a new ReplicaSet, `<deployment>-<hash of the template>`;
//!   the pods of every other ReplicaSet of the Deployment are old.
//! - `Recreate`: every old pod is deleted, and only once none is left (not even one being
//!   deleted) does the new ReplicaSet get its pods.
//! - `RollingUpdate`: the new ReplicaSet grows while the Deployment has fewer than
//!   `replicas + maxSurge` pods; old pods go (unready ones first) while more than
//!   `replicas - maxUnavailable` are available, counting the new ReplicaSet's not yet Ready
//!   pods as unavailable. `maxSurge` (rounded up) and `maxUnavailable` (rounded down) are
//!   ints or percentages of `replicas`, 25% each where the Deployment does not say
//!   (apps/v1 defaulting); both resolving to 0 makes `maxUnavailable` 1. With 2 replicas
//!   and the defaults: one surge pod, none unavailable; with Rook's RGW strategy
//!   (`maxUnavailable: 1, maxSurge: 0`, FACTS §3): one old pod goes, then its replacement
//!   comes, and the next old pod goes only once that one is Ready.
//! - The controller acts again whenever a pod of the Deployment turns Ready or not
//!   ([`pod_changed`], called by the kubelet), so a rollout advances one step per Ready pod.
//! - `status` as the controller keeps it: `replicas` (active pods), `updatedReplicas`
//!   (active pods of the new ReplicaSet), `readyReplicas`, `availableReplicas` (Ready;
//!   `minReadySeconds` is not modelled), `unavailableReplicas`, `observedGeneration`, the
//!   `Available` and `Progressing` conditions; zero counts are left out, as Go's
//!   `omitempty` leaves them out.
//!
//! ReplicaSets are not objects here: a ReplicaSet is the name in its pods' controller owner
//! reference, and its size is the number of its active pods (the ReplicaSet controller of
//! the simulation acts at once). A Deployment's pods are the ones its ReplicaSets control,
//! as in Kubernetes: a mon canary's pods match the mon's selector but are not the mon's.
//! Failed and Succeeded pods are not active: a rollout leaves them where they are and they
//! never count as ready. Deleting a pod is immediate (no graceful termination), but a pod
//! that carries a `deletionTimestamp` is treated as Kubernetes treats one: not active, yet
//! still in the way of a `Recreate`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::SimState;
use crate::kube::events::{PodEventKind, key};
use crate::operator::Operator;
use crate::resources::{DEPLOYMENTS, PODS};
use crate::server::store::{Store, now_rfc3339};
use crate::topology;

/// A pod a rollout created and scheduled, still Pending: its kubelet is to be started.
#[derive(Debug, Clone)]
pub struct Started {
    pub name: String,
    /// The operator's number the pod's name suffix and IP derive from (0: scheduled later,
    /// by [`release`]).
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

/// Terminal: Failed or Succeeded (the controllers leave such pods alone).
fn terminal(p: &Value) -> bool {
    matches!(phase(p), "Failed" | "Succeeded")
}

/// Counted by its ReplicaSet (`controller.FilterActivePods`): not terminal, not being deleted.
fn active(p: &Value) -> bool {
    !terminal(p) && p.pointer("/metadata/deletionTimestamp").is_none_or(Value::is_null)
}

/// A Deployment's update strategy, with its fenceposts resolved for `replicas`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Recreate,
    /// At most `replicas + surge` pods, at least `replicas - unavailable` available.
    RollingUpdate {
        surge: usize,
        unavailable: usize,
    },
}

/// `intstr.GetScaledValueFromIntOrPercent`: an int as it is, `"N%"` of `total` rounded up
/// or down; None for anything else (validation refuses it).
pub fn scaled(v: &Value, total: usize, round_up: bool) -> Option<usize> {
    if let Some(n) = v.as_u64() {
        return Some(n as usize);
    }
    let pct: usize = v.as_str()?.strip_suffix('%')?.parse().ok()?;
    Some(if round_up { (pct * total).div_ceil(100) } else { pct * total / 100 })
}

/// The strategy of Deployment `dep` as the controller applies it (apps/v1 defaults: type
/// RollingUpdate, `maxSurge` and `maxUnavailable` 25% each): `ResolveFenceposts`, with
/// `maxUnavailable` at most `replicas` (`deploymentutil.MaxUnavailable`).
pub fn strategy(dep: &Value) -> Strategy {
    let s = &dep["spec"]["strategy"];
    if s["type"] == "Recreate" {
        return Strategy::Recreate;
    }
    let replicas = dep["spec"]["replicas"].as_u64().unwrap_or(1) as usize;
    let quarter = json!("25%");
    let field = |k: &str| s["rollingUpdate"].get(k).filter(|v| !v.is_null()).unwrap_or(&quarter).clone();
    let surge = scaled(&field("maxSurge"), replicas, true).unwrap_or(0);
    let mut unavailable = scaled(&field("maxUnavailable"), replicas, false).unwrap_or(0);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    if replicas == 0 {
        unavailable = 0;
    }
    Strategy::RollingUpdate { surge, unavailable: unavailable.min(replicas) }
}

/// The ReplicaSet the Deployment's current template belongs to: the one its last template
/// change in this simulation made; for a Deployment never rolled here (loaded from a dump,
/// or generated), the ReplicaSet of its active pods (where they belong to several, a
/// dump taken mid-rollout, the one whose pods run the template's images, else the one
/// with the newest pod); with no pod at all, `<deployment>-<hash of the template>`.
fn current_rs(state: &SimState, ns: &str, dep: &Value, owned: &[(String, Value)]) -> String {
    let name = dep["metadata"]["name"].as_str().unwrap_or_default();
    if let Some(rs) = state.replacements.current(ns, name) {
        return rs;
    }
    let images = |spec: &Value| -> Vec<String> {
        spec["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["image"].as_str())
            .map(str::to_string)
            .collect()
    };
    let want = images(&dep["spec"]["template"]["spec"]);
    let mut best: Option<(bool, String, String)> = None;
    for (_, p) in owned.iter().filter(|(_, p)| active(p)) {
        let Some(rs) = controller_replicaset(p) else { continue };
        let cand = (
            images(&p["spec"]) == want,
            p["metadata"]["creationTimestamp"].as_str().unwrap_or_default().to_string(),
            rs.to_string(),
        );
        if best.as_ref().is_none_or(|b| cand > *b) {
            best = Some(cand);
        }
    }
    best.map(|(_, _, rs)| rs).unwrap_or_else(|| format!("{name}-{}", topology::template_hash(&dep["spec"]["template"])))
}

/// A new pod of ReplicaSet `rs` of `dep`, on `node` (None: not scheduled).
fn new_pod(state: &SimState, dep: &Value, rs: &str, node: Option<&str>) -> (Value, u64) {
    let seq = state.operator.next_seq();
    let mut p = topology::pod(dep, node.unwrap_or_default(), seq, false, &Operator::pod_ip(seq));
    let hash = rs.rsplit_once('-').map(|(_, h)| h).unwrap_or_default();
    p["metadata"]["name"] = format!("{rs}-{}", topology::pod_suffix(seq)).into();
    p["metadata"]["labels"]["pod-template-hash"] = hash.into();
    p["metadata"]["ownerReferences"][0]["name"] = rs.into();
    if node.is_none() {
        if let Some(spec) = p["spec"].as_object_mut() {
            spec.remove("nodeName");
        }
        let now = now_rfc3339();
        p["status"] = json!({"phase": "Pending", "qosClass": "BestEffort", "conditions": [{"type": "PodScheduled",
            "status": "False", "reason": "Unschedulable", "lastProbeTime": null, "lastTransitionTime": now,
            "message": "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No \
                preemption victims found for incoming pod."}]});
    }
    (p, seq)
}

/// Where a new pod goes: the pinned node (`nodeSelector kubernetes.io/hostname`) if any;
/// else the first of `hint`, the nodes of the Deployment's pods and the namespace's nodes
/// that no active pod of the new ReplicaSet is on yet (replicas spread as preferred
/// anti-affinity spreads RGWs), else the first of them.
fn place(store: &Store, ns: &str, dep: &Value, owned: &[(String, Value)], rs: &str, hint: Option<&str>) -> String {
    if let Some(n) = dep.pointer("/spec/template/spec/nodeSelector/kubernetes.io~1hostname").and_then(Value::as_str) {
        return n.to_string();
    }
    let node_of = |p: &Value| p["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()).map(str::to_string);
    let taken: BTreeSet<String> = owned
        .iter()
        .filter(|(_, p)| active(p) && controller_replicaset(p) == Some(rs))
        .filter_map(|(_, p)| node_of(p))
        .collect();
    let mut near: Vec<String> = hint.map(str::to_string).into_iter().collect();
    near.extend(owned.iter().filter_map(|(_, p)| node_of(p)));
    if let Some(n) = near.iter().find(|n| !taken.contains(*n)) {
        return n.clone();
    }
    // the namespace's nodes only when the Deployment's own are all taken (a lookup per
    // pod of the namespace, so not for every pod created)
    let mut any = store.iter(&PODS, Some(ns), None).filter_map(|(_, s)| s.node.as_deref().filter(|n| !n.is_empty()));
    let first = near.first().cloned();
    match any.find(|n| !taken.contains(*n)) {
        Some(n) => n.to_string(),
        None => first.unwrap_or_else(|| "node-00".to_string()),
    }
}

/// The order the ReplicaSet controller deletes pods in when it scales down
/// (`controller.ActivePodsWithRanks`): unscheduled, then Pending, then not Ready first;
/// among equals the newest first.
fn deletion_order(pods: &mut [(String, Value)]) {
    let rank = |p: &Value| {
        let scheduled = p["spec"]["nodeName"].as_str().is_some_and(|n| !n.is_empty());
        let running = phase(p) == "Running";
        (scheduled, running, crate::kube::kubelet::is_ready(p))
    };
    pods.sort_by(|(an, a), (bn, b)| {
        rank(a).cmp(&rank(b)).then_with(|| {
            let t = |p: &Value| p["metadata"]["creationTimestamp"].as_str().unwrap_or_default().to_string();
            t(b).cmp(&t(a)).then_with(|| bn.cmp(an))
        })
    });
}

/// Pods as (name, object).
type Pods = Vec<(String, Value)>;

/// The Deployment's pods by ReplicaSet: the new one's, and the old ones' (oldest
/// ReplicaSet first), active pods only; plus whether an old pod is still not terminal.
struct Sets {
    new: Pods,
    old: Vec<(String, Pods)>,
    old_not_terminal: bool,
}

fn sets(owned: &[(String, Value)], new_rs: &str) -> Sets {
    let mut new = Vec::new();
    // ReplicaSet -> (its oldest pod's creationTimestamp, its active pods)
    let mut old: BTreeMap<String, (String, Pods)> = BTreeMap::new();
    let mut old_not_terminal = false;
    for (n, p) in owned {
        let rs = controller_replicaset(p).unwrap_or_default().to_string();
        if rs == new_rs {
            if active(p) {
                new.push((n.clone(), p.clone()));
            }
            continue;
        }
        old_not_terminal |= !terminal(p);
        if active(p) {
            let t = p["metadata"]["creationTimestamp"].as_str().unwrap_or_default().to_string();
            let e = old.entry(rs).or_insert_with(|| (t.clone(), Vec::new()));
            e.0 = e.0.clone().min(t);
            e.1.push((n.clone(), p.clone()));
        }
    }
    let mut by_age: Vec<(String, String, Pods)> = old.into_iter().map(|(rs, (t, pods))| (t, rs, pods)).collect();
    by_age.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    Sets { new, old: by_age.into_iter().map(|(_, rs, pods)| (rs, pods)).collect(), old_not_terminal }
}

fn ready_count(pods: &[(String, Value)]) -> usize {
    pods.iter().filter(|(_, p)| crate::kube::kubelet::is_ready(p)).count()
}

/// One step of the controllers: what to delete, how many to create. None: nothing to do.
fn step(dep: &Value, s: &Sets) -> Option<(Vec<String>, usize)> {
    let replicas = dep["spec"]["replicas"].as_u64().unwrap_or(1) as usize;
    let new_count = s.new.len();
    let shrink_new = |n: usize| {
        let mut pods = s.new.clone();
        deletion_order(&mut pods);
        pods.into_iter().take(n).map(|(n, _)| n).collect::<Vec<_>>()
    };
    match strategy(dep) {
        Strategy::Recreate => {
            let old: Vec<String> = s.old.iter().flat_map(|(_, pods)| pods.iter().map(|(n, _)| n.clone())).collect();
            if !old.is_empty() {
                return Some((old, 0));
            }
            // `oldPodsRunning`: no new pod while an old one is not gone
            if s.old_not_terminal {
                return None;
            }
            match new_count.cmp(&replicas) {
                std::cmp::Ordering::Less => Some((vec![], replicas - new_count)),
                std::cmp::Ordering::Greater => Some((shrink_new(new_count - replicas), 0)),
                std::cmp::Ordering::Equal => None,
            }
        }
        Strategy::RollingUpdate { surge, unavailable } => {
            let old_count: usize = s.old.iter().map(|(_, p)| p.len()).sum();
            let all = new_count + old_count;
            // reconcileNewReplicaSet
            if new_count > replicas {
                return Some((shrink_new(new_count - replicas), 0));
            }
            if new_count < replicas && all < replicas + surge {
                return Some((vec![], (replicas + surge - all).min(replicas - new_count)));
            }
            // reconcileOldReplicaSets
            if old_count == 0 {
                return None;
            }
            let min_available = replicas - unavailable;
            let new_unavailable = new_count - ready_count(&s.new);
            let max_scaled_down = all as i64 - min_available as i64 - new_unavailable as i64;
            if max_scaled_down <= 0 {
                return None;
            }
            let mut delete = Vec::new();
            // cleanupUnhealthyReplicas: the old ReplicaSets' pods that are not available
            let mut left = max_scaled_down as usize;
            let mut old: Vec<Pods> = s.old.iter().map(|(_, p)| p.clone()).collect();
            for pods in &mut old {
                deletion_order(pods);
                let unhealthy = pods.len() - ready_count(pods);
                let k = unhealthy.min(left);
                delete.extend(pods.drain(..k).map(|(n, _)| n));
                left -= k;
            }
            // scaleDownOldReplicaSetsForRollingUpdate
            let available = ready_count(&s.new) + old.iter().map(|p| ready_count(p)).sum::<usize>();
            if available > min_available {
                let mut left = available - min_available;
                for pods in &mut old {
                    let k = pods.len().min(left);
                    delete.extend(pods.drain(..k).map(|(n, _)| n));
                    left -= k;
                }
            }
            (!delete.is_empty()).then_some((delete, 0))
        }
    }
}

/// Run the controllers on Deployment `name` until they have nothing more to do now (the
/// next step waits for a pod to turn Ready): delete old pods, create new ones. Returns the
/// new pods that were scheduled (Pending), for the caller to start their kubelets.
fn sync(state: &SimState, store: &mut Store, ns: &str, name: &str, hint: Option<&str>) -> Vec<Started> {
    let mut started = Vec::new();
    // each round deletes or creates at least one pod: bounded by the pods there can be
    for _ in 0..64 {
        let Some(dep) = store.get_value(&DEPLOYMENTS, ns, name) else { break };
        let owned = owned_pods(store, ns, &dep);
        let rs = current_rs(state, ns, &dep, &owned);
        let s = sets(&owned, &rs);
        let Some((delete, create)) = step(&dep, &s) else { break };
        for n in &delete {
            let of = owned.iter().find(|(p, _)| p == n).and_then(|(_, p)| controller_replicaset(p)).unwrap_or_default();
            if store.delete(&PODS, ns, n, false).is_ok() {
                state.replacements.pod_event(ns, name, of, n, PodEventKind::Deleted);
            }
        }
        let hold = state.replacements.hold_of(ns, name);
        for _ in 0..create {
            let owned = owned_pods(store, ns, &dep);
            let scheduled_new = owned
                .iter()
                .filter(|(_, p)| active(p) && controller_replicaset(p) == Some(rs.as_str()))
                .filter(|(_, p)| p["spec"]["nodeName"].as_str().is_some_and(|n| !n.is_empty()))
                .count();
            let node = match hold {
                Some(h) if scheduled_new >= h => None,
                _ => Some(place(store, ns, &dep, &owned, &rs, hint)),
            };
            let (p, seq) = new_pod(state, &dep, &rs, node.as_deref());
            let pod_name = p["metadata"]["name"].as_str().unwrap_or_default().to_string();
            if store.create(&PODS, ns, p, false).is_err() {
                continue;
            }
            state.replacements.pod_event(ns, name, &rs, &pod_name, PodEventKind::Created);
            state.health.note_started(ns, [pod_name.as_str()]);
            match node {
                Some(node) => {
                    state.kubelet.add_node(&node);
                    started.push(Started { name: pod_name, seq, node });
                }
                None => {
                    state.replacements.lock().unscheduled.insert(key(ns, &pod_name));
                }
            }
        }
    }
    refresh_status(state, store, ns, name);
    started
}

/// Bring the Deployment's pods to its template and replica count, as the controllers do
/// (see the module); `template_changed`: the write changed the pod template (a rollout,
/// counted in [`Replacements`]), else only `replicas` changed. New pods go to `node` when
/// given (the daemon's node), else as [`place`] says. Returns the new (Pending) pods of the
/// first step, for the caller to start their kubelets; the later steps follow as those
/// pods turn Ready ([`pod_changed`]).
pub fn start(
    state: &SimState,
    store: &mut Store,
    ns: &str,
    name: &str,
    template_changed: bool,
    node: Option<&str>,
) -> Vec<Started> {
    let Some(dep) = store.get_value(&DEPLOYMENTS, ns, name) else { return vec![] };
    // `kubectl rollout pause`: the Deployment controller only scales a paused Deployment and
    // rolls nothing out (kubernetes pkg/controller/deployment/deployment_controller.go
    // syncDeployment); here it does neither until resumed (scaling while paused is not
    // simulated).
    if paused(&dep) {
        return vec![];
    }
    let owned = owned_pods(store, ns, &dep);
    let rs = if template_changed {
        format!("{name}-{}", topology::template_hash(&dep["spec"]["template"]))
    } else {
        current_rs(state, ns, &dep, &owned)
    };
    state.replacements.set_current(ns, name, &rs);
    let replicas = dep["spec"]["replicas"].as_u64().unwrap_or(1);
    let old_active = owned.iter().any(|(_, p)| active(p) && controller_replicaset(p) != Some(rs.as_str()));
    if template_changed && (old_active || replicas > 0) {
        state.replacements.record(ns, name);
    }
    sync(state, store, ns, name, node)
}

/// `spec.paused` (`kubectl rollout pause`).
pub fn paused(dep: &Value) -> bool {
    dep["spec"]["paused"] == true
}

/// Whether a Deployment's pods run another template than its own: what a resumed
/// Deployment rolls out.
pub fn template_pending(store: &Store, ns: &str, name: &str) -> bool {
    let Some(dep) = store.get_value(&DEPLOYMENTS, ns, name) else { return false };
    let rs = format!("{name}-{}", topology::template_hash(&dep["spec"]["template"]));
    owned_pods(store, ns, &dep).iter().any(|(_, p)| active(p) && controller_replicaset(p) != Some(rs.as_str()))
}

/// Start the kubelets of pods a step created, and refresh the cluster's health.
fn run_pods(state: &Arc<SimState>, ns: &str, started: &[Started]) {
    crate::operator::checker::refresh(state, ns);
    for p in started {
        crate::kube::kubelet::spawn(state, ns, &p.name);
    }
}

/// A pod of Deployment `deployment` turned Ready (`ready`) or not, as its kubelet reports:
/// logged, the Deployment's status refreshed, and the controllers take their next step
/// (their pods' kubelets started here).
pub fn pod_changed(state: &Arc<SimState>, ns: &str, deployment: &str, pod: &str, ready: bool) {
    let node = state.operator.daemon(ns, deployment).and_then(|d| d.node().map(str::to_string));
    let started = {
        let mut store = state.store();
        if ready {
            let rs = store.get_value(&PODS, ns, pod).and_then(|p| controller_replicaset(&p).map(str::to_string));
            state.replacements.pod_event(ns, deployment, &rs.unwrap_or_default(), pod, PodEventKind::Ready);
        }
        sync(state, &mut store, ns, deployment, node.as_deref())
    };
    run_pods(state, ns, &started);
}

/// From now on, at most `pods` pods of Deployment `deployment`'s new ReplicaSet get a node;
/// the ones its controllers create beyond that stay Pending, `PodScheduled=False`
/// (`Unschedulable`), as when no node has room for them, until [`release`]. A test's way
/// to stop a rollout midway, deterministically.
pub fn hold(state: &SimState, ns: &str, deployment: &str, pods: usize) {
    state.replacements.lock().holds.insert(key(ns, deployment), pods);
}

/// Lift the hold of Deployment `deployment`: its unscheduled pods get nodes and their
/// kubelets start (needs a Tokio runtime).
pub fn release(state: &Arc<SimState>, ns: &str, deployment: &str) {
    let pods: Vec<String> = {
        let mut r = state.replacements.lock();
        r.holds.remove(&key(ns, deployment));
        r.unscheduled.iter().filter(|(n, _)| n == ns).map(|(_, p)| p.clone()).collect()
    };
    let hint = state.operator.daemon(ns, deployment).and_then(|d| d.node().map(str::to_string));
    let mut started = Vec::new();
    {
        let mut store = state.store();
        let Some(dep) = store.get_value(&DEPLOYMENTS, ns, deployment) else { return };
        for name in pods {
            let Some(mut p) = store.get_value(&PODS, ns, &name) else {
                state.replacements.lock().unscheduled.remove(&key(ns, &name));
                continue;
            };
            if crate::kube::kubelet::deployment_of(&p).as_deref() != Some(deployment) {
                continue;
            }
            state.replacements.lock().unscheduled.remove(&key(ns, &name));
            let owned = owned_pods(&store, ns, &dep);
            let rs = controller_replicaset(&p).unwrap_or_default().to_string();
            let node = place(&store, ns, &dep, &owned, &rs, hint.as_deref());
            p["spec"]["nodeName"] = node.clone().into();
            p["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                "lastTransitionTime": now_rfc3339()}]);
            if let Some(m) = p["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
            if store.update(&PODS, ns, &name, p, false).is_ok() {
                state.kubelet.add_node(&node);
                started.push(Started { name, seq: 0, node });
            }
        }
    }
    run_pods(state, ns, &started);
}

/// Write the Deployment's status as `calculateStatus` does (see the module); `new_rs` is
/// the ReplicaSet of its current template.
fn write_status(store: &mut Store, ns: &str, name: &str, new_rs: &str) {
    let Some(mut dep) = store.get_value(&DEPLOYMENTS, ns, name) else { return };
    let owned = owned_pods(store, ns, &dep);
    let s = sets(&owned, new_rs);
    let all: Vec<&(String, Value)> = s.new.iter().chain(s.old.iter().flat_map(|(_, p)| p.iter())).collect();
    let replicas = all.len() as u64;
    let ready = all.iter().filter(|(_, p)| crate::kube::kubelet::is_ready(p)).count() as u64;
    let updated = s.new.len() as u64;
    let spec_replicas = dep["spec"]["replicas"].as_u64().unwrap_or(1);
    let max_unavailable = match strategy(&dep) {
        Strategy::Recreate => 0,
        Strategy::RollingUpdate { unavailable, .. } => unavailable as u64,
    };
    let mut status = dep["status"].as_object().cloned().unwrap_or_default();
    for (k, v) in [
        ("observedGeneration", dep["metadata"]["generation"].as_u64().unwrap_or(1)),
        ("replicas", replicas),
        ("updatedReplicas", updated),
        ("readyReplicas", ready),
        ("availableReplicas", ready),
        ("unavailableReplicas", replicas.saturating_sub(ready)),
    ] {
        if v == 0 {
            status.remove(k);
        } else {
            status.insert(k.to_string(), v.into());
        }
    }
    let complete = updated == spec_replicas && replicas == spec_replicas && ready == spec_replicas;
    let now = now_rfc3339();
    let available = if ready + max_unavailable >= spec_replicas {
        json!({"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
            "message": "Deployment has minimum availability."})
    } else {
        json!({"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
            "message": "Deployment does not have minimum availability."})
    };
    let progressing = if complete {
        json!({"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
            "message": format!("ReplicaSet \"{new_rs}\" has successfully progressed.")})
    } else {
        json!({"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
            "message": format!("ReplicaSet \"{new_rs}\" is progressing.")})
    };
    let old: Vec<Value> = status.get("conditions").and_then(Value::as_array).cloned().unwrap_or_default();
    // a condition that says the same is kept as it was, timestamps and all
    let conditions: Vec<Value> = [available, progressing]
        .into_iter()
        .map(|mut c| {
            let was = old.iter().find(|o| o["type"] == c["type"]);
            if let Some(o) = was.filter(|o| ["status", "reason", "message"].iter().all(|k| o[*k] == c[*k])) {
                return o.clone();
            }
            let since = was.filter(|o| o["status"] == c["status"]).and_then(|o| o.get("lastTransitionTime").cloned());
            c["lastUpdateTime"] = now.clone().into();
            c["lastTransitionTime"] = since.unwrap_or_else(|| now.clone().into());
            c
        })
        .collect();
    status.insert("conditions".into(), conditions.into());
    if dep["status"] == Value::Object(status.clone()) {
        return;
    }
    dep["status"] = Value::Object(status);
    if let Some(m) = dep["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    let _ = store.update(&DEPLOYMENTS, ns, name, dep, false);
}

fn refresh_status(state: &SimState, store: &mut Store, ns: &str, name: &str) {
    let Some(dep) = store.get_value(&DEPLOYMENTS, ns, name) else { return };
    let owned = owned_pods(store, ns, &dep);
    let rs = current_rs(state, ns, &dep, &owned);
    write_status(store, ns, name, &rs);
}

/// The Deployment's status from its pods, for a Deployment this simulation never rolled
/// (a loaded dump without status): its pods' ReplicaSet is taken as the current one.
pub fn initial_status(store: &mut Store, ns: &str, name: &str) {
    let Some(dep) = store.get_value(&DEPLOYMENTS, ns, name) else { return };
    let owned = owned_pods(store, ns, &dep);
    let rs = owned
        .iter()
        .filter(|(_, p)| active(p))
        .find_map(|(_, p)| controller_replicaset(p).map(str::to_string))
        .unwrap_or_else(|| format!("{name}-{}", topology::template_hash(&dep["spec"]["template"])));
    write_status(store, ns, name, &rs);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(replicas: u64, strategy: Value) -> Value {
        json!({"metadata": {"name": "d", "generation": 1}, "spec": {"replicas": replicas, "strategy": strategy}})
    }

    #[test]
    fn fenceposts_as_kubernetes_resolves_them() {
        // apps/v1 defaults: 25% each; surge rounds up, unavailable down
        assert_eq!(strategy(&dep(2, json!(null))), Strategy::RollingUpdate { surge: 1, unavailable: 0 });
        assert_eq!(
            strategy(&dep(2, json!({"type": "RollingUpdate"}))),
            Strategy::RollingUpdate { surge: 1, unavailable: 0 }
        );
        assert_eq!(strategy(&dep(1, json!(null))), Strategy::RollingUpdate { surge: 1, unavailable: 0 });
        assert_eq!(strategy(&dep(10, json!(null))), Strategy::RollingUpdate { surge: 3, unavailable: 2 });
        // Rook's RGW (FACTS §3)
        let rgw = json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}});
        assert_eq!(strategy(&dep(2, rgw)), Strategy::RollingUpdate { surge: 0, unavailable: 1 });
        // both resolve to 0: maxUnavailable 1
        let tiny = json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%", "maxSurge": "0%"}});
        assert_eq!(strategy(&dep(2, tiny)), Strategy::RollingUpdate { surge: 0, unavailable: 1 });
        // maxUnavailable at most replicas; none at 0 replicas
        let wide = json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 5, "maxSurge": "50%"}});
        assert_eq!(strategy(&dep(3, wide.clone())), Strategy::RollingUpdate { surge: 2, unavailable: 3 });
        assert_eq!(strategy(&dep(0, wide)), Strategy::RollingUpdate { surge: 0, unavailable: 0 });
        assert_eq!(strategy(&dep(2, json!({"type": "Recreate"}))), Strategy::Recreate);
        assert_eq!(scaled(&json!("33%"), 10, true), Some(4));
        assert_eq!(scaled(&json!("33%"), 10, false), Some(3));
        assert_eq!(scaled(&json!("3"), 10, false), None, "a string that is not a percentage");
    }

    fn pod(name: &str, rs: &str, ready: bool) -> (String, Value) {
        let status = if ready {
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]})
        } else {
            json!({"phase": "Pending"})
        };
        (
            name.to_string(),
            json!({"metadata": {"name": name, "ownerReferences": [{"kind": "ReplicaSet", "name": rs, "controller": true}]},
                "spec": {"nodeName": "n"}, "status": status}),
        )
    }

    /// Steps of a rollout of 2 replicas from `d-old` to `d-new`, each new pod turning
    /// Ready before the next step: what is created and deleted, in order.
    fn walk(strategy: Value) -> Vec<String> {
        let d = dep(2, strategy);
        let mut pods = vec![pod("old-1", "d-old", true), pod("old-2", "d-old", true)];
        let mut out = Vec::new();
        let mut n = 0;
        while let Some((delete, create)) = step(&d, &sets(&pods, "d-new")) {
            for x in &delete {
                out.push(format!("delete {x}"));
                pods.retain(|(p, _)| p != x);
            }
            for _ in 0..create {
                n += 1;
                out.push(format!("create new-{n}"));
                pods.push(pod(&format!("new-{n}"), "d-new", false));
            }
            if create == 0 && delete.is_empty() {
                break;
            }
            // nothing more this round: the new pods turn Ready
            if step(&d, &sets(&pods, "d-new")).is_none() {
                for (name, p) in pods.iter_mut().filter(|(name, _)| name.starts_with("new-")) {
                    if !crate::kube::kubelet::is_ready(p) {
                        out.push(format!("ready {name}"));
                        *p = pod(name, "d-new", true).1;
                    }
                }
            }
            assert!(out.len() < 40, "no end: {out:?}");
        }
        out
    }

    #[test]
    fn a_rolling_update_of_two_replicas_goes_one_pod_at_a_time() {
        // the defaults: one surge pod, none unavailable
        assert_eq!(
            walk(json!({"type": "RollingUpdate"})),
            ["create new-1", "ready new-1", "delete old-2", "create new-2", "ready new-2", "delete old-1"]
        );
        // Rook's RGW: one unavailable, no surge
        assert_eq!(
            walk(json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})),
            ["delete old-2", "create new-1", "ready new-1", "delete old-1", "create new-2", "ready new-2"]
        );
        // Recreate: every old pod first, then every new one
        assert_eq!(
            walk(json!({"type": "Recreate"})),
            ["delete old-1", "delete old-2", "create new-1", "create new-2", "ready new-1", "ready new-2"]
        );
    }

    #[test]
    fn unhealthy_old_pods_go_first_and_recreate_waits_for_terminating_ones() {
        let d = dep(2, json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}));
        let pods = vec![pod("old-1", "d-old", true), pod("old-2", "d-old", false)];
        assert_eq!(step(&d, &sets(&pods, "d-new")), Some((vec!["old-2".to_string()], 0)));
        let d = dep(1, json!({"type": "Recreate"}));
        let (n, mut p) = pod("old-1", "d-old", true);
        p["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
        assert_eq!(step(&d, &sets(&[(n, p)], "d-new")), None, "no new pod while an old one terminates");
        let mut failed = pod("old-1", "d-old", false);
        failed.1["status"]["phase"] = "Failed".into();
        assert_eq!(step(&d, &sets(&[failed], "d-new")), Some((vec![], 1)), "a Failed pod is left where it is");
    }
}
