//! The one loop behind every server-side connection (file server and balancer alike): read,
//! feed the core's [`ServerConnection`], do what it says, sleep until its next deadline.
//!
//! What differs between applications is only "request in, response out": a [`Service`]. The
//! driver batches answers a service writes into its output buffer (every pipelined request
//! already received is answered in one write) and writes the core's error pages itself.
//! [`Shutdown`] is the graceful-stop hook: when it fires, accept loops stop and every
//! connection drains (the answer in flight completes, an idle connection closes at once).

use crate::runtime;
use crate::runtime::conn::{ByteStream, Conn, FillError};
use ricochet_core::http::connection::{self, ConnectionConfig, Event, ServerConnection};
use ricochet_core::http::error_page::{self, Reply};
use std::time::{Instant, SystemTime};

// Where they were declared before `service` and `stop` were split out.
pub use crate::runtime::service::{InstantService, Responder, Service};
pub use crate::runtime::stop::{Open, Shutdown, ShutdownTrigger, StopWatch};

/// Batched answers are written once they reach this size, before the next pipelined request
/// is answered: many small requests in one read must not make a connection hold megabytes.
const MAX_BATCHED: usize = 64 * 1024;

/// Serve one connection with `service` until it closes, fails or times out. Errors are logged,
/// never raised. When `shutdown` fires the connection drains.
pub async fn run<S: ByteStream, A: Service>(
    stream: S,
    config: ConnectionConfig,
    service: &mut A,
    shutdown: &Shutdown,
) {
    let mut now = runtime::now();
    let mut machine = ServerConnection::new(config, now);
    let mut conn = Conn::new(stream, machine.buffer_size());
    let mut out: Vec<u8> = Vec::with_capacity(2048);
    // Where the answer to the request now being read starts in `out`.
    let mut mark = 0;
    let mut pending: Option<A::Pending> = None;
    // Whether the answer to the request being read already went out (an instant answer flushed
    // while its body was still arriving): a failing body then gets no second answer.
    let mut answered_early = false;
    let mut stop = shutdown.watch();
    if shutdown.is_triggered() {
        machine.start_drain();
    }
    loop {
        let step = machine.poll_event(conn.buffered(), now);
        let consumed = step.consumed;
        match step.event {
            Event::Request {
                request,
                keep_alive,
            } => {
                mark = out.len();
                answered_early = false;
                pending = Some(service.handle_request(&request, keep_alive, &mut out));
                conn.consume(consumed);
            }
            Event::Respond { keep_alive } => {
                conn.consume(consumed);
                let Some(request) = pending.take() else {
                    // Cannot happen: Respond always follows a Request. Close rather than loop.
                    log::error!("answer asked for without a request");
                    return;
                };
                let mut responder = Responder::new(&mut conn, &mut machine, &mut out);
                let more = match service.respond(request, keep_alive, &mut responder).await {
                    Ok(more) => more,
                    Err(e) => {
                        log::debug!("write failed: {e}");
                        return;
                    }
                };
                if responder.sent() > 0 {
                    now = runtime::now();
                }
                if out.len() >= MAX_BATCHED && !flush(&mut conn, &mut machine, &mut out, now).await
                {
                    return;
                }
                mark = out.len();
                machine.handle_response_done(now, more);
                // A stop that came while answering: no further request starts.
                if !machine.is_draining() && shutdown.is_triggered() {
                    machine.start_drain();
                }
            }
            Event::Error(status) if answered_early => {
                // One request, one answer: the connection just closes.
                conn.consume(consumed);
                log::debug!("{status} after the request was answered: closing");
                pending = None;
                mark = 0;
                machine.handle_response_done(now, false);
            }
            Event::Error(status) => {
                conn.consume(consumed);
                // The answer prepared for a request whose body then failed is not sent.
                out.truncate(mark);
                pending = None;
                let before = out.len();
                let written =
                    error_page::write(status, Reply::CLOSE, SystemTime::now(), &[], &mut out);
                let sent = out.len() - before;
                let body = sent - written.head_len;
                if !flush(&mut conn, &mut machine, &mut out, now).await {
                    return;
                }
                let started = machine.request_started();
                service.handle_error_page(status, sent as u64, body as u64, started);
                mark = 0;
                machine.handle_response_done(now, false);
            }
            Event::Continue => {
                // Ahead of an answer the service may already have batched for this request.
                out.splice(mark..mark, connection::CONTINUE.iter().copied());
                mark += connection::CONTINUE.len();
            }
            Event::NeedData => {
                conn.consume(consumed);
                answered_early |= pending.is_some() && out.len() > mark;
                if !flush(&mut conn, &mut machine, &mut out, now).await {
                    return;
                }
                mark = 0;
                let deadline = machine.poll_timeout().unwrap_or(now);
                let filled = if machine.is_draining() {
                    Some(conn.fill(deadline).await)
                } else {
                    stop.until(conn.fill(deadline)).await
                };
                now = runtime::now();
                match filled {
                    None => machine.start_drain(),
                    Some(Ok(_)) | Some(Err(FillError::BufferFull)) => {}
                    Some(Err(FillError::TimedOut)) => machine.handle_timeout(now),
                    Some(Err(FillError::Closed)) => machine.handle_eof(),
                    Some(Err(FillError::Io(e))) => {
                        log::debug!("read failed: {e}");
                        return;
                    }
                }
            }
            Event::Linger => {
                conn.consume(consumed);
                if !flush(&mut conn, &mut machine, &mut out, now).await {
                    return;
                }
                conn.shutdown_write().await;
            }
            Event::Close => {
                conn.closing();
                if flush(&mut conn, &mut machine, &mut out, now).await {
                    conn.finish().await;
                }
                return;
            }
        }
    }
}

/// Write the batched answers in `out`, if any. False if the connection failed.
async fn flush<S: ByteStream>(
    conn: &mut Conn<S>,
    machine: &mut ServerConnection,
    out: &mut Vec<u8>,
    now: Instant,
) -> bool {
    if out.is_empty() {
        return true;
    }
    let result = conn.write_all(out, machine, now).await;
    out.clear();
    machine.handle_write_done();
    match result {
        Ok(()) => true,
        Err(e) => {
            log::debug!("write failed: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::accept;
    use crate::runtime::{self, AsyncReadExt, AsyncWriteExt};
    use futures::channel::oneshot;
    use ricochet_core::http::request::Request;
    use ricochet_core::http::status::Status;
    use std::io;
    use std::time::Duration;

    const BODY: &[u8] = b"0123456789";

    /// Answers every request with [`BODY`], written in pieces 100 ms apart.
    struct Slow;

    impl Service for Slow {
        type Pending = ();

        fn handle_request(&mut self, _: &Request<'_>, _: bool, _: &mut Vec<u8>) {}

        async fn respond<S: ByteStream>(
            &mut self,
            _: (),
            keep_alive: bool,
            responder: &mut Responder<'_, S>,
        ) -> io::Result<bool> {
            let connection = if keep_alive { "keep-alive" } else { "close" };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
                BODY.len()
            );
            responder.write_all(head.as_bytes()).await?;
            for piece in BODY.chunks(5) {
                runtime::sleep(Duration::from_millis(100)).await;
                responder.write_all(piece).await?;
            }
            Ok(keep_alive)
        }

        fn handle_error_page(&mut self, _: Status, _: u64, _: u64, _: Option<Instant>) {}
    }

    /// Read until `ends_with` is seen; then whether the peer closed right after.
    async fn read_response(stream: &mut runtime::TcpStream) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.ends_with(BODY) {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        got
    }

    async fn closed(stream: &mut runtime::TcpStream) -> bool {
        let mut buf = [0u8; 64];
        matches!(
            runtime::timeout(Duration::from_secs(5), stream.read(&mut buf)).await,
            Some(Ok(0) | Err(_))
        )
    }

    #[test]
    fn shutdown_finishes_answers_in_flight_closes_idle_connections_and_stops_accepting() {
        runtime::block_on(async {
            let listener = runtime::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (trigger, shutdown) = Shutdown::new();
            let (done_tx, done_rx) = oneshot::channel();
            runtime::spawn(async move {
                accept::accept_loop(listener, 16, shutdown, move |stream, _, stop| async move {
                    let config = ConnectionConfig::default();
                    run(stream, config, &mut Slow, &stop).await;
                })
                .await;
                let _ = done_tx.send(());
            });
            let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
            // An idle kept-alive connection.
            let mut idle = runtime::connect(addr).await.unwrap();
            idle.write_all(request).await.unwrap();
            read_response(&mut idle).await;
            // A connection whose answer is in flight when the stop comes.
            let mut busy = runtime::connect(addr).await.unwrap();
            busy.write_all(request).await.unwrap();
            let mut first = [0u8; 16];
            let n = busy.read(&mut first).await.unwrap();
            assert!(n > 0);
            trigger.trigger();

            assert!(closed(&mut idle).await, "the idle connection is closed");
            let rest = read_response(&mut busy).await;
            let mut whole = first[..n].to_vec();
            whole.extend_from_slice(&rest);
            assert!(whole.starts_with(b"HTTP/1.1 200 OK\r\n"));
            assert!(whole.ends_with(BODY), "the answer in flight completes");
            assert!(closed(&mut busy).await, "then its connection closes");
            let finished = runtime::timeout(Duration::from_secs(5), done_rx).await;
            assert!(
                finished.is_some(),
                "the accept loop returns once all have closed"
            );
            assert!(runtime::connect(addr).await.is_err(), "no longer accepting");
        });
    }

    #[test]
    fn a_pipelined_request_after_an_error_is_never_answered() {
        runtime::block_on(async {
            let listener = runtime::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            runtime::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                run(
                    stream,
                    ConnectionConfig::default(),
                    &mut Slow,
                    &Shutdown::never(),
                )
                .await;
            });
            let mut client = runtime::connect(addr).await.unwrap();
            client
                .write_all(b"GET / HTTP/9.9\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut got = Vec::new();
            let read = client.read_to_end(&mut got);
            runtime::timeout(Duration::from_secs(5), read)
                .await
                .unwrap()
                .unwrap();
            let text = String::from_utf8_lossy(&got);
            assert!(text.starts_with("HTTP/1.1 505 "), "{text}");
            assert!(!text.contains("200 OK"), "{text}");
        });
    }

    /// Hands out its input as reads, then end of stream; records the length of every write.
    struct Recorded {
        input: Vec<u8>,
        writes: std::sync::Arc<std::sync::Mutex<Vec<usize>>>,
    }

    impl ByteStream for Recorded {
        async fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.input.len().min(buf.len());
            buf[..n].copy_from_slice(&self.input[..n]);
            self.input.drain(..n);
            Ok(n)
        }

        async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.writes.lock().unwrap().push(buf.len());
            Ok(buf.len())
        }

        async fn shutdown_write(&mut self) -> io::Result<()> {
            Ok(())
        }

        fn set_nodelay(&self, _: bool) -> io::Result<()> {
            Ok(())
        }
    }

    /// Answers every request at once with a 4 KiB page.
    struct Page;

    const PAGE: usize = 4096;

    impl InstantService for Page {
        fn answer(&mut self, _: &Request<'_>, _: bool, out: &mut Vec<u8>) -> bool {
            let head = b"HTTP/1.1 200 OK\r\nContent-Length: 4058\r\n\r\n";
            out.extend_from_slice(head);
            out.resize(out.len() + PAGE - head.len(), b'x');
            true
        }

        fn error(&mut self, _: Status, _: u64, _: u64, _: Option<Instant>) {}
    }

    #[test]
    fn many_small_pipelined_requests_are_answered_in_bounded_writes() {
        let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let count = 2000;
        let writes = std::sync::Arc::default();
        let stream = Recorded {
            input: request.repeat(count),
            writes: std::sync::Arc::clone(&writes),
        };
        runtime::block_on(run(
            stream,
            ConnectionConfig::default(),
            &mut Page,
            &Shutdown::never(),
        ));
        let writes = writes.lock().unwrap();
        assert_eq!(writes.iter().sum::<usize>(), count * PAGE, "all answered");
        let largest = writes.iter().max().copied().unwrap_or(0);
        assert!(largest < MAX_BATCHED + PAGE, "one write of {largest} bytes");
    }

    /// Keeps what the driver reports of its error pages.
    #[derive(Default)]
    struct Errors(Vec<(Status, u64, u64)>);

    impl InstantService for Errors {
        fn answer(&mut self, _: &Request<'_>, _: bool, _: &mut Vec<u8>) -> bool {
            true
        }

        fn error(&mut self, status: Status, sent: u64, body: u64, _: Option<Instant>) {
            self.0.push((status, sent, body));
        }
    }

    #[test]
    fn an_error_page_is_reported_with_its_size_and_its_body_size() {
        let writes = std::sync::Arc::default();
        let stream = Recorded {
            input: b"GET / HTTP/1.1\r\nHost: x\r\nBad header\r\n\r\n".to_vec(),
            writes: std::sync::Arc::clone(&writes),
        };
        let mut errors = Errors::default();
        runtime::block_on(run(
            stream,
            ConnectionConfig::default(),
            &mut errors,
            &Shutdown::never(),
        ));
        let mut page = Vec::new();
        let written = error_page::write(
            Status::BAD_REQUEST,
            Reply::CLOSE,
            SystemTime::now(),
            &[],
            &mut page,
        );
        let body = (page.len() - written.head_len) as u64;
        assert!(body > 0);
        let sent: usize = writes.lock().unwrap().iter().sum();
        assert_eq!(errors.0, vec![(Status::BAD_REQUEST, sent as u64, body)]);
    }
}
