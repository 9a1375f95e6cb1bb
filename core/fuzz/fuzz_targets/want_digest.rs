//! `Want-Digest` parsing never panics, and what it picks is an algorithm the request gave a
//! non-zero q-value (at most 1).
#![no_main]
use libfuzzer_sys::fuzz_target;
use ricochet_core::http::digest::{parse_want_digest, want_digest, Algorithm};

fuzz_target!(|data: &[u8]| {
    let wanted = parse_want_digest(data);
    for a in Algorithm::ALL {
        assert!(wanted.preference(a) <= 1000);
    }
    if let Some(a) = want_digest(data) {
        assert!(wanted.preference(a) > 0);
    }
});
