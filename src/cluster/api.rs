//! Every API request goes through here: timeouts, the one retry policy, the `-v` request log
//! (method, path, status, ms; never a header, so never a credential) and kubectl-style
//! errors that name the verb and resource.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use super::credential::Session;
use crate::error::{ApiFailure, Error, Result};

#[derive(Clone)]
pub struct Kube {
    /// The client of the moment: made anew when an exec plugin's credential is renewed.
    session: Session,
    verbose: bool,
    timeout: Option<Duration>,
    server: String,
    /// Someone watches stderr on a terminal: a request that takes longer than
    /// `NOTICE_AFTER` says what it waits for and which attempt it is.
    notice: bool,
    /// `-v=N`: from `DETAIL_LEVEL` on, the request log also gives each answer's size.
    level: u8,
    /// How many times `send` may send one request: `ATTEMPTS`, or what is left of them
    /// when a caller repeats the request itself (`with_attempts`).
    attempts: u32,
    /// The resourceVersion of this process's latest write to each collection (shared by
    /// every clone): a watch-fed view is caught up with the process's own writes once it
    /// has seen that resourceVersion (`cluster::view`).
    written: Arc<Mutex<HashMap<String, String>>>,
}

/// From this `-v` level on (kubectl's -v=8 logs bodies) the request log adds the size of
/// each answer; never a header or a body, so never a credential.
pub const DETAIL_LEVEL: u8 = 8;

/// How long a request may take before a terminal is told what it waits for.
pub const NOTICE_AFTER: Duration = Duration::from_secs(2);

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

/// An error and its sources, each said once: `a: b: c`.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
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

/// The retry policy, the only one (kube's own retry layer is off: connect.rs). A request
/// is sent at most `ATTEMPTS` times. Before each repeat it waits the server's `Retry-After`
/// (seconds, on a 429 or 5xx that carries one) capped at `RETRY_AFTER_MAX`, else an
/// exponential backoff from `BACKOFF_FIRST` doubling up to `BACKOFF_MAX`; it gives up
/// early rather than wait more than `WAIT_BUDGET` in all. The final answer is the error.
pub const ATTEMPTS: u32 = 5;
pub const BACKOFF_FIRST: Duration = Duration::from_millis(200);
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(10);
pub const WAIT_BUDGET: Duration = Duration::from_secs(30);

/// How long to wait before sending again after `e`, the `n`th failure in a row (from 1);
/// None: not worth another try. Not counting attempts: the caller bounds those.
pub fn retry_delay(e: &Error, n: u32) -> Option<Duration> {
    if !retryable(e) {
        return None;
    }
    let backoff = backoff(n);
    Some(match e {
        Error::Api(a) => a.retry_after.map_or(backoff, |r| r.min(RETRY_AFTER_MAX)),
        _ => backoff,
    })
}

/// The exponential backoff after the `n`th failure in a row (from 1).
pub fn backoff(n: u32) -> Duration {
    BACKOFF_FIRST.saturating_mul(1 << n.clamp(1, 16).saturating_sub(1)).min(BACKOFF_MAX)
}

impl Kube {
    pub fn new(session: Session, verbose: bool, timeout: Option<Duration>, server: String) -> Kube {
        Kube {
            session,
            verbose,
            timeout,
            server,
            notice: false,
            level: u8::from(verbose),
            attempts: ATTEMPTS,
            written: Arc::default(),
        }
    }

    /// The resourceVersion of the latest write this process made to the collection at
    /// `path` (`/apis/apps/v1/namespaces/NS/deployments`) that the server answered with the
    /// object (a dry run is no write), or None. Of several, the greatest where all are
    /// numbers, as kube-apiserver's are (etcd revisions), else the last answered.
    pub fn written(&self, path: &str) -> Option<String> {
        self.written.lock().expect("lock").get(path).cloned()
    }

    /// Remember the resourceVersion a write's answer carries, under its collection.
    fn note_written(&self, req: &http::Request<Vec<u8>>, body: &[u8]) {
        #[derive(serde::Deserialize)]
        struct Answer {
            metadata: Option<AnswerMeta>,
        }
        #[derive(serde::Deserialize)]
        struct AnswerMeta {
            #[serde(rename = "resourceVersion")]
            resource_version: Option<String>,
        }
        let Ok(Answer { metadata: Some(AnswerMeta { resource_version: Some(rv) }) }) = serde_json::from_slice(body)
        else {
            return;
        };
        // a create names the collection; a patch, update or delete the object in it
        let path = req.uri().path().trim_end_matches('/');
        let collection =
            if req.method() == http::Method::POST { path } else { path.rsplit_once('/').map_or(path, |(c, _)| c) };
        let mut w = self.written.lock().expect("lock");
        let newer = match (w.get(collection).map(|o| o.parse::<u64>()), rv.parse::<u64>()) {
            (Some(Ok(old)), Ok(new)) => new > old,
            _ => true,
        };
        if newer {
            w.insert(collection.to_string(), rv);
        }
    }

    /// The same connection, whose `send` sends a request at most `n` times (at least once):
    /// a caller that repeats a request itself (the executor's writes) passes what is left of
    /// `ATTEMPTS`, so the two loops together send it at most `ATTEMPTS` times.
    pub fn with_attempts(&self, n: u32) -> Kube {
        Kube { attempts: n.max(1), ..self.clone() }
    }

    /// The `-v` level: 0 logs nothing, 1 and more each request, `DETAIL_LEVEL` and more
    /// the size of each answer too.
    pub fn with_verbosity(mut self, level: u8) -> Kube {
        self.verbose = level >= 1;
        self.level = level;
        self
    }

    /// Say on stderr what a request waits for once it takes longer than `NOTICE_AFTER`
    /// (for a terminal: a hung API server is not two minutes of silence).
    pub fn with_notice(mut self, on: bool) -> Kube {
        self.notice = on;
        self
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// `-v` given: log each request (and, for `cluster::ceph`, each command run).
    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// The kube client of the moment (its credential renewed first when it expires soon),
    /// for what `send` cannot carry: the exec API's WebSocket (`cluster::ceph`).
    pub async fn client(&self) -> Result<kube::Client> {
        Ok(self.session.client().await?.client)
    }

    /// Send one request under the retry policy above: 429, 5xx and connection failures
    /// are tried again. A write (not a `dryRun=All` one) is repeated here only when the
    /// server refused it before processing it (429, 503): after a lost answer or another
    /// server error it may have landed, so the executor reads the object back and sends
    /// it again only if it did not (`execute::one`): nothing is applied twice. 409 is
    /// the caller's to handle.
    pub async fn send(&self, req: http::Request<Vec<u8>>, what: &What) -> Result<Bytes> {
        let judged_by_caller = is_write(&req);
        let mut waited = Duration::ZERO;
        let mut attempt = 1;
        let began = Instant::now();
        loop {
            let e = match self.send_once(clone_request(&req), what, attempt).await {
                Ok(b) => {
                    if judged_by_caller {
                        self.note_written(&req, &b);
                    }
                    return Ok(b);
                }
                Err(e) => e,
            };
            let repeat_here = !judged_by_caller || not_processed(&e);
            match retry_delay(&e, attempt) {
                Some(delay) if repeat_here && attempt < self.attempts && waited + delay <= WAIT_BUDGET => {
                    if self.verbose {
                        crate::output::note(&format!("  retrying in {} ms ({})", delay.as_millis(), first_line(&e)));
                    } else if self.notice && began.elapsed() + delay >= NOTICE_AFTER {
                        crate::output::note(&format!(
                            "{} {}: {}; attempt {} of {} in {} ms",
                            what.verb,
                            what.resource,
                            crate::output::clean(&first_line(&e)),
                            attempt + 1,
                            self.attempts,
                            delay.as_millis()
                        ));
                    }
                    tokio::time::sleep(delay).await;
                    waited += delay;
                    attempt += 1;
                }
                _ => {
                    return Err(match e {
                        Error::Api(mut a) => {
                            a.attempts = attempt;
                            Error::Api(a)
                        }
                        e => e,
                    });
                }
            }
        }
    }

    /// One attempt: with the credential of the moment (renewed first when it expires
    /// soon), and once more with a renewed one when the server answers 401 (credential.rs).
    async fn send_once(&self, req: http::Request<Vec<u8>>, what: &What, attempt: u32) -> Result<Bytes> {
        let current = self.session.client().await?;
        match self.exchange(&current.client, clone_request(&req), what, attempt).await {
            Err(e) if e.api_code() == Some(401) => match self.session.after_unauthorized(current.generation).await? {
                Some(renewed) => self.exchange(&renewed.client, req, what, attempt).await,
                None => Err(e),
            },
            out => out,
        }
    }

    async fn exchange(
        &self,
        client: &kube::Client,
        req: http::Request<Vec<u8>>,
        what: &What,
        attempt: u32,
    ) -> Result<Bytes> {
        let method = req.method().clone();
        let path = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
        let start = Instant::now();
        let answer = async {
            let res = client.send(req.map(kube::client::Body::from)).await?;
            let status = res.status();
            let retry_after = retry_after(res.headers());
            let body = res.into_body().collect().await.map_err(|e| kube::Error::Service(e.into()))?.to_bytes();
            Ok::<_, kube::Error>((status, retry_after, body))
        };
        let fut = async {
            tokio::pin!(answer);
            if !self.notice {
                return answer.await;
            }
            tokio::select! {
                r = &mut answer => return r,
                _ = tokio::time::sleep(NOTICE_AFTER) => {}
            }
            crate::output::note(&format!(
                "waiting for {} to answer {} {} (attempt {attempt} of {}{})...",
                self.server,
                what.verb,
                what.resource,
                self.attempts,
                self.timeout.map(|t| format!(", gives up after {}s", t.as_secs())).unwrap_or_default()
            ));
            answer.await
        };
        let timed_out = |t: Duration| {
            self.log(&method, &path, "timeout", start);
            Err(Error::Connection(format!(
                "{} {}: no answer from {} within the request timeout of {:?} (--request-timeout)",
                what.verb, what.resource, self.server, t
            )))
        };
        let out = match self.timeout {
            Some(t) => match tokio::time::timeout(t, fut).await {
                Ok(r) => r,
                Err(_) => return timed_out(t),
            },
            None => fut.await,
        };
        // The client's own read/connect timeouts are the same --request-timeout
        // (connect.rs): whichever timer fires first, the message is the same one.
        if let (Err(e), Some(t)) = (&out, self.timeout)
            && error_chain(e).contains("timed out")
        {
            return timed_out(t);
        }
        match out {
            Ok((status, retry_after, body)) => {
                if self.level >= DETAIL_LEVEL {
                    self.log(&method, &path, &format!("{} ({} bytes)", status.as_str(), body.len()), start);
                } else {
                    self.log(&method, &path, status.as_str(), start);
                }
                if status.is_success() { Ok(body) } else { Err(api_failure(what, status.as_u16(), retry_after, &body)) }
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
            crate::output::note(&format!("{method} {path} {status} {}ms", start.elapsed().as_millis()));
        }
    }

    /// A streaming request (a watch): the answer's body is read by the caller; no overall
    /// timeout (the watch's own timeoutSeconds ends it), non-2xx answers are errors. The
    /// credential is renewed as for `send`.
    pub async fn stream(&self, req: http::Request<Vec<u8>>, what: &What) -> Result<http::Response<kube::client::Body>> {
        let current = self.session.client().await?;
        match self.open_stream(&current.client, clone_request(&req), what).await {
            Err(e) if e.api_code() == Some(401) => match self.session.after_unauthorized(current.generation).await? {
                Some(renewed) => self.open_stream(&renewed.client, req, what).await,
                None => Err(e),
            },
            out => out,
        }
    }

    async fn open_stream(
        &self,
        client: &kube::Client,
        req: http::Request<Vec<u8>>,
        what: &What,
    ) -> Result<http::Response<kube::client::Body>> {
        let method = req.method().clone();
        let path = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
        let start = Instant::now();
        match client.send(req.map(kube::client::Body::from)).await {
            Ok(res) if res.status().is_success() => {
                self.log(&method, &path, res.status().as_str(), start);
                Ok(res)
            }
            Ok(res) => {
                let code = res.status().as_u16();
                let retry_after = retry_after(res.headers());
                self.log(&method, &path, res.status().as_str(), start);
                let body = res.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                Err(api_failure(what, code, retry_after, &body))
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

/// A request that changes something: not a read, not a `dryRun=All` write.
fn is_write<B>(req: &http::Request<B>) -> bool {
    let dry = req.uri().query().is_some_and(|q| q.split('&').any(|kv| kv == "dryRun=All"));
    req.method() != http::Method::GET && !dry
}

/// Refused before the server processed it: API priority and fairness (429) or an
/// unavailable server (503). Any other failure may come after the write landed.
pub fn not_processed(e: &Error) -> bool {
    matches!(e, Error::Api(a) if a.code == 429 || a.code == 503)
}

/// Worth another try: throttled (429), a server error, or no answer at all.
pub fn retryable(e: &Error) -> bool {
    match e {
        Error::Api(a) => a.code == 429 || (500..600).contains(&a.code),
        Error::Connection(_) => true,
        _ => false,
    }
}

/// The User-Agent of every request: `kubectl-ceph-image/0.1.0 (linux/x86_64)`, in kubectl's form (`kubectl/v1.37.2
/// (linux/amd64) ...`): an API server's audit log and its API Priority and Fairness tell the
/// plugin's requests from kubectl's and from the operator's by it.
static USER_AGENT: std::sync::LazyLock<http::HeaderValue> = std::sync::LazyLock::new(|| {
    let ua = format!(
        "kubectl-ceph-image/{} ({}/{})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    http::HeaderValue::from_str(&ua).expect("an ASCII header value")
});

/// The User-Agent above, for the client's extra headers (connect.rs): set there once, it
/// is on every request the kube client sends, the exec API's WebSocket upgrade included
/// (`cluster::ceph`), which no request of ours carries through `send`.
pub fn user_agent() -> http::HeaderValue {
    USER_AGENT.clone()
}

/// The first line of an error (the server's own words, without what was being done).
pub fn first_line(e: &Error) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

/// `Retry-After` in seconds, as client-go reads it (an HTTP date is not honoured).
fn retry_after(h: &http::HeaderMap) -> Option<Duration> {
    h.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[derive(serde::Deserialize, Default)]
struct StatusBody {
    #[serde(default, deserialize_with = "super::wire::lenient::null_default")]
    kind: String,
    #[serde(default, deserialize_with = "super::wire::lenient::null_default")]
    message: String,
    #[serde(default, deserialize_with = "super::wire::lenient::null_default")]
    reason: String,
    #[serde(default, deserialize_with = "super::wire::lenient::null_default")]
    details: StatusDetails,
}

#[derive(serde::Deserialize, Default)]
struct StatusDetails {
    #[serde(default, rename = "retryAfterSeconds")]
    retry_after_seconds: Option<u64>,
}

/// A non-2xx answer as an error naming what was being done: the `Status` body's reason and
/// message; where the body is not a Status, or says no reason, client-go's reason and
/// message for the HTTP code, so it reads as kubectl prints it.
fn api_failure(what: &What, code: u16, retry_after: Option<Duration>, body: &[u8]) -> Error {
    let s: StatusBody =
        serde_json::from_slice(body).ok().filter(|s: &StatusBody| s.kind == "Status").unwrap_or_default();
    let server_message = || -> String { String::from_utf8_lossy(body).trim().chars().take(300).collect() };
    let (reason, generic) = reason_for(code, &server_message());
    // a reason is one CamelCase word (metav1.StatusReason): a longer one is cut like a message
    let reason = if s.reason.is_empty() { reason.to_string() } else { s.reason.chars().take(REASON_LIMIT).collect() };
    let message = if s.message.is_empty() { generic } else { shorten_message(&s.message) };
    let retry_after = retry_after.or(s.details.retry_after_seconds.map(Duration::from_secs));
    Error::Api(Box::new(ApiFailure {
        verb: what.verb.to_string(),
        resource: what.resource.clone(),
        namespace: what.namespace.clone(),
        code,
        reason,
        message,
        retry_after,
        attempts: 1,
    }))
}

/// The longest server reason kept, in characters.
const REASON_LIMIT: usize = 100;

/// The longest server message kept whole, in characters; past it the message is cut and
/// says how much was left out (a webhook or proxy can answer with hundreds of kB).
const MESSAGE_LIMIT: usize = 2000;

/// A server message as a person can read it. kube-apiserver answers a patch that fails
/// strict field validation with 422 Invalid quoting the whole patched object before the
/// reason (`patch: Invalid value: "{...the CephCluster...}": strict decoding error: unknown
/// field "spec.cephVersion.imageOverrides"`, handlers/patch.go): the quoted object is left
/// out, the reason kept. Anything else longer than [`MESSAGE_LIMIT`] is cut.
pub fn shorten_message(message: &str) -> String {
    const STRICT: &str = "strict decoding error: ";
    if let (Some(v), Some(r)) = (message.find("Invalid value: \""), message.rfind(STRICT))
        && v < r
    {
        return format!("{}{}", message[..v].trim_start(), &message[r..]).chars().take(MESSAGE_LIMIT).collect();
    }
    let n = message.chars().count();
    if n <= MESSAGE_LIMIT {
        return message.to_string();
    }
    let kept: String = message.chars().take(MESSAGE_LIMIT).collect();
    format!("{kept}... ({} more characters)", n - MESSAGE_LIMIT)
}

/// client-go's reason and message for an answer that is not a `Status`
/// (apimachinery's `NewGenericServerResponse`); an empty reason for a code it has none for.
fn reason_for(code: u16, server_message: &str) -> (&'static str, String) {
    let fixed = |r: &'static str, m: &str| (r, m.to_string());
    match code {
        400 => fixed("BadRequest", "the server rejected our request for an unknown reason"),
        401 => fixed("Unauthorized", "the server has asked for the client to provide credentials"),
        403 => fixed("Forbidden", server_message),
        404 => fixed("NotFound", "the server could not find the requested resource"),
        405 => fixed("MethodNotAllowed", "the server does not allow this method on the requested resource"),
        406 => fixed("NotAcceptable", "the server was unable to respond with a content type that the client supports"),
        409 => fixed("Conflict", "the server reported a conflict"),
        415 => fixed("UnsupportedMediaType", server_message),
        422 => fixed("Invalid", "the server rejected our request due to an error in our request"),
        429 => {
            fixed("TooManyRequests", "the server has received too many requests and has asked us to try again later")
        }
        503 => fixed("ServiceUnavailable", "the server is currently unable to handle the request"),
        504 => fixed(
            "Timeout",
            "the server was unable to return a response in the time allotted, but may still be processing the request",
        ),
        500..=599 => (
            "InternalError",
            format!("an error on the server ({server_message:?}) has prevented the request from succeeding"),
        ),
        _ => ("", server_message.to_string()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn what() -> What {
        What::new("list", "pods", Some("rook-ceph"))
    }

    #[test]
    fn a_strict_patch_refusal_reads_without_the_quoted_object() {
        // kube-apiserver v1.37's answer, cut down: the quoted object stands before the reason.
        let m = r#" "" is invalid: patch: Invalid value: "{\"apiVersion\":\"ceph.rook.io/v1\",\"spec\":{}}": strict decoding error: unknown field "spec.cephVersion.imageOverrides""#;
        assert_eq!(
            shorten_message(m),
            r#""" is invalid: patch: strict decoding error: unknown field "spec.cephVersion.imageOverrides""#
        );
        let long = "x".repeat(MESSAGE_LIMIT + 5);
        assert_eq!(shorten_message(&long), format!("{}... (5 more characters)", "x".repeat(MESSAGE_LIMIT)));
        assert_eq!(shorten_message("short"), "short");
    }

    #[test]
    fn a_status_body_gives_reason_and_message_else_the_http_code_does() {
        let status = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Too many requests, please try again later.","reason":"TooManyRequests","details":{"retryAfterSeconds":3},"code":429}"#;
        let e = api_failure(&what(), 429, None, status);
        assert!(
            e.to_string()
                .starts_with("Error from server (TooManyRequests): Too many requests, please try again later.\n"),
            "{e}"
        );
        let Error::Api(a) = &e else { panic!() };
        assert_eq!(a.retry_after, Some(Duration::from_secs(3)), "details.retryAfterSeconds without the header");
        let e = api_failure(&what(), 429, Some(Duration::from_secs(1)), b"<html>slow down</html>");
        assert!(e.to_string().starts_with(
            "Error from server (TooManyRequests): the server has received too many requests and has asked us to try again later\n"
        ), "{e}");
        let e = api_failure(&what(), 503, None, br#"{"kind":"Other"}"#);
        assert!(
            e.to_string().starts_with("Error from server (ServiceUnavailable): the server is currently unable"),
            "{e}"
        );
        let e = api_failure(&what(), 502, None, b"bad gateway");
        assert!(
            e.to_string().starts_with("Error from server (InternalError): an error on the server (\"bad gateway\")"),
            "{e}"
        );
        let e = api_failure(&what(), 418, None, b"teapot");
        assert!(e.to_string().starts_with("Error from server (418): teapot"), "{e}");
    }

    #[test]
    fn the_delay_is_retry_after_capped_else_a_capped_exponential_backoff() {
        let e = |code, ra: Option<u64>| {
            let Error::Api(mut a) = api_failure(&what(), code, None, b"") else { panic!() };
            a.retry_after = ra.map(Duration::from_secs);
            Error::Api(a)
        };
        let ms = |n| Some(Duration::from_millis(n));
        assert_eq!(retry_delay(&e(429, Some(0)), 1), ms(0));
        assert_eq!(retry_delay(&e(429, Some(2)), 4), ms(2000));
        assert_eq!(retry_delay(&e(429, Some(3600)), 1), Some(RETRY_AFTER_MAX));
        assert_eq!(retry_delay(&e(503, Some(1)), 1), ms(1000));
        let backoff: Vec<_> = (1..=6).map(|n| retry_delay(&e(500, None), n)).collect();
        assert_eq!(backoff, [ms(200), ms(400), ms(800), ms(1600), ms(3200), ms(5000)]);
        assert_eq!(retry_delay(&Error::Connection("reset".into()), 2), ms(400));
        assert_eq!(retry_delay(&e(404, None), 1), None);
        assert_eq!(retry_delay(&e(409, None), 1), None);
        // the budget: a server asking for the cap each time gets 4 attempts, not 5
        let waits = (1..ATTEMPTS).map(|_| RETRY_AFTER_MAX).scan(Duration::ZERO, |t, d| {
            *t += d;
            Some(*t)
        });
        assert_eq!(waits.filter(|t| *t <= WAIT_BUDGET).count(), 3);
    }
}
