//! One server-side HTTP/1.1 connection as a state machine: which request to answer, which body
//! bytes to skip, when to time out, whether to keep the connection, when and how to close it.
//!
//! In the spirit of h11's `Connection` and quinn-proto's timers. The caller owns the socket and
//! the receive buffer: it passes the whole unconsumed buffer to
//! [`ServerConnection::poll_event`] with the current time, acts on the [`Event`], and drops the
//! [`Step::consumed`] bytes from the front of its buffer once it no longer needs the event (a
//! request borrows the buffer). Between reads it sleeps until [`ServerConnection::poll_timeout`]
//! and then calls [`ServerConnection::handle_timeout`].
//!
//! A cycle: [`Event::Request`] (answer-independent parts of the head, e.g. a route, are taken
//! now), [`Event::Continue`] if the client waits for `100 Continue` before a body the machine
//! will read, [`Event::NeedData`] while the body is read and dropped, [`Event::Respond`]
//! (write the answer, calling [`ServerConnection::handle_write_progress`] as it goes), then
//! [`ServerConnection::handle_response_done`], and the machine decides whether a next request
//! may follow. A malformed head or body, an oversized head or a head not finished in time gives
//! [`Event::Error`] with the status to answer; after it the connection only closes.

use crate::http::body::BodyDecoder;
use crate::http::request::{Limits, Request, RequestParser};
use crate::http::status::Status;
use crate::http::{BodyKind, Parsed};
use std::time::{Duration, Instant};

/// The interim answer written on [`Event::Continue`].
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Deadlines and limits of a server connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// Request-head limits for the parser.
    pub limits: Limits,
    /// Longest time from a head's first byte to its end (then 408); also how long a fresh
    /// connection may stay silent (then a quiet close).
    pub header_timeout: Duration,
    /// Longest wait for the next request on a kept-alive connection (then a quiet close), and
    /// for the next bytes of a request body.
    pub idle_timeout: Duration,
    /// Longest time a write may make no progress (then the connection is dropped). A slow but
    /// steady reader is never cut off.
    pub write_timeout: Duration,
    /// Largest request body read and dropped to keep the connection; a larger one is answered
    /// without being read, and the connection closed.
    pub max_discard: u64,
    /// How long to read and drop the peer's leftovers before closing after a final answer.
    pub linger: Duration,
    /// Most bytes read and dropped while lingering.
    pub max_linger: usize,
}

impl ConnectionConfig {
    /// The settings the binaries' command lines give: head limits, header timeout, and an idle
    /// timeout that also bounds a write without progress; the rest as by default.
    pub fn new(limits: Limits, header_timeout: Duration, idle_timeout: Duration) -> Self {
        ConnectionConfig {
            limits,
            header_timeout,
            idle_timeout,
            write_timeout: idle_timeout,
            ..ConnectionConfig::default()
        }
    }
}

impl Default for ConnectionConfig {
    /// Header 10 s, idle and write 60 s, bodies up to 1 MiB skipped, linger 1 s or 256 KiB.
    fn default() -> Self {
        ConnectionConfig {
            limits: Limits::default(),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(60),
            max_discard: 1024 * 1024,
            linger: Duration::from_secs(1),
            max_linger: 256 * 1024,
        }
    }
}

/// What the caller does next; see the module docs for the cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'b> {
    /// A request head, borrowing the buffer. Take what the answer needs from it, then poll again
    /// (the body, if any, is read and dropped first).
    Request {
        /// The parsed head.
        request: Request<'b>,
        /// Whether the connection is expected to stay open after the answer (its version and
        /// `Connection` header, a body small enough to skip, no drain under way). Final unless a
        /// chunked body turns out too large or a drain starts: [`Event::Respond`] says.
        keep_alive: bool,
    },
    /// Answer the last request now; the answer says `Connection: close` unless `keep_alive`.
    /// Returned again on every poll until [`ServerConnection::handle_response_done`].
    Respond {
        /// Whether the connection may carry another request after this answer.
        keep_alive: bool,
    },
    /// Answer this status's error page with `Connection: close`, then call
    /// [`ServerConnection::handle_response_done`]. Returned again until then.
    Error(Status),
    /// The client sent `Expect: 100-continue` and waits before sending a body the machine will
    /// read: write [`CONTINUE`] ahead of this request's answer, then poll again. Returned once.
    /// Not returned when the body will not be read (too large: the final answer goes out at
    /// once and the connection closes), nor for HTTP/1.0, nor once body bytes have arrived.
    Continue,
    /// Read more bytes (or wait until [`ServerConnection::poll_timeout`]), then poll again.
    NeedData,
    /// Shut down the sending side and keep reading, feeding what arrives to
    /// [`ServerConnection::poll_event`] (it is dropped) until [`Event::Close`]: closing with
    /// unread bytes would make the kernel send a reset that can destroy the last answer.
    Linger,
    /// Close the connection. Returned on every poll from now on.
    Close,
}

/// One answer of [`ServerConnection::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step<'b> {
    /// Bytes of the buffer used up: drop them from its front once done with [`Step::event`].
    pub consumed: usize,
    /// What to do.
    pub event: Event<'b>,
}

#[derive(Debug, Clone)]
enum State {
    /// Waiting for (the rest of) a head; `since` is when the wait began.
    Head {
        since: Instant,
        started: Option<Instant>,
    },
    /// Reading and dropping the body of the request handed out; `since` is the last progress.
    Body {
        decoder: BodyDecoder,
        keep_alive: bool,
        since: Instant,
        /// The client waits for `100 Continue` (not sent yet).
        expects_continue: bool,
    },
    /// The request is being answered.
    Respond {
        keep_alive: bool,
        /// Unread bytes of the request (a body too large to skip) remain.
        linger: bool,
    },
    /// A final error is being answered.
    Fail {
        status: Status,
    },
    /// The answer is done and the connection ends; `linger` if unread bytes are known to follow.
    Closing {
        linger: bool,
    },
    Linger {
        until: Instant,
        drained: usize,
    },
    Closed,
}

/// The server side of one connection. See the module docs.
#[derive(Debug, Clone)]
pub struct ServerConnection {
    config: ConnectionConfig,
    parser: RequestParser,
    state: State,
    /// Answers completed so far.
    served: u64,
    draining: bool,
    /// When the first byte of the last request handed out arrived.
    request_started: Option<Instant>,
    /// A write is under way: when it last made progress.
    writing: Option<Instant>,
    /// The peer closed its sending side: no request can follow the current answer.
    peer_closed: bool,
}

impl ServerConnection {
    /// A fresh connection accepted at `now`: it has the header timeout to start a request.
    pub fn new(config: ConnectionConfig, now: Instant) -> Self {
        ServerConnection {
            config,
            parser: RequestParser::new(config.limits),
            state: State::Head {
                since: now,
                started: None,
            },
            served: 0,
            draining: false,
            writing: None,
            request_started: None,
            peer_closed: false,
        }
    }

    /// The most bytes the caller needs to buffer: a little more than the longest head, so the
    /// parser reports an oversized head (431) before the buffer fills.
    pub fn buffer_size(&self) -> usize {
        self.config.limits.max_head.saturating_add(1024)
    }

    /// Feed the whole unconsumed buffer; see [`Event`] for what to do with the answer.
    pub fn poll_event<'b>(&mut self, buf: &'b [u8], now: Instant) -> Step<'b> {
        fn event(consumed: usize, event: Event<'_>) -> Step<'_> {
            Step { consumed, event }
        }
        let buffer_size = self.buffer_size();
        match &mut self.state {
            // Nothing of a head yet (a fresh or kept-alive connection before its read).
            State::Head { .. } if buf.is_empty() => event(0, Event::NeedData),
            State::Head { started, .. } => match self.parser.parse(buf) {
                Ok(Parsed::Complete { value, consumed }) => {
                    let fits = match value.body {
                        BodyKind::Length(n) => n <= self.config.max_discard,
                        _ => true,
                    };
                    // A client waiting for `100 Continue` before a body that a refused method
                    // would carry gets the final status at once, then the connection ends: it
                    // may send the body or not, so where a next request would start is unknown.
                    let refused = value.sends_continue(true)
                        && crate::http::error_page::allowed_method(value.method)
                            .answer_instead()
                            .is_some();
                    let fits = fits && !refused;
                    let keep_alive = value.keep_alive && fits && !self.draining;
                    self.request_started = Some(started.unwrap_or(now));
                    self.state = if fits {
                        State::Body {
                            decoder: BodyDecoder::new(value.body),
                            keep_alive,
                            since: now,
                            expects_continue: value.sends_continue(true),
                        }
                    } else {
                        State::Respond {
                            keep_alive: false,
                            linger: true,
                        }
                    };
                    event(
                        consumed,
                        Event::Request {
                            request: value,
                            keep_alive,
                        },
                    )
                }
                Ok(Parsed::Partial) => {
                    if buf.len() >= buffer_size {
                        return event(0, self.fail(Status::HEADER_FIELDS_TOO_LARGE));
                    }
                    if !buf.is_empty() && started.is_none() {
                        *started = Some(now);
                    }
                    event(0, Event::NeedData)
                }
                Err(e) => event(0, self.fail(e.status())),
            },
            State::Body {
                decoder,
                keep_alive,
                since,
                expects_continue,
            } => {
                if std::mem::take(expects_continue) && buf.is_empty() && decoder.received() == 0 {
                    return event(0, Event::Continue);
                }
                let mut used = 0;
                while !decoder.is_done()
                    && decoder.received() <= self.config.max_discard
                    && used < buf.len()
                {
                    match decoder.decode(&buf[used..]) {
                        Ok(step) if step.consumed == 0 => break,
                        Ok(step) => used += step.consumed,
                        Err(e) => return event(used, self.fail(e.status())),
                    }
                }
                let (keep_alive, linger) = if decoder.is_done() {
                    (*keep_alive && !self.draining, false)
                } else if decoder.received() > self.config.max_discard {
                    (false, true)
                } else {
                    if used > 0 {
                        *since = now;
                    }
                    return event(used, Event::NeedData);
                };
                self.state = State::Respond { keep_alive, linger };
                event(used, Event::Respond { keep_alive })
            }
            State::Respond { keep_alive, .. } => event(
                0,
                Event::Respond {
                    keep_alive: *keep_alive,
                },
            ),
            State::Fail { status } => event(0, Event::Error(*status)),
            State::Closing { linger } => {
                if *linger || !buf.is_empty() {
                    self.state = State::Linger {
                        until: now.checked_add(self.config.linger).unwrap_or(now),
                        drained: 0,
                    };
                    event(0, Event::Linger)
                } else {
                    self.state = State::Closed;
                    event(0, Event::Close)
                }
            }
            State::Linger { until, drained } => {
                *drained += buf.len();
                if *drained >= self.config.max_linger || now >= *until {
                    self.state = State::Closed;
                    event(buf.len(), Event::Close)
                } else {
                    event(buf.len(), Event::NeedData)
                }
            }
            State::Closed => event(0, Event::Close),
        }
    }

    /// Enter the final error state: answer `status`, then close.
    fn fail(&mut self, status: Status) -> Event<'static> {
        self.state = State::Fail { status };
        Event::Error(status)
    }

    /// The answer to the current request (or error) has been written. `keep_alive` is false when
    /// the answer itself ended the connection (it said `Connection: close`, or a file shrank so
    /// it fell short of its announced length). The machine decides whether to wait for another
    /// request (the idle timeout runs from `now`) or to close; poll next.
    pub fn handle_response_done(&mut self, now: Instant, keep_alive: bool) {
        match self.state {
            State::Respond {
                keep_alive: planned,
                linger,
                ..
            } => {
                self.served += 1;
                self.state = if self.peer_closed {
                    State::Closing { linger: false }
                } else if planned && keep_alive && !self.draining {
                    State::Head {
                        since: now,
                        started: None,
                    }
                } else {
                    State::Closing { linger }
                };
            }
            State::Fail { .. } => {
                self.state = State::Closing {
                    linger: !self.peer_closed,
                }
            }
            _ => {}
        }
    }

    /// A write begins, or bytes of it were taken, at `now`: the write timeout counts from
    /// here until [`ServerConnection::handle_write_done`].
    pub fn handle_write_progress(&mut self, now: Instant) {
        self.writing = Some(now);
    }

    /// Everything written so far was taken: no write deadline runs.
    pub fn handle_write_done(&mut self) {
        self.writing = None;
    }

    /// The peer closed its sending side (a read returned end of stream). An answer under way
    /// still completes; otherwise the connection closes, with nothing to answer.
    pub fn handle_eof(&mut self) {
        self.peer_closed = true;
        if !matches!(self.state, State::Respond { .. } | State::Fail { .. }) {
            self.state = State::Closed;
        }
    }

    /// When to call [`ServerConnection::handle_timeout`]; `None` when no deadline runs (or one
    /// so far away that an `Instant` cannot hold it).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let config = &self.config;
        if let Some(progress) = self.writing {
            return progress.checked_add(config.write_timeout);
        }
        match &self.state {
            State::Head {
                started: Some(started),
                ..
            } => started.checked_add(config.header_timeout),
            State::Head { since, .. } if self.served == 0 => {
                since.checked_add(config.header_timeout)
            }
            State::Head { since, .. } => since.checked_add(config.idle_timeout),
            State::Body { since, .. } => since.checked_add(config.idle_timeout),
            State::Linger { until, .. } => Some(*until),
            State::Respond { .. } | State::Fail { .. } | State::Closing { .. } | State::Closed => {
                None
            }
        }
    }

    /// Time has passed; does nothing before [`ServerConnection::poll_timeout`]. A head begun but
    /// not finished gets 408 ([`Event::Error`]); a silent or idle connection, a stalled body or
    /// write, or the end of lingering closes ([`Event::Close`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.poll_timeout() {
            Some(deadline) if now >= deadline => {}
            _ => return,
        }
        if self.writing.take().is_some() {
            self.state = State::Closed;
            return;
        }
        self.state = match self.state {
            State::Head {
                started: Some(_), ..
            } => State::Fail {
                status: Status::REQUEST_TIMEOUT,
            },
            _ => State::Closed,
        };
    }

    /// Stop taking requests (graceful shutdown): an answer under way (or a request whose body is
    /// being read) completes and the connection then closes; a connection waiting for a request
    /// closes at once, even if part of the next head has arrived.
    pub fn start_drain(&mut self) {
        self.draining = true;
        if let State::Head { .. } = self.state {
            self.state = State::Closing { linger: false };
        }
    }

    /// Whether [`ServerConnection::start_drain`] was called.
    pub fn is_draining(&self) -> bool {
        self.draining
    }

    /// Whether the connection is over (the next poll says [`Event::Close`]).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Whether the connection waits for a request with nothing of it received yet: a drain
    /// closes it at once and loses nothing.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Head { started: None, .. })
    }

    /// When the first byte of the last request handed out arrived (for logging its duration).
    pub fn request_started(&self) -> Option<Instant> {
        self.request_started
    }

    /// Answers completed on this connection.
    pub fn requests_served(&self) -> u64 {
        self.served
    }
}
