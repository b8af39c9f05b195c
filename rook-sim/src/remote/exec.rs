//! `pods/exec` on a real control plane (issue 23 item 7): the simulated kubelets' container
//! runtime. The kube-apiserver sends a client's exec to the pod's node's kubelet; for
//! rook-sim's nodes that is `kubelet-exec` (testbed/cmd/kubelet-exec, Kubernetes' own
//! remotecommand server, started by the control plane), which asks the rook-sim running the
//! pod's namespace, here, over HTTP on 127.0.0.1:
//!
//! `POST /exec`, `Authorization: Bearer <token>`, body
//! `{"namespace", "pod", "container", "command": [argv], "run": bool}`; the answer
//! `{"stdout", "stderr" (base64, as Go encodes bytes), "exitCode", "message"}` with status
//! 200 (run, or `run: false`: the container is there to run it), 404 (`pod does not
//! exist`), 500 (`container not found ("c")`: the kubelet's two refusals, pkg/kubelet/server
//! and kubelet_pods.go `GetExec`) or 503 (the pod's node is down: kubelet-exec then hangs up,
//! as a kubelet that is gone answers nothing).
//!
//! Where it is: each rook-sim writes its URL on its namespaces (annotation [`ANNOTATION`]),
//! so an exec reaches the rook-sim that runs that pod while several share a control plane
//! and its nodes. The token and the port the Nodes report come from the control plane's
//! Secret [`SECRET`]; without it (a control plane not started by scripts/control-plane)
//! there is no exec endpoint and the Nodes report no kubelet port.
//!
//! This module knows nothing of the simulation: the caller hands it what answers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The namespace annotation naming the exec endpoint of the rook-sim running its pods.
pub const ANNOTATION: &str = "rook-sim.io/kubelet-exec";

/// (namespace, name) of the Secret control-plane `up` writes: `port` (kubelet-exec's, the
/// Nodes' `status.daemonEndpoints.kubeletEndpoint.Port`) and `token` (what kubelet-exec
/// sends here).
pub const SECRET: (&str, &str) = ("kube-system", "rook-sim-kubelet");

/// One exec, as kubelet-exec asks it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Target {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    #[serde(default)]
    pub command: Vec<String>,
    /// false: only whether the container is there to run it (asked before the streams).
    #[serde(default)]
    pub run: bool,
}

/// What the simulated runtime answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Ran (or, `run: false`, would run): stdout, stderr, exit code.
    Ran { stdout: Vec<u8>, stderr: Vec<u8>, exit_code: i32 },
    /// No such pod on the simulated nodes (the kubelet's 404 `pod does not exist`).
    NoPod,
    /// The pod has no running container of that name (the kubelet's 500).
    NoContainer(String),
    /// The pod's node is down: its kubelet does not answer.
    NodeDown,
}

/// What answers an exec: the simulation, handed in by the caller.
pub type Handler = Arc<dyn Fn(Target) -> Pin<Box<dyn Future<Output = Answer> + Send>> + Send + Sync>;

fn reply(status: u16, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(&body).expect("json"))))
        .expect("response")
}

/// The answer on the wire (see the module).
pub fn encode(answer: &Answer) -> (u16, Value) {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    match answer {
        Answer::Ran { stdout, stderr, exit_code } => {
            (200, json!({"stdout": b64(stdout), "stderr": b64(stderr), "exitCode": exit_code}))
        }
        Answer::NoPod => (404, json!({"message": "pod does not exist"})),
        Answer::NoContainer(c) => (500, json!({"message": format!("container not found ({c:?})")})),
        Answer::NodeDown => (503, json!({"message": "the node is down"})),
    }
}

async fn one(token: &str, handler: &Handler, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let authorized = req
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| constant_time_eq(t.as_bytes(), token.as_bytes()));
    if !authorized {
        return reply(401, json!({"message": "Unauthorized"}));
    }
    if req.method() != http::Method::POST || req.uri().path() != "/exec" {
        return reply(404, json!({"message": "not found"}));
    }
    let Ok(body) = req.into_body().collect().await else { return reply(400, json!({"message": "no body"})) };
    let target: Target = match serde_json::from_slice(&body.to_bytes()) {
        Ok(t) => t,
        Err(e) => return reply(400, json!({"message": format!("not an exec request: {e}")})),
    };
    let (status, body) = encode(&handler(target).await);
    reply(status, body)
}

/// The same length and bytes, in a time that does not tell how many bytes matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serve the exec endpoint on `listener` until the runtime stops: only requests bearing
/// `token` are answered (401 otherwise).
pub async fn serve(listener: TcpListener, token: String, handler: Handler) {
    let token = Arc::new(token);
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let (token, handler) = (token.clone(), handler.clone());
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let (token, handler) = (token.clone(), handler.clone());
                async move { Ok::<_, std::convert::Infallible>(one(&token, &handler, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), svc).await;
        });
    }
}

/// The control plane's kubelet port and exec token from [`SECRET`]'s data (base64 values).
pub fn from_secret(secret: &Value) -> Option<(u16, String)> {
    let field = |k: &str| {
        let v = secret["data"][k].as_str()?;
        let b = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
        String::from_utf8(b).ok()
    };
    let port = field("port")?.trim().parse().ok().filter(|p| *p > 0)?;
    let token = field("token")?.trim().to_string();
    (!token.is_empty()).then_some((port, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_as_kubelet_exec_reads_them() {
        let (s, v) = encode(&Answer::Ran { stdout: b"{}".to_vec(), stderr: b"x\n".to_vec(), exit_code: 127 });
        assert_eq!((s, v), (200, json!({"stdout": "e30=", "stderr": "eAo=", "exitCode": 127})));
        assert_eq!(encode(&Answer::NoPod), (404, json!({"message": "pod does not exist"})));
        assert_eq!(encode(&Answer::NoContainer("osd".into())).1["message"], "container not found (\"osd\")");
        assert_eq!(encode(&Answer::NodeDown).0, 503);
    }

    #[test]
    fn the_secret_gives_port_and_token() {
        let s = json!({"data": {"port": "MTIzNDU=", "token": "YWJj"}});
        assert_eq!(from_secret(&s), Some((12345, "abc".to_string())));
        assert_eq!(from_secret(&json!({"data": {"port": "MA==", "token": "YWJj"}})), None);
        assert_eq!(from_secret(&json!({})), None);
        assert!(
            constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"a", b"ab")
        );
    }
}
