//! The balancer's probe download: GET the probe URL on a fresh connection, read the whole body
//! (throwing it away as it arrives), and time it from starting to connect to the last byte.
//!
//! The verdict is the core's ([`ricochet_core::probe::judge`]): this module only reports what it
//! saw (status, announced length, bytes received, time) or why it could not see it.

use crate::client::USER_AGENT;
use crate::runtime::{self, AsyncReadExt, AsyncWriteExt, TcpStream};
use ricochet_core::body::BodyDecoder;
use ricochet_core::probe::{judge, Measurement, ProbeFailure};
use ricochet_core::response::ResponseParser;
use ricochet_core::url::Url;
use ricochet_core::write::write_request_head;
use ricochet_core::{BodyKind, Parsed};
use std::time::Instant;

/// Receive buffer of one probe: the most of the probe body held at once.
const READ_BUF: usize = 64 * 1024;
/// Largest response head a probed server may send.
const MAX_HEAD: usize = 32 * 1024;

/// Download `url` once, giving up at `deadline` ([`ProbeFailure::Timeout`]). The time measured
/// runs from the start of this call (name resolution and connect included) to the last body
/// byte.
pub async fn probe(url: &Url, deadline: Instant) -> Result<Measurement, ProbeFailure> {
    let started = Instant::now();
    let left = deadline.saturating_duration_since(started);
    match runtime::timeout(left, download(url, started)).await {
        Some(result) => result,
        None => Err(ProbeFailure::Timeout),
    }
}

async fn connect(url: &Url) -> Result<TcpStream, ProbeFailure> {
    let addrs = runtime::resolve(&url.socket_addr())
        .await
        .map_err(|e| ProbeFailure::Connect(e.to_string()))?;
    let mut last = None;
    for addr in addrs {
        match runtime::connect(addr).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(ProbeFailure::Connect(last.map_or_else(
        || "no address".to_string(),
        |e| e.to_string(),
    )))
}

async fn download(url: &Url, started: Instant) -> Result<Measurement, ProbeFailure> {
    let mut stream = connect(url).await?;
    let mut request = Vec::with_capacity(256);
    write_request_head(&mut request, "GET", url, USER_AGENT, false);
    stream
        .write_all(&request)
        .await
        .map_err(|e| ProbeFailure::Transfer(format!("sending the request: {e}")))?;

    let mut buf = vec![0u8; READ_BUF];
    let mut end = 0;
    let mut parser = ResponseParser::new(MAX_HEAD);
    // Read the head (skipping 1xx interim responses).
    let (status, body, mut start) = loop {
        match parser.parse(&buf[..end], false) {
            Ok(Parsed::Complete { value, consumed }) => {
                if (100..200).contains(&value.status) {
                    buf.copy_within(consumed..end, 0);
                    end -= consumed;
                    parser = ResponseParser::new(MAX_HEAD);
                    continue;
                }
                break (value.status, value.body, consumed);
            }
            Ok(Parsed::Partial) => {}
            Err(e) => return Err(ProbeFailure::Transfer(e.to_string())),
        }
        if end == buf.len() {
            return Err(ProbeFailure::Transfer("response head too large".into()));
        }
        match stream.read(&mut buf[end..]).await {
            Ok(0) => {
                return Err(ProbeFailure::Transfer(
                    "the connection closed before a complete response head".into(),
                ))
            }
            Ok(n) => end += n,
            Err(e) => return Err(ProbeFailure::Transfer(e.to_string())),
        }
    };
    let announced = match body {
        BodyKind::Length(n) => Some(n),
        _ => None,
    };
    if status != 200 {
        // Judged on the status alone: no need to wait for the body.
        return judge(status, announced, 0, started.elapsed());
    }

    // Read and drop the body, counting it.
    let mut decoder = BodyDecoder::new(body);
    loop {
        while !decoder.is_done() && start < end {
            let step = decoder
                .decode(&buf[start..end])
                .map_err(|e| ProbeFailure::Transfer(e.to_string()))?;
            if step.consumed == 0 {
                break;
            }
            start += step.consumed;
        }
        if decoder.is_done() {
            break;
        }
        // Keep what the decoder could not use yet (a partial chunk-size line).
        buf.copy_within(start..end, 0);
        end -= start;
        start = 0;
        if end == buf.len() {
            return Err(ProbeFailure::Transfer("malformed chunked body".into()));
        }
        match stream.read(&mut buf[end..]).await {
            Ok(0) => {
                if let Err(e) = decoder.handle_eof() {
                    if announced.is_none() {
                        return Err(ProbeFailure::Transfer(e.to_string()));
                    }
                    // A short Content-Length body: judge says how short.
                }
                break;
            }
            Ok(n) => end += n,
            Err(e) => return Err(ProbeFailure::Transfer(e.to_string())),
        }
    }
    judge(status, announced, decoder.received(), started.elapsed())
}
