//! Watchers that change what the daemon serves without a restart: rate cards (on file
//! change or SIGHUP), the TLS certificate (on file change), and SIGHUP itself when there is
//! nothing to reload (its default action would end the process).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Tls;
use crate::pricing::{identity, ratecard};

/// What the rate-card paths hold now: every card file with its modification time and size.
fn card_files(
    paths: &[std::path::PathBuf],
) -> Vec<(std::path::PathBuf, Option<std::time::SystemTime>, u64)> {
    let mut out = Vec::new();
    for p in paths {
        let files: Vec<std::path::PathBuf> = if p.is_dir() {
            std::fs::read_dir(p)
                .map(|d| {
                    d.filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|f| f.extension().is_some_and(|x| x == "toml"))
                        .collect()
                })
                .unwrap_or_default()
        } else {
            vec![p.clone()]
        };
        for f in files {
            let meta = std::fs::metadata(&f).ok();
            out.push((
                f,
                meta.as_ref().and_then(|m| m.modified().ok()),
                meta.map_or(0, |m| m.len()),
            ));
        }
    }
    out.sort();
    out
}

/// Re-reads the rate cards when their files change or on SIGHUP, and hands valid ones to the
/// pipeline (they price every batch after). Invalid ones, and a version whose content
/// differs from what `known` (checkpoint key → digest) recorded, are refused with every
/// problem logged, and the cards in force stay.
pub async fn cards(
    paths: Vec<std::path::PathBuf>,
    mut known: HashMap<String, String>,
    every: Duration,
    tx: mpsc::Sender<crate::batch::Input>,
    failures: prometheus::IntCounter,
    stop: CancellationToken,
) {
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut seen = card_files(&paths);
    loop {
        let asked = tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => false,
            _ = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
        };
        let now = card_files(&paths);
        if now == seen && !asked {
            continue;
        }
        seen = now;
        let loaded = ratecard::load(&paths).and_then(|cards| {
            let changed = identity::changed_in_place(&cards, &known);
            match changed.is_empty() {
                true => Ok(cards),
                false => Err(ratecard::RateCardErrors(changed)),
            }
        });
        match loaded {
            Ok(cards) => {
                let versions: Vec<&str> =
                    cards.cards().iter().map(|c| c.version.as_str()).collect();
                tracing::info!("rate cards reloaded: {}", versions.join(", "));
                let mut input =
                    crate::batch::Input::empty("ratecard".into(), "ratecard reload".into());
                input.checkpoints = identity::checkpoints(&cards);
                known.extend(input.checkpoints.iter().cloned());
                input.new_cards = Some(Arc::new(cards));
                if tx.send(input).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                failures.inc();
                tracing::error!(
                    "the changed rate cards were not loaded; the cards in force stay. {e}"
                );
            }
        }
    }
}

pub async fn ignore_hangup(stop: CancellationToken) {
    let Ok(mut hangup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        return;
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = hangup.recv() => tracing::info!("SIGHUP: the bundled rate card is in use; give --ratecard paths to reload cards"),
        }
    }
}

fn modified(tls: &Tls) -> Option<(std::time::SystemTime, std::time::SystemTime)> {
    let m = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((m(&tls.cert)?, m(&tls.key)?))
}

/// Re-reads the certificate and key when either file changes. A pair that does not load
/// (e.g. the key was written before the certificate) keeps the old one in use until the
/// next change.
pub async fn tls(
    tls: Tls,
    rustls: RustlsConfig,
    reloads: prometheus::IntCounterVec,
    stop: CancellationToken,
) {
    let mut seen = modified(&tls);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(tls.reload_interval) => {}
        }
        let now = modified(&tls);
        if now.is_none() || now == seen {
            continue;
        }
        seen = now;
        match rustls.reload_from_pem_file(&tls.cert, &tls.key).await {
            Ok(()) => {
                reloads.with_label_values(&["ok"]).inc();
                tracing::info!("reloaded the TLS certificate {}", tls.cert.display());
            }
            Err(e) => {
                reloads.with_label_values(&["failed"]).inc();
                tracing::error!(
                    "cannot reload the TLS certificate {} ({e}); the previous one stays in use",
                    tls.cert.display()
                );
            }
        }
    }
}
