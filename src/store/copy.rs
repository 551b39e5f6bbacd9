//! `state copy`: moves a SQLite state directory into an empty PostgreSQL store without losing
//! or doubling a cent. Everything is written in one transaction (a failure leaves the target
//! empty), then read back and compared: every series value, the dedupe keys, the checkpoints
//! and the daily totals.

use std::path::Path;

use super::postgres::Image;
use super::{codec, read_daily, PgStore, SqliteStore, Store, StoreError};

/// What was copied.
#[derive(Debug, PartialEq, Eq)]
pub struct Copied {
    pub series: usize,
    pub dedupe_keys: usize,
    pub checkpoints: usize,
    pub daily_rows: usize,
}

/// Every series (metric name, encoded labels, value) and checkpoint of a store, sorted, so
/// two stores' images compare equal exactly when they hold the same.
type Loaded = (Vec<(&'static str, Vec<u8>, i128)>, Vec<(String, String)>);

fn load_sorted(store: &mut dyn Store) -> Result<Loaded, StoreError> {
    let mut series = Vec::new();
    let checkpoints = store.load(&mut |r| {
        series.push((r.metric.name(), codec::encode_labels(r.labels), r.value));
    })?;
    let mut checkpoints: Vec<(String, String)> = checkpoints.into_iter().collect();
    checkpoints.sort();
    series.sort();
    Ok((series, checkpoints))
}

/// Everything a SQLite store holds, as [`PgStore::import`] takes it.
pub fn read_sqlite(store: &mut SqliteStore, dir: &Path) -> Result<Image, StoreError> {
    let (series, checkpoints) = load_sorted(store)?;
    Ok(Image {
        series,
        keys: store.dedupe_keys()?,
        checkpoints,
        daily: read_daily(dir, None, None)?,
    })
}

/// Everything a PostgreSQL store holds, in the same order as [`read_sqlite`].
pub fn read_pg(store: &mut PgStore) -> Result<Image, StoreError> {
    let (series, checkpoints) = load_sorted(store)?;
    Ok(Image {
        series,
        keys: store.dedupe_keys()?,
        checkpoints,
        daily: store.daily(None, None)?,
    })
}

/// Copies the store in `dir` into `to` (which must be empty), then checks the copy.
pub fn sqlite_to_pg(
    from: &mut SqliteStore,
    dir: &Path,
    to: &mut PgStore,
) -> Result<Copied, StoreError> {
    let mut image = read_sqlite(from, dir)?;
    to.import(&image)?;
    let mut copy = read_pg(to)?;
    image.keys.sort();
    copy.keys.sort();
    if copy != image {
        return Err(StoreError::Io(
            "the copy does not read back as the source (series, keys, checkpoints or daily totals differ); the target was written, delete its tables before trying again".into(),
        ));
    }
    Ok(Copied {
        series: image.series.len(),
        dedupe_keys: image.keys.len(),
        checkpoints: image.checkpoints.len(),
        daily_rows: image.daily.usage.len() + image.daily.principals.len(),
    })
}
