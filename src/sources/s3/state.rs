//! Which objects of one `s3://bucket/prefix/` were read (pure), as checkpoints the store
//! commits with the totals, so an object is counted once across restarts and crashes.
//!
//! Two kinds of rows, all under `s3:<bucket>/<prefix>`:
//! - the floor, `s3:<bucket>/<prefix>` = `{"floor_hour":N,"floor":"<RFC 3339>"}`: every
//!   hour before it is read for good and is never listed again;
//! - one row per hour partition at or after the floor,
//!   `s3:<bucket>/<prefix>|<account>/<region>/YYYY/MM/DD/HH` = the names read there (a JSON
//!   array). A batch rewrites only its own partition's row, so partitions read at once never
//!   overwrite each other, and the row commits in the batch that counts those objects.
//!
//! When the lookback has passed an hour, the floor moves past it and its rows are deleted in
//! the same commit (pruning): the state stays as small as the lookback window.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::layout::Partition;

#[derive(Serialize, Deserialize)]
struct Floor {
    floor_hour: i64,
    /// For people reading `state show`; not read back.
    #[serde(default)]
    floor: String,
}

fn row_key(key: &str, p: &Partition) -> String {
    format!("{key}|{}", p.id())
}

/// The checkpoint that records `names` as the objects read in `p`, for the source `key`
/// ([`ReadState::key_for`]).
pub fn row(key: &str, p: &Partition, names: &BTreeSet<String>) -> (String, String) {
    (
        row_key(key, p),
        serde_json::to_string(names).expect("serialisable"),
    )
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReadState {
    /// `s3:<bucket>/<prefix>`
    key: String,
    /// The first hour not yet read for good.
    pub floor: i64,
    pub read: BTreeMap<Partition, BTreeSet<String>>,
}

impl ReadState {
    pub fn key_for(bucket: &str, prefix: &str) -> String {
        format!("s3:{bucket}/{prefix}")
    }

    /// The state stored under `key` among all checkpoints; a source seen for the first time
    /// starts at `start_hour`. Rows it cannot read are left out (and so read again: the
    /// store's requestId dedupe keeps that from counting twice).
    pub fn load(key: String, checkpoints: &HashMap<String, String>, start_hour: i64) -> ReadState {
        let floor = checkpoints
            .get(&key)
            .and_then(|v| serde_json::from_str::<Floor>(v).ok())
            .map_or(start_hour, |f| f.floor_hour);
        let rows = format!("{key}|");
        let read = checkpoints
            .iter()
            .filter_map(|(k, v)| {
                let p = Partition::from_id(k.strip_prefix(&rows)?)?;
                Some((p, serde_json::from_str::<BTreeSet<String>>(v).ok()?))
            })
            .collect();
        ReadState { key, floor, read }
    }

    pub fn is_read(&self, p: &Partition, name: &str) -> bool {
        self.read.get(p).is_some_and(|s| s.contains(name))
    }

    pub fn names(&self, p: &Partition) -> BTreeSet<String> {
        self.read.get(p).cloned().unwrap_or_default()
    }

    /// The checkpoint that records `names` as the objects read in `p`.
    pub fn row(&self, p: &Partition, names: &BTreeSet<String>) -> (String, String) {
        row(&self.key, p, names)
    }

    fn row_key(&self, p: &Partition) -> String {
        row_key(&self.key, p)
    }

    /// After a commit of [`Self::row`]: remember what it recorded.
    pub fn mark(&mut self, p: &Partition, names: impl IntoIterator<Item = String>) {
        self.read.entry(p.clone()).or_default().extend(names);
    }

    /// Moving the floor to `to` (never back): the floor checkpoint and the rows to delete
    /// with it, or `None` when it would not move. Apply with [`Self::advanced`] once committed.
    pub fn advance(&self, to: i64) -> Option<((String, String), Vec<String>)> {
        if to <= self.floor {
            return None;
        }
        let floor = Floor {
            floor_hour: to,
            floor: crate::timefmt::format_rfc3339(to * 3600),
        };
        let dropped = self
            .read
            .keys()
            .filter(|p| p.hour < to)
            .map(|p| self.row_key(p))
            .collect();
        Some((
            (
                self.key.clone(),
                serde_json::to_string(&floor).expect("serialisable"),
            ),
            dropped,
        ))
    }

    pub fn advanced(&mut self, to: i64) {
        if to > self.floor {
            self.floor = to;
            self.read.retain(|p, _| p.hour >= to);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(hour: i64) -> Partition {
        Partition {
            hour,
            account: "111".into(),
            region: "us-east-1".into(),
        }
    }

    #[test]
    fn rows_round_trip_through_the_checkpoints() {
        let key = ReadState::key_for("b", "logs/");
        let mut s = ReadState::load(key.clone(), &HashMap::new(), 100);
        assert_eq!(s.floor, 100);
        let names: BTreeSet<String> = ["a.json.gz".into(), "b.json.gz".into()].into();
        let mut cps: HashMap<String, String> = [s.row(&part(101), &names)].into();
        s.mark(&part(101), names);
        let ((k, v), dropped) = s.advance(101).unwrap();
        assert!(dropped.is_empty());
        cps.insert(k, v);
        // Another source's rows and unreadable rows are not this one's.
        cps.insert(
            "s3:b/logs/sub/|111/us-east-1/1970/01/05/05".into(),
            "[\"x\"]".into(),
        );
        cps.insert(format!("{key}|garbage"), "[]".into());
        let loaded = ReadState::load(key, &cps, 0);
        assert_eq!(loaded.floor, 101);
        assert_eq!(loaded.read.len(), 1);
        assert!(loaded.is_read(&part(101), "a.json.gz"));
        assert!(!loaded.is_read(&part(101), "c.json.gz"));
        assert!(!loaded.is_read(&part(102), "a.json.gz"));
    }

    #[test]
    fn the_floor_moves_only_forward_and_prunes_the_hours_it_passes() {
        let mut s = ReadState::load(ReadState::key_for("b", ""), &HashMap::new(), 10);
        for h in [10, 11, 12] {
            s.mark(&part(h), [format!("{h}.json.gz")]);
        }
        assert_eq!(s.advance(10), None);
        assert_eq!(s.advance(9), None);
        let (_, dropped) = s.advance(12).unwrap();
        assert_eq!(
            dropped,
            [
                "s3:b/|111/us-east-1/1970/01/01/10",
                "s3:b/|111/us-east-1/1970/01/01/11"
            ]
        );
        s.advanced(12);
        assert_eq!(s.floor, 12);
        assert_eq!(s.read.keys().map(|p| p.hour).collect::<Vec<_>>(), [12]);
        s.advanced(5);
        assert_eq!(s.floor, 12);
    }
}
