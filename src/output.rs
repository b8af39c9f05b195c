//! Output plumbing: colour styles decided once (plain unless enabled), strings from the
//! cluster sanitised before they reach a terminal, and stdout writes that end quietly on a
//! closed pipe (`... | head`).

use std::borrow::Cow;
use std::io::Write;

use owo_colors::Style;

#[derive(Debug, Clone, Default)]
pub struct Styles {
    pub header: Style,
    pub restart: Style,
    pub held: Style,
    pub warn: Style,
    pub dim: Style,
    pub ok: Style,
    pub error: Style,
}

impl Styles {
    pub fn plain() -> Styles {
        Styles::default()
    }

    pub fn colored() -> Styles {
        Styles {
            header: Style::new().bold(),
            restart: Style::new().yellow().bold(),
            held: Style::new().cyan(),
            warn: Style::new().yellow(),
            dim: Style::new().dimmed(),
            ok: Style::new().green(),
            error: Style::new().red().bold(),
        }
    }
}

/// Names, images and messages come from the cluster: drop control characters (escape
/// sequences could rewrite the operator's terminal).
pub fn clean(s: &str) -> Cow<'_, str> {
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        Cow::Owned(s.chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').collect())
    } else {
        Cow::Borrowed(s)
    }
}

/// Write a result to stdout; a closed pipe ends the program quietly with success.
pub fn emit(s: &str) {
    let mut out = std::io::stdout().lock();
    let r = out.write_all(s.as_bytes()).and_then(|_| out.flush());
    if let Err(e) = r
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// A human message on stderr.
pub fn note(s: &str) {
    let _ = writeln!(std::io::stderr(), "{s}");
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_dropped() {
        assert_eq!(super::clean("quay.io/x\u{1b}[2J:v1\r"), "quay.io/x[2J:v1");
        assert!(matches!(super::clean("plain"), std::borrow::Cow::Borrowed(_)));
    }
}
