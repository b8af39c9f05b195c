//! The `ceph` CLI as it answers inside a Rook pod (issue 23 item 7): the one entry point
//! every exec path of the simulation calls - the embedded server's `pods/exec` and, on the
//! real control plane, the simulated kubelets' exec server - so both answer alike.
//!
//! A simulated Ceph behind it, derived at each call from what the simulation runs
//! (model.rs): OSDs up while their pod is Running and Ready on a node that is not down,
//! placement groups over the CRUSH failure domains (crush.rs), Ceph's health checks
//! (health.rs), and the commands Rook and kubectl-rook-ceph run with Ceph's JSON shapes,
//! wording and exit codes (commands.rs, osdmap.rs, status.rs). What Ceph keeps that no
//! Kubernetes object shows (flags, require-osd-release, rotated keys) and the faults tests
//! put on the CLI live in `SimState::ceph` (state.rs).
//!
//! Only this file reads the simulation; the rest is pure and takes what it gathered.

pub mod commands;
pub mod crush;
pub mod ctx;
pub mod health;
pub mod model;
pub mod osdmap;
pub mod state;
pub mod status;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::resources::{CEPHCLUSTERS, DEPLOYMENTS, PODS};
use crate::{SimState, operator, topology};

/// What a command run in a container left: its stdout and stderr (bytes, as the exec
/// API's channels carry them) and its exit code (0 success; as `sh` and Ceph exit otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecOutcome {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i32,
}

/// How long the CLI waits for a quorum without `--connect-timeout` (Ceph's
/// `client_mount_timeout`, 300 s).
const MOUNT_TIMEOUT: Duration = Duration::from_secs(300);

/// Run `command` (argv, `command[0]` the program) in container `container` of pod
/// `ns/pod`, as the simulation's containers answer. Async: a fault may make it hang.
///
/// `ceph` (or a path ending in `/ceph`) answers as the Ceph CLI of the cluster its `--conf`
/// names (`/var/lib/rook/<ns>/...`, as kubectl-rook-ceph passes it), else of `ns`'s
/// cluster: commands.rs lists the commands and their shapes; any other command exits 22
/// with Ceph's `no valid command found`. Without a CephCluster there: exit 1, `Error
/// initializing cluster client`. Without a mon quorum it waits `--connect-timeout` seconds
/// (else 300) and exits 1 with `[errno 110] RADOS timed out`, as the CLI does. Any other
/// program: `sh: <program>: not found`, exit 127.
pub async fn exec(state: &Arc<SimState>, ns: &str, _pod: &str, _container: &str, command: &[String]) -> ExecOutcome {
    let program = command.first().map(String::as_str).unwrap_or_default();
    if program != "ceph" && !program.ends_with("/ceph") {
        return ExecOutcome {
            stdout: Vec::new(),
            stderr: format!("sh: {program}: not found\n").into_bytes(),
            exit_code: 127,
        };
    }
    let args = commands::parse(&command[1..]);
    if let Some(fault) = state.ceph.take_fault(&args.words) {
        match fault {
            state::FaultKind::Hang => std::future::pending::<()>().await,
            state::FaultKind::Fail { exit_code, stderr } => {
                return ExecOutcome { stdout: Vec::new(), stderr: with_newline(stderr).into_bytes(), exit_code };
            }
            state::FaultKind::Garbage => {
                return ExecOutcome {
                    stdout: b"\x1b[31m2026-12-07T10:00:00 handle_auth_bad_method {\"ok_to_stop\": tr\n".to_vec(),
                    stderr: Vec::new(),
                    exit_code: 0,
                };
            }
        }
    }
    let ns = args.conf.as_deref().and_then(commands::conf_namespace).unwrap_or(ns).to_string();
    if operator::reconcile::cluster_in(state, &ns).is_none() && state.list(&CEPHCLUSTERS, Some(&ns)).is_empty() {
        return ExecOutcome {
            stdout: Vec::new(),
            stderr: b"Error initializing cluster client: ObjectNotFound('RADOS object not found (error calling conf_read_file)')\n".to_vec(),
            exit_code: 1,
        };
    }
    let cluster = model::Cluster::new(gather(state, &ns), &state.ceph.with(&ns, |s| s.out.clone()));
    if cluster.quorum().len() < cluster.mons().len() / 2 + 1 {
        let secs = args.connect_timeout.as_deref().and_then(|t| t.parse::<f64>().ok()).filter(|t| *t > 0.0);
        tokio::time::sleep(secs.map(Duration::from_secs_f64).unwrap_or(MOUNT_TIMEOUT)).await;
        return ExecOutcome {
            stdout: Vec::new(),
            stderr: b"[errno 110] RADOS timed out (error connecting to the cluster)\n".to_vec(),
            exit_code: 1,
        };
    }
    let out = run(&state.ceph, &ns, &cluster, &args);
    ExecOutcome { stdout: out.stdout.into_bytes(), stderr: out.stderr.into_bytes(), exit_code: out.code }
}

fn with_newline(mut s: String) -> String {
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// Run parsed arguments on a cluster, with the Ceph state (and DAEMON_OLD_VERSION clock) of
/// its namespace.
pub fn run(ceph: &state::CephState, ns: &str, cluster: &model::Cluster, args: &commands::Args) -> ctx::Out {
    let tree = crush::Tree::new(cluster);
    let mapping = crush::mapping(cluster, &tree);
    let mixed = health::versions_mixed(cluster);
    let delay = ceph.old_version_delay();
    // HealthMonitor::check_for_older_version: the clock starts at the first check and is
    // reset at a check after the delay that finds the versions agreeing
    let old_version_due = ceph.with(ns, |s| {
        let first = *s.old_version_first.get_or_insert_with(std::time::Instant::now);
        let due = first.elapsed() > delay;
        if due && !mixed {
            s.old_version_first = None;
        }
        due
    });
    let line = |v: &str| topology::ceph_version_line(v);
    let ctx = ctx::Ctx { cluster, tree: &tree, mapping: &mapping, ceph, ns, version_line: &line, old_version_due };
    commands::run(&ctx, args)
}

/// The service keys a cluster starts with: a cluster whose mons run a release with the
/// AES256K fix when the simulation starts (19.2.6, 20.2.4, 21.2.0 on) was created on it, and
/// its daemon keys were made AES256K; one below it has `aes` keys, which stay when an
/// upgrade crosses the boundary, so AUTH_INSECURE_SERVICE_KEY_TYPE (HEALTH_ERR) shows then
/// until `auth rotate` (ceph PR #70538; issue 23).
pub fn keys_at_creation(state: &SimState, ns: &str) {
    let cluster = model::Cluster::new(gather(state, ns), &Default::default());
    let fixed = cluster.of_kind("mon").any(|d| d.version.as_deref().is_some_and(model::has_aes256k));
    if fixed {
        state.ceph.with(ns, |s| s.all_aes256k = true);
    }
}

/// The Ceph daemons of `ns` as the simulation runs them: one per Rook daemon Deployment
/// (so an OSD whose Deployment has no pod is a down OSD), up when one of its pods is Running
/// and Ready on a node that is not down, with the version that pod's main container runs.
/// Canaries and maintenance copies (rook::is_copy) run no daemon.
pub fn gather(state: &SimState, ns: &str) -> Vec<model::Daemon> {
    let mut daemons: BTreeMap<(String, String), model::Daemon> = BTreeMap::new();
    let id_of = |t: &topology::SimType, labels: &BTreeMap<String, String>| {
        labels.get(t.id_label).or_else(|| labels.get("ceph_daemon_id")).cloned()
    };
    let ceph_types = ["mon", "mgr", "osd", "mds", "rgw", "rbd-mirror", "cephfs-mirror"];
    for labels in state.labels(&DEPLOYMENTS, ns) {
        let Some(t) = operator::rook::daemon_type("", &labels) else { continue };
        if !ceph_types.contains(&t.daemon_type) {
            continue;
        }
        let Some(id) = id_of(t, &labels) else { continue };
        let node = labels.get("topology-location-host").cloned().unwrap_or_default();
        daemons.entry((t.daemon_type.to_string(), id.clone())).or_insert_with(|| model::Daemon {
            kind: t.daemon_type.to_string(),
            id,
            up: false,
            version: None,
            location: if t.daemon_type == "osd" { model::location_from_labels(&labels, &node) } else { vec![] },
            group: group_of(t.daemon_type, &labels),
        });
    }
    for pod in pods(state, ns) {
        let deployment = pod.name.rsplitn(3, '-').nth(2).unwrap_or(&pod.name);
        let Some(t) = operator::rook::daemon_type(deployment, &pod.labels) else { continue };
        if !ceph_types.contains(&t.daemon_type) {
            continue;
        }
        let Some(id) = id_of(t, &pod.labels) else { continue };
        let node = pod.node.as_str();
        let up = pod.ready && !node.is_empty() && !state.kubelet.is_down(node);
        let d = daemons.entry((t.daemon_type.to_string(), id.clone())).or_insert_with(|| model::Daemon {
            kind: t.daemon_type.to_string(),
            id,
            up: false,
            version: None,
            location: vec![],
            group: group_of(t.daemon_type, &pod.labels),
        });
        if t.daemon_type == "osd" && (d.location.is_empty() || up) {
            d.location = model::location_from_labels(&pod.labels, node);
        }
        if pod.running && (up || d.version.is_none()) {
            let stale = state.kubelet.stale_version(node, &pod.image);
            d.version = Some(stale.unwrap_or_else(|| topology::ceph_version_of(&pod.image).0));
        }
        d.up |= up;
    }
    // a down daemon's version is not reported (it sends no metadata): `versions` counts the
    // running ones; DAEMON_OLD_VERSION compares those
    for d in daemons.values_mut() {
        if !d.up {
            d.version = None;
        }
    }
    daemons.into_values().collect()
}

/// What the simulated Ceph reads of a pod.
struct PodFacts {
    name: String,
    labels: BTreeMap<String, String>,
    node: String,
    /// Phase Running.
    running: bool,
    /// Running and Ready (kube::kubelet::is_ready).
    ready: bool,
    /// Its first container's image: the daemon's.
    image: String,
}

/// The fields of a pod Ceph's view needs, decoded alone: decoding whole pods into `Value`s
/// took ~1 s per call at 2000 OSDs, this a fraction of it.
#[derive(serde::Deserialize)]
struct PodLite {
    #[serde(default)]
    spec: SpecLite,
    #[serde(default)]
    status: StatusLite,
}

#[derive(serde::Deserialize, Default)]
struct SpecLite {
    #[serde(default, rename = "nodeName")]
    node_name: Option<String>,
    #[serde(default)]
    containers: Vec<ContainerLite>,
}

#[derive(serde::Deserialize, Default)]
struct ContainerLite {
    #[serde(default)]
    image: Option<String>,
}

#[derive(serde::Deserialize, Default)]
struct StatusLite {
    #[serde(default)]
    phase: Option<String>,
    #[serde(default)]
    conditions: Option<Vec<ConditionLite>>,
}

#[derive(serde::Deserialize)]
struct ConditionLite {
    #[serde(rename = "type")]
    kind: String,
    status: String,
}

/// The pods of `ns`: on the embedded server from the store's bytes (copied out under its
/// lock, decoded after), on a real one from a LIST.
fn pods(state: &SimState, ns: &str) -> Vec<PodFacts> {
    let lite = |name: String, labels: BTreeMap<String, String>, p: PodLite| {
        let running = p.status.phase.as_deref() == Some("Running");
        let ready = running
            && match p.status.conditions.as_ref().and_then(|cs| cs.iter().find(|c| c.kind == "Ready")) {
                Some(c) => c.status == "True",
                None => true,
            };
        PodFacts {
            name,
            labels,
            node: p.spec.node_name.unwrap_or_default(),
            running,
            ready,
            image: p.spec.containers.into_iter().next().and_then(|c| c.image).unwrap_or_default(),
        }
    };
    if state.is_remote() {
        return state
            .list(&PODS, Some(ns))
            .into_iter()
            .filter_map(|v| {
                let name = v["metadata"]["name"].as_str().unwrap_or_default().to_string();
                let labels = crate::server::store::labels_of(&v);
                Some(lite(name, labels, serde_json::from_value(v).ok()?))
            })
            .collect();
    }
    let raw: Vec<(String, BTreeMap<String, String>, bytes::Bytes)> = state
        .store()
        .iter(&PODS, Some(ns), None)
        .map(|(k, s)| (k.1.clone(), s.labels.clone(), s.bytes.clone()))
        .collect();
    raw.into_iter().filter_map(|(name, labels, b)| Some(lite(name, labels, serde_json::from_slice(&b).ok()?))).collect()
}

fn group_of(kind: &str, labels: &BTreeMap<String, String>) -> Option<String> {
    match kind {
        "mds" => labels.get("rook_file_system").cloned(),
        "rgw" => labels.get("rook_object_store").cloned(),
        _ => None,
    }
}
