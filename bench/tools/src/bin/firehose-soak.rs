//! firehose-soak: pushes invocation records to the exporter's Firehose HTTP endpoint at a fixed
//! rate for a long time, behaving like Amazon Data Firehose when deliveries fail, and keeps
//! an independent count of what was acknowledged. On 127.0.0.1 only.
//!
//! Open loop: request `i` is due at `start + i * records_per_request / rate`, whatever the
//! daemon does; requests that are due but not yet taken are the backlog (Firehose's buffer).
//! `--connections` lanes deliver them in order, one request in flight each (as Firehose does
//! per connection). A lane keeps its request until it is answered 200: any other answer, a
//! timeout or a connection error (refused while the daemon restarts, reset when it is killed)
//! means the same request (same `X-Amz-Firehose-Request-Id`, same body) is sent again after a
//! backoff (from `--backoff-initial` s, doubling, ±15% jitter, capped at `--backoff-max` s;
//! Firehose caps at 2 minutes). 413 is final, as for Firehose: the request is given up.
//!
//! Every record is a line of `--corpus` (records the daemon accepts; malformed lines are left
//! out) whose `requestId` is replaced by one unique to this run and record, so nothing is a
//! duplicate unless the daemon counts a retried request twice. Bodies are rebuilt from the
//! request number on each attempt, so memory does not grow with the backlog.
//!
//! Sending stops at `--duration`; every request due by then is still delivered (the drain),
//! for at most `--drain-timeout` seconds. Every answer's body is checked against the spec
//! (`requestId` echoed, `timestamp` a number, `errorMessage` exactly when not 200).
//!
//! With `--closed-loop` there is no schedule: each lane sends its next request as soon as the
//! last one is acknowledged, takes no new one after `--duration`, and there is no drain; it
//! measures the sustained rate (`--rate` is then ignored).
//!
//! Output: `key=value` lines on stdout (see `report`); progress on stderr every 10 s; with
//! `--timeline FILE`, one tab-separated row a second (see `TIMELINE_HEADER`). Exit status 1 if
//! a request was never acknowledged or an answer broke the spec.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;

struct Args {
    corpus: String,
    addr: SocketAddr,
    path: String,
    key: String,
    rate: f64,
    per_request: usize,
    connections: usize,
    duration: Duration,
    drain_timeout: Duration,
    attempt_timeout: Duration,
    backoff_initial: f64,
    backoff_max: f64,
    timeline: Option<String>,
    closed_loop: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: firehose-soak --corpus FILE --addr 127.0.0.1:PORT (--key KEY | --key-file FILE) --rate RECORDS_PER_S\n\
         \x20 [--path /firehose] [--records-per-request 500] [--connections 64] [--duration 600]\n\
         \x20 [--drain-timeout 3600] [--attempt-timeout 180] [--backoff-initial 1] [--backoff-max 8]\n\
         \x20 [--timeline FILE] [--closed-loop]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = std::env::args().skip(1);
    let (mut corpus, mut addr, mut key, mut rate, mut timeline) = (None, None, None, None, None);
    let mut closed_loop = false;
    let mut path = "/firehose".to_string();
    let (mut per_request, mut connections) = (500, 64);
    let (mut duration, mut drain, mut attempt) = (600.0, 3600.0, 180.0);
    let (mut backoff_initial, mut backoff_max) = (1.0, 8.0);
    while let Some(flag) = a.next() {
        let mut val = || a.next().unwrap_or_else(|| usage());
        let num = |v: String| v.parse::<f64>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--corpus" => corpus = Some(val()),
            "--addr" => addr = Some(val()),
            "--path" => path = val(),
            "--key" => key = Some(val()),
            "--key-file" => {
                let f = val();
                let text = std::fs::read_to_string(&f)
                    .unwrap_or_else(|e| panic!("cannot read key file {f}: {e}"));
                key = text
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(String::from);
            }
            "--rate" => rate = Some(num(val())),
            "--records-per-request" => per_request = num(val()) as usize,
            "--connections" => connections = num(val()) as usize,
            "--duration" => duration = num(val()),
            "--drain-timeout" => drain = num(val()),
            "--attempt-timeout" => attempt = num(val()),
            "--backoff-initial" => backoff_initial = num(val()),
            "--backoff-max" => backoff_max = num(val()),
            "--timeline" => timeline = Some(val()),
            "--closed-loop" => closed_loop = true,
            _ => usage(),
        }
    }
    let addr: SocketAddr = addr
        .unwrap_or_else(|| usage())
        .parse()
        .unwrap_or_else(|_| usage());
    if addr.ip() != std::net::IpAddr::from([127, 0, 0, 1]) {
        eprintln!("firehose-soak only sends to 127.0.0.1, not {}", addr.ip());
        std::process::exit(2);
    }
    let rate = rate.unwrap_or(if closed_loop { 1.0 } else { 0.0 });
    if rate <= 0.0 {
        usage();
    }
    Args {
        corpus: corpus.unwrap_or_else(|| usage()),
        addr,
        path,
        key: key.unwrap_or_else(|| usage()),
        rate,
        per_request: per_request.clamp(1, 10_000),
        connections: connections.max(1),
        duration: Duration::from_secs_f64(duration),
        drain_timeout: Duration::from_secs_f64(drain),
        attempt_timeout: Duration::from_secs_f64(attempt),
        backoff_initial,
        backoff_max: backoff_max.max(backoff_initial),
        timeline,
        closed_loop,
    }
}

/// A corpus line the daemon accepts, where its requestId sits, and its token counts.
struct Template {
    line: Vec<u8>,
    id_at: usize,
    input: u64,
    output: u64,
}

const ID_LEN: usize = 36;

fn templates(path: &str) -> Vec<Template> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let mut out = Vec::new();
    for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        // The corpus's malformed lines lack `operation` or do not parse: left out, so that
        // every record sent is one the daemon counts.
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(id), Some(_), Some(_)) = (
            v["requestId"].as_str(),
            v["operation"].as_str(),
            v["modelId"].as_str(),
        ) else {
            continue;
        };
        let count = |v: &serde_json::Value| match v {
            serde_json::Value::Null => Some(0),
            v => v.as_u64(),
        };
        let (Some(input), Some(output)) = (
            count(&v["input"]["inputTokenCount"]),
            count(&v["output"]["outputTokenCount"]),
        ) else {
            continue;
        };
        let Some(id_at) = memchr::memmem::find(line, id.as_bytes()) else {
            continue;
        };
        if id.len() == ID_LEN {
            out.push(Template {
                line: line.to_vec(),
                id_at,
                input,
                output,
            });
        }
    }
    assert!(!out.is_empty(), "no usable records in {path}");
    out
}

/// What one request carries, rebuilt identically on every attempt.
struct Request {
    id: String,
    bytes: Vec<u8>,
    records: u64,
    input: u64,
    output: u64,
}

struct Plan {
    args: Args,
    templates: Vec<Template>,
    nonce: u32,
    start: Instant,
    start_ms: u64,
    interval: Duration,
    total: u64,
}

impl Plan {
    fn due(&self, i: u64) -> Instant {
        self.start + self.interval.mul_f64(i as f64)
    }

    fn build(&self, i: u64) -> Request {
        let b64 = base64::engine::general_purpose::STANDARD;
        let id = format!("{:08x}-f17e-4000-8000-{i:012x}", self.nonce);
        let n = self.args.per_request as u64;
        let ts = self.start_ms + self.interval.mul_f64(i as f64).as_millis() as u64;
        let mut body = format!(r#"{{"requestId":"{id}","timestamp":{ts},"records":["#);
        let (mut input, mut output) = (0, 0);
        let mut line = Vec::new();
        for k in i * n..(i + 1) * n {
            let t = &self.templates[(k % self.templates.len() as u64) as usize];
            line.clear();
            line.extend_from_slice(&t.line);
            let rid = format!("{:08x}-50a6-4000-8000-{k:012x}", self.nonce);
            line[t.id_at..t.id_at + ID_LEN].copy_from_slice(rid.as_bytes());
            if k > i * n {
                body.push(',');
            }
            body.push_str(r#"{"data":""#);
            b64.encode_string(&line, &mut body);
            body.push_str(r#""}"#);
            input += t.input;
            output += t.output;
        }
        body.push_str("]}");
        let a = &self.args;
        let mut bytes = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             X-Amz-Firehose-Protocol-Version: 1.0\r\nX-Amz-Firehose-Request-Id: {id}\r\n\
             X-Amz-Firehose-Access-Key: {}\r\nContent-Length: {}\r\n\r\n",
            a.path,
            a.addr,
            a.key,
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        Request {
            id,
            bytes,
            records: n,
            input,
            output,
        }
    }
}

/// Why an attempt got no HTTP answer.
#[derive(Clone, Copy)]
enum Failure {
    Refused,
    Reset,
    Timeout,
    Other,
}

fn classify(e: &std::io::Error) -> Failure {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => Failure::Refused,
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => Failure::Reset,
        TimedOut | WouldBlock => Failure::Timeout,
        _ => Failure::Other,
    }
}

/// A keep-alive HTTP/1.1 connection.
struct Conn {
    addr: SocketAddr,
    timeout: Duration,
    stream: Option<BufReader<TcpStream>>,
}

impl Conn {
    /// Sends and reads the answer: (status, body). A kept-alive connection that turns out to
    /// be closed before any answer byte is replaced once, at once (not a delivery failure).
    fn send(&mut self, req: &[u8], stale: &AtomicU64) -> Result<(u16, String), Failure> {
        for attempt in 0..2 {
            let fresh = self.stream.is_none();
            if fresh {
                let s = TcpStream::connect_timeout(&self.addr, self.timeout)
                    .map_err(|e| classify(&e))?;
                s.set_nodelay(true).map_err(|e| classify(&e))?;
                s.set_read_timeout(Some(self.timeout))
                    .map_err(|e| classify(&e))?;
                s.set_write_timeout(Some(self.timeout))
                    .map_err(|e| classify(&e))?;
                self.stream = Some(BufReader::with_capacity(64 * 1024, s));
            }
            match self.exchange(req) {
                Ok(v) => return Ok(v),
                Err((e, answered)) => {
                    self.stream = None;
                    if fresh || answered || attempt == 1 {
                        return Err(classify(&e));
                    }
                    stale.fetch_add(1, Relaxed);
                }
            }
        }
        unreachable!()
    }

    /// Err carries whether any byte of an answer had arrived.
    fn exchange(&mut self, req: &[u8]) -> Result<(u16, String), (std::io::Error, bool)> {
        let s = self.stream.as_mut().expect("connected");
        // A server that answers before reading the whole body may reset the connection while
        // it is still being written: read the answer anyway.
        let written = s.get_mut().write_all(req);
        let mut line = String::new();
        match s.read_line(&mut line) {
            Ok(0) => {
                return Err((
                    written
                        .err()
                        .unwrap_or(std::io::ErrorKind::UnexpectedEof.into()),
                    false,
                ))
            }
            Ok(_) => {}
            Err(e) => return Err((written.err().unwrap_or(e), false)),
        }
        let bad = |m: String| (std::io::Error::other(m), true);
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| bad(format!("bad status line {line:?}")))?;
        let (mut len, mut close) = (0usize, false);
        loop {
            line.clear();
            if s.read_line(&mut line).map_err(|e| (e, true))? == 0 {
                return Err((std::io::ErrorKind::UnexpectedEof.into(), true));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let v = v.trim();
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.parse().unwrap_or(0);
                } else if k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close") {
                    close = true;
                } else if k.eq_ignore_ascii_case("transfer-encoding") {
                    return Err(bad(format!("unexpected transfer-encoding {v}")));
                }
            }
        }
        let mut body = vec![0; len];
        s.read_exact(&mut body).map_err(|e| (e, true))?;
        if close || written.is_err() {
            self.stream = None;
        }
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// The spec's response: `requestId` echoed, `timestamp` a number, `errorMessage` a string
/// exactly when the status is not 200.
fn spec_shaped(status: u16, body: &str, id: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return false;
    };
    v["requestId"].as_str() == Some(id)
        && (v["timestamp"].is_i64() || v["timestamp"].is_u64())
        && v.get("errorMessage").is_some_and(|m| m.is_string()) == (status != 200)
}

#[derive(Default)]
struct Counters {
    taken: AtomicU64,
    attempts: AtomicU64,
    ok: AtomicU64,
    s503: AtomicU64,
    other: AtomicU64,
    bad_shape: AtomicU64,
    refused: AtomicU64,
    reset: AtomicU64,
    timeout: AtomicU64,
    conn_other: AtomicU64,
    stale: AtomicU64,
    acked_requests: AtomicU64,
    acked_records: AtomicU64,
    acked_input: AtomicU64,
    acked_output: AtomicU64,
    given_up: AtomicU64,
    sending: AtomicU64,
}

#[derive(Default)]
struct Samples {
    /// Microseconds from sending to the answer, for 200s and for 503s.
    ok: Vec<u32>,
    busy: Vec<u32>,
    /// Milliseconds from a request's due time to its 200 (backlog wait included).
    delay: Vec<u32>,
    other_codes: std::collections::BTreeMap<u16, u64>,
}

fn jitter(seed: &mut u64) -> f64 {
    // xorshift: ±15% as Firehose documents.
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    0.85 + 0.30 * ((*seed >> 11) as f64 / (1u64 << 53) as f64)
}

fn lane(plan: &Plan, next: &AtomicU64, c: &Counters, giving_up: &AtomicBool, n: usize) -> Samples {
    let a = &plan.args;
    let mut conn = Conn {
        addr: a.addr,
        timeout: a.attempt_timeout,
        stream: None,
    };
    let mut out = Samples::default();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ ((n as u64 + 1) << 32) ^ plan.nonce as u64;
    loop {
        if a.closed_loop && plan.start.elapsed() >= a.duration {
            return out;
        }
        let i = next.fetch_add(1, Relaxed);
        if i >= plan.total {
            return out;
        }
        let due = plan.due(i);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        c.taken.fetch_add(1, Relaxed);
        let req = plan.build(i);
        let mut backoff = a.backoff_initial;
        loop {
            c.attempts.fetch_add(1, Relaxed);
            c.sending.fetch_add(1, Relaxed);
            let t = Instant::now();
            let answer = conn.send(&req.bytes, &c.stale);
            let took = t.elapsed().as_micros().min(u32::MAX as u128) as u32;
            c.sending.fetch_sub(1, Relaxed);
            match answer {
                Ok((status, body)) => {
                    if !spec_shaped(status, &body, &req.id) && c.bad_shape.fetch_add(1, Relaxed) < 5
                    {
                        eprintln!(
                            "firehose-soak: answer {status} to {} breaks the spec: {body:?}",
                            req.id
                        );
                    }
                    match status {
                        200 => {
                            c.ok.fetch_add(1, Relaxed);
                            c.acked_requests.fetch_add(1, Relaxed);
                            c.acked_records.fetch_add(req.records, Relaxed);
                            c.acked_input.fetch_add(req.input, Relaxed);
                            c.acked_output.fetch_add(req.output, Relaxed);
                            out.ok.push(took);
                            out.delay
                                .push(due.elapsed().as_millis().min(u32::MAX as u128) as u32);
                            break;
                        }
                        503 => {
                            c.s503.fetch_add(1, Relaxed);
                            out.busy.push(took);
                        }
                        code => {
                            c.other.fetch_add(1, Relaxed);
                            *out.other_codes.entry(code).or_default() += 1;
                            if code == 413 {
                                eprintln!("firehose-soak: {} answered 413 (final): {body}", req.id);
                                c.given_up.fetch_add(1, Relaxed);
                                break;
                            }
                        }
                    }
                }
                Err(f) => {
                    let counter = match f {
                        Failure::Refused => &c.refused,
                        Failure::Reset => &c.reset,
                        Failure::Timeout => &c.timeout,
                        Failure::Other => &c.conn_other,
                    };
                    counter.fetch_add(1, Relaxed);
                }
            }
            if giving_up.load(Relaxed) {
                c.given_up.fetch_add(1, Relaxed);
                break;
            }
            std::thread::sleep(Duration::from_secs_f64(backoff * jitter(&mut seed)));
            backoff = (backoff * 2.0).min(a.backoff_max);
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn epoch_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

const TIMELINE_HEADER: &str = "epoch_s\tdue_requests\ttaken_requests\tacked_requests\tacked_records\tattempts\tstatus_200\tstatus_503\tstatus_other\tconn_errors\tin_flight";

fn main() {
    let args = parse_args();
    let templates = templates(&args.corpus);
    let (interval, total) = if args.closed_loop {
        (Duration::ZERO, u64::MAX)
    } else {
        let interval = Duration::from_secs_f64(args.per_request as f64 / args.rate);
        let total = (args.duration.as_secs_f64() / interval.as_secs_f64()).floor() as u64;
        (interval, total)
    };
    let nonce = (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        ^ std::process::id() as u128) as u32;
    eprintln!(
        "firehose-soak: {total} requests of {} records ({} records/s) over {:?} on {} connections to {}{}; {} record templates; run {nonce:08x}",
        args.per_request,
        args.rate,
        args.duration,
        args.connections,
        args.addr,
        args.path,
        templates.len()
    );
    let plan = Arc::new(Plan {
        templates,
        nonce,
        start: Instant::now(),
        start_ms: (epoch_s() * 1000.0) as u64,
        interval,
        total,
        args,
    });
    let (next, counters, giving_up) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(Counters::default()),
        Arc::new(AtomicBool::new(false)),
    );
    let samples = Arc::new(Mutex::new(Vec::new()));
    let lanes: Vec<_> = (0..plan.args.connections)
        .map(|n| {
            let (plan, next, c, g, s) = (
                plan.clone(),
                next.clone(),
                counters.clone(),
                giving_up.clone(),
                samples.clone(),
            );
            std::thread::spawn(move || {
                let out = lane(&plan, &next, &c, &g, n);
                s.lock().unwrap().push(out);
            })
        })
        .collect();

    // Once a second: the timeline, the backlog, progress; until every lane is done.
    let c = &counters;
    let mut timeline = plan.args.timeline.as_ref().map(|p| {
        let mut f = std::fs::File::create(p).unwrap_or_else(|e| panic!("cannot write {p}: {e}"));
        writeln!(f, "{TIMELINE_HEADER}").unwrap();
        f
    });
    let end_of_sending = plan.start + plan.args.duration;
    let (mut backlog_max, mut acked_in_sending, mut tick) = (0u64, None, 0u64);
    let mut drain_started = None;
    while lanes.iter().any(|l| !l.is_finished()) {
        std::thread::sleep(Duration::from_millis(
            1000 - (plan.start.elapsed().as_millis() % 1000) as u64,
        ));
        tick += 1;
        let now = Instant::now();
        let due = if plan.args.closed_loop {
            c.taken.load(Relaxed)
        } else if now >= end_of_sending {
            total
        } else {
            ((now - plan.start).as_secs_f64() / interval.as_secs_f64()).floor() as u64 + 1
        }
        .min(total);
        let taken = c.taken.load(Relaxed);
        backlog_max = backlog_max.max(due.saturating_sub(taken));
        if now >= end_of_sending && acked_in_sending.is_none() {
            acked_in_sending = Some(c.acked_records.load(Relaxed));
            drain_started = Some(now);
        }
        if let Some(d) = drain_started {
            if now - d > plan.args.drain_timeout && !giving_up.swap(true, Relaxed) {
                eprintln!("firehose-soak: drain timeout; lanes give up their requests");
            }
        }
        let conn_errors = c.refused.load(Relaxed)
            + c.reset.load(Relaxed)
            + c.timeout.load(Relaxed)
            + c.conn_other.load(Relaxed);
        if let Some(f) = &mut timeline {
            let _ = writeln!(
                f,
                "{:.3}\t{due}\t{taken}\t{}\t{}\t{}\t{}\t{}\t{}\t{conn_errors}\t{}",
                epoch_s(),
                c.acked_requests.load(Relaxed),
                c.acked_records.load(Relaxed),
                c.attempts.load(Relaxed),
                c.ok.load(Relaxed),
                c.s503.load(Relaxed),
                c.other.load(Relaxed),
                c.sending.load(Relaxed)
            );
        }
        if tick % 10 == 0 {
            eprintln!(
                "firehose-soak: {:>5}s due {due} taken {taken} acked {} ({} records), backlog {}, 503s {}, other {}, connection errors {conn_errors}",
                plan.start.elapsed().as_secs(),
                c.acked_requests.load(Relaxed),
                c.acked_records.load(Relaxed),
                due.saturating_sub(taken),
                c.s503.load(Relaxed),
                c.other.load(Relaxed),
            );
        }
    }
    for l in lanes {
        l.join().expect("lane");
    }
    report(
        &plan,
        c,
        &samples.lock().unwrap(),
        backlog_max,
        acked_in_sending,
        drain_started,
    );
}

fn report(
    plan: &Plan,
    c: &Counters,
    samples: &[Samples],
    backlog_max: u64,
    acked_in_sending: Option<u64>,
    drain_started: Option<Instant>,
) {
    let a = &plan.args;
    let n = a.per_request as u64;
    // Closed loop: what was generated is what the lanes took.
    let total = plan.total.min(c.taken.load(Relaxed));
    let (mut gen_input, mut gen_output) = (0u64, 0u64);
    for k in 0..total * n {
        let t = &plan.templates[(k % plan.templates.len() as u64) as usize];
        gen_input += t.input;
        gen_output += t.output;
    }
    let merged = |f: fn(&Samples) -> &Vec<u32>| {
        let mut v: Vec<u32> = samples.iter().flat_map(|s| f(s).iter().copied()).collect();
        v.sort_unstable();
        v
    };
    let (ok, busy, delay) = (merged(|s| &s.ok), merged(|s| &s.busy), merged(|s| &s.delay));
    let mut codes: std::collections::BTreeMap<u16, u64> = Default::default();
    for s in samples {
        for (k, v) in &s.other_codes {
            *codes.entry(*k).or_default() += v;
        }
    }
    let ms = |us: u32| format!("{:.1}", us as f64 / 1e3);
    let get = |x: &AtomicU64| x.load(Relaxed);
    let sending = a.duration.as_secs_f64();
    let acked_sending = acked_in_sending.unwrap_or(get(&c.acked_records));
    let out = [
        ("run", format!("{:08x}", plan.nonce)),
        ("rate_target", format!("{:.0}", a.rate)),
        ("records_per_request", n.to_string()),
        ("connections", a.connections.to_string()),
        ("sending_s", format!("{sending:.0}")),
        (
            "drain_s",
            format!(
                "{:.1}",
                drain_started.map_or(0.0, |d| d.elapsed().as_secs_f64())
            ),
        ),
        ("requests_generated", total.to_string()),
        ("records_generated", (total * n).to_string()),
        ("input_tokens_generated", gen_input.to_string()),
        ("output_tokens_generated", gen_output.to_string()),
        ("requests_acked", get(&c.acked_requests).to_string()),
        ("records_acked", get(&c.acked_records).to_string()),
        ("input_tokens_acked", get(&c.acked_input).to_string()),
        ("output_tokens_acked", get(&c.acked_output).to_string()),
        ("records_acked_while_sending", acked_sending.to_string()),
        (
            "acked_records_per_s_while_sending",
            format!("{:.0}", acked_sending as f64 / sending),
        ),
        ("backlog_max_requests", backlog_max.to_string()),
        ("attempts", get(&c.attempts).to_string()),
        ("status_200", get(&c.ok).to_string()),
        ("status_503", get(&c.s503).to_string()),
        ("status_other", get(&c.other).to_string()),
        ("status_other_codes", format!("{codes:?}")),
        ("bad_shape", get(&c.bad_shape).to_string()),
        ("conn_refused", get(&c.refused).to_string()),
        ("conn_reset", get(&c.reset).to_string()),
        ("conn_timeout", get(&c.timeout).to_string()),
        ("conn_other", get(&c.conn_other).to_string()),
        ("stale_reconnects", get(&c.stale).to_string()),
        ("given_up", get(&c.given_up).to_string()),
        ("ack_p50_ms", ms(percentile(&ok, 0.5))),
        ("ack_p99_ms", ms(percentile(&ok, 0.99))),
        ("ack_max_ms", ms(ok.last().copied().unwrap_or(0))),
        ("busy_p50_ms", ms(percentile(&busy, 0.5))),
        ("busy_p99_ms", ms(percentile(&busy, 0.99))),
        ("busy_max_ms", ms(busy.last().copied().unwrap_or(0))),
        (
            "delay_p50_s",
            format!("{:.1}", percentile(&delay, 0.5) as f64 / 1e3),
        ),
        (
            "delay_p99_s",
            format!("{:.1}", percentile(&delay, 0.99) as f64 / 1e3),
        ),
        (
            "delay_max_s",
            format!("{:.1}", delay.last().copied().unwrap_or(0) as f64 / 1e3),
        ),
    ];
    for (k, v) in &out {
        println!("{k}={v}");
    }
    let complete = get(&c.acked_requests) == total && get(&c.bad_shape) == 0;
    eprintln!(
        "firehose-soak: {} of {} requests acknowledged ({} records), {} attempts: {} 200, {} 503, {} other, {} connection errors; {}",
        get(&c.acked_requests),
        total,
        get(&c.acked_records),
        get(&c.attempts),
        get(&c.ok),
        get(&c.s503),
        get(&c.other),
        get(&c.refused) + get(&c.reset) + get(&c.timeout) + get(&c.conn_other),
        if complete { "complete" } else { "INCOMPLETE" }
    );
    if !complete {
        std::process::exit(1);
    }
}
