//! The README tells the truth about what the code emits: every warning code the planner and
//! `status` can emit has a row in its table of warning codes (and no row names a code that
//! does not exist), and every field of `status -o json` is in its table of fields.

mod common;

use std::collections::BTreeSet;

use common::*;
use kubectl_ceph_image::plan::WARNING_CODES;
use rook_sim::Crd;
use serde_json::Value;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The rows of the Markdown table that follows `heading`: first cells, and whole rows.
fn table_after(text: &str, heading: &str) -> Vec<(String, String)> {
    let at = text.find(heading).unwrap_or_else(|| panic!("the README has no {heading:?}"));
    text[at..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| (l.split('|').nth(1).unwrap_or("").trim().to_string(), l.to_string()))
        .collect()
}

#[test]
fn the_readme_lists_every_warning_code_and_only_those() {
    let text = readme();
    let rows = table_after(&text, "### Warning codes");
    let documented: BTreeSet<String> = rows.iter().map(|(c, _)| c.trim_matches('`').to_string()).collect();
    let codes: BTreeSet<String> = WARNING_CODES.iter().map(|c| c.to_string()).collect();
    let missing: Vec<&String> = codes.difference(&documented).collect();
    assert!(missing.is_empty(), "warning codes the README's table lacks: {missing:?}");
    let unknown: Vec<&String> = documented.difference(&codes).collect();
    assert!(unknown.is_empty(), "the README documents codes nothing emits: {unknown:?}");
    for (code, row) in &rows {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert!(cells.len() >= 5 && cells[2..5].iter().all(|c| !c.is_empty()), "{code}: from, meaning, remedy: {row}");
    }
}

/// Every field path of a JSON document: `types[].desiredImage`, `held[].reason`; maps whose
/// keys are data (`imageOverrides`, `cephVersions`, `ceph.versions`) are one field.
fn paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    // `versions`: `ceph.versions`, keyed by daemon type as `cephVersions` is
    const DATA_KEYED: [&str; 3] = ["imageOverrides", "cephVersions", "versions"];
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                if DATA_KEYED.contains(&k.as_str()) {
                    out.insert(p);
                    continue;
                }
                match x {
                    Value::Array(items) => {
                        out.insert(format!("{p}[]"));
                        for i in items {
                            paths(i, &format!("{p}[]"), out);
                        }
                    }
                    Value::Object(_) => {
                        out.insert(p.clone());
                        paths(x, &p, out);
                    }
                    _ => {
                        out.insert(p);
                    }
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| paths(i, prefix, out)),
        _ => {}
    }
}

#[test]
fn the_readme_documents_every_status_json_field() {
    // held, fenced, warnings and managers not empty, so that their items' fields show
    let sim = sim(Crd::Proposed);
    run(&sim, &["pause", "osd.1", "--yes"]).ok();
    run(&sim, &["set", "mgr", "quay.io/ceph/ceph:v20.2.5", "--strategy", "fence", "--yes"]).ok();
    let status = run(&sim, &["status", "-o", "json"]).ok().json();
    let mut all = BTreeSet::new();
    paths(&status, "", &mut all);
    for must in
        ["fenced[].replacedImage", "held[].reason", "warnings[].code", "types[].running[].image", "crdImageOverrides"]
    {
        assert!(all.contains(must), "the test's cluster shows {must}: {all:?}");
    }
    let text = readme();
    let rows = table_after(&text, "Every field of `status -o json`");
    let documented = |path: &str| -> bool {
        rows.iter().any(|(first, row)| {
            first.split(',').any(|c| c.trim().trim_matches('`') == path)
                || path.rsplit_once("[].").is_some_and(|(list, field)| {
                    first.trim_matches('`') == format!("{list}[]") && row.contains(&format!("`{field}`"))
                })
        })
    };
    let missing: Vec<&String> = all.iter().filter(|p| !documented(p)).collect();
    assert!(missing.is_empty(), "status -o json fields the README's table lacks: {missing:?}");
    // and fields of lists that are empty here, from the same table
    for p in ["managers[].controller", "copies[].of", "notHandled[].reason"] {
        assert!(documented(p), "{p}");
    }
}

#[test]
fn the_readme_opens_with_what_works_on_released_rook() {
    let text = readme();
    let first = text.find("## ").unwrap();
    assert_eq!(&text[first..first + "## What works on which Rook".len()], "## What works on which Rook");
    for must in ["imageOverrides", "--strategy fence", "deploy/rbac.yaml", "kubectl krew uninstall ceph-image"] {
        assert!(text.contains(must), "{must}");
    }
}

#[test]
fn status_says_whether_the_crd_has_image_overrides() {
    let released = sim(Crd::Released);
    let text = run(&released, &["status"]).ok().stdout;
    assert!(
        text.contains("Image overrides: not in this CRD (released Rook): per-type images need --strategy fence"),
        "{text}"
    );
    assert_eq!(run(&released, &["status", "-o", "json"]).ok().json()["crdImageOverrides"], false);
    let proposed = sim(Crd::Proposed);
    let text = run(&proposed, &["status"]).ok().stdout;
    assert!(text.contains("Image overrides: the CRD has spec.cephVersion.imageOverrides"), "{text}");
    assert_eq!(run(&proposed, &["status", "-o", "json"]).ok().json()["crdImageOverrides"], true);
}
