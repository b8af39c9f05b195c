//! Label selectors as the kube-apiserver evaluates them (`k8s.io/apimachinery/pkg/labels`,
//! `Parse`): a lexer of identifiers and operators, then requirements, all of which must hold.
//!
//! rook-sim evaluates selectors on its own, without the plugin's code, so that a parser bug
//! in the plugin cannot hide behind the same bug in the simulation it is tested against.
//! Operators: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (exists), `!k`
//! (does not exist), and the numeric `k>n`, `k<n`.

use std::collections::{BTreeMap, HashMap};

use crate::server::status::ApiError;
use crate::server::store::Key;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Equals,
    NotEquals,
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
    GreaterThan(i64),
    LessThan(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
    /// The value of `=`, `==` and `!=`.
    value: String,
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let got = labels.get(&self.key);
        match &self.op {
            Op::Equals => got == Some(&self.value),
            // apimachinery: `!=` and `notin` also select objects without the key.
            Op::NotEquals => got != Some(&self.value),
            Op::In(vs) => got.is_some_and(|g| vs.contains(g)),
            Op::NotIn(vs) => got.is_none_or(|g| !vs.contains(g)),
            Op::Exists => got.is_some(),
            Op::DoesNotExist => got.is_none(),
            Op::GreaterThan(n) => got.and_then(|g| g.parse::<i64>().ok()).is_some_and(|g| g > *n),
            Op::LessThan(n) => got.and_then(|g| g.parse::<i64>().ok()).is_some_and(|g| g < *n),
        }
    }
}

/// A parsed label selector; the empty selector selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Requirement>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    Eq,
    DoubleEq,
    NotEq,
    Bang,
    Gt,
    Lt,
    Open,
    Close,
    Comma,
    In,
    NotIn,
}

fn lex(s: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    while let Some(&c) = it.peek() {
        match c {
            c if c.is_whitespace() => {
                it.next();
            }
            '(' | ')' | ',' | '>' | '<' => {
                it.next();
                out.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    ',' => Token::Comma,
                    '>' => Token::Gt,
                    _ => Token::Lt,
                });
            }
            '=' => {
                it.next();
                if it.peek() == Some(&'=') {
                    it.next();
                    out.push(Token::DoubleEq);
                } else {
                    out.push(Token::Eq);
                }
            }
            '!' => {
                it.next();
                if it.peek() == Some(&'=') {
                    it.next();
                    out.push(Token::NotEq);
                } else {
                    out.push(Token::Bang);
                }
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = it.peek() {
                    if c.is_whitespace() || "()=,!<>".contains(c) {
                        break;
                    }
                    word.push(c);
                    it.next();
                }
                out.push(match word.as_str() {
                    "in" => Token::In,
                    "notin" => Token::NotIn,
                    _ => Token::Ident(word),
                });
            }
        }
    }
    Ok(out)
}

/// A qualified name: optional DNS-subdomain prefix and `/`, then a name of at most 63
/// alphanumerics, `-`, `_`, `.`, beginning and ending alphanumeric.
fn check_key(k: &str) -> Result<(), String> {
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix
        && (p.is_empty()
            || p.len() > 253
            || !p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'))
    {
        return Err(format!("invalid label key {k:?}: prefix part must be a DNS subdomain"));
    }
    if name.is_empty() || !check_name(name) {
        return Err(format!(
            "invalid label key {k:?}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        ));
    }
    Ok(())
}

fn check_name(v: &str) -> bool {
    v.len() <= 63
        && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && v.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && v.chars().last().is_some_and(|c| c.is_ascii_alphanumeric())
}

fn check_value(v: &str) -> Result<(), String> {
    if v.is_empty() || check_name(v) {
        Ok(())
    } else {
        Err(format!(
            "invalid label value: {v:?}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        ))
    }
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn ident(&mut self, what: &str) -> Result<String, String> {
        match self.next() {
            Some(Token::Ident(s)) => Ok(s),
            other => Err(format!("found {other:?}, expected {what}")),
        }
    }

    /// A value after `=`, `==`, `!=`: may be empty (`k=` selects an empty value).
    fn value(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(Token::Ident(_)) => self.ident("a value"),
            None | Some(Token::Comma) => Ok(String::new()),
            Some(t) => Err(format!("found {t:?}, expected a value")),
        }
    }

    fn set(&mut self) -> Result<Vec<String>, String> {
        if self.next() != Some(Token::Open) {
            return Err("expected '(' after in/notin".into());
        }
        let mut vs = Vec::new();
        loop {
            match self.next() {
                Some(Token::Ident(v)) => {
                    check_value(&v)?;
                    vs.push(v);
                    match self.next() {
                        Some(Token::Comma) => {}
                        Some(Token::Close) => return Ok(vs),
                        other => return Err(format!("found {other:?}, expected ',' or ')'")),
                    }
                }
                // `k in ()` and `k in (a,)`: apimachinery reads an empty value there
                Some(Token::Close) => {
                    vs.push(String::new());
                    return Ok(vs);
                }
                Some(Token::Comma) => vs.push(String::new()),
                other => return Err(format!("found {other:?}, expected a value or ')'")),
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        if self.peek() == Some(&Token::Bang) {
            self.next();
            let key = self.ident("a key after '!'")?;
            check_key(&key)?;
            return Ok(Requirement { key, op: Op::DoesNotExist, value: String::new() });
        }
        let key = self.ident("a key")?;
        check_key(&key)?;
        let op = match self.peek() {
            None | Some(Token::Comma) => return Ok(Requirement { key, op: Op::Exists, value: String::new() }),
            _ => self.next().expect("peeked"),
        };
        let (op, value) = match op {
            Token::Eq | Token::DoubleEq => (Op::Equals, self.value()?),
            Token::NotEq => (Op::NotEquals, self.value()?),
            Token::In => (Op::In(self.set()?), String::new()),
            Token::NotIn => (Op::NotIn(self.set()?), String::new()),
            Token::Gt | Token::Lt => {
                let n = self.ident("an integer")?;
                let n: i64 =
                    n.parse().map_err(|_| format!("for 'Gt', 'Lt' operators, the value must be an integer: {n:?}"))?;
                (if op == Token::Gt { Op::GreaterThan(n) } else { Op::LessThan(n) }, String::new())
            }
            t => return Err(format!("found {t:?}, expected an operator (=, ==, !=, in, notin, <, >)")),
        };
        check_value(&value)?;
        Ok(Requirement { key, op, value })
    }
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<LabelSelector, String> {
        let mut p = Parser { toks: lex(s)?, pos: 0 };
        let mut reqs = Vec::new();
        if p.toks.is_empty() {
            return Ok(LabelSelector(reqs));
        }
        loop {
            reqs.push(p.requirement().map_err(|e| format!("unable to parse requirement: {e}"))?);
            match p.next() {
                None => break,
                Some(Token::Comma) if p.peek().is_some() => {}
                Some(t) => return Err(format!("unable to parse requirement: found {t:?}, expected ','")),
            }
        }
        Ok(LabelSelector(reqs))
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| r.matches(labels))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Field selectors the simulation supports: metadata.name, metadata.namespace, spec.nodeName.
pub struct FieldSel(Vec<(String, String, bool)>);

impl FieldSel {
    fn parse(s: Option<&String>) -> Result<FieldSel, ApiError> {
        let mut out = Vec::new();
        for term in s.map(String::as_str).unwrap_or("").split(',').filter(|t| !t.is_empty()) {
            let (k, v, eq) = if let Some((k, v)) = term.split_once("!=") {
                (k, v, false)
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (k, v, true)
            } else {
                return Err(ApiError::bad_request(format!("invalid field selector: {term:?}")));
            };
            if !matches!(k, "metadata.name" | "metadata.namespace" | "spec.nodeName") {
                return Err(ApiError::bad_request(format!("field label not supported: {k}")));
            }
            out.push((k.to_string(), v.to_string(), eq));
        }
        Ok(FieldSel(out))
    }

    pub fn matches(&self, key: &Key, node: Option<&String>) -> bool {
        self.0.iter().all(|(k, v, eq)| {
            let actual = match k.as_str() {
                "metadata.name" => Some(&key.1),
                "metadata.namespace" => Some(&key.0),
                _ => node,
            };
            (actual.map(String::as_str).unwrap_or("") == v) == *eq
        })
    }
}

/// The `labelSelector` and `fieldSelector` of a list or watch.
pub fn selectors(q: &HashMap<String, String>) -> Result<(LabelSelector, FieldSel), ApiError> {
    let sel = LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
    Ok((sel, FieldSel::parse(q.get("fieldSelector"))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn sel(s: &str) -> LabelSelector {
        LabelSelector::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn empty_selects_everything() {
        assert!(sel("").matches(&labels(&[])));
        assert!(sel("  ").matches(&labels(&[("a", "b")])));
    }

    #[test]
    fn equals_single_and_double() {
        let l = labels(&[("app", "rook-ceph-osd"), ("rook_cluster", "rook-ceph")]);
        assert!(sel("app=rook-ceph-osd").matches(&l));
        assert!(sel("app==rook-ceph-osd").matches(&l));
        assert!(sel("app = rook-ceph-osd , rook_cluster==rook-ceph").matches(&l));
        assert!(!sel("app=rook-ceph-mon").matches(&l));
        assert!(!sel("missing=x").matches(&l));
        // `k=` selects an empty value only
        assert!(sel("e=").matches(&labels(&[("e", "")])));
        assert!(!sel("e=").matches(&labels(&[("e", "x")])));
        assert!(!sel("e=").matches(&labels(&[])));
    }

    #[test]
    fn not_equals_selects_missing_keys_too() {
        let l = labels(&[("app", "rook-ceph-osd")]);
        assert!(!sel("app!=rook-ceph-osd").matches(&l));
        assert!(sel("app!=rook-ceph-mon").matches(&l));
        assert!(sel("other!=x").matches(&l));
    }

    #[test]
    fn in_and_notin() {
        let osd = labels(&[("app", "rook-ceph-osd")]);
        let none = labels(&[]);
        assert!(sel("app in (rook-ceph-osd, rook-ceph-mon)").matches(&osd));
        assert!(sel("app in (rook-ceph-mon,rook-ceph-osd),app!=x").matches(&osd));
        assert!(!sel("app in (rook-ceph-mon)").matches(&osd));
        assert!(!sel("app in (rook-ceph-osd)").matches(&none));
        assert!(!sel("app notin (rook-ceph-osd,rook-ceph-mon)").matches(&osd));
        assert!(sel("app notin (rook-ceph-mon)").matches(&osd));
        assert!(sel("app notin (rook-ceph-mon)").matches(&none), "notin selects objects without the key");
    }

    #[test]
    fn exists_and_not_exists() {
        let held = labels(&[("app", "rook-ceph-osd"), ("ceph.rook.io/do-not-reconcile", "")]);
        let free = labels(&[("app", "rook-ceph-osd")]);
        assert!(sel("ceph.rook.io/do-not-reconcile").matches(&held), "an empty value exists");
        assert!(!sel("ceph.rook.io/do-not-reconcile").matches(&free));
        assert!(sel("app=rook-ceph-osd,ceph.rook.io/do-not-reconcile").matches(&held));
        assert!(!sel("!ceph.rook.io/do-not-reconcile").matches(&held));
        assert!(sel("!ceph.rook.io/do-not-reconcile").matches(&free));
        assert!(sel("app,!mgr_role").matches(&free));
    }

    #[test]
    fn greater_and_less_than() {
        let l = labels(&[("ceph-osd-id", "12")]);
        assert!(sel("ceph-osd-id>3").matches(&l));
        assert!(!sel("ceph-osd-id<3").matches(&l));
        assert!(!sel("missing>3").matches(&l));
        assert!(LabelSelector::parse("ceph-osd-id>x").is_err());
    }

    #[test]
    fn malformed_selectors_are_errors() {
        for bad in [
            "app in (a",
            "app in a",
            "=x",
            "app=x,",
            ",app=x",
            "app=x y",
            "!",
            "app==(x)",
            "app in (a b)",
            "bad key=x",
            "app=-x",
            "Prefix.UPPER/app=x",
            "app notin",
        ] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }
}
