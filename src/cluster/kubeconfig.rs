//! Reading kubeconfig files as kubectl does, and its checks of the context in use.
//!
//! `--kubeconfig FILE` must exist; each file a `KUBECONFIG` list names is read and merged
//! (first one to set a value wins), a file that does not exist is skipped, and when none
//! exists that is the error; else `~/.kube/config`. A file that does not parse is named
//! with the line and column where it stopped parsing, never quoted: it holds credentials.

use std::path::{Path, PathBuf};

use kube::config::{Kubeconfig, KubeconfigError};

use crate::error::{Error, Result};

/// Where the kubeconfig comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// `--kubeconfig FILE`.
    Flag(PathBuf),
    /// The `KUBECONFIG` list, in order.
    Env(Vec<PathBuf>),
    /// `~/.kube/config`.
    Default(PathBuf),
}

impl Source {
    /// The flag, else `KUBECONFIG` (empty entries ignored), else `~/.kube/config` under `home`.
    pub fn pick(flag: Option<&Path>, kubeconfig_env: Option<&std::ffi::OsStr>, home: Option<&Path>) -> Result<Source> {
        if let Some(p) = flag {
            return Ok(Source::Flag(p.to_path_buf()));
        }
        if let Some(v) = kubeconfig_env {
            let mut paths: Vec<PathBuf> = Vec::new();
            for p in std::env::split_paths(v).filter(|p| !p.as_os_str().is_empty()) {
                if !paths.contains(&p) {
                    paths.push(p);
                }
            }
            if !paths.is_empty() {
                return Ok(Source::Env(paths));
            }
        }
        match home {
            Some(h) => Ok(Source::Default(h.join(".kube").join("config"))),
            None => Err(Error::Config(
                "no kubeconfig: KUBECONFIG is not set and there is no home directory; pass --kubeconfig FILE".into(),
            )),
        }
    }
}

/// Read and merge the kubeconfig files of `source`.
pub fn load(source: &Source) -> Result<Kubeconfig> {
    match source {
        Source::Flag(p) | Source::Default(p) => read(p),
        Source::Env(paths) => {
            let mut merged: Option<Kubeconfig> = None;
            for p in paths {
                if !p.exists() {
                    continue;
                }
                let kc = read(p)?;
                merged = Some(match merged {
                    None => kc,
                    Some(m) => m.merge(kc).map_err(|e| {
                        Error::usage(format!("error loading config file {:?}: {e}", p.display().to_string()))
                    })?,
                });
            }
            merged.ok_or_else(|| {
                let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                Error::Config(format!(
                    "Config not found: {}: no file KUBECONFIG names exists (missing ones are skipped, as kubectl does)",
                    names.join(", ")
                ))
            })
        }
    }
}

/// One file: read errors say which file and why; parse errors say where, without quoting.
fn read(path: &Path) -> Result<Kubeconfig> {
    let name = path.display().to_string();
    Kubeconfig::read_from(path).map_err(|e| match e {
        KubeconfigError::ReadConfig(io, _) => {
            Error::Config(format!("error loading config file {name:?}: {}", io_reason(&io)))
        }
        KubeconfigError::Parse(p) => Error::usage(format!("error loading config file {name:?}: {}", yaml_reason(&p))),
        // the rest name no content (kind or apiVersion mismatch between documents, ...)
        other => Error::usage(format!("error loading config file {name:?}: {other}")),
    })
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        k => k.to_string(),
    }
}

/// kubectl's `yaml: line N: ...`, with what went wrong in words of ours: the parser's own
/// message can quote the file (a value of the wrong type is quoted whole).
fn yaml_reason(e: &serde_saphyr::Error) -> String {
    use serde_saphyr::Error as E;
    let e = e.without_snippet();
    let what = match e {
        E::SerdeInvalidType { .. } | E::SerdeInvalidValue { .. } | E::SerdeInvalidLength { .. } => {
            "not a kubeconfig: a value of the wrong type (e.g. a list where a map belongs)"
        }
        E::SerdeMissingField { .. } => "not a kubeconfig: a required field is missing",
        E::DuplicateMappingKey { .. } => "a key appears twice in the same map",
        E::Eof { .. } => "the file ends in the middle of a value",
        _ => "not valid YAML (check the indentation and quoting on that line and the one before)",
    };
    match e.location() {
        Some(l) if l.line() > 0 => format!("yaml: line {}, column {}: {what}", l.line(), l.column()),
        _ => format!("yaml: {what}"),
    }
}

/// kubectl's checks of the cluster the context uses (`clientcmd` validation): a CA with
/// `insecure-skip-tls-verify` is refused.
pub fn validate_cluster(name: &str, c: &kube::config::Cluster) -> Result<()> {
    let has_ca = c.certificate_authority.as_deref().is_some_and(|s| !s.is_empty())
        || c.certificate_authority_data.as_deref().is_some_and(|s| !s.is_empty());
    if c.insecure_skip_tls_verify == Some(true) && has_ca {
        let which = if c.certificate_authority_data.as_deref().is_some_and(|s| !s.is_empty()) {
            "certificate-authority-data"
        } else {
            "certificate-authority"
        };
        return Err(Error::usage(format!(
            "invalid configuration: specifying a root certificates file with the insecure flag is not allowed \
             (cluster {name:?} sets both insecure-skip-tls-verify: true and {which}; keep the CA to verify \
             the server, or drop it to skip verification)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syntax_error_names_the_line_and_quotes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config");
        std::fs::write(
            &p,
            "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: SECRET-TOKEN\n   bad: [SECRET\n",
        )
        .unwrap();
        let e = read(&p).unwrap_err();
        let m = e.to_string();
        assert!(m.starts_with(&format!("error loading config file {:?}: yaml: line ", p.display().to_string())), "{m}");
        assert!(!m.contains("SECRET"), "{m}");
        assert_eq!(e.exit_code(), 2);
        std::fs::write(&p, "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: [SECRET-TOKEN]\n")
            .unwrap();
        let m = read(&p).unwrap_err().to_string();
        assert!(m.contains("yaml: line 6") && !m.contains("SECRET"), "{m}");
    }

    #[test]
    fn missing_files_in_kubeconfig_are_skipped_unless_all_are() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::write(&real, "apiVersion: v1\nkind: Config\ncurrent-context: a\n").unwrap();
        let gone = dir.path().join("gone");
        let list = std::env::join_paths([&gone, &real]).unwrap();
        let src = Source::pick(None, Some(&list), None).unwrap();
        assert_eq!(load(&src).unwrap().current_context.as_deref(), Some("a"));
        let list = std::env::join_paths([&gone, &dir.path().join("also-gone")]).unwrap();
        let m = load(&Source::pick(None, Some(&list), None).unwrap()).unwrap_err().to_string();
        assert!(m.starts_with("Config not found: ") && m.contains("gone") && m.contains("also-gone"), "{m}");
        // an explicit file must exist
        let m = load(&Source::pick(Some(&gone), Some(&list), None).unwrap()).unwrap_err().to_string();
        assert!(m.contains("no such file or directory"), "{m}");
    }

    #[test]
    fn insecure_with_a_ca_is_refused() {
        let mut c = kube::config::Cluster { insecure_skip_tls_verify: Some(true), ..Default::default() };
        assert!(validate_cluster("c", &c).is_ok());
        c.certificate_authority_data = Some("Q0E=".into());
        let e = validate_cluster("c", &c).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("specifying a root certificates file with the insecure flag is not allowed"));
        c.insecure_skip_tls_verify = Some(false);
        assert!(validate_cluster("c", &c).is_ok());
    }
}
