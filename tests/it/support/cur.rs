//! CUR 2.0 (Data Exports) files written from rows, for tests: CSV, gzip CSV and Parquet with
//! the column names of the CUR 2.0 table dictionary and, in Parquet, its types: DOUBLE
//! amounts and costs, a TIMESTAMP start date, `product` as MAP<string,string>. A few columns
//! the reader does not use (`identity_line_item_id`, `bill_billing_entity`, `resource_tags`,
//! ...) are written too, so ignoring them is tested as well.
//!
//! The `product` map holds `servicename` when the row has one (in CSV, as a JSON object: the
//! CSV encoding of map columns is [inferred], see `src/cur/csv_file.rs`).
//!
//! Self-contained (std, flate2, parquet, serde_json): `src/cur`'s unit tests include this same
//! file by path, so keep it free of the integration binary's other modules.

// Each includer (the integration binary, the library's unit tests) uses a part of it.
#![allow(dead_code)]

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use flate2::write::GzEncoder;
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type, Int96, Int96Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter};
use parquet::schema::parser::parse_message_type;

/// One line of a CUR file.
#[derive(Debug, Clone, Default)]
pub struct CurRow {
    /// RFC 3339 UTC, `2026-11-03T10:00:00Z` (fractions allowed).
    pub start: String,
    pub line_item_type: String,
    pub product_code: String,
    pub usage_type: String,
    pub servicename: Option<String>,
    pub principal: Option<String>,
    pub region_code: Option<String>,
    pub pricing_unit: Option<String>,
    /// A decimal number as text, `1.234`.
    pub usage_amount: String,
    pub unblended_cost: String,
}

impl CurRow {
    /// A `Usage` line with no optional column set.
    pub fn usage(
        start: &str,
        product_code: &str,
        usage_type: &str,
        amount: &str,
        cost: &str,
    ) -> CurRow {
        CurRow {
            start: start.into(),
            line_item_type: "Usage".into(),
            product_code: product_code.into(),
            usage_type: usage_type.into(),
            usage_amount: amount.into(),
            unblended_cost: cost.into(),
            ..CurRow::default()
        }
    }
}

const COLUMNS: [&str; 15] = [
    "identity_line_item_id",
    "bill_billing_entity",
    "line_item_line_item_type",
    "line_item_usage_start_date",
    "line_item_usage_end_date",
    "line_item_product_code",
    "line_item_usage_type",
    "line_item_operation",
    "line_item_usage_amount",
    "line_item_unblended_cost",
    "line_item_iam_principal",
    "pricing_unit",
    "product",
    "product_region_code",
    "resource_tags",
];

fn entity(r: &CurRow) -> &'static str {
    if r.product_code.starts_with("AmazonBedrock") {
        "AWS"
    } else {
        "AWS Marketplace"
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_text(rows: &[CurRow], header: bool) -> String {
    let mut out = String::new();
    if header {
        out.push_str(&COLUMNS.join(","));
        out.push('\n');
    }
    for (i, r) in rows.iter().enumerate() {
        let product = match &r.servicename {
            Some(s) => serde_json::json!({ "servicename": s }),
            None => serde_json::json!({}),
        };
        let fields = [
            format!("li-{i}"),
            entity(r).to_string(),
            r.line_item_type.clone(),
            r.start.clone(),
            r.start.clone(),
            r.product_code.clone(),
            r.usage_type.clone(),
            "InvokeModel".to_string(),
            r.usage_amount.clone(),
            r.unblended_cost.clone(),
            r.principal.clone().unwrap_or_default(),
            r.pricing_unit.clone().unwrap_or_default(),
            product.to_string(),
            r.region_code.clone().unwrap_or_default(),
            "{}".to_string(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

pub fn write_csv(path: impl AsRef<Path>, rows: &[CurRow]) {
    std::fs::write(path, csv_text(rows, true)).expect("write the CSV fixture");
}

/// Gzip CSV as two gzip members back to back when there are two rows or more (the reader
/// must read every member, not stop after the first).
pub fn write_csv_gz(path: impl AsRef<Path>, rows: &[CurRow]) {
    let mut file = File::create(path).expect("create the gzip fixture");
    let half = rows.len() / 2;
    let parts = if half == 0 {
        vec![csv_text(rows, true)]
    } else {
        vec![
            csv_text(&rows[..half], true),
            csv_text(&rows[half..], false),
        ]
    };
    for part in parts {
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(part.as_bytes()).unwrap();
        file.write_all(&gz.finish().unwrap()).unwrap();
    }
}

/// How the start date is stored in a Parquet fixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAs {
    Millis,
    Micros,
    Nanos,
    /// The legacy INT96 timestamp (Hive, older Spark).
    Int96,
    /// A string, as written in CSV.
    Text,
}

#[derive(Debug, Clone, Copy)]
pub struct ParquetShape {
    pub start: StartAs,
    pub compression: Compression,
    /// Rows per row group (a file of several groups tests reading across them).
    pub group_rows: usize,
}

impl Default for ParquetShape {
    fn default() -> Self {
        ParquetShape {
            start: StartAs::Millis,
            compression: Compression::SNAPPY,
            group_rows: 1_000,
        }
    }
}

/// Parquet as a CUR 2.0 export writes it [unverified: the timestamp unit and the codec are
/// not documented; this writes TIMESTAMP(MILLIS) and Snappy, `write_parquet_with` others].
pub fn write_parquet(path: impl AsRef<Path>, rows: &[CurRow]) {
    write_parquet_with(path, rows, ParquetShape::default());
}

pub fn write_parquet_with(path: impl AsRef<Path>, rows: &[CurRow], shape: ParquetShape) {
    let time = match shape.start {
        StartAs::Millis => "INT64 {} (TIMESTAMP(MILLIS,true))",
        StartAs::Micros => "INT64 {} (TIMESTAMP(MICROS,true))",
        StartAs::Nanos => "INT64 {} (TIMESTAMP(NANOS,true))",
        StartAs::Int96 => "INT96 {}",
        StartAs::Text => "BYTE_ARRAY {} (UTF8)",
    };
    let map = |name: &str| {
        format!(
            "OPTIONAL group {name} (MAP) {{ REPEATED group key_value {{ \
             REQUIRED BYTE_ARRAY key (UTF8); OPTIONAL BYTE_ARRAY value (UTF8); }} }}"
        )
    };
    let mut schema = String::from("message cur {\n");
    for name in COLUMNS {
        let column = match name {
            "line_item_usage_start_date" | "line_item_usage_end_date" => {
                format!("OPTIONAL {};", time.replace("{}", name))
            }
            "line_item_usage_amount" | "line_item_unblended_cost" => {
                format!("OPTIONAL DOUBLE {name};")
            }
            "product" | "resource_tags" => map(name),
            _ => format!("OPTIONAL BYTE_ARRAY {name} (UTF8);"),
        };
        schema.push_str(&column);
        schema.push('\n');
    }
    schema.push('}');
    let schema = Arc::new(parse_message_type(&schema).expect("the fixture schema parses"));
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(shape.compression)
            .build(),
    );
    let file = File::create(path).expect("create the Parquet fixture");
    let mut writer = SerializedFileWriter::new(file, schema, props).unwrap();
    for (g, group) in rows.chunks(shape.group_rows.max(1)).enumerate() {
        let mut rg = writer.next_row_group().unwrap();
        let mut leaf = 0;
        while let Some(mut col) = rg.next_column().unwrap() {
            write_leaf(&mut col, leaf, group, g * shape.group_rows, shape.start);
            col.close().unwrap();
            leaf += 1;
        }
        rg.close().unwrap();
    }
    writer.close().unwrap();
}

/// The leaves in schema order: each column, a map being two (key, value).
fn write_leaf(
    col: &mut SerializedColumnWriter,
    leaf: usize,
    rows: &[CurRow],
    first: usize,
    start: StartAs,
) {
    let strs = |f: &dyn Fn(&CurRow) -> Option<String>| rows.iter().map(f).collect::<Vec<_>>();
    let products: Vec<Vec<(String, String)>> = rows
        .iter()
        .map(|r| match &r.servicename {
            Some(s) => vec![("servicename".to_string(), s.clone())],
            None => vec![],
        })
        .collect();
    let no_tags: Vec<Vec<(String, String)>> = vec![vec![]; rows.len()];
    match leaf {
        0 => {
            let ids: Vec<Option<String>> = (0..rows.len())
                .map(|i| Some(format!("li-{}", first + i)))
                .collect();
            write_strs(col, &ids)
        }
        1 => write_strs(col, &strs(&|r| Some(entity(r).to_string()))),
        2 => write_strs(col, &strs(&|r| Some(r.line_item_type.clone()))),
        3 => write_start(col, rows, start, 0),
        4 => write_start(col, rows, start, 3_600),
        5 => write_strs(col, &strs(&|r| Some(r.product_code.clone()))),
        6 => write_strs(col, &strs(&|r| Some(r.usage_type.clone()))),
        7 => write_strs(col, &strs(&|_| Some("InvokeModel".into()))),
        8 => write_doubles(col, rows.iter().map(|r| &r.usage_amount)),
        9 => write_doubles(col, rows.iter().map(|r| &r.unblended_cost)),
        10 => write_strs(col, &strs(&|r| r.principal.clone())),
        11 => write_strs(col, &strs(&|r| r.pricing_unit.clone())),
        12 => write_map(col, &products, true),
        13 => write_map(col, &products, false),
        14 => write_strs(col, &strs(&|r| r.region_code.clone())),
        15 => write_map(col, &no_tags, true),
        16 => write_map(col, &no_tags, false),
        _ => panic!("the fixture schema has 17 leaves"),
    }
}

fn write_strs(col: &mut SerializedColumnWriter, values: &[Option<String>]) {
    let data: Vec<ByteArray> = values
        .iter()
        .flatten()
        .map(|s| ByteArray::from(s.as_str()))
        .collect();
    let defs: Vec<i16> = values.iter().map(|v| i16::from(v.is_some())).collect();
    col.typed::<ByteArrayType>()
        .write_batch(&data, Some(&defs), None)
        .unwrap();
}

fn write_doubles<'a>(col: &mut SerializedColumnWriter, values: impl Iterator<Item = &'a String>) {
    let data: Vec<f64> = values
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("fixture amount {v:?} is not a number"))
        })
        .collect();
    col.typed::<DoubleType>()
        .write_batch(&data, Some(&vec![1; data.len()]), None)
        .unwrap();
}

fn write_start(col: &mut SerializedColumnWriter, rows: &[CurRow], start: StartAs, plus_secs: i64) {
    let defs = vec![1; rows.len()];
    let nanos: Vec<i128> = rows
        .iter()
        .map(|r| unix_nanos(&r.start) + i128::from(plus_secs) * 1_000_000_000)
        .collect();
    match start {
        StartAs::Millis | StartAs::Micros | StartAs::Nanos => {
            let per = match start {
                StartAs::Millis => 1_000_000,
                StartAs::Micros => 1_000,
                _ => 1,
            };
            let data: Vec<i64> = nanos.iter().map(|n| (n / per) as i64).collect();
            col.typed::<Int64Type>()
                .write_batch(&data, Some(&defs), None)
                .unwrap();
        }
        StartAs::Int96 => {
            let data: Vec<Int96> = nanos
                .iter()
                .map(|n| {
                    let (days, of_day) = (
                        n.div_euclid(86_400_000_000_000),
                        n.rem_euclid(86_400_000_000_000),
                    );
                    let mut v = Int96::new();
                    // nanoseconds of the day (little-endian u64), then the Julian day
                    v.set_data(
                        of_day as u32,
                        (of_day >> 32) as u32,
                        (days + 2_440_588) as u32,
                    );
                    v
                })
                .collect();
            col.typed::<Int96Type>()
                .write_batch(&data, Some(&defs), None)
                .unwrap();
        }
        StartAs::Text => {
            let text: Vec<Option<String>> = rows.iter().map(|r| Some(r.start.clone())).collect();
            write_strs(col, &text);
        }
    }
}

/// One leaf of a MAP<string,string>: levels for `OPTIONAL group (MAP) { REPEATED group
/// key_value { REQUIRED key; OPTIONAL value } }`. Definition: 1 = empty map, 2 = an entry
/// (key), 3 = an entry with a value; repetition 1 = another entry of the same row.
fn write_map(col: &mut SerializedColumnWriter, maps: &[Vec<(String, String)>], keys: bool) {
    let (mut data, mut defs, mut reps) = (Vec::new(), Vec::new(), Vec::new());
    for map in maps {
        if map.is_empty() {
            defs.push(1);
            reps.push(0);
        }
        for (j, (k, v)) in map.iter().enumerate() {
            data.push(ByteArray::from(if keys { k.as_str() } else { v.as_str() }));
            defs.push(if keys { 2 } else { 3 });
            reps.push(i16::from(j > 0));
        }
    }
    col.typed::<ByteArrayType>()
        .write_batch(&data, Some(&defs), Some(&reps))
        .unwrap();
}

/// Nanoseconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
fn unix_nanos(s: &str) -> i128 {
    fn bad(s: &str) -> ! {
        panic!("fixture start {s:?} is not YYYY-MM-DDTHH:MM:SS[.f]Z")
    }
    let b = s.as_bytes();
    if b.len() < 20 || b[10] != b'T' || !s.ends_with('Z') {
        bad(s);
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap_or_else(|_| bad(s));
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let secs = n(11..13) * 3_600 + n(14..16) * 60 + n(17..19);
    let frac = &s[19..s.len() - 1];
    let frac_nanos = match frac.strip_prefix('.') {
        Some(f) if !f.is_empty() && f.len() <= 9 => {
            f.parse::<i128>().unwrap_or_else(|_| bad(s)) * 10_i128.pow(9 - f.len() as u32)
        }
        None if frac.is_empty() => 0,
        _ => bad(s),
    };
    // days from civil (Howard Hinnant)
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    i128::from(days * 86_400 + secs) * 1_000_000_000 + frac_nanos
}
