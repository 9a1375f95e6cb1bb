//! One file check of `--verify-files`: `HEAD` of a path on a server of the pool or on the
//! origin, on a fresh connection (TLS for `https://`), read up to the end of the head.
//!
//! Connecting and sending are the prober's ([`exchange`]); reading the response and what
//! it says ([`FileHead::from_response`]) are the core's. This module only connects, sends,
//! reads and bounds the whole by the verify timeout.

use crate::runtime;
use crate::runtime::exchange::{self, ConnectError, ReceiveError, Received, TlsClient};
use ricochet_core::balance::file_check::{CheckFailure, CheckResult, FileHead};
use ricochet_core::balance::pool::ServerAddr;
use ricochet_core::balance::redirect::location;
use ricochet_core::http::exchange::{Event, ResponseReader};
use ricochet_core::http::url::Url;
use std::time::{Duration, Instant};

/// Largest response head a checked server may send (also the receive buffer: only the head is
/// read).
const MAX_HEAD: usize = 32 * 1024;

/// `HEAD` of `path` on `server` (its URL prefix put in front, as for a redirect), giving up
/// after `timeout` ([`CheckFailure::Timeout`]). A connection or protocol failure is
/// [`CheckFailure::Error`]; any complete head, whatever its status, is an answer.
pub async fn head(
    server: &ServerAddr,
    path: &str,
    tls: &TlsClient,
    timeout: Duration,
) -> CheckResult {
    let Ok(url) = Url::parse(&location(server.base_url(), path, None)) else {
        return Err(CheckFailure::Error);
    };
    let deadline = Instant::now() + timeout;
    runtime::timeout(timeout, exchange_head(&url, tls, deadline))
        .await
        .unwrap_or(Err(CheckFailure::Timeout))
}

async fn exchange_head(url: &Url, tls: &TlsClient, deadline: Instant) -> CheckResult {
    let left = || deadline.saturating_duration_since(Instant::now());
    let mut stream = match exchange::connect(url, tls, left()).await {
        Ok(stream) => stream,
        Err(ConnectError::Timeout) => return Err(CheckFailure::Timeout),
        Err(e) => {
            log::debug!("file check of {url}: {e}");
            return Err(CheckFailure::Error);
        }
    };
    match exchange::send_request(&mut stream, "HEAD", url, &[], left()).await {
        Ok(Some(())) => {}
        Ok(None) => return Err(CheckFailure::Timeout),
        Err(_) => return Err(CheckFailure::Error),
    }
    let mut received = Received::new(MAX_HEAD);
    let mut reader = ResponseReader::with_max_head(true, MAX_HEAD);
    loop {
        let event = received
            .next_event(&mut stream, &mut reader, left(), |event| match event {
                Event::Head(response) => Some(FileHead::from_response(&response)),
                _ => None,
            })
            .await;
        match event {
            Ok(Some(head)) => return Ok(head),
            // An interim response: the final head follows.
            Ok(None) if !reader.is_done() => {}
            Ok(None) => return Err(CheckFailure::Error),
            Err(ReceiveError::Timeout) => return Err(CheckFailure::Timeout),
            Err(e) => {
                log::debug!("file check of {url}: {e}");
                return Err(CheckFailure::Error);
            }
        }
    }
}
