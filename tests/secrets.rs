//! Credentials as kubectl handles them: a canary token, client key, exec `env` value,
//! exec argument and exec output never appear on stdout, stderr or in a written file, on any
//! path (success, 401, 403, TLS failure, exec failure, exec garbage, a kubeconfig that does
//! not parse, a proxy that fails, `-v`); the exec plugin runs once per command; proxies
//! from `HTTPS_PROXY` and `proxy-url` through a CONNECT proxy, `NO_PROXY` direct; kubectl's
//! kubeconfig rules (insecure with a CA refused, missing `KUBECONFIG` files skipped).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use common::*;
use rook_sim::{Crd, Fault, FaultKind, OperatorConfig, Sim, SimOptions, Topology};

const CANARY: &str = "CANARY7f3e";
const IMG: &str = "quay.io/ceph/ceph:v19.2.3";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A simulated cluster whose user token is a canary.
fn canary_sim() -> Sim {
    Sim::start(SimOptions {
        topology: Topology { osds: 3, ..Default::default() },
        crd: Crd::Proposed,
        operator: OperatorConfig { daemon_delay: std::time::Duration::ZERO, ..Default::default() },
        token: Some(format!("{CANARY}-token")),
        ..Default::default()
    })
    .expect("simulated cluster starts")
}

/// How the kubeconfig's user authenticates.
enum User<'a> {
    Token(&'a str),
    /// The exec plugin script, in mode `ok`, `fail` or `garbage`.
    Exec {
        script: &'a Path,
        mode: &'a str,
        count: &'a Path,
    },
}

struct Kc<'a> {
    server: String,
    ca_pem: Option<&'a str>,
    extra_cluster: &'a str,
    user: User<'a>,
}

/// A kubeconfig with a client certificate and key (the key's PEM is a secret too).
fn kubeconfig(kc: &Kc, key: &(String, String)) -> String {
    let ca = kc.ca_pem.map(|c| format!("    certificate-authority-data: {}\n", b64(c))).unwrap_or_default();
    let user = match &kc.user {
        User::Token(t) => format!("    token: {t}\n"),
        User::Exec { script, mode, count } => format!(
            "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      interactiveMode: Never\n      \
             command: {}\n      args: [\"--secret-arg\", \"{CANARY}-arg\"]\n      env:\n      \
             - {{name: SECRET_ENV, value: {CANARY}-env}}\n      - {{name: MODE, value: {mode}}}\n      \
             - {{name: COUNT_FILE, value: \"{}\"}}\n",
            script.display(),
            count.display()
        ),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster:\n    server: {}\n{ca}{}\
         contexts:\n- name: sim\n  context: {{cluster: sim, user: u, namespace: rook-ceph}}\ncurrent-context: sim\n\
         users:\n- name: u\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n{user}",
        kc.server,
        kc.extra_cluster,
        b64(&key.0),
        b64(&key.1),
    )
}

/// The exec credential plugin: counts its runs, prints canaries to stderr always; `ok`
/// prints the sim's token, `fail` exits 1 after printing canaries, `garbage` prints them.
fn plugin_script(dir: &Path, token: &str) -> PathBuf {
    let p = dir.join("get-token");
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\necho run >> \"$COUNT_FILE\"\necho \"{CANARY}-stderr $SECRET_ENV $*\" >&2\n\
             case \"$MODE\" in\n\
             ok) printf '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\
             \"status\":{{\"token\":\"{token}\",\"expirationTimestamp\":\"2999-01-01T00:00:00Z\"}}}}' ;;\n\
             fail) echo \"{CANARY}-stdout $SECRET_ENV\"; exit 1 ;;\n\
             *) echo \"{CANARY}-garbage $SECRET_ENV $*\" ;;\nesac\n"
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    p
}

fn runs(count: &Path) -> usize {
    std::fs::read_to_string(count).map(|s| s.lines().count()).unwrap_or(0)
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_with(kubeconfig: &Path, env: &[(&str, &str)], args: &[&str]) -> Out {
    let mut c = plugin_at(kubeconfig);
    for k in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY"] {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.args(args).write_stdin("").output().expect("plugin runs");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// No canary, and no piece of the client key, in anything the plugin printed.
fn assert_clean(what: &str, o: &Out, key_pem: &str) {
    for (name, text) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
        assert!(!text.contains(CANARY), "{what}: the canary is on {name}:\n{text}");
        for line in key_pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!text.contains(line), "{what}: a line of the client key is on {name}:\n{text}");
        }
        assert!(!text.contains(&b64(key_pem)[..40]), "{what}: the client key's base64 is on {name}");
    }
}

fn identity() -> (String, String) {
    rook_sim::server::tls::client_identity("canary-user").expect("client identity")
}

#[test]
fn no_credential_on_any_path() {
    let sim = canary_sim();
    let key = identity();
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("config");
    let script = plugin_script(dir.path(), sim.token());
    let count = dir.path().join("count");
    let write = |kc: &Kc| std::fs::write(&kc_path, kubeconfig(kc, &key)).unwrap();
    let base = |user| Kc { server: sim.url.clone(), ca_pem: Some(&sim.ca_pem), extra_cluster: "", user };
    let commands: [&[&str]; 3] = [&["status"], &["status", "-v"], &["set", "mgr", IMG, "--yes", "-v"]];

    // success, token and exec
    for user in [User::Token(sim.token()), User::Exec { script: &script, mode: "ok", count: &count }] {
        write(&base(user));
        for args in commands {
            let o = run_with(&kc_path, &[], args);
            assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
            assert_clean(&format!("success {args:?}"), &o, &key.1);
        }
    }
    // 401: a wrong token
    let wrong = format!("{CANARY}-wrong");
    write(&base(User::Token(&wrong)));
    for args in commands {
        let o = run_with(&kc_path, &[], args);
        assert_eq!(o.code, 1, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains("Unauthorized"), "{}", o.stderr);
        assert_clean(&format!("401 {args:?}"), &o, &key.1);
    }
    // 403
    write(&base(User::Token(sim.token())));
    let id = sim.faults().add(Fault::new(FaultKind::Forbidden));
    for args in commands {
        let o = run_with(&kc_path, &[], args);
        assert_eq!(o.code, 1, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains("Forbidden"), "{}", o.stderr);
        assert_clean(&format!("403 {args:?}"), &o, &key.1);
    }
    sim.faults().remove(id);
    // TLS: a CA that did not sign the server's certificate
    let other = sim_with(Crd::Proposed, 1);
    write(&Kc { ca_pem: Some(&other.ca_pem), ..base(User::Token(sim.token())) });
    for args in commands {
        let o = run_with(&kc_path, &[], args);
        assert_eq!(o.code, 1, "{args:?}: {}", o.stderr);
        assert!(o.stderr.to_lowercase().contains("certificate"), "{}", o.stderr);
        assert_clean(&format!("TLS {args:?}"), &o, &key.1);
    }
    // exec failure and exec garbage
    for (mode, words) in [("fail", "failed with exit code 1"), ("garbage", "decoding stdout: not JSON")] {
        write(&base(User::Exec { script: &script, mode, count: &count }));
        for args in commands {
            let o = run_with(&kc_path, &[], args);
            assert_eq!(o.code, 1, "{mode} {args:?}: {}", o.stderr);
            assert!(o.stderr.contains("getting credentials: ") && o.stderr.contains(words), "{}", o.stderr);
            assert_clean(&format!("exec {mode} {args:?}"), &o, &key.1);
        }
    }
    // a kubeconfig that does not parse, the token line included
    let broken =
        kubeconfig(&base(User::Token(sim.token())), &key).replace("current-context: sim\n", "current-context: [sim\n");
    std::fs::write(&kc_path, broken).unwrap();
    for args in commands {
        let o = run_with(&kc_path, &[], args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(
            o.stderr.contains(&format!("error loading config file {:?}: yaml: line", kc_path.display().to_string())),
            "{}",
            o.stderr
        );
        assert_clean(&format!("syntax {args:?}"), &o, &key.1);
    }
    // a proxy that refuses, with a password in its URL, from the environment and the kubeconfig
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!("http://user:{CANARY}-pw@{}", closed.local_addr().unwrap());
    drop(closed);
    let port = sim.url.rsplit(':').next().unwrap();
    let remote = format!("https://0.0.0.0:{port}");
    write(&Kc {
        server: remote.clone(),
        extra_cluster: "    tls-server-name: localhost\n",
        ..base(User::Token(sim.token()))
    });
    for args in commands {
        let o = run_with(&kc_path, &[("HTTPS_PROXY", &proxy)], args);
        assert_eq!(o.code, 1, "{args:?}: {}", o.stderr);
        assert_clean(&format!("proxy env {args:?}"), &o, &key.1);
    }
    let extra = format!("    tls-server-name: localhost\n    proxy-url: {proxy}\n");
    write(&Kc { server: remote, extra_cluster: &extra, ..base(User::Token(sim.token())) });
    for args in commands {
        let o = run_with(&kc_path, &[], args);
        assert_eq!(o.code, 1, "{args:?}: {}", o.stderr);
        assert_clean(&format!("proxy-url {args:?}"), &o, &key.1);
    }
    assert!(
        !std::fs::read_dir(dir.path()).unwrap().any(|e| {
            let p = e.unwrap().path();
            p != kc_path && p != script && std::fs::read_to_string(&p).is_ok_and(|t| t.contains(CANARY))
        }),
        "a file the plugin wrote holds a canary"
    );
}

#[test]
fn the_exec_plugin_runs_once_per_command() {
    let sim = canary_sim();
    let key = identity();
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("config");
    let script = plugin_script(dir.path(), sim.token());
    let count = dir.path().join("count");
    let kc = Kc {
        server: sim.url.clone(),
        ca_pem: Some(&sim.ca_pem),
        extra_cluster: "",
        user: User::Exec { script: &script, mode: "ok", count: &count },
    };
    std::fs::write(&kc_path, kubeconfig(&kc, &key)).unwrap();
    let mut expected = 0;
    for args in [&["status"][..], &["set", "mgr", IMG, "--yes"], &["pause", "osd.0", "osd.1", "--yes"]] {
        let before = sim.log().len();
        let o = run_with(&kc_path, &[], args);
        assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
        expected += 1;
        assert_eq!(runs(&count), expected, "{args:?}: one run of the plugin per command");
        assert!(sim.log().len() - before > 2, "{args:?}: several requests shared that one credential");
    }
}

/// A CONNECT proxy on loopback that sends every tunnel to `target`, whatever host was
/// asked for, and records what each CONNECT asked for and whether it carried credentials.
struct Proxy {
    addr: String,
    seen: Arc<Mutex<Vec<(String, bool)>>>,
}

fn connect_proxy(target: String) -> Proxy {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(client) = conn else { continue };
            let (record, target) = (record.clone(), target.clone());
            std::thread::spawn(move || tunnel(client, &target, &record));
        }
    });
    Proxy { addr, seen }
}

fn tunnel(client: TcpStream, target: &str, record: &Mutex<Vec<(String, bool)>>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        head.push(line);
    }
    let asked = head.first().and_then(|l| l.strip_prefix("CONNECT ")).and_then(|l| l.split(' ').next());
    let auth = head.iter().any(|h| h.to_ascii_lowercase().starts_with("proxy-authorization:"));
    record.lock().unwrap().push((asked.unwrap_or("not a CONNECT").to_string(), auth));
    let Ok(upstream) = TcpStream::connect(target) else { return };
    let mut c = client;
    c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").unwrap();
    let (mut c_read, mut u_write) = (reader, upstream.try_clone().unwrap());
    let (mut u_read, mut c_write) = (upstream, c);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_read, &mut u_write);
        let _ = u_write.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut u_read, &mut c_write);
    let _ = c_write.shutdown(std::net::Shutdown::Write);
}

#[test]
fn proxies_as_kubectl_uses_them() {
    let sim = canary_sim();
    let key = identity();
    let sim_addr = sim.url.trim_start_matches("https://").to_string();
    let port = sim_addr.rsplit(':').next().unwrap().to_string();
    let proxy = connect_proxy(sim_addr.clone());
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("config");
    // Go never sends a request for localhost or a loopback address through HTTPS_PROXY,
    // so the server is named 0.0.0.0 (not loopback to Go or Rust; Linux connects it to the
    // local host) and verified as localhost, the name on the simulated server's certificate.
    let server = format!("https://0.0.0.0:{port}");
    let write = |extra: &str| {
        let kc = Kc {
            server: server.clone(),
            ca_pem: Some(&sim.ca_pem),
            extra_cluster: extra,
            user: User::Token(sim.token()),
        };
        std::fs::write(&kc_path, kubeconfig(&kc, &key)).unwrap();
    };
    let seen = || proxy.seen.lock().unwrap().clone();
    write("    tls-server-name: localhost\n");
    let via = format!("http://{}", proxy.addr);

    let o = run_with(&kc_path, &[("HTTPS_PROXY", &via)], &["status", "-v"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains(&format!("proxy {via}")), "-v names the proxy: {}", o.stderr);
    let tunnels = seen();
    assert!(!tunnels.is_empty() && tunnels.iter().all(|(t, _)| *t == format!("0.0.0.0:{port}")), "{tunnels:?}");

    // lower case works too; NO_PROXY (either case) covering the server: direct
    let before = seen().len();
    for env in [
        &[("https_proxy", via.as_str()), ("NO_PROXY", "0.0.0.0")][..],
        &[("HTTPS_PROXY", &via), ("no_proxy", "10.0.0.0/8,0.0.0.0,")],
    ] {
        let o = run_with(&kc_path, env, &["status"]);
        assert_eq!(o.code, 0, "{env:?}: {}", o.stderr);
        assert_eq!(seen().len(), before, "{env:?}: the proxy saw a connection");
    }
    // HTTP_PROXY is for http:// servers: an https server goes direct
    let o = run_with(&kc_path, &[("HTTP_PROXY", &via)], &["status"]);
    assert_eq!((o.code, seen().len()), (0, before), "{}", o.stderr);
    // a loopback server never goes through HTTPS_PROXY (kubectl neither)
    let loopback =
        Kc { server: sim.url.clone(), ca_pem: Some(&sim.ca_pem), extra_cluster: "", user: User::Token(sim.token()) };
    std::fs::write(&kc_path, kubeconfig(&loopback, &key)).unwrap();
    let o = run_with(&kc_path, &[("HTTPS_PROXY", &via)], &["status"]);
    assert_eq!((o.code, seen().len()), (0, before), "{}", o.stderr);

    // proxy-url in the kubeconfig, with credentials: used even where NO_PROXY covers the server
    write(&format!("    tls-server-name: localhost\n    proxy-url: http://u:{CANARY}-pw@{}\n", proxy.addr));
    let o = run_with(&kc_path, &[("NO_PROXY", "*")], &["status", "-v"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(!o.stderr.contains(CANARY), "{}", o.stderr);
    let after = seen();
    assert!(
        after.len() > before && after[before..].iter().all(|(_, auth)| *auth),
        "{after:?}: Proxy-Authorization sent"
    );
}

#[test]
fn kubeconfig_values_kubectl_refuses_exit_2_and_send_nothing() {
    let sim = canary_sim();
    let key = identity();
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("config");
    let token = User::Token(sim.token());
    for (extra, ca, reason) in [
        (
            "    insecure-skip-tls-verify: true\n",
            true,
            "specifying a root certificates file with the insecure flag is not allowed",
        ),
        (
            "    proxy-url: ftp://u:pw@p.example:21\n",
            true,
            "invalid 'proxy-url' for cluster \"sim\": unsupported scheme \"ftp\"",
        ),
    ] {
        let kc = Kc {
            server: sim.url.clone(),
            ca_pem: ca.then_some(sim.ca_pem.as_str()),
            extra_cluster: extra,
            user: User::Token(sim.token()),
        };
        std::fs::write(&kc_path, kubeconfig(&kc, &key)).unwrap();
        for args in [&["status"][..], &["set", "mgr", IMG, "--yes"], &["pause", "osd.1", "--yes"]] {
            let before = sim.log().len();
            let o = run_with(&kc_path, &[], args);
            assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
            assert!(o.stderr.contains(reason), "{args:?}: {}", o.stderr);
            assert_eq!(sim.log().len(), before, "{args:?}: a request was sent");
        }
    }
    // insecure without a CA is kubectl's too: accepted
    let kc = Kc {
        server: sim.url.clone(),
        ca_pem: None,
        extra_cluster: "    insecure-skip-tls-verify: true\n",
        user: token,
    };
    std::fs::write(&kc_path, kubeconfig(&kc, &key)).unwrap();
    let o = run_with(&kc_path, &[], &["status"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
}

#[test]
fn missing_files_in_a_kubeconfig_list_are_skipped() {
    let sim = sim(Crd::Proposed);
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("gone");
    let list = std::env::join_paths([gone.as_path(), sim.kubeconfig()]).unwrap();
    let o = plugin(&sim).env("KUBECONFIG", &list).args(["status", "-o", "json"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let none = std::env::join_paths([gone.as_path(), dir.path().join("also-gone").as_path()]).unwrap();
    let o = plugin(&sim).env("KUBECONFIG", &none).args(["status"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("Config not found: ") && err.contains("also-gone"), "{err}");
}

#[cfg(unix)]
#[test]
fn demo_kubeconfig_out_is_0600_even_over_a_0644_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("kc");
    std::fs::write(&out, "old").unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
    let sim = Sim::start(SimOptions { kubeconfig_out: Some(out.clone()), ..Default::default() }).unwrap();
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    assert!(std::fs::read_to_string(&out).unwrap().contains(sim.token()));
    assert_eq!(std::fs::metadata(sim.admin_token_file()).unwrap().permissions().mode() & 0o777, 0o600);
}

/// On the real control plane, straight to kube-apiserver (no front in between): the token
/// users' tokens and `certuser`'s client key never appear on stdout or stderr, with `-v` and
/// `--v=9`, on success (the real authenticators: a bearer token, a client certificate), on
/// the real RBAC's 403, the real authenticator's 401 and a TLS failure.
#[test]
fn no_credential_of_the_real_servers_users_on_any_path() {
    use common::control_plane::control_plane;
    let cp = control_plane(Crd::Proposed);
    let sim = cp.sim("secrets", 3);
    let ns = ns(&sim);
    for user in ["editor", "certuser"] {
        cp.bind(user, &ns, &["ceph-image-viewer", "ceph-image-editor"]);
    }
    // every credential the control plane has: its token users' tokens, certuser's key
    let tokens: Vec<String> = std::fs::read_to_string(cp.dir().join("pki/tokens.csv"))
        .unwrap()
        .lines()
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    assert!(tokens.len() >= 3 && tokens.iter().all(|t| t.len() >= 16), "{tokens:?}");
    let key_pem = std::fs::read_to_string(cp.dir().join("pki/certuser.key")).unwrap();
    let clean = |what: &str, o: &Out| {
        for (name, text) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
            for t in &tokens {
                assert!(!text.contains(t.as_str()), "{what}: a token is on {name}:\n{text}");
            }
            assert!(!text.contains(CANARY), "{what}: the canary is on {name}:\n{text}");
        }
        assert_clean(what, o, &key_pem);
    };
    let list = format!("GET /apis/ceph.rook.io/v1/namespaces/{ns}/cephclusters");
    let n = ns.as_str();
    let commands: [&[&str]; 4] = [
        &["-n", n, "status"],
        &["-n", n, "status", "-v"],
        &["-n", n, "status", "--v=9"],
        &["-n", n, "pause", "osd.1", "--yes", "-v"],
    ];
    // success, as a token user and as the client-certificate user
    for user in ["editor", "certuser"] {
        for args in commands {
            let o = run_with(&cp.kubeconfig(user), &[], args);
            assert_eq!(o.code, 0, "{user} {args:?}: {}", o.stderr);
            if args.iter().any(|a| a.starts_with("-v") || a.starts_with("--v")) {
                assert!(o.stderr.contains(&list), "{user} {args:?}: the requests are logged: {}", o.stderr);
            }
            clean(&format!("{user} {args:?}"), &o);
        }
        run_with(&cp.kubeconfig(user), &[], &["-n", n, "resume", "osd.1", "--yes"]);
    }
    assert!(!cp.requests("certuser", &ns).is_empty(), "the server authenticated the client certificate");
    // 403: viewer has no binding in this namespace
    for args in commands {
        let o = run_with(&cp.kubeconfig("viewer"), &[], args);
        assert_eq!(o.code, 1, "403 {args:?}: {}", o.stderr);
        assert!(o.stderr.contains("Forbidden") && o.stderr.contains("User \"viewer\""), "{}", o.stderr);
        clean(&format!("403 {args:?}"), &o);
    }
    let dir = tempfile::tempdir().unwrap();
    let editor = std::fs::read_to_string(cp.kubeconfig("editor")).unwrap();
    let editor_token = editor.split("token: ").nth(1).unwrap().trim().to_string();
    // 401: a token the server does not know
    let kc = dir.path().join("wrong-token");
    std::fs::write(&kc, editor.replace(&editor_token, &format!("{CANARY}-wrong"))).unwrap();
    for args in commands {
        let o = run_with(&kc, &[], args);
        assert_eq!(o.code, 1, "401 {args:?}: {}", o.stderr);
        assert!(o.stderr.contains("Unauthorized"), "{}", o.stderr);
        clean(&format!("401 {args:?}"), &o);
    }
    // TLS: a CA that did not sign the server's certificate, for a token and for a client key
    let ca = |kc: &str| kc.split("certificate-authority-data: ").nth(1).unwrap().lines().next().unwrap().to_string();
    for user in ["editor", "certuser"] {
        let text = std::fs::read_to_string(cp.kubeconfig(user)).unwrap();
        let kc = dir.path().join(format!("wrong-ca-{user}"));
        std::fs::write(&kc, text.replace(&ca(&text), &b64(&sim.ca_pem))).unwrap();
        for args in commands {
            let o = run_with(&kc, &[], args);
            assert_eq!(o.code, 1, "TLS {user} {args:?}: {}", o.stderr);
            assert!(o.stderr.to_lowercase().contains("certificate"), "{}", o.stderr);
            clean(&format!("TLS {user} {args:?}"), &o);
        }
    }
}
