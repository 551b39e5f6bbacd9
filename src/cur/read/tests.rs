use std::path::{Path, PathBuf};
use std::str::FromStr;

use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use rust_decimal::Decimal;

use super::*;

// The integration tests' CUR writer: one fixture writer for both kinds of test.
#[path = "../../../tests/it/support/cur.rs"]
mod fixture;

use fixture::{CurRow, ParquetShape, StartAs};

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn read_all(paths: &[PathBuf]) -> (Vec<BillLine>, ReadStats) {
    let mut lines = Vec::new();
    let stats = read(paths, &mut |l| lines.push(l)).unwrap();
    (lines, stats)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// Rows of every kind the reader must tell apart; written by the fixture in each format.
fn rows() -> Vec<CurRow> {
    let alice = "arn:aws:iam::111122223333:user/alice";
    let mut nova = CurRow::usage(
        "2026-11-03T10:00:00Z",
        "AmazonBedrock",
        "USE1-NovaPro-input-tokens",
        "12.345",
        "0.009876",
    );
    nova.principal = Some(alice.into());
    nova.pricing_unit = Some("1K tokens".into());
    nova.region_code = Some("us-east-1".into());
    let mut sonnet = CurRow::usage(
        "2026-11-03T23:59:59.5Z",
        "7q2mx9exampleid",
        "USE1-MP:USE1_OutputTokenCount_Global-Units",
        "0.0042",
        "0.063",
    );
    sonnet.servicename = Some("Claude Sonnet 4.6 (Amazon Bedrock Edition)".into());
    sonnet.principal = Some("arn:aws:sts::111122223333:assumed-role/App/bob@example.org".into());
    let ec2 = CurRow::usage(
        "2026-11-03T10:00:00Z",
        "AmazonEC2",
        "USE1-BoxUsage:t3.micro",
        "1",
        "0.0104",
    );
    let mut credit = CurRow::usage(
        "2026-11-04T00:00:00Z",
        "AmazonBedrock",
        "USE1-NovaPro-input-tokens",
        "0",
        "-0.5",
    );
    credit.line_item_type = "Credit".into();
    vec![nova, sonnet, ec2, credit]
}

fn expected(file: &str) -> Vec<BillLine> {
    let f: Arc<str> = Arc::from(file);
    vec![
        BillLine {
            day: "2026-11-03".into(),
            line_item_type: "Usage".into(),
            product_code: "AmazonBedrock".into(),
            usage_type: "USE1-NovaPro-input-tokens".into(),
            servicename: None,
            principal: Some("arn:aws:iam::111122223333:user/alice".into()),
            region_code: Some("us-east-1".into()),
            pricing_unit: Some("1K tokens".into()),
            usage_amount: d("12.345"),
            unblended_cost: d("0.009876"),
            file: f.clone(),
            row: 1,
        },
        BillLine {
            day: "2026-11-03".into(),
            line_item_type: "Usage".into(),
            product_code: "7q2mx9exampleid".into(),
            usage_type: "USE1-MP:USE1_OutputTokenCount_Global-Units".into(),
            servicename: Some("Claude Sonnet 4.6 (Amazon Bedrock Edition)".into()),
            principal: Some("arn:aws:sts::111122223333:assumed-role/App/bob@example.org".into()),
            region_code: None,
            pricing_unit: None,
            usage_amount: d("0.0042"),
            unblended_cost: d("0.063"),
            file: f.clone(),
            row: 2,
        },
        BillLine {
            day: "2026-11-04".into(),
            line_item_type: "Credit".into(),
            product_code: "AmazonBedrock".into(),
            usage_type: "USE1-NovaPro-input-tokens".into(),
            servicename: None,
            principal: None,
            region_code: None,
            pricing_unit: None,
            usage_amount: d("0"),
            unblended_cost: d("-0.5"),
            file: f,
            row: 4,
        },
    ]
}

fn clean_stats() -> ReadStats {
    ReadStats {
        files: 1,
        rows: 4,
        bedrock_rows: 3,
        skipped_other: 1,
        malformed: 0,
        problems: vec![],
    }
}

#[test]
fn csv_gzip_and_parquet_give_the_same_lines() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("a.csv");
    let gz = dir.path().join("a.csv.gz");
    let pq = dir.path().join("a.snappy.parquet");
    fixture::write_csv(&csv, &rows());
    fixture::write_csv_gz(&gz, &rows());
    fixture::write_parquet(&pq, &rows());
    for path in [csv, gz, pq] {
        let (lines, stats) = read_all(std::slice::from_ref(&path));
        assert_eq!(lines, expected(&path.display().to_string()), "{path:?}");
        assert_eq!(stats, clean_stats(), "{path:?}");
    }
}

#[test]
fn every_parquet_timestamp_shape_and_codec_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let codecs = [
        Compression::UNCOMPRESSED,
        Compression::SNAPPY,
        Compression::GZIP(GzipLevel::default()),
        Compression::ZSTD(ZstdLevel::default()),
    ];
    let starts = [
        StartAs::Millis,
        StartAs::Micros,
        StartAs::Nanos,
        StartAs::Int96,
        StartAs::Text,
    ];
    for (i, (compression, start)) in codecs
        .iter()
        .flat_map(|c| starts.iter().map(move |s| (*c, *s)))
        .enumerate()
    {
        let path = dir.path().join(format!("{i}.parquet"));
        let shape = ParquetShape {
            start,
            compression,
            // groups of one and three rows: rows are numbered across groups
            group_rows: if i % 2 == 0 { 1 } else { 3 },
        };
        fixture::write_parquet_with(&path, &rows(), shape);
        let (lines, stats) = read_all(std::slice::from_ref(&path));
        assert_eq!(
            lines,
            expected(&path.display().to_string()),
            "{compression:?} {start:?}"
        );
        assert_eq!(stats, clean_stats(), "{compression:?} {start:?}");
    }
}

#[test]
fn csv_columns_in_any_order_with_flat_product_columns_and_extras() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "r.csv",
        "pricing_unit,line_item_unblended_cost,colour,product_servicename,line_item_usage_type,\
         line_item_usage_amount,line_item_product_code,line_item_line_item_type,\
         line_item_usage_start_date,product_region_code\r\n\
         ,0.25,blue,Claude Haiku 4.5 (Amazon Bedrock Edition),USE2-MP:USE2_InputTokenCount-Units,\
         0.25,zz9listing,Usage,2026-11-05 08:00:00,us-east-2\r\n",
    );
    let (lines, stats) = read_all(std::slice::from_ref(&path));
    assert_eq!(stats.bedrock_rows, 1, "{stats:?}");
    let l = &lines[0];
    assert_eq!(l.day, "2026-11-05");
    assert_eq!(
        l.servicename.as_deref(),
        Some("Claude Haiku 4.5 (Amazon Bedrock Edition)")
    );
    assert_eq!(l.region_code.as_deref(), Some("us-east-2"));
    assert_eq!((l.pricing_unit.clone(), l.principal.clone()), (None, None));
    assert_eq!((l.usage_amount, l.unblended_cost), (d("0.25"), d("0.25")));
}

#[test]
fn which_lines_are_bedrock() {
    let dir = tempfile::tempdir().unwrap();
    let header = "line_item_usage_start_date,line_item_line_item_type,line_item_product_code,\
                  line_item_usage_type,line_item_usage_amount,line_item_unblended_cost,product\n";
    let rows = [
        // product codes (the map is read for these whatever it says)
        r#"2026-11-01,Usage,AmazonBedrockService,USE1-Claude4Sonnet-input-tokens,1,1,"{""servicename"":""Sonnet Four""}""#,
        r#"2026-11-01,Usage,AmazonBedrockFoundationModels,USE1-MP:USE1_InputTokenCount-Units,1,1,"{}""#,
        // a Bedrock Edition product name, no servicename: it stands in for one
        r#"2026-11-01,Usage,abc123,USE1-MP:USE1_InputTokenCount-Units,1,1,"{""product_name"":""Claude Opus 4.6 (Amazon Bedrock Edition)""}""#,
        // -MP: and a Bedrock family
        r#"2026-11-01,Usage,def456,USE1-MP:USE1_input_tokens_standard-Units,1,1,"{""product_family"":""Amazon Bedrock""}""#,
        // -MP: of some other Marketplace product
        r#"2026-11-01,Usage,ghi789,USE1-MP:USE1_Seats-Units,1,1,"{""product_name"":""Acme Firewall""}""#,
        // agent runtime is not inference
        r#"2026-11-01,Usage,AmazonBedrockAgentCore,USE1-Runtime-vCPU-Hours,1,1,"{}""#,
        r#"2026-11-01,Usage,AmazonS3,USE1-TimedStorage-ByteHrs,1,1,"{}""#,
    ];
    let path = write(
        dir.path(),
        "b.csv",
        &format!("{header}{}\n", rows.join("\n")),
    );
    let (lines, stats) = read_all(&[path]);
    let got: Vec<(u64, Option<&str>)> = lines
        .iter()
        .map(|l| (l.row, l.servicename.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, Some("Sonnet Four")),
            (2, None),
            (3, Some("Claude Opus 4.6 (Amazon Bedrock Edition)")),
            (4, None),
        ]
    );
    assert_eq!((stats.bedrock_rows, stats.skipped_other), (4, 3));
}

#[test]
fn malformed_rows_are_problems_and_reading_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let text = "line_item_usage_start_date,line_item_line_item_type,line_item_product_code,\
                line_item_usage_type,line_item_usage_amount,line_item_unblended_cost\n\
                2026-11-01T00:00:00Z,Usage,AmazonBedrock,USE1-NovaPro-input-tokens,1.5,0.001\n\
                someday,Usage,AmazonBedrock,USE1-NovaPro-input-tokens,abc,0.001\n\
                2026-11-01T00:00:00Z,Usage,AmazonBedrock,USE1-NovaPro-input-tokens,,\n\
                2026-11-01T00:00:00Z,Usage,AmazonBedrock\n\
                2026-11-01T00:00:00Z,Tax,AmazonBedrock,,,0.10\n\
                oops,Usage,AmazonEC2,USE1-BoxUsage,x,y\n";
    let path = write(dir.path(), "m.csv", text);
    let (lines, stats) = read_all(std::slice::from_ref(&path));
    let f = path.display().to_string();
    assert_eq!(
        stats.problems,
        vec![
            format!(
                "{f}:2: start date \"someday\" is not a date; usage amount \"abc\" is not a number"
            ),
            format!("{f}:3: a Usage line without a usage amount; no unblended cost"),
            format!("{f}:4: 3 fields where the header has 6"),
        ]
    );
    // a tax line may have no amount; a broken non-Bedrock row is not ours to report
    assert_eq!(
        lines
            .iter()
            .map(|l| (l.row, l.usage_amount))
            .collect::<Vec<_>>(),
        vec![(1, d("1.5")), (5, d("0"))]
    );
    assert_eq!(
        (
            stats.rows,
            stats.bedrock_rows,
            stats.skipped_other,
            stats.malformed
        ),
        (6, 2, 1, 3)
    );
}

#[test]
fn problems_are_capped_and_still_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(
        "line_item_usage_start_date,line_item_line_item_type,line_item_product_code,\
         line_item_usage_type,line_item_usage_amount,line_item_unblended_cost\n",
    );
    for _ in 0..MAX_PROBLEMS + 50 {
        text.push_str("bad,Usage,AmazonBedrock,USE1-NovaPro-input-tokens,1,1\n");
    }
    let (_, stats) = read_all(&[write(dir.path(), "c.csv", &text)]);
    assert_eq!(stats.malformed, (MAX_PROBLEMS + 50) as u64);
    assert_eq!(stats.problems.len(), MAX_PROBLEMS + 1);
    assert!(stats.problems.last().unwrap().contains("malformed count"));
}

#[test]
fn a_missing_required_column_names_the_file_and_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "x.csv",
        "line_item_usage_start_date,line_item_line_item_type,line_item_product_code,\
         line_item_usage_type,line_item_unblended_cost\n",
    );
    let err = read(std::slice::from_ref(&path), &mut |_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: no column `line_item_usage_amount` (a CUR 2.0 export always has it)",
            path.display()
        )
    );
}

#[test]
fn directories_are_walked_sorted_and_manifests_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let one = vec![CurRow::usage(
        "2026-11-02T00:00:00Z",
        "AmazonBedrock",
        "USE1-NovaLite-output-tokens",
        "2",
        "0.00048",
    )];
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::create_dir_all(dir.path().join("b/data")).unwrap();
    fixture::write_parquet(dir.path().join("b/data/part-2.snappy.parquet"), &one);
    fixture::write_csv_gz(dir.path().join("b/data/part-1.csv.gz"), &one);
    fixture::write_csv(dir.path().join("a/part-0.csv"), &one);
    write(dir.path(), "b/metadata/Manifest.json", "{\"not\": \"csv\"}");
    write(dir.path(), "notes.txt", "hello");
    write(dir.path(), "empty.csv", "");
    let (lines, stats) = read_all(&[dir.path().to_path_buf()]);
    let files: Vec<String> = lines
        .iter()
        .map(|l| {
            Path::new(&*l.file)
                .strip_prefix(dir.path())
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(
        files,
        [
            "a/part-0.csv",
            "b/data/part-1.csv.gz",
            "b/data/part-2.snappy.parquet"
        ]
    );
    assert_eq!((stats.files, stats.rows, stats.bedrock_rows), (4, 3, 3));

    let err = read(&[dir.path().join("notes.txt")], &mut |_| {}).unwrap_err();
    assert!(matches!(err, CurError::NotCurFile { .. }), "{err}");
    let err = read(&[dir.path().join("nowhere")], &mut |_| {}).unwrap_err();
    assert!(matches!(err, CurError::Io { .. }), "{err}");
}

#[test]
fn a_broken_parquet_file_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("good.parquet");
    fixture::write_parquet(&path, &rows());
    let bytes = std::fs::read(&path).unwrap();
    // truncated: no footer
    let cut = write(dir.path(), "cut.parquet", "");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = read(&[cut], &mut |_| {}).unwrap_err();
    assert!(matches!(err, CurError::Parquet { .. }), "{err}");
    // Bytes all over the file, corrupted in turn: whatever the decoder makes of it (an error,
    // rows, problems), `read` returns; a panic in the decoder (some of these cause one) is an
    // error too.
    let mut outcomes = [0; 3];
    for at in (0..bytes.len()).step_by(11) {
        let mut broken = bytes.clone();
        broken[at] ^= 0x5a;
        let path = dir.path().join("broken.parquet");
        std::fs::write(&path, &broken).unwrap();
        match read(&[path], &mut |_| {}) {
            Ok(s) if s.problems.is_empty() => outcomes[0] += 1,
            Ok(_) => outcomes[1] += 1,
            Err(e) => {
                let file_level =
                    matches!(e, CurError::Parquet { .. } | CurError::MissingColumn { .. });
                assert!(file_level, "{e}");
                outcomes[2] += 1
            }
        }
    }
    assert!(outcomes[2] > 0, "{outcomes:?}");
}

#[test]
fn a_parquet_file_without_a_required_column_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.parquet");
    let schema = std::sync::Arc::new(
        parquet::schema::parser::parse_message_type(
            "message m { OPTIONAL BYTE_ARRAY line_item_usage_type (UTF8); }",
        )
        .unwrap(),
    );
    let props = std::sync::Arc::new(parquet::file::properties::WriterProperties::builder().build());
    let w = parquet::file::writer::SerializedFileWriter::new(
        std::fs::File::create(&path).unwrap(),
        schema,
        props,
    )
    .unwrap();
    w.close().unwrap();
    let err = read(&[path], &mut |_| {}).unwrap_err();
    assert!(
        err.to_string()
            .contains("no column `line_item_usage_start_date`"),
        "{err}"
    );
}
