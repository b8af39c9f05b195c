//! Speed at 200, 2000 and 20000 OSDs (DESIGN §8, issues 6 and 20): `cargo bench --bench scale`.
//!
//! The simulated cluster runs as its own process, on rook-sim's embedded API server (`demo
//! --serve`) and on a real control plane (`scripts/control-plane up`, a fresh one for each
//! scale, with `demo --serve --on`; see benches/common). In one run this measures, on each
//! server, the plugin's `status -o json` and `set mgr --dry-run -o json`, the same lists
//! fetched by `kubectl get deploy,pods -o json` (the control plane's kubectl, of the real
//! server's release, on both) and by `curl` page by page (the transfer floor), and `pause
//! osd --node` on a node of 200 OSDs against `kubectl label deploy -l ...`: median wall
//! time, peak RSS (wait4), requests (the embedded server's request log; the real server's
//! audit log) and the server's CPU per run (the embedded `demo` process; kube-apiserver +
//! etcd on the real one, the simulation apart). Ratios are taken within one invocation,
//! since these machines are noisy: each row against the plugin's on the same server, and
//! each server against the embedded one.
//!
//! Peak memory and time are reported against DESIGN §8's targets (issue 11): `status -o
//! json` at most 40 MiB at 2000 OSDs and 100 MiB at 20000, within 1.2x of the curl floor.
//! These are measurements, never test assertions.
//!
//! Environment: BENCH_SCALES (default "200,2000,20000"), BENCH_SERVERS (default
//! "embedded,real"), BENCH_REAL_MAX_OSDS (the real server only up to this scale; default
//! 2000), BENCH_RUNS (default 5), BENCH_OUT (default bench/results.md),
//! BENCH_KUBECTL_MAX_OSDS (kubectl is measured only up to this scale; default: every scale;
//! at 20000 OSDs it needs about 18 GiB).
// A benchmark report of our own numbers, not cluster text: printed directly.
#![allow(clippy::disallowed_macros)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{NS, Server, Sim, kubectl_version, start_sim};

/// DESIGN §8: `status` within this factor of the curl floor's time.
const FLOOR_TARGET: f64 = 1.2;

/// DESIGN §8: the peak RSS `status` may reach at this scale (MiB), if it has a target.
fn rss_target_mib(osds: usize) -> Option<f64> {
    match osds {
        2000 => Some(40.0),
        20000 => Some(100.0),
        _ => None,
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// Run to completion; wall time and peak resident memory (KiB) of the child.
fn measured(cmd: &mut Command) -> (Duration, u64) {
    match try_measured(cmd) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    }
}

/// As `measured`, but a failure (kubectl killed for memory at 20000 OSDs) is reported.
#[allow(clippy::zombie_processes)] // reaped by wait4, which also reports its peak RSS
fn try_measured(cmd: &mut Command) -> Result<(Duration, u64), String> {
    // A pre_exec hook makes std fork and exec instead of posix_spawn: a posix_spawned
    // (vfork-like) child's ru_maxrss is at least this process's own high-water mark, as
    // Linux keeps the shared memory's at its exec. A forked child's counts only what this
    // process has resident at the fork (its copy), which stays small here.
    // SAFETY: the hook does nothing, so it is async-signal-safe.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| Ok(()));
    }
    let start = Instant::now();
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(r, pid, "wait4");
    if libc::WIFSIGNALED(status) {
        return Err(format!(
            "killed by signal {} after {:.0} s at {:.0} MiB",
            libc::WTERMSIG(status),
            wall.as_secs_f64(),
            usage.ru_maxrss as f64 / 1024.0
        ));
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(format!("{cmd:?} failed ({status})"));
    }
    Ok((wall, usage.ru_maxrss as u64))
}

#[derive(Default, Clone)]
struct Stat {
    wall: Vec<Duration>,
    rss_kib: u64,
    requests: usize,
    /// CPU time over the measured runs (with their resets) of the API server, and of the
    /// simulation where it is a process of its own (the real server).
    server_cpu: Duration,
    sim_cpu: Duration,
    /// Why it could not be measured (kubectl killed for memory, ...).
    failed: Option<String>,
}

impl Stat {
    fn median_ms(&self) -> f64 {
        let mut v: Vec<f64> = self.wall.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
    }

    /// Per measured run (ms).
    fn per_run_ms(&self, d: Duration) -> f64 {
        d.as_secs_f64() * 1000.0 / self.wall.len().max(1) as f64
    }
}

/// `runs` measured runs after one warm-up; requests counted on the warm-up.
fn bench(sim: &Sim, runs: usize, mut make: impl FnMut() -> Vec<Command>, mut reset: impl FnMut()) -> Stat {
    let mut st = Stat::default();
    let (mut server0, mut sim0) = (Duration::ZERO, Duration::ZERO);
    for i in 0..=runs {
        if i == 0 {
            sim.clear_log();
        }
        let start = Instant::now();
        let mut rss = 0;
        for mut c in make() {
            match try_measured(&mut c) {
                Ok((_, r)) => rss = rss.max(r),
                Err(e) => {
                    st.failed = Some(e);
                    return st;
                }
            }
        }
        let wall = start.elapsed();
        if i == 0 {
            st.requests = sim.requests();
            (server0, sim0) = (sim.server_cpu(), sim.sim_cpu());
        } else {
            st.wall.push(wall);
            st.rss_kib = st.rss_kib.max(rss);
        }
        reset();
    }
    st.server_cpu = sim.server_cpu().saturating_sub(server0);
    st.sim_cpu = sim.sim_cpu().saturating_sub(sim0);
    st
}

fn selector() -> String {
    let apps = [
        "rook-ceph-mon",
        "rook-ceph-mgr",
        "rook-ceph-osd",
        "rook-ceph-mds",
        "rook-ceph-rgw",
        "rook-ceph-nfs",
        "rook-ceph-rbd-mirror",
        "rook-ceph-fs-mirror",
        "rook-ceph-crashcollector",
        "rook-ceph-exporter",
    ];
    format!("rook_cluster={NS},app in ({})", apps.join(","))
}

/// The transfer floor: curl of the same LIST pages, one after another.
fn curl_pages(sim: &Sim, rss: &mut u64) -> usize {
    let sel: String =
        selector().replace(' ', "%20").replace(',', "%2C").replace('(', "%28").replace(')', "%29").replace('=', "%3D");
    let mut pages = 0;
    for path in [format!("/apis/apps/v1/namespaces/{NS}/deployments"), format!("/api/v1/namespaces/{NS}/pods")] {
        let mut token = String::new();
        loop {
            let mut url = format!("{path}?labelSelector={sel}&limit=500");
            if !token.is_empty() {
                url.push_str(&format!("&continue={token}"));
            }
            let tmp = tempfile::NamedTempFile::new().unwrap();
            let mut c = sim.curl("GET", &url);
            c.arg("-o").arg(tmp.path());
            let (_, r) = measured(&mut c);
            *rss = (*rss).max(r);
            pages += 1;
            // the list metadata comes first: read only its head for the continue token
            let head: Vec<u8> = std::fs::read(tmp.path()).unwrap().into_iter().take(600).collect();
            let head = String::from_utf8_lossy(&head);
            token =
                head.split("\"continue\":\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or("").to_string();
            if token.is_empty() {
                break;
            }
        }
    }
    pages
}

/// The measurements of one scale on one server, in the report's order.
struct Measured {
    osds: usize,
    server: Server,
    start_s: f64,
    rows: Vec<(String, Stat)>,
}

impl Measured {
    fn median(&self, i: usize) -> Option<f64> {
        let st = &self.rows.get(i)?.1;
        if st.failed.is_some() { None } else { Some(st.median_ms()) }
    }
}

const STATUS: usize = 0;
const KGET: usize = 2;
const FLOOR: usize = 3;
const PAUSE: usize = 4;
const KLABEL: usize = 5;

#[allow(clippy::too_many_arguments)]
fn measure(server: Server, osds: usize, nodes: usize, runs: usize, kubectl_max: usize) -> Measured {
    eprintln!("== {osds} OSDs on {nodes} nodes, {} server: starting rook-sim", server.name());
    let args: Vec<String> = ["--osds", &osds.to_string(), "--nodes", &nodes.to_string(), "--restart-delay-ms", "0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let sim = start_sim(server, &args);
    eprintln!("   started in {:.1} s", sim.start_time.as_secs_f64());
    // kubectl decodes ~500 objects per second here: one run at the largest scale.
    let kruns = if osds >= 20000 { 1 } else { runs };
    let cache = tempfile::tempdir().unwrap();
    let sel = selector();
    eprintln!("   plugin status");
    let status = bench(&sim, runs, || vec![sim.plugin(&["status", "-o", "json"])], || {});
    eprintln!("   plugin set mgr --dry-run");
    let set = bench(
        &sim,
        runs,
        || vec![sim.plugin(&["set", "mgr", "quay.io/ceph/ceph:v20.2.5", "--dry-run", "-o", "json"])],
        || {},
    );
    let skipped =
        || Stat { failed: Some(format!("skipped (BENCH_KUBECTL_MAX_OSDS={kubectl_max})")), ..Stat::default() };
    eprintln!("   kubectl get");
    let kget = if osds > kubectl_max {
        skipped()
    } else {
        bench(
            &sim,
            kruns,
            || vec![sim.kubectl(cache.path(), &["get", "deploy,pods", "-n", NS, "-l", &sel, "-o", "json"])],
            || {},
        )
    };
    eprintln!("   curl floor");
    let mut floor = Stat::default();
    sim.clear_log();
    let mut rss = 0;
    curl_pages(&sim, &mut rss);
    floor.requests = sim.requests();
    let (server0, sim0) = (sim.server_cpu(), sim.sim_cpu());
    for _ in 0..runs {
        let t = Instant::now();
        curl_pages(&sim, &mut rss);
        floor.wall.push(t.elapsed());
    }
    floor.server_cpu = sim.server_cpu().saturating_sub(server0);
    floor.sim_cpu = sim.sim_cpu().saturating_sub(sim0);
    floor.rss_kib = rss;
    let node =
        if nodes > 1 { format!("node-{:0w$}", 1, w = (nodes - 1).to_string().len().max(2)) } else { "node-00".into() };
    let per_node = (0..osds).filter(|i| i % nodes == 1 % nodes).count();
    eprintln!("   pause osd --node {node} ({per_node} OSDs)");
    let pause = bench(
        &sim,
        runs.min(3),
        || vec![sim.plugin(&["pause", "osd", "--node", &node, "--yes"])],
        || {
            measured(&mut sim.plugin(&["resume", "osd", "--node", &node, "--yes"]));
        },
    );
    let lsel = format!("app=rook-ceph-osd,topology-location-host={node}");
    let klabel = if osds > kubectl_max {
        skipped()
    } else {
        bench(
            &sim,
            runs.min(3),
            || {
                vec![sim.kubectl(
                    cache.path(),
                    &["label", "deploy", "-n", NS, "-l", &lsel, "ceph.rook.io/do-not-reconcile=true"],
                )]
            },
            || {
                measured(&mut sim.kubectl(
                    cache.path(),
                    &["label", "deploy", "-n", NS, "-l", &lsel, "ceph.rook.io/do-not-reconcile-"],
                ));
            },
        )
    };
    let m = Measured {
        osds,
        server,
        start_s: sim.start_time.as_secs_f64(),
        rows: vec![
            ("plugin `status -o json`".into(), status),
            ("plugin `set mgr --dry-run -o json`".into(), set),
            ("`kubectl get deploy,pods -o json`".into(), kget),
            ("`curl` of the same pages (floor)".into(), floor),
            (format!("plugin `pause osd --node` ({per_node} OSDs)"), pause),
            ("`kubectl label deploy -l ...`".into(), klabel),
        ],
    };
    drop(sim);
    m
}

fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let scales: Vec<usize> = std::env::var("BENCH_SCALES")
        .unwrap_or_else(|_| "200,2000,20000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("BENCH_SCALES: numbers"))
        .collect();
    let servers = common::servers();
    let real_max: usize = std::env::var("BENCH_REAL_MAX_OSDS").ok().and_then(|r| r.parse().ok()).unwrap_or(2000);
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
    let out_path = std::env::var("BENCH_OUT").unwrap_or_else(|_| "bench/results.md".into());
    let kubectl_max: usize =
        std::env::var("BENCH_KUBECTL_MAX_OSDS").ok().and_then(|r| r.parse().ok()).unwrap_or(usize::MAX);
    // Other benchmarks' sections of the file (benches/upgrade.rs's): kept below this report.
    let others = other_sections(Path::new(&out_path));
    let head = format!(
        "# kubectl ceph-image benchmark\n\n{}\n\nDate: {}. Command: `BENCH_SCALES={} BENCH_SERVERS={} BENCH_RUNS={runs}{} \
         cargo bench --bench scale` (benches/scale.rs).{}\n\n",
        machine(),
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
        scales.iter().map(usize::to_string).collect::<Vec<_>>().join(","),
        servers.iter().map(|s| s.name()).collect::<Vec<_>>().join(","),
        if kubectl_max == usize::MAX { String::new() } else { format!(" BENCH_KUBECTL_MAX_OSDS={kubectl_max}") },
        if servers.contains(&Server::Real) {
            format!(" The real server runs only up to {real_max} OSDs (BENCH_REAL_MAX_OSDS).")
        } else {
            String::new()
        },
    );
    let mut measured_all: Vec<Measured> = Vec::new();
    let mut skipped_real = Vec::new();
    for &osds in &scales {
        let nodes = (osds / 200).max(1);
        for &server in &servers {
            if server == Server::Real && osds > real_max {
                skipped_real.push(osds);
                continue;
            }
            measured_all.push(measure(server, osds, nodes, runs, kubectl_max));
            // Written after each scale: a long run that dies late keeps what it measured.
            let report = format!("{head}{}", render(&measured_all, runs, &skipped_real, real_max));
            if let Some(dir) = Path::new(&out_path).parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = std::fs::write(&out_path, format!("{report}{others}"));
        }
    }
    let report = format!("{head}{}", render(&measured_all, runs, &skipped_real, real_max));
    println!("{report}");
    if let Some(dir) = Path::new(&out_path).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&out_path, format!("{report}{others}")).unwrap();
    eprintln!("written to {out_path}");
}

/// The table and the summary of what was measured so far.
fn render(all: &[Measured], runs: usize, skipped_real: &[usize], real_max: usize) -> String {
    let mut t = String::from(
        "| server | OSDs | objects | measurement | median ms | ratio | peak RSS MiB | requests | server CPU ms/run | sim CPU \
         ms/run |\n|---|---:|---:|---|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut summary = Vec::new();
    for m in all {
        let osds = m.osds;
        let nodes = (osds / 200).max(1);
        let objects_per_kind = 3 + 2 + osds + 2 + 1 + 1 + 1 + 1 + 2 * nodes;
        let objects = 2 * objects_per_kind;
        let server = m.server.name();
        let base = m.median(STATUS).unwrap_or(f64::NAN);
        let pause = m.median(PAUSE).unwrap_or(f64::NAN);
        for (i, (name, st)) in m.rows.iter().enumerate() {
            let ratio = if i >= PAUSE { st.median_ms() / pause } else { st.median_ms() / base };
            match &st.failed {
                Some(why) => {
                    t.push_str(&format!("| {server} | {osds} | {objects} | {name} | failed: {why} | | | | | |\n"))
                }
                None => {
                    let sim_cpu = match m.server {
                        Server::Embedded => "(in server)".to_string(),
                        Server::Real => format!("{:.0}", st.per_run_ms(st.sim_cpu)),
                    };
                    t.push_str(&format!(
                        "| {server} | {osds} | {objects} | {name} | {:.0} | {:.2}x | {:.1} | {} | {:.0} | {sim_cpu} |\n",
                        st.median_ms(),
                        ratio,
                        st.rss_kib as f64 / 1024.0,
                        st.requests,
                        st.per_run_ms(st.server_cpu),
                    ))
                }
            }
        }
        let status = &m.rows[STATUS].1;
        let kget_ratio = match (&m.rows[KGET].1.failed, m.median(KGET)) {
            (Some(why), _) => format!("kubectl get {why}"),
            (None, Some(k)) => format!("kubectl get / plugin status = **{:.1}x**", k / base),
            (None, None) => "kubectl get not measured".into(),
        };
        let klabel_ratio = match (&m.rows[KLABEL].1.failed, m.median(KLABEL)) {
            (Some(why), _) => format!("kubectl label {why}"),
            (None, Some(k)) => format!("kubectl label / plugin pause = **{:.1}x**", k / pause),
            (None, None) => "kubectl label not measured".into(),
        };
        let floor_ratio = base / m.median(FLOOR).unwrap_or(f64::NAN);
        let rss = status.rss_kib as f64 / 1024.0;
        let rss_text = match rss_target_mib(osds) {
            Some(tg) => format!("peak RSS **{rss:.1} MiB** (target at most {tg:.0}: {})", verdict(rss <= tg)),
            None => format!("peak RSS {rss:.1} MiB"),
        };
        summary.push(format!(
            "- {server}, {osds} OSDs ({objects} objects; rook-sim started in {:.1} s): {kget_ratio}; plugin status / \
             curl floor = **{floor_ratio:.2}x** (target at most {FLOOR_TARGET}x: {}); plugin requests {} = \
             ceil({objects_per_kind}/500)x2 + 2 = {}; {rss_text}; {klabel_ratio}",
            m.start_s,
            verdict(floor_ratio <= FLOOR_TARGET),
            status.requests,
            // the CephCluster list and the CRD (status says whether it has imageOverrides)
            2 * objects_per_kind.div_ceil(500) + 2,
        ));
    }
    // the real server against the embedded one, in this same invocation
    let mut versus = Vec::new();
    for real in all.iter().filter(|m| m.server == Server::Real) {
        let Some(emb) = all.iter().find(|m| m.server == Server::Embedded && m.osds == real.osds) else { continue };
        let mut parts = Vec::new();
        for (i, (name, _)) in real.rows.iter().enumerate() {
            if let (Some(r), Some(e)) = (real.median(i), emb.median(i)) {
                parts.push(format!("{name} **{:.2}x** ({r:.0} vs {e:.0} ms)", r / e));
            }
        }
        let mut cpu = BTreeMap::new();
        for (m, key) in [(real, "real"), (emb, "embedded")] {
            let st = &m.rows[STATUS].1;
            cpu.insert(key, st.per_run_ms(st.server_cpu));
        }
        versus.push(format!(
            "- {} OSDs, real / embedded server: {}; server CPU per plugin `status` {:.0} vs {:.0} ms",
            real.osds,
            parts.join(", "),
            cpu["real"],
            cpu["embedded"]
        ));
    }
    t.push_str(&format!(
        "\nRatios: the `ratio` column is each row's median over the plugin's `status` (reads) or `pause` (writes) \
         median on the same server, in this same run ({runs} measured runs after one warm-up; kubectl get once at \
         20000 OSDs). `requests`: one warm-up run's, counted by the embedded server's request log, or on the real \
         server by its audit log (the admin user's requests; rook-sim acts as another user). `server CPU`: per \
         measured run (resets included for pause and label), the `demo` process on the embedded server (its API \
         server and simulation are one process), kube-apiserver + etcd on the real server (from /proc); `sim CPU`: \
         the simulated Rook operator and kubelets (`demo --serve --on`) on the real server, apart. On the real \
         server the clients talk to kube-apiserver directly (admin user), not through rook-sim's front; each scale \
         has a fresh control plane.\n\n"
    ));
    t.push_str(&summary.join("\n"));
    t.push('\n');
    if !versus.is_empty() {
        t.push('\n');
        t.push_str(&versus.join("\n"));
        t.push('\n');
    }
    for osds in skipped_real {
        t.push_str(&format!("\nNot run on the real server at {osds} OSDs (BENCH_REAL_MAX_OSDS={real_max}).\n"));
    }
    t
}

/// What follows the first `<!-- section: ` marker of the results file (another benchmark
/// writes it), with a blank line before it; empty when there is none.
fn other_sections(path: &Path) -> String {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    old.find("<!-- section: ").map(|i| format!("\n{}", &old[i..])).unwrap_or_default()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<u64>().unwrap_or(0)))
        .unwrap_or(0);
    let kubectl = format!("kubectl {} (the control plane's, on both servers)", kubectl_version());
    format!(
        "Machine: {cpu}, {cores} cores, {:.0} GiB; {kubectl}; plugin built with the bench (release) profile.",
        mem as f64 / 1024.0 / 1024.0
    )
}
