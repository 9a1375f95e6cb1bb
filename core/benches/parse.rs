//! Request-head parsing throughput: `cargo bench -p ricochet-core --bench parse`.
//!
//! Three heads: what a browser sends for a page (~500 bytes, 12 header fields), what
//! `curl http://host/` sends, and what `wrk` sends (the balancer's benchmark load). Criterion
//! reports bytes/s (Throughput::Bytes); heads/s is 1 / time per iteration, since each
//! iteration parses one head.
//!
//! For instruction counts: with `RICOCHET_BENCH_ONLY=browser` (or `curl`, `wrk`) and
//! `RICOCHET_BENCH_ITERS=N` the binary parses that head N times and nothing else, for
//! `valgrind --tool=callgrind` at two values of N (the difference of the counts over the
//! difference of N is the count per head).

use criterion::{black_box, criterion_group, Criterion, Throughput};
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

const WRK: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

const CURL: &[u8] =
    b"GET / HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";

const HEADS: [(&str, &[u8]); 3] = [("browser", BROWSER), ("curl", CURL), ("wrk", WRK)];

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("request_head");
    for (name, head) in HEADS {
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

#[path = "common/count_mode.rs"]
mod count_mode;

criterion_group!(benches, bench);

fn main() {
    let Some((only, iters)) = count_mode::asked(benches) else {
        return;
    };
    let Some(&(_, head)) = HEADS.iter().find(|(name, _)| *name == only) else {
        panic!("RICOCHET_BENCH_ONLY: browser, curl or wrk, not {only}");
    };
    let mut parser = RequestParser::default();
    for _ in 0..iters {
        match parser.parse(black_box(head)) {
            Ok(Parsed::Complete { value, consumed }) => {
                black_box((value.headers.len(), consumed));
            }
            _ => unreachable!(),
        }
    }
}
