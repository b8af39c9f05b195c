//! `status` (`-s`) and `pg stat`: the summaries Rook reads (pkg/daemon/ceph/client/status.go
//! `CephStatus`: health, quorum, monmap, osdmap, pgmap with `pgs_by_state`, mgrmap, fsmap).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::ctx::{Ctx, Out, health_checks, mon_version, ok};
use super::health;
use super::osdmap::{fsid, release_name, require_osd_release_now};

/// PGs by state, most first then by name: `[{"state_name": "active+clean", "count": N}]`.
pub fn pgs_by_state(ctx: &Ctx) -> Vec<(String, usize)> {
    let mut by: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, s, _) in health::pg_states(ctx.cluster, ctx.mapping) {
        *by.entry(s).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = by.into_iter().map(|(s, n)| (s.to_string(), n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// `status -f json`: `{"fsid", "health": {"status", "checks", "mutes"}, "election_epoch",
/// "quorum": [ranks], "quorum_names", "quorum_age", "monmap": {"epoch", "min_mon_release_name",
/// "num_mons"}, "osdmap": {"epoch", "num_osds", "num_up_osds", "osd_up_since", "num_in_osds",
/// "osd_in_since", "num_remapped_pgs"}, "pgmap": {"pgs_by_state": [{"state_name", "count"}],
/// "num_pools", "num_pgs", "num_objects", "data_bytes", "bytes_used", "bytes_avail",
/// "bytes_total"}, "fsmap": {"epoch", "by_rank", "up:standby"}, "mgrmap": {"available",
/// "num_standbys", "modules", "services"}, "servicemap": {...}, "progress_events": {}}`.
pub fn status(ctx: &Ctx, json_out: bool) -> Out {
    let c = ctx.cluster;
    let checks = health_checks(ctx);
    let mons = c.mons();
    let quorum = c.quorum();
    let ranks: Vec<usize> = quorum.iter().filter_map(|q| mons.iter().position(|m| m == q)).collect();
    let by_state = pgs_by_state(ctx);
    let num_pgs: usize = by_state.iter().map(|(_, n)| n).sum();
    let mgrs: Vec<&super::model::Daemon> = c.of_kind("mgr").filter(|d| d.up).collect();
    let mut by_rank = Vec::new();
    let mut standby = 0;
    let mut fss: Vec<&str> = c.of_kind("mds").filter_map(|d| d.group.as_deref()).collect();
    fss.sort();
    fss.dedup();
    for (fscid, fs) in fss.iter().enumerate() {
        let mut up: Vec<&str> =
            c.of_kind("mds").filter(|d| d.up && d.group.as_deref() == Some(fs)).map(|d| d.id.as_str()).collect();
        up.sort();
        if let Some(a) = up.first() {
            by_rank.push(
                json!({"filesystem_id": fscid + 1, "rank": 0, "name": a, "status": "up:active", "gid": 4000 + fscid}),
            );
        }
        standby += up.len().saturating_sub(1);
    }
    let osd_count = c.osds.len();
    let epoch = 100 + ctx.ceph.with(ctx.ns, |s| s.epoch);
    let _ = require_osd_release_now(ctx);
    let v = json!({
        "fsid": fsid(ctx.ns),
        "health": health::json(&checks, false),
        "election_epoch": 10 + 2 * (mons.len() - quorum.len()),
        "quorum": ranks,
        "quorum_names": quorum,
        "quorum_age": 3600,
        "monmap": {"epoch": 3, "min_mon_release_name": mon_version(ctx)
            .map(|v| release_name(super::model::major(&v))).unwrap_or("unknown"), "num_mons": mons.len()},
        "osdmap": {"epoch": epoch, "num_osds": osd_count, "num_up_osds": c.num_up_osds(), "osd_up_since": 0,
            "num_in_osds": c.num_in_osds(), "osd_in_since": 0, "num_remapped_pgs": 0},
        "pgmap": {"pgs_by_state": by_state.iter().map(|(s, n)| json!({"state_name": s, "count": n})).collect::<Vec<_>>(),
            "num_pools": c.pools.len(), "num_pgs": num_pgs, "num_objects": 0, "data_bytes": 0, "bytes_used": 0,
            "bytes_avail": (osd_count as u64) << 40, "bytes_total": (osd_count as u64) << 40},
        "fsmap": {"epoch": 5, "btime": "", "id": 1, "up": by_rank.len(), "in": by_rank.len(), "max": by_rank.len(),
            "by_rank": by_rank, "up:standby": standby},
        "mgrmap": {"available": !mgrs.is_empty(), "num_standbys": mgrs.len().saturating_sub(1),
            "modules": ["dashboard", "iostat", "nfs", "prometheus", "restful", "rook"], "services": {}},
        "servicemap": {"epoch": 1, "modified": "", "services": {}},
        "progress_events": {},
    });
    if json_out {
        return Out { stdout: format!("{v}\n"), ..Default::default() };
    }
    let mut s = format!(
        "  cluster:\n    id:     {}\n    health: {}\n\n  services:\n    mon: {} daemons, quorum {}\n    osd: {} osds: {} up, {} in\n\n  data:\n    pools:   {} pools, {} pgs\n",
        fsid(ctx.ns),
        health::status(&checks),
        mons.len(),
        quorum.join(","),
        osd_count,
        c.num_up_osds(),
        c.num_in_osds(),
        c.pools.len(),
        num_pgs
    );
    for (st, n) in &by_state {
        s.push_str(&format!("             {n} {st}\n"));
    }
    ok(s, "")
}

/// `pg stat -f json`: `{"pg_ready": true, "num_pg_by_state": [{"name", "num"}], "num_pgs",
/// "num_bytes", "total_bytes", "total_avail_bytes", "total_used_bytes", "total_used_raw_bytes"}`.
pub fn pg_stat(ctx: &Ctx, json_out: bool) -> Out {
    let by_state = pgs_by_state(ctx);
    let num: usize = by_state.iter().map(|(_, n)| n).sum();
    let total = (ctx.cluster.osds.len() as u64) << 40;
    if json_out {
        let v: Value = json!({"pg_ready": true,
            "num_pg_by_state": by_state.iter().map(|(s, n)| json!({"name": s, "num": n})).collect::<Vec<_>>(),
            "num_pgs": num, "num_bytes": 0, "total_bytes": total, "total_avail_bytes": total, "total_used_bytes": 0,
            "total_used_raw_bytes": 0});
        return Out { stdout: format!("{v}\n"), ..Default::default() };
    }
    let states: Vec<String> = by_state.iter().map(|(s, n)| format!("{n} {s}")).collect();
    ok(format!("{num} pgs: {}; 0 B data, 0 B used\n", states.join(", ")), "")
}
