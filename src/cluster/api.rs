//! Every API request goes through here: timeouts, retries of reads, the `-v` request log
//! (method, path, status, ms; never a header, so never a credential) and kubectl-style
//! errors that name the verb and resource.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use crate::error::{ApiFailure, Error, Result};

#[derive(Clone)]
pub struct Kube {
    client: kube::Client,
    verbose: bool,
    timeout: Option<Duration>,
    server: String,
}

/// What a request is about, for messages.
#[derive(Debug, Clone)]
pub struct What {
    pub verb: &'static str,
    pub resource: String,
    pub namespace: Option<String>,
}

impl What {
    pub fn new(verb: &'static str, resource: impl Into<String>, namespace: Option<&str>) -> What {
        What { verb, resource: resource.into(), namespace: namespace.map(str::to_string) }
    }
}

#[derive(serde::Deserialize, Default)]
struct StatusBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    reason: String,
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}

const ATTEMPTS: u32 = 4;

impl Kube {
    pub fn new(client: kube::Client, verbose: bool, timeout: Option<Duration>, server: String) -> Kube {
        Kube { client, verbose, timeout, server }
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// Send one request, retried with backoff on 429, 5xx and connection failures. Reads
    /// change nothing; every write this plugin sends is safe to repeat too: a merge patch of
    /// one label is idempotent, and every other write carries a resourceVersion
    /// precondition, so a repeat of one that did apply answers 409 and the caller re-reads
    /// (it is never applied twice). 409 itself is the caller's to handle.
    pub async fn send(&self, req: http::Request<Vec<u8>>, what: &What) -> Result<Bytes> {
        let mut delay = Duration::from_millis(100);
        let mut attempt = 1;
        loop {
            match self.send_once(clone_request(&req), what).await {
                Err(e) if attempt < ATTEMPTS && retryable(&e) => {
                    if self.verbose {
                        eprintln!("  retrying in {} ms ({e})", delay.as_millis());
                    }
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                r => return r,
            }
        }
    }

    async fn send_once(&self, req: http::Request<Vec<u8>>, what: &What) -> Result<Bytes> {
        let method = req.method().clone();
        let path = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
        let start = Instant::now();
        let fut = async {
            let res = self.client.send(req.map(kube::client::Body::from)).await?;
            let status = res.status();
            let body = res.into_body().collect().await.map_err(|e| kube::Error::Service(e.into()))?.to_bytes();
            Ok::<_, kube::Error>((status, body))
        };
        let out = match self.timeout {
            Some(t) => match tokio::time::timeout(t, fut).await {
                Ok(r) => r,
                Err(_) => {
                    self.log(&method, &path, "timeout", start);
                    return Err(Error::Connection(format!(
                        "{} {}: no answer from {} within the request timeout of {:?} (--request-timeout)",
                        what.verb, what.resource, self.server, t
                    )));
                }
            },
            None => fut.await,
        };
        match out {
            Ok((status, body)) => {
                self.log(&method, &path, status.as_str(), start);
                if status.is_success() { Ok(body) } else { Err(api_failure(what, status.as_u16(), &body)) }
            }
            Err(e) => {
                self.log(&method, &path, "error", start);
                Err(Error::Connection(format!(
                    "cannot {} {} at {}: {}\n  hint: is the cluster reachable? check --context and --kubeconfig \
                     (kubectl config current-context)",
                    what.verb,
                    what.resource,
                    self.server,
                    error_chain(&e)
                )))
            }
        }
    }

    fn log(&self, method: &http::Method, path: &str, status: &str, start: Instant) {
        if self.verbose {
            eprintln!("{method} {path} {status} {}ms", start.elapsed().as_millis());
        }
    }

    /// A streaming request (a watch): the answer's body is read by the caller; no overall
    /// timeout (the watch's own timeoutSeconds ends it), non-2xx answers are errors.
    pub async fn stream(&self, req: http::Request<Vec<u8>>, what: &What) -> Result<http::Response<kube::client::Body>> {
        let method = req.method().clone();
        let path = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
        let start = Instant::now();
        match self.client.send(req.map(kube::client::Body::from)).await {
            Ok(res) if res.status().is_success() => {
                self.log(&method, &path, res.status().as_str(), start);
                Ok(res)
            }
            Ok(res) => {
                let code = res.status().as_u16();
                self.log(&method, &path, res.status().as_str(), start);
                let body = res.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                Err(api_failure(what, code, &body))
            }
            Err(e) => {
                self.log(&method, &path, "error", start);
                Err(Error::Connection(format!(
                    "cannot {} {} at {}: {}",
                    what.verb,
                    what.resource,
                    self.server,
                    error_chain(&e)
                )))
            }
        }
    }

    pub async fn json<T: DeserializeOwned>(&self, req: http::Request<Vec<u8>>, what: &What) -> Result<T> {
        let body = self.send(req, what).await?;
        serde_json::from_slice(&body)
            .map_err(|e| Error::Failed(format!("cannot decode the answer to {} {}: {e}", what.verb, what.resource)))
    }
}

/// Worth another try: throttled (429), a server error, or no answer at all.
fn retryable(e: &Error) -> bool {
    match e {
        Error::Api(a) => a.code == 429 || (500..600).contains(&a.code),
        Error::Connection(_) => true,
        _ => false,
    }
}

/// A non-2xx answer as an error naming what was being done; the `Status` body's reason
/// and message, else the first 300 characters of whatever came back.
fn api_failure(what: &What, code: u16, body: &[u8]) -> Error {
    let s: StatusBody = serde_json::from_slice(body).unwrap_or_default();
    let message =
        if s.message.is_empty() { String::from_utf8_lossy(body).chars().take(300).collect() } else { s.message };
    Error::Api(Box::new(ApiFailure {
        verb: what.verb.to_string(),
        resource: what.resource.clone(),
        namespace: what.namespace.clone(),
        code,
        reason: s.reason,
        message,
    }))
}

fn clone_request(r: &http::Request<Vec<u8>>) -> http::Request<Vec<u8>> {
    let mut b = http::Request::builder().method(r.method().clone()).uri(r.uri().clone());
    for (k, v) in r.headers() {
        b = b.header(k, v);
    }
    b.body(r.body().clone()).expect("a copy of a valid request")
}

pub fn request_error(e: kube::core::request::Error) -> Error {
    Error::Failed(format!("cannot build the request: {e}"))
}
