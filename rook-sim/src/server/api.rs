//! The Kubernetes HTTP API of the simulation: routing, authentication, faults, the verbs
//! (get, list, watch, create, update, patch, delete) and the apiserver's write rules for
//! custom resources (pruning, validation, status subresource, dry run).

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use serde_json::Value;

use crate::SimState;
use crate::resources::{self, CRDS, Kind, NAMESPACES, PODS};
use crate::server::discovery;
use crate::server::faults::FaultKind;
use crate::server::log::LoggedRequest;
use crate::server::patch::{self, PatchType};
use crate::server::request::{ApiRequest, Reply, delete_options, dry_run_of, parse_query, query_dry_run};
use crate::server::schema;
use crate::server::selector::selectors;
use crate::server::status::ApiError;
use crate::server::store::Key;
use crate::server::watch::{cut_when_watches_drop, watch_stream};

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
    if let Some(reply) = crate::server::admin::handle(state, &req) {
        return reply;
    }
    if req.path == LOG_PATH {
        if !crate::server::rbac::authenticated(&state.token, req.authorization.as_deref()) {
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
    let write = crate::server::faults::WRITE_VERBS.contains(&verb);
    let command = (resource == "pods/exec").then(|| crate::server::exec::query_all(&req.query, "command"));
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
        command,
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
    if !crate::server::rbac::authenticated(&state.token, req.authorization.as_deref()) {
        Reply::error(&ApiError::unauthorized())
    } else if let Some(denied) = forbidden(state, &r, verb) {
        Reply::error(&denied)
    } else {
        if crate::server::faults::WRITE_VERBS.contains(&verb) {
            // Another client's whole run at one object's write: nothing locked meanwhile
            // (the runtime's other worker answers its requests).
            if let Some(f) = state.faults.take_hook_for(name, &req.body) {
                tokio::task::block_in_place(f);
            }
            // A hook at one object's write (a test's signal to its client): no reconcile.
            if let Some(f) = state.faults.take_interloper_for(name) {
                f(&mut state.store());
            }
            if let Some(f) = state.faults.take_interloper() {
                f(&mut state.store());
                state.operator.trigger();
            }
        }
        let fault = state.faults.take(verb, resource, name);
        if fault == Some(FaultKind::Hang) {
            return futures::future::pending().await;
        }
        // on a real server (`SimOptions::on`) this is the fault proxy in front of it
        if let Some(remote) = &state.front {
            return match fault {
                Some(FaultKind::DropAfterApply) => {
                    let _ = remote.forward(req).await;
                    Reply::Drop
                }
                Some(f) => fault_reply(&f, &r, verb),
                // an exec's WebSocket: the real server's, tunnelled through
                None if resource == "pods/exec" && req.websocket.upgrade.eq_ignore_ascii_case("websocket") => {
                    remote.forward_upgrade(req).await
                }
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
    let a = crate::server::rbac::Attributes {
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
    let (kind, ns, name, sub) = match r {
        Route::Resource { kind, ns, name, sub } => (*kind, ns.as_deref(), name.as_deref(), sub.as_deref()),
        _ => (&NAMESPACES as &Kind, None, None, None),
    };
    match f {
        FaultKind::Drop | FaultKind::DropAfterApply | FaultKind::Hang => Reply::Drop,
        FaultKind::Conflict => Reply::error(&ApiError::conflict(kind, name.unwrap_or(""))),
        FaultKind::Forbidden => Reply::error(&ApiError::forbidden_sub(kind, sub, name, verb, ns)),
        FaultKind::Throttled { retry_after } => Reply::error(&ApiError {
            details: Some(serde_json::json!({"retryAfterSeconds": retry_after})),
            ..ApiError::new(429, "TooManyRequests", "Too many requests, please try again later.")
        }),
        FaultKind::Status(503) => Reply::error(&ApiError::service_unavailable()),
        FaultKind::Message { code, message } => Reply::error(&ApiError::new(*code, "InternalError", message.clone())),
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
                ("GET" | "POST", Some(n)) if kind == &PODS && sub.as_deref() == Some("exec") => {
                    crate::server::exec::prepare(state, &ns_str, &n, req).map(|s| Reply::Exec(Box::new(s)))
                }
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
    if !dry {
        // a restarted daemon pod deleted before it turned Ready no longer counts
        state.after_delete(kind, ns, name);
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
        state.after_create(kind, ns, &created);
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
        state.after_update(kind, ns, name, &old, &written);
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
            "lastTransitionTime": crate::server::store::now_rfc3339(), "lastProbeTime": null}]);
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
