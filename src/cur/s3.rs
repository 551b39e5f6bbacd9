//! CUR files from an S3 prefix (I/O): list the prefix (ListObjectsV2, every page), download
//! the data files into a local cache directory, and hand that directory to [`super::read()`].
//!
//! The cache is kept between runs: an object is downloaded again only when its ETag changed
//! (a Data Export set to "overwrite" replaces files in place), a cached file whose object is
//! gone is deleted, and new keys ("create new" exports add versions under new paths) are
//! fetched. Each download goes to a `.partial` name, which no reader takes for data, and is
//! renamed into place once complete, so a crash never leaves half a file that parses. The
//! ETags of the cached files are in `.etags.json`, written the same way after each sync; a
//! file it does not vouch for is downloaded again.
//!
//! Credentials and region come from the AWS default chain; `AWS_ENDPOINT_URL` sends the
//! requests elsewhere (a local emulator), with path-style addressing since such endpoints
//! rarely resolve `bucket.host` names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use tokio::io::AsyncWriteExt;

use super::location::{self, Location, S3Prefix};

/// The cache directory's record of which ETag each cached file was downloaded at.
const INDEX: &str = ".etags.json";

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("cannot list {prefix}: {message}{}", hint(code.as_deref(), Request::List, prefix))]
    List {
        prefix: S3Prefix,
        code: Option<String>,
        message: String,
    },
    #[error("cannot download s3://{}/{key}: {message}{}", prefix.bucket, hint(code.as_deref(), Request::Get, prefix))]
    Get {
        prefix: S3Prefix,
        key: String,
        code: Option<String>,
        message: String,
    },
    #[error("{}: {source} (the local cache of {prefix})", path.display())]
    Cache {
        prefix: S3Prefix,
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Copy)]
enum Request {
    List,
    Get,
}

/// What to fix, from the S3 error code (the message alone rarely says).
fn hint(code: Option<&str>, request: Request, p: &S3Prefix) -> String {
    let b = &p.bucket;
    match (code, request) {
        (Some("NoSuchBucket"), _) => format!(" (there is no bucket {b:?}: check the s3:// URL)"),
        (Some("AccessDenied" | "AllAccessDisabled"), Request::List) => format!(
            " (the credentials need s3:ListBucket on arn:aws:s3:::{b}, which a condition on \
             s3:prefix may limit to \"{}*\"; and s3:GetObject on arn:aws:s3:::{b}/{}*)",
            p.prefix, p.prefix
        ),
        (Some("AccessDenied" | "AllAccessDisabled"), Request::Get) => format!(
            " (the credentials need s3:GetObject on arn:aws:s3:::{b}/{}*, and kms:Decrypt if \
             the export is encrypted with a KMS key)",
            p.prefix
        ),
        (
            Some(
                "PermanentRedirect"
                | "AuthorizationHeaderMalformed"
                | "IllegalLocationConstraintException",
            ),
            _,
        ) => {
            format!(" (the bucket {b:?} is in another region: set AWS_REGION to its region)")
        }
        (
            Some("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "ExpiredToken" | "InvalidToken"),
            _,
        ) => " (check the credentials of the AWS default chain: AWS_PROFILE, AWS_ACCESS_KEY_ID, \
             the instance or pod role)"
            .to_string(),
        _ => String::new(),
    }
}

/// The code and a one-line message of an SDK error.
fn describe<E>(e: &aws_sdk_s3::error::SdkError<E>) -> (Option<String>, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match (e.code(), e.message()) {
        (Some(code), Some(msg)) => (Some(code.to_string()), format!("{code}: {msg}")),
        (Some(code), None) => (Some(code.to_string()), code.to_string()),
        _ => (None, DisplayErrorContext(e).to_string()),
    }
}

/// A client from the AWS default chain.
pub async fn client() -> aws_sdk_s3::Client {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let mut conf = aws_sdk_s3::config::Builder::from(&sdk);
    if sdk.endpoint_url().is_some() {
        conf = conf.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(conf.build())
}

/// The local paths to read for `locations`: local ones as given, each S3 prefix synced into
/// its own directory under `cache_root`. The client is made only when there is an S3 prefix.
pub async fn local_paths(
    locations: &[Location],
    cache_root: &Path,
) -> Result<Vec<PathBuf>, S3Error> {
    let mut client_ = None;
    let mut out = Vec::with_capacity(locations.len());
    for l in locations {
        match l {
            Location::Local(p) => out.push(p.clone()),
            Location::S3(p) => {
                if client_.is_none() {
                    client_ = Some(client().await);
                }
                let c = client_.as_ref().expect("made above");
                let dir = cache_root.join(p.cache_name());
                let s = sync(c, p, &dir).await?;
                if s.objects == 0 {
                    tracing::warn!("{p} holds no CUR data files (.csv, .csv.gz, .gz, .parquet)");
                }
                tracing::info!(
                    objects = s.objects,
                    downloaded = s.downloaded,
                    removed = s.removed,
                    cache = %dir.display(),
                    "synced the CUR files of {p}"
                );
                out.push(dir);
            }
        }
    }
    Ok(out)
}

/// What a [`sync`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Synced {
    /// Data files under the prefix.
    pub objects: usize,
    pub downloaded: usize,
    /// Cached files deleted: their object is gone (or they were a download cut short).
    pub removed: usize,
}

/// Makes `dir` hold exactly the prefix's data files, downloading only what changed.
pub async fn sync(
    client: &aws_sdk_s3::Client,
    prefix: &S3Prefix,
    dir: &Path,
) -> Result<Synced, S3Error> {
    let cache_err = |path: &Path| {
        let (prefix, path) = (prefix.clone(), path.to_path_buf());
        move |source| S3Error::Cache {
            prefix,
            path,
            source,
        }
    };
    let listed = list(client, prefix).await?;
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(cache_err(dir))?;
    let index_path = dir.join(INDEX);
    let mut index: BTreeMap<String, String> = match tokio::fs::read(&index_path).await {
        // An unreadable index only costs downloads.
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(_) => BTreeMap::new(),
    };
    let mut downloaded = 0;
    let mut wanted = BTreeMap::new();
    for o in &listed {
        let rel = o.local.to_string_lossy().into_owned();
        let path = dir.join(&o.local);
        let fresh = index.get(&rel) == Some(&o.etag)
            && tokio::fs::metadata(&path)
                .await
                .is_ok_and(|m| m.is_file() && Some(m.len()) == o.size);
        if !fresh {
            let etag = download(client, prefix, &o.key, &path).await?;
            index.insert(rel.clone(), etag);
            downloaded += 1;
        }
        wanted.insert(rel, ());
    }
    index.retain(|k, _| wanted.contains_key(k));
    let removed = prune(dir, dir, &wanted).map_err(cache_err(dir))?;
    let json = serde_json::to_vec_pretty(&index).expect("a map of strings");
    write_atomically(&index_path, &json)
        .await
        .map_err(cache_err(&index_path))?;
    Ok(Synced {
        objects: listed.len(),
        downloaded,
        removed,
    })
}

struct Listed {
    key: String,
    local: PathBuf,
    etag: String,
    size: Option<u64>,
}

async fn list(client: &aws_sdk_s3::Client, prefix: &S3Prefix) -> Result<Vec<Listed>, S3Error> {
    let mut pages = client
        .list_objects_v2()
        .bucket(&prefix.bucket)
        .prefix(&prefix.prefix)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            let (code, message) = describe(&e);
            S3Error::List {
                prefix: prefix.clone(),
                code,
                message,
            }
        })?;
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            let Some(local) = prefix.local_path(key) else {
                continue;
            };
            out.push(Listed {
                key: key.to_string(),
                local,
                // Without an ETag, size and time stand in for one.
                etag: o.e_tag().map(str::to_string).unwrap_or_else(|| {
                    format!("{:?}/{:?}", o.size(), o.last_modified().map(|t| t.secs()))
                }),
                size: o.size().and_then(|s| u64::try_from(s).ok()),
            });
        }
    }
    Ok(out)
}

/// Downloads `key` to `path` through a `.partial` file; returns the ETag downloaded.
async fn download(
    client: &aws_sdk_s3::Client,
    prefix: &S3Prefix,
    key: &str,
    path: &Path,
) -> Result<String, S3Error> {
    let get_err = |code, message| S3Error::Get {
        prefix: prefix.clone(),
        key: key.to_string(),
        code,
        message,
    };
    let out = client
        .get_object()
        .bucket(&prefix.bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| {
            let (code, message) = describe(&e);
            get_err(code, message)
        })?;
    // The object may have changed since the listing: the ETag of what was read is the one
    // the cache records.
    let etag = out.e_tag().unwrap_or_default().to_string();
    let mut body = out.body;
    let partial = partial_name(path);
    let cache_err = |path: &Path| {
        let (prefix, path) = (prefix.clone(), path.to_path_buf());
        move |source| S3Error::Cache {
            prefix,
            path,
            source,
        }
    };
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(cache_err(parent))?;
    }
    let mut file = tokio::fs::File::create(&partial)
        .await
        .map_err(cache_err(&partial))?;
    let written: Result<(), S3Error> = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| get_err(None, DisplayErrorContext(&e).to_string()))?;
            file.write_all(&chunk).await.map_err(cache_err(&partial))?;
        }
        file.sync_all().await.map_err(cache_err(&partial))?;
        tokio::fs::rename(&partial, path)
            .await
            .map_err(cache_err(path))
    }
    .await;
    if written.is_err() {
        let _ = tokio::fs::remove_file(&partial).await;
    }
    written.map(|()| etag)
}

fn partial_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.{}", std::process::id(), location::PARTIAL));
    path.with_file_name(name)
}

async fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let partial = partial_name(path);
    tokio::fs::write(&partial, bytes).await?;
    tokio::fs::rename(&partial, path).await
}

/// Deletes the files under `dir` that are not `wanted` (relative to `root`), and the
/// directories that leaves empty. Blocking, but a cache directory is small.
fn prune(root: &Path, dir: &Path, wanted: &BTreeMap<String, ()>) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            removed += prune(root, &path, wanted)?;
            // Not empty is fine: it holds wanted files.
            let _ = std::fs::remove_dir(&path);
            continue;
        }
        let rel = path.strip_prefix(root).unwrap_or(&path);
        if rel == Path::new(INDEX) {
            continue;
        }
        if location::is_partial(&path) || !wanted.contains_key(&*rel.to_string_lossy()) {
            std::fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> S3Prefix {
        S3Prefix {
            bucket: "bill".into(),
            prefix: "cur/".into(),
        }
    }

    #[test]
    fn errors_say_what_to_fix() {
        let e = S3Error::List {
            prefix: p(),
            code: Some("AccessDenied".into()),
            message: "AccessDenied: Access Denied".into(),
        };
        let text = e.to_string();
        assert!(
            text.starts_with("cannot list s3://bill/cur/: AccessDenied"),
            "{text}"
        );
        assert!(
            text.contains("s3:ListBucket on arn:aws:s3:::bill"),
            "{text}"
        );
        assert!(text.contains("\"cur/*\""), "{text}");
        let e = S3Error::Get {
            prefix: p(),
            key: "cur/a.csv".into(),
            code: Some("AccessDenied".into()),
            message: "AccessDenied: no".into(),
        };
        let text = e.to_string();
        assert!(
            text.starts_with("cannot download s3://bill/cur/a.csv:"),
            "{text}"
        );
        assert!(
            text.contains("s3:GetObject on arn:aws:s3:::bill/cur/*"),
            "{text}"
        );
        assert!(hint(Some("NoSuchBucket"), Request::List, &p()).contains("no bucket \"bill\""));
        assert_eq!(hint(None, Request::List, &p()), "");
    }

    #[test]
    fn prune_keeps_the_wanted_files_and_the_index() {
        let dir = std::env::temp_dir().join(format!("cur-s3-prune-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        for f in [
            "a/b/keep.csv",
            "a/b/gone.csv",
            "a/keep.csv.9.partial",
            INDEX,
            "old/x.csv",
        ] {
            let path = dir.join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "x").unwrap();
        }
        let wanted = BTreeMap::from([("a/b/keep.csv".to_string(), ())]);
        assert_eq!(prune(&dir, &dir, &wanted).unwrap(), 3);
        assert!(dir.join("a/b/keep.csv").exists() && dir.join(INDEX).exists());
        assert!(!dir.join("old").exists(), "emptied directories go too");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
