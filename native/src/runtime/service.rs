//! What an application does with a connection's requests: a [`Service`] (or, when its answer is
//! ready as soon as the head arrives, an [`InstantService`]), and the [`Responder`] it writes
//! its answer through.

use crate::runtime;
use crate::runtime::conn::{ByteStream, Conn};
use ricochet_core::http::connection::ServerConnection;
use ricochet_core::http::request::Request;
use ricochet_core::http::status::Status;
use std::future::Future;
use std::io;
use std::time::Instant;

/// What an application does with a connection's requests.
pub trait Service: Send {
    /// What is kept of a request head while its body is read and dropped (the head borrows the
    /// receive buffer, which the body reuses).
    type Pending: Send;

    /// A request head arrived; `keep_alive` is the machine's expectation. Take what the answer
    /// needs. A service whose answer is ready at once may append it to `out`: the driver writes
    /// `out` when it next waits for the peer, so pipelined answers go out in one write (and
    /// drops the answer if the request's body then turns out malformed).
    fn handle_request(
        &mut self,
        request: &Request<'_>,
        keep_alive: bool,
        out: &mut Vec<u8>,
    ) -> Self::Pending;

    /// Answer the request (its body has been dropped), through `responder`. Returns whether the
    /// connection may carry another request (false when the answer said `Connection: close` or
    /// fell short of what it announced).
    fn respond<S: ByteStream>(
        &mut self,
        pending: Self::Pending,
        keep_alive: bool,
        responder: &mut Responder<'_, S>,
    ) -> impl Future<Output = io::Result<bool>> + Send;

    /// The driver answered `status`'s error page (`sent` bytes, `body` of them its body) for a
    /// request that failed or timed out before it could be answered: log it.
    fn handle_error_page(&mut self, status: Status, sent: u64, body: u64, started: Option<Instant>);
}

/// A service whose answer is complete as soon as the request head arrives (balancer, admin): it
/// writes the answer into the driver's buffer, and nothing is left for [`Service::respond`].
pub trait InstantService: Send {
    /// Answer `request` into `out`; returns whether the connection may carry another request.
    fn answer(&mut self, request: &Request<'_>, keep_alive: bool, out: &mut Vec<u8>) -> bool;

    /// As [`Service::handle_error_page`].
    fn error(&mut self, status: Status, sent: u64, body: u64, started: Option<Instant>);
}

impl<T: InstantService> Service for T {
    /// Whether the answer let the connection go on.
    type Pending = bool;

    fn handle_request(
        &mut self,
        request: &Request<'_>,
        keep_alive: bool,
        out: &mut Vec<u8>,
    ) -> bool {
        self.answer(request, keep_alive, out)
    }

    async fn respond<S: ByteStream>(
        &mut self,
        keep_alive: bool,
        _: bool,
        _: &mut Responder<'_, S>,
    ) -> io::Result<bool> {
        Ok(keep_alive)
    }

    fn handle_error_page(
        &mut self,
        status: Status,
        sent: u64,
        body: u64,
        started: Option<Instant>,
    ) {
        InstantService::error(self, status, sent, body, started);
    }
}

/// Writes a service's answer under the connection's write deadline.
pub struct Responder<'a, S> {
    conn: &'a mut Conn<S>,
    machine: &'a mut ServerConnection,
    /// Answers batched before this one: they go out first.
    batched: &'a mut Vec<u8>,
    sent: u64,
}

impl<'a, S: ByteStream> Responder<'a, S> {
    /// A responder writing after the answers `batched` so far.
    pub(crate) fn new(
        conn: &'a mut Conn<S>,
        machine: &'a mut ServerConnection,
        batched: &'a mut Vec<u8>,
    ) -> Responder<'a, S> {
        Responder {
            conn,
            machine,
            batched,
            sent: 0,
        }
    }

    /// Write all of `bytes`; fails if the peer takes nothing for the write timeout.
    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        if !self.batched.is_empty() {
            self.conn
                .write_all(self.batched, self.machine, runtime::now())
                .await?;
            self.batched.clear();
        }
        let before = self.conn.written();
        let written = self
            .conn
            .write_all(bytes, self.machine, runtime::now())
            .await;
        self.sent += self.conn.written() - before;
        written
    }

    /// Bytes written through this responder, also when a write failed midway (what the
    /// access log reports for an answer cut short).
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// When the request's first byte arrived.
    pub fn request_started(&self) -> Option<Instant> {
        self.machine.request_started()
    }
}
