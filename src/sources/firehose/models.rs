//! Wire formats, no logic:
//! - Firehose HTTP endpoint delivery request and response
//!   (<https://docs.aws.amazon.com/firehose/latest/dev/httpdeliveryrequestresponse.html>);
//! - the CloudWatch Logs subscription envelope carried inside each record
//!   (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html>).

use serde::{Deserialize, Serialize};

pub const REQUEST_ID_HEADER: &str = "x-amz-firehose-request-id";
pub const ACCESS_KEY_HEADER: &str = "x-amz-firehose-access-key";
pub const COMMON_ATTRIBUTES_HEADER: &str = "x-amz-firehose-common-attributes";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub request_id: String,
    /// Milliseconds since the epoch (stock moto sends seconds; it is not used for pricing).
    #[allow(dead_code)]
    pub timestamp: Option<i64>,
    pub records: Vec<RecordData>,
}

#[derive(Debug, Deserialize)]
pub struct RecordData {
    /// Base64 of the record bytes.
    pub data: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response<'a> {
    pub request_id: &'a str,
    /// Milliseconds since the epoch, as a number.
    pub timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CommonAttributes {
    #[serde(rename = "commonAttributes", default)]
    pub common_attributes: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsEnvelope {
    pub message_type: String,
    #[serde(default)]
    pub log_group: String,
    #[serde(default)]
    pub log_events: Vec<LogEvent>,
}

#[derive(Debug, Deserialize)]
pub struct LogEvent {
    /// A decimal string on AWS; some emulators send a number.
    pub id: serde_json::Value,
    pub message: String,
}
