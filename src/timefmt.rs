//! Civil-time arithmetic for the few time formats the daemon meets: ISO-8601 record
//! timestamps, rate-card dates, and RFC 3339 output. Pure functions, UTC only.

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

fn num(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u32, |acc, b| {
        acc.checked_mul(10)?.checked_add((b - b'0') as u32)
    })
}

/// Parses `YYYY-MM-DD` into days since the epoch.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y as i64, m) {
        return None;
    }
    Some(days_from_civil(y as i64, m, d))
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses a record timestamp into Unix seconds (fractions dropped). Accepts what Bedrock
/// writes (`2025-12-03T10:54:44Z`), fractions, numeric offsets, and the space-separated
/// form some log pipelines re-emit (`2025-05-15 14:14:49.000000000`, taken as UTC).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ') {
        return None;
    }
    let days = parse_date(&s[..10])?;
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, se) = (num(&b[11..13])?, num(&b[14..16])?, num(&b[17..19])?);
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &b[19..];
    if let Some((b'.', frac)) = rest.split_first() {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), hh1, hh2, b':', mm1, mm2] => {
            let secs = (num(&[*hh1, *hh2])? * 3600 + num(&[*mm1, *mm2])? * 60) as i64;
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    Some(days * 86_400 + (h * 3600 + mi * 60 + se) as i64 - offset)
}

/// `2026-11-23T09:54:25Z`
pub fn format_rfc3339(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// `2026-11-23`
pub fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `500ms`, `30s`, `5m`, `48h`, `7d`.
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    use std::time::Duration;
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    // Checked: a huge count is not a duration (unchecked, it overflowed: a panic with overflow
    // checks on, a wrapped, much shorter duration without).
    Some(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        "d" => Duration::from_secs(n.checked_mul(86_400)?),
        _ => return None,
    })
}

/// `now`, `-15m`/`-1h`/`-7d` (relative), or an RFC 3339 time → ms since the epoch.
pub fn parse_start(s: &str, now_ms: i64) -> Option<i64> {
    if s == "now" {
        return Some(now_ms);
    }
    if let Some(rel) = s.strip_prefix('-') {
        // Checked, like parse_duration: `as i64` wrapped a huge offset into a wrong time.
        let ms = i64::try_from(parse_duration(rel)?.as_millis()).ok()?;
        return now_ms.checked_sub(ms);
    }
    parse_timestamp(s).map(|t| t * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_positions() {
        let now = 1_795_420_800_000;
        assert_eq!(parse_start("now", now), Some(now));
        assert_eq!(parse_start("-1h", now), Some(now - 3_600_000));
        assert_eq!(
            parse_start("2026-11-23T00:00:00Z", now),
            Some(1_795_392_000_000)
        );
        assert_eq!(parse_start("yesterday", now), None);
    }

    /// Found while writing the config_parse fuzz target (replaying such a config through it
    /// panicked): `n * 3600` overflowed on a huge count (a panic with overflow checks on; a
    /// wrapped, much shorter duration in a release build), and a relative start beyond i64
    /// milliseconds wrapped around into a wrong time.
    #[test]
    fn huge_durations_and_start_offsets_are_refused() {
        assert_eq!(parse_duration("9999999999999999h"), None);
        assert_eq!(parse_duration("999999999999999999m"), None);
        assert_eq!(parse_duration("999999999999999d"), None);
        assert_eq!(
            parse_duration("5124095576030431h"),
            Some(std::time::Duration::from_secs(5_124_095_576_030_431 * 3600))
        );
        assert_eq!(parse_start("-999999999999999d", 0), None);
        assert_eq!(parse_start("-18446744073709551s", 0), None);
        assert_eq!(parse_start("-9223372036854775s", -1_000), None);
    }

    #[test]
    fn bedrock_timestamp_forms_parse_to_the_same_second() {
        let want = 1_764_759_284; // 2025-12-03T10:54:44Z
        for s in [
            "2025-12-03T10:54:44Z",
            "2025-12-03T10:54:44.000Z",
            "2025-12-03 10:54:44.000000000",
            "2025-12-03T11:54:44+01:00",
            "2025-12-03T10:54:44",
        ] {
            assert_eq!(parse_timestamp(s), Some(want), "{s}");
        }
    }

    #[test]
    fn bad_timestamps_are_rejected() {
        for s in [
            "",
            "2025-12-03",
            "2025-13-03T10:54:44Z",
            "2025-02-30T00:00:00Z",
            "2025-12-03T25:00:00Z",
            "2025-12-03T10:54:44.Z",
            "yesterday at noon",
        ] {
            assert_eq!(parse_timestamp(s), None, "{s}");
        }
    }

    #[test]
    fn dates_round_trip() {
        for s in [
            "1970-01-01",
            "2000-02-29",
            "2023-09-28",
            "2026-11-23",
            "2100-12-31",
        ] {
            assert_eq!(format_date(parse_date(s).unwrap()), s);
        }
        assert_eq!(format_rfc3339(1_764_759_284), "2025-12-03T10:54:44Z");
    }
}
