//! The client of a connection and the credential it carries, renewed as client-go renews an
//! exec plugin's (`plugin/pkg/client/auth/exec/exec.go`): cloud plugins return credentials
//! that expire (EKS about 15 minutes, GKE and OIDC about an hour) and a staged upgrade or a
//! long `--wait` outlives them.
//!
//! - Before a request, a credential whose `expirationTimestamp` is near is renewed: the
//!   plugin runs again (client-go waits for the time to pass; renewing a little before it
//!   spares the request a 401).
//! - A request answered 401 renews it, unless another request already did, and is sent
//!   once more (client-go renews and lets the next request have it; here the request that
//!   met the 401 is that next one).
//! - One renewal at a time, so an interactive plugin prompts once; the requests waiting
//!   for it then share its credential.
//!
//! The kube client is made anew from the same configuration with the new credential: a
//! token goes into its auth layer, a client certificate into its TLS identity, both fixed
//! when the client is built. The old client's connections close when its last request ends.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::exec::{Credential, Plugin};
use crate::error::{Error, Result};

/// How long before its expiry a credential is renewed: this, or a quarter of its
/// lifetime when that is shorter (a credential of a few seconds is not renewed at once).
pub const RENEW_BEFORE: Duration = Duration::from_secs(10);

/// The client of the moment.
#[derive(Clone)]
pub struct Current {
    pub client: kube::Client,
    /// Which credential it carries (1, 2, ... as they are renewed): a 401 renews only the
    /// credential that met it.
    pub generation: u64,
    /// When to renew before sending; None: when the server refuses it.
    renew_at: Option<SystemTime>,
}

/// A connection's clients: the one of the moment, and how to make the next.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    /// The configuration without the credential the plugin gives.
    config: kube::Config,
    /// None: the credential is the kubeconfig's own and is never renewed.
    plugin: Option<Plugin>,
    current: Mutex<Current>,
    renewing: tokio::sync::Mutex<()>,
}

impl Session {
    /// Run the plugin, if any, and build the first client. `context`: for messages.
    pub async fn start(config: kube::Config, plugin: Option<Plugin>, context: &str) -> Result<Session> {
        let (client, renew_at) = match &plugin {
            Some(p) => build_with(&config, obtain(p).await?, context)?,
            None => (build(config.clone(), context)?, None),
        };
        let current = Mutex::new(Current { client, generation: 1, renew_at });
        Ok(Session { inner: Arc::new(Inner { config, plugin, current, renewing: tokio::sync::Mutex::new(()) }) })
    }

    /// The client to send a request with: renewed first when its credential expires soon.
    pub async fn client(&self) -> Result<Current> {
        let now = self.now();
        if now.renew_at.is_some_and(|t| SystemTime::now() >= t) {
            return self.renew(now.generation).await;
        }
        Ok(now)
    }

    /// A request sent with credential `generation` met 401: the client to send it again
    /// with, its credential renewed (unless another request did that already). None: no
    /// plugin, nothing to renew; the 401 stands.
    pub async fn after_unauthorized(&self, generation: u64) -> Result<Option<Current>> {
        if self.inner.plugin.is_none() {
            return Ok(None);
        }
        self.renew(generation).await.map(Some)
    }

    fn now(&self) -> Current {
        self.inner.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Renew the credential `seen`, once: whoever comes while it is being renewed gets the
    /// new one.
    async fn renew(&self, seen: u64) -> Result<Current> {
        let _one_at_a_time = self.inner.renewing.lock().await;
        let now = self.now();
        let Some(plugin) = &self.inner.plugin else { return Ok(now) };
        if now.generation != seen {
            return Ok(now);
        }
        let (client, renew_at) = build_with(&self.inner.config, obtain(plugin).await?, "")?;
        let next = Current { client, generation: seen + 1, renew_at };
        *self.inner.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = next.clone();
        Ok(next)
    }
}

/// Run the plugin on a thread that may block (it may prompt), keeping the exec rules.
async fn obtain(plugin: &Plugin) -> Result<Credential> {
    let p = plugin.clone();
    tokio::task::spawn_blocking(move || p.run())
        .await
        .map_err(|e| Error::Failed(format!("the credential plugin's task failed: {e}")))?
}

/// A client carrying `cred`, and when to renew it.
fn build_with(config: &kube::Config, cred: Credential, context: &str) -> Result<(kube::Client, Option<SystemTime>)> {
    let renew_at = cred.expires.and_then(|exp| renew_time(SystemTime::now(), exp));
    let mut config = config.clone();
    cred.apply(&mut config.auth_info);
    Ok((build(config, context)?, renew_at))
}

fn build(config: kube::Config, context: &str) -> Result<kube::Client> {
    let v1 = certificate_version(&config.auth_info) == Some(1);
    // what kube says, without the Debug dumps of its sources; never a credential
    kube::Client::try_from(config).map_err(|e| {
        let ctx = if context.is_empty() { String::new() } else { format!(" for context {context:?}") };
        if v1 {
            // webpki parses only X.509 v3 end-entity certificates (rustls-webpki's
            // `UnsupportedCertVersion`); Go's crypto/tls, so kubectl, takes v1 too
            return Error::usage(format!(
                "cannot use the client certificate of context {context:?}: it is an X.509 version 1 certificate                  (no extensions); kubectl accepts it, but this plugin's TLS library (rustls) accepts only version 3.                  Reissue it as version 3 (openssl x509 -req ... -extfile with, say, extendedKeyUsage=clientAuth)"
            ));
        }
        Error::Config(format!("cannot build a client{ctx}: {e}"))
    })
}

/// The X.509 version (1, 2, 3) of the user's client certificate, from its DER: a
/// TBSCertificate starting with the `[0]` version field is v2 or v3 (its INTEGER says
/// which), one starting with the serial number is v1 (RFC 5280 §4.1). None: no
/// certificate, or not one this can read (then kube's own error stands).
pub fn certificate_version(user: &kube::config::AuthInfo) -> Option<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let pem = match (&user.client_certificate_data, &user.client_certificate) {
        (Some(d), _) => String::from_utf8(b64.decode(d.trim()).ok()?).ok()?,
        (None, Some(path)) => std::fs::read_to_string(path).ok()?,
        (None, None) => return None,
    };
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let der = b64.decode(body.trim()).ok()?;
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version?, serial, ... } }
    let header = |d: &[u8]| -> Option<usize> {
        match *d.get(1)? {
            n if n < 0x80 => Some(2),
            n => Some(2 + usize::from(n & 0x7f)),
        }
    };
    let tbs = der.get(header(&der)?..)?;
    let first = tbs.get(header(tbs)?..)?;
    match first.first()? {
        0x02 => Some(1),
        // [0] { INTEGER version }: a0 03 02 01 v
        0xa0 => first.get(4).map(|v| v + 1),
        _ => None,
    }
}

/// When to renew a credential obtained at `now` that expires at `expires`: `RENEW_BEFORE`
/// or a quarter of its lifetime before, whichever is later. None when it has expired
/// already: renewing before each request would run the plugin for every one; the
/// server's 401 renews it instead.
pub fn renew_time(now: SystemTime, expires: SystemTime) -> Option<SystemTime> {
    let life = expires.duration_since(now).ok().filter(|d| !d.is_zero())?;
    Some(expires - RENEW_BEFORE.min(life / 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewed_ten_seconds_or_a_quarter_of_its_life_before_it_expires() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let s = Duration::from_secs;
        assert_eq!(renew_time(t0, t0 + s(900)), Some(t0 + s(890)), "EKS: 15 minutes");
        assert_eq!(renew_time(t0, t0 + s(4)), Some(t0 + s(3)), "a short one: a quarter before");
        assert_eq!(renew_time(t0, t0), None, "expired: the 401 renews it");
        assert_eq!(renew_time(t0, t0 - s(5)), None);
    }
}
