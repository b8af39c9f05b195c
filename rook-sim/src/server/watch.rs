//! Watches (`?watch=1`): the events after a resourceVersion as a chunked stream of JSON
//! lines, filtered by the list's selectors, with BOOKMARKs and a 410 Gone (`ERROR` event)
//! for a resourceVersion older than the store keeps, as kube-apiserver sends them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::SimState;
use crate::resources::{DEPLOYMENTS, Kind, PODS};
use crate::server::request::Reply;
use crate::server::selector::LabelSelector as Selector;
use crate::server::selector::{FieldSel, selectors};
use crate::server::status::ApiError;

pub(super) fn event_line(etype: &str, obj: &[u8]) -> Bytes {
    let mut b = Vec::with_capacity(obj.len() + 32);
    b.extend_from_slice(format!("{{\"type\":\"{etype}\",\"object\":").as_bytes());
    b.extend_from_slice(obj);
    b.extend_from_slice(b"}\n");
    Bytes::from(b)
}

pub(super) fn watch_stream(
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

/// When the next BOOKMARK is due, as kube-apiserver's watch cache sends them
/// (cacher.go `nextBookmarkTime`): about every minute, and 2 s before the watch's deadline
/// (once that is past: in a minute, i.e. not before the deadline).
pub(super) fn next_bookmark(now: tokio::time::Instant, deadline: tokio::time::Instant) -> tokio::time::Instant {
    let minute = now + Duration::from_secs(60);
    match deadline.checked_sub(Duration::from_secs(2)) {
        Some(before) if before > now => before.min(minute),
        _ => minute,
    }
}

/// A BOOKMARK's object: an empty object of the kind with only a resourceVersion, as Go
/// encodes an empty one of the built-in types (`"spec":{"containers":null}` for a Pod).
pub(super) fn bookmark_object(kind: &Kind, rv: u64) -> Value {
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
pub(super) fn gone_event(state: &SimState, rv: u64) -> Bytes {
    let err = ApiError::gone_watch(rv, state.store().history_start());
    event_line("ERROR", &serde_json::to_vec(&err.to_json()).expect("json"))
}

/// What one watch passes on.
pub(super) struct WatchFilter {
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
        e: &crate::server::store::WatchEvent,
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

/// A watch the front forwards is cut when the watches are dropped (`Sim::drop_watches`, the
/// `drop-watches` fault), as the embedded server cuts its own.
pub(super) fn cut_when_watches_drop(state: &Arc<SimState>, reply: Reply) -> Reply {
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
