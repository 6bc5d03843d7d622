//! A loopback proxy in front of the test PostgreSQL that cuts connections at protocol
//! boundaries: at random, or right after the server committed something, before the
//! client hears of it (the "uncertain commit" DSQL's documentation tells clients to
//! handle). A tokio task; connect to it with `sslmode=disable` so the stream is plain
//! protocol messages.
//!
//! Server responses are forwarded whole, at each `ReadyForQuery`. A response is a commit
//! point when the server reports no open transaction afterwards (`ReadyForQuery` status
//! `I`) and it completed a command that changes something: a `COMMIT`, or a statement in
//! autocommit (DDL under DSQL's rules).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Where to cut.
#[derive(Debug, Clone)]
pub enum Cuts {
    /// Nowhere (the commit points are still counted).
    Never,
    /// At each response with probability `rate`: before the client hears it, or just
    /// after; and each request with probability `rate / 4`, before the server sees it.
    Random { seed: u64, rate: f64 },
    /// On the connection whose response completes the `nth` commit point (0-based, over
    /// all connections), before the client hears of it.
    AtCommit { nth: usize },
    /// At the first commit point whose transaction completed a command tagged `tag`
    /// (`INSERT 0 11`), before the client hears of it.
    AtCommitOf { tag: String },
}

struct Shared {
    cuts: Mutex<Cuts>,
    rng: Mutex<fastrand::Rng>,
    commit_points: AtomicUsize,
    made: AtomicUsize,
    upstream: String,
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

enum Decision {
    Forward,
    CutBefore,
    CutAfter,
}

impl Shared {
    /// `transaction`: the tags of the commands completed since the connection was last
    /// outside a transaction; `status`: the `ReadyForQuery` status that ends the response.
    fn decide(&self, transaction: &[String], status: u8) -> Decision {
        let read_only = |t: &str| {
            [
                "SELECT", "SHOW", "BEGIN", "SET", "ROLLBACK", "START", "DISCARD",
            ]
            .iter()
            .any(|p| t.starts_with(p))
        };
        let commit_point = status == b'I' && transaction.iter().any(|t| !read_only(t));
        let index = commit_point.then(|| self.commit_points.fetch_add(1, Ordering::SeqCst));
        let mut cuts = self.cuts.lock().unwrap();
        let decision = match &*cuts {
            Cuts::Never => Decision::Forward,
            Cuts::AtCommit { nth } if index == Some(*nth) => Decision::CutBefore,
            Cuts::AtCommit { .. } => Decision::Forward,
            Cuts::AtCommitOf { tag } if commit_point && transaction.iter().any(|t| t == tag) => {
                *cuts = Cuts::Never;
                Decision::CutBefore
            }
            Cuts::AtCommitOf { .. } => Decision::Forward,
            Cuts::Random { rate, .. } => {
                let mut rng = self.rng.lock().unwrap();
                if rng.f64() < *rate {
                    if rng.bool() {
                        Decision::CutBefore
                    } else {
                        Decision::CutAfter
                    }
                } else {
                    Decision::Forward
                }
            }
        };
        if !matches!(decision, Decision::Forward) {
            self.made.fetch_add(1, Ordering::SeqCst);
        }
        decision
    }

    fn cut_request(&self) -> bool {
        let cut = match &*self.cuts.lock().unwrap() {
            Cuts::Random { rate, .. } => self.rng.lock().unwrap().f64() < rate / 4.0,
            _ => false,
        };
        if cut {
            self.made.fetch_add(1, Ordering::SeqCst);
        }
        cut
    }
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: &str, cuts: Cuts) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seed = if let Cuts::Random { seed, .. } = &cuts {
            *seed
        } else {
            0
        };
        let shared = Arc::new(Shared {
            cuts: Mutex::new(cuts),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            commit_points: AtomicUsize::new(0),
            made: AtomicUsize::new(0),
            upstream: upstream.to_owned(),
        });
        let accepting = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, accepting.clone()));
            }
        });
        Proxy { port, shared, task }
    }

    /// `url` (a `postgres://` URL) pointed at the proxy, without TLS.
    pub fn url(&self, url: &str) -> String {
        let host_start = url
            .find('@')
            .map(|i| i + 1)
            .unwrap_or_else(|| url.find("://").unwrap() + 3);
        let host_end = host_start + url[host_start..].find('/').unwrap();
        let sep = if url.contains('?') { '&' } else { '?' };
        format!(
            "{}127.0.0.1:{}{}{sep}sslmode=disable",
            &url[..host_start],
            self.port,
            &url[host_end..]
        )
    }

    /// Commit points seen so far.
    pub fn commit_points(&self) -> usize {
        self.shared.commit_points.load(Ordering::SeqCst)
    }

    /// Connections cut so far.
    pub fn cuts_made(&self) -> usize {
        self.shared.made.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The tag of a CommandComplete message.
fn tag(message: &[u8]) -> String {
    let body = &message[5..];
    String::from_utf8_lossy(body.split(|b| *b == 0).next().unwrap_or_default()).into_owned()
}

async fn serve(client: TcpStream, shared: Arc<Shared>) {
    let Ok(server) = TcpStream::connect(&shared.upstream).await else {
        return;
    };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let requests = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = from_client.read(&mut buf).await?;
            if n == 0 || shared.cut_request() {
                return Ok::<(), std::io::Error>(());
            }
            to_server.write_all(&buf[..n]).await?;
        }
    };
    let responses = async {
        let mut buf = vec![0u8; 64 * 1024];
        let mut unparsed: Vec<u8> = Vec::new();
        let mut response: Vec<u8> = Vec::new();
        let mut transaction: Vec<String> = Vec::new();
        loop {
            let n = from_server.read(&mut buf).await?;
            if n == 0 {
                return Ok::<(), std::io::Error>(());
            }
            unparsed.extend_from_slice(&buf[..n]);
            while unparsed.len() >= 5 {
                let len = u32::from_be_bytes([unparsed[1], unparsed[2], unparsed[3], unparsed[4]])
                    as usize;
                if unparsed.len() < 1 + len {
                    break;
                }
                let message: Vec<u8> = unparsed.drain(..1 + len).collect();
                response.extend_from_slice(&message);
                match message[0] {
                    b'C' => transaction.push(tag(&message)),
                    b'Z' => {
                        match shared.decide(&transaction, message[5]) {
                            Decision::Forward => to_client.write_all(&response).await?,
                            Decision::CutBefore => return Ok(()),
                            Decision::CutAfter => {
                                to_client.write_all(&response).await?;
                                return Ok(());
                            }
                        }
                        response.clear();
                        if message[5] == b'I' {
                            transaction.clear();
                        }
                    }
                    _ => {}
                }
            }
        }
    };
    // Whichever direction ends (a cut, or a side closing), both connections close.
    tokio::select! {
        _ = requests => {}
        _ = responses => {}
    }
}
