//! The commands that read or change the OSD map and auth (src/mon/OSDMonitor.cc,
//! src/mon/AuthMonitor.cc): flags, group flags, `osd dump`, `osd tree`, `require-osd-release`,
//! `osd out|in`, `noautoscale`, `auth rotate`. Changes persist per cluster in
//! [`super::state::CephState`].

use serde_json::{Value, json};

use super::crush;
use super::ctx::{Ctx, Out, errno_out, mon_version, not_in_choices, ok, state_of};
use super::model::{self, Cluster};

/// The flags `osd set` takes (OSDMonitor's signature, Squid): `pause` sets pauserd,pausewr.
pub const SET_FLAGS: &str = "full|pause|noup|nodown|noout|noin|nobackfill|norebalance|norecover|noscrub|\
                             nodeep-scrub|notieragent|nosnaptrim|pglog_hardlimit|noautoscale";

/// Flags a new cluster's OSD map carries.
const BASE_FLAGS: [&str; 4] = ["sortbitwise", "recovery_deletes", "purged_snapdirs", "pglog_hardlimit"];

const RELEASES: [(&str, u32); 10] = [
    ("luminous", 12),
    ("mimic", 13),
    ("nautilus", 14),
    ("octopus", 15),
    ("pacific", 16),
    ("quincy", 17),
    ("reef", 18),
    ("squid", 19),
    ("tentacle", 20),
    ("umbrella", 21),
];

pub fn release_name(major: u32) -> &'static str {
    RELEASES.iter().find(|(_, m)| *m == major).map(|(n, _)| *n).unwrap_or("unknown")
}

/// `osd set|unset <flag>`: `noout is set` / `noout is unset` on stderr, exit 0; a flag not in
/// the signature fails the CLI's validation (exit 22).
pub fn set_flag(ctx: &Ctx, set: bool, flag: &str) -> Out {
    let choices = if set { SET_FLAGS.to_string() } else { SET_FLAGS.replace("|pglog_hardlimit", "") };
    if !choices.split('|').any(|f| f == flag) {
        let sig = format!("osd {} {choices}", if set { "set" } else { "unset" });
        return not_in_choices(flag, &choices, &sig);
    }
    let flags: Vec<&str> = if flag == "pause" { vec!["pauserd", "pausewr"] } else { vec![flag] };
    ctx.ceph.with(ctx.ns, |s| {
        for f in &flags {
            if set {
                s.flags.insert(f.to_string());
            } else {
                s.flags.remove(*f);
            }
        }
        s.epoch += 1;
    });
    ok(String::new(), &format!("{} is {}", flags.join(","), if set { "set" } else { "unset" }))
}

/// `osd set-group|unset-group <flags> <who>...` (flags comma-separated of noup, nodown, noin,
/// noout; who an OSD (`osd.3`), a CRUSH node or `any`/`all`): exit 0, nothing printed;
/// `unrecognized flag 'x', must be one or more of 'noup,nodown,noin,noout'` or `unable to
/// parse osd id or crush node or device class: "x". ` EINVAL.
pub fn set_group(ctx: &Ctx, set: bool, flags: &str, who: &[&str]) -> Out {
    let flags: Vec<&str> = flags.split(',').filter(|f| !f.is_empty()).collect();
    if let Some(bad) = flags.iter().find(|f| !["noup", "nodown", "noin", "noout"].contains(*f)) {
        return errno_out(22, &format!("unrecognized flag '{bad}', must be one or more of 'noup,nodown,noin,noout'"));
    }
    let tree = ctx.tree;
    let mut targets = Vec::new();
    for w in who {
        if ["any", "all", "*"].contains(w) {
            targets.extend(ctx.cluster.osds.keys().map(|o| format!("osd.{o}")));
        } else if let Some(o) =
            w.strip_prefix("osd.").unwrap_or(w).parse::<u32>().ok().filter(|o| ctx.cluster.osds.contains_key(o))
        {
            targets.push(format!("osd.{o}"));
        } else if tree.bucket_by_name(w).is_some() {
            targets.push(w.to_string());
        } else {
            return errno_out(22, &format!("unable to parse osd id or crush node or device class: \"{w}\". "));
        }
    }
    ctx.ceph.with(ctx.ns, |s| {
        for t in targets {
            let e = s.group_flags.entry(t.clone()).or_default();
            for f in &flags {
                if set {
                    e.insert(f.to_string());
                } else {
                    e.remove(*f);
                }
            }
            if e.is_empty() {
                s.group_flags.remove(&t);
            }
        }
        s.epoch += 1;
    });
    ok(String::new(), "")
}

/// `require_osd_release` now: set at first read to the lowest release the OSDs run (a cluster
/// created on it, or upgraded and finished), as a major version.
pub fn require_osd_release_now(ctx: &Ctx) -> u32 {
    let lowest = ctx.cluster.of_kind("osd").filter_map(|d| d.version.as_deref()).map(model::major).min().unwrap_or(0);
    ctx.ceph.with(ctx.ns, |s| *s.require_osd_release.get_or_insert(lowest))
}

/// `osd require-osd-release <release> [--yes-i-really-mean-it]` (OSDMonitor.cc): unknown to
/// the answering mon (`unrecognized release x`, EINVAL); the same: exit 0; EPERM when
/// `require_osd_release` is older than pacific, no OSD is up (both unless
/// --yes-i-really-mean-it), a mon runs an older release (`not all mons are squid`), an up
/// OSD does (`not all up OSDs have CEPH_FEATURE_SERVER_SQUID feature`, unless
/// --yes-i-really-mean-it), or it would go down (`require_osd_release cannot be lowered once
/// it has been set`). Success prints nothing.
pub fn require_osd_release(ctx: &Ctx, release: &str, sure: bool) -> Out {
    let mon_major = mon_version(ctx).map(|v| model::major(&v)).unwrap_or(0);
    let Some(rel) = RELEASES.iter().find(|(n, m)| *n == release && *m <= mon_major).map(|(_, m)| *m) else {
        return errno_out(22, &format!("unrecognized release {release}"));
    };
    let current = require_osd_release_now(ctx);
    if rel == current {
        return ok(String::new(), "");
    }
    if current < 16 && !sure {
        return errno_out(
            1,
            "Not advisable to continue since current 'require_osd_release' refers to a very old Ceph release. \
             Pass --yes-i-really-mean-it if you really wish to continue.",
        );
    }
    if ctx.cluster.num_up_osds() == 0 && !sure {
        return errno_out(
            1,
            "Not advisable to continue since no OSDs are up. Pass --yes-i-really-mean-it if you really wish to continue.",
        );
    }
    let older = |kind: &str, up_only: bool| {
        ctx.cluster
            .of_kind(kind)
            .filter(|d| d.up || !up_only)
            .any(|d| d.version.as_deref().is_none_or(|v| model::major(v) < rel) && d.up)
    };
    if older("mon", false) {
        return errno_out(1, &format!("not all mons are {release}"));
    }
    if older("osd", true) && !sure {
        return errno_out(1, &format!("not all up OSDs have CEPH_FEATURE_SERVER_{} feature", release.to_uppercase()));
    }
    if rel < current {
        return errno_out(1, "require_osd_release cannot be lowered once it has been set");
    }
    ctx.ceph.with(ctx.ns, |s| {
        s.require_osd_release = Some(rel);
        s.epoch += 1;
    });
    ok(String::new(), "")
}

/// `osd out|in <ids>`: `marked out osd.3. ` / `marked in osd.3. ` (stderr), exit 0; an OSD
/// already so: `osd.3 is already out. `.
pub fn out_in(ctx: &Ctx, out: bool, ids: &[&str]) -> Out {
    let mut msg = String::new();
    for id in ids {
        let Some(n) = id.strip_prefix("osd.").unwrap_or(id).parse::<u32>().ok() else {
            return errno_out(22, &format!("invalid osd id '{id}'"));
        };
        if !ctx.cluster.osds.contains_key(&n) {
            return errno_out(2, &format!("osd.{n} does not exist. "));
        }
        let changed = ctx.ceph.with(ctx.ns, |s| if out { s.out.insert(n) } else { s.out.remove(&n) });
        let word = if out { "out" } else { "in" };
        msg.push_str(&if changed {
            format!("marked {word} osd.{n}. ")
        } else {
            format!("osd.{n} is already {word}. ")
        });
    }
    ctx.ceph.with(ctx.ns, |s| s.epoch += 1);
    ok(String::new(), msg.trim_end())
}

/// `osd pool set|unset noautoscale` (Quincy+): the OSD map's `noautoscale` flag, as `osd
/// set noautoscale`. Ceph answers `noautoscale is set, all pools now have autoscale off` /
/// `noautoscale is unset, all pools now back to its previous mode`.
pub fn noautoscale(ctx: &Ctx, set: bool) -> Out {
    ctx.ceph.with(ctx.ns, |s| {
        if set {
            s.flags.insert("noautoscale".into());
        } else {
            s.flags.remove("noautoscale");
        }
        s.epoch += 1;
    });
    ok(
        String::new(),
        if set {
            "noautoscale is set, all pools now have autoscale off"
        } else {
            "noautoscale is unset, all pools now back to its previous mode"
        },
    )
}

/// `auth rotate <entity> [--key-type aes256k]`: the new key as a keyring, `[{"entity",
/// "key", "caps": {}}]` (a fake key); with aes256k the entity no longer counts for
/// AUTH_INSECURE_SERVICE_KEY_TYPE. An entity that does not exist: ENOENT.
pub fn auth_rotate(ctx: &Ctx, entity: &str, key_type: Option<&str>) -> Out {
    let known = super::health::service_entities(ctx.cluster).iter().any(|e| e == entity)
        || (entity.starts_with("client.") && entity.len() > 7);
    if !known {
        return errno_out(2, &format!("entity {entity} does not exist"));
    }
    match key_type {
        None | Some("aes") => {
            ctx.ceph.with(ctx.ns, |s| s.aes256k.remove(entity));
        }
        Some("aes256k") => {
            ctx.ceph.with(ctx.ns, |s| s.aes256k.insert(entity.to_string()));
        }
        Some(other) => return not_in_choices(other, "aes|aes256k", "auth rotate <entity> [--key-type aes|aes256k]"),
    }
    let fake = format!("SIMULATED-KEY-{:08x}", crate::server::store::fnv64(entity.as_bytes()) as u32);
    ok(format!("{}\n", json!([{"entity": entity, "key": fake, "caps": {}}])), "")
}

/// `osd dump -f json`: `{"epoch", "fsid", "flags": "noout,sortbitwise,...", "flags_set":
/// [...], "require_osd_release": "squid", "pools": [{"pool", "pool_name", "size",
/// "min_size", "pg_num", "crush_rule", "application_metadata"}...], "osds": [{"osd", "up":
/// 0|1, "in": 0|1, "state": ["exists", "up"]}...], "crush_node_flags": {NODE: [flags]},
/// "full_ratio", "backfillfull_ratio", "nearfull_ratio", ...}`.
pub fn dump(ctx: &Ctx, json_out: bool) -> Out {
    let rel = require_osd_release_now(ctx);
    let s = state_of(ctx);
    let mut flags: Vec<String> = s.flags.iter().cloned().collect();
    flags.extend(BASE_FLAGS.iter().map(|f| f.to_string()));
    flags.sort();
    flags.dedup();
    let pools: Vec<Value> = ctx
        .cluster
        .pools
        .iter()
        .map(|p| {
            json!({"pool": p.id, "pool_name": p.name, "type": 1, "size": p.size, "min_size": p.min_size,
                "crush_rule": 0, "pg_num": p.pg_num, "pg_placement_num": p.pg_num, "pg_num_target": p.pg_num,
                "pgp_num_target": p.pg_num, "pg_autoscale_mode": "on", "flags_names": "hashpspool",
                "application_metadata": {p.application.clone(): {}}})
        })
        .collect();
    let osds: Vec<Value> = ctx
        .cluster
        .osds
        .values()
        .map(|o| {
            let mut state = vec!["exists".to_string()];
            if o.up {
                state.push("up".into());
            }
            if let Some(f) = s.group_flags.get(&format!("osd.{}", o.id)) {
                state.extend(f.iter().cloned());
            }
            json!({"osd": o.id, "uuid": format!("00000000-0000-4000-8000-{:012x}", o.id), "up": o.up as u8,
                "in": o.is_in as u8, "weight": if o.is_in { 1.0 } else { 0.0 }, "primary_affinity": 1.0, "state": state})
        })
        .collect();
    let node_flags: serde_json::Map<String, Value> = s
        .group_flags
        .iter()
        .filter(|(k, _)| !k.starts_with("osd."))
        .map(|(k, v)| (k.clone(), v.iter().cloned().collect::<Vec<_>>().into()))
        .collect();
    let v = json!({"epoch": 100 + s.epoch, "fsid": fsid(ctx.ns), "flags": flags.join(","), "flags_num": flags.len(),
        "flags_set": flags, "crush_version": 10, "full_ratio": 0.95, "backfillfull_ratio": 0.9, "nearfull_ratio": 0.85,
        "cluster_snapshot": "", "pool_max": ctx.cluster.pools.len(), "max_osd": ctx.cluster.osds.keys().next_back().map_or(0, |m| m + 1),
        "require_min_compat_client": "luminous", "min_compat_client": "jewel",
        "require_osd_release": release_name(rel), "allow_crimson": false, "pools": pools, "osds": osds,
        "pg_upmap": [], "pg_upmap_items": [], "pg_temp": [], "primary_temp": [], "blocklist": {},
        "erasure_code_profiles": {}, "removed_snaps_queue": [], "new_removed_snaps": [], "new_purged_snaps": [],
        "crush_node_flags": node_flags, "device_class_flags": {}, "stretch_mode": {"stretch_mode_enabled": false}});
    if json_out {
        return Out { stdout: format!("{v}\n"), ..Default::default() };
    }
    ok(
        format!(
            "epoch {}\nfsid {}\nflags {}\nrequire_osd_release {}\n",
            v["epoch"],
            fsid(ctx.ns),
            v["flags"].as_str().unwrap_or_default(),
            release_name(rel)
        ),
        "",
    )
}

/// The cluster's fsid (Rook's pods carry it as `--fsid`): stable per namespace.
pub fn fsid(ns: &str) -> String {
    let h = crate::server::store::fnv64(ns.as_bytes());
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        (h >> 4) & 0xfff,
        h & 0xffff_ffff_ffff
    )
}

/// `osd tree -f json`: `{"nodes": [{"id", "name", "type", "type_id", "children"} for buckets,
/// {"id", "device_class", "name": "osd.N", "type": "osd", "type_id": 0, "crush_weight",
/// "depth", "exists", "status": "up"|"down", "reweight", "primary_affinity"} for OSDs], root
/// first, depth first; "stray": []}`.
pub fn tree(ctx: &Ctx, json_out: bool) -> Out {
    let t = ctx.tree;
    let names = crush::type_names();
    let mut nodes: Vec<Value> = Vec::new();
    let mut lines = vec!["ID  CLASS  WEIGHT  TYPE NAME  STATUS  REWEIGHT  PRI-AFF".to_string()];
    fn walk(id: i64, depth: usize, ctx: &Ctx, names: &[&str], nodes: &mut Vec<Value>, lines: &mut Vec<String>) {
        let t = ctx.tree;
        if id >= 0 {
            let o = &ctx.cluster.osds[&(id as u32)];
            let status = if o.up { "up" } else { "down" };
            nodes.push(
                json!({"id": id, "device_class": "hdd", "name": format!("osd.{id}"), "type": "osd", "type_id": 0,
                "crush_weight": 1.0, "depth": depth, "pool_weights": {}, "exists": 1, "status": status,
                "reweight": if o.is_in { 1.0 } else { 0.0 }, "primary_affinity": 1.0}),
            );
            lines.push(format!(
                "{id:>3}  hdd  1.00000  {}osd.{id}  {status}  {}  1.00000",
                "  ".repeat(depth),
                if o.is_in { "1.00000" } else { "0" }
            ));
            return;
        }
        let b = &t.buckets[&id];
        let weight = t.all_children(id).iter().filter(|c| **c >= 0).count();
        nodes
            .push(json!({"id": id, "name": b.name, "type": b.kind, "type_id": names.iter().position(|n| *n == b.kind),
            "children": b.children.iter().rev().collect::<Vec<_>>()}));
        lines.push(format!("{id:>3}  {weight}.00000  {}{} {}", "  ".repeat(depth), b.kind, b.name));
        let mut children = b.children.clone();
        children.sort_by_key(|c| (*c >= 0, *c));
        for c in children {
            walk(c, depth + 1, ctx, names, nodes, lines);
        }
    }
    for b in t.buckets.values().filter(|b| b.parent.is_none()) {
        walk(b.id, 0, ctx, names, &mut nodes, &mut lines);
    }
    if json_out {
        return Out { stdout: format!("{}\n", json!({"nodes": nodes, "stray": []})), ..Default::default() };
    }
    ok(lines.join("\n") + "\n", "")
}

/// The OSD ids a cluster knows, for callers that list them.
pub fn osd_ids(c: &Cluster) -> Vec<u32> {
    c.osds.keys().copied().collect()
}
