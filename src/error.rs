//! One error type for the whole plugin, with the exit code each kind maps to
//! (DESIGN §2: 1 cluster/API, 2 bad usage or input, 3 declined; 130 interrupted).

use std::fmt;
use std::time::Duration;

/// A failure answered by the API server, printed as kubectl prints it and naming what
/// the plugin was doing.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiFailure {
    pub verb: String,
    /// `cephclusters.ceph.rook.io "rook-ceph"`, `deployments.apps`
    pub resource: String,
    pub namespace: Option<String>,
    pub code: u16,
    pub reason: String,
    pub message: String,
    /// The server's `Retry-After` (429, 5xx), uncapped: the retry policy caps it.
    pub retry_after: Option<Duration>,
    /// How many times the request was sent before this answer was final.
    pub attempts: u32,
}

/// The server's reason and message are its own words: escaped here, whatever path prints
/// them (a read's error, a write's line in the journal), so that a line break or a colour
/// sequence in them cannot forge a line (`output::clean`); `cluster::api` bounds the
/// message's length.
impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::output::clean;
        let reason = if self.reason.is_empty() { format!("{}", self.code) } else { clean(&self.reason).into_owned() };
        write!(f, "Error from server ({reason}): {}", clean(&self.message))?;
        write!(f, "\n  (while trying to {} {}", self.verb, self.resource)?;
        if let Some(ns) = &self.namespace {
            write!(f, " in namespace {ns}")?;
        }
        if self.attempts > 1 {
            write!(f, "; gave up after {} attempts", self.attempts)?;
        }
        write!(f, ")")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad usage or input: nothing was sent. Exit 2.
    #[error("{0}")]
    Usage(String),
    /// The user said no. Exit 3.
    #[error("declined: nothing was changed")]
    Declined,
    /// Ctrl-C. Exit 130.
    #[error("interrupted")]
    Interrupted,
    #[error("{0}")]
    Api(Box<ApiFailure>),
    /// The server could not be reached or spoke no HTTP.
    #[error("{0}")]
    Connection(String),
    /// kubeconfig problems.
    #[error("{0}")]
    Config(String),
    /// The cluster cannot do what was asked (e.g. its CRD lacks imageOverrides). Exit 1.
    #[error("{0}")]
    Refused(String),
    /// A write did not end as asked (verification, conflicts, partial failure). Exit 1.
    #[error("{0}")]
    Failed(String),
    /// SIGINT (130) or SIGTERM (143) stopped a run of writes; the journal says what was done.
    #[error("interrupted: {journal}")]
    Stopped { code: i32, journal: String },
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            Error::Declined => 3,
            Error::Interrupted => 130,
            Error::Stopped { code, .. } => *code,
            _ => 1,
        }
    }

    pub fn usage(m: impl Into<String>) -> Error {
        Error::Usage(m.into())
    }

    /// The API answered this code.
    pub fn api_code(&self) -> Option<u16> {
        match self {
            Error::Api(a) => Some(a.code),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
