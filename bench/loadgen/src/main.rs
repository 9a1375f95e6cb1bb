//! `loadgen`: an open-loop HTTPS load generator for `bench/run.sh` (not part of the product).
//!
//! Why it exists: wrk is a closed loop, and against HTTPS with a connection per request it is the
//! saturated side on this machine (a TLS client costs more than a TLS server). The latency it
//! reports runs from writing a request to its event loop reading the answer, so it holds wrk's
//! own queue, which grows as the server gets faster. An open loop does not: loadgen opens a new
//! connection every 1/RATE s whether or not the earlier ones have finished (wrk2's way), sends one
//! `GET` with `Connection: close` on each, and times each from the moment it was *due* to the last
//! byte of its answer. A connection that starts late because the generator lagged counts the lag
//! against the run (no coordinated omission), and the largest lag is printed so that a saturated
//! generator shows. With `--keep-alive N` the same schedule is spread over N connections opened
//! before the run (request i on connection i % N); a request due while its connection still
//! awaits the answer before it waits, and that wait counts too.
//!
//! TLS is rustls with X25519 only, the group wrk's and curl's OpenSSL 3.0 offer first, so every
//! server does the key exchange it does for them. Sessions are resumed as wrk and browsers do
//! (tickets kept per server name, each used once), or never with `--no-resume`; the number of
//! resumed handshakes is printed.
//!
//! Output: a readable report on stderr and one line on stdout for scripts:
//! `summary SENT OK FAILED RESUMED P50 P90 P99 MAX REQUEST_P50 REQUEST_P99 MAX_LAG` (SENT counts
//! the warm-up, the rest does not; times in ms; REQUEST_* from writing the request to the
//! answer's end, what wrk calls latency, which hides a stall that delays the writing). Exit status 0
//! if every answer had the expected status, 1 if any request failed, 2 on bad arguments. With
//! `LOADGEN_DEBUG` set, every request late by over 2 ms or slower than 10 ms is listed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argh::FromArgs;
use async_std::net::TcpStream;
use futures::channel::mpsc;
use futures::future::LocalBoxFuture;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use futures_rustls::TlsConnector;
use rustls::crypto::aws_lc_rs;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, HandshakeKind, RootCertStore};

#[derive(FromArgs)]
/// Open-loop HTTPS load: a request every 1/RATE s, each on a new connection with `Connection:
/// close` (or spread over --keep-alive connections), timed from when it was due to the end of
/// its answer.
struct Args {
    /// address to connect to, e.g. 127.0.0.1:8443
    #[argh(option)]
    connect: SocketAddr,
    /// server name for SNI, the certificate check and Host (default localhost)
    #[argh(option, default = "String::from(\"localhost\")")]
    name: String,
    /// request path (default /index.html)
    #[argh(option, default = "String::from(\"/index.html\")")]
    path: String,
    /// PEM file with the CA certificate(s) to trust
    #[argh(option)]
    cacert: PathBuf,
    /// requests per second
    #[argh(option)]
    rate: u32,
    /// how long to send requests, seconds (default 5)
    #[argh(option, default = "5")]
    seconds: u32,
    /// seconds at the same rate before those, not counted (default 1): the first handshakes
    /// are full ones (no tickets yet) and the first connection starts the runtime
    #[argh(option, default = "1")]
    warmup: u32,
    /// the status every answer must have (default 301)
    #[argh(option, default = "301")]
    expect: u16,
    /// a full handshake on every connection (no session resumption)
    #[argh(switch)]
    no_resume: bool,
    /// instead of a connection per request, this many connections opened before the run,
    /// the requests spread over them in turn (default 0: a connection per request)
    #[argh(option, default = "0")]
    keep_alive: u32,
}

/// How long one exchange may take before it counts as failed.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

fn no_answer() -> String {
    format!("no answer within {ANSWER_WITHIN:?}")
}

/// What an exchange or a connection gives when it ends: each request's index and outcome.
type Outcomes = Vec<(u64, Result<Sample, String>)>;

/// One request's timings.
struct Sample {
    /// From when it was due to the answer's last byte.
    total: Duration,
    /// From writing the request to the answer's last byte.
    request: Duration,
    /// How late it started: the generator's own lag (close), or that and the wait for the
    /// answer before it on the same connection (keep-alive).
    lag: Duration,
    resumed: bool,
}

fn main() -> ExitCode {
    let args: Args = argh::from_env();
    if args.rate == 0 || args.seconds == 0 {
        eprintln!("loadgen: --rate and --seconds must be at least 1");
        return ExitCode::from(2);
    }
    let config = match client_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let name = match ServerName::try_from(args.name.clone()) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("loadgen: bad --name {:?}: {e}", args.name);
            return ExitCode::from(2);
        }
    };
    let close = if args.keep_alive == 0 {
        "Connection: close\r\n"
    } else {
        ""
    };
    let request: Arc<[u8]> = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\n{close}\r\n",
        args.path, args.name
    )
    .into_bytes()
    .into();
    let connector = TlsConnector::from(config);
    let period_ns = 1_000_000_000 / u64::from(args.rate);
    let warm = u64::from(args.rate) * u64::from(args.warmup);
    let count = warm + u64::from(args.rate) * u64::from(args.seconds);

    let (samples, errors) = async_std::task::block_on(async {
        let mut samples = Vec::with_capacity((count - warm) as usize);
        let mut errors: BTreeMap<String, u64> = BTreeMap::new();
        let mut record = |(i, r): (u64, Result<Sample, String>)| match r {
            Ok(s) if i >= warm => samples.push(s),
            Ok(_) => {}
            Err(e) => *errors.entry(e).or_default() += 1,
        };
        // What is under way: exchanges (close) or connections (keep-alive), each giving its
        // outcomes when it ends.
        let mut inflight: FuturesUnordered<LocalBoxFuture<'_, Outcomes>> = FuturesUnordered::new();
        // Keep-alive: request i goes to connection i % n through its queue.
        let mut queues = Vec::new();
        for _ in 0..args.keep_alive {
            match open(args.connect, &connector, name.clone()).await {
                Ok((tls, _)) => {
                    let (tx, rx) = mpsc::unbounded();
                    queues.push(tx);
                    inflight.push(keep_alive(tls, rx, request.clone(), args.expect).boxed_local());
                }
                Err(e) => record((0, Err(format!("opening the connections: {e}")))),
            }
        }
        if args.keep_alive > 0 && queues.is_empty() {
            return (samples, errors);
        }
        // One timer for the whole schedule: request i is due at start + i * period.
        let start = Instant::now() + Duration::from_millis(20);
        let mut next = 0u64;
        while next < count || !inflight.is_empty() {
            if next < count {
                let due = start + Duration::from_nanos(period_ns * next);
                let now = Instant::now();
                if now >= due {
                    if args.keep_alive == 0 {
                        let one = exchange(
                            due,
                            args.connect,
                            connector.clone(),
                            name.clone(),
                            request.clone(),
                            args.expect,
                        );
                        let i = next;
                        inflight.push(
                            async_std::future::timeout(ANSWER_WITHIN, one)
                                .map(move |r| vec![(i, r.unwrap_or_else(|_| Err(no_answer())))])
                                .boxed_local(),
                        );
                    } else {
                        let queue = &queues[(next % queues.len() as u64) as usize];
                        // A queue only closes when its connection's task has ended, which
                        // it does only after this loop drops the queues.
                        let _ = queue.unbounded_send((next, due));
                    }
                    next += 1;
                    if next == count {
                        queues.clear(); // the connections end once their queues are empty
                    }
                    continue;
                }
                let mut sleep = pin!(async_std::task::sleep(due - now).fuse());
                futures::select! {
                    () = sleep => {}
                    r = inflight.select_next_some() => r.into_iter().for_each(&mut record),
                }
            } else if let Some(r) = inflight.next().await {
                r.into_iter().for_each(&mut record);
            }
        }
        (samples, errors)
    });

    report(&args, count, &samples, &errors);
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn client_config(args: &Args) -> Result<Arc<ClientConfig>, String> {
    let mut provider = aws_lc_rs::default_provider();
    provider.kx_groups = vec![aws_lc_rs::kx_group::X25519];
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&args.cacert)
        .map_err(|e| format!("{}: {e}", args.cacert.display()))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("{}: {e}", args.cacert.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", args.cacert.display()))?;
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if args.no_resume {
        config.resumption = rustls::client::Resumption::disabled();
    }
    Ok(Arc::new(config))
}

type Tls = futures_rustls::client::TlsStream<TcpStream>;

/// A TCP connection and its TLS handshake; whether the session was resumed.
async fn open(
    addr: SocketAddr,
    connector: &TlsConnector,
    name: ServerName<'static>,
) -> Result<(Tls, bool), String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {}", e.kind()))?;
    tcp.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let resumed = tls.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed);
    Ok((tls, resumed))
}

/// Writes the request and reads its whole answer (no pipelining: nothing may follow it);
/// returns the status.
async fn ask(tls: &mut Tls, request: &[u8], buf: &mut [u8]) -> Result<u16, String> {
    tls.write_all(request)
        .await
        .map_err(|e| format!("write: {}", e.kind()))?;
    let mut have = 0;
    loop {
        let n = tls
            .read(&mut buf[have..])
            .await
            .map_err(|e| format!("read: {}", e.kind()))?;
        if n == 0 {
            return Err("closed before the whole answer".into());
        }
        have += n;
        match answer(&buf[..have])? {
            Some((status, len)) if have == len => return Ok(status),
            Some((_, len)) if have > len => return Err("bytes after the answer".into()),
            Some((_, len)) if len > buf.len() => return Err("answer over 16 KiB".into()),
            None if have == buf.len() => return Err("answer head over 16 KiB".into()),
            _ => {}
        }
    }
}

/// `--keep-alive 0`: one connection for one request, due at `due`; after the answer, reads to
/// the end (session tickets, close_notify) without timing it.
async fn exchange(
    due: Instant,
    addr: SocketAddr,
    connector: TlsConnector,
    name: ServerName<'static>,
    request: Arc<[u8]>,
    expect: u16,
) -> Result<Sample, String> {
    let lag = due.elapsed();
    let (mut tls, resumed) = open(addr, &connector, name).await?;
    let sent = Instant::now();
    let mut buf = vec![0u8; 16 * 1024];
    let status = ask(&mut tls, &request, &mut buf).await?;
    let done = Instant::now();
    while let Ok(n) = tls.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
    if status != expect {
        return Err(format!("status {status}"));
    }
    Ok(Sample {
        total: done.duration_since(due),
        request: done.duration_since(sent),
        lag,
        resumed,
    })
}

/// `--keep-alive N`: one of the N connections, opened before the run. Sends the requests the
/// schedule queues for it (index and due time), one at a time: a request whose time comes while
/// the answer before it is awaited waits in the queue, and its time still counts from when it
/// was due. Ends when the queue is closed and empty; gives (index, outcome) for each request.
async fn keep_alive(
    mut tls: Tls,
    mut queue: mpsc::UnboundedReceiver<(u64, Instant)>,
    request: Arc<[u8]>,
    expect: u16,
) -> Outcomes {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut broken = false;
    while let Some((i, due)) = queue.next().await {
        if broken {
            // The connection is in an unknown state: the rest of its share is not sent.
            out.push((i, Err("not sent: its connection failed".into())));
            continue;
        }
        let sent = Instant::now();
        let asked = async_std::future::timeout(ANSWER_WITHIN, ask(&mut tls, &request, &mut buf));
        let outcome = match asked.await.unwrap_or_else(|_| Err(no_answer())) {
            Ok(status) if status == expect => Ok(Sample {
                total: due.elapsed(),
                request: sent.elapsed(),
                lag: sent.duration_since(due),
                resumed: false,
            }),
            Ok(status) => Err(format!("status {status}")),
            Err(e) => Err(e),
        };
        broken = outcome.is_err();
        out.push((i, outcome));
    }
    out
}

/// Once an HTTP/1.1 answer's head is complete: its status and whole length (head plus
/// Content-Length). `Ok(None)` while the head is incomplete.
fn answer(bytes: &[u8]) -> Result<Option<(u16, usize)>, String> {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&bytes[..end]).map_err(|_| "answer head not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let length = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.trim().parse::<usize>())
        .ok_or("answer without Content-Length")?
        .map_err(|_| "bad Content-Length")?;
    Ok(Some((status, end + 4 + length)))
}

/// The nearest-rank percentile `p` (0-100] of sorted values.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

fn report(args: &Args, made: u64, samples: &[Sample], errors: &BTreeMap<String, u64>) {
    let mut total: Vec<Duration> = samples.iter().map(|s| s.total).collect();
    let mut request: Vec<Duration> = samples.iter().map(|s| s.request).collect();
    total.sort_unstable();
    request.sort_unstable();
    let resumed = samples.iter().filter(|s| s.resumed).count();
    let lag = samples.iter().map(|s| s.lag).max().unwrap_or_default();
    let failed: u64 = errors.values().sum();
    eprintln!(
        "{made} requests to {} at {}/s ({} s warm-up not counted), then {} s: {} answered {}, \
         {failed} failed, {resumed} resumed",
        args.connect,
        args.rate,
        args.warmup,
        args.seconds,
        samples.len(),
        args.expect,
    );
    if args.keep_alive > 0 {
        eprintln!("over {} connections opened before the run", args.keep_alive);
    }
    eprintln!(
        "due -> answer end (ms): p50 {} p90 {} p99 {} max {}",
        ms(percentile(&total, 50.0)),
        ms(percentile(&total, 90.0)),
        ms(percentile(&total, 99.0)),
        ms(total.last().copied().unwrap_or_default())
    );
    eprintln!(
        "request written -> answer end (ms): p50 {} p99 {}; largest start lag {} ms",
        ms(percentile(&request, 50.0)),
        ms(percentile(&request, 99.0)),
        ms(lag)
    );
    if std::env::var_os("LOADGEN_DEBUG").is_some() {
        for (i, s) in samples.iter().enumerate() {
            if s.lag > Duration::from_millis(2) || s.total > Duration::from_millis(10) {
                eprintln!(
                    "  #{i} lag {} total {} request {}",
                    ms(s.lag),
                    ms(s.total),
                    ms(s.request)
                );
            }
        }
    }
    for (e, n) in errors {
        eprintln!("  {n} x {e}");
    }
    println!(
        "summary {made} {} {failed} {resumed} {} {} {} {} {} {} {}",
        samples.len(),
        ms(percentile(&total, 50.0)),
        ms(percentile(&total, 90.0)),
        ms(percentile(&total, 99.0)),
        ms(total.last().copied().unwrap_or_default()),
        ms(percentile(&request, 50.0)),
        ms(percentile(&request, 99.0)),
        ms(lag)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_whole_only_with_its_content_length_body() {
        let head = b"HTTP/1.1 301 Moved Permanently\r\nLocation: /x\r\ncontent-length: 5\r\n\r\n";
        assert_eq!(answer(&head[..20]), Ok(None));
        let (status, len) = answer(head).unwrap().unwrap();
        assert_eq!((status, len), (301, head.len() + 5));
    }

    #[test]
    fn answers_without_length_or_status_are_errors() {
        assert!(answer(b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n").is_err());
        assert!(answer(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(answer(b"HTTP/1.1 301 Moved\r\nContent-Length: x\r\n\r\n").is_err());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&v, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&v[..1], 99.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 99.0), Duration::ZERO);
    }
}
