//! The writes of each stage of a staged upgrade: the holds it adds, the CephCluster's base
//! image, pins and state annotation (its resourceVersion the precondition), the holds it
//! releases, and the reconcile toggle that makes Rook look again. Pure, no I/O.

use serde::Serialize;
use serde_json::{Value, json};

use super::{Stage, StageKind, State, UpgradePlan};
use crate::model::{DNR_LABEL, Snapshot, UPGRADE_HOLD, UPGRADE_RECONCILE, UPGRADE_STATE};
use crate::plan::writes::{Expect, Object, PatchType, Write, label_patch};

pub fn write(object: Object, patch: Value, expect: Expect, step: u32, action: String) -> Write {
    Write {
        object,
        patch_type: PatchType::Merge,
        preconditioned: patch.pointer("/metadata/resourceVersion").is_some(),
        patch,
        expect,
        step,
        wait_ready: false,
        cleanup: false,
        action,
    }
}

/// The state annotation's write, with the resourceVersion the CephCluster was read at as
/// its precondition: the state is one record with one writer at a time (another
/// terminal's `upgrade pause`, `abort` or second run may write it too), so a 409 means
/// read it again and obey what is there now (`commands::upgrade::record`).
pub fn state_write(cluster: &str, st: Option<&State>, resource_version: &str) -> Write {
    let value = st.map(|s| serde_json::to_string(s).expect("state serialises"));
    let pointer = format!("/metadata/annotations/{}", UPGRADE_STATE.replace('/', "~1"));
    write(
        Object::CephCluster(cluster.to_string()),
        json!({"metadata": {"resourceVersion": resource_version, "annotations": {UPGRADE_STATE: value}}}),
        Expect::Fields { fields: vec![(pointer, value.clone())] },
        1,
        match st {
            Some(s) => format!("record the upgrade's state ({}{})", s.phase, stage_suffix(s)),
            None => "remove the upgrade's state".into(),
        },
    )
}

pub fn stage_suffix(s: &State) -> String {
    // the state is anyone's who may annotate the CephCluster: its stage is escaped
    if s.stage.is_empty() { String::new() } else { format!(", stage {}", crate::output::clean(&s.stage)) }
}

/// A stage's writes, in order: holds; the base stage's spec patch (base image, pins,
/// `--types` overrides, overrides that name the target removed); hold releases; a release
/// stage's spec patch (a pin removed, a `--types` override set), or else a reconcile
/// started (the CephCluster-level label added, then removed: a cleanup write, sent even
/// after an interrupt).
pub fn stage_writes(snap: &Snapshot, stage: &Stage, image: &str) -> Vec<Write> {
    let c = &snap.cluster;
    let mut out = Vec::new();
    for d in &stage.holds {
        let mut hold = label_patch(true, false);
        hold["metadata"]["annotations"] = json!({UPGRADE_HOLD: image});
        out.push(write(
            Object::Deployment(d.clone()),
            hold,
            Expect::Label { present: true },
            1,
            format!("add {DNR_LABEL} (upgrade hold)"),
        ));
    }
    // The stage's CephCluster spec patch: the base image, pins, overrides set to the target,
    // overrides removed, all in one merge patch (each one restarts what Rook rebuilds).
    let base = stage.base.as_deref().filter(|b| *b != c.base_image);
    let mut cv = json!({});
    let mut fields = Vec::new();
    let mut what = Vec::new();
    if let Some(b) = base {
        cv["image"] = b.into();
        fields.push(("/spec/cephVersion/image".to_string(), Some(b.to_string())));
        what.push(format!("set spec.cephVersion.image to {b}"));
    }
    let mut after: std::collections::BTreeSet<&String> = c.overrides.keys().collect();
    for (k, v, verb) in
        stage.pins.iter().map(|(k, v)| (k, v, "pin")).chain(stage.overrides.iter().map(|(k, v)| (k, v, "set")))
    {
        cv["imageOverrides"][k] = v.clone().into();
        fields.push((format!("/spec/cephVersion/imageOverrides/{k}"), Some(v.clone())));
        what.push(format!("{verb} imageOverrides.{k} to {v}"));
        after.insert(k);
    }
    for k in &stage.unpin {
        cv["imageOverrides"][k] = Value::Null;
        fields.push((format!("/spec/cephVersion/imageOverrides/{k}"), None));
        what.push(format!("remove imageOverrides.{k}"));
        after.remove(k);
    }
    // The last override goes: the field goes with it rather than stay as `{}`.
    if !stage.unpin.is_empty() && after.is_empty() {
        cv["imageOverrides"] = Value::Null;
    }
    // The base stage's patch comes after the holds it needs; a release stage's after the
    // releases, so that the reconcile it starts finds them released (the executor runs the
    // writes by step).
    let release_first = stage.kind == StageKind::Release;
    let spec_patch = (!what.is_empty()).then(|| {
        write(
            Object::CephCluster(c.name.clone()),
            json!({"metadata": {"resourceVersion": c.resource_version}, "spec": {"cephVersion": cv}}),
            Expect::Fields { fields },
            if release_first { 4 } else { 2 },
            what.join(", "),
        )
    });
    let released = spec_patch.is_some();
    if !release_first {
        out.extend(spec_patch.clone());
    }
    // A release carries the Deployment's resourceVersion: an operator's `pause` of it since
    // the read (the hold is theirs then) meets 409 and is planned again, never released.
    for d in &stage.release {
        let rv = snap.daemons.iter().find(|x| x.deployment == *d).map(|x| x.resource_version.clone());
        let mut release = label_patch(false, false);
        release["metadata"]["annotations"] = json!({UPGRADE_HOLD: null});
        if let Some(rv) = rv.filter(|r| !r.is_empty()) {
            release["metadata"]["resourceVersion"] = rv.into();
        }
        out.push(write(
            Object::Deployment(d.clone()),
            release,
            Expect::Label { present: false },
            3,
            format!("remove {DNR_LABEL} (release the upgrade hold)"),
        ));
    }
    if release_first {
        out.extend(spec_patch);
    }
    // A spec change starts a reconcile by itself; releasing holds alone does not.
    if !released && !stage.release.is_empty() {
        out.extend(reconcile_toggle(&c.name));
    }
    out
}

/// Start a reconcile: the CephCluster-level label added, then removed (a cleanup write,
/// sent even after an interrupt), each with `UPGRADE_RECONCILE` so that a kill in between
/// leaves a label known as the upgrade's.
pub fn reconcile_toggle(cluster: &str) -> Vec<Write> {
    let label = |add: bool| {
        let mut p = label_patch(add, false);
        p["metadata"]["annotations"] = json!({UPGRADE_RECONCILE: if add { Value::from("true") } else { Value::Null }});
        p
    };
    let add = write(
        Object::CephCluster(cluster.to_string()),
        label(true),
        Expect::Label { present: true },
        4,
        format!("add {DNR_LABEL} (start a reconcile)"),
    );
    // Done only when both are gone: a label removed by someone else (`resume cluster`)
    // still leaves the annotation to remove.
    let gone = |section: &str, k: &str| (format!("/metadata/{section}/{}", k.replace('/', "~1")), None);
    let mut remove = write(
        Object::CephCluster(cluster.to_string()),
        label(false),
        Expect::Fields { fields: vec![gone("labels", DNR_LABEL), gone("annotations", UPGRADE_RECONCILE)] },
        5,
        format!("remove {DNR_LABEL} (start a reconcile)"),
    );
    remove.cleanup = true;
    vec![add, remove]
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageWrites {
    pub stage: String,
    pub writes: Vec<Write>,
}

/// Every stage's writes, each planned from the CephCluster's spec as the stages before it
/// leave it (base image, pins and overrides; the holds are in the writes themselves).
/// `pulls`: the pre-pull stage's writes (`prepull::writes`), which need a read of their own.
pub fn all_writes(snap: &Snapshot, plan: &UpgradePlan, mut pulls: Vec<Write>) -> Vec<StageWrites> {
    let mut snap = snap.clone();
    let mut out = Vec::new();
    for st in &plan.stages {
        let writes = match st.kind {
            StageKind::Prepull => std::mem::take(&mut pulls),
            _ => stage_writes(&snap, st, &plan.image),
        };
        out.push(StageWrites { stage: st.name.clone(), writes });
        let c = &mut snap.cluster;
        if let Some(b) = &st.base {
            c.base_image = b.clone();
        }
        c.overrides.extend(st.pins.clone());
        c.overrides.extend(st.overrides.clone());
        for k in &st.unpin {
            c.overrides.remove(k);
        }
    }
    out
}
