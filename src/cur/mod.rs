//! AWS Cost and Usage Report 2.0 (Data Exports) files in, Bedrock bill lines out: what AWS
//! actually billed, per day, usage type and IAM principal, to set beside what the invocation
//! logs priced.
//!
//! ```text
//! s3://bucket/prefix/ --s3 (I/O: sync to a local cache)--> dir
//! files/dirs --read (I/O: CSV, gzip CSV, Parquet)--> BillLine --classify (pure, + mapping)--> Billed
//! ```
//!
//! - `location`: a `--cur` value, a local path or an S3 prefix, and how an S3 prefix's keys
//!   map into its cache directory
//! - `s3`: lists an S3 prefix and keeps a local copy of its data files
//! - `read`: walks the paths, reads each file as a stream, hands over the Bedrock lines
//! - `classify`: a line's usage type, region, unit and model, through the pricelist
//!   usage-type grammars and the reviewed model mapping
//! - `csv_file` (over `csv`, RFC 4180 records), `parquet_file`: the two formats, each
//!   file's rows to the reader's sink; `values`: their date and number conversions
//! - `region`: billing region codes (`USE1`) to region names (`us-east-1`)
//!
//! Columns (CUR 2.0 table dictionary, <https://docs.aws.amazon.com/cur/latest/userguide/table-dictionary-cur2.html>):
//! `line_item_usage_start_date` (timestamp), `line_item_line_item_type`,
//! `line_item_product_code`, `line_item_usage_type`, `line_item_usage_amount` and
//! `line_item_unblended_cost` (double) are required; `line_item_iam_principal` (present when
//! the export includes caller identity), `product_region_code`, `pricing_unit` and `product`
//! (map<string,string>: `servicename`, `product_name`, `product_family`, ...) are read when
//! present.

pub mod classify;
mod csv;
mod csv_file;
pub mod location;
mod parquet_file;
pub mod read;
pub mod region;
pub mod s3;
mod values;

use std::path::PathBuf;
use std::sync::Arc;

use rust_decimal::Decimal;

pub use classify::{classify, Billed};
pub use location::{Location, S3Prefix};
pub use read::read;

/// One Bedrock line of a CUR file, as written (no unit conversion, no model resolution).
#[derive(Debug, Clone, PartialEq)]
pub struct BillLine {
    /// UTC `YYYY-MM-DD` of `line_item_usage_start_date`.
    pub day: String,
    /// `Usage`, `Credit`, `Discount`, `Tax`, ... (`line_item_line_item_type`).
    pub line_item_type: String,
    pub product_code: String,
    pub usage_type: String,
    /// The product's `servicename` (a Marketplace listing such as `Claude Sonnet 4.6 (Amazon
    /// Bedrock Edition)`), or its `product_name` when that is a Bedrock Edition listing and
    /// no `servicename` is given.
    pub servicename: Option<String>,
    /// `line_item_iam_principal`: the calling principal's ARN.
    pub principal: Option<String>,
    pub region_code: Option<String>,
    pub pricing_unit: Option<String>,
    pub usage_amount: Decimal,
    pub unblended_cost: Decimal,
    pub file: Arc<str>,
    /// 1-based data row in the file (the header is not counted; a CSV field holding a line
    /// break makes this differ from the line number).
    pub row: u64,
}

/// What a [`read()`] saw. Every data row is one of: handed over (`bedrock_rows`), not Bedrock
/// (`skipped_other`), or malformed (`malformed`, each with a line in `problems`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    pub files: u64,
    pub rows: u64,
    pub bedrock_rows: u64,
    pub skipped_other: u64,
    pub malformed: u64,
    /// `file:row: reason`, at most [`read::MAX_PROBLEMS`] of them (then one line saying how
    /// many more there were; `malformed` counts them all).
    pub problems: Vec<String>,
}

/// Why a whole read failed. Lines handed over before the error stand; a caller that wants
/// all or nothing discards them.
#[derive(Debug, thiserror::Error)]
pub enum CurError {
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a CUR data file (expected .csv, .csv.gz, .gz or .parquet)", path.display())]
    NotCurFile { path: PathBuf },
    #[error("{file}: the header row is unreadable: {reason}")]
    BadHeader { file: String, reason: String },
    #[error("{file}: no column `{column}` (a CUR 2.0 export always has it)")]
    MissingColumn { file: String, column: &'static str },
    #[error("{file}: not a readable Parquet file: {message}")]
    Parquet { file: String, message: String },
}
