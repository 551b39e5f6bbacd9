//! Secrets in memory: the Firehose access keys and the HTTP credentials are kept only as
//! SHA-256 digests and checked in constant time ([`KeySet`]); other secrets (the user-hashing
//! key, secrets read from the environment) are wrapped in [`Secret`]. Neither prints its
//! value in `Debug` output, so a config dump or a `{:?}` in a log line cannot leak one.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The secrets of a key or credentials file: one per line, trimmed; blank lines and lines
/// starting with `#` are skipped.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Accepted secrets (several during a rotation), as SHA-256 digests.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    digests: Vec<[u8; 32]>,
}

fn digest(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

impl KeySet {
    pub fn new<I, B>(keys: I) -> KeySet
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        KeySet {
            digests: keys.into_iter().map(|k| digest(k.as_ref())).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.digests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether `presented` is one of the secrets. Comparing digests makes the time independent
    /// of the secrets' lengths and of where a guess first differs; every digest is compared
    /// whichever matches, so the time reveals at most how many secrets there are.
    pub fn contains(&self, presented: &[u8]) -> bool {
        let d = digest(presented);
        let mut found = subtle::Choice::from(0);
        for k in &self.digests {
            found |= k.ct_eq(&d);
        }
        found.into()
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeySet({} redacted)", self.digests.len())
    }
}

/// A secret value whose `Debug` never shows it; [`Secret::expose`] is the only way in.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_whole() {
        let set = KeySet::new(["secret", "rotated-in"]);
        assert!(set.contains(b"secret"));
        assert!(set.contains(b"rotated-in"));
        assert!(!set.contains(b"secreT"));
        assert!(!set.contains(b"secret-longer"));
        assert!(!set.contains(b"secre"));
        assert!(!set.contains(b""));
        assert!(!KeySet::default().contains(b""));
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let set = KeySet::new(["hunter2-hunter2"]);
        let s = Secret::new("hunter2-hunter2".to_string());
        let shown = format!("{set:?} {s:?} {:?}", Some(&s));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(shown, "KeySet(1 redacted) <redacted> Some(<redacted>)");
    }
}
