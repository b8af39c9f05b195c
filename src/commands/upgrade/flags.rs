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
    let g = gates.found(conn, s).await;
    // Without Ceph's answer no flag is set (an upgrade without the exec role still runs:
    // Rook's own checks stand), said once a run.
    let asked = async {
        g.reachable()?;
        let tree = match !osds.is_empty() && st.params.noout {
            true => Some(g.json(&["osd", "tree"]).await?),
            false => None,
        };
        Ok::<_, String>((tree, g.json(&["osd", "dump"]).await?))
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
    if let Some(tree) = &tree {
        wanted.push(OsdFlag::noout(osd_flag::crush_nodes_of(tree, &osds, st.params.batch_by.crush_type())));
    }
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

/// Unset `c.unset`, then set `c.set`, through the executor. Err: the journal, when a write
/// did not land (the stage does not start; the run's end removes what it recorded).
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
    run(conn, s, cluster, &writes, gates).await?;
    st.flags.retain(|f| !c.unset.contains(f));
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
    arm_signal(st, gates);
    Ok(())
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
    run(conn, s, cluster, &writes, gates).await?;
    note(&format!("removed {}", clean(&done.iter().map(OsdFlag::describe).collect::<Vec<_>>().join(", "))));
    st.flags.retain(|f| !done.contains(f));
    arm_signal(st, gates);
    Ok(())
}

/// At the end of a run, however it ends: every flag it recorded removed, and the state
/// written without them (unless another terminal wrote it meanwhile: then a later
/// `resume` or `abort` finds them recorded and removes them again, which changes nothing).
/// What was removed, or what is left and how to remove it, is said on stderr.
pub(super) async fn restore(conn: &Connection, s: &Settings, rec: &mut Record, st: &mut State, gates: &mut Gates) {
    if st.flags.is_empty() {
        return;
    }
    gates.found(conn, s).await;
    let cluster = rec.cluster.clone();
    let writes: Vec<_> = st.flags.iter().map(|f| osd_flag_write(f, false, 1)).collect();
    let names = st.flags.iter().map(OsdFlag::describe).collect::<Vec<_>>().join(", ");
    match run(conn, s, &cluster, &writes, gates).await {
        Ok(()) => {
            note(&format!("removed the OSD flags this upgrade set: {}", clean(&names)));
            st.flags.clear();
            execute::on_signal(None);
            if let Ok(Written::Changed(_)) | Err(_) = save(conn, s, rec, Some(st)).await {
                // the state is someone else's now (or could not be written): see above
            }
        }
        Err(e) => note(&format!(
            "the OSD flags this upgrade set could not all be removed ({}): {e}\nRemove them by hand ({}), or with \
             `kubectl ceph-image upgrade resume` or `upgrade abort`",
            clean(&names),
            clean(&st.flags.iter().map(|f| format!("ceph {}", f.args(false).join(" "))).collect::<Vec<_>>().join("; "))
        )),
    }
}

/// `upgrade abort`: the flags the aborted upgrade recorded removed, and its state written
/// without them. Lines for the abort's report; `left` when some could not be removed.
pub(super) async fn remove_recorded(
    conn: &Connection,
    s: &Settings,
    rec: &mut Record,
    st: &mut State,
) -> (Vec<String>, bool) {
    if st.flags.is_empty() {
        return (Vec::new(), false);
    }
    let mut gates = Gates::default();
    let g = gates.found(conn, s).await;
    let names = clean(&st.flags.iter().map(OsdFlag::describe).collect::<Vec<_>>().join(", ")).into_owned();
    if let Err(why) = g.reachable() {
        return (
            vec![format!(
                "The OSD flags this upgrade set stay set ({names}): Ceph could not be asked ({}). Remove them: {}",
                clean(&why),
                clean(&hand_commands(st))
            )],
            true,
        );
    }
    let writes: Vec<_> = st.flags.iter().map(|f| osd_flag_write(f, false, 1)).collect();
    match run(conn, s, &rec.cluster.clone(), &writes, &gates).await {
        Ok(()) => {
            st.flags.clear();
            let _ = save(conn, s, rec, Some(st)).await;
            (vec![format!("Removed the OSD flags this upgrade set: {names}")], false)
        }
        Err(e) => (
            vec![format!(
                "The OSD flags this upgrade set could not all be removed ({names}): {e}. Remove them: {}",
                clean(&hand_commands(st))
            )],
            true,
        ),
    }
}

fn hand_commands(st: &State) -> String {
    st.flags
        .iter()
        .map(|f| format!("kubectl exec deploy/rook-ceph-operator -- ceph {}", f.args(false).join(" ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// After the last stage: `require-osd-release` for the target's release, where the
/// upgrade moved OSDs to a newer release than the OSD map requires, every OSD runs it
/// (`ceph versions`), and Rook has not set it yet. Said; a refusal by Ceph is said, not
/// fatal (Rook sets it on its next OSD reconcile that finds one version).
pub(super) async fn require_osd_release(
    conn: &Connection,
    s: &Settings,
    cluster: &str,
    image: &str,
    gates: &mut Gates,
) {
    let Some(target) = crate::model::image::ceph_version(image) else { return };
    if gates.moved.get("osd").copied().unwrap_or(0) == 0 {
        return;
    }
    let g = gates.found(conn, s).await;
    let (Ok(dump), Ok(versions)) = (g.json(&["osd", "dump"]).await, g.versions().await) else { return };
    let Some(release) = osd_flag::require_osd_release_due(&dump, target.major) else { return };
    if !osd_flag::all_on_major(&versions, "osd", target.major) {
        note(&format!(
            "require-osd-release is not set to {release}: not every OSD reports {release} yet (`ceph versions`); Rook \
             sets it once they do"
        ));
        return;
    }
    let f = OsdFlag::require_osd_release(release);
    match run(conn, s, cluster, &[osd_flag_write(&f, true, 1)], gates).await {
        Ok(()) => {
            note(&format!("set require-osd-release {release}: every OSD runs {release} (Ceph's upgrade procedure)"))
        }
        Err(e) => note(&format!("require-osd-release {release} was not set: {e}")),
    }
}

/// Run flag writes through the executor, with the run's way to Ceph.
async fn run(
    conn: &Connection,
    s: &Settings,
    cluster: &str,
    writes: &[crate::plan::writes::Write],
    gates: &Gates,
) -> Result<()> {
    let mut t = writes_to(conn, s, cluster);
    t.ceph_gate = gates.ceph();
    let j = execute::run(&t, writes).await;
    if j.all_done() { Ok(()) } else { Err(execute::failure(&j, "kubectl ceph-image upgrade resume")) }
}

/// A signal that ends the process while flags are recorded removes them first.
fn arm_signal(st: &State, gates: &Gates) {
    let Some(ceph) = gates.ceph().and_then(|g| g.handle()) else { return };
    if st.flags.is_empty() {
        execute::on_signal(None);
        return;
    }
    let flags = st.flags.clone();
    execute::on_signal(Some(Box::new(move || {
        Box::pin(async move {
            let mut left = Vec::new();
            for f in &flags {
                let args = f.args(false);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                if !matches!(ceph.output(&args).await, Ok(o) if o.code == 0) {
                    left.push(format!("ceph {}", args.join(" ")));
                }
            }
            let names = flags.iter().map(OsdFlag::describe).collect::<Vec<_>>().join(", ");
            if left.is_empty() {
                format!("removed the OSD flags this upgrade set: {}", clean(&names))
            } else {
                format!(
                    "the OSD flags this upgrade set may still be set ({}): `upgrade resume` or `upgrade abort` removes \
                     them, or by hand: {}",
                    clean(&names),
                    clean(&left.join("; "))
                )
            }
        })
    })));
}
