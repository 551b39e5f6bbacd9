//! CUR 2.0 files written by `support::cur` (CSV, gzip CSV, Parquet) and read back through the
//! library: the same Bedrock lines from each format, classified with the bundled mapping.

use std::path::PathBuf;
use std::str::FromStr;

use bedrock_cost_exporter::cur::{self, BillLine, Billed};
use bedrock_cost_exporter::pricelist::mapping::Mapping;
use rust_decimal::Decimal;

use crate::support::cur::{write_csv, write_csv_gz, write_parquet, CurRow};

fn rows() -> Vec<CurRow> {
    let mut sonnet = CurRow::usage(
        "2026-11-20T14:00:00Z",
        "q8listingid",
        "USE1-MP:USE1_InputTokenCount_Global-Units",
        "0.012",
        "0.036",
    );
    sonnet.servicename = Some("Claude Sonnet 4.6 (Amazon Bedrock Edition)".into());
    sonnet.principal = Some("arn:aws:iam::123456789012:user/carol".into());
    let mut nova = CurRow::usage(
        "2026-11-20T15:00:00Z",
        "AmazonBedrock",
        "APN1-NovaPro-output-tokens",
        "1.5",
        "0.00576",
    );
    nova.pricing_unit = Some("1K tokens".into());
    nova.region_code = Some("ap-northeast-1".into());
    let s3 = CurRow::usage(
        "2026-11-20T15:00:00Z",
        "AmazonS3",
        "USE1-Requests-Tier1",
        "100",
        "0.0005",
    );
    let mut refund = CurRow::usage(
        "2026-11-21T00:00:00Z",
        "AmazonBedrock",
        "APN1-NovaPro-output-tokens",
        "0",
        "-0.00576",
    );
    refund.line_item_type = "Refund".into();
    vec![sonnet, nova, s3, refund]
}

fn summary(l: &BillLine, mapping: &Mapping) -> String {
    let what = match cur::classify(l, mapping) {
        Billed::Tokens {
            model,
            region,
            class,
            global,
            tokens,
            ..
        } => format!(
            "{model} {region} {} global={global} {tokens}",
            class.as_str()
        ),
        other => format!("{other:?}"),
    };
    format!(
        "{} row {} {} ${} {}",
        l.day,
        l.row,
        l.principal.as_deref().unwrap_or("-"),
        l.unblended_cost,
        what
    )
}

#[test]
fn each_cur_format_reads_back_the_same_bedrock_lines() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = ["cur.csv", "cur.csv.gz", "cur.snappy.parquet"]
        .iter()
        .map(|n| dir.path().join(n))
        .collect();
    write_csv(&paths[0], &rows());
    write_csv_gz(&paths[1], &rows());
    write_parquet(&paths[2], &rows());
    let mapping = Mapping::bundled();
    for path in &paths {
        let mut lines = Vec::new();
        let stats = cur::read(std::slice::from_ref(path), &mut |l| lines.push(l)).unwrap();
        assert_eq!(
            (
                stats.files,
                stats.rows,
                stats.bedrock_rows,
                stats.skipped_other,
                stats.malformed
            ),
            (1, 4, 3, 1, 0),
            "{path:?}: {stats:?}"
        );
        let got: Vec<String> = lines.iter().map(|l| summary(l, &mapping)).collect();
        assert_eq!(
            got,
            [
                "2026-11-20 row 1 arn:aws:iam::123456789012:user/carol $0.036 \
                 anthropic.claude-sonnet-4-6 us-east-1 input global=true 12000",
                "2026-11-20 row 2 - $0.00576 amazon.nova-pro-v1:0 ap-northeast-1 output global=false 1500",
                "2026-11-21 row 4 - $-0.00576 OtherLineType(\"Refund\")",
            ],
            "{path:?}"
        );
        assert_eq!(lines[0].usage_amount, Decimal::from_str("0.012").unwrap());
    }
    // the directory as a whole: all three files, in name order
    let mut n = 0;
    let stats = cur::read(&[dir.path().to_path_buf()], &mut |_| n += 1).unwrap();
    assert_eq!((stats.files, n), (3, 9));
}
