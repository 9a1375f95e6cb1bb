//! The chunked decoder never panics, never reports more data than it consumed, and gives the
//! same body whether fed all at once or a byte at a time.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ricochet_core::http::body::BodyDecoder;
use ricochet_core::http::BodyKind;

fn decode(data: &[u8], step: usize) -> (Vec<u8>, bool, bool) {
    let mut decoder = BodyDecoder::new(BodyKind::Chunked);
    let mut body = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut failed = false;
    for piece in data.chunks(step.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&buf) {
                Ok(d) => {
                    assert!(d.data.len() <= d.consumed);
                    body.extend_from_slice(d.data);
                    let consumed = d.consumed;
                    buf.drain(..consumed);
                    if consumed == 0 || decoder.is_done() {
                        break;
                    }
                }
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if failed || decoder.is_done() {
            break;
        }
    }
    (body, decoder.is_done(), failed)
}

fuzz_target!(|data: &[u8]| {
    assert_eq!(decode(data, data.len()), decode(data, 1));
});
