//! CUR 2.0 CSV files (plain or gzip, decompressed by the caller): the header row names the
//! columns, each record becomes one row for the reader's `Sink`. Values are text here; `product` is a
//! JSON object in one field [inferred: the CUR 2.0 CSV encoding of map columns is not
//! documented in what was read], or its keys come as flat `product_*` columns.

use std::io::{BufReader, Read};

use super::csv::Records;
use super::read::{present, roles, Identity, ProductKeys, Role, Sink, Values, BEDROCK_CODES};
use super::{values, CurError};

/// Reads one CSV stream. The outer error is I/O; the inner one a missing column.
pub fn read<R: Read>(
    input: BufReader<R>,
    sink: &mut Sink,
) -> std::io::Result<Result<(), CurError>> {
    let mut records = Records::new(input);
    let header = match records.next_record()? {
        None => return Ok(Ok(())), // an empty file has no rows
        Some(Ok(h)) => h,
        Some(Err(reason)) => {
            return Ok(Err(CurError::BadHeader {
                file: sink.file().to_string(),
                reason,
            }))
        }
    };
    let roles = match roles(sink.file(), header.iter().map(String::as_str)) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let mut row = 0;
    while let Some(record) = records.next_record()? {
        row += 1;
        let fields = match record {
            Ok(f) => f,
            Err(e) => {
                sink.malformed(row, &e);
                continue;
            }
        };
        if fields.len() < roles.len() {
            let why = format!(
                "{} fields where the header has {}",
                fields.len(),
                roles.len()
            );
            sink.malformed(row, &why);
            continue;
        }
        csv_row(sink, row, &roles, fields);
    }
    Ok(Ok(()))
}

fn csv_row(sink: &mut Sink, row: u64, roles: &[Option<Role>], fields: Vec<String>) {
    let mut id = Identity::default();
    let (mut start, mut amount, mut cost) = ("", "", "");
    let (mut principal, mut region, mut unit, mut product): (Option<&str>, _, _, _) =
        (None, None, None, None);
    for (role, value) in roles.iter().zip(&fields) {
        let value = value.as_str();
        match role {
            Some(Role::Start) => start = value,
            Some(Role::LineItemType) => id.line_item_type = value.trim().to_string(),
            Some(Role::ProductCode) => id.product_code = value.trim().to_string(),
            Some(Role::UsageType) => id.usage_type = value.trim().to_string(),
            Some(Role::UsageAmount) => amount = value,
            Some(Role::UnblendedCost) => cost = value,
            Some(Role::Principal) => principal = Some(value),
            Some(Role::RegionCode) => region = Some(value),
            Some(Role::PricingUnit) => unit = Some(value),
            Some(Role::Product) => product = Some(value),
            Some(Role::Servicename) => id.servicename = present(value),
            Some(Role::ProductName) => id.product_name = present(value),
            Some(Role::ProductFamily) => id.product_family = present(value),
            None => {}
        }
    }
    // The map is parsed only when it could matter (a Bedrock product code, or Bedrock named
    // in it): JSON on every EC2 row would cost more than the rest of the row.
    let bedrock_code = BEDROCK_CODES.contains(&id.product_code.as_str());
    if let Some(p) = product.filter(|p| bedrock_code || p.contains("Bedrock")) {
        match product_json(p) {
            Ok(map) => {
                id.servicename = id.servicename.or(map.servicename);
                id.product_name = id.product_name.or(map.product_name);
                id.product_family = id.product_family.or(map.product_family);
            }
            Err(e) => return sink.malformed(row, &format!("product column: {e}")),
        }
    }
    sink.row(row, id, || Values {
        day: values::day_from_text(start),
        usage_amount: values::decimal_from_text(amount),
        unblended_cost: values::decimal_from_text(cost),
        principal: principal.and_then(present),
        region_code: region.and_then(present),
        pricing_unit: unit.and_then(present),
    });
}

/// The `product` map as CSV writes it: a JSON object (string values taken, others ignored).
fn product_json(text: &str) -> Result<ProductKeys, String> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON object: {e}"))?;
    let mut keys = ProductKeys::default();
    for (k, v) in &map {
        keys.take(k, v.as_str().and_then(present));
    }
    Ok(keys)
}
