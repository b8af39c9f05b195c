//! `deploy/rbac.yaml` is what the plugin needs, and no more: every command passes with its
//! roles bound in rook-sim (which answers 403 as the apiserver's RBAC does), a write with
//! the read-only role fails naming the verb and resource, and removing any one verb of any
//! rule makes a command fail (each rule has a witness: the command that needs it). The same
//! on the real control plane's RBAC authoriser (`real_server`), with the roles bound to its
//! token users and the client-certificate user, and its audit log as the record of what
//! each sent.

mod common;

use std::path::Path;

use common::*;
use kubectl_ceph_image::cluster::api::ATTEMPTS;
use rook_sim::server::rbac::{Policy, Role, roles_from_text};
use rook_sim::{Crd, Fault, FaultKind, OperatorConfig, Sim, SimOptions, Topology};

/// Who the tests act as: the roles bound, as `demo --role` names them.
const VIEWER: [&str; 3] = ["ceph-image-viewer:rook-ceph", "ceph-image-crd-reader", "ceph-image-ceph-exec:rook-ceph"];
const EDITOR: [&str; 3] = ["ceph-image-editor:rook-ceph", "ceph-image-crd-reader", "ceph-image-ceph-exec:rook-ceph"];
/// `upgrade --prepull`: the editor and the pre-pull pods' role.
const PREPULLER: [&str; 4] = [
    "ceph-image-editor:rook-ceph",
    "ceph-image-crd-reader",
    "ceph-image-prepull:rook-ceph",
    "ceph-image-ceph-exec:rook-ceph",
];
/// A staged upgrade of the mons alone.
const UPGRADE_MONS: &[&str] = &["upgrade", "quay.io/ceph/ceph:v20.2.6", "--types", "mon", "--yes", "--timeout", "60s"];
const PREPULL_UPGRADE: &[&str] = &["upgrade", "quay.io/ceph/ceph:v20.2.6", "--prepull", "--yes", "--timeout", "60s"];

const IMG: &str = "quay.io/ceph/ceph:v20.2.5";

fn roles() -> Vec<Role> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/rbac.yaml");
    roles_from_text("deploy/rbac.yaml", &std::fs::read_to_string(path).unwrap()).unwrap()
}

fn bound(roles: &[Role], who: &[&str]) -> Policy {
    Policy::bind(roles, &who.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
}

fn sim_as(policy: Policy) -> Sim {
    Sim::start(SimOptions {
        topology: Topology { osds: 12, ..Default::default() },
        crd: Crd::Proposed,
        operator: OperatorConfig { daemon_delay: std::time::Duration::ZERO, ..Default::default() },
        rbac: Some(policy),
        ..Default::default()
    })
    .expect("simulated cluster starts")
}

fn no_forbidden(sim: &Sim) {
    let refused: Vec<String> =
        sim.log().iter().filter(|r| r.status == 403).map(|r| format!("{} {} {}", r.verb, r.resource, r.path)).collect();
    assert!(refused.is_empty(), "the plugin asked for what the role does not grant: {refused:?}");
}

/// As `no_forbidden`, but for the exec into the operator pod, an optional right (`ceph-image-ceph-exec`).
fn no_forbidden_but_exec(sim: &Sim) {
    let refused: Vec<String> = sim
        .log()
        .iter()
        .filter(|r| r.status == 403 && r.resource != "pods/exec")
        .map(|r| format!("{} {} {}", r.verb, r.resource, r.path))
        .collect();
    assert!(refused.is_empty(), "the plugin asked for what the role does not grant: {refused:?}");
}

fn expect(r: &Run, code: i32, what: &str) {
    assert_eq!(r.code, code, "{what}: exit {}\n{}\n{}", r.code, r.stdout, r.stderr);
}

#[test]
fn read_only_commands_pass_with_the_viewer_role() {
    let sim = sim_as(bound(&roles(), &VIEWER));
    let status = run(&sim, &["status"]);
    expect(&status, 0, "status");
    assert!(
        status.stdout.contains("Image overrides: the CRD has spec.cephVersion.imageOverrides"),
        "{}",
        status.stdout
    );
    assert_eq!(run(&sim, &["status", "-o", "json"]).json()["crdImageOverrides"], true);
    for args in [
        vec!["set", "mgr", IMG, "--dry-run"],
        vec!["set", "base", IMG, "--dry-run"],
        vec!["unset", "mgr", "--dry-run"],
        vec!["pause", "osd.1", "--dry-run"],
        vec!["resume", "osd.1", "--dry-run"],
        vec!["pause", "osd", "--node", "node-01", "--dry-run"],
        vec!["pause", "cluster", "--dry-run"],
        vec!["resume", "cluster", "--dry-run"],
        vec!["set", "mgr", IMG, "--strategy", "fence", "--dry-run"],
        vec!["set", "mgr", IMG, "--dry-run", "-o", "json"],
        vec!["version"],
    ] {
        expect(&run(&sim, &args), 0, &args.join(" "));
    }
    let version = run(&sim, &["version"]);
    assert!(version.stdout.contains("Rook Version: v1.20.6"), "{}", version.stdout);
    let comp = run(&sim, &["__complete", "pause", "osd.1"]);
    assert!(comp.stdout.contains("osd.10"), "completion of ids reads with the viewer role: {}", comp.stdout);
    assert!(sim.mutating_requests().is_empty());
    no_forbidden(&sim);
}

#[test]
fn write_commands_pass_with_the_editor_role() {
    let sim = sim_as(bound(&roles(), &EDITOR));
    for args in [
        vec!["status"],
        vec!["set", "mgr", IMG, "--dry-run=server"],
        vec!["set", "mgr", IMG, "--yes"],
        // --wait: the next command plans from a settled cluster, not a rollback under way
        vec!["unset", "mgr", "--yes", "--wait", "--timeout", "2m"],
        vec!["set", "base", IMG, "--yes", "--wait", "--timeout", "2m"],
        vec!["pause", "osd.1", "osd.2", "--yes"],
        vec!["resume", "osd.1", "osd.2", "--yes"],
        vec!["pause", "osd", "--node", "node-01", "--yes"],
        vec!["resume", "osd", "--node", "node-01", "--yes"],
        vec!["pause", "cluster", "--yes"],
        vec!["resume", "cluster", "--yes"],
        vec!["set", "mgr", "quay.io/ceph/ceph:v20.2.6", "--strategy", "fence", "--yes", "--timeout", "2m"],
        vec!["unset", "mgr", "--strategy", "fence", "--reconcile-now", "--yes"],
        vec!["version"],
    ] {
        expect(&run(&sim, &args), 0, &args.join(" "));
    }
    // A write whose answer is lost at every send is judged by reading the object back: `get`.
    sim.faults().add(lost_answers());
    expect(&run(&sim, &["pause", "osd.3", "--yes"]), 0, "pause with a lost answer");
    no_forbidden(&sim);
}

/// `upgrade --prepull` passes with the editor and the pre-pull role, and leaves no pod; its
/// dry run needs only the viewer's reads.
#[test]
fn an_upgrade_with_prepull_passes_with_the_prepull_role() {
    let sim = sim_as(bound(&roles(), &PREPULLER));
    expect(&run(&sim, PREPULL_UPGRADE), 0, "upgrade --prepull");
    no_forbidden(&sim);
    let left = sim.list(&rook_sim::resources::PODS, "rook-ceph");
    assert!(
        left.iter().all(|p| p["metadata"]["labels"].get("app.kubernetes.io/component").is_none_or(|c| c != "prepull"))
    );
    let sim = sim_as(bound(&roles(), &VIEWER));
    expect(&run(&sim, &["upgrade", "quay.io/ceph/ceph:v20.2.6", "--prepull", "--dry-run"]), 0, "its dry run");
    no_forbidden(&sim);
}

#[test]
fn a_write_with_the_viewer_role_fails_naming_the_verb_and_resource() {
    let sim = sim_as(bound(&roles(), &VIEWER));
    for (args, says) in [
        (
            vec!["pause", "osd.1", "--yes"],
            r#"cannot patch resource "deployments" in API group "apps" in the namespace "rook-ceph""#,
        ),
        (vec!["set", "mgr", IMG, "--yes"], r#"cannot patch resource "cephclusters" in API group "ceph.rook.io""#),
        (vec!["set", "mgr", IMG, "--dry-run=server"], r#"cannot patch resource "cephclusters""#),
        (vec!["pause", "cluster", "--yes"], r#"cannot patch resource "cephclusters""#),
    ] {
        let r = run(&sim, &args);
        expect(&r, 1, &args.join(" "));
        assert!(
            r.stderr.contains("Error from server (Forbidden)") && r.stderr.contains(says),
            "{args:?}: {}",
            r.stderr
        );
    }
    assert!(sim.mutating_requests().iter().all(|r| r.status == 403), "nothing was written");
}

/// Every send of the next Deployment patch lands but its answer is lost (the retry policy
/// sends it `ATTEMPTS` times): only reading the Deployment back tells that it applied.
fn lost_answers() -> Fault {
    Fault::new(FaultKind::DropAfterApply).verb("patch").resource("deployments").times(ATTEMPTS)
}

/// The command that needs one verb of one rule, and how its failure shows.
struct Witness {
    args: &'static [&'static str],
    /// Lose a Deployment patch's answers first (the plugin then reads the object back).
    lose_a_patch_answer: bool,
    /// The plugin degrades instead of failing: exit 0, the Forbidden named on stdout.
    degrades: bool,
}

fn witness(role: &str, resource: &str, verb: &str) -> Option<Witness> {
    let w = |args: &'static [&'static str]| Some(Witness { args, lose_a_patch_answer: false, degrades: false });
    match (role, resource, verb) {
        ("ceph-image-viewer", _, "list") => w(&["status"]),
        ("ceph-image-crd-reader", "customresourcedefinitions", "get") => {
            Some(Witness { args: &["status"], lose_a_patch_answer: false, degrades: true })
        }
        ("ceph-image-editor", "cephclusters" | "deployments" | "pods", "list") => w(&["pause", "osd.1", "--yes"]),
        ("ceph-image-editor", "cephclusters", "get" | "patch") => w(&["set", "mgr", IMG, "--yes"]),
        ("ceph-image-editor", "deployments", "patch") => w(&["pause", "osd.1", "--yes"]),
        ("ceph-image-editor", "deployments", "get") => {
            Some(Witness { args: &["pause", "osd.1", "--yes"], lose_a_patch_answer: true, degrades: false })
        }
        ("ceph-image-editor", "pods", "watch") => w(&["set", "mgr", IMG, "--yes", "--wait", "--timeout", "2m"]),
        // the upgrade reads the cluster once, then follows it (issue 24)
        ("ceph-image-editor", "cephclusters" | "deployments", "watch") => w(UPGRADE_MONS),
        // status asks Ceph in the operator pod; without it, says on stderr why it could not
        ("ceph-image-ceph-exec", "pods/exec", "get" | "create") => {
            Some(Witness { args: &["status"], lose_a_patch_answer: false, degrades: true })
        }
        // create the pods; get: each delete reads its pod first; delete them
        ("ceph-image-prepull", "pods", "create" | "get" | "delete") => w(PREPULL_UPGRADE),
        _ => None,
    }
}

#[test]
fn removing_any_verb_of_any_rule_makes_a_command_fail() {
    let roles = roles();
    let mut checked = 0;
    for (ri, role) in roles.iter().enumerate() {
        let who: &[&str] = match role.name.as_str() {
            "ceph-image-editor" => &EDITOR,
            "ceph-image-prepull" => &PREPULLER,
            _ => &VIEWER,
        };
        for (rule_i, rule) in role.rules.iter().enumerate() {
            for verb in &rule.verbs {
                for resource in &rule.resources {
                    let w = witness(&role.name, resource, verb).unwrap_or_else(|| {
                        panic!(
                            "{} grants {verb} {resource} and no test shows it is needed: add a witness here, or drop it \
                             from deploy/rbac.yaml",
                            role.name
                        )
                    });
                    let mut less = roles.clone();
                    let r = &mut less[ri].rules[rule_i];
                    r.verbs.retain(|v| v != verb);
                    if r.verbs.is_empty() {
                        less[ri].rules.remove(rule_i);
                    }
                    let sim = sim_as(bound(&less, who));
                    if w.lose_a_patch_answer {
                        sim.faults().add(lost_answers());
                    }
                    let out = run(&sim, w.args);
                    let says = format!("cannot {verb} resource \"{resource}\"");
                    let what = format!("{} without {verb} {resource}: {:?}", role.name, w.args);
                    if w.degrades {
                        expect(&out, 0, &what);
                        assert!(out.stdout.contains(&says) || out.stderr.contains(&says), "{what}: {}", out.stdout);
                    } else {
                        expect(&out, 1, &what);
                        assert!(out.stderr.contains(&says), "{what}: {}", out.stderr);
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 19, "every (role, resource, verb) of deploy/rbac.yaml");
}

/// Without the exec role (issue 23 item 8) every command works as before; `status` says in
/// one line why Ceph could not be asked, naming the right, and what is left unchecked.
#[test]
fn without_the_exec_role_every_command_works_and_says_what_it_could_not_check() {
    let sim = sim_as(bound(&roles(), &VIEWER[..2]));
    let status = run(&sim, &["status"]);
    expect(&status, 0, "status");
    let line: Vec<&str> = status.stderr.lines().filter(|l| l.starts_with("Ceph not asked: ")).collect();
    assert_eq!(line.len(), 1, "{}", status.stderr);
    assert!(line[0].contains("cannot get resource \"pods/exec\" in API group \"\" in the namespace \"rook-ceph\""));
    assert!(line[0].contains("Not checked: Ceph's own health and versions"), "{}", line[0]);
    assert_eq!(run(&sim, &["status", "-o", "json"]).json()["ceph"]["reason"], "forbidden");
    for args in [vec!["set", "mgr", IMG, "--dry-run"], vec!["pause", "osd.1", "--dry-run"], vec!["version"]] {
        expect(&run(&sim, &args), 0, &args.join(" "));
    }
    let refused: Vec<String> = sim.log().iter().filter(|r| r.status == 403).map(|r| r.resource.clone()).collect();
    assert!(refused.iter().all(|r| r == "pods/exec"), "only the exec was refused: {refused:?}");
    // with get but not create (Kubernetes 1.35+): the refusal has no reason; the plugin names it
    let mut less = roles();
    less.iter_mut().find(|r| r.name == "ceph-image-ceph-exec").unwrap().rules[0].verbs.retain(|v| v != "create");
    let sim = sim_as(bound(&less, &VIEWER));
    let r = run(&sim, &["status"]);
    expect(&r, 0, "status");
    assert!(r.stderr.contains("is forbidden: cannot create resource \"pods/exec\""), "{}", r.stderr);
}

/// The same roles on the real control plane's RBAC authoriser: deploy/rbac.yaml's
/// ClusterRoles (the control plane applies the file when it starts), bound with
/// RoleBindings in each simulation's namespace to the control plane's token users, the
/// plugin's requests sent on by rook-sim's front as that user. `editor` and `viewer` are
/// bound to the CRD reader cluster-wide once for this test binary (a ClusterRoleBinding,
/// as the file's header binds it); `certuser` (a client certificate) never is: it is the
/// witness of the CRD reader's one verb. The real server's audit log shows what each user
/// sent.
mod real_server {
    use super::*;
    use common::control_plane::{ControlPlane, control_plane};

    /// The control plane of this binary, its token users bound to the CRD reader.
    fn cp() -> &'static ControlPlane {
        static CRD_READER: std::sync::Once = std::sync::Once::new();
        let cp = control_plane(Crd::Proposed);
        CRD_READER.call_once(|| {
            cp.kubectl_ok(
                "admin",
                &[
                    "create",
                    "clusterrolebinding",
                    "ceph-image-crd-reader",
                    "--clusterrole",
                    "ceph-image-crd-reader",
                    "--user",
                    "editor",
                    "--user",
                    "viewer",
                ],
            );
        });
        cp
    }

    /// rook-sim on the real control plane in a namespace of its own, the plugin as `user`
    /// bound there to `roles` (ClusterRoles of the control plane).
    fn sim_as(user: &str, roles: &[&str]) -> (Sim, String) {
        let operator = OperatorConfig {
            daemon_delay: std::time::Duration::ZERO,
            ready_delay: std::time::Duration::from_millis(20),
            ..Default::default()
        };
        let sim = cp().sim_with("rbac", 3, operator, Some(user));
        let ns = ns(&sim);
        cp().bind(user, &ns, roles);
        (sim, ns)
    }

    /// Every write `user` sent to `ns` as the real server audited it (dry runs aside).
    fn writes(user: &str, ns: &str) -> Vec<(String, String, u64)> {
        cp().mutating_requests(user, ns)
    }

    /// Without the exec role `status` says in one line why Ceph could not be asked, in the
    /// real authoriser's words, and what is left unchecked; with it, Ceph answers.
    #[test]
    fn read_only_commands_pass_with_the_viewer_role() {
        let (sim, ns) = sim_as("viewer", &["ceph-image-viewer"]);
        let status = run(&sim, &["status"]);
        expect(&status, 0, "status");
        assert!(
            status.stdout.contains("Image overrides: the CRD has spec.cephVersion.imageOverrides"),
            "{}",
            status.stdout
        );
        let line: Vec<&str> = status.stderr.lines().filter(|l| l.starts_with("Ceph not asked: ")).collect();
        assert_eq!(line.len(), 1, "{}", status.stderr);
        assert!(
            line[0].contains(&format!(
                "User \"viewer\" cannot get resource \"pods/exec\" in API group \"\" in the namespace \"{ns}\""
            )),
            "{}",
            line[0]
        );
        assert!(line[0].contains("Not checked: Ceph's own health and versions"), "{}", line[0]);
        cp().bind("viewer", &ns, &["ceph-image-ceph-exec"]);
        sim.clear_log();
        let ceph = &run(&sim, &["status", "-o", "json"]).ok().json()["ceph"];
        assert_eq!((ceph["asked"].as_bool(), ceph["health"].is_string()), (Some(true), true), "{ceph}");
        for args in [
            vec!["set", "mgr", IMG, "--dry-run"],
            vec!["unset", "mgr", "--dry-run"],
            vec!["pause", "osd.1", "--dry-run"],
            vec!["pause", "osd", "--node", "node-01", "--dry-run"],
            vec!["pause", "cluster", "--dry-run"],
            vec!["set", "mgr", IMG, "--strategy", "fence", "--dry-run"],
            vec!["upgrade", "quay.io/ceph/ceph:v20.2.6", "--prepull", "--dry-run"],
            vec!["version"],
        ] {
            expect(&run(&sim, &args), 0, &args.join(" "));
        }
        let comp = run(&sim, &["__complete", "pause", "osd."]);
        assert!(comp.stdout.contains("osd.2"), "completion of ids reads with the viewer role: {}", comp.stdout);
        no_forbidden(&sim);
        assert!(sim.mutating_requests().is_empty());
        let audited = cp().requests("viewer", &ns);
        assert!(audited.iter().any(|(v, _, c)| v == "list" && *c == 200), "the audit log has the reads: {audited:?}");
        assert_eq!(writes("viewer", &ns), vec![], "the viewer sent no write");
    }

    #[test]
    fn write_commands_pass_with_the_editor_role() {
        let (sim, ns) = sim_as("editor", &["ceph-image-editor"]);
        for args in [
            vec!["set", "mgr", IMG, "--dry-run=server"],
            vec!["set", "mgr", IMG, "--yes", "--wait", "--timeout", "2m"],
            vec!["unset", "mgr", "--yes", "--wait", "--timeout", "2m"],
            vec!["pause", "osd.1", "osd.2", "--yes"],
            vec!["resume", "osd.1", "osd.2", "--yes"],
            vec!["pause", "cluster", "--yes"],
            vec!["resume", "cluster", "--yes"],
            vec!["set", "mgr", "quay.io/ceph/ceph:v20.2.6", "--strategy", "fence", "--yes", "--timeout", "2m"],
            vec!["unset", "mgr", "--strategy", "fence", "--reconcile-now", "--yes"],
        ] {
            expect(&run(&sim, &args), 0, &args.join(" "));
            // `resume cluster` starts Rook's reconcile: the fence after it must not race it
            // (a reconcile that read mgr-b before the fence's label rewrites it after)
            if args == ["resume", "cluster", "--yes"] {
                sim.settle();
            }
        }
        // A write whose answer is lost at every send is judged by reading the object back: `get`.
        sim.faults().add(lost_answers());
        expect(&run(&sim, &["pause", "osd.0", "--yes"]), 0, "pause with a lost answer");
        no_forbidden(&sim);
        // in the real server's audit log: the editor's writes, none refused (a 409 is Rook's
        // status write between a read and a patch, read again and sent again)
        let sent = writes("editor", &ns);
        assert!(!sent.is_empty() && sent.iter().all(|(_, _, c)| *c == 200 || *c == 409), "{sent:?}");
    }

    /// `upgrade --prepull` with the editor and the pre-pull role: the real server admits
    /// the pods, the simulated kubelets pull, and the plugin deletes them again. Of the mons
    /// only (`--types mon`): the pre-pull and the writes of every stage, in a quarter of
    /// the time of a whole upgrade.
    #[test]
    fn an_upgrade_with_prepull_passes_with_the_prepull_role() {
        let (sim, ns) = sim_as("editor", &["ceph-image-editor", "ceph-image-prepull"]);
        let args = ["upgrade", "quay.io/ceph/ceph:v20.2.6", "--prepull", "--types", "mon", "--yes", "--timeout", "60s"];
        let r = run(&sim, &args);
        expect(&r, 0, "upgrade --prepull --types mon");
        // without the exec role Ceph is asked by the plan's check (two commands at once) and
        // by the gates once, refused, and not asked again at each stage
        let refused_exec = sim.log().iter().filter(|r| r.status == 403 && r.resource == "pods/exec").count();
        assert!((1..=3).contains(&refused_exec), "{refused_exec} refused execs\n{}", r.stderr);
        assert!(r.stderr.contains("Ceph could not be asked"), "{}", r.stderr);
        no_forbidden_but_exec(&sim);
        let created: Vec<_> = writes("editor", &ns).into_iter().filter(|(v, _, _)| v == "create").collect();
        assert_eq!(created.len(), 3, "one pre-pull pod per mon's node: {created:?}");
        let left = sim.list(&rook_sim::resources::PODS, &ns);
        assert!(
            left.iter()
                .all(|p| p["metadata"]["labels"].get("app.kubernetes.io/component").is_none_or(|c| c != "prepull"))
        );
    }

    /// The viewer's writes are refused by the real authoriser in its own words, exit 1, and
    /// each command stops at its first refused write: the audit log has exactly those, all 403.
    #[test]
    fn a_write_with_the_viewer_role_fails_naming_the_verb_and_resource() {
        let (sim, ns) = sim_as("viewer", &["ceph-image-viewer"]);
        for (args, says) in [
            (
                vec!["pause", "osd.1", "--yes"],
                format!(
                    r#"User "viewer" cannot patch resource "deployments" in API group "apps" in the namespace "{ns}""#
                ),
            ),
            (
                vec!["set", "mgr", IMG, "--yes"],
                r#"cannot patch resource "cephclusters" in API group "ceph.rook.io""#.into(),
            ),
            (vec!["set", "mgr", IMG, "--dry-run=server"], r#"cannot patch resource "cephclusters""#.into()),
            (vec!["pause", "cluster", "--yes"], r#"cannot patch resource "cephclusters""#.into()),
            // the upgrade follows the cluster with watches, which the viewer may not open:
            // refused before its first write (issue 24)
            (vec!["upgrade", "quay.io/ceph/ceph:v20.2.6", "--yes"], r#"User "viewer" cannot watch resource"#.into()),
        ] {
            let r = run(&sim, &args);
            expect(&r, 1, &args.join(" "));
            assert!(
                r.stderr.contains("Error from server (Forbidden)") && r.stderr.contains(&says),
                "{args:?}: {}",
                r.stderr
            );
        }
        let sent = writes("viewer", &ns);
        assert_eq!(sent.len(), 3, "one refused write per command that writes, but the upgrade: {sent:?}");
        assert!(sent.iter().all(|(v, _, c)| v == "patch" && *c == 403), "nothing was written: {sent:?}");
        assert!(labelled(&sim).is_empty());
    }

    /// A ClusterRole of deploy/rbac.yaml without one verb of one rule, made on the control
    /// plane under a name of its own.
    fn without(role: &Role, rule_i: usize, verb: &str, resource: &str) -> String {
        let name = format!("{}-without-{verb}-{}", role.name, resource.replace('/', "-"));
        let mut rules = Vec::new();
        for (i, r) in role.rules.iter().enumerate() {
            let verbs: Vec<&String> = r.verbs.iter().filter(|v| i != rule_i || *v != verb).collect();
            if verbs.is_empty() {
                continue;
            }
            let mut rule = serde_json::json!({"apiGroups": r.api_groups, "resources": r.resources, "verbs": verbs});
            if !r.resource_names.is_empty() {
                rule["resourceNames"] = r.resource_names.clone().into();
            }
            rules.push(rule);
        }
        let role = serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name}, "rules": rules});
        cp().kubectl_stdin("admin", &["apply", "-f", "-"], &role.to_string());
        name
    }

    /// Each namespaced rule's verbs, one at a time, removed from the role the real server
    /// binds (the editor in a namespace of its own, with the other roles it needs whole):
    /// the witness command fails with the real authoriser's refusal naming that verb (the
    /// exec role's: `status` goes on and says it on stderr; the real kube-apiserver checks
    /// both `get` and `create` on pods/exec). The CRD reader's `get` is witnessed by
    /// `certuser`, who never has it.
    #[test]
    fn removing_any_verb_of_any_rule_makes_a_command_fail() {
        let roles = roles();
        let mut cases = Vec::new();
        for role in roles.iter().filter(|r| r.name != "ceph-image-crd-reader") {
            for (rule_i, rule) in role.rules.iter().enumerate() {
                for verb in &rule.verbs {
                    for resource in &rule.resources {
                        let w = witness(&role.name, resource, verb).expect("every rule has a witness (above)");
                        let less = without(role, rule_i, verb, resource);
                        let mut bound = vec![less];
                        match role.name.as_str() {
                            "ceph-image-prepull" => bound.push("ceph-image-editor".into()),
                            "ceph-image-ceph-exec" => bound.push("ceph-image-viewer".into()),
                            _ => {}
                        }
                        cases.push((role.name.clone(), verb.clone(), resource.clone(), w, bound));
                    }
                }
            }
        }
        assert_eq!(cases.len(), 18, "every (role, resource, verb) of the namespaced roles");
        // a few at a time: each is a simulation on the one control plane
        for chunk in cases.chunks(4) {
            std::thread::scope(|s| {
                for (role, verb, resource, w, bound) in chunk {
                    s.spawn(move || {
                        let bound: Vec<&str> = bound.iter().map(String::as_str).collect();
                        let (sim, ns) = sim_as("editor", &bound);
                        if w.lose_a_patch_answer {
                            sim.faults().add(lost_answers());
                        }
                        let out = run(&sim, w.args);
                        let what = format!("{role} without {verb} {resource}: {:?}", w.args);
                        // the exec's second check (create, Kubernetes 1.35+) is refused
                        // without a reason: the plugin names it
                        let says = match (w.degrades, verb.as_str()) {
                            (true, "create") => format!("is forbidden: cannot create resource \"{resource}\""),
                            _ => format!("User \"editor\" cannot {verb} resource \"{resource}\""),
                        };
                        expect(&out, if w.degrades { 0 } else { 1 }, &what);
                        assert!(out.stderr.contains(&says), "{what}: {}", out.stderr);
                        let refused: Vec<_> =
                            cp().requests("editor", &ns).into_iter().filter(|(_, _, c)| *c == 403).collect();
                        assert!(!refused.is_empty(), "{what}: the audit log has the refusal");
                        // a refused read or patch stops the command before anything is written
                        if matches!(verb.as_str(), "list" | "patch") && !w.lose_a_patch_answer {
                            let sent = writes("editor", &ns);
                            assert!(sent.iter().all(|(_, _, c)| *c == 403), "{what}: nothing written: {sent:?}");
                        }
                    });
                }
            });
        }
        // the CRD reader: without it `status` says it cannot tell, and goes on
        let (sim, _) = sim_as("certuser", &["ceph-image-viewer"]);
        let out = run(&sim, &["status"]);
        expect(&out, 0, "status without the CRD reader");
        assert!(
            out.stdout.contains("User \"certuser\" cannot get resource \"customresourcedefinitions\""),
            "{}",
            out.stdout
        );
    }
}
