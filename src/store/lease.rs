//! Leases in the shared store: which replica may read a source that only one replica may
//! read at a time (a CloudWatch log group), for how long, and under which fence.
//!
//! A lease is a row of `leases` (schema 2), named by the checkpoint of the source it guards.
//! [`Lease::acquire_or_renew`] is one statement on the server's clock: it creates the row,
//! renews it for its holder (also when it expired and nobody took it), or takes over an
//! expired one from another holder. Every takeover adds one to the fence; a renewal keeps it.
//! The batches a holder reads carry the fence, and the store refuses them once the lease has
//! moved on (`postgres.rs`), so a holder that was paused past its expiry cannot commit after
//! its successor read the same events. The expiry only decides when a successor may start.
//!
//! Each lease client has its own connection (not the pipeline's: a renewal must not wait
//! behind a batch). It is the synchronous client: use it off the async threads, as `PgStore`.

use std::time::Duration;

use postgres::Client;

use super::postgres::{check_url, classify, client_config, connected};
use super::StoreError;
use crate::secret::Secret;

pub struct Lease {
    config: postgres::Config,
    /// The URL as given (it never holds the password), for messages.
    url: String,
    name: String,
    holder: String,
    client: Option<Client>,
}

/// The lease is this client's until the TTL given runs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The same for every renewal, one more at every change of holder.
    pub fence: i64,
    /// The source's committed checkpoint (the checkpoint named like the lease): where the
    /// previous holder stopped, read after the lease was taken.
    pub checkpoint: Option<String>,
}

/// Who holds a lease: the host, the process and a random part (a restarted process with the
/// same pid, or two containers with the same hostname, are still told apart).
pub fn holder_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into());
    format!("{host}:{}:{:08x}", std::process::id(), fastrand::u32(..))
}

impl Lease {
    /// The lease `name` for `holder` on the store at `url`; connects at first use.
    pub fn open(
        url: &str,
        password: Option<&Secret<String>>,
        name: &str,
        holder: &str,
    ) -> Result<Lease, StoreError> {
        check_url(url).map_err(StoreError::Io)?;
        Ok(Lease {
            config: client_config(url, password)?,
            url: url.to_string(),
            name: name.to_string(),
            holder: holder.to_string(),
            client: None,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Takes the lease for `ttl` from now (the server's now) if it is free, expired or
    /// already this holder's; `None` while another holder's lease runs.
    pub fn acquire_or_renew(&mut self, ttl: Duration) -> Result<Option<Held>, StoreError> {
        let (name, holder) = (self.name.clone(), self.holder.clone());
        let ttl_ms = ttl.as_millis() as i64;
        self.in_tx(|tx| {
            let row = tx.query_opt(
                "INSERT INTO leases (name, holder, fence, expires_at) VALUES ($1, $2, 1, now() + $3::bigint * interval '1 millisecond') \
                 ON CONFLICT (name) DO UPDATE SET \
                   fence = CASE WHEN leases.holder = EXCLUDED.holder THEN leases.fence ELSE leases.fence + 1 END, \
                   holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at \
                 WHERE leases.holder = EXCLUDED.holder OR leases.expires_at <= now() \
                 RETURNING fence",
                &[&name, &holder, &ttl_ms],
            )?;
            let Some(row) = row else {
                return Ok(None);
            };
            // Read after the lease row is ours: a commit of the previous holder that got in
            // first (it share-locks the row) has finished by now, and a later one is refused.
            let checkpoint = tx
                .query_opt("SELECT value FROM checkpoints WHERE source = $1", &[&name])?
                .map(|r| r.get(0));
            Ok(Some(Held {
                fence: row.get(0),
                checkpoint,
            }))
        })
    }

    /// Gives the lease up at once (a clean shutdown), so another replica takes it over at its
    /// next try rather than after the TTL. A lease no longer this holder's is left alone.
    pub fn release(&mut self) -> Result<(), StoreError> {
        let (name, holder) = (self.name.clone(), self.holder.clone());
        self.in_tx(|tx| {
            tx.execute(
                "UPDATE leases SET expires_at = now() WHERE name = $1 AND holder = $2",
                &[&name, &holder],
            )?;
            Ok(())
        })
    }

    /// Runs `f` in one transaction; a failure without a server error (the connection is
    /// gone) drops the client, so the next call connects again.
    fn in_tx<T>(
        &mut self,
        f: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let client = connected(&mut self.client, &self.config, &self.url)?;
        let done = (|| {
            let mut tx = client.transaction()?;
            let t = f(&mut tx)?;
            tx.commit()?;
            Ok(t)
        })();
        done.map_err(|e: postgres::Error| {
            if e.code().is_none() {
                self.client = None;
            }
            classify(&e, &self.url)
        })
    }
}

impl Drop for Lease {
    /// As `PgStore`'s: the client's runtime may not be dropped on an async thread.
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                std::thread::spawn(move || drop(c));
            }
        }
    }
}
