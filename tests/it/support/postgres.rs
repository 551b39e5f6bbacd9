//! A throwaway PostgreSQL server for a test (`tests/peers/postgres.sh`): started on a free
//! loopback port, stopped and deleted when the test binary exits. Missing binaries fail the
//! test (run scripts/install-peers.sh); they never skip it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct Server {
    pub dir: PathBuf,
    pub port: u16,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/postgres.sh")
}

impl Server {
    pub fn start() -> Server {
        Server::run("start")
    }

    /// With ssl=on, and a certificate for `localhost` signed by `dir/tls/ca.pem` (see the
    /// script).
    pub fn start_tls() -> Server {
        Server::run("start-tls")
    }

    fn run(command: &str) -> Server {
        // Kept: the script's watcher deletes it when this process exits.
        let dir = tempfile::tempdir().unwrap().keep();
        // The server may run as another user (root cannot): it must reach its directory.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = Command::new("bash")
            .arg(script())
            .arg(command)
            .arg(&dir)
            .arg(std::process::id().to_string())
            .output()
            .expect("run tests/peers/postgres.sh");
        assert!(
            out.status.success(),
            "cannot start PostgreSQL (run scripts/install-peers.sh): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        Server { dir, port }
    }

    /// `stop` or `restart` (same port) through the script.
    pub fn ctl(&self, action: &str) {
        let ok = Command::new("bash")
            .arg(script())
            .arg(action)
            .arg(&self.dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "postgres.sh {action} failed");
    }

    /// A new, empty database's URL.
    pub fn database(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("it{}", N.fetch_add(1, Ordering::Relaxed));
        let url = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}
