//! What every command gets (`Ctx`) and gives (`Out`), and the helpers they share: the CLI's
//! way of printing an error (`Error EBUSY: ...`, the errno as exit code).

use serde_json::Value;

use super::crush::{Mapping, Tree};
use super::health;
use super::model::Cluster;
use super::state::{self, CephState};

/// What the command printed and how it exited.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Out {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Out {
    pub fn ok(stdout: String, stderr: &str) -> Out {
        Out { stdout, stderr: if stderr.is_empty() { String::new() } else { format!("{stderr}\n") }, code: 0 }
    }

    pub fn json(v: &Value) -> Out {
        Out::ok(format!("{v}\n"), "")
    }

    /// `Error EBUSY: <text>` and the errno as exit code, with whatever went to stdout.
    pub fn err(errno: Errno, text: &str, stdout: String) -> Out {
        Out { stdout, stderr: format!("Error {}: {text}\n", errno.name()), code: errno as i32 }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Errno {
    Eperm = 1,
    Enoent = 2,
    Ebusy = 16,
    Einval = 22,
}

impl Errno {
    pub fn name(self) -> &'static str {
        match self {
            Errno::Eperm => "EPERM",
            Errno::Enoent => "ENOENT",
            Errno::Ebusy => "EBUSY",
            Errno::Einval => "EINVAL",
        }
    }
}

/// Everything a command reads.
pub struct Ctx<'a> {
    pub cluster: &'a Cluster,
    pub tree: &'a Tree,
    pub mapping: &'a Mapping,
    pub ceph: &'a CephState,
    pub ns: &'a str,
    /// The versions line of a version (`ceph version 19.2.3-0 (...) squid (stable)`).
    pub version_line: &'a dyn Fn(&str) -> String,
    pub old_version_due: bool,
}

/// The health checks now; starts or resets the DAEMON_OLD_VERSION clock as the mon does.
pub fn health_checks(ctx: &Ctx) -> Vec<health::Check> {
    health::checks(
        ctx.cluster,
        ctx.tree,
        ctx.mapping,
        &health::Inputs { ceph: &ctx.ceph.with(ctx.ns, |s| s.clone()), old_version_due: ctx.old_version_due },
    )
}

/// The version the mon answering runs: the first mon in quorum.
pub fn mon_version(ctx: &Ctx) -> Option<String> {
    let q = ctx.cluster.quorum();
    ctx.cluster.of_kind("mon").filter(|d| q.first() == Some(&d.id)).find_map(|d| d.version.clone())
}

/// `Invalid command: <v> not in <choices>` (ceph_argparse's validation) and exit 22.
pub fn not_in(value: &str, choices: &str, sig: &str) -> Out {
    Out {
        stdout: String::new(),
        stderr: format!("Invalid command: {value} not in {choices}\n{sig}\nError EINVAL: invalid command\n"),
        code: 22,
    }
}

pub fn errno_out(code: i32, text: &str) -> Out {
    let e = match code {
        1 => Errno::Eperm,
        2 => Errno::Enoent,
        16 => Errno::Ebusy,
        _ => Errno::Einval,
    };
    Out::err(e, text, String::new())
}

pub fn not_in_choices(value: &str, choices: &str, sig: &str) -> Out {
    not_in(value, choices, sig)
}

pub fn ok(stdout: String, stderr: &str) -> Out {
    Out::ok(stdout, stderr)
}

pub fn state_of(ctx: &Ctx) -> state::Cluster {
    ctx.ceph.with(ctx.ns, |s| s.clone())
}
