//! Against a real moto server (tests/peers/moto_server.py): a Firehose delivery stream with
//! an HTTP endpoint destination pointing at the daemon, records put directly, and a
//! CloudWatch Logs subscription feeding the same stream.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon::{data, get, sum, Daemon};
use crate::follow::call;

pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = format!("{}/tests/peers/moto_server.py", env!("CARGO_MANIFEST_DIR"));
        let child = Command::new("python3")
            .args([script.as_str(), "-H", "127.0.0.1", "-p", &port.to_string()])
            // moto delivers with python-requests, which honours proxies: keep loopback direct
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 is needed for the moto peer (scripts/test installs moto)");
        let mut moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&addr).is_err() || get(&addr, "/moto-api/").0 != 200 {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto exited ({status}): is moto[server] installed? run scripts/test, which installs it");
            }
            assert!(Instant::now() < deadline, "moto did not come up on {addr}");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn moto_firehose_delivers_direct_puts_and_a_logs_subscription_to_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "moto-test-key-0123456789\n").unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[attribution]\nmetadata_labels = [\"env\"]\n").unwrap();
    let card = data("ratecard.toml");
    let state = dir.path().join("state");
    let d = Daemon::start(&[
        "--config",
        config.to_str().unwrap(),
        "--ratecard",
        &card,
        "--state-dir",
        state.to_str().unwrap(),
        "--firehose-access-key-file",
        keys.to_str().unwrap(),
    ]);
    let moto = Moto::start();

    let direct: String = (0..5)
        .map(|i| call(&format!("moto-direct-{i}"), "m1", 1000))
        .collect();
    let logs: String = (0..4)
        .map(|i| call(&format!("moto-logs-{i}"), "m2", 100))
        .collect();
    std::fs::write(dir.path().join("direct.jsonl"), direct).unwrap();
    std::fs::write(dir.path().join("logs.jsonl"), logs).unwrap();
    let driver = format!(
        "{}/tests/peers/firehose_deliver.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = Command::new("python3")
        .args([
            driver.as_str(),
            &moto.url,
            &format!("http://{}/firehose", d.addr),
            "moto-test-key-0123456789",
            dir.path().join("direct.jsonl").to_str().unwrap(),
            dir.path().join("logs.jsonl").to_str().unwrap(),
        ])
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "driver failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let m = d.wait_for("every record from moto", |m| {
        sum(
            m,
            "bedrock_records_total",
            &["source=\"firehose\"", "result=\"accepted\""],
        ) == 9.0
    });
    assert_eq!(sum(&m, "bedrock_tokens_total", &["user=\"m1\""]), 5000.0);
    assert_eq!(sum(&m, "bedrock_tokens_total", &["user=\"m2\""]), 400.0);
    assert!(
        m.contains(r#"env="moto""#),
        "the stream's common attributes reach the labels"
    );
    assert_eq!(
        sum(&m, "bedrock_firehose_requests_total", &["code=\"401\""]),
        0.0
    );
    assert!(d.stop().success());
}
