//! The status page, rendered by a real headless Chromium (Debian `chromium`).

use std::process::Command;

use crate::daemon::{data, sum, Daemon};

fn chromium(args: &[&str], profile: &std::path::Path) -> std::process::Output {
    Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
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
    assert!(first_row.starts_with("<tr><td>ivan</td>"), "{first_row}");
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
