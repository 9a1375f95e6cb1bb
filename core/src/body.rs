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

use crate::BodyKind;

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
    pub fn status(&self) -> u16 {
        400
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

/// Incremental body decoder. See the module docs for the calling contract.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    kind: BodyKind,
    // implementation state lives here
}

impl BodyDecoder {
    /// A decoder for a body framed as `kind`.
    pub fn new(kind: BodyKind) -> Self {
        BodyDecoder { kind }
    }

    /// Decode the next step from `input`. Once an error is returned the decoder stays failed.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<Decoded<'a>, BodyError> {
        let _ = (input, self.kind);
        todo!("core-http helper")
    }

    /// Whether the whole body (and, for chunked, its trailers) has been consumed.
    pub fn is_done(&self) -> bool {
        todo!("core-http helper")
    }

    /// Body data bytes delivered so far.
    pub fn received(&self) -> u64 {
        todo!("core-http helper")
    }

    /// The peer closed the connection: `Ok` if the body is complete (always so for
    /// close-delimited), otherwise [`BodyError::Truncated`].
    pub fn handle_eof(&mut self) -> Result<(), BodyError> {
        todo!("core-http helper")
    }
}
