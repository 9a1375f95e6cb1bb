//! A client and a server wired together in memory, quinn-style: the client writes requests with
//! core's request writer and reads answers with its `ResponseReader`; the server is core's
//! `ServerConnection` with a small app built from core's pieces (the balancer's
//! `Redirect::answer` on a fixed ranking with a seeded RNG, a fixed 200, a chunked 200, the
//! method policy). No socket, no thread: both byte streams are delivered in pieces, byte by
//! byte and in random splits, on a fake clock that only moves when nothing else can happen.

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use ricochet_core::balance::pool::{Policy, Pool, Ranking, ServerAddr};
use ricochet_core::balance::redirect::Redirect;
use ricochet_core::balance::verdict::Measurement;
use ricochet_core::http::connection::{self, ConnectionConfig, Event, ServerConnection};
use ricochet_core::http::error_page::{self, Method, Reply};
use ricochet_core::http::exchange::{self, ResponseReader};
use ricochet_core::http::status::Status;
use ricochet_core::http::url::Url;
use ricochet_core::http::write::write_request_head_with;
use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

const FILE: &[u8] = b"hello from the pair\n";
const CHUNKS: [&[u8]; 3] = [b"first ", b"second, ", b"and the last\n"];
const SERVERS: [&str; 2] = ["127.0.0.1:8001", "127.0.0.1:8002"];

fn wall() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777)
}

fn ranking() -> Ranking {
    let addrs = SERVERS.iter().map(|s| ServerAddr::parse(s).unwrap());
    let mut pool = Pool::new(addrs.collect());
    for i in 0..SERVERS.len() {
        let elapsed = Duration::from_millis(10 * (i as u64 + 1));
        pool.record(
            i,
            Measurement {
                elapsed,
                bytes: 1000,
            },
        );
    }
    pool.ranking(Policy::Rank)
}

/// What the server app makes of a request head; answered once its body has been dropped.
enum Job {
    File {
        head_only: bool,
    },
    Chunked,
    Refuse(Status),
    /// The redirect was written at once, as the balancer does.
    Written,
}

/// The server side: the connection machine, its receive buffer, and the app.
struct Server {
    conn: ServerConnection,
    buf: Vec<u8>,
    job: Option<Job>,
    ranking: Ranking,
    rng: StdRng,
    /// Answers not yet handed to the network: sent whenever the machine waits for data, as
    /// the native driver does.
    out: Vec<u8>,
    /// Where the answer to the request being read starts in `out`.
    mark: usize,
    /// The sending side is shut (lingering or closed).
    write_closed: bool,
    closed: bool,
}

impl Server {
    fn new(config: ConnectionConfig, now: Instant) -> Server {
        Server {
            conn: ServerConnection::new(config, now),
            buf: Vec::new(),
            job: None,
            ranking: ranking(),
            rng: StdRng::seed_from_u64(7),
            out: Vec::new(),
            mark: 0,
            write_closed: false,
            closed: false,
        }
    }

    /// Poll the machine until it needs data or closes, then send what was answered.
    fn run(&mut self, now: Instant, network: &mut Vec<u8>) {
        self.poll(now);
        network.append(&mut self.out);
        self.mark = 0;
    }

    fn poll(&mut self, now: Instant) {
        let out = &mut self.out;
        while !self.closed {
            let step = self.conn.poll_event(&self.buf, now);
            let consumed = step.consumed;
            match step.event {
                Event::Request {
                    request,
                    keep_alive,
                } => {
                    self.mark = out.len();
                    let method = error_page::allowed_method(request.method);
                    self.job = Some(match (request.path(), method) {
                        ("/file", Method::Get | Method::Head) => Job::File {
                            head_only: method == Method::Head,
                        },
                        ("/chunked", Method::Get) => Job::Chunked,
                        ("/file" | "/chunked", Method::Options) => Job::Refuse(Status::NO_CONTENT),
                        ("/file" | "/chunked", Method::Refused(status)) => Job::Refuse(status),
                        _ => {
                            Redirect::default().answer(
                                &request,
                                keep_alive,
                                &self.ranking,
                                &mut self.rng,
                                wall(),
                                out,
                            );
                            Job::Written
                        }
                    });
                }
                Event::Continue => {
                    let at = self.mark;
                    out.splice(at..at, connection::CONTINUE.iter().copied());
                    self.mark += connection::CONTINUE.len();
                }
                Event::Respond { keep_alive } => {
                    let job = self.job.take().expect("a request before its answer");
                    answer(job, keep_alive, out);
                    self.conn.handle_response_done(now, keep_alive);
                }
                Event::Error(status) => {
                    out.truncate(self.mark);
                    error_page::write(status, Reply::CLOSE, wall(), &[], out);
                    self.conn.handle_response_done(now, false);
                }
                Event::NeedData => {
                    self.buf.drain(..consumed);
                    return;
                }
                Event::Linger => self.write_closed = true,
                Event::Close => {
                    self.write_closed = true;
                    self.closed = true;
                }
            }
            self.buf.drain(..consumed);
        }
    }
}

/// Write the app's answer to a request whose body has been dropped.
fn answer(job: Job, keep_alive: bool, out: &mut Vec<u8>) {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    match job {
        Job::File { head_only } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
                FILE.len()
            );
            out.extend_from_slice(head.as_bytes());
            if !head_only {
                out.extend_from_slice(FILE);
            }
        }
        Job::Chunked => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: {connection}\r\n\r\n"
            );
            out.extend_from_slice(head.as_bytes());
            for chunk in CHUNKS {
                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        }
        Job::Refuse(status) => {
            let reply = Reply {
                keep_alive,
                head_only: false,
            };
            error_page::write(status, reply, wall(), &[], out);
        }
        Job::Written => {}
    }
}

/// One request of a client's plan.
#[derive(Clone)]
struct Plan {
    method: &'static str,
    target: &'static str,
    keep_alive: bool,
    /// A body sent after `100 Continue` (the head says `Expect: 100-continue`).
    body: Option<Vec<u8>>,
    /// Only this much of the head is ever sent (a client that stalls).
    cut_head_at: Option<usize>,
}

fn get(target: &'static str) -> Plan {
    Plan {
        method: "GET",
        target,
        keep_alive: true,
        body: None,
        cut_head_at: None,
    }
}

/// What the client read for one request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Got {
    interim: Vec<u16>,
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
    /// The answer said `Connection: close` (or was HTTP/1.0 without keep-alive).
    closes: bool,
}

/// The client side: writes its plan in order (pipelined, but never past a body that waits for
/// `100 Continue`) and reads the answers in order.
struct Client {
    plan: VecDeque<Plan>,
    /// A body waiting for its `100 Continue`.
    held: Option<Vec<u8>>,
    /// A body whose `100 Continue` came: sent next.
    released: Option<Vec<u8>>,
    /// Readers of the requests sent, oldest first, and what each read so far.
    readers: VecDeque<(ResponseReader, Got)>,
    buf: Vec<u8>,
    got: Vec<Got>,
    /// When the client saw the end of the stream.
    eof: Option<Instant>,
    error: Option<exchange::ReadError>,
}

impl Client {
    fn new(plan: Vec<Plan>) -> Client {
        Client {
            plan: plan.into(),
            held: None,
            released: None,
            readers: VecDeque::new(),
            buf: Vec::new(),
            got: Vec::new(),
            eof: None,
            error: None,
        }
    }

    /// Write what may be written now.
    fn write(&mut self, out: &mut Vec<u8>) {
        while self.held.is_none() {
            let Some(plan) = self.plan.pop_front() else {
                return;
            };
            let url = Url::parse(&format!("http://balancer.test{}", plan.target)).unwrap();
            let mut head = Vec::new();
            let length = plan.body.as_ref().map(|b| b.len().to_string());
            let mut fields: Vec<(&str, &[u8])> = Vec::new();
            if let Some(length) = &length {
                fields.push(("Content-Length", length.as_bytes()));
                fields.push(("Expect", b"100-continue"));
            }
            write_request_head_with(
                &mut head,
                plan.method,
                &url,
                "pair",
                plan.keep_alive,
                &fields,
            );
            if let Some(at) = plan.cut_head_at {
                head.truncate(at);
            }
            out.extend_from_slice(&head);
            let reader = ResponseReader::new(plan.method == "HEAD");
            self.readers.push_back((reader, Got::default()));
            self.held = plan.body;
        }
    }

    /// Read what the buffer holds.
    fn read(&mut self) {
        while let Some((reader, got)) = self.readers.front_mut() {
            let step = match reader.read(&self.buf) {
                Ok(step) => step,
                Err(e) => {
                    self.error = Some(e);
                    self.readers.clear();
                    return;
                }
            };
            let consumed = step.consumed;
            let Some(event) = step.event else {
                self.buf.drain(..consumed);
                return;
            };
            match event {
                exchange::Event::Interim(response) => {
                    got.interim.push(response.status);
                    if response.status == 100 {
                        self.released = self.held.take();
                    }
                }
                exchange::Event::Head(response) => {
                    got.status = response.status;
                    got.closes = !response.keep_alive;
                    got.location = response
                        .header("Location")
                        .map(|l| String::from_utf8_lossy(l).into_owned());
                }
                exchange::Event::Data(data) => got.body.extend_from_slice(data),
                exchange::Event::End => {
                    let (_, got) = self.readers.pop_front().unwrap();
                    self.got.push(got);
                    if self.held.is_some() && self.readers.is_empty() {
                        // Answered without the body: it is never sent.
                        self.held = None;
                        self.plan.clear();
                    }
                }
            }
            self.buf.drain(..consumed);
        }
    }

    /// Send a body released by `100 Continue`, then what follows it.
    fn write_released(&mut self, out: &mut Vec<u8>) {
        if let Some(body) = self.released.take() {
            out.extend_from_slice(&body);
        }
        self.write(out);
    }

    fn handle_eof(&mut self, now: Instant) {
        self.eof = Some(now);
        if let Some((reader, _)) = self.readers.front_mut() {
            match reader.handle_eof(&self.buf) {
                Ok(()) => self.read(),
                Err(e) => self.error = Some(e),
            }
        }
    }
}

/// Sizes of the pieces each stream is delivered in, used in turn.
struct Cuts {
    sizes: Vec<usize>,
    next: usize,
}

impl Cuts {
    fn take(&mut self, pending: &mut Vec<u8>) -> Vec<u8> {
        let size = self.sizes[self.next % self.sizes.len()].max(1);
        self.next += 1;
        pending.drain(..size.min(pending.len())).collect()
    }
}

/// What the run showed a user.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    got: Vec<Got>,
    /// Time from the start to the client seeing the connection close.
    closed_after: Option<Duration>,
    error: Option<exchange::ReadError>,
}

/// Run `plan` over the pair, delivering client-to-server bytes in `up` pieces and
/// server-to-client bytes in `down` pieces; time moves only when nothing else can happen.
fn run(plan: Vec<Plan>, config: ConnectionConfig, up: &[usize], down: &[usize]) -> Outcome {
    let start = Instant::now();
    let mut now = start;
    let mut server = Server::new(config, now);
    let mut client = Client::new(plan);
    let (mut up, mut down) = (
        Cuts {
            sizes: up.to_vec(),
            next: 0,
        },
        Cuts {
            sizes: down.to_vec(),
            next: 0,
        },
    );
    let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
    for _ in 0..100_000 {
        client.write_released(&mut to_server);
        let mut moved = false;
        if !to_server.is_empty() {
            let piece = up.take(&mut to_server);
            if !server.closed {
                server.buf.extend_from_slice(&piece);
                server.run(now, &mut to_client);
            }
            moved = true;
        }
        if !to_client.is_empty() {
            let piece = down.take(&mut to_client);
            client.buf.extend_from_slice(&piece);
            client.read();
            moved = true;
        } else if server.write_closed && client.eof.is_none() {
            client.handle_eof(now);
            moved = true;
        }
        if moved {
            continue;
        }
        match server.conn.poll_timeout() {
            Some(deadline) if !server.closed => {
                now = now.max(deadline);
                server.conn.handle_timeout(now);
                server.run(now, &mut to_client);
            }
            _ => break,
        }
    }
    Outcome {
        got: client.got,
        closed_after: client.eof.map(|t| t - start),
        error: client.error,
    }
}

fn file(closes: bool) -> Got {
    Got {
        status: 200,
        body: FILE.to_vec(),
        closes,
        ..Got::default()
    }
}

/// The redirect to `path_and_query`: 301 to one of [`SERVERS`]; its Location, checked.
fn assert_redirect(got: &Got, path_and_query: &str) {
    assert_eq!(got.status, 301, "{got:?}");
    let location = got.location.as_deref().unwrap_or("");
    assert!(
        SERVERS
            .iter()
            .any(|s| location == format!("http://{s}{path_and_query}")),
        "{location}"
    );
    assert!(String::from_utf8_lossy(&got.body).contains(location));
}

const IDLE: Duration = Duration::from_secs(60);

fn config() -> ConnectionConfig {
    ConnectionConfig::default()
}

fn pipelined(up: &[usize], down: &[usize]) {
    let head = Plan {
        method: "HEAD",
        ..get("/file")
    };
    let last = Plan {
        keep_alive: false,
        ..get("/file")
    };
    let plan = vec![get("/r/a?x=1"), head, get("/chunked"), get("/file"), last];
    let out = run(plan, config(), up, down);
    assert_eq!(out.error, None);
    assert_eq!(out.got.len(), 5, "{out:?}");
    assert_redirect(&out.got[0], "/r/a?x=1");
    assert_eq!(
        out.got[1],
        Got {
            body: Vec::new(),
            ..file(false)
        },
        "HEAD: the head alone"
    );
    assert_eq!(out.got[2].status, 200);
    assert_eq!(
        out.got[2].body,
        CHUNKS.concat(),
        "the chunked body, byte-exact"
    );
    assert_eq!(out.got[3], file(false));
    assert_eq!(out.got[4], file(true), "the last answer says close");
    assert_eq!(
        out.closed_after,
        Some(Duration::ZERO),
        "closed right after the answer to Connection: close, not at a timeout"
    );
}

fn kept_alive(up: &[usize], down: &[usize]) {
    let out = run(vec![get("/file"), get("/r/b")], config(), up, down);
    assert_eq!(out.error, None);
    assert_eq!(out.got[0], file(false));
    assert_redirect(&out.got[1], "/r/b");
    assert_eq!(out.closed_after, Some(IDLE), "closed by the idle timeout");
}

fn continue_then_body(up: &[usize], down: &[usize]) {
    // A GET with a body: served, so its body is read (and dropped) after 100 Continue.
    let post = Plan {
        method: "GET",
        body: Some(b"a small body".to_vec()),
        ..get("/file")
    };
    let last = Plan {
        keep_alive: false,
        ..get("/chunked")
    };
    let out = run(vec![post, last], config(), up, down);
    assert_eq!(out.error, None);
    assert_eq!(out.got.len(), 2, "{out:?}");
    assert_eq!(
        out.got[0].interim,
        vec![100],
        "100 Continue before the body"
    );
    assert_eq!(out.got[0].status, 200);
    assert!(
        !out.got[0].closes,
        "the body was read: the connection goes on"
    );
    assert_eq!(out.got[1].body, CHUNKS.concat());
    assert_eq!(out.closed_after, Some(Duration::ZERO));
}

fn refused_body(up: &[usize], down: &[usize]) {
    let config = ConnectionConfig {
        max_discard: 8,
        ..config()
    };
    let post = Plan {
        method: "POST",
        body: Some(b"more than eight bytes".to_vec()),
        ..get("/file")
    };
    let out = run(vec![post, get("/file")], config, up, down);
    assert_eq!(out.error, None);
    assert_eq!(
        out.got.len(),
        1,
        "the client gives up after a refusal: {out:?}"
    );
    assert_eq!(
        out.got[0].interim,
        Vec::<u16>::new(),
        "no 100 for a refused body"
    );
    assert_eq!((out.got[0].status, out.got[0].closes), (405, true));
    assert_eq!(
        out.closed_after,
        Some(Duration::ZERO),
        "the final answer at once, then the end of the stream"
    );
}

fn stalled_head(up: &[usize], down: &[usize]) {
    let stalled = Plan {
        cut_head_at: Some(20),
        ..get("/file")
    };
    let out = run(vec![get("/file"), stalled], config(), up, down);
    assert_eq!(out.error, None);
    assert_eq!(out.got.len(), 2, "{out:?}");
    assert_eq!(out.got[0], file(false));
    assert_eq!((out.got[1].status, out.got[1].closes), (408, true));
    // The 408 and the end of the stream come at the header timeout.
    assert_eq!(out.closed_after, Some(config().header_timeout));
}

/// A scenario, given the piece sizes of the client-to-server and server-to-client streams.
type Scenario = fn(&[usize], &[usize]);

const SCENARIOS: [(&str, Scenario); 5] = [
    ("pipelined", pipelined),
    ("kept alive", kept_alive),
    ("100 continue", continue_then_body),
    ("refused body", refused_body),
    ("stalled head", stalled_head),
];

#[test]
fn whole_and_byte_by_byte() {
    for (name, scenario) in SCENARIOS {
        eprintln!("{name}: whole");
        scenario(&[usize::MAX], &[usize::MAX]);
        eprintln!("{name}: byte by byte");
        scenario(&[1], &[1]);
        eprintln!("{name}: byte by byte one way, whole the other");
        scenario(&[1], &[usize::MAX]);
        scenario(&[usize::MAX], &[1]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_splits_of_both_streams(
        up in prop::collection::vec(1usize..48, 1..12),
        down in prop::collection::vec(1usize..48, 1..12),
    ) {
        for (_, scenario) in SCENARIOS {
            scenario(&up, &down);
        }
    }
}
