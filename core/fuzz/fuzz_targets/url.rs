//! URL parsing and reference resolution never panic, and what they produce never holds a byte
//! that could split a request line or a header.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ricochet_core::http::url::Url;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let base = Url::parse("http://127.0.0.1:8080/a/b/c?q").unwrap();
    for url in [Url::parse(text), base.join(text)].into_iter().flatten() {
        let shown = url.to_string();
        assert!(shown.bytes().all(|b| b.is_ascii_graphic()), "{shown:?}");
        assert_eq!(Url::parse(&shown).as_ref(), Ok(&url));
    }
});
