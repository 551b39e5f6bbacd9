//! The reading logic on an in-memory bucket, with a stand-in pipeline that commits or
//! refuses: what moto cannot do (deny one prefix, delete an object between list and get).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use super::client::{Body, Listed, Page};
use super::*;
use crate::batch::{Refused, Summary};
use crate::store::StoreError;

const HOUR: i64 = 490_000; // some hour in 2025
const NOW_MS: i64 = (HOUR + 5) * layout::HOUR_MS + 60_000;

#[derive(Clone, Default)]
struct FakeBucket {
    objects: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    /// Listing these prefixes is denied.
    denied: Arc<Mutex<Vec<String>>>,
    /// Listed, but gone by the time they are downloaded.
    vanishing: Arc<Mutex<Vec<String>>>,
    /// Downloads are throttled.
    throttled: Arc<AtomicBool>,
}

impl Bucket for FakeBucket {
    fn name(&self) -> &str {
        "fake"
    }

    async fn list(
        &self,
        prefix: &str,
        delimiter: bool,
        token: Option<String>,
    ) -> Result<Page, Fault> {
        assert!(token.is_none(), "one page here");
        if self
            .denied
            .lock()
            .unwrap()
            .iter()
            .any(|d| prefix.starts_with(d.as_str()))
        {
            return Err(Fault::Denied("AccessDenied: test".into()));
        }
        let mut page = Page::default();
        for k in self.objects.lock().unwrap().keys() {
            let Some(rest) = k.strip_prefix(prefix) else {
                continue;
            };
            match rest.find('/') {
                Some(i) if delimiter => {
                    let p = format!("{prefix}{}", &rest[..=i]);
                    if page.prefixes.last() != Some(&p) {
                        page.prefixes.push(p);
                    }
                }
                _ => page.objects.push(Listed {
                    key: k.clone(),
                    modified_ms: NOW_MS - 1000,
                    size: 1,
                }),
            }
        }
        Ok(page)
    }

    async fn get(&self, key: &str) -> Result<Body, Fault> {
        if self.throttled.load(Ordering::SeqCst) {
            return Err(Fault::Throttled("SlowDown: test".into()));
        }
        if self.vanishing.lock().unwrap().iter().any(|k| k == key) {
            return Err(Fault::Gone);
        }
        let bytes = self
            .objects
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .ok_or(Fault::Gone)?;
        Ok(Body {
            bytes,
            modified_ms: Some(NOW_MS - 1000),
        })
    }
}

fn gz(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

fn key(account: &str, region: &str, hour: i64, name: &str) -> String {
    let p = Partition {
        hour,
        account: account.into(),
        region: region.into(),
    };
    format!("{}{name}", p.key_prefix("logs/"))
}

/// What the stand-in pipeline committed.
#[derive(Default)]
struct Committed {
    /// Batches committed.
    batches: usize,
    lines: usize,
    rejected: Vec<&'static str>,
    checkpoints: HashMap<String, String>,
}

fn pipeline(refuse: Arc<AtomicBool>) -> (mpsc::Sender<Input>, Arc<Mutex<Committed>>) {
    let (tx, mut rx) = mpsc::channel::<Input>(4);
    let got = Arc::new(Mutex::new(Committed::default()));
    let g = got.clone();
    tokio::spawn(async move {
        while let Some(mut i) = rx.recv().await {
            let ack = i.ack.take().unwrap();
            if refuse.load(Ordering::SeqCst) {
                let error = Arc::new(StoreError::Full("test".into()));
                let _ = ack.send(Err(Refused { error, buf: i.buf }));
                continue;
            }
            let mut c = g.lock().unwrap();
            c.batches += 1;
            c.lines += i.lines.len();
            c.rejected.extend(i.rejected.iter().copied());
            for k in &i.drop_checkpoints {
                c.checkpoints.remove(k);
            }
            c.checkpoints.extend(i.checkpoints.iter().cloned());
            let _ = ack.send(Ok(Summary::default()));
        }
    });
    (tx, got)
}

fn source(
    bucket: FakeBucket,
    tx: mpsc::Sender<Input>,
    checkpoints: HashMap<String, String>,
) -> S3Source<FakeBucket> {
    source_at(bucket, tx, checkpoints, NOW_MS)
}

fn source_at(
    bucket: FakeBucket,
    tx: mpsc::Sender<Input>,
    checkpoints: HashMap<String, String>,
    now_ms: i64,
) -> S3Source<FakeBucket> {
    let errors = IntCounterVec::new(prometheus::Opts::new("e", "e"), &["source", "kind"]).unwrap();
    let health = crate::metrics::S3Health::new(&prometheus::Registry::new());
    S3Source {
        bucket,
        prefix: "logs/".into(),
        lookback: Duration::from_secs(2 * 3600),
        poll: Duration::from_secs(60),
        start_ms: (HOUR + 1) * layout::HOUR_MS,
        concurrency: 2,
        batch_bytes: 1 << 20,
        checkpoints,
        tx,
        errors,
        metrics: health.bucket("fake"),
        clock: Clock::fixed(now_ms / 1000),
        progress: false,
        notifications: None,
    }
}

fn errors(s: &S3Source<FakeBucket>, kind: &str) -> u64 {
    s.errors.with_label_values(&[SOURCE, kind]).get()
}

const REC: &str = "{\"requestId\":\"r\"}\n";

#[tokio::test]
async fn bad_objects_are_counted_by_kind_and_the_rest_is_read() {
    let b = FakeBucket::default();
    {
        let mut o = b.objects.lock().unwrap();
        o.insert(
            key("111", "us-east-1", HOUR + 2, "a.json.gz"),
            gz(&REC.repeat(3)),
        );
        o.insert(
            key("111", "us-east-1", HOUR + 2, "data/r_input.json.gz"),
            gz(REC),
        );
        o.insert(
            key("111", "us-east-1", HOUR + 3, "plain.json.gz"),
            REC.as_bytes().to_vec(),
        );
        let cut = gz(&REC.repeat(500));
        o.insert(
            key("111", "us-east-1", HOUR + 3, "cut.json.gz"),
            cut[..cut.len() - 20].to_vec(),
        );
        o.insert(key("111", "eu-west-1", HOUR + 4, "gone.json.gz"), gz(REC));
        o.insert(key("111", "eu-west-1", HOUR + 4, "b.json.gz"), gz(REC));
        o.insert(key("222", "us-east-1", HOUR + 2, "denied.json.gz"), gz(REC));
        // Before the start: not read.
        o.insert(key("111", "us-east-1", HOUR, "old.json.gz"), gz(REC));
    }
    b.vanishing
        .lock()
        .unwrap()
        .push(key("111", "eu-west-1", HOUR + 4, "gone.json.gz"));
    let denied_prefix = Partition {
        hour: HOUR + 2,
        account: "222".into(),
        region: "us-east-1".into(),
    }
    .key_prefix("logs/");
    b.denied.lock().unwrap().push(denied_prefix.clone());
    let (tx, got) = pipeline(Arc::default());
    let mut s = source(b.clone(), tx.clone(), HashMap::new());
    let (mut st, shared) = s.begin();
    let stop = CancellationToken::new();
    s.poll_once(&shared, &mut st, &stop).await.unwrap();

    let (lines, mut rejected) = {
        let c = got.lock().unwrap();
        (c.lines, c.rejected.clone())
    };
    // 3 + 1 good lines, and the whole lines before the cut (some of 500): never the data/ one.
    assert!(lines > 4 && lines < 4 + 500, "{lines}");
    rejected.sort();
    assert_eq!(rejected, ["object_not_gzip", "object_truncated"]);
    for (kind, n) in [
        ("not_gzip", 1),
        ("truncated", 1),
        ("gone", 1),
        ("denied", 1),
        ("commit", 0),
    ] {
        assert_eq!(errors(&s, kind), n, "{kind}");
    }
    // Damaged objects are marked read (reading again cannot help); the gone one is not there.
    let p3 = Partition {
        hour: HOUR + 3,
        account: "111".into(),
        region: "us-east-1".into(),
    };
    assert!(st.is_read(&p3, "plain.json.gz") && st.is_read(&p3, "cut.json.gz"));
    // The denied hour (HOUR + 2) holds the floor there, though the lookback has passed it.
    assert_eq!(st.floor, HOUR + 2);
    assert_eq!(s.metrics.objects.get(), 4);

    // The next poll reads nothing again; once the prefix is allowed, its object is read and
    // the floor moves to the first hour still inside the lookback, pruning the rows before.
    s.poll_once(&shared, &mut st, &stop).await.unwrap();
    assert_eq!(s.metrics.objects.get(), 4);
    assert_eq!(errors(&s, "denied"), 2, "counted every time, logged once");
    b.denied.lock().unwrap().clear();
    s.poll_once(&shared, &mut st, &stop).await.unwrap();
    assert_eq!(s.metrics.objects.get(), 5);
    assert_eq!(st.floor, HOUR + 3);
    let c = got.lock().unwrap();
    let rows: Vec<&String> = c.checkpoints.keys().filter(|k| k.contains('|')).collect();
    assert!(
        rows.iter().all(|k| !k.ends_with("/02")),
        "hour +2 pruned: {rows:?}"
    );
    assert!(c.checkpoints.contains_key("s3:fake/logs/"));
}

#[tokio::test]
async fn an_account_whose_regions_cannot_be_listed_holds_the_floor_and_the_rest_goes_on() {
    let b = FakeBucket::default();
    for a in ["111", "222"] {
        b.objects
            .lock()
            .unwrap()
            .insert(key(a, "us-east-1", HOUR + 1, "a.json.gz"), gz(REC));
    }
    b.denied
        .lock()
        .unwrap()
        .push(layout::regions_prefix("logs/", "222"));
    let (tx, got) = pipeline(Arc::default());
    let mut s = source(b.clone(), tx, HashMap::new());
    let (mut st, shared) = s.begin();
    let stop = CancellationToken::new();
    s.poll_once(&shared, &mut st, &stop).await.unwrap();
    assert_eq!(got.lock().unwrap().lines, 1, "account 111 is read");
    assert_eq!(errors(&s, "denied"), 1);
    assert_eq!(st.floor, HOUR + 1, "the floor waits for account 222");
    b.denied.lock().unwrap().clear();
    s.poll_once(&shared, &mut st, &stop).await.unwrap();
    assert_eq!(got.lock().unwrap().lines, 2);
    assert_eq!(st.floor, HOUR + 3);
}

#[tokio::test]
async fn a_refused_commit_reads_the_objects_again_and_a_restart_does_not() {
    let b = FakeBucket::default();
    b.objects.lock().unwrap().insert(
        key("111", "us-east-1", HOUR + 4, "a.json.gz"),
        gz(&REC.repeat(2)),
    );
    let refuse = Arc::new(AtomicBool::new(true));
    let (tx, got) = pipeline(refuse.clone());
    let mut s = source(b.clone(), tx.clone(), HashMap::new());
    let (mut st, shared) = s.begin();
    let stop = CancellationToken::new();
    // The floor's own commit is refused too: the poll fails (and backs off).
    let r = s.poll_once(&shared, &mut st, &stop).await;
    assert!(matches!(r, Err(PollError::Commit)), "{r:?}");
    assert_eq!(errors(&s, "commit"), 1);
    assert_eq!(got.lock().unwrap().lines, 0);
    assert_eq!(st.floor, HOUR + 1, "a failed partition holds the floor");
    refuse.store(false, Ordering::SeqCst);
    s.poll_once(&shared, &mut st, &stop).await.unwrap();
    assert_eq!(got.lock().unwrap().lines, 2);

    // A restart from the committed checkpoints reads nothing twice.
    let cps = got.lock().unwrap().checkpoints.clone();
    let mut again = source(b, tx, cps);
    let (mut st, shared) = again.begin();
    again.poll_once(&shared, &mut st, &stop).await.unwrap();
    assert_eq!(got.lock().unwrap().lines, 2);
    assert_eq!(again.metrics.objects.get(), 0);
}

#[tokio::test]
async fn notified_objects_are_read_once_and_answer_whether_to_delete() {
    let b = FakeBucket::default();
    let k = key("111", "us-east-1", HOUR + 5, "n.json.gz");
    b.objects.lock().unwrap().insert(k.clone(), gz(REC));
    let (tx, got) = pipeline(Arc::default());
    let mut s = source(b.clone(), tx, HashMap::new());
    let (mut st, shared) = s.begin();
    let stop = CancellationToken::new();
    let data = key("111", "us-east-1", HOUR + 5, "data/x.json.gz");
    assert!(
        s.notified(&shared, &mut st, vec![k.clone(), k.clone(), data], &stop)
            .await
    );
    assert!(
        s.notified(&shared, &mut st, vec![k.clone()], &stop).await,
        "a repeat is done"
    );
    assert_eq!(got.lock().unwrap().lines, 1);
    // An object already gone leaves nothing to retry: the message can go.
    let gone = key("111", "us-east-1", HOUR + 5, "gone.json.gz");
    assert!(s.notified(&shared, &mut st, vec![gone], &stop).await);
    // A throttled download is to be retried: the message must stay.
    let g = key("111", "us-east-1", HOUR + 5, "g.json.gz");
    b.objects.lock().unwrap().insert(g.clone(), gz(REC));
    b.throttled.store(true, Ordering::SeqCst);
    assert!(!s.notified(&shared, &mut st, vec![g.clone()], &stop).await);
    assert_eq!(errors(&s, "throttled"), 1);
    b.throttled.store(false, Ordering::SeqCst);
    assert!(s.notified(&shared, &mut st, vec![g], &stop).await);
    assert_eq!(got.lock().unwrap().lines, 2);
    // The listing afterwards finds both read.
    s.poll_once(&shared, &mut st, &stop).await.unwrap();
    assert_eq!(got.lock().unwrap().lines, 2);
}

#[tokio::test]
async fn an_hour_that_stays_unreadable_is_given_up_a_day_after_its_lookback() {
    let b = FakeBucket::default();
    let p = Partition {
        hour: HOUR + 2,
        account: "111".into(),
        region: "us-east-1".into(),
    };
    b.objects
        .lock()
        .unwrap()
        .insert(key("111", "us-east-1", HOUR + 2, "a.json.gz"), gz(REC));
    b.denied.lock().unwrap().push(p.key_prefix("logs/"));
    let (tx, _got) = pipeline(Arc::default());
    let stop = CancellationToken::new();
    let mut s = source(b.clone(), tx.clone(), HashMap::new());
    let (mut st, shared) = s.begin();
    s.poll_once(&shared, &mut st, &stop).await.unwrap();
    assert_eq!(st.floor, HOUR + 2);
    // 20 hours later: still retried.
    let later = source_at(
        b.clone(),
        tx.clone(),
        HashMap::new(),
        NOW_MS + 20 * layout::HOUR_MS,
    );
    later.poll_once(&shared, &mut st, &stop).await.unwrap();
    assert_eq!(st.floor, HOUR + 2);
    assert_eq!(errors(&s, "abandoned"), 0);
    // 30 hours later (lookback 2 h + a day passed): given up, counted and logged.
    let much_later = source_at(b, tx, HashMap::new(), NOW_MS + 30 * layout::HOUR_MS);
    much_later.poll_once(&shared, &mut st, &stop).await.unwrap();
    assert!(st.floor > HOUR + 2, "{}", st.floor);
    assert_eq!(errors(&s, "abandoned"), 1);
}

/// A batch closes once it holds `batch_bytes` of decompressed lines (whole objects): nine
/// objects of about 0.4 MiB in one partition make one batch per three objects with 1 MiB
/// batches (SQLite's), one batch with 4 MiB (PostgreSQL's), every line once either way.
#[tokio::test]
async fn batches_close_at_the_configured_size() {
    let line = format!("{}\n", REC.trim_end());
    let per_object = (400 << 10) / line.len();
    for (batch_bytes, batches) in [(1 << 20, 3), (4 << 20, 1)] {
        let b = FakeBucket::default();
        for i in 0..9 {
            b.objects.lock().unwrap().insert(
                key("111", "us-east-1", HOUR + 4, &format!("{i:02}.json.gz")),
                gz(&line.repeat(per_object)),
            );
        }
        let (tx, got) = pipeline(Arc::new(AtomicBool::new(false)));
        let mut s = source(b, tx, HashMap::new());
        s.batch_bytes = batch_bytes;
        let (mut st, shared) = s.begin();
        s.poll_once(&shared, &mut st, &CancellationToken::new())
            .await
            .unwrap();
        let got = got.lock().unwrap();
        assert_eq!(got.lines, 9 * per_object, "{batch_bytes}");
        // the floor's own checkpoint commit comes on top
        assert_eq!(got.batches - 1, batches, "{batch_bytes}");
    }
}
