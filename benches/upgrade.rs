//! The staged upgrade at scale (issue 15's benchmark, DESIGN §8 and §10; issue 20: on both
//! servers): `cargo bench --bench upgrade`.
//!
//! For each scale (200 and 2000 OSDs by default), each simulated delay (none, then a small
//! fixed one) and each server (rook-sim's embedded API server, then a fresh real control
//! plane with rook-sim's operator and kubelets on it: benches/common), a fresh rook-sim runs
//! as its own process (`demo --serve`, `--on` the real server) and the plugin runs `upgrade
//! IMAGE --yes` on it once (on the real server as its admin user, directly). Measured: wall
//! time; the plugin's own CPU time (user + sys from wait4's rusage), which is its overhead
//! apart from the time it spends waiting on the simulation; the simulation's CPU time and,
//! on the real server, kube-apiserver + etcd's and the controllers' (from /proc, as all
//! share the machine's cores); the plugin's peak RSS; every request the plugin sent (the
//! embedded server's request log; the real server's audit log), by verb and by resource,
//! per daemon moved; the stages and OSD batches planned (the dry run) and run (the plugin's
//! `stage ...` lines).
//!
//! A run counts only if the plugin exited 0 saying "Upgrade done" and the cluster, read
//! back through the API (not the simulation's internals), has every Deployment and Running
//! pod on IMAGE and Ready, each Deployment's pod template changed exactly once (on the real
//! server its `deployment.kubernetes.io/revision`, on the embedded one, which keeps none,
//! its generation: one above the one before the upgrade) and its pods all new (none of a pod template from
//! before, none terminating, as many as its replicas), the CephCluster's base image IMAGE
//! with no override, hold, state annotation or cluster label left. Anything else is
//! reported as failed with the reason, without its numbers.
//!
//! Ratios are taken against runs of the same invocation (the first scale with the same
//! delay and server; the real server against the embedded one; plugin CPU against wall),
//! since these machines are noisy. These are measurements, never test assertions.
//!
//! Environment: BENCH_UPGRADE_SCALES (default "200,2000"), BENCH_UPGRADE_DELAYS (ms, default
//! "0,50": each sets the operator's pause between daemons, the pods' ready delay and the
//! health settle time), BENCH_SERVERS (default "embedded,real"), BENCH_UPGRADE_SKIP (rows
//! left out, SERVER/OSDS/DELAY separated by commas, e.g. "real/2000/50"; reported as
//! skipped), BENCH_UPGRADE_OSDS_PER_NODE (default 12, the `demo` default),
//! BENCH_UPGRADE_IMAGE (default quay.io/ceph/ceph:v20.2.6, the sim's v20.2.4 + 2),
//! BENCH_OUT (default bench/results.md: this benchmark's section is replaced, the rest kept).
// A benchmark report of our own numbers, not cluster text: printed directly.
#![allow(clippy::disallowed_macros)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use common::{NS, Server, Sim, kubectl_version, start_sim};

const DEFAULT_IMAGE: &str = "quay.io/ceph/ceph:v20.2.6";
/// What the sim's Ceph containers run (and so what must all be IMAGE afterwards).
const CEPH_REPO: &str = "quay.io/ceph/ceph:";
/// Where this benchmark's section of the results file starts (benches/scale.rs keeps it).
const SECTION: &str = "<!-- section: benches/upgrade.rs -->";
/// The per-gate timeout given to the plugin: far above any stage here, so a stuck stage
/// fails the run rather than hangs it.
const GATE_TIMEOUT: &str = "600s";
/// Verbs of the simulation's request log, in the order the report shows them.
const VERBS: [&str; 7] = ["get", "list", "watch", "patch", "create", "update", "delete"];

/// The parts of Kubernetes objects the checks read.
#[derive(Deserialize)]
struct List<T> {
    items: Vec<T>,
}

#[derive(Deserialize)]
struct Named {}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Meta {
    name: String,
    labels: Option<BTreeMap<String, String>>,
    annotations: Option<BTreeMap<String, String>>,
    generation: u64,
    owner_references: Vec<OwnerRef>,
    deletion_timestamp: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OwnerRef {
    kind: String,
    name: String,
}

impl Meta {
    fn label(&self, k: &str) -> Option<&String> {
        self.labels.as_ref()?.get(k)
    }

    fn annotation(&self, k: &str) -> Option<&String> {
        self.annotations.as_ref()?.get(k)
    }
}

impl Pod {
    /// The Deployment whose ReplicaSet owns the pod, and the pod template's hash.
    fn owner(&self) -> Option<(String, String)> {
        let hash = self.metadata.label("pod-template-hash")?;
        let rs = self.metadata.owner_references.iter().find(|r| r.kind == "ReplicaSet")?;
        let dep = rs.name.strip_suffix(&format!("-{hash}"))?;
        Some((dep.to_string(), hash.clone()))
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PodSpec {
    containers: Vec<Container>,
    init_containers: Vec<Container>,
}

impl PodSpec {
    /// The images of the containers that run Ceph.
    fn ceph_images(&self) -> impl Iterator<Item = &str> {
        self.containers
            .iter()
            .chain(&self.init_containers)
            .map(|c| c.image.as_str())
            .filter(|i| i.starts_with(CEPH_REPO))
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Container {
    image: String,
}

#[derive(Deserialize)]
struct Deployment {
    #[serde(default)]
    metadata: Meta,
    spec: DeploymentSpec,
}

#[derive(Deserialize)]
struct DeploymentSpec {
    #[serde(default)]
    replicas: Option<u64>,
    template: Template,
}

#[derive(Deserialize)]
struct Template {
    #[serde(default)]
    spec: PodSpec,
}

#[derive(Deserialize)]
struct Pod {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    spec: PodSpec,
    #[serde(default)]
    status: PodStatus,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PodStatus {
    phase: Option<String>,
    conditions: Vec<Condition>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Condition {
    #[serde(rename = "type")]
    type_: String,
    status: String,
}

/// One process run to completion: what wait4 says of it, and what it printed.
struct Run {
    wall: Duration,
    user: Duration,
    sys: Duration,
    rss_kib: u64,
    /// This process's resident memory when it forked the child: the child's peak is at
    /// least that, so a peak close to it says more about the benchmark than the child.
    parent_rss_kib: u64,
    /// The exit code, or why there is none.
    exit: Result<i32, String>,
    stdout: String,
    stderr: String,
}

/// VmRSS of this process (KiB).
fn self_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn tv(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

#[allow(clippy::zombie_processes)] // reaped by wait4, which also reports its resource use
fn measured(cmd: &mut Command) -> Run {
    // files, not pipes: a chatty child never blocks on a pipe nobody reads while we wait4
    let out = tempfile::NamedTempFile::new().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    // Linux keeps the high-water mark of the memory a child had before its exec as part of
    // its ru_maxrss. A posix_spawned (vfork-like) child, std's default, shares this
    // process's memory until then, so its peak is at least this process's own high-water
    // mark: after a 2000-OSD run's checks every later child "peaked" at 1 GiB. A forked one
    // (a pre_exec hook makes std fork) has a copy of what is resident now, so this process
    // gives back what it freed and stays small, and says how small (`parent_rss_kib`).
    // SAFETY: the hook does nothing, so it is async-signal-safe.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| Ok(()));
    }
    // SAFETY: malloc_trim only returns free memory of glibc's heap to the system.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::malloc_trim(0);
    }
    let parent_rss_kib = self_rss_kib();
    let start = Instant::now();
    let child =
        cmd.stdin(Stdio::null()).stdout(out.reopen().unwrap()).stderr(err.reopen().unwrap()).spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(r, pid, "wait4");
    let exit = if libc::WIFEXITED(status) {
        Ok(libc::WEXITSTATUS(status))
    } else {
        Err(format!("killed by signal {}", libc::WTERMSIG(status)))
    };
    Run {
        wall,
        user: tv(usage.ru_utime),
        sys: tv(usage.ru_stime),
        rss_kib: usage.ru_maxrss as u64,
        parent_rss_kib,
        exit,
        stdout: std::fs::read_to_string(out.path()).unwrap_or_default(),
        stderr: std::fs::read_to_string(err.path()).unwrap_or_default(),
    }
}

/// What the dry run planned.
#[derive(Default)]
struct Planned {
    stages: u64,
    osd_batches: u64,
    moving: u64,
}

fn planned(sim: &Sim, image: &str) -> Result<Planned, String> {
    let r = measured(&mut sim.plugin(&["upgrade", image, "--dry-run", "-o", "json"]));
    if r.exit != Ok(0) {
        return Err(format!("the dry run failed ({:?}): {}", r.exit, last_lines(&r.stderr, 3)));
    }
    #[derive(Deserialize)]
    struct DryRun {
        plan: PlanDoc,
    }
    #[derive(Deserialize)]
    struct PlanDoc {
        summary: Summary,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Summary {
        stages: u64,
        osd_batches: u64,
        moving: u64,
    }
    let d: DryRun = serde_json::from_str(&r.stdout).map_err(|e| format!("the dry run's JSON: {e}"))?;
    let s = d.plan.summary;
    Ok(Planned { stages: s.stages, osd_batches: s.osd_batches, moving: s.moving })
}

fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}

/// Each Deployment's generation and the pod templates its pods ran, before the upgrade.
#[derive(Default)]
struct Before {
    generation: BTreeMap<String, u64>,
    /// The Deployment controller's `deployment.kubernetes.io/revision` (real server only:
    /// one more for each new pod template it rolled out).
    revision: BTreeMap<String, u64>,
    hashes: BTreeMap<String, BTreeSet<String>>,
}

fn before(sim: &Sim) -> Before {
    let mut b = Before::default();
    let deps: List<Deployment> = sim.get(&format!("/apis/apps/v1/namespaces/{NS}/deployments"));
    for d in deps.items {
        b.revision.insert(d.metadata.name.clone(), revision(&d));
        b.generation.insert(d.metadata.name, d.metadata.generation);
    }
    let pods: List<Pod> = sim.get(&format!("/api/v1/namespaces/{NS}/pods"));
    for p in &pods.items {
        if let Some((dep, hash)) = p.owner() {
            b.hashes.entry(dep).or_default().insert(hash);
        }
    }
    b
}

fn revision(d: &Deployment) -> u64 {
    d.metadata.annotation("deployment.kubernetes.io/revision").and_then(|r| r.parse().ok()).unwrap_or(0)
}

/// The cluster read back through the API, without the plugin: what is not as a finished
/// upgrade leaves it (every daemon on the image, replaced exactly once, nothing left).
fn not_finished(sim: &Sim, image: &str, before: &Before) -> Vec<String> {
    let mut off = Vec::new();
    let dnr = "ceph.rook.io/do-not-reconcile";
    let c: Value = sim.get(&format!("/apis/ceph.rook.io/v1/namespaces/{NS}/cephclusters/{NS}"));
    if c.pointer("/spec/cephVersion/image").and_then(Value::as_str) != Some(image) {
        off.push(format!("CephCluster base image {}", c["spec"]["cephVersion"]["image"]));
    }
    if c.pointer("/spec/cephVersion/imageOverrides").is_some() {
        off.push(format!("imageOverrides left: {}", c["spec"]["cephVersion"]["imageOverrides"]));
    }
    if c["metadata"]["annotations"].get("kubectl-ceph-image/upgrade").is_some() {
        off.push("the upgrade's state annotation left".into());
    }
    if c["metadata"]["labels"].get(dnr).is_some() {
        off.push("the CephCluster-level do-not-reconcile label left".into());
    }
    // the first three of each kind of finding, and how many in all
    let mut found: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    // the cluster's daemons: Rook labels them rook_cluster (the operator's own Deployment,
    // in the same namespace as in Rook's examples, is not the upgrade's)
    let sel = format!("labelSelector=rook_cluster%3D{NS}");
    let deps: List<Deployment> = sim.get(&format!("/apis/apps/v1/namespaces/{NS}/deployments?{sel}"));
    let pods: List<Pod> = sim.get(&format!("/api/v1/namespaces/{NS}/pods?{sel}"));
    let mut pods_of: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    for p in &pods.items {
        match p.owner() {
            Some((dep, _)) => pods_of.entry(dep).or_default().push(p),
            None => found.entry("pods of no Deployment").or_default().push(p.metadata.name.clone()),
        }
    }
    for d in &deps.items {
        let name = &d.metadata.name;
        let held =
            d.metadata.label(dnr).is_some() || d.metadata.annotation("kubectl-ceph-image/upgrade-hold").is_some();
        if held || d.spec.template.spec.ceph_images().any(|i| i != image) {
            found.entry("Deployments held or not on the image").or_default().push(name.clone());
        }
        // one new pod template: on the real server the Deployment controller's revision
        // counts them (its generation also counts the simulated operator's other spec
        // writes); rook-sim's embedded server keeps no revision, and its generation moves
        // only with the template here
        let (what, was, is) = match sim.server {
            Server::Real => ("revision", before.revision.get(name).copied(), revision(d)),
            Server::Embedded => ("generation", before.generation.get(name).copied(), d.metadata.generation),
        };
        match was {
            None => found.entry("Deployments that were not there before").or_default().push(name.clone()),
            Some(w) if is != w + 1 => found
                .entry("Deployments whose pod template did not change exactly once")
                .or_default()
                .push(format!("{name} ({what} {w} to {is})")),
            Some(_) => {}
        }
        let old = before.hashes.get(name);
        let mine = pods_of.remove(name).unwrap_or_default();
        let replicas = d.spec.replicas.unwrap_or(1) as usize;
        if mine.len() != replicas {
            found
                .entry("Deployments with other than their replicas' pods")
                .or_default()
                .push(format!("{name} ({} pods, {replicas} replicas)", mine.len()));
        }
        for p in mine {
            let (_, hash) = p.owner().unwrap_or_default();
            if old.is_some_and(|o| o.contains(&hash)) {
                found
                    .entry("pods of a template from before the upgrade left")
                    .or_default()
                    .push(p.metadata.name.clone());
            }
            if p.metadata.deletion_timestamp.is_some() {
                found.entry("pods terminating").or_default().push(p.metadata.name.clone());
            }
        }
    }
    for (dep, left) in pods_of {
        found.entry("pods of a Deployment no longer there").or_default().push(format!("{dep}: {}", left.len()));
    }
    for p in pods.items.iter().filter(|p| p.status.phase.as_deref() == Some("Running")) {
        let ready = p.status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
        if !ready || p.spec.ceph_images().any(|i| i != image) {
            found.entry("Running pods not Ready on the image").or_default().push(p.metadata.name.clone());
        }
    }
    for (what, names) in found {
        let more = if names.len() > 3 { format!(", ... ({} in all)", names.len()) } else { String::new() };
        off.push(format!("{what}: {}{more}", names[..names.len().min(3)].join(", ")));
    }
    off
}

/// One measured upgrade.
struct Outcome {
    server: Server,
    osds: usize,
    nodes: usize,
    delay_ms: u64,
    plan: Planned,
    /// Why the run does not count (then nothing else is reported).
    failed: Option<String>,
    run: Option<Run>,
    /// How long rook-sim took to start (every daemon's pod running).
    start: Duration,
    /// CPU over the upgrade: the simulation process (on the embedded server, with its API
    /// server); on the real server kube-apiserver + etcd, and the controller-manager +
    /// scheduler.
    sim_cpu: Duration,
    server_cpu: Duration,
    controllers_cpu: Duration,
    /// `stage ...` lines the plugin printed: the rounds it ran.
    stages_run: usize,
    /// Time in the pods gates: the sum of the plugin's "rollout done: ... after X s" (from
    /// the gate's LIST to the last pod Ready). The rest of the wall time is the plugin's
    /// reads, plans and writes between the gates, and the health gate.
    in_gates: Duration,
    /// Time in the health gates and waiting for Ceph's ok-to-stop, apart (the plugin's
    /// "Time in gates: health X s (...), ok-to-stop Y s." at the end), and whether any health
    /// gate read Rook's 60-s copy instead of asking Ceph.
    in_health: Duration,
    in_ok_to_stop: Duration,
    health_from: String,
    requests: usize,
    by_verb: BTreeMap<String, usize>,
    by_resource: BTreeMap<String, usize>,
    /// LISTs that started at the first page (no continue token): whole passes over a
    /// collection, by resource.
    list_passes: BTreeMap<String, usize>,
    /// Objects of the plugin's label selector (`rook_cluster=NS`) after the run, by
    /// resource: the size of each pass over that collection (the same all along, as a
    /// replaced pod's successor is created only once it is gone).
    collection: BTreeMap<String, usize>,
    /// Whole LISTs of another selector (the operator's pod, one Deployment's template), by
    /// `path?query`: how many, and the items the same LIST returns when asked again after
    /// the run (small: they are not passes over the daemons).
    other_lists: BTreeMap<String, (usize, usize)>,
}

impl Outcome {
    fn cpu(&self) -> Duration {
        self.run.as_ref().map(|r| r.user + r.sys).unwrap_or_default()
    }

    fn wall(&self) -> Duration {
        self.run.as_ref().map(|r| r.wall).unwrap_or_default()
    }

    fn per_daemon(&self) -> f64 {
        self.requests as f64 / self.plan.moving.max(1) as f64
    }

    /// The plugin's requests but its watches (a watch is one request that stays open and
    /// carries only the cluster's changes).
    fn not_watches(&self) -> usize {
        self.requests - self.by_verb.get("watch").copied().unwrap_or(0)
    }

    /// Objects the plugin's LISTs returned, about: each pass times its collection's size.
    fn objects_listed(&self) -> usize {
        let daemons: usize = self
            .list_passes
            .iter()
            .map(|(r, n)| n.saturating_sub(self.others_of(r)) * self.collection.get(r).copied().unwrap_or(1))
            .sum();
        daemons + self.other_lists.values().map(|(n, items)| n * items).sum::<usize>()
    }

    /// Of the whole passes over `resource`, the LISTs of another selector.
    fn others_of(&self, resource: &str) -> usize {
        let of = |k: &String| k.split('?').next().is_some_and(|p| p.ends_with(&format!("/{resource}")));
        self.other_lists.iter().filter(|(k, _)| of(k)).map(|(_, (n, _))| n).sum()
    }
}

fn upgrade_once(server: Server, osds: usize, nodes: usize, delay_ms: u64, image: &str) -> Outcome {
    let mut o = Outcome {
        server,
        osds,
        nodes,
        delay_ms,
        plan: Planned::default(),
        failed: None,
        run: None,
        start: Duration::ZERO,
        sim_cpu: Duration::ZERO,
        server_cpu: Duration::ZERO,
        controllers_cpu: Duration::ZERO,
        stages_run: 0,
        in_gates: Duration::ZERO,
        in_health: Duration::ZERO,
        in_ok_to_stop: Duration::ZERO,
        health_from: String::new(),
        requests: 0,
        by_verb: BTreeMap::new(),
        by_resource: BTreeMap::new(),
        list_passes: BTreeMap::new(),
        collection: BTreeMap::new(),
        other_lists: BTreeMap::new(),
    };
    let delay = delay_ms.to_string();
    let args: Vec<String> = [
        "--osds",
        &osds.to_string(),
        "--nodes",
        &nodes.to_string(),
        "--restart-delay-ms",
        &delay,
        "--ready-delay-ms",
        &delay,
        "--health-settle-ms",
        &delay,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let sim = start_sim(server, &args);
    o.start = sim.start_time;
    eprintln!("   rook-sim started in {:.1} s", secs(o.start));
    match planned(&sim, image) {
        Ok(p) => o.plan = p,
        Err(e) => {
            o.failed = Some(e);
            return o;
        }
    }
    let before = before(&sim);
    sim.clear_log();
    let (cpu0, server0, controllers0) = (sim.sim_cpu(), sim.server_cpu(), sim.controllers_cpu());
    let run = measured(&mut sim.plugin(&["upgrade", image, "--yes", "--timeout", GATE_TIMEOUT]));
    o.sim_cpu = sim.sim_cpu().saturating_sub(cpu0);
    o.server_cpu = sim.server_cpu().saturating_sub(server0);
    o.controllers_cpu = sim.controllers_cpu().saturating_sub(controllers0);
    // the log is read before anything else asks the simulation: it holds the plugin's requests only
    let log = sim.log();
    o.requests = log.len();
    for r in log {
        *o.by_verb.entry(r.verb.clone()).or_default() += 1;
        *o.by_resource.entry(format!("{} {}", r.verb.to_uppercase(), r.resource)).or_default() += 1;
        if r.verb == "list" && !r.query.split('&').any(|kv| kv.starts_with("continue=")) {
            // the daemon selector alone (`rook_cluster=NS`) is a pass over the collection
            let sel = format!("labelSelector=rook_cluster%3D{NS}");
            let daemons = r.query.split('&').any(|kv| kv == sel) || r.resource == "cephclusters";
            if !daemons {
                o.other_lists.entry(format!("{}?{}", r.path, r.query)).or_default().0 += 1;
            }
            *o.list_passes.entry(r.resource).or_default() += 1;
        }
    }
    o.stages_run = run.stderr.lines().filter(|l| l.starts_with("stage ")).count();
    o.in_gates = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("rollout done: "))
        .filter_map(|l| l.rsplit_once(" after ")?.1.strip_suffix('s')?.parse::<f64>().ok())
        .map(Duration::from_secs_f64)
        .sum();
    if let Some(l) = run.stdout.lines().find_map(|l| l.trim().strip_prefix("Time in gates: health ")) {
        let num = |t: &str| t.trim().trim_end_matches(['s', '.', ' ']).trim().parse::<f64>().ok();
        let (health, rest) = l.split_once(" s (").unwrap_or_default();
        let (from, ok) = rest.split_once("), ok-to-stop ").unwrap_or_default();
        o.in_health = Duration::from_secs_f64(num(health).unwrap_or_default());
        o.in_ok_to_stop = Duration::from_secs_f64(num(ok).unwrap_or_default());
        o.health_from = if from == "Ceph asked" { "Ceph".into() } else { "Rook".into() };
    }
    let sel = format!("labelSelector=rook_cluster%3D{NS}");
    for (resource, path) in [
        ("deployments", format!("/apis/apps/v1/namespaces/{NS}/deployments")),
        ("pods", format!("/api/v1/namespaces/{NS}/pods")),
    ] {
        let items: List<Named> = sim.get(&format!("{path}?{sel}"));
        o.collection.insert(resource.to_string(), items.items.len());
    }
    for (path, (_, items)) in o.other_lists.iter_mut() {
        *items = sim.get::<List<Named>>(path).items.len();
    }
    if run.exit != Ok(0) || !run.stdout.contains("Upgrade done") {
        o.failed = Some(format!(
            "the upgrade exited {:?} after {} of {} planned stages: {}",
            run.exit,
            o.stages_run,
            o.plan.stages,
            last_lines(&run.stderr, 1)
        ));
        eprintln!("{}", run.stderr);
    } else {
        let off = not_finished(&sim, image, &before);
        if !off.is_empty() {
            o.failed = Some(format!("the plugin said done, but: {}", off.join("; ")));
        }
    }
    o.run = Some(run);
    o
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let list = |var: &str, default: &str| -> Vec<u64> {
        std::env::var(var)
            .unwrap_or_else(|_| default.into())
            .split(',')
            .map(|s| s.trim().parse().unwrap_or_else(|_| panic!("{var}: numbers separated by commas")))
            .collect()
    };
    let scales = list("BENCH_UPGRADE_SCALES", "200,2000");
    let delays = list("BENCH_UPGRADE_DELAYS", "0,50");
    let servers = common::servers();
    let skip: Vec<String> =
        std::env::var("BENCH_UPGRADE_SKIP").unwrap_or_default().split(',').map(|s| s.trim().to_string()).collect();
    let per_node = list("BENCH_UPGRADE_OSDS_PER_NODE", "12")[0].max(1) as usize;
    let image = std::env::var("BENCH_UPGRADE_IMAGE").unwrap_or_else(|_| DEFAULT_IMAGE.into());
    let out_path = std::env::var("BENCH_OUT").unwrap_or_else(|_| "bench/results.md".into());
    // the load before anything of ours runs: the other builds and tests sharing the machine
    let machine = machine();

    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for &osds in &scales {
        let osds = osds as usize;
        // as `demo` sizes it (one node per 12 OSDs by default, at least 3)
        let nodes = osds.div_ceil(per_node).max(3);
        for &delay in &delays {
            for &server in &servers {
                let key = format!("{}/{osds}/{delay}", server.name());
                if skip.contains(&key) {
                    skipped.push(key);
                    continue;
                }
                eprintln!(
                    "== upgrade to {image}: {osds} OSDs on {nodes} nodes, simulated delays {delay} ms, {} server",
                    server.name()
                );
                let o = upgrade_once(server, osds, nodes, delay, &image);
                match &o.failed {
                    Some(why) => eprintln!("   FAILED: {why}"),
                    None => eprintln!(
                        "   {:.1} s wall, plugin CPU {:.2} s, {} requests ({:.2} per daemon moved, {:.2} but watches), \
                         {:.2} objects LISTed per daemon moved",
                        secs(o.wall()),
                        secs(o.cpu()),
                        o.requests,
                        o.per_daemon(),
                        o.not_watches() as f64 / o.plan.moving.max(1) as f64,
                        o.objects_listed() as f64 / o.plan.moving.max(1) as f64
                    ),
                }
                outcomes.push(o);
                // written after each run: a long invocation that dies late keeps what it measured
                let section = report(&machine, &out_path, &outcomes, &skipped, &scales, &delays, per_node, &image);
                write_section(Path::new(&out_path), &section);
            }
        }
    }

    let section = report(&machine, &out_path, &outcomes, &skipped, &scales, &delays, per_node, &image);
    println!("{section}");
    write_section(Path::new(&out_path), &section);
    eprintln!("written to {out_path}");
    if outcomes.iter().any(|o| o.failed.is_some()) {
        eprintln!("some upgrades failed: see the report");
        std::process::exit(1);
    }
}

#[allow(clippy::too_many_arguments)]
fn report(
    machine: &str,
    out_path: &str,
    outcomes: &[Outcome],
    skipped: &[String],
    scales: &[u64],
    delays: &[u64],
    per_node: usize,
    image: &str,
) -> String {
    let mut t = format!("{SECTION}\n## Staged upgrade: `upgrade IMAGE --yes` at scale (issues 15 and 20)\n\n");
    let servers: Vec<&str> = {
        let mut v: Vec<&str> = outcomes.iter().map(|o| o.server.name()).collect();
        v.dedup();
        v
    };
    t.push_str(&format!(
        "{}\n\nDate: {}; plugin at {}. Command: `BENCH_UPGRADE_SCALES={} BENCH_UPGRADE_DELAYS={} BENCH_SERVERS={}{} \
         BENCH_UPGRADE_OSDS_PER_NODE={per_node} cargo bench --bench upgrade` (benches/upgrade.rs): one \
         `upgrade {image} --yes --timeout {GATE_TIMEOUT}` per row on a fresh `demo --serve` (proposed CRD, \
         quay.io/ceph/ceph:v20.2.4, {per_node} OSDs a node, osdMaxUpdatesInParallel 20), with the simulated \
         delays (`--restart-delay-ms`, `--ready-delay-ms`, `--health-settle-ms`) all set to the row's value; on \
         the `real` server that is `demo --serve --on` a fresh control plane (`scripts/control-plane up`, \
         Kubernetes {}) for each row, the plugin talking to kube-apiserver directly as its admin user.\n\n",
        machine,
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
        git_head(out_path),
        join(scales),
        join(delays),
        servers.join(","),
        if skipped.is_empty() { String::new() } else { format!(" BENCH_UPGRADE_SKIP={}", skipped.join(",")) },
        kubectl_version().trim_start_matches("Client Version: "),
    ));
    t.push_str(
        "| server | OSDs | nodes | delays ms | sim start s | stages (run) | OSD batches | daemons moved | wall s | in pod \
         gates s | in health gates s (from) | in ok-to-stop s | plugin CPU s | CPU / wall | sim CPU s | server CPU s | controllers CPU s | peak RSS MiB | requests \
         | per daemon | GET | LIST | WATCH | PATCH | POST | DELETE \
         |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for o in outcomes {
        let (server_cpu, controllers_cpu) = match o.server {
            Server::Embedded => ("(in sim)".to_string(), "(in sim)".to_string()),
            Server::Real => (format!("{:.1}", secs(o.server_cpu)), format!("{:.1}", secs(o.controllers_cpu))),
        };
        let head =
            format!("| {} | {} | {} | {} | {:.1} |", o.server.name(), o.osds, o.nodes, o.delay_ms, secs(o.start));
        match (&o.failed, &o.run) {
            (None, Some(r)) => {
                let v = |k: &str| o.by_verb.get(k).copied().unwrap_or(0);
                t.push_str(&format!(
                    "{head} {} ({}) | {} | {} | {:.1} | {:.1} | {:.1} ({}) | {:.1} | {:.2} | {:.0}% | {:.1} | \
                     {server_cpu} | {controllers_cpu} | {} | {} | {:.2} | {} | {} | {} | {} | {} | {} |\n",
                    o.plan.stages,
                    o.stages_run,
                    o.plan.osd_batches,
                    o.plan.moving,
                    secs(r.wall),
                    secs(o.in_gates),
                    secs(o.in_health),
                    o.health_from,
                    secs(o.in_ok_to_stop),
                    secs(o.cpu()),
                    100.0 * secs(o.cpu()) / secs(r.wall).max(1e-9),
                    secs(o.sim_cpu),
                    rss_text(r),
                    o.requests,
                    o.per_daemon(),
                    v("get"),
                    v("list"),
                    v("watch"),
                    v("patch"),
                    v("create"),
                    v("delete") + v("deletecollection"),
                ));
            }
            (why, _) => t.push_str(&format!(
                "{head} FAILED: {} | | | | | | | | | | | | | | | | | | | | |\n",
                why.as_deref().unwrap_or("no run").replace('|', "/")
            )),
        }
    }
    let unknown: usize = outcomes
        .iter()
        .flat_map(|o| o.by_verb.iter())
        .filter(|(k, _)| !VERBS.contains(&k.as_str()) && k.as_str() != "deletecollection")
        .map(|(_, n)| n)
        .sum();
    if unknown > 0 {
        t.push_str(&format!("\n{unknown} request(s) of other verbs are in `requests` but in no verb column.\n"));
    }

    // Ratios within this invocation: each scale against the first, at the same delay.
    for k in skipped {
        t.push_str(&format!("\nNot run (BENCH_UPGRADE_SKIP): server/OSDs/delays {k}.\n"));
    }
    t.push_str(
        "\nRatios (this invocation): each run against the first scale's run with the same delays on the same server; \
         then the real server against the embedded one.\n\n",
    );
    let ok: Vec<&Outcome> = outcomes.iter().filter(|o| o.failed.is_none()).collect();
    for o in &ok {
        let Some(base) = ok.iter().find(|b| b.delay_ms == o.delay_ms && b.server == o.server) else { continue };
        if std::ptr::eq(*base, *o) {
            continue;
        }
        let r = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        t.push_str(&format!(
            "- {}: {} OSDs vs {} OSDs, delays {} ms: daemons moved **{:.1}x**, OSD batches {:.1}x; wall **{:.1}x**; \
             plugin CPU **{:.1}x** ({:.0} vs {:.0} ms per stage run); requests **{:.1}x** ({:.2} vs {:.2} per daemon \
             moved); objects LISTed **{:.1}x**; peak RSS {:.1}x\n",
            o.server.name(),
            o.osds,
            base.osds,
            o.delay_ms,
            r(o.plan.moving as f64, base.plan.moving as f64),
            r(o.plan.osd_batches as f64, base.plan.osd_batches as f64),
            r(secs(o.wall()), secs(base.wall())),
            r(secs(o.cpu()), secs(base.cpu())),
            1000.0 * secs(o.cpu()) / o.stages_run.max(1) as f64,
            1000.0 * secs(base.cpu()) / base.stages_run.max(1) as f64,
            r(o.requests as f64, base.requests as f64),
            o.per_daemon(),
            base.per_daemon(),
            r(o.objects_listed() as f64, base.objects_listed() as f64),
            r(o.run.as_ref().map_or(0, |x| x.rss_kib) as f64, base.run.as_ref().map_or(0, |x| x.rss_kib) as f64),
        ));
    }
    // The real server against the embedded one: same scale, same delays.
    for o in ok.iter().filter(|o| o.server == Server::Real) {
        let Some(e) = ok.iter().find(|b| b.server == Server::Embedded && b.osds == o.osds && b.delay_ms == o.delay_ms)
        else {
            continue;
        };
        let r = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        t.push_str(&format!(
            "- real / embedded server, {} OSDs, delays {} ms: wall **{:.2}x** ({:.1} vs {:.1} s; in pod gates {:.1} vs \
             {:.1} s); plugin CPU **{:.2}x** ({:.2} vs {:.2} s); requests {:.2}x ({} vs {}); peak RSS {:.2}x; rook-sim \
             start {:.1} vs {:.1} s; on the real server kube-apiserver + etcd used {:.1} s of CPU and the controllers \
             {:.1} s, the simulation {:.1} s (embedded: server and simulation {:.1} s)\n",
            o.osds,
            o.delay_ms,
            r(secs(o.wall()), secs(e.wall())),
            secs(o.wall()),
            secs(e.wall()),
            secs(o.in_gates),
            secs(e.in_gates),
            r(secs(o.cpu()), secs(e.cpu())),
            secs(o.cpu()),
            secs(e.cpu()),
            r(o.requests as f64, e.requests as f64),
            o.requests,
            e.requests,
            r(o.run.as_ref().map_or(0, |x| x.rss_kib) as f64, e.run.as_ref().map_or(0, |x| x.rss_kib) as f64),
            secs(o.start),
            secs(e.start),
            secs(o.server_cpu),
            secs(o.controllers_cpu),
            secs(o.sim_cpu),
            secs(e.sim_cpu),
        ));
    }
    // What the delays cost: same scale and server, delays against none.
    for o in &ok {
        let Some(zero) = ok.iter().find(|b| b.osds == o.osds && b.delay_ms == 0 && b.server == o.server) else {
            continue;
        };
        if o.delay_ms == 0 {
            continue;
        }
        t.push_str(&format!(
            "- {}: {} OSDs, delays {} ms vs none: wall {:.1} s vs {:.1} s (+{:.1} s spent on the simulated delays; in \
             the pod gates {:.1} s vs {:.1} s); plugin CPU {:.2} s vs {:.2} s\n",
            o.server.name(),
            o.osds,
            o.delay_ms,
            secs(o.wall()),
            secs(zero.wall()),
            secs(o.wall()) - secs(zero.wall()),
            secs(o.in_gates),
            secs(zero.in_gates),
            secs(o.cpu()),
            secs(zero.cpu()),
        ));
    }

    // Requests by verb and resource, and whole LIST passes: where they go.
    if !ok.is_empty() {
        t.push_str("\nRequests by verb and resource (per run), with the LISTs that started a new pass over a collection (no continue token):\n\n| request |");
        for o in &ok {
            t.push_str(&format!(" {}, {} OSDs, {} ms |", o.server.name(), o.osds, o.delay_ms));
        }
        t.push_str("\n|---|");
        t.push_str(&"---:|".repeat(ok.len()));
        t.push('\n');
        let mut keys: Vec<String> = ok.iter().flat_map(|o| o.by_resource.keys().cloned()).collect();
        keys.sort();
        keys.dedup();
        for k in &keys {
            t.push_str(&format!("| {k} |"));
            for o in &ok {
                t.push_str(&format!(" {} |", o.by_resource.get(k).copied().unwrap_or(0)));
            }
            t.push('\n');
        }
        let mut lists: Vec<String> = ok.iter().flat_map(|o| o.list_passes.keys().cloned()).collect();
        lists.sort();
        lists.dedup();
        for k in &lists {
            t.push_str(&format!("| LIST {k}: passes |"));
            for o in &ok {
                t.push_str(&format!(" {} |", o.list_passes.get(k).copied().unwrap_or(0)));
            }
            t.push('\n');
        }
        t.push_str("| LIST: objects returned (passes over the daemons x collection size, + other selectors' items) |");
        for o in &ok {
            t.push_str(&format!(" {} |", o.objects_listed()));
        }
        t.push_str("\n| LIST: objects returned per daemon moved (issue 24: at most 3) |");
        for o in &ok {
            t.push_str(&format!(" {:.2} |", o.objects_listed() as f64 / o.plan.moving.max(1) as f64));
        }
        t.push_str("\n| requests other than WATCH per daemon moved (issue 24: at most 3.5) |");
        for o in &ok {
            t.push_str(&format!(" {:.2} |", o.not_watches() as f64 / o.plan.moving.max(1) as f64));
        }
        t.push('\n');
        t.push_str("| stages run |");
        for o in &ok {
            t.push_str(&format!(" {} |", o.stages_run));
        }
        t.push('\n');
    }
    let parent_mib =
        outcomes.iter().filter_map(|o| o.run.as_ref()).map(|r| r.parent_rss_kib).max().unwrap_or(0) as f64 / 1024.0;
    t.push_str(&format!(
        "\n`plugin CPU` is user + sys of the plugin process (wait4): its own work, apart from the time it waits on \
         the simulation; `sim CPU` is rook-sim's process over the same run (`demo --serve`: on the embedded server \
         its API server and Deployment controller too; on the real server only the simulated Rook operator and \
         kubelets), `server CPU` kube-apiserver + etcd's and `controllers CPU` kube-controller-manager + \
         kube-scheduler's on the real server (from /proc; all share the cores). `sim start` is how long `demo \
         --serve` took until every daemon's pod ran. `requests` are the plugin's: the embedded server's request \
         log, or the real server's audit log (its admin user's requests, one per audit ID; rook-sim acts as \
         another user). `in pod gates` is the sum \
         of the plugin's own \"rollout done ... after X s\" (each stage's gate on its pods, from its LIST to the last \
         pod Ready); the rest of `wall` is the plugin's reads, plans and writes between the gates, and the health \
         gate. `wall` includes the plugin's start and its reads before the first stage. `peak RSS` is wait4's \
         ru_maxrss of the plugin, forked from the benchmark, whose resident memory at the fork it counts too: {:.1} \
         MiB at most here. Each run was checked afterwards through the API, without the plugin: every Deployment \
         and Running pod on the image and Ready, each Deployment's pod template changed exactly once (revision + 1 on the real \
         server, generation + 1 on the embedded one) and \
         all its pods new (none of a pod template from before, none terminating, as many as its replicas), nothing \
         of the upgrade left on the CephCluster.\n",
        parent_mib
    ));
    t
}

/// The child's peak RSS, unless it is no more than this process had resident at the fork
/// (which a forked child's peak counts): then only that bound.
fn rss_text(r: &Run) -> String {
    let mib = |k: u64| k as f64 / 1024.0;
    if r.rss_kib as f64 <= r.parent_rss_kib as f64 * 1.1 {
        format!("at most {:.1} (the benchmark's own {:.1})", mib(r.rss_kib), mib(r.parent_rss_kib))
    } else {
        format!("{:.1}", mib(r.rss_kib))
    }
}

fn join(v: &[u64]) -> String {
    v.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

/// This benchmark's section replaces its earlier one (up to the next section marker or
/// the end); everything else in the file is kept.
fn write_section(path: &Path, section: &str) {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let new = match old.find(SECTION) {
        Some(start) => {
            let rest = &old[start + SECTION.len()..];
            let end = rest.find("<!-- section: ").map(|i| start + SECTION.len() + i).unwrap_or(old.len());
            format!("{}{section}{}", &old[..start], &old[end..])
        }
        None if old.trim().is_empty() => section.to_string(),
        None => format!("{}\n\n{section}", old.trim_end()),
    };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(path, new).unwrap();
}

/// The commit measured, and whether files it tracks differ from it (the results file this
/// writes does not count: an earlier run's results are no change to what is measured).
fn git_head(out_path: &str) -> String {
    let run = |args: &[&str]| {
        Command::new("git").args(args).output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let head = run(&["rev-parse", "--short", "HEAD"]).filter(|h| !h.is_empty()).unwrap_or_else(|| "?".into());
    let exclude = format!(":(exclude){out_path}");
    let dirty =
        run(&["status", "--porcelain", "--untracked-files=no", "--", ".", &exclude]).is_some_and(|s| !s.is_empty());
    if dirty { format!("{head} with uncommitted changes") } else { head }
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
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    // the plugin binary is built with this benchmark's profile
    let profile = if cfg!(debug_assertions) { "a debug (dev)" } else { "the bench (release)" };
    format!(
        "Machine: {cpu}, {cores} cores, {:.0} GiB, load average {load} at the start; plugin and rook-sim built with \
         {profile} profile.",
        mem as f64 / 1024.0 / 1024.0
    )
}
