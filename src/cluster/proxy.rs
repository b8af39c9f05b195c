//! Which proxy a request to the API server goes through, decided as kubectl decides it.
//!
//! client-go's rules: a cluster's `proxy-url` in the kubeconfig is used for that cluster
//! whatever the environment says (schemes `http`, `https`, `socks5`). Without one, Go's
//! `http.ProxyFromEnvironment`: `HTTPS_PROXY` for an `https://` server, `HTTP_PROXY` for an
//! `http://` one (upper case first, then lower case; the first one set and not empty), none
//! for a server `NO_PROXY`/`no_proxy` covers, and never one for `localhost` or a loopback
//! address. `NO_PROXY` is matched by hyper-util's matcher (the curl rules reqwest uses:
//! `*`, IP addresses, CIDR ranges, a domain and its subdomains).
//!
//! kube-rs decides by itself only with a worse rule (it tests `NO_PROXY` against the proxy's
//! own address, fails a whole command on a `NO_PROXY` with an empty entry, never uses
//! `HTTP_PROXY`), so `main` takes these variables out of the process environment before
//! any thread starts ([`ProxyEnv::capture`]) and the plugin hands kube its decision.

use std::net::IpAddr;
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// The proxy variables of the environment the plugin was started in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProxyEnv {
    /// `HTTPS_PROXY`, else `https_proxy` (the first set and not empty).
    pub https: Option<String>,
    /// `HTTP_PROXY`, else `http_proxy`.
    pub http: Option<String>,
    /// `NO_PROXY`, else `no_proxy`.
    pub no: Option<String>,
    /// Every proxy variable as it was set, to hand back to child processes
    /// (exec credential plugins need them to reach their identity provider).
    pub vars: Vec<(String, String)>,
}

/// Every variable the decision reads; `ALL_PROXY` is not one (Go ignores it).
const VARS: [&str; 6] = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"];

static CAPTURED: OnceLock<ProxyEnv> = OnceLock::new();

impl ProxyEnv {
    /// Read the variables from `get` (a name to its value).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> ProxyEnv {
        let first = |names: [&str; 2]| names.iter().find_map(|n| get(n).filter(|v| !v.is_empty()));
        ProxyEnv {
            https: first(["HTTPS_PROXY", "https_proxy"]),
            http: first(["HTTP_PROXY", "http_proxy"]),
            no: first(["NO_PROXY", "no_proxy"]),
            vars: VARS.iter().filter_map(|n| get(n).map(|v| (n.to_string(), v))).collect(),
        }
    }

    /// Read the proxy variables of this process and remove them from its environment, so that
    /// no library acts on them by its own rules; [`ProxyEnv::process`] answers from then on.
    ///
    /// # Safety
    /// Changes the process environment: call it before any other thread exists (first
    /// thing in `main`).
    pub unsafe fn capture() {
        let env = ProxyEnv::from_lookup(|n| std::env::var(n).ok());
        for n in VARS {
            // SAFETY: the caller guarantees that no other thread runs.
            unsafe { std::env::remove_var(n) };
        }
        let _ = CAPTURED.set(env);
    }

    /// The variables the plugin was started with: as captured by `main`, else (a library
    /// caller, a test) as the environment has them now.
    pub fn process() -> ProxyEnv {
        CAPTURED.get().cloned().unwrap_or_else(|| ProxyEnv::from_lookup(|n| std::env::var(n).ok()))
    }
}

/// The proxy for requests to `server` of the cluster named `cluster` (for messages), whose
/// kubeconfig entry sets `proxy_url` or not. `Ok(None)`: connect directly. A `proxy-url`
/// kubectl would refuse is a usage error; a proxy variable Go cannot use is ignored, as Go
/// ignores it. Messages never quote a proxy URL: it may carry a password.
pub fn choose(server: &http::Uri, cluster: &str, proxy_url: Option<&str>, env: &ProxyEnv) -> Result<Option<http::Uri>> {
    if let Some(p) = proxy_url.filter(|p| !p.is_empty()) {
        let invalid = |why: &str| {
            Error::usage(format!("invalid configuration: invalid 'proxy-url' for cluster {cluster:?}: {why}"))
        };
        let uri: http::Uri = p.parse().map_err(|_| invalid("it is not a URL (e.g. http://proxy.example:3128)"))?;
        return match uri.scheme_str() {
            Some("http" | "https" | "socks5") if uri.host().is_some_and(|h| !h.is_empty()) => Ok(Some(uri)),
            Some("http" | "https" | "socks5") => Err(invalid("it names no host")),
            Some(s) => Err(invalid(&format!("unsupported scheme {s:?}, must be http, https, or socks5"))),
            None => Err(invalid("it has no scheme; must be http, https, or socks5 (e.g. http://proxy.example:3128)")),
        };
    }
    let Some(host) = server.host() else { return Ok(None) };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
        return Ok(None);
    }
    let value = match server.scheme_str() {
        Some("https") => env.https.as_deref(),
        Some("http") => env.http.as_deref(),
        _ => None,
    };
    let Some(value) = value else { return Ok(None) };
    let matcher = hyper_util::client::proxy::matcher::Matcher::builder()
        .https(env.https.clone().unwrap_or_default())
        .http(env.http.clone().unwrap_or_default())
        .no(env.no.clone().unwrap_or_default())
        .build();
    if matcher.intercept(server).is_none() {
        return Ok(None);
    }
    // the variable itself (the matcher's answer drops a user:password, kube wants it in the URL);
    // Go reads a proxy without a scheme as http://
    let with_scheme = if value.contains("://") { value.to_string() } else { format!("http://{value}") };
    Ok(with_scheme.parse().ok())
}

/// A proxy URL for messages: scheme, host and port, never a user or password.
pub fn display(uri: &http::Uri) -> String {
    let host = uri.host().unwrap_or_default();
    match uri.port_u16() {
        Some(p) => format!("{}://{host}:{p}", uri.scheme_str().unwrap_or("http")),
        None => format!("{}://{host}", uri.scheme_str().unwrap_or("http")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(https: Option<&str>, http: Option<&str>, no: Option<&str>) -> ProxyEnv {
        ProxyEnv { https: https.map(Into::into), http: http.map(Into::into), no: no.map(Into::into), vars: vec![] }
    }

    fn pick(server: &str, proxy_url: Option<&str>, e: &ProxyEnv) -> Option<String> {
        choose(&server.parse().unwrap(), "c", proxy_url, e).unwrap().map(|u| u.to_string())
    }

    #[test]
    fn upper_case_first_then_lower_case_and_empty_is_unset() {
        let get = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string())
        };
        let e = ProxyEnv::from_lookup(get(&[("HTTPS_PROXY", "http://a:1"), ("https_proxy", "http://b:1")]));
        assert_eq!(e.https.as_deref(), Some("http://a:1"));
        let e = ProxyEnv::from_lookup(get(&[("HTTPS_PROXY", ""), ("https_proxy", "http://b:1"), ("no_proxy", "x")]));
        assert_eq!((e.https.as_deref(), e.no.as_deref()), (Some("http://b:1"), Some("x")));
        assert_eq!(e.vars.len(), 3, "every variable set is handed to child processes, empty ones too");
    }

    #[test]
    fn the_server_scheme_picks_the_variable() {
        let e = env(Some("http://sp:3128"), Some("http://p:3128"), None);
        assert_eq!(pick("https://k.example:6443", None, &e).as_deref(), Some("http://sp:3128/"));
        assert_eq!(pick("http://k.example:8080", None, &e).as_deref(), Some("http://p:3128/"));
        // only HTTP_PROXY: an https server goes direct (Go does not fall back)
        assert_eq!(pick("https://k.example", None, &env(None, Some("http://p:1"), None)), None);
        // no scheme: http://
        assert_eq!(
            pick("https://k.example", None, &env(Some("sp:3128"), None, None)).as_deref(),
            Some("http://sp:3128/")
        );
        // user and password kept for kube's Proxy-Authorization
        let u = pick("https://k.example", None, &env(Some("http://u:pw@sp:3128"), None, None)).unwrap();
        assert!(u.contains("u:pw@sp:3128"), "{u}");
    }

    #[test]
    fn no_proxy_and_loopback_go_direct() {
        let p = Some("http://sp:3128");
        for (server, no, direct) in [
            ("https://k.example:6443", "k.example", true),
            ("https://api.k.example:6443", "k.example", true),
            ("https://api.k.example:6443", ".k.example", true),
            ("https://notk.example:6443", "k.example", false),
            ("https://10.1.2.3:6443", "10.0.0.0/8", true),
            ("https://10.1.2.3:6443", "10.1.2.3", true),
            ("https://11.1.2.3:6443", "10.0.0.0/8", false),
            ("https://k.example:6443", "*", true),
            ("https://k.example:6443", "a.example, k.example,", true),
            ("https://k.example:6443", "", false),
            ("https://[fd00::1]:6443", "fd00::/8", true),
        ] {
            let got = pick(server, None, &env(p, None, Some(no)));
            assert_eq!(got.is_none(), direct, "{server} with NO_PROXY={no:?}: {got:?}");
        }
        for server in ["https://127.0.0.1:6443", "https://localhost:6443", "https://[::1]:6443", "https://127.9.9.9"] {
            assert_eq!(pick(server, None, &env(p, None, None)), None, "{server}: Go never proxies loopback");
        }
    }

    #[test]
    fn proxy_url_wins_over_the_environment_and_is_validated() {
        let e = env(Some("http://sp:3128"), None, Some("*"));
        assert_eq!(pick("https://k.example", Some("socks5://s:1080"), &e).as_deref(), Some("socks5://s:1080/"));
        assert_eq!(pick("https://127.0.0.1:1", Some("https://s:8443"), &e).as_deref(), Some("https://s:8443/"));
        for (bad, why) in [
            ("ftp://u:secret@s:21", "unsupported scheme \"ftp\", must be http, https, or socks5"),
            ("s:3128", "must be http, https, or socks5"),
            ("http://", "not a URL"),
        ] {
            let err = choose(&"https://k".parse().unwrap(), "prod", Some(bad), &e).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            let m = err.to_string();
            assert!(m.contains("invalid 'proxy-url' for cluster \"prod\"") && m.contains(why), "{bad}: {m}");
            assert!(!m.contains("secret"), "{m}");
        }
        assert_eq!(display(&"http://u:pw@p.example:3128".parse().unwrap()), "http://p.example:3128");
    }
}
