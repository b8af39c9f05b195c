//! Pre-pull (`upgrade IMAGE --prepull`, issue 15): before anything restarts, one pod on
//! each node that will restart a daemon pulls IMAGE, so that no daemon waits for a registry
//! while it is down (images pulled while daemons are down are a cost Rook's upgrades pay).
//!
//! This module holds what is pure (the pods' names and manifests, the writes that create
//! and delete them, how to tell from a pod that its node has the image) and the wait for
//! the pulls. The pods are written by the one executor (`execute`: `Object::Pod`,
//! `PatchType::Create` and `PatchType::Delete`): the creates in one step whose
//! `wait_ready` makes the executor wait here for the pulls, the deletes as cleanup writes
//! in the next, so they are sent whether the pulls passed, failed or were interrupted.
//!
//! The pods carry no `rook_cluster` label: the plugin's own reads (`rook_cluster=<ns>`)
//! never mistake them for Rook's, and Rook's selectors never match them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::cluster::Kube;
use crate::cluster::api::What;
use crate::cluster::read::{list_all, pods_path};
use crate::error::{Error, Result};
use crate::output::{clean, note};
use crate::plan::writes::{Expect, Object, PatchType, Write};

/// The labels every pre-pull pod carries; a pod without both is never taken for one of
/// ours (the executor deletes only pods that carry them).
pub const LABELS: [(&str, &str); 2] =
    [("app.kubernetes.io/managed-by", "kubectl-ceph-image"), ("app.kubernetes.io/component", "prepull")];

/// Pod names are `NAME_PREFIX` and the node's name, made a DNS-1123 label (`pod_name`).
pub const NAME_PREFIX: &str = "ceph-image-prepull-";

/// The container's command: exits at once on every Ceph image, once the image is there.
pub const COMMAND: [&str; 2] = ["ceph", "--version"];

/// How often the wait lists the pods.
const POLL: Duration = Duration::from_millis(250);

/// The label selector of the pre-pull pods (`LABELS`).
pub fn selector() -> String {
    LABELS.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// 32 bits of FNV-1a, as 8 hex digits: a stable suffix (the same node gives the same name
/// in every run and every build, so a resumed upgrade finds the pods of a killed one).
fn short_hash(s: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

/// The pre-pull pod's name for `node`: `ceph-image-prepull-<node>` when that is a DNS-1123
/// label (lower-case letters, digits and `-`, at most 63 characters). Otherwise the node's
/// name is lower-cased, every other character becomes `-`, the name is cut to fit, and a
/// hash of the node's real name is appended, so that two nodes never share a pod name
/// (`ip-10-0-1-11.ec2.internal` and `ip-10-0-1-11-ec2-internal` differ by their hash).
pub fn pod_name(node: &str) -> String {
    let plain = format!("{NAME_PREFIX}{node}");
    let is_label = plain.len() <= 63
        && plain.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !plain.ends_with('-');
    if is_label {
        return plain;
    }
    let safe: String =
        node.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    let mut base = format!("{NAME_PREFIX}{safe}");
    // 63 = base + "-" + 8 hex digits
    base.truncate(63 - 9);
    let base = base.trim_end_matches('-');
    format!("{base}-{}", short_hash(node))
}

/// What the pods take from the daemons' pod template: Rook runs its daemons with a
/// service account of the cluster (`rook-ceph-default` for the mons) and Rook's Helm
/// chart gives those accounts the registry's pull secrets (`imagePullSecrets` on the
/// ServiceAccount), so a pod with the same account pulls from the same registry as the
/// daemons. Pull secrets set on the template itself are copied too.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    /// `serviceAccountName` (None: the namespace's default account).
    pub service_account: Option<String>,
    /// Names in `imagePullSecrets`.
    pub pull_secrets: Vec<String>,
    /// The Deployment it was read from, for messages.
    pub from: Option<String>,
}

impl Template {
    /// From a Deployment (JSON as the API answers it): its pod template's account and
    /// pull secrets.
    pub fn of_deployment(d: &Value) -> Template {
        let spec = &d["spec"]["template"]["spec"];
        let service_account = ["serviceAccountName", "serviceAccount"]
            .iter()
            .find_map(|k| spec[*k].as_str().filter(|s| !s.is_empty()))
            .map(str::to_string);
        let pull_secrets = spec["imagePullSecrets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["name"].as_str().filter(|n| !n.is_empty()).map(str::to_string))
            .collect();
        Template { service_account, pull_secrets, from: d["metadata"]["name"].as_str().map(str::to_string) }
    }
}

/// The pod that pulls `image` on `node`: bound to the node by `nodeName` (no scheduler, so
/// no taint or selector keeps it off; it tolerates every taint anyway, as storage nodes
/// often carry some), run once (`restartPolicy: Never`) with a command that exits at once,
/// small requests and limits, no API token, and `activeDeadlineSeconds` set to `deadline`
/// (rounded up, at least 1 s), so a pod left by a killed run ends by itself.
pub fn manifest(namespace: &str, node: &str, image: &str, tpl: &Template, deadline: Duration) -> Value {
    let labels: serde_json::Map<String, Value> = LABELS.iter().map(|(k, v)| (k.to_string(), (*v).into())).collect();
    let secs = deadline.as_secs() + u64::from(deadline.subsec_nanos() > 0);
    let mut spec = json!({
        "nodeName": node,
        "restartPolicy": "Never",
        "activeDeadlineSeconds": secs.max(1),
        "terminationGracePeriodSeconds": 0,
        "automountServiceAccountToken": false,
        "tolerations": [{"operator": "Exists"}],
        "containers": [{
            "name": "pull",
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "command": COMMAND,
            "resources": {
                "requests": {"cpu": "10m", "memory": "32Mi"},
                "limits": {"cpu": "200m", "memory": "128Mi"},
            },
        }],
    });
    if let Some(sa) = &tpl.service_account {
        spec["serviceAccountName"] = sa.clone().into();
    }
    if !tpl.pull_secrets.is_empty() {
        spec["imagePullSecrets"] = tpl.pull_secrets.iter().map(|n| json!({"name": n})).collect();
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod_name(node), "namespace": namespace, "labels": labels},
        "spec": spec,
    })
}

/// `/metadata/labels/<key>` as a JSON pointer (`/` in a key is `~1`).
fn label_pointer(key: &str) -> String {
    format!("/metadata/labels/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// The pre-pull's writes, in two steps: step 1 creates a pod on every node (its
/// `wait_ready`: the executor then waits until each pod's node has the image, within its
/// timeout); step 2 deletes them, as cleanup writes (sent after a failed or interrupted
/// step 1 too, for every pod whose create may have landed). A create is applied when a
/// pod of that name exists with our labels, node and image and is not being deleted (a
/// pod left by a killed run of the same upgrade is taken as it is); a delete, when no pod
/// of ours is left by that name.
pub fn writes(namespace: &str, nodes: &[String], image: &str, tpl: &Template, deadline: Duration) -> Vec<Write> {
    let ours: Vec<(String, String)> = LABELS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let mut out = Vec::new();
    for node in nodes {
        let mut fields: Vec<(String, Option<String>)> =
            ours.iter().map(|(k, v)| (label_pointer(k), Some(v.clone()))).collect();
        fields.push(("/spec/nodeName".into(), Some(node.clone())));
        fields.push(("/spec/containers/0/image".into(), Some(image.to_string())));
        fields.push(("/metadata/deletionTimestamp".into(), None));
        out.push(Write {
            object: Object::Pod(pod_name(node)),
            patch_type: PatchType::Create,
            patch: manifest(namespace, node, image, tpl, deadline),
            preconditioned: false,
            expect: Expect::Fields { fields },
            step: 1,
            wait_ready: true,
            cleanup: false,
            action: format!("create (pull {image} on node {node})"),
        });
    }
    for node in nodes {
        out.push(Write {
            object: Object::Pod(pod_name(node)),
            patch_type: PatchType::Delete,
            patch: Value::Null,
            preconditioned: false,
            expect: Expect::Gone { labels: ours.clone() },
            step: 2,
            wait_ready: false,
            cleanup: true,
            action: "delete (the pre-pull is over)".into(),
        });
    }
    out
}

/// The plugin's own pre-pull pods in `ns` (by `selector()`: both `LABELS`), whatever run
/// made them: a killed `--prepull` run leaves its pods, which `upgrade abort` and the next
/// pre-pull must find by these labels, never by name alone (a pod of someone else's may
/// carry the name).
pub async fn ours(kube: &Kube, ns: &str) -> Result<Vec<Value>> {
    let what = What::new("list", "pods", Some(ns));
    Ok(list_all::<Value>(kube, &pods_path(ns), &selector(), &what).await?.items)
}

/// A pod's name, for messages and writes.
pub fn name_of(pod: &Value) -> String {
    text(&pod["metadata"]["name"]).to_string()
}

/// A pre-pull pod a run of the same pull left that can stand for this run's create: same
/// name, node and image, not being deleted and not ended by a failure (its deadline, a
/// failed pull). Everything else of ours is deleted before the pulls (`delete_writes`).
pub fn reusable(pod: &Value, nodes: &[String], image: &str) -> bool {
    let node = text(&pod["spec"]["nodeName"]);
    nodes.iter().any(|n| n == node && pod_name(n) == name_of(pod))
        && text(&pod["spec"]["containers"][0]["image"]) == image
        && pod["metadata"].get("deletionTimestamp").is_none_or(Value::is_null)
        && text(&pod["status"]["phase"]) != "Failed"
}

/// Deletes of pre-pull pods a stopped run left, each judged by the executor as the
/// pre-pull's own deletes are (it reads the pod first and deletes it only while it carries
/// `LABELS`, with its uid as precondition).
pub fn delete_writes(names: &[String]) -> Vec<Write> {
    let ours: Vec<(String, String)> = LABELS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    names
        .iter()
        .map(|n| Write {
            object: Object::Pod(n.clone()),
            patch_type: PatchType::Delete,
            patch: Value::Null,
            preconditioned: false,
            expect: Expect::Gone { labels: ours.clone() },
            step: 1,
            wait_ready: false,
            cleanup: false,
            action: "delete (a pre-pull pod a stopped run left)".into(),
        })
        .collect()
}

/// Wait (within `timeout`) until none of `names` is left among the plugin's pre-pull pods:
/// a deleted pod keeps its name until it is gone, and a create by that name meets it.
/// Returns those still there.
pub async fn wait_gone(kube: &Kube, ns: &str, names: &[String], timeout: Duration) -> Result<Vec<String>> {
    let start = Instant::now();
    loop {
        let left: Vec<String> = ours(kube, ns).await?.iter().map(name_of).filter(|n| names.contains(n)).collect();
        if left.is_empty() || start.elapsed() >= timeout {
            return Ok(left);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// What a pre-pull pod shows about its node's pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pull {
    /// The node has the image: the pod ran (Running, Succeeded, a container started or
    /// ended), or its container failed at a step that comes after the pull.
    Pulled,
    /// Not yet: what it waits for (`ContainerCreating`, `Pending`).
    Waiting(String),
    /// The pull failed (`ErrImagePull`, `ImagePullBackOff`, ...) or the pod ended without
    /// running: the kubelet's reason and message.
    Failed(String),
}

/// Waiting reasons the kubelet gives when it cannot get the image.
const PULL_FAILURES: [&str; 5] =
    ["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"];

/// Waiting reasons the kubelet gives only once the image is there (it pulls first, then
/// builds the container's configuration and creates it).
const AFTER_PULL: [&str; 3] = ["CreateContainerConfigError", "CreateContainerError", "RunContainerError"];

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// "ErrImagePull: failed to pull ..." (the message only when there is one).
fn reason_message(reason: &str, message: &str) -> String {
    if message.is_empty() { reason.to_string() } else { format!("{reason}: {message}") }
}

/// Judge a pre-pull pod (JSON as the API answers it). Pure.
pub fn judge(pod: &Value) -> Pull {
    let status = &pod["status"];
    let phase = text(&status["phase"]);
    if matches!(phase, "Running" | "Succeeded") {
        return Pull::Pulled;
    }
    let containers: Vec<&Value> = status["containerStatuses"].as_array().into_iter().flatten().collect();
    let mut waiting = None;
    for c in &containers {
        let state = &c["state"];
        if state.get("running").is_some_and(Value::is_object)
            || state.get("terminated").is_some_and(Value::is_object)
            || !text(&c["imageID"]).is_empty()
        {
            return Pull::Pulled;
        }
        let reason = text(&state["waiting"]["reason"]);
        let message = text(&state["waiting"]["message"]);
        if PULL_FAILURES.contains(&reason) {
            return Pull::Failed(reason_message(reason, message));
        }
        if AFTER_PULL.contains(&reason) {
            return Pull::Pulled;
        }
        if !reason.is_empty() {
            waiting = Some(reason.to_string());
        }
    }
    if phase == "Failed" {
        let reason = text(&status["reason"]);
        return Pull::Failed(reason_message(
            if reason.is_empty() { "Failed" } else { reason },
            text(&status["message"]),
        ));
    }
    let unscheduled = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "PodScheduled" && c["status"] == "False");
    if let Some(c) = unscheduled {
        return Pull::Waiting(reason_message(&format!("not scheduled ({})", text(&c["reason"])), text(&c["message"])));
    }
    Pull::Waiting(waiting.unwrap_or_else(|| if phase.is_empty() { "Pending".into() } else { phase.into() }))
}

/// One pod to wait for.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    pub pod: String,
    pub node: String,
    pub image: String,
}

/// The pods a step of `writes` creates and waits for (`wait_ready` creates of pods).
pub fn expected(writes: &[&Write]) -> Vec<Expected> {
    writes
        .iter()
        .filter(|w| w.wait_ready && w.patch_type == PatchType::Create)
        .filter_map(|w| match &w.object {
            Object::Pod(pod) => Some(Expected {
                pod: pod.clone(),
                node: text(&w.patch["spec"]["nodeName"]).to_string(),
                image: text(&w.patch["spec"]["containers"][0]["image"]).to_string(),
            }),
            _ => None,
        })
        .collect()
}

/// "node-01 (ErrImagePull: ...); node-02 (...)", each part sanitised (the kubelet's words
/// are not ours).
fn by_node(v: &[(&Expected, String)]) -> String {
    v.iter().map(|(e, why)| format!("{} ({})", clean(&e.node), clean(why))).collect::<Vec<_>>().join("; ")
}

/// Wait until every pod in `pods` shows its node has the image, listing the pre-pull pods
/// (one LIST by `selector()`) every `POLL`. Fails as soon as a pull fails, naming every
/// node whose pull failed and the kubelet's reason; fails at `timeout` naming the nodes
/// not done and what each waits for. Progress goes to stderr when the count changes.
pub async fn wait(kube: &Kube, ns: &str, pods: &[Expected], timeout: Duration) -> Result<()> {
    if pods.is_empty() {
        return Ok(());
    }
    let image = pods[0].image.clone();
    let start = Instant::now();
    let what = What::new("list", "pods", Some(ns));
    let mut last_done = usize::MAX;
    loop {
        let listed = list_all::<Value>(kube, &pods_path(ns), &selector(), &what).await?;
        let by_name: BTreeMap<&str, &Value> =
            listed.items.iter().filter_map(|p| Some((p["metadata"]["name"].as_str()?, p))).collect();
        let mut failed = Vec::new();
        let mut waiting = Vec::new();
        for e in pods {
            match by_name.get(e.pod.as_str()).map(|p| judge(p)) {
                Some(Pull::Pulled) => {}
                Some(Pull::Waiting(why)) => waiting.push((e, why)),
                Some(Pull::Failed(why)) => failed.push((e, why)),
                None => failed.push((e, format!("its pod {} is gone (deleted by someone else?)", e.pod))),
            }
        }
        if !failed.is_empty() {
            return Err(Error::Failed(format!(
                "the pre-pull of {} failed on {} node(s): {}",
                clean(&image),
                failed.len(),
                by_node(&failed)
            )));
        }
        let done = pods.len() - waiting.len();
        if waiting.is_empty() {
            note(&format!("pre-pull: {} is on all {} node(s)", clean(&image), pods.len()));
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(Error::Failed(format!(
                "the pre-pull of {} did not finish within {timeout:?} (--timeout) on {} node(s): {}",
                clean(&image),
                waiting.len(),
                by_node(&waiting)
            )));
        }
        if done != last_done {
            note(&format!(
                "pre-pull: {done}/{} node(s) have {}; waiting for {}",
                pods.len(),
                clean(&image),
                clean(&waiting[0].0.node)
            ));
            last_done = done;
        }
        tokio::time::sleep(POLL.min(timeout.saturating_sub(start.elapsed())).max(Duration::from_millis(10))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_dns_label(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    }

    #[test]
    fn pod_names_are_dns_labels_and_unique_per_node() {
        assert_eq!(pod_name("node-01"), "ceph-image-prepull-node-01");
        let aws = pod_name("ip-10-0-1-11.ec2.internal");
        let dashed = pod_name("ip-10-0-1-11-ec2-internal");
        assert_eq!(dashed, "ceph-image-prepull-ip-10-0-1-11-ec2-internal", "already a label: kept");
        assert!(aws.starts_with("ceph-image-prepull-ip-10-0-1-11-ec2-internal-") && aws != dashed, "{aws}");
        let long = "storage-node-".repeat(8);
        let a = pod_name(&format!("{long}a"));
        let b = pod_name(&format!("{long}b"));
        assert_ne!(a, b, "cut to fit, the hash keeps them apart");
        for n in ["node-01", "Node_01", "ip-10-0-1-11.ec2.internal", &long, &format!("{long}a"), "x-", "ÄÖ"] {
            let p = pod_name(n);
            assert!(is_dns_label(&p), "{n:?} -> {p:?}");
            assert_eq!(p, pod_name(n), "stable");
        }
        assert_ne!(pod_name("Node-01"), pod_name("node-01"), "case differs: so does the name");
    }

    #[test]
    fn the_manifest_binds_the_pod_to_its_node_and_runs_once() {
        let tpl = Template {
            service_account: Some("rook-ceph-default".into()),
            pull_secrets: vec!["my-registry".into()],
            from: None,
        };
        let m = manifest("rook-ceph", "node-02", "quay.io/ceph/ceph:v20.2.6", &tpl, Duration::from_millis(90_500));
        assert_eq!(m["metadata"]["name"], "ceph-image-prepull-node-02");
        assert_eq!(m["metadata"]["labels"]["app.kubernetes.io/component"], "prepull");
        assert!(m["metadata"]["labels"].get("rook_cluster").is_none(), "never taken for Rook's");
        let s = &m["spec"];
        assert_eq!((&s["nodeName"], &s["restartPolicy"]), (&json!("node-02"), &json!("Never")));
        assert_eq!(s["activeDeadlineSeconds"], 91, "rounded up");
        assert_eq!(s["tolerations"], json!([{"operator": "Exists"}]));
        assert_eq!(s["serviceAccountName"], "rook-ceph-default");
        assert_eq!(s["imagePullSecrets"], json!([{"name": "my-registry"}]));
        assert_eq!(s["containers"][0]["command"], json!(["ceph", "--version"]));
        assert_eq!(s["containers"][0]["image"], "quay.io/ceph/ceph:v20.2.6");
        let bare = manifest("rook-ceph", "n", "i:1", &Template::default(), Duration::ZERO);
        assert!(bare["spec"].get("serviceAccountName").is_none() && bare["spec"].get("imagePullSecrets").is_none());
        assert_eq!(bare["spec"]["activeDeadlineSeconds"], 1);
    }

    #[test]
    fn the_template_comes_from_a_daemons_pod_template() {
        let d = json!({"metadata": {"name": "rook-ceph-mon-a"}, "spec": {"template": {"spec": {
            "serviceAccountName": "rook-ceph-default", "imagePullSecrets": [{"name": "a"}, {"name": ""}, {}]}}}});
        let t = Template::of_deployment(&d);
        assert_eq!(t.service_account.as_deref(), Some("rook-ceph-default"));
        assert_eq!(t.pull_secrets, ["a"]);
        assert_eq!(t.from.as_deref(), Some("rook-ceph-mon-a"));
        assert_eq!(Template::of_deployment(&json!({})), Template::default());
    }

    #[test]
    fn creates_wait_for_the_pulls_and_deletes_are_cleanup() {
        let nodes = vec!["node-00".to_string(), "node-01".to_string()];
        let w = writes("rook-ceph", &nodes, "img:1", &Template::default(), Duration::from_secs(60));
        assert_eq!(w.len(), 4);
        assert!(w[..2].iter().all(|w| w.step == 1 && w.wait_ready && !w.cleanup && w.patch_type == PatchType::Create));
        assert!(w[2..].iter().all(|w| w.step == 2 && w.cleanup && w.patch_type == PatchType::Delete));
        assert_eq!(w[0].object, w[2].object, "each delete undoes its own create");
        // the create is judged by the object: ours, on the node, the image, not going away
        let mut pod = w[0].patch.clone();
        assert!(w[0].expect.holds(&pod));
        pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
        assert!(!w[0].expect.holds(&pod), "a pod being deleted is not the one we need");
        pod = w[0].patch.clone();
        pod["spec"]["containers"][0]["image"] = "img:0".into();
        assert!(!w[0].expect.holds(&pod), "a leftover for another image");
        // the delete: done when no pod of ours is left by that name
        let theirs = json!({"metadata": {"name": "ceph-image-prepull-node-00", "labels": {}}});
        assert!(w[2].expect.holds(&theirs), "someone else's pod is never deleted");
        assert!(!w[2].expect.holds(&w[0].patch));
        let e = expected(&w.iter().collect::<Vec<_>>());
        assert_eq!(e.len(), 2);
        assert_eq!(
            (e[1].pod.as_str(), e[1].node.as_str(), e[1].image.as_str()),
            ("ceph-image-prepull-node-01", "node-01", "img:1")
        );
    }

    fn pod(status: Value) -> Value {
        json!({"metadata": {"name": "p"}, "status": status})
    }

    #[test]
    fn a_pod_shows_pulled_waiting_or_failed() {
        assert_eq!(judge(&pod(json!({"phase": "Succeeded"}))), Pull::Pulled);
        assert_eq!(judge(&pod(json!({"phase": "Running"}))), Pull::Pulled);
        let waiting = |reason: &str, message: &str| {
            pod(
                json!({"phase": "Pending", "containerStatuses": [{"imageID": "", "state": {"waiting": {"reason": reason, "message": message}}}]}),
            )
        };
        assert_eq!(judge(&waiting("ContainerCreating", "")), Pull::Waiting("ContainerCreating".into()));
        assert_eq!(
            judge(&waiting("ErrImagePull", "failed to pull and unpack image \"x\": not found")),
            Pull::Failed("ErrImagePull: failed to pull and unpack image \"x\": not found".into())
        );
        assert!(matches!(judge(&waiting("ImagePullBackOff", "Back-off")), Pull::Failed(_)));
        assert_eq!(judge(&waiting("CreateContainerConfigError", "no secret")), Pull::Pulled, "comes after the pull");
        // a container that ran and failed ran the image
        let ended = pod(
            json!({"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
        );
        assert_eq!(judge(&ended), Pull::Pulled);
        let deadline = pod(
            json!({"phase": "Failed", "reason": "DeadlineExceeded", "message": "Pod was active on the node longer than the specified deadline"}),
        );
        assert!(matches!(judge(&deadline), Pull::Failed(m) if m.starts_with("DeadlineExceeded: Pod was active")));
        let unscheduled = pod(json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "node \"n\" not found"}]}));
        assert!(
            matches!(judge(&unscheduled), Pull::Waiting(m) if m.contains("Unschedulable") && m.contains("not found"))
        );
        assert_eq!(judge(&pod(json!({}))), Pull::Waiting("Pending".into()));
    }
}
