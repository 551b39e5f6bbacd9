//! `ratecard import --fetch`: download the current offer files of the three Bedrock offer
//! codes from the public Price List bulk API (no credentials), over plain HTTPS.
//!
//! Paths (https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/using-the-aws-price-list-bulk-api-fetching-price-list-files-manually.html):
//! `/offers/v1.0/aws/{Code}/current/index.json` (all regions), or with regions
//! `/offers/v1.0/aws/{Code}/current/region_index.json` → `regions.{r}.currentVersionUrl`.
//! The base URL is a parameter so tests point it at a local server.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

pub const DEFAULT_BASE_URL: &str = "https://pricing.us-east-1.amazonaws.com";
pub const OFFER_CODES: [&str; 3] = [
    "AmazonBedrock",
    "AmazonBedrockFoundationModels",
    "AmazonBedrockService",
];
/// AmazonBedrock's all-regions file was 16 MB in 2026; this leaves room to grow.
const MAX_BYTES: usize = 512 << 20;
const TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: {reason}")]
    Get { url: String, reason: String },
    #[error("--price-list-url {0:?} must start with https:// or http://")]
    BadBase(String),
    #[error("cannot set up HTTPS: {0}")]
    Tls(String),
}

/// One downloaded offer file.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub code: String,
    pub region: Option<String>,
    pub url: String,
    pub bytes: Vec<u8>,
}

/// What a fetch brought, and the offers a region does not have (not an error: codes are
/// published per region, and not every code exists in every region).
#[derive(Debug, Clone, Default)]
pub struct Fetch {
    pub files: Vec<Fetched>,
    pub not_in_region: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegionIndex {
    regions: BTreeMap<String, RegionEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegionEntry {
    current_version_url: String,
}

pub async fn fetch(base: &str, regions: &[String]) -> Result<Fetch, FetchError> {
    let base = base.trim_end_matches('/');
    if base.starts_with("http://") {
        return fetch_with(
            Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
            base,
            regions,
        )
        .await;
    }
    if !base.starts_with("https://") {
        return Err(FetchError::BadBase(base.to_string()));
    }
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|e| FetchError::Tls(format!("no usable CA certificates on this machine ({e})")))?
        .https_only()
        .enable_http1()
        .build();
    fetch_with(
        Client::builder(TokioExecutor::new()).build(https),
        base,
        regions,
    )
    .await
}

async fn fetch_with<C>(
    client: Client<C, Empty<Bytes>>,
    base: &str,
    regions: &[String],
) -> Result<Fetch, FetchError>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let mut out = Fetch::default();
    for code in OFFER_CODES {
        let offer = format!("{base}/offers/v1.0/aws/{code}/current");
        if regions.is_empty() {
            let url = format!("{offer}/index.json");
            let bytes = get(&client, &url).await?;
            out.files.push(Fetched {
                code: code.into(),
                region: None,
                url,
                bytes,
            });
            continue;
        }
        let index_url = format!("{offer}/region_index.json");
        let index: RegionIndex =
            serde_json::from_slice(&get(&client, &index_url).await?).map_err(|e| {
                FetchError::Get {
                    url: index_url.clone(),
                    reason: format!("not a region index: {e}"),
                }
            })?;
        for region in regions {
            let Some(entry) = index.regions.get(region) else {
                out.not_in_region
                    .push(format!("{code} has no offer file for {region}"));
                continue;
            };
            let url = format!("{base}{}", entry.current_version_url);
            let bytes = get(&client, &url).await?;
            out.files.push(Fetched {
                code: code.into(),
                region: Some(region.clone()),
                url,
                bytes,
            });
        }
    }
    Ok(out)
}

async fn get<C>(client: &Client<C, Empty<Bytes>>, url: &str) -> Result<Vec<u8>, FetchError>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let err = |reason: String| FetchError::Get {
        url: url.to_string(),
        reason,
    };
    let uri: hyper::Uri = url.parse().map_err(|e| err(format!("not a URL: {e}")))?;
    let work = async {
        let resp = client
            .get(uri)
            .await
            .map_err(|e| err(format!("request failed: {e}")))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(err(format!("HTTP {status}")));
        }
        let body = Limited::new(resp.into_body(), MAX_BYTES)
            .collect()
            .await
            .map_err(|e| err(format!("reading the body failed: {e}")))?;
        Ok(body.to_bytes().to_vec())
    };
    tokio::time::timeout(TIMEOUT, work)
        .await
        .map_err(|_| err(format!("no complete answer within {}s", TIMEOUT.as_secs())))?
}
