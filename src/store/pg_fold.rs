//! When and where the PostgreSQL store's journals are folded into `series` and the daily
//! totals' tables (the folds themselves are `pg_journal::fold` and `pg_daily::fold`): on a
//! thread of the store's own, with a connection of its own, in a transaction of its own,
//! never inside a commit. A commit never waits for a fold, on this
//! replica or another (issue 12 saw a 5 s fold inside a commit hold every replica's commits
//! under the commit lock); the exceptions wait for the end of a fold under way: a commit that
//! deletes series rows the fold is updating (a removal: the end of a budget period), and the
//! periodic commit that prunes the daily totals (it folds the daily journal first, whose rows
//! a fold under way holds).
//!
//! Folds of all replicas serialise on their own advisory lock ([`FOLD_LOCK`]), taken with a
//! try-lock: a replica that finds another folding skips and looks again a little later. A
//! fold is due when [`Settings::every`] rows are unfolded (a commit whose journal id is a
//! multiple of it wakes the thread at once) or the oldest unfolded row is older than
//! [`Settings::after`]; the thread looks every [`LOOK_EVERY`] otherwise.
//!
//! Readers of the whole store read `series` and the journal in one snapshot, so a fold is
//! either entirely visible to them or not at all. A failed fold is logged once (and once
//! when folding works again) and tried again at the next look; commits go on meanwhile.
//! Every failure is counted ([`Folder::failed`]): the thread has no metrics of its own, the
//! pipeline reads the count through the store after each refresh.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use postgres::Client;

use super::postgres::{classify, connected, Failed};
use super::StoreError;
use super::{pg_daily, pg_journal};

/// The advisory lock of folds (distinct from the commit and schema locks): "bcef" in ASCII.
pub(super) const FOLD_LOCK: i64 = 0x62_63_65_66;
/// How often the thread looks whether a fold is due when no commit woke it.
const LOOK_EVERY: Duration = Duration::from_secs(5);
/// How long a replica that found another folding waits before it looks again.
const BUSY_RETRY: Duration = Duration::from_millis(500);
/// How long dropping a store waits for a fold under way to commit (see [`Folder`]'s `Drop`).
const FINISH_WAIT: Duration = Duration::from_secs(10);

/// When folds are due, and how long folded rows are kept.
#[derive(Clone, Copy)]
pub(super) struct Settings {
    /// Unfolded rows that make a fold due.
    pub every: i64,
    /// The age of the oldest unfolded row that makes a fold due (`None`: by count only).
    pub after: Option<Duration>,
    /// How long folded rows are kept for replicas that are behind.
    pub retention: Duration,
}

/// The fold thread of one store: stopped (and joined) when dropped.
pub(super) struct Folder {
    shared: Arc<Shared>,
    every: i64,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    /// The state, also after a panic on the fold thread (a flag is still worth setting).
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the state and wakes the thread (and a paused fold) to look at it.
    fn signal(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.lock());
        self.wake.notify_all();
    }
}

#[derive(Default)]
struct State {
    stop: bool,
    /// Folds this thread tried that failed (a look that found another replica folding is
    /// not one).
    failed: u64,
    /// A commit reached a multiple of `every`: look now.
    due: bool,
    /// The thread has returned (or unwound).
    exited: bool,
    /// Tests: folds wait while this is set (see [`Folder::pause`]).
    #[cfg(test)]
    paused: bool,
}

impl Folder {
    pub(super) fn start(config: postgres::Config, url: String, settings: Settings) -> Folder {
        let shared = Arc::new(Shared::default());
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("pg-fold".into())
                .spawn(move || {
                    // Set however the thread ends, so a drop never waits for a dead one.
                    struct Exited<'a>(&'a Shared);
                    impl Drop for Exited<'_> {
                        fn drop(&mut self) {
                            self.0.signal(|s| s.exited = true);
                        }
                    }
                    let _exited = Exited(&shared);
                    run(&shared, &config, &url, settings)
                })
                .expect("spawn the fold thread")
        };
        Folder {
            shared,
            every: settings.every,
            thread: Some(thread),
        }
    }

    /// A commit wrote journal row `id`: every `every`th wakes the thread.
    pub(super) fn committed(&self, id: i64) {
        if id % self.every == 0 {
            self.shared.signal(|s| s.due = true);
        }
    }

    /// How many folds this thread tried have failed so far.
    pub(super) fn failed(&self) -> u64 {
        self.shared.lock().failed
    }

    /// Tests: while paused, a fold waits before it commits, having done everything else (its
    /// lock, its transaction and the row locks of its updates held).
    #[cfg(test)]
    pub(super) fn pause(&self, paused: bool) {
        self.shared.signal(|s| s.paused = paused);
    }
}

impl Drop for Folder {
    /// Stops the thread, letting a fold under way commit first, for up to [`FINISH_WAIT`]: a
    /// `run --once` that exits or a replica that stops does not throw away the fold it
    /// started (it was rolled back with its connection at the process' exit, and the next
    /// start read those rows again: a store that only `run --once` backfills write never got
    /// folded). Also inside the daemon's runtime, whose thread then waits as long (at a
    /// shutdown, or a start that fails). A fold that takes longer is left to the next start.
    fn drop(&mut self) {
        self.shared.signal(|s| s.stop = true);
        let state = self.shared.lock();
        let (state, _) = (self.shared.wake)
            .wait_timeout_while(state, FINISH_WAIT, |s| !s.exited)
            .unwrap_or_else(|e| e.into_inner());
        let exited = state.exited;
        drop(state);
        match self.thread.take() {
            Some(t) if exited => {
                let _ = t.join();
            }
            Some(_) => tracing::info!(
                "a fold of the journal under way did not end within {}s of the store's close; it is rolled back, and folded again later",
                FINISH_WAIT.as_secs()
            ),
            None => {}
        }
    }
}

/// What a look found.
enum Looked {
    /// Nothing due, or folded.
    Done,
    /// Another replica holds the fold lock.
    Busy,
}

fn run(shared: &Shared, config: &postgres::Config, url: &str, settings: Settings) {
    let mut client: Option<Client> = None;
    let mut failing = false;
    let mut wait = LOOK_EVERY;
    loop {
        {
            let state = shared.lock();
            let (mut state, _) = shared
                .wake
                .wait_timeout_while(state, wait, |s| !s.stop && !s.due)
                .unwrap_or_else(|e| e.into_inner());
            if state.stop {
                return;
            }
            state.due = false;
        }
        wait = LOOK_EVERY;
        match look(shared, &mut client, config, url, settings) {
            Ok(Looked::Done) => {
                if failing {
                    tracing::info!(store = %url, "folding the journal works again");
                    failing = false;
                }
            }
            Ok(Looked::Busy) => wait = BUSY_RETRY,
            Err(e) => {
                shared.lock().failed += 1;
                if !failing {
                    tracing::warn!(store = %url, error = %e, "folding the journal failed; commits go on, the fold is tried again every {}s (logged again when it works)", LOOK_EVERY.as_secs());
                    failing = true;
                }
            }
        }
    }
}

/// Folds if a fold is due and no other replica is folding, in one transaction.
fn look(
    shared: &Shared,
    client: &mut Option<Client>,
    config: &postgres::Config,
    url: &str,
    settings: Settings,
) -> Result<Looked, StoreError> {
    let c = connected(client, config, url)?;
    let done = (|| {
        let row = c.query_one(
            "SELECT count(*), coalesce(extract(epoch FROM clock_timestamp() - min(at))::float8, 0) FROM journal WHERE NOT folded",
            &[],
        )?;
        let (rows, age): (i64, f64) = (row.get(0), row.get(1));
        let old = settings.after.is_some_and(|a| age >= a.as_secs_f64());
        if rows == 0 || (rows < settings.every && !old) {
            return Ok(Looked::Done);
        }
        let started = std::time::Instant::now();
        let mut tx = c.transaction()?;
        let ours: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&FOLD_LOCK])?
            .get(0);
        if !ours {
            return Ok(Looked::Busy);
        }
        if !fold(&mut tx, settings.retention)? {
            return Err(Failed::Store(StoreError::Io(
                "a journal row that does not decode".into(),
            )));
        }
        #[cfg(test)]
        wait_while_paused(shared);
        #[cfg(not(test))]
        let _ = shared;
        tx.commit()?;
        // What a fold costs, for an operator who sees commits slow down every so often.
        tracing::debug!(store = %url, rows, seconds = started.elapsed().as_secs_f64(), "folded {rows} journal rows");
        Ok(Looked::Done)
    })();
    match done {
        Ok(l) => Ok(l),
        Err(Failed::Store(e)) => Err(e),
        Err(Failed::Pg(e)) => {
            if e.code().is_none() {
                *client = None;
            }
            Err(classify(&e, url))
        }
    }
}

/// One fold: the daily totals' journal (`pg_daily::fold`), then the series' (`pg_journal::fold`),
/// in the caller's transaction; `false` if a row does not decode. The daily journal first: a
/// commit that prunes the daily totals folds that journal too, and may then delete series
/// rows (a removal); taking the daily rows before any series row, a fold either waits for
/// that commit before it holds a row the commit needs, or the commit waits for the fold
/// while holding none the fold needs. No deadlock either way.
pub(super) fn fold(
    tx: &mut postgres::Transaction<'_>,
    retention: Duration,
) -> Result<bool, Failed> {
    Ok(pg_daily::fold(tx)? && pg_journal::fold(tx, retention)?)
}

#[cfg(test)]
fn wait_while_paused(shared: &Shared) {
    let state = shared.lock();
    drop(
        shared
            .wake
            .wait_while(state, |s| s.paused && !s.stop)
            .unwrap(),
    );
}
