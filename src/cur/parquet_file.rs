//! CUR 2.0 Parquet files (I/O), through the `parquet` crate's row API: only the columns this
//! reader uses are decoded (a projection), one row group at a time, one row at a time.
//!
//! Shapes accepted (the CUR 2.0 table dictionary types, and what other writers use for them):
//! the start date as TIMESTAMP (millis, micros or nanos, UTC-adjusted or not), INT96, DATE or
//! a string; amounts and costs as DOUBLE (the dictionary's type), FLOAT, DECIMAL, integers or
//! strings; `product` as MAP<string,string>.
//!
//! The decoder runs on files from outside: a panic inside it becomes an error naming the
//! file, never a crash of the caller.

use std::fs::File;
use std::panic::{catch_unwind, AssertUnwindSafe};

use parquet::basic::{LogicalType, TimeUnit};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::{Field, Row};
use parquet::schema::types::Type;
use rust_decimal::Decimal;

use super::read::{present, roles, Identity, ProductKeys, Role, Sink, Values};
use super::{values, CurError};

pub fn read(file: File, sink: &mut Sink) -> Result<(), CurError> {
    let name = sink.file().to_string();
    let fail = |message: String| CurError::Parquet {
        file: name.clone(),
        message,
    };
    let reader = guarded(|| SerializedFileReader::new(file)).map_err(fail)?;
    let schema = reader.metadata().file_metadata().schema();
    let columns = schema.get_fields();
    let roles = roles(&name, columns.iter().map(|c| c.name()))?;

    let mut kept = Vec::new();
    let mut kept_roles = Vec::new();
    let mut per_second = None;
    for (column, role) in columns.iter().zip(roles) {
        let Some(role) = role else { continue };
        if role == Role::Start {
            per_second = int64_timestamp_unit(column);
        }
        kept.push(column.clone());
        kept_roles.push(role);
    }
    let projection = Type::group_type_builder(schema.name())
        .with_fields(kept)
        .build()
        .map_err(|e| fail(e.to_string()))?;

    let mut row_no = 0u64;
    for group in 0..reader.num_row_groups() {
        let group = guarded(|| reader.get_row_group(group)).map_err(fail)?;
        let mut rows =
            guarded(|| RowIter::from_row_group(Some(projection.clone()), &*group)).map_err(fail)?;
        loop {
            let row = match catch_unwind(AssertUnwindSafe(|| rows.next())) {
                Ok(None) => break,
                Ok(Some(Ok(row))) => row,
                // A page that does not decode leaves the rest of the file unreadable too.
                Ok(Some(Err(e))) => return Err(fail(format!("row {}: {e}", row_no + 1))),
                Err(panic) => {
                    return Err(fail(format!(
                        "row {}: the decoder failed: {}",
                        row_no + 1,
                        panic_text(&panic)
                    )))
                }
            };
            row_no += 1;
            parquet_row(sink, row_no, &kept_roles, per_second, &row);
        }
    }
    Ok(())
}

/// Runs a decoder step, turning its error or panic into a message.
fn guarded<T>(step: impl FnOnce() -> parquet::errors::Result<T>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(step)) {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(panic) => Err(format!("the decoder failed: {}", panic_text(&panic))),
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// Units per second of an INT64 start column that the row API hands over as a bare number:
/// nanoseconds (which have no converted type) and timestamps not adjusted to UTC.
fn int64_timestamp_unit(column: &Type) -> Option<i64> {
    match column.get_basic_info().logical_type_ref()? {
        LogicalType::Timestamp(t) => Some(match t.unit {
            TimeUnit::MILLIS => 1_000,
            TimeUnit::MICROS => 1_000_000,
            TimeUnit::NANOS => 1_000_000_000,
        }),
        _ => None,
    }
}

fn parquet_row(sink: &mut Sink, row_no: u64, roles: &[Role], per_second: Option<i64>, row: &Row) {
    let mut id = Identity::default();
    let mut keys = ProductKeys::default();
    let (mut start, mut amount, mut cost) = (&Field::Null, &Field::Null, &Field::Null);
    let (mut principal, mut region, mut unit) = (None, None, None);
    for (role, (_, field)) in roles.iter().zip(row.get_column_iter()) {
        match role {
            Role::Start => start = field,
            Role::LineItemType => id.line_item_type = text(field).unwrap_or_default(),
            Role::ProductCode => id.product_code = text(field).unwrap_or_default(),
            Role::UsageType => id.usage_type = text(field).unwrap_or_default(),
            Role::UsageAmount => amount = field,
            Role::UnblendedCost => cost = field,
            Role::Principal => principal = text(field),
            Role::RegionCode => region = text(field),
            Role::PricingUnit => unit = text(field),
            Role::Servicename => id.servicename = text(field),
            Role::ProductName => id.product_name = text(field),
            Role::ProductFamily => id.product_family = text(field),
            Role::Product => {
                if let Field::MapInternal(map) = field {
                    for (k, v) in map.entries() {
                        if let Field::Str(k) = k {
                            keys.take(k, text(v));
                        }
                    }
                }
            }
        }
    }
    // Flat columns, when a query wrote them, win over the map.
    id.servicename = id.servicename.or(keys.servicename);
    id.product_name = id.product_name.or(keys.product_name);
    id.product_family = id.product_family.or(keys.product_family);
    sink.row(row_no, id, || Values {
        day: start_day(start, per_second),
        usage_amount: number(amount),
        unblended_cost: number(cost),
        principal,
        region_code: region,
        pricing_unit: unit,
    });
}

fn text(field: &Field) -> Option<String> {
    match field {
        Field::Null => None,
        Field::Str(s) => present(s),
        Field::Bytes(b) => std::str::from_utf8(b.data()).ok().and_then(present),
        other => present(&other.to_string()),
    }
}

fn start_day(field: &Field, per_second: Option<i64>) -> Result<String, String> {
    match field {
        Field::TimestampMillis(v) => values::day_from_epoch(*v, 1_000),
        Field::TimestampMicros(v) => values::day_from_epoch(*v, 1_000_000),
        Field::Long(v) => match per_second {
            Some(per) => values::day_from_epoch(*v, per),
            None => Err("start date is an INT64 without a timestamp unit".into()),
        },
        Field::Date(days) => values::day_from_days(i64::from(*days)),
        Field::Str(s) => values::day_from_text(s),
        Field::Null => Err("no start date".into()),
        other => Err(format!("start date is {other:?}, not a timestamp")),
    }
}

fn number(field: &Field) -> Result<Option<Decimal>, String> {
    match field {
        Field::Null => Ok(None),
        Field::Double(f) => values::decimal_from_f64(*f).map(Some),
        // The same reasoning as for doubles: the shortest text of the f32.
        Field::Float(f) => values::decimal_from_text(&f.to_string()),
        Field::Decimal(d) => values::decimal_from_unscaled(d.data(), d.scale()).map(Some),
        Field::Byte(v) => Ok(Some(Decimal::from(*v))),
        Field::Short(v) => Ok(Some(Decimal::from(*v))),
        Field::Int(v) => Ok(Some(Decimal::from(*v))),
        Field::Long(v) => Ok(Some(Decimal::from(*v))),
        Field::UByte(v) => Ok(Some(Decimal::from(*v))),
        Field::UShort(v) => Ok(Some(Decimal::from(*v))),
        Field::UInt(v) => Ok(Some(Decimal::from(*v))),
        Field::ULong(v) => Ok(Some(Decimal::from(*v))),
        Field::Str(s) => values::decimal_from_text(s),
        other => Err(format!("{other:?} is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_the_decoder_is_an_error() {
        let r: Result<(), String> = guarded(|| panic!("page header out of range"));
        assert_eq!(
            r,
            Err("the decoder failed: page header out of range".to_string())
        );
        let r: Result<(), String> = guarded(|| Err(parquet::errors::ParquetError::EOF("x".into())));
        assert_eq!(r, Err("EOF: x".to_string()));
    }
}
