//! An inetd-style redirector: reads one HTTP request on stdin, writes the balancer's answer on
//! stdout, with core's parser, ranking and redirect builder and no async runtime at all. The same
//! source runs natively and as a `wasm32-wasip1` module.
//!
//! ```text
//! stdio_redirect [--redirect 301] SERVER[=SECONDS]...
//! printf 'GET /a?b HTTP/1.1\r\nHost: x\r\n\r\n' \
//!   | cargo run -q -p ricochet-core --example stdio_redirect -- 127.0.0.1:1=0.5 127.0.0.1:2=0.1
//! ```
//!
//! `SECONDS` is a measured probe time that sets the server's rank (faster ranks higher); without
//! times, servers rank in the order given, the last one fastest. A malformed request gets the
//! parser's error status; no server gets 503. Randomness comes from the caller, as everywhere in
//! core: the generator is seeded from `getrandom`, which works natively and on WASI.
//! Exit codes: 0 answered (whatever the status), 1 usage error, 2 stdin or stdout failed.

use rand::SeedableRng;
use ricochet_core::balance::pool::{Policy, Pool, ServerAddr};
use ricochet_core::balance::redirect::Redirect;
use ricochet_core::balance::verdict::Measurement;
use ricochet_core::http::error_page::{self, Reply};
use ricochet_core::http::request::RequestParser;
use ricochet_core::http::status::Status;
use ricochet_core::http::Parsed;
use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// Bytes of the probe download the times stand for (only the ranking's speed column uses it).
const PROBE_BYTES: u64 = 256 * 1024;

const USAGE: &str = "usage: stdio_redirect [--redirect 301|302|303|307|308] SERVER[=SECONDS]...";

struct Args {
    redirect: Redirect,
    servers: Vec<(ServerAddr, Option<Duration>)>,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut redirect = Redirect::default();
    let mut servers = Vec::new();
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        if arg == "--redirect" {
            let value = args.next().ok_or("--redirect needs a status")?;
            let status: u16 = value
                .parse()
                .map_err(|_| format!("--redirect: '{value}' is not a status"))?;
            redirect = Redirect::new(status).map_err(|e| e.to_string())?;
            continue;
        }
        let (addr, time) = match arg.split_once('=') {
            Some((addr, secs)) => {
                let secs: f64 = secs
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| format!("{arg}: '{secs}' is not a number of seconds"))?;
                (addr, Some(Duration::from_secs_f64(secs)))
            }
            None => (arg.as_str(), None),
        };
        let server = ServerAddr::parse(addr).map_err(|e| format!("{addr}: {e}"))?;
        servers.push((server, time));
    }
    Ok(Args { redirect, servers })
}

/// The pool with every server measured: by the time given, or by its place in the list (the
/// last one fastest) when no time was given.
fn pool_of(servers: Vec<(ServerAddr, Option<Duration>)>) -> Pool {
    let count = servers.len() as u64;
    let times: Vec<Duration> = servers
        .iter()
        .enumerate()
        .map(|(i, (_, time))| time.unwrap_or(Duration::from_secs(count - i as u64)))
        .collect();
    let mut pool = Pool::new(servers.into_iter().map(|(addr, _)| addr).collect());
    for (index, elapsed) in times.into_iter().enumerate() {
        pool.record(
            index,
            Measurement {
                elapsed,
                bytes: PROBE_BYTES,
            },
        );
    }
    pool
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("stdio_redirect: {e}\n{USAGE}");
            return ExitCode::from(1);
        }
    };
    let ranking = pool_of(args.servers).ranking(Policy::Rank);
    let mut seed = [0u8; 32];
    if let Err(e) = getrandom::fill(&mut seed) {
        eprintln!("stdio_redirect: no randomness: {e}");
        return ExitCode::from(2);
    }
    let mut rng = rand::rngs::StdRng::from_seed(seed);

    let mut parser = RequestParser::default();
    let mut buf = Vec::with_capacity(4096);
    let mut piece = [0u8; 4096];
    let mut stdin = std::io::stdin().lock();
    let mut out = Vec::with_capacity(1024);
    let now = SystemTime::now();
    loop {
        match parser.parse(&buf) {
            Ok(Parsed::Complete { value, .. }) => {
                // One request per process: the answer says the connection ends with it.
                args.redirect
                    .answer(&value, false, &ranking, &mut rng, now, &mut out);
                break;
            }
            Ok(Parsed::Partial) => {}
            Err(e) => {
                let status = e.status();
                error_page::write(status, Reply::CLOSE, now, &[], &mut out);
                break;
            }
        }
        match stdin.read(&mut piece) {
            // The request ended before its head did: it is malformed.
            Ok(0) => {
                error_page::write(Status::BAD_REQUEST, Reply::CLOSE, now, &[], &mut out);
                break;
            }
            Ok(n) => buf.extend_from_slice(&piece[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("stdio_redirect: reading stdin: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(&out).and_then(|()| stdout.flush()) {
        eprintln!("stdio_redirect: writing stdout: {e}");
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
