//! One request on a fresh connection: send it (with `Range` and `If-Range` when resuming),
//! print the response, then save its body into the [`Part`] or say what comes next.

use super::error::{body_error, head_error, ClientError, TimeoutPhase};
use super::flush::Flusher;
use super::hash::Hasher;
use super::part::Part;
use super::print::{echo_body, print_head, say};
use super::progress::Progress;
use super::{Options, Saved};
use crate::runtime::exchange::{self, ReceiveError, Received};
use futures::io::{AsyncRead, AsyncWrite};
use ricochet_core::download::follow::{Follower, KeptHead, Next};
use ricochet_core::download::resume::{self, RangeRequest, Resume};
use ricochet_core::download::verify::{self, Expect};
use ricochet_core::http::digest::Digest;
use ricochet_core::http::exchange::{Event, ReadError, ResponseReader};
use std::io::{BufWriter, Write};

/// File write buffer (bodies arriving in small chunks are gathered into writes this large).
const WRITE_BUF: usize = 64 * 1024;

/// How one request ended.
pub(super) enum Outcome {
    /// Done: the file is complete.
    Saved(Saved),
    /// Request this URL next; the redirect's head (its digests and `Link` headers).
    Redirect(ricochet_core::http::url::Url, Box<KeptHead>),
    /// The file is missing where a redirect led: the follower is back at the URL that
    /// redirected, which is asked again with the server reported.
    AskAgain,
    /// The local bytes do not fit the answer: drop them and ask again for the whole file.
    Refetch,
}

/// Send the request for `follower`'s current URL on `stream`, print the response (interim
/// heads, the final head, a text body that is not saved), then save the body or say what
/// comes next, as the core decides.
#[allow(clippy::too_many_arguments)]
pub(super) async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    received: &mut Received,
    follower: &mut Follower,
    ask: Option<&RangeRequest>,
    expect: &Expect,
    part: &mut Part,
    options: &Options,
) -> Result<Outcome, ClientError> {
    let url = follower.current().clone();
    let mut fields = ask.map(RangeRequest::fields).unwrap_or_default();
    fields.extend(follower.report_field());
    fields.extend(verify::WANT_FIELDS);
    match exchange::send_get(stream, &url, &fields, options.timeout).await {
        Ok(Some(())) => {}
        Ok(None) => return Err(ClientError::Timeout(TimeoutPhase::Send, url)),
        Err(e) => {
            return Err(ClientError::Broken(
                url,
                format!("sending the request failed: {e}"),
            ))
        }
    }
    let mut reader = ResponseReader::new(false);
    let head = loop {
        let head = received
            .next_event(stream, &mut reader, options.timeout, |event| match event {
                Event::Interim(response) => {
                    print_head(&response);
                    None
                }
                Event::Head(response) => {
                    print_head(&response);
                    Some(KeptHead::of(&response))
                }
                Event::Data(_) | Event::End => None,
            })
            .await;
        match head {
            Ok(Some(head)) => break head,
            Ok(None) => {}
            Err(e) => return Err(head_error(&url, e, received.pending())),
        }
    };
    let next = follower.handle_response(head.status, head.location.as_deref());
    let resume = match next {
        Ok(Next::Save | Next::Refused) => resume::decide(
            ask,
            head.status,
            head.content_range.as_deref(),
            head.validator.as_ref(),
            head.body,
        )
        .map_err(|e| ClientError::Protocol(url.clone(), e.to_string()))?,
        _ => None,
    };
    if resume.is_none() {
        if let Some(limit) = head.echo_limit() {
            echo_body(stream, received, &mut reader, &head, limit, options.timeout).await;
        }
    }
    let complete = match (next.map_err(ClientError::Redirect)?, resume) {
        (Next::Redirect(next), _) => return Ok(Outcome::Redirect(next, Box::new(head))),
        (Next::AskAgain(failover), _) => {
            say(format_args!(
                "{} answered {} {}; asking {} for another server\n",
                failover.report.server(),
                head.status,
                head.reason,
                failover.url
            ));
            return Ok(Outcome::AskAgain);
        }
        (_, Some(Resume::Refetch)) => {
            say(format_args!(
                "the partial file does not fit this answer: downloading the whole file\n"
            ));
            return Ok(Outcome::Refetch);
        }
        (_, Some(Resume::Complete)) => return part.complete_already().map(Outcome::Saved),
        (Next::Refused, None) => return Err(ClientError::Status(head.status, head.reason)),
        (_, Some(Resume::Append { complete })) => complete,
        (Next::Save, None) | (_, Some(Resume::StartOver)) => {
            part.start_over(head.validator.clone())?;
            None
        }
    };
    // A server announcing another digest than the redirect's holds a wrong copy: not a byte of
    // it is saved.
    let expected = expect
        .judge(&head.digests)
        .map_err(|e| ClientError::Digest(url.socket_addr(), e))?;
    let mut body = Body {
        stream,
        received,
        reader: &mut reader,
    };
    body.save(&head, &url, part, complete, expected, options)
        .await
        .map(Outcome::Saved)
}

/// The body still to read: the connection, its buffer and the reader past the head.
struct Body<'a, S> {
    stream: &'a mut S,
    received: &'a mut Received,
    reader: &'a mut ResponseReader,
}

impl<S: AsyncRead + Unpin> Body<'_, S> {
    /// Stream the body into `part` (appended after its bytes when it holds some, which the
    /// caller has checked are the same version); check its length, sync, rename. `complete`
    /// is the whole file's length when a 206 said it. File errors name the output as given,
    /// never the hidden temporary file.
    async fn save(
        &mut self,
        head: &KeptHead,
        url: &ricochet_core::http::url::Url,
        part: &mut Part,
        complete: Option<u64>,
        expected: Option<(Digest, verify::Source)>,
        options: &Options,
    ) -> Result<Saved, ClientError> {
        let output = part.output.clone();
        let file_error = |e| ClientError::File(output.clone(), e);
        let offset = part.len;
        let file = part.open(offset > 0).map_err(file_error)?;
        // The bytes held already count in the digest: hashed first, read back in chunks.
        let mut hasher = expected.map(|(d, _)| Hasher::new(d.algorithm()));
        if let Some(hasher) = hasher.as_mut().filter(|_| offset > 0) {
            let held = part.read().map_err(file_error)?;
            hasher.update_from(&held, offset).map_err(file_error)?;
        }
        let mut flusher = match part.target {
            Some(_) if options.fsync => Flusher::new(&file),
            _ => None,
        };
        let mut writer = BufWriter::with_capacity(WRITE_BUF, file);
        let appended_to = complete;
        let complete = complete.or(head.announced_length().map(|n| offset + n));
        let progress = Progress::new(options.quiet, complete, offset);
        let failure = loop {
            let wrote = self
                .received
                .next_event(
                    self.stream,
                    self.reader,
                    options.timeout,
                    |event| match event {
                        Event::Data(data) => {
                            if let Some(hasher) = hasher.as_mut() {
                                hasher.update(data);
                            }
                            writer.write_all(data).map(|()| Some(data.len()))
                        }
                        _ => Ok(None),
                    },
                )
                .await;
            match wrote {
                Ok(Ok(Some(n))) => {
                    progress.advance(n);
                    if let Some(flusher) = flusher.as_mut() {
                        flusher.wrote(n);
                    }
                }
                Ok(Ok(None)) => break None,
                Ok(Err(e)) => break Some(file_error(e)),
                Err(ReceiveError::Timeout) => {
                    break Some(ClientError::Timeout(TimeoutPhase::Body, url.clone()))
                }
                Err(ReceiveError::Read(e)) => break Some(body_error(url, e)),
                Err(ReceiveError::Io(e)) => {
                    log::debug!("reading the body failed: {e}");
                    let cut = head.broken_off(self.reader.received());
                    break Some(body_error(url, ReadError::Body(cut)));
                }
            }
        };
        let received = self.reader.received();
        if let Some(e) = failure {
            progress.abandon();
            // Keep what arrived intact on disk: a later attempt resumes after it.
            part.settle(writer.into_inner().ok(), received);
            return Err(e);
        }
        let file = writer
            .into_inner()
            .map_err(|e| file_error(e.into_error()))?;
        drop(flusher);
        if let Err(e) = resume::check_appended(offset, received, appended_to) {
            progress.abandon();
            // The local bytes and this body do not make one file: keep neither.
            part.len = 0;
            return Err(ClientError::Protocol(url.clone(), e.to_string()));
        }
        if let (Some(expected), Some(hasher)) = (expected, hasher) {
            if let Err(e) = Expect::check(expected, hasher.finish()) {
                progress.abandon();
                // Wrong bytes: neither saved nor kept to resume from.
                part.drop_local();
                return Err(ClientError::Digest(url.socket_addr(), e));
            }
        }
        part.finish(file, options).map_err(file_error)?;
        progress.finish();
        Ok(Saved {
            path: output.clone(),
            bytes: offset + received,
            resumed_from: offset,
            already_complete: false,
            verified: expected.map(|(d, _)| d.algorithm()),
        })
    }
}
