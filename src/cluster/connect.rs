//! Connect as kubectl does: `--kubeconfig`, else `KUBECONFIG` (several files merged),
//! else ~/.kube/config; `--context`; the namespace from `-n`, else the context's, else
//! `rook-ceph`; `--request-timeout`. kubectl's kubeconfig rules (`kubeconfig.rs`), its
//! proxy rules (`proxy.rs`), and an exec credential plugin (`exec.rs`) run again when its
//! credential runs out (`credential.rs`).

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::Kube;
use super::credential::Session;
use super::exec::{self, Terminal};
use super::kubeconfig::{self, Source};
use super::proxy::{self, ProxyEnv};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
    pub request_timeout: Option<Duration>,
    pub verbose: bool,
    /// Which standard streams are terminals, for an exec credential plugin that prompts.
    pub terminal: Terminal,
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
    let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE")).map(PathBuf::from);
    let source = Source::pick(o.kubeconfig.as_deref(), std::env::var_os("KUBECONFIG").as_deref(), home.as_deref())?;
    let mut kc = kubeconfig::load(&source)?;
    let (context, namespace) = resolve_context(&kc, o.context.as_deref(), o.namespace.as_deref())?;
    let proxy_env = ProxyEnv::process();
    let proxy = check_and_take_proxy(&mut kc, &context, &proxy_env)?;
    let opts = KubeConfigOptions { context: Some(context.clone()), ..Default::default() };
    let mut config = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .map_err(|e| Error::Config(format!("cannot use context {context:?}: {e}")))?;
    config.proxy_url = match proxy {
        Some(ProxyChoice::Url(p)) => Some(p),
        Some(ProxyChoice::FromEnv) => proxy::choose(&config.cluster_url, "", None, &proxy_env)?,
        None => None,
    };
    if o.verbose
        && let Some(p) = &config.proxy_url
    {
        crate::output::note(&format!("proxy {}", proxy::display(p)));
    }
    if let Some(t) = o.request_timeout {
        config.connect_timeout = Some(t);
        config.read_timeout = Some(t);
        config.write_timeout = Some(t);
    }
    // kube's own retry layer (on by default: 15 retries of 429/503/504 inside each request,
    // sleeping Retry-After uncapped) is off: `Kube::send` is the one retry policy, so every
    // attempt is counted, logged with -v and bounded (src/cluster/api.rs).
    config.default_retry = false;
    // the plugin's User-Agent on every request, added once by kube's extra-headers layer
    config.headers.push((http::header::USER_AGENT, super::api::user_agent()));
    // the exec credential plugin runs here, and again when its credential runs out
    // (credential.rs); kube never runs it
    let plugin = exec::Plugin::take(&mut config.auth_info, o.terminal, &proxy_env.vars);
    let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
    let session = Session::start(config, plugin, &context).await?;
    Ok(Connection { kube: Kube::new(session, o.verbose, o.request_timeout, server), namespace, context })
}

/// Where the proxy comes from, once the kubeconfig is checked.
enum ProxyChoice {
    /// The cluster's `proxy-url`.
    Url(http::Uri),
    /// The environment decides, by the server's URL.
    FromEnv,
}

/// kubectl's checks of the context's cluster and user (a usage error: nothing is sent), and
/// the cluster's `proxy-url` taken out of the kubeconfig: the plugin, not kube, decides.
fn check_and_take_proxy(kc: &mut Kubeconfig, context: &str, env: &ProxyEnv) -> Result<Option<ProxyChoice>> {
    let ctx = kc.contexts.iter().find(|c| c.name == context).and_then(|c| c.context.clone());
    let Some(ctx) = ctx else { return Ok(None) };
    if let Some(u) = kc.auth_infos.iter().find(|u| u.name == ctx.user.as_deref().unwrap_or_default())
        && let Some(exec) = u.auth_info.as_ref().and_then(|a| a.exec.as_ref())
    {
        exec::validate(&format!("user {:?}", u.name), exec)?;
    }
    let Some(named) = kc.clusters.iter_mut().find(|c| c.name == ctx.cluster) else { return Ok(None) };
    let Some(cluster) = named.cluster.as_mut() else { return Ok(None) };
    kubeconfig::validate_cluster(&named.name, cluster)?;
    match cluster.proxy_url.take().filter(|p| !p.is_empty()) {
        Some(p) => {
            let server: http::Uri = cluster.server.as_deref().unwrap_or_default().parse().unwrap_or_default();
            Ok(proxy::choose(&server, &named.name, Some(&p), env)?.map(ProxyChoice::Url))
        }
        None => Ok(Some(ProxyChoice::FromEnv)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
