//! The plan's writes, in the order that cannot break it (DESIGN §3): pure, no I/O.
//!
//! 1. holds: do-not-reconcile labels added, verified before anything restarts;
//! 2. the CephCluster: one merge patch of the changed fields (or its label), with its
//!    resourceVersion as precondition; it starts Rook's rollout;
//! 3. fences: one strategic merge patch per Deployment, step by step in the plan's order,
//!    waiting for each step's pods before the next;
//! 4. releases: labels removed, fences removed;
//! 5. `--reconcile-now`: the CephCluster-level label added, then removed (the removal is a
//!    cleanup write: sent even after an interrupt, so it is never left behind unsaid).

use serde_json::{Value, json};

use crate::cluster::write;
use crate::execute::{Expect, Object, PatchType, Write};
use crate::model::{DNR_LABEL, Snapshot};
use crate::plan::{Action, Change, Plan};

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
        patch: write::label_patch(add, fenced),
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
        if let Some(b) = write::cluster_patch(ch, &c.resource_version) {
            combine(&mut spec, b);
        }
    }
    let fields: Vec<(String, Option<String>)> = changes.iter().filter_map(crate::plan::spec_field).collect();
    if !fields.is_empty() && !fields.iter().all(|(p, v)| crate::plan::spec_value(snap, p) == v.as_deref()) {
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
                if c.held != add {
                    let mut w = cluster_label(&c.name, add, SPEC, false);
                    w.patch["metadata"]["resourceVersion"] = c.resource_version.clone().into();
                    w.preconditioned = true;
                    out.push(w);
                }
            }
            Change::Pause(names) => {
                for d in snap.daemons.iter().filter(|d| names.contains(&d.deployment) && !d.labelled) {
                    out.push(label_write(&d.deployment, true, false, HOLD));
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
                        patch: write::fence_patch(d, image, now),
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
