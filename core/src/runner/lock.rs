//! The migration lock: one runner at a time.
//!
//! PostgreSQL: a session advisory lock, released by the server if the runner dies.
//! DSQL (no advisory locks): a lease row `(holder, expires_at)` taken with one conditional
//! upsert, renewed by a heartbeat on its own connection while the run lasts, and taken over
//! by another runner only after it expired. A live runner renews long before expiry, so it
//! never loses the lock; a crashed one's lease simply runs out.

use super::history::HistoryTable;
use super::retry::{RetryPolicy, retrying};
use super::target::{Conn, Connector};
use super::{Event, RunError};
use sqlx::AssertSqlSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;

const LOCK_ID: &str = "migrate";

/// Who holds (or waits for) the lock: host, process and a random part.
pub fn holder_id() -> String {
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| {
        std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "host".into())
    });
    format!("{host}:{}:{:08x}", std::process::id(), fastrand::u32(..))
}

/// A held lock; release it with [`Lock::release`].
pub enum Lock {
    /// Session advisory lock, held by the run's own connection.
    Advisory { key: i64 },
    /// Lease row kept alive by a heartbeat task.
    Lease { holder: String, lost: Arc<AtomicBool>, stop: oneshot::Sender<()>, heartbeat: tokio::task::JoinHandle<Conn>, table: String },
    /// `--no-lock`.
    None,
}

impl Lock {
    /// False once a lease could not be renewed: the run must stop before its next step.
    pub fn still_held(&self) -> bool {
        match self {
            Lock::Lease { lost, .. } => !lost.load(Ordering::SeqCst),
            _ => true,
        }
    }

    /// Gives the lock up; `conn` is the run's connection (which holds an advisory lock).
    pub async fn release(self, conn: &mut Conn, connector: &Connector) {
        match self {
            Lock::Advisory { key } => {
                let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(key).execute(conn.pg()).await;
            }
            Lock::Lease { holder, stop, heartbeat, table, .. } => {
                let _ = stop.send(());
                if let Ok(mut conn) = heartbeat.await {
                    let sql = format!("DELETE FROM {table} WHERE id = $1 AND holder = $2");
                    let _ = retrying(&mut conn, connector, &RetryPolicy::default(), async |c| {
                        sqlx::query(AssertSqlSafe(sql.clone())).bind(LOCK_ID).bind(&holder).execute(c).await
                    })
                    .await;
                    conn.close().await;
                }
            }
            Lock::None => {}
        }
    }
}

/// The advisory-lock key: derived from the history table, so two projects sharing a
/// server with different history tables do not block each other.
fn advisory_key(history: &HistoryTable) -> i64 {
    let digest = crate::hash::sha256_hex(format!("tablewright:{}", history.qualified()).as_bytes());
    i64::from_str_radix(&digest[..15], 16).expect("15 hex digits fit in i64")
}

/// Takes the PostgreSQL advisory lock on `conn`, waiting (and saying so) while another
/// runner has it. If the runner dies, its session ends and the server releases the lock.
pub async fn advisory(conn: &mut Conn, history: &HistoryTable, events: &dyn Fn(Event)) -> Result<Lock, RunError> {
    let key = advisory_key(history);
    let mut announced = false;
    loop {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(key).fetch_one(conn.pg()).await.map_err(|e| RunError::db("taking the advisory lock", e))?;
        if got {
            events(Event::LockAcquired { kind: "advisory" });
            return Ok(Lock::Advisory { key });
        }
        if !announced {
            let holder: Option<i32> = sqlx::query_scalar("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = ($1 & 4294967295)::oid LIMIT 1")
                .bind(key)
                .fetch_optional(conn.pg())
                .await
                .ok()
                .flatten();
            events(Event::LockWaiting { holder: holder.map(|p| format!("PostgreSQL backend pid {p}")).unwrap_or_else(|| "another runner".into()), expires_at: None });
            announced = true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Takes the lease, waiting while a live runner holds it; returns once held.
pub async fn lease(connector: &Connector, history: &HistoryTable, lease: Duration, policy: &RetryPolicy, events: &dyn Fn(Event)) -> Result<Lock, RunError> {
    let holder = holder_id();
    let table = history.lock_qualified();
    let seconds = lease.as_secs_f64();
    // One statement: insert, or take over an expired lease; returns a row only when taken.
    let take = format!(
        "INSERT INTO {table} (id, holder, acquired_at, expires_at) VALUES ($1, $2, now(), now() + make_interval(secs => $3)) \
         ON CONFLICT (id) DO UPDATE SET holder = EXCLUDED.holder, acquired_at = EXCLUDED.acquired_at, expires_at = EXCLUDED.expires_at \
         WHERE {table}.expires_at < now() RETURNING holder"
    );
    let current = format!("SELECT holder, expires_at::text FROM {table} WHERE id = $1");
    let mut conn = connector.connect().await?;
    let mut last_seen: Option<String> = None;
    loop {
        let taken = retrying(&mut conn, connector, policy, async |c| {
            sqlx::query_scalar::<_, String>(AssertSqlSafe(take.clone())).bind(LOCK_ID).bind(&holder).bind(seconds).fetch_optional(c).await
        })
        .await
        .map_err(|e| RunError::db("taking the migration lease", e.error))?;
        if taken.is_some() {
            events(Event::LockAcquired { kind: "lease" });
            break;
        }
        let row: Option<(String, String)> = retrying(&mut conn, connector, policy, async |c| {
            sqlx::query_as(AssertSqlSafe(current.clone())).bind(LOCK_ID).fetch_optional(c).await
        })
        .await
        .map_err(|e| RunError::db("reading the migration lease", e.error))?;
        if let Some((other, expires)) = row
            && last_seen.as_deref() != Some(other.as_str())
        {
            events(Event::LockWaiting { holder: other.clone(), expires_at: Some(expires) });
            last_seen = Some(other);
        }
        tokio::time::sleep(Duration::from_millis(250) + Duration::from_millis(fastrand::u64(..250))).await;
    }

    // Heartbeat: renew at a third of the lease; a renewal that finds the row gone or taken
    // means the lease was lost (the process stalled past expiry).
    let lost = Arc::new(AtomicBool::new(false));
    let (stop, mut stopped) = oneshot::channel::<()>();
    let renew = format!("UPDATE {table} SET expires_at = now() + make_interval(secs => $3) WHERE id = $1 AND holder = $2 RETURNING holder");
    let (lost_flag, holder_hb, policy) = (lost.clone(), holder.clone(), *policy);
    let connector_hb = connector.clone();
    let heartbeat = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut stopped => return conn,
                _ = tokio::time::sleep(lease / 3) => {}
            }
            let _ = conn.refresh_if_old(&connector_hb).await;
            if !renew_once(&mut conn, &connector_hb, &policy, &renew, &holder_hb, seconds).await {
                lost_flag.store(true, Ordering::SeqCst);
            }
        }
    });
    Ok(Lock::Lease { holder, lost, stop, heartbeat, table })
}

/// One renewal, retried on conflicts and lost connections. (Written out rather than with
/// `retrying`: an async closure in a spawned task trips a `Send` inference limit.)
async fn renew_once(conn: &mut Conn, connector: &Connector, policy: &RetryPolicy, sql: &str, holder: &str, seconds: f64) -> bool {
    for attempt in 1..=policy.conflict_attempts {
        let result = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql.to_owned())).bind(LOCK_ID).bind(holder).bind(seconds).fetch_optional(conn.pg()).await;
        match result {
            Ok(renewed) => return renewed.is_some(),
            Err(e) if super::retry::occ_code(&e).is_some() => tokio::time::sleep(policy.delay(attempt)).await,
            Err(e) if super::retry::is_transient(&e) && attempt < policy.connection_attempts => {
                tokio::time::sleep(policy.delay(attempt + 3)).await;
                let _ = conn.reconnect(connector).await;
            }
            Err(_) => return false,
        }
    }
    false
}
