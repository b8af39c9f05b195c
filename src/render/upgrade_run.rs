//! The staged upgrade's lines beside its plan (`commands::upgrade`): `upgrade status`, each
//! stage's summary as the run goes, what a stop leaves after the stage it stopped at, the
//! process that runs it, and the indented lines of what a cleanup did. The plan itself:
//! `render::upgrade`.

use crate::model::Runner;
use crate::output::clean;
use crate::plan::upgrade::writes::stage_suffix;
use crate::plan::upgrade::{Stage, StageKind, StatusDoc, UpgradePlan};

/// What a stop leaves after the stage it stopped at (the first of `plan`): "Left: 4
/// stage(s) (mgr, osd batch 2/3, ...), 17 daemon(s) not on the target, held where they are".
pub fn left_after(plan: &UpgradePlan) -> String {
    let rest = &plan.stages[plan.stages.len().min(1)..];
    if rest.is_empty() {
        return "It was the last stage".into();
    }
    format!("After it, {}", left_from(rest))
}

/// "4 stage(s) (mgr, osd batch 2/3, ...) with 17 daemon(s) still on their image, kept
/// there by the upgrade's holds and pins".
pub fn left_from(rest: &[Stage]) -> String {
    let names: Vec<String> = rest.iter().map(|s| clean(&s.name).into_owned()).collect();
    let shown = if names.len() > 6 { format!("{}, ...", names[..5].join(", ")) } else { names.join(", ") };
    let daemons: usize = rest.iter().map(|s| s.daemons.len()).sum();
    format!(
        "{} stage(s) are left ({shown}) with {daemons} daemon(s) still on their image, kept there by the upgrade's \
         holds and pins",
        rest.len()
    )
}

/// What a stage does, one line: "pull the image on 3 node(s), a pod each, hold 2, set the
/// base image, wait for 5 daemon(s)".
pub fn stage_summary(s: &Stage) -> String {
    let mut parts = Vec::new();
    if s.kind == StageKind::Prepull {
        parts.push(format!("pull the image on {} node(s), a pod each", s.nodes.len()));
    }
    if !s.holds.is_empty() {
        parts.push(format!("hold {}", s.holds.len()));
    }
    if s.base.is_some() {
        parts.push("set the base image".into());
    }
    if !s.overrides.is_empty() {
        parts.push(format!("set imageOverrides.{}", s.overrides.keys().cloned().collect::<Vec<_>>().join(", .")));
    }
    if !s.release.is_empty() {
        parts.push(format!("release {}", s.release.len()));
    }
    if !s.unpin.is_empty() {
        parts.push(format!("remove override {}", s.unpin.join(", ")));
    }
    if !s.daemons.is_empty() {
        parts.push(format!("wait for {} daemon(s)", s.daemons.len()));
    }
    parts.join(", ")
}

/// "pid 4711 on host-1 since 2026-12-07T06:00:00Z" (the state's strings are not ours:
/// cleaned).
pub fn runner_text(r: &Runner) -> String {
    format!("pid {} on {} since {}", r.pid, clean(&r.host), clean(&r.since))
}

/// "  line\n" for each.
pub fn lines(v: &[String]) -> String {
    v.iter().map(|l| format!("  {l}\n")).collect()
}

/// `upgrade status` for people: none under way, or the target, phase and stage, daemons on
/// the target, stages left, the message, the OSD flags it set, when it was last updated.
pub fn status_text(doc: &StatusDoc) -> String {
    match &doc.state {
        None => format!("No upgrade under way on CephCluster {}/{}.\n", clean(&doc.namespace), clean(&doc.cluster)),
        Some(st) => format!(
            "Upgrade of CephCluster {}/{} to {}: {}{}\n  {}/{} daemons on the target; {} stage(s) left{}{}{}\n  updated {}{}\n",
            clean(&doc.namespace),
            clean(&doc.cluster),
            clean(&st.params.image),
            clean(&st.phase),
            stage_suffix(st),
            doc.on_target,
            doc.total,
            doc.stages_left,
            doc.next_stage.as_deref().map(|n| format!("; next: {}", clean(n))).unwrap_or_default(),
            st.message.as_deref().map(|m| format!("\n  {}", clean(m))).unwrap_or_default(),
            if st.flags.is_empty() {
                String::new()
            } else {
                format!(
                    "\n  OSD flags it set: {} (removed after their stage; `upgrade resume` or `upgrade abort` removes \
                     those a stopped run left)",
                    clean(&st.flags.iter().map(|f| f.describe()).collect::<Vec<_>>().join(", "))
                )
            },
            clean(&st.updated),
            if st.phase == "running" {
                " (if the process that ran it was stopped, `upgrade resume` goes on)"
            } else {
                ""
            }
        ),
    }
}
