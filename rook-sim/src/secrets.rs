//! Credentials rook-sim makes and writes: random tokens, and files only their owner reads.

use std::hash::{BuildHasher, Hasher};
use std::path::Path;

pub(crate) fn random_hex(n: usize) -> String {
    let mut s = String::new();
    while s.len() < n {
        // RandomState is seeded from the OS: enough for a loopback test token.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0),
        );
        s.push_str(&format!("{:016x}", h.finish()));
    }
    s.truncate(n);
    s
}

/// Write a file that holds a credential: mode 0600 whether the file is new or was already
/// there with a wider mode. The mode is set on the open file before anything is truncated or
/// written, so the credential is never readable by others, not even for a moment.
pub(crate) fn write_private(path: &Path, content: &str) -> Result<(), String> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let err = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true);
    #[cfg(unix)]
    o.mode(0o600);
    let mut f = o.open(path).map_err(err)?;
    #[cfg(unix)]
    f.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    f.set_len(0).map_err(err)?;
    f.write_all(content.as_bytes()).map_err(err)
}
