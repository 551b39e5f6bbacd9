//! JSON-lines file sink with size-based rotation: `file` → `file.1` → … → `file.<keep>`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use prometheus::IntCounterVec;
use tokio::sync::mpsc;

pub const NAME: &str = "jsonl";

pub struct JsonlSink {
    pub path: PathBuf,
    pub max_bytes: u64,
    pub keep: usize,
}

struct Open {
    file: File,
    size: u64,
}

fn open(path: &Path) -> std::io::Result<Open> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let size = file.metadata()?.len();
    Ok(Open { file, size })
}

impl JsonlSink {
    fn rotate(&self) -> std::io::Result<()> {
        let name = |n: usize| PathBuf::from(format!("{}.{n}", self.path.display()));
        let _ = std::fs::remove_file(name(self.keep));
        for n in (1..self.keep).rev() {
            if name(n).exists() {
                std::fs::rename(name(n), name(n + 1))?;
            }
        }
        std::fs::rename(&self.path, name(1))
    }

    /// Writes rows as they come until every sender is gone. Blocking: run on its own thread.
    pub fn run(self, mut rx: mpsc::Receiver<Vec<u8>>, counts: IntCounterVec) {
        let mut current = None::<Open>;
        while let Some(row) = rx.blocking_recv() {
            let written = (|| -> std::io::Result<()> {
                if current
                    .as_ref()
                    .is_some_and(|o| o.size > 0 && o.size + row.len() as u64 + 1 > self.max_bytes)
                {
                    current = None;
                    self.rotate()?;
                }
                if current.is_none() {
                    current = Some(open(&self.path)?);
                }
                let o = current.as_mut().expect("opened above");
                o.file.write_all(&row)?;
                o.file.write_all(b"\n")?;
                o.size += row.len() as u64 + 1;
                Ok(())
            })();
            match written {
                Ok(()) => counts.with_label_values(&[NAME, "sent"]).inc(),
                Err(e) => {
                    counts.with_label_values(&[NAME, "failed"]).inc();
                    tracing::error!("cannot write the export file {}: {e}", self.path.display());
                    current = None;
                }
            }
            if rx.is_empty() {
                if let Some(o) = current.as_mut() {
                    let _ = o.file.flush();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_written_and_rotated_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.jsonl");
        let counts =
            IntCounterVec::new(prometheus::Opts::new("t", "t"), &["sink", "result"]).unwrap();
        let (tx, rx) = mpsc::channel(100);
        for i in 0..10 {
            tx.try_send(format!("{{\"n\":{i:03}}}").into_bytes())
                .unwrap();
        }
        drop(tx);
        JsonlSink {
            path: path.clone(),
            max_bytes: 40,
            keep: 2,
        }
        .run(rx, counts.clone());
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        // rows are 10 bytes with their newline: four fit in 40
        let rows =
            |r: std::ops::Range<u32>| r.map(|i| format!("{{\"n\":{i:03}}}\n")).collect::<String>();
        assert_eq!(read(&path), rows(8..10));
        assert_eq!(read(&dir.path().join("calls.jsonl.1")), rows(4..8));
        assert_eq!(read(&dir.path().join("calls.jsonl.2")), rows(0..4));
        assert!(
            !dir.path().join("calls.jsonl.3").exists(),
            "only `keep` old files are kept"
        );
        assert_eq!(counts.with_label_values(&[NAME, "sent"]).get(), 10);
    }
}
