//! rook-sim's front on a real server (`SimOptions::on`): every API request a client sends
//! to the simulation's HTTPS port, after its request log and faults, is sent on to the real
//! kube-apiserver as the front's user (`SimOptions::proxy_as`) and its answer sent back; a
//! `pods/exec` WebSocket is tunnelled through.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::json;

use super::{Remote, chain};
use crate::server::request::{ApiRequest, Reply, Tunnel};

impl Remote {
    /// Answer a request of the front (the fault proxy: `Sim` on a real server serves the
    /// same HTTPS API, request log and faults as the embedded one) by sending it on to the
    /// real server as this connection's user, and its answer back: status, content type,
    /// warnings and body; a watch streamed as it comes.
    pub async fn forward(&self, req: &ApiRequest) -> Reply {
        let b = self.forwarded(req);
        let Ok(upstream) = b.body(Full::new(req.body.clone())) else { return Reply::Drop };
        let resp = match self.client.request(upstream).await {
            Ok(r) => r,
            Err(e) => return self.unreachable(&e),
        };
        let status = resp.status().as_u16();
        let content_type =
            resp.headers().get("Content-Type").and_then(|v| v.to_str().ok()).unwrap_or("application/json").to_string();
        let watch = req.query.split('&').any(|kv| kv == "watch=true" || kv == "watch=1");
        if watch && status == 200 {
            let (tx, rx) = tokio::sync::mpsc::channel(64);
            let mut body = resp.into_body();
            tokio::spawn(async move {
                while let Some(frame) = body.frame().await {
                    let item = match frame {
                        Ok(f) => match f.into_data() {
                            Ok(d) => Ok(d),
                            Err(_) => continue,
                        },
                        Err(e) => Err(e.to_string()),
                    };
                    let end = item.is_err();
                    if tx.send(item).await.is_err() || end {
                        break;
                    }
                }
            });
            return Reply::Watch(rx);
        }
        // `299 - "text"`, as the server writes a warning
        let warnings = resp
            .headers()
            .get_all("Warning")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|w| {
                let text = w.splitn(3, ' ').nth(2).unwrap_or(w);
                serde_json::from_str::<String>(text).unwrap_or_else(|_| text.to_string())
            })
            .collect();
        match resp.into_body().collect().await {
            Ok(body) => Reply::Full { status, content_type, body: body.to_bytes(), warnings },
            Err(_) => Reply::Drop,
        }
    }

    /// A `pods/exec` WebSocket handshake sent on to the real server as this connection's
    /// user: the client's key and subprotocols unchanged, so the server's 101 (which carries
    /// `Sec-WebSocket-Accept` for that key and the subprotocol it chose) is the client's
    /// answer, and `Reply::Tunnel` then copies the bytes both ways (the real kube-apiserver
    /// speaks to the pod's kubelet, here kubelet-exec: exec.rs). Any other answer (403, the
    /// kubelet's 404 and 500, 400 `Upgrade request required`) is sent back as it came.
    pub async fn forward_upgrade(&self, req: &ApiRequest) -> Reply {
        use http::header::{CONNECTION, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE};
        let ws = &req.websocket;
        let mut b = self
            .forwarded(req)
            .header(CONNECTION, "Upgrade")
            .header(UPGRADE, ws.upgrade.as_str())
            .header(SEC_WEBSOCKET_KEY, ws.key.as_str())
            // the one version there is (RFC 6455 section 4.1)
            .header(SEC_WEBSOCKET_VERSION, "13");
        if !ws.protocols.is_empty() {
            b = b.header(SEC_WEBSOCKET_PROTOCOL, ws.protocols.join(", "));
        }
        let Ok(upstream) = b.body(Full::new(Bytes::new())) else { return Reply::Drop };
        let mut resp = match self.client.request(upstream).await {
            Ok(r) => r,
            Err(e) => return self.unreachable(&e),
        };
        if resp.status() == http::StatusCode::SWITCHING_PROTOCOLS {
            let header = |h: http::header::HeaderName| {
                resp.headers().get(h).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
            };
            let (accept, protocol) = (header(http::header::SEC_WEBSOCKET_ACCEPT), header(SEC_WEBSOCKET_PROTOCOL));
            return Reply::Tunnel(Box::new(Tunnel { accept, protocol, upstream: hyper::upgrade::on(&mut resp) }));
        }
        let status = resp.status().as_u16();
        let content_type =
            resp.headers().get("Content-Type").and_then(|v| v.to_str().ok()).unwrap_or("application/json").to_string();
        match resp.into_body().collect().await {
            Ok(body) => Reply::Full { status, content_type, body: body.to_bytes(), warnings: vec![] },
            Err(_) => Reply::Drop,
        }
    }

    /// A request to the real server for one of the front's: its method, path and query,
    /// content type, accept and user agent, as this connection's user.
    fn forwarded(&self, req: &ApiRequest) -> http::request::Builder {
        let uri = if req.query.is_empty() {
            format!("{}{}", self.server, req.path)
        } else {
            format!("{}{}?{}", self.server, req.path, req.query)
        };
        let mut b = http::Request::builder().method(req.method.as_str()).uri(uri);
        for (k, v) in [("Content-Type", &req.content_type), ("Accept", &req.accept), ("User-Agent", &req.user_agent)] {
            if !v.is_empty() {
                b = b.header(k, v.as_str());
            }
        }
        if let Some(a) = &self.authorization {
            b = b.header("Authorization", a);
        }
        b
    }

    /// The front's answer when the real server cannot be reached, as an apiserver's own
    /// proxy answers when its backend is gone: 503 ServiceUnavailable.
    fn unreachable(&self, e: &dyn std::error::Error) -> Reply {
        let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("rook-sim's front cannot reach the API server at {}: {}", self.server, chain(e)),
            "reason": "ServiceUnavailable", "code": 503});
        Reply::Full {
            status: 503,
            content_type: "application/json".into(),
            body: Bytes::from(serde_json::to_vec(&status).expect("json")),
            warnings: vec![],
        }
    }
}
