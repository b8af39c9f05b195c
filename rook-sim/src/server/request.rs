//! A request as the simulated API server receives it and the reply it gives, with the
//! query and DeleteOptions parsing that every part of the server (the API, the admin
//! endpoints, the request log) and the front to a real server share.

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::server::status::ApiError;

pub struct ApiRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub accept: String,
    pub authorization: Option<String>,
    pub user_agent: String,
    pub body: Bytes,
    /// The WebSocket handshake's headers, for `pods/exec` (empty when absent).
    pub websocket: WebSocketHeaders,
}

/// What a client sends to open a WebSocket (RFC 6455 section 4.1): `Upgrade: websocket`,
/// its key, and the subprotocols it speaks (`Sec-WebSocket-Protocol`, in its order of
/// preference, comma separated or in several headers).
#[derive(Debug, Clone, Default)]
pub struct WebSocketHeaders {
    pub upgrade: String,
    pub key: String,
    pub protocols: Vec<String>,
}

/// An exec the server accepted: what the 101 answer carries and what runs after it.
#[derive(Debug, Clone)]
pub struct ExecStart {
    /// The subprotocol chosen (one of `server::exec::PROTOCOLS`).
    pub protocol: &'static str,
    /// `Sec-WebSocket-Accept` for the client's key.
    pub accept: String,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub command: Vec<String>,
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
    /// `101 Switching Protocols`, then the exec runs on the WebSocket (server/exec.rs).
    Exec(Box<ExecStart>),
    /// On a real server: its `101 Switching Protocols` to a `pods/exec` sent on by the front,
    /// then the bytes of both connections copied across (`remote::Remote::forward_upgrade`).
    Tunnel(Box<Tunnel>),
}

/// A WebSocket the real server accepted for a client of the front: the headers its 101
/// carried (`Sec-WebSocket-Accept` is for the client's own key, sent on unchanged) and its
/// side of the connection once upgraded.
pub struct Tunnel {
    pub accept: String,
    pub protocol: String,
    pub upstream: hyper::upgrade::OnUpgrade,
}

impl Reply {
    pub fn json(status: u16, v: &Value) -> Reply {
        Reply::Full {
            status,
            content_type: "application/json".into(),
            body: Bytes::from(serde_json::to_vec(v).expect("json")),
            warnings: vec![],
        }
    }
    pub fn error(e: &ApiError) -> Reply {
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
            Reply::Exec(_) => 101,
            Reply::Tunnel(_) => 101,
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

pub fn percent_decode(s: &str) -> String {
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

/// `dryRun` of a write's options from the query: absent, or `All`; anything else is 422
/// Invalid naming the options (`CreateOptions`, `UpdateOptions`, `PatchOptions`).
pub fn query_dry_run(q: &HashMap<String, String>, options: &str) -> Result<bool, ApiError> {
    let values: Vec<String> = q.get("dryRun").filter(|v| !v.is_empty()).cloned().into_iter().collect();
    dry_run_of(&values, options)
}

pub fn dry_run_of(values: &[String], options: &str) -> Result<bool, ApiError> {
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
