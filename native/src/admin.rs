//! The balancer's admin listener (`--admin ADDR`): status page, `/status.json`, `/metrics` and
//! `POST /reload`, answered by the core's [`ricochet_core::admin`] application. It runs on its
//! own listener so metrics and controls are never exposed where clients are redirected.
//!
//! Snapshots come from what the prober and the redirect connections share through
//! [`Published`]: the prober's latest [`Balancer`](ricochet_core::balancer::Balancer) state, the
//! ranking in force and the counters.

use crate::accept;
use crate::balancer::Published;
use crate::conn::{Conn, FillError};
use crate::runtime::{TcpListener, TcpStream};
use ricochet_core::admin::{self, Control, Reload, Status};
use ricochet_core::pool::Ranking;
use ricochet_core::request::{Limits, RequestParser};
use ricochet_core::{redirect, Parsed};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Most admin connections open at once.
const MAX_CONNECTIONS: usize = 64;
/// Time to send a request head, and to wait for the next one on a kept-alive connection.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long to read and drop a client's leftovers after a final error response.
const LINGER: Duration = Duration::from_secs(1);

/// What `POST /reload` calls: re-read the server list, as on SIGHUP.
pub type ReloadHook = Arc<dyn Fn() -> Reload + Send + Sync>;

/// What the admin listener reports on and controls.
#[derive(Clone)]
pub struct Admin {
    /// The balancer's shared state and counters.
    pub published: Arc<Published>,
    /// When the balancer started (for the uptime).
    pub started: Instant,
    /// The reload hook; `None` answers 409.
    pub reload: Option<ReloadHook>,
}

impl Control for Admin {
    fn status(&mut self) -> Status {
        let ranking = self.published.current();
        let now = Instant::now();
        let wall = SystemTime::now();
        let version = env!("CARGO_PKG_VERSION");
        let mut status = match self.published.probe_state() {
            Some(balancer) => {
                Status::from_balancer(&balancer, &ranking, self.started, now, wall, version)
            }
            // Before the prober's first step (the admin listener starts after it): no servers.
            None => empty_status(&ranking, self.started, now, wall, version),
        };
        let redirects = self.published.redirects();
        for (server, n) in status.servers.iter_mut().zip(redirects) {
            server.redirects = n;
        }
        status.requests = self.published.requests().snapshot();
        status
    }

    fn reload(&mut self) -> Reload {
        match &self.reload {
            Some(hook) => hook(),
            None => Reload::Refused("this balancer cannot reload its server list".into()),
        }
    }
}

fn empty_status(
    ranking: &Ranking,
    started: Instant,
    now: Instant,
    wall: SystemTime,
    version: &str,
) -> Status {
    Status {
        version: version.to_string(),
        time: wall,
        uptime: now.saturating_duration_since(started),
        policy: ranking.policy(),
        probe_path: String::new(),
        probe_interval: Duration::ZERO,
        next_probe: None,
        servers: Vec::new(),
        requests: Vec::new(),
    }
}

/// Log a warning if `addr` is reachable from other machines.
pub fn warn_if_exposed(addr: SocketAddr) {
    if !addr.ip().is_loopback() {
        log::warn!(
            "the admin listener on {addr} is not on a loopback address: anyone who can reach it \
             can read the metrics and trigger reloads"
        );
    }
}

/// The line printed once the admin listener is up, e.g. `admin on http://127.0.0.1:12346`.
pub fn announce_line(addr: SocketAddr) -> String {
    format!("admin on http://{addr}")
}

/// Serve `admin` from `listener` (bound at `addr`) in the background, then print
/// [`announce_line`] on stdout; warns first if `addr` is not loopback.
pub fn spawn(listener: TcpListener, addr: SocketAddr, admin: Admin) {
    warn_if_exposed(addr);
    crate::runtime::spawn(async move {
        serve(listener, admin).await;
    });
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", announce_line(addr));
    let _ = stdout.flush();
}

/// Answer admin requests from `listener` forever.
pub async fn serve(listener: TcpListener, admin: Admin) -> ! {
    accept::accept_loop(listener, MAX_CONNECTIONS, move |stream, peer| {
        let admin = admin.clone();
        async move { handle_connection(stream, peer, admin).await }
    })
    .await
}

/// Answer one admin connection (keep-alive, pipelining) until it closes, fails or times out.
async fn handle_connection(stream: TcpStream, peer: SocketAddr, mut admin: Admin) {
    let limits = Limits::default();
    let mut conn = Conn::new(stream, limits.max_head + 1024);
    let mut parser = RequestParser::new(limits);
    let mut out = Vec::with_capacity(4096);
    loop {
        out.clear();
        let mut close = false;
        loop {
            match parser.parse(conn.buffered()) {
                Ok(Parsed::Complete { value, consumed }) => {
                    let answer = admin::answer(&value, &mut admin, SystemTime::now(), &mut out);
                    log::debug!(
                        "admin {peer} \"{} {}\" {}",
                        value.method,
                        value.raw_target,
                        answer.status
                    );
                    conn.consume(consumed);
                    if !answer.keep_alive {
                        close = true;
                        break;
                    }
                }
                Ok(Parsed::Partial) => break,
                Err(e) => {
                    log::debug!("admin {peer}: {e}");
                    redirect::answer_parse_error(&e, SystemTime::now(), &mut out);
                    close = true;
                    break;
                }
            }
        }
        if !out.is_empty() && conn.write_all(&out, TIMEOUT).await.is_err() {
            return;
        }
        if close {
            conn.close_gracefully(LINGER).await;
            return;
        }
        match conn.fill(Instant::now() + TIMEOUT).await {
            Ok(_) => {}
            Err(FillError::TimedOut) if !conn.buffered().is_empty() => {
                let mut out = Vec::new();
                redirect::answer_status(408, false, false, SystemTime::now(), &mut out);
                if conn.write_all(&out, TIMEOUT).await.is_ok() {
                    conn.close_gracefully(LINGER).await;
                }
                return;
            }
            Err(_) => return,
        }
    }
}
