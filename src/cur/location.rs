//! Where a bill is (pure): a local file or directory, or an S3 prefix (`s3://bucket/prefix/`),
//! and the naming rules that put an S3 prefix's objects into a local cache directory that
//! [`super::read()`] then reads like any other directory.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// One `--cur` value or `[reconcile] cur` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    S3(S3Prefix),
}

/// An S3 "folder": every object whose key starts with `prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Prefix {
    pub bucket: String,
    /// Empty (the whole bucket) or ending in `/`: `s3://b/exports` means the folder
    /// `exports/`, not also `exports-old/` beside it.
    pub prefix: String,
}

impl FromStr for Location {
    type Err = String;

    fn from_str(s: &str) -> Result<Location, String> {
        let Some(rest) = s.strip_prefix("s3://") else {
            return Ok(Location::Local(PathBuf::from(s)));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        // The S3 bucket naming rules, loosely: enough to catch a typo before a request.
        let valid = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b));
        if !valid {
            return Err(format!(
                "{s:?}: {bucket:?} is not an S3 bucket name (expected s3://BUCKET/PREFIX/)"
            ));
        }
        let mut prefix = prefix.trim_start_matches('/').to_string();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Ok(Location::S3(S3Prefix {
            bucket: bucket.to_string(),
            prefix,
        }))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3(s) => write!(f, "{s}"),
        }
    }
}

impl fmt::Display for S3Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

impl S3Prefix {
    /// The cache directory's name under a cache root: readable, and unique per bucket and
    /// prefix (the hash tells apart prefixes that sanitize to the same text).
    pub fn cache_name(&self) -> String {
        let full = format!("{}/{}", self.bucket, self.prefix);
        let readable: String = full
            .trim_end_matches('/')
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .take(80)
            .collect();
        let hash = Sha256::digest(full.as_bytes());
        format!("{readable}-{}", hex::encode(&hash[..4]))
    }

    /// Where the object `key` goes under the cache directory, or `None` when it is not a
    /// data file the reader reads (a manifest, a folder marker, anything else).
    pub fn local_path(&self, key: &str) -> Option<PathBuf> {
        let rel = key.strip_prefix(&self.prefix)?;
        if !is_data_key(rel) {
            return None;
        }
        // Key segments become directories; segments a file system would take as a way up or
        // as nothing (`..`, `.`, empty) are renamed, so every key stays inside the cache.
        let mut path = PathBuf::new();
        for part in rel.split('/') {
            match part {
                "" => {}
                "." | ".." => path.push(part.replace('.', "_")),
                p => path.push(p),
            }
        }
        Some(path)
    }
}

/// The suffixes [`super::read()`] reads: `.csv`, `.csv.gz` (and any `.gz`), `.parquet`.
pub fn is_data_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    !k.ends_with('/') && [".csv", ".gz", ".parquet"].iter().any(|s| k.ends_with(s))
}

/// Whether a cache file is a download in progress (never read, removed by the next sync).
pub fn is_partial(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == PARTIAL)
}

/// A download's temporary name ends in this, which no reader takes for data.
pub const PARTIAL: &str = "partial";

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(s: &str) -> S3Prefix {
        match s.parse::<Location>().unwrap() {
            Location::S3(p) => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn s3_urls_and_local_paths() {
        assert_eq!(
            "/data/cur".parse::<Location>(),
            Ok(Location::Local("/data/cur".into()))
        );
        let p = s3("s3://my-bill/exports/bedrock");
        assert_eq!(
            (p.bucket.as_str(), p.prefix.as_str()),
            ("my-bill", "exports/bedrock/")
        );
        assert_eq!(s3("s3://my-bill/exports/").prefix, "exports/");
        assert_eq!(s3("s3://my-bill").prefix, "");
        assert_eq!(s3("s3://my-bill/").prefix, "");
        assert_eq!(p.to_string(), "s3://my-bill/exports/bedrock/");
        for bad in ["s3://", "s3://Upper/x", "s3://a/x", "s3://bad_name/"] {
            let e = bad.parse::<Location>().unwrap_err();
            assert!(e.contains("not an S3 bucket name"), "{bad}: {e}");
        }
    }

    #[test]
    fn only_data_keys_map_into_the_cache_and_never_outside_it() {
        let p = s3("s3://bkt/cur/");
        let data = "cur/bedrock/data/BILLING_PERIOD=2026-11/bedrock-00001.snappy.parquet";
        assert_eq!(
            p.local_path(data),
            Some(PathBuf::from(
                "bedrock/data/BILLING_PERIOD=2026-11/bedrock-00001.snappy.parquet"
            ))
        );
        assert_eq!(p.local_path("cur/a.csv.gz"), Some("a.csv.gz".into()));
        assert_eq!(p.local_path("cur/A.CSV"), Some("A.CSV".into()));
        assert_eq!(p.local_path("cur/bedrock/metadata/Manifest.json"), None);
        assert_eq!(p.local_path("cur/bedrock/"), None);
        assert_eq!(p.local_path("other/a.csv"), None);
        assert_eq!(
            p.local_path("cur/../../etc/x.csv"),
            Some(PathBuf::from("__/__/etc/x.csv"))
        );
        assert_eq!(p.local_path("cur//./x.csv"), Some(PathBuf::from("_/x.csv")));
    }

    #[test]
    fn cache_names_are_readable_and_distinct() {
        let a = s3("s3://bkt/x/y/").cache_name();
        let b = s3("s3://bkt/x_y/").cache_name();
        assert!(a.starts_with("bkt_x_y-"), "{a}");
        assert!(b.starts_with("bkt_x_y-"), "{b}");
        assert_ne!(a, b);
        assert!(is_partial(Path::new("d/a.csv.gz.1234.partial")));
        assert!(!is_partial(Path::new("d/a.csv.gz")));
    }
}
