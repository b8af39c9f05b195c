//! The real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler and kubectl of one release, built from Kubernetes' own Go modules by
//! `scripts/control-plane`), one per test binary and CephCluster CRD, a namespace per test.
//!
//! It is started on first use and stops, its folder removed, when the test binary exits
//! (`--owner-pid`). Without Go and the Go module proxy the first use fails the test with
//! that reason: these tests never pass without having run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use rook_sim::Crd;
use serde_json::{Value, json};

pub struct ControlPlane {
    dir: PathBuf,
    bin: PathBuf,
    crd: Crd,
}

static RELEASED: OnceLock<ControlPlane> = OnceLock::new();
static PROPOSED: OnceLock<ControlPlane> = OnceLock::new();
static NAMESPACES: AtomicUsize = AtomicUsize::new(0);

/// kubectl's stdout; a failure fails the test with what it said.
fn succeeded(user: &str, args: &[&str], o: Output) -> String {
    assert!(
        o.status.success(),
        "kubectl {args:?} as {user} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

use super::binaries::repo;
pub use super::binaries::{bin_dir, kubectl_bin};

/// The control plane whose CephCluster CRD is `crd` (started on first use).
pub fn control_plane(crd: Crd) -> &'static ControlPlane {
    let cell = match crd {
        Crd::Released => &RELEASED,
        Crd::Proposed => &PROPOSED,
    };
    cell.get_or_init(|| ControlPlane::start(crd))
}

impl ControlPlane {
    fn start(crd: Crd) -> ControlPlane {
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(format!(
            "ceph-image-cp-{}-{}",
            std::process::id(),
            match crd {
                Crd::Released => "released",
                Crd::Proposed => "proposed",
            }
        ));
        // a start that failed half way (a panic below) left its processes: stop them first
        let _ = Command::new(repo().join("scripts/control-plane")).arg("down").arg(&dir).output();
        let _ = std::fs::remove_dir_all(&dir);
        let out = Command::new(repo().join("scripts/control-plane"))
            .arg("up")
            .arg(&dir)
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
        let cp = ControlPlane { dir, bin, crd };
        let mut crd_object = rook_sim::crd_object(crd);
        crd_object.as_object_mut().expect("object").remove("status");
        cp.kubectl_stdin("admin", &["create", "-f", "-"], &crd_object.to_string());
        // Established within a second or so (`kubectl wait` fails before any condition is set).
        let established = (0..300).any(|_| {
            let crd: Value = serde_json::from_str(
                &cp.kubectl_ok("admin", &["get", "crd", "cephclusters.ceph.rook.io", "-o", "json"]),
            )
            .expect("JSON");
            let ok = crd["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Established" && c["status"] == "True"));
            if !ok {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            ok
        });
        assert!(established, "the CephCluster CRD was not Established within 30 s");
        cp.kubectl_ok("admin", &["apply", "-f", repo().join("deploy/rbac.yaml").to_str().expect("utf-8")]);
        cp
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `DIR/USER.kubeconfig`: admin (system:masters), editor and viewer (no rights until
    /// bound), certuser (a client certificate), rook-sim (system:masters).
    pub fn kubeconfig(&self, user: &str) -> PathBuf {
        self.dir.join(format!("{user}.kubeconfig"))
    }

    /// The control plane's kubectl as `user`.
    fn kubectl_command(&self, user: &str, args: &[&str]) -> Command {
        let mut c = Command::new(self.bin.join("kubectl"));
        c.env("KUBECONFIG", self.kubeconfig(user)).arg("--cache-dir").arg(self.dir.join("kubectl-cache")).args(args);
        c
    }

    pub fn kubectl(&self, user: &str, args: &[&str]) -> Output {
        self.kubectl_command(user, args).output().expect("kubectl runs")
    }

    pub fn kubectl_ok(&self, user: &str, args: &[&str]) -> String {
        succeeded(user, args, self.kubectl(user, args))
    }

    pub fn kubectl_stdin(&self, user: &str, args: &[&str], stdin: &str) -> String {
        use std::io::Write;
        let mut child = self
            .kubectl_command(user, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
        succeeded(user, args, child.wait_with_output().expect("kubectl ends"))
    }

    /// A fresh namespace for one test.
    pub fn namespace(&self, prefix: &str) -> String {
        let ns = format!("{prefix}-{}", NAMESPACES.fetch_add(1, Ordering::SeqCst));
        self.kubectl_ok("admin", &["create", "namespace", &ns]);
        ns
    }

    /// Bind deploy/rbac.yaml's ClusterRoles (or any of the control plane's) to `user` in `ns`
    /// (RoleBindings), as its header says; returns once the RBAC authoriser has them.
    pub fn bind(&self, user: &str, ns: &str, roles: &[&str]) {
        for role in roles {
            self.kubectl_ok(
                "admin",
                &["-n", ns, "create", "rolebinding", &format!("{role}-{user}"), "--clusterrole", role, "--user", user],
            );
        }
        for role in roles {
            self.wait_for_binding(user, ns, role);
        }
    }

    /// Until the RBAC authoriser's cache has `user`'s binding to `role` in `ns` (it reaches
    /// the cache through a watch, a moment after the create answered): asked whether the
    /// user may do the role's first rule's first verb there.
    fn wait_for_binding(&self, user: &str, ns: &str, role: &str) {
        let r: Value =
            serde_json::from_str(&self.kubectl_ok("admin", &["get", "clusterrole", role, "-o", "json"])).expect("JSON");
        let rule = &r["rules"][0];
        let verb = rule["verbs"][0].as_str().expect("a verb");
        // a subresource (`pods/exec`) is asked with --subresource: `can-i get pods/exec`
        // would ask for the pod named `exec`
        let (resource, sub) = match rule["resources"][0].as_str() {
            Some(r) => r.split_once('/').map_or((r, None), |(r, s)| (r, Some(s))),
            None => return,
        };
        let resource = match rule["apiGroups"][0].as_str().expect("a group") {
            "" => resource.to_string(),
            group => format!("{resource}.{group}"),
        };
        let resource = match rule["resourceNames"][0].as_str() {
            Some(name) => format!("{resource}/{name}"),
            None => resource,
        };
        let mut args = vec!["auth", "can-i", verb, &resource, "-n", ns];
        if let Some(sub) = sub {
            args.extend(["--subresource", sub]);
        }
        for _ in 0..200 {
            let o = self.kubectl(user, &args);
            if String::from_utf8_lossy(&o.stdout).trim() == "yes" {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("{user}'s binding to {role} in {ns} did not reach the RBAC authoriser within 10 s");
    }

    /// Every audited request (the real server's request log: DIR/audit.log) by `user` in
    /// namespace `ns`, as (verb, requestURI, response code).
    pub fn requests(&self, user: &str, ns: &str) -> Vec<(String, String, u64)> {
        let text = std::fs::read_to_string(self.dir.join("audit.log")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["user"]["username"] == user && e["objectRef"]["namespace"] == ns)
            .map(|e| {
                (
                    e["verb"].as_str().unwrap_or_default().to_string(),
                    e["requestURI"].as_str().unwrap_or_default().to_string(),
                    e["responseStatus"]["code"].as_u64().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// The user agents of every audited request by `user` in namespace `ns`.
    pub fn user_agents(&self, user: &str, ns: &str) -> std::collections::BTreeSet<String> {
        let text = std::fs::read_to_string(self.dir.join("audit.log")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["user"]["username"] == user && e["objectRef"]["namespace"] == ns)
            .map(|e| e["userAgent"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Requests by `user` in `ns` that would change something: every verb but get, list and
    /// watch, leaving out `dryRun=All` and `pods/exec` (a command in a container changes no
    /// object). By the URI alone (the audit log has no bodies): a
    /// DELETE with a body is a dry run only if its DeleteOptions say so, whatever its query
    /// says, so the plugin says it in both (`write::delete_pod_request`).
    pub fn mutating_requests(&self, user: &str, ns: &str) -> Vec<(String, String, u64)> {
        self.requests(user, ns)
            .into_iter()
            .filter(|(verb, uri, _)| {
                !matches!(verb.as_str(), "get" | "list" | "watch")
                    && !uri.contains("dryRun=All")
                    && !uri.split('?').next().unwrap_or_default().ends_with("/exec")
            })
            .collect()
    }

    /// rook-sim on this control plane: a generated cluster of `osds` OSDs in a fresh
    /// namespace, its simulated Rook operator and kubelets acting on the real server (the
    /// real controllers make the pods). The kubeconfig it writes is the rook-sim user's
    /// (system:masters), its context in that namespace.
    pub fn sim(&self, prefix: &str, osds: usize) -> rook_sim::Sim {
        let operator = rook_sim::OperatorConfig {
            daemon_delay: std::time::Duration::ZERO,
            ready_delay: std::time::Duration::from_millis(20),
            ..Default::default()
        };
        self.sim_with(prefix, osds, operator, None)
    }

    /// As `sim`, with the operator's and kubelets' delays, and the plugin's requests sent
    /// on by the front as `proxy_as`'s user (None: rook-sim's own, system:masters).
    pub fn sim_with(
        &self,
        prefix: &str,
        osds: usize,
        operator: rook_sim::OperatorConfig,
        proxy_as: Option<&str>,
    ) -> rook_sim::Sim {
        self.sim_of(prefix, rook_sim::Topology { osds, ..Default::default() }, operator, proxy_as)
    }

    /// As `sim_with`, of any topology (its namespace replaced by a fresh one).
    pub fn sim_of(
        &self,
        prefix: &str,
        topology: rook_sim::Topology,
        operator: rook_sim::OperatorConfig,
        proxy_as: Option<&str>,
    ) -> rook_sim::Sim {
        let ns = format!("{prefix}-{}", NAMESPACES.fetch_add(1, Ordering::SeqCst));
        let opts = rook_sim::SimOptions {
            topology: rook_sim::Topology { namespace: ns, ..topology },
            crd: self.crd,
            operator,
            on: Some(self.kubeconfig("rook-sim")),
            proxy_as: proxy_as.map(|u| self.kubeconfig(u)),
            ..Default::default()
        };
        rook_sim::Sim::start(opts).expect("rook-sim starts on the real control plane")
    }

    /// A dump file (a field fixture) on the real server, in a fresh namespace: its
    /// `rook-ceph` namespace and `rook_cluster` label values renamed, the simulated Rook
    /// and kubelets acting on it as on a generated cluster.
    pub fn sim_from_file(&self, prefix: &str, path: &std::path::Path) -> rook_sim::Sim {
        let ns = format!("{prefix}-{}", NAMESPACES.fetch_add(1, Ordering::SeqCst));
        let mut text = std::fs::read_to_string(path).expect("fixture");
        for key in ["namespace", "rook_cluster"] {
            for end in ["\n", ",", "}", " "] {
                text = text.replace(&format!("{key}: rook-ceph{end}"), &format!("{key}: {ns}{end}"));
            }
        }
        let objects = rook_sim::load::parse_text(&path.display().to_string(), &text).expect("fixture parses");
        let opts = rook_sim::SimOptions {
            objects,
            crd: self.crd,
            operator: rook_sim::OperatorConfig {
                daemon_delay: std::time::Duration::ZERO,
                ready_delay: std::time::Duration::from_millis(20),
                ..Default::default()
            },
            on: Some(self.kubeconfig("rook-sim")),
            ..Default::default()
        };
        rook_sim::Sim::start(opts).expect("the fixture starts on the real control plane")
    }

    /// Copy a simulated cluster's CephCluster and Deployments into `ns` (as `kubectl
    /// create` from a dump would: server-set metadata, status and owner references dropped);
    /// the real Deployment and ReplicaSet controllers make the pods.
    pub fn seed_from(&self, sim: &rook_sim::Sim, ns: &str) {
        use rook_sim::resources::{CEPHCLUSTERS, DEPLOYMENTS};
        let src = &sim.namespaces[0];
        let mut items = Vec::new();
        // Rook's manifests create the daemons' ServiceAccounts; a pod naming a missing one
        // is refused by ServiceAccount admission.
        let mut accounts = std::collections::BTreeSet::new();
        for d in sim.list(&DEPLOYMENTS, src) {
            if let Some(sa) = d.pointer("/spec/template/spec/serviceAccountName").and_then(Value::as_str) {
                accounts.insert(sa.to_string());
            }
        }
        for sa in accounts {
            items
                .push(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": ns}}));
        }
        for kind in [&CEPHCLUSTERS, &DEPLOYMENTS] {
            for mut o in sim.list(kind, src) {
                let m = o["metadata"].as_object_mut().expect("metadata");
                for k in
                    ["uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "ownerReferences"]
                {
                    m.remove(k);
                }
                m.insert("namespace".into(), json!(ns));
                o.as_object_mut().expect("object").remove("status");
                items.push(o);
            }
        }
        let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
        self.kubectl_stdin("admin", &["create", "-f", "-"], &list.to_string());
    }
}
