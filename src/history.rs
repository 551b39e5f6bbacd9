//! Spend over time, in memory, for the status page: per-minute totals for the last 24 hours,
//! per-hour totals for the last 35 days and per-day totals for the last 36 days (a whole
//! month, for budget burn), for the whole account and for the first [`TOP`] users, features
//! and models seen; later ones fold into [`OTHER`], so the lines of a dimension always add up
//! to the account total and no money is dropped.
//!
//! Fed from committed batches only: the pipeline collects a batch's calls in a [`Batch`]
//! (keyed by the record's minute, never the wall clock) and applies it after the commit. A
//! late record lands in its own bucket as long as that bucket is still in range.
//!
//! After a restart [`History::restore_days`] rebuilds the per-day totals of the account and of
//! each model from the store's daily totals (those are per day and model). What cannot be
//! rebuilt: per-minute and per-hour detail (the store keeps no time of day), and users and
//! features (the daily totals hold the caller's principal ARN, while the user and feature
//! labels usually come from request metadata). Those start empty and fill from live traffic.
//!
//! Bounded: at most [`MAX_SERIES`] series of [`SLOTS`] fixed slots each, allocated when a
//! subject is first seen: [`MAX_BYTES`] (about 1.6 MB) whatever the traffic. Pure: no I/O,
//! no clock (the caller passes `now`).

use std::borrow::Cow;

use rust_decimal::Decimal;
use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::account::PricedCall;
use crate::daily::DailyTotals;
use crate::money::{self, USD_SCALE};
use crate::pricing::Outcome;

/// Subjects per dimension with lines of their own; a chart shows a handful of them, the
/// rest is there so a subject's own page has its history.
pub const TOP: usize = 10;
/// The line of everything past [`TOP`] (the ledger's name for folded values).
pub const OTHER: &str = "__other__";

/// What a history line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    Total,
    User,
    Feature,
    Model,
}

impl Dim {
    pub const SUBJECTS: [Dim; 3] = [Dim::User, Dim::Feature, Dim::Model];

    pub fn as_str(self) -> &'static str {
        match self {
            Dim::Total => "total",
            Dim::User => "user",
            Dim::Feature => "feature",
            Dim::Model => "model",
        }
    }
}

/// A bucket width and how many buckets are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Minute,
    Hour,
    Day,
}

impl Resolution {
    pub const ALL: [Resolution; 3] = [Resolution::Minute, Resolution::Hour, Resolution::Day];

    pub fn seconds(self) -> i64 {
        match self {
            Resolution::Minute => 60,
            Resolution::Hour => 3600,
            Resolution::Day => 86_400,
        }
    }

    /// Buckets kept up to and including the current one.
    pub fn window(self) -> usize {
        match self {
            Resolution::Minute => 24 * 60,
            Resolution::Hour => 35 * 24,
            // 36: the whole current month is in range even on the 31st.
            Resolution::Day => 36,
        }
    }

    /// Buckets after the current one that are accepted: records from a source whose clock
    /// runs slightly ahead still count, in their own bucket.
    fn ahead(self) -> usize {
        match self {
            Resolution::Minute => 5,
            Resolution::Hour | Resolution::Day => 1,
        }
    }

    fn slots(self) -> usize {
        self.window() + self.ahead()
    }

    /// The bucket of a unix time.
    pub fn bucket(self, unix: i64) -> i64 {
        unix.div_euclid(self.seconds())
    }
}

/// Slots of one series, all resolutions.
pub const SLOTS: usize = 24 * 60 + 5 + 35 * 24 + 1 + 36 + 1;
/// The account total, and [`TOP`] subjects plus [`OTHER`] per dimension.
pub const MAX_SERIES: usize = 1 + 3 * (TOP + 1);
/// Bytes of the slots of every series at most (a slot: a 4-byte bucket number and a 16-byte
/// amount); the map and names add a few kilobytes.
pub const MAX_BYTES: usize = MAX_SERIES * SLOTS * 20;

/// Fixed slots, each remembering which bucket it holds: a slot of an older bucket reads as
/// zero and is overwritten, so nothing needs pruning.
#[derive(Debug, Clone)]
struct Ring {
    buckets: Box<[i32]>,
    units: Box<[i128]>,
}

impl Ring {
    fn new(len: usize) -> Ring {
        Ring {
            buckets: vec![i32::MIN; len].into_boxed_slice(),
            units: vec![0; len].into_boxed_slice(),
        }
    }

    fn slot(&self, bucket: i64) -> usize {
        bucket.rem_euclid(self.buckets.len() as i64) as usize
    }

    fn add(&mut self, bucket: i64, units: i128) {
        let i = self.slot(bucket);
        let b = bucket as i32;
        if self.buckets[i] != b {
            self.buckets[i] = b;
            self.units[i] = 0;
        }
        self.units[i] = self.units[i].saturating_add(units);
    }

    fn get(&self, bucket: i64) -> i128 {
        let i = self.slot(bucket);
        if self.buckets[i] == bucket as i32 {
            self.units[i]
        } else {
            0
        }
    }
}

#[derive(Debug, Clone)]
struct Series {
    rings: [Ring; 3],
}

impl Series {
    fn new() -> Series {
        Series {
            rings: Resolution::ALL.map(|r| Ring::new(r.slots())),
        }
    }

    /// Adds `units` spent at `at` at each resolution of `res` whose range holds `at` at `now`.
    fn add(&mut self, at: i64, units: i128, now: i64, res: &[Resolution]) {
        for &r in res {
            let bucket = r.bucket(at);
            if in_range(r, bucket, now) {
                self.rings[r as usize].add(bucket, units);
            }
        }
    }
}

/// Whether `bucket` is in the range a history at `now` keeps for `res`.
fn in_range(res: Resolution, bucket: i64, now: i64) -> bool {
    let current = res.bucket(now);
    // Bucket numbers are stored as i32: minutes since 1970 fit until the year 6053.
    bucket > current - res.window() as i64
        && bucket <= current + res.ahead() as i64
        && i32::try_from(bucket).is_ok()
}

/// The spend history. See the module doc for what it keeps and its bound.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// By [`Dim`], then subject (the account's one line under ""). hashbrown's `entry_ref`
    /// and Fx hashing: adding to a line that exists allocates nothing (the hot path: four
    /// adds per minute, user, feature and model of every committed batch).
    series: [hashbrown::HashMap<String, Series, FxBuildHasher>; 4],
    /// Subjects with a series of their own, per dimension (user, feature, model).
    admitted: [usize; 3],
}

/// One point of a line: the bucket's start (unix seconds) and the spend in it.
pub type Point = (i64, Decimal);

impl History {
    pub fn new() -> History {
        History::default()
    }

    /// Series allocated (at most [`MAX_SERIES`]).
    pub fn len(&self) -> usize {
        self.series.iter().map(|m| m.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The line a subject without one is counted in: its own while fewer than [`TOP`] have
    /// one, else [`OTHER`].
    fn admit<'s>(&mut self, dim: Dim, subject: &'s str) -> &'s str {
        if dim == Dim::Total || subject == OTHER {
            return subject;
        }
        let n = &mut self.admitted[dim as usize - 1];
        if *n < TOP {
            *n += 1;
            subject
        } else {
            OTHER
        }
    }

    /// Adds `units` (10^-18 USD) spent at `at` to one line, at the resolutions whose range
    /// holds `at` when it is `now`.
    fn add_at(
        &mut self,
        dim: Dim,
        subject: &str,
        at: i64,
        units: i128,
        now: i64,
        res: &[Resolution],
    ) {
        if units == 0 || !res.iter().any(|r| in_range(*r, r.bucket(at), now)) {
            return;
        }
        if let Some(s) = self.series[dim as usize].get_mut(subject) {
            s.add(at, units, now, res);
            return;
        }
        let name = self.admit(dim, subject);
        (self.series[dim as usize].entry_ref(name))
            .or_insert_with(Series::new)
            .add(at, units, now, res);
    }

    /// Adds one call's cost at its record time to the account, its user, feature and model.
    pub fn add(&mut self, p: &Spent, now: i64) {
        let all = &Resolution::ALL;
        self.add_at(Dim::Total, "", p.at, p.units, now, all);
        self.add_at(Dim::User, &p.user, p.at, p.units, now, all);
        self.add_at(Dim::Feature, &p.feature, p.at, p.units, now, all);
        self.add_at(Dim::Model, &p.model, p.at, p.units, now, all);
    }

    /// Rebuilds the per-day lines of the account and the models from the store's daily
    /// totals (call it once, on an empty history, before live traffic is added).
    pub fn restore_days(&mut self, totals: &DailyTotals, now: i64) {
        let mut by_day_model: std::collections::BTreeMap<(i64, &str), i128> = Default::default();
        for (k, v) in &totals.usage {
            let Some(day) = crate::timefmt::parse_date(&k.day) else {
                continue;
            };
            let units = money::to_units(v.cost, USD_SCALE).unwrap_or(0);
            let e = by_day_model.entry((day, &k.model)).or_default();
            *e = e.saturating_add(units);
        }
        for ((day, model), units) in by_day_model {
            let at = day * 86_400;
            self.add_at(Dim::Total, "", at, units, now, &[Resolution::Day]);
            self.add_at(Dim::Model, model, at, units, now, &[Resolution::Day]);
        }
    }

    /// Whether the subject has a line of its own.
    pub fn has(&self, dim: Dim, subject: &str) -> bool {
        self.series[dim as usize].contains_key(subject)
    }

    /// The line's buckets from `from` (unix seconds, clamped to the range kept) to the current
    /// one at `now`, oldest first; `None` if the subject has no line.
    pub fn line(
        &self,
        dim: Dim,
        subject: &str,
        res: Resolution,
        from: i64,
        now: i64,
    ) -> Option<Vec<Point>> {
        let s = self.series[dim as usize].get(subject)?;
        let ring = &s.rings[res as usize];
        let current = res.bucket(now);
        let first = res.bucket(from).max(current - res.window() as i64 + 1);
        Some(
            (first..=current)
                .map(|b| {
                    (
                        b * res.seconds(),
                        money::units_to_decimal(ring.get(b), USD_SCALE),
                    )
                })
                .collect(),
        )
    }

    /// The start of the oldest non-empty bucket of the account at `res`, if any.
    pub fn first(&self, res: Resolution, now: i64) -> Option<i64> {
        let s = self.series[Dim::Total as usize].get("")?;
        let ring = &s.rings[res as usize];
        let current = res.bucket(now);
        (current - res.window() as i64 + 1..=current)
            .find(|b| ring.get(*b) != 0)
            .map(|b| b * res.seconds())
    }

    /// A dimension's subjects (with [`OTHER`] if anything folded), largest spend over the
    /// `res` window first.
    pub fn ranked(&self, dim: Dim, res: Resolution, now: i64) -> Vec<(String, Decimal)> {
        let current = res.bucket(now);
        let range = current - res.window() as i64 + 1..=current;
        let mut out: Vec<(String, Decimal)> = (self.series[dim as usize].iter())
            .map(|(name, s)| {
                let ring = &s.rings[res as usize];
                let units = range
                    .clone()
                    .map(|b| ring.get(b))
                    .fold(0i128, i128::saturating_add);
                (name.clone(), money::units_to_decimal(units, USD_SCALE))
            })
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }
}

/// One call's cost with the labels the history keeps, owned (applied after the commit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spent {
    /// The record's minute (unix seconds at its start).
    pub at: i64,
    pub user: String,
    pub feature: String,
    pub model: String,
    /// 10^-18 USD.
    pub units: i128,
}

/// (minute, user, feature, model) as the hot path keys a call.
type Key<'a> = (i64, Cow<'a, str>, Cow<'a, str>, &'a str);

/// One batch's spend as it accumulates on the hot path, by minute and labels, borrowing the
/// batch's strings.
#[derive(Default)]
pub struct Batch<'a> {
    sums: FxHashMap<Key<'a>, i128>,
}

impl<'a> Batch<'a> {
    /// Adds a newly counted call's cost (a call with no cost adds nothing).
    pub fn add(&mut self, call: &PricedCall<'a>) {
        let Outcome::Priced(p) = &call.outcome else {
            return;
        };
        // As the ledger: a cost that does not fit its units adds no money.
        let units = money::to_units(p.total, USD_SCALE).unwrap_or(0);
        if units == 0 {
            return;
        }
        let minute = Resolution::Minute.bucket(call.record.timestamp) * 60;
        // Labels are borrowed from the batch unless attribution rewrote them: cheap clones.
        let (user, feature) = (call.labels.user.clone(), call.labels.feature.clone());
        let key = (minute, user, feature, p.model);
        let e = self.sums.entry(key).or_default();
        *e = e.saturating_add(units);
    }

    /// The batch's spend with owned labels.
    pub fn finish(self) -> Vec<Spent> {
        (self.sums.into_iter())
            .map(|((at, user, feature, model), units)| Spent {
                at,
                user: user.into_owned(),
                feature: feature.into_owned(),
                model: model.to_string(),
                units,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
