//! The migration lock: one runner at a time, and a fencing token so that a runner that has
//! lost the lock without knowing it cannot write.
//!
//! * PostgreSQL: a session advisory lock held on a connection of its own, pinged by a
//!   watcher; the lock dies with that connection, so a lost connection marks the lock lost
//!   and the run stops before its next step.
//! * DSQL (no advisory locks): a lease row `(holder, expires_at)` taken by a conditional
//!   update, renewed by a heartbeat on its own connection, taken over by another runner
//!   only after it expired. A runner whose last renewal is older than the lease renews
//!   before its next step, and stops if the lease is no longer its own.
//!
//! Either way, taking the lock writes a new generation to a second row, the fence, which
//! only changes hands with the lock (the heartbeat never writes it). Every transaction that
//! writes the history or moves rows first locks the fence row (`FOR UPDATE`) and checks the
//! holder and generation are still its own ([`Fence::check`]). A takeover changes the fence:
//! on PostgreSQL it waits for the old holder's open transaction, which then sees the new
//! generation in its next one; on DSQL the two transactions conflict, and the later commit
//! fails with 40001 and, retried, sees the new generation. So a runner that lost the lock
//! stops at its next write, and never commits one.

use super::history::HistoryTable;
use crate::runner::base::error::RunError;
use crate::runner::base::event::Event;
use crate::runner::base::retry::{self, RetryPolicy};
use crate::runner::base::target::{Conn, Connector};
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The lease row's key.
const LEASE_ID: &str = "migrate";
/// The fence row's key.
const FENCE_ID: &str = "migrate-fence";

/// How often the advisory lock's connection is checked.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// Who holds (or waits for) the lock: host, process and a random part.
pub(crate) fn holder_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "host".into())
        });
    format!("{host}:{}:{:08x}", std::process::id(), fastrand::u32(..))
}

/// Proof of holding the lock, checked inside every transaction that writes.
#[derive(Debug, Clone)]
pub(crate) struct Fence {
    table: String,
    holder: String,
    generation: i64,
}

impl Fence {
    /// Inside an open transaction: locks the fence row and says whether it is still ours.
    pub async fn check(&self, conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
        let row: Option<(String, Option<i64>)> = sqlx::query_as(AssertSqlSafe(self.check_sql()))
            .fetch_optional(conn)
            .await?;
        Ok(self.holds(row))
    }

    /// The query of [`Self::check`], to send with other statements: it locks the fence row
    /// and reads its holder and generation.
    pub(crate) fn check_sql(&self) -> String {
        format!(
            "SELECT holder, generation FROM {} WHERE id = '{FENCE_ID}' FOR UPDATE",
            self.table
        )
    }

    /// Whether the fence row read by [`Self::check_sql`] says the lock is ours.
    pub(crate) fn holds(&self, row: Option<(String, Option<i64>)>) -> bool {
        row.is_some_and(|(holder, generation)| {
            holder == self.holder && generation == Some(self.generation)
        })
    }

    /// The fence checked in a transaction of its own, for work that cannot carry the
    /// check itself (DDL, which commits alone): true while the lock is ours.
    pub(crate) async fn check_alone(&self, conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
        let mut tx = conn.begin().await?;
        let ours = self.check(&mut tx).await?;
        tx.rollback().await?;
        Ok(ours)
    }
}

/// What keeps a held lock alive: the task (watcher or heartbeat) and what it reports.
pub(crate) struct Keeper {
    lost: Arc<AtomicBool>,
    /// Until when the lock is certainly ours (a lease: last renewal plus the lease).
    valid_until: Option<Arc<Mutex<Instant>>>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Option<Conn>>,
}

/// A held lock; give it up with [`Lock::release`].
pub(crate) enum Lock {
    /// Session advisory lock on its own connection.
    Advisory {
        key: i64,
        fence: Fence,
        keeper: Keeper,
    },
    /// Lease row kept alive by a heartbeat.
    Lease {
        fence: Fence,
        lease: Duration,
        keeper: Keeper,
    },
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

    /// Before a step: fails with `LockLost` once the lock is known lost (its connection
    /// died, its lease was taken over). A lease the heartbeat has not renewed in time is
    /// renewed here on `conn`, so a slow heartbeat stops nothing that still holds.
    pub async fn confirm(&self, conn: &mut Conn) -> Result<(), RunError> {
        match self {
            Lock::Advisory { keeper, .. } if keeper.lost.load(Ordering::SeqCst) => {
                Err(RunError::LockLost("its connection was lost".into()))
            }
            Lock::Lease { keeper, .. } if keeper.lost.load(Ordering::SeqCst) => Err(
                RunError::LockLost("another runner took the lease over".into()),
            ),
            Lock::Lease {
                fence,
                lease,
                keeper,
            } => {
                let until = keeper.valid_until.as_ref().expect("a lease has a validity");
                if Instant::now() < *until.lock().expect("not poisoned") {
                    return Ok(());
                }
                let asked = Instant::now();
                match renew(conn.pg(), fence, *lease).await {
                    Ok(true) => {
                        *until.lock().expect("not poisoned") = asked + lease.mul_f64(0.95);
                        Ok(())
                    }
                    Ok(false) => {
                        keeper.lost.store(true, Ordering::SeqCst);
                        Err(RunError::LockLost(
                            "its lease ran out and another runner took it over".into(),
                        ))
                    }
                    Err(e) => Err(RunError::LockLost(format!(
                        "its lease ran out and could not be renewed: {e}"
                    ))),
                }
            }
            _ => Ok(()),
        }
    }

    /// Fails with `LockLost` unless the fence is still ours, checked now on `conn`: before
    /// work that cannot check it in its own transaction.
    pub(crate) async fn check_now(&self, conn: &mut Conn) -> Result<(), RunError> {
        self.confirm(conn).await?;
        match self.fence() {
            Some(fence) => match fence.check_alone(conn.pg()).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(RunError::LockLost("another runner holds it now".into())),
                Err(e) => Err(RunError::db("checking the migration lock", e)),
            },
            None => Ok(()),
        }
    }

    /// Gives the lock up (best effort: a lock that is already lost needs nothing).
    pub async fn release(self, connector: &Connector) {
        match self {
            Lock::Advisory { key, fence, keeper } => {
                let _ = keeper.stop.send(());
                if let Ok(Some(mut conn)) = keeper.task.await {
                    // The lease row was taken with the lock: let it go too, for a runner
                    // under DSQL's rules on the same database.
                    let _ = expire(conn.pg(), &fence).await;
                    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                        .bind(key)
                        .execute(conn.pg())
                        .await;
                    conn.close().await;
                }
            }
            Lock::Lease { fence, keeper, .. } => {
                let _ = keeper.stop.send(());
                if let Ok(Some(mut conn)) = keeper.task.await {
                    // The rows stay, the lease expired, so the generation only ever grows.
                    for _ in 0..3 {
                        match expire(conn.pg(), &fence).await {
                            Err(e) if retry::is_transient(&e) => {
                                if conn.reconnect(connector).await.is_err() {
                                    break;
                                }
                            }
                            Err(e) if retry::occ_code(&e).is_some() => {
                                tokio::time::sleep(Duration::from_millis(50)).await
                            }
                            _ => break,
                        }
                    }
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
    let digest =
        crate::project::hash::sha256_hex(format!("tablewright:{}", history.qualified()).as_bytes());
    i64::from_str_radix(&digest[..15], 16).expect("15 hex digits fit in i64")
}

/// Makes sure the lease and fence rows exist (each insert its own transaction; a row
/// another runner created first is fine).
async fn lock_rows(conn: &mut PgConnection, table: &str) -> Result<(), RunError> {
    let sql = format!(
        "INSERT INTO {table} (id, holder, acquired_at, expires_at, generation) VALUES ($1, '', now(), now() - make_interval(secs => 1), 0)"
    );
    for id in [LEASE_ID, FENCE_ID] {
        let exists: Option<i32> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT 1 FROM {table} WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| RunError::db("reading the migration lock", e))?;
        if exists.is_some() {
            continue;
        }
        match sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(id)
            .execute(&mut *conn)
            .await
        {
            Ok(_) => {}
            Err(e) if matches!(retry::sqlstate(&e).as_deref(), Some("23505" | "40001")) => {}
            Err(e) => return Err(RunError::db("creating the migration lock", e)),
        }
    }
    Ok(())
}

/// Takes the lock for `holder` in one transaction: the lease (only if it expired, with
/// `only_if_expired`) and the fence, under a new generation. `None` while another holder's
/// lease is live.
async fn take(
    conn: &mut PgConnection,
    table: &str,
    holder: &str,
    lease: Duration,
    only_if_expired: bool,
) -> Result<Option<i64>, sqlx::Error> {
    let condition = if only_if_expired {
        " AND expires_at < now()"
    } else {
        ""
    };
    let mut tx = conn.begin().await?;
    let lease_sql = format!(
        "UPDATE {table} SET holder = $2, acquired_at = now(), expires_at = now() + make_interval(secs => $3), generation = coalesce(generation, 0) + 1 \
         WHERE id = $1{condition} RETURNING generation"
    );
    let Some(generation) = sqlx::query_scalar::<_, i64>(AssertSqlSafe(lease_sql))
        .bind(LEASE_ID)
        .bind(holder)
        .bind(lease.as_secs_f64())
        .fetch_optional(&mut *tx)
        .await?
    else {
        tx.rollback().await?;
        return Ok(None);
    };
    let fence_sql = format!(
        "UPDATE {table} SET holder = $2, acquired_at = now(), generation = $3 WHERE id = $1"
    );
    sqlx::query(AssertSqlSafe(fence_sql))
        .bind(FENCE_ID)
        .bind(holder)
        .bind(generation)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(generation))
}

/// Lets the lease go: expired, its row and generation kept.
async fn expire(conn: &mut PgConnection, fence: &Fence) -> Result<(), sqlx::Error> {
    let sql = format!(
        "UPDATE {} SET expires_at = now() - make_interval(secs => 1) WHERE id = $1 AND holder = $2 AND generation = $3",
        fence.table
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(LEASE_ID)
        .bind(&fence.holder)
        .bind(fence.generation)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Renews the lease: true while it is still `fence`'s.
async fn renew(
    conn: &mut PgConnection,
    fence: &Fence,
    lease: Duration,
) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "UPDATE {} SET expires_at = now() + make_interval(secs => $4) WHERE id = $1 AND holder = $2 AND generation = $3 RETURNING holder",
        fence.table
    );
    let renewed: Option<String> = sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(LEASE_ID)
        .bind(&fence.holder)
        .bind(fence.generation)
        .bind(lease.as_secs_f64())
        .fetch_optional(conn)
        .await?;
    match renewed {
        Some(_) => tracing::debug!(
            lease_s = lease.as_secs(),
            generation = fence.generation,
            "migration lease renewed"
        ),
        None => tracing::warn!(
            generation = fence.generation,
            "the migration lease is no longer this run's"
        ),
    }
    Ok(renewed.is_some())
}

/// Waits for the PostgreSQL advisory lock on a connection of its own (saying whom it waits
/// for); hold it with [`hold_advisory`] once the bookkeeping tables exist.
pub(crate) async fn advisory_session(
    connector: &Connector,
    history: &HistoryTable,
    events: &dyn Fn(Event),
) -> Result<(Conn, i64), RunError> {
    let mut conn = connector.connect().await?;
    let key = advisory_key(history);
    let mut announced = false;
    loop {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(conn.pg())
            .await
            .map_err(|e| RunError::db("taking the advisory lock", e))?;
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
            events(Event::LockWaiting {
                holder: holder
                    .map(|p| format!("PostgreSQL backend pid {p}"))
                    .unwrap_or_else(|| "another runner".into()),
                expires_at: None,
            });
            announced = true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Holds the advisory lock taken by [`advisory_session`]: takes a new generation (waiting
/// for a previous holder's open transaction on the fence row), then watches the
/// connection.
pub(crate) async fn hold_advisory(
    mut conn: Conn,
    key: i64,
    history: &HistoryTable,
    lease: Duration,
) -> Result<Lock, RunError> {
    let holder = holder_id();
    let table = history.lock_qualified();
    lock_rows(conn.pg(), &table).await?;
    let generation = take(conn.pg(), &table, &holder, lease, false)
        .await
        .map_err(|e| RunError::db("taking the migration lock", e))?
        .expect("unconditional under the advisory lock");
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
    Ok(Lock::Advisory {
        key,
        fence: Fence {
            table,
            holder,
            generation,
        },
        keeper: Keeper {
            lost,
            valid_until: None,
            stop,
            task,
        },
    })
}

/// Takes the lease, waiting while a live runner holds it; returns once held.
pub async fn lease(
    connector: &Connector,
    history: &HistoryTable,
    lease: Duration,
    policy: &RetryPolicy,
    events: &dyn Fn(Event),
) -> Result<Lock, RunError> {
    let holder = holder_id();
    let table = history.lock_qualified();
    let current = format!("SELECT holder, expires_at::text, generation FROM {table} WHERE id = $1");
    let mut conn = connector.connect().await?;
    lock_rows(conn.pg(), &table).await?;
    let mut last_seen: Option<String> = None;
    let mut failures = 0;
    let (generation, taken_at) = loop {
        let asked = Instant::now();
        match take(conn.pg(), &table, &holder, lease, true).await {
            Ok(Some(generation)) => {
                events(Event::LockAcquired { kind: "lease" });
                break (generation, asked);
            }
            Ok(None) => {}
            Err(e) if retry::occ_code(&e).is_some() => {}
            Err(e) => {
                match policy.after_lost_connection(&e, &mut failures, &"taking the migration lease")
                {
                    Some(wait) => {
                        tokio::time::sleep(wait).await;
                        conn.reconnect(connector).await?;
                    }
                    None => return Err(RunError::db("taking the migration lease", e)),
                }
            }
        }
        let row: Option<(String, String, Option<i64>)> =
            sqlx::query_as(AssertSqlSafe(current.clone()))
                .bind(LEASE_ID)
                .fetch_optional(conn.pg())
                .await
                .map_err(|e| RunError::db("reading the migration lease", e))?;
        match row {
            // Our own take committed, and the reply was lost.
            Some((other, _, Some(generation))) if other == holder => {
                events(Event::LockAcquired { kind: "lease" });
                break (generation, asked);
            }
            Some((other, expires, _))
                if last_seen.as_deref() != Some(other.as_str()) && !other.is_empty() =>
            {
                events(Event::LockWaiting {
                    holder: other.clone(),
                    expires_at: Some(expires),
                });
                last_seen = Some(other);
            }
            _ => {}
        }
        tokio::time::sleep(
            Duration::from_millis(250) + Duration::from_millis(fastrand::u64(..250)),
        )
        .await;
    };

    // Heartbeat: renew at a third of the lease. A renewal that finds the row taken means
    // the lease was lost; renewals that keep failing let `valid_until` pass, and the run
    // renews before its next step (`Lock::confirm`).
    let certain = lease.mul_f64(0.95);
    let valid_until = Arc::new(Mutex::new(taken_at + certain));
    let lost = Arc::new(AtomicBool::new(false));
    let (stop, mut stopped) = oneshot::channel::<()>();
    let fence = Fence {
        table,
        holder,
        generation,
    };
    let (lost_flag, until, fence_hb, policy) =
        (lost.clone(), valid_until.clone(), fence.clone(), *policy);
    let connector_hb = connector.clone();
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut stopped => return Some(conn),
                _ = tokio::time::sleep(lease / 3) => {}
            }
            let _ = conn.refresh_if_old(&connector_hb).await;
            let asked = Instant::now();
            match renew_retrying(&mut conn, &connector_hb, &policy, &fence_hb, lease).await {
                Some(true) => *until.lock().expect("not poisoned") = asked + certain,
                Some(false) => {
                    lost_flag.store(true, Ordering::SeqCst);
                    return Some(conn);
                }
                None => {} // unreachable this time; `valid_until` decides
            }
        }
    });
    Ok(Lock::Lease {
        fence,
        lease,
        keeper: Keeper {
            lost,
            valid_until: Some(valid_until),
            stop,
            task,
        },
    })
}

/// One renewal, retried on conflicts and lost connections: `Some(true)` renewed,
/// `Some(false)` the lease is someone else's, `None` the database could not be reached.
async fn renew_retrying(
    conn: &mut Conn,
    connector: &Connector,
    policy: &RetryPolicy,
    fence: &Fence,
    lease: Duration,
) -> Option<bool> {
    let (mut conflicts, mut failures) = (0, 0);
    loop {
        let e = match renew(conn.pg(), fence, lease).await {
            Ok(renewed) => return Some(renewed),
            Err(e) => e,
        };
        if let Some(wait) =
            policy.after_conflict(&e, &mut conflicts, &"renewing the migration lease")
        {
            tokio::time::sleep(wait).await;
        } else if let Some(wait) =
            policy.after_lost_connection(&e, &mut failures, &"renewing the migration lease")
        {
            tokio::time::sleep(wait).await;
            let _ = conn.reconnect(connector).await;
        } else {
            tracing::warn!("renewing the migration lease failed: {e}");
            return None;
        }
    }
}
