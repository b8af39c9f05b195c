//! Speed at 200, 2000 and 20000 OSDs (DESIGN §8, issue 6): `cargo bench --bench scale`.
//!
//! The simulated cluster runs as its own process (`demo --serve`). In one run this measures
//! the plugin's `status -o json` and `set mgr --dry-run -o json`, the same lists fetched by
//! `kubectl get deploy,pods -o json` and by `curl` page by page (the transfer floor), and
//! `pause osd --node` on a node of 200 OSDs against `kubectl label deploy -l ...`: median
//! wall time, peak RSS (wait4), and requests (the simulation's own log). Ratios are taken
//! within one invocation, since these machines are noisy.
//!
//! Peak memory and time are reported against DESIGN §8's targets (issue 11): `status -o
//! json` at most 40 MiB at 2000 OSDs and 100 MiB at 20000, within 1.2x of the curl floor.
//! These are measurements, never test assertions.
//!
//! Environment: BENCH_SCALES (default "200,2000,20000"), BENCH_RUNS (default 5),
//! BENCH_OUT (default bench/results.md), BENCH_KUBECTL_MAX_OSDS (kubectl is measured only
//! up to this scale; default: every scale; at 20000 OSDs it needs about 18 GiB).
// A benchmark report of our own numbers, not cluster text: printed directly.
#![allow(clippy::disallowed_macros)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-ceph-image");
const NS: &str = "rook-ceph";
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

struct Sim {
    child: std::process::Child,
    kubeconfig: PathBuf,
    server: String,
    token: String,
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sim(osds: usize, nodes: usize) -> Sim {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = Command::new(PLUGIN)
        .args(["demo", "--serve", "--osds", &osds.to_string(), "--nodes", &nodes.to_string()])
        .args(["--restart-delay-ms", "0", "--kubeconfig-out"])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("rook-sim starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("export KUBECONFIG="), "rook-sim said {line:?}");
    let kc: serde_json::Value = serde_saphyr::from_str(&std::fs::read_to_string(&kubeconfig).unwrap()).unwrap();
    let server = kc["clusters"][0]["cluster"]["server"].as_str().unwrap().to_string();
    let token = kc["users"][0]["user"]["token"].as_str().unwrap().to_string();
    use base64::Engine;
    let ca_pem = base64::engine::general_purpose::STANDARD
        .decode(kc["clusters"][0]["cluster"]["certificate-authority-data"].as_str().unwrap())
        .unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    Sim { child, kubeconfig, server, token, ca, _dir: dir }
}

impl Sim {
    fn curl(&self, method: &str, path: &str) -> Command {
        let mut c = Command::new("curl");
        c.args(["-sS", "--fail", "-X", method, "--cacert"])
            .arg(&self.ca)
            .arg("-H")
            .arg(format!("Authorization: Bearer {}", self.token))
            .arg(format!("{}{}", self.server, path));
        c
    }

    fn clear_log(&self) {
        assert!(self.curl("DELETE", "/rook-sim/log").stdout(Stdio::null()).status().unwrap().success());
    }

    fn requests(&self) -> usize {
        let out = self.curl("GET", "/rook-sim/log").output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_array().unwrap().len()
    }
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
    /// Why it could not be measured (kubectl killed for memory, ...).
    failed: Option<String>,
}

impl Stat {
    fn median_ms(&self) -> f64 {
        let mut v: Vec<f64> = self.wall.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
    }
}

/// `runs` measured runs after one warm-up; requests counted on the warm-up.
fn bench(sim: &Sim, runs: usize, mut make: impl FnMut() -> Vec<Command>, mut reset: impl FnMut()) -> Stat {
    let mut st = Stat::default();
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
        } else {
            st.wall.push(wall);
            st.rss_kib = st.rss_kib.max(rss);
        }
        reset();
    }
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

fn plugin(sim: &Sim, args: &[&str]) -> Command {
    let mut c = Command::new(PLUGIN);
    c.args(args).env("KUBECONFIG", &sim.kubeconfig);
    c
}

fn kubectl(sim: &Sim, cache: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("kubectl");
    c.arg("--kubeconfig").arg(&sim.kubeconfig).arg("--cache-dir").arg(cache).args(args);
    c
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

fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let scales: Vec<usize> = std::env::var("BENCH_SCALES")
        .unwrap_or_else(|_| "200,2000,20000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("BENCH_SCALES: numbers"))
        .collect();
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
    let out_path = std::env::var("BENCH_OUT").unwrap_or_else(|_| "bench/results.md".into());
    let kubectl_max: usize =
        std::env::var("BENCH_KUBECTL_MAX_OSDS").ok().and_then(|r| r.parse().ok()).unwrap_or(usize::MAX);
    // Other benchmarks' sections of the file (benches/upgrade.rs's): kept below this report.
    let others = other_sections(Path::new(&out_path));
    let mut report = String::new();
    report.push_str(&format!("# kubectl ceph-image benchmark\n\n{}\n\n", machine()));
    report.push_str("| OSDs | objects | measurement | median ms | ratio | peak RSS MiB | requests |\n|---:|---:|---|---:|---:|---:|---:|\n");
    let mut summary = Vec::new();
    for &osds in &scales {
        let nodes = (osds / 200).max(1);
        eprintln!("== {osds} OSDs on {nodes} nodes: starting rook-sim");
        let sim = start_sim(osds, nodes);
        let objects_per_kind = 3 + 2 + osds + 2 + 1 + 1 + 1 + 1 + 2 * nodes;
        let objects = 2 * objects_per_kind;
        // kubectl decodes ~500 objects per second here: one run at the largest scale.
        let kruns = if osds >= 20000 { 1 } else { runs };
        let cache = tempfile::tempdir().unwrap();
        let sel = selector();
        eprintln!("   plugin status");
        let status = bench(&sim, runs, || vec![plugin(&sim, &["status", "-o", "json"])], || {});
        eprintln!("   plugin set mgr --dry-run");
        let set = bench(
            &sim,
            runs,
            || vec![plugin(&sim, &["set", "mgr", "quay.io/ceph/ceph:v20.2.5", "--dry-run", "-o", "json"])],
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
                || vec![kubectl(&sim, cache.path(), &["get", "deploy,pods", "-n", NS, "-l", &sel, "-o", "json"])],
                || {},
            )
        };
        eprintln!("   curl floor");
        let mut floor = Stat::default();
        sim.clear_log();
        let mut rss = 0;
        curl_pages(&sim, &mut rss);
        floor.requests = sim.requests();
        for _ in 0..runs {
            let t = Instant::now();
            curl_pages(&sim, &mut rss);
            floor.wall.push(t.elapsed());
        }
        floor.rss_kib = rss;
        let node = if nodes > 1 {
            format!("node-{:0w$}", 1, w = (nodes - 1).to_string().len().max(2))
        } else {
            "node-00".into()
        };
        let per_node = (0..osds).filter(|i| i % nodes == 1 % nodes).count();
        eprintln!("   pause osd --node {node} ({per_node} OSDs)");
        let pause = bench(
            &sim,
            runs.min(3),
            || vec![plugin(&sim, &["pause", "osd", "--node", &node, "--yes"])],
            || {
                measured(&mut plugin(&sim, &["resume", "osd", "--node", &node, "--yes"]));
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
                    vec![kubectl(
                        &sim,
                        cache.path(),
                        &["label", "deploy", "-n", NS, "-l", &lsel, "ceph.rook.io/do-not-reconcile=true"],
                    )]
                },
                || {
                    measured(&mut kubectl(
                        &sim,
                        cache.path(),
                        &["label", "deploy", "-n", NS, "-l", &lsel, "ceph.rook.io/do-not-reconcile-"],
                    ));
                },
            )
        };
        let base = status.median_ms();
        let rows: Vec<(String, &Stat, f64)> = vec![
            ("plugin `status -o json`".into(), &status, 1.0),
            ("plugin `set mgr --dry-run -o json`".into(), &set, set.median_ms() / base),
            ("`kubectl get deploy,pods -o json`".into(), &kget, kget.median_ms() / base),
            ("`curl` of the same pages (floor)".into(), &floor, floor.median_ms() / base),
            (format!("plugin `pause osd --node` ({per_node} OSDs)"), &pause, 1.0),
            ("`kubectl label deploy -l ...`".into(), &klabel, klabel.median_ms() / pause.median_ms()),
        ];
        for (name, st, ratio) in rows {
            match &st.failed {
                Some(why) => report.push_str(&format!("| {osds} | {objects} | {name} | failed: {why} | | | |\n")),
                None => report.push_str(&format!(
                    "| {osds} | {objects} | {name} | {:.0} | {:.2}x | {:.1} | {} |\n",
                    st.median_ms(),
                    ratio,
                    st.rss_kib as f64 / 1024.0,
                    st.requests
                )),
            }
        }
        // Written after each scale: a long run that dies late keeps what it measured.
        if let Some(dir) = Path::new(&out_path).parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(&out_path, format!("{report}{others}"));
        let kget_ratio = match &kget.failed {
            Some(why) => format!("kubectl get {why}"),
            None => format!("kubectl get / plugin status = **{:.1}x**", kget.median_ms() / base),
        };
        let klabel_ratio = match &klabel.failed {
            Some(why) => format!("kubectl label {why}"),
            None => format!("kubectl label / plugin pause = **{:.1}x**", klabel.median_ms() / pause.median_ms()),
        };
        let floor_ratio = base / floor.median_ms();
        let rss = status.rss_kib as f64 / 1024.0;
        let rss_text = match rss_target_mib(osds) {
            Some(t) => format!("peak RSS **{rss:.1} MiB** (target at most {t:.0}: {})", verdict(rss <= t)),
            None => format!("peak RSS {rss:.1} MiB"),
        };
        summary.push(format!(
            "- {osds} OSDs ({objects} objects): {kget_ratio}; plugin status / curl floor = **{floor_ratio:.2}x** \
             (target at most {FLOOR_TARGET}x: {}); plugin requests {} = ceil({objects_per_kind}/500)x2 + 2 = {}; \
             {rss_text}; {klabel_ratio}",
            verdict(floor_ratio <= FLOOR_TARGET),
            status.requests,
            // the CephCluster list and the CRD (status says whether it has imageOverrides)
            2 * objects_per_kind.div_ceil(500) + 2,
        ));
        drop(sim);
    }
    report.push_str(&format!(
        "\nRatios: the `ratio` column is each row's median over the plugin's `status` (reads) or `pause` (writes) median, in this same run ({runs} measured runs after one warm-up; kubectl get once at 20000 OSDs).\n\n"
    ));
    report.push_str(&summary.join("\n"));
    report.push('\n');
    println!("{report}");
    if let Some(dir) = Path::new(&out_path).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&out_path, format!("{report}{others}")).unwrap();
    eprintln!("written to {out_path}");
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
    let kubectl = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("").to_string())
        .unwrap_or_default();
    format!(
        "Machine: {cpu}, {cores} cores, {:.0} GiB; {kubectl}; plugin built with the bench (release) profile.",
        mem as f64 / 1024.0 / 1024.0
    )
}
