//! `pods/exec` of the embedded server (issue 23 item 7), as kube-apiserver 1.37 answers it
//! to kube-rs and kubectl over a WebSocket:
//!
//! - GET or POST `/api/v1/namespaces/NS/pods/POD/exec?command=..&command=..&container=..
//!   &stdout=true&stderr=true` (`ConnectMethods`: GET and POST, pkg/registry/core/pod/rest/
//!   subresources.go).
//! - RBAC: the request's own verb first (GET is `get`, POST `create`, as every request,
//!   api.rs), then for a GET a second check of `create` (`ensureAuthorizedForVerb`, the
//!   `AuthorizePodWebsocketUpgradeCreatePermission` gate, beta and on since 1.35). That
//!   second denial carries no reason, as the real server's: `pods "x" is forbidden: `
//!   (seen on `scripts/control-plane`'s 1.37.2).
//! - Then the pod (404 NotFound), the container (`validateContainer` in pkg/registry/core/
//!   pod/strategy.go: 400 `container X is not valid for pod Y`, or `a container name must
//!   be specified for pod Y, choose one of: [a b]` without one), a node (400 `pod Y does not
//!   have a host assigned`). A pod not Running: the kubelet's `container not found ("C")`,
//!   500 here (the kubelet's code passed on; not compared with a real kubelet).
//! - A request that is not a WebSocket upgrade: 400 `Upgrade request required`; one whose
//!   subprotocols are none of ours: 400 naming them (SPDY and the v1-v3 and base64
//!   subprotocols are not served).
//! - The stream (cri-streaming's remotecommand, k8s.io/streaming's wsstream): the server
//!   picks the first of the client's subprotocols it speaks (`v5.channel.k8s.io`,
//!   `v4.channel.k8s.io`); binary messages whose first byte is the channel: an empty
//!   message on stdout (1) first ("the connection is established"), then stdout, stderr
//!   (2), and the final `Status` on channel 3: `Success`, or `Failure` with reason
//!   `NonZeroExitCode` and a cause `{"reason": "ExitCode", "message": "127"}`. What the
//!   client sends (v5's close signal `[255, channel]` for stdin) is read and ignored: the
//!   command takes no stdin.
//!
//! The command runs in `crate::ceph::exec`, the one entry point every exec path calls.

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

use crate::SimState;
use crate::resources::PODS;
use crate::server::request::{ApiRequest, ExecStart};
use crate::server::status::ApiError;

/// The subprotocols served, in the server's order (the client's order decides).
pub const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// Every value of `key` in a raw query, in order (`command` repeats, one per argv item).
pub fn query_all(query: &str, key: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .filter(|(k, _)| crate::server::request::percent_decode(k) == key)
        .map(|(_, v)| crate::server::request::percent_decode(v))
        .collect()
}

/// Everything the apiserver checks after the request's own RBAC check, in its order; the
/// session to run once the connection is upgraded.
pub fn prepare(state: &SimState, ns: &str, name: &str, req: &ApiRequest) -> Result<ExecStart, ApiError> {
    if req.method == "GET" {
        let create = crate::server::rbac::Attributes {
            verb: "create",
            group: "",
            resource: "pods",
            subresource: Some("exec"),
            namespace: Some(ns),
            name: Some(name),
        };
        if !state.authorize(&create) {
            return Err(ApiError {
                details: Some(json!({"name": name, "kind": "pods"})),
                ..ApiError::new(403, "Forbidden", format!("pods \"{name}\" is forbidden: "))
            });
        }
    }
    let pod = state.store().get_value(&PODS, ns, name).ok_or_else(|| ApiError::not_found(&PODS, name))?;
    let names = |key: &str| -> Vec<String> {
        pod.pointer(&format!("/spec/{key}"))
            .and_then(Value::as_array)
            .map(|cs| cs.iter().filter_map(|c| c["name"].as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let containers = names("containers");
    let wanted = query_all(&req.query, "container").pop().filter(|c| !c.is_empty());
    let container = match wanted {
        Some(c) if containers.contains(&c) || names("initContainers").contains(&c) => c,
        Some(c) => return Err(ApiError::bad_request(format!("container {c} is not valid for pod {name}"))),
        None if containers.len() == 1 => containers[0].clone(),
        None if containers.is_empty() => {
            return Err(ApiError::bad_request(format!("a container name must be specified for pod {name}")));
        }
        None => {
            let all = [names("initContainers"), containers].concat();
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                all.join(" ")
            )));
        }
    };
    if pod.pointer("/spec/nodeName").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(format!("pod {name} does not have a host assigned")));
    }
    if pod.pointer("/status/phase").and_then(Value::as_str) != Some("Running") {
        return Err(ApiError::new(500, "InternalError", format!("container not found (\"{container}\")")));
    }
    if !req.websocket.upgrade.eq_ignore_ascii_case("websocket") || req.websocket.key.is_empty() {
        return Err(ApiError::bad_request("Upgrade request required"));
    }
    let protocol =
        req.websocket.protocols.iter().find_map(|p| PROTOCOLS.iter().find(|s| *s == p)).ok_or_else(|| {
            ApiError::bad_request(format!(
                "requested protocol(s) are not supported: {:?}; supports {:?}",
                req.websocket.protocols, PROTOCOLS
            ))
        })?;
    Ok(ExecStart {
        protocol,
        accept: tokio_tungstenite::tungstenite::handshake::derive_accept_key(req.websocket.key.as_bytes()),
        namespace: ns.to_string(),
        pod: name.to_string(),
        container,
        command: query_all(&req.query, "command"),
    })
}

const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
/// The largest message sent: the output goes in pieces, as a process writes it.
const CHUNK: usize = 32 * 1024;

/// The final `Status` of channel 3, as cri-streaming's `ServeExec` writes it.
pub fn final_status(command: &[String], exit_code: i32) -> Value {
    if exit_code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: command '{}' exited with {exit_code}",
            command.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": exit_code.to_string()}]},
    })
}

/// Run the exec on the upgraded connection: the command through `ceph::exec`, its output
/// on the channels, the final status, then a close.
pub async fn run<S>(state: Arc<SimState>, io: S, start: ExecStart)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
    let (mut tx, mut rx) = ws.split();
    // the client's messages (v5's stdin close) are read, so its close is answered
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = rx.next().await {} });
    let frame = |channel: u8, data: &[u8]| Message::binary([&[channel][..], data].concat());
    if tx.send(frame(STDOUT, &[])).await.is_err() {
        return;
    }
    let out = crate::ceph::exec(&state, &start.namespace, &start.pod, &start.container, &start.command).await;
    for (channel, data) in [(STDOUT, &out.stdout), (STDERR, &out.stderr)] {
        for piece in data.chunks(CHUNK) {
            if tx.send(frame(channel, piece)).await.is_err() {
                return;
            }
        }
    }
    let status = serde_json::to_vec(&final_status(&start.command, out.exit_code)).expect("json");
    let _ = tx.send(frame(STATUS, &status)).await;
    // a normal close (1000): client-go's reader takes only that one as the streams' end
    let normal = CloseFrame { code: CloseCode::Normal, reason: "".into() };
    let _ = tx.send(Message::Close(Some(normal))).await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), reader).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_come_in_order_and_decoded() {
        let q = "command=ceph&command=health&command=detail&container=rook-ceph-operator&command=-f&command=json%20x";
        assert_eq!(query_all(q, "command"), ["ceph", "health", "detail", "-f", "json x"]);
        assert_eq!(query_all(q, "container"), ["rook-ceph-operator"]);
        assert!(query_all("", "command").is_empty());
    }

    #[test]
    fn the_final_status_carries_the_exit_code_as_a_cause() {
        assert_eq!(final_status(&[], 0)["status"], "Success");
        let f = final_status(&["ceph".into(), "status".into()], 127);
        assert_eq!(f["reason"], "NonZeroExitCode");
        assert_eq!(f["details"]["causes"][0], json!({"reason": "ExitCode", "message": "127"}));
    }
}
