//! Issue 12's fault matrix: for `set`, `pause` of many daemons, a fence and an unfence
//! with `--reconcile-now`, a lost answer, a 409, a 5xx and an interrupt at each of the
//! command's writes. Each case checks the final state, what was printed, and that no
//! write was applied twice (over the run and, after an interrupt, a re-run that finishes
//! the job). Drives the built binary against rook-sim over HTTPS; the set also against the
//! real control plane behind rook-sim's front, the fault proxy (`on_both!`).

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use common::*;
use rook_sim::resources::{CEPHCLUSTERS, DEPLOYMENTS};
use rook_sim::{Crd, Fault, FaultKind, Sim};
use serde_json::Value;

const IMG: &str = "registry.example.com/ceph/ceph:v19.2.3-fix";
const DNR: &str = "ceph.rook.io/do-not-reconcile";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Hit {
    /// The write lands, its answer is lost.
    Lost,
    /// 409 Conflict, as if another writer got there first.
    Conflict,
    /// 500 InternalError, not applied.
    ServerError,
    /// SIGTERM to the plugin just before the write is handled.
    Interrupt,
}

const HITS: [Hit; 4] = [Hit::Lost, Hit::Conflict, Hit::ServerError, Hit::Interrupt];

struct Case {
    crd: Crd,
    osds: usize,
    /// Run before the command (and before the faults).
    setup: fn(&Sim),
    args: &'static [&'static str],
    /// The command's job is done on this cluster.
    done: fn(&Sim) -> bool,
}

fn deployments(sim: &Sim, app: &str) -> Vec<Value> {
    sim.list(&DEPLOYMENTS, &ns(sim)).into_iter().filter(|d| d["metadata"]["labels"]["app"] == app).collect()
}

fn labelled(d: &Value) -> bool {
    d["metadata"]["labels"].get(DNR).is_some()
}

fn fenced_to_img(d: &Value) -> bool {
    let containers = d["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    labelled(d)
        && d["metadata"]["annotations"].as_object().is_some_and(|a| a.values().any(|v| v == IMG))
        && containers.iter().filter(|c| c["name"] == "osd").all(|c| c["image"] == IMG)
}

fn cluster(sim: &Sim) -> Value {
    sim.get(&CEPHCLUSTERS, &ns(sim), &ns(sim)).unwrap()
}

fn cases() -> Vec<(&'static str, Case)> {
    vec![
        (
            "set",
            Case {
                crd: Crd::Proposed,
                osds: 3,
                setup: |_| {},
                args: &["set", "mgr", IMG, "--yes"],
                done: |sim| cluster(sim)["spec"]["cephVersion"]["imageOverrides"]["mgr"] == IMG,
            },
        ),
        (
            "pause",
            Case {
                crd: Crd::Proposed,
                osds: 6,
                setup: |_| {},
                args: &["pause", "osd", "-l", "app=rook-ceph-osd", "--yes"],
                done: |sim| deployments(sim, "rook-ceph-osd").iter().all(labelled),
            },
        ),
        (
            "fence",
            Case {
                crd: Crd::Released,
                osds: 4,
                setup: |_| {},
                args: &["set", "osd", IMG, "--strategy", "fence", "--yes", "--timeout", "60s"],
                done: |sim| deployments(sim, "rook-ceph-osd").iter().all(fenced_to_img),
            },
        ),
        (
            "unfence",
            Case {
                crd: Crd::Released,
                osds: 3,
                setup: |sim| {
                    run(sim, &["set", "mgr", IMG, "--strategy", "fence", "--yes"]).ok();
                },
                args: &["unset", "mgr", "--strategy", "fence", "--reconcile-now", "--yes"],
                done: |sim| deployments(sim, "rook-ceph-mgr").iter().all(|d| !labelled(d)) && !labelled(&cluster(sim)),
            },
        ),
    ]
}

/// The API objects the command writes, in order, from its own dry run: (resource, name).
fn planned_writes(sim: &Sim, args: &[&str]) -> Vec<(String, String)> {
    let mut a = args.to_vec();
    a.extend(["--dry-run", "-o", "json"]);
    let out = run(sim, &a).ok().json();
    out["writes"]
        .as_array()
        .expect("the dry run lists its writes")
        .iter()
        .filter_map(|w| match w["object"].as_object().and_then(|o| o.iter().next()) {
            Some((k, v)) if k == "deployment" => Some(("deployments".to_string(), v.as_str().unwrap().to_string())),
            // named after its namespace, which is each simulation's own on the real server
            Some((k, _)) if k == "cephCluster" => Some(("cephclusters".to_string(), CLUSTER.to_string())),
            // an OSD flag is set through `ceph` in the operator pod, not the API: the Ceph
            // CLI's own faults are tried in tests/upgrade.rs and tests/cli_fence.rs
            Some((k, _)) if k == "osdFlag" => None,
            other => panic!("unknown object {other:?}"),
        })
        .collect()
}

/// How `planned_writes` names the CephCluster.
const CLUSTER: &str = "<the CephCluster>";

/// The name of a planned write's object in `sim`.
fn name_in(sim: &Sim, w: &(String, String)) -> String {
    if w.1 == CLUSTER { ns(sim) } else { w.1.clone() }
}

/// Writes that landed, per object: answered 200, plus the one whose answer was dropped.
fn applied(sim: &Sim, lost: Option<&(String, String)>) -> BTreeMap<(String, String), usize> {
    let mut m = BTreeMap::new();
    for l in sim.mutating_requests() {
        let name = l.name.clone().unwrap_or_default();
        let name = if l.resource == "cephclusters" && name == ns(sim) { CLUSTER.to_string() } else { name };
        let key = (l.resource.clone(), name);
        if l.status == 200 || (l.status == 0 && lost == Some(&key)) {
            *m.entry(key).or_default() += 1;
        }
    }
    m
}

fn spawn(sim: &Sim, args: &[&str]) -> std::process::Child {
    Command::new(bin())
        .env("KUBECONFIG", sim.kubeconfig())
        .env("NO_COLOR", "1")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the plugin runs")
}

/// One command, every write, every fault.
fn matrix(name: &str) {
    let (_, case) = cases().into_iter().find(|(n, _)| *n == name).unwrap();
    let fresh = || {
        let sim = sim_with(case.crd, case.osds);
        (case.setup)(&sim);
        sim.settle();
        sim.clear_log();
        sim
    };
    let writes = planned_writes(&fresh(), case.args);
    assert!(!writes.is_empty(), "{name}: the command writes something");
    // How many times each object is written by the plan.
    let mut expected: BTreeMap<(String, String), usize> = BTreeMap::new();
    for w in &writes {
        *expected.entry(w.clone()).or_default() += 1;
    }
    for (i, w) in writes.iter().enumerate() {
        // The how-many-th write to this object it is.
        let skip = writes[..i].iter().filter(|x| *x == w).count() as u32;
        for hit in HITS {
            let what = format!("{name}: {hit:?} at write {} ({} {}, #{})", i + 1, w.0, w.1, skip + 1);
            let sim = fresh();
            let pid = Arc::new(AtomicI32::new(0));
            match hit {
                Hit::Lost | Hit::Conflict | Hit::ServerError => {
                    let kind = match hit {
                        Hit::Lost => FaultKind::DropAfterApply,
                        Hit::Conflict => FaultKind::Conflict,
                        _ => FaultKind::Status(500),
                    };
                    let name = name_in(&sim, w);
                    sim.faults().add(Fault::new(kind).verb("patch").resource(&w.0).name(&name).skip(skip).times(1));
                }
                Hit::Interrupt => {
                    let pid = pid.clone();
                    sim.faults().before_write_to(
                        &name_in(&sim, w),
                        skip,
                        Box::new(move |_| {
                            // The child's pid is stored right after spawn returns; on a loaded
                            // machine its first write can come before that: wait up to 10 s.
                            for _ in 0..2000 {
                                let p = pid.load(Ordering::SeqCst);
                                if p != 0 {
                                    unsafe { libc::kill(p, libc::SIGTERM) };
                                    return;
                                }
                                std::thread::sleep(Duration::from_millis(5));
                            }
                        }),
                    );
                }
            }
            let child = spawn(&sim, case.args);
            pid.store(child.id() as i32, Ordering::SeqCst);
            let out = child.wait_with_output().unwrap();
            let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            let lost = (hit == Hit::Lost).then_some(w);
            // A signal at the last write can reach a plugin that has already finished it,
            // printed its result and exited 0: then there is nothing to say but the result.
            let finished_first = hit == Hit::Interrupt && out.status.code() == Some(0) && i + 1 == writes.len();
            if hit == Hit::Interrupt && !finished_first {
                assert_eq!(out.status.code(), Some(143), "{what}\n{stdout}\n{stderr}");
                // The journal: every write and what became of it, and what finishes the job.
                assert!(
                    stderr.contains(": done")
                        && (stderr.contains("Running the same command again finishes the job")
                            || stderr.contains("Every write of this run was done")),
                    "{what}: the journal\n{stderr}"
                );
                let first = applied(&sim, None);
                // the API's writes (an OSD flag's line is a `ceph` command's, not the server's)
                let done_lines =
                    stderr.lines().filter(|l| l.ends_with(": done") && !l.contains("ceph osd flag ")).count();
                assert_eq!(done_lines, first.values().sum::<usize>(), "{what}: the journal is the truth\n{stderr}");
                sim.settle();
                let again = run(&sim, case.args);
                assert_eq!(again.code, 0, "{what}: the re-run finishes\n{}\n{}", again.stdout, again.stderr);
            } else {
                assert_eq!(out.status.code(), Some(0), "{what}\n{stdout}\n{stderr}");
            }
            sim.settle();
            assert!((case.done)(&sim), "{what}: the job is done\n{stdout}\n{stderr}");
            assert_eq!(applied(&sim, lost), expected, "{what}: each write applied exactly once\n{stdout}\n{stderr}");
        }
    }
}

/// Embedded only: 24 writes, each under 4 faults, a simulation each (minutes of starts on
/// the real server; the set runs there, through the same fault proxy).
#[test]
fn pause_of_many_daemons_under_every_fault() {
    matrix("pause");
}

/// Embedded only: 16 simulations, as above.
#[test]
fn fence_under_every_fault() {
    matrix("fence");
}

/// Embedded only: 13 simulations, each fenced first (about 4 minutes on the real server).
#[test]
fn unfence_with_reconcile_now_under_every_fault() {
    matrix("unfence");
}

on_both! {
    fn set_under_every_fault() {
        matrix("set");
    }
}
