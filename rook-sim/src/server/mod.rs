//! The embedded Kubernetes API server (`demo`, quick tests): the API (`api`: routing,
//! RBAC, admission, list and watch), its object store (`store`), the admin and fault
//! endpoints (`admin`, `faults`), the request log, and what it answers with (`request`,
//! `status`), with `watch`, `exec` (pods/exec), `rbac`, `schema` (pruning and strict field
//! validation), `selector`, `patch`, `discovery` and `tls` beside them. The listener is
//! here: HTTPS on loopback (TLS with the generated certificate, HTTP/1.1 by hyper), each
//! request handed to the API layer; watch replies stream as chunked bodies.

pub mod admin;
pub mod api;
pub mod discovery;
pub mod exec;
pub mod faults;
pub mod log;
pub mod patch;
pub mod rbac;
pub mod request;
pub mod schema;
pub mod selector;
pub mod status;
pub mod store;
pub mod tls;
pub mod watch;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::SimState;
use crate::server::request::{ApiRequest, Reply};

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

pub async fn serve(state: Arc<SimState>, listener: TcpListener, tls: Arc<rustls::ServerConfig>) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let _ = tcp.set_nodelay(true);
        let (acceptor, state) = (acceptor.clone(), state.clone());
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else { return };
            let svc = service_fn(move |req| serve_one(state.clone(), req));
            // with upgrades: `pods/exec` turns its connection into a WebSocket
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades()
                .await;
        });
    }
}

fn header(req: &Request<Incoming>, name: http::header::HeaderName) -> String {
    req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

async fn serve_one(state: Arc<SimState>, mut req: Request<Incoming>) -> Result<Response<Body>, std::io::Error> {
    let on_upgrade = hyper::upgrade::on(&mut req);
    let websocket = request::WebSocketHeaders {
        upgrade: header(&req, http::header::UPGRADE),
        key: header(&req, http::header::SEC_WEBSOCKET_KEY),
        protocols: req
            .headers()
            .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
    };
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let content_type = header(&req, CONTENT_TYPE);
    let accept = header(&req, ACCEPT);
    let user_agent = header(&req, USER_AGENT);
    let authorization = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = req.into_body().collect().await.map_err(std::io::Error::other)?.to_bytes();
    let reply = api::handle(
        &state,
        ApiRequest { method, path, query, content_type, accept, authorization, user_agent, body, websocket },
    )
    .await;
    match reply {
        Reply::Full { status, content_type, body, warnings } => {
            let mut b =
                Response::builder().status(status).header(CONTENT_TYPE, content_type).header("Audit-Id", "rook-sim");
            // as the apiserver does, a Status that says when to come back says it in a header too
            if matches!(status, 429 | 503)
                && let Some(s) = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.pointer("/details/retryAfterSeconds").and_then(serde_json::Value::as_u64))
            {
                b = b.header("Retry-After", s.to_string());
            }
            for w in warnings {
                b = b.header("Warning", format!("299 - {}", serde_json::Value::String(w)));
            }
            Ok(b.body(Full::new(body).map_err(|e: Infallible| match e {}).boxed_unsync()).expect("response"))
        }
        Reply::Watch(rx) => {
            let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
                .map(|item| item.map(Frame::data).map_err(std::io::Error::other));
            Ok(Response::builder()
                .status(200)
                .header(CONTENT_TYPE, "application/json")
                .header("Cache-Control", "no-cache, private")
                .body(BodyExt::boxed_unsync(StreamBody::new(stream)))
                .expect("response"))
        }
        Reply::Drop => Err(std::io::Error::other("connection dropped by fault injection")),
        Reply::Exec(start) => {
            let response = Response::builder()
                .status(101)
                .header(http::header::CONNECTION, "Upgrade")
                .header(http::header::UPGRADE, "websocket")
                .header(http::header::SEC_WEBSOCKET_ACCEPT, start.accept.clone())
                .header(http::header::SEC_WEBSOCKET_PROTOCOL, start.protocol)
                .body(Full::new(Bytes::new()).map_err(|e: Infallible| match e {}).boxed_unsync())
                .expect("response");
            tokio::spawn(async move {
                if let Ok(upgraded) = on_upgrade.await {
                    exec::run(state, TokioIo::new(upgraded), *start).await;
                }
            });
            Ok(response)
        }
        Reply::Tunnel(t) => {
            let request::Tunnel { accept, protocol, upstream } = *t;
            let response = Response::builder()
                .status(101)
                .header(http::header::CONNECTION, "Upgrade")
                .header(http::header::UPGRADE, "websocket")
                .header(http::header::SEC_WEBSOCKET_ACCEPT, accept)
                .header(http::header::SEC_WEBSOCKET_PROTOCOL, protocol)
                .body(Full::new(Bytes::new()).map_err(|e: Infallible| match e {}).boxed_unsync())
                .expect("response");
            tokio::spawn(async move {
                if let (Ok(client), Ok(upstream)) = (on_upgrade.await, upstream.await) {
                    // until either side closes: the exec's frames and its end, as they come
                    let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(client), &mut TokioIo::new(upstream)).await;
                }
            });
            Ok(response)
        }
    }
}
