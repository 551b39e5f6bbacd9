//! Bounded intake: how many Firehose requests, and how many bytes of them, the daemon holds
//! at once. A request is admitted before its body is read, or refused at once (503, so
//! Firehose retries with backoff) when either bound is reached; otherwise many connections
//! pushing large bodies would each hold a body and its decoded copy while they wait for the
//! one pipeline thread, and memory would follow the number of connections.
//!
//! A request is charged its `Content-Length` (the largest body allowed when it has none), and
//! once decoded, what its decoded records hold if that is more (a gzip body inflates). The
//! first request is always admitted, so no request is too large to ever get in.
//!
//! Overload is logged when it begins, at most once a minute while it lasts, and when it ends
//! (a request admitted after [`QUIET`] without refusals), never once per refused request:
//! refusals are counted in `bedrock_firehose_requests_total{code="503"}`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus::IntGauge;

/// Refusal-free time after which an overload is over (logged as ended).
const QUIET: Duration = Duration::from_secs(10);
/// While an overload lasts, how often it is logged again.
const REMIND: Duration = Duration::from_secs(60);

pub struct Intake {
    max_requests: usize,
    max_bytes: usize,
    state: Mutex<State>,
    /// In-flight requests and bytes, as gauges.
    gauges: (IntGauge, IntGauge),
}

#[derive(Default)]
struct State {
    requests: usize,
    bytes: usize,
    overload: Option<Overload>,
}

struct Overload {
    since: Instant,
    last_refusal: Instant,
    last_logged: Instant,
    refused: u64,
    refused_since_logged: u64,
}

/// Why a request was not admitted: what was in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Full {
    pub requests: usize,
    pub bytes: usize,
}

/// An admitted request; dropping it releases what it was charged.
pub struct Admitted<'a> {
    intake: &'a Intake,
    bytes: usize,
}

/// What to log after the lock is released.
enum Event {
    Began(Full),
    Persists(u64),
    Ended(u64, Duration),
}

impl Intake {
    pub fn new(max_requests: usize, max_bytes: usize, gauges: (IntGauge, IntGauge)) -> Intake {
        Intake {
            max_requests: max_requests.max(1),
            max_bytes,
            state: Mutex::new(State::default()),
            gauges,
        }
    }

    /// Admits a request that will hold `bytes`, or refuses it when either bound would be
    /// passed (unless nothing is in flight).
    pub fn admit(&self, bytes: usize) -> Result<Admitted<'_>, Full> {
        self.admit_at(bytes, Instant::now())
    }

    fn admit_at(&self, bytes: usize, now: Instant) -> Result<Admitted<'_>, Full> {
        let (result, event) = {
            let mut s = self.lock();
            let fits =
                s.requests < self.max_requests && s.bytes.saturating_add(bytes) <= self.max_bytes;
            if fits || s.requests == 0 {
                s.requests += 1;
                s.bytes += bytes;
                self.publish(&s);
                let ended = s
                    .overload
                    .take_if(|o| now.duration_since(o.last_refusal) >= QUIET);
                let event = ended.map(|o| Event::Ended(o.refused, now.duration_since(o.since)));
                (
                    Ok(Admitted {
                        intake: self,
                        bytes,
                    }),
                    event,
                )
            } else {
                let full = Full {
                    requests: s.requests,
                    bytes: s.bytes,
                };
                let event = match &mut s.overload {
                    None => {
                        s.overload = Some(Overload {
                            since: now,
                            last_refusal: now,
                            last_logged: now,
                            refused: 1,
                            refused_since_logged: 0,
                        });
                        Some(Event::Began(full.clone()))
                    }
                    Some(o) => {
                        o.last_refusal = now;
                        o.refused += 1;
                        o.refused_since_logged += 1;
                        (now.duration_since(o.last_logged) >= REMIND).then(|| {
                            o.last_logged = now;
                            Event::Persists(std::mem::take(&mut o.refused_since_logged))
                        })
                    }
                };
                (Err(full), event)
            }
        };
        match event {
            Some(Event::Began(f)) => tracing::warn!(
                requests = f.requests,
                bytes = f.bytes,
                "the Firehose intake is full ({} requests, {} bytes in flight; limits {} and {}): answering 503 so that Firehose retries later. Refusals are counted in bedrock_firehose_requests_total{{code=\"503\"}}; the end of the overload is logged",
                f.requests, f.bytes, self.max_requests, self.max_bytes
            ),
            Some(Event::Persists(n)) => tracing::warn!(
                refused = n,
                "the Firehose intake is still full: {n} more requests answered 503"
            ),
            Some(Event::Ended(n, took)) => tracing::info!(
                refused = n,
                "the Firehose intake admits requests again; {n} requests were answered 503 over {:.0?}",
                took
            ),
            None => {}
        }
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, s: &State) {
        self.gauges.0.set(s.requests as i64);
        self.gauges.1.set(s.bytes as i64);
    }
}

impl Admitted<'_> {
    /// Raises the charge to `bytes` when the request turned out to hold more (a gzip body
    /// decoded). Never refused, the work is done; later requests see the true total.
    pub fn hold(&mut self, bytes: usize) {
        if bytes > self.bytes {
            let mut s = self.intake.lock();
            s.bytes += bytes - self.bytes;
            self.bytes = bytes;
            self.intake.publish(&s);
        }
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        let mut s = self.intake.lock();
        s.requests -= 1;
        s.bytes -= self.bytes;
        self.intake.publish(&s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intake(requests: usize, bytes: usize) -> Intake {
        let g = |n: &str| IntGauge::new(n, "test").unwrap();
        Intake::new(requests, bytes, (g("r"), g("b")))
    }

    #[test]
    fn requests_past_either_bound_are_refused_until_one_is_released() {
        let i = intake(2, 100);
        let a = i.admit(40).unwrap();
        let b = i.admit(40).unwrap();
        assert_eq!(
            i.admit(1).err(),
            Some(Full {
                requests: 2,
                bytes: 80
            })
        );
        drop(a);
        assert!(i.admit(61).is_err(), "40 + 61 bytes is over the byte bound");
        let c = i.admit(60).unwrap();
        assert_eq!((i.gauges.0.get(), i.gauges.1.get()), (2, 100));
        drop((b, c));
        assert_eq!((i.gauges.0.get(), i.gauges.1.get()), (0, 0));
    }

    #[test]
    fn a_request_alone_is_admitted_whatever_its_size() {
        let i = intake(2, 100);
        let big = i.admit(1000).unwrap();
        assert!(i.admit(1).is_err());
        drop(big);
        assert!(i.admit(1).is_ok());
    }

    #[test]
    fn a_decoded_request_is_charged_what_it_holds() {
        let i = intake(4, 100);
        let mut a = i.admit(10).unwrap();
        a.hold(5); // less than charged: unchanged
        a.hold(90);
        assert_eq!(i.gauges.1.get(), 90);
        assert!(i.admit(11).is_err());
        drop(a);
        assert_eq!(i.gauges.1.get(), 0);
    }

    #[test]
    fn an_overload_ends_after_a_quiet_spell_not_at_the_first_admission() {
        let i = intake(1, 100);
        let t0 = Instant::now();
        let a = i.admit_at(1, t0).unwrap();
        assert!(i.admit_at(1, t0).is_err());
        assert!(i.admit_at(1, t0 + Duration::from_secs(1)).is_err());
        drop(a);
        let b = i.admit_at(1, t0 + Duration::from_secs(2)).unwrap();
        assert!(
            i.lock().overload.is_some(),
            "2 s after a refusal: still overloaded"
        );
        assert_eq!(i.lock().overload.as_ref().unwrap().refused, 2);
        drop(b);
        let _c = i.admit_at(1, t0 + Duration::from_secs(12)).unwrap();
        assert!(i.lock().overload.is_none(), "10 s without refusals: over");
    }
}
