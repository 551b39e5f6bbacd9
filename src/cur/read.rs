//! Reading CUR 2.0 files (I/O): paths to files, files to rows, rows to [`BillLine`]s.
//!
//! Each path is a file or a directory; a directory is walked recursively in sorted order and
//! only data files are read (`.csv`, `.csv.gz`, `.gz`, `.parquet`): an export's manifest
//! JSON and anything else beside the data are skipped. Symbolic links to files are followed,
//! to directories not (no loops).
//!
//! Every file is a stream: one CSV record or one Parquet row at a time, so memory does not
//! grow with the file. Columns are found by name, in any order; extra columns are ignored; a
//! missing required column fails the read, naming the file and the column. A malformed row
//! (a date or number that does not parse) is a problem `file:row: reason`, and reading goes
//! on: nothing is dropped without a count.
//!
//! Only Bedrock lines are handed over (see [`is_bedrock`]); other rows are counted.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;
use rust_decimal::Decimal;

use super::{BillLine, CurError, ReadStats};

/// Problems listed in [`ReadStats::problems`]; past this they are only counted, so a file of
/// a million broken rows cannot fill memory.
pub const MAX_PROBLEMS: usize = 1_000;

/// What a column means to this reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Start,
    LineItemType,
    ProductCode,
    UsageType,
    UsageAmount,
    UnblendedCost,
    Principal,
    RegionCode,
    PricingUnit,
    /// The `product` map (Parquet MAP<string,string>; a JSON object in CSV).
    Product,
    /// The same product attributes as flat columns, as a data query selecting
    /// `product.servicename` can write them.
    Servicename,
    ProductName,
    ProductFamily,
}

pub(super) const REQUIRED: [(&str, Role); 6] = [
    ("line_item_usage_start_date", Role::Start),
    ("line_item_line_item_type", Role::LineItemType),
    ("line_item_product_code", Role::ProductCode),
    ("line_item_usage_type", Role::UsageType),
    ("line_item_usage_amount", Role::UsageAmount),
    ("line_item_unblended_cost", Role::UnblendedCost),
];

pub(super) const OPTIONAL: [(&str, Role); 7] = [
    ("line_item_iam_principal", Role::Principal),
    ("product_region_code", Role::RegionCode),
    ("pricing_unit", Role::PricingUnit),
    ("product", Role::Product),
    ("product_servicename", Role::Servicename),
    ("product_product_name", Role::ProductName),
    ("product_product_family", Role::ProductFamily),
];

/// Columns by name → their roles, in the file's order; a required one missing is an error.
pub(super) fn roles<'a>(
    file: &str,
    names: impl Iterator<Item = &'a str>,
) -> Result<Vec<Option<Role>>, CurError> {
    let roles: Vec<Option<Role>> = names
        .map(|n| {
            let n = n.trim();
            REQUIRED
                .iter()
                .chain(OPTIONAL.iter())
                .find(|(name, _)| *name == n)
                .map(|(_, r)| *r)
        })
        .collect();
    for (name, role) in REQUIRED {
        if !roles.contains(&Some(role)) {
            return Err(CurError::MissingColumn {
                file: file.to_string(),
                column: name,
            });
        }
    }
    Ok(roles)
}

/// The strings that say whether a row is Bedrock's.
#[derive(Debug, Default)]
pub(super) struct Identity {
    pub line_item_type: String,
    pub product_code: String,
    pub usage_type: String,
    pub servicename: Option<String>,
    pub product_name: Option<String>,
    pub product_family: Option<String>,
}

/// The rest of a row, converted by its format; only asked for on Bedrock rows.
#[derive(Debug)]
pub(super) struct Values {
    pub day: Result<String, String>,
    pub usage_amount: Result<Option<Decimal>, String>,
    pub unblended_cost: Result<Option<Decimal>, String>,
    pub principal: Option<String>,
    pub region_code: Option<String>,
    pub pricing_unit: Option<String>,
}

/// The Marketplace listing suffix of every Bedrock third-party model (`Claude Sonnet 4.6
/// (Amazon Bedrock Edition)`), whose product code is an opaque listing id.
const BEDROCK_EDITION: &str = "(Amazon Bedrock Edition)";

/// Bedrock's own product codes (`shared/pricing/price-list.md` §1). `AmazonBedrockAgentCore`
/// is agent runtime, not model inference: not included.
pub(super) const BEDROCK_CODES: [&str; 3] = [
    "AmazonBedrock",
    "AmazonBedrockService",
    "AmazonBedrockFoundationModels",
];

/// A Bedrock line: one of Bedrock's product codes, a `(Amazon Bedrock Edition)` listing, or a
/// Marketplace usage type (`-MP:`) whose product names Bedrock (its family is `Amazon
/// Bedrock` in the one CUR 2.0 test seen, `shared/pricing/price-list.md` D4).
pub fn is_bedrock(
    product_code: &str,
    usage_type: &str,
    servicename: Option<&str>,
    product_name: Option<&str>,
    product_family: Option<&str>,
) -> bool {
    if BEDROCK_CODES.contains(&product_code.trim()) {
        return true;
    }
    let edition = |s: Option<&str>| s.is_some_and(|s| s.trim_end().ends_with(BEDROCK_EDITION));
    if edition(servicename) || edition(product_name) {
        return true;
    }
    usage_type.contains("-MP:")
        && [servicename, product_name, product_family]
            .into_iter()
            .flatten()
            .any(|s| s.contains("Bedrock"))
}

/// Where rows go: counts, problems, and the caller's callback.
pub(super) struct Sink<'a> {
    file: Arc<str>,
    stats: &'a mut ReadStats,
    on_line: &'a mut dyn FnMut(BillLine),
}

impl Sink<'_> {
    pub fn file(&self) -> &str {
        &self.file
    }

    pub fn malformed(&mut self, row: u64, reason: &str) {
        self.stats.rows += 1;
        self.stats.malformed += 1;
        match self.stats.problems.len() {
            n if n < MAX_PROBLEMS => self
                .stats
                .problems
                .push(format!("{}:{row}: {reason}", self.file)),
            n if n == MAX_PROBLEMS => self.stats.problems.push(format!(
                "more malformed rows than the first {MAX_PROBLEMS} listed here: \
                 the malformed count has them all"
            )),
            _ => {}
        }
    }

    /// One data row: counted as skipped if it is not Bedrock's, else converted and handed over.
    pub fn row(&mut self, row: u64, id: Identity, values: impl FnOnce() -> Values) {
        if !is_bedrock(
            &id.product_code,
            &id.usage_type,
            id.servicename.as_deref(),
            id.product_name.as_deref(),
            id.product_family.as_deref(),
        ) {
            self.stats.rows += 1;
            self.stats.skipped_other += 1;
            return;
        }
        let v = values();
        let mut why = Vec::new();
        let day = v.day.map_err(|e| why.push(e)).ok();
        // A usage line without an amount is broken; other lines (tax, credits) may have none.
        let amount = match v.usage_amount {
            Ok(Some(a)) => Some(a),
            Ok(None) if id.line_item_type != "Usage" => Some(Decimal::ZERO),
            Ok(None) => {
                why.push("a Usage line without a usage amount".to_string());
                None
            }
            Err(e) => {
                why.push(format!("usage amount {e}"));
                None
            }
        };
        let cost = match v.unblended_cost {
            Ok(Some(c)) => Some(c),
            Ok(None) => {
                why.push("no unblended cost".to_string());
                None
            }
            Err(e) => {
                why.push(format!("unblended cost {e}"));
                None
            }
        };
        let (Some(day), Some(usage_amount), Some(unblended_cost)) = (day, amount, cost) else {
            return self.malformed(row, &why.join("; "));
        };
        // `product_name` stands in for a missing `servicename` only when it is a Bedrock
        // Edition listing: the same string as the Price List `servicename` [inferred from
        // the one CUR 2.0 test seen, where both keys exist].
        let servicename = id.servicename.or(id
            .product_name
            .filter(|p| p.trim_end().ends_with(BEDROCK_EDITION)));
        self.stats.rows += 1;
        self.stats.bedrock_rows += 1;
        (self.on_line)(BillLine {
            day,
            line_item_type: id.line_item_type,
            product_code: id.product_code,
            usage_type: id.usage_type,
            servicename,
            principal: v.principal,
            region_code: v.region_code,
            pricing_unit: v.pricing_unit,
            usage_amount,
            unblended_cost,
            file: self.file.clone(),
            row,
        });
    }
}

/// An empty or blank value is no value.
pub(super) fn present(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    GzipCsv,
    Parquet,
}

fn format_of(path: &Path) -> Option<Format> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    if name.ends_with(".parquet") {
        Some(Format::Parquet)
    } else if name.ends_with(".gz") {
        Some(Format::GzipCsv)
    } else if name.ends_with(".csv") {
        Some(Format::Csv)
    } else {
        None
    }
}

/// Reads every CUR data file under `paths`, handing each Bedrock line to `on_line` in file
/// order (files sorted within a directory, rows in file order).
pub fn read(paths: &[PathBuf], on_line: &mut dyn FnMut(BillLine)) -> Result<ReadStats, CurError> {
    let mut stats = ReadStats::default();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| CurError::Io {
            path: path.clone(),
            source,
        })?;
        let files = if meta.is_dir() {
            let mut files = Vec::new();
            walk(path, &mut files)?;
            files.sort();
            files
        } else if format_of(path).is_some() {
            vec![path.clone()]
        } else {
            return Err(CurError::NotCurFile { path: path.clone() });
        };
        for file in files {
            read_file(&file, &mut stats, on_line)?;
        }
    }
    Ok(stats)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CurError> {
    let io = |source| CurError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io)?;
        if kind.is_dir() {
            walk(&path, out)?;
        } else if (kind.is_file() || (kind.is_symlink() && path.is_file()))
            && format_of(&path).is_some()
        {
            out.push(path);
        }
    }
    Ok(())
}

fn read_file(
    path: &Path,
    stats: &mut ReadStats,
    on_line: &mut dyn FnMut(BillLine),
) -> Result<(), CurError> {
    let format = format_of(path).ok_or_else(|| CurError::NotCurFile {
        path: path.to_path_buf(),
    })?;
    let io = |source| CurError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    stats.files += 1;
    let mut sink = Sink {
        file: Arc::from(path.display().to_string()),
        stats,
        on_line,
    };
    match format {
        Format::Csv => super::csv_file::read(BufReader::new(file), &mut sink).map_err(io)?,
        // Multi-member: a gzip file may be several members back to back.
        Format::GzipCsv => {
            super::csv_file::read(BufReader::new(MultiGzDecoder::new(file)), &mut sink)
                .map_err(io)?
        }
        Format::Parquet => super::parquet_file::read(file, &mut sink),
    }
}

/// The product attributes this reader uses.
#[derive(Debug, Default, PartialEq)]
pub(super) struct ProductKeys {
    pub servicename: Option<String>,
    pub product_name: Option<String>,
    pub product_family: Option<String>,
}

impl ProductKeys {
    pub fn take(&mut self, key: &str, value: Option<String>) {
        match key {
            "servicename" => self.servicename = value,
            "product_name" => self.product_name = value,
            "product_family" => self.product_family = value,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
