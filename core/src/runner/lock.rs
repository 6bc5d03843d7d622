//! The migration lock: one runner at a time, and a fencing token so that a runner that has
//! lost the lock without knowing it cannot write.
//!
//! * PostgreSQL: a session advisory lock held on a connection of its own, pinged by a
//!   watcher; the lock dies with that connection, so a lost connection marks the lock lost
//!   and the run stops before its next step.
//! * DSQL (no advisory locks): a lease row `(holder, expires_at)` taken by a conditional
//!   update, renewed by a heartbeat on its own connection, taken over by another runner
//!   only after it expired. The runner also stops by itself once its last renewal is older
//!   than the lease.
//!
//! Either way, taking the lock increments `generation` in the lock row. Every transaction
//! that writes the history or moves rows first locks that row (`FOR UPDATE`) and checks the
//! holder and generation are still its own ([`Fence::check`]). A takeover changes the
//! generation: on PostgreSQL it waits for the old holder's open transaction, which then
//! sees the new generation in its next one; on DSQL the two transactions conflict and the
//! later commit fails with 40001 and, retried, sees the new generation. So a runner that
//! lost the lock stops at its next write, and never commits one.

use super::error::RunError;
use super::event::Event;
use super::history::HistoryTable;
use super::retry::{self, RetryPolicy, retrying};
use super::target::{Conn, Connector};
use sqlx::{AssertSqlSafe, PgConnection};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The lock row's key.
const LOCK_ID: &str = "migrate";

/// How often the advisory lock's connection is checked.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// Who holds (or waits for) the lock: host, process and a random part.
pub fn holder_id() -> String {
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| {
        std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "host".into())
    });
    format!("{host}:{}:{:08x}", std::process::id(), fastrand::u32(..))
}

/// Proof of holding the lock, checked inside every transaction that writes.
#[derive(Debug, Clone)]
pub struct Fence {
    table: String,
    holder: String,
    generation: i64,
}

impl Fence {
    /// Inside an open transaction: locks the lock row and says whether it is still ours.
    pub async fn check(&self, conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
        let sql = format!("SELECT holder, generation FROM {} WHERE id = $1 FOR UPDATE", self.table);
        let row: Option<(String, Option<i64>)> = sqlx::query_as(AssertSqlSafe(sql)).bind(LOCK_ID).fetch_optional(conn).await?;
        Ok(row.is_some_and(|(holder, generation)| holder == self.holder && generation == Some(self.generation)))
    }
}

/// What keeps a held lock alive: the task (watcher or heartbeat) and what it reports.
pub struct Keeper {
    lost: Arc<AtomicBool>,
    /// Until when the lock is certainly ours (a lease: last renewal plus most of the lease).
    valid_until: Option<Arc<Mutex<Instant>>>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Option<Conn>>,
}

/// A held lock; give it up with [`Lock::release`].
pub enum Lock {
    /// Session advisory lock on its own connection.
    Advisory { key: i64, fence: Fence, keeper: Keeper },
    /// Lease row kept alive by a heartbeat.
    Lease { fence: Fence, keeper: Keeper },
    /// `--no-lock`.
    None,
}

impl Lock {
    /// The fencing token, when there is a lock.
    pub fn fence(&self) -> Option<&Fence> {
        match self {
            Lock::Advisory { fence, .. } | Lock::Lease { fence, .. } => Some(fence),
            Lock::None => None,
        }
    }

    /// False once the lock may be lost: the run must stop before its next step.
    pub fn still_held(&self) -> bool {
        match self {
            Lock::Advisory { keeper, .. } | Lock::Lease { keeper, .. } => {
                !keeper.lost.load(Ordering::SeqCst) && keeper.valid_until.as_ref().is_none_or(|until| Instant::now() < *until.lock().expect("not poisoned"))
            }
            Lock::None => true,
        }
    }

    /// Gives the lock up (best effort: a lock that is already lost needs nothing).
    pub async fn release(self, connector: &Connector) {
        match self {
            Lock::Advisory { key, keeper, .. } => {
                let _ = keeper.stop.send(());
                if let Ok(Some(mut conn)) = keeper.task.await {
                    let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(key).execute(conn.pg()).await;
                    conn.close().await;
                }
            }
            Lock::Lease { fence, keeper, .. } => {
                let _ = keeper.stop.send(());
                if let Ok(Some(mut conn)) = keeper.task.await {
                    // The row stays, expired, so the generation only ever grows.
                    let sql = format!("UPDATE {} SET expires_at = now() - make_interval(secs => 1) WHERE id = $1 AND holder = $2 AND generation = $3", fence.table);
                    let _ = retrying(&mut conn, connector, &RetryPolicy::default(), async |c| {
                        sqlx::query(AssertSqlSafe(sql.clone())).bind(LOCK_ID).bind(&fence.holder).bind(fence.generation).execute(c).await
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

/// Waits for the PostgreSQL advisory lock on a connection of its own (saying whom it waits
/// for); hold it with [`hold_advisory`] once the bookkeeping tables exist.
pub async fn advisory_session(connector: &Connector, history: &HistoryTable, events: &dyn Fn(Event)) -> Result<(Conn, i64), RunError> {
    let mut conn = connector.connect().await?;
    let key = advisory_key(history);
    let mut announced = false;
    loop {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(key).fetch_one(conn.pg()).await.map_err(|e| RunError::db("taking the advisory lock", e))?;
        if got {
            events(Event::LockAcquired { kind: "advisory" });
            return Ok((conn, key));
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

/// Holds the advisory lock taken by [`advisory_session`]: takes a new generation in the
/// lock row (waiting for a previous holder's open transaction), then watches the
/// connection.
pub async fn hold_advisory(mut conn: Conn, key: i64, history: &HistoryTable, lease: Duration) -> Result<Lock, RunError> {
    let holder = holder_id();
    let table = history.lock_qualified();
    let generation = next_generation(conn.pg(), &table, &holder, lease, None).await?.expect("unconditional under the advisory lock");
    let lost = Arc::new(AtomicBool::new(false));
    let (stop, mut stopped) = oneshot::channel::<()>();
    let flag = lost.clone();
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut stopped => return Some(conn),
                _ = tokio::time::sleep(WATCH_INTERVAL) => {}
            }
            if sqlx::query("SELECT 1").execute(conn.pg()).await.is_err() {
                flag.store(true, Ordering::SeqCst);
                return None;
            }
        }
    });
    Ok(Lock::Advisory { key, fence: Fence { table, holder, generation }, keeper: Keeper { lost, valid_until: None, stop, task } })
}

/// Takes the next generation of the lock row for `holder` (creating the row if there is
/// none). With `only_if_expired`, only when the current lease has run out; `None` then
/// means another holder's lease is live.
async fn next_generation(conn: &mut PgConnection, table: &str, holder: &str, lease: Duration, only_if_expired: Option<()>) -> Result<Option<i64>, RunError> {
    let condition = if only_if_expired.is_some() { " AND expires_at < now()" } else { "" };
    let take = format!(
        "UPDATE {table} SET holder = $2, acquired_at = now(), expires_at = now() + make_interval(secs => $3), generation = coalesce(generation, 0) + 1 \
         WHERE id = $1{condition} RETURNING generation"
    );
    let create = format!("INSERT INTO {table} (id, holder, acquired_at, expires_at, generation) VALUES ($1, $2, now(), now() + make_interval(secs => $3), 1)");
    let seconds = lease.as_secs_f64();
    loop {
        let taken: Option<i64> = sqlx::query_scalar(AssertSqlSafe(take.clone()))
            .bind(LOCK_ID)
            .bind(holder)
            .bind(seconds)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| RunError::db("taking the migration lock", e))?;
        if taken.is_some() {
            return Ok(taken);
        }
        let exists: Option<i32> = sqlx::query_scalar(AssertSqlSafe(format!("SELECT 1 FROM {table} WHERE id = $1")))
            .bind(LOCK_ID)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| RunError::db("reading the migration lock", e))?;
        if exists.is_some() {
            return Ok(None);
        }
        match sqlx::query(AssertSqlSafe(create.clone())).bind(LOCK_ID).bind(holder).bind(seconds).execute(&mut *conn).await {
            Ok(_) => return Ok(Some(1)),
            // Another runner created the row first: compete for it as it is.
            Err(e) if matches!(retry::sqlstate(&e).as_deref(), Some("23505" | "40001")) => continue,
            Err(e) => return Err(RunError::db("creating the migration lock", e)),
        }
    }
}

/// Takes the lease, waiting while a live runner holds it; returns once held.
pub async fn lease(connector: &Connector, history: &HistoryTable, lease: Duration, policy: &RetryPolicy, events: &dyn Fn(Event)) -> Result<Lock, RunError> {
    let holder = holder_id();
    let table = history.lock_qualified();
    let current = format!("SELECT holder, expires_at::text FROM {table} WHERE id = $1");
    let mut conn = connector.connect().await?;
    let mut last_seen: Option<String> = None;
    let (generation, taken_at) = loop {
        let asked = Instant::now();
        let taken = loop {
            match next_generation(conn.pg(), &table, &holder, lease, Some(())).await {
                Err(RunError::Database { source, .. }) if retry::occ_code(&source).is_some() || retry::is_transient(&source) => {
                    tokio::time::sleep(policy.delay(1)).await;
                    if retry::is_transient(&source) {
                        conn.reconnect(connector).await?;
                    }
                }
                other => break other?,
            }
        };
        if let Some(generation) = taken {
            events(Event::LockAcquired { kind: "lease" });
            break (generation, asked);
        }
        let row: Option<(String, String)> = retrying(&mut conn, connector, policy, async |c| sqlx::query_as(AssertSqlSafe(current.clone())).bind(LOCK_ID).fetch_optional(c).await)
            .await
            .map_err(|e| RunError::db("reading the migration lease", e.error))?;
        if let Some((other, expires)) = row
            && last_seen.as_deref() != Some(other.as_str())
        {
            events(Event::LockWaiting { holder: other.clone(), expires_at: Some(expires) });
            last_seen = Some(other);
        }
        tokio::time::sleep(Duration::from_millis(250) + Duration::from_millis(fastrand::u64(..250))).await;
    };

    // Heartbeat: renew at a third of the lease. A renewal that finds the row taken means
    // the lease was lost; renewals that keep failing let `valid_until` pass.
    let certain = lease.mul_f64(0.9);
    let valid_until = Arc::new(Mutex::new(taken_at + certain));
    let lost = Arc::new(AtomicBool::new(false));
    let (stop, mut stopped) = oneshot::channel::<()>();
    let renew = format!("UPDATE {table} SET expires_at = now() + make_interval(secs => $4) WHERE id = $1 AND holder = $2 AND generation = $3 RETURNING holder");
    let (lost_flag, until, holder_hb, policy) = (lost.clone(), valid_until.clone(), holder.clone(), *policy);
    let connector_hb = connector.clone();
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut stopped => return Some(conn),
                _ = tokio::time::sleep(lease / 3) => {}
            }
            let _ = conn.refresh_if_old(&connector_hb).await;
            let asked = Instant::now();
            match renew_once(&mut conn, &connector_hb, &policy, &renew, &holder_hb, generation, lease.as_secs_f64()).await {
                Some(true) => *until.lock().expect("not poisoned") = asked + certain,
                Some(false) => {
                    lost_flag.store(true, Ordering::SeqCst);
                    return Some(conn);
                }
                None => {} // unreachable this time; `valid_until` decides
            }
        }
    });
    Ok(Lock::Lease { fence: Fence { table, holder, generation }, keeper: Keeper { lost, valid_until: Some(valid_until), stop, task } })
}

/// One renewal, retried on conflicts and lost connections: `Some(true)` renewed,
/// `Some(false)` the lease is someone else's, `None` the database could not be reached.
/// (Written out rather than with `retrying`: an async closure in a spawned task trips a
/// `Send` inference limit.)
async fn renew_once(conn: &mut Conn, connector: &Connector, policy: &RetryPolicy, sql: &str, holder: &str, generation: i64, seconds: f64) -> Option<bool> {
    for attempt in 1..=policy.conflict_attempts {
        let result = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql.to_owned()))
            .bind(LOCK_ID)
            .bind(holder)
            .bind(generation)
            .bind(seconds)
            .fetch_optional(conn.pg())
            .await;
        match result {
            Ok(renewed) => return Some(renewed.is_some()),
            Err(e) if retry::occ_code(&e).is_some() => tokio::time::sleep(policy.delay(attempt)).await,
            Err(e) if retry::is_transient(&e) && attempt < policy.connection_attempts => {
                tokio::time::sleep(policy.delay(attempt + 3)).await;
                let _ = conn.reconnect(connector).await;
            }
            Err(_) => return None,
        }
    }
    None
}
