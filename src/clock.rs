//! The one source of wall time. Record timestamps decide prices and budget periods; wall time
//! is only for freshness (source lag, dedupe-key age, pruning past budget periods), and it
//! comes from here so tests can fix it.

use std::sync::Arc;

#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

// The closure returns Unix milliseconds.

impl Clock {
    /// The system clock, in Unix seconds.
    pub fn system() -> Clock {
        Clock(Arc::new(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64)
        }))
    }

    /// A clock that always says `unix` (tests).
    pub fn fixed(unix: i64) -> Clock {
        Clock(Arc::new(move || unix.saturating_mul(1000)))
    }

    /// Unix seconds.
    pub fn now(&self) -> i64 {
        (self.0)().div_euclid(1000)
    }

    /// Unix milliseconds (CloudWatch and Firehose timestamps).
    pub fn now_ms(&self) -> i64 {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}
