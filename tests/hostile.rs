//! A hostile server (issue 13): control characters, bidi overrides and `null`s in every
//! string and collection the plugin reads. No raw control, format or bidi character may
//! reach a terminal, in any output path (status, plans, errors, completion, `--wait`
//! progress); `-o json` round-trips the exact strings; no `null` fails a command.

mod common;

use common::*;
use kubectl_ceph_image::output::is_unsafe;
use rook_sim::resources::{CEPHCLUSTERS, DEPLOYMENTS, PODS};
use rook_sim::{Crd, Sim};
use serde_json::{Value, json};

/// ESC sequences (clear screen, window title, colour), BEL, CR, a C1 CSI, bidi override,
/// isolate, mark and the Arabic letter mark.
const H: &str = "\u{1b}[2J\u{1b}]0;pwned\u{7}\r\u{9b}1m\u{202e}\u{2066}\u{200f}\u{61c}";

const IMG: &str = "quay.io/ceph/ceph:v20.2.5";

/// Terminal text with nothing a terminal would act on: line breaks and tabs only.
fn assert_safe(what: &str, text: &str) {
    if let Some((i, c)) = text.char_indices().find(|(_, c)| is_unsafe(*c) && *c != '\n' && *c != '\t') {
        panic!("{what}: raw U+{:04X} at byte {i}:\n{text}", c as u32);
    }
}

fn hostile(s: &str) -> String {
    format!("{s}{H}")
}

/// The generated cluster, then every field the plugin reads made hostile or null. With
/// `status_nulls`, `null`s in the CephCluster's status too, which the simulated apiserver's
/// schema validation (as a real one) then refuses on the next CephCluster write.
fn hostile_sim(status_nulls: bool) -> Sim {
    let sim = sim(Crd::Proposed);
    let ns = "rook-ceph";
    sim.update(&CEPHCLUSTERS, ns, ns, |c| {
        c["metadata"]["labels"] = Value::Null;
        c["metadata"]["ownerReferences"] = Value::Null;
        c["metadata"]["annotations"] = json!({"meta.helm.sh/release-name": hostile("release"), "x": null});
        c["spec"]["cephVersion"]["imageOverrides"] = json!({"rgw": hostile("quay.io/ceph/ceph:v20.2.4-rgw")});
        c["spec"]["external"] = Value::Null;
        c["spec"]["storage"] = Value::Null;
    })
    .unwrap();
    sim.settle();
    // The simulated Rook writes the health as pods come and go: pin the hostile one.
    sim.set_health(ns, Some(&hostile("HEALTH_WARN")));
    sim.update(&CEPHCLUSTERS, ns, ns, |c| {
        c["status"]["ceph"] = json!({
            "health": hostile("HEALTH_WARN"),
            "versions": {"mon": {hostile("ceph version 20.2.4"): 3}}
        });
        c["status"]["version"] = json!({"image": "quay.io/ceph/ceph:v20.2.4", "version": hostile("20.2.4")});
        if status_nulls {
            c["status"]["ceph"]["versions"]["osd"] = Value::Null;
            c["status"]["ceph"]["versions"][hostile("overall")] = json!({"x": null});
            c["status"]["version"]["image"] = Value::Null;
        }
    })
    .unwrap();
    sim.settle();
    sim.update(&DEPLOYMENTS, ns, "rook-ceph-osd-0", |d| {
        d["metadata"]["annotations"] = Value::Null;
        d["metadata"]["labels"]["topology-location-host"] = hostile("host").into();
        d["metadata"]["labels"]["rook-version"] = hostile("v1.20.6").into();
        d["metadata"]["ownerReferences"] = Value::Null;
        d["spec"]["template"]["spec"]["nodeSelector"] = Value::Null;
        d["spec"]["template"]["spec"]["initContainers"] = Value::Null;
    })
    .unwrap();
    sim.update(&DEPLOYMENTS, ns, "rook-ceph-osd-1", |d| {
        d["metadata"]["annotations"] = json!({
            "kubectl-ceph-image/fenced-image": hostile("fence"),
            "kubectl-ceph-image/replaced-image": H,
            "kubectl-ceph-image/fenced-at": "2020-01-01T00:00:00Z",
            "y": null
        });
    })
    .unwrap();
    let image = hostile("quay.io/ceph/ceph:v20.2.4");
    sim.update(&DEPLOYMENTS, ns, "rook-ceph-osd-2", |d| {
        for c in d["spec"]["template"]["spec"]["containers"].as_array_mut().unwrap() {
            c["image"] = image.clone().into();
            c["env"] = json!([null, {"name": "CONTAINER_IMAGE", "value": image}, {"name": null, "value": null}]);
        }
    })
    .unwrap();
    // as after a client's write: Kubernetes rolls the pod to the hostile template (else the
    // template Rook writes back is the pod's own, and Kubernetes restarts nothing)
    sim.run_deployment_controller(ns, "rook-ceph-osd-2", true);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !sim
        .list(&PODS, ns)
        .iter()
        .any(|p| p["spec"]["containers"][0]["image"] == image.as_str() && p["status"]["phase"] == "Running")
    {
        assert!(std::time::Instant::now() < deadline, "osd-2 rolled to the hostile template");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // a mgr whose id label is hostile: it restarts on `set mgr`, so `--wait` names it
    sim.update(&DEPLOYMENTS, ns, "rook-ceph-mgr-a", |d| {
        d["metadata"]["labels"]["mgr"] = hostile("a").into();
    })
    .unwrap();
    // a Deployment of the cluster the plugin does not handle: a hostile name and app
    sim.state
        .store()
        .create(
            &DEPLOYMENTS,
            ns,
            json!({"metadata": {"name": hostile("evil"), "labels": {"rook_cluster": ns, "app": hostile("rook-ceph-x")},
                   "annotations": null}, "spec": null}),
            false,
        )
        .unwrap();
    let pods = sim.list(&PODS, ns);
    let osd0 = pods.iter().find(|p| p["metadata"]["name"].as_str().unwrap().starts_with("rook-ceph-osd-0-")).unwrap();
    let name = osd0["metadata"]["name"].as_str().unwrap().to_string();
    sim.update(&PODS, ns, &name, |p| {
        p["spec"]["nodeName"] = hostile("node").into();
        p["spec"]["initContainers"] = Value::Null;
        p["status"]["conditions"] = json!([null, {"type": null, "status": null}]);
        let owners = p["metadata"]["ownerReferences"].clone();
        p["metadata"]["ownerReferences"] = json!([null, owners[0]]);
        p["metadata"]["annotations"] = Value::Null;
    })
    .unwrap();
    sim
}

fn safe_run(sim: &Sim, args: &[&str]) -> Run {
    let r = run(sim, args);
    assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.stderr);
    assert_safe(&format!("{args:?} stdout"), &r.stdout);
    assert_safe(&format!("{args:?} stderr"), &r.stderr);
    r
}

#[test]
fn status_and_plans_escape_what_the_server_sent_and_json_keeps_it_exact() {
    let sim = hostile_sim(true);
    let r = safe_run(&sim, &["status"]).ok();
    for shown in ["HEALTH_WARN\\x1b[2J\\x1b]0;pwned\\x07\\r\\x9b1m\\u202e\\u2066\\u200f\\u061c", "evil\\x1b[2J"] {
        assert!(r.stdout.contains(shown), "{shown} escaped, visibly: {}", r.stdout);
    }
    assert!(r.stdout.contains("fence\\x1b"), "the fence's image: {}", r.stdout);

    let r = safe_run(&sim, &["status", "-o", "json"]).ok();
    let j = r.json();
    assert_eq!(j["health"], hostile("HEALTH_WARN"), "JSON round-trips the exact string");
    assert_eq!(j["imageOverrides"]["rgw"], hostile("quay.io/ceph/ceph:v20.2.4-rgw"));
    assert_eq!(j["detectedVersion"], hostile("20.2.4"));
    assert!(j["notHandled"].as_array().unwrap().iter().any(|n| n["deployment"] == hostile("evil")), "{j}");
    assert!(j["managers"].as_array().unwrap().iter().any(|m| m["name"] == hostile("release")), "{j}");

    // YAML with bidi characters in it goes out as JSON (which is YAML): exact, nothing raw
    let r = safe_run(&sim, &["status", "-o", "yaml"]).ok();
    assert_eq!(r.json()["health"], hostile("HEALTH_WARN"));

    let r = safe_run(&sim, &["set", "mgr", IMG, "--dry-run"]).ok();
    assert!(r.stdout.contains("mgr.a\\x1b[2J"), "the restarting mgr, escaped: {}", r.stdout);
    let r = safe_run(&sim, &["set", "mgr", IMG, "--dry-run", "-o", "json"]).ok();
    let daemons = r.json()["plan"]["daemons"].as_array().unwrap().clone();
    assert!(daemons.iter().any(|d| d["daemon"] == format!("mgr.{}", hostile("a"))), "exact in JSON");

    let r = safe_run(&sim, &["pause", "osd.0", "osd.2", "--dry-run"]).ok();
    assert!(r.stdout.contains("Plan for"), "{}", r.stdout);
    // osd.0's pod on the hostile node is not Ready: the fence's dry run shows the plan and
    // refuses as the run would, the down OSD's host escaped in the refusal
    let r = safe_run(&sim, &["set", "osd", IMG, "--strategy", "fence", "--dry-run"]);
    assert!(r.stdout.contains("Plan for"), "{}", r.stdout);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("refusing to fence") && r.stderr.contains("host\\x1b[2J"), "{}", r.stderr);

    // an error quoting the cluster: the mgr ids it has
    let r = safe_run(&sim, &["pause", "mgr.zz", "--dry-run"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("a\\x1b[2J"), "{}", r.stderr);
    assert!(sim.mutating_requests().is_empty(), "dry runs and refusals send nothing");
}

#[test]
fn completion_offers_no_hostile_candidate() {
    let sim = hostile_sim(true);
    for words in [
        &["__complete", "pause", ""][..],
        &["__complete", "resume", ""][..],
        &["__complete", "set", "mgr", ""][..],
        &["__complete", "set", "rgw", ""][..],
        &["__complete", "pause", "osd", "--node", ""][..],
        &["__complete", "unset", ""][..],
        &["__complete", "--cluster", ""][..],
        &["__complete", "-n", ""][..],
    ] {
        let r = safe_run(&sim, words).ok();
        assert!(r.stdout.ends_with(":4\n"), "{words:?}: {}", r.stdout);
        assert!(!r.stdout.contains("\\x1b"), "a hostile candidate is left out, not escaped: {}", r.stdout);
    }
    let r = safe_run(&sim, &["__complete", "pause", ""]).ok();
    assert!(r.stdout.lines().any(|l| l == "mgr.b") && r.stdout.lines().any(|l| l == "osd.3"), "{}", r.stdout);
    let r = safe_run(&sim, &["__complete", "pause", "osd", "--node", ""]).ok();
    assert!(r.stdout.lines().any(|l| l.starts_with("node-")), "{}", r.stdout);
}

#[test]
fn wait_progress_escapes_daemon_ids() {
    let sim = hostile_sim(false);
    let r = safe_run(&sim, &["set", "mgr", IMG, "--yes", "--wait", "--timeout", "5m"]).ok();
    assert!(r.stderr.contains("waiting for mgr.a\\x1b[2J"), "{}", r.stderr);
    assert!(r.stderr.contains("rollout done"), "{}", r.stderr);
}

/// A server's own error message (a webhook's, a proxy's): a forged line, colour and ESC
/// sequences, and 200 kB.
fn hostile_message() -> String {
    format!("denied\nerror: forged line{H}\u{1b}[31mred\u{1b}[0m{}", "x".repeat(200_000))
}

#[test]
fn server_error_messages_are_escaped_and_bounded_on_reads_and_writes() {
    use rook_sim::{Fault, FaultKind};
    let sim = sim(Crd::Proposed);
    let message = hostile_message();
    let fault = |verb: &str, resource: &str| {
        Fault::new(FaultKind::Message { code: 500, message: message.clone() }).verb(verb).resource(resource)
    };
    sim.faults().add(fault("list", "cephclusters"));
    // colour on: the writers keep SGR sequences then, ours; never the server's
    let read = run(&sim, &["status", "--color", "always"]);
    sim.faults().clear();
    sim.faults().add(fault("patch", "deployments"));
    let write = run(&sim, &["pause", "osd.0", "--yes", "--color", "always"]);
    for (what, r) in [("read", &read), ("write", &write)] {
        assert_eq!(r.code, 1, "{what}: {}", r.stderr);
        assert!(r.stderr.contains("denied\\nerror: forged line\\x1b[2J"), "{what}: escaped, on one line: {}", r.stderr);
        assert!(!r.stderr.lines().any(|l| l.starts_with("error: forged")), "{what}: a forged line: {}", r.stderr);
        for raw in ["\u{1b}[31mred", "\u{1b}[2J", "\u{1b}]0;", "\u{9b}", "\u{202e}"] {
            assert!(!r.stderr.contains(raw), "{what}: {raw:?} from the server reached the terminal");
        }
        assert!(r.stderr.len() < 20_000, "{what}: {} bytes of error", r.stderr.len());
        assert!(r.stderr.contains("more characters)"), "{what}: says how much was cut: {}", &r.stderr[..2000]);
    }
}

/// Strings of the upgrade's state annotation (anyone's who may annotate the CephCluster):
/// a forged line, a concealed text (`ESC[8m`) and the usual hostile characters.
const FORGED: &str = "\nforged: line\u{1b}[8mhidden";

/// A cluster with a paused upgrade (after its canary) whose state was then rewritten with
/// hostile strings, in `phase`.
fn hostile_state(phase: &str) -> Sim {
    let sim = sim(Crd::Proposed);
    run(&sim, &["upgrade", "quay.io/ceph/ceph:v20.2.6", "--yes", "--canary", "1"]).ok();
    let key = "kubectl-ceph-image/upgrade";
    sim.update(&CEPHCLUSTERS, "rook-ceph", "rook-ceph", |c| {
        let mut st: Value = serde_json::from_str(c["metadata"]["annotations"][key].as_str().unwrap()).unwrap();
        st["phase"] = json!(phase);
        st["stage"] = json!(format!("osd batch 2/3{FORGED}{H}"));
        st["message"] = json!(format!("stopped{FORGED}{H}"));
        st["params"]["image"] = json!(format!("quay.io/ceph/ceph:v20.2.6{FORGED}{H}"));
        c["metadata"]["annotations"][key] = json!(st.to_string());
    })
    .unwrap();
    sim
}

fn assert_no_forged_line(what: &str, text: &str) {
    assert!(!text.lines().any(|l| l.trim_start().starts_with("forged")), "{what}: a forged line:\n{text}");
    assert!(!text.contains("\u{1b}[8m"), "{what}: a concealed text reached the terminal");
}

#[test]
fn upgrade_state_strings_are_escaped_in_status_errors_and_prompts() {
    let sim = hostile_state("paused");
    let status = safe_run(&sim, &["upgrade", "status"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert_no_forged_line("upgrade status", &status.stdout);
    assert!(status.stdout.contains("\\nforged: line\\x1b[8mhidden"), "escaped: {}", status.stdout);
    // another image: the one under way is named in the error
    let other = safe_run(&sim, &["upgrade", "quay.io/ceph/ceph:v20.2.7", "--yes"]);
    assert_eq!(other.code, 2, "{}", other.stderr);
    assert!(other.stderr.contains("under way"), "{}", other.stderr);
    assert_no_forged_line("under way", &other.stderr);
    // the pause prompt on a terminal, colour on: the writers keep SGR then, but a question
    // is one line of plain text
    let sim = hostile_state("running");
    let mut cmd = std::process::Command::new(bin());
    cmd.env("KUBECONFIG", sim.kubeconfig()).env("TERM", "xterm").args(["upgrade", "pause", "--color", "always"]);
    let mut p = common::pty::Pty::spawn(cmd);
    p.expect("Pause the upgrade to");
    p.expect("[y/N]");
    let raw = p.raw();
    p.send("n");
    p.wait();
    let prompt = &raw[raw.find("Pause the upgrade to").unwrap()..];
    assert!(prompt.contains("\\nforged: line\\x1b[8mhidden"), "escaped in the prompt: {prompt:?}");
    for bad in ["\u{1b}[8m", "\u{1b}]0;pwned", "\u{202e}", "\u{9b}", "\nforged"] {
        assert!(!prompt.contains(bad), "{bad:?} reached the prompt raw: {prompt:?}");
    }
}
