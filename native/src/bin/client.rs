//! `client`: Ricochet's download client.
//!
//! GETs an `http://` or `https://` URL, prints each response's status line and headers (and the
//! text body of a redirect or an error) to stdout, follows redirects (saying so), and saves a 2xx
//! body through a temporary file renamed only once the body is complete. Every failure is one
//! line on stderr and a distinct exit code (`--help` lists them; `cli::exit` is the table).
//!
//! Run it:
//!
//! ```sh
//! cargo run -p ricochet --bin server -- --listen 127.0.0.1:8080 --root www &
//! cargo run -p ricochet --bin client -- http://127.0.0.1:8080/index.html -o /tmp/index.html
//! ```
//!
//! `RICOCHET_LOG` sets the log level (`off`, `error`, `warn`, `info`, `debug`, `trace`; default
//! `info`); the client only logs at `debug`.

use argh::FromArgs;
use ricochet::cli::duration::parse_duration;
use ricochet::cli::exit::Exit;
use ricochet::cli::logging;
use ricochet::client::{self, print, ClientError, Options};
use ricochet::runtime::tls::{self, Trust};
use ricochet_core::http::url::Url;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Download an http:// or https:// URL. Prints each response's status line and headers on stdout, follows
/// redirects, and saves a 2xx body (through a temporary file renamed when complete). A progress
/// bar shows on stderr when it is a terminal. The environment variable RICOCHET_LOG sets the log
/// level (off, error, warn, info, debug, trace; default info).
#[derive(FromArgs)]
#[argh(
    error_code(1, "usage error or bad URL"),
    error_code(2, "name not resolved, or connection refused or unreachable"),
    error_code(3, "timed out connecting or waiting for data"),
    error_code(
        4,
        "malformed response, or the connection broke before a complete head"
    ),
    error_code(5, "the final response is not 2xx (nothing saved)"),
    error_code(6, "redirect problem: too many, a loop, or a missing or bad Location"),
    error_code(
        7,
        "local file error: saving failed, a --cacert file is unusable, or another --continue run is downloading to the same file"
    ),
    error_code(
        8,
        "download cut short: fewer body bytes than announced (nothing saved; with -c the partial file stays for the next run)"
    ),
    error_code(
        9,
        "TLS failure: bad certificate (unknown issuer, expired...), name mismatch, or handshake failure (nothing saved)"
    ),
    error_code(
        13,
        "the downloaded bytes do not match the file's digest (a server's copy is wrong; nothing saved)"
    )
)]
struct Args {
    /// the http:// or https:// URL to download
    #[argh(positional)]
    url: String,

    /// trust the CA certificates in this PEM file too, besides the system's (repeatable)
    #[argh(option)]
    cacert: Vec<PathBuf>,

    /// insecure: accept any TLS certificate for any name, with a warning on stderr each time
    /// (never the default)
    #[argh(switch, short = 'k')]
    insecure: bool,

    /// follow a redirect from https to http (refused by default: the rest would travel
    /// unencrypted)
    #[argh(switch)]
    allow_downgrade: bool,

    /// save the body here; an existing directory saves inside it (default: the given URL's last
    /// path segment, never a redirect target's, in the current directory; index.html for a
    /// trailing slash)
    #[argh(option, short = 'o')]
    output: Option<PathBuf>,

    /// follow at most this many redirects (default 10)
    #[argh(option, default = "10")]
    max_redirects: u32,

    /// quiet: no progress bar and no closing summary on stderr (default off)
    #[argh(switch, short = 'q')]
    quiet: bool,

    /// longest wait to connect (in all, whatever number of addresses the name has) and between
    /// two reads, e.g. 30s or 500ms (default 30s)
    #[argh(
        option,
        default = "Duration::from_secs(30)",
        from_str_fn(parse_duration)
    )]
    timeout: Duration,

    /// fsync the file (and its directory) before renaming it into place, so a power cut right
    /// after a successful exit cannot leave a short file (default off, like curl and wget)
    #[argh(switch)]
    fsync: bool,

    /// continue: resume from the partial file (.NAME.part, with its note .NAME.part.meta) an
    /// earlier --continue run left, asking only for the rest (Range, with If-Range so a changed
    /// file is fetched whole, never spliced); an existing complete file is left as it is; on
    /// failure the partial file stays for the next run; one run per output at a time (the
    /// partial file is locked: a second run exits 7)
    #[argh(switch, short = 'c')]
    r#continue: bool,

    /// retry this many times (default 0) when the connection fails, is cut or times out, or
    /// the answer is 408, 429, 500, 502, 503 or 504, pausing 0.5s, 1s, 2s... (at most 8s);
    /// a cut download is resumed from the URL given (through the balancer again)
    #[argh(option, default = "0")]
    retry: u32,

    /// segments: download from up to N servers at once, the redirect's Location and the
    /// servers its Link rel=duplicate headers name (a Ricochet balancer sends them), with
    /// Range requests; faster servers get more of the file, a failing or corrupt one is
    /// dropped and its part fetched from the others (default 1: one server)
    #[argh(option, short = 's', default = "1")]
    segments: u32,

    /// print the name and version, then exit
    #[argh(switch)]
    #[expect(
        dead_code,
        reason = "version::exit_if_asked answers it before argh parses"
    )]
    version: bool,
}

fn main() -> ExitCode {
    ricochet::cli::version::exit_if_asked("client");
    let args: Args = argh::from_env();
    logging::init();
    let (resume, quiet) = (args.r#continue, args.quiet);
    let saved = options(args).and_then(|options| client::run(&options));
    match saved {
        Ok(saved) => {
            if !quiet {
                print::summary(&saved);
            }
            Exit::Success.into()
        }
        Err(e) => {
            print::failure(&e, resume);
            e.exit().into()
        }
    }
}

/// The download's options from the command line: the URL parsed, and the `--cacert` files
/// checked before anything is written, whatever the URL's scheme.
fn options(args: Args) -> Result<Options, ClientError> {
    let url = Url::parse(&args.url).map_err(|e| ClientError::BadUrl(args.url.clone(), e))?;
    let trust = Trust {
        ca_files: args.cacert,
        insecure: args.insecure,
    };
    if !trust.ca_files.is_empty() {
        tls::client_config(&trust).map_err(ClientError::CaFile)?;
    }
    Ok(Options {
        url,
        output: args.output,
        max_redirects: args.max_redirects,
        quiet: args.quiet,
        timeout: args.timeout,
        fsync: args.fsync,
        resume: args.r#continue,
        retries: args.retry,
        trust,
        allow_downgrade: args.allow_downgrade,
        segments: args.segments.max(1),
    })
}
