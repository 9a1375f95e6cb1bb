//! The balancer's side of a client connection: every request answered with
//! [`Redirect::answer`] from the published ranking, logged, and counted.
//!
//! With `--verify-files` a GET or HEAD is answered once the core's [`PickRequest`] has found a
//! server holding the current copy ([`Files`]): at once when the index already knows one, else
//! after the checks it waits on. `GET /PATH?mirrorlist` gets the core's mirror list page.
//!
//! [`Redirect::answer`]: ricochet_core::balance::redirect::Redirect::answer

use crate::balancer::config::Config;
use crate::balancer::files::{self, Files};
use crate::balancer::line::{Line, OwnedLine};
use crate::balancer::published::{Published, View};
use crate::runtime::accept;
use crate::runtime::conn::ByteStream;
use crate::runtime::driver::{self, Responder, Service, Shutdown};
use ricochet_core::balance::file_pick::{PickRequest, PickStep};
use ricochet_core::balance::file_redirect::FileRequest;
use ricochet_core::balance::mirror_meta::{self, insert_digest_fields};
use ricochet_core::balance::mirror_page::{self, MirrorPage};
use ricochet_core::balance::redirect::{answer_unavailable, Answer};
use ricochet_core::http::access_log;
use ricochet_core::http::request::Request;
use ricochet_core::http::status::Status;
use ricochet_core::http::url::Scheme;
use std::io;
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

/// The balancer's side of one connection.
struct Redirector<'a> {
    config: &'a Config,
    published: &'a Published,
    view: View,
    peer: SocketAddr,
}

/// A request answered once the file checks it waits on are in.
enum Pending {
    /// Answered already, into the driver's buffer: whether the connection may go on.
    Answered(bool),
    /// Waiting for file checks.
    Waiting(Box<Waiting>),
}

/// What a waiting request keeps of its head.
struct Waiting {
    pick: PickRequest<'static>,
    query: Option<String>,
    head_only: bool,
    unreachable: Option<usize>,
    keep_alive: bool,
    generation: u64,
    line: OwnedLine,
    received: SystemTime,
}

impl Service for Redirector<'_> {
    type Pending = Pending;

    fn handle_request(
        &mut self,
        request: &Request<'_>,
        keep_alive: bool,
        out: &mut Vec<u8>,
    ) -> Pending {
        if let Some(asked) = mirror_page::asked(request) {
            let answer = self.mirror_list(request.path(), asked, keep_alive, out);
            self.finish(&Line::of(request), SystemTime::now(), &answer, None);
            return Pending::Answered(answer.keep_alive);
        }
        if let Some(asked) = mirror_meta::asked(request) {
            let ranking = self
                .view
                .refresh(self.published)
                .for_request(scheme(self.config), self.peer.ip());
            let files = self.config.files.as_ref();
            let (path, published) = (request.path(), self.published);
            let answer =
                files::answer_meta(files, path, asked, ranking, published, keep_alive, out);
            self.finish(&Line::of(request), SystemTime::now(), &answer, None);
            return Pending::Answered(answer.keep_alive);
        }
        match &self.config.files {
            None => Pending::Answered(self.answer(request, keep_alive, out)),
            Some(files) => self.answer_verified(files, request, keep_alive, out),
        }
    }

    async fn respond<S: ByteStream>(
        &mut self,
        pending: Pending,
        keep_alive: bool,
        responder: &mut Responder<'_, S>,
    ) -> io::Result<bool> {
        let mut waiting = match pending {
            Pending::Answered(keep_alive) => return Ok(keep_alive),
            Pending::Waiting(waiting) => waiting,
        };
        let files = self
            .config
            .files
            .as_ref()
            .expect("only --verify-files waits");
        let mut generation = waiting.generation;
        let step = loop {
            files.wait(generation).await;
            let ranking = self
                .view
                .refresh(self.published)
                .for_request(scheme(self.config), self.peer.ip());
            let (step, next) = files.poll(&mut waiting.pick, None, ranking, self.published);
            if step != PickStep::Wait {
                break step;
            }
            generation = next;
        };
        let request = FileRequest {
            path: waiting.pick.path(),
            query: waiting.query.as_deref(),
            head_only: waiting.head_only,
            unreachable: waiting.unreachable,
            missing: None,
        };
        let keep_alive = keep_alive && waiting.keep_alive;
        let mut out = Vec::with_capacity(512);
        let ranking = self.view.ranking();
        let holds = |server| waiting.pick.holds(server);
        let answer = self.config.redirect.answer_pick_linked(
            step,
            &request,
            ranking,
            holds,
            files.origin(),
            keep_alive,
            SystemTime::now(),
            &mut out,
        );
        if let Some(digest) = waiting.pick.digest().filter(|_| is_redirect(answer.status)) {
            insert_digest_fields(&mut out, 0, digest);
        }
        let written = responder.write_all(&out).await;
        self.finish(
            &waiting.line.borrow(),
            waiting.received,
            &answer,
            Some(step),
        );
        written.map(|()| answer.keep_alive)
    }

    fn handle_error_page(&mut self, status: Status, _: u64, body: u64, _: Option<Instant>) {
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

impl Redirector<'_> {
    /// Today's answer, without file checks: no lock, no allocation. Over HTTPS only to
    /// https:// servers, and to servers live over the client's family, while there are any (the
    /// core chose each fallback when it built the rankings).
    fn answer(&mut self, request: &Request<'_>, keep_alive: bool, out: &mut Vec<u8>) -> bool {
        let ranking = self
            .view
            .refresh(self.published)
            .for_request(scheme(self.config), self.peer.ip());
        let now = SystemTime::now();
        let answer = {
            let mut rng = rand::rng();
            self.config
                .redirect
                .answer(request, keep_alive, ranking, &mut rng, now, out)
        };
        self.finish(&Line::of(request), now, &answer, None);
        answer.keep_alive
    }

    /// With `--verify-files`: answered at once when the index knows enough, else waiting.
    fn answer_verified(
        &mut self,
        files: &Arc<Files>,
        request: &Request<'_>,
        keep_alive: bool,
        out: &mut Vec<u8>,
    ) -> Pending {
        let ranking = self
            .view
            .refresh(self.published)
            .for_request(scheme(self.config), self.peer.ip());
        let now = SystemTime::now();
        let redirect = &self.config.redirect;
        let file_request = match redirect.file_request(request, keep_alive, ranking, now, out) {
            Ok(file_request) => file_request,
            Err(answer) => {
                self.finish(&Line::of(request), now, &answer, None);
                return Pending::Answered(answer.keep_alive);
            }
        };
        let mut pick = file_request.pick();
        let (step, generation) =
            files.poll(&mut pick, file_request.missing, ranking, self.published);
        if step == PickStep::Wait {
            return Pending::Waiting(Box::new(Waiting {
                pick: pick.into_owned(),
                query: file_request.query.map(str::to_string),
                head_only: file_request.head_only,
                unreachable: file_request.unreachable,
                keep_alive,
                generation,
                line: Line::of(request).to_owned(),
                received: now,
            }));
        }
        let origin = files.origin();
        let start = out.len();
        let holds = |server| pick.holds(server);
        let answer = redirect.answer_pick_linked(
            step,
            &file_request,
            ranking,
            holds,
            origin,
            keep_alive,
            now,
            out,
        );
        if let Some(digest) = pick.digest().filter(|_| is_redirect(answer.status)) {
            insert_digest_fields(out, start, digest);
        }
        self.finish(&Line::of(request), now, &answer, Some(step));
        Pending::Answered(answer.keep_alive)
    }

    /// The `?mirrorlist` page of `path`.
    fn mirror_list(
        &mut self,
        path: &str,
        asked: mirror_page::Asked,
        keep_alive: bool,
        out: &mut Vec<u8>,
    ) -> Answer {
        let head_only = asked.head_only;
        let ranking = self.view.refresh(self.published).all();
        let wall = SystemTime::now();
        let Some(snapshot) = self.published.snapshot() else {
            // Only before the prober's first step, when no client is accepted yet.
            let retry_after = self.config.redirect.retry_after();
            return answer_unavailable(retry_after, head_only, keep_alive, None, wall, out);
        };
        let servers = snapshot
            .servers
            .iter()
            .map(|s| s.index + 1)
            .max()
            .unwrap_or(0);
        let files = self.config.files.as_ref();
        let list = files.map(|f| f.mirror_list(path, ranking, servers));
        let page = MirrorPage {
            path,
            snapshot: &snapshot,
            ranking,
            list: list.as_ref(),
            origin: files.and_then(|f| f.origin()),
            now: Instant::now(),
            wall,
        };
        page.answer(asked.format, head_only, keep_alive, out)
    }

    /// Count, log and report what `answer` did for the request `line` received at `time`
    /// (`step`: what the file pick decided, with `--verify-files`).
    fn finish(&self, line: &Line<'_>, time: SystemTime, answer: &Answer, step: Option<PickStep>) {
        self.published.requests().count(answer.status);
        if let Some(index) = answer.server {
            self.view.count_redirect(index);
        }
        let ranking = self.view.ranking();
        let to = || match (answer.server, step) {
            (Some(i), _) => ranking
                .table()
                .iter()
                .find(|r| r.index == i)
                .map(|r| r.server.as_str()),
            (None, Some(PickStep::Origin)) if answer.status != 503 => self
                .config
                .files
                .as_ref()
                .and_then(|f| f.origin())
                .map(|o| o.as_str()),
            _ => None,
        };
        if let Some(access_log) = &self.config.access_log {
            access_log.record(|out| {
                let entry = access_log::Entry {
                    client: &self.peer.ip(),
                    time,
                    request: Some((line.method, line.target, line.version)),
                    status: answer.status,
                    body_bytes: answer.body_bytes,
                    referer: line.header("referer"),
                    user_agent: line.header("user-agent"),
                };
                access_log::write_redirect(&entry, to(), out);
            });
        }
        if log::log_enabled!(log::Level::Info) {
            let to = to().unwrap_or("-");
            log::info!(
                "{} \"{} {}\" {} -> {to}",
                self.peer,
                line.method,
                line.target,
                answer.status
            );
        }
        if let Some(index) = answer.unreachable {
            self.published.report_unreachable(index);
        }
    }
}

/// A 3xx: a redirect, which carries the file's digest when one is known.
fn is_redirect(status: u16) -> bool {
    (300..400).contains(&status)
}

/// The scheme requests arrive over on this listener.
fn scheme(config: &Config) -> Scheme {
    match config.listener.tls {
        Some(_) => Scheme::Https,
        None => Scheme::Http,
    }
}
