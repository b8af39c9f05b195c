//! The plan's writes (DESIGN §3): pure, no I/O. The one place that says which field a
//! change writes and what it holds: the shape of a write (`Write`: object, exact patch,
//! precondition, how to tell it landed), the patches (`cluster_patch`, `label_patch`,
//! `fence_patch`, `unfence_patch`), the spec field a change sets (`spec_field`), and the
//! order that cannot break a plan (`build`):
//!
//! 1. holds: do-not-reconcile labels added, verified before anything restarts;
//! 2. the CephCluster: one merge patch of the changed fields (or its label), with its
//!    resourceVersion as precondition; it starts Rook's rollout;
//! 3. fences: one strategic merge patch per Deployment, step by step in the plan's order,
//!    waiting for each step's pods before the next;
//! 4. releases: labels removed, fences removed;
//! 5. `--reconcile-now`: the CephCluster-level label added, then removed (the removal is a
//!    cleanup write: sent even after an interrupt, so it is never left behind unsaid).

use serde::Serialize;
use serde_json::{Value, json};

use crate::model::{DNR_LABEL, Daemon, FENCE_AT, FENCE_IMAGE, FENCE_REPLACED, Snapshot};
use crate::plan::{Action, Change, Plan, Target};

/// What a write patches, creates or deletes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Object {
    CephCluster(String),
    Deployment(String),
    /// A pod the plugin creates and deletes itself (an upgrade's pre-pull pod, `prepull`),
    /// in the target's namespace.
    Pod(String),
    /// An OSD map flag, set or unset through the `ceph` CLI (issue 23 item 5): not a
    /// Kubernetes object; `ceph osd dump` is what it is read back from.
    OsdFlag(crate::model::osd_flag::OsdFlag),
}

impl Object {
    pub fn describe(&self) -> String {
        match self {
            Object::CephCluster(n) => format!("cephcluster.ceph.rook.io/{n}"),
            Object::Deployment(n) => format!("deployment.apps/{n}"),
            Object::Pod(n) => format!("pod/{n}"),
            Object::OsdFlag(f) => format!("ceph osd flag {}", f.describe()),
        }
    }
}

/// How to tell, from the object, that a write is applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Expect {
    /// `ceph.rook.io/do-not-reconcile` present (or absent).
    Label { present: bool },
    /// Labelled, annotated with the fence, every Ceph container on `image`.
    Fenced { image: String },
    /// Neither the label nor the fence's annotations.
    Unfenced,
    /// JSON pointers into the object and the value each must have (None: absent).
    Fields { fields: Vec<(String, Option<String>)> },
    /// No object of ours is left by that name: it is absent (a read answers 404), being
    /// deleted (`metadata.deletionTimestamp`), or does not carry all of `labels` (someone
    /// else's, which a delete never touches).
    Gone { labels: Vec<(String, String)> },
    /// `ceph osd dump` shows the flag set (`present`) or cleared everywhere it applies.
    OsdFlag { flag: crate::model::osd_flag::OsdFlag, present: bool },
}

impl Expect {
    pub fn holds(&self, obj: &Value) -> bool {
        let labels = &obj["metadata"]["labels"];
        let annotations = &obj["metadata"]["annotations"];
        match self {
            Expect::Label { present } => labels.get(DNR_LABEL).is_some() == *present,
            Expect::Fenced { image } => {
                let spec: crate::cluster::wire::PodSpec =
                    serde_json::from_value(obj["spec"]["template"]["spec"].clone()).unwrap_or_default();
                let dtype = labels.get("app").and_then(Value::as_str).and_then(crate::classify::type_of_app_label);
                labels.get(DNR_LABEL).is_some()
                    && annotations.get(FENCE_IMAGE).and_then(Value::as_str) == Some(image.as_str())
                    && crate::classify::images(&spec, Some(image), dtype).iter().all(|i| i == image)
            }
            Expect::Unfenced => labels.get(DNR_LABEL).is_none() && annotations.get(FENCE_IMAGE).is_none(),
            Expect::Fields { fields } => {
                fields.iter().all(|(p, v)| obj.pointer(p).and_then(Value::as_str) == v.as_deref())
            }
            // `obj` is `ceph osd dump -f json`
            Expect::OsdFlag { flag, present: true } => flag.is_set(obj),
            Expect::OsdFlag { flag, present: false } => flag.is_clear(obj),
            Expect::Gone { labels: ours } => {
                obj["metadata"].get("deletionTimestamp").is_some_and(|t| !t.is_null())
                    || !ours.iter().all(|(k, v)| labels.get(k).and_then(Value::as_str) == Some(v.as_str()))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PatchType {
    Merge,
    Strategic,
    /// Not a patch: a POST of `patch` as the whole new object (only `Object::Pod`).
    Create,
    /// Not a patch: a DELETE (`patch` is null; only `Object::Pod`). The object is read
    /// first: only one that does not satisfy the write's `Expect::Gone` is deleted, with
    /// its uid as the DELETE's precondition, so an object that replaced it meanwhile is not.
    Delete,
    /// Not a patch: `ceph` run with `patch`'s strings as its arguments (only
    /// `Object::OsdFlag`; idempotent, so sent again after a lost answer).
    Ceph,
}

/// One write, exactly as it is (or would be) sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Write {
    pub object: Object,
    pub patch_type: PatchType,
    pub patch: Value,
    /// The patch carries `metadata.resourceVersion`: a 409 means the object changed.
    pub preconditioned: bool,
    pub expect: Expect,
    /// Steps run in order; the writes of one step concurrently.
    pub step: u32,
    /// After this step: wait until the step's restarted pods are Running and Ready on
    /// their new image before the next (a fence restarts pods as its patch lands). On the
    /// create of a pre-pull pod: until its node has the image (`prepull::wait`).
    pub wait_ready: bool,
    /// Sent even after an interrupt or a failure: it undoes a temporary write of this run
    /// (the CephCluster-level label `--reconcile-now` adds).
    pub cleanup: bool,
    /// What it does, for people: "label", "fence to IMAGE", "set spec.cephVersion.image".
    pub action: String,
}

/// The exact merge patch for a CephCluster change (None: the change is on Deployments),
/// with `resource_version` as its precondition.
pub fn cluster_patch(change: &Change, resource_version: &str) -> Option<Value> {
    let mut body = cluster_change(change)?;
    body["metadata"]["resourceVersion"] = resource_version.into();
    Some(body)
}

/// The fields a CephCluster change sets, as a merge patch without a precondition (None:
/// the change is on Deployments). Only a dryRun=All probe is sent so (`cluster_patch` for
/// every write).
pub fn cluster_change(change: &Change) -> Option<Value> {
    let body = match change {
        Change::SetImage { target: Target::Base, image } => json!({"spec": {"cephVersion": {"image": image}}}),
        Change::SetImage { target: Target::Type(t), image } => {
            json!({"spec": {"cephVersion": {"imageOverrides": {t.key(): image}}}})
        }
        Change::Unset(t) => json!({"spec": {"cephVersion": {"imageOverrides": {t.key(): null}}}}),
        Change::PauseCluster => json!({"metadata": {"labels": {DNR_LABEL: "true"}}}),
        Change::ResumeCluster => json!({"metadata": {"labels": {DNR_LABEL: null}}}),
        Change::Pause(_) | Change::Resume(_) | Change::Fence { .. } | Change::Unfence { .. } => return None,
    };
    Some(body)
}

/// The label patch of one Deployment. Removing the label from a fenced Deployment also
/// removes the fence's annotations, so nothing claims a fence that no longer holds.
pub fn label_patch(add: bool, fenced: bool) -> Value {
    if add {
        json!({"metadata": {"labels": {DNR_LABEL: "true"}}})
    } else if fenced {
        unfence_patch()
    } else {
        json!({"metadata": {"labels": {DNR_LABEL: null}}})
    }
}

/// The fence of one Deployment (DESIGN §3.2), one strategic merge patch: the label, the
/// annotations recording the pin, and every container running Ceph (and its
/// `CONTAINER_IMAGE`) rewritten to `image`, merged by container name so the Rook-image
/// helpers stay as they are. `metadata.resourceVersion` is the precondition.
pub fn fence_patch(d: &Daemon, image: &str, now: &str) -> Value {
    let replaced = d.fence.as_ref().and_then(|f| f.replaced.clone()).or_else(|| d.image.clone()).unwrap_or_default();
    // A container on its own image on purpose (NFS Ganesha, NVMe-oF gateway) keeps it:
    // only its CONTAINER_IMAGE names the new Ceph image (FACTS §6).
    let container = |c: &crate::model::CephContainer| {
        let mut v = json!({"name": c.name});
        if c.runs_ceph {
            v["image"] = image.into();
        }
        if c.has_env {
            v["env"] = json!([{"name": "CONTAINER_IMAGE", "value": image}]);
        }
        v
    };
    let inits: Vec<Value> = d.ceph_containers.iter().filter(|c| c.init).map(container).collect();
    let mains: Vec<Value> = d.ceph_containers.iter().filter(|c| !c.init).map(container).collect();
    let mut spec = json!({});
    if !inits.is_empty() {
        spec["initContainers"] = inits.into();
    }
    if !mains.is_empty() {
        spec["containers"] = mains.into();
    }
    json!({
        "metadata": {
            "resourceVersion": d.resource_version,
            "labels": {DNR_LABEL: "true"},
            "annotations": {FENCE_IMAGE: image, FENCE_REPLACED: replaced, FENCE_AT: now},
        },
        "spec": {"template": {"spec": spec}},
    })
}

/// Remove a fence: the label and the annotations (a merge patch; nothing else changes).
pub fn unfence_patch() -> Value {
    json!({"metadata": {
        "labels": {DNR_LABEL: null},
        "annotations": {FENCE_IMAGE: null, FENCE_REPLACED: null, FENCE_AT: null},
    }})
}

/// The CephCluster spec field a change writes, as a JSON pointer, and the value it asks
/// for (None: the field is removed). None for changes that write no spec field.
pub fn spec_field(change: &Change) -> Option<(String, Option<String>)> {
    match change {
        Change::SetImage { target: Target::Base, image } => {
            Some(("/spec/cephVersion/image".to_string(), Some(image.clone())))
        }
        Change::SetImage { target: Target::Type(t), image } => {
            Some((format!("/spec/cephVersion/imageOverrides/{}", t.key()), Some(image.clone())))
        }
        Change::Unset(t) => Some((format!("/spec/cephVersion/imageOverrides/{}", t.key()), None)),
        _ => None,
    }
}

/// The value of a `spec_field` pointer in a snapshot's CephCluster (None: absent).
pub fn spec_value<'a>(snap: &'a Snapshot, pointer: &str) -> Option<&'a str> {
    let c = &snap.cluster;
    match pointer.strip_prefix("/spec/cephVersion/") {
        Some("image") => Some(c.base_image.as_str()),
        Some(p) => p.strip_prefix("imageOverrides/").and_then(|k| c.overrides.get(k)).map(String::as_str),
        None => None,
    }
}

// Phases; renumbered densely at the end.
const HOLD: u32 = 0;
const SPEC: u32 = 1;
const FENCE: u32 = 10;
const RELEASE: u32 = 1_000_000;
const RECONCILE_ADD: u32 = RELEASE + 1;
const RECONCILE_REMOVE: u32 = RELEASE + 2;

fn label_write(d: &str, add: bool, fenced: bool, step: u32) -> Write {
    Write {
        object: Object::Deployment(d.to_string()),
        patch_type: PatchType::Merge,
        patch: label_patch(add, fenced),
        preconditioned: false,
        expect: if !add && fenced { Expect::Unfenced } else { Expect::Label { present: add } },
        step,
        wait_ready: false,
        cleanup: false,
        action: match (add, fenced) {
            (true, _) => format!("add {DNR_LABEL}"),
            (false, false) => format!("remove {DNR_LABEL}"),
            (false, true) => format!("remove {DNR_LABEL} and the fence's annotations"),
        },
    }
}

/// `pause` of a daemon a staged upgrade holds: the hold becomes the operator's (the
/// upgrade's annotation goes, the label stays), so the upgrade never releases it.
fn take_over_write(d: &str) -> Write {
    let mut w = label_write(d, true, false, HOLD);
    w.patch["metadata"]["annotations"][crate::model::UPGRADE_HOLD] = Value::Null;
    w.expect = Expect::Fields {
        fields: vec![
            (format!("/metadata/labels/{}", DNR_LABEL.replace('/', "~1")), Some("true".into())),
            (format!("/metadata/annotations/{}", crate::model::UPGRADE_HOLD.replace('/', "~1")), None),
        ],
    };
    w.action = format!("add {DNR_LABEL} (the upgrade's hold becomes yours)");
    w
}

fn cluster_label(name: &str, add: bool, step: u32, cleanup: bool) -> Write {
    Write {
        object: Object::CephCluster(name.to_string()),
        patch_type: PatchType::Merge,
        patch: json!({"metadata": {"labels": {DNR_LABEL: if add { Value::from("true") } else { Value::Null }}}}),
        preconditioned: false,
        expect: Expect::Label { present: add },
        step,
        wait_ready: false,
        cleanup,
        action: format!("{} {DNR_LABEL}", if add { "add" } else { "remove" }),
    }
}

/// The writes of the staged changes, in order. `now` stamps fences (RFC 3339).
pub fn build(snap: &Snapshot, changes: &[Change], plan: &Plan, now: &str) -> Vec<Write> {
    let c = &snap.cluster;
    let mut out = Vec::new();
    // The CephCluster: every spec change in one merge patch, resourceVersion as precondition.
    let mut spec = json!({});
    for ch in changes.iter().filter(|ch| matches!(ch, Change::SetImage { .. } | Change::Unset(_))) {
        if let Some(b) = cluster_patch(ch, &c.resource_version) {
            combine(&mut spec, b);
        }
    }
    let fields: Vec<(String, Option<String>)> = changes.iter().filter_map(spec_field).collect();
    if !fields.is_empty() && !fields.iter().all(|(p, v)| spec_value(snap, p) == v.as_deref()) {
        let action = fields
            .iter()
            .map(|(p, v)| {
                format!(
                    "set {} to {}",
                    p.trim_start_matches('/').replace('/', "."),
                    v.as_deref().unwrap_or("(removed)")
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        out.push(Write {
            object: Object::CephCluster(c.name.clone()),
            patch_type: PatchType::Merge,
            patch: spec,
            preconditioned: true,
            expect: Expect::Fields { fields },
            step: SPEC,
            wait_ready: false,
            cleanup: false,
            action,
        });
    }
    for ch in changes {
        match ch {
            Change::PauseCluster | Change::ResumeCluster => {
                let add = matches!(ch, Change::PauseCluster);
                if c.held != add || (add && c.upgrade_reconcile) {
                    let mut w = cluster_label(&c.name, add, SPEC, false);
                    w.patch["metadata"]["resourceVersion"] = c.resource_version.clone().into();
                    w.preconditioned = true;
                    // A staged upgrade's label (its annotation says so): pause makes it the
                    // operator's, resume removes both; the upgrade never touches it again.
                    if c.upgrade_reconcile {
                        w.patch["metadata"]["annotations"][crate::model::UPGRADE_RECONCILE] = Value::Null;
                        // Done only when the annotation is gone too: after a 409 the label
                        // alone (there already) does not say the label became the operator's.
                        let path = |section: &str, k: &str| format!("/metadata/{section}/{}", k.replace('/', "~1"));
                        w.expect = Expect::Fields {
                            fields: vec![
                                (path("labels", DNR_LABEL), add.then(|| "true".to_string())),
                                (path("annotations", crate::model::UPGRADE_RECONCILE), None),
                            ],
                        };
                        if add {
                            w.action = format!("add {DNR_LABEL} (the upgrade's cluster label becomes yours)");
                        }
                    }
                    out.push(w);
                }
            }
            Change::Pause(names) => {
                for d in snap.daemons.iter().filter(|d| names.contains(&d.deployment)) {
                    if !d.labelled {
                        out.push(label_write(&d.deployment, true, false, HOLD));
                    } else if d.upgrade_hold.is_some() {
                        out.push(take_over_write(&d.deployment));
                    }
                }
            }
            // An OSD under replacement keeps the label Rook set (FACTS §2).
            Change::Resume(names) => {
                for d in
                    snap.daemons.iter().filter(|d| names.contains(&d.deployment) && d.labelled && !d.under_replacement)
                {
                    let mut w = label_write(&d.deployment, false, d.fence.is_some(), RELEASE);
                    // A hold an aborted upgrade left: its annotation goes with the label.
                    if d.upgrade_hold.is_some() {
                        w.patch["metadata"]["annotations"][crate::model::UPGRADE_HOLD] = serde_json::Value::Null;
                    }
                    out.push(w);
                }
            }
            Change::Fence { dtype, image, .. } => {
                // The same daemons the plan fences: never one the operator holds (FACTS §2, §6).
                for d in crate::plan::fence_targets(snap, *dtype).filter(|d| !d.fenced_to(image)) {
                    let p = plan.daemons.iter().find(|p| p.deployment == d.deployment);
                    let restarts = p.is_some_and(|p| p.action == Action::Restart);
                    out.push(Write {
                        object: Object::Deployment(d.deployment.clone()),
                        patch_type: PatchType::Strategic,
                        patch: fence_patch(d, image, now),
                        preconditioned: true,
                        expect: Expect::Fenced { image: image.clone() },
                        step: FENCE + p.and_then(|p| p.step).unwrap_or(0),
                        wait_ready: restarts,
                        cleanup: false,
                        action: format!("fence to {image}"),
                    });
                }
            }
            Change::Unfence { dtype, reconcile_now } => {
                let targets: Vec<&str> = snap
                    .daemons
                    .iter()
                    .filter(|d| d.id.dtype == *dtype && d.fence.is_some() && !d.under_replacement)
                    .map(|d| d.deployment.as_str())
                    .collect();
                for d in &targets {
                    out.push(label_write(d, false, true, RELEASE));
                }
                let stale = targets.is_empty() && !crate::plan::unfenced_stale(snap, *dtype).is_empty();
                if *reconcile_now && (!targets.is_empty() || stale) {
                    out.push(cluster_label(&c.name, true, RECONCILE_ADD, false));
                    out.push(cluster_label(&c.name, false, RECONCILE_REMOVE, true));
                }
            }
            Change::SetImage { .. } | Change::Unset(_) => {}
        }
    }
    // Steps numbered 1.. in order, for people and the JSON.
    let mut steps: Vec<u32> = out.iter().map(|w| w.step).collect();
    steps.sort_unstable();
    steps.dedup();
    for w in &mut out {
        w.step = steps.iter().position(|s| *s == w.step).unwrap_or(0) as u32 + 1;
    }
    out.sort_by_key(|w| w.step);
    out
}

/// Two merge patches as one: objects merged key by key, and a `null` kept (it removes the
/// field on the server). `json_patch::merge` would apply the null here instead.
fn combine(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => combine(slot, v),
                    _ => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// A fence's writes with `noout` around each step that restarts OSDs (issue 23 item 5):
/// the flag set on exactly those OSDs (`osd.N`, from `osds`: Deployment name -> OSD id) in
/// a step of its own before theirs, and unset in a cleanup step after it (sent after an
/// interrupt or a failed gate too, once the set may have landed). Steps renumbered 1.. .
pub fn with_noout(writes: Vec<Write>, osds: &std::collections::BTreeMap<String, u32>) -> Vec<Write> {
    let mut out = Vec::new();
    let mut steps: Vec<u32> = writes.iter().map(|w| w.step).collect();
    steps.sort_unstable();
    steps.dedup();
    for step in steps {
        let of_step: Vec<&Write> = writes.iter().filter(|w| w.step == step).collect();
        let ids: Vec<String> = of_step
            .iter()
            .filter(|w| w.wait_ready)
            .filter_map(|w| match &w.object {
                Object::Deployment(n) => osds.get(n).map(|id| format!("osd.{id}")),
                _ => None,
            })
            .collect();
        let flag = (!ids.is_empty()).then(|| crate::model::osd_flag::OsdFlag::noout(ids));
        if let Some(f) = &flag {
            out.push(osd_flag_write(f, true, 3 * step));
        }
        out.extend(of_step.into_iter().cloned().map(|mut w| {
            w.step = 3 * step + 1;
            w
        }));
        if let Some(f) = &flag {
            out.push(osd_flag_write(f, false, 3 * step + 2));
        }
    }
    let mut steps: Vec<u32> = out.iter().map(|w| w.step).collect();
    steps.sort_unstable();
    steps.dedup();
    for w in &mut out {
        w.step = steps.iter().position(|s| *s == w.step).unwrap_or(0) as u32 + 1;
    }
    out
}

/// The write that sets (or, a cleanup, unsets) `flag` through `ceph`, in `step`.
pub fn osd_flag_write(flag: &crate::model::osd_flag::OsdFlag, set: bool, step: u32) -> Write {
    Write {
        object: Object::OsdFlag(flag.clone()),
        patch_type: PatchType::Ceph,
        patch: Value::from(flag.args(set)),
        preconditioned: false,
        expect: Expect::OsdFlag { flag: flag.clone(), present: set },
        step,
        wait_ready: false,
        cleanup: !set,
        action: if set { "set".into() } else { "unset".into() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_patches_keep_their_nulls() {
        let mut p = json!({});
        combine(&mut p, json!({"spec": {"cephVersion": {"imageOverrides": {"mgr": null}}}}));
        combine(&mut p, json!({"spec": {"cephVersion": {"image": "ceph:2"}}, "metadata": {"resourceVersion": "7"}}));
        assert_eq!(
            p,
            json!({"spec": {"cephVersion": {"imageOverrides": {"mgr": null}, "image": "ceph:2"}}, "metadata": {"resourceVersion": "7"}})
        );
    }
}
