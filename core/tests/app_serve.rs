//! The static file server's decisions: routing and path safety, content types, 200/304 heads,
//! error pages.

use ricochet_core::files::range::ByteRange;
use ricochet_core::files::serve::{
    content_type, directory, directory_redirect, file_response, index_of, is_inside, route,
    Directory, FileMeta, FileRequest, FileResponse, Page,
};
use ricochet_core::http::error_page::Reply;
use ricochet_core::http::request::{Request, Target};
use ricochet_core::http::status::Status;
use ricochet_core::http::{BodyKind, Header, Version};
use std::path::Path;
use std::time::{Duration, SystemTime};

fn request<'a>(method: &'a str, path: &'a str, headers: Vec<Header<'a>>) -> Request<'a> {
    let (p, q) = match path.find('?') {
        Some(i) => (&path[..i], Some(&path[i + 1..])),
        None => (path, None),
    };
    Request {
        method,
        target: Target::Origin { path: p, query: q },
        raw_target: path,
        version: Version::Http11,
        headers,
        body: BodyKind::None,
        keep_alive: true,
        expect_continue: false,
    }
}

fn get(path: &str) -> Result<FileRequest, u16> {
    route(&request("GET", path, Vec::new())).map_err(|e| u16::from(e.status))
}

fn error_response(status: u16, reply: Reply, now: SystemTime) -> Vec<u8> {
    let status = Status::from_code(status);
    let mut out = Vec::new();
    ricochet_core::http::error_page::write(status, reply, now, &[], &mut out);
    out
}

/// A page on a connection that may stay open, for a GET.
const FULL: Reply = Reply {
    keep_alive: true,
    head_only: false,
};

#[test]
fn maps_paths_under_the_root() {
    let cases = [
        ("/", ""),
        ("/index.html", "index.html"),
        ("/docs/", "docs"),
        ("/a/b/c.png", "a/b/c.png"),
        ("/hello%20world.txt", "hello world.txt"),
        ("/caf%C3%A9.html", "café.html"),
        ("/file.txt?x=../../etc/passwd", "file.txt"),
        ("/..%2e", "..."),
        ("/a..b", "a..b"),
        ("/.well-known/x", ".well-known/x"),
    ];
    for (path, relative) in cases {
        let r = get(path).unwrap_or_else(|s| panic!("{path}: {s}"));
        assert_eq!(r.relative, relative, "{path}");
        assert!(!r.head_only);
        assert!(r.keep_alive);
        assert_eq!(r.preconditions.if_modified_since, None);
        assert_eq!(r.range, None);
    }
}

#[test]
fn refuses_traversal_attempts() {
    let cases = [
        ("/../etc/passwd", 403),
        ("/..", 403),
        ("/%2e%2e/", 403),
        ("/%2E%2E/etc/passwd", 403),
        ("/.%2e/x", 403),
        ("/..%2f..%2fetc/passwd", 403),
        ("/..%2F..%2Fetc%2Fpasswd", 403),
        ("/a/%2e%2e/%2e%2e/x", 403),
        ("/a/../../x", 403),
        ("/a/..", 403),
        ("/%00", 400),
        ("/index.html%00.png", 400),
        ("/a/%00/../b", 400),
        ("/a%0Ab", 400),
        ("/a%0db", 400),
        ("/a%09b", 403),
        ("/a%7Fb", 403),
        ("/a\\b", 403),
        ("/..\\..\\etc\\passwd", 403),
        ("/%5c..%5cetc", 403),
        ("/%5C", 403),
        ("//etc/passwd", 403),
        ("/a//b", 403),
        ("/a/./b", 403),
        ("/./", 403),
        ("/%2e/x", 403),
        ("/x%0d%0aSet-Cookie:%20a", 400),
        ("/%zz", 400),
        ("/%", 400),
        ("/%4", 400),
        ("/%ff%fe", 400),
        ("/%C3", 400),
    ];
    for (path, status) in cases {
        assert_eq!(get(path), Err(status), "{path}");
    }
}

#[test]
fn absolute_form_uses_only_its_path() {
    let mut r = request("GET", "/ignored", Vec::new());
    r.target = Target::Absolute {
        authority: "evil.example:80",
        path: "/a/b.css",
        query: Some("v=1"),
    };
    assert_eq!(route(&r).unwrap().relative, "a/b.css");
    r.target = Target::Absolute {
        authority: "h",
        path: "/../x",
        query: None,
    };
    assert_eq!(route(&r).map_err(|e| u16::from(e.status)), Err(403));
}

#[test]
fn methods() {
    let head = route(&request("HEAD", "/x.txt", Vec::new())).unwrap();
    assert!(head.head_only);
    for m in ["POST", "PUT", "DELETE", "PATCH", "TRACE", "CONNECT"] {
        assert_eq!(
            route(&request(m, "/", Vec::new())).map_err(|e| u16::from(e.status)),
            Err(405),
            "{m}"
        );
    }
    for m in ["BREW", "PROPFIND", "get", "Get"] {
        assert_eq!(
            route(&request(m, "/", Vec::new())).map_err(|e| u16::from(e.status)),
            Err(501),
            "{m}"
        );
    }
    // OPTIONS, for the whole server or a path (existing or not): 204 listing the methods.
    let mut r = request("OPTIONS", "*", Vec::new());
    r.target = Target::Asterisk;
    assert_eq!(route(&r).map_err(|e| u16::from(e.status)), Err(204));
    let r = request("OPTIONS", "/no/such/file", Vec::new());
    assert_eq!(route(&r).map_err(|e| u16::from(e.status)), Err(204));
}

#[test]
fn a_refused_head_is_answered_head_only() {
    let refused = route(&request("HEAD", "/a/../b", Vec::new())).unwrap_err();
    assert_eq!(u16::from(refused.status), 403);
    assert!(refused.head_only);
    let refused = route(&request("GET", "/a/../b", Vec::new())).unwrap_err();
    assert!(!refused.head_only);
    let refused = route(&request("POST", "/a/../b", Vec::new())).unwrap_err();
    assert_eq!((u16::from(refused.status), refused.head_only), (405, false));
}

#[test]
fn keep_alive_follows_the_request() {
    // Bodies are the connection machine's business (it skips a small one and keeps the
    // connection): the route only carries what the request asked for.
    let mut r = request("GET", "/", Vec::new());
    r.keep_alive = false;
    assert!(!route(&r).unwrap().keep_alive);
    r.keep_alive = true;
    r.body = BodyKind::Length(5);
    assert!(route(&r).unwrap().keep_alive);
}

#[test]
fn content_types_by_extension() {
    let cases = [
        ("index.html", "text/html; charset=utf-8"),
        ("a/B.HTM", "text/html; charset=utf-8"),
        ("s.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("p.png", "image/png"),
        ("p.JPG", "image/jpeg"),
        ("p.jpeg", "image/jpeg"),
        ("p.gif", "image/gif"),
        ("p.svg", "image/svg+xml"),
        ("favicon.ico", "image/x-icon"),
        ("notes.txt", "text/plain; charset=utf-8"),
        ("d.json", "application/json"),
        ("doc.pdf", "application/pdf"),
        ("m.wasm", "application/wasm"),
        ("archive.tar.gz", "application/octet-stream"),
        ("README", "application/octet-stream"),
        ("dir.html/file", "application/octet-stream"),
        ("", "application/octet-stream"),
    ];
    for (path, ty) in cases {
        assert_eq!(content_type(path), ty, "{path}");
    }
}

#[test]
fn index_and_inside() {
    assert_eq!(index_of(""), "index.html");
    assert_eq!(index_of("docs"), "docs/index.html");
    assert!(is_inside(Path::new("/srv/www"), Path::new("/srv/www/a/b")));
    assert!(!is_inside(Path::new("/srv/www"), Path::new("/srv/www2/a")));
    assert!(!is_inside(Path::new("/srv/www"), Path::new("/etc/passwd")));
}

// The following need date::http_date / parse_http_date / ResponseHead::write (core-http).

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn head_text(head: &ricochet_core::files::serve::FileHead) -> String {
    let mut out = Vec::new();
    head.write(&mut out);
    text(&out)
}

/// The answer for a file of `len` bytes modified at `modified` (no digest known): its head and the
/// part of the file that follows it.
fn answer(
    r: &FileRequest,
    len: u64,
    modified: SystemTime,
    now: SystemTime,
) -> (ricochet_core::files::serve::FileHead, Option<ByteRange>) {
    let file = FileMeta {
        len,
        modified,
        digests: Default::default(),
    };
    match file_response(r, &file, now) {
        FileResponse::File { head, body } => (head, body),
        FileResponse::Refused { status, .. } => panic!("refused with {status}"),
    }
}

const MODIFIED: u64 = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

#[test]
fn file_response_200_headers() {
    let r = get("/a/photo.png").unwrap();
    let modified = at(MODIFIED) + Duration::from_millis(300);
    let (head, body) = answer(&r, 1234, modified, at(MODIFIED + 60));
    assert_eq!(
        body,
        Some(ByteRange {
            start: 0,
            len: 1234
        })
    );
    assert_eq!(head.status, 200);
    let t = head_text(&head);
    assert!(t.starts_with("HTTP/1.1 200 OK\r\n"), "{t}");
    assert!(t.contains("Content-Type: image/png\r\n"), "{t}");
    assert!(t.contains("Content-Length: 1234\r\n"), "{t}");
    assert!(
        t.contains("Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
        "{t}"
    );
    assert!(t.contains("Date: Sun, 06 Nov 1994 08:50:37 GMT\r\n"), "{t}");
    assert!(t.contains("\r\nETag: \"4d2-"), "{t}");
    assert!(t.contains("\r\nAccept-Ranges: bytes\r\n"), "{t}");
    assert!(!t.contains("Content-Range"), "{t}");
    assert!(!t.contains("Connection: close"), "{t}");
    assert!(t.ends_with("\r\n\r\n"));
}

#[test]
fn file_response_head_and_close() {
    let mut r = route(&request("HEAD", "/x.bin", Vec::new())).unwrap();
    r.keep_alive = false;
    let (head, body) = answer(&r, 99, at(MODIFIED), at(MODIFIED));
    assert_eq!(body, None, "HEAD sends no body");
    let t = head_text(&head);
    assert!(t.contains("Content-Length: 99\r\n"), "{t}");
    assert!(t.contains("Connection: close\r\n"), "{t}");
}

#[test]
fn if_modified_since_gives_304_at_one_second_resolution() {
    let ims = |value: &'static str| {
        route(&request(
            "GET",
            "/f.txt",
            vec![Header {
                name: "if-modified-since",
                value: value.as_bytes(),
            }],
        ))
        .unwrap()
    };
    let exact = ims("Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(exact.preconditions.if_modified_since, Some(at(MODIFIED)));
    // Same second (sub-second part of the mtime ignored): 304.
    let modified = at(MODIFIED) + Duration::from_millis(999);
    let (head, body) = answer(&exact, 10, modified, at(MODIFIED + 5));
    assert_eq!(head.status, 304);
    assert_eq!(body, None);
    let t = head_text(&head);
    assert!(!t.contains("Content-Length"), "{t}");
    assert!(
        t.contains("Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
        "{t}"
    );
    // Later If-Modified-Since: 304.
    let later = ims("Sun, 06 Nov 1994 09:00:00 GMT");
    assert_eq!(answer(&later, 10, modified, at(MODIFIED)).0.status, 304);
    // File modified one second after: 200.
    let (head, body) = answer(&exact, 10, at(MODIFIED + 1), at(MODIFIED + 5));
    assert_eq!(head.status, 200);
    assert!(body.is_some());
    // Garbage date: ignored, 200.
    let bad = ims("yesterday");
    assert_eq!(bad.preconditions.if_modified_since, None);
    assert_eq!(answer(&bad, 10, modified, at(MODIFIED)).0.status, 200);
}

fn split(response: &[u8]) -> (String, String) {
    let t = text(response);
    let i = t.find("\r\n\r\n").expect("head ends");
    (t[..i + 4].to_string(), t[i + 4..].to_string())
}

/// A page split where it says its head ends, checked against where the head really ends.
fn split_page(page: &Page) -> (String, String) {
    let (head, body) = split(&page.bytes);
    assert_eq!(
        page.head_len,
        head.len(),
        "the page says where its head ends"
    );
    (head, body)
}

fn content_length(head: &str) -> usize {
    let line = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("content-length:"))
        .expect("Content-Length");
    line["content-length:".len()..].trim().parse().unwrap()
}

#[test]
fn error_pages() {
    for (status, line) in [
        (400, "HTTP/1.1 400 Bad Request"),
        (403, "HTTP/1.1 403 Forbidden"),
        (404, "HTTP/1.1 404 Not Found"),
        (405, "HTTP/1.1 405 Method Not Allowed"),
        (408, "HTTP/1.1 408 Request Timeout"),
        (414, "HTTP/1.1 414 URI Too Long"),
        (431, "HTTP/1.1 431 Request Header Fields Too Large"),
        (501, "HTTP/1.1 501 Not Implemented"),
        (505, "HTTP/1.1 505 HTTP Version Not Supported"),
    ] {
        let (head, body) = split(&error_response(status, FULL, at(MODIFIED)));
        assert!(head.starts_with(&format!("{line}\r\n")), "{head}");
        assert!(
            head.contains("Content-Type: text/html; charset=utf-8\r\n"),
            "{head}"
        );
        assert!(
            head.contains("Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
            "{head}"
        );
        assert_eq!(content_length(&head), body.len(), "{status}");
        let reason = &line["HTTP/1.1 ".len()..];
        assert!(body.contains(&format!("<h1>{reason}</h1>")), "{body}");
        assert_eq!(
            head.contains("Allow: GET, HEAD, OPTIONS\r\n"),
            status == 405,
            "{head}"
        );
    }
}

#[test]
fn error_page_connection_and_head() {
    let head_request = Reply {
        keep_alive: false,
        head_only: true,
    };
    let (head, body) = split(&error_response(404, head_request, at(0)));
    assert!(head.contains("Connection: close\r\n"), "{head}");
    assert!(body.is_empty(), "HEAD: no body");
    assert!(content_length(&head) > 0, "HEAD still announces the length");
    let (head, _) = split(&error_response(404, FULL, at(0)));
    assert!(!head.contains("Connection: close"), "{head}");
    // After a malformed head the connection cannot continue, whatever the caller says.
    for status in [400, 408, 414, 431, 505] {
        let (head, _) = split(&error_response(status, FULL, at(0)));
        assert!(head.contains("Connection: close\r\n"), "{status}: {head}");
    }
}

#[test]
fn a_directory_without_its_slash_is_redirected_to_it() {
    assert_eq!(directory(&get("/docs").unwrap()), Directory::AddSlash);
    let index = |path: &str| match directory(&get(path).unwrap()) {
        Directory::Index(index) => index,
        Directory::AddSlash => panic!("{path}: AddSlash"),
    };
    assert_eq!(index("/docs/").relative, "docs/index.html");
    assert_eq!(index("/").relative, "index.html");
    let (head, body) = split_page(&directory_redirect(&get("/docs?lang=en").unwrap(), at(0)));
    assert!(
        head.starts_with("HTTP/1.1 301 Moved Permanently\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nLocation: /docs/\r\n"), "{head}");
    assert!(head.contains("\r\nConnection: keep-alive\r\n"), "{head}");
    assert_eq!(content_length(&head), body.len());
    // The decoded name is encoded again, '%', '?' and '#' included, so the Location names the
    // same directory and nothing else.
    let odd = get("/a%20b/100%25%3F%23").unwrap();
    assert_eq!(odd.relative, "a b/100%?#");
    let (head, _) = split_page(&directory_redirect(&odd, at(0)));
    assert!(
        head.contains("\r\nLocation: /a%20b/100%25%3F%23/\r\n"),
        "{head}"
    );
    // HEAD: the same head, no body.
    let mut head_request = get("/docs").unwrap();
    head_request.head_only = true;
    let (_, body) = split_page(&directory_redirect(&head_request, at(0)));
    assert_eq!(body, "");
}

/// URL paths (`/`, `/docs/`, ...) of every directory of the sample site holding an `index.html`.
fn sample_site_directories_with_an_index() -> Vec<String> {
    // No `..`: on WASI the path must lie under the preopened www/ as written.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("www");
    let mut found = Vec::new();
    let mut pending = vec![(root, "/".to_string())];
    while let Some((dir, url)) = pending.pop() {
        if dir.join("index.html").is_file() {
            found.push(url.clone());
        }
        for entry in std::fs::read_dir(&dir).expect("read www (on WASI: preopened by the runner)") {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                let name = entry.file_name().into_string().unwrap();
                pending.push((entry.path(), format!("{url}{name}/")));
            }
        }
    }
    found
}

#[test]
fn every_directory_index_is_typed_by_the_index_page_not_the_directory() {
    let dirs = sample_site_directories_with_an_index();
    assert!(dirs.len() >= 2, "www/ has / and /docs/: {dirs:?}");
    for path in dirs {
        for method in ["GET", "HEAD"] {
            let request = route(&request(method, &path, Vec::new())).unwrap();
            let Directory::Index(index) = directory(&request) else {
                panic!("{path}: a directory with its slash is served its index");
            };
            assert_eq!(index.relative, index_of(&request.relative), "{path}");
            assert_eq!(index.head_only, request.head_only, "{path}");
            let (head, _) = answer(&index, 10, at(MODIFIED), at(MODIFIED));
            let t = head_text(&head);
            assert!(
                t.contains("\r\nContent-Type: text/html; charset=utf-8\r\n"),
                "{method} {path}: {t}"
            );
        }
    }
}
