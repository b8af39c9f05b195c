//! The commands: each reads the cluster, plans, shows the plan, confirms, applies, verifies.

pub mod change;
pub mod complete;
pub mod demo;
pub mod fence;
pub mod labels;
pub mod status;
pub mod upgrade;
pub mod version;

use serde::Serialize;

use crate::cli::OutputFormat;
use crate::cluster::connect::{Connection, connect};
use crate::error::{Error, Result};
use crate::output::{emit, emit_data};
use crate::prompt::Confirm;
use crate::settings::Settings;

pub struct Ctx<'a> {
    pub settings: &'a Settings,
    pub confirm: &'a mut dyn Confirm,
}

impl Ctx<'_> {
    /// Connect as the settings say; on a terminal, a slow request says what it waits for.
    pub async fn connect(&self) -> Result<Connection> {
        let mut c = connect(&self.settings.connect).await?;
        c.kube = c.kube.with_notice(self.settings.progress_bar).with_verbosity(self.settings.verbosity);
        Ok(c)
    }

    /// A change without `--yes` needs someone at a terminal to confirm it. Checked before
    /// anything is read, so a script learns at once.
    pub fn require_confirmable(&self) -> Result<()> {
        let s = self.settings;
        if s.dry_run.is_none() && !s.yes && !s.interactive {
            return Err(Error::usage(
                "this command changes the cluster and there is no terminal to confirm on: pass --yes to apply \
                 without a prompt, or --dry-run to only see the plan",
            ));
        }
        Ok(())
    }

    /// `--yes`, or a yes at the prompt.
    pub fn confirm(&mut self, question: &str) -> Result<()> {
        if self.settings.yes {
            return Ok(());
        }
        if !self.settings.interactive {
            return Err(Error::usage("no terminal to confirm on: pass --yes"));
        }
        if self.confirm.confirm(question)? { Ok(()) } else { Err(Error::Declined) }
    }
}

/// Before a prompt, the plan goes to stdout in text mode; in json/yaml mode to stderr, so
/// the document on stdout stays the one result.
pub fn show_plan(s: &Settings, plan: &crate::plan::Plan) {
    match s.output {
        OutputFormat::Text => {
            emit(&crate::render::fit_lines(&crate::render::plan_view(plan, &s.out_styles, s.wide), s.fit_width))
        }
        _ => crate::output::note(&crate::render::plan(plan, &s.err_styles)),
    }
}

/// Where a command's writes go, and how to follow what they restart.
pub fn exec_target<'a>(
    conn: &'a Connection,
    plan: &crate::plan::Plan,
    dry_run: bool,
    s: &Settings,
) -> crate::execute::Target<'a> {
    crate::execute::Target {
        kube: &conn.kube,
        namespace: &conn.namespace,
        cluster: plan.cluster.clone(),
        dry_run,
        restarts: crate::execute::wait::targets(plan),
        timeout: s.timeout,
        progress_bar: s.progress_bar,
        pause_between: s.pause_between,
        down_gate: None,
        ceph_gate: None,
        view: None,
    }
}

/// A result document: JSON or YAML for scripts, else the text `human` renders. Text goes
/// through the sanitising writer; a document goes out exact, its serialiser having escaped
/// every control and bidi character (`output::to_json_pretty`).
pub fn print<T: Serialize>(s: &Settings, doc: &T, human: impl FnOnce() -> String) -> Result<()> {
    match s.output {
        OutputFormat::Text | OutputFormat::Wide => emit(&crate::render::fit_lines(&human(), s.fit_width)),
        OutputFormat::Json => {
            let mut t = crate::output::to_json_pretty(doc).map_err(|e| Error::Failed(e.to_string()))?;
            t.push('\n');
            emit_data(&t)
        }
        OutputFormat::Yaml => {
            let yaml = serde_saphyr::to_string(doc).map_err(|e| Error::Failed(e.to_string()))?;
            // serde-saphyr escapes C0 and C1 but writes bidi and format characters raw (YAML
            // counts them printable). Then the document goes out as JSON, which is YAML too:
            // exact strings, nothing raw. Only a cluster carrying such characters sees it.
            if yaml.chars().any(|c| crate::output::is_unsafe(c) && c != '\n') {
                let mut t = crate::output::to_json_pretty(doc).map_err(|e| Error::Failed(e.to_string()))?;
                t.push('\n');
                emit_data(&t)
            } else {
                emit_data(&yaml)
            }
        }
    }
    Ok(())
}
