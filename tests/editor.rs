//! The interactive editor through a pseudo-terminal, against the simulated cluster; the
//! editor's writes (`on_both!`) on the real control plane too.

mod common;

use std::collections::BTreeSet;

use common::pty::{CTRL_C, DOWN, ENTER, ESC, Pty, UP};
use common::*;
use rook_sim::resources::DEPLOYMENTS;
use rook_sim::{Crd, Sim};

fn editor(sim: &Sim) -> Pty {
    let mut cmd = std::process::Command::new(bin());
    cmd.env("KUBECONFIG", sim.kubeconfig()).env("TERM", "xterm").env_remove("NO_COLOR");
    let pty = Pty::spawn(cmd);
    pty.expect("Review and submit staged changes (0)");
    pty
}

fn down(p: &mut Pty, n: usize) {
    for _ in 0..n {
        p.send(DOWN);
    }
}

fn up(p: &mut Pty, n: usize) {
    for _ in 0..n {
        p.send(UP);
    }
}

/// From the main menu, `downs` rows above osd: hold osd.1 and osd.10, found by the filter
/// `osd.1`. The osd menu's hold entry is the second (a staged image adds no entry: the menu
/// follows the cluster). The menu keeps its cursor on the row last chosen.
fn stage_hold_of_osd_1_and_10(p: &mut Pty, staged_after: usize, downs: usize) {
    down(p, downs); // osd
    p.send(ENTER);
    p.expect("Hold osd daemons");
    p.send(DOWN);
    p.send(ENTER);
    p.expect("Filter osd daemons by id or node");
    p.send("osd.1");
    p.send(ENTER);
    p.expect("3 daemons to hold");
    p.send(" "); // osd.1
    p.send(DOWN);
    p.send(" "); // osd.10
    p.send(ENTER);
    p.expect(&format!("Review and submit staged changes ({staged_after})"));
}

/// The editor on a terminal of `rows` x `cols`.
fn editor_sized(sim: &Sim, rows: u16, cols: u16) -> Pty {
    let mut cmd = std::process::Command::new(bin());
    cmd.env("KUBECONFIG", sim.kubeconfig()).env("TERM", "xterm").env_remove("NO_COLOR");
    let pty = Pty::spawn_sized(cmd, rows, cols);
    pty.expect_on_screen("Review and submit staged changes (0)");
    pty
}

/// What a person sees: no row wider than the terminal (none wrapped), the header on top.
fn assert_fits_with_header(p: &Pty) {
    let t = p.terminal();
    let screen = t.screen();
    for r in 0..p.size.0 {
        assert!(!screen.row_wrapped(r), "row {r} is longer than {} columns:\n{}", p.size.1, p.rows().join("\n"));
    }
    // CephCluster NAMESPACE/NAME (the simulations name their CephCluster after its namespace)
    let top = p.rows()[0].split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let at = top.strip_prefix("CephCluster ").and_then(|c| c.split_once('/'));
    assert!(at.is_some_and(|(ns, name)| !ns.is_empty() && ns == name), "header not on top:\n{}", p.rows().join("\n"));
}

/// Esc in every prompt goes back to the main menu; a rejected image stays editable;
/// staged changes show on their type's row, with a count of what is selected; discarding
/// and quitting with staged work ask first. At 80x24 and 160x50, every screen fits.
fn every_prompt_at(rows: u16, cols: u16) {
    let sim = sim(Crd::Proposed);
    let mut p = editor_sized(&sim, rows, cols);
    assert_fits_with_header(&p);
    let main = |p: &mut Pty| {
        p.expect_on_screen("Refresh (read the cluster again)");
        assert_fits_with_header(p);
        assert!(!p.rows().iter().any(|r| r.contains("quit): ")), "an answered menu stayed:\n{}", p.rows().join("\n"));
    };
    // the osd menu, Esc
    down(&mut p, 2);
    p.send(ENTER);
    p.expect_on_screen("Set the osd image...");
    p.send(ESC);
    main(&mut p);
    // the image list, Esc
    p.send(ENTER);
    p.expect_on_screen("Set the osd image...");
    p.send(ENTER);
    p.expect_on_screen("Type an image...");
    p.send(ESC);
    main(&mut p);
    // a typed image: rejected, still there to edit; then Esc
    p.send(ENTER);
    p.send(ENTER);
    p.expect_on_screen("Type an image...");
    p.send(ENTER);
    p.expect_on_screen("Image for osd");
    p.send("Not A Valid Image");
    p.send(ENTER);
    p.expect_on_screen("invalid image reference");
    p.expect_on_screen("> Not A Valid Image");
    p.send(ESC);
    main(&mut p);
    // the filter, Esc; then the multi-select, Esc
    p.send(ENTER);
    p.send(DOWN);
    p.send(ENTER);
    p.expect_on_screen("Filter osd daemons by id or node");
    p.send(ESC);
    main(&mut p);
    p.send(ENTER);
    p.send(DOWN);
    p.send(ENTER);
    p.expect_on_screen("Filter osd daemons by id or node");
    p.send(ENTER);
    p.expect_on_screen("12 daemons to hold: 0 of 12 selected");
    assert_fits_with_header_below_top(&p);
    p.send(ESC);
    main(&mut p);
    // stage a hold: the count of selected items, then the type row shows it
    p.send(ENTER);
    p.send(DOWN);
    p.send(ENTER);
    p.expect_on_screen("Filter osd daemons by id or node");
    p.send("osd.1");
    p.send(ENTER);
    p.expect_on_screen("3 daemons to hold: 0 of 3 selected");
    p.send(" ");
    p.expect_on_screen("3 daemons to hold: 1 of 3 selected");
    p.send(ENTER);
    p.expect_on_screen("Review and submit staged changes (1)");
    assert!(p.rows().iter().any(|r| r.contains("osd ") && r.contains("[staged: hold +1]")), "{}", p.rows().join("\n"));
    assert_fits_with_header(&p);
    // Discard asks; no keeps the staged change
    down(&mut p, 10); // from osd (2) to Discard (12)
    p.send(ENTER);
    p.expect_on_screen("Discard 1 staged change(s)?");
    p.send("n");
    p.expect_on_screen("Review and submit staged changes (1)");
    // q with staged work asks too; Esc at that question is a no
    p.send("q");
    p.expect_on_screen("Quit and discard 1 staged change(s)?");
    p.send(ESC);
    p.expect_on_screen("Review and submit staged changes (1)");
    p.send("q");
    p.expect_on_screen("Quit and discard 1 staged change(s)?");
    p.send("y");
    assert_eq!(p.wait(), 0);
    assert!(sim.mutating_requests().is_empty(), "nothing was sent");
}

/// The multi-select replaces the menu below the header: the header is still on top.
fn assert_fits_with_header_below_top(p: &Pty) {
    assert_fits_with_header(p);
}

/// Embedded only: `demo` starts its own in-process cluster; there is no server to choose.
#[test]
fn demo_opens_the_editor_on_an_in_process_cluster() {
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("demo").env("TERM", "xterm").env("KUBECONFIG", "/nonexistent");
    let mut p = Pty::spawn(cmd);
    p.expect("CephCluster rook-ceph/rook-ceph");
    p.expect("Review and submit staged changes (0)");
    p.send("q");
    assert_eq!(p.wait(), 0);
}

/// 2000 OSDs at 80x24: the multi-select pages them with the count in view, and the review
/// of an OSD image change is the summarised plan with its totals above the question.
/// Embedded only: 2000 OSDs, which the real controllers would take many minutes to start.
#[test]
fn two_thousand_osds_at_80x24() {
    let sim = sim_with(Crd::Proposed, 2000);
    let mut p = editor_sized(&sim, 24, 80);
    assert_fits_with_header(&p);
    down(&mut p, 2); // osd
    p.send(ENTER);
    p.expect_on_screen("Hold osd daemons");
    p.send(DOWN);
    p.send(ENTER);
    p.expect_on_screen("Filter osd daemons by id or node");
    p.send(ENTER);
    p.expect_on_screen("2000 daemons to hold: 0 of 2000 selected");
    p.expect_on_screen("rows 1-16 of 2000 (PgUp/PgDn: page)");
    p.send("a");
    p.expect_on_screen("2000 daemons to hold: 2000 of 2000 selected");
    p.send("\x1b[6~"); // PgDn
    p.expect_on_screen("rows 17-32 of 2000");
    assert_fits_with_header(&p);
    p.send(ESC);
    p.expect_on_screen("Review and submit staged changes (0)");
    // an OSD image, reviewed: the plan is summarised and ends with its totals
    p.send(ENTER);
    p.expect_on_screen("Set the osd image...");
    p.send(ENTER);
    p.expect_on_screen("Type an image...");
    p.send(ENTER);
    p.send("registry.example.com/ceph:v20.2.5");
    p.send(ENTER);
    p.expect_on_screen("Review and submit staged changes (1)");
    down(&mut p, 9); // from osd (2) to Review (11)
    p.send(ENTER);
    p.expect_on_screen(&format!("Submit these changes to CephCluster {0}/{0}?", ns(&sim)));
    let rows = p.rows();
    let q = rows.iter().position(|r| r.contains("Submit these changes")).unwrap();
    assert!(rows[q - 1].starts_with("Total: 2000 pod(s) of 2000 daemon(s) restart"), "{}", rows.join("\n"));
    let review = p.screen();
    let review = review.rsplit("Staged:").next().unwrap();
    assert!(review.lines().count() < 60, "summarised, not one line per pod: {review}");
    p.send("n");
    p.expect_on_screen("Not submitted; the changes stay staged.");
    p.send("q");
    p.expect_on_screen("Quit and discard 1 staged change(s)?");
    p.send("y");
    assert_eq!(p.wait(), 0);
    assert!(sim.mutating_requests().is_empty());
}

// On the embedded server only, for the suite's time (about 18 s each on the real control
// plane): these screens, keys and refusals send nothing, and read what the plan and status
// read on either server; the editor's writes run on both below.

#[test]
fn declining_at_the_confirmation_sends_nothing() {
    let sim = sim(Crd::Proposed);
    let mut p = editor(&sim);
    down(&mut p, 10); // base image
    p.send(ENTER);
    p.expect("Image for every type without an override");
    p.send(ENTER);
    p.send("quay.io/ceph/ceph:v20.2.5");
    p.send(ENTER);
    p.expect("Review and submit staged changes (1)");
    down(&mut p, 1); // from base (10) to Review (11)
    p.send(ENTER);
    p.expect("Submit these changes");
    p.send("n");
    p.expect("Not submitted; the changes stay staged.");
    p.send(ESC); // quit from the main menu: staged work, so it asks
    p.expect("Quit and discard 1 staged change(s)?");
    p.send("y");
    p.expect("1 staged change(s) discarded; nothing was sent");
    assert_eq!(p.wait(), 0);
    assert!(sim.mutating_requests().is_empty(), "{:?}", sim.mutating_requests());
}

#[test]
fn ctrl_c_exits_130_with_the_cursor_shown() {
    let sim = sim(Crd::Proposed);
    let mut p = editor(&sim);
    p.send(DOWN);
    p.send(CTRL_C);
    assert_eq!(p.wait(), 130);
    let raw = p.raw();
    let hide = raw.rfind("\x1b[?25l");
    let show = raw.rfind("\x1b[?25h");
    assert!(show.is_some() && show > hide, "the cursor is shown again after it was last hidden");
    assert!(sim.mutating_requests().is_empty());
}

#[test]
fn without_a_terminal_no_subcommand_is_a_usage_error() {
    let sim = sim(Crd::Proposed);
    let r = run(&sim, &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("status, set, unset, pause, resume"), "{}", r.stderr);
}

#[test]
fn every_prompt_fits_and_goes_back_at_80x24() {
    every_prompt_at(24, 80);
}

#[test]
fn every_prompt_fits_and_goes_back_at_160x50() {
    every_prompt_at(50, 160);
}

/// Released Rook: setting a type's image explains the fence at the terminal's width and
/// Esc goes back without sending anything.
#[test]
fn the_fence_offer_fits_and_esc_goes_back() {
    let sim = sim(Crd::Released);
    let mut p = editor_sized(&sim, 24, 80);
    down(&mut p, 1); // mgr
    p.send(ENTER);
    p.expect_on_screen("Set the mgr image...");
    p.send(ENTER);
    p.expect_on_screen("Pin mgr with the fence strategy...");
    assert!(p.rows().iter().any(|r| r.contains("no spec.cephVersion.imageOverrides")), "{}", p.rows().join("\n"));
    let t = p.terminal();
    assert!((0..24).all(|r| !t.screen().row_wrapped(r)), "fits 80 columns:\n{}", p.rows().join("\n"));
    p.send(ESC);
    p.expect_on_screen("Review and submit staged changes (0)");
    assert_fits_with_header(&p);
    p.send("q");
    assert_eq!(p.wait(), 0);
    assert!(sim.mutating_requests().is_empty());
}

on_both! {
    fn setting_the_mgr_image_changes_only_its_override() {
        let sim = sim(Crd::Proposed);
        let before = cluster_fields(&sim);
        let mut p = editor(&sim);
        down(&mut p, 1); // mgr
        p.send(ENTER);
        p.expect("Set the mgr image...");
        p.send(ENTER);
        p.expect("Type an image...");
        p.send(ENTER); // type one
        p.expect("Image for mgr (imageOverrides.mgr), e.g.");
        p.send("Not A Valid Image");
        p.send(ENTER);
        p.expect("invalid image reference");
        // clear the line and type a valid one
        p.send(&"\x7f".repeat(20));
        p.send("registry.example.com/ceph:v20.2.5");
        p.send(ENTER);
        p.expect("Review and submit staged changes (1)");
        assert!(sim.mutating_requests().is_empty(), "staging sends nothing");
        down(&mut p, 10); // from mgr (1) to Review (11)
        p.send(ENTER);
        p.expect(&format!("Submit these changes to CephCluster {0}/{0}?", ns(&sim)));
        assert!(p.screen().contains("mgr.a"), "the plan was shown first");
        p.send("y");
        p.expect(&format!("cephcluster.ceph.rook.io/{} patched", ns(&sim)));
        p.send("q");
        assert_eq!(p.wait(), 0);
        let mut after = cluster_fields(&sim);
        assert_eq!(
            after["spec"]["cephVersion"]["imageOverrides"],
            serde_json::json!({"mgr": "registry.example.com/ceph:v20.2.5"})
        );
        after["spec"]["cephVersion"].as_object_mut().unwrap().remove("imageOverrides");
        let mut b = before;
        for v in [&mut after, &mut b] {
            v["metadata"].as_object_mut().unwrap().remove("managedFields");
        }
        assert_eq!(after, b, "nothing else changed");
        assert_eq!(sim.mutating_requests().len(), 1);
    }

    fn holding_two_osds_found_by_the_filter_labels_exactly_those() {
        let sim = sim(Crd::Proposed);
        let mut p = editor(&sim);
        stage_hold_of_osd_1_and_10(&mut p, 1, 2);
        down(&mut p, 9); // from osd (2) to Review (11)
        p.send(ENTER);
        p.expect("Submit these changes");
        p.send("y");
        p.expect("deployment.apps/rook-ceph-osd-10 labeled");
        p.send("q");
        assert_eq!(p.wait(), 0);
        let labelled: BTreeSet<String> = sim
            .list(&DEPLOYMENTS, &ns(&sim))
            .into_iter()
            .filter(|d| d["metadata"]["labels"].get("ceph.rook.io/do-not-reconcile").is_some())
            .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(labelled, BTreeSet::from(["rook-ceph-osd-1".to_string(), "rook-ceph-osd-10".to_string()]));
    }

    /// Issue 12: an OSD image change staged with holds on some OSDs. The holds land before the
    /// CephCluster patch that starts the rollout, so no held OSD restarts; the others do.
    fn an_image_change_with_holds_never_restarts_a_held_daemon() {
        let sim = sim(Crd::Proposed);
        let before = pod_names(&sim, "rook-ceph-osd");
        let mut p = editor(&sim);
        down(&mut p, 2); // osd
        p.send(ENTER);
        p.expect("Set the osd image...");
        p.send(ENTER);
        p.expect("Type an image...");
        p.send(ENTER);
        p.expect("Image for osd (imageOverrides.osd), e.g.");
        p.send("registry.example.com/ceph:v20.2.5");
        p.send(ENTER);
        p.expect("Review and submit staged changes (1)");
        stage_hold_of_osd_1_and_10(&mut p, 2, 0);
        down(&mut p, 9); // from osd (2) to Review (11)
        p.send(ENTER);
        p.expect("Submit these changes");
        p.send("y");
        p.expect(&format!("cephcluster.ceph.rook.io/{} patched", ns(&sim)));
        p.send("q");
        assert_eq!(p.wait(), 0);
        // The simulated operator rolls the OSDs it may: wait (bounded, a minute) until it is done.
        let held = ["rook-ceph-osd-1-", "rook-ceph-osd-10-"];
        let is_held = |n: &str| held.iter().any(|h| n.starts_with(h));
        let mut after = pod_names(&sim, "rook-ceph-osd");
        for _ in 0..1200 {
            let replaced = before.iter().filter(|b| !is_held(b)).all(|b| !after.contains(b));
            if replaced && after.len() == before.len() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            after = pod_names(&sim, "rook-ceph-osd");
        }
        for b in &before {
            if is_held(b) {
                assert!(after.contains(b), "held {b} was restarted: {after:?}");
            } else {
                assert!(!after.contains(b), "{b} should have been replaced: {after:?}");
            }
        }
        let order: Vec<String> = sim
            .mutating_requests()
            .iter()
            .map(|l| format!("{} {}", l.resource, l.name.clone().unwrap_or_default()))
            .collect();
        let cluster_at = order.iter().position(|o| o.starts_with("cephclusters")).expect("the CephCluster patch");
        assert_eq!(cluster_at, 2, "both holds land before the CephCluster patch: {order:?}");
    }

    /// After a submit the operator replaces pods and moves the resourceVersion: the next
    /// review plans from a fresh read (the new pods), and its submit goes through (no 409).
    fn the_plan_after_a_submit_is_fresh() {
        let sim = sim(Crd::Proposed);
        let before = pod_names(&sim, "rook-ceph-mgr");
        let mut p = editor_sized(&sim, 24, 80);
        let set_mgr = |p: &mut Pty, image: &str| {
            down(p, 1);
            p.send(ENTER);
            p.expect_on_screen("Set the mgr image...");
            p.send(ENTER);
            p.expect_on_screen("Type an image...");
            p.send(ENTER);
            p.expect_on_screen("Image for mgr");
            p.send(image);
            p.send(ENTER);
            p.expect_on_screen("Review and submit staged changes (1)");
            down(p, 10); // from mgr (1) to Review (11)
            p.send(ENTER);
            p.expect_on_screen(&format!("Submit these changes to CephCluster {0}/{0}?", ns(&sim)));
        };
        set_mgr(&mut p, "registry.example.com/ceph:v20.2.5");
        assert!(p.screen().contains(&before[0]), "the first plan restarts the running mgr pods");
        p.send("y");
        p.expect_on_screen(&format!("Submitted: cephcluster.ceph.rook.io/{} patched", ns(&sim)));
        // The simulated operator replaces the mgr pods (bounded wait, not a timed assertion).
        let mut after = pod_names(&sim, "rook-ceph-mgr");
        for _ in 0..1200 {
            if after.len() == before.len() && after.iter().all(|a| !before.contains(a)) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            after = pod_names(&sim, "rook-ceph-mgr");
        }
        assert!(after.iter().all(|a| !before.contains(a)), "the operator replaced the mgr pods: {after:?}");
        up(&mut p, 11); // from Review (11) to the top
        set_mgr(&mut p, "registry.example.com/ceph:v20.2.6");
        let screen = p.screen();
        let second = screen.rsplit("Staged:").next().unwrap();
        assert!(second.contains(&after[0]), "the second plan restarts the new pods: {second}");
        assert!(!second.contains(&before[0]), "not the pods already replaced: {second}");
        p.send("y");
        p.expect_on_screen(&format!("Submitted: cephcluster.ceph.rook.io/{} patched", ns(&sim)));
        p.send("q");
        assert_eq!(p.wait(), 0);
        let c = cluster_fields(&sim);
        assert_eq!(c["spec"]["cephVersion"]["imageOverrides"]["mgr"], "registry.example.com/ceph:v20.2.6");
    }

    /// The whole-cluster pause is an action of the main menu: staged, planned, submitted.
    fn pause_cluster_from_the_editor() {
        let sim = sim(Crd::Proposed);
        let mut p = editor_sized(&sim, 24, 80);
        down(&mut p, 12); // types (0-9), base, review, then the cluster pause (nothing staged: no discard)
        p.send(ENTER);
        p.expect_on_screen("Staged (1): pause the whole cluster");
        up(&mut p, 1); // Review
        p.send(ENTER);
        p.expect_on_screen(&format!("Submit these changes to CephCluster {0}/{0}?", ns(&sim)));
        assert!(p.screen().contains("Total: 0 pod(s) of 0 daemon(s) restart"), "the plan, its totals last");
        p.send("y");
        p.expect_on_screen("[whole cluster paused]");
        p.send("q");
        assert_eq!(p.wait(), 0);
        assert_eq!(cluster_fields(&sim)["metadata"]["labels"]["ceph.rook.io/do-not-reconcile"], "true");
    }

    /// A fence made on released Rook is removed from the editor: the type's menu offers it.
    fn unfence_from_the_editor() {
        let sim = sim(Crd::Released);
        run(&sim, &["set", "mgr", "quay.io/ceph/ceph:v20.2.5", "--strategy", "fence", "--yes"]).ok();
        let fenced = |sim: &Sim| {
            sim.list(&DEPLOYMENTS, &ns(sim))
                .into_iter()
                .filter(|d| d["metadata"]["labels"].get("ceph.rook.io/do-not-reconcile").is_some())
                .count()
        };
        assert_eq!(fenced(&sim), 2);
        let mut p = editor_sized(&sim, 24, 80);
        down(&mut p, 1); // mgr
        p.send(ENTER);
        p.expect_on_screen("Remove the fence from 2 mgr daemon(s)...");
        down(&mut p, 2); // set, hold, unfence
        p.send(ENTER);
        p.expect(&format!("Unfence 2 Deployment(s) in {}?", ns(&sim)));
        let t = p.terminal();
        assert!((0..24).all(|r| !t.screen().row_wrapped(r)), "the fence's plan fits 80 columns:\n{}", p.rows().join("\n"));
        p.send("y");
        p.expect("Press Enter to go back.");
        p.send(ENTER);
        p.expect_on_screen("Review and submit staged changes (0)");
        p.send("q");
        assert_eq!(p.wait(), 0);
        assert_eq!(fenced(&sim), 0, "the fence is gone");
    }
}
