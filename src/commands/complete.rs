//! Shell completion. `completion bash|zsh|fish` prints a static script (clap_complete) for
//! the binary itself; `kubectl ceph-image <TAB>` uses kubectl's plugin convention: kubectl
//! runs `kubectl_complete-ceph_image WORD... PARTIAL` and reads one candidate per line,
//! then `:<directive>` (Cobra's ShellCompDirective). The same binary answers when invoked
//! under that name (or as `kubectl-ceph-image __complete ...`), completing subcommands,
//! flags, daemon types, and daemon ids, nodes, CephClusters and namespaces read from the
//! cluster.

use std::time::Duration;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::cluster::connect::{ConnectOptions, connect};
use crate::cluster::read;
use crate::model::daemon::{DaemonType, HoldScope};

/// Cobra directives.
pub const NO_FILE: u32 = 4;
pub const DEFAULT: u32 = 0;

/// The name kubectl looks for on PATH.
pub const EXEC_NAME: &str = "kubectl_complete-ceph_image";

/// Flags that take a value, with their spellings.
const VALUE_FLAGS: [&str; 30] = [
    "-n",
    "--namespace",
    "--cluster",
    "--context",
    "--kubeconfig",
    "--request-timeout",
    "-o",
    "--output",
    "--color",
    "--node",
    "-l",
    "--selector",
    "--osds",
    "--nodes",
    "--rgw-instances",
    "--crd",
    "--kubeconfig-out",
    "--port",
    "--restart-delay-ms",
    "--ready-delay-ms",
    "--health-settle-ms",
    "--dry-run",
    "--timeout",
    "--strategy",
    "--batch-by",
    "--max-unavailable",
    "--pause-between",
    "--order",
    "--canary",
    "--from",
];

#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    pub subcommand: Option<String>,
    pub positionals: Vec<String>,
    pub namespace: Option<String>,
    pub context: Option<String>,
    pub kubeconfig: Option<String>,
    pub cluster: Option<String>,
    /// The flag whose value is being completed.
    pub pending_flag: Option<String>,
}

fn subcommands() -> Vec<(String, String)> {
    Cli::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| (c.get_name().to_string(), c.get_about().map(|a| a.to_string()).unwrap_or_default()))
        .collect()
}

/// `upgrade`'s own subcommands (status, pause, resume, abort), with their help.
fn upgrade_actions() -> Vec<(String, String)> {
    Cli::command()
        .find_subcommand("upgrade")
        .map(|u| {
            u.get_subcommands()
                .map(|c| (c.get_name().to_string(), c.get_about().map(|a| a.to_string()).unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// Flags valid for the subcommand (global ones included), long and short; `action` is
/// `upgrade`'s own subcommand, whose flags replace `upgrade IMAGE`'s.
fn flags(sub: Option<&str>, action: Option<&str>) -> Vec<(String, String)> {
    let root = Cli::command();
    let mut out = Vec::new();
    let mut add = |c: &clap::Command| {
        for a in c.get_arguments() {
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            if let Some(l) = a.get_long() {
                out.push((format!("--{l}"), help.clone()));
            }
            if let Some(s) = a.get_short() {
                out.push((format!("-{s}"), help));
            }
        }
    };
    add(&root);
    if let Some(c) = sub.and_then(|s| root.find_subcommand(s)) {
        match action.and_then(|a| c.find_subcommand(a)) {
            Some(a) => add(a),
            None => add(c),
        }
    }
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// What the words before the partial one say.
pub fn parse(words: &[String]) -> Parsed {
    let subs: Vec<String> = subcommands().into_iter().map(|(n, _)| n).collect();
    let mut p = Parsed::default();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        if let Some((flag, value)) = w.split_once('=').filter(|(f, _)| f.starts_with('-')) {
            set_flag(&mut p, flag, value);
        } else if w.starts_with('-') && w.len() > 1 {
            let takes = VALUE_FLAGS.contains(&w.as_str()) && w != "--dry-run";
            if takes {
                match words.get(i + 1) {
                    Some(v) => {
                        set_flag(&mut p, w, v);
                        i += 1;
                    }
                    None => p.pending_flag = Some(w.clone()),
                }
            }
        } else if p.subcommand.is_none() && subs.contains(w) {
            p.subcommand = Some(w.clone());
        } else {
            p.positionals.push(w.clone());
        }
        i += 1;
    }
    p
}

fn set_flag(p: &mut Parsed, flag: &str, value: &str) {
    let v = Some(value.to_string());
    match flag {
        "-n" | "--namespace" => p.namespace = v,
        "--context" => p.context = v,
        "--kubeconfig" => p.kubeconfig = v,
        "--cluster" => p.cluster = v,
        _ => {}
    }
}

/// Candidates for `partial`, and the directive.
pub async fn complete(args: &[String]) -> (Vec<String>, u32) {
    let (before, partial) = match args.split_last() {
        Some((last, rest)) => (rest.to_vec(), last.clone()),
        None => (vec![], String::new()),
    };
    let p = parse(&before);
    let matching =
        |cands: Vec<String>| -> Vec<String> { cands.into_iter().filter(|c| c.starts_with(&partial)).collect() };
    if let Some(flag) = &p.pending_flag {
        return flag_values(flag, &p, &partial).await;
    }
    if let Some((flag, value)) = partial.split_once('=').filter(|(f, _)| f.starts_with("--")) {
        let (vals, d) = flag_values(flag, &p, value).await;
        return (vals.into_iter().map(|v| format!("{flag}={v}")).collect(), d);
    }
    if partial.starts_with('-') {
        let action = p.positionals.first().map(String::as_str).filter(|_| p.subcommand.as_deref() == Some("upgrade"));
        let fl = flags(p.subcommand.as_deref(), action).into_iter().map(|(f, h)| with_help(&f, &h)).collect();
        return (matching(fl), NO_FILE);
    }
    let types: Vec<String> = DaemonType::ALL.iter().map(|t| t.key().to_string()).collect();
    let cands = match (p.subcommand.as_deref(), p.positionals.len()) {
        (None, _) => subcommands().into_iter().map(|(n, h)| with_help(&n, &h)).collect(),
        (Some("set"), 0) => std::iter::once("base".to_string()).chain(types).collect(),
        (Some("set"), 1) => images_in_use(&p).await,
        (Some("unset"), 0) => overridden_types(&p).await.unwrap_or(types),
        (Some(cmd @ ("pause" | "resume")), _) => daemon_ids(&p, cmd == "pause").await,
        (Some("upgrade"), 0) => {
            upgrade_actions().into_iter().map(|(n, h)| with_help(&n, &h)).chain(images_in_use(&p).await).collect()
        }
        (Some("completion"), 0) => ["bash", "zsh", "fish", "elvish", "powershell"].map(String::from).to_vec(),
        _ => vec![],
    };
    (matching(cands), NO_FILE)
}

/// A candidate that can be typed: no unsafe character in the value; our own description
/// after the tab is allowed its tab.
fn safe_candidate(c: &str) -> bool {
    let value = c.split_once('\t').map_or(c, |(v, _)| v);
    !value.is_empty() && !c.chars().any(|ch| crate::output::is_unsafe(ch) && ch != '\t')
}

fn with_help(name: &str, help: &str) -> String {
    let first = help.lines().next().unwrap_or("").trim();
    if first.is_empty() { name.to_string() } else { format!("{name}\t{first}") }
}

async fn flag_values(flag: &str, p: &Parsed, partial: &str) -> (Vec<String>, u32) {
    let fixed = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let vals = match flag {
        "-o" | "--output" => fixed(&["text", "wide", "json", "yaml"]),
        "--color" => fixed(&["auto", "always", "never"]),
        "--dry-run" => fixed(&["client", "server"]),
        "--crd" => fixed(&["proposed", "released"]),
        "--strategy" => fixed(&["overrides", "fence"]),
        "--batch-by" => fixed(&["host", "rack", "zone"]),
        "--kubeconfig" | "--kubeconfig-out" | "--from" => return (vec![], DEFAULT),
        "--context" => contexts(p),
        "-n" | "--namespace" => namespaces(p).await,
        "--cluster" => clusters(p).await,
        "--node" => nodes(p).await,
        _ => vec![],
    };
    (vals.into_iter().filter(|v| v.starts_with(partial)).collect(), NO_FILE)
}

fn kubeconfig(p: &Parsed) -> Option<kube::config::Kubeconfig> {
    match &p.kubeconfig {
        Some(path) => kube::config::Kubeconfig::read_from(path).ok(),
        None => kube::config::Kubeconfig::read().ok(),
    }
}

fn contexts(p: &Parsed) -> Vec<String> {
    kubeconfig(p).map(|k| k.contexts.into_iter().map(|c| c.name).collect()).unwrap_or_default()
}

fn options(p: &Parsed) -> ConnectOptions {
    ConnectOptions {
        kubeconfig: p.kubeconfig.clone().map(Into::into),
        context: p.context.clone(),
        namespace: p.namespace.clone(),
        // a completion that hangs is worse than none
        request_timeout: Some(Duration::from_secs(3)),
        verbose: false,
        terminal: Default::default(),
    }
}

async fn snapshot(p: &Parsed) -> Option<crate::model::Snapshot> {
    let conn = connect(&options(p)).await.ok()?;
    read::snapshot(&conn.kube, &conn.namespace, p.cluster.as_deref()).await.ok()
}

async fn namespaces(p: &Parsed) -> Vec<String> {
    // Namespaces that hold a CephCluster; else every namespace.
    let Ok(conn) = connect(&options(p)).await else { return vec![] };
    let what = crate::cluster::api::What::new("list", "cephclusters", None);
    let lp = kube::api::ListParams::default();
    if let Ok(req) = kube::core::Request::new("/apis/ceph.rook.io/v1/cephclusters").list(&lp)
        && let Ok(l) = conn.kube.json::<crate::cluster::wire::List<crate::cluster::wire::CephCluster>>(req, &what).await
        && !l.items.is_empty()
    {
        let mut v: Vec<String> = l.items.into_iter().filter_map(|c| c.metadata.namespace).collect();
        v.sort();
        v.dedup();
        return v;
    }
    let what = crate::cluster::api::What::new("list", "namespaces", None);
    match kube::core::Request::new("/api/v1/namespaces").list(&lp) {
        Ok(req) => conn
            .kube
            .json::<crate::cluster::wire::List<crate::cluster::wire::Named>>(req, &what)
            .await
            .map(|l| l.items.into_iter().map(|n| n.metadata.name).collect())
            .unwrap_or_default(),
        Err(_) => vec![],
    }
}

async fn clusters(p: &Parsed) -> Vec<String> {
    let Ok(conn) = connect(&options(p)).await else { return vec![] };
    let what = crate::cluster::api::What::new("list", "cephclusters", Some(&conn.namespace));
    match kube::core::Request::new(read::cluster_path(&conn.namespace)).list(&Default::default()) {
        Ok(req) => conn
            .kube
            .json::<crate::cluster::wire::List<crate::cluster::wire::CephCluster>>(req, &what)
            .await
            .map(|l| l.items.into_iter().map(|c| c.metadata.name).collect())
            .unwrap_or_default(),
        Err(_) => vec![],
    }
}

async fn nodes(p: &Parsed) -> Vec<String> {
    let mut v: Vec<String> =
        snapshot(p).await.map(|s| s.daemons.iter().flat_map(|d| d.nodes()).collect()).unwrap_or_default();
    v.sort();
    v.dedup();
    v
}

async fn images_in_use(p: &Parsed) -> Vec<String> {
    let Some(s) = snapshot(p).await else { return vec![] };
    let mut v: Vec<String> = s.daemons.iter().flat_map(|d| d.ceph_images.clone()).collect();
    v.push(s.cluster.base_image.clone());
    v.extend(s.cluster.overrides.values().cloned());
    v.sort();
    v.dedup();
    v
}

async fn overridden_types(p: &Parsed) -> Option<Vec<String>> {
    let s = snapshot(p).await?;
    Some(s.cluster.overrides.keys().cloned().collect())
}

/// pause: `cluster`, types, and ids that can be held and are not yet; resume: `cluster`,
/// types, and the labelled ones.
async fn daemon_ids(p: &Parsed, pause: bool) -> Vec<String> {
    let mut v = vec!["cluster".to_string()];
    v.extend(
        DaemonType::ALL.iter().filter(|t| !pause || t.hold_scope() != HoldScope::NotHonoured).map(|t| t.to_string()),
    );
    if let Some(s) = snapshot(p).await {
        v.extend(
            s.daemons
                .iter()
                .filter(|d| {
                    if pause { !d.labelled && d.id.dtype.hold_scope() != HoldScope::NotHonoured } else { d.labelled }
                })
                .map(|d| d.id.to_string())
                .filter(|id| !p.positionals.contains(id)),
        );
    }
    v
}

/// The bash completion script (`completion bash`). It asks the binary itself
/// (`kubectl-ceph_image __complete WORD... PARTIAL`), as kubectl's own scripts ask Cobra, so
/// bash completes exactly what `kubectl ceph-image <TAB>` completes: subcommands, the flags
/// of the subcommand, daemon types, and ids, nodes and images read from the cluster. A
/// static script cannot know a cluster's daemon ids.
pub fn bash_script() -> String {
    r#"# bash completion for kubectl-ceph_image (kubectl ceph-image); generated by `completion bash`
_kubectl_ceph_image() {
    local i w cur prefix="" out directive
    local -a words=() cands=()
    # bash splits `--flag=value` at '=': join the pieces again before asking
    for ((i = 1; i <= COMP_CWORD; i++)); do
        w="${COMP_WORDS[i]}"
        if [[ "$w" == "=" && ${#words[@]} -gt 0 ]]; then
            words[${#words[@]}-1]+="="
        elif [[ ${#words[@]} -gt 0 && "${words[${#words[@]}-1]}" == -*= && $i -gt 1 && "${COMP_WORDS[i-1]}" == "=" ]]; then
            words[${#words[@]}-1]+="$w"
        else
            words+=("$w")
        fi
    done
    cur="${words[${#words[@]}-1]}"
    # bash replaces only the part after '=': candidates lose `--flag=`
    if [[ "$cur" == -*=* && "${COMP_WORDS[COMP_CWORD]}" != "$cur" ]]; then
        prefix="${cur%%=*}="
    fi
    out=$("${COMP_WORDS[0]}" __complete "${words[@]}" 2>/dev/null) || return 0
    directive="${out##*:}"
    while IFS= read -r w; do
        [[ -z "$w" || "$w" == :* ]] && continue
        w="${w%%$'	'*}"
        cands+=("${w#"$prefix"}")
    done <<< "$out"
    COMPREPLY=("${cands[@]}")
    if [[ ${#cands[@]} -eq 0 && $(( ${directive:-0} & 4 )) -eq 0 ]]; then
        compopt -o default 2>/dev/null
    fi
    return 0
}
complete -F _kubectl_ceph_image kubectl-ceph_image kubectl-ceph-image
"#
    .to_string()
}

/// Print candidates and the directive, as kubectl expects. A candidate from the cluster
/// with a control, format or bidi character in it (or a line break, which would split it)
/// is left out: it would be inserted into the command line, where an escaped form names
/// nothing. What is printed goes through the sanitising writer all the same.
pub fn print(cands: &[String], directive: u32) {
    let mut s = String::new();
    for c in cands.iter().filter(|c| safe_candidate(c)) {
        s.push_str(c);
        s.push('\n');
    }
    s.push_str(&format!(":{directive}\n"));
    crate::output::emit(&s);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_flags_subcommand_and_positionals() {
        let p = parse(&w(&["-n", "storage", "--context=prod", "pause", "osd.1", "--node"]));
        assert_eq!(p.subcommand.as_deref(), Some("pause"));
        assert_eq!(p.namespace.as_deref(), Some("storage"));
        assert_eq!(p.context.as_deref(), Some("prod"));
        assert_eq!(p.positionals, ["osd.1"]);
        assert_eq!(p.pending_flag.as_deref(), Some("--node"));
    }

    #[tokio::test]
    async fn offline_completions() {
        let (c, d) = complete(&w(&["st"])).await;
        assert_eq!(c.len(), 1);
        assert!(c[0].starts_with("status\t"));
        assert_eq!(d, NO_FILE);
        // images come from the cluster: none reachable, no candidates (and no error)
        let (c, _) = complete(&w(&["set", "--kubeconfig", "/nonexistent", "mgr", ""])).await;
        assert!(c.is_empty(), "{c:?}");
        let (c, _) = complete(&w(&["--kubeconfig", "/nonexistent", "set", ""])).await;
        assert!(c.contains(&"base".to_string()) && c.contains(&"rbdmirror".to_string()));
        let (c, _) = complete(&w(&["status", "-o", "j"])).await;
        assert_eq!(c, ["json"]);
        let (c, _) = complete(&w(&["set", "--dry-run=s"])).await;
        assert_eq!(c, ["--dry-run=server"]);
        let (c, _) = complete(&w(&["pause", "--no"])).await;
        assert!(c.iter().any(|x| x.starts_with("--node\t")), "{c:?}");
        let (_, d) = complete(&w(&["--kubeconfig", ""])).await;
        assert_eq!(d, DEFAULT, "file names for --kubeconfig");
    }

    #[tokio::test]
    async fn upgrade_completes_its_subcommands_their_flags_and_failure_domains() {
        let (c, _) = complete(&w(&["upgrade", "st"])).await;
        assert!(c.iter().any(|x| x.starts_with("status\t")), "{c:?}");
        let (c, _) = complete(&w(&["upgrade", "status", "--"])).await;
        assert!(!c.iter().any(|x| x.starts_with("--canary") || x.starts_with("--yes")), "{c:?}");
        let (c, _) = complete(&w(&["upgrade", "pause", "--"])).await;
        assert!(c.iter().any(|x| x.starts_with("--yes")), "{c:?}");
        let (c, _) = complete(&w(&["upgrade", "quay.io/ceph/ceph:v20.2.6", "--ca"])).await;
        assert!(c.iter().any(|x| x.starts_with("--canary")), "{c:?}");
        let (c, _) = complete(&w(&["upgrade", "x:1", "--batch-by", ""])).await;
        assert_eq!(c, vec!["host", "rack", "zone"]);
    }
}
