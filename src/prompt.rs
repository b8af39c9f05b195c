//! Confirmation behind a small trait, so the apply logic is tested with scripted answers
//! and the real prompt (dialoguer, on the terminal) only in pseudo-terminal tests.

use crate::error::{Error, Result};

pub trait Confirm {
    /// Ask a yes/no question; `Ok(false)` is a no.
    fn confirm(&mut self, question: &str) -> Result<bool>;
}

/// dialoguer on stderr's terminal; Esc, q and "n" are a no; Ctrl-C is an interruption.
/// A question is one line of plain text: every unsafe character in it is escaped, line
/// breaks and SGR sequences included (`output::clean`), so that a string from the cluster
/// in it (an upgrade state's image or stage, anyone's who may annotate the CephCluster)
/// cannot forge a line of the prompt or hide its text (`ESC[8m`).
pub struct TerminalConfirm;

impl Confirm for TerminalConfirm {
    fn confirm(&mut self, question: &str) -> Result<bool> {
        let term = dialoguer::console::Term::stderr();
        let r =
            dialoguer::Confirm::new().with_prompt(crate::output::clean(question)).default(false).interact_on_opt(&term);
        match r {
            Ok(answer) => Ok(answer.unwrap_or(false)),
            Err(dialoguer::Error::IO(e)) if e.kind() == std::io::ErrorKind::Interrupted => {
                let _ = term.show_cursor();
                Err(Error::Interrupted)
            }
            Err(e) => {
                let _ = term.show_cursor();
                Err(Error::Failed(format!("cannot read the answer from the terminal: {e}")))
            }
        }
    }
}

/// Answers from a script, for tests: each call takes the next answer.
pub struct Scripted(pub Vec<bool>);

impl Confirm for Scripted {
    fn confirm(&mut self, _: &str) -> Result<bool> {
        if self.0.is_empty() { Ok(false) } else { Ok(self.0.remove(0)) }
    }
}
