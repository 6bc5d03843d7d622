//! Where migrations run and how to connect there.

use super::error::RunError;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use std::fmt;
use std::time::{Duration, Instant};

/// DSQL closes connections after [`crate::dialect::DSQL_MAX_CONNECTION_AGE`]; reconnect
/// well before.
pub(crate) const MAX_CONNECTION_AGE: Duration =
    Duration::from_secs(crate::dialect::DSQL_MAX_CONNECTION_AGE.as_secs() * 5 / 6);

/// A database to migrate.
#[derive(Clone)]
pub enum Target {
    /// PostgreSQL at a URL.
    Postgres {
        /// `postgres://..`
        url: String,
    },
    /// A PostgreSQL URL run under every Aurora DSQL rule; only the syntax PostgreSQL lacks
    /// is translated (see [`crate::sql::emulate`]).
    DsqlEmulated {
        /// `postgres://..`
        url: String,
    },
    /// Aurora DSQL, as `admin`, with an IAM token signed for every connection.
    #[cfg(feature = "dsql")]
    Dsql {
        /// `<cluster>.dsql.<region>.on.aws`
        endpoint: String,
        /// AWS region.
        region: String,
    },
}

impl Target {
    /// A PostgreSQL database at `url` run under `dialect`'s rules: DSQL's emulated there,
    /// or plain PostgreSQL (the scratch databases of verify, drift and import).
    pub(crate) fn emulating(dialect: crate::dialect::Dialect, url: &str) -> Target {
        match dialect {
            crate::dialect::Dialect::Dsql => Target::DsqlEmulated {
                url: url.to_owned(),
            },
            crate::dialect::Dialect::Postgres => Target::Postgres {
                url: url.to_owned(),
            },
        }
    }

    /// Whether DSQL's rules apply: one statement per transaction, history writes apart,
    /// lease lock instead of advisory lock.
    pub fn dsql_rules(&self) -> bool {
        !matches!(self, Target::Postgres { .. })
    }

    /// Whether DSQL syntax must be translated for PostgreSQL.
    pub fn translates(&self) -> bool {
        matches!(self, Target::DsqlEmulated { .. })
    }

    /// Whether async jobs are real (DSQL) and must be awaited with `sys.wait_for_job`.
    pub(crate) fn has_jobs(&self) -> bool {
        #[cfg(feature = "dsql")]
        if matches!(self, Target::Dsql { .. }) {
            return true;
        }
        false
    }

    /// Whether server sessions can be observed and cancelled (`pg_stat_activity`,
    /// `pg_cancel_backend`): PostgreSQL, emulated DSQL included; not Aurora DSQL.
    pub(crate) fn has_sessions(&self) -> bool {
        matches!(self, Target::Postgres { .. } | Target::DsqlEmulated { .. })
    }

    /// The provider's name, as `--provider` spells it.
    pub fn provider(&self) -> &'static str {
        match self {
            Target::Postgres { .. } => "postgres",
            Target::DsqlEmulated { .. } => "dsql (emulated on PostgreSQL)",
            #[cfg(feature = "dsql")]
            Target::Dsql { .. } => "dsql",
        }
    }
}

/// Shows where a target points without any secret (a password in a URL is masked).
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Postgres { url } | Target::DsqlEmulated { url } => {
                write!(f, "{} at {}", self.provider(), redact_url(url))
            }
            #[cfg(feature = "dsql")]
            Target::Dsql { endpoint, region } => write!(f, "dsql at {endpoint} ({region})"),
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`; also masks every
/// `password=` parameter (URL query or key=value form). Made for malformed input too: a
/// password holding an unencoded `/`, `?`, `#` or `@` would end a URL parser's userinfo
/// early, so the userinfo here runs to the *last* `@`, and everything after its first `:`
/// is masked (a host or query with an `@` in it is masked too, never a secret shown).
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        if let Some(at) = out[rest_start..].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest_start + colon + 1..rest_start + at, "***");
            }
        }
    }
    let mut from = 0;
    while let Some(found) = out[from..].to_ascii_lowercase().find("password=") {
        let value_start = from + found + "password=".len();
        let rest = &out[value_start..];
        let value_len = match rest.strip_prefix('\'') {
            // key=value form: 'quoted value' with '' or \' inside.
            Some(quoted) => {
                let mut end = quoted.len();
                let mut chars = quoted.char_indices().peekable();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '\'' if chars.peek().map(|(_, n)| *n) == Some('\'') => {
                            chars.next();
                        }
                        '\'' => {
                            end = i + 1;
                            break;
                        }
                        _ => {}
                    }
                }
                1 + end
            }
            None => rest
                .find(|c: char| c == '&' || c.is_whitespace())
                .unwrap_or(rest.len()),
        };
        out.replace_range(value_start..value_start + value_len, "***");
        from = value_start + 3;
    }
    out
}

/// Opens connections to a target; for DSQL, each with a freshly signed token.
#[derive(Clone)]
pub struct Connector {
    target: Target,
    #[cfg(feature = "dsql")]
    signer: Option<std::sync::Arc<super::dsql::Signer>>,
}

impl Connector {
    /// Prepares to connect (for DSQL, loads AWS credentials once).
    pub async fn new(target: Target) -> Result<Connector, RunError> {
        #[cfg(feature = "dsql")]
        let signer = match &target {
            Target::Dsql { endpoint, region } => Some(std::sync::Arc::new(
                super::dsql::Signer::new(endpoint, region).await?,
            )),
            _ => None,
        };
        Ok(Connector {
            target,
            #[cfg(feature = "dsql")]
            signer,
        })
    }

    /// The database it connects to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// A new connection; on PostgreSQL it knows its server session.
    pub async fn connect(&self) -> Result<Conn, RunError> {
        let options = self.options().await?;
        let failed = |e| RunError::Connect {
            target: self.target.to_string(),
            source: e,
        };
        let mut conn = options.connect().await.map_err(failed)?;
        let session = if self.target.has_sessions() {
            let (pid, started): (i32, String) = sqlx::query_as("SELECT pid, extract(epoch FROM backend_start)::text FROM pg_stat_activity WHERE pid = pg_backend_pid()")
                .fetch_one(&mut conn)
                .await
                .map_err(failed)?;
            Some(Session { pid, started })
        } else {
            None
        };
        Ok(Conn {
            conn,
            opened: Instant::now(),
            session,
        })
    }

    async fn options(&self) -> Result<PgConnectOptions, RunError> {
        match &self.target {
            Target::Postgres { url } | Target::DsqlEmulated { url } => url
                .parse::<PgConnectOptions>()
                .map_err(|e| {
                    RunError::Config(format!(
                        "connection string {}: {e} (in a URL, a password holding `/`, `?`, `#`, `@` or `%` is written percent-encoded: `%2F`, `%3F`, `%23`, `%40`, `%25`)",
                        redact_url(url)
                    ))
                }),
            #[cfg(feature = "dsql")]
            Target::Dsql { .. } => self.signer.as_ref().expect("a dsql target has a signer").options().await,
        }
    }
}

/// A PostgreSQL server session: the backend's pid and start time (pids are reused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// `pg_backend_pid()`.
    pub pid: i32,
    /// `backend_start`, in seconds since the epoch, as the server prints them.
    pub started: String,
}

impl Session {
    /// As the history records it: `pid@backend_start`.
    pub(crate) fn to_record(&self) -> String {
        format!("{}@{}", self.pid, self.started)
    }

    /// Reads [`Session::to_record`]'s form.
    pub(crate) fn from_record(text: &str) -> Option<Session> {
        let (pid, started) = text.split_once('@')?;
        Some(Session {
            pid: pid.parse().ok()?,
            started: started.to_owned(),
        })
    }
}

/// A connection that knows its age and, on PostgreSQL, its server session.
pub struct Conn {
    conn: PgConnection,
    opened: Instant,
    session: Option<Session>,
}

impl Conn {
    /// The server session, where the target has them.
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// The connection, for sqlx.
    pub fn pg(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    /// Replaces the connection when it is close to DSQL's 60-minute limit.
    pub(crate) async fn refresh_if_old(&mut self, connector: &Connector) -> Result<(), RunError> {
        if self.opened.elapsed() >= MAX_CONNECTION_AGE {
            let fresh = connector.connect().await?;
            let old = std::mem::replace(self, fresh);
            let _ = old.conn.close().await;
        }
        Ok(())
    }

    /// Replaces a connection that failed.
    pub async fn reconnect(&mut self, connector: &Connector) -> Result<(), RunError> {
        *self = connector.connect().await?;
        tracing::info!("reconnected");
        Ok(())
    }

    /// Closes the connection politely.
    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact_url("postgres://admin:s3cr3t@db:5432/app"),
            "postgres://admin:***@db:5432/app"
        );
        assert_eq!(
            redact_url("postgres://db/app?user=a&password=s3cr3t&sslmode=require"),
            "postgres://db/app?user=a&password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/x"),
            "postgres://postgres@127.0.0.1/x"
        );
        // Malformed on purpose: unencoded separators, an `@`, a password given twice.
        for (url, secret) in [
            ("postgres://admin:pa/ss@db/app", "pa/ss"),
            ("postgres://admin:pa?ss@db/app", "pa?ss"),
            ("postgres://admin:p@ss@db/app", "p@ss"),
            ("postgres://admin:pa#ss@db/app", "pa#ss"),
            ("postgres://db/app?password=one&password=two", "two"),
            ("postgres://db/app?PASSWORD=loud", "loud"),
            ("host=db user=admin password=s3cr3t dbname=app", "s3cr3t"),
            ("host=db password='se cr''et' dbname=app", "cr''et"),
        ] {
            let shown = redact_url(url);
            assert!(!shown.contains(secret), "{url} → {shown}");
        }
    }
}
