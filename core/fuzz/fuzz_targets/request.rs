//! The request parser never panics, and how the input is split never changes the outcome.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ricochet_core::http::request::{ParseError, RequestParser};
use ricochet_core::http::Parsed;

type Outcome = Result<Option<(String, usize)>, ParseError>;

fn outcome(r: Result<Parsed<ricochet_core::http::request::Request<'_>>, ParseError>) -> Outcome {
    r.map(|p| match p {
        Parsed::Partial => None,
        Parsed::Complete { value, consumed } => Some((format!("{value:?}"), consumed)),
    })
}

fuzz_target!(|data: &[u8]| {
    let whole = outcome(RequestParser::default().parse(data));
    // The same bytes in two pieces, split where the input's first byte says.
    let split = if data.is_empty() {
        0
    } else {
        data[0] as usize % data.len()
    };
    let mut parser = RequestParser::default();
    let pieces = match outcome(parser.parse(&data[..split])) {
        Ok(None) => outcome(parser.parse(data)),
        done => done,
    };
    assert_eq!(whole, pieces);
});
