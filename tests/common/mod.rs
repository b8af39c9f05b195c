//! Shared by the integration tests: a simulated cluster per test, the real control plane
//! (`control_plane`), the built plugin binary and the real kubectl pointed at either.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

use rook_sim::{Crd, OperatorConfig, Sim, SimOptions, Topology};

thread_local! {
    /// Set by `on_both!`'s real-control-plane test: the simulations this thread starts run
    /// on the real control plane.
    static REAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` with the simulations it starts on the real control plane (`control_plane`).
pub fn on_real_control_plane<T>(f: impl FnOnce() -> T) -> T {
    REAL.with(|r| r.set(true));
    let out = f();
    REAL.with(|r| r.set(false));
    out
}

/// Is this test running on the real control plane?
pub fn real() -> bool {
    REAL.with(|r| r.get())
}

/// Each test in it twice: `NAME::embedded_server` on rook-sim's embedded API server and
/// `NAME::real_control_plane` on the real one (the simulated Rook and kubelets acting on it
/// through rook-sim's front, in a namespace of its own). The bodies start their clusters
/// with `sim`/`sim_with`/`slow_sim`, which follow the choice, and name the namespace as
/// `ns(&sim)`.
#[macro_export]
macro_rules! on_both {
    ($($(#[$m:meta])* fn $name:ident() $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                $(#[$m])*
                fn body() $body
                #[test]
                fn embedded_server() {
                    body()
                }
                #[test]
                fn real_control_plane() {
                    $crate::common::on_real_control_plane(body)
                }
            }
        )*
    };
}

/// The namespace (and name) of the simulation's CephCluster.
pub fn ns(sim: &Sim) -> String {
    sim.namespaces[0].clone()
}

pub fn sim_with(crd: Crd, osds: usize) -> Sim {
    if real() {
        return control_plane::control_plane(crd).sim("t", osds);
    }
    let opts = SimOptions {
        topology: Topology { osds, ..Default::default() },
        crd,
        operator: OperatorConfig { daemon_delay: std::time::Duration::ZERO, ..Default::default() },
        ..Default::default()
    };
    Sim::start(opts).expect("simulated cluster starts")
}

pub fn sim(crd: Crd) -> Sim {
    sim_with(crd, 12)
}

/// The real kubectl, built from the control plane's Kubernetes release (`scripts/control-plane
/// build`); where it cannot be built the test fails with that reason, never passes.
pub fn kubectl(sim: &Sim, args: &[&str]) -> Output {
    let cache = tempfile::tempdir().expect("tempdir");
    Command::new(control_plane::kubectl_bin())
        .arg("--kubeconfig")
        .arg(sim.kubeconfig())
        .arg("--cache-dir")
        .arg(cache.path())
        .args(args)
        .output()
        .expect("kubectl runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn kubectl_ok(sim: &Sim, args: &[&str]) -> String {
    let o = kubectl(sim, args);
    assert!(o.status.success(), "kubectl {args:?} failed: {}{}", stdout(&o), stderr(&o));
    stdout(&o)
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kubectl-ceph-image"))
}

/// The plugin binary with the simulation's kubeconfig, no colour, no terminal.
pub fn plugin(sim: &Sim) -> assert_cmd::Command {
    plugin_at(sim.kubeconfig())
}

/// The plugin binary with a kubeconfig file (a `demo --serve` started as a process).
pub fn plugin_at(kubeconfig: &std::path::Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::new(bin());
    c.env("KUBECONFIG", kubeconfig).env_remove("NO_COLOR").env("TERM", "dumb");
    c
}

/// The Deployments of the cluster's namespace that carry ceph.rook.io/do-not-reconcile.
pub fn labelled(sim: &Sim) -> std::collections::BTreeSet<String> {
    use rook_sim::resources::DEPLOYMENTS;
    sim.list(&DEPLOYMENTS, &ns(sim))
        .into_iter()
        .filter(|d| d["metadata"]["labels"].get("ceph.rook.io/do-not-reconcile").is_some())
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

/// Names of the pods of an app label, sorted.
pub fn pod_names(sim: &Sim, app: &str) -> Vec<String> {
    use rook_sim::resources::PODS;
    let mut v: Vec<String> = sim
        .list(&PODS, &ns(sim))
        .into_iter()
        .filter(|p| p["metadata"]["labels"]["app"] == app)
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// Every pod name, keyed by app label.
pub fn all_pods(sim: &Sim) -> std::collections::BTreeMap<String, String> {
    use rook_sim::resources::PODS;
    sim.list(&PODS, &ns(sim))
        .into_iter()
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap().to_string(),
                p["metadata"]["labels"]["app"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run the built plugin against the simulation (no terminal: stdin is empty).
pub fn run(sim: &Sim, args: &[&str]) -> Run {
    let out = plugin(sim).args(args).write_stdin("").output().expect("plugin runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "exit {}:\n{}\n{}", self.code, self.stdout, self.stderr);
        self
    }
}

/// The CephCluster without the fields every write changes.
pub fn cluster_fields(sim: &Sim) -> serde_json::Value {
    use rook_sim::resources::CEPHCLUSTERS;
    let mut c = sim.get(&CEPHCLUSTERS, &ns(sim), &ns(sim)).unwrap();
    let m = c["metadata"].as_object_mut().unwrap();
    m.remove("resourceVersion");
    m.remove("generation");
    c.as_object_mut().unwrap().remove("status");
    c
}

/// A simulation whose operator takes its time: each daemon waits `ms` to turn Ready.
pub fn slow_sim(crd: Crd, ms: u64) -> Sim {
    let operator = OperatorConfig {
        daemon_delay: std::time::Duration::from_millis(ms),
        ready_delay: std::time::Duration::from_millis(ms),
        osd_batch: 2,
        ..Default::default()
    };
    if real() {
        return control_plane::control_plane(crd).sim_with("t", 6, operator, None);
    }
    let opts = SimOptions { topology: Topology { osds: 6, ..Default::default() }, crd, operator, ..Default::default() };
    Sim::start(opts).expect("simulated cluster starts")
}
/// Another writer's patch of one object of the simulation's namespace, landing just before
/// a write of the plugin reaches the server: on the embedded server into its store, on the
/// real control plane through its API (the front runs the real kubectl as `admin` before it
/// forwards the plugin's write), so the plugin's precondition meets a real 409 there.
pub struct OtherWrite {
    pub kind: &'static rook_sim::resources::Kind,
    pub name: String,
    /// A JSON merge patch, or a strategic merge patch with `strategic` (built-in kinds).
    pub patch: serde_json::Value,
    pub strategic: bool,
    /// To the status subresource, as Rook writes a CephCluster's status.
    pub status: bool,
}

impl OtherWrite {
    pub fn merge(kind: &'static rook_sim::resources::Kind, name: &str, patch: serde_json::Value) -> OtherWrite {
        OtherWrite { kind, name: name.to_string(), patch, strategic: false, status: false }
    }

    pub fn strategic(kind: &'static rook_sim::resources::Kind, name: &str, patch: serde_json::Value) -> OtherWrite {
        OtherWrite { strategic: true, ..OtherWrite::merge(kind, name, patch) }
    }

    pub fn of_status(self) -> OtherWrite {
        OtherWrite { status: true, ..self }
    }

    /// The write, as a hook the simulation runs before a write of its client.
    fn hook(self, sim: &Sim) -> rook_sim::server::faults::Interloper {
        let ns = ns(sim);
        let real = sim.state.is_remote();
        let crd = sim.state.crd;
        Box::new(move |store| {
            if real {
                let kind = self.kind;
                let resource = if kind.group.is_empty() {
                    kind.plural.to_string()
                } else {
                    format!("{}.{}", kind.plural, kind.group)
                };
                let patch = self.patch.to_string();
                let mut args = vec!["-n", &ns, "patch", &resource, &self.name, "-p", &patch, "--type"];
                args.push(if self.strategic { "strategic" } else { "merge" });
                if self.status {
                    args.push("--subresource=status");
                }
                control_plane::control_plane(crd).kubectl_ok("admin", &args);
                return;
            }
            use rook_sim::server::patch::{PatchType, apply};
            let mut o = store.get_value(self.kind, &ns, &self.name).expect("the object");
            let t = if self.strategic { PatchType::Strategic } else { PatchType::Merge };
            apply(&mut o, t, self.patch.to_string().as_bytes()).expect("the patch applies");
            o["metadata"].as_object_mut().expect("metadata").remove("resourceVersion");
            store.update(self.kind, &ns, &self.name, o, false).expect("the other write lands");
        })
    }

    /// Before the plugin's next write (of any object).
    pub fn before_next_write(self, sim: &Sim) {
        let hook = self.hook(sim);
        sim.faults().before_next_write(hook);
    }

    /// Before the plugin's write to `target`, after `skip` writes to it went by.
    pub fn before_write_to(self, sim: &Sim, target: &str, skip: u32) {
        let hook = self.hook(sim);
        sim.faults().before_write_to(target, skip, hook);
    }
}

pub mod binaries;
pub mod control_plane;
pub mod pty;
