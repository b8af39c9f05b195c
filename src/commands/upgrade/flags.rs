//! The OSD map flags around the upgrade's OSD stages (issue 23 item 5), opt-out with
//! `--no-noout` / `--no-noautoscale`:
//!
//! - before a stage restarts OSDs: `noout` on the CRUSH nodes of its failure domain (from
//!   Ceph's own `osd tree`) and `noautoscale`; each is recorded in the upgrade's state
//!   (the stage's state write) before it is set, so a killed run's flags are known;
//! - after the stage's gates: its `noout` removed; `noautoscale` once no later stage moves
//!   OSDs;
//! - whenever the run ends (done, a gate or write that failed, a pause, another terminal's
//!   abort, an interrupt), every flag it recorded is removed; a signal outside a run of the
//!   executor removes them too (`execute::on_signal`); after a kill -9, `upgrade resume`
//!   (its first stage wants other flags or none) and `upgrade abort` remove them;
//! - a flag that was set before, not by this upgrade, is left as it is and never removed;
//! - after the last stage of an upgrade to a newer release: `require-osd-release` once
//!   every OSD runs it, where Rook has not set it (`model::osd_flag::require_osd_release_due`).
//!
//! Every change goes through the one executor (`Object::OsdFlag` writes, read back from
//! `ceph osd dump`). Where Ceph cannot be asked, no flag is set, and that is said once.

use super::gates::Gates;
use super::record::{Record, Written, save};
use super::state::writes_to;
use crate::commands::Connection;
use crate::error::Result;
use crate::execute;
use crate::model::daemon::DaemonType;
use crate::model::osd_flag::{self, FlagChanges, OsdFlag};
use crate::output::{clean, note};
use crate::plan::upgrade::{Stage, State};
use crate::plan::writes::osd_flag_write;
use crate::settings::Settings;

/// The OSD ids a stage restarts (`osd.12` -> 12).
fn osds_of(stage: &Stage) -> Vec<u32> {
    stage
        .daemons
        .iter()
        .filter(|d| d.dtype == DaemonType::Osd)
        .filter_map(|d| d.daemon.strip_prefix("osd.")?.parse().ok())
        .collect()
}

/// Before `stage`'s state write: the flags it restarts under, from Ceph's `osd tree` and
/// `osd dump`. Those to set are added to `st.flags` here (the stage's state write records
/// them before `apply` sets them). Nothing where the stage moves no OSD and nothing is
/// recorded, or where Ceph cannot be asked or answers no tree or dump (said once a run).
pub(super) async fn plan(
    conn: &Connection,
    s: &Settings,
    st: &mut State,
    stage: &Stage,
    gates: &mut Gates,
) -> FlagChanges {
    let osds = osds_of(stage);
    let wants = !osds.is_empty() && (st.params.noout || st.params.noautoscale);
    if !wants && st.flags.is_empty() {
        return FlagChanges::default();
    }
    let known_tree = gates.osd_tree.take();
    let g = gates.found(conn, s).await;
    // Without Ceph's answer no flag is set (an upgrade without the exec role still runs:
    // Rook's own checks stand), said once a run.
    let asked = async {
        g.reachable()?;
        let tree = match (!osds.is_empty() && st.params.noout, known_tree) {
            (false, known) => known,
            (true, Some(known)) => Some(known),
            (true, None) => Some(g.json(&["osd", "tree"]).await?),
        };
        Ok::<_, String>((tree, g.osd_dump().await?))
    };
    let (tree, dump) = match asked.await {
        Ok(v) => v,
        Err(why) => {
            if !gates.said_no_flags {
                note(&format!(
                    "Ceph could not be asked ({}): no OSD flag (noout, noautoscale) is set or removed around the OSD \
                     stages",
                    clean(&why)
                ));
                gates.said_no_flags = true;
            }
            return FlagChanges::default();
        }
    };
    let mut wanted = Vec::new();
    if let Some(tree) = &tree
        && !osds.is_empty()
        && st.params.noout
    {
        wanted.push(OsdFlag::noout(osd_flag::crush_nodes_of(tree, &osds, st.params.batch_by.crush_type())));
    }
    gates.osd_tree = tree;
    if !osds.is_empty() && st.params.noautoscale {
        wanted.push(OsdFlag::noautoscale());
    }
    let c = osd_flag::changes(&wanted, &st.flags, &dump);
    for f in &c.theirs {
        if !gates.said_theirs.contains(f) {
            note(&format!("{} is set already, not by this upgrade: it is left as it is", clean(&f.describe())));
            gates.said_theirs.push(f.clone());
        }
    }
    for f in &c.set {
        if !st.flags.contains(f) {
            st.flags.push(f.clone());
        }
    }
    c
}

/// A stage that did not start (a gate stopped it before `apply`): the flags `plan`
/// recorded for it were never set, so they are not this upgrade's to remove.
pub(super) fn not_set(st: &mut State, c: &FlagChanges) {
    st.flags.retain(|f| !c.set.contains(f));
}

/// Unset `c.unset`, then set `c.set`, through the executor. Err: the journal, when a write
/// did not land (the stage does not start; the run's end removes what it set). A set that
/// did not land and that Ceph does not show is dropped from the record: it is not ours.
pub(super) async fn apply(
    conn: &Connection,
    s: &Settings,
    cluster: &str,
    st: &mut State,
    c: &FlagChanges,
    gates: &Gates,
) -> Result<()> {
    if c.set.is_empty() && c.unset.is_empty() {
        return Ok(());
    }
    let mut writes: Vec<_> = c.unset.iter().map(|f| osd_flag_write(f, false, 1)).collect();
    writes.extend(c.set.iter().map(|f| osd_flag_write(f, true, 2)));
    let j = run(conn, s, cluster, &writes, gates).await;
    let removed = applied(&j, &c.unset, 0);
    if !removed.is_empty() {
        note(&format!("removed {} (left set by an earlier run of this upgrade)", names(&removed)));
    }
    st.flags.retain(|f| !removed.contains(f));
    if !j.all_done() {
        // what Ceph does not show set was not set by this run
        if let Some(Ok(dump)) = match gates.ceph() {
            Some(g) => Some(g.osd_dump().await),
            None => None,
        } {
            st.flags.retain(|f| !c.set.contains(f) || f.is_set(&dump));
        }
        arm_signal(conn, s, cluster, st, gates);
        return Err(execute::failure(&j, "kubectl ceph-image upgrade resume"));
    }
    if !c.set.is_empty() {
        let until = |f: &OsdFlag| match f.flag.as_str() {
            osd_flag::NOAUTOSCALE => "until the last OSD stage",
            _ => "until the stage's gates pass",
        };
        note(&format!(
            "set {}",
            clean(&c.set.iter().map(|f| format!("{} ({})", f.describe(), until(f))).collect::<Vec<_>>().join(", "))
        ));
    }
    arm_signal(conn, s, cluster, st, gates);
    Ok(())
}

/// The flags of `flags` whose write (the `offset`-th on) the journal shows applied.
fn applied(j: &execute::Journal, flags: &[OsdFlag], offset: usize) -> Vec<OsdFlag> {
    flags
        .iter()
        .enumerate()
        .filter(|(i, _)| j.entries.get(offset + i).is_some_and(|e| matches!(e.done, execute::Done::Applied)))
        .map(|(_, f)| f.clone())
        .collect()
}

fn names(flags: &[OsdFlag]) -> String {
    clean(&flags.iter().map(OsdFlag::describe).collect::<Vec<_>>().join(", ")).into_owned()
}

/// After a stage's gates: its `noout` removed, and `noautoscale` unless a later stage
/// moves OSDs (`later_osds`).
pub(super) async fn after(
    conn: &Connection,
    s: &Settings,
    cluster: &str,
    st: &mut State,
    later_osds: bool,
    gates: &Gates,
) -> Result<()> {
    let done: Vec<OsdFlag> =
        st.flags.iter().filter(|f| f.flag != osd_flag::NOAUTOSCALE || !later_osds).cloned().collect();
    if done.is_empty() {
        return Ok(());
    }
    let writes: Vec<_> = done.iter().map(|f| osd_flag_write(f, false, 1)).collect();
    let j = run(conn, s, cluster, &writes, gates).await;
    let removed = applied(&j, &done, 0);
    st.flags.retain(|f| !removed.contains(f));
    arm_signal(conn, s, cluster, st, gates);
    if !removed.is_empty() {
        note(&format!("removed {}", names(&removed)));
    }
    if !j.all_done() {
        return Err(execute::failure(&j, "kubectl ceph-image upgrade resume"));
    }
    Ok(())
}

/// At the end of a run, however it ends: every flag it recorded removed, and the state
/// written without those removed (when another terminal wrote the state meanwhile, its
/// state is read again and only those flags are dropped from it, `forget`). What was
/// removed, and what is left and how to remove it, is said on stderr.
pub(super) async fn restore(conn: &Connection, s: &Settings, rec: &mut Record, st: &mut State, gates: &mut Gates) {
    if st.flags.is_empty() {
        return;
    }
    gates.found(conn, s).await;
    let (removed, _) = unset_recorded(conn, s, rec, st, gates).await;
    if !removed.is_empty() {
        note(&format!("removed the OSD flags this upgrade set: {}", names(&removed)));
    }
    if !st.flags.is_empty() {
        note(&format!(
            "the OSD flags {} could not be removed: `kubectl ceph-image upgrade resume` or `upgrade abort` removes \
             them, or by hand: {}",
            names(&st.flags),
            clean(&hand_commands(st))
        ));
    }
}

/// Unset every flag the state records (one executor run), drop those Ceph shows removed
/// from `st`, and record that on the CephCluster (the state write, else `forget`). The
/// signal's cleanup is cleared once the unsets are done. Returns the flags removed and the
/// run's journal (for what failed); `restore` and `remove_recorded` report them.
async fn unset_recorded(
    conn: &Connection,
    s: &Settings,
    rec: &mut Record,
    st: &mut State,
    gates: &Gates,
) -> (Vec<OsdFlag>, execute::Journal) {
    let cluster = rec.cluster.clone();
    let flags = st.flags.clone();
    let writes: Vec<_> = flags.iter().map(|f| osd_flag_write(f, false, 1)).collect();
    let j = run(conn, s, &cluster, &writes, gates).await;
    let removed = applied(&j, &flags, 0);
    st.flags.retain(|f| !removed.contains(f));
    execute::on_signal(None);
    if !removed.is_empty() && !matches!(save(conn, s, rec, Some(st)).await, Ok(Written::Done)) {
        forget(conn, s, &cluster, &removed).await;
    }
    (removed, j)
}

/// Drop `removed` from the flags the state on the CephCluster records, as it is now: read,
/// then written with the resourceVersion read as precondition (a few tries on 409).
/// Best effort: false when it could not be written (a later resume or abort then removes
/// them again, which only unsets what is not set).
async fn forget(conn: &Connection, s: &Settings, cluster: &str, removed: &[OsdFlag]) -> bool {
    for _ in 0..super::super::change::MAX_CONFLICTS {
        let Ok(c) = crate::cluster::read::get_cluster(&conn.kube, &conn.namespace, cluster).await else { return false };
        let c = c.into_model();
        let Ok(Some(mut st)) = super::state::state_of_text(cluster, c.upgrade.as_deref()) else { return true };
        if !st.flags.iter().any(|f| removed.contains(f)) {
            return true;
        }
        st.flags.retain(|f| !removed.contains(f));
        let w = crate::plan::upgrade::writes::state_write(cluster, Some(&st), &c.resource_version);
        let j = execute::run(&writes_to(conn, s, cluster), &[w]).await;
        if j.all_done() {
            return true;
        }
        if !j.conflict() {
            return false;
        }
    }
    false
}

/// `upgrade abort`: the flags the aborted upgrade recorded removed, and its state written
/// without them. Lines for the abort's report; `left` when some could not be removed.
/// While the process that runs it is alive on this host, its flags stay: its stage under
/// way is still restarting OSDs, and it removes them itself as it stops.
pub(super) async fn remove_recorded(
    conn: &Connection,
    s: &Settings,
    rec: &mut Record,
    st: &mut State,
) -> (Vec<String>, bool) {
    if st.flags.is_empty() {
        return (Vec::new(), false);
    }
    if let Some(r) = st.runner.as_ref().filter(|r| super::runner::alive_here(r)) {
        return (
            vec![format!(
                "The OSD flags it set ({}) stay while the stage under way finishes: the process running it ({}) \
                 removes them as it stops; if it does not, `upgrade abort` again removes them",
                names(&st.flags),
                crate::render::upgrade_run::runner_text(r)
            )],
            false,
        );
    }
    let mut gates = Gates::default();
    let g = gates.found(conn, s).await;
    if let Err(why) = g.reachable() {
        return (
            vec![format!(
                "The OSD flags this upgrade set stay set ({}): Ceph could not be asked ({}). Remove them: {}",
                names(&st.flags),
                clean(&why),
                clean(&hand_commands(st))
            )],
            true,
        );
    }
    let (removed, j) = unset_recorded(conn, s, rec, st, &gates).await;
    let mut lines = Vec::new();
    if !removed.is_empty() {
        lines.push(format!("Removed the OSD flags this upgrade set: {}", names(&removed)));
    }
    if !st.flags.is_empty() {
        lines.push(format!(
            "The OSD flags {} could not be removed ({}). Remove them: {}",
            names(&st.flags),
            clean(crate::render::journal::text(&j, "").lines().find(|l| l.contains("FAILED")).unwrap_or("no answer")),
            clean(&hand_commands(st))
        ));
    }
    let left = !st.flags.is_empty();
    (lines, left)
}

fn hand_commands(st: &State) -> String {
    st.flags
        .iter()
        .map(|f| format!("kubectl exec deploy/rook-ceph-operator -- ceph {}", f.args(false).join(" ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// After the last stage: `require-osd-release` for the target's release, where the OSD
/// map requires an older one, every OSD runs it (`ceph versions`; a resumed run that moved
/// none itself included), and Rook has not set it yet. Said; a refusal by Ceph is said, not
/// fatal (Rook sets it on its next OSD reconcile that finds one version).
pub(super) async fn require_osd_release(
    conn: &Connection,
    s: &Settings,
    cluster: &str,
    image: &str,
    gates: &mut Gates,
) {
    let Some(target) = crate::model::image::ceph_version(image) else { return };
    let g = gates.found(conn, s).await;
    let (Ok(dump), Ok(versions)) = (g.osd_dump().await, g.versions().await) else { return };
    let Some(release) = osd_flag::require_osd_release_due(&dump, target.major) else { return };
    if !osd_flag::all_on_major(&versions, "osd", target.major) {
        note(&format!(
            "require-osd-release is not set to {release}: not every OSD reports {release} yet (`ceph versions`); Rook \
             sets it once they do"
        ));
        return;
    }
    let f = OsdFlag::require_osd_release(release);
    let j = run(conn, s, cluster, &[osd_flag_write(&f, true, 1)], gates).await;
    if j.all_done() {
        note(&format!("set require-osd-release {release}: every OSD runs {release} (Ceph's upgrade procedure)"));
    } else {
        note(&format!(
            "require-osd-release {release} was not set: {}",
            clean(crate::render::journal::text(&j, "").lines().next().unwrap_or("no answer"))
        ));
    }
}

/// Run flag writes through the executor, with the run's way to Ceph.
async fn run(
    conn: &Connection,
    s: &Settings,
    cluster: &str,
    writes: &[crate::plan::writes::Write],
    gates: &Gates,
) -> execute::Journal {
    let mut t = writes_to(conn, s, cluster);
    t.ceph_gate = gates.ceph();
    execute::run(&t, writes).await
}

/// A signal that ends the process while flags are recorded removes them first, and drops
/// them from the state on the CephCluster (`forget`), so that a later resume or abort does
/// not take a flag someone sets afterwards for this upgrade's.
fn arm_signal(conn: &Connection, s: &Settings, cluster: &str, st: &State, gates: &Gates) {
    let Some(ceph) = gates.ceph().and_then(|g| g.handle()) else { return };
    if st.flags.is_empty() {
        execute::on_signal(None);
        return;
    }
    let flags = st.flags.clone();
    let conn = Connection { kube: conn.kube.clone(), namespace: conn.namespace.clone(), context: conn.context.clone() };
    let (s, cluster) = (s.clone(), cluster.to_string());
    execute::on_signal(Some(Box::new(move || {
        Box::pin(async move {
            let (mut removed, mut left) = (Vec::new(), Vec::new());
            for f in &flags {
                let args = f.args(false);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                match ceph.output(&args).await {
                    Ok(o) if o.code == 0 => removed.push(f.clone()),
                    _ => left.push(format!("ceph {}", args.join(" "))),
                }
            }
            let recorded = removed.is_empty() || forget(&conn, &s, &cluster, &removed).await;
            let mut t = String::new();
            if !removed.is_empty() {
                t.push_str(&format!("removed the OSD flags this upgrade set: {}", names(&removed)));
                if !recorded {
                    t.push_str(
                        " (the upgrade's state still lists them: `upgrade resume` or `upgrade abort` drops them)",
                    );
                }
            }
            if !left.is_empty() {
                t.push_str(&format!(
                    "{}the OSD flags this upgrade set may still be set: `upgrade resume` or `upgrade abort` removes \
                     them, or by hand: {}",
                    if t.is_empty() { "" } else { "\n" },
                    clean(&left.join("; "))
                ));
            }
            t
        })
    })));
}
