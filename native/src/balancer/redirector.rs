//! The balancer's side of a client connection: every request answered at once with
//! [`Redirect::answer`] from the published ranking, logged, and counted.
//!
//! [`Redirect::answer`]: ricochet_core::balance::redirect::Redirect::answer

use crate::balancer::config::Config;
use crate::balancer::published::{Published, View};
use crate::runtime::accept;
use crate::runtime::conn::ByteStream;
use crate::runtime::driver::{self, InstantService, Shutdown};
use ricochet_core::http::access_log;
use ricochet_core::http::request::Request;
use ricochet_core::http::status::Status;
use ricochet_core::http::url::Scheme;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// One accepted client connection: what it is answered from, and who it is.
pub(super) struct Client {
    pub(super) config: Arc<Config>,
    pub(super) published: Arc<Published>,
    pub(super) peer: SocketAddr,
    pub(super) shutdown: Shutdown,
}

impl accept::Handler for Client {
    fn handle<S: ByteStream>(&self, stream: S) -> impl std::future::Future<Output = ()> + Send {
        serve_connection(
            stream,
            self.peer,
            &self.config,
            &self.published,
            &self.shutdown,
        )
    }
}

/// Answer one connection until it closes, fails or times out. Errors are logged, never raised.
pub async fn serve_connection<S: ByteStream>(
    stream: S,
    peer: SocketAddr,
    config: &Config,
    published: &Published,
    shutdown: &Shutdown,
) {
    let mut redirector = Redirector {
        config,
        published,
        view: published.view(),
        peer,
    };
    let connection = config.listener.connection();
    driver::run(stream, connection, &mut redirector, shutdown).await;
}

/// The balancer's side of one connection: every request answered at once with
/// [`Redirect::answer`] into the driver's output buffer.
struct Redirector<'a> {
    config: &'a Config,
    published: &'a Published,
    view: View,
    peer: SocketAddr,
}

impl InstantService for Redirector<'_> {
    fn answer(&mut self, request: &Request<'_>, keep_alive: bool, out: &mut Vec<u8>) -> bool {
        // Over HTTPS only to https:// servers, and to servers live over the client's family,
        // while there are any (the core chose each fallback when it built the rankings).
        let scheme = match self.config.listener.tls {
            Some(_) => Scheme::Https,
            None => Scheme::Http,
        };
        let ranking = self
            .view
            .refresh(self.published)
            .for_request(scheme, self.peer.ip());
        let now = SystemTime::now();
        let answer = {
            let mut rng = rand::rng();
            self.config
                .redirect
                .answer(request, keep_alive, ranking, &mut rng, now, out)
        };
        self.published.requests().count(answer.status);
        if let Some(index) = answer.server {
            self.view.count_redirect(index);
        }
        let ranking = self.view.ranking();
        let to = || {
            answer
                .server
                .and_then(|i| ranking.table().iter().find(|r| r.index == i))
                .map(|r| r.server.as_str())
        };
        if let Some(access_log) = &self.config.access_log {
            access_log.record(|line| {
                let entry = access_log::Entry {
                    client: &self.peer.ip(),
                    time: now,
                    request: Some((request.method, request.raw_target, request.version.as_str())),
                    status: answer.status,
                    body_bytes: answer.body_bytes,
                    referer: request.header("referer"),
                    user_agent: request.header("user-agent"),
                };
                access_log::write_redirect(&entry, to(), line);
            });
        }
        if log::log_enabled!(log::Level::Info) {
            let to = to().unwrap_or("-");
            log::info!(
                "{} \"{} {}\" {} -> {to}",
                self.peer,
                request.method,
                request.raw_target,
                answer.status
            );
        }
        if let Some(index) = answer.unreachable {
            self.published.report_unreachable(index);
        }
        answer.keep_alive
    }

    fn error(&mut self, status: Status, _: u64, body: u64, _: Option<Instant>) {
        self.published.requests().count(status.code());
        if let Some(access_log) = &self.config.access_log {
            access_log.record(|line| {
                let entry = access_log::Entry {
                    client: &self.peer.ip(),
                    time: SystemTime::now(),
                    request: None,
                    status: status.code(),
                    body_bytes: body,
                    referer: None,
                    user_agent: None,
                };
                access_log::write_redirect(&entry, None, line);
            });
        }
        log::info!("{} \"-\" {status}", self.peer);
    }
}
