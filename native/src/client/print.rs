//! What the client prints: response heads and unsaved text bodies on stdout, the closing
//! summary or the failure on stderr. Writes to a closed stdout are ignored: the download itself
//! still matters.

use super::{ClientError, Saved};
use crate::runtime::exchange::Received;
use futures::io::AsyncRead;
use ricochet_core::download::follow::KeptHead;
use ricochet_core::http::exchange::{Event, ResponseReader};
use ricochet_core::http::response::Response;
use std::io::{self, Write};
use std::time::Duration;

/// Print to stdout.
pub(super) fn say(args: std::fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    let _ = out.write_fmt(args);
    let _ = out.flush();
}

/// Print a response head as received: status line, headers, blank line.
pub(super) fn print_head(response: &Response<'_>) {
    let mut out = io::stdout().lock();
    let _ = writeln!(
        out,
        "{} {} {}",
        response.version.as_str(),
        response.status,
        response.reason
    );
    for header in &response.headers {
        let _ = writeln!(
            out,
            "{}: {}",
            header.name,
            String::from_utf8_lossy(header.value)
        );
    }
    let _ = writeln!(out);
    let _ = out.flush();
}

/// Print (the start of) a body that is not saved, at most `limit` bytes, saying so when there
/// was more. Best effort: an error or a timeout ends it, and the rest is never read.
pub(super) async fn echo_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    received: &mut Received,
    reader: &mut ResponseReader,
    head: &KeptHead,
    limit: u64,
    timeout: Duration,
) {
    let mut out = io::stdout().lock();
    let mut printed: u64 = 0;
    let mut last = b'\n';
    let mut cut = false;
    loop {
        let left = limit - printed;
        let step = received
            .next_event(stream, reader, timeout, |event| match event {
                Event::Data(data) => {
                    let shown =
                        &data[..data.len().min(usize::try_from(left).unwrap_or(usize::MAX))];
                    let _ = out.write_all(shown);
                    if let Some(&b) = shown.last() {
                        last = b;
                    }
                    Some((shown.len() as u64, shown.len() < data.len()))
                }
                _ => None,
            })
            .await;
        match step {
            Ok(Some((n, more))) => {
                printed += n;
                if more {
                    cut = true;
                    break;
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    if last != b'\n' {
        let _ = out.write_all(b"\n");
    }
    if cut {
        let _ = match head.announced_length() {
            Some(n) => writeln!(out, "[body truncated: first {printed} of {n} bytes shown]"),
            None => writeln!(out, "[body truncated: first {printed} bytes shown]"),
        };
    }
    let _ = out.flush();
}

/// The closing line on stderr for a completed download.
pub fn summary(saved: &Saved) {
    let path = saved.path.display();
    if saved.already_complete {
        eprintln!("{path} is already complete ({} bytes)", saved.bytes);
    } else if saved.resumed_from > 0 {
        eprintln!(
            "saved {} bytes to {path} (resumed at byte {}){}",
            saved.bytes,
            saved.resumed_from,
            verified(saved)
        );
    } else {
        eprintln!("saved {} bytes to {path}{}", saved.bytes, verified(saved));
    }
}

/// `, sha-256 verified` when the saved bytes were checked against a digest.
fn verified(saved: &Saved) -> String {
    saved
        .verified
        .map(|a| format!(", {} verified", a.rfc9530_name()))
        .unwrap_or_default()
}

/// The failure line on stderr; `resume`: with `--continue`, where a cut download's partial
/// file stays.
pub fn failure(e: &ClientError, resume: bool) {
    if resume || !matches!(e, ClientError::Truncated(..)) {
        eprintln!("client: {e}");
    } else {
        eprintln!("client: {e}; nothing saved");
    }
}
