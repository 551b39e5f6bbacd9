//! The status page, rendered by a real headless Chromium (Debian `chromium`).

use std::process::Command;

use crate::daemon::{data, sum, Daemon};

fn chromium(args: &[&str], profile: &std::path::Path) -> std::process::Output {
    Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking", "--disable-component-update"])
        .args(["--no-first-run", "--disable-sync", "--hide-scrollbars"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium is not installed: run scripts/test, which installs the Debian `chromium` package")
}

#[test]
fn the_status_page_renders_its_tables_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[[budgets]]\nname = \"per-user\"\nlabel = \"user\"\nmonthly_usd = \"50\"\n",
    )
    .unwrap();
    let (card, shapes) = (data("ratecard.toml"), data("shapes.jsonl"));
    let d = Daemon::start(&[
        "--config",
        config.to_str().unwrap(),
        "--ratecard",
        &card,
        "--file",
        &shapes,
        "--in-memory",
    ]);
    d.wait_for("the shapes", |m| {
        sum(m, "bedrock_records_total", &[]) == 23.0
    });
    let url = format!("http://{}/", d.addr);

    let out = chromium(&["--dump-dom", &url], &dir.path().join("profile-1"));
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("<table id=\"top-user\">"),
        "no user table in the rendered DOM:\n{dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ivan's long-context call is the largest spend in the fixtures
    let first_row = dom
        .split("<table id=\"top-user\">")
        .nth(1)
        .and_then(|t| t.split("<tbody>").nth(1))
        .unwrap_or("");
    assert!(
        first_row.starts_with("<tr><td><a href=\"/?user=ivan\">ivan</a></td>"),
        "{first_row}"
    );
    for id in ["top-feature", "budgets", "ratecards", "pipeline"] {
        assert!(
            dom.contains(&format!("<table id=\"{id}\">")),
            "no {id} table"
        );
    }

    let shot = dir.path().join("status.png");
    let out = chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,1000",
            &url,
        ],
        &dir.path().join("profile-2"),
    );
    assert!(
        shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let channels = info.color_type.samples();
    let px: Vec<&[u8]> = pixels[..info.buffer_size()].chunks(channels).collect();
    // The share bars (#3572b0) only exist if the spender tables were laid out and painted.
    let bars = px
        .iter()
        .filter(|p| {
            (p[0] as i32 - 0x35).abs() < 12
                && (p[1] as i32 - 0x72).abs() < 12
                && (p[2] as i32 - 0xb0).abs() < 12
        })
        .count();
    let ink = px
        .iter()
        .filter(|p| p[0] < 100 && p[1] < 100 && p[2] < 100)
        .count();
    assert!(bars > 200, "the spend bars did not render ({bars} pixels)");
    assert!(ink > 5_000, "hardly any text rendered ({ink} dark pixels)");
    if let Ok(keep) = std::env::var("KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
    assert!(d.stop().success());
}

/// Records of the last ten hours up to `now`, one every two minutes: alice ramping up, bob
/// flat.
fn recent_records(now: i64) -> String {
    let mut out = String::new();
    // up to `now` itself, so the current month (and its budget burn) always has spend
    for k in 0..300i64 {
        let at = now - 35_880 + k * 120;
        let ts = bedrock_cost_exporter::timefmt::format_rfc3339(at);
        for (user, feature, tokens) in [
            ("alice", "chat", 2_000 + 400 * k),
            ("bob@example.com", "search", 5_000),
        ] {
            out.push_str(&format!(
                r#"{{"timestamp":"{ts}","requestId":"r-{user}-{k}","region":"us-east-1","operation":"Converse","modelId":"amazon.nova-lite-v1:0","input":{{"inputTokenCount":{tokens}}},"output":{{"outputTokenCount":500}},"requestMetadata":{{"user":"{user}","feature":"{feature}"}}}}"#
            ));
            out.push('\n');
        }
    }
    out
}

/// The `d` attributes of the `<path>`s of the chart with this id.
fn chart_paths(dom: &str, id: &str) -> Vec<String> {
    let Some(svg) = dom.split(&format!("<svg id=\"{id}\"")).nth(1) else {
        return Vec::new();
    };
    let svg = svg.split("</svg>").next().unwrap_or("");
    (svg.split("<path d=\"").skip(1))
        .map(|p| p.split('"').next().unwrap_or("").to_string())
        .collect()
}

/// Commands (M, L) of a path.
fn commands(d: &str) -> usize {
    d.matches(['M', 'L']).count()
}

/// Takes a screenshot at `width` x `height` and checks it is a PNG with chart ink in it
/// (the first line colour, #3572b0); returns the file.
pub fn screenshot(
    url: &str,
    width: u32,
    height: u32,
    out: &std::path::Path,
    profile: &std::path::Path,
) -> std::path::PathBuf {
    let result = chromium(
        &[
            &format!("--screenshot={}", out.display()),
            &format!("--window-size={width},{height}"),
            url,
        ],
        profile,
    );
    assert!(
        out.exists(),
        "no screenshot of {url}: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    let bytes = std::fs::read(out).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), (width, height));
    let channels = info.color_type.samples();
    let blue = pixels[..info.buffer_size()]
        .chunks(channels)
        .filter(|p| {
            (p[0] as i32 - 0x35).abs() < 16
                && (p[1] as i32 - 0x72).abs() < 16
                && (p[2] as i32 - 0xb0).abs() < 16
        })
        .count();
    assert!(
        blue > 100,
        "no chart line painted in {} ({blue} pixels)",
        out.display()
    );
    out.to_path_buf()
}

#[test]
fn spend_over_time_draws_in_a_browser_for_the_overview_and_one_user() {
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let logs = dir.path().join("recent.jsonl");
    std::fs::write(&logs, recent_records(now)).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[[budgets]]\nname = \"per-user\"\nlabel = \"user\"\nmonthly_usd = \"0.5\"\n",
    )
    .unwrap();
    let d = Daemon::start(&[
        "--config",
        config.to_str().unwrap(),
        "--file",
        logs.to_str().unwrap(),
        "--in-memory",
    ]);
    d.wait_for("the records", |m| {
        sum(m, "bedrock_records_total", &[]) == 600.0
    });
    // The bundled card is reported as bundled, with its digest, not as a path that exists
    // only in the source tree.
    let log = d.log.lock().unwrap().join("\n");
    assert!(
        log.contains("rate card 2026-11-30 (bundled, sha256 "),
        "{log}"
    );
    assert!(!log.contains("loaded from ratecards/"), "{log}");
    let base = format!("http://{}/", d.addr);

    let out = chromium(&["--dump-dom", &base], &dir.path().join("p1"));
    let dom = String::from_utf8_lossy(&out.stdout);
    for id in [
        "chart-hour",
        "chart-minute",
        "chart-top-user",
        "chart-top-feature",
    ] {
        let paths = chart_paths(&dom, id);
        assert!(!paths.is_empty(), "no path in {id}:\n{dom}");
        assert!(paths.iter().all(|p| commands(p) > 2), "{id}: {paths:?}");
    }
    let minutes = chart_paths(&dom, "chart-minute");
    assert!(
        commands(&minutes[0]) >= 500,
        "a point a minute over ten hours"
    );
    assert_eq!(
        chart_paths(&dom, "chart-top-user").len(),
        2,
        "alice and bob"
    );
    assert_eq!(
        chart_paths(&dom, "chart-burn").len(),
        3,
        "spend, projection, budget"
    );
    assert!(dom.contains("<a href=\"/?user=bob%40example.com\">bob@example.com</a>"));
    let cards = dom.split("<table id=\"ratecards\">").nth(1).unwrap_or("");
    assert!(cards.contains("<td>bundled</td>"), "{cards}");

    let alice = format!("{base}?user=alice");
    let out = chromium(&["--dump-dom", &alice], &dir.path().join("p2"));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.contains("<h1 id=\"subject\">user alice</h1>"),
        "{page}"
    );
    let hours = chart_paths(&page, "chart-hour");
    assert_eq!(hours.len(), 1);
    assert!(commands(&chart_paths(&page, "chart-minute")[0]) >= 500);
    assert_eq!(chart_paths(&page, "chart-burn").len(), 3, "alice's budget");

    // An unknown subject, or a hostile one: a plain page saying so, never a 500.
    let (status, body) = d.get("/?feature=%3Cscript%3Enope");
    assert_eq!(status, 200);
    assert!(body.contains("id=\"no-data\"") && body.contains("&lt;script&gt;nope"));
    assert!(!body.contains("<script>"));
    let (status, body) = d.get("/?user=%ZZ");
    assert_eq!(status, 200, "a bad escape is taken as written");
    assert!(body.contains("id=\"no-data\"") && body.contains("user %ZZ"));

    // Screenshots of both views, desktop and phone width.
    let shots = [
        (base.as_str(), 1280, 2400, "status-overview.png"),
        (alice.as_str(), 1280, 1600, "status-user.png"),
        (base.as_str(), 390, 3000, "status-overview-phone.png"),
    ];
    for (i, (url, w, h, name)) in shots.into_iter().enumerate() {
        let profile = dir.path().join(format!("shot-{i}"));
        screenshot(url, w, h, &dir.path().join(name), &profile);
    }
    assert!(d.stop().success());
}

#[test]
fn the_demo_page_has_budgets_history_and_labels_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::spawn(&["demo", "--listen", "127.0.0.1:0", "--rate", "5"]);
    // the examples (60) and 35 days of history, one call every two minutes
    let m = d.wait_for("the demo's history", |m| {
        sum(m, "bedrock_records_total", &[]) > 25_200.0
    });
    for label in ["team", "experiment"] {
        assert!(
            sum(
                &m,
                "bedrock_label_cost_usd_total",
                &[&format!("label=\"{label}\"")]
            ) > 0.0,
            "no {label} spend"
        );
    }
    assert!(sum(&m, "bedrock_budget_usd", &[]) > 0.0, "no budget");
    assert!(
        sum(&m, "bedrock_folded_cost_usd_total", &[]) > 0.0,
        "nothing folded"
    );
    assert!(sum(&m, "bedrock_records_total", &["result=\"duplicate\""]) >= 3.0);
    assert!(sum(&m, "bedrock_unpriced_invocations_total", &[]) > 0.0);
    let base = format!("http://{}/", d.addr);
    let out = chromium(&["--dump-dom", &base], &dir.path().join("p1"));
    let dom = String::from_utf8_lossy(&out.stdout);
    let budgets = dom.split("<table id=\"budgets\">").nth(1).unwrap_or("");
    assert!(budgets.contains("<td>per-user</td>"), "{budgets}");
    assert!(budgets.contains("<td>assistants-team</td>"), "{budgets}");
    assert_eq!(
        chart_paths(&dom, "chart-burn").len(),
        3,
        "spend, projection, budget"
    );
    // hours over 35 days, days rebuilt or not, the top users (alice ramping up) as lines
    assert!(commands(&chart_paths(&dom, "chart-hour")[0]) > 800);
    assert!(commands(&chart_paths(&dom, "chart-day")[0]) > 30);
    assert!(chart_paths(&dom, "chart-top-user").len() >= 4);
    assert!(chart_paths(&dom, "chart-top-feature").len() >= 4);
    let alice = format!("{base}?user=alice");
    let out = chromium(&["--dump-dom", &alice], &dir.path().join("p2"));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        commands(&chart_paths(&page, "chart-hour")[0]) > 800,
        "{page}"
    );
    assert_eq!(chart_paths(&page, "chart-burn").len(), 3, "alice's budget");

    let shots = [
        (base.as_str(), 1280, 2600, "status-overview.png"),
        (alice.as_str(), 1280, 1500, "status-user.png"),
        (base.as_str(), 390, 3600, "status-phone.png"),
    ];
    for (i, (url, w, h, name)) in shots.into_iter().enumerate() {
        let profile = dir.path().join(format!("shot-{i}"));
        let png = screenshot(url, w, h, &dir.path().join(name), &profile);
        // scripts/screenshots keeps them for the README
        if let Ok(keep) = std::env::var("SCREENSHOT_DIR") {
            std::fs::create_dir_all(&keep).unwrap();
            std::fs::copy(&png, std::path::Path::new(&keep).join(name)).unwrap();
        }
    }
    assert!(d.stop().success());
}

/// The y of a path's points (the second number of each command).
fn ys(d: &str) -> Vec<f64> {
    (d.split(['M', 'L']).filter(|p| !p.is_empty()))
        .filter_map(|p| p.split(' ').nth(1)?.parse().ok())
        .collect()
}

#[test]
fn after_a_restart_the_days_are_rebuilt_from_the_store_and_the_hours_start_again() {
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let logs = dir.path().join("recent.jsonl");
    std::fs::write(&logs, recent_records(now)).unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    let d = Daemon::start(&["--file", logs.to_str().unwrap(), "--state-dir", state]);
    d.wait_for("the records", |m| {
        sum(m, "bedrock_records_total", &[]) == 600.0
    });
    let (_, before) = d.get("/");
    assert!(d.stop().success());
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let d = Daemon::start(&["--file", empty.to_str().unwrap(), "--state-dir", state]);
    let (_, after) = d.get("/");
    let day = |page: &str| chart_paths(page, "chart-day");
    let legend = |page: &str, id: &str| {
        let rest = page
            .split(&format!("<svg id=\"{id}\""))
            .nth(1)
            .unwrap_or("");
        let rest = rest.split("<span class=\"n\">").nth(1).unwrap_or("");
        rest.split('<').next().unwrap_or("").to_string()
    };
    // Per day: the same line and total as before the restart.
    assert_eq!(day(&after), day(&before));
    assert!(
        ys(&day(&after)[0]).iter().any(|y| *y < 196.0),
        "spend drawn"
    );
    assert_eq!(legend(&after, "chart-day"), legend(&before, "chart-day"));
    assert!(
        legend(&after, "chart-day").starts_with("$0.")
            || legend(&after, "chart-day").starts_with("$1")
    );
    // Per hour: nothing yet (the store keeps no time of day).
    let hours = chart_paths(&after, "chart-hour");
    assert!(ys(&hours[0]).iter().all(|y| *y == 196.0), "{hours:?}");
    assert!(d.stop().success());
}
