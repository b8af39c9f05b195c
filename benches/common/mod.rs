//! Shared by the benchmarks (issue 20): the simulated cluster as its own process on either
//! server, and the real control plane it runs on.
//!
//! `embedded`: `demo --serve`, rook-sim's own API server; the clients measured use its
//! kubeconfig and its request log counts their requests. `real`: a fresh control plane
//! (`scripts/control-plane up` into a temporary folder, stopped by a guard when dropped, and
//! by `--owner-pid` should this process die without unwinding), with `demo --serve --on`
//! running the simulated Rook operator and kubelets on it. There the clients measured talk
//! to kube-apiserver directly as its `admin` user (not through rook-sim's front, which
//! would add its own hop), and their requests are counted in the server's audit log
//! (`DIR/audit.log`: every request of `admin` after a mark, one per audit ID); rook-sim acts
//! as the `rook-sim` user, which the count leaves out.
//!
//! Server CPU: embedded, the `demo` process (server and simulation are one process); real,
//! kube-apiserver + etcd from /proc, with the simulation (`demo --serve --on`) and the
//! controllers (kube-controller-manager + kube-scheduler) apart.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

pub const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-ceph-image");
pub const NS: &str = "rook-ceph";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Server {
    Embedded,
    Real,
}

impl Server {
    pub fn name(self) -> &'static str {
        match self {
            Server::Embedded => "embedded",
            Server::Real => "real",
        }
    }
}

/// BENCH_SERVERS: `embedded`, `real` or both (the default), comma-separated.
pub fn servers() -> Vec<Server> {
    std::env::var("BENCH_SERVERS")
        .unwrap_or_else(|_| "embedded,real".into())
        .split(',')
        .map(|s| match s.trim() {
            "embedded" => Server::Embedded,
            "real" => Server::Real,
            other => panic!("BENCH_SERVERS: embedded and/or real, not {other:?}"),
        })
        .collect()
}

#[path = "../../tests/common/binaries.rs"]
mod binaries;
use binaries::repo;
pub use binaries::{bin_dir, kubectl_bin};

/// `kubectl version --client`'s first line.
pub fn kubectl_version() -> String {
    Command::new(kubectl_bin())
        .args(["version", "--client"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("").to_string())
        .unwrap_or_default()
}

/// CPU time (user + sys) of a process so far, from /proc (zero once it is gone).
pub fn proc_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // after the command name in parentheses: state is field 3, utime 14, stime 15
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks: u64 = fields.get(11..13).map(|f| f.iter().filter_map(|x| x.parse::<u64>().ok()).sum()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_secs_f64(ticks as f64 / hz as f64)
}

/// A real control plane in a temporary folder, stopped (`down`) and removed when dropped.
pub struct ControlPlane {
    dir: PathBuf,
    /// (pid, program) as `up` wrote them in DIR/pids.
    pids: Vec<(u32, String)>,
}

impl ControlPlane {
    pub fn up() -> ControlPlane {
        bin_dir();
        let dir = std::env::temp_dir().join(format!(
            "ceph-image-bench-cp-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_millisecond()
        ));
        // the guard first: a start that fails half way is stopped too
        let mut cp = ControlPlane { dir, pids: Vec::new() };
        let out = Command::new(repo().join("scripts/control-plane"))
            .arg("up")
            .arg(&cp.dir)
            .arg("--owner-pid")
            .arg(std::process::id().to_string())
            .output()
            .expect("scripts/control-plane runs");
        assert!(
            out.status.success(),
            "the control plane did not start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        cp.pids = std::fs::read_to_string(cp.dir.join("pids"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (pid, name) = l.split_once(' ')?;
                Some((pid.trim().parse().ok()?, name.trim().to_string()))
            })
            .collect();
        cp
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn kubeconfig(&self, user: &str) -> PathBuf {
        self.dir.join(format!("{user}.kubeconfig"))
    }

    /// CPU time so far of the control plane's programs whose name is one of `names`.
    pub fn cpu(&self, names: &[&str]) -> Duration {
        self.pids.iter().filter(|(_, n)| names.iter().any(|x| n.ends_with(x))).map(|(p, _)| proc_cpu(*p)).sum()
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/control-plane"))
            .arg("down")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One request the clients measured sent, from the embedded server's request log or the
/// real server's audit log.
#[derive(Deserialize, Debug, Clone)]
pub struct Logged {
    pub verb: String,
    pub resource: String,
    /// The request's path, without its query.
    #[serde(default)]
    pub path: String,
    pub query: String,
}

/// The simulated cluster, as its own process, on either server. Dropped: the simulation
/// is killed first, then the control plane (if any) stopped.
pub struct Sim {
    child: Child,
    pub server: Server,
    /// What the clients measured use: the embedded server's, or the real server's admin
    /// user's with its context in NS.
    pub kubeconfig: PathBuf,
    api: String,
    token: String,
    ca: PathBuf,
    /// Where the audit log was at the last `clear_log` (real server).
    mark: std::cell::Cell<u64>,
    /// How long `demo --serve` took until it printed its kubeconfig (every pod running).
    pub start_time: Duration,
    stderr: PathBuf,
    cp: Option<ControlPlane>,
    dir: tempfile::TempDir,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // then the control plane (field order would drop it after `dir` anyway; explicit)
        self.cp.take();
    }
}

/// The server, token and CA file of a kubeconfig's first cluster and user.
fn credentials(kubeconfig: &Path, dir: &Path, name: &str) -> (String, String, PathBuf) {
    let kc: Value = serde_saphyr::from_str(&std::fs::read_to_string(kubeconfig).unwrap()).unwrap();
    let server = kc["clusters"][0]["cluster"]["server"].as_str().unwrap().to_string();
    let token = kc["users"][0]["user"]["token"].as_str().expect("a token user").to_string();
    use base64::Engine;
    let ca_pem = base64::engine::general_purpose::STANDARD
        .decode(kc["clusters"][0]["cluster"]["certificate-authority-data"].as_str().unwrap())
        .unwrap();
    let ca = dir.join(format!("{name}-ca.pem"));
    std::fs::write(&ca, ca_pem).unwrap();
    (server, token, ca)
}

/// Start the simulation (`demo --serve` with `args`) on `server`; returns once every daemon
/// runs (demo prints its kubeconfig then).
pub fn start_sim(server: Server, args: &[String]) -> Sim {
    let dir = tempfile::tempdir().unwrap();
    let front_kubeconfig = dir.path().join("kubeconfig");
    let stderr = dir.path().join("demo.stderr");
    let cp = match server {
        Server::Embedded => None,
        Server::Real => Some(ControlPlane::up()),
    };
    let mut cmd = Command::new(PLUGIN);
    cmd.args(["demo", "--serve"]).args(args).arg("--kubeconfig-out").arg(&front_kubeconfig);
    if let Some(cp) = &cp {
        cmd.arg("--on").arg(cp.kubeconfig("rook-sim"));
    }
    let t0 = std::time::Instant::now();
    let mut child =
        cmd.stdout(Stdio::piped()).stderr(std::fs::File::create(&stderr).unwrap()).spawn().expect("rook-sim starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let start_time = t0.elapsed();
    if !line.starts_with("export KUBECONFIG=") {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "rook-sim on the {} server did not start after {:.0} s: {}",
            server.name(),
            start_time.as_secs_f64(),
            std::fs::read_to_string(&stderr).unwrap_or_default().trim()
        );
    }
    let (kubeconfig, (api, token, ca)) = match &cp {
        None => (front_kubeconfig.clone(), credentials(&front_kubeconfig, dir.path(), "front")),
        Some(cp) => {
            // the admin user's kubeconfig, its context in NS (JSON is YAML)
            let admin = cp.kubeconfig("admin");
            let mut kc: Value = serde_saphyr::from_str(&std::fs::read_to_string(&admin).unwrap()).unwrap();
            for c in kc["contexts"].as_array_mut().expect("contexts") {
                c["context"]["namespace"] = NS.into();
            }
            let path = dir.path().join("admin.kubeconfig");
            std::fs::write(&path, serde_json::to_string(&kc).unwrap()).unwrap();
            let creds = credentials(&path, dir.path(), "admin");
            (path, creds)
        }
    };
    Sim { child, server, kubeconfig, api, token, ca, mark: 0.into(), start_time, stderr, cp, dir }
}

impl Sim {
    pub fn control_plane(&self) -> Option<&ControlPlane> {
        self.cp.as_ref()
    }

    /// curl of the API the clients measured use (as they, with a token).
    pub fn curl(&self, method: &str, path: &str) -> Command {
        let mut c = Command::new("curl");
        c.args(["-sS", "--fail", "-X", method, "--cacert"])
            .arg(&self.ca)
            .arg("-H")
            .arg(format!("Authorization: Bearer {}", self.token))
            .arg(format!("{}{}", self.api, path));
        c
    }

    /// GET into the fields a check needs: the rest is skipped as it is read, so that this
    /// process stays small (its resident memory at a fork counts in the child's peak).
    pub fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let out = self.curl("GET", path).output().unwrap();
        assert!(out.status.success(), "GET {path}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// The plugin on this server.
    pub fn plugin(&self, args: &[&str]) -> Command {
        let mut c = Command::new(PLUGIN);
        c.args(args).env("KUBECONFIG", &self.kubeconfig);
        c
    }

    /// The control plane's kubectl on this server.
    pub fn kubectl(&self, cache: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(kubectl_bin());
        c.arg("--kubeconfig").arg(&self.kubeconfig).arg("--cache-dir").arg(cache).args(args);
        c
    }

    /// Forget the requests so far.
    pub fn clear_log(&self) {
        match &self.cp {
            None => assert!(self.curl("DELETE", "/rook-sim/log").stdout(Stdio::null()).status().unwrap().success()),
            Some(cp) => self.mark.set(std::fs::metadata(cp.dir().join("audit.log")).map(|m| m.len()).unwrap_or(0)),
        }
    }

    /// The requests of the clients measured since `clear_log`.
    pub fn log(&self) -> Vec<Logged> {
        match &self.cp {
            None => self.get("/rook-sim/log"),
            Some(cp) => {
                // the audit event of a request's end may be written just after its answer
                std::thread::sleep(Duration::from_millis(300));
                audit_requests(&cp.dir().join("audit.log"), self.mark.get(), "admin")
            }
        }
    }

    pub fn requests(&self) -> usize {
        self.log().len()
    }

    /// The simulation process's CPU time so far (on the embedded server, its API server's too).
    pub fn sim_cpu(&self) -> Duration {
        proc_cpu(self.child.id())
    }

    /// The API server's CPU time so far: kube-apiserver + etcd on the real server, the
    /// `demo` process (server and simulation in one) on the embedded one.
    pub fn server_cpu(&self) -> Duration {
        match &self.cp {
            None => self.sim_cpu(),
            Some(cp) => cp.cpu(&["kube-apiserver", "etcd"]),
        }
    }

    /// kube-controller-manager + kube-scheduler (real server; zero on the embedded one,
    /// whose Deployment controller is the simulation's).
    pub fn controllers_cpu(&self) -> Duration {
        match &self.cp {
            None => Duration::ZERO,
            Some(cp) => cp.cpu(&["kube-controller-manager", "kube-scheduler"]),
        }
    }

    /// What `demo --serve` said on stderr.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// The requests of `user` in the audit log from byte `from` on, one per audit ID (a watch
/// has two events, ResponseStarted and ResponseComplete), in the order they began.
pub fn audit_requests(path: &Path, from: u64, user: &str) -> Vec<Logged> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(_) => return Vec::new(),
    };
    let _ = f.seek(std::io::SeekFrom::Start(from));
    let mut text = String::new();
    let _ = f.read_to_string(&mut text);
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Event {
        #[serde(rename = "auditID")]
        audit_id: String,
        verb: String,
        // the audit event's own spelling (camelCase would read `requestUri`, never there)
        #[serde(default, rename = "requestURI")]
        request_uri: String,
        user: User,
        #[serde(default)]
        object_ref: Option<ObjectRef>,
    }
    #[derive(Deserialize)]
    struct User {
        #[serde(default)]
        username: String,
    }
    #[derive(Deserialize)]
    struct ObjectRef {
        #[serde(default)]
        resource: String,
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let Ok(e) = serde_json::from_str::<Event>(line) else { continue };
        if e.user.username != user || !seen.insert(e.audit_id) {
            continue;
        }
        out.push(Logged {
            verb: e.verb,
            resource: e.object_ref.map(|o| o.resource).unwrap_or_default(),
            path: e.request_uri.split('?').next().unwrap_or_default().to_string(),
            query: e.request_uri.split_once('?').map(|(_, q)| q.to_string()).unwrap_or_default(),
        });
    }
    out
}
