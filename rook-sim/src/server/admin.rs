//! Faults from outside the process: the admin endpoint of a running simulation, for
//! `demo --serve` rehearsals and external harnesses, and the `demo --fault` flag.
//!
//! `/rook-sim/faults` is served on the same HTTPS port as the Kubernetes API, is never
//! logged, and takes only the admin token: a separate random token written next to the
//! kubeconfig (`<kubeconfig>.admin-token`, mode 0600, with the CA as `<kubeconfig>.ca.crt`
//! for `curl --cacert`). No token or an unknown one answers 401, the kubeconfig user's
//! token 403, as the apiserver would.
//!
//! - `GET /rook-sim/faults`: `{"faults": [rule...], "latency_ms": N}`, a rule being
//!   `{"id", "kind", "code"?, "verb"?, "resource"?, "name"?, "remaining"}` (absent: any;
//!   `remaining` null: until cleared). `GET /rook-sim/faults/{id}`: one rule.
//! - `POST /rook-sim/faults` with one [`FaultSpec`] as JSON: 201 and the rule (with its id);
//!   `latency` sets the delay of every request, `drop-watches` cuts the open watches now,
//!   `never-ready` (with `name`, a Deployment, and optionally `namespace`) makes its new
//!   pods run but never turn Ready; the listing then shows
//!   `"never_ready": [{"namespace", "name"}...]`.
//! - `DELETE /rook-sim/faults`: every rule, the latency and the never-ready marks (pods
//!   held not Ready turn Ready); `/rook-sim/faults/{id}`: one rule;
//!   `/rook-sim/faults/latency`: the latency.
//!
//! - `/rook-sim/ceph/faults`: faults on the simulated `ceph` CLI (ceph/state.rs `admin`): GET
//!   lists, POST adds `{"kind": "hang"|"fail"|"garbage", "exit_code"?, "stderr"?, "command"?,
//!   "count"?}`, DELETE clears.
//! - `/rook-sim/nodes`: GET `{"nodes": [{"name", "down"}...]}`; `PUT /rook-sim/nodes/NODE`
//!   with `{"down": true|false}` takes a node down (NotReady: its pods not Ready, its OSDs
//!   down in Ceph) or back up, answering `{"name", "down"}`; an unknown node 404.
//!
//! A body that is not a valid fault answers 400 with what is wrong.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::SimState;
use crate::resources;
use crate::server::faults::{Fault, FaultKind};
use crate::server::request::{ApiRequest, Reply};
use crate::server::status::ApiError;

pub const FAULTS_PATH: &str = "/rook-sim/faults";
pub const CEPH_FAULTS_PATH: &str = "/rook-sim/ceph/faults";
pub const NODES_PATH: &str = "/rook-sim/nodes";

/// The verbs a rule can name, as the request log spells them.
pub const VERBS: [&str; 8] = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"];

const KINDS: &str = "a status code (500, 503, 429...), status (with code), conflict, forbidden, drop, \
                     drop-after-apply, hang, latency (with ms), drop-watches, never-ready (with name)";

/// The kinds taken by name. A table, not a match, so that a kind added to `FaultKind` does
/// not break this module: until named here it is listed by its `Debug` name.
fn named_kinds() -> [(&'static str, FaultKind); 5] {
    [
        ("conflict", FaultKind::Conflict),
        ("forbidden", FaultKind::Forbidden),
        ("drop", FaultKind::Drop),
        ("drop-after-apply", FaultKind::DropAfterApply),
        ("hang", FaultKind::Hang),
    ]
}

/// One fault as the endpoint (a JSON object) and `demo --fault` (`KIND,key=value,...`)
/// take it: the fields of [`Fault`], and `ms` for `latency`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// A status code (number or string), `status`, `conflict`, `forbidden`, `drop`,
    /// `drop-after-apply`, `hang`, `latency` or `drop-watches`.
    #[serde(default)]
    pub kind: Value,
    /// For `status`: the HTTP status to answer (400-599).
    pub code: Option<u16>,
    pub verb: Option<String>,
    /// Resource plural (`deployments`, `pods`, `cephclusters`...), or `pods/exec`.
    pub resource: Option<String>,
    pub name: Option<String>,
    /// How many requests it hits; absent: every matching one until cleared.
    #[serde(alias = "times", alias = "remaining")]
    pub count: Option<u32>,
    /// How many matching requests it lets through before it hits (to fault the second
    /// write to an object); absent: none.
    pub skip: Option<u32>,
    /// For `latency`: milliseconds added to every request.
    pub ms: Option<u64>,
    /// For `never-ready`: the Deployment's namespace (absent: the one whose CephCluster
    /// manages a Deployment of that name, else the first with a CephCluster).
    pub namespace: Option<String>,
}

/// What a [`FaultSpec`] does to the simulation.
#[derive(Debug, Clone)]
pub enum Setting {
    Rule(Fault),
    /// Every request waits this long first (0: none).
    Latency(Duration),
    /// Cut every open watch now (not a rule: nothing is kept).
    DropWatches,
    /// New pods of this Deployment run but never turn Ready.
    NeverReady {
        namespace: Option<String>,
        name: String,
    },
}

impl FaultSpec {
    /// Checks the fields and says what the fault does, or what is wrong.
    pub fn setting(&self) -> Result<Setting, String> {
        let kind = match &self.kind {
            Value::String(s) => s.trim().to_ascii_lowercase(),
            Value::Number(n) => n.to_string(),
            Value::Null => return Err(format!("kind is missing: one of {KINDS}")),
            other => return Err(format!("kind must be a string or a status code, not {other}")),
        };
        let (kind, code) = match kind.parse::<u16>() {
            Ok(c) if self.code.is_some_and(|x| x != c) => {
                return Err(format!("kind {c} and code {} disagree", self.code.unwrap_or_default()));
            }
            Ok(c) => ("status".to_string(), Some(c)),
            Err(_) => (kind, self.code),
        };
        if kind != "status" && code.is_some() {
            return Err(format!("code is for kind status, not {kind}"));
        }
        if kind != "latency" && self.ms.is_some() {
            return Err(format!("ms is for kind latency, not {kind}"));
        }
        if kind != "never-ready" && self.namespace.is_some() {
            return Err(format!("namespace is for kind never-ready, not {kind}"));
        }
        if kind == "never-ready" {
            if self.verb.is_some() || self.resource.is_some() || self.count.is_some() || self.skip.is_some() {
                return Err("never-ready applies to a Deployment's new pods: only name and namespace are taken".into());
            }
            return match self.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
                Some(n) => Ok(Setting::NeverReady { namespace: self.namespace.clone(), name: n.to_string() }),
                None => Err("never-ready needs name (the Deployment, e.g. rook-ceph-osd-3)".into()),
            };
        }
        if matches!(kind.as_str(), "latency" | "drop-watches") {
            if self.verb.is_some()
                || self.resource.is_some()
                || self.name.is_some()
                || self.count.is_some()
                || self.skip.is_some()
            {
                return Err(format!(
                    "{kind} applies to every request (watch): verb, resource, name, count and skip are not taken"
                ));
            }
            return match (kind.as_str(), self.ms) {
                ("latency", Some(ms)) => Ok(Setting::Latency(Duration::from_millis(ms))),
                ("latency", None) => Err("latency needs ms (milliseconds added to every request)".into()),
                _ => Ok(Setting::DropWatches),
            };
        }
        let fault_kind = if kind == "status" {
            match code {
                Some(c @ 400..=599) => FaultKind::Status(c),
                Some(c) => return Err(format!("code {c} is not an error status (400-599)")),
                None => return Err("status needs code (the HTTP status to answer, 400-599)".into()),
            }
        } else {
            match named_kinds().into_iter().find(|(n, _)| *n == kind) {
                Some((_, k)) => k,
                None => return Err(format!("unknown kind {kind:?}: one of {KINDS}")),
            }
        };
        let mut f = Fault::new(fault_kind);
        if let Some(v) = &self.verb {
            if !VERBS.contains(&v.as_str()) {
                return Err(format!("unknown verb {v:?}: one of {}", VERBS.join(", ")));
            }
            f = f.verb(v);
        }
        if let Some(r) = &self.resource {
            let plurals: Vec<&str> = resources::ALL.iter().map(|k| k.plural).collect();
            // the one subresource a rule names by itself: exec (its own faults: a hang is a
            // `ceph` that never returns, not a `get pod` that never answers)
            if let Some((main, _)) = r.split_once('/').filter(|_| r != "pods/exec") {
                return Err(format!("resource {r:?}: a subresource is matched by its resource: {main}"));
            }
            if !plurals.contains(&r.as_str()) && r != "pods/exec" {
                return Err(format!("unknown resource {r:?}: one of {} (plural)", plurals.join(", ")));
            }
            f = f.resource(r);
        }
        if let Some(n) = &self.name {
            f = f.name(n);
        }
        match self.count {
            Some(0) => return Err("count must be at least 1 (absent: until cleared)".into()),
            Some(n) => f = f.times(n),
            None => {}
        }
        if let Some(n) = self.skip {
            f = f.skip(n);
        }
        Ok(Setting::Rule(f))
    }
}

/// `demo --fault`: `KIND[,key=value...]`, the keys being the fields of [`FaultSpec`]:
/// `500,verb=patch,resource=deployments,count=2`, `429,verb=list,resource=pods`,
/// `drop,verb=watch,count=3`, `latency,ms=300`.
pub fn parse_flag(s: &str) -> Result<Setting, String> {
    let mut parts = s.split(',');
    let mut spec =
        FaultSpec { kind: Value::String(parts.next().unwrap_or_default().to_string()), ..Default::default() };
    for p in parts {
        let Some((k, v)) = p.split_once('=') else {
            return Err(format!(
                "{p:?} is not key=value (after the kind: code, verb, resource, name, count, skip, ms, namespace)"
            ));
        };
        let number = |what: &str| format!("{k}={v}: {what} is a number");
        match k.trim() {
            "code" => spec.code = Some(v.parse().map_err(|_| number("code"))?),
            "verb" => spec.verb = Some(v.into()),
            "resource" => spec.resource = Some(v.into()),
            "name" => spec.name = Some(v.into()),
            "count" | "times" => spec.count = Some(v.parse().map_err(|_| number("count"))?),
            "skip" => spec.skip = Some(v.parse().map_err(|_| number("skip"))?),
            "ms" => spec.ms = Some(v.parse().map_err(|_| number("ms"))?),
            "namespace" => spec.namespace = Some(v.into()),
            other => {
                return Err(format!("unknown key {other:?}: code, verb, resource, name, count, skip, ms, namespace"));
            }
        }
    }
    match spec.setting()? {
        Setting::DropWatches => Err("drop-watches cuts the watches open now, which a starting simulation has none \
                                     of: for new watches, drop,verb=watch[,count=N]; or POST it to /rook-sim/faults"
            .into()),
        s => Ok(s),
    }
}

/// A kind's name and status code as the listing shows them.
fn kind_name(k: &FaultKind) -> (String, Option<u16>) {
    match k {
        FaultKind::Status(c) => return ("status".into(), Some(*c)),
        FaultKind::Message { code, .. } => return ("message".into(), Some(*code)),
        _ => {}
    }
    match named_kinds().into_iter().find(|(_, n)| n == k) {
        Some((name, _)) => (name.into(), None),
        None => (format!("{k:?}"), None),
    }
}

/// A rule as the endpoint lists it.
pub fn rule_json(f: &Fault) -> Value {
    let (kind, code) = kind_name(&f.kind);
    let mut v = json!({"id": f.id, "kind": kind, "remaining": f.times});
    for (k, x) in [("verb", &f.verb), ("resource", &f.resource), ("name", &f.name)] {
        if let Some(x) = x {
            v[k] = x.clone().into();
        }
    }
    if let Some(c) = code {
        v["code"] = c.into();
    }
    v
}

/// One line for people: what the fault does.
pub fn describe(s: &Setting) -> String {
    match s {
        Setting::Latency(d) => format!("every request waits {} ms", d.as_millis()),
        Setting::DropWatches => "every open watch is cut".into(),
        Setting::NeverReady { namespace, name } => match namespace {
            Some(ns) => format!("new pods of {ns}/{name} run but never turn Ready"),
            None => format!("new pods of {name} run but never turn Ready"),
        },
        Setting::Rule(f) => {
            let (kind, code) = kind_name(&f.kind);
            let what = match code {
                Some(c) => format!("answers {c}"),
                None if kind == "drop" => "drops the connection".into(),
                None if kind == "drop-after-apply" => "applies, then drops the connection".into(),
                None if kind == "hang" => "never answers".into(),
                None => format!("answers {kind}"),
            };
            let name = f.name.as_deref().map(|n| format!(" {n}")).unwrap_or_default();
            let times = match f.times {
                Some(1) => ", once".to_string(),
                Some(n) => format!(", {n} times"),
                None => ", until cleared".to_string(),
            };
            format!(
                "every {} of {}{name} {what}{times}",
                f.verb.as_deref().unwrap_or("request"),
                f.resource.as_deref().unwrap_or("any resource"),
            )
        }
    }
}

/// Put a setting in force; returns what the endpoint answers for it.
pub fn apply(state: &SimState, s: &Setting) -> Value {
    match s {
        Setting::Rule(f) => {
            let id = state.faults.add(f.clone());
            rule_json(&Fault { id, ..f.clone() })
        }
        Setting::Latency(d) => {
            state.faults.set_latency(*d);
            json!({"kind": "latency", "ms": d.as_millis() as u64})
        }
        Setting::DropWatches => {
            let open = state.watch_epoch.receiver_count();
            state.watch_epoch.send_modify(|e| *e += 1);
            json!({"kind": "drop-watches", "cut": open})
        }
        Setting::NeverReady { namespace, name } => {
            let ns = namespace.clone().unwrap_or_else(|| state.operator.namespace_of(state, name));
            state.kubelet.set_never_ready(&ns, name);
            json!({"kind": "never-ready", "namespace": ns, "name": name})
        }
    }
}

pub fn listing(state: &SimState) -> Value {
    let rules: Vec<Value> = state.faults.rules().iter().map(rule_json).collect();
    let mut v = json!({"faults": rules, "latency_ms": state.faults.latency().as_millis() as u64});
    let never: Vec<Value> =
        state.kubelet.never_ready_list().into_iter().map(|(ns, name)| json!({"namespace": ns, "name": name})).collect();
    if !never.is_empty() {
        v["never_ready"] = never.into();
    }
    v
}

fn reply(status: u16, v: &Value) -> Reply {
    Reply::Full {
        status,
        content_type: "application/json".into(),
        body: Bytes::from(serde_json::to_vec(v).expect("json")),
        warnings: vec![],
    }
}

fn error(e: ApiError) -> Reply {
    reply(e.code, &e.to_json())
}

/// The admin endpoint's answer, or None for a path that is not its own.
pub fn handle(state: &Arc<SimState>, req: &ApiRequest) -> Option<Reply> {
    let other = [CEPH_FAULTS_PATH, NODES_PATH]
        .into_iter()
        .find(|p| req.path.strip_prefix(p).is_some_and(|r| r.is_empty() || r.starts_with('/')));
    let id = match other {
        Some(_) => None,
        None => match req.path.strip_prefix(FAULTS_PATH)? {
            "" | "/" => None,
            rest => Some(rest.strip_prefix('/')?),
        },
    };
    match req.authorization.as_deref().and_then(|a| a.strip_prefix("Bearer ")) {
        Some(t) if t == state.admin_token => {}
        Some(t) if t == state.token => {
            return Some(error(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "{FAULTS_PATH} is forbidden: the kubeconfig user cannot set faults; use the admin token \
                     (the .admin-token file next to the kubeconfig, ROOK_SIM_ADMIN_TOKEN from demo --serve)"
                ),
            )));
        }
        _ => return Some(error(ApiError::unauthorized())),
    }
    if let Some(prefix) = other {
        return Some(ceph_and_nodes(state, req, prefix));
    }
    let not_found = |id: &str| {
        error(ApiError::new(404, "NotFound", format!("fault {id:?} not found: see GET {FAULTS_PATH} for the ids")))
    };
    let rule = |id: &str| id.parse::<u64>().ok().and_then(|n| state.faults.rules().into_iter().find(|f| f.id == n));
    Some(match (req.method.as_str(), id) {
        ("GET", None) => reply(200, &listing(state)),
        ("GET", Some(id)) => match rule(id) {
            Some(f) => reply(200, &rule_json(&f)),
            None => not_found(id),
        },
        ("POST", None) => match add(state, &req.body) {
            Ok((status, v)) => reply(status, &v),
            Err(msg) => error(ApiError::bad_request(format!("invalid fault: {msg}"))),
        },
        ("DELETE", None) => {
            state.faults.clear();
            state.kubelet.clear_never_ready();
            reply(200, &listing(state))
        }
        ("DELETE", Some("latency")) => {
            state.faults.set_latency(Duration::ZERO);
            reply(200, &listing(state))
        }
        ("DELETE", Some(id)) => match id.parse::<u64>().ok().and_then(|n| state.faults.remove(n)) {
            Some(f) => reply(200, &rule_json(&f)),
            None => not_found(id),
        },
        _ => error(ApiError::method_not_allowed()),
    })
}

/// `/rook-sim/ceph/faults` and `/rook-sim/nodes[/NODE]` (module docs).
fn ceph_and_nodes(state: &Arc<SimState>, req: &ApiRequest, prefix: &str) -> Reply {
    let rest = req.path[prefix.len()..].trim_matches('/');
    if prefix == CEPH_FAULTS_PATH {
        if !rest.is_empty() {
            return error(ApiError::new(404, "NotFound", format!("{} not found", req.path)));
        }
        let (status, v) = crate::ceph::state::admin(&state.ceph, &req.method, &req.body);
        return reply(status, &v);
    }
    let k = &state.kubelet;
    match (req.method.as_str(), rest) {
        ("GET", "") => {
            let nodes: Vec<Value> = k.nodes().iter().map(|n| json!({"name": n, "down": k.is_down(n)})).collect();
            reply(200, &json!({"nodes": nodes}))
        }
        ("PUT" | "POST", node) if !node.is_empty() && !node.contains('/') => {
            if !k.has_node(node) {
                return error(ApiError::new(404, "NotFound", format!("node {node:?} not found: see GET {NODES_PATH}")));
            }
            match serde_json::from_slice::<Value>(&req.body).ok().and_then(|v| v.get("down").and_then(Value::as_bool)) {
                Some(down) => {
                    crate::kube::kubelet::set_node_down(state, node, down);
                    reply(200, &json!({"name": node, "down": down}))
                }
                None => error(ApiError::bad_request(r#"the body is {"down": true} or {"down": false}"#.to_string())),
            }
        }
        _ => error(ApiError::method_not_allowed()),
    }
}

fn add(state: &SimState, body: &[u8]) -> Result<(u16, Value), String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(r#"the body is empty: one fault as JSON, e.g. {"kind": 500, "verb": "patch", "resource": "deployments", "count": 2}"#.into());
    }
    let spec: FaultSpec = serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => e.to_string(),
        _ => format!("the body is not JSON ({e})"),
    })?;
    let s = spec.setting()?;
    let status = if matches!(s, Setting::DropWatches) { 200 } else { 201 };
    Ok((status, apply(state, &s)))
}

/// The files next to the kubeconfig: the admin token and the CA certificate.
pub struct Files {
    pub token: PathBuf,
    pub ca: PathBuf,
}

impl Files {
    pub(crate) fn write(kubeconfig: &Path, admin_token: &str, ca_pem: &str) -> Result<Files, String> {
        let sibling = |ext: &str| {
            let mut name = kubeconfig.file_name().unwrap_or_default().to_os_string();
            name.push(ext);
            kubeconfig.with_file_name(name)
        };
        let files = Files { token: sibling(".admin-token"), ca: sibling(".ca.crt") };
        crate::secrets::write_private(&files.token, admin_token)?;
        crate::secrets::write_private(&files.ca, ca_pem)?;
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: Value) -> Result<Setting, String> {
        serde_json::from_value::<FaultSpec>(v).map_err(|e| e.to_string())?.setting()
    }

    #[test]
    fn specs_become_rules() {
        let Ok(Setting::Rule(f)) = spec(json!({"kind": 500, "verb": "patch", "resource": "deployments", "count": 2}))
        else {
            panic!()
        };
        assert_eq!(
            (f.kind, f.verb.as_deref(), f.resource.as_deref(), f.times),
            (FaultKind::Status(500), Some("patch"), Some("deployments"), Some(2))
        );
        let Ok(Setting::Rule(f)) = spec(json!({"kind": "status", "code": 429, "verb": "list", "resource": "pods"}))
        else {
            panic!()
        };
        assert_eq!((f.kind, f.times), (FaultKind::Status(429), None));
        let Ok(Setting::Rule(f)) = spec(json!({"kind": "drop-after-apply", "name": "rook-ceph-osd-3", "remaining": 1}))
        else {
            panic!()
        };
        assert_eq!((f.kind, f.name.as_deref(), f.times), (FaultKind::DropAfterApply, Some("rook-ceph-osd-3"), Some(1)));
        assert!(matches!(spec(json!({"kind": "latency", "ms": 250})), Ok(Setting::Latency(d)) if d.as_millis() == 250));
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let err = |v: Value| spec(v).err().unwrap_or_else(|| panic!("accepted"));
        assert!(err(json!({"kind": "teapot"})).contains("unknown kind \"teapot\""));
        assert!(err(json!({"verb": "get"})).contains("kind is missing"));
        assert!(err(json!({"kind": 500, "verbs": "get"})).contains("unknown field `verbs`"));
        assert!(err(json!({"kind": 500, "verb": "PATCH"})).contains("unknown verb"));
        assert!(err(json!({"kind": 500, "resource": "deployment"})).contains("unknown resource \"deployment\""));
        assert!(err(json!({"kind": 500, "resource": "cephclusters/status"})).contains("matched by its resource"));
        assert!(err(json!({"kind": 500, "count": 0})).contains("at least 1"));
        assert!(err(json!({"kind": 200})).contains("not an error status"));
        assert!(err(json!({"kind": "status"})).contains("needs code"));
        assert!(err(json!({"kind": "drop", "code": 500})).contains("code is for kind status"));
        assert!(err(json!({"kind": "latency"})).contains("needs ms"));
        assert!(err(json!({"kind": "latency", "ms": 5, "verb": "get"})).contains("not taken"));
    }

    #[test]
    fn flags() {
        let Ok(Setting::Rule(f)) = parse_flag("500,verb=patch,resource=deployments,count=2") else { panic!() };
        assert_eq!(describe(&Setting::Rule(f)), "every patch of deployments answers 500, 2 times");
        let Ok(Setting::Rule(f)) = parse_flag("drop,verb=watch") else { panic!() };
        assert_eq!(describe(&Setting::Rule(f)), "every watch of any resource drops the connection, until cleared");
        assert!(matches!(parse_flag("latency,ms=300"), Ok(Setting::Latency(_))));
        assert!(parse_flag("500,verb").unwrap_err().contains("not key=value"));
        assert!(parse_flag("500,count=x").unwrap_err().contains("count is a number"));
        assert!(parse_flag("500,colour=red").unwrap_err().contains("unknown key"));
        assert!(parse_flag("drop-watches").unwrap_err().contains("drop,verb=watch"));
    }

    #[test]
    fn never_ready_specs_and_flags() {
        let Ok(Setting::NeverReady { namespace, name }) =
            spec(json!({"kind": "never-ready", "name": "rook-ceph-osd-3"}))
        else {
            panic!()
        };
        assert_eq!((namespace, name.as_str()), (None, "rook-ceph-osd-3"));
        let Ok(s @ Setting::NeverReady { .. }) = parse_flag("never-ready,name=rook-ceph-osd-3,namespace=ceph-b") else {
            panic!()
        };
        assert_eq!(describe(&s), "new pods of ceph-b/rook-ceph-osd-3 run but never turn Ready");
        let err = |v: Value| spec(v).err().unwrap_or_else(|| panic!("accepted"));
        assert!(err(json!({"kind": "never-ready"})).contains("needs name"));
        assert!(err(json!({"kind": "never-ready", "name": "x", "count": 1})).contains("only name and namespace"));
        assert!(err(json!({"kind": 500, "namespace": "x"})).contains("namespace is for kind never-ready"));
    }

    #[test]
    fn listed_kinds_round_trip() {
        for (name, k) in named_kinds() {
            assert_eq!(kind_name(&k), (name.to_string(), None));
        }
        assert_eq!(kind_name(&FaultKind::Status(503)), ("status".to_string(), Some(503)));
    }
}
