//! The file server's [`Service`]: a request in, a file (or an error page) out, and one log
//! line for it (peer, method, target, status, bytes sent, duration), in the access log too.

use crate::runtime::conn::ByteStream;
use crate::runtime::service::{Responder, Service};
use crate::server::access::AccessFields;
use crate::server::send::{send_error, send_file, Answer};
use crate::server::Config;
use ricochet_core::files::serve::{self, FileRequest};
use ricochet_core::http::request::Request;
use ricochet_core::http::status::Status;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

/// The file server's side of one connection: a request in, a file (or an error page) out.
pub struct Files<'a> {
    config: &'a Config,
    peer: SocketAddr,
    /// `METHOD target` of the request being answered, for its log line.
    summary: String,
    /// A response head (and a small file's bytes).
    out: Vec<u8>,
    /// One piece of a larger file.
    chunk: Vec<u8>,
    /// The request's fields for the access log, if there is one.
    access: AccessFields,
}

/// A routed request, or the error page to answer it with.
type Routed = Result<FileRequest, serve::Instead>;

impl<'a> Files<'a> {
    /// The service for one connection from `peer`.
    pub fn new(config: &'a Config, peer: SocketAddr) -> Files<'a> {
        Files {
            config,
            peer,
            summary: String::with_capacity(128),
            out: Vec::with_capacity(4096),
            chunk: Vec::new(),
            access: AccessFields::default(),
        }
    }
}

impl Service for Files<'_> {
    type Pending = Routed;

    fn handle_request(&mut self, request: &Request<'_>, _: bool, _: &mut Vec<u8>) -> Routed {
        self.summary.clear();
        if log::log_enabled!(log::Level::Info) {
            self.summary.push_str(request.method);
            self.summary.push(' ');
            self.summary.push_str(request.raw_target);
        }
        if self.config.access_log.is_some() {
            self.access.keep(request);
        }
        serve::route(request)
    }

    async fn respond<S: ByteStream>(
        &mut self,
        routed: Routed,
        keep_alive: bool,
        responder: &mut Responder<'_, S>,
    ) -> io::Result<bool> {
        let config = self.config;
        let mut answer = Answer::default();
        let answered = match routed {
            Ok(mut request) => {
                request.keep_alive = keep_alive;
                let (out, chunk) = (&mut self.out, &mut self.chunk);
                send_file(responder, &request, config, out, chunk, &mut answer).await
            }
            Err(refused) => {
                let (status, head_only) = (refused.status, refused.head_only);
                send_error(
                    responder,
                    status,
                    keep_alive,
                    head_only,
                    config,
                    &mut answer,
                )
                .await
            }
        };
        // Logged whether or not the answer went out whole: a download its client cut short
        // gets its line too, with the bytes actually sent (as nginx logs it).
        let started = responder.request_started();
        let sent = responder.sent();
        let body = sent.saturating_sub(answer.head as u64);
        if let Some(access_log) = &config.access_log {
            self.access
                .record(access_log, self.peer, answer.status, body);
        }
        log_request(self.peer, &self.summary, answer.status, sent, started);
        answered.map(|()| answer.more)
    }

    fn handle_error_page(
        &mut self,
        status: Status,
        sent: u64,
        body: u64,
        started: Option<Instant>,
    ) {
        if let Some(access_log) = &self.config.access_log {
            // The driver's error page: the request could not be (fully) parsed.
            self.access.unparsed();
            self.access
                .record(access_log, self.peer, status.code(), body);
        }
        log_request(self.peer, "-", status.code(), sent, started);
    }
}

fn log_request(peer: SocketAddr, request: &str, status: u16, sent: u64, started: Option<Instant>) {
    if !log::log_enabled!(log::Level::Info) {
        return;
    }
    let ms = started.map_or(0.0, |t| t.elapsed().as_secs_f64() * 1000.0);
    log::info!("{peer} \"{request}\" {status} {sent} {ms:.1}ms");
}
