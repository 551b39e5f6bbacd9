//! firehose-load: drives the exporter's Firehose HTTP endpoint the way Amazon Data Firehose
//! does, on 127.0.0.1 only, and reports how fast requests are acknowledged.
//!
//! Requests follow the Firehose HTTP endpoint delivery specification: POST with headers
//! `X-Amz-Firehose-Request-Id`, `X-Amz-Firehose-Access-Key`, `X-Amz-Firehose-Protocol-Version`
//! and a JSON body `{"requestId", "timestamp", "records": [{"data": base64}]}`. Each record
//! holds one invocation-log line, as a direct PUT to the stream sends it. All bodies are built
//! before the clock starts. N keep-alive HTTP/1.1 connections then send them, each waiting for
//! its answer before sending the next (Firehose has one request in flight per connection).
//!
//! Phase 1 (throughput): up to `--requests` requests of `--records-per-request` records, for at
//! most `--duration` seconds. Reports acknowledged records/s and the p50/p99 time from the
//! first byte sent to the last byte of the answer.
//! Phase 2 (one big batch): requests of up to `--big-mib` MiB (several lines per record, at most
//! 10,000 records, as Firehose allows), sent alone, time to acknowledge each. Its lines are
//! taken from the end of `--big-corpus` (default: the same corpus), apart from phase 1's.
//!
//! Every record is a distinct line of the corpus, so nothing is deduplicated away.
//! Output: `key=value` lines on stdout (see `main`), a summary on stderr.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;

struct Args {
    corpus: String,
    big_corpus: Option<String>,
    addr: SocketAddr,
    path: String,
    key: String,
    connections: usize,
    per_request: usize,
    max_requests: usize,
    duration: Duration,
    big_mib: f64,
    big_count: usize,
    timeout: Duration,
}

fn usage() -> ! {
    eprintln!(
        "usage: firehose-load --corpus FILE --addr 127.0.0.1:PORT (--key KEY | --key-file FILE)\n\
         \x20 [--path /firehose] [--connections 4] [--records-per-request 500] [--requests N]\n\
         \x20 [--duration 30] [--big-mib 64] [--big-count 1] [--big-corpus FILE] [--timeout 180]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = std::env::args().skip(1);
    let (mut corpus, mut big_corpus, mut addr, mut key) = (None, None, None, None);
    let mut path = "/firehose".to_string();
    let (mut connections, mut per_request, mut max_requests) = (4, 500, usize::MAX);
    let (mut duration, mut big_mib, mut big_count, mut timeout) = (30.0, 64.0, 1, 180.0);
    while let Some(flag) = a.next() {
        let mut val = || a.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--corpus" => corpus = Some(val()),
            "--big-corpus" => big_corpus = Some(val()),
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
            "--connections" => connections = val().parse().unwrap_or_else(|_| usage()),
            "--records-per-request" => per_request = val().parse().unwrap_or_else(|_| usage()),
            "--requests" => max_requests = val().parse().unwrap_or_else(|_| usage()),
            "--duration" => duration = val().parse().unwrap_or_else(|_| usage()),
            "--big-mib" => big_mib = val().parse().unwrap_or_else(|_| usage()),
            "--big-count" => big_count = val().parse().unwrap_or_else(|_| usage()),
            "--timeout" => timeout = val().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let addr: SocketAddr = addr
        .unwrap_or_else(|| usage())
        .parse()
        .unwrap_or_else(|_| usage());
    // Only ever load the local machine.
    if addr.ip() != std::net::IpAddr::from([127, 0, 0, 1]) {
        eprintln!("firehose-load only sends to 127.0.0.1, not {}", addr.ip());
        std::process::exit(2);
    }
    Args {
        corpus: corpus.unwrap_or_else(|| usage()),
        big_corpus,
        addr,
        path,
        key: key.unwrap_or_else(|| usage()),
        connections: connections.max(1),
        per_request: per_request.clamp(1, 10_000),
        max_requests,
        duration: Duration::from_secs_f64(duration),
        big_mib,
        big_count,
        timeout: Duration::from_secs_f64(timeout),
    }
}

fn lines(path: &str) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    data.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn request_id(phase: &str, i: usize) -> String {
    // uuid-shaped, distinct per phase and index
    let p = if phase == "big" { 0xb16 } else { 0x10ad };
    format!("00000000-{p:04x}-4000-8000-{i:012x}")
}

/// One HTTP request, fully serialised, ready to write.
struct Prepared {
    bytes: Vec<u8>,
    records: usize,
    lines: usize,
    body_len: usize,
}

fn prepare(args: &Args, id: &str, records: &[Vec<u8>], lines: usize) -> Prepared {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut body = Vec::with_capacity(records.iter().map(|r| r.len() * 4 / 3 + 16).sum());
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    write!(
        body,
        r#"{{"requestId":"{id}","timestamp":{now_ms},"records":["#
    )
    .unwrap();
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(br#"{"data":""#);
        body.extend_from_slice(b64.encode(r).as_bytes());
        body.extend_from_slice(br#""}"#);
    }
    body.extend_from_slice(b"]}");
    let mut req = Vec::with_capacity(body.len() + 512);
    write!(
        req,
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         X-Amz-Firehose-Protocol-Version: 1.0\r\nX-Amz-Firehose-Request-Id: {id}\r\n\
         X-Amz-Firehose-Access-Key: {}\r\nContent-Length: {}\r\n\r\n",
        args.path,
        args.addr,
        args.key,
        body.len()
    )
    .unwrap();
    let body_len = body.len();
    req.extend_from_slice(&body);
    Prepared {
        bytes: req,
        records: records.len(),
        lines,
        body_len,
    }
}

/// A keep-alive HTTP/1.1 connection that sends a prepared request and reads the answer.
struct Conn {
    addr: SocketAddr,
    timeout: Duration,
    stream: Option<BufReader<TcpStream>>,
}

impl Conn {
    fn send(&mut self, req: &[u8]) -> std::io::Result<(u16, String)> {
        // A kept-alive connection the server closed meanwhile fails on first use: retry once
        // on a fresh one.
        for attempt in 0..2 {
            if self.stream.is_none() {
                let s = TcpStream::connect_timeout(&self.addr, self.timeout)?;
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(self.timeout))?;
                s.set_write_timeout(Some(self.timeout))?;
                self.stream = Some(BufReader::with_capacity(64 * 1024, s));
            }
            let r = self.exchange(req);
            match r {
                Ok(v) => return Ok(v),
                Err(e) if attempt == 0 && e.kind() != std::io::ErrorKind::WouldBlock => {
                    self.stream = None;
                }
                Err(e) => {
                    self.stream = None;
                    return Err(e);
                }
            }
        }
        unreachable!()
    }

    fn exchange(&mut self, req: &[u8]) -> std::io::Result<(u16, String)> {
        let s = self.stream.as_mut().expect("connected");
        s.get_mut().write_all(req)?;
        let mut line = String::new();
        if s.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let (mut len, mut close) = (0usize, false);
        loop {
            line.clear();
            if s.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
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
                }
            }
        }
        let mut body = vec![0; len];
        s.read_exact(&mut body)?;
        if close {
            self.stream = None;
        }
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn main() {
    let args = parse_args();
    let corpus = lines(&args.corpus);
    let big_src = match &args.big_corpus {
        Some(p) => lines(p),
        None => Vec::new(),
    };
    let same = args.big_corpus.is_none();

    // Phase 2's lines: from the end of their corpus, about big-mib of base64 worth.
    let big_target = (args.big_mib * 1024.0 * 1024.0) as usize;
    let mut bigs = Vec::new();
    let mut reserved = 0; // lines of the main corpus set aside for phase 2
    if args.big_mib > 0.0 {
        let src: &[Vec<u8>] = if same { &corpus } else { &big_src };
        let mut end = src.len();
        for n in 0..args.big_count {
            // 10,000 records at most; pack lines so that the body just fits under big_target.
            let raw_budget = (big_target.saturating_sub(4096)) / 4 * 3 - 10_000 * 12;
            let per_record = (raw_budget / 10_000).max(1);
            let mut records: Vec<Vec<u8>> = Vec::new();
            let (mut raw, mut used) = (0usize, 0usize);
            let mut cur: Vec<u8> = Vec::new();
            while end > 0 {
                let l = &src[end - 1];
                if raw + l.len() + 1 > raw_budget || l.len() + 1 > 1_000_000 {
                    break;
                }
                end -= 1;
                used += 1;
                raw += l.len() + 1;
                cur.extend_from_slice(l);
                cur.push(b'\n');
                if cur.len() >= per_record {
                    records.push(std::mem::take(&mut cur));
                }
                if records.len() == 10_000 {
                    break;
                }
            }
            if !cur.is_empty() {
                records.push(cur);
            }
            if records.is_empty() {
                eprintln!("firehose-load: no lines left for big request {n}");
                break;
            }
            bigs.push(prepare(&args, &request_id("big", n), &records, used));
        }
        if same {
            reserved = corpus.len() - end;
        }
    }

    // Phase 1's requests, from the start of the corpus.
    let usable = &corpus[..corpus.len() - reserved];
    let n_req = usable
        .len()
        .div_ceil(args.per_request)
        .min(args.max_requests);
    let reqs: Vec<Prepared> = (0..n_req)
        .map(|i| {
            let chunk =
                &usable[i * args.per_request..((i + 1) * args.per_request).min(usable.len())];
            prepare(&args, &request_id("load", i), chunk, chunk.len())
        })
        .collect();
    let reqs = Arc::new(reqs);
    eprintln!(
        "firehose-load: {} requests of up to {} records over {} connections to {}{}, for at most {:?}; then {} big request(s)",
        reqs.len(),
        args.per_request,
        args.connections,
        args.addr,
        args.path,
        args.duration,
        bigs.len()
    );

    // Phase 1.
    let next = Arc::new(AtomicUsize::new(0));
    let results: Arc<Mutex<Vec<(Duration, u16, usize)>>> = Arc::default();
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + args.duration;
    let workers: Vec<_> = (0..args.connections)
        .map(|_| {
            let (reqs, next, results, errors) =
                (reqs.clone(), next.clone(), results.clone(), errors.clone());
            let (addr, timeout) = (args.addr, args.timeout);
            std::thread::spawn(move || {
                let mut conn = Conn {
                    addr,
                    timeout,
                    stream: None,
                };
                let mut mine = Vec::new();
                loop {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(r) = reqs.get(i) else { break };
                    let t = Instant::now();
                    match conn.send(&r.bytes) {
                        Ok((status, body)) => {
                            if status != 200 && mine.is_empty() {
                                eprintln!("firehose-load: answer {status}: {body}");
                            }
                            mine.push((t.elapsed(), status, r.records));
                        }
                        Err(e) => {
                            eprintln!("firehose-load: request {i}: {e}");
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                results.lock().unwrap().extend(mine);
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let wall = started.elapsed();
    let results = results.lock().unwrap();
    let mut lat: Vec<Duration> = results.iter().map(|r| r.0).collect();
    lat.sort();
    let ok: Vec<_> = results.iter().filter(|r| r.1 == 200).collect();
    let acked: usize = ok.iter().map(|r| r.2).sum();
    let non200 = results.len() - ok.len();
    let rps = acked as f64 / wall.as_secs_f64();
    println!("load_requests={}", results.len());
    println!("load_requests_ok={}", ok.len());
    println!("load_requests_not_200={non200}");
    println!("load_errors={}", errors.load(Ordering::Relaxed));
    println!("load_records_acked={acked}");
    println!("load_seconds={:.3}", wall.as_secs_f64());
    println!("load_records_per_s={rps:.0}");
    println!("load_p50_ms={}", ms(percentile(&lat, 0.50)));
    println!("load_p99_ms={}", ms(percentile(&lat, 0.99)));
    println!(
        "load_max_ms={}",
        ms(lat.last().copied().unwrap_or_default())
    );
    eprintln!(
        "firehose-load: {} requests ({} answered 200), {acked} records in {:.2?}: {rps:.0} records/s, p50 {} ms, p99 {} ms",
        results.len(),
        ok.len(),
        wall,
        ms(percentile(&lat, 0.50)),
        ms(percentile(&lat, 0.99)),
    );

    // Phase 2: each big request alone on a fresh connection.
    for (n, b) in bigs.iter().enumerate() {
        let mut conn = Conn {
            addr: args.addr,
            timeout: args.timeout,
            stream: None,
        };
        let t = Instant::now();
        let r = conn.send(&b.bytes);
        let took = t.elapsed();
        let status = match r {
            Ok((s, body)) => {
                if s != 200 {
                    eprintln!("firehose-load: big request answered {s}: {body}");
                }
                s
            }
            Err(e) => {
                eprintln!("firehose-load: big request failed: {e}");
                0
            }
        };
        println!("big{n}_body_bytes={}", b.body_len);
        println!("big{n}_records={}", b.records);
        println!("big{n}_lines={}", b.lines);
        println!("big{n}_status={status}");
        println!("big{n}_ack_ms={}", ms(took));
        eprintln!(
            "firehose-load: big request {n}: {:.1} MiB body, {} records, {} lines: answered {status} in {} ms",
            b.body_len as f64 / 1048576.0,
            b.records,
            b.lines,
            ms(took)
        );
    }
}
