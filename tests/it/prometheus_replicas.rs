//! Several replicas behind one Prometheus job, as on one shared PostgreSQL store: every replica
//! exposes the same global totals. Three daemons that each count the same input files fully
//! expose exactly that. The recording rules and the dashboard must give the true totals (one
//! daemon's, not three times them), every panel but those of a PostgreSQL store's metrics must
//! still have data, and the values must hold when one replica stops. Two replicas on a real
//! PostgreSQL store fill every panel, those too.

use std::time::{Duration, Instant};

use crate::daemon::{append, sum, Daemon};
use crate::prometheus::{
    assert_empty_panels, calls_now, dashboard, dashboard_problems, expand, fixture, post_firehose,
    query, start_fixture_daemon, start_fixture_daemon_on, start_prometheus_with, Prometheus,
    FIXTURE_RECORDS, POSTGRES_ONLY, POSTGRES_ONLY_LIST,
};
use crate::support::postgres::Server;

/// The dashboard's expression of the panel with this title (first target).
fn panel_expr(title: &str) -> String {
    let dashboard = dashboard();
    let panel = (dashboard["panels"].as_array().unwrap().iter())
        .find(|p| p["title"] == title)
        .unwrap_or_else(|| panic!("no panel titled {title:?}"));
    expand(panel["targets"][0]["expr"].as_str().unwrap())
}

/// The result of an instant query: each series' value by the given label ("" for none).
fn values(prom: &Prometheus, q: &str, label: &str) -> Vec<(String, f64)> {
    let r = query(&prom.addr, q);
    assert_eq!(r["status"], "success", "{q}: {r}");
    let mut v: Vec<(String, f64)> = (r["data"]["result"].as_array().unwrap().iter())
        .map(|s| {
            let key = s["metric"][label].as_str().unwrap_or("").to_string();
            (key, s["value"][1].as_str().unwrap().parse().unwrap())
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Polls an instant query until `done` holds for its first value (Prometheus answers 503
/// while it starts).
fn wait_until(prom: &Prometheus, q: &str, done: impl Fn(f64) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = query(&prom.addr, q);
        let first = r["data"]["result"][0]["value"][1].as_str();
        if first.and_then(|v| v.parse().ok()).is_some_and(&done) {
            return;
        }
        assert!(Instant::now() < deadline, "{q} never held: {r}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Checks each series of a per-user or per-feature result against the appended spend of its
/// key; keys the appended calls did not touch (from the fixture's other records) must show 0.
fn assert_each(what: &str, got: &[(String, f64)], keys: &[String], want: &[f64]) {
    for (key, v) in got {
        match keys.iter().position(|k| k == key) {
            Some(i) => assert_close(&format!("{what}, {key}"), *v, want[i]),
            None => assert_eq!(*v, 0.0, "{what}, {key}: nothing was appended for it"),
        }
    }
}

/// `got` is `want` within the extrapolation of rate()/increase() at window edges (a few
/// percent over a window of a few seconds of samples): clearly not 3x.
fn assert_close(what: &str, got: f64, want: f64) {
    assert!(
        want > 0.0 && got >= want * 0.95 && got <= want * 1.25,
        "{what}: {got}, expected about {want} (one replica's value)"
    );
}

/// Per-label deltas of a metric between two scrapes of one daemon.
fn deltas(before: &str, after: &str, name: &str, label: &str, keys: &[String]) -> Vec<f64> {
    (keys.iter())
        .map(|k| {
            let part = format!("{label}=\"{k}\"");
            sum(after, name, &[&part]) - sum(before, name, &[&part])
        })
        .collect()
}

/// A Prometheus job scraping every daemon, once each has been scraped a few times (rates
/// need a few scrapes).
fn scrape_all(daemons: &[Daemon]) -> Prometheus {
    let targets = (daemons.iter().map(|d| format!("'{}'", d.addr)))
        .collect::<Vec<_>>()
        .join(", ");
    let prom = start_prometheus_with(&format!(
        "scrape_configs:\n  - job_name: bedrock-cost-exporter\n    static_configs: [{{targets: [{targets}]}}]\n"
    ));
    let n = daemons.len() as f64;
    wait_until(
        &prom,
        "count(count_over_time(bedrock_build_info[1m]) >= 5)",
        |scraped| scraped == n,
    );
    prom
}

#[test]
fn three_replicas_exposing_the_same_totals_give_the_true_totals_also_with_one_stopped() {
    let f = fixture();
    let daemons: Vec<Daemon> = ["state-a", "state-b", "state-c"]
        .iter()
        .map(|s| start_fixture_daemon(&f, s))
        .collect();
    post_firehose(&daemons[0].addr);
    let prom = scrape_all(&daemons);

    // New spend after Prometheus has history, so rate() and increase() see it; all three
    // replicas count it (as all replicas read the new totals from the shared store).
    let before = daemons[0].metrics();
    append(&f.live, &calls_now(100, 24));
    let total = FIXTURE_RECORDS + 24.0;
    let after: Vec<String> = (daemons.iter())
        .map(|d| {
            d.wait_for("the appended calls", |m| {
                sum(m, "bedrock_records_total", &[]) == total
            })
        })
        .collect();
    assert!(
        after
            .windows(2)
            .all(|w| sum(&w[0], "bedrock_user_cost_usd_total", &[])
                == sum(&w[1], "bedrock_user_cost_usd_total", &[])),
        "the three daemons should expose the same totals"
    );
    wait_until(
        &prom,
        &format!("count(sum by (instance) (bedrock_records_total) == {total})"),
        |n| n == 3.0,
    );
    // A few more scrapes and rule evaluations after the step.
    std::thread::sleep(Duration::from_secs(4));

    let users: Vec<String> = (0..12).map(|i| format!("user-{i}")).collect();
    let features: Vec<String> = (0..4).map(|i| format!("f{i}")).collect();
    let user_delta = deltas(
        &before,
        &after[0],
        "bedrock_user_cost_usd_total",
        "user",
        &users,
    );
    let feature_delta = deltas(
        &before,
        &after[0],
        "bedrock_feature_cost_usd_total",
        "feature",
        &features,
    );
    let spend: f64 = user_delta.iter().sum();
    let check = |when: &str| {
        let in_range = values(
            &prom,
            &panel_expr("Spend in selected time range, selected users"),
            "",
        );
        assert_close(&format!("{when}: spend in range"), in_range[0].1, spend);
        let top_users = values(&prom, &panel_expr("Top 10 users (selected range)"), "user");
        assert_eq!(top_users.len(), 10, "{when}: {top_users:?}");
        assert_each(
            &format!("{when}: top users"),
            &top_users,
            &users,
            &user_delta,
        );
        let top_features = values(
            &prom,
            &panel_expr("Top 10 features (selected range)"),
            "feature",
        );
        assert!(top_features.len() >= 4, "{when}: {top_features:?}");
        let what = format!("{when}: top features");
        assert_each(&what, &top_features, &features, &feature_delta);
        // The recording rules: rate over the last hour in $/h, which is the increase.
        let rate1h = values(&prom, "user:bedrock_cost_usd_per_hour:rate1h", "user");
        assert!(rate1h.len() >= 12, "{when}: {rate1h:?}");
        assert_each(&format!("{when}: rate1h"), &rate1h, &users, &user_delta);
        let feature_rate = values(&prom, "feature:bedrock_cost_usd_per_hour:rate1h", "feature");
        assert!(feature_rate.len() >= 4, "{when}: {feature_rate:?}");
        let what = format!("{when}: feature rate1h");
        assert_each(&what, &feature_rate, &features, &feature_delta);
        // Levels are exact: each budget once, at one replica's ratio.
        let ratios = values(
            &prom,
            "bedrock_budget:spend_ratio{budget=\"per-team\"}",
            "subject",
        );
        assert_eq!(ratios.len(), 3, "{when}: {ratios:?}");
        for (team, v) in &ratios {
            let spent = sum(
                &after[0],
                "bedrock_budget_spend_usd",
                &[&format!("subject=\"{team}\"")],
            );
            assert!(
                (v - spent / 1000.0).abs() < 1e-9,
                "{when}: {team}: {v} vs {spent}/1000"
            );
        }
        // Each daemon has its own SQLite store: nothing to refresh or fold.
        assert_empty_panels(when, &dashboard_problems(&prom), &[POSTGRES_ONLY_LIST]);
    };
    // Without max across replicas, the same sum is three times the truth: the three really
    // are scraped as one job.
    let naive = values(&prom, "sum(increase(bedrock_user_cost_usd_total[1h]))", "");
    assert_close(
        "the naive sum over three replicas / 3",
        naive[0].1 / 3.0,
        spend,
    );
    check("three replicas up");

    // One replica stops: Prometheus marks it down, the values stay.
    let mut daemons = daemons;
    let stopped = daemons.pop().unwrap();
    let stopped_addr = stopped.addr.clone();
    assert!(stopped.stop().success());
    wait_until(&prom, &format!("up{{instance=\"{stopped_addr}\"}}"), |up| {
        up == 0.0
    });
    std::thread::sleep(Duration::from_secs(3));
    check("one replica stopped");

    drop(prom);
    for d in daemons {
        assert!(d.stop().success());
    }
}

/// Two replicas of the fixture on one real PostgreSQL store: every panel has data, those of
/// [`POSTGRES_ONLY`] too, each per replica but the journal's age (the database's, shown once).
#[test]
fn two_replicas_on_postgres_fill_every_dashboard_panel_the_postgres_only_ones_too() {
    let server = Server::start();
    let url = server.database();
    let f = fixture();
    let store = ["--store", url.as_str()];
    // One after the other: the second starts from the totals and the files' checkpoints the
    // first committed to the shared store, so it counts nothing again (started together,
    // both would read some records, how many depending on which commits first).
    let daemons = [
        start_fixture_daemon_on(&f, &store),
        start_fixture_daemon_on(&f, &store),
    ];
    post_firehose(&daemons[0].addr);
    let prom = scrape_all(&daemons);

    assert_empty_panels(
        "two replicas on PostgreSQL",
        &dashboard_problems(&prom),
        &[],
    );
    let [refresh_age, journal_age, refresh_errors, fold_errors] = POSTGRES_ONLY.map(|title| {
        let v = values(&prom, &panel_expr(title), "instance");
        assert!(v.iter().all(|(_, x)| x.is_finite()), "{title}: {v:?}");
        v
    });
    let mut replicas: Vec<String> = daemons.iter().map(|d| d.addr.clone()).collect();
    replicas.sort();
    // The replicas a result has series of (`values` sorts by instance).
    let instances = |v: &[(String, f64)]| {
        let mut i: Vec<String> = v.iter().map(|(k, _)| k.clone()).collect();
        i.dedup();
        i
    };
    // Both refreshed within the last seconds (once a second).
    assert_eq!(instances(&refresh_age), replicas, "{refresh_age:?}");
    assert!(
        refresh_age.iter().all(|(_, s)| *s < 10.0),
        "{refresh_age:?}"
    );
    // One value for the database, not one per replica; folds keep up (due at 10 s).
    assert_eq!(journal_age.len(), 1, "{journal_age:?}");
    assert!(journal_age[0].1 < 60.0, "{journal_age:?}");
    // Per replica: io, corrupt and disk_full each, all at 0.
    assert_eq!(refresh_errors.len(), 6, "{refresh_errors:?}");
    assert_eq!(instances(&refresh_errors), replicas, "{refresh_errors:?}");
    assert_eq!(instances(&fold_errors), replicas, "{fold_errors:?}");
    assert_eq!(fold_errors.len(), 2, "{fold_errors:?}");
    for (what, v) in [("refresh", &refresh_errors), ("fold", &fold_errors)] {
        assert!(v.iter().all(|(_, x)| *x == 0.0), "{what} errors: {v:?}");
    }

    drop(prom);
    for d in daemons {
        assert!(d.stop().success());
    }
}
