//! Faults on demand, for tests of how clients behave when the API misbehaves: latency,
//! 5xx, dropped connections, 409 storms, 403 for a verb and resource, 429 throttling.

use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Answer with this HTTP status and a matching `Status` body.
    Status(u16),
    /// Answer with this HTTP status and a `Status` whose message is this text, as a
    /// webhook or a proxy words it (control characters and hundreds of kB included).
    Message { code: u16, message: String },
    /// 409 Conflict, as if another writer got there first.
    Conflict,
    /// 403 Forbidden, as RBAC would answer.
    Forbidden,
    /// 429 TooManyRequests as API Priority and Fairness answers it: a `Status` with
    /// `details.retryAfterSeconds` and a `Retry-After` header of that many seconds.
    Throttled { retry_after: u64 },
    /// Close the connection without an answer.
    Drop,
    /// Apply the request, then close the connection without an answer: the client cannot
    /// know that its write landed.
    DropAfterApply,
    /// Never answer: the request is held open until the client gives up (a kube-apiserver
    /// or kubelet that hangs; for `pods/exec`, a `ceph` command that never returns).
    Hang,
}

#[derive(Debug, Clone)]
pub struct Fault {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`; None: any verb.
    pub verb: Option<String>,
    /// Resource plural (`deployments`); None: any. A subresource is matched by its
    /// resource (`pods` also hits `pods/exec`), and `pods/exec` names the exec alone.
    pub resource: Option<String>,
    /// Object name; None: any.
    pub name: Option<String>,
    pub kind: FaultKind,
    /// How many requests it hits; None: every matching request until cleared.
    pub times: Option<u32>,
    /// How many matching requests it lets through first (to hit the second write to an
    /// object, say).
    pub skip: u32,
    /// Given by `Faults::add`, to name it in a listing or remove it.
    pub id: u64,
}

impl Fault {
    pub fn new(kind: FaultKind) -> Fault {
        Fault { verb: None, resource: None, name: None, kind, times: None, skip: 0, id: 0 }
    }
    pub fn verb(mut self, v: &str) -> Self {
        self.verb = Some(v.into());
        self
    }
    pub fn resource(mut self, r: &str) -> Self {
        self.resource = Some(r.into());
        self
    }
    pub fn name(mut self, n: &str) -> Self {
        self.name = Some(n.into());
        self
    }
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }
    pub fn skip(mut self, n: u32) -> Self {
        self.skip = n;
        self
    }
}

pub const WRITE_VERBS: [&str; 4] = ["create", "update", "patch", "delete"];

/// Another client's write, run just before the next write request is handled: the
/// "concurrent writer between the plugin's read and its patch".
pub type Interloper = Box<dyn FnOnce(&mut crate::server::store::Store) + Send>;

/// Another client that acts to its end while one write waits: run with nothing of the
/// simulation locked, so it may itself send requests to the server (another terminal's
/// run of the plugin landing exactly between a client's read and its write).
pub type Hook = Box<dyn FnOnce() + Send>;

/// A hook for a write to one object: its name, how many of its writes go by first, a
/// text the write's body must hold to count, and the hook.
type HookAt = (String, u32, Option<String>, Hook);

#[derive(Default)]
pub struct Faults {
    latency: Mutex<Duration>,
    rules: Mutex<Vec<Fault>>,
    interloper: Mutex<Option<Interloper>>,
    /// Interlopers for the next write to one object (by name).
    interlopers_for: Mutex<Vec<(String, u32, Interloper)>>,
    /// Hooks for a write to one object (by name): how many such writes go by first, and
    /// a text the write's body must hold to count.
    hooks_for: Mutex<Vec<HookAt>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl Faults {
    pub fn set_latency(&self, d: Duration) {
        *self.latency.lock().expect("lock") = d;
    }

    pub fn latency(&self) -> Duration {
        *self.latency.lock().expect("lock")
    }

    /// Adds a rule; returns its id.
    pub fn add(&self, mut f: Fault) -> u64 {
        let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        f.id = id;
        self.rules.lock().expect("lock").push(f);
        id
    }

    /// The rules in force, with what is left of their `times`.
    pub fn rules(&self) -> Vec<Fault> {
        self.rules.lock().expect("lock").clone()
    }

    /// Removes the rule of this id; returns it.
    pub fn remove(&self, id: u64) -> Option<Fault> {
        let mut rules = self.rules.lock().expect("lock");
        let idx = rules.iter().position(|f| f.id == id)?;
        Some(rules.remove(idx))
    }

    /// 409 Conflict on the next `n` writes of any kind.
    pub fn conflict_next_writes(&self, n: u32) {
        for v in ["update", "patch"] {
            self.add(Fault::new(FaultKind::Conflict).verb(v).times(n));
        }
    }

    pub fn before_next_write(&self, f: Interloper) {
        *self.interloper.lock().expect("lock") = Some(f);
    }

    /// Runs `f` just before a write to the object `name` is handled, after `skip` writes
    /// to it went by (the write then goes on): another writer, or a test's signal to the
    /// client, at exactly that write. Unlike [`Faults::before_next_write`] it starts no
    /// reconcile of the simulated operator.
    pub fn before_write_to(&self, name: &str, skip: u32, f: Interloper) {
        self.interlopers_for.lock().expect("lock").push((name.to_string(), skip, f));
    }

    /// Runs `f` just before a write to the object `name` is handled, after `skip` writes to
    /// it went by, with nothing of the simulation locked; the write waits until `f`
    /// returns, then goes on. `f` may be another client's whole run (a second terminal's
    /// `upgrade abort` between this client's read and its write), on the embedded server
    /// and through the front of a real one alike.
    pub fn at_write_to(&self, name: &str, skip: u32, f: Hook) {
        self.hooks_for.lock().expect("lock").push((name.to_string(), skip, None, f));
    }

    /// As [`Faults::at_write_to`], at the first write to `name` whose body holds `text`:
    /// a write known by what it writes, not by its rank (on a real server another
    /// client's write can bring a 409 and a retried write ahead of it).
    pub fn at_write_holding(&self, name: &str, text: &str, f: Hook) {
        self.hooks_for.lock().expect("lock").push((name.to_string(), 0, Some(text.to_string()), f));
    }

    /// The hook for this write to `name` (its body `body`), if one waits for it.
    pub fn take_hook_for(&self, name: Option<&str>, body: &[u8]) -> Option<Hook> {
        let mut v = self.hooks_for.lock().expect("lock");
        let holds = |t: &str| body.windows(t.len()).any(|w| w == t.as_bytes());
        let idx = v.iter().position(|(n, _, text, _)| Some(n.as_str()) == name && text.as_deref().is_none_or(holds))?;
        if v[idx].1 > 0 {
            v[idx].1 -= 1;
            return None;
        }
        Some(v.remove(idx).3)
    }

    pub fn take_interloper(&self) -> Option<Interloper> {
        self.interloper.lock().expect("lock").take()
    }

    /// The interloper for a write to `name`, if one waits for it.
    pub fn take_interloper_for(&self, name: Option<&str>) -> Option<Interloper> {
        let mut v = self.interlopers_for.lock().expect("lock");
        let idx = v.iter().position(|(n, _, _)| Some(n.as_str()) == name)?;
        if v[idx].1 > 0 {
            v[idx].1 -= 1;
            return None;
        }
        Some(v.remove(idx).2)
    }

    pub fn clear(&self) {
        self.rules.lock().expect("lock").clear();
        self.set_latency(Duration::ZERO);
    }

    /// The fault this request meets, if any (consuming one of its `times`). `resource`: as
    /// the request log writes it (`pods/exec`); a rule naming its resource (`pods`) or the
    /// whole of it matches.
    pub fn take(&self, verb: &str, resource: &str, name: Option<&str>) -> Option<FaultKind> {
        let base = resource.split('/').next().unwrap_or_default();
        let mut rules = self.rules.lock().expect("lock");
        let idx = rules.iter().position(|f| {
            f.verb.as_deref().is_none_or(|v| v == verb)
                && f.resource.as_deref().is_none_or(|r| r == base || r == resource)
                && f.name.as_deref().is_none_or(|n| Some(n) == name)
        })?;
        if rules[idx].skip > 0 {
            rules[idx].skip -= 1;
            return None;
        }
        let kind = rules[idx].kind.clone();
        if let Some(t) = rules[idx].times.as_mut() {
            *t -= 1;
            if *t == 0 {
                rules.remove(idx);
            }
        }
        // a conflict rule for update also covers patch of the same request; nothing else to do
        Some(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_and_expire() {
        let f = Faults::default();
        f.add(Fault::new(FaultKind::Status(503)).verb("list").times(2));
        f.add(Fault::new(FaultKind::Forbidden).verb("patch").resource("deployments").name("rook-ceph-osd-3"));
        assert_eq!(f.take("get", "pods", None), None);
        assert_eq!(f.take("list", "pods", None), Some(FaultKind::Status(503)));
        assert_eq!(f.take("list", "pods", None), Some(FaultKind::Status(503)));
        assert_eq!(f.take("list", "pods", None), None);
        assert_eq!(f.take("patch", "deployments", Some("rook-ceph-osd-2")), None);
        assert_eq!(f.take("patch", "deployments", Some("rook-ceph-osd-3")), Some(FaultKind::Forbidden));
        assert_eq!(f.take("patch", "deployments", Some("rook-ceph-osd-3")), Some(FaultKind::Forbidden));
        f.clear();
        f.add(Fault::new(FaultKind::Conflict).verb("patch").skip(1).times(1));
        assert_eq!(f.take("patch", "cephclusters", None), None, "the first is let through");
        assert_eq!(f.take("patch", "cephclusters", None), Some(FaultKind::Conflict));
        assert_eq!(f.take("patch", "cephclusters", None), None);
    }
}
