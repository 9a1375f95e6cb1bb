//! The balancer's admin listener (`--admin ADDR`): status page, `/status.json`, `/metrics` and
//! `POST /reload`, answered by the core's [`ricochet_core::balance::admin`] application. It runs on its
//! own listener so metrics and controls are never exposed where clients are redirected.
//!
//! Snapshots come from what the prober and the redirect connections share through
//! [`Published`]: the prober's latest snapshot, the ranking in force and the counters.

use crate::balancer::files::Files;
use crate::balancer::Published;
use crate::runtime::accept;
use crate::runtime::driver::{self, InstantService, Shutdown};
use crate::runtime::TcpListener;
use ricochet_core::balance::admin::{self, Control, Reload, StatusReport};
use ricochet_core::balance::pool::Policy;
use ricochet_core::http::connection::ConnectionConfig;
use ricochet_core::http::request::{Limits, Request};
use ricochet_core::http::status::Status;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Most admin connections open at once.
const MAX_CONNECTIONS: usize = 64;
/// Time to send a request head, and to wait for the next one on a kept-alive connection.
const TIMEOUT: Duration = Duration::from_secs(10);

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
    /// The file checks of `--verify-files`, whose counts the report carries (`None`: off).
    pub files: Option<Arc<Files>>,
}

impl Control for Admin {
    fn report(&mut self) -> StatusReport {
        let ranking = self.published.current();
        let now = Instant::now();
        let wall = SystemTime::now();
        let version = env!("CARGO_PKG_VERSION");
        let mut status = match self.published.snapshot() {
            Some(snapshot) => {
                StatusReport::from_snapshot(&snapshot, &ranking, self.started, now, wall, version)
            }
            // Only before the prober's first step, and the admin listener starts after its
            // first round: an empty page rather than a panic.
            None => empty_report(self.started, now, wall, version),
        };
        let redirects = self.published.redirects();
        // With --workers: this process's counts plus the workers' latest.
        let (mut requests, peer_redirects) = self.published.peer_totals();
        for server in &mut status.servers {
            server.redirects = redirects.get(server.index).copied().unwrap_or(0)
                + peer_redirects.get(&server.address).copied().unwrap_or(0);
        }
        for (code, n) in self.published.requests().snapshot() {
            *requests.entry(code).or_insert(0) += n;
        }
        status.requests = requests.into_iter().collect();
        status.files = self.files.as_ref().map(|files| files.counters());
        status.prober = self.published.prober();
        status
    }

    fn reload(&mut self) -> Reload {
        match &self.reload {
            Some(hook) => hook(),
            None => Reload::Refused("this balancer cannot reload its server list".into()),
        }
    }
}

fn empty_report(started: Instant, now: Instant, wall: SystemTime, version: &str) -> StatusReport {
    StatusReport {
        version: version.to_string(),
        time: wall,
        uptime: now.saturating_duration_since(started),
        policy: Policy::default(),
        probe_path: String::new(),
        probe_interval: Duration::ZERO,
        next_probe: None,
        servers: Vec::new(),
        requests: Vec::new(),
        files: None,
        prober: None,
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

/// Serve `admin` from `listener` (bound at `addr`) in the background until `shutdown` fires,
/// then print [`announce_line`] on stdout; warns first if `addr` is not loopback.
pub fn spawn(listener: TcpListener, addr: SocketAddr, admin: Admin, shutdown: Shutdown) {
    warn_if_exposed(addr);
    crate::runtime::spawn(serve_until(listener, admin, shutdown));
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", announce_line(addr));
    let _ = stdout.flush();
}

/// Answer admin requests from `listener` until `shutdown` fires; then let every connection
/// drain and return once all have closed.
pub async fn serve_until(listener: TcpListener, admin: Admin, shutdown: Shutdown) {
    accept::accept_loop(
        listener,
        MAX_CONNECTIONS,
        shutdown,
        move |stream, peer, stop| {
            let mut service = AdminService {
                admin: admin.clone(),
                peer,
            };
            async move {
                let config = ConnectionConfig::new(Limits::default(), TIMEOUT, TIMEOUT);
                driver::run(stream, config, &mut service, &stop).await;
            }
        },
    )
    .await
}

/// The admin listener's side of one connection: the core's admin application, answering at
/// once into the driver's output buffer.
struct AdminService {
    admin: Admin,
    peer: SocketAddr,
}

impl InstantService for AdminService {
    fn answer(&mut self, request: &Request<'_>, keep_alive: bool, out: &mut Vec<u8>) -> bool {
        let answer = admin::answer(request, keep_alive, &mut self.admin, SystemTime::now(), out);
        log::debug!(
            "admin {} \"{} {}\" {}",
            self.peer,
            request.method,
            request.raw_target,
            answer.status
        );
        answer.keep_alive
    }

    fn error(&mut self, status: Status, _: u64, _: u64, _: Option<Instant>) {
        log::debug!("admin {} \"-\" {status}", self.peer);
    }
}
