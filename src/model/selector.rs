//! Label and field selectors as the apiserver parses them: `=`, `==`, `!=`, `in`, `notin`,
//! `key` (exists) and `!key` (does not exist), comma-separated and all required.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Requirement {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector(pub Vec<Requirement>);

impl Selector {
    pub fn parse(s: &str) -> Result<Selector, String> {
        let mut reqs = Vec::new();
        for term in split_terms(s)? {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            reqs.push(parse_term(term)?);
        }
        Ok(Selector(reqs))
    }

    pub fn matches(&self, labels: &impl LabelSet) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Eq(k, v) => labels.label(k) == Some(v),
            // `!=` matches objects without the key, as in Kubernetes.
            Requirement::NotEq(k, v) => labels.label(k) != Some(v),
            Requirement::In(k, vs) => labels.label(k).is_some_and(|x| vs.contains(x)),
            Requirement::NotIn(k, vs) => labels.label(k).is_none_or(|x| !vs.contains(x)),
            Requirement::Exists(k) => labels.label(k).is_some(),
            Requirement::NotExists(k) => labels.label(k).is_none(),
        })
    }
}

/// Labels a selector is matched against: a map, or a daemon's compact `model::Labels`.
pub trait LabelSet {
    fn label(&self, key: &str) -> Option<&String>;
}

impl LabelSet for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&String> {
        self.get(key)
    }
}

impl LabelSet for crate::model::Labels {
    fn label(&self, key: &str) -> Option<&String> {
        self.get(key)
    }
}

/// Split on commas outside parentheses.
fn split_terms(s: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("unexpected ')' in selector {s:?}"));
                }
            }
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unclosed '(' in selector {s:?}"));
    }
    out.push(&s[start..]);
    Ok(out)
}

fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.len() <= 316 && k.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63 && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn parse_term(t: &str) -> Result<Requirement, String> {
    let check = |k: &str, vals: &[&str]| -> Result<(), String> {
        if !valid_key(k) {
            return Err(format!("invalid label key {k:?}"));
        }
        if let Some(v) = vals.iter().find(|v| !valid_value(v)) {
            return Err(format!("invalid label value: {v:?}"));
        }
        Ok(())
    };
    if let Some(k) = t.strip_prefix('!') {
        let k = k.trim();
        check(k, &[])?;
        return Ok(Requirement::NotExists(k.to_string()));
    }
    for (op, ctor) in [("!=", 0u8), ("==", 1), ("=", 1)] {
        if let Some((k, v)) = t.split_once(op) {
            let (k, v) = (k.trim(), v.trim());
            check(k, &[v])?;
            return Ok(if ctor == 0 {
                Requirement::NotEq(k.into(), v.into())
            } else {
                Requirement::Eq(k.into(), v.into())
            });
        }
    }
    if let Some(open) = t.find('(') {
        let head = t[..open].trim();
        let close = t.rfind(')').ok_or_else(|| format!("missing ')' in {t:?}"))?;
        if !t[close + 1..].trim().is_empty() {
            return Err(format!("unexpected text after ')' in {t:?}"));
        }
        let vals: Vec<&str> = t[open + 1..close].split(',').map(str::trim).collect();
        let mut parts = head.split_whitespace();
        let (k, op) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if parts.next().is_some() {
            return Err(format!("unexpected words in {t:?}"));
        }
        check(k, &vals)?;
        let vals: Vec<String> = vals.iter().filter(|v| !v.is_empty()).map(|v| v.to_string()).collect();
        if vals.is_empty() {
            return Err(format!("for 'in', 'notin' operators, values set can't be empty in {t:?}"));
        }
        return match op {
            "in" => Ok(Requirement::In(k.into(), vals)),
            "notin" => Ok(Requirement::NotIn(k.into(), vals)),
            _ => Err(format!("unknown operator {op:?} in {t:?}")),
        };
    }
    let k = t.trim();
    if k.contains(char::is_whitespace) {
        return Err(format!("found unexpected words in selector term {t:?}"));
    }
    check(k, &[])?;
    Ok(Requirement::Exists(k.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn every_operator() {
        let l = labels(&[("app", "rook-ceph-osd"), ("ceph-osd-id", "12"), ("rook_cluster", "rook-ceph")]);
        let yes = [
            "app=rook-ceph-osd",
            "app==rook-ceph-osd",
            "app!=rook-ceph-mon",
            "app in (rook-ceph-mon, rook-ceph-osd)",
            "app notin (rook-ceph-mon)",
            "ceph-osd-id",
            "!ceph.rook.io/do-not-reconcile",
            "rook_cluster=rook-ceph,app in (rook-ceph-osd),ceph-osd-id=12",
            "missing!=x",
            "missing notin (x)",
            "",
        ];
        for s in yes {
            assert!(Selector::parse(s).unwrap().matches(&l), "{s} should match");
        }
        let no = [
            "app=rook-ceph-mon",
            "app!=rook-ceph-osd",
            "app in (a,b)",
            "app notin (rook-ceph-osd)",
            "missing",
            "!app",
            "missing in (x)",
        ];
        for s in no {
            assert!(!Selector::parse(s).unwrap().matches(&l), "{s} should not match");
        }
    }

    #[test]
    fn malformed_selectors_are_errors() {
        for s in ["app in (a", "app in ()", "a b", "app=in valid", "app ni (x)", "app)"] {
            assert!(Selector::parse(s).is_err(), "{s} should be an error");
        }
    }
}
