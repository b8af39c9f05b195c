//! The `ceph` CLI's commands on the simulated cluster: arguments as the CLI takes them, answers
//! with Ceph's JSON shapes, its stderr wording and its exit codes (the errno of the error:
//! EINVAL 22, EBUSY 16, EPERM 1, ENOENT 2). The CLI (src/ceph.in) prints a command's output to
//! stdout and its status line to stderr, as `Error <ERRNO>: <text>` when it failed.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::crush;
use super::ctx::{Ctx, Errno, Out, health_checks, mon_version};
use super::health;

/// The arguments: the command's words and the options the CLI takes anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    pub words: Vec<String>,
    /// `-f json`, `--format=json-pretty`...; None: plain.
    pub format: Option<String>,
    pub max: Option<String>,
    pub yes: bool,
    pub key_type: Option<String>,
    /// `--conf=/var/lib/rook/<ns>/<ns>.config` (kubectl-rook-ceph), `--cluster`.
    pub conf: Option<String>,
    /// `--connect-timeout` (seconds), when given.
    pub connect_timeout: Option<String>,
}

/// Split argv (without `ceph`): `--connect-timeout=N`, `--conf`/`-c`, `--keyring`/`-k`,
/// `--name`/`-n`, `--id`/`-i`, `--cluster`, `--format`/`-f`, `--max`, `--key-type` (with `=`
/// or a separate value), `--yes-i-really-mean-it`, `--force`, `-s` (status) are taken
/// anywhere; everything else is a word of the command.
pub fn parse(argv: &[String]) -> Args {
    let mut a = Args::default();
    let mut it = argv.iter().peekable();
    while let Some(arg) = it.next() {
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) if k.starts_with('-') => (k, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let valued = [
            "--connect-timeout",
            "--conf",
            "-c",
            "--keyring",
            "-k",
            "--name",
            "-n",
            "--id",
            "-i",
            "--user",
            "--cluster",
            "--format",
            "-f",
            "--max",
            "--key-type",
        ];
        if valued.contains(&key) {
            let v = inline.or_else(|| it.next().cloned()).unwrap_or_default();
            match key {
                "--format" | "-f" => a.format = Some(v),
                "--max" => a.max = Some(v),
                "--key-type" => a.key_type = Some(v),
                "--conf" | "-c" => a.conf = Some(v),
                "--connect-timeout" => a.connect_timeout = Some(v),
                "--cluster" => a.conf = a.conf.take().or(Some(format!("/var/lib/rook/{v}/{v}.config"))),
                _ => {}
            }
        } else if let Some(f) = key.strip_prefix("-f").filter(|f| !f.is_empty() && !key.starts_with("--")) {
            a.format = Some(f.to_string());
        } else if key == "--yes-i-really-mean-it" || key == "--force" {
            a.yes = true;
        } else if key == "-s" || key == "--status" {
            a.words.push("status".into());
        } else {
            a.words.push(arg.clone());
        }
    }
    a
}

/// The cluster namespace a `--conf` path names (`/var/lib/rook/<ns>/<ns>.config`).
pub fn conf_namespace(conf: &str) -> Option<&str> {
    let rest = conf.strip_prefix("/var/lib/rook/")?;
    rest.split('/').next().filter(|s| !s.is_empty())
}

/// The signatures listed when no command matches (src/mon/MonCommands.h,
/// src/mgr/MgrCommands.h), for `no valid command found`.
const SIGNATURES: [&str; 20] = [
    "status",
    "health [<detail:detail>]",
    "versions",
    "version",
    "osd ok-to-stop <ids:osd_id>... [--max <int>]",
    "mon ok-to-stop <ids>...",
    "mds ok-to-stop <ids>...",
    "osd set full|pause|noup|nodown|noout|noin|nobackfill|norebalance|norecover|noscrub|nodeep-scrub|notieragent|nosnaptrim|pglog_hardlimit|noautoscale [--yes-i-really-mean-it]",
    "osd unset full|pause|noup|nodown|noout|noin|nobackfill|norebalance|norecover|noscrub|nodeep-scrub|notieragent|nosnaptrim|noautoscale",
    "osd set-group <flags> <who>...",
    "osd unset-group <flags> <who>...",
    "osd dump [<epoch:int>]",
    "osd tree [<epoch:int>]",
    "osd require-osd-release luminous|mimic|nautilus|octopus|pacific|quincy|reef|squid|tentacle|umbrella [--yes-i-really-mean-it]",
    "osd out <ids>...",
    "osd in <ids>...",
    "osd pool set noautoscale",
    "osd pool unset noautoscale",
    "osd pool get noautoscale",
    "pg stat",
];

/// `no valid command found; N closest matches:`, the signatures sharing the first word, and
/// `Error EINVAL: invalid command` (src/ceph.in, exit 22).
pub fn invalid(words: &[String]) -> Out {
    let first = words.first().map(String::as_str).unwrap_or_default();
    let close: Vec<&str> = SIGNATURES.iter().copied().filter(|s| s.split(' ').next() == Some(first)).take(10).collect();
    let mut stderr = format!("no valid command found; {} closest matches:\n", close.len());
    for s in close {
        stderr.push_str(s);
        stderr.push('\n');
    }
    stderr.push_str("Error EINVAL: invalid command\n");
    Out { stdout: String::new(), stderr, code: 22 }
}

/// Run one command.
pub fn run(ctx: &Ctx, a: &Args) -> Out {
    let w: Vec<&str> = a.words.iter().map(String::as_str).collect();
    let json = a.format.as_deref().is_some_and(|f| f.starts_with("json"));
    match w.as_slice() {
        ["status"] => super::status::status(ctx, json),
        ["health"] | ["health", "detail"] => {
            let checks = health_checks(ctx);
            let detail = w.len() == 2;
            if json { Out::json(&health::json(&checks, detail)) } else { Out::ok(health::plain(&checks, detail), "") }
        }
        ["versions"] => Out::json(&versions(ctx)),
        ["version"] => {
            let line = mon_version(ctx).map(|v| (ctx.version_line)(&v)).unwrap_or_default();
            if json { Out::json(&json!({"version": line})) } else { Out::ok(format!("{line}\n"), "") }
        }
        ["osd", "ok-to-stop", ids @ ..] => osd_ok_to_stop(ctx, ids, a.max.as_deref()),
        ["mon", "ok-to-stop", ids @ ..] => mon_ok_to_stop(ctx, ids),
        ["mds", "ok-to-stop", ids @ ..] => mds_ok_to_stop(ctx, ids),
        ["osd", verb @ ("set" | "unset"), flag] => super::osdmap::set_flag(ctx, verb == &"set", flag),
        ["osd", verb @ ("set-group" | "unset-group"), flags, who @ ..] if !who.is_empty() => {
            super::osdmap::set_group(ctx, verb == &"set-group", flags, who)
        }
        ["osd", "dump"] => super::osdmap::dump(ctx, json),
        ["osd", "tree"] => super::osdmap::tree(ctx, json),
        ["osd", "require-osd-release", rel] => super::osdmap::require_osd_release(ctx, rel, a.yes),
        ["osd", verb @ ("out" | "in"), ids @ ..] if !ids.is_empty() => super::osdmap::out_in(ctx, verb == &"out", ids),
        ["osd", "pool", verb @ ("set" | "unset"), "noautoscale"] => super::osdmap::noautoscale(ctx, verb == &"set"),
        ["osd", "pool", "get", "noautoscale"] => {
            let on = ctx.ceph.with(ctx.ns, |s| s.flags.contains("noautoscale"));
            if json {
                Out::json(&json!({"noautoscale": on}))
            } else {
                Out::ok(format!("noautoscale is {}\n", if on { "on" } else { "off" }), "")
            }
        }
        ["pg", "stat"] => super::status::pg_stat(ctx, json),
        ["auth", "rotate", entity] => super::osdmap::auth_rotate(ctx, entity, a.key_type.as_deref()),
        _ => invalid(&a.words),
    }
}

/// `versions`: `{"mon": {LINE: N}, "mgr": {...}, "osd": {...}, "mds": {...}, ["rgw",
/// "rbd-mirror", "cephfs-mirror": {...} when they run,] "overall": {...}}`, counting the
/// daemons that run (src/mon/Monitor.cc `versions`; always JSON).
pub fn versions(ctx: &Ctx) -> Value {
    let mut v = json!({"mon": {}, "mgr": {}, "osd": {}, "mds": {}});
    let mut overall = serde_json::Map::new();
    for d in &ctx.cluster.daemons {
        let Some(ver) = &d.version else { continue };
        let line = (ctx.version_line)(ver);
        let entry = v.as_object_mut().expect("object").entry(d.kind.clone()).or_insert_with(|| json!({}));
        let n = entry[&line].as_u64().unwrap_or(0);
        entry[&line] = (n + 1).into();
        let n = overall.get(&line).and_then(Value::as_u64).unwrap_or(0);
        overall.insert(line, (n + 1).into());
    }
    v["overall"] = overall.into();
    v
}

/// OSDMap::parse_osd_id_list: `any`/`all`/`*` for every OSD, else `N` or `osd.N`, each
/// existing (`osd.N does not exist`, ENOENT; `invalid osd id 'x'`, EINVAL).
fn osd_ids(ctx: &Ctx, ids: &[&str]) -> Result<BTreeSet<u32>, Out> {
    let mut out = BTreeSet::new();
    for id in ids {
        if ["any", "all", "*"].contains(id) {
            out.extend(ctx.cluster.osds.keys());
            continue;
        }
        let n: u32 = id
            .strip_prefix("osd.")
            .unwrap_or(id)
            .parse()
            .map_err(|_| Out::err(Errno::Einval, &format!("invalid osd id '{id}'"), String::new()))?;
        if !ctx.cluster.osds.contains_key(&n) {
            return Err(Out::err(Errno::Enoent, &format!("osd.{n} does not exist"), String::new()));
        }
        out.insert(n);
    }
    Ok(out)
}

/// `osd ok-to-stop <ids> [--max N]` (DaemonServer.cc): always JSON on stdout, `{"ok_to_stop",
/// "osds": [..], "num_ok_pgs", "num_not_ok_pgs", ["bad_already_inactive", "bad_become_inactive",
/// "ok_become_degraded", "ok_become_more_degraded": ["1.a", ...] when not empty]}`; exit 0,
/// or EBUSY with `unsafe to stop osd(s) at this time (N PGs are or would become offline)`.
/// With --max the set grows within the CRUSH tree (crush::maximize).
pub fn osd_ok_to_stop(ctx: &Ctx, ids: &[&str], max: Option<&str>) -> Out {
    let osds = match osd_ids(ctx, ids) {
        Ok(o) => o,
        Err(e) => return e,
    };
    if osds.is_empty() {
        return Out::err(Errno::Einval, "must specify one or more OSDs", String::new());
    }
    let max = match max.map(str::parse::<i64>) {
        None => 1,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return Out::err(Errno::Einval, &format!("max {} not a valid int", max.unwrap_or_default()), String::new());
        }
    };
    let max = (max.max(0) as usize).max(osds.len());
    let r = crush::maximize(&osds, max, ctx.cluster, ctx.tree, ctx.mapping);
    let pgs = |s: &BTreeSet<(u32, u32)>| -> Value {
        s.iter().map(|(p, seed)| Value::from(format!("{p}.{seed:x}"))).collect::<Vec<_>>().into()
    };
    let mut v = json!({"ok_to_stop": r.ok_to_stop(), "osds": r.osds.iter().collect::<Vec<_>>(),
        "num_ok_pgs": r.ok.len(), "num_not_ok_pgs": r.not_ok.len()});
    for (k, s) in [
        ("bad_already_inactive", &r.bad_already_inactive),
        ("bad_become_inactive", &r.bad_become_inactive),
        ("ok_become_degraded", &r.ok_become_degraded),
        ("ok_become_more_degraded", &r.ok_become_more_degraded),
    ] {
        if !s.is_empty() {
            v[k] = pgs(s);
        }
    }
    let stdout = format!("{v}\n");
    if r.ok_to_stop() {
        Out::ok(stdout, "")
    } else {
        let text = format!("unsafe to stop osd(s) at this time ({} PGs are or would become offline)", r.not_ok.len());
        Out::err(Errno::Ebusy, &text, stdout)
    }
}

/// `[a,b]`, as Ceph prints a vector.
fn vec_str(v: &[&str]) -> String {
    format!("[{}]", v.join(","))
}

/// `mon ok-to-stop <ids>` (src/mon/MonmapMonitor.cc): ok when the mons left in quorum are at
/// least a majority of the monmap: `quorum should be preserved (b,c) after stopping [a]`
/// (stderr, exit 0), else EBUSY `not enough monitors would be available (c) after stopping
/// mons [a,b]`. Unknown ids: `invalid mon(s) specified: [x]`, exit 0 (as Ceph answers).
pub fn mon_ok_to_stop(ctx: &Ctx, ids: &[&str]) -> Out {
    if ids.is_empty() {
        return invalid(&["mon".into(), "ok-to-stop".into()]);
    }
    let mons = ctx.cluster.mons();
    let invalid_ids: Vec<&str> = ids.iter().copied().filter(|i| !mons.iter().any(|m| m == i)).collect();
    if !invalid_ids.is_empty() {
        return Out::ok(String::new(), &format!("invalid mon(s) specified: {}", vec_str(&invalid_ids)));
    }
    let wouldbe: Vec<String> = ctx.cluster.quorum().into_iter().filter(|q| !ids.contains(&q.as_str())).collect();
    let min_quorum = mons.len() / 2 + 1;
    if wouldbe.len() < min_quorum {
        return Out::err(
            Errno::Ebusy,
            &format!(
                "not enough monitors would be available ({}) after stopping mons {}",
                wouldbe.join(","),
                vec_str(ids)
            ),
            String::new(),
        );
    }
    Out::ok(
        String::new(),
        &format!("quorum should be preserved ({}) after stopping {}", wouldbe.join(","), vec_str(ids)),
    )
}

/// `mds ok-to-stop <ids>` (src/mon/MDSMonitor.cc): EBUSY `one or more filesystems is
/// currently degraded` when a filesystem has no active MDS; else EBUSY `insufficent standby
/// MDS daemons to stop active gids G and/or standby gids G` when an active MDS would stop
/// with neither its standby-replay left nor a free standby; else `should be safe to stop
/// [ids]`. The simulation's filesystems: per filesystem the first up MDS (by name) is
/// active, the second its standby-replay (Rook's `activeStandby: true`), others standby.
pub fn mds_ok_to_stop(ctx: &Ctx, ids: &[&str]) -> Out {
    if ids.is_empty() {
        return Out::err(Errno::Einval, "must specify mds id", String::new());
    }
    let mut mdss: Vec<&super::model::Daemon> = ctx.cluster.of_kind("mds").collect();
    mdss.sort_by(|a, b| a.id.cmp(&b.id));
    let gid = |id: &str| 4000 + mdss.iter().position(|d| d.id == id).unwrap_or(0) as u64;
    let mut fss: Vec<&str> = mdss.iter().filter_map(|d| d.group.as_deref()).collect();
    fss.dedup();
    // (active, standby-replay) per filesystem; the rest standby
    let mut roles: Vec<(Option<&str>, Option<&str>)> = Vec::new();
    let mut standby: Vec<&str> = Vec::new();
    for fs in &fss {
        let up: Vec<&str> =
            mdss.iter().filter(|d| d.up && d.group.as_deref() == Some(fs)).map(|d| d.id.as_str()).collect();
        roles.push((up.first().copied(), up.get(1).copied()));
        standby.extend(up.iter().skip(2));
    }
    if roles.iter().any(|(a, _)| a.is_none()) {
        return Out::err(Errno::Ebusy, "one or more filesystems is currently degraded", String::new());
    }
    let stopping: BTreeSet<&str> = ids
        .iter()
        .map(|i| i.strip_prefix("mds.").unwrap_or(i))
        .filter(|i| mdss.iter().any(|d| d.up && d.id == *i))
        .collect();
    let mut active: BTreeSet<u64> = BTreeSet::new();
    let mut standby_stopping: BTreeSet<u64> = BTreeSet::new();
    for s in &stopping {
        if let Some((a, sr)) = roles.iter().find(|(a, sr)| *a == Some(*s) || *sr == Some(*s)) {
            if *a == Some(*s) && sr.is_none_or(|sr| stopping.contains(sr)) {
                active.insert(gid(s));
            }
        } else {
            standby_stopping.insert(gid(s));
        }
    }
    if standby.len() < standby_stopping.len() + active.len() {
        let set = |s: &BTreeSet<u64>| s.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        return Out::err(
            Errno::Ebusy,
            &format!(
                "insufficent standby MDS daemons to stop active gids {} and/or standby gids {}",
                set(&active),
                set(&standby_stopping)
            ),
            String::new(),
        );
    }
    Out::ok(String::new(), &format!("should be safe to stop {}", vec_str(ids)))
}
