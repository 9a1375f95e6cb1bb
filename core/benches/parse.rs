//! Request-head parsing throughput: `cargo bench -p ricochet-core --bench parse`.
//!
//! Two heads: what a browser sends for a page (~500 bytes, 12 header fields) and what
//! `curl http://host/` sends. Criterion reports bytes/s (Throughput::Bytes); heads/s is
//! 1 / time per iteration, since each iteration parses one head.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ricochet_core::http::request::RequestParser;
use ricochet_core::http::Parsed;

const BROWSER: &[u8] = b"GET /docs/getting-started/index.html?lang=en&ref=nav HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: http://www.example.com/docs/\r\n\
Connection: keep-alive\r\n\
Cookie: session=8f14e45fceea167a5a36dedd4bea2543; theme=dark\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\
Priority: u=0, i\r\n\
\r\n";

const CURL: &[u8] =
    b"GET / HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("request_head");
    for (name, head) in [("browser", BROWSER), ("curl", CURL)] {
        // Sanity: the bench must measure a successful parse of the whole head.
        match RequestParser::default().parse(head) {
            Ok(Parsed::Complete { consumed, .. }) => assert_eq!(consumed, head.len()),
            other => panic!("{name} head does not parse: {other:?}"),
        }
        group.throughput(Throughput::Bytes(head.len() as u64));
        let mut parser = RequestParser::default();
        group.bench_function(format!("{name}_{}_bytes", head.len()), |b| {
            b.iter(|| match parser.parse(black_box(head)) {
                Ok(Parsed::Complete { value, consumed }) => {
                    black_box((value.headers.len(), consumed))
                }
                _ => unreachable!(),
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
