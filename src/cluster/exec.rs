//! Exec credential plugins (EKS, GKE, kubelogin...) run as kubectl runs them: once before
//! the client is built, the credential they print becoming the user's token or client
//! certificate, so every request shares it; and again when it runs out (its
//! `expirationTimestamp`, or the server answering 401), which `credential.rs` decides.
//!
//! Errors are worded as kubectl words them and never carry what could be a secret: no
//! argument, no `env` value, nothing the plugin printed. The plugin's stderr reaches the
//! terminal only when stderr is one (for a plugin that prompts); otherwise it is dropped so
//! that no log captures it.

use std::process::{Command, Stdio};
use std::time::SystemTime;

use base64::Engine;
use kube::config::{AuthInfo, ExecConfig, ExecInteractiveMode};
use secrecy::SecretString;

use crate::error::{Error, Result};

/// The ExecCredential API versions client-go speaks.
pub const API_VERSIONS: [&str; 3] = [
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
    "client.authentication.k8s.io/v1alpha1",
];

/// How the plugin may talk to the user.
#[derive(Debug, Clone, Copy, Default)]
pub struct Terminal {
    /// stdin is a terminal: an interactive plugin gets it.
    pub stdin: bool,
    /// stderr is a terminal: the plugin's own messages go there.
    pub stderr: bool,
}

/// kubectl's kubeconfig checks of an `exec` user (`clientcmd` validation), for user `user`:
/// a usage error naming what is wrong.
pub fn validate(user: &str, exec: &ExecConfig) -> Result<()> {
    let invalid = |m: String| Error::usage(format!("invalid configuration: {m}"));
    if exec.command.as_deref().is_none_or(str::is_empty) {
        return Err(invalid(format!("command must be specified for {user} to use exec authentication plugin")));
    }
    match exec.api_version.as_deref() {
        None | Some("") => {
            return Err(invalid(format!("apiVersion must be specified for {user} to use exec authentication plugin")));
        }
        Some(v) if !API_VERSIONS.contains(&v) => {
            return Err(invalid(format!(
                "exec plugin: invalid apiVersion {v:?} for {user}; supported: {}",
                API_VERSIONS.join(", ")
            )));
        }
        Some(v) => {
            if v == API_VERSIONS[0] && exec.interactive_mode.is_none() {
                return Err(invalid(format!(
                    "interactiveMode must be specified for {user} to use exec authentication plugin \
                     (Never, IfAvailable or Always)"
                )));
            }
        }
    }
    Ok(())
}

/// The credential as the plugin printed it (`ExecCredential.status`).
#[derive(serde::Deserialize)]
struct Output {
    #[serde(default, rename = "apiVersion")]
    api_version: String,
    status: Option<Status>,
}

#[derive(serde::Deserialize)]
struct Status {
    #[serde(default)]
    token: String,
    #[serde(default, rename = "clientCertificateData")]
    client_certificate_data: String,
    #[serde(default, rename = "clientKeyData")]
    client_key_data: String,
    /// RFC 3339; absent or null: the credential is good until the server refuses it.
    #[serde(default, rename = "expirationTimestamp")]
    expiration_timestamp: Option<String>,
}

/// The user's exec entry, with what running it needs: how it may talk to the user and the
/// environment it gets on top of this process's (the proxy variables).
#[derive(Debug, Clone)]
pub struct Plugin {
    exec: ExecConfig,
    terminal: Terminal,
    extra_env: Vec<(String, String)>,
}

/// A credential a plugin returned (its `ExecCredential.status`).
pub struct Credential {
    token: Option<SecretString>,
    /// The client certificate's PEM and its key's PEM.
    identity: Option<(String, SecretString)>,
    /// `status.expirationTimestamp`: when the plugin says the credential stops working.
    /// None: it works until the server answers 401.
    pub expires: Option<SystemTime>,
}

impl Plugin {
    /// Take the exec entry out of `user` (so kube never runs it: it would, for the TLS
    /// identity, the auth layer and the client's expiry, each time anew). None: no entry.
    pub fn take(user: &mut AuthInfo, terminal: Terminal, extra_env: &[(String, String)]) -> Option<Plugin> {
        let exec = user.exec.take()?;
        Some(Plugin { exec, terminal, extra_env: extra_env.to_vec() })
    }

    /// The command the kubeconfig names (for messages; never its arguments or env).
    pub fn command(&self) -> &str {
        self.exec.command.as_deref().unwrap_or_default()
    }

    /// Run the plugin (blocking: it may prompt) and read its credential. Errors in
    /// kubectl's words, never quoting what the plugin printed.
    pub fn run(&self) -> Result<Credential> {
        let cred = run(&self.exec, self.terminal, &self.extra_env)?;
        let expires = match cred.expiration_timestamp.as_deref().filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => Some(SystemTime::from(t.parse::<jiff::Timestamp>().map_err(|_| {
                Error::Config(format!(
                    "{PREFIX} decoding stdout: status.expirationTimestamp is not an RFC 3339 time{HINT}"
                ))
            })?)),
        };
        Ok(Credential {
            token: (!cred.token.is_empty()).then(|| SecretString::from(cred.token)),
            identity: (!cred.client_certificate_data.is_empty())
                .then(|| (cred.client_certificate_data, SecretString::from(cred.client_key_data))),
            expires,
        })
    }
}

impl Credential {
    /// Put the credential in `user`: its token, or client certificate and key, replacing
    /// those the kubeconfig gives (client-go: the plugin's credential wins).
    pub fn apply(self, user: &mut AuthInfo) {
        use secrecy::ExposeSecret;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        if let Some((cert, key)) = self.identity {
            user.client_certificate = None;
            user.client_key = None;
            user.client_certificate_data = Some(b64(&cert));
            user.client_key_data = Some(SecretString::from(b64(key.expose_secret())));
        }
        if let Some(token) = self.token {
            user.token = Some(token);
            user.token_file = None;
        }
    }
}

/// The prefix kubectl puts before a credential failure.
const PREFIX: &str = "Unable to connect to the server: getting credentials:";

/// Where to look when a plugin fails: its output is not shown.
const HINT: &str = "\n  hint: the plugin's output is not shown (it may hold credentials): run the command \
                    of this user's exec entry in the kubeconfig by hand to see it";

/// Run the plugin of `exec` once and check what it printed.
/// `extra_env`: variables to give the plugin on top of this process's environment.
fn run(exec: &ExecConfig, terminal: Terminal, extra_env: &[(String, String)]) -> Result<Status> {
    let command = exec.command.clone().unwrap_or_default();
    let mut cmd = Command::new(&command);
    cmd.args(exec.args.iter().flatten());
    cmd.envs(extra_env.iter().map(|(k, v)| (k, v)));
    for e in exec.env.iter().flatten() {
        if let (Some(k), Some(v)) = (e.get("name"), e.get("value")) {
            cmd.env(k, v);
        }
    }
    for k in exec.drop_env.iter().flatten() {
        cmd.env_remove(k);
    }
    let interactive = match exec.interactive_mode {
        Some(ExecInteractiveMode::Never) => false,
        Some(ExecInteractiveMode::Always) if !terminal.stdin => {
            return Err(Error::Config(format!(
                "{PREFIX} exec plugin cannot support interactive mode: standard input is not a terminal"
            )));
        }
        _ => terminal.stdin,
    };
    let api_version = exec.api_version.clone().unwrap_or_else(|| API_VERSIONS[1].to_string());
    let mut spec = serde_json::json!({"interactive": interactive});
    if exec.provide_cluster_info
        && let Some(c) = &exec.cluster
    {
        spec["cluster"] = serde_json::to_value(c).unwrap_or_default();
    }
    let info = serde_json::json!({"kind": "ExecCredential", "apiVersion": api_version, "spec": spec});
    cmd.env("KUBERNETES_EXEC_INFO", info.to_string());
    cmd.stdin(if interactive { Stdio::inherit() } else { Stdio::null() });
    cmd.stderr(if terminal.stderr { Stdio::inherit() } else { Stdio::null() });
    cmd.stdout(Stdio::piped());
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut m = format!(
                "{PREFIX} exec: executable {command} not found\n\n\
                 It looks like you are trying to use a client-go credential plugin that is not installed.\n\n\
                 To learn more about this feature, consult the documentation available at:\n      \
                 https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins"
            );
            if let Some(h) = exec.install_hint.as_deref().filter(|h| !h.is_empty()) {
                m.push_str("\n\n");
                m.push_str(h);
            }
            return Err(Error::Config(m));
        }
        Err(e) => return Err(Error::Config(format!("{PREFIX} exec: cannot run {command}: {}", e.kind()))),
    };
    if !out.status.success() {
        let how = match out.status.code() {
            Some(c) => format!("failed with exit code {c}"),
            None => "was killed by a signal".to_string(),
        };
        return Err(Error::Config(format!("{PREFIX} exec: executable {command} {how}{HINT}")));
    }
    parse(&out.stdout, &api_version).map_err(|m| Error::Config(format!("{PREFIX} {m}{HINT}")))
}

/// The plugin's stdout as a credential; the error never quotes it (client-go's checks, in
/// its words, with where the output stopped making sense instead of what it said).
fn parse(stdout: &[u8], api_version: &str) -> std::result::Result<Status, String> {
    let out: Output = serde_json::from_slice(stdout).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Eof if stdout.iter().all(u8::is_ascii_whitespace) => {
                "the plugin printed nothing".to_string()
            }
            serde_json::error::Category::Data => {
                format!("not an ExecCredential (a field of the wrong type, line {} column {})", e.line(), e.column())
            }
            _ => format!("not JSON (line {} column {})", e.line(), e.column()),
        };
        format!("decoding stdout: {what}")
    })?;
    if out.api_version != api_version {
        let theirs = if API_VERSIONS.contains(&out.api_version.as_str()) {
            out.api_version.clone()
        } else if out.api_version.is_empty() {
            "none".to_string()
        } else {
            "an unknown one".to_string()
        };
        return Err(format!(
            "exec plugin is configured to use API version {api_version}, plugin returned version {theirs}"
        ));
    }
    let Some(s) = out.status else { return Err("exec plugin didn't return a status field".into()) };
    if s.token.is_empty() && s.client_certificate_data.is_empty() && s.client_key_data.is_empty() {
        return Err("exec plugin didn't return a token or cert/key pair".into());
    }
    if s.client_certificate_data.is_empty() != s.client_key_data.is_empty() {
        return Err("exec plugin returned only certificate or key, not both".into());
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "client.authentication.k8s.io/v1";

    #[test]
    fn output_checks_in_client_go_words_never_quoting_the_output() {
        let ok = parse(br#"{"apiVersion":"client.authentication.k8s.io/v1","status":{"token":"t"}}"#, V1).unwrap();
        assert_eq!(ok.token, "t");
        for (out, want) in [
            (&b"SECRET-not-json"[..], "decoding stdout: not JSON (line 1 column 1)"),
            (b"  \n", "decoding stdout: the plugin printed nothing"),
            (
                br#"{"apiVersion":"client.authentication.k8s.io/v1","status":{"token":["SECRET"]}}"#,
                "a field of the wrong type",
            ),
            (br#"{"apiVersion":"SECRET","status":{"token":"SECRET"}}"#, "plugin returned version an unknown one"),
            (br#"{"apiVersion":"client.authentication.k8s.io/v1"}"#, "didn't return a status field"),
            (
                br#"{"apiVersion":"client.authentication.k8s.io/v1","status":{}}"#,
                "didn't return a token or cert/key pair",
            ),
            (
                br#"{"apiVersion":"client.authentication.k8s.io/v1","status":{"clientKeyData":"SECRET"}}"#,
                "only certificate or key, not both",
            ),
        ] {
            let e = parse(out, V1).err().unwrap_or_else(|| panic!("{out:?} parsed"));
            assert!(e.contains(want), "{e}");
            assert!(!e.contains("SECRET"), "{e}");
        }
    }

    #[test]
    fn kubeconfig_checks() {
        let exec = |v: Option<&str>, mode: Option<ExecInteractiveMode>| ExecConfig {
            api_version: v.map(Into::into),
            command: Some("get-token".into()),
            args: None,
            env: None,
            drop_env: None,
            install_hint: None,
            interactive_mode: mode,
            provide_cluster_info: false,
            cluster: None,
            other: Default::default(),
        };
        assert!(validate("u", &exec(Some(V1), Some(ExecInteractiveMode::Never))).is_ok());
        assert!(validate("u", &exec(Some(API_VERSIONS[1]), None)).is_ok());
        let e = validate("u", &exec(Some(V1), None)).unwrap_err();
        assert!(e.to_string().contains("interactiveMode must be specified for u"), "{e}");
        assert_eq!(e.exit_code(), 2);
        let e = validate("u", &exec(None, None)).unwrap_err();
        assert!(e.to_string().contains("apiVersion must be specified for u"), "{e}");
        let e = validate("u", &exec(Some("v9"), None)).unwrap_err();
        assert!(e.to_string().contains("invalid apiVersion \"v9\""), "{e}");
    }
}
