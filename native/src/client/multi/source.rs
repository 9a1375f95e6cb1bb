//! One source's task in a multi-source download: ask the scheduler for a range, send the
//! `Range` request (reusing the connection while the server keeps it alive), judge the answer
//! (the core's [`judge_piece`]), write each body chunk at its offset, report failures.

use super::{Shared, IDLE_PAUSE};
use crate::client::error::{connect_error, head_error, ClientError, TimeoutPhase};
use crate::client::print::say;
use crate::client::{Options, READ_BUF};
use crate::runtime;
use crate::runtime::exchange::{self, ReceiveError, Received, TlsClient};
use crate::runtime::tls::Stream;
use ricochet_core::download::follow::KeptHead;
use ricochet_core::download::resume::Validator;
use ricochet_core::download::segments::{judge_piece, Assign, Failure, Span};
use ricochet_core::download::verify;
use ricochet_core::http::exchange::{Event, ResponseReader};
use ricochet_core::http::url::Url;
use std::cell::RefCell;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::Instant;

/// One open connection to a source, and the reader of a response whose head was read and
/// whose body is still to come (the first source's probe).
pub(super) struct Conn {
    pub(super) stream: Stream,
    pub(super) received: Received,
    pub(super) reader: Option<ResponseReader>,
    pub(super) keep_alive: bool,
}

/// One source's task: fetch what the scheduler assigns until the file is complete or the
/// source is dropped.
pub(super) async fn source_task(
    i: usize,
    urls: &[Url],
    mut conn: Option<Conn>,
    shared: &RefCell<Shared>,
    file: &File,
    tls: &TlsClient,
    options: &Options,
) {
    let url = &urls[i];
    loop {
        let assign = shared.borrow_mut().segments.poll_assign(i, Instant::now());
        let span = match assign {
            Assign::Fetch(span) => span,
            Assign::Wait => {
                runtime::sleep(IDLE_PAUSE).await;
                continue;
            }
            Assign::Complete | Assign::Dropped => return,
        };
        match fetch(i, urls, span, &mut conn, shared, file, tls, options).await {
            Ok(()) => {}
            Err((failure, why)) => {
                conn = None;
                log::debug!("{}: {why}", url.socket_addr());
                let dropped = {
                    let mut s = shared.borrow_mut();
                    if s.segments.dropped(i).is_none() {
                        s.segments.handle_failed(i, failure, Instant::now());
                    }
                    s.segments.dropped(i)
                };
                if let Some(dropped) = dropped {
                    say(format_args!(
                        "{}: {why}; dropped ({})\n",
                        url.socket_addr(),
                        super::dropped_word(dropped)
                    ));
                    return;
                }
                runtime::sleep(IDLE_PAUSE * 4).await;
            }
        }
    }
}

/// Fetch (the rest of) `span` from source `i`, over `conn` when it is open.
#[allow(clippy::too_many_arguments)]
async fn fetch(
    i: usize,
    urls: &[Url],
    span: Span,
    conn: &mut Option<Conn>,
    shared: &RefCell<Shared>,
    file: &File,
    tls: &TlsClient,
    options: &Options,
) -> Result<(), (Failure, String)> {
    let url = &urls[i];
    let transient = |why: String| (Failure::Transient, why);
    if conn.is_none() {
        let stream = exchange::connect(url, tls, options.timeout)
            .await
            .map_err(|e| transient(connect_error(url, e).to_string()))?;
        *conn = Some(Conn {
            stream,
            received: Received::new(READ_BUF),
            reader: None,
            keep_alive: true,
        });
    }
    let c = conn.as_mut().expect("just opened");
    let mut reader = match c.reader.take() {
        // The probe's head was read already: its body follows.
        Some(reader) => reader,
        None => {
            let validator = shared.borrow().validator.clone();
            let answer = send_and_read_head(
                &mut c.stream,
                &mut c.received,
                url,
                span,
                validator.as_ref(),
                options,
            )
            .await
            .map_err(|e| transient(e.to_string()))?;
            let Some((head, reader)) = answer else {
                return Err(transient("no response".to_string()));
            };
            let mut s = shared.borrow_mut();
            let total = s.segments.total();
            judge_piece(
                span,
                Some(total),
                s.validator.as_ref(),
                head.status,
                head.content_range.as_deref(),
                head.validator.as_ref(),
                head.body,
            )
            .map_err(|f| {
                (
                    f,
                    format!("unusable answer {} {}", head.status, head.reason),
                )
            })?;
            if s.announced[i].is_none() {
                s.announced[i] = verify::preferred(&head.digests);
                s.drop_disagreeing(urls, Instant::now());
                if s.segments.dropped(i).is_some() {
                    return Err((Failure::Corrupt, "wrong digest".to_string()));
                }
            }
            c.keep_alive = head.keep_alive;
            reader
        }
    };
    loop {
        let event = c
            .received
            .next_event(
                &mut c.stream,
                &mut reader,
                options.timeout,
                |event| match event {
                    Event::Data(data) => {
                        let mut s = shared.borrow_mut();
                        let now = Instant::now();
                        let w = s.segments.handle_data(i, data.len() as u64, now);
                        let keep = &data[..w.keep as usize];
                        let wrote = file.write_all_at(keep, w.offset);
                        s.progress.advance(keep.len());
                        s.show_speeds(urls, now);
                        if w.complete {
                            let Shared { note, segments, .. } = &mut *s;
                            if let Some(note) = note.as_mut() {
                                note.write(segments.done());
                            }
                        }
                        Some((wrote, w.complete))
                    }
                    _ => None,
                },
            )
            .await;
        match event {
            Ok(Some((Ok(()), complete))) => {
                let more = !reader.is_done()
                    && reader
                        .announced_length()
                        .is_none_or(|n| reader.received() < n);
                if complete && more {
                    // Cut short by a steal: the rest of this response is not wanted.
                    *conn = None;
                    return Ok(());
                }
            }
            Ok(Some((Err(e), _))) => return Err((Failure::Refused, format!("writing: {e}"))),
            Ok(None) => {
                if !c.keep_alive {
                    *conn = None;
                }
                return Ok(());
            }
            Err(ReceiveError::Timeout) => return Err(transient("timed out".to_string())),
            Err(e) => return Err(transient(e.to_string())),
        }
    }
}

/// Send a GET for `span` of `url` (with `If-Range` when the version is known, and asking for
/// digests) and read the response head. `Ok(None)`: the connection ended without a head.
pub(super) async fn send_and_read_head(
    stream: &mut Stream,
    received: &mut Received,
    url: &Url,
    span: Span,
    validator: Option<&Validator>,
    options: &Options,
) -> Result<Option<(KeptHead, ResponseReader)>, ClientError> {
    let range = span.range_value();
    let mut fields: Vec<(&str, &[u8])> = vec![("Range", range.as_bytes())];
    if let Some(v) = validator {
        fields.push(("If-Range", v.value().as_bytes()));
    }
    fields.extend(verify::WANT_FIELDS);
    match exchange::send_get(stream, url, &fields, options.timeout).await {
        Ok(Some(())) => {}
        Ok(None) => return Err(ClientError::Timeout(TimeoutPhase::Send, url.clone())),
        Err(e) => return Err(ClientError::Broken(url.clone(), e.to_string())),
    }
    let mut reader = ResponseReader::new(false);
    loop {
        let head = received
            .next_event(stream, &mut reader, options.timeout, |event| match event {
                Event::Head(response) => Some(KeptHead::of(&response)),
                _ => None,
            })
            .await;
        match head {
            Ok(Some(head)) => return Ok(Some((head, reader))),
            Ok(None) => {}
            Err(e) => return Err(head_error(url, e, received.pending())),
        }
    }
}
