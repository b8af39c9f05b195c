//! Output plumbing: colour styles decided once (plain unless enabled), the one sanitising
//! boundary between strings from the cluster and the operator's terminal, and stdout
//! writes that end quietly on a closed pipe (`... | head`).
//!
//! # The sanitising boundary
//!
//! Names, labels, annotations, images, status fields and server messages come from the
//! cluster, and a hostile or broken server can put anything in them: ESC sequences that
//! rewrite the screen or the window title, BEL, CR that overwrites a line, C1 controls
//! (U+0080–U+009F, which some terminals read as ESC), and bidi/format characters (U+202E
//! and friends) that make a line read differently from what it says.
//!
//! The boundary is **the writers of this module**: every byte of text meant for a terminal
//! leaves through [`emit`] (stdout), [`note`] (stderr), or is handed to a terminal widget
//! (prompt, editor item, progress bar, completion candidate) through [`terminal`] or
//! [`clean`]. The writers escape what [`is_unsafe`] names, whoever built the string, so a
//! new output path cannot forget it: it has no other way out. `clippy.toml` disallows the
//! `print!` family (and indicatif's raw message setters) everywhere else, so a direct
//! `eprintln!` of a cluster string fails `cargo clippy -D warnings`.
//!
//! Two strengths, because a writer cannot tell our own line breaks from a server's:
//! - [`clean`] (a field: one name, image, message put into a line) escapes every unsafe
//!   character, `\n` and `\t` included, so a value cannot forge a line of the table.
//! - [`terminal`] (a whole text at a writer) keeps `\n` and `\t` and, only when colour is
//!   on for that stream, the SGR colour sequences (`ESC [ digits ; ... m`) our `Styles`
//!   write; every other control, format or bidi character is escaped.
//!
//! Escapes are visible and Go-quoted, as kubectl users read them: `\x1b`, `\r`, `\u202e`,
//! `\U000e0001`. JSON and YAML documents go out through [`emit_data`] untouched: their
//! serialisers escape (see `commands::print`), so `-o json` round-trips the exact strings.

use std::borrow::Cow;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use owo_colors::Style;

/// Colour styles for one stream: plain (every style empty) unless colour is on.
#[derive(Debug, Clone, Default, PartialEq)]
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
    /// No colour: every style writes the text alone.
    pub fn plain() -> Styles {
        Styles::default()
    }

    /// The colours of a terminal that wants them.
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

    /// Do these styles write colour sequences?
    pub fn is_colored(&self) -> bool {
        *self != Styles::plain()
    }
}

/// Whether colour is on for stdout and stderr: the writers then keep SGR sequences (and
/// only those). Off until [`allow_colour`] says otherwise, so the default is strict.
static COLOUR_OUT: AtomicBool = AtomicBool::new(false);
static COLOUR_ERR: AtomicBool = AtomicBool::new(false);

/// Say, once the settings are resolved, whether each stream is written in colour.
pub fn allow_colour(stdout: bool, stderr: bool) {
    COLOUR_OUT.store(stdout, Ordering::Relaxed);
    COLOUR_ERR.store(stderr, Ordering::Relaxed);
}

/// Is this character unsafe to send raw to a terminal? C0 controls (`\n` and `\t`
/// included), DEL, C1 controls, the line and paragraph separators, and every Unicode
/// format character (general category Cf: the bidi embeddings, overrides, isolates and
/// marks, zero-width characters, the BOM, tag characters, ...).
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}' || is_format(c)
}

/// Unicode general category Cf (Unicode 16), as ranges.
fn is_format(c: char) -> bool {
    const CF: &[(u32, u32)] = &[
        (0x00AD, 0x00AD),
        (0x0600, 0x0605),
        (0x061C, 0x061C),
        (0x06DD, 0x06DD),
        (0x070F, 0x070F),
        (0x0890, 0x0891),
        (0x08E2, 0x08E2),
        (0x180E, 0x180E),
        (0x200B, 0x200F),
        (0x202A, 0x202E),
        (0x2060, 0x2064),
        (0x2066, 0x206F),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
    ];
    let u = c as u32;
    u >= 0xAD && CF.iter().any(|(lo, hi)| (*lo..=*hi).contains(&u))
}

/// The visible, Go-quoted form of an unsafe character.
fn escape_into(out: &mut String, c: char) {
    use std::fmt::Write as _;
    let _ = match c {
        '\n' => write!(out, "\\n"),
        '\r' => write!(out, "\\r"),
        '\t' => write!(out, "\\t"),
        c if (c as u32) < 0x100 => write!(out, "\\x{:02x}", c as u32),
        c if (c as u32) < 0x10000 => write!(out, "\\u{:04x}", c as u32),
        c => write!(out, "\\U{:08x}", c as u32),
    };
}

/// A field from the cluster (a name, an image, a message), made safe to put into a line of
/// terminal text: every unsafe character escaped, line breaks and tabs included.
pub fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) { escape_into(&mut out, c) } else { out.push(c) }
    }
    Cow::Owned(out)
}

/// The length of an SGR sequence (`ESC [ [0-9;]* m`) at the start of `s`, if one is there.
fn sgr_len(s: &str) -> Option<usize> {
    let rest = s.strip_prefix("\u{1b}[")?;
    let params = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b';').count();
    (params <= 32 && rest.as_bytes().get(params) == Some(&b'm')).then_some(2 + params + 1)
}

/// A whole text made safe for a terminal: `\n` and `\t` kept, SGR colour sequences kept
/// when `colour` (our `Styles` write them), every other unsafe character escaped.
pub fn terminal(s: &str, colour: bool) -> Cow<'_, str> {
    let keep = |c: char| c == '\n' || c == '\t';
    if !s.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    while let Some(c) = s[i..].chars().next() {
        if c == '\u{1b}'
            && colour
            && let Some(n) = sgr_len(&s[i..])
        {
            out.push_str(&s[i..i + n]);
            i += n;
            continue;
        }
        if is_unsafe(c) && !keep(c) {
            escape_into(&mut out, c)
        } else {
            out.push(c)
        }
        i += c.len_utf8();
    }
    Cow::Owned(out)
}

/// Text for stderr's terminal widgets (a prompt, an editor item, a progress message),
/// made safe as [`note`] makes it.
pub fn for_stderr(s: &str) -> String {
    terminal(s, COLOUR_ERR.load(Ordering::Relaxed)).into_owned()
}

fn write_stdout(s: &str) {
    let mut out = std::io::stdout().lock();
    let r = out.write_all(s.as_bytes()).and_then(|_| out.flush());
    if let Err(e) = r
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// Write text for people to stdout, made safe ([`terminal`]); a closed pipe ends the
/// program quietly with success.
pub fn emit(s: &str) {
    write_stdout(&terminal(s, COLOUR_OUT.load(Ordering::Relaxed)));
}

/// Write a JSON or YAML document to stdout exactly as serialised: its serialiser escaped
/// every control character (`commands::print`), and scripts need the exact strings.
pub fn emit_data(s: &str) {
    write_stdout(s);
}

/// A human message on stderr, made safe ([`terminal`]).
pub fn note(s: &str) {
    let _ = writeln!(std::io::stderr(), "{}", terminal(s, COLOUR_ERR.load(Ordering::Relaxed)));
}

/// Show the cursor again (after Ctrl-C in a prompt or progress bar): our own control
/// sequence, the one raw write to stderr.
pub fn show_cursor() {
    // only a terminal has a cursor to show; a log or pipe gets no escape sequence
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let _ = write!(std::io::stderr(), "\u{1b}[?25h");
    }
}

/// A JSON document whose strings carry no raw control, format or bidi character: serde's
/// escaping, extended from C0 to everything [`is_unsafe`] names (as `\uXXXX`, surrogate
/// pairs beyond the BMP). A JSON parser reads back the exact strings.
pub fn to_json_pretty<T: serde::Serialize>(doc: &T) -> serde_json::Result<String> {
    let mut out = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, SafeFormatter(serde_json::ser::PrettyFormatter::new()));
    doc.serialize(&mut ser)?;
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

struct SafeFormatter<'a>(serde_json::ser::PrettyFormatter<'a>);

impl serde_json::ser::Formatter for SafeFormatter<'_> {
    fn write_string_fragment<W: ?Sized + std::io::Write>(&mut self, w: &mut W, fragment: &str) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_unsafe(c) {
                w.write_all(&fragment.as_bytes()[start..i])?;
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// A list for one line of text: every name when there are at most `max`, else the first
/// `shown`, then how many more as `more(n)` says it. The one list shortening of the
/// plugin's messages (`plan::upgrade::summarise`) and views (`render`).
pub fn some_of<S: AsRef<str>>(
    names: &[S],
    max: usize,
    shown: usize,
    sep: &str,
    more: impl Fn(usize) -> String,
) -> String {
    let join = |v: &[S]| v.iter().map(AsRef::as_ref).collect::<Vec<&str>>().join(sep);
    if names.len() <= max { join(names) } else { format!("{}{}", join(&names[..shown]), more(names.len() - shown)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str =
        "quay.io/x\u{1b}[2J\u{7}:v1\r\u{9b}31m\u{202e}gpj.exe\u{2066}\u{200f}\u{61c}\u{feff}\u{e0041}\n\tz";

    #[test]
    fn fields_escape_every_unsafe_character_visibly() {
        assert_eq!(
            clean(HOSTILE),
            "quay.io/x\\x1b[2J\\x07:v1\\r\\x9b31m\\u202egpj.exe\\u2066\\u200f\\u061c\\ufeff\\U000e0041\\n\\tz"
        );
        assert!(matches!(clean("plain ünïcode ✓"), Cow::Borrowed(_)));
        assert!(!clean(HOSTILE).chars().any(is_unsafe));
    }

    #[test]
    fn texts_keep_line_breaks_and_only_our_colours() {
        let t = terminal(HOSTILE, false);
        assert!(t.ends_with("\\U000e0041\n\tz"), "{t}");
        assert!(!t.contains('\u{1b}') && !t.contains('\r') && !t.contains('\u{202e}'));
        // with colour on, SGR sequences stay; a screen clear or a title never does
        let styled = "\u{1b}[33;1mWarnings:\u{1b}[0m \u{1b}[2J \u{1b}]0;title\u{7}";
        assert_eq!(terminal(styled, true), "\u{1b}[33;1mWarnings:\u{1b}[0m \\x1b[2J \\x1b]0;title\\x07");
        assert_eq!(terminal(styled, false), "\\x1b[33;1mWarnings:\\x1b[0m \\x1b[2J \\x1b]0;title\\x07");
    }

    #[test]
    fn json_escapes_and_round_trips_exactly() {
        let doc = serde_json::json!({"image": HOSTILE, "k\u{202e}": ["\u{85}", "\u{7f}"]});
        let text = to_json_pretty(&doc).unwrap();
        assert!(!text.chars().any(|c| is_unsafe(c) && c != '\n'), "{text}");
        assert!(text.contains("\\u202e") && text.contains("\\udb40\\udc41"), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, doc);
        let plain = serde_json::json!({"a": [1, {"b": "c", "d": []}], "e": {}});
        assert_eq!(to_json_pretty(&plain).unwrap(), serde_json::to_string_pretty(&plain).unwrap(), "the same layout");
    }

    #[test]
    fn some_of_names_all_up_to_max_then_the_first_shown_and_how_many_more() {
        let names: Vec<String> = (1..=7).map(|i| format!("osd.{i}")).collect();
        let more = |n: usize| format!(" and {n} more");
        assert_eq!(some_of(&names[..6], 6, 5, ", ", more), "osd.1, osd.2, osd.3, osd.4, osd.5, osd.6");
        assert_eq!(some_of(&names, 6, 5, ", ", more), "osd.1, osd.2, osd.3, osd.4, osd.5 and 2 more");
        assert_eq!(some_of(&names, 2, 2, " ", |n| format!(" ... (+{n} more)")), "osd.1 osd.2 ... (+5 more)");
        assert_eq!(some_of(&names, usize::MAX, 0, " ", more).len(), 41);
    }
}
