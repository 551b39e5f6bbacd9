//! The S3 delivery layout of Bedrock invocation logs (pure): which keys are hour partitions,
//! which objects in them are records, and which hour prefixes a poll lists.
//!
//! Bedrock writes `<keyPrefix>AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/`
//! `<YYYYMMDDTHHMMSSmmmZ>_<16 hex>.json.gz`: gzipped batches of newline-delimited records.
//! Bodies over 100 KB go to separate objects under `.../HH/data/`; they are not records.
//! See <https://docs.aws.amazon.com/bedrock/latest/userguide/model-invocation-logging.html>.

use crate::timefmt::{civil_from_days, days_from_civil};

pub const HOUR_MS: i64 = 3_600_000;
const LOGS: &str = "AWSLogs/";
const SERVICE: &str = "BedrockModelInvocationLogs/";

/// One hour of one account's logs in one region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    /// Hours since the Unix epoch (UTC); first, so partitions sort by time.
    pub hour: i64,
    pub account: String,
    pub region: String,
}

/// What an object under a partition is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A gzipped batch of records (`*.json.gz` directly under the hour).
    Records,
    /// A large body under `data/`: not records.
    LargeData,
    /// Anything else (a marker, a file someone copied in).
    Other,
}

/// A key of the layout, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey {
    pub partition: Partition,
    /// The key below the hour prefix (`20241120T164851056Z_9b86bf4994c4ab1c.json.gz`).
    pub name: String,
    pub kind: Kind,
}

/// `<prefix>AWSLogs/`: listed with a delimiter, its common prefixes are the accounts.
pub fn accounts_prefix(prefix: &str) -> String {
    format!("{prefix}{LOGS}")
}

/// Listed with a delimiter, its common prefixes are the account's regions.
pub fn regions_prefix(prefix: &str, account: &str) -> String {
    format!("{prefix}{LOGS}{account}/{SERVICE}")
}

/// The last path segment of a common prefix (`.../123456789012/` -> `123456789012`).
pub fn segment<'a>(common_prefix: &'a str, parent: &str) -> Option<&'a str> {
    let s = common_prefix.strip_prefix(parent)?.strip_suffix('/')?;
    (!s.is_empty() && !s.contains('/')).then_some(s)
}

pub fn hour_of_ms(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS)
}

/// `YYYY/MM/DD/HH`
fn hour_path(hour: i64) -> String {
    let (y, m, d) = civil_from_days(hour.div_euclid(24));
    format!("{y:04}/{m:02}/{d:02}/{:02}", hour.rem_euclid(24))
}

fn parse_hour_path(s: &str) -> Option<i64> {
    let mut it = s.split('/');
    let mut part = |len: usize| {
        it.next()
            .filter(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u32>().ok())
    };
    let (y, m, d, h) = (part(4)?, part(2)?, part(2)?, part(2)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 {
        return None;
    }
    let days = days_from_civil(y as i64, m, d);
    // 31 February is not a day: it would name 3 March's partition.
    (civil_from_days(days) == (y as i64, m, d)).then_some(days * 24 + h as i64)
}

impl Partition {
    /// The key prefix that holds this hour's objects.
    pub fn key_prefix(&self, prefix: &str) -> String {
        format!(
            "{}{}/{}/",
            regions_prefix(prefix, &self.account),
            self.region,
            hour_path(self.hour)
        )
    }

    /// `<account>/<region>/YYYY/MM/DD/HH`: how the read-keys state names it.
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.account, self.region, hour_path(self.hour))
    }

    pub fn from_id(id: &str) -> Option<Partition> {
        let (account, rest) = id.split_once('/')?;
        let (region, hour) = rest.split_once('/')?;
        Some(Partition {
            hour: parse_hour_path(hour)?,
            account: account.to_string(),
            region: region.to_string(),
        })
    }
}

/// Splits a key under `prefix`; `None` when it is not in an hour partition of the layout.
pub fn parse_key(prefix: &str, key: &str) -> Option<ObjectKey> {
    let rest = key.strip_prefix(prefix)?.strip_prefix(LOGS)?;
    let (account, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix(SERVICE)?;
    let (region, rest) = rest.split_once('/')?;
    // YYYY/MM/DD/HH/ is 14 bytes.
    let (hour, name) = (rest.get(..13)?, rest.get(14..)?);
    if rest.as_bytes()[13] != b'/' || name.is_empty() || account.is_empty() || region.is_empty() {
        return None;
    }
    let kind = if name.starts_with("data/") {
        Kind::LargeData
    } else if !name.contains('/') && name.ends_with(".json.gz") {
        Kind::Records
    } else {
        Kind::Other
    };
    Some(ObjectKey {
        partition: Partition {
            hour: parse_hour_path(hour)?,
            account: account.to_string(),
            region: region.to_string(),
        },
        name: name.to_string(),
        kind,
    })
}

/// The hours a poll lists: from the first not yet finished (`floor`) to the current one. A
/// floor in the future (a `--start` ahead of the clock) lists nothing yet.
pub fn hours_to_list(floor: i64, now_ms: i64) -> std::ops::RangeInclusive<i64> {
    floor..=hour_of_ms(now_ms)
}

/// The first hour a poll at `now_ms` no longer needs to list again once it is read: objects
/// for an hour keep arriving for a while after it ends, so an hour is final only when it
/// ended more than `lookback` ago.
pub fn final_before(now_ms: i64, lookback_ms: i64) -> i64 {
    hour_of_ms(now_ms - lookback_ms) // the hour holding now - lookback is not over yet
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "logs/AWSLogs/891377031307/BedrockModelInvocationLogs/us-east-1/2024/11/20/16/20241120T164851056Z_9b86bf4994c4ab1c.json.gz";

    fn hour(y: i64, m: u32, d: u32, h: i64) -> i64 {
        days_from_civil(y, m, d) * 24 + h
    }

    #[test]
    fn a_real_key_splits_into_its_partition() {
        let k = parse_key("logs/", KEY).unwrap();
        assert_eq!(k.kind, Kind::Records);
        assert_eq!(k.name, "20241120T164851056Z_9b86bf4994c4ab1c.json.gz");
        assert_eq!(k.partition.account, "891377031307");
        assert_eq!(k.partition.region, "us-east-1");
        assert_eq!(k.partition.hour, hour(2024, 11, 20, 16));
        assert_eq!(
            k.partition.key_prefix("logs/"),
            "logs/AWSLogs/891377031307/BedrockModelInvocationLogs/us-east-1/2024/11/20/16/"
        );
        assert_eq!(k.partition.id(), "891377031307/us-east-1/2024/11/20/16");
        assert_eq!(Partition::from_id(&k.partition.id()), Some(k.partition));
    }

    #[test]
    fn large_bodies_markers_and_foreign_keys_are_told_apart() {
        let p = "AWSLogs/1/BedrockModelInvocationLogs/eu-west-1/2026/01/02/03/";
        let kind = |name: &str| parse_key("", &format!("{p}{name}")).map(|k| k.kind);
        assert_eq!(kind("data/abc_input.json.gz"), Some(Kind::LargeData));
        assert_eq!(kind("data/abc_input_media_01.pdf"), Some(Kind::LargeData));
        assert_eq!(kind("x.json.gz"), Some(Kind::Records));
        assert_eq!(kind("notes.txt"), Some(Kind::Other));
        assert_eq!(kind(""), None);
        for bad in [
            "AWSLogs/amazon-bedrock-logs-permission-check",
            "AWSLogs/1/BedrockModelInvocationLogs/eu-west-1/2026/01/02/x.json.gz",
            "AWSLogs/1/BedrockModelInvocationLogs/eu-west-1/2026/02/30/03/x.json.gz",
            "AWSLogs/1/BedrockModelInvocationLogs/eu-west-1/2026/01/02/24/x.json.gz",
            "AWSLogs/1/CloudTrail/eu-west-1/2026/01/02/03/x.json.gz",
            "other/AWSLogs/1/BedrockModelInvocationLogs/eu-west-1/2026/01/02/03/x.json.gz",
        ] {
            assert_eq!(parse_key("", bad), None, "{bad}");
        }
        // Another prefix's keys are not this one's.
        assert_eq!(parse_key("logs/", &format!("{p}x.json.gz")), None);
    }

    #[test]
    fn discovery_prefixes_and_segments() {
        assert_eq!(accounts_prefix("p/"), "p/AWSLogs/");
        assert_eq!(
            regions_prefix("p/", "1"),
            "p/AWSLogs/1/BedrockModelInvocationLogs/"
        );
        assert_eq!(segment("p/AWSLogs/123/", "p/AWSLogs/"), Some("123"));
        assert_eq!(segment("p/AWSLogs/", "p/AWSLogs/"), None);
        assert_eq!(segment("q/AWSLogs/1/", "p/AWSLogs/"), None);
    }

    #[test]
    fn hours_over_a_window_cross_days_and_years() {
        let now = hour(2027, 1, 1, 1) * HOUR_MS + 5 * 60_000; // 01:05 on New Year's Day
        let floor = hour(2026, 12, 31, 22);
        let hours: Vec<String> = hours_to_list(floor, now)
            .map(|h| {
                Partition {
                    hour: h,
                    account: "a".into(),
                    region: "r".into(),
                }
                .id()
            })
            .collect();
        assert_eq!(
            hours,
            [
                "a/r/2026/12/31/22",
                "a/r/2026/12/31/23",
                "a/r/2027/01/01/00",
                "a/r/2027/01/01/01"
            ]
        );
        // A start ahead of the clock lists nothing yet.
        assert_eq!(hours_to_list(hour(2027, 1, 1, 2), now).count(), 0);
        // 2 h of lookback at 01:05: 23:05 is in hour 23, still open; 22 and before are final.
        assert_eq!(final_before(now, 2 * HOUR_MS), hour(2026, 12, 31, 23));
        assert_eq!(final_before(now, 0), hour(2027, 1, 1, 1));
    }
}
