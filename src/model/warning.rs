//! A warning the planner or `status` gives: a stable code (each in the README's table)
//! and a message for people.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    /// A stable identifier, one of [`WARNING_CODES`].
    pub code: &'static str,
    pub message: String,
}

/// Every warning code the planner and `status` can emit, each documented in the README's
/// table of warning codes. A unit test checks this list against every place in `src/` that
/// builds a [`Warning`]; `tests/docs.rs` checks it against the README.
pub const WARNING_CODES: &[&str] = &[
    "ahead-of-mons",
    "major-jump",
    "downgrade",
    "mixed-versions",
    "daemon-old-version",
    "aes256k-boundary",
    "tentacle-20.2.0",
    "gateways-with-osds",
    "unknown-version",
    "floating-image",
    "unsupported-release",
    "held-miss-update",
    "held-by-copy",
    "resume-pending",
    "mon-failover",
    "rgw-scope",
    "rbd-mirror-scope",
    "mds-ineffective",
    "label-ignored",
    "osd-replacement",
    "cluster-label",
    "cluster-label-unsupported",
    "drift",
    "managed-elsewhere",
    "owned",
    "external-cluster",
    "fence-misses-updates",
    "fence-rollout",
    "fence-skips-held",
    "batch-by-fallback",
    "fenced",
    "fence-revert",
    "unfence-pending",
    "duplicate-id",
    "moves-early",
    "upgrade-excludes",
    "prepull-no-node",
    "health-err",
    "health-stale",
    "starts-scaled-down",
    "upgrade-under-way",
    "rollout-paused",
    "moved-by-hand",
    "node-down",
    "rook-rollout",
    "skip-upgrade-checks",
];

#[cfg(test)]
mod warning_codes {
    use std::collections::BTreeSet;

    /// The string literal at the start of `s` (after whitespace), if there is one.
    fn literal(s: &str) -> Option<&str> {
        let s = s.trim_start().strip_prefix('"')?;
        s.find('"').map(|end| &s[..end])
    }

    /// Every code a `Warning { code: "..." }` or a `warn(warnings, "...", ..)` in the
    /// non-test code of `src/` can emit. A Warning built from a variable fails: the codes must
    /// be literals so that this list is complete.
    fn emitted() -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut files = vec![];
        let mut dirs = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    files.push(p);
                }
            }
        }
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            for (i, _) in code.match_indices("Warning {") {
                let before = &code[..i];
                if before.ends_with("struct ") {
                    continue;
                }
                let after = code[i + "Warning {".len()..].trim_start();
                if let Some(rest) = after.strip_prefix("code:") {
                    let lit = literal(rest)
                        .unwrap_or_else(|| panic!("{}: a Warning code that is not a literal", f.display()));
                    out.insert(lit.to_string());
                } else {
                    // only the planner's `warn` helper passes its code through; its calls are checked below
                    let line = before.rsplit('\n').next().unwrap_or("");
                    assert!(
                        line.contains("let warn ="),
                        "{}: a Warning built without a literal code: {line}",
                        f.display()
                    );
                }
            }
            for (i, _) in code.match_indices("warn(") {
                let before = &code[..i];
                if before.ends_with("fn ") || before.ends_with('_') || before.ends_with(|c: char| c.is_alphanumeric()) {
                    continue;
                }
                let args = &code[i + "warn(".len()..];
                let second = args.split_once(',').map(|(_, r)| r).unwrap_or("");
                let lit = literal(second).unwrap_or_else(|| panic!("{}: warn(..) without a literal code", f.display()));
                out.insert(lit.to_string());
            }
        }
        out
    }

    #[test]
    fn the_list_of_codes_is_every_code_the_code_can_emit() {
        let listed: BTreeSet<String> = super::WARNING_CODES.iter().map(|c| c.to_string()).collect();
        assert_eq!(listed.len(), super::WARNING_CODES.len(), "a code listed twice");
        let emitted = emitted();
        let missing: Vec<&String> = emitted.difference(&listed).collect();
        assert!(missing.is_empty(), "emitted but not in WARNING_CODES (and so maybe not in the README): {missing:?}");
        let stale: Vec<&String> = listed.difference(&emitted).collect();
        assert!(stale.is_empty(), "in WARNING_CODES but emitted nowhere: {stale:?}");
    }
}
