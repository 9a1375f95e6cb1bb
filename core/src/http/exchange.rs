//! One request's response, read from the client side: the client and the balancer's prober
//! both read through it.
//!
//! [`ResponseReader`] skips 1xx interim responses (handing them out to be printed), frames and
//! decodes the final response's body with [`BodyDecoder`], and says when the message is complete
//! or why it is not. Sans-IO with the caller owning the buffer, as in rustls' unbuffered API:
//!
//! 1. Call [`ResponseReader::read`] with every received byte not consumed yet.
//! 2. Handle the step's event, then drop `consumed` bytes from the front of the buffer.
//! 3. A step without an event needs more bytes: read, append, go to 1. A step with an event may
//!    be followed by more: go to 1 until [`Event::End`].
//! 4. At end of stream call [`ResponseReader::handle_eof`] with what is left: it completes a
//!    close-delimited body and says why anything else is incomplete.
//!
//! What the client does with a final response (save, follow, refuse, print) is
//! the download client's decision (`download::follow`); how a probe is judged is the balancer's
//! (`balance::verdict::verdict`).

use crate::http::body::{BodyDecoder, BodyError};
use crate::http::response::{Response, ResponseError, ResponseParser};
use crate::http::{BodyKind, Parsed};

/// What a step of reading found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// A 1xx interim response head (100 Continue, 103 Early Hints): informational only, the
    /// final response follows.
    Interim(Response<'a>),
    /// The final response's head.
    Head(Response<'a>),
    /// A run of decoded body data (never empty); a sub-slice of the input.
    Data(&'a [u8]),
    /// The response is complete; every later call returns `End` again without consuming.
    End,
}

/// One step of [`ResponseReader::read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step<'a> {
    /// Input bytes used up; drop them from the front of the buffer after handling `event`.
    pub consumed: usize,
    /// What was found; `None` means more input is needed.
    pub event: Option<Event<'a>>,
}

/// Why a response could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// The head is malformed or too large.
    Head(ResponseError),
    /// The body is malformed, or ended early ([`BodyError::Truncated`] says how early).
    Body(BodyError),
    /// A `101 Switching Protocols`, which only answers an upgrade request (never sent).
    UnexpectedSwitch,
    /// The connection closed before any byte of a response.
    NoResponse,
    /// The connection closed in the middle of a response head.
    HeadCut,
}

impl ReadError {
    /// Whether this is a body cut short (the download lost its tail), as opposed to a response
    /// that could not be understood.
    pub fn is_truncation(&self) -> bool {
        matches!(self, ReadError::Body(BodyError::Truncated { .. }))
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Head(e) => e.fmt(f),
            ReadError::Body(e) => e.fmt(f),
            ReadError::UnexpectedSwitch => {
                f.write_str("101 Switching Protocols without an upgrade request")
            }
            ReadError::NoResponse => {
                f.write_str("the server closed the connection without answering")
            }
            ReadError::HeadCut => {
                f.write_str("the connection closed in the middle of the response head")
            }
        }
    }
}

impl std::error::Error for ReadError {}

#[derive(Debug, Clone)]
enum State {
    /// Waiting for a (final or interim) head; `seen`: some response already arrived.
    Head {
        seen: bool,
    },
    Body(BodyDecoder),
    Done,
    Failed(ReadError),
}

/// Reads one response. See the module docs for the calling contract.
#[derive(Debug, Clone)]
pub struct ResponseReader {
    head_request: bool,
    parser: ResponseParser,
    state: State,
    status: Option<u16>,
    body: BodyKind,
    received: u64,
}

impl ResponseReader {
    /// A reader for the response to a request; `head_request` when the request was HEAD (so
    /// the response has no body whatever its headers say). Heads up to 64 KiB.
    pub fn new(head_request: bool) -> Self {
        Self::with_max_head(head_request, 64 * 1024)
    }

    /// As [`ResponseReader::new`], accepting heads (each, interim ones included) up to
    /// `max_head` bytes.
    pub fn with_max_head(head_request: bool, max_head: usize) -> Self {
        ResponseReader {
            head_request,
            parser: ResponseParser::new(max_head),
            state: State::Head { seen: false },
            status: None,
            body: BodyKind::None,
            received: 0,
        }
    }

    /// Read the next step from `input` (every received byte not consumed yet). Once an error
    /// is returned the reader stays failed.
    pub fn read<'a>(&mut self, input: &'a [u8]) -> Result<Step<'a>, ReadError> {
        let result = self.advance(input);
        if let Err(e) = result {
            self.state = State::Failed(e);
        }
        result
    }

    fn advance<'a>(&mut self, input: &'a [u8]) -> Result<Step<'a>, ReadError> {
        match &mut self.state {
            State::Failed(e) => Err(*e),
            State::Done => Ok(Step {
                consumed: 0,
                event: Some(Event::End),
            }),
            State::Head { .. } => {
                let (response, consumed) = match self.parser.parse(input, self.head_request) {
                    Ok(Parsed::Complete { value, consumed }) => (value, consumed),
                    Ok(Parsed::Partial) => {
                        return Ok(Step {
                            consumed: 0,
                            event: None,
                        })
                    }
                    Err(e) => return Err(ReadError::Head(e)),
                };
                let event = match response.status {
                    101 => return Err(ReadError::UnexpectedSwitch),
                    100..=199 => {
                        self.state = State::Head { seen: true };
                        Event::Interim(response)
                    }
                    status => {
                        self.status = Some(status);
                        self.body = response.body;
                        self.state = State::Body(BodyDecoder::new(response.body));
                        Event::Head(response)
                    }
                };
                Ok(Step {
                    consumed,
                    event: Some(event),
                })
            }
            State::Body(decoder) => {
                let mut consumed = 0;
                loop {
                    if decoder.is_done() {
                        self.state = State::Done;
                        return Ok(Step {
                            consumed,
                            event: Some(Event::End),
                        });
                    }
                    let step = decoder
                        .decode(&input[consumed..])
                        .map_err(ReadError::Body)?;
                    consumed += step.consumed;
                    self.received = decoder.received();
                    if !step.data.is_empty() {
                        return Ok(Step {
                            consumed,
                            event: Some(Event::Data(step.data)),
                        });
                    }
                    if step.consumed == 0 {
                        return Ok(Step {
                            consumed,
                            event: None,
                        });
                    }
                }
            }
        }
    }

    /// The peer closed the connection; `unconsumed` is what the buffer still holds. `Ok` when
    /// the response is complete (a close-delimited body ends here: call [`ResponseReader::read`]
    /// once more for its [`Event::End`]), otherwise why it is not.
    pub fn handle_eof(&mut self, unconsumed: &[u8]) -> Result<(), ReadError> {
        let result = match &mut self.state {
            State::Failed(e) => Err(*e),
            State::Done => Ok(()),
            State::Head { seen } => {
                if unconsumed.is_empty() && !*seen {
                    Err(ReadError::NoResponse)
                } else {
                    Err(ReadError::HeadCut)
                }
            }
            State::Body(decoder) => decoder.handle_eof().map_err(ReadError::Body),
        };
        match result {
            Ok(()) => self.state = State::Done,
            Err(e) => self.state = State::Failed(e),
        }
        result
    }

    /// The final response's status, once its head has been read.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The body length the final response announced (Content-Length), if it did.
    pub fn announced_length(&self) -> Option<u64> {
        match self.body {
            BodyKind::Length(n) => Some(n),
            _ => None,
        }
    }

    /// Body data bytes delivered so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Whether the whole response has been read.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }
}
