//! Connect as kubectl does: `--kubeconfig`, else `KUBECONFIG` (several files merged),
//! else ~/.kube/config; `--context`; the namespace from `-n`, else the context's, else
//! `rook-ceph`; `--request-timeout`.

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::Kube;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
    pub request_timeout: Option<Duration>,
    pub verbose: bool,
}

pub struct Connection {
    pub kube: Kube,
    pub namespace: String,
    pub context: String,
}

pub const DEFAULT_NAMESPACE: &str = "rook-ceph";

/// The context to use and the namespace it implies (pure, for tests).
pub fn resolve_context(kc: &Kubeconfig, context: Option<&str>, namespace: Option<&str>) -> Result<(String, String)> {
    let name = match context.map(str::to_string).or_else(|| kc.current_context.clone()).filter(|c| !c.is_empty()) {
        Some(n) => n,
        None => {
            return Err(Error::Config(
                "the kubeconfig sets no current context: pass --context NAME (kubectl config get-contexts lists them)"
                    .into(),
            ));
        }
    };
    let Some(ctx) = kc.contexts.iter().find(|c| c.name == name) else {
        let names: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
        return Err(Error::Config(format!(
            "context {name:?} is not in the kubeconfig; its contexts are: {}",
            if names.is_empty() { "(none)".to_string() } else { names.join(", ") }
        )));
    };
    let ns = namespace
        .map(str::to_string)
        .or_else(|| ctx.context.as_ref().and_then(|c| c.namespace.clone()).filter(|n| !n.is_empty()))
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    Ok((name, ns))
}

pub async fn connect(o: &ConnectOptions) -> Result<Connection> {
    let kc = match &o.kubeconfig {
        Some(p) => Kubeconfig::read_from(p)
            .map_err(|e| Error::Config(format!("cannot read the kubeconfig {}: {e}", p.display())))?,
        None => Kubeconfig::read()
            .map_err(|e| Error::Config(format!("cannot read a kubeconfig (KUBECONFIG, else ~/.kube/config): {e}")))?,
    };
    let (context, namespace) = resolve_context(&kc, o.context.as_deref(), o.namespace.as_deref())?;
    let opts = KubeConfigOptions { context: Some(context.clone()), ..Default::default() };
    let mut config = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .map_err(|e| Error::Config(format!("cannot use context {context:?}: {e}")))?;
    if let Some(t) = o.request_timeout {
        config.connect_timeout = Some(t);
        config.read_timeout = Some(t);
        config.write_timeout = Some(t);
    }
    // kube's own retry layer (on by default: 15 retries of 429/503/504 inside each request,
    // sleeping Retry-After uncapped) is off: `Kube::send` is the one retry policy, so every
    // attempt is counted, logged with -v and bounded (src/cluster/api.rs).
    config.default_retry = false;
    let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
    let client = kube::Client::try_from(config)
        .map_err(|e| Error::Config(format!("cannot build a client for context {context:?}: {e}")))?;
    Ok(Connection { kube: Kube::new(client, o.verbose, o.request_timeout, server), namespace, context })
}

/// kubectl's `--request-timeout`: `0` (none), a bare number of seconds, or with a unit
/// (`500ms`, `30s`, `2m`, `1h`, combined as `1m30s`).
pub fn parse_duration(s: &str) -> std::result::Result<Option<Duration>, String> {
    let bad = || format!("invalid duration {s:?}: expected e.g. 30s, 1m, 500ms, 1m30s, or 0 for none");
    if s == "0" {
        return Ok(None);
    }
    if let Ok(n) = s.parse::<u64>() {
        return Ok(Some(Duration::from_secs(n)));
    }
    let mut total = Duration::ZERO;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next().unwrap_or('s'));
        }
        let n: f64 = num.parse().map_err(|_| bad())?;
        num.clear();
        let secs = match unit.as_str() {
            "ms" => n / 1000.0,
            "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            _ => return Err(bad()),
        };
        total += Duration::from_secs_f64(secs);
        any = true;
    }
    if !num.is_empty() || !any {
        return Err(bad());
    }
    Ok(if total.is_zero() { None } else { Some(total) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Ok(None));
        assert_eq!(parse_duration("30"), Ok(Some(Duration::from_secs(30))));
        assert_eq!(parse_duration("30s"), Ok(Some(Duration::from_secs(30))));
        assert_eq!(parse_duration("1m30s"), Ok(Some(Duration::from_secs(90))));
        assert_eq!(parse_duration("500ms"), Ok(Some(Duration::from_millis(500))));
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("5m3").is_err());
    }

    #[test]
    fn namespace_from_flag_then_context_then_rook_ceph() {
        let kc = Kubeconfig::from_yaml(
            "apiVersion: v1\nkind: Config\ncurrent-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u, namespace: storage}\n- name: b\n  context: {cluster: c, user: u}\n",
        )
        .unwrap();
        assert_eq!(resolve_context(&kc, None, None).unwrap(), ("a".into(), "storage".into()));
        assert_eq!(resolve_context(&kc, Some("b"), None).unwrap(), ("b".into(), "rook-ceph".into()));
        assert_eq!(resolve_context(&kc, Some("b"), Some("x")).unwrap(), ("b".into(), "x".into()));
        let e = resolve_context(&kc, Some("zz"), None).unwrap_err().to_string();
        assert!(e.contains("\"zz\" is not in the kubeconfig") && e.contains("a, b"), "{e}");
    }
}
