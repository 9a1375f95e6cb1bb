//! The response parser never panics, whatever the bytes and the request method.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ricochet_core::http::response::ResponseParser;

fuzz_target!(|data: &[u8]| {
    let head_request = data.first().is_some_and(|b| b & 1 == 1);
    let _ = ResponseParser::default().parse(data, head_request);
});
