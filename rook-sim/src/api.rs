//! The Kubernetes HTTP API of the simulation: routing, authentication, faults, the verbs
//! (get, list, watch, create, update, patch, delete) and the apiserver's write rules for
//! custom resources (pruning, validation, status subresource, dry run).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;

use super::SimState;
use super::discovery;
use super::faults::FaultKind;
use super::log::LoggedRequest;
use super::patch::{self, PatchType};
use super::resources::{self, CRDS, DEPLOYMENTS, Kind, NAMESPACES, PODS};
use super::schema;
use super::status::ApiError;
use super::store::Key;
use crate::selector::LabelSelector as Selector;

pub struct ApiRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub accept: String,
    pub authorization: Option<String>,
    pub user_agent: String,
    pub body: Bytes,
}

pub enum Reply {
    Full {
        status: u16,
        content_type: String,
        body: Bytes,
        warnings: Vec<String>,
    },
    /// A watch: newline-delimited JSON events until the sender closes.
    Watch(mpsc::Receiver<Result<Bytes, String>>),
    /// Close the connection without an answer (a fault).
    Drop,
}

impl Reply {
    fn json(status: u16, v: &Value) -> Reply {
        Reply::Full {
            status,
            content_type: "application/json".into(),
            body: Bytes::from(serde_json::to_vec(v).expect("json")),
            warnings: vec![],
        }
    }
    fn error(e: &ApiError) -> Reply {
        if e.plain {
            return Reply::Full {
                status: e.code,
                content_type: "text/plain; charset=utf-8".into(),
                body: Bytes::from(format!("{}\n", e.message)),
                warnings: vec![],
            };
        }
        Reply::json(e.code, &e.to_json())
    }
    pub fn status(&self) -> u16 {
        match self {
            Reply::Full { status, .. } => *status,
            Reply::Watch(_) => 200,
            Reply::Drop => 0,
        }
    }
}

pub fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

enum Route {
    Version,
    Aggregated(bool),
    LegacyApi,
    LegacyApis,
    Group(String),
    ResourceList(String, String),
    Resource {
        kind: &'static Kind,
        ns: Option<String>,
        name: Option<String>,
        sub: Option<String>,
    },
    /// A path under a built-in group naming nothing it serves (a `Status`).
    NotFound,
    /// A path no group handles (`404 page not found`).
    NoHandler,
}

/// A group whose resources are built into kube-apiserver: its own handler answers a path
/// it does not know with a `Status`. Custom resources' groups, and groups nobody serves,
/// leave it to Go's `http.NotFound`.
fn builtin_group(group: &str) -> bool {
    resources::ALL.iter().any(|k| k.builtin && k.group == group)
}

fn route(path: &str, accept: &str) -> Route {
    let segs: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let agg = discovery::wants_aggregated(accept);
    let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
        ["version"] => return Route::Version,
        ["api"] => return if agg { Route::Aggregated(true) } else { Route::LegacyApi },
        ["apis"] => return if agg { Route::Aggregated(false) } else { Route::LegacyApis },
        ["api", v] => return Route::ResourceList(String::new(), v.to_string()),
        ["apis", g] => return Route::Group(g.to_string()),
        ["apis", g, v] => return Route::ResourceList(g.to_string(), v.to_string()),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Route::NoHandler,
    };
    let not_found = if builtin_group(group) { Route::NotFound } else { Route::NoHandler };
    let found = |plural: &str| resources::find(group, version, plural);
    let s = |x: &&str| x.to_string();
    match rest {
        // namespaces/{name}/status and /finalize are subresources of a namespace
        ["namespaces", name, sub @ ("status" | "finalize")] if group.is_empty() => {
            Route::Resource { kind: &NAMESPACES, ns: None, name: Some(name.to_string()), sub: Some(sub.to_string()) }
        }
        ["namespaces", ns, plural, tail @ ..] => match (found(plural), tail) {
            (Some(k), []) if k.namespaced => Route::Resource { kind: k, ns: Some(s(ns)), name: None, sub: None },
            (Some(k), [name]) if k.namespaced => {
                Route::Resource { kind: k, ns: Some(s(ns)), name: Some(s(name)), sub: None }
            }
            (Some(k), [name, sub]) if k.namespaced => {
                Route::Resource { kind: k, ns: Some(s(ns)), name: Some(s(name)), sub: Some(s(sub)) }
            }
            _ => not_found,
        },
        [plural, tail @ ..] => match (found(plural), tail) {
            (Some(k), []) => Route::Resource { kind: k, ns: None, name: None, sub: None },
            (Some(k), [name]) if !k.namespaced => Route::Resource { kind: k, ns: None, name: Some(s(name)), sub: None },
            (Some(k), [name, sub]) if !k.namespaced => {
                Route::Resource { kind: k, ns: None, name: Some(s(name)), sub: Some(s(sub)) }
            }
            _ => not_found,
        },
        [] => not_found,
    }
}

fn verb_of(method: &str, has_name: bool, watch: bool) -> &'static str {
    match (method, has_name, watch) {
        (_, _, true) => "watch",
        ("GET", true, _) => "get",
        ("GET", false, _) => "list",
        ("POST", _, _) => "create",
        ("PUT", _, _) => "update",
        ("PATCH", _, _) => "patch",
        ("DELETE", true, _) => "delete",
        ("DELETE", false, _) => "deletecollection",
        _ => "unknown",
    }
}

/// The simulation's own endpoint (not part of the Kubernetes API, never logged): GET the
/// request log, DELETE to clear it. Benchmarks count every client's requests with it.
pub const LOG_PATH: &str = "/rook-sim/log";

pub async fn handle(state: &Arc<SimState>, req: ApiRequest) -> Reply {
    if let Some(reply) = super::admin::handle(state, &req) {
        return reply;
    }
    if req.path == LOG_PATH {
        if req.authorization.as_deref() != Some(&format!("Bearer {}", state.token)) {
            return Reply::error(&ApiError::unauthorized());
        }
        return match req.method.as_str() {
            "GET" => Reply::json(200, &serde_json::to_value(state.log.entries()).expect("json")),
            "DELETE" => {
                state.log.clear();
                Reply::json(200, &serde_json::json!({}))
            }
            _ => Reply::error(&ApiError::method_not_allowed()),
        };
    }
    let q = parse_query(&req.query);
    let watch = matches!(q.get("watch").map(String::as_str), Some("true" | "1"));
    let r = route(&req.path, &req.accept);
    let (verb, resource, name) = match &r {
        Route::Resource { kind, name, sub, .. } => {
            let res = match sub {
                Some(s) => format!("{}/{s}", kind.plural),
                None => kind.plural.to_string(),
            };
            (verb_of(&req.method, name.is_some(), watch), res, name.clone())
        }
        _ => ("get", String::new(), None),
    };
    use std::sync::atomic::Ordering::SeqCst;
    let now = state.in_flight.fetch_add(1, SeqCst) + 1;
    state.max_in_flight.fetch_max(now, SeqCst);
    let reply = answer(state, &req, &q, watch, r, verb, &resource, name.as_deref()).await;
    state.in_flight.fetch_sub(1, SeqCst);
    let write = super::faults::WRITE_VERBS.contains(&verb);
    state.log.push(LoggedRequest {
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.query.clone(),
        content_type: req.content_type.clone(),
        verb: verb.to_string(),
        resource,
        name,
        status: reply.status(),
        body: write.then(|| String::from_utf8_lossy(&req.body).into_owned()),
        user_agent: req.user_agent.clone(),
    });
    reply
}

/// Latency, authentication, faults, then the API itself.
#[allow(clippy::too_many_arguments)]
async fn answer(
    state: &Arc<SimState>,
    req: &ApiRequest,
    q: &HashMap<String, String>,
    watch: bool,
    r: Route,
    verb: &'static str,
    resource: &str,
    name: Option<&str>,
) -> Reply {
    let latency = state.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if req.authorization.as_deref() != Some(&format!("Bearer {}", state.token)) {
        Reply::error(&ApiError::unauthorized())
    } else if let Some(denied) = forbidden(state, &r, verb) {
        Reply::error(&denied)
    } else {
        if super::faults::WRITE_VERBS.contains(&verb) {
            // A hook at one object's write (a test's signal to its client): no reconcile.
            if let Some(f) = state.faults.take_interloper_for(name) {
                f(&mut state.store());
            }
            if let Some(f) = state.faults.take_interloper() {
                f(&mut state.store());
                state.operator.trigger();
            }
        }
        let fault = state.faults.take(verb, resource.split('/').next().unwrap_or(""), name);
        // on a real server (`SimOptions::on`) this is the fault proxy in front of it
        if let Some(remote) = &state.front {
            return match fault {
                Some(FaultKind::DropAfterApply) => {
                    let _ = remote.forward(req).await;
                    Reply::Drop
                }
                Some(f) => fault_reply(&f, &r, verb),
                None => cut_when_watches_drop(state, remote.forward(req).await),
            };
        }
        match fault {
            Some(FaultKind::DropAfterApply) => {
                let _ = dispatch(state, r, req, q, watch);
                Reply::Drop
            }
            Some(f) => fault_reply(&f, &r, verb),
            None => dispatch(state, r, req, q, watch),
        }
    }
}

/// RBAC, after authentication and before anything else: the 403 the apiserver gives when
/// no bound rule allows a resource request. Discovery and `/version` are open to every
/// authenticated user (the default `system:discovery` and `system:public-info-viewer`).
fn forbidden(state: &SimState, r: &Route, verb: &str) -> Option<ApiError> {
    let Route::Resource { kind, ns, name, sub } = r else { return None };
    let a = super::rbac::Attributes {
        verb,
        group: kind.group,
        resource: kind.plural,
        subresource: sub.as_deref(),
        namespace: ns.as_deref(),
        name: name.as_deref(),
    };
    (!state.authorize(&a)).then(|| ApiError::forbidden_sub(kind, sub.as_deref(), name.as_deref(), verb, ns.as_deref()))
}

fn fault_reply(f: &FaultKind, r: &Route, verb: &str) -> Reply {
    let (kind, ns, name) = match r {
        Route::Resource { kind, ns, name, .. } => (*kind, ns.as_deref(), name.as_deref()),
        _ => (&NAMESPACES as &Kind, None, None),
    };
    match f {
        FaultKind::Drop | FaultKind::DropAfterApply => Reply::Drop,
        FaultKind::Conflict => Reply::error(&ApiError::conflict(kind, name.unwrap_or(""))),
        FaultKind::Forbidden => Reply::error(&ApiError::forbidden(kind, name, verb, ns)),
        FaultKind::Throttled { retry_after } => Reply::error(&ApiError {
            details: Some(serde_json::json!({"retryAfterSeconds": retry_after})),
            ..ApiError::new(429, "TooManyRequests", "Too many requests, please try again later.")
        }),
        FaultKind::Status(503) => Reply::error(&ApiError::service_unavailable()),
        FaultKind::Status(c) => {
            Reply::error(&ApiError::new(*c, "InternalError", format!("Internal error occurred: injected fault ({c})")))
        }
    }
}

fn dispatch(state: &Arc<SimState>, r: Route, req: &ApiRequest, q: &HashMap<String, String>, watch: bool) -> Reply {
    let addr = state.addr();
    let res = match r {
        Route::Version => Ok(Reply::json(200, &discovery::version())),
        Route::Aggregated(core) => Ok(Reply::Full {
            status: 200,
            content_type: discovery::AGGREGATED_CT.into(),
            body: Bytes::from(serde_json::to_vec(&discovery::aggregated(core)).expect("json")),
            warnings: vec![],
        }),
        Route::LegacyApi => Ok(Reply::json(200, &discovery::legacy_api(&addr))),
        Route::LegacyApis => Ok(Reply::json(200, &discovery::legacy_apis())),
        Route::Group(g) => discovery::legacy_group(&g).map(|d| Reply::json(200, &d)).ok_or_else(ApiError::no_handler),
        Route::ResourceList(g, v) => discovery::resource_list(&g, &v)
            .map(|d| Reply::json(200, &d))
            .ok_or_else(|| if builtin_group(&g) { ApiError::path_not_found() } else { ApiError::no_handler() }),
        Route::NotFound => Err(ApiError::path_not_found()),
        Route::NoHandler => Err(ApiError::no_handler()),
        // Custom resources exist only while their CRD does (Rook not installed: no group,
        // 404 page not found).
        Route::Resource { kind, .. } if !kind.builtin && state.store().get(&CRDS, "", &kind.qualified()).is_none() => {
            Err(ApiError::no_handler())
        }
        Route::Resource { kind, ns, name, sub } => {
            let ns_str = ns.clone().unwrap_or_default();
            // Reads take no dryRun; each write reads it from its own options.
            match (req.method.as_str(), name) {
                ("GET", None) if watch => watch_stream(state, kind, ns.as_deref(), q),
                ("GET", None) => list(state, kind, ns.as_deref(), q),
                ("GET", Some(n)) => get(state, kind, &ns_str, &n, sub.as_deref()),
                ("POST", None) => {
                    query_dry_run(q, "CreateOptions").and_then(|d| create(state, kind, &ns_str, req, q, d))
                }
                ("PUT", Some(n)) => query_dry_run(q, "UpdateOptions")
                    .and_then(|d| write(state, kind, &ns_str, &n, sub.as_deref(), req, q, d, None)),
                // the patch type first, then the options (handlers/patch.go)
                ("PATCH", Some(n)) => match PatchType::from_content_type(&req.content_type) {
                    None => Err(ApiError::unsupported_media_type()),
                    Some(PatchType::Strategic) if !kind.builtin => Err(ApiError::unsupported_media_type()),
                    Some(PatchType::Apply) => Err(ApiError::unsupported_media_type()),
                    Some(pt) => query_dry_run(q, "PatchOptions")
                        .and_then(|d| write(state, kind, &ns_str, &n, sub.as_deref(), req, q, d, Some(pt))),
                },
                ("DELETE", Some(n)) => delete(state, kind, &ns_str, &n, req, q),
                _ => Err(ApiError::method_not_allowed()),
            }
        }
    };
    res.unwrap_or_else(|e| Reply::error(&e))
}

/// `dryRun` of a write's options from the query: absent, or `All`; anything else is 422
/// Invalid naming the options (`CreateOptions`, `UpdateOptions`, `PatchOptions`).
fn query_dry_run(q: &HashMap<String, String>, options: &str) -> Result<bool, ApiError> {
    let values: Vec<String> = q.get("dryRun").filter(|v| !v.is_empty()).cloned().into_iter().collect();
    dry_run_of(&values, options)
}

fn dry_run_of(values: &[String], options: &str) -> Result<bool, ApiError> {
    if values.iter().any(|v| v != "All") {
        return Err(ApiError::invalid_dry_run(options, values));
    }
    Ok(!values.is_empty())
}

/// A DELETE's `DeleteOptions`, as kube-apiserver reads them (handlers/delete.go): from the
/// body when there is one — the query is then not read at all, so a `dryRun=All` in the
/// query of a DELETE with a body deletes — else from the query (`dryRun` alone here).
pub fn delete_options(body: &[u8], q: &HashMap<String, String>) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        let dry: Vec<&String> = q.get("dryRun").filter(|v| !v.is_empty()).into_iter().collect();
        return Ok(serde_json::json!({"dryRun": dry}));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))
}

/// DELETE: the object must be there (404), its `preconditions` must hold (409), then it
/// goes, unless a dry run. Pods and namespaces answer with the object, every other kind
/// with a `Status` of `Success` (the registry's `ReturnDeletedObject`).
fn delete(
    state: &Arc<SimState>,
    kind: &'static Kind,
    ns: &str,
    name: &str,
    req: &ApiRequest,
    q: &HashMap<String, String>,
) -> Result<Reply, ApiError> {
    let opts = delete_options(&req.body, q)?;
    let values: Vec<String> = match &opts["dryRun"] {
        Value::Null => vec![],
        Value::Array(a) => a.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect(),
        _ => return Err(ApiError::bad_request("error decoding DeleteOptions: dryRun is a list of strings")),
    };
    let dry = dry_run_of(&values, "DeleteOptions")?;
    let gone = {
        let mut store = state.store();
        let obj = store.get_value(kind, ns, name).ok_or_else(|| ApiError::not_found(kind, name))?;
        // rest.BeforeDelete: the uid, then the resourceVersion
        for (field, label) in [("uid", "UID"), ("resourceVersion", "ResourceVersion")] {
            let Some(want) = opts.pointer(&format!("/preconditions/{field}")).and_then(Value::as_str) else {
                continue;
            };
            let have = obj["metadata"][field].as_str().unwrap_or_default();
            if want != have {
                return Err(ApiError::precondition_failed(kind, name, label, want, have));
            }
        }
        store.delete(kind, ns, name, dry)?
    };
    if kind == &PODS && !dry {
        // a restarted daemon pod deleted before it turned Ready no longer counts
        super::health::refresh(state, ns);
    }
    if kind == &PODS || kind == &NAMESPACES {
        return Ok(Reply::json(200, &gone));
    }
    let uid = gone["metadata"]["uid"].as_str().unwrap_or_default();
    Ok(Reply::json(200, &ApiError::deleted(kind, name, uid)))
}

/// A path below an object naming a subresource the kind does not have.
fn no_subresource(kind: &Kind) -> ApiError {
    if kind.builtin { ApiError::path_not_found() } else { ApiError::no_handler() }
}

fn get(state: &SimState, kind: &'static Kind, ns: &str, name: &str, sub: Option<&str>) -> Result<Reply, ApiError> {
    if sub.is_some_and(|s| s != "status") {
        return Err(no_subresource(kind));
    }
    let store = state.store();
    let s = store.get(kind, ns, name).ok_or_else(|| ApiError::not_found(kind, name))?;
    Ok(Reply::Full { status: 200, content_type: "application/json".into(), body: s.bytes.clone(), warnings: vec![] })
}

/// Field selectors the simulation supports: metadata.name, metadata.namespace, spec.nodeName.
struct FieldSel(Vec<(String, String, bool)>);

impl FieldSel {
    fn parse(s: Option<&String>) -> Result<FieldSel, ApiError> {
        let mut out = Vec::new();
        for term in s.map(String::as_str).unwrap_or("").split(',').filter(|t| !t.is_empty()) {
            let (k, v, eq) = if let Some((k, v)) = term.split_once("!=") {
                (k, v, false)
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (k, v, true)
            } else {
                return Err(ApiError::bad_request(format!("invalid field selector: {term:?}")));
            };
            if !matches!(k, "metadata.name" | "metadata.namespace" | "spec.nodeName") {
                return Err(ApiError::bad_request(format!("field label not supported: {k}")));
            }
            out.push((k.to_string(), v.to_string(), eq));
        }
        Ok(FieldSel(out))
    }

    fn matches(&self, key: &Key, node: Option<&String>) -> bool {
        self.0.iter().all(|(k, v, eq)| {
            let actual = match k.as_str() {
                "metadata.name" => Some(&key.1),
                "metadata.namespace" => Some(&key.0),
                _ => node,
            };
            (actual.map(String::as_str).unwrap_or("") == v) == *eq
        })
    }
}

/// A continue token as kube-apiserver writes one: `{"v":"meta.k8s.io/v1","rv":N,"start":K}`
/// in base64url without padding (storage's `EncodeContinue`), N the list's
/// resourceVersion; K here the last key given.
fn encode_continue(rv: u64, key: &Key) -> String {
    let raw = serde_json::json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{}/{}", key.0, key.1)});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.to_string())
}

fn decode_continue(tok: &str) -> Option<(u64, Key)> {
    // tokens of older rook-sims had padding
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(tok.trim_end_matches('=')).ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    let rv = v.get("rv")?.as_u64()?;
    let (ns, name) = v.get("start")?.as_str()?.split_once('/')?;
    Some((rv, (ns.to_string(), name.to_string())))
}

/// The `labelSelector` and `fieldSelector` of a list or watch.
fn selectors(q: &HashMap<String, String>) -> Result<(Selector, FieldSel), ApiError> {
    let sel = Selector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
    Ok((sel, FieldSel::parse(q.get("fieldSelector"))?))
}

fn list(
    state: &SimState,
    kind: &'static Kind,
    ns: Option<&str>,
    q: &HashMap<String, String>,
) -> Result<Reply, ApiError> {
    let (sel, fsel) = selectors(q)?;
    let limit: usize = match q.get("limit").map(String::as_str) {
        None | Some("") | Some("0") => usize::MAX,
        Some(l) => l.parse().map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
    };
    let store = state.store();
    let (list_rv, after) = match q.get("continue").filter(|c| !c.is_empty()) {
        None => (store.resource_version(), None),
        Some(tok) => {
            let (rv, key) = decode_continue(tok).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid continue token: continue key is not valid: incorrect encoded start resourceVersion \
                     (version meta.k8s.io/v1)",
                )
            })?;
            if rv < store.compacted() {
                return Err(ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                ));
            }
            (rv, Some(key))
        }
    };
    let mut body = Vec::with_capacity(4096);
    let mut count = 0usize;
    let mut next: Option<Key> = None;
    let mut last: Option<&Key> = None;
    let mut items = Vec::new();
    // Without selectors the server knows how many are left past a page (etcd counts
    // them); with one it cannot say, and says nothing (storage/etcd3 GetList).
    let unselected =
        q.get("labelSelector").is_none_or(|s| s.is_empty()) && q.get("fieldSelector").is_none_or(|s| s.is_empty());
    let mut remaining = 0u64;
    // A full page has a continue token whenever any object follows its last one, whether
    // or not it matches the selectors: the server stops reading there (storage/etcd3
    // GetList), so the last page of a selective list can be empty.
    for (key, s) in store.iter(kind, ns, after.as_ref()) {
        if count == limit {
            if next.is_none() {
                next = last.cloned();
            }
            if !unselected {
                break;
            }
            remaining += 1;
            continue;
        }
        if !sel.matches(&s.labels) || !fsel.matches(key, s.node.as_ref()) {
            continue;
        }
        items.push(s.bytes.clone());
        last = Some(key);
        count += 1;
    }
    let mut meta = serde_json::json!({"resourceVersion": list_rv.to_string()});
    if let Some(k) = &next {
        meta["continue"] = encode_continue(list_rv, k).into();
        if unselected {
            meta["remainingItemCount"] = remaining.into();
        }
    }
    drop(store);
    body.extend_from_slice(
        format!(
            "{{\"kind\":\"{}\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
            kind.list_kind(),
            kind.api_version(),
            meta
        )
        .as_bytes(),
    );
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(it);
    }
    body.extend_from_slice(b"]}");
    Ok(Reply::Full { status: 200, content_type: "application/json".into(), body: Bytes::from(body), warnings: vec![] })
}

fn event_line(etype: &str, obj: &[u8]) -> Bytes {
    let mut b = Vec::with_capacity(obj.len() + 32);
    b.extend_from_slice(format!("{{\"type\":\"{etype}\",\"object\":").as_bytes());
    b.extend_from_slice(obj);
    b.extend_from_slice(b"}\n");
    Bytes::from(b)
}

fn watch_stream(
    state: &Arc<SimState>,
    kind: &'static Kind,
    ns: Option<&str>,
    q: &HashMap<String, String>,
) -> Result<Reply, ApiError> {
    let (sel, fsel) = selectors(q)?;
    let timeout = q.get("timeoutSeconds").and_then(|t| t.parse::<u64>().ok()).unwrap_or(1800);
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let (tx, rx) = mpsc::channel::<Result<Bytes, String>>(4096);
    let ns_owned = ns.map(str::to_string);
    let mut initial = Vec::new();
    let (mut sub, start_rv) = {
        let store = state.store();
        let sub = store.subscribe();
        let rv = store.resource_version();
        match q.get("resourceVersion").map(String::as_str) {
            None | Some("") | Some("0") => {
                for (key, s) in store.iter(kind, ns, None) {
                    if sel.matches(&s.labels) && fsel.matches(key, s.node.as_ref()) {
                        initial.push(event_line("ADDED", &s.bytes));
                    }
                }
            }
            Some(v) => {
                // kube-apiserver answers this one 500 with no reason (the watch cache's
                // parse error is no API error)
                let from: u64 = v.parse().map_err(|_| {
                    ApiError::new(
                        500,
                        "",
                        format!(
                            "resourceVersion: Invalid value: {v:?}: strconv.ParseUint: parsing {v:?}: invalid syntax"
                        ),
                    )
                })?;
                match store.events_since(from) {
                    Some(evs) => {
                        for e in evs.iter().filter(|e| e.plural == kind.plural && ns.is_none_or(|n| n == e.namespace)) {
                            if sel.matches(&e.labels)
                                && fsel.matches(&(e.namespace.clone(), e.name.clone()), e.node.as_ref())
                            {
                                initial.push(event_line(e.etype, &e.bytes));
                            }
                        }
                    }
                    None => {
                        let err = ApiError::gone_watch(from, store.history_start());
                        initial.push(event_line("ERROR", &serde_json::to_vec(&err.to_json()).expect("json")));
                        let tx2 = tx.clone();
                        tokio::spawn(async move {
                            for l in initial {
                                let _ = tx2.send(Ok(l)).await;
                            }
                        });
                        return Ok(Reply::Watch(rx));
                    }
                }
            }
        }
        (sub, rv)
    };
    let mut epoch = state.watch_epoch.subscribe();
    let state2 = state.clone();
    let filter = WatchFilter { kind, ns: ns_owned, sel, fsel, start_rv };
    tokio::spawn(async move {
        for l in initial {
            if tx.send(Ok(l)).await.is_err() {
                return;
            }
        }
        let start = tokio::time::Instant::now();
        let deadline = start + Duration::from_secs(timeout);
        let mut bookmark_at = next_bookmark(start, deadline);
        let mut last_rv = start_rv;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = epoch.changed() => {
                    // a dropped-connection fault: abort the stream mid-way
                    let _ = tx.send(Err("watch connection dropped by fault injection".into())).await;
                    return;
                }
                _ = tokio::time::sleep_until(bookmark_at), if bookmarks => {
                    // Everything stored up to the bookmark's resourceVersion goes out first: a
                    // client resuming from the bookmark misses nothing.
                    let rv = state2.store().resource_version();
                    loop {
                        match sub.try_recv() {
                            Ok(e) => {
                                if !filter.send(&e, &mut last_rv, &tx).await {
                                    return;
                                }
                            }
                            Err(tokio::sync::broadcast::error::TryRecvError::Empty) => break,
                            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {
                                let _ = tx.send(Ok(gone_event(&state2, last_rv))).await;
                                return;
                            }
                            Err(tokio::sync::broadcast::error::TryRecvError::Closed) => return,
                        }
                    }
                    // As the watch cache: only a resourceVersion past the watch's start.
                    if rv > start_rv {
                        let bm = bookmark_object(kind, rv.max(last_rv));
                        if tx.send(Ok(event_line("BOOKMARK", &serde_json::to_vec(&bm).expect("json")))).await.is_err() {
                            return;
                        }
                    }
                    bookmark_at = next_bookmark(tokio::time::Instant::now(), deadline);
                }
                ev = sub.recv() => match ev {
                    Ok(e) => {
                        if !filter.send(&e, &mut last_rv, &tx).await {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        let _ = tx.send(Ok(gone_event(&state2, last_rv))).await;
                        return;
                    }
                    Err(_) => return,
                }
            }
        }
    });
    Ok(Reply::Watch(rx))
}

/// A watch the front forwards is cut when the watches are dropped (`Sim::drop_watches`, the
/// `drop-watches` fault), as the embedded server cuts its own.
fn cut_when_watches_drop(state: &Arc<SimState>, reply: Reply) -> Reply {
    let Reply::Watch(mut upstream) = reply else { return reply };
    let mut epoch = state.watch_epoch.subscribe();
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                item = upstream.recv() => match item {
                    Some(item) => {
                        if tx.send(item).await.is_err() {
                            return;
                        }
                    }
                    None => return,
                },
                _ = epoch.changed() => {
                    let _ = tx.send(Err("watch connection dropped by fault injection".into())).await;
                    return;
                }
            }
        }
    });
    Reply::Watch(rx)
}

/// When the next BOOKMARK is due, as kube-apiserver's watch cache sends them
/// (cacher.go `nextBookmarkTime`): about every minute, and 2 s before the watch's deadline
/// (once that is past: in a minute, i.e. not before the deadline).
fn next_bookmark(now: tokio::time::Instant, deadline: tokio::time::Instant) -> tokio::time::Instant {
    let minute = now + Duration::from_secs(60);
    match deadline.checked_sub(Duration::from_secs(2)) {
        Some(before) if before > now => before.min(minute),
        _ => minute,
    }
}

/// A BOOKMARK's object: an empty object of the kind with only a resourceVersion, as Go
/// encodes an empty one of the built-in types (`"spec":{"containers":null}` for a Pod).
fn bookmark_object(kind: &Kind, rv: u64) -> Value {
    let mut o = serde_json::json!({"kind": kind.kind, "apiVersion": kind.api_version(),
        "metadata": {"resourceVersion": rv.to_string()}});
    if kind == &PODS {
        o["spec"] = serde_json::json!({"containers": null});
        o["status"] = serde_json::json!({});
    } else if kind == &DEPLOYMENTS {
        o["spec"] = serde_json::json!({"replicas": 0, "selector": null,
            "template": {"metadata": {}, "spec": {"containers": null}}, "strategy": {}});
        o["status"] = serde_json::json!({});
    }
    o
}

/// The ERROR event of a watch whose history is gone past `rv`.
fn gone_event(state: &SimState, rv: u64) -> Bytes {
    let err = ApiError::gone_watch(rv, state.store().history_start());
    event_line("ERROR", &serde_json::to_vec(&err.to_json()).expect("json"))
}

/// What one watch passes on.
struct WatchFilter {
    kind: &'static Kind,
    ns: Option<String>,
    sel: Selector,
    fsel: FieldSel,
    start_rv: u64,
}

impl WatchFilter {
    /// Send `e` if the watch wants it; false once the client is gone.
    async fn send(
        &self,
        e: &super::store::WatchEvent,
        last_rv: &mut u64,
        tx: &mpsc::Sender<Result<Bytes, String>>,
    ) -> bool {
        if e.rv <= self.start_rv || e.plural != self.kind.plural || self.ns.as_deref().is_some_and(|n| n != e.namespace)
        {
            return true;
        }
        *last_rv = e.rv;
        if self.sel.matches(&e.labels) && self.fsel.matches(&(e.namespace.clone(), e.name.clone()), e.node.as_ref()) {
            return tx.send(Ok(event_line(e.etype, &e.bytes))).await.is_ok();
        }
        true
    }
}

fn parse_body(req: &ApiRequest) -> Result<Value, ApiError> {
    let ct = req.content_type.split(';').next().unwrap_or("").trim();
    if ct.contains("yaml") {
        serde_saphyr::from_slice(&req.body).map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
    } else {
        serde_json::from_slice(&req.body).map_err(|e| ApiError::bad_request(format!("error decoding JSON: {e}")))
    }
}

/// Pruning, validation and field-validation handling of a custom resource about to be
/// written; returns the warnings to send.
fn admit_custom(
    state: &SimState,
    kind: &'static Kind,
    name: &str,
    obj: &mut Value,
    q: &HashMap<String, String>,
    is_patch: bool,
) -> Result<Vec<String>, ApiError> {
    if kind.builtin {
        return Ok(vec![]);
    }
    let strict = q.get("fieldValidation").is_some_and(|v| v == "Strict");
    let unpruned = (strict && is_patch).then(|| obj.clone());
    let dropped = schema::prune(obj, &state.schema);
    let errs = schema::validate(obj, &state.schema);
    if !errs.is_empty() {
        return Err(ApiError::invalid(kind, name, errs));
    }
    match q.get("fieldValidation").map(String::as_str) {
        Some("Strict") if !dropped.is_empty() => {
            let list: Vec<String> = dropped.iter().map(|d| format!("unknown field \"{d}\"")).collect();
            let decoding = format!("strict decoding error: {}", list.join(", "));
            // As kube-apiserver answers: a create or update fails decoding (400 BadRequest);
            // a patch fails on the patched object, 422 Invalid naming the field `patch` and
            // quoting that whole object (handlers/patch.go).
            Err(match unpruned {
                None => ApiError::bad_request(format!(
                    "{} in version \"{}\" cannot be handled as a {}: {decoding}",
                    kind.kind, kind.version, kind.kind
                )),
                Some(unpruned) => {
                    let quoted = serde_json::to_string(&serde_json::to_string(&unpruned).unwrap_or_default())
                        .unwrap_or_default();
                    let cause = format!("Invalid value: {quoted}: {decoding}");
                    let mut e = ApiError::new(422, "Invalid", format!(" \"\" is invalid: patch: {cause}"));
                    e.details = Some(serde_json::json!({"causes": [{"reason": "FieldValueInvalid",
                        "message": cause, "field": "patch"}]}));
                    e
                }
            })
        }
        Some("Ignore") => Ok(vec![]),
        _ => Ok(dropped.iter().map(|d| format!("unknown field \"{d}\"")).collect()),
    }
}

fn create(
    state: &Arc<SimState>,
    kind: &'static Kind,
    ns: &str,
    req: &ApiRequest,
    q: &HashMap<String, String>,
    dry_run: bool,
) -> Result<Reply, ApiError> {
    let mut obj = parse_body(req)?;
    if kind.namespaced && state.store().get(&NAMESPACES, "", ns).is_none() {
        return Err(ApiError::not_found(&NAMESPACES, ns));
    }
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
    let warnings = admit_custom(state, kind, &name, &mut obj, q, false)?;
    if kind == &PODS {
        admit_pod(&name, &mut obj)?;
    }
    let created = state.store().create(kind, ns, obj, dry_run)?;
    if !dry_run {
        super::client::after_create(state, kind, ns, &created);
    }
    Ok(Reply::Full {
        status: 201,
        content_type: "application/json".into(),
        body: Bytes::from(serde_json::to_vec(&created).expect("json")),
        warnings,
    })
}

/// PUT (`patch` None) or PATCH of an object or its status.
#[allow(clippy::too_many_arguments)]
fn write(
    state: &Arc<SimState>,
    kind: &'static Kind,
    ns: &str,
    name: &str,
    sub: Option<&str>,
    req: &ApiRequest,
    q: &HashMap<String, String>,
    dry_run: bool,
    patch_type: Option<PatchType>,
) -> Result<Reply, ApiError> {
    if sub.is_some_and(|s| s != "status") || (sub.is_some() && !kind.status_subresource) {
        return Err(no_subresource(kind));
    }
    let mut store = state.store();
    let old = store.get_value(kind, ns, name).ok_or_else(|| ApiError::not_found(kind, name))?;
    let mut new = match patch_type {
        Some(pt) => {
            let mut v = old.clone();
            patch::apply(&mut v, pt, &req.body).map_err(ApiError::bad_request)?;
            v
        }
        None => {
            let v = parse_body(req)?;
            if !kind.builtin && v.pointer("/metadata/resourceVersion").and_then(Value::as_str).is_none_or(str::is_empty)
            {
                return Err(ApiError::invalid(
                    kind,
                    name,
                    vec![(
                        "metadata.resourceVersion".into(),
                        "Invalid value: 0x0: must be specified for an update".into(),
                    )],
                ));
            }
            v
        }
    };
    let warnings = admit_custom(state, kind, name, &mut new, q, patch_type.is_some())?;
    if kind.status_subresource {
        match sub {
            // the main resource ignores status; /status writes only status
            None => match old.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            },
            Some(_) => {
                let status = new.get("status").cloned();
                let rv = new.pointer("/metadata/resourceVersion").cloned();
                new = old.clone();
                match status {
                    Some(s) => new["status"] = s,
                    None => {
                        if let Some(m) = new.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
                match rv {
                    Some(rv) => new["metadata"]["resourceVersion"] = rv,
                    None => {
                        if let Some(m) = new["metadata"].as_object_mut() {
                            m.remove("resourceVersion");
                        }
                    }
                }
            }
        }
    }
    let written = store.update(kind, ns, name, new, dry_run)?;
    drop(store);
    if !dry_run {
        super::client::after_update(state, kind, ns, name, &old, &written);
    }
    Ok(Reply::Full {
        status: 200,
        content_type: "application/json".into(),
        body: Bytes::from(serde_json::to_vec(&written).expect("json")),
        warnings,
    })
}

/// What the apiserver checks and defaults on a Pod it is asked to create.
fn admit_pod(name: &str, pod: &mut Value) -> Result<(), ApiError> {
    let containers = pod.pointer("/spec/containers").and_then(Value::as_array);
    let mut causes = Vec::new();
    match containers {
        None => causes.push(("spec.containers".to_string(), "Required value".to_string())),
        Some(cs) if cs.is_empty() => causes.push(("spec.containers".to_string(), "Required value".to_string())),
        Some(cs) => {
            for (i, c) in cs.iter().enumerate() {
                for f in ["name", "image"] {
                    if c.get(f).and_then(Value::as_str).is_none_or(str::is_empty) {
                        causes.push((format!("spec.containers[{i}].{f}"), "Required value".to_string()));
                    }
                }
            }
        }
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(&PODS, name, causes));
    }
    if pod["spec"].get("restartPolicy").is_none_or(Value::is_null) {
        pod["spec"]["restartPolicy"] = "Always".into();
    }
    // a new pod has no status of its own: Pending until a kubelet runs it
    let scheduled = pod.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
    pod["status"] = serde_json::json!({"phase": "Pending", "qosClass": "BestEffort"});
    if scheduled {
        pod["status"]["conditions"] = serde_json::json!([{"type": "PodScheduled", "status": "True",
            "lastTransitionTime": super::store::now_rfc3339(), "lastProbeTime": null}]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query(
            "labelSelector=app%20in%20(rook-ceph-osd%2Crook-ceph-mon),rook_cluster%3Drook-ceph&limit=500&x=a+b&bad=%zz",
        );
        assert_eq!(q["labelSelector"], "app in (rook-ceph-osd,rook-ceph-mon),rook_cluster=rook-ceph");
        assert_eq!(q["limit"], "500");
        assert_eq!(q["x"], "a b");
        assert_eq!(q["bad"], "%zz");
    }

    #[test]
    fn routes() {
        assert!(
            matches!(route("/api/v1/namespaces/rook-ceph/pods", ""), Route::Resource { kind, ns: Some(_), name: None, .. } if kind.plural == "pods")
        );
        assert!(
            matches!(route("/api/v1/namespaces/rook-ceph", ""), Route::Resource { kind, name: Some(_), .. } if kind.plural == "namespaces")
        );
        assert!(matches!(
            route("/apis/ceph.rook.io/v1/namespaces/rook-ceph/cephclusters/rook-ceph/status", ""),
            Route::Resource { sub: Some(_), .. }
        ));
        assert!(matches!(route("/apis/apps/v1/deployments", ""), Route::Resource { ns: None, name: None, .. }));
        assert!(matches!(
            route("/apis", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"),
            Route::Aggregated(false)
        ));
        assert!(matches!(route("/apis", "application/json"), Route::LegacyApis));
        assert!(matches!(route("/apis/apps/v1/namespaces/x/nothings", ""), Route::NotFound));
        assert!(matches!(route("/api/v1/pods/x", ""), Route::NotFound));
    }

    #[test]
    fn continue_tokens_round_trip() {
        let t = encode_continue(42, &("rook-ceph".into(), "rook-ceph-osd-7".into()));
        assert_eq!(decode_continue(&t), Some((42, ("rook-ceph".into(), "rook-ceph-osd-7".into()))));
        assert_eq!(decode_continue("garbage"), None);
    }
}
