//! Supervision: a task the daemon needs (pipeline, source, HTTP server) that dies makes it
//! shut down cleanly and exit non-zero, so that a service manager restarts it; the restart
//! then counts what the dead one could not. Faults are injected with
//! BEDROCK_COST_INJECT_PANIC.

use crate::daemon::{append, data, sum, Daemon};
use crate::follow::call;

#[test]
fn a_task_that_dies_stops_the_daemon_with_an_error_and_a_restart_counts_everything() {
    for (fault, task) in [
        ("pipeline", "the pipeline panicked"),
        ("source", "the file source panicked"),
        ("http", "the HTTP server panicked"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("calls.jsonl");
        append(&log, "");
        let state = dir.path().join("state");
        let card = data("ratecard.toml");
        let args = [
            "--file",
            log.to_str().unwrap(),
            "--ratecard",
            &card,
            "--state-dir",
            state.to_str().unwrap(),
        ];
        let d = Daemon::start_with_env(&args, &[("BEDROCK_COST_INJECT_PANIC", fault)]);
        append(&log, &call(&format!("sv-{fault}"), "u", 42));
        let log_text = d.log.clone();
        let status = d.wait_exit();
        let text = log_text.lock().unwrap().join("\n");
        assert_eq!(status.code(), Some(1), "{fault}: {text}");
        assert!(
            text.contains(&format!("{task}: fault injected"))
                && text.contains("shutting down so that the service manager restarts the daemon")
                && text.contains("exiting after a clean shutdown"),
            "{fault}: {text}"
        );

        let d = Daemon::start(&args);
        let m = d.wait_for("the record after the restart", |m| {
            sum(m, "bedrock_tokens_total", &[]) == 42.0
        });
        assert_eq!(sum(&m, "bedrock_records_total", &[]), 1.0, "{fault}");
        assert!(d.stop().success());
    }
}
