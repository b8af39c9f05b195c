//! Ceph's health checks for the simulated cluster, with Ceph's codes, severities and wording
//! (`health`, `health detail`, `status`): OSD_DOWN and OSD_<TYPE>_DOWN, OSDMAP_FLAGS, OSD_FLAGS
//! (src/osd/OSDMap.cc `check_health`), PG_AVAILABILITY and PG_DEGRADED (src/mon/PGMap.cc
//! `get_health_checks`), MON_DOWN and DAEMON_OLD_VERSION (src/mon/HealthMonitor.cc),
//! AUTH_INSECURE_SERVICE_KEY_TYPE (src/mon/AuthMonitor.cc, Ceph 19.2.6 / 20.2.4 / 21.2.0), OSD_FULL
//! where a test pins HEALTH_ERR.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::crush::{self, Mapping, Tree};
use super::model::{self, Cluster};
use super::state;

/// Ceph's `mon_health_max_detail` (50): detail lines listed per check.
const MAX_DETAIL: usize = 50;

/// The flags OSDMAP_FLAGS reports (OSDMap::check_health: full, pauserd, pausewr, noup,
/// nodown, noin, noout, nobackfill, norecover, norebalance, noscrub, nodeep-scrub,
/// notieragent, nosnaptrim).
const WARN_FLAGS: [&str; 14] = [
    "full",
    "pauserd",
    "pausewr",
    "noup",
    "nodown",
    "noin",
    "noout",
    "nobackfill",
    "norecover",
    "norebalance",
    "noscrub",
    "nodeep-scrub",
    "notieragent",
    "nosnaptrim",
];

/// One raised check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub code: String,
    /// `HEALTH_WARN` or `HEALTH_ERR`.
    pub severity: &'static str,
    pub summary: String,
    pub count: usize,
    pub detail: Vec<String>,
}

/// Everything a health computation needs besides the cluster.
pub struct Inputs<'a> {
    pub ceph: &'a state::Cluster,
    /// `mon_warn_older_version_delay` has passed since the check's clock started.
    pub old_version_due: bool,
}

/// The checks raised now, in code order (as `ceph health` lists them: a JSON object).
pub fn checks(c: &Cluster, tree: &Tree, m: &Mapping, i: &Inputs) -> Vec<Check> {
    let mut out: Vec<Check> = Vec::new();
    osd_down(c, tree, &mut out);
    flags(i.ceph, &mut out);
    pgs(c, m, &mut out);
    mon_down(c, &mut out);
    if let Some(ch) = old_version(c).filter(|_| i.old_version_due) {
        out.push(ch);
    }
    if let Some(ch) = insecure_keys(c, i.ceph) {
        out.push(ch);
    }
    if i.ceph.osd_full {
        // OSDMap::check_health's wording for one OSD past mon_osd_full_ratio
        out.push(Check {
            code: "OSD_FULL".into(),
            severity: "HEALTH_ERR",
            summary: "1 full osd(s)".into(),
            count: 1,
            detail: vec!["osd.0 is full".into()],
        });
    }
    out.sort_by(|a, b| a.code.cmp(&b.code));
    out
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn osd_down(c: &Cluster, tree: &Tree, out: &mut Vec<Check>) {
    let down: Vec<&model::Osd> = c.osds.values().filter(|o| !o.up && o.is_in).collect();
    if down.is_empty() {
        return;
    }
    // OSD_<TYPE>_DOWN: buckets every OSD of which is down, innermost type first
    let mut by_type: BTreeMap<usize, Vec<(String, String, usize)>> = BTreeMap::new();
    for b in tree.buckets.values() {
        let osds: Vec<i64> = tree.all_children(b.id).into_iter().filter(|x| *x >= 0).collect();
        if !osds.is_empty() && osds.iter().all(|o| c.osds.get(&(*o as u32)).is_none_or(|o| !o.up)) {
            let parent_loc: Vec<String> = {
                let mut l = Vec::new();
                let mut p = b.parent;
                while let Some(id) = p {
                    let pb = &tree.buckets[&id];
                    l.insert(0, format!("{}={}", pb.kind, pb.name));
                    p = pb.parent;
                }
                l
            };
            by_type.entry(model::type_id(&b.kind).unwrap_or(0)).or_default().push((
                b.name.clone(),
                parent_loc.join(","),
                osds.len(),
            ));
        }
    }
    for (t, buckets) in by_type {
        let kind = model::CRUSH_TYPES[t];
        let n_osds: usize = buckets.iter().map(|b| b.2).sum();
        out.push(Check {
            code: format!("OSD_{}_DOWN", kind.to_ascii_uppercase()),
            severity: "HEALTH_WARN",
            summary: format!(
                "{} ({}) down",
                plural(buckets.len(), kind, &format!("{kind}s")),
                plural(n_osds, "osds", "osds")
            ),
            count: buckets.len(),
            detail: buckets.iter().map(|(n, loc, k)| format!("{kind} {n} ({loc}) ({k} osds) is down")).collect(),
        });
    }
    out.push(Check {
        code: "OSD_DOWN".into(),
        severity: "HEALTH_WARN",
        summary: format!("{} down", plural(down.len(), "osds", "osds")),
        count: down.len(),
        detail: down
            .iter()
            .take(MAX_DETAIL)
            .map(|o| format!("osd.{} ({}) is down", o.id, Cluster::location_string(&o.location)))
            .collect(),
    });
}

fn flags(s: &state::Cluster, out: &mut Vec<Check>) {
    let set: Vec<&str> = WARN_FLAGS.iter().copied().filter(|f| s.flags.contains(*f)).collect();
    if !set.is_empty() {
        out.push(Check {
            code: "OSDMAP_FLAGS".into(),
            severity: "HEALTH_WARN",
            summary: format!("{} flag(s) set", set.join(",")),
            count: set.len(),
            detail: vec![],
        });
    }
    let groups: Vec<(&String, &BTreeSet<String>)> = s
        .group_flags
        .iter()
        .filter(|(_, f)| f.iter().any(|f| ["noup", "nodown", "noin", "noout"].contains(&f.as_str())))
        .collect();
    if !groups.is_empty() {
        out.push(Check {
            code: "OSD_FLAGS".into(),
            severity: "HEALTH_WARN",
            summary: format!(
                "{} OSDs or CRUSH {{nodes, device-classes}} have {{NOUP,NODOWN,NOIN,NOOUT}} flags set",
                groups.len()
            ),
            count: groups.len(),
            detail: groups
                .iter()
                .map(|(who, f)| {
                    let what = if who.starts_with("osd.") { "" } else { "crush node " };
                    format!("{what}{who} has flags {}", f.iter().cloned().collect::<Vec<_>>().join(","))
                })
                .collect(),
        });
    }
}

/// Every PG's state, by PG; for `status` and `pg stat` too.
pub fn pg_states(c: &Cluster, m: &Mapping) -> Vec<(String, &'static str, Vec<u32>)> {
    let pools: BTreeMap<u32, &model::Pool> = c.pools.iter().map(|p| (p.id, p)).collect();
    m.pgs
        .iter()
        .map(|pg| {
            let acting = crush::acting(pg, c);
            (pg.name(), crush::state(pools[&pg.pool], acting.len()), acting)
        })
        .collect()
}

fn pgs(c: &Cluster, m: &Mapping, out: &mut Vec<Check>) {
    let states = pg_states(c, m);
    let list = |v: &[u32]| v.iter().map(|o| o.to_string()).collect::<Vec<_>>().join(",");
    let inactive: Vec<_> = states.iter().filter(|(_, s, _)| !crush::is_active(s)).collect();
    if !inactive.is_empty() {
        let stale = inactive.iter().filter(|(_, s, _)| s.starts_with("stale")).count();
        let mut summary = format!("Reduced data availability: {} inactive", plural(inactive.len(), "pg", "pgs"));
        if stale > 0 {
            summary.push_str(&format!(", {} stale", plural(stale, "pg", "pgs")));
        }
        out.push(Check {
            code: "PG_AVAILABILITY".into(),
            severity: "HEALTH_WARN",
            summary,
            count: inactive.len(),
            detail: inactive
                .iter()
                .take(MAX_DETAIL)
                .map(|(n, s, a)| format!("pg {n} is {s}, acting [{}]", list(a)))
                .collect(),
        });
    }
    let degraded: Vec<_> = states.iter().filter(|(_, s, _)| s.contains("degraded")).collect();
    if !degraded.is_empty() {
        let undersized = degraded.iter().filter(|(_, s, _)| s.contains("undersized")).count();
        out.push(Check {
            code: "PG_DEGRADED".into(),
            severity: "HEALTH_WARN",
            summary: format!(
                "Degraded data redundancy: {} degraded, {} undersized",
                plural(degraded.len(), "pg", "pgs"),
                plural(undersized, "pg", "pgs")
            ),
            count: degraded.len(),
            detail: degraded
                .iter()
                .take(MAX_DETAIL)
                .map(|(n, s, a)| format!("pg {n} is {s}, acting [{}]", list(a)))
                .collect(),
        });
    }
}

fn mon_down(c: &Cluster, out: &mut Vec<Check>) {
    let mons = c.mons();
    let quorum = c.quorum();
    if quorum.len() < mons.len() {
        out.push(Check {
            code: "MON_DOWN".into(),
            severity: "HEALTH_WARN",
            summary: format!("{}/{} mons down, quorum {}", mons.len() - quorum.len(), mons.len(), quorum.join(",")),
            count: mons.len() - quorum.len(),
            detail: mons
                .iter()
                .enumerate()
                .filter(|(_, m)| !quorum.contains(m))
                .map(|(rank, m)| {
                    format!(
                        "mon.{m} (rank {rank}) addr [v2:{}:3300/0,v1:{}:6789/0] is down (out of quorum)",
                        mon_ip(rank),
                        mon_ip(rank)
                    )
                })
                .collect(),
        });
    }
}

/// A mon's address in the simulated monmap.
pub fn mon_ip(rank: usize) -> String {
    format!("10.96.0.{}", 10 + rank)
}

/// DAEMON_OLD_VERSION (HealthMonitor::check_for_older_version): the versions the daemons run,
/// the highest (in Ceph's string order) left out; WARN with one older version, ERR with two
/// or more. Daemons named `<type>.<id>`.
pub fn old_version(c: &Cluster) -> Option<Check> {
    let mut all: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in c.daemons.iter().filter(|d| ["mon", "mgr", "osd", "mds"].contains(&d.kind.as_str())) {
        if let Some(v) = &d.version {
            all.entry(model::short_version(v)).or_default().push(format!("{}.{}", d.kind, d.id));
        }
    }
    if all.len() < 2 {
        return None;
    }
    let newest = all.keys().next_back().expect("two").clone();
    all.remove(&newest);
    let daemons: usize = all.values().map(Vec::len).sum();
    let versions = all.len();
    Some(Check {
        code: "DAEMON_OLD_VERSION".into(),
        severity: if versions > 1 { "HEALTH_ERR" } else { "HEALTH_WARN" },
        summary: format!(
            "There {} running {} of ceph",
            if daemons == 1 { "is a daemon" } else { "are daemons" },
            if versions > 1 { "multiple old versions" } else { "an older version" }
        ),
        count: versions,
        detail: all
            .iter()
            .map(|(v, ds)| {
                format!(
                    "{} {} running an older version of ceph: {v}",
                    ds.join(" "),
                    if ds.len() == 1 { "is" } else { "are" }
                )
            })
            .collect(),
    })
}

/// Are the versions mixed now (the DAEMON_OLD_VERSION clock's question)?
pub fn versions_mixed(c: &Cluster) -> bool {
    let v: BTreeSet<&String> = c
        .daemons
        .iter()
        .filter(|d| ["mon", "mgr", "osd", "mds"].contains(&d.kind.as_str()))
        .filter_map(|d| d.version.as_ref())
        .collect();
    v.len() > 1
}

/// The service entities whose keys the mons check: `mon.`, `mgr.<id>`, `osd.<id>`,
/// `mds.<id>`.
pub fn service_entities(c: &Cluster) -> Vec<String> {
    let mut e = Vec::new();
    if c.of_kind("mon").next().is_some() {
        e.push("mon.".to_string());
    }
    for kind in ["mgr", "mds"] {
        e.extend(c.of_kind(kind).map(|d| format!("{kind}.{}", d.id)));
    }
    e.extend(c.osds.keys().map(|id| format!("osd.{id}")));
    e
}

/// AUTH_INSECURE_SERVICE_KEY_TYPE, HEALTH_ERR: a mon in quorum runs a release with the
/// AES256K fix and a service entity's key is still `aes`. Detail as Ceph words it (`entity
/// osd.0 using insecure key type: aes`, as Rook's auth_test.go samples it); the summary's
/// wording is the simulation's.
fn insecure_keys(c: &Cluster, s: &state::Cluster) -> Option<Check> {
    let fixed = c.of_kind("mon").any(|d| d.up && d.version.as_deref().is_some_and(model::has_aes256k));
    if !fixed || s.all_aes256k {
        return None;
    }
    let old: Vec<String> = service_entities(c).into_iter().filter(|e| !s.aes256k.contains(e)).collect();
    if old.is_empty() {
        return None;
    }
    Some(Check {
        code: "AUTH_INSECURE_SERVICE_KEY_TYPE".into(),
        severity: "HEALTH_ERR",
        summary: format!("{} using insecure key type", plural(old.len(), "service entity", "service entities")),
        count: old.len(),
        detail: old.iter().take(MAX_DETAIL).map(|e| format!("entity {e} using insecure key type: aes")).collect(),
    })
}

/// `HEALTH_OK`, `HEALTH_WARN` or `HEALTH_ERR`: the worst check.
pub fn status(checks: &[Check]) -> &'static str {
    if checks.iter().any(|c| c.severity == "HEALTH_ERR") {
        "HEALTH_ERR"
    } else if checks.is_empty() {
        "HEALTH_OK"
    } else {
        "HEALTH_WARN"
    }
}

/// `health [detail] -f json`: `{"status", "checks": {CODE: {"severity", "summary":
/// {"message", "count"}, ["detail": [{"message"}]], "muted": false}}, "mutes": []}`.
pub fn json(checks: &[Check], detail: bool) -> Value {
    let mut m = serde_json::Map::new();
    for c in checks {
        let mut v =
            json!({"severity": c.severity, "summary": {"message": c.summary, "count": c.count}, "muted": false});
        if detail {
            v["detail"] = c.detail.iter().map(|d| json!({"message": d})).collect::<Vec<_>>().into();
        }
        m.insert(c.code.clone(), v);
    }
    json!({"status": status(checks), "checks": m, "mutes": []})
}

/// `health [detail]` without a format: `HEALTH_WARN 1 osds down; noout flag(s) set`, and with
/// detail each check and its lines (`[WRN] OSD_DOWN: 1 osds down` / `    osd.3 ... is down`).
pub fn plain(checks: &[Check], detail: bool) -> String {
    let mut s = status(checks).to_string();
    if !checks.is_empty() {
        s.push(' ');
        s.push_str(&checks.iter().map(|c| c.summary.as_str()).collect::<Vec<_>>().join("; "));
    }
    s.push('\n');
    if detail {
        for c in checks {
            let sev = if c.severity == "HEALTH_ERR" { "ERR" } else { "WRN" };
            s.push_str(&format!("[{sev}] {}: {}\n", c.code, c.summary));
            for d in &c.detail {
                s.push_str(&format!("    {d}\n"));
            }
        }
    }
    s
}
