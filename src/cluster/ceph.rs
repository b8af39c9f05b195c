//! Asking Ceph (issue 23 items 1 and 8): `ceph <args> -f json` run in the Rook operator
//! pod through the exec API (`pods/exec`, a WebSocket: kube's `Api::<Pod>::exec`), as
//! kubectl-rook-ceph does it. Its pkg/exec/exec.go (`RunCommandInOperatorPod`,
//! `RunCommandInToolboxPod`, `execCmdInPod`) and pkg/k8sutil/k8sutil.go
//! (`WaitForPodToRun`) say:
//!
//! - the operator pod is the first pod `app=rook-ceph-operator` in the operator's
//!   namespace that is Running and not being deleted; the container `rook-ceph-operator`;
//! - in it `ceph` runs with `--connect-timeout=10` and
//!   `--conf=/var/lib/rook/<cluster ns>/<cluster ns>.config`: the config the operator
//!   writes for each cluster, which names that cluster's admin keyring
//!   (`/var/lib/rook/<ns>/client.admin.keyring`), so no key is ever on the command line;
//! - the toolbox (`app=rook-ceph-tools`, container `rook-ceph-tools`, in the cluster's
//!   namespace) has its own `/etc/ceph/ceph.conf`: only `--connect-timeout=10` is added.
//!
//! Here the toolbox is the fallback where no operator pod Running can be found. The whole
//! exec is bounded by a timeout, and `--connect-timeout` is no longer than it (Ceph's own
//! bound on reaching the mons). Under `-v` the command and the size and start of the answer
//! go to stderr, sanitised; the keyring is never read, only its path is in the config.

use super::api::error_chain;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::Kube;
use super::api::What;
use super::read::{list_all, pods_path};
use super::wire::WirePod;
use crate::error::Error;
use crate::model::ceph::{CephAnswer, health_of, versions_of};
use crate::output::clean;

/// kubectl-rook-ceph's operator pod label and container (pkg/exec/exec.go).
pub const OPERATOR_SELECTOR: &str = "app=rook-ceph-operator";
pub const OPERATOR_CONTAINER: &str = "rook-ceph-operator";
/// The toolbox's (deploy/examples/toolbox.yaml; kubectl-rook-ceph `RunCommandInToolboxPod`).
pub const TOOLBOX_SELECTOR: &str = "app=rook-ceph-tools";
pub const TOOLBOX_CONTAINER: &str = "rook-ceph-tools";
/// kubectl-rook-ceph's `--connect-timeout=10`, in seconds; shortened to the exec's timeout.
pub const CONNECT_TIMEOUT_SECS: u64 = 10;
/// At most this much of Ceph's stdout is kept (bytes); a longer answer is not JSON to us.
pub const STDOUT_MAX: usize = 64 * 1024 * 1024;
/// At most this much of Ceph's stderr is shown in an error (characters, after sanitising).
pub const STDERR_SHOWN: usize = 400;
/// At most this much of an answer is logged under `-v` (characters).
pub const LOGGED_MAX: usize = 200;

/// The pod `ceph` runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CephPod {
    pub namespace: String,
    pub name: String,
    /// `rook-ceph-operator` or `rook-ceph-tools`.
    pub container: &'static str,
    /// The toolbox (no operator pod Running was found).
    pub toolbox: bool,
}

/// Why Ceph could not be asked or did not answer. Each says what it was doing in words a
/// user can act on; every string from the cluster in it is sanitised (`output::clean`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CephError {
    /// The exec (or the list of pods before it) was refused by RBAC: the message as kubectl
    /// words it (`pods "x" is forbidden: User "..." cannot create resource "pods/exec" in API
    /// group "" in the namespace "rook-ceph"`).
    #[error("{message}")]
    Forbidden { message: String },
    /// No pod `app=rook-ceph-operator` Running in the operator's namespace and no toolbox in
    /// the cluster's.
    #[error(
        "no Rook operator pod Running ({OPERATOR_SELECTOR} in namespace {operator_namespace}) and no toolbox \
         ({TOOLBOX_SELECTOR} in namespace {cluster_namespace})"
    )]
    NoPod { operator_namespace: String, cluster_namespace: String },
    /// The exec did not end within the timeout (a hung kubelet, a Ceph without quorum).
    #[error("`{command}` in pod {pod} did not answer within {}s", after.as_secs_f32())]
    Timeout { command: String, pod: String, after: Duration },
    /// `ceph` exited non-zero; `stderr`: its first lines, sanitised and bounded.
    #[error("`{command}` in pod {pod} exited with {code}: {stderr}")]
    Exit { command: String, pod: String, code: i32, stderr: String },
    /// It exited 0 but its answer is not the JSON expected (`detail`: why).
    #[error("`{command}` in pod {pod} answered something that is not JSON: {detail}")]
    NotJson { command: String, pod: String, detail: String },
    /// Any other failure of the API or the stream (the server's words, sanitised).
    #[error("{0}")]
    Api(String),
}

impl CephError {
    /// One word for scripts (`ceph.reason` of `status -o json`): `forbidden`, `noPod`,
    /// `timeout`, `exit`, `notJson`, `api`.
    pub fn reason(&self) -> &'static str {
        match self {
            CephError::Forbidden { .. } => "forbidden",
            CephError::NoPod { .. } => "noPod",
            CephError::Timeout { .. } => "timeout",
            CephError::Exit { .. } => "exit",
            CephError::NotJson { .. } => "notJson",
            CephError::Api(_) => "api",
        }
    }
}

/// A way to ask one cluster's Ceph: the pod found, and the bounds.
#[derive(Clone)]
pub struct Ceph {
    kube: Kube,
    pod: CephPod,
    cluster_namespace: String,
    timeout: Duration,
}

/// A Running pod of `selector` in `ns`, as `WaitForPodToRun` picks one (not waiting).
async fn running_pod(kube: &Kube, ns: &str, selector: &str) -> Result<Option<String>, CephError> {
    let what = What::new("list", "pods", Some(ns));
    let listed = list_all::<WirePod>(kube, &pods_path(ns), selector, &what).await.map_err(api_error)?;
    Ok(listed
        .items
        .into_iter()
        .find(|p| p.status.phase.as_deref() == Some("Running") && p.metadata.deletion_timestamp.is_none())
        .map(|p| p.metadata.name))
}

fn api_error(e: Error) -> CephError {
    match e {
        Error::Api(a) if a.code == 403 => CephError::Forbidden { message: clean(&a.message).into_owned() },
        e => CephError::Api(clean(&crate::cluster::api::first_line(&e)).into_owned()),
    }
}

/// The first `max` characters of `s`, sanitised, on one line, `...` when cut.
pub fn bounded(s: &str, max: usize) -> String {
    let one = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = one.chars().take(max).collect();
    let more = if cut.len() < one.len() { "..." } else { "" };
    format!("{}{more}", clean(&cut))
}

impl Ceph {
    /// Find where to run `ceph` for the cluster in `cluster_namespace`: the operator pod in
    /// `operator_namespace` (None: the cluster's, as Rook's examples install it), else the
    /// toolbox in the cluster's namespace. Lists pods (RBAC: `list pods` there). `timeout`
    /// bounds each later command (the listing is bounded by `--request-timeout`).
    pub async fn find(
        kube: &Kube,
        cluster_namespace: &str,
        operator_namespace: Option<&str>,
        timeout: Duration,
    ) -> Result<Ceph, CephError> {
        let op_ns = operator_namespace.unwrap_or(cluster_namespace);
        let pod = match running_pod(kube, op_ns, OPERATOR_SELECTOR).await? {
            Some(name) => CephPod { namespace: op_ns.into(), name, container: OPERATOR_CONTAINER, toolbox: false },
            None => match running_pod(kube, cluster_namespace, TOOLBOX_SELECTOR).await? {
                Some(name) => {
                    CephPod { namespace: cluster_namespace.into(), name, container: TOOLBOX_CONTAINER, toolbox: true }
                }
                None => {
                    return Err(CephError::NoPod {
                        operator_namespace: op_ns.into(),
                        cluster_namespace: cluster_namespace.into(),
                    });
                }
            },
        };
        Ok(Ceph { kube: kube.clone(), pod, cluster_namespace: cluster_namespace.into(), timeout })
    }

    /// A `Ceph` for a pod already known (tests; a caller that found it otherwise).
    pub fn with_pod(kube: &Kube, cluster_namespace: &str, pod: CephPod, timeout: Duration) -> Ceph {
        Ceph { kube: kube.clone(), pod, cluster_namespace: cluster_namespace.into(), timeout }
    }

    pub fn pod(&self) -> &CephPod {
        &self.pod
    }

    /// `namespace/pod`, for messages.
    pub fn pod_name(&self) -> String {
        format!("{}/{}", self.pod.namespace, self.pod.name)
    }

    /// How long each command may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The argv run for `ceph <args> -f json`, as kubectl-rook-ceph builds it:
    /// `["ceph", args..., "-f", "json", "--connect-timeout=N", "--conf=/var/lib/rook/NS/NS.config"]`
    /// in the operator pod, without `--conf` in the toolbox. N: 10, or the exec's timeout
    /// in whole seconds when shorter (at least 1).
    pub fn argv(&self, args: &[&str]) -> Vec<String> {
        let connect = CONNECT_TIMEOUT_SECS.min(self.timeout.as_secs()).max(1);
        let mut v: Vec<String> = std::iter::once("ceph").chain(args.iter().copied()).map(str::to_string).collect();
        v.extend(["-f".to_string(), "json".to_string(), format!("--connect-timeout={connect}")]);
        if !self.pod.toolbox {
            let ns = &self.cluster_namespace;
            v.push(format!("--conf=/var/lib/rook/{ns}/{ns}.config"));
        }
        v
    }

    /// Run `ceph <args> -f json` and parse its stdout as JSON. Errors: see [`CephError`];
    /// an exit code other than 0 is `Exit` with Ceph's stderr (sanitised, at most
    /// `STDERR_SHOWN` characters).
    pub async fn json(&self, args: &[&str]) -> Result<serde_json::Value, CephError> {
        self.json_as(args).await
    }

    /// As `json`, parsed straight into `T`: the fields `T` leaves out are skipped, not
    /// built (most of a 2000-OSD `osd dump`).
    pub async fn json_as<T: serde::de::DeserializeOwned>(&self, args: &[&str]) -> Result<T, CephError> {
        let (command, pod) = self.names(args);
        let out = self.output(args).await?;
        if out.code != 0 {
            let stderr = bounded(&String::from_utf8_lossy(&out.stderr), STDERR_SHOWN);
            return Err(CephError::Exit { command, pod, code: out.code, stderr });
        }
        out.json_as().map_err(|detail| CephError::NotJson { command, pod, detail })
    }

    /// Run `ceph <args> -f json` and return how it ended whatever its exit code, for the
    /// commands whose non-zero exit is an answer (`ceph osd ok-to-stop` exits `EBUSY`, 16,
    /// with its JSON on stdout). Errors: everything but the exit code (forbidden, timeout,
    /// no status, the API).
    pub async fn output(&self, args: &[&str]) -> Result<CephOutput, CephError> {
        let argv = self.argv(args);
        let (command, pod) = self.names(args);
        let started = Instant::now();
        let verbose = self.kube.verbose();
        if verbose {
            crate::output::note(&format!("exec {pod} -c {}: {}", self.pod.container, clean(&argv.join(" "))));
        }
        let out = match tokio::time::timeout(self.timeout, self.exec(&argv)).await {
            // the client's own read timeout (`--request-timeout`) may come first: the same
            Err(_) | Ok(Err(CephError::Timeout { .. })) => {
                return Err(CephError::Timeout { command, pod, after: self.timeout });
            }
            Ok(r) => r?,
        };
        if verbose {
            crate::output::note(&format!(
                "  exit {} in {} ms: {}",
                out.code,
                started.elapsed().as_millis(),
                bounded(&String::from_utf8_lossy(&out.stdout), LOGGED_MAX)
            ));
        }
        Ok(out)
    }

    /// `ceph <args>` and `namespace/pod`, for messages.
    fn names(&self, args: &[&str]) -> (String, String) {
        (format!("ceph {}", args.join(" ")), format!("{}/{}", self.pod.namespace, self.pod.name))
    }

    /// One exec: the stream read to its end (stdout kept up to `STDOUT_MAX`), the exit code
    /// from the final `Status` (channel 3: `Success`, or `NonZeroExitCode` with its cause
    /// `ExitCode`).
    async fn exec(&self, argv: &[String]) -> Result<CephOutput, CephError> {
        let client = self.kube.client().await.map_err(api_error)?;
        let pods: Api<Pod> = Api::namespaced(client, &self.pod.namespace);
        let ap = AttachParams::default().stdin(false).stdout(true).stderr(true).container(self.pod.container);
        let mut proc = pods.exec(&self.pod.name, argv.to_vec(), &ap).await.map_err(|e| self.exec_error(e))?;
        let status = proc.take_status();
        let (stdout, stderr) = (proc.stdout(), proc.stderr());
        let ((stdout, truncated), (stderr, _)) = tokio::join!(drain(stdout, STDOUT_MAX), drain(stderr, 64 * 1024));
        let status = match status {
            Some(s) => s.await,
            None => None,
        };
        let _ = proc.join().await;
        let Some(status) = status else {
            return Err(CephError::Api(format!(
                "the exec in pod {}/{} ended without its exit status (the connection closed)",
                self.pod.namespace, self.pod.name
            )));
        };
        let code = match status.status.as_deref() {
            Some("Success") => 0,
            _ if status.reason.as_deref() == Some("NonZeroExitCode") => status
                .details
                .as_ref()
                .and_then(|d| d.causes.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
                .and_then(|c| c.message.as_deref()?.parse().ok())
                .unwrap_or(1),
            _ => {
                return Err(CephError::Api(format!(
                    "the exec in pod {}/{} failed: {}",
                    self.pod.namespace,
                    self.pod.name,
                    bounded(status.message.as_deref().unwrap_or_default(), STDERR_SHOWN)
                )));
            }
        };
        Ok(CephOutput { stdout, stderr, code, truncated })
    }

    /// kubectl's words for a refused exec. A GET upgrade refused by the `create` check of
    /// Kubernetes 1.35+ (`AuthorizePodWebsocketUpgradeCreatePermission`) carries no reason
    /// (`pods "x" is forbidden: `): the verb and resource are said here.
    fn exec_error(&self, e: kube::Error) -> CephError {
        match e {
            kube::Error::Api(s) if s.code == 403 => {
                let m = clean(s.message.trim_end()).into_owned();
                let message = if m.ends_with("is forbidden:") {
                    format!(
                        "{m} cannot create resource \"pods/exec\" in API group \"\" in the namespace \"{}\"",
                        self.pod.namespace
                    )
                } else {
                    m
                };
                CephError::Forbidden { message }
            }
            kube::Error::Api(s) => CephError::Api(format!(
                "Error from server ({}): {} (while trying to exec in pod {}/{})",
                clean(&s.reason),
                bounded(&s.message, STDERR_SHOWN),
                self.pod.namespace,
                self.pod.name
            )),
            e if error_chain(&e).contains("timed out") => {
                CephError::Timeout { command: String::new(), pod: String::new(), after: self.timeout }
            }
            e => CephError::Api(format!(
                "exec in pod {}/{}: {}",
                self.pod.namespace,
                self.pod.name,
                bounded(&error_chain(&e), STDERR_SHOWN)
            )),
        }
    }
}

/// What `status` asks (issue 23 item 1), once: `ceph health detail` and `ceph versions`
/// in the pod `Ceph::find` picks, both within `timeout`. Never fails: where Ceph cannot be
/// asked the answer says why (`error`, `reason`).
pub async fn ask_status(kube: &Kube, cluster_namespace: &str, timeout: Duration) -> CephAnswer {
    let not_asked = |e: CephError, pod: Option<String>| CephAnswer {
        pod,
        error: Some(e.to_string()),
        reason: Some(e.reason().to_string()),
        ..Default::default()
    };
    let ceph = match Ceph::find(kube, cluster_namespace, None, timeout).await {
        Ok(c) => c,
        Err(e) => return not_asked(e, None),
    };
    let pod = Some(format!("{}/{}", ceph.pod.namespace, ceph.pod.name));
    let (health, versions) = tokio::join!(ceph.json(&["health", "detail"]), ceph.json(&["versions"]));
    let (health, versions) = match (health, versions) {
        (Ok(h), Ok(v)) => (h, v),
        (Err(e), _) | (_, Err(e)) => return not_asked(e, pod),
    };
    let shape = |command: &str, detail: &str| CephError::NotJson {
        command: command.into(),
        pod: pod.clone().unwrap_or_default(),
        detail: detail.into(),
    };
    let Some((status, checks)) = health_of(&health) else {
        return not_asked(shape("ceph health detail", "no status in it"), pod.clone());
    };
    let Some(versions) = versions_of(&versions) else {
        return not_asked(shape("ceph versions", "not counts by daemon type"), pod.clone());
    };
    let clean_map = |m: BTreeMap<String, u64>| m.into_iter().map(|(k, n)| (clean(&k).into_owned(), n)).collect();
    CephAnswer {
        asked: true,
        pod,
        health: Some(clean(&status).into_owned()),
        checks,
        versions: versions.into_iter().map(|(t, m)| (clean(&t).into_owned(), clean_map(m))).collect(),
        error: None,
        reason: None,
    }
}

/// How one command ended: its exit code (0 success), stdout (at most `STDOUT_MAX` bytes;
/// `truncated` when there was more) and stderr (at most 64 KiB), raw bytes from the cluster:
/// sanitise before showing them (`bounded`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CephOutput {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub truncated: bool,
}

impl CephOutput {
    /// stdout as JSON; Err: why not, in words for `CephError::NotJson`.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        self.json_as()
    }

    /// stdout parsed into `T`; Err as `json`.
    pub fn json_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        if self.truncated {
            return Err(format!("longer than {STDOUT_MAX} bytes"));
        }
        serde_json::from_slice(&self.stdout)
            .map_err(|e| format!("{e} (it starts: {})", bounded(&String::from_utf8_lossy(&self.stdout), 60)))
    }
}

/// Read a stream to its end, keeping at most `max` bytes (the rest is read and dropped, so
/// the exec's task is never blocked on a full pipe); true when some was dropped.
async fn drain(r: Option<impl AsyncRead + Unpin>, max: usize) -> (Vec<u8>, bool) {
    let Some(mut r) = r else { return (Vec::new(), false) };
    let (mut kept, mut buf, mut cut) = (Vec::new(), vec![0u8; 16 * 1024], false);
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = max.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
        cut |= n > room;
    }
    (kept, cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_is_one_clean_line() {
        assert_eq!(bounded("a\nb\x1b[31m c", 100), "a b\\x1b[31m c");
        assert_eq!(bounded("abcdef", 3), "abc...");
        assert_eq!(bounded("", 3), "");
    }

    #[test]
    fn reasons_are_one_word_each() {
        let e = CephError::Exit { command: "ceph versions".into(), pod: "ns/p".into(), code: 127, stderr: "x".into() };
        assert_eq!(e.reason(), "exit");
        assert_eq!(e.to_string(), "`ceph versions` in pod ns/p exited with 127: x");
    }
}
