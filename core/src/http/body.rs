//! Message body framing, for requests (server side) and responses (client side).
//!
//! Contract: create a [`BodyDecoder`] from the head's [`BodyKind`], then call
//! [`BodyDecoder::decode`] with the bytes that follow the head. Each call returns how many input
//! bytes it consumed and a slice of body data (a sub-slice of the input, possibly empty: chunk
//! framing is consumed without data). Drop `consumed` bytes from the front of the buffer, deliver
//! `data`, and call again while [`BodyDecoder::is_done`] is false and the buffer is not empty;
//! when a call consumes nothing, read more input. Bytes after the end of the body belong to the
//! next message. At end of input call [`BodyDecoder::handle_eof`], which tells whether the body
//! was complete (only a close-delimited body ends cleanly at EOF).

use crate::http::status::Status;
use crate::http::BodyKind;

/// Why a body could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Malformed chunk-size line, chunk terminator or trailer.
    BadChunk(&'static str),
    /// A chunk size that does not fit in 64 bits.
    ChunkSizeOverflow,
    /// The connection ended before the body did.
    Truncated {
        /// Body bytes received.
        received: u64,
        /// Body bytes announced, when the length was known.
        expected: Option<u64>,
    },
}

impl BodyError {
    /// The status a server should answer a request with when its body fails this way.
    pub fn status(&self) -> Status {
        Status::BAD_REQUEST
    }
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::BadChunk(why) => write!(f, "malformed chunked body: {why}"),
            BodyError::ChunkSizeOverflow => f.write_str("chunk size overflows"),
            BodyError::Truncated {
                received,
                expected: Some(e),
            } => write!(f, "body cut short: received {received} of {e} bytes"),
            BodyError::Truncated {
                received,
                expected: None,
            } => write!(f, "body cut short after {received} bytes"),
        }
    }
}

impl std::error::Error for BodyError {}

/// One step of decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// Input bytes used up by this step (framing and data).
    pub consumed: usize,
    /// Body data found in this step; a sub-slice of the input.
    pub data: &'a [u8],
}

/// Longest chunk-size line (size, extensions) and longest trailer line accepted, in bytes.
/// Framing lines are consumed byte by byte without buffering, so this only bounds how long a
/// peer can keep the decoder busy with framing instead of data.
pub const MAX_CHUNK_LINE: usize = 4096;

/// Largest trailer section (all trailer lines together) accepted, in bytes.
pub const MAX_TRAILERS: usize = 8 * 1024;

/// Incremental body decoder. See the module docs for the calling contract.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    kind: BodyKind,
    state: State,
    received: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Content-Length body with this many bytes still to come.
    Length(u64),
    /// Close-delimited: everything until EOF.
    Close,
    /// Chunked framing; the line counter bounds chunk-size and trailer lines.
    Chunk(Chunk),
    Done,
    Failed(BodyError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// At the start of a chunk-size line (no digit yet).
    SizeStart,
    /// Reading hex digits of the chunk size.
    Size {
        size: u64,
        line: usize,
    },
    /// After the size, in `[ chunk-ext ]` up to the CR; `at` says where in its grammar.
    Ext {
        size: u64,
        line: usize,
        at: Ext,
    },
    /// CR seen at the end of the size line; LF must follow.
    SizeLf {
        size: u64,
    },
    /// Chunk data, this many bytes left.
    Data(u64),
    /// After the data: CR then LF.
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart {
        total: usize,
    },
    /// In a trailer field name.
    TrailerName {
        total: usize,
        line: usize,
    },
    /// In a trailer field value.
    TrailerValue {
        total: usize,
        line: usize,
    },
    /// CR at the end of a trailer line.
    TrailerLf {
        total: usize,
    },
    /// CR of the final empty line.
    EndLf,
}

/// Where a chunk-size line is in `chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )`
/// (RFC 9112 section 7.1.1), `ext-val = token / quoted-string`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ext {
    /// Whitespace after the size: only a `;` may follow.
    SizeWs,
    /// After `;` (and any BWS): a name must come.
    NameStart,
    Name,
    /// Whitespace after a name: `=` or `;` must follow.
    NameWs,
    /// After `=` (and any BWS): a value must come.
    ValueStart,
    Token,
    Quoted,
    /// After a backslash inside a quoted-string.
    QuotedPair,
    /// After a closing quote: `;`, whitespace or CR.
    ValueEnd,
    /// Whitespace after a value: only a `;` may follow.
    ValueWs,
}

impl BodyDecoder {
    /// A decoder for a body framed as `kind`.
    pub fn new(kind: BodyKind) -> Self {
        let state = match kind {
            BodyKind::None | BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) => State::Length(n),
            BodyKind::Chunked => State::Chunk(Chunk::SizeStart),
            BodyKind::CloseDelimited => State::Close,
        };
        BodyDecoder {
            kind,
            state,
            received: 0,
        }
    }

    /// Decode the next step from `input`. Once an error is returned the decoder stays failed.
    ///
    /// A step returns at most one run of data; chunk framing before it is consumed in the same
    /// step. Once the body is done nothing more is consumed.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<Decoded<'a>, BodyError> {
        match self.state {
            State::Done => Ok(Decoded {
                consumed: 0,
                data: &[],
            }),
            State::Failed(e) => Err(e),
            State::Close => {
                self.received += input.len() as u64;
                Ok(Decoded {
                    consumed: input.len(),
                    data: input,
                })
            }
            State::Length(remaining) => {
                let n = clamp(remaining, input.len());
                let left = remaining - n as u64;
                self.state = if left == 0 {
                    State::Done
                } else {
                    State::Length(left)
                };
                self.received += n as u64;
                Ok(Decoded {
                    consumed: n,
                    data: &input[..n],
                })
            }
            State::Chunk(chunk) => match self.chunked(chunk, input) {
                Ok(d) => Ok(d),
                Err(e) => {
                    self.state = State::Failed(e);
                    Err(e)
                }
            },
        }
    }

    fn chunked<'a>(&mut self, mut c: Chunk, input: &'a [u8]) -> Result<Decoded<'a>, BodyError> {
        let mut i = 0;
        while i < input.len() {
            if let Chunk::Data(remaining) = c {
                let n = clamp(remaining, input.len() - i);
                let left = remaining - n as u64;
                c = if left == 0 {
                    Chunk::DataCr
                } else {
                    Chunk::Data(left)
                };
                self.state = State::Chunk(c);
                self.received += n as u64;
                return Ok(Decoded {
                    consumed: i + n,
                    data: &input[i..i + n],
                });
            }
            let b = input[i];
            i += 1;
            c = match c {
                Chunk::SizeStart => match hex(b) {
                    Some(d) => Chunk::Size {
                        size: u64::from(d),
                        line: 1,
                    },
                    None => return Err(BodyError::BadChunk("chunk size is not hexadecimal")),
                },
                Chunk::Size { size, line } => {
                    let line = count(line)?;
                    if let Some(d) = hex(b) {
                        if size > u64::MAX >> 4 {
                            return Err(BodyError::ChunkSizeOverflow);
                        }
                        Chunk::Size {
                            size: size << 4 | u64::from(d),
                            line,
                        }
                    } else {
                        after_size(b, size, line)?
                    }
                }
                Chunk::Ext { size, line, at } => match chunk_ext(at, b)? {
                    Some(at) => Chunk::Ext {
                        size,
                        line: count(line)?,
                        at,
                    },
                    None => Chunk::SizeLf { size },
                },
                Chunk::SizeLf { size } => match (b, size) {
                    (b'\n', 0) => Chunk::TrailerStart { total: 0 },
                    (b'\n', n) => Chunk::Data(n),
                    _ => return Err(BodyError::BadChunk("chunk-size line without CRLF")),
                },
                Chunk::Data(_) => unreachable_data(),
                Chunk::DataCr => match b {
                    b'\r' => Chunk::DataLf,
                    _ => return Err(BodyError::BadChunk("chunk data not followed by CRLF")),
                },
                Chunk::DataLf => match b {
                    b'\n' => Chunk::SizeStart,
                    _ => return Err(BodyError::BadChunk("chunk data not followed by CRLF")),
                },
                Chunk::TrailerStart { total } => match b {
                    b'\r' => Chunk::EndLf,
                    _ if crate::http::grammar::TOKEN[b as usize] => Chunk::TrailerName {
                        total: trailer_total(total)?,
                        line: 1,
                    },
                    _ => return Err(BodyError::BadChunk("malformed trailer field")),
                },
                Chunk::TrailerName { total, line } => {
                    let (total, line) = (trailer_total(total)?, count(line)?);
                    match b {
                        b':' => Chunk::TrailerValue { total, line },
                        _ if crate::http::grammar::TOKEN[b as usize] => {
                            Chunk::TrailerName { total, line }
                        }
                        _ => return Err(BodyError::BadChunk("malformed trailer field name")),
                    }
                }
                Chunk::TrailerValue { total, line } => {
                    let (total, line) = (trailer_total(total)?, count(line)?);
                    match b {
                        b'\r' => Chunk::TrailerLf { total },
                        b'\t' | b' '..=b'~' | 0x80.. => Chunk::TrailerValue { total, line },
                        _ => return Err(BodyError::BadChunk("control byte in trailer value")),
                    }
                }
                Chunk::TrailerLf { total } => match b {
                    b'\n' => Chunk::TrailerStart {
                        total: trailer_total(total)?,
                    },
                    _ => return Err(BodyError::BadChunk("trailer line without CRLF")),
                },
                Chunk::EndLf => match b {
                    b'\n' => {
                        self.state = State::Done;
                        return Ok(Decoded {
                            consumed: i,
                            data: &[],
                        });
                    }
                    _ => return Err(BodyError::BadChunk("chunked body not ended by CRLF")),
                },
            };
        }
        self.state = State::Chunk(c);
        Ok(Decoded {
            consumed: i,
            data: &[],
        })
    }

    /// Whether the whole body (and, for chunked, its trailers) has been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body data bytes delivered so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The peer closed the connection: `Ok` if the body is complete (always so for
    /// close-delimited), otherwise [`BodyError::Truncated`].
    pub fn handle_eof(&mut self) -> Result<(), BodyError> {
        match self.state {
            State::Done => Ok(()),
            State::Close => {
                self.state = State::Done;
                Ok(())
            }
            State::Failed(e) => Err(e),
            State::Length(_) | State::Chunk(_) => {
                let expected = match self.kind {
                    BodyKind::Length(n) => Some(n),
                    _ => None,
                };
                let e = BodyError::Truncated {
                    received: self.received,
                    expected,
                };
                self.state = State::Failed(e);
                Err(e)
            }
        }
    }
}

/// The data state is handled before the byte match; reaching it there is impossible. Kept as a
/// function returning a harmless state rather than a panic.
fn unreachable_data() -> Chunk {
    Chunk::DataCr
}

fn clamp(remaining: u64, available: usize) -> usize {
    usize::try_from(remaining).map_or(available, |r| r.min(available))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One more byte on a framing line, bounded by [`MAX_CHUNK_LINE`].
fn count(line: usize) -> Result<usize, BodyError> {
    if line >= MAX_CHUNK_LINE {
        Err(BodyError::BadChunk("chunk-size or trailer line too long"))
    } else {
        Ok(line + 1)
    }
}

fn trailer_total(total: usize) -> Result<usize, BodyError> {
    if total >= MAX_TRAILERS {
        Err(BodyError::BadChunk("trailer section too large"))
    } else {
        Ok(total + 1)
    }
}

/// A byte after the chunk size: BWS or `;` starting extensions, or the CR ending the line.
fn after_size(b: u8, size: u64, line: usize) -> Result<Chunk, BodyError> {
    let at = match b {
        b' ' | b'\t' => Ext::SizeWs,
        b';' => Ext::NameStart,
        b'\r' => return Ok(Chunk::SizeLf { size }),
        _ => return Err(BodyError::BadChunk("chunk size is not hexadecimal")),
    };
    Ok(Chunk::Ext { size, line, at })
}

/// One byte of chunk extensions: the next position, or `None` for the CR ending the line.
fn chunk_ext(at: Ext, b: u8) -> Result<Option<Ext>, BodyError> {
    let token = crate::http::grammar::TOKEN[b as usize];
    let ws = matches!(b, b' ' | b'\t');
    let next = match at {
        Ext::SizeWs | Ext::NameWs | Ext::ValueWs if ws => at,
        Ext::SizeWs | Ext::Name | Ext::NameWs | Ext::Token | Ext::ValueEnd | Ext::ValueWs
            if b == b';' =>
        {
            Ext::NameStart
        }
        Ext::NameStart if ws => Ext::NameStart,
        Ext::NameStart | Ext::Name if token => Ext::Name,
        Ext::Name if ws => Ext::NameWs,
        Ext::Name | Ext::NameWs if b == b'=' => Ext::ValueStart,
        Ext::ValueStart if ws => Ext::ValueStart,
        Ext::ValueStart if b == b'"' => Ext::Quoted,
        Ext::ValueStart | Ext::Token if token => Ext::Token,
        Ext::Token | Ext::ValueEnd if ws => Ext::ValueWs,
        Ext::Name | Ext::Token | Ext::ValueEnd if b == b'\r' => return Ok(None),
        // qdtext and quoted-pair (RFC 9110 section 5.6.4).
        Ext::Quoted if b == b'"' => Ext::ValueEnd,
        Ext::Quoted if b == b'\\' => Ext::QuotedPair,
        Ext::Quoted | Ext::QuotedPair if matches!(b, b'\t' | b' '..=b'~' | 0x80..) => Ext::Quoted,
        _ => return Err(BodyError::BadChunk("malformed chunk extension")),
    };
    Ok(Some(next))
}
