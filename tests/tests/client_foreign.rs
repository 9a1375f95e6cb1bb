//! Our client against servers that are not ours: `python3 -m http.server`, a Python server that
//! answers chunked, and a close-delimited HTTP/1.0 response.

use ricochet_tests::{
    client, python, python_http_server, require, www, Reply, TempDir, TestServer,
};
use std::fs;

#[test]
fn downloads_from_python_http_server() {
    if !require("python3") {
        return;
    }
    let srv = python_http_server(&www());
    let dir = TempDir::new("pyhttp");
    for name in ["index.html", "logo.png", "photo.jpg", "probe.bin"] {
        let ran = client(dir.path(), &["-q", &format!("{}/{name}", srv.url)]);
        assert_eq!(ran.code(), 0, "{name}: {ran:?}\nserver: {}", srv.output());
        assert!(ran.stdout.contains(" 200 OK\n"), "{}", ran.stdout);
        assert!(
            fs::read(dir.path().join(name)).unwrap() == fs::read(www().join(name)).unwrap(),
            "{name} differs"
        );
    }
    // python's http.server redirects a directory without its slash: /docs -> /docs/.
    let ran = client(
        dir.path(),
        &["-q", &format!("{}/docs", srv.url), "-o", "docs.html"],
    );
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(ran.stdout.contains("redirected to "), "{}", ran.stdout);
    assert_eq!(
        fs::read(dir.path().join("docs.html")).unwrap(),
        fs::read(www().join("docs/index.html")).unwrap()
    );
    let ran = client(dir.path(), &["-q", &format!("{}/nope", srv.url)]);
    assert_eq!(ran.code(), 5, "{ran:?}");
}

/// A Python server answering every GET with a chunked body: the numbers 0..N, one line per
/// chunk, with a chunk extension and a trailer, over HTTP/1.1.
const CHUNKED_SERVER: &str = r#"
import http.server, sys
N = int(sys.argv[1])
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Trailer", "X-Done")
        self.end_headers()
        for i in range(N):
            data = ("%d\n" % i).encode()
            self.wfile.write(b"%x;ext=1\r\n" % len(data) + data + b"\r\n")
        self.wfile.write(b"0\r\nX-Done: yes\r\n\r\n")
        self.wfile.flush()
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print("listening on http://127.0.0.1:%d" % s.server_address[1], flush=True)
s.serve_forever()
"#;

#[test]
fn saves_a_chunked_body_from_a_python_server() {
    if !require("python3") {
        return;
    }
    let n = 20000;
    let srv = python(CHUNKED_SERVER, &[&n.to_string()]);
    let dir = TempDir::new("chunked");
    let ran = client(dir.path(), &["-q", &format!("{}/numbers.txt", srv.url)]);
    assert_eq!(ran.code(), 0, "{ran:?}\nserver: {}", srv.output());
    assert!(
        ran.stdout.contains("Transfer-Encoding: chunked"),
        "{}",
        ran.stdout
    );
    let want: String = (0..n).map(|i| format!("{i}\n")).collect();
    let got = fs::read_to_string(dir.path().join("numbers.txt")).unwrap();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "chunked body reassembled wrongly");
    assert_eq!(dir.entries(), vec!["numbers.txt".to_string()]);
}

#[test]
fn saves_a_close_delimited_body() {
    let body: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let reply = {
        let mut bytes =
            b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
        bytes.extend_from_slice(&body);
        bytes
    };
    let srv = TestServer::start(move |_, _| Reply::Bytes(reply.clone()));
    let dir = TempDir::new("closedelim");
    let ran = client(dir.path(), &["-q", &format!("{}/blob", srv.url)]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(
        fs::read(dir.path().join("blob")).unwrap() == body,
        "close-delimited body differs"
    );
}

#[test]
fn skips_interim_1xx_responses_and_saves_empty_bodies() {
    let srv = TestServer::start(|path, _| {
        Reply::Bytes(match path {
            "/interim" => b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal".to_vec(),
            _ => b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec(),
        })
    });
    let dir = TempDir::new("interim");
    let ran = client(dir.path(), &["-q", &format!("{}/interim", srv.url)]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(
        ran.stdout.contains("HTTP/1.1 103 Early Hints"),
        "{}",
        ran.stdout
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("interim")).unwrap(),
        "final"
    );

    let ran = client(dir.path(), &["-q", &format!("{}/empty.txt", srv.url)]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert_eq!(fs::read(dir.path().join("empty.txt")).unwrap(), b"");
    assert_eq!(
        dir.entries(),
        vec!["empty.txt".to_string(), "interim".to_string()]
    );
}
