//! The `ceph` CLI as it answers inside a Rook pod (issue 23 item 7): the one entry point
//! every exec path of the simulation calls - the embedded server's `pods/exec` and, on the
//! real control plane, the simulated kubelets' exec server - so both answer alike.
//!
//! Today a placeholder: every command is unknown (exit 127, as a shell answers a missing
//! program). The simulated Ceph (OSDs up or down with their pods, placement groups over the
//! failure domains, `ok-to-stop`, `versions`, `health detail`, flags) fills it in.

use std::sync::Arc;

use crate::SimState;

/// What a command run in a container left: its stdout and stderr (bytes, as the exec
/// API's channels carry them) and its exit code (0 success; as `sh` and Ceph exit otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecOutcome {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i32,
}

/// Run `command` (argv, `command[0]` the program) in container `container` of pod
/// `ns/pod`, as the simulation's containers answer. Async: a fault may make it hang.
pub async fn exec(_state: &Arc<SimState>, _ns: &str, _pod: &str, _container: &str, command: &[String]) -> ExecOutcome {
    let program = command.first().map(String::as_str).unwrap_or_default();
    ExecOutcome { stdout: Vec::new(), stderr: format!("sh: {program}: not found\n").into_bytes(), exit_code: 127 }
}
