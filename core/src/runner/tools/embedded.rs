//! A throwaway PostgreSQL from the machine's own server binaries: `initdb` into a
//! temporary directory (under `/dev/shm` when it exists), `postgres` on a free port,
//! removed on drop. As root it runs the server as the unprivileged `postgres` (or
//! `nobody`) user, since PostgreSQL refuses to run as root. Used by `verify` when no server
//! is named, and by the benchmarks to keep the disk out of the numbers.
//! (`../shared/research/embedded-pg.md` measured the options; this is its in-house helper.)

use crate::runner::base::error::RunError;
use std::os::unix::fs::chown;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running throwaway server.
pub struct EmbeddedPostgres {
    root: PathBuf,
    child: Child,
    port: u16,
    /// The server's major version, for messages.
    pub version: String,
}

const INSTALL_HINT: &str = "install the PostgreSQL server package (Debian/Ubuntu: `apt-get install postgresql`), or name a server with --connection-string / DATABASE_URL";

fn input(message: String) -> RunError {
    RunError::Config(message)
}

/// The directory holding `initdb` and `postgres`.
fn find_bindir() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("PG_BINDIR")
        .map(PathBuf::from)
        .filter(|d| has_server(d))
    {
        return Some(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_server(&dir) {
            return Some(dir);
        }
    }
    // Debian and Ubuntu keep the server out of PATH, one folder per major version.
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.sort_by_key(|p| {
        std::cmp::Reverse(
            p.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0),
        )
    });
    versions
        .into_iter()
        .chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ))
        .find(|d| has_server(d))
}

/// `(uid, gid)` of `name` from /etc/passwd.
fn user_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&name) && fields.len() > 3)
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
            .flatten()
    })
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

fn free_port() -> Result<u16, RunError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| input(format!("finding a free port: {e}")))?;
    Ok(listener
        .local_addr()
        .map_err(|e| input(format!("finding a free port: {e}")))?
        .port())
}

/// Every throwaway server's folder is `<base>/tablewright-pg-<pid of its tablewright>-<random>`.
const ROOT_PREFIX: &str = "tablewright-pg-";

/// Servers and folders left by a `tablewright` that was killed (SIGKILL, OOM) before its
/// drop ran: their owner's process is gone, and nothing else would ever stop the server
/// or free the memory its folder holds in /dev/shm. The server is stopped (SIGQUIT, its
/// immediate shutdown) only when `/proc` shows it is that folder's `postgres`; the folder
/// is removed.
fn sweep_abandoned(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(owner) = name
            .strip_prefix(ROOT_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new("/proc").join(owner.to_string()).exists() {
            continue; // its tablewright is running (or the pid was reused: left alone)
        }
        let data = entry.path().join("data");
        let server = std::fs::read_to_string(data.join("postmaster.pid"))
            .ok()
            .and_then(|text| {
                text.lines()
                    .next()
                    .and_then(|l| l.trim().parse::<u32>().ok())
            });
        if let Some(server) = server {
            let cmdline = std::fs::read(format!("/proc/{server}/cmdline")).unwrap_or_default();
            let ours = String::from_utf8_lossy(&cmdline).contains(&*data.to_string_lossy());
            if ours {
                let _ = Command::new("kill")
                    .args(["-QUIT", &server.to_string()])
                    .status();
                let deadline = Instant::now() + Duration::from_secs(10);
                while Path::new(&format!("/proc/{server}")).exists() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

impl EmbeddedPostgres {
    /// Starts a server; fails with an installation hint when no server binaries exist.
    pub async fn start() -> Result<EmbeddedPostgres, RunError> {
        let bindir = find_bindir().ok_or_else(|| {
            input(format!(
                "no PostgreSQL server binaries (initdb, postgres) found: {INSTALL_HINT}"
            ))
        })?;
        let owner = if running_as_root() {
            Some(user_ids("postgres").or_else(|| user_ids("nobody")).ok_or_else(|| input("running as root and no `postgres` or `nobody` user to run the server as".into()))?)
        } else {
            None
        };
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        sweep_abandoned(&base);
        let root = base.join(format!(
            "{ROOT_PREFIX}{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        let data = root.join("data");
        std::fs::create_dir_all(&data)
            .map_err(|e| input(format!("creating {}: {e}", root.display())))?;
        if let Some((uid, gid)) = owner {
            for dir in [&root, &data] {
                chown(dir, Some(uid), Some(gid)).map_err(|e| {
                    input(format!("handing {} to the server user: {e}", dir.display()))
                })?;
            }
        }
        let as_owner = |cmd: &mut Command| {
            if let Some((uid, gid)) = owner {
                cmd.uid(uid).gid(gid);
            }
            cmd.env("LC_ALL", "C.UTF-8").stdin(Stdio::null());
        };
        let mut initdb = Command::new(bindir.join("initdb"));
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ]);
        as_owner(&mut initdb);
        let out = initdb
            .output()
            .map_err(|e| input(format!("running initdb: {e}")))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(&root);
            return Err(input(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let version = std::fs::read_to_string(data.join("PG_VERSION"))
            .unwrap_or_default()
            .trim()
            .to_owned();
        let port = free_port()?;
        let mut server = Command::new(bindir.join("postgres"));
        server
            .arg("-D")
            .arg(&data)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                &format!("port={port}"),
                "-c",
            ])
            .arg(format!("unix_socket_directories={}", data.display()))
            .args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        as_owner(&mut server);
        let child = server
            .spawn()
            .map_err(|e| input(format!("starting postgres: {e}")))?;
        let embedded = EmbeddedPostgres {
            root,
            child,
            port,
            version,
        };
        let started = Instant::now();
        loop {
            use sqlx::Connection;
            match sqlx::PgConnection::connect(&embedded.url("postgres")).await {
                Ok(conn) => {
                    let _ = conn.close().await;
                    return Ok(embedded);
                }
                Err(_) if started.elapsed() < Duration::from_secs(30) => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => {
                    return Err(RunError::Connect {
                        target: embedded.url("postgres"),
                        source: e,
                    });
                }
            }
        }
    }

    /// URL of a database on this server.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        // SIGINT is PostgreSQL's "fast shutdown"; std can only send SIGKILL itself.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
