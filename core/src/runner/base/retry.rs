//! Which database errors are worth another try, and the retry loop.
//!
//! DSQL reports optimistic-concurrency conflicts as SQLSTATE 40001 (`OC000` data, `OC001`
//! stale schema); those are retried as whole transactions with bounded exponential backoff
//! and jitter: a conflict means nothing committed. Lost connections are retried three times
//! over a fresh connection, which is only safe for work that changes nothing or is
//! idempotent ([`retrying`]); work that commits a statement decides from the history or the
//! catalog instead (see `apply`). Nothing else is retried: `0A000` (unsupported), `54000`
//! (limits), `23505` (duplicates) and the rest would fail the same way again.

use super::target::{Conn, Connector};
use sqlx::PgConnection;
use std::time::Duration;

pub use super::error::sqlstate;

/// `Some("OC000" | "OC001" | "40001")` for a conflict worth retrying.
pub(crate) fn occ_code(error: &sqlx::Error) -> Option<&'static str> {
    let db = error.as_database_error()?;
    let message = db.message();
    if message.contains("OC000") {
        Some("OC000")
    } else if message.contains("OC001") {
        Some("OC001")
    } else if db.code().as_deref() == Some("40001") {
        Some("40001")
    } else {
        None
    }
}

/// A lost or refused connection, or DSQL's `server unavailable`.
pub(crate) fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            code.starts_with("08")
                || matches!(code.as_str(), "57P01" | "57P02" | "57P03")
                || (code == "XX000" && db.message().contains("server unavailable"))
        }
        _ => false,
    }
}

/// Retry limits.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts for 40001 conflicts, the first included.
    pub conflict_attempts: u32,
    /// Attempts after connection failures, the first included.
    pub connection_attempts: u32,
    /// First backoff.
    pub base: Duration,
    /// Longest backoff.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            conflict_attempts: 10,
            connection_attempts: 3,
            base: Duration::from_millis(20),
            cap: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with full jitter for the given retry (1-based).
    pub(crate) fn delay(&self, retry: u32) -> Duration {
        let exp = self.base.saturating_mul(1u32 << retry.min(16));
        let ceiling = exp.min(self.cap).as_millis() as u64;
        Duration::from_millis(fastrand::u64(ceiling / 2..=ceiling.max(1)))
    }
}

impl RetryPolicy {
    /// After `error` in work described by `doing`: when it is a conflict and attempts are
    /// left, counts it in `conflicts`, logs it with its code and returns how long to wait
    /// before the transaction runs again.
    pub(crate) fn after_conflict(
        &self,
        error: &sqlx::Error,
        conflicts: &mut u32,
        doing: &dyn std::fmt::Display,
    ) -> Option<Duration> {
        let code = occ_code(error)?;
        if *conflicts + 1 >= self.conflict_attempts {
            return None;
        }
        *conflicts += 1;
        let wait = self.delay(*conflicts);
        tracing::info!(
            sqlstate = code,
            attempt = *conflicts + 1,
            of = self.conflict_attempts,
            wait_ms = wait.as_millis() as u64,
            "{doing}: conflict with another transaction; trying again"
        );
        Some(wait)
    }

    /// After `error` in work described by `doing`: when the connection was lost and
    /// attempts are left, counts it in `failures`, logs it with its SQLSTATE and returns
    /// how long to wait before reconnecting.
    pub(crate) fn after_lost_connection(
        &self,
        error: &sqlx::Error,
        failures: &mut u32,
        doing: &dyn std::fmt::Display,
    ) -> Option<Duration> {
        if !is_transient(error) || *failures + 1 >= self.connection_attempts {
            return None;
        }
        *failures += 1;
        let wait = self.delay(*failures + 3);
        let code = sqlstate(error).unwrap_or_else(|| "none".into());
        let cause = super::error::database_message(error);
        tracing::warn!(sqlstate = %code, attempt = *failures + 1, of = self.connection_attempts, wait_ms = wait.as_millis() as u64, "{doing}: connection lost ({cause}); reconnecting");
        Some(wait)
    }
}

/// Why the loop gave up.
#[derive(Debug)]
pub(crate) struct Exhausted {
    /// The last error.
    pub error: sqlx::Error,
}

/// Runs `op` as one transaction, again on conflicts and lost connections. After a lost
/// connection `op` runs again without asking whether it had committed: use it only for
/// reads and for work whose repetition changes nothing.
pub async fn retrying<T>(
    conn: &mut Conn,
    connector: &Connector,
    policy: &RetryPolicy,
    mut op: impl AsyncFnMut(&mut PgConnection) -> Result<T, sqlx::Error>,
) -> Result<T, Exhausted> {
    let (mut conflicts, mut failures) = (0u32, 0u32);
    loop {
        let error = match op(conn.pg()).await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if let Some(wait) = policy.after_conflict(&error, &mut conflicts, &"a read") {
            tokio::time::sleep(wait).await;
            continue;
        }
        if let Some(wait) = policy.after_lost_connection(&error, &mut failures, &"a read") {
            tokio::time::sleep(wait).await;
            let _ = conn.reconnect(connector).await;
            continue;
        }
        return Err(Exhausted { error });
    }
}
