//! The staged upgrade's plan for people (`upgrade IMAGE --dry-run` and before the prompt):
//! stages with their daemons by node, gates, warnings, totals last.

use std::collections::BTreeMap;

use crate::plan::upgrade::check::Findings;
use crate::plan::upgrade::{StageKind, UpgradePlan};

/// `upgrade check`'s findings for people: blockers first, each with its fix, then the
/// warnings; the last line says whether anything blocks. Their strings are sanitised
/// where they are made (`check::check`).
pub fn check_text(f: &Findings, image: &str) -> String {
    let mut t = String::new();
    for (title, mark, list) in [("Blockers", "x", &f.blockers), ("Warnings", "!", &f.warnings)] {
        if list.is_empty() {
            continue;
        }
        t.push_str(&format!(
            "{title} ({}):
",
            list.len()
        ));
        for x in list {
            t.push_str(&format!(
                "  {mark} {}: {}
      fix: {}
",
                x.code, x.message, x.fix
            ));
        }
    }
    let image = crate::output::clean(image);
    t.push_str(&match f.blockers.len() {
        0 => format!("Nothing blocks an upgrade to {image}.\n"),
        n => format!("{n} blocker(s) stand in the way of an upgrade to {image}.\n"),
    });
    t
}

/// The plan for people: stages with their daemons by node, gates, warnings, totals last.
pub fn text(p: &UpgradePlan, wide: bool) -> String {
    use crate::output::clean;
    let head = p.check.as_ref().map(|f| check_text(f, &p.image) + "\n").unwrap_or_default();
    let mut t = head
        + &if p.types.is_empty() {
            format!(
                "Staged upgrade of CephCluster {}/{} from {} to {} (levers: {})\n",
                clean(&p.namespace),
                clean(&p.cluster),
                clean(&p.from),
                clean(&p.image),
                if p.levers == "overrides" { "holds, and imageOverrides for what cannot be held" } else { "holds" }
            )
        } else {
            let names: Vec<&str> = p.types.iter().map(|t| t.ceph_name()).collect();
            format!(
                "Staged upgrade of {} on CephCluster {}/{} to {} (--types; levers: holds, and imageOverrides.<type> set \
             to the target; the base image stays {})\n",
                names.join(", "),
                clean(&p.namespace),
                clean(&p.cluster),
                clean(&p.image),
                clean(&p.from)
            )
        };
    for (i, s) in p.stages.iter().enumerate() {
        t.push_str(&format!("\nStage {}: {}\n", i + 1, clean(&s.name)));
        if s.kind == StageKind::Prepull {
            t.push_str(&format!(
                "  pull {} on {} node(s) first, a pod per node (deleted when done): {}\n",
                clean(&p.image),
                s.nodes.len(),
                list(&s.nodes, wide)
            ));
        }
        if !s.holds.is_empty() {
            t.push_str(&format!(
                "  hold {} Deployment(s) (do-not-reconcile): {}\n",
                s.holds.len(),
                list(&s.holds, wide)
            ));
        }
        if let Some(b) = &s.base {
            t.push_str(&format!("  set spec.cephVersion.image to {}\n", clean(b)));
        }
        for (k, v) in &s.pins {
            t.push_str(&format!("  pin spec.cephVersion.imageOverrides.{k} to {} until its stage\n", clean(v)));
        }
        for (k, v) in &s.overrides {
            t.push_str(&format!("  set spec.cephVersion.imageOverrides.{k} to {}\n", clean(v)));
        }
        if !s.release.is_empty() {
            t.push_str(&format!(
                "  release {} hold(s), then start a reconcile (add and remove the CephCluster-level label)\n",
                s.release.len()
            ));
        }
        for k in &s.unpin {
            t.push_str(&format!(
                "  remove spec.cephVersion.imageOverrides.{k}{}\n",
                if s.base.is_some() { " (it names the new base image already: nothing restarts for it)" } else { "" }
            ));
        }
        let mut by_node: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for d in &s.daemons {
            let tag = match (d.early, d.starts) {
                (true, _) => format!("{} (moves early)", d.daemon),
                (_, true) => format!("{} (at 0 replicas: Rook starts it)", d.daemon),
                _ => d.daemon.clone(),
            };
            // An RGW of several instances is listed under each of its nodes.
            if d.nodes.is_empty() {
                by_node.entry(d.node.clone().unwrap_or_else(|| "?".into())).or_default().push(tag.clone());
            }
            for n in &d.nodes {
                by_node.entry(n.clone()).or_default().push(tag.clone());
            }
        }
        if !s.daemons.is_empty() {
            let pods: usize = s.daemons.iter().map(|d| d.pods.len()).sum();
            t.push_str(&format!("  restarts {} daemon(s), {pods} pod(s):\n", s.daemons.len()));
            for (node, ds) in &by_node {
                t.push_str(&format!("    {}: {}\n", clean(node), list(ds, wide)));
            }
        }
        if !s.flags.is_empty() {
            t.push_str(&format!("  flags: {}\n", clean(&s.flags.join("; "))));
        }
        for g in &s.gates {
            t.push_str(&format!("  gate: {}\n", clean(g)));
        }
    }
    if !p.excluded.is_empty() {
        t.push_str(&format!("\nExcluded ({}):\n", p.excluded.len()));
        for e in p.excluded.iter().take(if wide { usize::MAX } else { 10 }) {
            t.push_str(&format!("  {}: {}\n", clean(&e.daemon), clean(&e.reason)));
        }
        if !wide && p.excluded.len() > 10 {
            t.push_str(&format!("  ... and {} more (-o wide or -o json lists them all)\n", p.excluded.len() - 10));
        }
    }
    if !p.left.is_empty() {
        t.push_str("\nLeft where they are (not in --types):\n");
        for l in &p.left {
            let images: Vec<String> = l.images.iter().map(|i| clean(i).into_owned()).collect();
            t.push_str(&format!("  {}: {} daemon(s) on {}\n", l.dtype.ceph_name(), l.daemons, images.join(", ")));
        }
        t.push_str(&format!(
            "  `upgrade {}` without --types moves them later, and folds the overrides into the base image\n",
            clean(&p.image)
        ));
    }
    // What the check at the top already says (with its fix) is not said again.
    let said =
        |code: &str| p.check.as_ref().is_some_and(|f| f.blockers.iter().chain(&f.warnings).any(|x| x.code == code));
    let rest: Vec<_> = p.warnings.iter().filter(|w| !said(w.code)).collect();
    if !rest.is_empty() {
        t.push_str("\nWarnings:\n");
        for w in rest {
            t.push_str(&format!("  ! {}: {}\n", w.code, clean(&w.message)));
        }
    }
    let s = &p.summary;
    t.push_str(&format!(
        "\n{} stage(s) ({} OSD batch(es)); {} daemon(s) and {} pod(s) move; {} already on {}; {} excluded\n",
        s.stages,
        s.osd_batches,
        s.moving,
        s.pods,
        s.on_target,
        clean(&p.image),
        s.excluded
    ));
    t
}

fn list(v: &[String], wide: bool) -> String {
    let v: Vec<String> = v.iter().map(|s| crate::output::clean(s).into_owned()).collect();
    crate::output::some_of(&v, if wide { usize::MAX } else { 12 }, 8, " ", |n| format!(" ... (+{n} more)"))
}
