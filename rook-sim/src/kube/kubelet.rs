//! What a kubelet does with a pod bound to its node, as far as clients can see it: the
//! containers are created (`ready_delay`), images the node has not pulled yet are pulled
//! (`pull_delay` more; the pod stays Pending, waiting `ContainerCreating`), then the pod runs.
//! A daemon pod (restartPolicy Always) turns Running and Ready, unless its Deployment was
//! told never to come Ready (readiness stays false; the probe is retried, so clearing the
//! mark makes it Ready); a run-to-completion pod (restartPolicy Never or OnFailure, e.g. a
//! pre-pull pod) turns Running, then Succeeded.
//!
//! Each node keeps the images it pulled, and the kubelets log each pull a pod made with a
//! number from the sequence rollouts are numbered in, so tests can tell which came first.
//! A pull marked to fail on a node answers
//! `ErrImagePull`, then `ImagePullBackOff`, and is retried until the mark is cleared. A pod
//! created through the API for a node that does not exist stays Pending with
//! `PodScheduled=False` (reason `Unschedulable`, the node named in the message) and a
//! `FailedScheduling` event.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::SimState;
use crate::resources::{EVENTS, PODS};
use crate::server::store::now_rfc3339;

/// The Deployment a pod belongs to, from its controlling ReplicaSet `<deployment>-<hash>`.
pub fn deployment_of(pod: &Value) -> Option<String> {
    let rs = pod["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["kind"] == "ReplicaSet" && r["controller"] != false)?
        .get("name")?
        .as_str()?;
    rs.rsplit_once('-').map(|(d, _)| d.to_string())
}

fn runs_to_completion(pod: &Value) -> bool {
    matches!(pod["spec"]["restartPolicy"].as_str(), Some("Never" | "OnFailure"))
}

/// What the pod's containers are doing.
enum Stage<'a> {
    /// Pending: containers being created (or images pulled).
    Creating,
    /// Pending: these images fail to pull.
    PullFailing {
        images: &'a [String],
        backoff: bool,
    },
    Running {
        ready: bool,
    },
    Succeeded,
}

fn condition(t: &str, ok: bool, now: &str) -> Value {
    json!({"type": t, "status": if ok { "True" } else { "False" }, "lastTransitionTime": now, "lastProbeTime": null})
}

/// The pod's status at `stage`, keeping its IPs and start time.
fn status_at(pod: &Value, stage: &Stage) -> Value {
    let now = now_rfc3339();
    let old = &pod["status"];
    let (phase, started, ready) = match stage {
        Stage::Creating | Stage::PullFailing { .. } => ("Pending", false, false),
        Stage::Running { ready } => ("Running", true, *ready),
        Stage::Succeeded => ("Succeeded", true, false),
    };
    let containers = |key: &str, init: bool| -> Vec<Value> {
        pod["spec"][key]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, c)| {
                let image = c["image"].as_str().unwrap_or_default();
                let state = match stage {
                    Stage::PullFailing { images, backoff } if images.iter().any(|x| x == image) => {
                        let (reason, message) = if *backoff {
                            ("ImagePullBackOff", format!("Back-off pulling image \"{image}\""))
                        } else {
                            ("ErrImagePull", format!("failed to pull and unpack image \"{image}\": not found"))
                        };
                        json!({"waiting": {"reason": reason, "message": message}})
                    }
                    Stage::Creating | Stage::PullFailing { .. } => json!({"waiting": {"reason": "ContainerCreating"}}),
                    _ if init || matches!(stage, Stage::Succeeded) => json!({"terminated": {"exitCode": 0,
                        "reason": "Completed", "startedAt": now, "finishedAt": now}}),
                    _ => json!({"running": {"startedAt": now}}),
                };
                let seed = format!("{}{}", pod["metadata"]["uid"].as_str().unwrap_or_default(), c["name"]);
                json!({"name": c["name"], "image": image,
                    "imageID": if started { crate::topology::image_id(image) } else { String::new() },
                    "containerID": if started { format!("containerd://{:016x}{:016x}", crate::server::store::fnv64(seed.as_bytes()), i) } else { String::new() },
                    "ready": ready && !init, "restartCount": 0, "started": started && !init && phase == "Running",
                    "state": state})
            })
            .collect()
    };
    let mut conditions = vec![
        condition("PodReadyToStartContainers", started, &now),
        condition("Initialized", started, &now),
        condition("Ready", ready, &now),
        condition("ContainersReady", ready, &now),
        condition("PodScheduled", true, &now),
    ];
    if matches!(stage, Stage::Succeeded) {
        for c in &mut conditions[2..4] {
            c["reason"] = "PodCompleted".into();
        }
    }
    let mut s = json!({
        "phase": phase,
        "conditions": conditions,
        "startTime": old.get("startTime").cloned().unwrap_or_else(|| now.clone().into()),
        "qosClass": old.get("qosClass").cloned().unwrap_or_else(|| "BestEffort".into()),
        "initContainerStatuses": containers("initContainers", true),
        "containerStatuses": containers("containers", false),
    });
    for k in ["hostIP", "hostIPs", "podIP", "podIPs"] {
        if let Some(v) = old.get(k) {
            s[k] = v.clone();
        }
    }
    s
}

/// Write the pod's status (the `status` subresource); false when the pod is gone (deleted,
/// or replaced by a rollout: another uid).
fn write(state: &Arc<SimState>, ns: &str, name: &str, uid: &Value, f: impl Fn(&Value) -> Value) -> bool {
    let mut mine = true;
    let written = state.update_status(&PODS, ns, name, |pod| {
        mine = &pod["metadata"]["uid"] == uid;
        if mine {
            pod["status"] = f(pod);
        }
    });
    written.is_ok() && mine
}

fn event(state: &Arc<SimState>, ns: &str, pod: &Value, reason: &str, kind: &str, message: &str) {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let ev = json!({
        "metadata": {"generateName": format!("{name}."), "namespace": ns},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": name, "namespace": ns, "uid": pod["metadata"]["uid"]},
        "reason": reason, "message": message, "type": kind, "count": 1,
        "firstTimestamp": now_rfc3339(), "lastTimestamp": now_rfc3339(),
        "source": {"component": if reason == "FailedScheduling" { "default-scheduler" } else { "kubelet" }},
    });
    let _ = state.create(&EVENTS, ns, ev);
}

/// Start the kubelet's work on a pod (see the module). The task ends `true` once the pod
/// is Ready (a daemon) or Succeeded (run to completion), `false` if it was deleted first
/// or can never run (no such node).
pub fn spawn(state: &Arc<SimState>, ns: &str, pod: &str) -> tokio::task::JoinHandle<bool> {
    let (state, ns, pod) = (state.clone(), ns.to_string(), pod.to_string());
    tokio::spawn(async move {
        let permit = match state.is_remote() {
            true => state.kubelet.starts().acquire_owned().await.ok(),
            false => None,
        };
        run(&state, &ns, &pod, permit).await
    })
}

/// `permit`: held until the pod runs (a pod that never turns Ready gives it back before it
/// probes again).
async fn run(
    state: &Arc<SimState>,
    ns: &str,
    name: &str,
    mut permit: Option<tokio::sync::OwnedSemaphorePermit>,
) -> bool {
    let cfg = state.operator.config().clone();
    let Some(pod) = state.get(&PODS, ns, name) else { return false };
    let uid = pod["metadata"]["uid"].clone();
    let node = pod["spec"]["nodeName"].as_str().unwrap_or_default().to_string();
    let kubelet = &state.kubelet;
    if !kubelet.has_node(&node) {
        write(state, ns, name, &uid, |p| {
            let mut s = p["status"].clone();
            s["phase"] = "Pending".into();
            s["conditions"] = json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": format!("node \"{node}\" not found"), "lastTransitionTime": now_rfc3339(), "lastProbeTime": null}]);
            s
        });
        event(state, ns, &pod, "FailedScheduling", "Warning", &format!("node \"{node}\" not found"));
        return false;
    }
    // a NotReady node's kubelet starts nothing: the pod stays Pending until the node is back
    while kubelet.is_down(&node) {
        tokio::time::sleep(cfg.ready_delay.max(Duration::from_millis(10))).await;
        if state.get(&PODS, ns, name).is_none_or(|p| p["metadata"]["uid"] != uid) {
            return false;
        }
    }
    // accepted by the kubelet: containers being created (a rollout's pods start so)
    if pod["status"].get("containerStatuses").is_none()
        && !write(state, ns, name, &uid, |p| status_at(p, &Stage::Creating))
    {
        return false;
    }
    tokio::time::sleep(cfg.ready_delay).await;
    let images = crate::kube::nodes::images_of(&pod);
    let missing: Vec<String> = {
        let have = kubelet.pulled(&node);
        images.iter().filter(|i| !have.contains(*i)).cloned().collect()
    };
    let mut backoff = false;
    loop {
        let failing = kubelet.failing(&node, &missing);
        if failing.is_empty() {
            break;
        }
        if !write(state, ns, name, &uid, |p| status_at(p, &Stage::PullFailing { images: &failing, backoff })) {
            return false;
        }
        if !backoff {
            let msg = format!("Failed to pull image \"{}\": not found", failing[0]);
            event(state, ns, &pod, "Failed", "Warning", &msg);
        }
        backoff = true;
        tokio::time::sleep(cfg.pull_delay.max(Duration::from_millis(20))).await;
    }
    if !missing.is_empty() {
        if backoff && !write(state, ns, name, &uid, |p| status_at(p, &Stage::Creating)) {
            return false;
        }
        tokio::time::sleep(cfg.pull_delay).await;
        for i in &missing {
            kubelet.finish_pull(&node, i);
        }
    }
    let deployment = deployment_of(&pod);
    if runs_to_completion(&pod) {
        if !write(state, ns, name, &uid, |p| status_at(p, &Stage::Running { ready: true })) {
            return false;
        }
        tokio::time::sleep(cfg.ready_delay).await;
        return write(state, ns, name, &uid, |p| status_at(p, &Stage::Succeeded));
    }
    let mut was = None;
    loop {
        let ready = !kubelet.is_never_ready(ns, deployment.as_deref());
        if was != Some(ready) {
            if !write(state, ns, name, &uid, |p| status_at(p, &Stage::Running { ready })) {
                return false;
            }
            if ready {
                state.health.note_ready(ns, name);
            }
            crate::operator::checker::refresh(state, ns);
            was = Some(ready);
        }
        if ready {
            return true;
        }
        // the readiness probe, again
        permit.take();
        tokio::time::sleep(cfg.ready_delay.max(Duration::from_millis(10))).await;
        let gone = state.get(&PODS, ns, name).is_none_or(|p| p["metadata"]["uid"] != uid);
        if gone {
            return false;
        }
    }
}

/// Take `node` down (NotReady, as when its kubelet stops reporting) or bring it back. Down:
/// the node controller marks its pods' `Ready` condition False and the pods, their status
/// no longer reported, show phase `Unknown`; new pods bound to it stay Pending. Back: its
/// pods run Ready again (the containers kept running) and pending ones start.
pub fn set_node_down(state: &Arc<SimState>, node: &str, down: bool) {
    state.kubelet.set_down(node, down);
    let mut namespaces = BTreeSet::new();
    for pod in state.list(&PODS, None) {
        if pod["spec"]["nodeName"].as_str() != Some(node) {
            continue;
        }
        let (ns, name) = (
            pod["metadata"]["namespace"].as_str().unwrap_or_default(),
            pod["metadata"]["name"].as_str().unwrap_or_default(),
        );
        let uid = pod["metadata"]["uid"].clone();
        namespaces.insert(ns.to_string());
        match (down, pod["status"]["phase"].as_str()) {
            (true, Some("Running")) => {
                write(state, ns, name, &uid, |p| {
                    let mut s = status_at(p, &Stage::Running { ready: false });
                    s["phase"] = "Unknown".into();
                    s
                });
            }
            (false, Some("Unknown"))
                if write(state, ns, name, &uid, |p| status_at(p, &Stage::Running { ready: true })) =>
            {
                state.health.note_ready(ns, name);
            }
            _ => {}
        }
    }
    for ns in namespaces {
        crate::operator::checker::refresh(state, &ns);
    }
}

/// Is this a Running pod the node controller marked not Ready while its node was NotReady:
/// `Ready` False with `ContainersReady` still True, as `MarkPodsNotReady` leaves it
/// (kubernetes pkg/controller/util/node/controller_utils.go)? This kubelet sets the two
/// together, so no pod of its own is ever so.
pub fn marked_not_ready(pod: &Value) -> bool {
    let status_of = |t: &str| {
        pod["status"]["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == t)).map(|c| &c["status"])
    };
    pod.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
        && status_of("ContainersReady").is_some_and(|s| s == "True")
        && status_of("Ready").is_some_and(|s| s == "False")
}

/// The kubelet of a node that is up reports a pod `marked_not_ready` as it is, Ready again
/// (a kubelet's status manager writes back what differs from the pod it runs): after a
/// heartbeat came late and the node controller marked the node's pods, as after a real
/// kubelet's. Nothing for a pod whose node is down here, that is meant never to turn Ready,
/// or that changed since (another uid, or no longer so marked). True when written.
pub fn report_ready_again(state: &Arc<SimState>, ns: &str, name: &str, uid: &Value) -> bool {
    let mut wrote = false;
    let _ = state.update_status(&PODS, ns, name, |pod| {
        wrote = false;
        let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
        if &pod["metadata"]["uid"] != uid
            || !marked_not_ready(pod)
            || state.kubelet.is_down(node)
            || state.kubelet.is_never_ready(ns, deployment_of(pod).as_deref())
        {
            return;
        }
        if let Some(c) =
            pod["status"]["conditions"].as_array_mut().and_then(|cs| cs.iter_mut().find(|c| c["type"] == "Ready"))
        {
            *c = condition("Ready", true, &now_rfc3339());
            wrote = true;
        }
    });
    if wrote {
        crate::operator::checker::refresh(state, ns);
    }
    wrote
}

/// The pod's `Ready` condition; a Running pod without conditions (a trimmed dump) counts
/// as ready.
pub fn is_ready(pod: &Value) -> bool {
    if pod.pointer("/status/phase").and_then(Value::as_str) != Some("Running") {
        return false;
    }
    match pod["status"]["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == "Ready")) {
        Some(c) => c["status"] == "True",
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Value {
        json!({"metadata": {"name": "p", "uid": "u"},
            "spec": {"nodeName": "node-00", "initContainers": [{"name": "i", "image": "a"}],
                "containers": [{"name": "c", "image": "b"}, {"name": "d", "image": "a"}]},
            "status": {"podIP": "10.0.0.1", "startTime": "2020-01-01T00:00:00Z"}})
    }

    #[test]
    fn statuses_as_the_kubelet_writes_them() {
        let p = pod();
        assert_eq!(crate::kube::nodes::images_of(&p), ["a", "b"]);
        let s = status_at(&p, &Stage::Creating);
        assert_eq!(s["phase"], "Pending");
        assert_eq!(s["containerStatuses"][0]["state"]["waiting"]["reason"], "ContainerCreating");
        assert_eq!(s["podIP"], "10.0.0.1");
        let s = status_at(&p, &Stage::PullFailing { images: &["b".into()], backoff: false });
        assert_eq!(s["containerStatuses"][0]["state"]["waiting"]["reason"], "ErrImagePull");
        assert_eq!(s["containerStatuses"][1]["state"]["waiting"]["reason"], "ContainerCreating");
        let s = status_at(&p, &Stage::PullFailing { images: &["b".into()], backoff: true });
        assert_eq!(s["containerStatuses"][0]["state"]["waiting"]["reason"], "ImagePullBackOff");
        let s = status_at(&p, &Stage::Running { ready: false });
        assert_eq!((&s["phase"], &s["conditions"][2]["status"]), (&json!("Running"), &json!("False")));
        assert!(s["containerStatuses"][0]["state"]["running"].is_object());
        let mut r = p.clone();
        r["status"] = s;
        assert!(!is_ready(&r));
        r["status"] = status_at(&p, &Stage::Running { ready: true });
        assert!(is_ready(&r));
        let s = status_at(&p, &Stage::Succeeded);
        assert_eq!(s["phase"], "Succeeded");
        assert_eq!(s["containerStatuses"][0]["state"]["terminated"]["reason"], "Completed");
    }
}
