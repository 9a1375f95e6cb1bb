//! The server connection machine on a fake clock: pipelining, keep-alive, bodies skipped,
//! deadlines, oversized heads, lingering and drain. Every scenario is fed whole and byte by
//! byte, and must see the same events.

use ricochet_core::http::connection::{ConnectionConfig, Event, ServerConnection};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

/// What the driver saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// Method and target, and the keep-alive the machine expects.
    Request(String, bool),
    /// `100 Continue` written.
    Continue,
    Respond(bool),
    Error(u16),
    Linger,
    Close,
}

/// A driver on a fake clock: answers every request at once, drops consumed bytes.
struct Driver {
    conn: ServerConnection,
    buf: Vec<u8>,
    now: Instant,
    seen: Vec<Seen>,
    /// When set, a Respond is left pending (the answer is "being written").
    hold: bool,
}

impl Driver {
    fn new(config: ConnectionConfig) -> Driver {
        let now = Instant::now();
        Driver {
            conn: ServerConnection::new(config, now),
            buf: Vec::new(),
            now,
            seen: Vec::new(),
            hold: false,
        }
    }

    fn default() -> Driver {
        Driver::new(ConnectionConfig::default())
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.conn.handle_timeout(self.now);
        self.run();
    }

    /// Poll until the machine needs data or closes.
    fn run(&mut self) {
        loop {
            let step = self.conn.poll_event(&self.buf, self.now);
            let event = match step.event {
                Event::Request {
                    request,
                    keep_alive,
                } => Seen::Request(
                    format!("{} {}", request.method, request.raw_target),
                    keep_alive,
                ),
                Event::Respond { keep_alive } => Seen::Respond(keep_alive),
                Event::Continue => Seen::Continue,
                Event::Error(status) => Seen::Error(status.code()),
                Event::Linger => Seen::Linger,
                Event::Close => Seen::Close,
                Event::NeedData => {
                    self.buf.drain(..step.consumed);
                    return;
                }
            };
            self.buf.drain(..step.consumed);
            let again = matches!(event, Seen::Respond(_) | Seen::Error(_));
            if self.seen.last() == Some(&event) && again {
                // A pending answer is returned again until it is done.
                return;
            }
            let done = event == Seen::Close;
            self.seen.push(event);
            if done {
                return;
            }
            if again && !self.hold {
                self.conn.handle_response_done(self.now, true);
            }
            if again && self.hold {
                return;
            }
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        if self.seen.last() == Some(&Seen::Close) {
            return;
        }
        self.buf.extend_from_slice(bytes);
        self.run();
    }

    fn feed_bytewise(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.feed(std::slice::from_ref(b));
        }
    }

    fn finish_response(&mut self, keep_alive: bool) {
        self.conn.handle_response_done(self.now, keep_alive);
        self.run();
    }
}

fn req(target: &str, keep_alive: bool) -> Seen {
    Seen::Request(format!("GET {target}"), keep_alive)
}

/// Feed `input` whole and byte by byte with `config`; both must see the same events.
fn both_ways(config: ConnectionConfig, input: &[u8]) -> Vec<Seen> {
    let mut whole = Driver::new(config);
    whole.feed(input);
    let mut bytewise = Driver::new(config);
    bytewise.feed_bytewise(input);
    assert_eq!(whole.seen, bytewise.seen, "whole vs byte by byte");
    whole.seen
}

#[test]
fn pipelined_requests_are_handed_out_in_order() {
    let input = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n";
    let seen = both_ways(ConnectionConfig::default(), input);
    assert_eq!(
        seen,
        vec![
            req("/a", true),
            Seen::Respond(true),
            Seen::Request("HEAD /b".into(), true),
            Seen::Respond(true),
            req("/c", true),
            Seen::Respond(true),
        ]
    );
}

#[test]
fn keep_alive_follows_version_and_connection_header() {
    let cases: [(&[u8], bool); 5] = [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            false,
        ),
        (b"GET / HTTP/1.0\r\n\r\n", false),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive, Close\r\n\r\n",
            false,
        ),
    ];
    for (input, keep_alive) in cases {
        let seen = both_ways(ConnectionConfig::default(), input);
        let mut expected = vec![req("/", keep_alive), Seen::Respond(keep_alive)];
        if !keep_alive {
            // Nothing unread: close at once, no lingering.
            expected.push(Seen::Close);
        }
        assert_eq!(seen, expected, "{}", String::from_utf8_lossy(input));
    }
}

#[test]
fn an_answer_that_closes_ends_the_connection() {
    // The app may end a kept-alive connection (a file that shrank while being sent).
    let mut d = Driver::default();
    d.hold = true;
    d.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(d.seen, vec![req("/", true), Seen::Respond(true)]);
    d.finish_response(false);
    assert_eq!(d.seen.last(), Some(&Seen::Close));
}

#[test]
fn bytes_after_connection_close_are_drained_before_closing() {
    // Received in one piece (byte by byte, the machine would close before the rest arrived).
    let input = b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut d = Driver::default();
    d.feed(input);
    assert_eq!(
        d.seen,
        vec![req("/a", false), Seen::Respond(false), Seen::Linger],
        "the second request is never handed out"
    );
    let mut d = Driver::default();
    d.feed(input);
    // More bytes keep arriving: dropped, and the linger ends on time.
    d.feed(&[b'z'; 1000]);
    assert!(d.buf.is_empty(), "lingering consumes everything");
    assert_eq!(d.conn.poll_timeout(), Some(d.now + SECOND));
    d.advance(SECOND / 2);
    assert_eq!(d.seen.last(), Some(&Seen::Linger));
    d.advance(SECOND / 2);
    assert_eq!(d.seen.last(), Some(&Seen::Close));
}

#[test]
fn lingering_stops_after_its_byte_budget() {
    let config = ConnectionConfig {
        max_linger: 100,
        ..ConnectionConfig::default()
    };
    let mut d = Driver::new(config);
    d.feed(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nx");
    assert_eq!(d.seen.last(), Some(&Seen::Linger));
    d.feed(&[b'z'; 50]);
    assert_eq!(d.seen.last(), Some(&Seen::Linger));
    d.feed(&[b'z'; 50]);
    assert_eq!(d.seen.last(), Some(&Seen::Close));
}

#[test]
fn a_silent_fresh_connection_closes_quietly_at_the_header_timeout() {
    let mut d = Driver::default();
    d.run();
    let start = d.now;
    assert_eq!(d.conn.poll_timeout(), Some(start + 10 * SECOND));
    d.advance(9 * SECOND);
    assert!(d.seen.is_empty(), "spurious early timeouts are harmless");
    d.advance(SECOND);
    assert_eq!(d.seen, vec![Seen::Close], "no 408 when nothing was sent");
}

#[test]
fn a_head_not_finished_in_time_gets_408_counted_from_its_first_byte() {
    let mut d = Driver::default();
    d.advance(3 * SECOND);
    let first_byte = d.now;
    // Slowloris: a byte every second never moves the deadline.
    for b in b"GET / HTTP/1.1\r\nHost" {
        d.feed(std::slice::from_ref(b));
        assert_eq!(d.conn.poll_timeout(), Some(first_byte + 10 * SECOND));
        if d.now + SECOND < first_byte + 10 * SECOND {
            d.advance(SECOND);
        }
    }
    d.now = first_byte + 10 * SECOND;
    d.conn.handle_timeout(d.now);
    d.run();
    assert_eq!(d.seen, vec![Seen::Error(408), Seen::Linger]);
}

#[test]
fn a_kept_alive_connection_waits_the_idle_timeout_then_closes_quietly() {
    let mut d = Driver::default();
    d.hold = true;
    d.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    // The answer takes 30 s (a slow download): the idle timeout counts from its end.
    d.now += 30 * SECOND;
    d.finish_response(true);
    let done = d.now;
    assert_eq!(d.conn.poll_timeout(), Some(done + 60 * SECOND));
    d.advance(59 * SECOND);
    assert_eq!(d.seen.last(), Some(&Seen::Respond(true)));
    d.advance(SECOND);
    assert_eq!(d.seen.last(), Some(&Seen::Close), "quietly, no 408");

    // Once the next head has begun, the header timeout applies from its first byte.
    let mut d = Driver::default();
    d.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    d.advance(5 * SECOND);
    d.feed(b"GET /next HTTP/1.1\r\n");
    assert_eq!(d.conn.poll_timeout(), Some(d.now + 10 * SECOND));
    d.advance(10 * SECOND);
    assert_eq!(d.seen[2..], [Seen::Error(408), Seen::Linger]);
}

#[test]
fn a_slow_but_progressing_writer_is_not_cut_a_stalled_one_is() {
    let mut d = Driver::default();
    d.hold = true;
    d.feed(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    // Ten minutes of writing, with progress every 50 s (write timeout 60 s).
    for _ in 0..12 {
        d.advance(50 * SECOND);
        d.conn.handle_write_progress(d.now);
    }
    assert!(!d.conn.is_closed());
    assert_eq!(d.conn.poll_timeout(), Some(d.now + 60 * SECOND));
    // Then the peer stops reading.
    d.advance(60 * SECOND);
    assert_eq!(d.seen.last(), Some(&Seen::Close));
}

#[test]
fn an_oversized_head_gets_431() {
    let config = ConnectionConfig::default();
    let mut input = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    input.extend(std::iter::repeat_n(b'b', config.limits.max_head));
    input.extend_from_slice(b"\r\n\r\n");
    let seen = both_ways(config, &input);
    assert_eq!(seen, vec![Seen::Error(431), Seen::Linger]);
}

#[test]
fn a_malformed_head_gets_its_status_and_the_connection_stays_failed() {
    let seen = both_ways(
        ConnectionConfig::default(),
        b"GET / HTTP/2.0\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(seen, vec![Seen::Error(505), Seen::Linger]);
    let mut d = Driver::default();
    d.feed(b"GET  / HTTP/1.1\r\n");
    assert_eq!(d.seen, vec![Seen::Error(400), Seen::Linger]);
    // A valid request afterwards is never handed out.
    d.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(d.seen, vec![Seen::Error(400), Seen::Linger]);
    d.advance(SECOND);
    assert_eq!(d.seen.last(), Some(&Seen::Close));
}

#[test]
fn a_small_body_is_skipped_and_the_connection_stays_in_sync() {
    let input = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world\
        PUT /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n\
        GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
    let seen = both_ways(ConnectionConfig::default(), input);
    assert_eq!(
        seen,
        vec![
            Seen::Request("POST /a".into(), true),
            Seen::Respond(true),
            Seen::Request("PUT /b".into(), true),
            Seen::Respond(true),
            req("/c", true),
            Seen::Respond(true),
        ]
    );
}

#[test]
fn a_large_body_is_answered_unread_then_the_connection_lingers() {
    let config = ConnectionConfig {
        max_discard: 10,
        ..ConnectionConfig::default()
    };
    // Announced too large: answered at once, not read.
    let seen = both_ways(
        config,
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello",
    );
    assert_eq!(
        seen,
        vec![
            Seen::Request("POST /a".into(), false),
            Seen::Respond(false),
            Seen::Linger
        ]
    );
    // Chunked, found too large while reading it.
    let seen = both_ways(
        config,
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n",
    );
    assert_eq!(
        seen,
        vec![
            Seen::Request("POST /a".into(), true),
            Seen::Respond(false),
            Seen::Linger
        ]
    );
}

#[test]
fn a_malformed_body_gets_400_instead_of_an_answer() {
    let seen = both_ways(
        ConnectionConfig::default(),
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    );
    assert_eq!(
        seen,
        vec![
            Seen::Request("POST /a".into(), true),
            Seen::Error(400),
            Seen::Linger
        ]
    );
}

#[test]
fn a_client_waiting_for_100_continue_gets_it_before_a_body_that_will_be_read() {
    let head = b"GET /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
    let mut d = Driver::default();
    d.feed(head);
    assert_eq!(
        d.seen,
        vec![Seen::Request("GET /a".into(), true), Seen::Continue],
        "100 Continue, then the machine waits for the body"
    );
    // The body must come within the idle timeout.
    assert_eq!(d.conn.poll_timeout(), Some(d.now + 60 * SECOND));
    d.feed(b"hello");
    d.feed(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        d.seen[2..],
        [Seen::Respond(true), req("/b", true), Seen::Respond(true)],
        "the body read, the connection stays in sync"
    );
    // Byte by byte: the same, once.
    let mut input = head.to_vec();
    input.extend_from_slice(b"hello");
    let mut d = Driver::default();
    d.feed_bytewise(&input);
    assert_eq!(
        d.seen,
        vec![
            Seen::Request("GET /a".into(), true),
            Seen::Continue,
            Seen::Respond(true)
        ]
    );
    // Chunked bodies too.
    let mut d = Driver::default();
    d.feed(
        b"GET /c HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert_eq!(d.seen.last(), Some(&Seen::Continue));
}

#[test]
fn no_100_continue_when_nothing_waits_for_it() {
    let cases: [&[u8]; 4] = [
        // The body already came with the head: the client did not wait.
        b"POST /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
        // HTTP/1.0 has no 1xx answers.
        b"POST /a HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
        // No body to wait for.
        b"GET /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
        b"POST /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
    ];
    for input in cases {
        let mut d = Driver::default();
        d.feed(input);
        assert!(
            d.seen.len() >= 2 && !d.seen.contains(&Seen::Continue),
            "{:?}: {:?}",
            String::from_utf8_lossy(input),
            d.seen
        );
        assert!(matches!(d.seen[1], Seen::Respond(_)), "{:?}", d.seen);
    }
    // HTTP/1.0 whose body has not come: read it, still no 100.
    let mut d = Driver::default();
    d.feed(b"POST /a HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    assert_eq!(d.seen, vec![Seen::Request("POST /a".into(), false)]);
}

#[test]
fn a_body_for_a_refused_method_gets_the_final_answer_at_once_instead_of_100() {
    // POST is answered 405 whatever its body: the client waiting for 100 Continue gets the
    // 405 at once, and the connection ends after it (lingering, for a body sent anyway).
    for method in ["POST", "PUT", "OPTIONS", "BREW"] {
        let mut d = Driver::default();
        let head = format!(
            "{method} /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
        );
        d.feed(head.as_bytes());
        assert_eq!(
            d.seen,
            vec![
                Seen::Request(format!("{method} /a"), false),
                Seen::Respond(false),
                Seen::Linger
            ],
            "{method}"
        );
    }
}

#[test]
fn a_body_too_large_to_read_gets_the_final_answer_at_once_instead_of_100() {
    let config = ConnectionConfig {
        max_discard: 10,
        ..ConnectionConfig::default()
    };
    let mut d = Driver::new(config);
    d.feed(b"POST /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n");
    assert_eq!(
        d.seen,
        vec![
            Seen::Request("POST /a".into(), false),
            Seen::Respond(false),
            Seen::Linger
        ],
        "answered without waiting for the body, then closed after lingering"
    );
}

#[test]
fn an_expectation_other_than_100_continue_is_417() {
    let seen = both_ways(
        ConnectionConfig::default(),
        b"POST /a HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\nhi",
    );
    assert_eq!(seen, vec![Seen::Error(417), Seen::Linger]);
}

#[test]
fn a_body_that_stops_arriving_times_out_quietly() {
    let mut d = Driver::default();
    d.feed(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    assert_eq!(d.conn.poll_timeout(), Some(d.now + 60 * SECOND));
    d.advance(30 * SECOND);
    d.feed(b"def");
    // Progress moves the deadline.
    assert_eq!(d.conn.poll_timeout(), Some(d.now + 60 * SECOND));
    d.advance(60 * SECOND);
    assert_eq!(
        d.seen,
        vec![Seen::Request("POST /a".into(), true), Seen::Close]
    );
}

#[test]
fn drain_closes_an_idle_connection_at_once() {
    let mut fresh = Driver::default();
    fresh.run();
    fresh.conn.start_drain();
    fresh.run();
    assert_eq!(fresh.seen, vec![Seen::Close]);

    let mut kept = Driver::default();
    kept.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(kept.conn.is_idle());
    kept.conn.start_drain();
    kept.run();
    assert_eq!(kept.seen.last(), Some(&Seen::Close));
}

#[test]
fn drain_lets_the_answer_in_flight_finish_and_starts_no_new_request() {
    let mut d = Driver::default();
    d.hold = true;
    // Two requests pipelined: the first is being answered when the drain starts.
    d.feed(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(d.seen, vec![req("/a", true), Seen::Respond(true)]);
    d.conn.start_drain();
    assert!(d.conn.is_draining());
    d.run();
    assert!(!d.conn.is_closed(), "the answer in flight is not cut");
    d.finish_response(true);
    // /b is never handed out; its bytes are drained before closing.
    assert_eq!(d.seen[2..], [Seen::Linger]);
    d.advance(SECOND);
    assert_eq!(d.seen.last(), Some(&Seen::Close));
    assert_eq!(d.conn.requests_served(), 1);
}

#[test]
fn drain_during_a_body_answers_that_request_then_closes() {
    let mut d = Driver::default();
    d.feed(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc");
    d.conn.start_drain();
    d.feed(b"def");
    assert_eq!(
        d.seen,
        vec![
            Seen::Request("POST /a".into(), true),
            Seen::Respond(false),
            Seen::Close
        ]
    );
}

#[test]
fn drain_with_half_a_head_closes_without_answering() {
    let mut d = Driver::default();
    d.feed(b"GET / HTTP/1.1\r\nHo");
    assert!(!d.conn.is_idle());
    d.conn.start_drain();
    d.run();
    assert_eq!(d.seen, vec![Seen::Linger]);
}

#[test]
fn end_of_stream_closes_unless_an_answer_is_under_way() {
    let mut d = Driver::default();
    d.feed(b"GET / HT");
    d.conn.handle_eof();
    d.run();
    assert_eq!(d.seen, vec![Seen::Close]);

    let mut d = Driver::default();
    d.hold = true;
    d.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    d.conn.handle_eof();
    assert!(!d.conn.is_closed());
    d.finish_response(true);
    assert_eq!(
        d.seen.last(),
        Some(&Seen::Close),
        "no next request after the peer closed"
    );
}

proptest::proptest! {
    /// However the bytes of pipelined requests (with bodies) are split between reads, the driver
    /// sees the same events as when they arrive at once.
    #[test]
    fn any_split_gives_the_same_events(cuts in proptest::collection::vec(0usize..400, 0..12)) {
        let input: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
            POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
            PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n\
            \r\nHEAD /d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n\
            GET /e HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut whole = Driver::default();
        whole.feed(input);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % input.len()).collect();
        cuts.sort_unstable();
        let mut split = Driver::default();
        let mut from = 0;
        for cut in cuts.into_iter().chain([input.len()]) {
            split.feed(&input[from..cut.max(from)]);
            from = cut.max(from);
        }
        proptest::prop_assert_eq!(&whole.seen, &split.seen);
        proptest::prop_assert_eq!(whole.seen.len(), 10);
    }
}

#[test]
fn timeouts_too_long_for_the_clock_mean_no_deadline_not_a_panic() {
    let config = ConnectionConfig {
        header_timeout: Duration::MAX,
        idle_timeout: Duration::MAX,
        write_timeout: Duration::MAX,
        linger: Duration::MAX,
        ..ConnectionConfig::default()
    };
    let mut d = Driver::new(config);
    assert_eq!(d.conn.poll_timeout(), None);
    d.feed(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHo");
    assert_eq!(d.conn.poll_timeout(), None);
    d.advance(Duration::from_secs(1_000_000));
    assert_eq!(d.seen, vec![req("/a", true), Seen::Respond(true)]);
    // A malformed head still gets its answer and lingers without a deadline.
    d.feed(b"st: x\r\nBad Header\r\n\r\n");
    assert!(d.seen.contains(&Seen::Error(400)), "{:?}", d.seen);
}
