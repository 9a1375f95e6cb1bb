//! The balancer's probe download: GET the probe URL on a fresh connection, read the whole body
//! (throwing it away as it arrives), and time it from starting to connect to the last byte.
//!
//! Reading and the verdict are the core's ([`ResponseReader`] and
//! `ricochet_core::balance::verdict::verdict`); this module only connects, reads and times.

use crate::runtime::exchange::{self, ConnectError, ReceiveError, Received, TlsClient};
use crate::runtime::tls::HandshakeError;
use ricochet_core::balance::family::Family;
use ricochet_core::balance::verdict::{Measurement, ProbeFailure};
use ricochet_core::http::exchange::{Event, ResponseReader};
use ricochet_core::http::url::Url;
use std::io;
use std::time::Instant;

/// Receive buffer of one probe: the most of the probe body held at once.
const READ_BUF: usize = 64 * 1024;
/// Largest response head a probed server may send.
const MAX_HEAD: usize = 32 * 1024;

/// Download `url` once over `family` (to the addresses of that family only), giving up at
/// `deadline` ([`ProbeFailure::Timeout`]). The time measured runs from the start of this call
/// (name resolution and connect included) to the last body byte.
pub async fn probe(
    url: &Url,
    family: Family,
    tls: &TlsClient,
    deadline: Instant,
) -> Result<Measurement, ProbeFailure> {
    let started = Instant::now();
    let left = deadline.saturating_duration_since(started);
    let download = download(url, family, tls, started, deadline);
    match crate::runtime::timeout(left, download).await {
        Some(result) => result,
        None => Err(ProbeFailure::Timeout),
    }
}

async fn download(
    url: &Url,
    family: Family,
    tls: &TlsClient,
    started: Instant,
    deadline: Instant,
) -> Result<Measurement, ProbeFailure> {
    let left = || deadline.saturating_duration_since(Instant::now());
    let mut stream = exchange::connect_over(url, Some(family), tls, left())
        .await
        .map_err(connect_failure)?;
    match exchange::send_get(&mut stream, url, &[], left()).await {
        Ok(Some(())) => {}
        Ok(None) => return Err(ProbeFailure::Timeout),
        Err(e) => return Err(ProbeFailure::Broken(format!("sending the request: {e}"))),
    }
    let mut received = Received::new(READ_BUF);
    let mut reader = ResponseReader::with_max_head(false, MAX_HEAD);
    let failure = loop {
        // No need to wait for a body the verdict does not depend on.
        if ricochet_core::balance::verdict::decided(&reader) {
            break None;
        }
        match received
            .next_event(&mut stream, &mut reader, left(), |e| {
                matches!(e, Event::End)
            })
            .await
        {
            Ok(true) => break None,
            Ok(false) => {}
            Err(ReceiveError::Read(e)) => break Some(e),
            Err(ReceiveError::Timeout) => return Err(ProbeFailure::Timeout),
            Err(ReceiveError::Io(e)) => return Err(ProbeFailure::Broken(e.to_string())),
        }
    };
    ricochet_core::balance::verdict::verdict(&reader, failure.as_ref(), started.elapsed())
}

/// The kind of a failed connection.
fn connect_failure(e: ConnectError) -> ProbeFailure {
    match e {
        ConnectError::Timeout | ConnectError::Handshake(HandshakeError::TimedOut) => {
            ProbeFailure::Timeout
        }
        ConnectError::Resolve(e) => ProbeFailure::Unresolved(e.to_string()),
        ConnectError::Connect(_, e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            ProbeFailure::Refused
        }
        ConnectError::Connect(addr, e) => ProbeFailure::Unreachable(format!("{addr}: {e}")),
        ConnectError::Handshake(e) => ProbeFailure::Tls(e.to_string()),
        ConnectError::TlsConfig(e) => ProbeFailure::Tls(e.to_string()),
    }
}
