//! The request log tests assert on: every request the simulated apiserver answered.

use std::sync::Mutex;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub verb: String,
    pub resource: String,
    pub name: Option<String>,
    pub status: u16,
    /// The request body of writes (the exact patch a client sent).
    pub body: Option<String>,
    pub user_agent: String,
    /// For `pods/exec`: the command it ran (argv, the `command` parameters in order), as
    /// the request asked it, whether it was allowed or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
}

impl LoggedRequest {
    /// create, update, patch, delete, not counting `dryRun=All` ones, nor `pods/exec`: a
    /// command run in a container changes no object (its RBAC verb is `create` all the
    /// same); what it asked of Ceph is in `command`, for tests that check that.
    pub fn is_mutating(&self) -> bool {
        crate::server::faults::WRITE_VERBS.contains(&self.verb.as_str())
            && self.resource != "pods/exec"
            && !self.is_dry_run()
    }

    /// As the server read it: from the query, but a DELETE with a body takes its options
    /// from the body alone (`api::delete_options`).
    pub fn is_dry_run(&self) -> bool {
        if self.method == "DELETE" {
            let q = crate::server::request::parse_query(&self.query);
            let body = self.body.as_deref().unwrap_or_default().as_bytes();
            return crate::server::request::delete_options(body, &q)
                .is_ok_and(|o| o["dryRun"].as_array().is_some_and(|a| !a.is_empty() && a.iter().all(|v| v == "All")));
        }
        self.query.split('&').any(|kv| kv == "dryRun=All")
    }

    pub fn is_write_attempt(&self) -> bool {
        crate::server::faults::WRITE_VERBS.contains(&self.verb.as_str())
    }
}

#[derive(Default)]
pub struct RequestLog {
    entries: Mutex<Vec<LoggedRequest>>,
}

impl RequestLog {
    pub fn push(&self, r: LoggedRequest) {
        self.entries.lock().expect("lock").push(r);
    }

    pub fn entries(&self) -> Vec<LoggedRequest> {
        self.entries.lock().expect("lock").clone()
    }

    pub fn clear(&self) {
        self.entries.lock().expect("lock").clear();
    }

    pub fn mutating(&self) -> Vec<LoggedRequest> {
        self.entries().into_iter().filter(LoggedRequest::is_mutating).collect()
    }
}
