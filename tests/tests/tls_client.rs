//! Our client over HTTPS: byte-exact downloads from our server and from nginx with TLS, curl and
//! wget against our server, and every certificate failure refused with the TLS exit code (9)
//! and no file written.

use ricochet::runtime::tls::Validity;
use ricochet_tests::tls::Pki;
use ricochet_tests::{bin, client, require, run, server, www, Spawned, TempDir, COMMAND};
use std::fs;
use std::path::Path;
use std::process::Command;

/// Files downloaded in every test, of different kinds and sizes.
const FILES: [&str; 3] = ["index.html", "probe.bin", "photo.jpg"];

fn https_server(cert: &ricochet_tests::tls::ServerCert, extra: &[&str]) -> Spawned {
    let mut flags = cert.flags();
    flags.extend(extra.iter().map(|s| s.to_string()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    server(&www(), &flags)
}

fn assert_same(saved: &Path, name: &str) {
    let got = fs::read(saved).unwrap_or_else(|e| panic!("{}: {e}", saved.display()));
    let want = fs::read(www().join(name)).unwrap();
    assert!(got == want, "{name}: {} bytes differ", got.len());
}

#[test]
fn our_server_says_https_and_our_client_downloads_byte_exact_by_name_and_by_address() {
    let pki = Pki::new("client-ours");
    let server = https_server(&pki.loopback("server"), &[]);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let port = server.addr.port();
    let dir = TempDir::new("tls-client-ours");
    let ca = pki.ca_file.display().to_string();
    for (i, host) in ["localhost", "127.0.0.1"].iter().enumerate() {
        for name in FILES {
            let out = format!("{i}-{name}");
            let url = format!("https://{host}:{port}/{name}");
            let ran = client(dir.path(), &["--cacert", &ca, "-q", "-o", &out, &url]);
            assert_eq!(ran.code(), 0, "{url}: {}{}", ran.stdout, ran.stderr);
            assert_same(&dir.path().join(&out), name);
        }
    }
}

/// nginx with TLS on a free port, stopped on drop (before its folder goes).
struct Nginx {
    server: ricochet_tests::Nginx,
    _dir: TempDir,
}

fn nginx(cert: &ricochet_tests::tls::ServerCert) -> Nginx {
    let dir = TempDir::new("nginx-tls");
    let conf = |port: u16| {
        format!(
            "worker_processes 1;\ndaemon off;\npid {dir}/nginx.pid;\n\
             error_log {dir}/error.log warn;\nevents {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {dir}/tmp;\n  proxy_temp_path {dir}/tmp;\n\
             fastcgi_temp_path {dir}/tmp;\n  uwsgi_temp_path {dir}/tmp;\n  scgi_temp_path {dir}/tmp;\n\
             types {{ text/html html; image/jpeg jpg; }}\n  default_type application/octet-stream;\n\
             server {{\n    listen 127.0.0.1:{port} ssl;\n    ssl_certificate {cert};\n\
             ssl_certificate_key {key};\n    root {root};\n  }}\n}}\n",
            dir = dir.path().display(),
            cert = cert.cert.display(),
            key = cert.key.display(),
            root = www().display(),
        )
    };
    Nginx {
        server: ricochet_tests::start_nginx(dir.path(), conf),
        _dir: dir,
    }
}

#[test]
fn downloads_from_nginx_over_https_are_byte_exact() {
    if !require("nginx") {
        return;
    }
    let pki = Pki::new("client-nginx");
    let nginx = nginx(&pki.loopback("nginx"));
    let dir = TempDir::new("tls-client-nginx");
    let ca = pki.ca_file.display().to_string();
    for name in FILES {
        let url = format!("https://localhost:{}/{name}", nginx.server.port);
        let ran = client(dir.path(), &["--cacert", &ca, "-q", &url]);
        assert_eq!(ran.code(), 0, "{url}: {}{}", ran.stdout, ran.stderr);
        assert_same(&dir.path().join(name), name);
    }
}

#[test]
fn curl_and_wget_download_over_https_from_our_server() {
    if !require("curl") || !require("wget") {
        return;
    }
    let pki = Pki::new("client-tools");
    let server = https_server(&pki.loopback("server"), &[]);
    let dir = TempDir::new("tls-curl-wget");
    for name in FILES {
        let url = format!("https://localhost:{}/{name}", server.addr.port());
        let out = dir.path().join(format!("curl-{name}"));
        let ran = run(
            Command::new("curl")
                .args(["-sS", "--fail", "--cacert"])
                .arg(&pki.ca_file)
                .arg("-o")
                .arg(&out)
                .arg(&url),
            COMMAND,
        );
        assert_eq!(ran.code(), 0, "curl {url}: {}", ran.stderr);
        assert_same(&out, name);
        let out = dir.path().join(format!("wget-{name}"));
        let ran = run(
            Command::new("wget")
                .arg("-q")
                .arg(format!("--ca-certificate={}", pki.ca_file.display()))
                .arg("-O")
                .arg(&out)
                .arg(&url),
            COMMAND,
        );
        assert_eq!(ran.code(), 0, "wget {url}: {}", ran.stderr);
        assert_same(&out, name);
    }
}

/// Run the client against `url` in an empty directory: it must exit 9 with one line on stderr
/// containing `cause`, and leave the directory empty.
fn refused(url: &str, extra: &[&str], cause: &str) {
    let dir = TempDir::new("tls-refused");
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(["-q", url]);
    let ran = client(dir.path(), &args);
    assert_eq!(ran.code(), 9, "{url}: {}{}", ran.stdout, ran.stderr);
    let line = ran.stderr.trim();
    assert!(!line.contains('\n'), "one line: {line}");
    assert!(line.contains(cause), "{url}: expected '{cause}' in: {line}");
    assert_eq!(dir.entries(), Vec::<String>::new(), "nothing written");
}

#[test]
fn wrong_ca_expired_certificate_and_wrong_name_each_exit_9_and_write_nothing() {
    let pki = Pki::new("client-refusals");
    let other = Pki::new("client-refusals-other");
    let good = https_server(&pki.loopback("good"), &[]);
    let expired = https_server(
        &pki.issue("expired", &["localhost", "127.0.0.1"], Validity::Expired),
        &[],
    );
    let misnamed = https_server(
        &pki.issue("misnamed", &["mirror.example"], Validity::Current),
        &[],
    );
    let ca = pki.ca_file.display().to_string();
    let other_ca = other.ca_file.display().to_string();
    let url = |s: &Spawned| format!("https://localhost:{}/index.html", s.addr.port());

    // Not in the system's store, and not the CA given.
    refused(&url(&good), &[], "unknown certificate authority");
    refused(
        &url(&good),
        &["--cacert", &other_ca],
        "unknown certificate authority",
    );
    refused(&url(&expired), &["--cacert", &ca], "expired");
    refused(&url(&misnamed), &["--cacert", &ca], "name mismatch");
    // By address: the certificate names no IP address.
    let by_ip = format!("https://127.0.0.1:{}/index.html", misnamed.addr.port());
    refused(&by_ip, &["--cacert", &ca], "127.0.0.1");

    // The good one, for contrast.
    let dir = TempDir::new("tls-good");
    let ran = client(dir.path(), &["--cacert", &ca, "-q", &url(&good)]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr);
}

#[test]
fn https_to_a_plain_http_server_is_a_tls_failure() {
    let plain = server(&www(), &[]);
    let url = format!("https://127.0.0.1:{}/index.html", plain.addr.port());
    refused(&url, &[], "TLS handshake failed");
}

#[test]
fn insecure_accepts_any_certificate_and_warns_every_time() {
    let pki = Pki::new("client-insecure");
    let misnamed = https_server(
        &pki.issue("misnamed", &["mirror.example"], Validity::Expired),
        &[],
    );
    let dir = TempDir::new("tls-insecure");
    let url = format!("https://localhost:{}/index.html", misnamed.addr.port());
    for flag in ["-k", "--insecure"] {
        let ran = client(dir.path(), &[flag, "-q", "-o", flag, &url]);
        assert_eq!(ran.code(), 0, "{}", ran.stderr);
        assert!(ran.stderr.contains("warning"), "{flag}: {}", ran.stderr);
        assert!(
            ran.stderr.contains("not verified"),
            "{flag}: {}",
            ran.stderr
        );
        assert_same(&dir.path().join(flag), "index.html");
    }
}

#[test]
fn a_missing_cacert_file_is_a_local_file_error_naming_it() {
    let dir = TempDir::new("tls-cacert-missing");
    let ran = client(
        dir.path(),
        &["--cacert", "/nonexistent/ca.pem", "https://localhost:1/"],
    );
    assert_eq!(ran.code(), 7, "{}", ran.stderr);
    assert!(ran.stderr.contains("/nonexistent/ca.pem"), "{}", ran.stderr);
    assert_eq!(dir.entries(), Vec::<String>::new());
    let _ = bin("client");
}
