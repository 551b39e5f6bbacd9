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
    fn price_strings_are_strict() {
        assert_eq!(parse_decimal("3.75", 10), Ok(d("3.75")));
        assert_eq!(parse_decimal("0", 10), Ok(Decimal::ZERO));
        for bad in ["", "-1", "1e3", " 3", "3.", ".5", "3,75", "1.12345678901"] {
            assert!(parse_decimal(bad, 10).is_err(), "{bad}");
        }
    }
}
