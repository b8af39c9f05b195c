//! The stable shapes scripts rely on (`status -o json`, a plan) and the text people read,
//! pinned by snapshots. The simulated cluster is deterministic: same names every run.

mod common;

use common::*;
use rook_sim::Crd;

#[test]
fn status_json_shape() {
    let sim = sim_with(Crd::Proposed, 3);
    let r = run(&sim, &["status", "-o", "json"]).ok();
    // When Rook last checked, and so the age, differ on every run: their shape is pinned.
    let v = r.json();
    assert!(v["healthChecked"].as_str().is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok()), "{v}");
    assert!(v["healthAgeSeconds"].as_i64().is_some_and(|a| a < 300), "{v}");
    // Ceph's own answer (or why there is none) changes with what the simulated Ceph
    // answers: its keys are pinned here, its content left out of the snapshot.
    let keys: Vec<&str> = v["ceph"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["asked", "checks", "error", "health", "pod", "reason", "versions"], "{v}");
    let mut in_ceph = false;
    let pinned: Vec<String> = r
        .stdout
        .lines()
        .filter_map(|l| match l.trim_start() {
            _ if l == "  \"ceph\": {" => {
                in_ceph = true;
                Some("  \"ceph\": \"[keys pinned above]\"".to_string())
            }
            _ if in_ceph => {
                in_ceph = !(l == "  }" || l == "  },");
                None
            }
            t if t.starts_with("\"healthChecked\":") => Some(l.replace(&t[17..], "\"[RFC 3339]\",")),
            t if t.starts_with("\"healthAgeSeconds\":") => Some(l.replace(&t[20..], "\"[seconds]\",")),
            _ => Some(l.to_string()),
        })
        .collect();
    insta::assert_snapshot!("status_json", pinned.join("\n") + "\n");
}

#[test]
fn status_yaml_parses_to_the_same_document() {
    let sim = sim_with(Crd::Proposed, 3);
    let json = run(&sim, &["status", "-o", "json"]).ok().json();
    let yaml = run(&sim, &["status", "-o", "yaml"]).ok().stdout;
    let from_yaml: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(from_yaml, json);
}

#[test]
fn plan_json_shape() {
    let sim = sim_with(Crd::Proposed, 3);
    let r = run(&sim, &["set", "mgr", "quay.io/ceph/ceph:v20.2.5", "--dry-run", "-o", "json"]).ok();
    insta::assert_snapshot!("plan_json", r.stdout);
}

#[test]
fn plan_text() {
    let sim = sim_with(Crd::Proposed, 3);
    run(&sim, &["pause", "osd.1", "--yes"]).ok();
    let r = run(&sim, &["set", "base", "quay.io/ceph/ceph:v20.2.5", "--dry-run"]).ok();
    insta::assert_snapshot!("plan_text", r.stdout);
}

#[test]
fn status_text() {
    let sim = sim_with(Crd::Proposed, 3);
    run(&sim, &["pause", "mon.b", "--yes"]).ok();
    let r = run(&sim, &["status"]).ok();
    // the operator pod's name carries its ReplicaSet's and its own random suffix
    let pod = r.stdout.split("rook-ceph/rook-ceph-operator-").nth(1).and_then(|t| t.split(')').next()).unwrap_or("");
    let stdout = if pod.is_empty() { r.stdout.clone() } else { r.stdout.replace(pod, "POD") };
    insta::assert_snapshot!("status_text", stdout);
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let sim = sim_with(Crd::Proposed, 3);
    let plain = run(&sim, &["status"]).ok();
    assert!(!plain.stdout.contains('\u{1b}'), "no colour when stdout is not a terminal");
    let forced = run(&sim, &["status", "--color", "always"]).ok();
    assert!(forced.stdout.contains("\u{1b}["), "--color always colours");
    let out = plugin(&sim).args(["status", "--color", "always"]).env("NO_COLOR", "1").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("\u{1b}["), "--color always wins over NO_COLOR");
    // errors too: --color always colours them through a pipe, as its help says
    let bad = run(&sim, &["set", "mrg", "x:1", "--color", "always"]);
    assert!(bad.stderr.starts_with("\u{1b}["), "{:?}", bad.stderr);
    assert!(!run(&sim, &["set", "mrg", "x:1"]).stderr.contains('\u{1b}'));
}

/// Every header of a text table starts its column: each data row has a cell starting
/// exactly there (a space before it), so no header sits over two columns or none.
fn assert_headers_match_columns(table: &[&str]) {
    let header = table[0];
    let starts: Vec<usize> = header
        .char_indices()
        .filter(|(i, c)| *c != ' ' && (*i == 0 || header[..*i].ends_with("  ")))
        .map(|(i, _)| i)
        .collect();
    for row in &table[1..] {
        let cells: Vec<usize> = row
            .char_indices()
            .filter(|(i, c)| *c != ' ' && (*i == 0 || row[..*i].ends_with("  ")))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(cells, starts, "columns of {row:?} do not start under the headers of {header:?}");
    }
}

#[test]
fn status_headers_match_columns_and_totals_come_last() {
    let sim = sim_with(Crd::Proposed, 3);
    run(&sim, &["pause", "mon.b", "--yes"]).ok();
    let out = run(&sim, &["status"]).ok().stdout;
    let lines: Vec<&str> = out.lines().collect();
    let at = lines.iter().position(|l| l.starts_with("TYPE ")).expect("the type table");
    let end = lines[at..].iter().position(|l| l.is_empty()).map_or(lines.len(), |e| at + e);
    assert_headers_match_columns(&lines[at..end]);
    assert!(lines.last().unwrap().starts_with("Total: 20 daemon(s)"), "{out}");
}

#[test]
fn plan_of_2000_osds_is_summarised_with_totals_last() {
    let sim = sim_with(Crd::Proposed, 2000);
    run(&sim, &["pause", "osd", "--node", "node-007", "--yes"]).ok();
    let r = run(&sim, &["set", "base", "quay.io/ceph/ceph:v20.2.5", "--dry-run"]).ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines.len() < 80, "{} lines: {}", lines.len(), r.stdout);
    assert!(lines.last().unwrap().starts_with("Total: "), "totals last: {}", r.stdout);
    insta::assert_snapshot!("plan_2000_osds_text", r.stdout);
    // every pod with -o wide, and in JSON
    let wide = run(&sim, &["set", "base", "quay.io/ceph/ceph:v20.2.5", "--dry-run", "-o", "wide"]).ok().stdout;
    assert!(wide.lines().filter(|l| l.contains("rook-ceph-osd-")).count() >= 1988, "every OSD pod listed");
    assert!(wide.lines().last().unwrap().starts_with("Total: "));
    let json = run(&sim, &["set", "base", "quay.io/ceph/ceph:v20.2.5", "--dry-run", "-o", "json"]).ok().json();
    assert_eq!(json["plan"]["daemons"].as_array().unwrap().iter().filter(|d| d["type"] == "osd").count(), 2000);
}

#[test]
fn pause_cluster_is_short() {
    let sim = sim_with(Crd::Proposed, 2000);
    let r = run(&sim, &["pause", "cluster", "--dry-run"]).ok();
    assert!(r.stdout.lines().count() < 40, "{}", r.stdout);
    insta::assert_snapshot!("pause_cluster_text", r.stdout);
}

#[test]
fn flags_apply_only_where_they_mean_something() {
    let sim = sim_with(Crd::Proposed, 3);
    for args in [&["status", "--dry-run"][..], &["status", "--yes"], &["status", "--wait"]] {
        let r = run(&sim, args);
        assert_eq!(r.code, 2, "{args:?} accepted: {}", r.stdout);
    }
    let help = run(&sim, &["status", "--help"]).ok().stdout;
    assert!(!help.contains("--dry-run") && !help.contains("--yes") && !help.contains("--wait"), "{help}");
    // truly global flags still go before the subcommand, as with kubectl
    run(&sim, &["-n", "rook-ceph", "-o", "wide", "status"]).ok();
    // kubectl's -v=N and --v=N
    let r = run(&sim, &["-v=6", "status"]).ok();
    assert!(r.stderr.contains("GET /apis/ceph.rook.io/v1/namespaces/rook-ceph/cephclusters"), "{}", r.stderr);
    let r = run(&sim, &["status", "--v=2"]).ok();
    assert!(r.stderr.contains(" 200 ") && !r.stderr.contains("bytes"), "{}", r.stderr);
    let r = run(&sim, &["--v=8", "status"]).ok();
    assert!(r.stderr.contains(" 200 (") && r.stderr.contains(" bytes) "), "-v=8 adds the answer's size: {}", r.stderr);
    assert!(!r.stderr.to_lowercase().contains("bearer"), "never a credential");
    // nothing on stderr (the simulated Ceph answers in the operator pod)
    let quiet = run(&sim, &["status"]).ok().stderr;
    assert!(quiet.is_empty(), "{quiet}");
    // a mistyped subcommand gets a suggestion
    let r = run(&sim, &["stauts"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("status"), "{}", r.stderr);
}
