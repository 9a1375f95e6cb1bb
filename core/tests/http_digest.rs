//! The digest fields' parsers on arbitrary and on near-valid input (what the fuzz targets check,
//! run by `cargo test` too): never a panic, a choice only among what was asked for, and every
//! digest parsed written back as a value that parses to itself.

use proptest::prelude::*;
use ricochet_core::http::base64;
use ricochet_core::http::digest::{
    parse_digest, parse_repr_digest, parse_want_digest, parse_want_repr_digest, want_digest,
    want_repr_digest, write_digest_value, write_repr_digest_value, Algorithm,
};

/// Field values made of the pieces the grammar uses, so that most are nearly valid.
fn near_valid() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"sha-256".to_vec()),
        Just(b"SHA-512".to_vec()),
        Just(b"md5".to_vec()),
        Just(b"=".to_vec()),
        Just(b":".to_vec()),
        Just(b",".to_vec()),
        Just(b";q=".to_vec()),
        Just(b" ".to_vec()),
        Just(b"0.5".to_vec()),
        Just(b"10".to_vec()),
        Just(b"X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..4),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|p| p.concat())
}

fn any_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![proptest::collection::vec(any::<u8>(), 0..80), near_valid()]
}

proptest! {
    #[test]
    fn want_fields_choose_only_what_they_accept(value in any_value()) {
        let repr = parse_want_repr_digest(&value);
        if let Some(a) = want_repr_digest(&value) {
            prop_assert!(repr.preference(a) > 0);
        }
        let want = parse_want_digest(&value);
        for a in Algorithm::ALL {
            prop_assert!(want.preference(a) <= 1000);
        }
        if let Some(a) = want_digest(&value) {
            prop_assert!(want.preference(a) > 0);
        }
    }

    #[test]
    fn parsed_digests_write_back_to_themselves(value in any_value()) {
        for d in parse_repr_digest(&value) {
            let mut v = Vec::new();
            write_repr_digest_value(&mut v, &d);
            prop_assert_eq!(parse_repr_digest(&v), vec![d]);
        }
        for d in parse_digest(&value) {
            let mut v = Vec::new();
            write_digest_value(&mut v, &d);
            prop_assert_eq!(parse_digest(&v), vec![d]);
        }
    }

    #[test]
    fn base64_round_trips_and_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let mut text = Vec::new();
        base64::encode(&bytes, &mut text);
        let mut back = Vec::new();
        prop_assert!(base64::decode(&text, &mut back).is_ok());
        prop_assert_eq!(&back, &bytes);
        // Arbitrary text: an error or some bytes, never a panic.
        let _ = base64::decode(&bytes, &mut back);
    }
}
