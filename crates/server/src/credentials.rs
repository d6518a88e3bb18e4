//! Users and passwords from a file of `user:pass` lines: memcached's `-Y` authfile, and
//! the password file SASL reads (`MEMCACHED_SASL_PWDB`). Loaded at start, reloaded on
//! SIGHUP: a reload reads the whole file first and swaps it in only if it is good, so a
//! bad file keeps the users loaded before.
//!
//! ```no_run
//! # use server::Credentials;
//! let users = Credentials::load("/etc/corvid/auth", server::CredentialKind::Authfile)?;
//! assert!(users.check(b"app", b"secret"));
//! users.reload()?;
//! # Ok::<(), server::CredentialError>(())
//! ```
//!
//! Comparisons are constant-time (`subtle`): how long a check takes does not depend on
//! how much of a user name or password was right, nor on which entry matched. Passwords
//! never reach a log or `stats`: errors name the file and the line number only.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use subtle::ConstantTimeEq;

/// memcached's authfile reads at most this many entries (later ones are ignored, with a
/// warning here).
pub const AUTHFILE_ENTRIES: usize = 8;
/// memcached's longest authfile line.
pub const AUTHFILE_LINE: usize = 255;

/// Which file format (and limits) a credential file follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// `-Y`: memcached's authfile, at most 8 entries of at most 255 bytes.
    Authfile,
    /// SASL's password file (`MEMCACHED_SASL_PWDB`): `user:pass` lines, any number.
    SaslPwdb,
}

/// Why a credential file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// memcached's words for it.
    #[error("Could not open authfile [{path}] for reading, error {reason}")]
    Open { path: String, reason: String },
    /// A line without `:`, or too long; the line number only, never its text.
    #[error("authfile [{path}] is malformed: line {line} {why}")]
    Malformed {
        path: String,
        line: usize,
        why: &'static str,
    },
}

/// One user and password.
struct Entry {
    user: Box<[u8]>,
    pass: Box<[u8]>,
}

/// The users of a file, as last loaded.
pub struct Credentials {
    path: PathBuf,
    kind: CredentialKind,
    live: RwLock<Arc<Vec<Entry>>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the entries: they hold passwords.
        f.debug_struct("Credentials")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Reads `path`.
    pub fn load(
        path: impl AsRef<Path>,
        kind: CredentialKind,
    ) -> Result<Credentials, CredentialError> {
        let path = path.as_ref().to_path_buf();
        let entries = read(&path, kind)?;
        Ok(Credentials {
            path,
            kind,
            live: RwLock::new(Arc::new(entries)),
        })
    }

    /// Reads the file again; on failure the users loaded before stay.
    pub fn reload(&self) -> Result<(), CredentialError> {
        let fresh = Arc::new(read(&self.path, self.kind)?);
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn entries(&self) -> Arc<Vec<Entry>> {
        self.live.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether `user` with `pass` is in the file. Every entry is compared, in time that
    /// depends only on the lengths involved.
    pub fn check(&self, user: &[u8], pass: &[u8]) -> bool {
        let mut found = subtle::Choice::from(0);
        for e in self.entries().iter() {
            found |= e.user.ct_eq(user) & e.pass.ct_eq(pass);
        }
        found.into()
    }

    /// The password of `user` (CRAM-MD5 needs it to compute the expected digest), found
    /// by a constant-time scan of every entry.
    pub fn password(&self, user: &[u8]) -> Option<Vec<u8>> {
        let mut found = None;
        for e in self.entries().iter() {
            if bool::from(e.user.ct_eq(user)) && found.is_none() {
                found = Some(e.pass.to_vec());
            }
        }
        found
    }
}

/// Parses the file: `user:pass` per line (the password is everything after the first
/// `:`, up to the line's end, `\r` excluded); blank lines are skipped.
fn read(path: &Path, kind: CredentialKind) -> Result<Vec<Entry>, CredentialError> {
    let shown = path.display().to_string();
    let text = std::fs::read(path).map_err(|e| CredentialError::Open {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let mut entries = Vec::new();
    for (number, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let malformed = |why| CredentialError::Malformed {
            path: shown.clone(),
            line: number + 1,
            why,
        };
        if kind == CredentialKind::Authfile && line.len() > AUTHFILE_LINE {
            return Err(malformed("is longer than 255 bytes"));
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(malformed("has no ':' between user and password"));
        };
        if kind == CredentialKind::Authfile && entries.len() == AUTHFILE_ENTRIES {
            eprintln!(
                "authfile [{shown}]: only the first {AUTHFILE_ENTRIES} entries are used, as \
                 memcached's; line {} and later are ignored",
                number + 1
            );
            break;
        }
        entries.push(Entry {
            user: line[..colon].into(),
            pass: line[colon + 1..].into(),
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (PathBuf, impl Drop) {
        struct Gone(PathBuf);
        impl Drop for Gone {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("corvid-cred-{}-{n}", std::process::id()));
        std::fs::write(&path, text).expect("write");
        (path.clone(), Gone(path))
    }

    #[test]
    fn users_check_reload_and_a_bad_file_keeps_the_old() {
        let (path, _gone) = file("foo:bar\r\nbaaaz:quux\n\nempty:\n");
        let c = Credentials::load(&path, CredentialKind::Authfile).expect("load");
        assert!(c.check(b"foo", b"bar"));
        assert!(c.check(b"baaaz", b"quux"));
        assert!(c.check(b"empty", b""));
        assert!(!c.check(b"foo", b"ba"));
        assert!(!c.check(b"foo", b"barr"));
        assert!(!c.check(b"fo", b"bar"));
        assert!(!c.check(b"baaaz", b"bar"));
        assert_eq!(c.password(b"foo").as_deref(), Some(&b"bar"[..]));
        assert_eq!(c.password(b"nobody"), None);
        std::fs::write(&path, "new:one:with:colons\n").expect("write");
        c.reload().expect("reload");
        assert!(!c.check(b"foo", b"bar"));
        assert!(c.check(b"new", b"one:with:colons"));
        std::fs::write(&path, "no colon here\n").expect("write");
        let err = c.reload().expect_err("malformed");
        assert!(err.to_string().contains("line 1"), "{err}");
        assert!(!err.to_string().contains("no colon"), "{err}");
        assert!(c.check(b"new", b"one:with:colons"));
    }

    #[test]
    fn authfile_limits_are_memcached_s() {
        let many: String = (0..10).map(|i| format!("u{i}:p{i}\n")).collect();
        let (path, _gone) = file(&many);
        let c = Credentials::load(&path, CredentialKind::Authfile).expect("load");
        assert!(c.check(b"u7", b"p7"));
        assert!(!c.check(b"u8", b"p8"));
        let pwdb = Credentials::load(&path, CredentialKind::SaslPwdb).expect("load");
        assert!(pwdb.check(b"u9", b"p9"));
        let (long, _gone2) = file(&format!("u:{}\n", "p".repeat(300)));
        assert!(Credentials::load(&long, CredentialKind::Authfile).is_err());
        let missing = Credentials::load("/nonexistent/corvid", CredentialKind::Authfile);
        assert!(missing
            .expect_err("missing")
            .to_string()
            .starts_with("Could not open authfile [/nonexistent/corvid] for reading"));
    }
}
