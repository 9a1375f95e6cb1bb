//! `Want-Repr-Digest` parsing never panics, and what it picks is an algorithm the request
//! gave a non-zero preference.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ricochet_core::http::digest::{parse_want_repr_digest, want_repr_digest};

fuzz_target!(|data: &[u8]| {
    let wanted = parse_want_repr_digest(data);
    if let Some(a) = want_repr_digest(data) {
        assert!(wanted.preference(a) > 0);
    }
});
