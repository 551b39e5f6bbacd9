//! The ledger: every business counter as an exact fixed-point integer per series, the
//! per-dimension admission of label values, and the series cap. Pure and in memory;
//! `store` makes it durable.
//!
//! A series is a [`Key`]: the metric, the id of its list of label names (its "shape") and up
//! to [`MAX_LABELS`] interned label values. Keys, values and a hash index are flat arrays
//! indexed by a series id that the store shares, so the hot path is integer hashing and an
//! `i128` add. Money is `10^-18` USD ([`crate::money::USD_SCALE`]); counts are plain integers.
//!
//! Cardinality is decided per dimension: each attribution dimension (user, feature, each extra
//! label) admits values up to its own cap and folds the rest into `__other__`; its exact
//! totals are the per-dimension metrics. The cross-product metrics have a series cap and fold
//! from the least informative label up (see [`Bound`]). What was admitted is the set of
//! series that exist, so it is the same after a restart and no counter moves or goes down.
//!
//! Batches: [`Ledger::begin`] opens one, adds change values in place while remembering the
//! old ones, and [`Ledger::keep`] or [`Ledger::rollback`] closes it once the store commit
//! succeeded or failed. While a batch's commit is under way, [`Ledger::begin_next`] opens the
//! next one on top of it ([`Ledger::keep_outer`] keeps the first; a rollback undoes both).
//! Readers hold the lock the pipeline commits under, so they only ever see committed totals. Between batches, [`Ledger::adopt`] takes the values other replicas
//! committed to a shared store.

mod metric;
mod symbols;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::HashMap;

use hashbrown::HashTable;
use rust_decimal::Decimal;
use rustc_hash::{FxBuildHasher, FxHashSet};

pub use metric::{Bound, Metric};
pub use symbols::{Sym, Symbols};

pub const OTHER: &str = "__other__";
/// Most labels one series has: user, feature, model and up to five extra labels.
pub const MAX_LABELS: usize = 8;
/// The most extra attribution labels a configuration may name.
pub const MAX_EXTRA_LABELS: usize = MAX_LABELS - 3;
const NO_SYM: Sym = Sym::MAX;
/// The shape of a deleted series' slot.
const DEAD: u16 = u16::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub metric: Metric,
    pub shape: u16,
    pub vals: [Sym; MAX_LABELS],
}

impl Key {
    pub fn new(metric: Metric, shape: u16, vals: &[Sym]) -> Key {
        let mut k = Key {
            metric,
            shape,
            vals: [NO_SYM; MAX_LABELS],
        };
        k.vals[..vals.len()].copy_from_slice(vals);
        k
    }

    /// A multiply-xorshift mix of the key's words, finished with MurmurHash3's `fmix64`:
    /// sequential label ids must spread over the whole table (the index's hot path).
    fn hash(&self) -> u64 {
        let mut h = ((self.metric as u64) << 16) | self.shape as u64;
        for pair in self.vals.chunks_exact(2) {
            let w = ((pair[0] as u64) << 32) | pair[1] as u64;
            h = (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            h ^= h >> 29;
        }
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// One attribution dimension: the values admitted so far, and how many may be.
pub struct Dim {
    pub label: String,
    pub cap: usize,
    admitted: FxHashSet<Sym>,
}

impl Dim {
    pub fn admitted(&self) -> usize {
        self.admitted.len()
    }
}

/// Caps of a ledger.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Series per cross-product metric (`max_series_per_metric`).
    pub series: usize,
    /// Each attribution dimension, in order (user, feature, extra labels), with its cap.
    pub dims: Vec<(String, usize)>,
}

impl Limits {
    pub fn uniform(series: usize, dims: &[&str], cap: usize) -> Limits {
        Limits {
            series,
            dims: dims.iter().map(|d| (d.to_string(), cap)).collect(),
        }
    }
}

/// What one batch changed, for the store commit.
#[derive(Debug, Default)]
pub struct Changes {
    /// Series created in this batch (their labels are written once).
    pub created: Vec<u32>,
    /// The new value of every series the batch changed (created ones included).
    pub values: Vec<(u32, i128)>,
    pub removed: Vec<u32>,
}

/// A series: key, value and the batch mark side by side, so an add touches one cache line.
#[derive(Debug, Clone, Copy)]
struct Slot {
    key: Key,
    /// The batch generation that last changed it.
    mark: u32,
    value: i128,
}

impl Slot {
    /// A deleted series' slot (or a gap in the ids loaded from the store).
    fn dead() -> Slot {
        Slot {
            key: Key::new(Metric::Cost, DEAD, &[]),
            mark: 0,
            value: 0,
        }
    }
}

pub struct Ledger {
    syms: Symbols,
    /// Label names of each shape.
    shapes: Vec<Box<[Sym]>>,
    /// By series id.
    slots: Vec<Slot>,
    index: HashTable<u32>,
    counts: [usize; Metric::COUNT],
    series_cap: usize,
    period_cap: usize,
    dims: Vec<Dim>,
    other: Sym,
    metric_shape: u16,
    /// Keys that folded, with the series they folded into: a key refused once is refused for
    /// good (series counts never go down), so later calls skip the fold steps. Bounded: it
    /// is emptied when it reaches the series cap, on a rollback and on a deletion.
    folded: HashMap<Key, u32, FxBuildHasher>,
    /// Ids of `bedrock_series_folded_total` and `bedrock_folded_cost_usd_total` per metric.
    fold_counters: [Option<(u32, u32)>; Metric::COUNT],
    epoch: u64,
    /// A batch is open (between `begin` and `keep` or `rollback`): `adopt` is refused.
    open: bool,
    /// Unix seconds of the newest record timestamp counted, per source (not stored: it
    /// says how fresh this process's view is).
    last_record: std::collections::BTreeMap<String, i64>,
    overflows: u64,
    // The open batch.
    generation: u32,
    changed: Vec<(u32, i128)>,
    created_from: usize,
    removed: Vec<(u32, Key)>,
    admitted: Vec<(usize, Sym)>,
    /// Where the inner batch's bookkeeping starts, when one is open on top of the outer one.
    inner: Option<Mark>,
}

/// The lengths of the open batch's logs, and the first id it created, when a second batch
/// opened on top of it.
#[derive(Debug, Clone, Copy)]
struct Mark {
    changed: usize,
    removed: usize,
    admitted: usize,
    created_from: usize,
}

impl Ledger {
    pub fn new(limits: &Limits) -> Ledger {
        let mut syms = Symbols::default();
        let other = syms.intern(OTHER);
        let dims: Vec<Dim> = limits
            .dims
            .iter()
            .map(|(label, cap)| Dim {
                label: label.clone(),
                cap: *cap,
                admitted: FxHashSet::default(),
            })
            .collect();
        // A subject holds at most six period-spend series at once (the previous, this and
        // the next month and day; no others are added, and the past ones are pruned); full
        // detail gets half of the cap.
        let period_cap = dims
            .iter()
            .map(|d| d.cap)
            .max()
            .unwrap_or(limits.series)
            .saturating_mul(12);
        let mut l = Ledger {
            syms,
            shapes: Vec::new(),
            slots: Vec::new(),
            index: HashTable::new(),
            counts: [0; Metric::COUNT],
            series_cap: limits.series,
            period_cap,
            dims,
            other,
            metric_shape: 0,
            folded: HashMap::default(),
            fold_counters: [None; Metric::COUNT],
            epoch: 0,
            open: false,
            last_record: Default::default(),
            overflows: 0,
            generation: 1,
            changed: Vec::new(),
            created_from: 0,
            removed: Vec::new(),
            admitted: Vec::new(),
            inner: None,
        };
        l.metric_shape = l.shape(&["metric"]);
        l
    }

    pub fn intern(&mut self, s: &str) -> Sym {
        self.syms.intern(s)
    }

    pub fn sym(&self, s: &str) -> Option<Sym> {
        self.syms.get(s)
    }

    /// The id of a list of label names.
    pub fn shape(&mut self, names: &[&str]) -> u16 {
        assert!(names.len() <= MAX_LABELS, "at most {MAX_LABELS} labels");
        let mut syms = [NO_SYM; MAX_LABELS];
        for (s, n) in syms.iter_mut().zip(names) {
            *s = self.syms.intern(n);
        }
        let syms = &syms[..names.len()];
        // Found without allocating: a load calls this once per stored series.
        if let Some(i) = self.shapes.iter().position(|s| **s == *syms) {
            return i as u16;
        }
        self.shapes.push(syms.into());
        u16::try_from(self.shapes.len() - 1).expect("fewer than 65535 label shapes")
    }

    /// Label pairs of a series, in exposition order.
    pub fn labels<'a>(&'a self, key: &'a Key) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.shapes[key.shape as usize]
            .iter()
            .zip(&key.vals)
            .map(|(n, v)| (self.syms.resolve(*n), self.syms.resolve(*v)))
    }

    fn find(&self, key: &Key) -> Option<u32> {
        self.index
            .find(key.hash(), |&id| self.slots[id as usize].key == *key)
            .copied()
    }

    fn create(&mut self, key: Key) -> u32 {
        let id = u32::try_from(self.slots.len()).expect("fewer than 4 billion series");
        // Marked as changed from the start: a new series is written even if it stays at 0.
        self.slots.push(Slot {
            key,
            mark: self.generation,
            value: 0,
        });
        self.changed.push((id, 0));
        let slots = &self.slots;
        self.index
            .insert_unique(key.hash(), id, |&i| slots[i as usize].key.hash());
        self.counts[key.metric as usize] += 1;
        id
    }

    fn bump(&mut self, id: u32, amount: i128) {
        let slot = &mut self.slots[id as usize];
        if slot.mark != self.generation {
            slot.mark = self.generation;
            self.changed.push((id, slot.value));
        }
        match slot.value.checked_add(amount) {
            Some(v) => slot.value = v,
            None => self.overflows += 1,
        }
    }

    fn cap(&self, metric: Metric) -> usize {
        match metric {
            Metric::PeriodSpend => self.period_cap,
            _ => self.series_cap,
        }
    }

    /// Adds `amount` (in the metric's units) to a series, creating it if there is room and
    /// folding it per the metric's [`Bound`] if not.
    pub fn add(&mut self, metric: Metric, shape: u16, vals: &[Sym], amount: i128) {
        let key = Key::new(metric, shape, vals);
        if let Some(id) = self.find(&key) {
            if amount != 0 {
                self.bump(id, amount);
            }
            return;
        }
        let (id, folded) = self.admit_series(key);
        if folded {
            self.count_fold(metric, amount);
        }
        self.bump(id, amount);
    }

    /// The series a key counts in: its own, or the one it folds into (`true`). The id stays
    /// valid until a rollback ([`Ledger::epoch`]); a key that folded always folds.
    pub fn series_for(&mut self, metric: Metric, shape: u16, vals: &[Sym]) -> (u32, bool) {
        let key = Key::new(metric, shape, vals);
        match self.find(&key) {
            Some(id) => (id, false),
            None => self.admit_series(key),
        }
    }

    /// A key with no series yet: create it if there is room, else fold it.
    fn admit_series(&mut self, key: Key) -> (u32, bool) {
        let metric = key.metric;
        match metric.bound() {
            Bound::SeriesCap(_) if !self.room(metric, 0) => match self.folded.get(&key) {
                Some(&id) => (id, true),
                None => {
                    let id = self.fold(key);
                    if self.folded.len() >= self.cap(metric) {
                        self.folded.clear();
                    }
                    self.folded.insert(key, id);
                    (id, true)
                }
            },
            _ => (self.create(key), false),
        }
    }

    /// Whether a new series that folded `level` steps may be created. The series cap is
    /// shared out by level: full detail fills the first half, one fold the next quarter, and so
    /// on, so that past the cap users keep their features before features keep their models.
    /// The fully folded series is always admitted (a handful per metric).
    fn room(&self, metric: Metric, level: u32) -> bool {
        let cap = self.cap(metric);
        self.counts[metric as usize] < cap - cap.checked_shr(level + 1).unwrap_or(0)
    }

    /// Past a level's share of the cap: folds labels step by step until a series exists or
    /// its level has room (the fully folded series always does).
    fn fold(&mut self, mut key: Key) -> u32 {
        let mut found = None;
        for (level, step) in self.fold_plan(key.metric, key.shape).iter().enumerate() {
            for &p in step.iter() {
                key.vals[p] = self.other;
            }
            if let Some(id) = self.find(&key) {
                found = Some(id);
                break;
            }
            if self.room(key.metric, level as u32 + 1) {
                break;
            }
        }
        match found {
            Some(id) => id,
            None => self.create(key),
        }
    }

    /// `bedrock_series_folded_total` and, for money, `bedrock_folded_cost_usd_total`.
    pub fn count_fold(&mut self, metric: Metric, amount: i128) {
        let (count, cost) = match self.fold_counters[metric as usize] {
            Some(ids) => ids,
            None => {
                let name = self.syms.intern(metric.name());
                let shape = self.metric_shape;
                let count = self.series_for(Metric::Folded, shape, &[name]).0;
                // Dollars only for money metrics: a token count folds no dollars.
                let cost = match metric.is_money() {
                    true => self.series_for(Metric::FoldedCost, shape, &[name]).0,
                    false => u32::MAX,
                };
                self.fold_counters[metric as usize] = Some((count, cost));
                (count, cost)
            }
        };
        self.bump(count, 1);
        if cost != u32::MAX {
            self.bump(cost, amount);
        }
    }

    /// Notes the newest record time of a committed batch from `source`.
    pub fn note_record_time(&mut self, source: &str, unix: i64) {
        let e = self.last_record.entry(source.to_string()).or_insert(unix);
        *e = (*e).max(unix);
    }

    /// Unix seconds of the newest record counted, per source.
    pub fn last_record(&self) -> &std::collections::BTreeMap<String, i64> {
        &self.last_record
    }

    /// Counts rollbacks and adoptions that created series: ids handed out before a rollback
    /// may be gone after it, and a key that folded before an adoption may have its own series
    /// after it.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Adds to a series by id (from [`Ledger::series_for`]).
    pub fn add_to(&mut self, id: u32, amount: i128) {
        if amount != 0 {
            self.bump(id, amount);
        }
    }

    /// Per fold step, the positions of the labels it sets to `__other__` (computed when a key
    /// first folds; later calls find the key in `folded`).
    fn fold_plan(&self, metric: Metric, shape: u16) -> Vec<Vec<usize>> {
        let Bound::SeriesCap(order) = metric.bound() else {
            return Vec::new();
        };
        let names: Vec<&str> = self.shapes[shape as usize]
            .iter()
            .map(|s| self.syms.resolve(*s))
            .collect();
        const NAMED: [&str; 5] = ["user", "feature", "model", "token_type", "outcome"];
        order
            .iter()
            .map(|step| {
                names
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| match *step {
                        "*extra" => !NAMED.contains(n),
                        s => **n == s,
                    })
                    .map(|(i, _)| i)
                    .collect::<Vec<usize>>()
            })
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The value of dimension `dim` to count `value` under: itself if admitted or there is
    /// room, else `__other__` (and `true`: the caller counts the fold).
    pub fn admit(&mut self, dim: usize, value: Sym) -> (Sym, bool) {
        let d = &mut self.dims[dim];
        if d.admitted.contains(&value) {
            return (value, false);
        }
        if value == self.other {
            return (value, false);
        }
        if d.admitted.len() < d.cap {
            d.admitted.insert(value);
            self.admitted.push((dim, value));
            (value, false)
        } else {
            (self.other, true)
        }
    }

    pub fn dims(&self) -> &[Dim] {
        &self.dims
    }

    /// Deletes a series (in memory now, in the store with this batch's commit).
    pub fn remove(&mut self, id: u32) {
        let key = self.slots[id as usize].key;
        if key.shape == DEAD {
            return;
        }
        let hash = key.hash();
        if let Ok(e) = self.index.find_entry(hash, |&i| i == id) {
            e.remove();
        }
        self.counts[key.metric as usize] -= 1;
        self.slots[id as usize].key.shape = DEAD;
        self.removed.push((id, key));
        self.folded.clear();
    }

    /// Opens a batch.
    pub fn begin(&mut self) {
        self.generation = self.generation.wrapping_add(1).max(1);
        self.close();
        self.open = true;
    }

    /// Opens a second batch on top of the open one, whose changes went to a commit that is
    /// still under way: [`Ledger::changes`] is then what the second batch changed. Then
    /// [`Ledger::keep_outer`] once the first commit succeeded, or [`Ledger::rollback`] (of
    /// both) once it failed.
    pub fn begin_next(&mut self) {
        assert!(
            self.open && self.inner.is_none(),
            "one batch open, and one only"
        );
        self.generation = self.generation.wrapping_add(1).max(1);
        self.inner = Some(Mark {
            changed: self.changed.len(),
            removed: self.removed.len(),
            admitted: self.admitted.len(),
            created_from: self.slots.len(),
        });
    }

    /// Keeps the outer of two open batches (its commit succeeded): the inner one is now the
    /// open batch.
    pub fn keep_outer(&mut self) {
        let m = self.inner.take().expect("two batches open");
        self.changed.drain(..m.changed);
        self.removed.drain(..m.removed);
        self.admitted.drain(..m.admitted);
        self.created_from = m.created_from;
    }

    /// Forgets the open batch's bookkeeping: what it changed is now the committed state.
    fn close(&mut self) {
        self.open = false;
        self.inner = None;
        self.changed.clear();
        self.removed.clear();
        self.admitted.clear();
        self.created_from = self.slots.len();
    }

    /// What the open batch changed (the inner one, when two are open).
    pub fn changes(&self) -> Changes {
        let m = self.inner.unwrap_or(Mark {
            changed: 0,
            removed: 0,
            admitted: 0,
            created_from: self.created_from,
        });
        let created = (m.created_from..self.slots.len())
            .filter(|&i| self.slots[i].key.shape != DEAD)
            .map(|i| i as u32)
            .collect();
        let values = self.changed[m.changed..]
            .iter()
            .filter(|(id, _)| self.slots[*id as usize].key.shape != DEAD)
            .map(|&(id, _)| (id, self.slots[id as usize].value))
            .collect();
        let removed = self.removed[m.removed..]
            .iter()
            .map(|(id, _)| *id)
            .filter(|&id| (id as usize) < m.created_from)
            .collect();
        Changes {
            created,
            values,
            removed,
        }
    }

    /// Keeps the open batch (its commit succeeded).
    pub fn keep(&mut self) {
        assert!(self.inner.is_none(), "the outer batch is kept first");
        self.close();
    }

    /// Undoes the open batch (its commit failed), or both open batches: values, new series,
    /// deletions, admissions. Ids handed out by [`Ledger::series_for`] in this batch are no longer valid.
    pub fn rollback(&mut self) {
        self.epoch += 1;
        self.folded.clear();
        self.fold_counters = [None; Metric::COUNT];
        let from = self.created_from;
        for &(id, old) in self.changed.iter().rev() {
            if (id as usize) < from {
                self.slots[id as usize].value = old;
            }
        }
        for (id, key) in std::mem::take(&mut self.removed).into_iter().rev() {
            if (id as usize) < from {
                self.slots[id as usize].key = key;
                let slots = &self.slots;
                self.index
                    .insert_unique(key.hash(), id, |&i| slots[i as usize].key.hash());
                self.counts[key.metric as usize] += 1;
            }
        }
        for i in (from..self.slots.len()).rev() {
            let key = self.slots[i].key;
            if key.shape != DEAD {
                if let Ok(e) = self.index.find_entry(key.hash(), |&x| x as usize == i) {
                    e.remove();
                }
                self.counts[key.metric as usize] -= 1;
            }
        }
        self.slots.truncate(from);
        for (dim, v) in std::mem::take(&mut self.admitted) {
            self.dims[dim].admitted.remove(&v);
        }
        self.close();
    }

    /// Puts a stored series back at its id (loading). Ids may have gaps (deleted series).
    pub fn restore(&mut self, id: u32, metric: Metric, labels: &[(&str, &str)], value: i128) {
        assert!(labels.len() <= MAX_LABELS, "at most {MAX_LABELS} labels");
        let mut names = [""; MAX_LABELS];
        for (n, (name, _)) in names.iter_mut().zip(labels) {
            *n = name;
        }
        let shape = self.shape(&names[..labels.len()]);
        let mut vals = [NO_SYM; MAX_LABELS];
        for (v, (_, value)) in vals.iter_mut().zip(labels) {
            *v = self.syms.intern(value);
        }
        let key = Key::new(metric, shape, &vals[..labels.len()]);
        while self.slots.len() < id as usize {
            self.slots.push(Slot::dead());
        }
        if self.slots.len() == id as usize && self.find(&key).is_none() {
            self.create(key);
            self.slots[id as usize].value = value;
        } else if self.slots.len() == id as usize {
            // The same labels twice (cannot happen in a store this build wrote): keep the ids
            // aligned and the first.
            self.slots.push(Slot::dead());
        }
    }

    /// After loading: the dimensions' admitted values are those their metrics hold.
    pub fn finish_restore(&mut self) {
        let keys: Vec<Key> = self
            .slots
            .iter()
            .map(|s| s.key)
            .filter(|k| k.shape != DEAD)
            .collect();
        for key in &keys {
            self.admit_stored(key);
        }
        self.begin();
        self.close();
    }

    /// Admits the dimension value a stored series holds (a user's or feature's series, or an
    /// extra label's): what exists in the store counts against the dimension's cap.
    fn admit_stored(&mut self, key: &Key) {
        let name = match key.metric.dimension_label() {
            Some("user") => "user",
            Some(_) => "feature",
            None if key.metric == Metric::LabelCost => self.syms.resolve(key.vals[0]),
            None => return,
        };
        let value = match key.metric.dimension_label() {
            Some(_) => key.vals[0],
            None => key.vals[1],
        };
        let dim = self.dims.iter().position(|d| d.label == name);
        if let Some(d) = dim {
            if value != self.other {
                self.dims[d].admitted.insert(value);
            }
        }
    }

    /// Takes a series' value as a shared store holds it (another replica committed to it;
    /// see `Store::refresh`) and returns its id. The series is found or created whatever the
    /// caps: another replica admitted it, so it exists globally, and its dimension value is
    /// admitted here as [`Ledger::finish_restore`] does (this replica's caps count it).
    /// Between batches only: the value is committed state, which no rollback may undo.
    pub fn adopt(&mut self, metric: Metric, labels: &[(&str, &str)], value: i128) -> u32 {
        assert!(!self.open, "adopt is called between batches only");
        let names: Vec<&str> = labels.iter().map(|(n, _)| *n).collect();
        let shape = self.shape(&names);
        let vals: Vec<Sym> = labels.iter().map(|(_, v)| self.syms.intern(v)).collect();
        let key = Key::new(metric, shape, &vals);
        let id = match self.find(&key) {
            Some(id) => id,
            None => {
                let id = self.create(key);
                self.admit_stored(&key);
                // A key that folded here has a series of its own now: forget the folds, and
                // let cached ids be resolved again (see `epoch`).
                self.folded.clear();
                self.epoch += 1;
                // Not part of any batch: the next one must neither write it as created nor
                // undo it.
                self.close();
                id
            }
        };
        self.slots[id as usize].value = value;
        id
    }

    /// As [`Ledger::adopt`], for a series the store knows by its id (it is live: the store
    /// forgets the ids of removed series).
    pub fn adopt_id(&mut self, id: u32, value: i128) {
        assert!(!self.open, "adopt is called between batches only");
        self.slots[id as usize].value = value;
    }

    /// Live series: id, key and value (in the metric's units).
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Key, i128)> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.key.shape != DEAD)
            .map(|(i, s)| (i as u32, &s.key, s.value))
    }

    pub fn key(&self, id: u32) -> &Key {
        &self.slots[id as usize].key
    }

    pub fn len(&self) -> usize {
        self.counts.iter().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn series_count(&self, metric: Metric) -> usize {
        self.counts[metric as usize]
    }

    /// Adds that overflowed a series, or amounts finer than the ledger's units (counted,
    /// never wrapped or rounded).
    pub fn overflows(&self) -> u64 {
        self.overflows
    }

    pub fn note_overflow(&mut self) {
        self.overflows += 1;
    }

    /// Labels of the series a batch created, for the store.
    pub fn new_series(&self, ids: &[u32]) -> Vec<crate::store::NewSeries<'_>> {
        ids.iter()
            .map(|&id| {
                let key = &self.slots[id as usize].key;
                crate::store::NewSeries {
                    id,
                    metric: key.metric,
                    labels: self.labels(key).collect(),
                }
            })
            .collect()
    }

    /// The exact value of a series' units as a `Decimal`.
    pub fn decimal(metric: Metric, units: i128) -> Decimal {
        crate::money::units_to_decimal(units, metric.scale())
    }

    /// The exact sum over every series of `metric` whose labels include all of `filter`.
    pub fn sum(&self, metric: Metric, filter: &[(&str, &str)]) -> Decimal {
        let total: i128 = self
            .iter()
            .filter(|(_, k, _)| k.metric == metric)
            .filter(|(_, k, _)| {
                filter
                    .iter()
                    .all(|(n, v)| self.labels(k).any(|(a, b)| a == *n && b == *v))
            })
            .map(|(_, _, v)| v)
            .sum();
        Ledger::decimal(metric, total)
    }

    /// The value of one label of a series, if it has that label.
    pub fn label<'a>(&'a self, key: &'a Key, name: &str) -> Option<&'a str> {
        self.labels(key).find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Convenience for tests and tools: intern the pairs, then [`Ledger::add`].
    pub fn add_named(&mut self, metric: Metric, pairs: &[(&str, &str)], amount: i128) {
        let names: Vec<&str> = pairs.iter().map(|(n, _)| *n).collect();
        let shape = self.shape(&names);
        let vals: Vec<Sym> = pairs.iter().map(|(_, v)| self.syms.intern(v)).collect();
        self.add(metric, shape, &vals, amount);
    }
}

impl crate::store::AllSeries for Ledger {
    fn ids(&self) -> usize {
        self.slots.len()
    }

    fn value(&self, id: u32) -> i128 {
        self.slots.get(id as usize).map_or(0, |s| s.value)
    }

    fn definition(&self, id: u32) -> Option<(&'static str, Vec<u8>)> {
        let key = self
            .slots
            .get(id as usize)
            .map(|s| &s.key)
            .filter(|k| k.shape != DEAD)?;
        let labels: Vec<(&str, &str)> = self.labels(key).collect();
        Some((
            key.metric.name(),
            crate::store::codec::encode_labels(&labels),
        ))
    }
}
