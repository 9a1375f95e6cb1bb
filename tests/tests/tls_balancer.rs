//! The balancer with HTTPS on either side: an HTTPS balancer in front of HTTPS servers (curl -L
//! and our client), an http balancer redirecting to https servers with a path prefix, a
//! redirect from https to http refused unless allowed, a server whose certificate does not
//! verify removed, bad server URLs refused at start, unusable certificate files refused with
//! the same code as the server's, and `cluster --tls`.

use ricochet::runtime::tls::Validity;
use ricochet_tests::tls::{Pki, ServerCert};
use ricochet_tests::{bin, client, require, run, server, www, Spawned, TempDir, COMMAND};
use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn https_server(root: &Path, cert: &ServerCert) -> Spawned {
    let flags = cert.flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    server(root, &flags)
}

fn balancer(args: &[String]) -> Spawned {
    let mut cmd = Command::new(bin("balancer"));
    cmd.args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env("RICOCHET_LOG", "info");
    let spawned = Spawned::start(cmd);
    spawned.wait_for("new ranking", Duration::from_secs(5));
    spawned
}

fn same_as_www(saved: &Path, name: &str) {
    assert!(
        fs::read(saved).unwrap() == fs::read(www().join(name)).unwrap(),
        "{name} differs"
    );
}

#[test]
fn curl_and_our_client_through_an_https_balancer_to_https_servers() {
    let pki = Pki::new("balancer-https");
    let servers: Vec<Spawned> = (0..2)
        .map(|i| https_server(&www(), &pki.loopback(&format!("s{i}"))))
        .collect();
    let cert = pki.loopback("balancer");
    let mut args = cert.flags();
    args.extend([
        "--probe-cacert".to_string(),
        pki.ca_file.display().to_string(),
    ]);
    args.extend(
        servers
            .iter()
            .map(|s| format!("https://localhost:{}/", s.addr.port())),
    );
    let balancer = balancer(&args);
    assert!(balancer.url.starts_with("https://"), "{}", balancer.url);
    let url = format!("https://localhost:{}/photo.jpg", balancer.addr.port());

    let dir = TempDir::new("tls-balancer");
    let ca = pki.ca_file.display().to_string();
    let ran = client(dir.path(), &["--cacert", &ca, "-q", &url]);
    assert_eq!(ran.code(), 0, "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains("redirected to https://localhost:"),
        "{}",
        ran.stdout
    );
    same_as_www(&dir.path().join("photo.jpg"), "photo.jpg");

    if require("curl") {
        let out = dir.path().join("curl.jpg");
        let ran = run(
            Command::new("curl")
                .args(["-sS", "--fail", "-L", "--cacert"])
                .arg(&pki.ca_file)
                .arg("-o")
                .arg(&out)
                .arg(&url),
            COMMAND,
        );
        assert_eq!(ran.code(), 0, "{}", ran.stderr);
        same_as_www(&out, "photo.jpg");
    }
}

#[test]
fn an_http_balancer_redirects_to_https_servers_under_their_prefix() {
    let pki = Pki::new("balancer-prefix");
    // The servers keep the site under /pub/.
    let root = TempDir::new("tls-prefix-root");
    fs::create_dir(root.path().join("pub")).unwrap();
    for name in ["probe.bin", "index.html"] {
        fs::copy(www().join(name), root.path().join("pub").join(name)).unwrap();
    }
    let server = https_server(root.path(), &pki.loopback("s"));
    let entry = format!("https://127.0.0.1:{}/pub/", server.addr.port());
    let balancer = balancer(&[
        "--probe-cacert".to_string(),
        pki.ca_file.display().to_string(),
        entry.clone(),
    ]);
    assert!(balancer.url.starts_with("http://"), "{}", balancer.url);
    let output = balancer.output();
    assert!(
        output.contains(&entry),
        "the ranking names the URL: {output}"
    );

    let dir = TempDir::new("tls-prefix");
    let url = format!("{}/index.html?lang=en", balancer.url);
    let ca = pki.ca_file.display().to_string();
    let ran = client(dir.path(), &["--cacert", &ca, "-q", &url]);
    assert_eq!(ran.code(), 0, "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout
            .contains(&format!("Location: {}index.html?lang=en", entry)),
        "{}",
        ran.stdout
    );
    same_as_www(&dir.path().join("index.html"), "index.html");
}

#[test]
fn a_redirect_from_https_to_http_is_refused_unless_allowed() {
    let pki = Pki::new("balancer-downgrade");
    let plain = server(&www(), &[]);
    let cert = pki.loopback("balancer");
    let mut args = cert.flags();
    args.push(plain.addr.to_string());
    let balancer = balancer(&args);
    let url = format!("https://localhost:{}/index.html", balancer.addr.port());
    let ca = pki.ca_file.display().to_string();

    let dir = TempDir::new("tls-downgrade");
    let ran = client(dir.path(), &["--cacert", &ca, "-q", &url]);
    assert_eq!(ran.code(), 6, "{}{}", ran.stdout, ran.stderr);
    assert!(ran.stderr.contains("https to http://"), "{}", ran.stderr);
    assert!(ran.stderr.contains("--allow-downgrade"), "{}", ran.stderr);
    assert_eq!(dir.entries(), Vec::<String>::new());

    let ran = client(
        dir.path(),
        &["--cacert", &ca, "--allow-downgrade", "-q", &url],
    );
    assert_eq!(ran.code(), 0, "{}{}", ran.stdout, ran.stderr);
    same_as_www(&dir.path().join("index.html"), "index.html");
}

#[test]
fn an_https_server_whose_certificate_does_not_verify_is_removed() {
    let pki = Pki::new("balancer-verify");
    let stranger = Pki::new("balancer-verify-stranger");
    let good = https_server(&www(), &pki.loopback("good"));
    let unknown_ca = https_server(&www(), &stranger.loopback("unknown"));
    let expired = https_server(
        &www(),
        &pki.issue("expired", &["127.0.0.1"], Validity::Expired),
    );
    let entry = |s: &Spawned| format!("https://127.0.0.1:{}/", s.addr.port());
    let balancer = balancer(&[
        "--probe-cacert".to_string(),
        pki.ca_file.display().to_string(),
        entry(&good),
        entry(&unknown_ca),
        entry(&expired),
    ]);
    let output = balancer.output();
    for bad in [&unknown_ca, &expired] {
        assert!(
            output.contains(&format!("removed {}", entry(bad))),
            "{} not removed: {output}",
            entry(bad)
        );
    }
    assert!(output.contains("unknown certificate authority"), "{output}");
    assert!(output.contains("expired"), "{output}");
    // Every redirect goes to the one that verified.
    for i in 0..20 {
        let got = ricochet_tests::raw_exchange(
            balancer.addr,
            format!("GET /f?{i} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n").as_bytes(),
            Duration::from_secs(5),
        );
        let text = String::from_utf8_lossy(&got);
        assert!(
            text.contains(&format!("Location: {}f?{i}", entry(&good))),
            "{text}"
        );
    }
}

#[test]
fn server_urls_with_user_info_fragments_or_other_schemes_are_refused_at_start() {
    let dir = TempDir::new("tls-bad-urls");
    for (entry, why) in [
        ("https://user@127.0.0.1:1/", "user info"),
        ("https://127.0.0.1:1/pub/?a=b", "query"),
        ("ftp://127.0.0.1:1/", "scheme 'ftp'"),
    ] {
        // In a config file (where `#` starts a comment) ...
        let config = dir.path().join("servers.conf");
        fs::write(&config, format!("127.0.0.1:2\n{entry}\n")).unwrap();
        let ran = run(
            Command::new(bin("balancer"))
                .args(["--listen", "127.0.0.1:0", "--config"])
                .arg(&config),
            COMMAND,
        );
        assert_eq!(ran.code(), 1, "{entry}: {}", ran.stderr);
        assert!(ran.stderr.contains("line 2"), "{entry}: {}", ran.stderr);
        assert!(ran.stderr.contains(why), "{entry}: {}", ran.stderr);
    }
    // ... and as arguments, a fragment too.
    let ran = run(
        Command::new(bin("balancer")).args([
            "--listen",
            "127.0.0.1:0",
            "127.0.0.1:2",
            "https://127.0.0.1:1/pub/#top",
        ]),
        COMMAND,
    );
    assert_eq!(ran.code(), 1, "{}", ran.stderr);
    assert!(ran.stderr.contains("argument 2"), "{}", ran.stderr);
    assert!(ran.stderr.contains("fragment"), "{}", ran.stderr);
}

#[test]
fn unusable_certificate_files_exit_7_and_a_lone_tls_flag_exits_1() {
    let pki = Pki::new("balancer-bad-files");
    let cert = pki.loopback("balancer");
    let missing = pki.dir().join("missing.pem");
    let start = |args: &[&OsStr]| {
        run(
            Command::new(bin("balancer"))
                .args(["--listen", "127.0.0.1:0"])
                .args(args)
                .arg("127.0.0.1:2"),
            COMMAND,
        )
    };
    let flag = OsStr::new;
    let cases: [(&[&OsStr], &Path); 3] = [
        (
            &[
                flag("--tls-cert"),
                missing.as_os_str(),
                flag("--tls-key"),
                cert.key.as_os_str(),
            ],
            &missing,
        ),
        // A key given as the certificate.
        (
            &[
                flag("--tls-cert"),
                cert.key.as_os_str(),
                flag("--tls-key"),
                cert.key.as_os_str(),
            ],
            &cert.key,
        ),
        (&[flag("--probe-cacert"), missing.as_os_str()], &missing),
    ];
    for (args, file) in cases {
        let ran = start(args);
        assert_eq!(ran.code(), 7, "{args:?}: {}", ran.stderr);
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(ran.stderr.contains(name), "{args:?}: {}", ran.stderr);
    }
    let ran = start(&[flag("--tls-cert"), cert.cert.as_os_str()]);
    assert_eq!(ran.code(), 1, "{}", ran.stderr);
    assert!(ran.stderr.contains("go together"), "{}", ran.stderr);
}

#[test]
fn cluster_tls_serves_https_and_prints_a_client_command_that_works() {
    let cluster = Spawned::start(ricochet_tests::cluster_command(&["--tls"]));
    assert!(cluster.url.starts_with("https://"), "{}", cluster.url);
    let output = cluster.wait_for("stop with Ctrl-C", Duration::from_secs(5));
    let line = output
        .lines()
        .find(|l| l.contains("--cacert"))
        .unwrap_or_else(|| panic!("no client command with --cacert: {output}"));
    // `try: cargo run ... --bin client -- --cacert FILE URL`
    let args: Vec<&str> = line
        .split(" -- ")
        .nth(1)
        .unwrap_or_else(|| panic!("{line}"))
        .split_whitespace()
        .collect();
    let dir = TempDir::new("tls-cluster");
    let mut args = args;
    args.insert(0, "-q");
    let ca_file = args[args.iter().position(|a| *a == "--cacert").unwrap() + 1].to_string();
    let ran = client(dir.path(), &args);
    assert_eq!(ran.code(), 0, "{line}: {}{}", ran.stdout, ran.stderr);
    same_as_www(&dir.path().join("index.html"), "index.html");

    // Stopped with SIGTERM, it removes the CA file it wrote.
    let mut cluster = cluster;
    let ran = run(
        Command::new("kill").args(["-TERM", &cluster.pid().to_string()]),
        COMMAND,
    );
    assert_eq!(ran.code(), 0, "{}", ran.stderr);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cluster.is_running() {
        assert!(std::time::Instant::now() < deadline, "cluster did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!Path::new(&ca_file).exists(), "{ca_file} left behind");
}
