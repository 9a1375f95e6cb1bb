//! Every directory index of the sample site is served as HTML (a browser following the balancer
//! to `/` must show the page, not download it).

use ricochet_tests::{raw_exchange, server, status_of, www};
use std::path::Path;
use std::time::Duration;

/// URL paths (`/`, `/docs/`, ...) of every directory under `root` holding an `index.html`.
fn directories_with_an_index(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![(root.to_path_buf(), "/".to_string())];
    while let Some((dir, url)) = pending.pop() {
        if dir.join("index.html").is_file() {
            found.push(url.clone());
        }
        for entry in std::fs::read_dir(&dir).expect("read www") {
            let entry = entry.expect("dir entry");
            if entry.file_type().expect("file type").is_dir() {
                let name = entry.file_name().into_string().expect("UTF-8 name");
                pending.push((entry.path(), format!("{url}{name}/")));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn every_directory_index_is_text_html() {
    let dirs = directories_with_an_index(&www());
    assert!(dirs.len() >= 2, "www/ has / and /docs/: {dirs:?}");
    let srv = server(&www(), &[]);
    for path in dirs {
        for method in ["GET", "HEAD"] {
            let request =
                format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let response = raw_exchange(srv.addr, request.as_bytes(), Duration::from_secs(10));
            assert_eq!(status_of(&response), Some(200), "{method} {path}");
            let text = String::from_utf8_lossy(&response).to_ascii_lowercase();
            assert!(
                text.contains("\r\ncontent-type: text/html; charset=utf-8\r\n"),
                "{method} {path}:\n{text}"
            );
        }
    }
}
