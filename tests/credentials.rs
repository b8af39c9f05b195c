//! Credentials that expire (issue #22, kind 10): an exec credential plugin whose token lasts
//! 3 s carries a staged upgrade and a `set --wait` that last longer to the end, renewed
//! before it expires (its `expirationTimestamp`) or, without one, when the server answers
//! 401; a plugin that fails at renewal stops the command in kubectl's words with the
//! journal of what was done. And a client certificate of X.509 version 1, which kubectl
//! takes and rustls does not, named as such (reliability 14).
//!
//! Embedded server only: rook-sim accepts `<token>~<unix ms>` as its user until that time
//! (rook-sim/src/server/rbac.rs). kube-apiserver's static token file cannot rotate, and a
//! token webhook or a short-lived client certificate per renewal (the control plane's CA
//! key signing one every 3 s) is more machinery than this test harness has today: no
//! real-control-plane variant.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use rook_sim::{Crd, OperatorConfig, Sim, SimOptions, Topology};

const IMG: &str = "quay.io/ceph/ceph:v20.2.6";
const LIFE_MS: u64 = 3000;

/// A cluster whose daemons take their time, so that a command outlives several tokens.
fn slow(osds: usize, ms: u64) -> Sim {
    let operator = OperatorConfig {
        daemon_delay: Duration::from_millis(ms),
        ready_delay: Duration::from_millis(ms),
        osd_batch: 2,
        ..Default::default()
    };
    Sim::start(SimOptions {
        topology: Topology { osds, ..Default::default() },
        crd: Crd::Proposed,
        operator,
        ..Default::default()
    })
    .expect("simulated cluster starts")
}

/// The plugin: each run appends a line to `$COUNT_FILE` and prints a token of the
/// simulation's user that expires `LIFE_MS` later. `$MODE`: `expiry` states the expiry
/// (rounded down to the second, as RFC 3339 without fractions), `silent` does not (only
/// the 401 tells), `fail-renewal` states it and exits 1 on every run after the first.
fn plugin_script(dir: &Path) -> PathBuf {
    let p = dir.join("get-token");
    std::fs::write(
        &p,
        "#!/bin/sh\necho run >> \"$COUNT_FILE\"\n\
         if [ \"$MODE\" = fail-renewal ] && [ \"$(wc -l < \"$COUNT_FILE\")\" -gt 1 ]; then\n\
           echo \"plugin-stdout $BASE\"; echo \"plugin-stderr $BASE\" >&2; exit 1\nfi\n\
         until=$(( $(date +%s%3N) + LIFE_MS ))\n\
         exp=$(date -u -d \"@$(( until / 1000 ))\" +%Y-%m-%dT%H:%M:%SZ)\n\
         if [ \"$MODE\" = silent ]; then stamp=''; else stamp=\",\\\"expirationTimestamp\\\":\\\"$exp\\\"\"; fi\n\
         printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\
         \"status\":{\"token\":\"%s~%s\"%s}}' \"$BASE\" \"$until\" \"$stamp\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

struct Setup {
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    count: PathBuf,
    script: PathBuf,
}

/// A kubeconfig for `sim` whose user is the plugin in `mode`.
fn setup(sim: &Sim, mode: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let script = plugin_script(dir.path());
    let count = dir.path().join("count");
    let kubeconfig = dir.path().join("config");
    let ca = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &sim.ca_pem);
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster:\n    server: {}\n    \
             certificate-authority-data: {ca}\ncontexts:\n- name: sim\n  context: {{cluster: sim, user: u, namespace: \
             {}}}\ncurrent-context: sim\nusers:\n- name: u\n  user:\n    exec:\n      apiVersion: \
             client.authentication.k8s.io/v1\n      interactiveMode: Never\n      command: {}\n      env:\n      \
             - {{name: BASE, value: \"{}\"}}\n      - {{name: MODE, value: {mode}}}\n      - {{name: LIFE_MS, value: \
             \"{LIFE_MS}\"}}\n      - {{name: COUNT_FILE, value: \"{}\"}}\n",
            sim.url,
            ns(sim),
            script.display(),
            sim.token(),
            count.display()
        ),
    )
    .unwrap();
    Setup { _dir: dir, kubeconfig, count, script }
}

fn runs(count: &Path) -> usize {
    std::fs::read_to_string(count).map(|s| s.lines().count()).unwrap_or(0)
}

fn run_as(s: &Setup, args: &[&str]) -> (Run, Duration) {
    let start = Instant::now();
    let o = plugin_at(&s.kubeconfig).args(args).write_stdin("").output().expect("plugin runs");
    let r = Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    (r, start.elapsed())
}

fn unauthorized(sim: &Sim) -> usize {
    sim.log().iter().filter(|r| r.status == 401).count()
}

#[test]
fn a_staged_upgrade_outlives_its_token_renewed_before_it_expires() {
    let sim = slow(6, 400);
    let s = setup(&sim, "expiry");
    let (r, took) = run_as(&s, &["-v", "upgrade", IMG, "--yes", "--timeout", "60s"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Upgrade done"), "{}", r.stdout);
    assert!(took > Duration::from_millis(3 * LIFE_MS), "the upgrade took {took:?}: not several tokens long");
    assert!(runs(&s.count) >= 3, "the plugin ran {} times in {took:?}", runs(&s.count));
    // renewed ahead of the expiry it stated: the server seldom refuses one (a request sent
    // in the last moment of a token may still meet it)
    assert!(unauthorized(&sim) <= 2, "{} requests answered 401", unauthorized(&sim));
    assert!(!r.stderr.contains(sim.token()) && !r.stdout.contains(sim.token()), "a token in the output");
}

#[test]
fn set_wait_outlives_a_token_that_states_no_expiry_renewed_on_401() {
    let sim = slow(12, 500);
    let s = setup(&sim, "silent");
    // a watch outlives its token, as on kube-apiserver (authenticated when it opens), until
    // the server ends it (--min-request-timeout there): then it opens again with one that
    // ran out. Here the server ends every watch each second.
    let done = std::sync::atomic::AtomicBool::new(false);
    let (r, took) = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1000));
                sim.drop_watches();
            }
        });
        let out = run_as(&s, &["-v", "set", "osd", IMG, "--yes", "--wait", "--timeout", "60s"]);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        out
    });
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(took > Duration::from_millis(LIFE_MS + 1000), "set --wait took {took:?}: not longer than a token");
    // each 401 renewed the token once and the request went again
    let refused = unauthorized(&sim);
    assert!(refused >= 1, "no request met an expired token in {took:?}");
    assert_eq!(runs(&s.count), refused + 1, "one renewal per token that ran out");
    assert!(!r.stderr.contains(sim.token()) && !r.stdout.contains(sim.token()), "a token in the output");
}

#[test]
fn a_plugin_that_fails_at_renewal_stops_the_command_with_the_journal() {
    let sim = slow(6, 400);
    let s = setup(&sim, "fail-renewal");
    let (r, _) = run_as(&s, &["-v", "upgrade", IMG, "--yes", "--timeout", "60s"]);
    assert_ne!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let want = format!(
        "Unable to connect to the server: getting credentials: exec: executable {} failed with exit code 1",
        s.script.display()
    );
    assert_eq!(r.stderr.matches(&want).count(), 1, "said once: {}", r.stderr);
    // the journal: the stage's writes, or the upgrade's stages done and left
    assert!(
        ["write(s) done", "The upgrade stopped here", "did not start"].iter().any(|j| r.stderr.contains(j)),
        "no journal: {}",
        r.stderr
    );
    for text in [&r.stdout, &r.stderr] {
        assert!(!text.contains(sim.token()) && !text.contains("plugin-std"), "the plugin's output: {text}");
    }
}

/// Issue #22, reliability 14: a client certificate with an X.509 v1 structure (what
/// `openssl x509 -req` makes without extensions) fails in rustls/webpki, which parse v3
/// only; kubectl takes it. Said so, in a usage error naming the context, before any
/// request.
#[test]
fn a_version_1_client_certificate_is_named_as_such_and_nothing_is_sent() {
    let sim = sim_with(Crd::Proposed, 3);
    let dir = tempfile::tempdir().unwrap();
    let openssl = |args: &[&str]| {
        let o = std::process::Command::new("openssl").args(args).current_dir(dir.path()).output().expect("openssl");
        assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "k.pem",
        "-subj",
        "/CN=v1user",
        "-out",
        "r.csr",
    ]);
    openssl(&["x509", "-req", "-in", "r.csr", "-signkey", "k.pem", "-days", "1", "-out", "c.pem"]);
    let text = std::process::Command::new("openssl")
        .args(["x509", "-in", "c.pem", "-noout", "-text"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("Version: 1 (0x0)"), "openssl made a v1 certificate");
    let b64 = |f: &str| {
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, std::fs::read(dir.path().join(f)).unwrap())
    };
    let ca = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &sim.ca_pem);
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster:\n    server: {}\n    \
             certificate-authority-data: {ca}\ncontexts:\n- name: v1\n  context: {{cluster: sim, user: u, namespace: \
             {}}}\ncurrent-context: v1\nusers:\n- name: u\n  user:\n    client-certificate-data: {}\n    \
             client-key-data: {}\n",
            sim.url,
            ns(&sim),
            b64("c.pem"),
            b64("k.pem")
        ),
    )
    .unwrap();
    let before = sim.log().len();
    let o = plugin_at(&kubeconfig).args(["status"]).write_stdin("").output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("client certificate of context \"v1\": it is an X.509 version 1 certificate"), "{stderr}");
    assert!(stderr.contains("kubectl accepts it"), "{stderr}");
    assert_eq!(sim.log().len(), before, "nothing sent");
}
