//! Container image references, validated by the OCI distribution reference grammar
//! (distribution/reference): `[domain[:port]/]path[:tag][@algorithm:hex]`, with digests as
//! the OCI image spec's descriptor rules register them (`sha256`: 64, `sha512`: 128
//! lower-case hex digits) and a registry port of 1 to 65535.
//!
//! Hand-written rather than a crate's: `oci-spec`'s `Digest` accepts any algorithm the
//! open grammar allows (`md5:...` parses) and brings derive_builder, getset and strum;
//! `oci-client`'s `Reference` brings a registry client. The rules below are short and each
//! one is tested with its error message.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Exactly as given: a digest is never rewritten.
    pub original: String,
    pub domain: Option<String>,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

fn is_alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// The digest algorithms the OCI image spec registers that Kubernetes' container runtimes
/// pull by, with the length of their lower-case hex encoding.
pub const DIGESTS: [(&str, usize); 2] = [("sha256", 64), ("sha512", 128)];

/// path-component := alpha-numeric [separator alpha-numeric]*, separator := [_.]|__|[-]+
fn valid_path_component(s: &str) -> bool {
    let b: Vec<char> = s.chars().collect();
    if b.is_empty() || !is_alnum_lower(b[0]) || !is_alnum_lower(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum_lower(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum_lower(b[i]) {
            i += 1;
        }
        let sep: String = b[start..i].iter().collect();
        let ok = sep == "." || sep == "_" || sep == "__" || sep.chars().all(|c| c == '-');
        if !ok {
            return false;
        }
    }
    true
}

/// A registry as host and port: `quay.io`, `reg:5000`, `[::1]:5000`, `[::1]`.
fn host_port(d: &str) -> (&str, Option<&str>) {
    if d.starts_with('[') {
        return match d.find(']') {
            Some(i) if i + 1 == d.len() => (d, None),
            Some(i) if d[i + 1..].starts_with(':') => (&d[..=i], Some(&d[i + 2..])),
            _ => ("", None),
        };
    }
    match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    }
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = host_port(d);
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    if host.starts_with('[') && host.ends_with(']') {
        return host[1..host.len() - 1].parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            !c.is_empty()
                && c.chars().all(|x| x.is_ascii_alphanumeric() || x == '-')
                && !c.starts_with('-')
                && !c.ends_with('-')
        })
}

pub fn parse(s: &str) -> Result<ImageRef, String> {
    let err = |why: &str| {
        Err(format!(
            "invalid image reference {s:?}: {why}; expected [registry[:port]/]repository[:tag][@sha256:<64 hex>], \
             e.g. quay.io/ceph/ceph:v19.2.3"
        ))
    };
    if s.is_empty() {
        return err("it is empty");
    }
    if s.chars().any(|c| c.is_whitespace() || crate::output::is_unsafe(c)) {
        return err("it contains white space or control characters");
    }
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    if let Some(d) = digest {
        let Some((alg, hex)) = d.split_once(':') else {
            return err("a digest is algorithm:hex, e.g. sha256:<64 hex digits>");
        };
        let Some((_, len)) = DIGESTS.iter().find(|(a, _)| *a == alg) else {
            return err(&format!(
                "digest algorithm {alg:?} is not supported: use sha256 (64 hex digits) or sha512 (128), the \
                 algorithms the OCI image spec registers"
            ));
        };
        if hex.len() != *len || !hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) {
            return err(&format!(
                "a {alg} digest has exactly {len} lower-case hex digits (this one has {} characters{})",
                hex.chars().count(),
                if hex.chars().any(|c| c.is_ascii_uppercase()) { ", some upper case" } else { "" }
            ));
        }
    }
    // The tag follows the last ':' after the last '/'.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && t.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !ok {
            return err("the tag must be letters, digits, '_', '.', '-' (at most 128, not starting with '.' or '-')");
        }
    }
    if name.len() > 255 {
        return err("the repository name is longer than 255 characters");
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    let domain = if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost") {
        Some(parts.remove(0).to_string())
    } else {
        None
    };
    if let Some(d) = &domain
        && !valid_domain(d)
    {
        return err("the registry host is not a valid host[:port]");
    }
    if let Some(p) = domain.as_deref().and_then(|d| host_port(d).1)
        && !p.parse::<u16>().is_ok_and(|n| n >= 1)
    {
        return err(&format!("registry port {p} is out of range: a port is 1 to 65535"));
    }
    if let Some(bad) = parts.iter().find(|p| !valid_path_component(p)) {
        return if bad.chars().any(|c| c.is_ascii_uppercase()) {
            err("repository names must be lower case")
        } else {
            err(&format!("{bad:?} is not a valid repository path component"))
        };
    }
    Ok(ImageRef {
        original: s.to_string(),
        domain,
        path: parts.join("/"),
        tag: tag.map(str::to_string),
        digest: digest.map(str::to_string),
    })
}

impl ImageRef {
    /// Neither a tag nor a digest: the runtime pulls `:latest`, whatever that is today.
    pub fn is_floating(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }
}

/// Is this the Rook operator's image (`rook/ceph`, `docker.io/rook/ceph:v1.20.6`, a
/// mirror's `reg:5000/rook/ceph`)? It runs Rook, not Ceph: never a Ceph target (FACTS §5).
pub fn is_rook_operator(image: &str) -> bool {
    let repo = repository(image);
    repo == "rook/ceph" || repo.ends_with("/rook/ceph")
}

/// The repository of an image reference, without tag or digest
/// (`reg:5000/ceph/ceph:v19@sha256:...` -> `reg:5000/ceph/ceph`).
fn repository(image: &str) -> &str {
    let name = image.split('@').next().unwrap_or(image);
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].rfind(':') {
        Some(i) => &name[..last_slash + i],
        None => name,
    }
}

/// Is this an image of a Ceph repository (`quay.io/ceph/ceph`, `ceph/daemon-base`, a
/// private mirror's `registry:5000/ceph/ceph`, `ceph-custom`), whose tag names a Ceph
/// release? The Rook operator image (`rook/ceph:v1.20.6`) is not: its tag is Rook's
/// version (FACTS §5), nor is a gateway image (`ceph/nvmeof:1.5`).
pub fn is_ceph_repository(image: &str) -> bool {
    let repo = repository(image);
    let mut parts = repo.rsplit('/');
    let last = parts.next().unwrap_or("");
    let parent = parts.next();
    if parent == Some("rook") || last.starts_with("rook") {
        return false;
    }
    last == "ceph"
        || last.starts_with("ceph-")
        || last.starts_with("ceph_")
        || last == "daemon-base"
        || last == "daemon"
}

/// A Ceph version string as Rook and Ceph write it (`19.2.3`, `19.2.3-0`, `v19.2.3`).
pub fn parse_version(s: &str) -> Option<CephVersion> {
    let t = s.strip_prefix('v').unwrap_or(s);
    let mut nums = t.splitn(4, |c: char| !c.is_ascii_digit());
    let major = nums.next()?.parse().ok()?;
    let minor = nums.next()?.parse().ok()?;
    let patch = nums.next()?.parse().ok()?;
    // `19.2.3` must be the start, each part separated by a dot
    if !t.starts_with(&format!("{major}.{minor}.{patch}")) {
        return None;
    }
    Some(CephVersion { major, minor, patch })
}

/// The Ceph release an image tag names: (`19.2.3`, major 19), from tags such as `v19.2.3`,
/// `v19.2.3-mgrfix`, `v19.2.3-20250101`, for images of a Ceph repository only
/// (`is_ceph_repository`); None for `latest`, digests without a tag, other images.
pub fn ceph_version(image: &str) -> Option<CephVersion> {
    if !is_ceph_repository(image) {
        return None;
    }
    parse_version(tag_of(image)?)
}

/// A Ceph build as `ceph versions` tells builds apart: the release it is (`19.2.3`) and
/// the name of the build (`19.2.3`, `19.2.3-hotfix.2`, `18.2.1.2`). Two daemons on
/// builds with different names are two versions to Ceph (`DAEMON_OLD_VERSION` counts them,
/// HEALTH_ERR from three), even within one release.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Build {
    pub version: CephVersion,
    /// The tag without its leading `v` and without a date suffix (`v19.2.3-20250717` is
    /// Ceph's own rebuild of 19.2.3 with newer OS packages: the same Ceph build), or the
    /// version Rook detected for an image whose tag names none.
    pub name: String,
}

impl fmt::Display for Build {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// The build an image's tag names, for images of a Ceph repository whose tag starts with
/// a version: `v19.2.3` and `v19.2.3-20250717` -> `19.2.3`; `v19.2.3-hotfix.2` ->
/// `19.2.3-hotfix.2`; `18.2.1.2` -> `18.2.1.2` (four-part tags of patched builds, e.g.
/// cybozu/neco-containers). None where `ceph_version` is None.
pub fn tag_build(image: &str) -> Option<Build> {
    let version = ceph_version(image)?;
    let tag = tag_of(image)?;
    let mut name = tag.strip_prefix('v').unwrap_or(tag).to_string();
    // ceph/ceph's date-stamped rebuilds: `-YYYYMMDD` at the end (quay.io/ceph/ceph tags).
    if let Some((head, date)) = name.rsplit_once('-')
        && date.len() == 8
        && date.chars().all(|c| c.is_ascii_digit())
        && parse_version(head).is_some()
    {
        name = head.to_string();
    }
    Some(Build { version, name })
}

/// The build of a version Rook detected (`19.2.3-0`, the `ceph-version` label or
/// `status.version.version`): `-0` is Ceph's release build and names the release alone;
/// another build number stays (`19.2.3-1`). Rook: pkg/operator/ceph/version/version.go.
pub fn detected_build(v: &str) -> Option<Build> {
    let version = parse_version(v)?;
    let t = v.strip_prefix('v').unwrap_or(v);
    let name = match t.strip_prefix(&version.to_string()) {
        Some("") | Some("-0") => version.to_string(),
        _ => t.to_string(),
    };
    Some(Build { version, name })
}

/// The tag of an image reference (`quay.io/ceph/ceph:v19.2.3@sha256:...` -> `v19.2.3`).
fn tag_of(image: &str) -> Option<&str> {
    let without_digest = image.split('@').next()?;
    let last = without_digest.rsplit('/').next()?;
    last.split_once(':').map(|(_, t)| t)
}

/// Repository and digest of a reference pinned by digest, with Docker's defaults spelled
/// out (`ceph/ceph@sha256:X` and `docker.io/ceph/ceph:v1@sha256:X` are both
/// `docker.io/ceph/ceph` and `sha256:X`): the same digest of the same repository is the
/// same image, whatever tag is written beside it (distribution/reference's normalising).
pub fn pinned(image: &str) -> Option<(String, &str)> {
    let (_, digest) = image.split_once('@')?;
    let repo = repository(image);
    let first = repo.split('/').next().unwrap_or("");
    let has_domain = repo.contains('/') && (first.contains(['.', ':']) || first == "localhost");
    let full = match (has_domain, repo.contains('/')) {
        (true, _) => repo.to_string(),
        (false, true) => format!("docker.io/{repo}"),
        (false, false) => format!("docker.io/library/{repo}"),
    };
    let full = match full.strip_prefix("index.docker.io/") {
        Some(rest) => format!("docker.io/{rest}"),
        None => full,
    };
    Some((full, digest))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CephVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl CephVersion {
    pub fn release(&self) -> &'static str {
        match self.major {
            12 => "luminous",
            13 => "mimic",
            14 => "nautilus",
            15 => "octopus",
            16 => "pacific",
            17 => "quincy",
            18 => "reef",
            19 => "squid",
            20 => "tentacle",
            21 => "umbrella",
            _ => "unknown release",
        }
    }
}

impl fmt::Display for CephVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rook_operator_image_is_told_apart() {
        for i in
            ["rook/ceph:v1.11.7", "docker.io/rook/ceph:v1.20.6", "reg:5000/rook/ceph:v1.1.0", "rook/ceph@sha256:ab"]
        {
            assert!(is_rook_operator(i), "{i}");
        }
        for i in ["quay.io/ceph/ceph:v20.2.6", "quay.io/rook/ceph-custom:v1", "ceph/daemon-base:latest"] {
            assert!(!is_rook_operator(i), "{i}");
        }
    }

    const SHA512: &str = "localhost:5000/ceph@sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\
                          0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn valid_references() {
        let r = parse("quay.io/ceph/ceph:v19.2.3").unwrap();
        assert_eq!(
            (r.domain.as_deref(), r.path.as_str(), r.tag.as_deref()),
            (Some("quay.io"), "ceph/ceph", Some("v19.2.3"))
        );
        let d = "registry.example.com:5000/ceph/ceph@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let r = parse(d).unwrap();
        assert_eq!(r.to_string(), d, "a digest is kept exactly");
        assert_eq!(r.domain.as_deref(), Some("registry.example.com:5000"));
        assert!(r.tag.is_none());
        let r =
            parse("ceph/ceph:v19.2.3-mgrfix@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
                .unwrap();
        assert_eq!(r.tag.as_deref(), Some("v19.2.3-mgrfix"));
        assert!(r.digest.is_some());
        for ok in [
            "ceph",
            "localhost/ceph",
            "localhost:5000/a/b__c",
            "ab-c_d/e---f:1",
            "[::1]:5000/ceph:x",
            "reg/x:_tag",
            "reg.example:1/ceph:v1",
            "reg.example:65535/ceph:v1",
            "[::1]/ceph",
            SHA512,
        ] {
            assert!(parse(ok).is_ok(), "{ok}: {:?}", parse(ok));
        }
        assert!(parse("quay.io/ceph/ceph").unwrap().is_floating());
        assert!(!parse("quay.io/ceph/ceph:v1").unwrap().is_floating());
    }

    #[test]
    fn invalid_references() {
        for (bad, why) in [
            ("", "empty"),
            ("quay.io/Ceph/ceph:v1", "lower case"),
            ("quay.io/ceph/ceph:", "tag"),
            ("quay.io/ceph/ceph:-v1", "tag"),
            ("quay.io/ceph/ceph@sha256:abc", "a sha256 digest has exactly 64 lower-case hex digits"),
            (
                "quay.io/ceph/ceph@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
                "some upper case",
            ),
            (
                "quay.io/ceph/ceph@sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "a sha512 digest has exactly 128",
            ),
            ("quay.io/ceph/ceph@md5:0123456789abcdef0123456789abcdef", "digest algorithm \"md5\" is not supported"),
            (
                "quay.io/ceph/ceph@sha384:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "not supported",
            ),
            ("quay.io/ceph/ceph@sha256", "a digest is algorithm:hex"),
            ("registry.example.com:0/ceph/ceph:v1", "registry port 0 is out of range"),
            ("registry.example.com:99999/ceph/ceph:v1", "registry port 99999 is out of range"),
            ("registry.example.com:123456/ceph/ceph:v1", "registry host"),
            ("[::1]:0/ceph:v1", "port 0 is out of range"),
            ("quay.io/ceph/ceph:v1.\u{202e}x", "white space or control"),
            ("quay.io/ceph/ceph:a+b", "tag"),
            ("quay.io//ceph", "component"),
            ("quay.io/ceph/ceph:v1 ", "white space"),
            ("quay.io:port/ceph", "registry host"),
            ("ceph-/x", "component"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
            assert!(e.contains("expected [registry[:port]/]repository[:tag]"), "{e}");
        }
    }

    #[test]
    fn versions() {
        let v = |s| ceph_version(s).map(|v| v.to_string());
        assert_eq!(v("quay.io/ceph/ceph:v19.2.3"), Some("19.2.3".into()));
        assert_eq!(v("r:5000/ceph:v19.2.3-mgrfix"), Some("19.2.3".into()));
        assert_eq!(v("ceph:20.2.4-20250101"), Some("20.2.4".into()));
        assert_eq!(v("ceph:latest"), None);
        assert_eq!(v("registry:5000/ceph"), None);
        assert_eq!(v("ceph@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), None);
        assert!(ceph_version("ceph:v19.2.6").unwrap() < ceph_version("ceph:v20.2.3").unwrap());
        assert_eq!(ceph_version("ceph/ceph:v20.1.0").unwrap().release(), "tentacle");
        // The Rook operator image's tag is Rook's version, never Ceph's (FACTS §5).
        for not_ceph in
            ["rook/ceph:v1.11.7", "docker.io/rook/ceph:v1.20.6", "reg:5000/rook/ceph:v1.1.0", "quay.io/ceph/nvmeof:1.5"]
        {
            assert_eq!(v(not_ceph), None, "{not_ceph}");
        }
        assert_eq!(v("registry.lab.example:50443/ceph/ceph:v14.2.3-20190904"), Some("14.2.3".into()));
        assert_eq!(v("quay.io/ceph/daemon-base:v19.2.3"), Some("19.2.3".into()));
        assert_eq!(parse_version("19.2.3-0").map(|v| v.to_string()), Some("19.2.3".into()));
    }

    #[test]
    fn builds_by_tag_digest_and_detection() {
        let b = |s| tag_build(s).map(|b| b.name);
        assert_eq!(b("quay.io/ceph/ceph:v19.2.3"), Some("19.2.3".into()));
        assert_eq!(b("quay.io/ceph/ceph:v19.2.3-20250717"), Some("19.2.3".into()), "a date-stamped rebuild");
        assert_eq!(b("r.example/storage/ceph:v19.2.3-hotfix.2"), Some("19.2.3-hotfix.2".into()));
        assert_eq!(b("quay.io/cybozu/ceph:18.2.1.2"), Some("18.2.1.2".into()));
        assert_eq!(
            b("quay.io/ceph/ceph:v19.2.3@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
            Some("19.2.3".into())
        );
        assert_eq!(b("quay.io/ceph/ceph:latest"), None);
        assert_eq!(b("quay.io/ceph/ceph:v19.2.3-12345678"), Some("19.2.3".into()));
        assert_eq!(b("quay.io/ceph/ceph:v19.2.3-1234567"), Some("19.2.3-1234567".into()), "not a date");
        assert_ne!(tag_build("ceph:v19.2.3-hotfix.1"), tag_build("ceph:v19.2.3-hotfix.2"));
        assert_eq!(detected_build("19.2.3-0").map(|b| b.name), Some("19.2.3".into()));
        assert_eq!(detected_build("19.2.3").map(|b| b.name), Some("19.2.3".into()));
        assert_eq!(detected_build("19.2.3-1").map(|b| b.name), Some("19.2.3-1".into()));
        let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(pinned(&format!("ceph/ceph@{d}")), pinned(&format!("docker.io/ceph/ceph:v19.2.3@{d}")));
        assert_eq!(pinned(&format!("ceph@{d}")).unwrap().0, "docker.io/library/ceph");
        assert_ne!(pinned(&format!("quay.io/ceph/ceph@{d}")), pinned(&format!("docker.io/ceph/ceph@{d}")));
        assert_eq!(pinned("quay.io/ceph/ceph:v19.2.3"), None);
    }
}
