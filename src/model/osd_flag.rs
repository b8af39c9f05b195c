//! The OSD map flags the staged upgrade sets around its OSD stages and always removes
//! (issue 23 item 5), and `require-osd-release` after a major upgrade. Pure: the flag, the
//! `ceph` command that sets or unsets it, and how `ceph osd dump -f json` shows it.
//!
//! - `noout` on the CRUSH nodes of the failure domain being restarted (`ceph osd set-group
//!   noout node-01`, as Rook's own node drains do: pkg/daemon/ceph/client/osd.go
//!   `SetNoOut`): its OSDs are not marked out and no data moves while their pods restart.
//!   Where an OSD has no CRUSH node of the batch's kind, the OSD itself (`osd.12`).
//! - `noautoscale` (`ceph osd pool set noautoscale`, Quincy and later): the PG autoscaler
//!   does not split or merge placement groups during the OSD stages (cephadm's upgrade
//!   procedure pauses it too).
//!
//! `osd dump` shows them: `flags` (comma-separated, cluster-wide flags such as
//! `noautoscale`, `noout`), `crush_node_flags` (`{"node-01": ["noout"]}`) and each OSD's
//! `state` (`["exists", "up", "noout"]` for a flag set on `osd.N`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `ceph osd dump -f json` cut to the fields the flags are judged by: `flags`,
/// `require_osd_release`, `crush_node_flags` and each OSD's `osd` and `state`. Parsed
/// straight into this shape, the rest (each OSD's addresses, uuid, weights: most of a
/// 2000-OSD dump) is skipped rather than built; a fence or upgrade reads the dump after
/// every flag it sets or removes. Each field keeps its JSON as Ceph wrote it.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct OsdDump {
    #[serde(default, skip_serializing_if = "Value::is_null")]
    flags: Value,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    require_osd_release: Value,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    crush_node_flags: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    osds: Option<Vec<OsdState>>,
}

/// One OSD of `osd dump`: its id and state (`["exists", "up", "noout"]`).
#[derive(Debug, Default, Deserialize, Serialize)]
struct OsdState {
    #[serde(default)]
    osd: Value,
    #[serde(default)]
    state: Value,
}

impl OsdDump {
    /// The cut dump as JSON, in the shape `is_set`, `is_clear` and
    /// `require_osd_release_due` read (and a write's expectation judges).
    pub fn into_value(self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// One flag the upgrade set (and records in its state until it is removed).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OsdFlag {
    /// `noout` or `noautoscale`.
    pub flag: String,
    /// `noout`: the CRUSH nodes (`node-01`, `rack-a`) or OSDs (`osd.12`) it is set on,
    /// sorted; empty: the whole cluster (`osd set noout`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on: Vec<String>,
}

pub const NOOUT: &str = "noout";
pub const NOAUTOSCALE: &str = "noautoscale";
/// Not a flag but an OSD map setting written the same way, never unset: `on` holds the
/// release (`tentacle`).
pub const REQUIRE_OSD_RELEASE: &str = "require-osd-release";

impl OsdFlag {
    pub fn noautoscale() -> OsdFlag {
        OsdFlag { flag: NOAUTOSCALE.into(), on: vec![] }
    }

    /// `require-osd-release RELEASE` (`tentacle`): after every OSD runs it.
    pub fn require_osd_release(release: &str) -> OsdFlag {
        OsdFlag { flag: REQUIRE_OSD_RELEASE.into(), on: vec![release.into()] }
    }

    /// `noout` on these CRUSH nodes or OSDs (sorted, deduplicated here).
    pub fn noout(mut on: Vec<String>) -> OsdFlag {
        on.sort();
        on.dedup();
        OsdFlag { flag: NOOUT.into(), on }
    }

    /// The `ceph` arguments that set (or unset) it: `osd set-group noout node-01`, `osd
    /// pool set noautoscale`, `osd set noout`.
    pub fn args(&self, set: bool) -> Vec<String> {
        let verb = if set { "set" } else { "unset" };
        let mut a: Vec<String> = match (self.flag.as_str(), self.on.is_empty()) {
            (REQUIRE_OSD_RELEASE, _) => vec!["osd".into(), REQUIRE_OSD_RELEASE.into()],
            (NOAUTOSCALE, _) => vec!["osd".into(), "pool".into(), verb.into(), NOAUTOSCALE.into()],
            (f, true) => vec!["osd".into(), verb.into(), f.into()],
            (f, false) => vec!["osd".into(), format!("{verb}-group"), f.into()],
        };
        if self.flag != NOAUTOSCALE {
            a.extend(self.on.iter().cloned());
        }
        a
    }

    /// For people and the journal: `noout on node-01, node-02`, `noautoscale`, `noout
    /// (cluster-wide)`.
    pub fn describe(&self) -> String {
        match (self.flag.as_str(), self.on.is_empty()) {
            (REQUIRE_OSD_RELEASE, _) => format!("{REQUIRE_OSD_RELEASE} {}", self.on.join(" ")),
            (NOAUTOSCALE, _) => NOAUTOSCALE.to_string(),
            (f, true) => format!("{f} (cluster-wide)"),
            (f, false) => format!("{f} on {}", self.on.join(", ")),
        }
    }

    /// Whether `ceph osd dump -f json` shows it set everywhere it applies (`false` where
    /// the dump lacks the fields: not shown set).
    pub fn is_set(&self, dump: &Value) -> bool {
        let cluster_wide =
            |f: &str| dump.get("flags").and_then(Value::as_str).is_some_and(|s| s.split(',').any(|x| x.trim() == f));
        if self.flag == REQUIRE_OSD_RELEASE {
            return dump.get("require_osd_release").and_then(Value::as_str) == self.on.first().map(String::as_str);
        }
        if self.flag == NOAUTOSCALE || self.on.is_empty() {
            return cluster_wide(&self.flag);
        }
        self.on.iter().all(|who| self.set_on(dump, who))
    }

    /// Whether it is set on none of the places it applies: what an unset leaves.
    pub fn is_clear(&self, dump: &Value) -> bool {
        if self.flag == NOAUTOSCALE || self.on.is_empty() {
            return !self.is_set(dump);
        }
        !self.on.iter().any(|who| self.set_on(dump, who))
    }

    fn set_on(&self, dump: &Value, who: &str) -> bool {
        let has = |v: Option<&Value>| {
            v.and_then(Value::as_array).is_some_and(|a| a.iter().any(|f| f.as_str() == Some(&self.flag)))
        };
        match who.strip_prefix("osd.").and_then(|n| n.parse::<u64>().ok()) {
            Some(id) => dump
                .get("osds")
                .and_then(Value::as_array)
                .and_then(|osds| osds.iter().find(|o| o.get("osd").and_then(Value::as_u64) == Some(id)))
                .is_some_and(|o| has(o.get("state"))),
            None => has(dump.pointer("/crush_node_flags").and_then(|m| m.get(who))),
        }
    }
}

/// The CRUSH nodes of kind `kind` (`host`, `rack`, `zone`) that hold `osds`, from `ceph osd
/// tree -f json` (`nodes`: buckets with `id`, `name`, `type`, `children`; OSDs with an
/// `id` of 0 or more): one name per node; an OSD under no node of that kind (or absent from
/// the tree) is named itself (`osd.12`), so `noout` always covers every OSD about to restart.
pub fn crush_nodes_of(tree: &Value, osds: &[u32], kind: &str) -> Vec<String> {
    let nodes = tree.get("nodes").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let parent_of = |id: i64| {
        nodes.iter().find(|n| {
            n.get("children").and_then(Value::as_array).is_some_and(|c| c.iter().any(|x| x.as_i64() == Some(id)))
        })
    };
    let mut out: Vec<String> = osds
        .iter()
        .map(|&osd| {
            let mut at = i64::from(osd);
            // a CRUSH tree is shallow (osd, host, rack, zone, region, root): a cycle in a
            // garbled answer must not loop forever
            for _ in 0..16 {
                let Some(p) = parent_of(at) else { break };
                if p.get("type").and_then(Value::as_str) == Some(kind)
                    && let Some(name) = p.get("name").and_then(Value::as_str)
                {
                    return name.to_string();
                }
                match p.get("id").and_then(Value::as_i64) {
                    Some(id) => at = id,
                    None => break,
                }
            }
            format!("osd.{osd}")
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The release `require-osd-release` should name after every OSD runs `target_major`
/// (`tentacle` for 20), or None: `require_osd_release` in `ceph osd dump` is that release
/// already (or newer), or the dump does not say. Ceph's upgrade procedure sets it once all
/// OSDs run the new release; released Rook sets it only at the end of an OSD reconcile that
/// finds a single OSD version in `ceph versions` (osd/osd.go), which a staged upgrade's
/// last batch, still restarting, may not show.
pub fn require_osd_release_due(dump: &Value, target_major: u32) -> Option<&'static str> {
    let now = dump.get("require_osd_release").and_then(Value::as_str)?;
    let now_major = (12..=30).find(|m| release_of(*m) == now)?;
    (now_major < target_major && release_of(target_major) != "unknown release").then(|| release_of(target_major))
}

fn release_of(major: u32) -> &'static str {
    crate::model::image::CephVersion { major, minor: 0, patch: 0 }.release()
}

/// What a stage does with the flags (pure): `wanted` are the flags it restarts under,
/// `recorded` those the upgrade's state says it set, `dump` is `ceph osd dump -f json`.
#[derive(Debug, Default, PartialEq)]
pub struct FlagChanges {
    /// Wanted and not set now: set (recorded first).
    pub set: Vec<OsdFlag>,
    /// Recorded and not wanted by this stage: unset.
    pub unset: Vec<OsdFlag>,
    /// Wanted, set, and not recorded: someone else's, left alone (and never unset).
    pub theirs: Vec<OsdFlag>,
}

pub fn changes(wanted: &[OsdFlag], recorded: &[OsdFlag], dump: &Value) -> FlagChanges {
    let mut c = FlagChanges::default();
    for w in wanted {
        if !w.is_set(dump) {
            c.set.push(w.clone());
        } else if !recorded.contains(w) {
            c.theirs.push(w.clone());
        }
    }
    c.unset = recorded.iter().filter(|r| !wanted.contains(r)).cloned().collect();
    c
}

/// Whether every daemon of `ceph_type` in `ceph versions` (type -> version line -> count)
/// runs release `major` (`ceph version 20.2.6 (hash) tentacle (stable)`), and there is one.
pub fn all_on_major(
    versions: &std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>>,
    ceph_type: &str,
    major: u32,
) -> bool {
    let Some(lines) = versions.get(ceph_type).filter(|l| !l.is_empty()) else { return false };
    lines.keys().all(|line| {
        line.strip_prefix("ceph version ")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(crate::model::image::parse_version)
            .is_some_and(|v| v.major == major)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_and_descriptions() {
        let n = OsdFlag::noout(vec!["node-02".into(), "node-01".into(), "node-01".into()]);
        assert_eq!(n.args(true).join(" "), "osd set-group noout node-01 node-02");
        assert_eq!(n.args(false).join(" "), "osd unset-group noout node-01 node-02");
        assert_eq!(n.describe(), "noout on node-01, node-02");
        assert_eq!(OsdFlag::noautoscale().args(true).join(" "), "osd pool set noautoscale");
        assert_eq!(OsdFlag::noautoscale().args(false).join(" "), "osd pool unset noautoscale");
        assert_eq!(OsdFlag::noout(vec![]).args(true).join(" "), "osd set noout");
        let r = OsdFlag::require_osd_release("tentacle");
        assert_eq!(
            (r.args(true).join(" "), r.describe()),
            ("osd require-osd-release tentacle".into(), "require-osd-release tentacle".into())
        );
        assert!(
            r.is_set(&json!({"require_osd_release": "tentacle"}))
                && !r.is_set(&json!({"require_osd_release": "squid"}))
        );
    }

    #[test]
    fn the_dump_shows_group_osd_and_cluster_flags() {
        let dump = json!({"flags": "sortbitwise,noautoscale", "crush_node_flags": {"node-01": ["noout"]},
            "osds": [{"osd": 7, "state": ["exists", "up", "noout"]}, {"osd": 8, "state": ["exists", "up"]}]});
        assert!(OsdFlag::noautoscale().is_set(&dump));
        assert!(OsdFlag::noout(vec!["node-01".into(), "osd.7".into()]).is_set(&dump));
        let part = OsdFlag::noout(vec!["node-01".into(), "osd.8".into()]);
        assert!(!part.is_set(&dump) && !part.is_clear(&dump), "set on one of two is neither");
        assert!(OsdFlag::noout(vec!["node-02".into()]).is_clear(&dump));
        assert!(!OsdFlag::noout(vec![]).is_set(&dump), "no cluster-wide noout");
        assert!(!OsdFlag::noautoscale().is_set(&json!({})), "a dump without flags shows nothing set");
    }

    #[test]
    fn the_cut_dump_judges_as_the_whole_one() {
        let whole = json!({"epoch": 412, "fsid": "c0ffee", "flags": "sortbitwise,noautoscale",
            "require_osd_release": "squid", "crush_node_flags": {"node-01": ["noout"]},
            "pools": [{"pool": 1, "pool_name": ".mgr"}],
            "osds": [{"osd": 7, "uuid": "u7", "up": 1, "public_addrs": {"addrvec": []}, "state": ["exists", "up", "noout"]},
                     {"osd": 8, "uuid": "u8", "state": ["exists", "up"]}]});
        let cut: OsdDump = serde_json::from_value(whole.clone()).unwrap();
        let cut = cut.into_value();
        assert_eq!(cut.get("epoch"), None, "what no flag is judged by is left out: {cut}");
        assert_eq!(cut.pointer("/osds/0"), Some(&json!({"osd": 7, "state": ["exists", "up", "noout"]})));
        for f in [
            OsdFlag::noautoscale(),
            OsdFlag::noout(vec!["node-01".into(), "osd.7".into()]),
            OsdFlag::noout(vec!["osd.8".into()]),
            OsdFlag::noout(vec![]),
        ] {
            assert_eq!((f.is_set(&cut), f.is_clear(&cut)), (f.is_set(&whole), f.is_clear(&whole)), "{f:?}");
        }
        assert_eq!(require_osd_release_due(&cut, 20), Some("tentacle"));
        let empty: OsdDump = serde_json::from_value(json!({})).unwrap();
        assert_eq!(empty.into_value(), json!({}), "a dump without the fields shows nothing");
    }

    #[test]
    fn crush_nodes_of_the_batch_kind_else_the_osd_itself() {
        let tree = json!({"nodes": [
            {"id": -1, "name": "default", "type": "root", "children": [-2, -5]},
            {"id": -2, "name": "rack-a", "type": "rack", "children": [-3]},
            {"id": -3, "name": "node-01", "type": "host", "children": [0, 1]},
            {"id": -5, "name": "node-02", "type": "host", "children": [2]},
            {"id": 0, "name": "osd.0", "type": "osd"}, {"id": 1, "name": "osd.1", "type": "osd"},
            {"id": 2, "name": "osd.2", "type": "osd"}]});
        assert_eq!(crush_nodes_of(&tree, &[0, 1], "host"), vec!["node-01"]);
        assert_eq!(crush_nodes_of(&tree, &[0, 2], "rack"), vec!["osd.2", "rack-a"]);
        assert_eq!(crush_nodes_of(&tree, &[9], "host"), vec!["osd.9"], "absent from the tree");
        let cycle = json!({"nodes": [{"id": -1, "name": "a", "type": "x", "children": [-2, 0]},
            {"id": -2, "name": "b", "type": "x", "children": [-1]}]});
        assert_eq!(crush_nodes_of(&cycle, &[0], "host"), vec!["osd.0"]);
    }

    #[test]
    fn a_stage_sets_what_is_not_set_and_leaves_anothers_flag() {
        let a = OsdFlag::noout(vec!["node-01".into()]);
        let b = OsdFlag::noout(vec!["node-02".into()]);
        let dump = json!({"flags": "noautoscale", "crush_node_flags": {"node-01": ["noout"]}});
        // node-01's noout is ours from the last stage, noautoscale the operator's
        let c = changes(&[b.clone(), OsdFlag::noautoscale()], std::slice::from_ref(&a), &dump);
        assert_eq!(
            c,
            FlagChanges { set: vec![b.clone()], unset: vec![a.clone()], theirs: vec![OsdFlag::noautoscale()] }
        );
        // recorded and set: kept, nothing to do; recorded and cleared meanwhile: set again
        let (a1, b1) = (std::slice::from_ref(&a), std::slice::from_ref(&b));
        assert_eq!(changes(a1, a1, &dump), FlagChanges::default());
        assert_eq!(changes(b1, b1, &dump).set, vec![b.clone()]);
    }

    #[test]
    fn all_osds_on_a_release() {
        let v = |lines: &[&str]| {
            std::collections::BTreeMap::from([(
                "osd".to_string(),
                lines.iter().map(|l| (l.to_string(), 3u64)).collect::<std::collections::BTreeMap<_, _>>(),
            )])
        };
        let t = "ceph version 20.2.6 (abc) tentacle (stable)";
        let h = "ceph version 20.2.4-hotfix.2 (def) tentacle (stable)";
        assert!(all_on_major(&v(&[t, h]), "osd", 20));
        assert!(!all_on_major(&v(&[t, "ceph version 19.2.3 (x) squid (stable)"]), "osd", 20));
        assert!(!all_on_major(&v(&[]), "osd", 20), "no OSD reported is not all of them");
    }

    #[test]
    fn require_osd_release_only_forward() {
        assert_eq!(require_osd_release_due(&json!({"require_osd_release": "squid"}), 20), Some("tentacle"));
        assert_eq!(require_osd_release_due(&json!({"require_osd_release": "tentacle"}), 20), None);
        assert_eq!(require_osd_release_due(&json!({"require_osd_release": "tentacle"}), 19), None);
        assert_eq!(require_osd_release_due(&json!({}), 20), None);
    }
}
