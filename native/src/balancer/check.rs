//! One file check of `--verify-files`: `HEAD` of a path on a server of the pool or on the
//! origin (TLS for `https://`), read up to the end of the head, on a kept-alive connection.
//!
//! [`Checker`] keeps, per server (its base URL), the connections whose last answer allowed
//! another request, at most [`MAX_PER_SERVER`] of them and none idle for longer than
//! [`MAX_IDLE`], and lets at most [`MAX_PER_SERVER`] checks of one server run at once (the
//! others wait their turn within their verify timeout). A check takes an idle connection when
//! there is one; a kept connection the server closed meanwhile (nothing came back) is dropped
//! and the check goes on with the next, or a new one. So a stream of checks costs a handful
//! of connections per server, not one each (each closed one would leave a socket in
//! `TIME_WAIT` for a minute).
//!
//! Connecting is the prober's ([`exchange`]); reading the response and what it says
//! ([`FileHead::from_response`]) are the core's. This module only connects, sends, reads,
//! keeps connections, and bounds the whole by the verify timeout.

use crate::runtime::exchange::{self, ConnectError, ReceiveError, Received, TlsClient};
use crate::runtime::notify::Notify;
use crate::runtime::tls::Stream;
use crate::runtime::{self, AsyncWriteExt};
use ricochet_core::balance::file_check::{CheckFailure, CheckResult, FileHead, WANT_DIGEST_FIELDS};
use ricochet_core::balance::pool::ServerAddr;
use ricochet_core::balance::redirect::location;
use ricochet_core::http::exchange::{Event, ReadError, ResponseReader};
use ricochet_core::http::url::Url;
use ricochet_core::http::write::write_request_head_with;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Largest response head a checked server may send (also the receive buffer: only the head is
/// read).
const MAX_HEAD: usize = 32 * 1024;

/// Checks of one server running at once, and connections kept idle per server.
pub const MAX_PER_SERVER: usize = 8;

/// A kept connection idle this long is closed rather than reused: servers close idle
/// connections after a few seconds (Apache after 5).
pub const MAX_IDLE: Duration = Duration::from_secs(4);

/// The file checks' connections, per server. See the module docs.
pub struct Checker {
    tls: TlsClient,
    servers: Mutex<HashMap<String, PerServer>>,
    /// Moves on whenever a check ends: checks waiting for their turn look again.
    ended: Notify,
}

#[derive(Default)]
struct PerServer {
    running: usize,
    /// Most recently kept last.
    idle: Vec<(Stream, Instant)>,
}

/// One running check's turn on its server; ends it when dropped (also when the check is
/// abandoned at its timeout).
struct Turn<'a> {
    checker: &'a Checker,
    key: &'a str,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if let Some(server) = self.checker.lock().get_mut(self.key) {
            server.running -= 1;
        }
        self.checker.ended.notify_all();
    }
}

/// How one exchange on one connection went.
enum Attempt {
    /// An answer (or a failure that is the server's), and the connection if it may be reused.
    Done(CheckResult, Option<Stream>),
    /// A kept connection the server had closed: nothing came back. Try another.
    Stale,
}

impl Checker {
    /// Checks of `https://` servers verified with `tls`.
    pub fn new(tls: TlsClient) -> Checker {
        Checker {
            tls,
            servers: Mutex::new(HashMap::new()),
            ended: Notify::new(),
        }
    }

    /// `HEAD` of `path` on `server` (its URL prefix put in front, as for a redirect), giving
    /// up after `timeout` ([`CheckFailure::Timeout`]), waiting for its turn included. A
    /// connection or protocol failure is [`CheckFailure::Error`]; any complete head, whatever
    /// its status, is an answer.
    pub async fn head(&self, server: &ServerAddr, path: &str, timeout: Duration) -> CheckResult {
        let Ok(url) = Url::parse(&location(server.base_url(), path, None)) else {
            return Err(CheckFailure::Error);
        };
        let deadline = Instant::now() + timeout;
        let check = async {
            let _turn = self.turn(server.base_url()).await;
            self.exchange(server.base_url(), &url, deadline).await
        };
        runtime::timeout(timeout, check)
            .await
            .unwrap_or(Err(CheckFailure::Timeout))
    }

    /// Connections kept idle now, over every server.
    pub fn idle(&self) -> usize {
        self.lock().values().map(|s| s.idle.len()).sum()
    }

    /// Wait until fewer than [`MAX_PER_SERVER`] checks of `key` run, and count this one.
    async fn turn<'a>(&'a self, key: &'a str) -> Turn<'a> {
        loop {
            let generation = self.ended.generation();
            {
                let mut servers = self.lock();
                let server = match servers.get_mut(key) {
                    Some(server) => server,
                    None => servers.entry(key.to_string()).or_default(),
                };
                if server.running < MAX_PER_SERVER {
                    server.running += 1;
                    return Turn { checker: self, key };
                }
            }
            self.ended.changed(generation).await;
        }
    }

    /// Kept connections first (most recently kept first), then a new one.
    async fn exchange(&self, key: &str, url: &Url, deadline: Instant) -> CheckResult {
        while let Some(stream) = self.take_idle(key) {
            match self.ask(stream, url, deadline, true).await {
                Attempt::Done(result, stream) => return self.keep(key, result, stream),
                Attempt::Stale => log::debug!("file check of {url}: kept connection closed"),
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let stream = match exchange::connect(url, &self.tls, left).await {
            Ok(stream) => stream,
            Err(ConnectError::Timeout) => return Err(CheckFailure::Timeout),
            Err(e) => {
                log::debug!("file check of {url}: {e}");
                return Err(CheckFailure::Error);
            }
        };
        match self.ask(stream, url, deadline, false).await {
            Attempt::Done(result, stream) => self.keep(key, result, stream),
            Attempt::Stale => Err(CheckFailure::Error),
        }
    }

    fn take_idle(&self, key: &str) -> Option<Stream> {
        let mut servers = self.lock();
        let idle = &mut servers.get_mut(key)?.idle;
        let now = Instant::now();
        // Too old to trust: closed here (they are the oldest, at the front).
        let stale = idle
            .iter()
            .take_while(|(_, since)| now.duration_since(*since) >= MAX_IDLE)
            .count();
        idle.drain(..stale);
        idle.pop().map(|(stream, _)| stream)
    }

    fn keep(&self, key: &str, result: CheckResult, stream: Option<Stream>) -> CheckResult {
        if let Some(stream) = stream {
            let mut servers = self.lock();
            if let Some(server) = servers.get_mut(key) {
                if server.idle.len() >= MAX_PER_SERVER {
                    server.idle.remove(0);
                }
                server.idle.push((stream, Instant::now()));
            }
        }
        result
    }

    /// One `HEAD` on `stream`; `reused`: it was kept from an earlier check, so a close before
    /// any answer means it went stale, not that the server fails.
    async fn ask(&self, mut stream: Stream, url: &Url, deadline: Instant, reused: bool) -> Attempt {
        let left = || deadline.saturating_duration_since(Instant::now());
        let mut request = Vec::with_capacity(256);
        let fields = &WANT_DIGEST_FIELDS;
        write_request_head_with(
            &mut request,
            "HEAD",
            url,
            exchange::USER_AGENT,
            true,
            fields,
        );
        let send = async {
            stream.write_all(&request).await?;
            stream.flush().await
        };
        match runtime::timeout(left(), send).await {
            Some(Ok(())) => {}
            None => return Attempt::Done(Err(CheckFailure::Timeout), None),
            Some(Err(_)) if reused => return Attempt::Stale,
            Some(Err(_)) => return Attempt::Done(Err(CheckFailure::Error), None),
        }
        let mut received = Received::new(MAX_HEAD);
        let mut reader = ResponseReader::with_max_head(true, MAX_HEAD);
        let (head, keep_alive) = loop {
            let event = received
                .next_event(&mut stream, &mut reader, left(), |event| match event {
                    Event::Head(response) => {
                        Some((FileHead::from_response(&response), response.keep_alive))
                    }
                    _ => None,
                })
                .await;
            match event {
                Ok(Some(answer)) => break answer,
                // An interim response: the final head follows.
                Ok(None) if !reader.is_done() => {}
                Ok(None) => return Attempt::Done(Err(CheckFailure::Error), None),
                Err(ReceiveError::Timeout) => {
                    return Attempt::Done(Err(CheckFailure::Timeout), None)
                }
                Err(ReceiveError::Read(ReadError::NoResponse) | ReceiveError::Io(_)) if reused => {
                    return Attempt::Stale
                }
                Err(e) => {
                    log::debug!("file check of {url}: {e}");
                    return Attempt::Done(Err(CheckFailure::Error), None);
                }
            }
        };
        // A HEAD's answer has no body: the reader is done at once, without reading. Anything
        // more already sent would be an answer to no request: not reused then.
        let done = matches!(
            received
                .next_event(&mut stream, &mut reader, left(), |event| matches!(
                    event,
                    Event::End
                ))
                .await,
            Ok(true)
        );
        let reusable = keep_alive && done && received.pending().is_empty();
        Attempt::Done(Ok(head), reusable.then_some(stream))
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, PerServer>> {
        // A panic elsewhere while holding it leaves whole entries: carry on.
        self.servers.lock().unwrap_or_else(|e| e.into_inner())
    }
}
