//! The lines `status` gives Ceph's own answer (issue 23 item 1): its health with the
//! check codes, and what `ceph versions` counts; or, where Ceph could not be asked, the
//! one line saying why and what that leaves unchecked (for stderr).

use std::fmt::Write as _;

use crate::model::ceph::CephAnswer;
use crate::output::clean;

/// Text for stdout when Ceph answered: `Ceph (asked in NS/POD): HEALTH_WARN`, a line per
/// check (`  OSD_DOWN (HEALTH_WARN): 1 osds down`), then `ceph versions` by daemon type
/// (`  mon: 3 x ceph version 20.2.4 (...)`). Empty when Ceph was not asked. `rook_health`:
/// `status.ceph.health` as Rook last copied it; where Ceph says otherwise, the line says
/// so: plans and a new upgrade's preflight read Rook's copy (refreshed about every 60 s);
/// the gates of a running fence or upgrade ask Ceph.
pub fn answer_lines(c: &CephAnswer, rook_health: Option<&str>) -> String {
    let mut out = String::new();
    if !c.asked {
        return out;
    }
    let differs = match (c.health.as_deref(), rook_health) {
        (Some(ceph), Some(rook)) if ceph != rook => format!(
            " (Rook's copy in the CephCluster status still says {}: Rook refreshes it about every 60 s; plans and \
             a new upgrade's preflight read that copy, the gates of a running fence or upgrade ask Ceph)",
            clean(rook)
        ),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "Ceph (asked in {}): {}{differs}",
        clean(c.pod.as_deref().unwrap_or("?")),
        clean(c.health.as_deref().unwrap_or("unknown"))
    );
    for hc in &c.checks {
        let _ = writeln!(out, "  {} ({}): {}", clean(&hc.code), clean(&hc.severity), clean(&hc.message));
    }
    let _ = writeln!(out, "ceph versions:");
    for (t, lines) in c.versions.iter().filter(|(t, l)| t.as_str() != "overall" && !l.is_empty()) {
        let each: Vec<String> = lines.iter().map(|(l, n)| format!("{n} x {}", clean(l))).collect();
        let _ = writeln!(out, "  {}: {}", clean(t), each.join(", "));
    }
    out
}

/// One line for stderr when Ceph could not be asked: the reason, and what is therefore
/// not checked. None when it was asked.
pub fn not_asked_line(c: &CephAnswer) -> Option<String> {
    if c.asked {
        return None;
    }
    // Asked but no usable answer (a timeout, an error exit, garbage) is not "not asked".
    let what = match c.reason.as_deref() {
        Some("timeout" | "exit" | "notJson") => "Ceph did not answer",
        _ => "Ceph not asked",
    };
    Some(format!(
        "{what}: {}. Not checked: Ceph's own health and versions (those shown are Rook's copy in the CephCluster \
         status)",
        clean(c.error.as_deref().unwrap_or("unknown reason"))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HealthCheck;

    #[test]
    fn an_answer_shows_its_checks_and_versions_a_refusal_one_line() {
        let mut c = CephAnswer {
            asked: true,
            pod: Some("rook-ceph/op".into()),
            health: Some("HEALTH_WARN".into()),
            checks: vec![HealthCheck {
                code: "OSD_DOWN".into(),
                severity: "HEALTH_WARN".into(),
                message: "1\nosds down".into(),
            }],
            ..Default::default()
        };
        c.versions.insert("osd".into(), [("ceph version 20.2.4".to_string(), 3)].into());
        c.versions.insert("overall".into(), [("ceph version 20.2.4".to_string(), 3)].into());
        assert_eq!(
            answer_lines(&c, Some("HEALTH_WARN")),
            "Ceph (asked in rook-ceph/op): HEALTH_WARN\n  OSD_DOWN (HEALTH_WARN): 1\\nosds down\nceph versions:\n  osd: 3 x ceph version 20.2.4\n"
        );
        assert!(not_asked_line(&c).is_none());
        let no = CephAnswer { error: Some("x\u{1b}[2J".into()), ..Default::default() };
        assert_eq!(answer_lines(&no, None), "");
        assert!(answer_lines(&c, Some("HEALTH_OK")).starts_with(
            "Ceph (asked in rook-ceph/op): HEALTH_WARN (Rook's copy in the CephCluster status still says HEALTH_OK"
        ));
        assert!(not_asked_line(&no).unwrap().starts_with("Ceph not asked: x\\x1b[2J. Not checked"));
    }
}
