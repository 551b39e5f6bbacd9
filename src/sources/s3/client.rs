//! The two S3 calls the source makes (ListObjectsV2 one page, GetObject), behind a small
//! trait so the reading logic is tested on an in-memory bucket as well as against moto, and
//! the SDK's errors folded into the few [`Fault`]s the source acts on.

use std::future::Future;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    /// LastModified, ms since the epoch.
    pub modified_ms: i64,
    pub size: u64,
}

#[derive(Debug, Default)]
pub struct Page {
    pub objects: Vec<Listed>,
    /// Common prefixes (with a delimiter).
    pub prefixes: Vec<String>,
    pub next: Option<String>,
}

/// A downloaded object.
pub struct Body {
    pub bytes: Vec<u8>,
    pub modified_ms: Option<i64>,
}

/// Why a call failed, as far as what to do next depends on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// NoSuchKey: deleted between the listing and the download.
    #[error("the object is gone")]
    Gone,
    /// AccessDenied and the like: retried later, in case the policy is fixed.
    #[error("access denied: {0}")]
    Denied(String),
    #[error("throttled: {0}")]
    Throttled(String),
    #[error("server error: {0}")]
    Server(String),
    #[error("network error: {0}")]
    Network(String),
    #[error("{0}")]
    Client(String),
}

impl Fault {
    /// The `kind` label of `bedrock_source_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Gone => "gone",
            Fault::Denied(_) => "denied",
            Fault::Throttled(_) => "throttled",
            Fault::Server(_) => "server",
            Fault::Network(_) => "network",
            Fault::Client(_) => "client",
        }
    }
}

/// One bucket's objects.
pub trait Bucket: Clone + Send + Sync + 'static {
    fn name(&self) -> &str;
    /// One page of the keys under `prefix`; with `delimiter`, deeper keys come back as
    /// common prefixes instead.
    fn list(
        &self,
        prefix: &str,
        delimiter: bool,
        token: Option<String>,
    ) -> impl Future<Output = Result<Page, Fault>> + Send;
    fn get(&self, key: &str) -> impl Future<Output = Result<Body, Fault>> + Send;
}

/// A bucket through the AWS SDK.
#[derive(Clone)]
pub struct SdkBucket {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
}

fn fault<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> Fault {
    let detail = match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        _ => DisplayErrorContext(&e).to_string(),
    };
    let status = e.raw_response().map(|r| r.status().as_u16());
    if let SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) = e {
        return Fault::Network(detail);
    }
    match (e.code(), status) {
        (Some("NoSuchBucket"), _) => Fault::Client(format!(
            "{detail} (there is no such bucket: check the s3:// URI)"
        )),
        (Some("NoSuchKey"), _) | (None, Some(404)) => Fault::Gone,
        (Some("AccessDenied" | "AllAccessDisabled" | "InvalidAccessKeyId"), _) | (_, Some(403)) => {
            Fault::Denied(detail)
        }
        (Some("SlowDown" | "Throttling" | "ThrottlingException"), _) | (_, Some(429)) => {
            Fault::Throttled(detail)
        }
        (_, Some(s)) if s >= 500 => Fault::Server(detail),
        _ if matches!(e, SdkError::ResponseError(_)) => Fault::Network(detail),
        _ => Fault::Client(detail),
    }
}

fn ms(t: Option<&aws_sdk_s3::primitives::DateTime>) -> Option<i64> {
    t.and_then(|t| t.to_millis().ok())
}

impl Bucket for SdkBucket {
    fn name(&self) -> &str {
        &self.bucket
    }

    async fn list(
        &self,
        prefix: &str,
        delimiter: bool,
        token: Option<String>,
    ) -> Result<Page, Fault> {
        let mut req = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_continuation_token(token);
        if delimiter {
            req = req.delimiter("/");
        }
        let out = req.send().await.map_err(fault)?;
        Ok(Page {
            objects: out
                .contents()
                .iter()
                .filter_map(|o| {
                    Some(Listed {
                        key: o.key()?.to_string(),
                        modified_ms: ms(o.last_modified()).unwrap_or(0),
                        size: o.size().unwrap_or(0).max(0) as u64,
                    })
                })
                .collect(),
            prefixes: out
                .common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_string))
                .collect(),
            next: out
                .next_continuation_token()
                .filter(|_| out.is_truncated() == Some(true))
                .map(str::to_string),
        })
    }

    async fn get(&self, key: &str) -> Result<Body, Fault> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(fault)?;
        let modified_ms = ms(out.last_modified());
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| Fault::Network(format!("reading the body of {key}: {e}")))?;
        Ok(Body {
            bytes: bytes.to_vec(),
            modified_ms,
        })
    }
}
