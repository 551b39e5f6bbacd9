//! The value conversions both CUR formats share: dates to a UTC day, numbers to `Decimal`.
//! Pure; each failure is a sentence for the problem list.

use std::str::FromStr;

use rust_decimal::Decimal;

use crate::timefmt;

/// The UTC day of a start date written as text: RFC 3339 (`2026-11-03T00:00:00Z`, fractions,
/// offsets), the space-separated form (taken as UTC), or a bare `YYYY-MM-DD`.
pub fn day_from_text(s: &str) -> Result<String, String> {
    let s = s.trim();
    if let Some(days) = timefmt::parse_date(s) {
        return day_from_days(days);
    }
    match timefmt::parse_timestamp(s) {
        Some(secs) => day_from_days(secs.div_euclid(86_400)),
        None => Err(format!("start date {s:?} is not a date")),
    }
}

/// The UTC day of a timestamp counted from the Unix epoch in `per_second` units.
pub fn day_from_epoch(value: i64, per_second: i64) -> Result<String, String> {
    day_from_days(value.div_euclid(per_second * 86_400))
}

/// The day a count of days since 1970-01-01 names.
pub fn day_from_days(days: i64) -> Result<String, String> {
    // Four-digit years only: anything else is a broken value, not a billing day.
    const FIRST: i64 = 0; // 1970-01-01
    const LAST: i64 = 2_932_896; // 9999-12-31
    if (FIRST..=LAST).contains(&days) {
        Ok(timefmt::format_date(days))
    } else {
        Err(format!("start date is {days} days from 1970, out of range"))
    }
}

/// A number written as text: optional sign, digits, optional fraction, optional exponent.
/// Empty is `None` (the column has no value on this row).
pub fn decimal_from_text(s: &str) -> Result<Option<Decimal>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(at) => (&s[..at], Some(&s[at + 1..])),
        None => (s, None),
    };
    let unsigned = mantissa.strip_prefix(['-', '+']).unwrap_or(mantissa);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let exp_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.len() <= 3 && digits(e)
    });
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) || !exp_ok {
        return Err(format!("{s:?} is not a number"));
    }
    let parsed = match exponent {
        Some(_) => Decimal::from_scientific(s),
        None => Decimal::from_str(s),
    };
    parsed
        .map(Some)
        .map_err(|e| format!("{s:?} is not a number this reader can hold exactly: {e}"))
}

/// A Parquet DOUBLE. Its shortest round-trip decimal text is the number the exporter meant
/// (`0.1`, not the binary fraction 0.1000000000000000055...): parsing that text keeps the
/// decimal a person and the bill read. Never arithmetic on the float, which would carry the
/// binary error into the money.
pub fn decimal_from_f64(f: f64) -> Result<Decimal, String> {
    if !f.is_finite() {
        return Err(format!("{f} is not a finite number"));
    }
    // Rust's `Display` for f64 prints the shortest text that reads back to the same double,
    // and never in exponent form.
    let text = format!("{f}");
    Decimal::from_str(&text).map_err(|e| format!("{text} does not fit a decimal: {e}"))
}

/// A Parquet DECIMAL: a big-endian two's complement unscaled value and its scale.
pub fn decimal_from_unscaled(be_bytes: &[u8], scale: i32) -> Result<Decimal, String> {
    if be_bytes.is_empty() || be_bytes.len() > 16 {
        return Err(format!("a {}-byte DECIMAL is out of range", be_bytes.len()));
    }
    let fill = if be_bytes[0] & 0x80 != 0 { 0xff } else { 0 };
    let mut buf = [fill; 16];
    buf[16 - be_bytes.len()..].copy_from_slice(be_bytes);
    let unscaled = i128::from_be_bytes(buf);
    let scale = u32::try_from(scale).map_err(|_| format!("DECIMAL scale {scale} is negative"))?;
    Decimal::try_from_i128_with_scale(unscaled, scale)
        .map_err(|e| format!("DECIMAL {unscaled}e-{scale} does not fit: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn days_from_text_forms() {
        for (text, want) in [
            ("2026-11-03T00:00:00Z", "2026-11-03"),
            ("2026-11-03T23:59:59.999Z", "2026-11-03"),
            ("2026-11-03 10:00:00", "2026-11-03"),
            ("2026-11-03T01:00:00+02:00", "2026-11-02"),
            ("2026-11-03", "2026-11-03"),
            (" 2026-11-03T00:00:00Z ", "2026-11-03"),
        ] {
            assert_eq!(day_from_text(text).as_deref(), Ok(want), "{text}");
        }
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-11-03T25:00:00Z",
            "03/11/2026",
        ] {
            assert!(day_from_text(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn days_from_epoch_units() {
        let ms = 1_793_750_400_000_i64; // 2026-11-04T00:00:00Z
        assert_eq!(day_from_epoch(ms, 1_000).unwrap(), "2026-11-04");
        assert_eq!(day_from_epoch(ms - 1, 1_000).unwrap(), "2026-11-03");
        assert_eq!(day_from_epoch(ms * 1_000, 1_000_000).unwrap(), "2026-11-04");
        assert_eq!(
            day_from_epoch(ms * 1_000_000, 1_000_000_000).unwrap(),
            "2026-11-04"
        );
        assert!(day_from_epoch(-1, 1_000).is_err());
        assert!(day_from_epoch(i64::MAX, 1).is_err());
    }

    #[test]
    fn numbers_from_text() {
        for (text, want) in [
            ("0.0123", "0.0123"),
            ("-1.50", "-1.50"),
            ("+2", "2"),
            ("42", "42"),
            (".5", "0.5"),
            ("1.2E-5", "0.000012"),
            ("3e2", "300"),
        ] {
            assert_eq!(decimal_from_text(text), Ok(Some(d(want))), "{text}");
        }
        assert_eq!(decimal_from_text(" "), Ok(None));
        for bad in [
            "1,5", "NaN", "inf", "1_000", "0x10", "-", ".", "1e", "1e99999", "1.2.3",
        ] {
            assert!(decimal_from_text(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn doubles_become_the_decimal_they_print_as() {
        assert_eq!(decimal_from_f64(0.1).unwrap(), d("0.1"));
        assert_eq!(decimal_from_f64(0.069).unwrap(), d("0.069"));
        assert_eq!(decimal_from_f64(1e-7).unwrap(), d("0.0000001"));
        assert_eq!(decimal_from_f64(-12.5).unwrap(), d("-12.5"));
        assert_eq!(decimal_from_f64(1234567.0).unwrap(), d("1234567"));
        // the float sum 0.1 + 0.2 is a different double, and says so
        assert_eq!(
            decimal_from_f64(0.1 + 0.2).unwrap(),
            d("0.30000000000000004")
        );
        assert!(decimal_from_f64(f64::NAN).is_err());
        assert!(decimal_from_f64(f64::INFINITY).is_err());
        assert!(decimal_from_f64(1e40).is_err());
    }

    #[test]
    fn parquet_decimals() {
        assert_eq!(
            decimal_from_unscaled(&[0x30, 0x39], 3).unwrap(),
            d("12.345")
        );
        assert_eq!(decimal_from_unscaled(&[0xff, 0x85], 2).unwrap(), d("-1.23"));
        assert_eq!(
            decimal_from_unscaled(&1234_i64.to_be_bytes(), 4).unwrap(),
            d("0.1234")
        );
        assert!(decimal_from_unscaled(&[], 0).is_err());
        assert!(decimal_from_unscaled(&[1; 17], 0).is_err());
        assert!(decimal_from_unscaled(&[1], -1).is_err());
    }
}
