//! Sending an answer: a file (its head and, for larger files, its body in bounded pieces), a
//! 304, a redirect or an error page, at the configured pace.

use crate::runtime::conn::ByteStream;
use crate::runtime::service::Responder;
use crate::runtime::{self, File};
use crate::server::open::{open_file, Opened};
use crate::server::Config;
use ricochet_core::files::serve::{self, FileRequest, Page};
use ricochet_core::http::error_page::{self, Reply};
use ricochet_core::http::status::Status;
use std::io;
use std::time::SystemTime;

/// Files up to this size go out with their head in a single write.
const SMALL_FILE: u64 = 64 * 1024;
/// Piece size for streaming larger files: the most file data a connection holds at once.
const CHUNK: usize = 256 * 1024;

/// The answer being sent, settled before its first byte goes out so that one cut short is
/// still logged with its status.
#[derive(Debug, Default)]
pub struct Answer {
    /// The status sent.
    pub status: u16,
    /// Whether the connection may carry another request.
    pub more: bool,
    /// Length of the response head.
    pub head: usize,
}

/// Send the core's error page for `status`.
pub async fn send_error<S: ByteStream>(
    responder: &mut Responder<'_, S>,
    status: Status,
    keep_alive: bool,
    head_only: bool,
    config: &Config,
    answer: &mut Answer,
) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(512);
    let reply = Reply {
        keep_alive,
        head_only,
    };
    let written = error_page::write(status, reply, SystemTime::now(), &[], &mut bytes);
    let page = Page {
        bytes,
        head_len: written.head_len,
    };
    send_page(
        responder,
        &page,
        status.code(),
        written.keep_alive,
        config,
        answer,
    )
    .await
}

/// Send a complete response the core produced, at the configured pace.
async fn send_page<S: ByteStream>(
    responder: &mut Responder<'_, S>,
    page: &Page,
    status: u16,
    more: bool,
    config: &Config,
    answer: &mut Answer,
) -> io::Result<()> {
    *answer = Answer {
        status,
        more,
        head: page.head_len,
    };
    let mut pace = config.throttle.start().await;
    pace.write_all(responder, &page.bytes).await
}

/// Serve a routed request: the file, a 304, or the error page if the file cannot be had.
pub async fn send_file<S: ByteStream>(
    responder: &mut Responder<'_, S>,
    request: &FileRequest,
    config: &Config,
    out: &mut Vec<u8>,
    chunk: &mut Vec<u8>,
    answer: &mut Answer,
) -> io::Result<()> {
    let (mut file, meta, index) = match runtime::fs(|| open_file(config, request)).await {
        Ok(Opened::File(file, meta, index)) => (file, meta, index),
        Ok(Opened::AddSlash) => {
            let page = serve::directory_redirect(request, SystemTime::now());
            let status = serve::DIRECTORY_REDIRECT.code();
            let more = request.keep_alive;
            return send_page(responder, &page, status, more, config, answer).await;
        }
        Err(e) => {
            let (keep_alive, head_only) = (request.keep_alive, request.head_only);
            return send_error(responder, e.status(), keep_alive, head_only, config, answer).await;
        }
    };
    let request = index.as_ref().unwrap_or(request);
    let digests = if request.wants.any() {
        runtime::fs(|| config.digests.lookup(&file, &meta, &request.wants)).await
    } else {
        Default::default()
    };
    let file_meta = serve::FileMeta {
        len: meta.len(),
        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        digests,
    };
    let (head, body) = match serve::file_response(request, &file_meta, SystemTime::now()) {
        serve::FileResponse::File { head, body } => (head, body),
        serve::FileResponse::Refused { status, page } => {
            let more = request.keep_alive;
            return send_page(responder, &page, status, more, config, answer).await;
        }
    };
    out.clear();
    head.write(out);
    let head_len = out.len();
    *answer = Answer {
        status: head.status,
        more: request.keep_alive,
        head: head_len,
    };
    let mut pace = config.throttle.start().await;
    let Some(body) = body else {
        return pace.write_all(responder, out).await;
    };
    if body.start > 0 {
        runtime::fs(|| file.seek_to(body.start)).await?;
    }
    let len = body.len;
    if len <= SMALL_FILE {
        // Head and body in one write.
        out.resize(head_len + len as usize, 0);
        let complete = runtime::fs(|| read_full(&mut file, &mut out[head_len..])).await?;
        if complete < len as usize {
            // The file shrank under us: what was announced cannot be sent.
            answer.more = false;
            pace.write_all(responder, &out[..head_len + complete])
                .await?;
            log::warn!("{} shrank while being sent", request.relative);
            return Ok(());
        }
        return pace.write_all(responder, out).await;
    }
    // Larger files: head plus the first piece in one write, then piece by piece.
    if chunk.is_empty() {
        chunk.resize(CHUNK, 0);
    }
    let mut remaining = len;
    let mut offset = 0;
    if out.len() <= CHUNK / 2 {
        chunk[..out.len()].copy_from_slice(out);
        offset = out.len();
    } else {
        pace.write_all(responder, out).await?;
    }
    while remaining > 0 {
        let want = (CHUNK - offset).min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let got = runtime::fs(|| read_full(&mut file, &mut chunk[offset..offset + want])).await?;
        pace.write_all(responder, &chunk[..offset + got]).await?;
        offset = 0;
        if got < want {
            answer.more = false;
            log::warn!("{} shrank while being sent", request.relative);
            return Ok(());
        }
        remaining -= got as u64;
    }
    Ok(())
}

/// Read until `buf` is full or the file ends; returns how much was read.
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
