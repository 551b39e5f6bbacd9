//! Money: USD as an exact `Decimal`, from the rate card to the ledger.
//!
//! The one rounding rule is: none. A call's cost is tokens × (price per 1M) ÷ 1,000,000,
//! computed exactly (shifting the decimal point, never dividing), and totals are exact sums.
//! `Decimal` keeps 28 significant digits; prices have at most 10 decimals, so a cost has at
//! most 16 and a total stays exact far beyond any real bill. Arithmetic is checked: an
//! overflow is reported, never wrapped. Conversion to `f64` happens only at exposition.

use rust_decimal::Decimal;

/// Tokens per priced unit: rate cards state USD per 1M tokens.
const PRICE_UNIT_DECIMALS: u32 = 6;

/// The cost of `tokens` at `per_million` USD per 1M tokens, exactly.
pub fn cost(tokens: u64, per_million: Decimal) -> Option<Decimal> {
    let mut product = per_million.checked_mul(Decimal::from(tokens))?;
    let scale = product.scale() + PRICE_UNIT_DECIMALS;
    if scale > 28 {
        return None;
    }
    product.set_scale(scale).ok()?;
    Some(product.normalize())
}

/// `price × (100 − percent) / 100`, exact (percent has at most a few decimals).
pub fn discounted(price: Decimal, percent: Decimal) -> Decimal {
    if percent.is_zero() {
        return price;
    }
    let factor = (Decimal::ONE_HUNDRED - percent) / Decimal::ONE_HUNDRED;
    (price * factor).normalize()
}

/// Parses a price or percent written as a decimal string: digits, optionally a point and up to
/// `max_decimals` digits. No sign, exponent or spaces: a reviewer reads exactly what is used.
pub fn parse_decimal(s: &str, max_decimals: usize) -> Result<Decimal, String> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits_ok = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits_ok(int) || !digits_ok(frac) || (s.contains('.') && frac.is_empty())
    {
        return Err(format!("{s:?} is not a plain decimal number like \"3.75\""));
    }
    if frac.len() > max_decimals {
        return Err(format!("{s:?} has more than {max_decimals} decimal places"));
    }
    s.parse::<Decimal>().map_err(|e| format!("{s:?}: {e}"))
}

/// The exposition-time conversion (the only place money becomes a float).
pub fn to_f64(d: Decimal) -> f64 {
    use rust_decimal::prelude::ToPrimitive;
    d.to_f64().unwrap_or(f64::NAN)
}

/// Decimal places of the ledger's fixed-point USD ("attodollars"). Costs have at most 16
/// decimals (prices at most 10, per 1M tokens), so 18 holds every cost exactly, and an
/// `i128` of them holds $1.7 × 10^20: no real total overflows, and one that would is an error.
pub const USD_SCALE: u32 = 18;

/// `d` as an integer count of `10^-scale` units, exactly; `None` if it has finer digits than
/// the scale or does not fit (never rounded).
pub fn to_units(d: Decimal, scale: u32) -> Option<i128> {
    let d = if d.scale() > scale { d.normalize() } else { d };
    if d.scale() > scale {
        return None;
    }
    d.mantissa()
        .checked_mul(10i128.checked_pow(scale - d.scale())?)
}

/// `units × 10^-scale` as an exact decimal string (`"0.000003"`, `"12"`, `"-1.5"`).
pub fn format_units(units: i128, scale: u32) -> String {
    let digits = units.unsigned_abs().to_string();
    let scale = scale as usize;
    let sign = if units < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// The inverse of [`format_units`]: a plain decimal string (optionally negative) as a count of
/// `10^-scale` units, exactly; `None` if it is not one, has finer digits than the scale, or
/// does not fit an `i128`.
pub fn parse_units(s: &str, scale: u32) -> Option<i128> {
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let dangling_point = body.contains('.') && frac.is_empty();
    if int.is_empty() || !digits(int) || !digits(frac) || dangling_point {
        return None;
    }
    let pad = (scale as usize).checked_sub(frac.len())?;
    let mut units: i128 = 0;
    for b in int
        .bytes()
        .chain(frac.bytes())
        .chain(std::iter::repeat_n(b'0', pad))
    {
        units = units.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    Some(if negative { -units } else { units })
}

/// `units × 10^-scale` as a `Decimal` when it fits its 96-bit mantissa (always, for real
/// totals), else the nearest `Decimal`.
pub fn units_to_decimal(units: i128, scale: u32) -> Decimal {
    Decimal::try_from_i128_with_scale(units, scale)
        .map(|d| d.normalize())
        .unwrap_or_else(|_| format_units(units, scale).parse().unwrap_or(Decimal::MAX))
}

/// The exposition-time conversion of fixed-point units: correctly rounded (the exact decimal
/// string, parsed), so the float is the nearest one to the exact total.
pub fn units_to_f64(units: i128, scale: u32) -> f64 {
    if scale == 0 {
        return units as f64;
    }
    // Exact below 2^53 over an exact power of ten: IEEE division rounds once, correctly.
    if units.unsigned_abs() < (1u128 << 53) && scale <= 22 {
        return units as f64 / 10f64.powi(scale as i32);
    }
    format_units(units, scale).parse().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn cost_is_exact() {
        assert_eq!(cost(1, d("3.00")), Some(d("0.000003")));
        assert_eq!(cost(238_604, d("0.33")), Some(d("0.07873932")));
        assert_eq!(cost(7, d("0.00875")), Some(d("0.00000006125")));
        assert_eq!(cost(0, d("15")), Some(Decimal::ZERO));
    }

    #[test]
    fn a_million_calls_of_a_tiny_price_sum_exactly() {
        let one = cost(1, d("0.035")).unwrap();
        let total = (0..1_000_000).fold(Decimal::ZERO, |acc, _| acc + one);
        assert_eq!(total, d("0.035"));
    }

    #[test]
    fn discount_is_exact() {
        assert_eq!(discounted(d("3.00"), d("12.5")), d("2.625"));
        assert_eq!(discounted(d("3.00"), d("0")), d("3.00"));
    }

    #[test]
    fn units_round_trip_exactly() {
        for s in [
            "0",
            "0.000003",
            "1.026",
            "12",
            "0.000000000000000001",
            "123456789.123456789",
        ] {
            let u = to_units(d(s), USD_SCALE).unwrap();
            assert_eq!(format_units(u, USD_SCALE), s);
            assert_eq!(units_to_decimal(u, USD_SCALE), d(s).normalize());
            assert_eq!(units_to_f64(u, USD_SCALE), s.parse::<f64>().unwrap(), "{s}");
        }
        assert_eq!(
            to_units(d("0.0000000000000000001"), USD_SCALE),
            None,
            "finer than the scale"
        );
        assert_eq!(
            to_units(d("1.50000000000000000000"), USD_SCALE),
            Some(15 * 10i128.pow(17))
        );
        assert_eq!(
            to_units(d("79228162514264337593543950335"), USD_SCALE),
            None,
            "too large"
        );
        assert_eq!(format_units(-15, 1), "-1.5");
        assert_eq!(format_units(7, 0), "7");
    }

    #[test]
    fn unit_strings_parse_back_exactly() {
        for units in [0, 1, 35_000_000_000_000, -15, i128::MAX, i128::MIN + 1] {
            let s = format_units(units, USD_SCALE);
            assert_eq!(parse_units(&s, USD_SCALE), Some(units), "{s}");
        }
        assert_eq!(parse_units("12", 0), Some(12));
        assert_eq!(parse_units("0.5", 0), None, "finer than the scale");
        for bad in ["", "-", ".5", "1.", "1e3", " 1", "1.2.3", "+1", "--1"] {
            assert_eq!(parse_units(bad, USD_SCALE), None, "{bad:?}");
        }
        let too_big = format!("{}0", i128::MAX);
        assert_eq!(parse_units(&too_big, 0), None);
    }

    #[test]
    fn price_strings_are_strict() {
        assert_eq!(parse_decimal("3.75", 10), Ok(d("3.75")));
        assert_eq!(parse_decimal("0", 10), Ok(Decimal::ZERO));
        for bad in ["", "-1", "1e3", " 3", "3.", ".5", "3,75", "1.12345678901"] {
            assert!(parse_decimal(bad, 10).is_err(), "{bad}");
        }
    }
}
