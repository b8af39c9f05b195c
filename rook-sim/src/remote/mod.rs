//! rook-sim on a real kube-apiserver (`demo --serve --on KUBECONFIG`, issue 20): the HTTPS
//! client behind `state::Backend::Remote` (this file, plain data below `SimState`), and the
//! watches that make the simulated Rook operator and kubelets act as they do on the
//! embedded server (kubelets.rs, above `SimState`):
//!
//! - pods bound to a simulated node are run by its kubelet (kube/kubelet.rs), and a pod being
//!   deleted is removed once its containers have stopped (`ready_delay`), as a kubelet
//!   finishes a graceful deletion;
//! - a CephCluster change wakes the operator as Rook's watch would (FACTS §2);
//! - a Deployment whose pod template changed is counted as a rollout (`Sim::replacements`);
//! - each simulated node is a Node object, Ready, with its Lease renewed every second from
//!   a thread and a connection of their own (a kubelet's heartbeat client), so the
//!   node-lifecycle controller keeps it Ready as long as rook-sim runs, however busy the rest
//!   is; a node set down (`Sim::set_node_down`) is renewed no more, and the controller marks
//!   it NotReady; a pod the controller marked not Ready on a node that is up is reported
//!   Ready again, as its kubelet would;
//! - `pods/exec` reaches the pods through the control plane's kubelet-exec (exec.rs).
//!
//! The front (front.rs) sends the clients' requests on to the real server, an exec's
//! WebSocket tunnelled through.
//!
//! The real controller-manager makes the ReplicaSets and pods and the real scheduler binds
//! them: rook-sim writes only what Rook and the kubelets write.

pub mod exec;
mod front;
pub mod kubelets;
pub(crate) mod on_server;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::resources::{Kind, PODS};

/// Kinds rook-sim writes on a real server that its embedded one does not serve.
pub const NODES: Kind = Kind {
    group: "",
    version: "v1",
    plural: "nodes",
    singular: "node",
    kind: "Node",
    namespaced: false,
    short_names: &[],
    categories: &[],
    builtin: true,
    status_subresource: true,
};
pub const LEASES: Kind = Kind {
    group: "coordination.k8s.io",
    version: "v1",
    plural: "leases",
    singular: "lease",
    kind: "Lease",
    namespaced: true,
    short_names: &[],
    categories: &[],
    builtin: true,
    status_subresource: false,
};
pub const SERVICEACCOUNTS: Kind = Kind {
    group: "",
    version: "v1",
    plural: "serviceaccounts",
    singular: "serviceaccount",
    kind: "ServiceAccount",
    namespaced: true,
    short_names: &[],
    categories: &[],
    builtin: true,
    status_subresource: false,
};

/// How long one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A failed request: the HTTP status (0: no answer) and the server's message.
#[derive(Debug)]
pub struct RemoteError {
    pub code: u16,
    pub message: String,
}

/// The connection to a real kube-apiserver, from a kubeconfig's current context.
pub struct Remote {
    server: String,
    authorization: Option<String>,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// The simulation's runtime: every request runs there, whoever asks.
    rt: tokio::runtime::Handle,
    /// The server's CA (PEM) and the user's credentials, to write the kubeconfig clients get.
    pub ca_pem: String,
    pub user: Value,
    /// The port the simulated Nodes report for their kubelet (kubelet-exec's, from the
    /// control plane's Secret `exec::SECRET`); unset: none.
    pub kubelet_port: std::sync::OnceLock<u16>,
}

fn path(kind: &Kind, ns: Option<&str>, name: Option<&str>, status: bool) -> String {
    let mut p =
        if kind.group.is_empty() { "/api/v1".to_string() } else { format!("/apis/{}/{}", kind.group, kind.version) };
    if kind.namespaced
        && let Some(ns) = ns
    {
        p.push_str(&format!("/namespaces/{ns}"));
    }
    p.push('/');
    p.push_str(kind.plural);
    if let Some(n) = name {
        p.push('/');
        p.push_str(n);
    }
    if status {
        p.push_str("/status");
    }
    p
}

/// The named entry of a kubeconfig list (`clusters`, `users`, `contexts`).
fn named<'a>(cfg: &'a Value, list: &str, name: &str) -> Option<&'a Value> {
    cfg[list].as_array()?.iter().find(|e| e["name"] == name)
}

fn file_or_data(entry: &Value, key: &str, base: &Path) -> Result<Option<Vec<u8>>, String> {
    if let Some(d) = entry[format!("{key}-data")].as_str() {
        return base64::engine::general_purpose::STANDARD
            .decode(d.trim())
            .map(Some)
            .map_err(|e| format!("{key}-data is not base64: {e}"));
    }
    if let Some(f) = entry[key].as_str() {
        let p = base.join(f);
        return std::fs::read(&p).map(Some).map_err(|e| format!("cannot read {}: {e}", p.display()));
    }
    Ok(None)
}

impl Remote {
    /// Connect as the current context of `kubeconfig` says: the server, its CA, and a
    /// bearer token or a client certificate.
    pub fn connect(kubeconfig: &Path, rt: tokio::runtime::Handle) -> Result<Remote, String> {
        let text =
            std::fs::read_to_string(kubeconfig).map_err(|e| format!("cannot read {}: {e}", kubeconfig.display()))?;
        let cfg: Value = serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", kubeconfig.display()))?;
        let base = kubeconfig.parent().unwrap_or(Path::new("."));
        let current = cfg["current-context"].as_str().ok_or("the kubeconfig has no current-context")?;
        let ctx = named(&cfg, "contexts", current).ok_or_else(|| format!("no context {current:?}"))?;
        let cluster_name = ctx["context"]["cluster"].as_str().unwrap_or_default();
        let user_name = ctx["context"]["user"].as_str().unwrap_or_default();
        let cluster =
            &named(&cfg, "clusters", cluster_name).ok_or_else(|| format!("no cluster {cluster_name:?}"))?["cluster"];
        let user = named(&cfg, "users", user_name).map(|u| u["user"].clone()).unwrap_or(Value::Null);
        let server = cluster["server"].as_str().ok_or("the cluster has no server")?.trim_end_matches('/').to_string();
        let ca =
            file_or_data(cluster, "certificate-authority", base)?.ok_or("the cluster has no certificate-authority")?;
        let mut roots = rustls::RootCertStore::empty();
        for c in pem_certificates(&ca)? {
            roots.add(c).map_err(|e| format!("the cluster's CA: {e}"))?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots);
        let tls = match (file_or_data(&user, "client-certificate", base)?, file_or_data(&user, "client-key", base)?) {
            (Some(cert), Some(key)) => {
                use rustls::pki_types::pem::PemObject;
                let key =
                    rustls::pki_types::PrivateKeyDer::from_pem_slice(&key).map_err(|e| format!("client key: {e}"))?;
                builder.with_client_auth_cert(pem_certificates(&cert)?, key).map_err(|e| e.to_string())?
            }
            _ => builder.with_no_client_auth(),
        };
        let authorization = user["token"].as_str().map(|t| format!("Bearer {t}"));
        let connector =
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_only().enable_http1().build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Remote {
            server,
            authorization,
            client,
            rt,
            ca_pem: String::from_utf8_lossy(&ca).into_owned(),
            user,
            kubelet_port: std::sync::OnceLock::new(),
        })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// One request, answered as JSON.
    pub async fn call(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Value, RemoteError> {
        let mut req = http::Request::builder().method(method).uri(format!("{}{path_and_query}", self.server));
        req = req.header("Accept", "application/json").header("User-Agent", "rook-sim");
        if let Some(a) = &self.authorization {
            req = req.header("Authorization", a);
        }
        let body = match body {
            Some((ct, b)) => {
                req = req.header("Content-Type", ct);
                Full::new(Bytes::from(b))
            }
            None => Full::new(Bytes::new()),
        };
        let req = req.body(body).map_err(|e| RemoteError { code: 0, message: e.to_string() })?;
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let resp = self.client.request(req).await.map_err(|e| RemoteError {
                code: 0,
                message: format!(
                    "{method} {}{path_and_query}: cannot reach the API server: {}",
                    self.server,
                    chain(&e)
                ),
            })?;
            let code = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| RemoteError { code: 0, message: e.to_string() })?
                .to_bytes();
            Ok::<_, RemoteError>((code, bytes))
        })
        .await
        .map_err(|_| RemoteError { code: 0, message: format!("{method} {path_and_query}: no answer in 30 s") })??;
        let (code, bytes) = answer;
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if (200..300).contains(&code) {
            Ok(v)
        } else {
            let message = v["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(300).collect());
            Err(RemoteError { code, message: format!("{method} {path_and_query}: {code}: {message}") })
        }
    }

    /// Run a request from synchronous code: on the simulation's runtime, blocking only the
    /// calling thread (inside a runtime, through `block_in_place`).
    fn block<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        match tokio::runtime::Handle::try_current() {
            Ok(_) => tokio::task::block_in_place(|| self.rt.block_on(f)),
            Err(_) => self.rt.block_on(f),
        }
    }

    pub fn get(&self, kind: &Kind, ns: &str, name: &str) -> Option<Value> {
        self.block(self.call("GET", &path(kind, Some(ns), Some(name), false), None)).ok()
    }

    /// Every object of a kind (paginated), in (namespace, name) order.
    pub fn list(&self, kind: &Kind, ns: Option<&str>) -> Vec<Value> {
        self.block(self.list_async(kind, ns)).map(|(items, _)| items).unwrap_or_default()
    }

    /// Every object and the list's resourceVersion.
    pub async fn list_async(&self, kind: &Kind, ns: Option<&str>) -> Result<(Vec<Value>, String), RemoteError> {
        let mut items = Vec::new();
        let mut cont = String::new();
        loop {
            let mut q = format!("{}?limit=500", path(kind, ns, None, false));
            if !cont.is_empty() {
                q.push_str(&format!("&continue={cont}"));
            }
            let page = self.call("GET", &q, None).await?;
            for mut it in page["items"].as_array().cloned().unwrap_or_default() {
                // list items carry no kind; the store's objects do
                it["apiVersion"] = kind.api_version().into();
                it["kind"] = kind.kind.into();
                items.push(it);
            }
            cont = page["metadata"]["continue"].as_str().unwrap_or_default().to_string();
            if cont.is_empty() {
                let rv = page["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string();
                items.sort_by(|a, b| {
                    (a["metadata"]["namespace"].as_str(), a["metadata"]["name"].as_str())
                        .cmp(&(b["metadata"]["namespace"].as_str(), b["metadata"]["name"].as_str()))
                });
                return Ok((items, rv));
            }
        }
    }

    pub fn create(&self, kind: &Kind, ns: &str, mut obj: Value) -> Result<Value, String> {
        obj["apiVersion"] = kind.api_version().into();
        obj["kind"] = kind.kind.into();
        let body = serde_json::to_vec(&obj).expect("json");
        self.block(self.call("POST", &path(kind, Some(ns), None, false), Some(("application/json", body))))
            .map_err(|e| e.message)
    }

    /// PUT the whole object (its resourceVersion is the precondition).
    pub fn replace(&self, kind: &Kind, ns: &str, name: &str, obj: &Value, status: bool) -> Result<Value, RemoteError> {
        let body = serde_json::to_vec(obj).expect("json");
        self.block(self.call("PUT", &path(kind, Some(ns), Some(name), status), Some(("application/json", body))))
    }

    /// Delete now (`gracePeriodSeconds=0`), only the object with `uid` when given.
    pub fn delete(&self, kind: &Kind, ns: &str, name: &str, uid: Option<&str>) -> Result<(), String> {
        let mut opts = json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0});
        if let Some(uid) = uid {
            opts["preconditions"] = json!({"uid": uid});
        }
        let body = serde_json::to_vec(&opts).expect("json");
        match self.block(self.call(
            "DELETE",
            &path(kind, Some(ns), Some(name), false),
            Some(("application/json", body)),
        )) {
            Ok(_) => Ok(()),
            Err(e) if e.code == 404 => Ok(()),
            Err(e) => Err(e.message),
        }
    }

    /// Delete a namespace this simulation made and wait (at most 30 s) until it is gone:
    /// the namespace controller deletes its objects, and the pods it deletes gracefully are
    /// deleted again at once, as no kubelet is left to finish their graceful deletion.
    pub fn delete_namespace(&self, ns: &str) {
        let now = || {
            serde_json::to_vec(&json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0}))
                .expect("json")
        };
        let _ = self.block(self.call("DELETE", &format!("/api/v1/namespaces/{ns}"), None));
        for _ in 0..60 {
            let _ =
                self.block(self.call("DELETE", &path(&PODS, Some(ns), None, false), Some(("application/json", now()))));
            if let Err(e) = self.block(self.call("GET", &format!("/api/v1/namespaces/{ns}"), None))
                && e.code == 404
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// List, then watch from the list's resourceVersion (with bookmarks), calling `f` with
    /// every object (`ADDED` for the listed ones) for as long as the simulation runs: a
    /// watch that ends is opened again from the last resourceVersion seen, a 410 Gone (or
    /// an error) lists again.
    pub async fn informer(self: Arc<Self>, kind: &'static Kind, ns: Option<String>, mut f: impl FnMut(&str, Value)) {
        loop {
            let (items, mut rv) = match self.list_async(kind, ns.as_deref()).await {
                Ok(x) => x,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            for it in items {
                f("ADDED", it);
            }
            // watch until it breaks off; a 410 or an error starts over with a list
            loop {
                match self.watch_once(kind, ns.as_deref(), &rv, &mut f).await {
                    Ok(Some(last)) => rv = last,
                    Ok(None) => {}
                    Err(()) => break,
                }
            }
        }
    }

    /// One watch request: Ok(last resourceVersion seen) when it ended, Err to list again.
    async fn watch_once(
        &self,
        kind: &Kind,
        ns: Option<&str>,
        rv: &str,
        f: &mut impl FnMut(&str, Value),
    ) -> Result<Option<String>, ()> {
        let uri = format!(
            "{}{}?watch=true&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion={rv}",
            self.server,
            path(kind, ns, None, false)
        );
        let mut req = http::Request::builder()
            .method("GET")
            .uri(uri)
            .header("Accept", "application/json")
            .header("User-Agent", "rook-sim");
        if let Some(a) = &self.authorization {
            req = req.header("Authorization", a);
        }
        let req = req.body(Full::new(Bytes::new())).map_err(|_| ())?;
        let resp = self.client.request(req).await.map_err(|_| ())?;
        if resp.status().as_u16() != 200 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            return Err(());
        }
        let mut body = resp.into_body();
        let mut buf: Vec<u8> = Vec::new();
        let mut last = None;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            let Some(data) = frame.data_ref() else { continue };
            buf.extend_from_slice(data);
            while let Some(i) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=i).collect();
                let Ok(ev) = serde_json::from_slice::<Value>(&line) else { continue };
                let etype = ev["type"].as_str().unwrap_or_default().to_string();
                let mut obj = ev["object"].clone();
                if etype == "ERROR" {
                    // 410 Gone (too old a resourceVersion) and any other: list again
                    return Err(());
                }
                if let Some(v) = obj["metadata"]["resourceVersion"].as_str() {
                    last = Some(v.to_string());
                }
                if etype != "BOOKMARK" {
                    obj["apiVersion"] = kind.api_version().into();
                    obj["kind"] = kind.kind.into();
                    f(&etype, obj);
                }
            }
        }
        Ok(last)
    }
}

/// An error and its causes, `a: b: c` (hyper's own says only "client error (Connect)").
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The certificates of a PEM bundle.
fn pem_certificates(pem: &[u8]) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate: {e}"))
}
