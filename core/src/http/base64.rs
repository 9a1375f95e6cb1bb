//! Base64 with the standard alphabet (RFC 4648 section 4), as digest fields carry it: RFC 9530's
//! byte sequences (`:...:`, RFC 8941 section 3.3.5) and RFC 3230's `SHA-256=...` values.
//!
//! Encoding always pads with `=`. Decoding follows RFC 8941 section 4.2.7's advice for byte
//! sequences: padding may be missing and non-zero pad bits are ignored; anything else (a byte
//! outside the alphabet, padding in the middle, a length no encoding produces) is an error.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Why a base64 text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base64Error {
    /// A byte outside the standard alphabet (`A-Z a-z 0-9 + /`) or `=` before the end.
    InvalidByte,
    /// A length no encoding produces (one character in the last group, or too much padding).
    InvalidLength,
    /// The decoded bytes do not fit in the caller's buffer.
    TooLong,
}

impl core::fmt::Display for Base64Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Base64Error::InvalidByte => "invalid base64 byte",
            Base64Error::InvalidLength => "invalid base64 length",
            Base64Error::TooLong => "base64 text decodes to too many bytes",
        })
    }
}

/// How many bytes [`encode`] appends for `n` input bytes.
pub const fn encoded_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Append the padded base64 form of `input` to `out`.
pub fn encode(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(encoded_len(input.len()));
    let mut chunks = input.chunks_exact(3);
    for c in &mut chunks {
        let n = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        out.extend_from_slice(&[
            ALPHABET[(n >> 18) as usize & 63],
            ALPHABET[(n >> 12) as usize & 63],
            ALPHABET[(n >> 6) as usize & 63],
            ALPHABET[n as usize & 63],
        ]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                b'=',
                b'=',
            ]);
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                ALPHABET[(n >> 6) as usize & 63],
                b'=',
            ]);
        }
        _ => {}
    }
}

fn value(b: u8) -> Option<u32> {
    Some(u32::from(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    }))
}

/// Decode `input` into `out`, returning how many bytes were written. Works without allocating,
/// so a parser can decode a digest into a fixed array.
pub fn decode_to_slice(input: &[u8], out: &mut [u8]) -> Result<usize, Base64Error> {
    let mut text = input;
    let mut pads = 0;
    while let [rest @ .., b'='] = text {
        text = rest;
        pads += 1;
    }
    if pads > 2 || (pads > 0 && (text.len() + pads) % 4 != 0) {
        return Err(Base64Error::InvalidLength);
    }
    if text.len() % 4 == 1 {
        return Err(Base64Error::InvalidLength);
    }
    let len = text.len() / 4 * 3 + (text.len() % 4).saturating_sub(1);
    if len > out.len() {
        return Err(Base64Error::TooLong);
    }
    let mut at = 0;
    for group in text.chunks(4) {
        let mut n = 0u32;
        for (i, &b) in group.iter().enumerate() {
            n |= value(b).ok_or(Base64Error::InvalidByte)? << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        let take = group.len() - 1;
        out[at..at + take].copy_from_slice(&bytes[..take]);
        at += take;
    }
    Ok(at)
}

/// Decode `input`, appending the bytes to `out`. On error `out` is left as it was.
pub fn decode(input: &[u8], out: &mut Vec<u8>) -> Result<(), Base64Error> {
    let start = out.len();
    out.resize(start + input.len() / 4 * 3 + 3, 0);
    match decode_to_slice(input, &mut out[start..]) {
        Ok(n) => {
            out.truncate(start + n);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(b: &[u8]) -> String {
        let mut out = Vec::new();
        encode(b, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn dec(s: &str) -> Result<Vec<u8>, Base64Error> {
        let mut out = b"kept".to_vec();
        let r = decode(s.as_bytes(), &mut out);
        if r.is_err() {
            assert_eq!(out, b"kept", "an error leaves the buffer as it was");
        }
        r.map(|()| out[4..].to_vec())
    }

    #[test]
    fn rfc4648_test_vectors() {
        // RFC 4648 section 10.
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(enc(plain.as_bytes()), coded);
            assert_eq!(dec(coded).unwrap(), plain.as_bytes());
            assert_eq!(dec(coded.trim_end_matches('=')).unwrap(), plain.as_bytes());
            assert_eq!(encoded_len(plain.len()), coded.len());
        }
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        for n in 0..all.len() {
            assert_eq!(dec(&enc(&all[..n])).unwrap(), &all[..n]);
        }
        assert!(enc(&all).contains('+') && enc(&all).contains('/'));
    }

    #[test]
    fn refuses_what_no_encoder_produces() {
        assert_eq!(dec("Zm9v!A=="), Err(Base64Error::InvalidByte));
        assert_eq!(
            dec("Zm-v"),
            Err(Base64Error::InvalidByte),
            "URL-safe alphabet"
        );
        assert_eq!(dec("Zg==Zg=="), Err(Base64Error::InvalidByte));
        assert_eq!(dec("Zm9 vA=="), Err(Base64Error::InvalidByte));
        assert_eq!(dec("Z"), Err(Base64Error::InvalidLength));
        assert_eq!(dec("Zm9vY"), Err(Base64Error::InvalidLength));
        assert_eq!(dec("Zg==="), Err(Base64Error::InvalidLength));
        assert_eq!(dec("Zg="), Err(Base64Error::InvalidLength));
        assert_eq!(dec("="), Err(Base64Error::InvalidLength));
        // Non-zero pad bits are tolerated (RFC 8941 section 4.2.7).
        assert_eq!(dec("Zh==").unwrap(), b"f");
    }

    #[test]
    fn decode_to_slice_respects_the_buffer() {
        let mut four = [0u8; 4];
        assert_eq!(decode_to_slice(b"Zm9vYg==", &mut four), Ok(4));
        assert_eq!(&four, b"foob");
        assert_eq!(
            decode_to_slice(b"Zm9vYmE=", &mut four),
            Err(Base64Error::TooLong)
        );
    }
}
