//! Which servers a client is sent to: a client over IPv4 to servers that passed their probe over
//! IPv4, over IPv6 to those that passed over IPv6 (a name is probed over both, and kept as a
//! name in the redirect), and a client of an HTTPS balancer only to `https://` servers while one
//! is live. The balancer listens on `[::]`, which takes IPv4 clients too (as IPv4-mapped
//! addresses) where the system allows it; the tests say so and stop where it does not.

use ricochet_tests::tls::{Pki, ServerCert};
use ricochet_tests::{bin, raw_exchange, require, run, server, www, Spawned, COMMAND};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);
const REQUESTS: usize = 200;

/// A `[::]` listener accepts IPv4 clients here, and `::1` is configured.
fn dual_stack() -> bool {
    let Ok(listener) = TcpListener::bind("[::]:0") else {
        return false;
    };
    let port = listener.local_addr().unwrap().port();
    TcpStream::connect(("127.0.0.1", port)).is_ok() && TcpListener::bind("[::1]:0").is_ok()
}

fn server_on(listen: &str) -> Spawned {
    let mut cmd = Command::new(bin("server"));
    cmd.args(["--listen", listen, "--root"])
        .arg(www())
        .env("RICOCHET_LOG", "warn");
    Spawned::start(cmd)
}

fn balancer(listen: &str, args: &[String]) -> Spawned {
    let mut cmd = Command::new(bin("balancer"));
    cmd.args(["--listen", listen])
        .args(args)
        .env("RICOCHET_LOG", "info");
    let spawned = Spawned::start(cmd);
    spawned.wait_for("new ranking", WAIT);
    spawned
}

/// `scheme://authority` of the `Location` of `text`, if it has one.
fn location_base(text: &str) -> Option<String> {
    let start = text.find("\r\nLocation: ")? + "\r\nLocation: ".len();
    let location = &text[start..start + text[start..].find("\r\n")?];
    let after_scheme = location.find("://")? + 3;
    let end = location[after_scheme..]
        .find('/')
        .map_or(location.len(), |i| after_scheme + i);
    Some(location[..end].to_string())
}

/// Where `n` plain requests to the balancer at `addr` were sent, with counts.
fn sent_to(addr: SocketAddr, n: usize) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for i in 0..n {
        let request =
            format!("GET /index.html?{i} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n");
        let got = raw_exchange(addr, request.as_bytes(), WAIT);
        let text = String::from_utf8_lossy(&got);
        let base = location_base(&text).unwrap_or_else(|| panic!("request {i}: {text}"));
        *seen.entry(base).or_default() += 1;
    }
    seen
}

fn only(base: String) -> HashMap<String, usize> {
    HashMap::from([(base, REQUESTS)])
}

#[test]
fn ipv4_clients_go_to_the_ipv4_server_and_ipv6_clients_to_the_ipv6_one() {
    if !dual_stack() {
        eprintln!("skipped: no dual-stack [::] listener or no ::1 here");
        return;
    }
    let v4 = server_on("127.0.0.1:0");
    let v6 = server_on("[::1]:0");
    let balancer = balancer("[::]:0", &[v4.addr.to_string(), v6.addr.to_string()]);
    let port = balancer.addr.port();
    let over_v4 = sent_to(SocketAddr::from(([127, 0, 0, 1], port)), REQUESTS);
    assert_eq!(over_v4, only(format!("http://{}", v4.addr)));
    let over_v6 = sent_to(format!("[::1]:{port}").parse().unwrap(), REQUESTS);
    assert_eq!(over_v6, only(format!("http://{}", v6.addr)));
}

#[test]
fn a_name_that_passed_over_ipv4_only_is_not_chosen_for_ipv6_clients() {
    if !dual_stack() {
        eprintln!("skipped: no dual-stack [::] listener or no ::1 here");
        return;
    }
    // localhost resolves to 127.0.0.1 (and ::1 on many systems, where nothing listens).
    let named = server_on("127.0.0.1:0");
    let name = format!("localhost:{}", named.addr.port());
    let v6 = server_on("[::1]:0");
    let balancer = balancer("[::]:0", &[name.clone(), v6.addr.to_string()]);
    let output = balancer.output();
    assert!(
        output.contains(&format!("removed {name} over IPv6: ")),
        "{output}"
    );
    assert!(
        !output.contains(&format!("removed {name} over IPv4")),
        "{output}"
    );
    let port = balancer.addr.port();
    // The redirect keeps the name as configured.
    let over_v4 = sent_to(SocketAddr::from(([127, 0, 0, 1], port)), REQUESTS);
    assert_eq!(over_v4, only(format!("http://{name}")));
    let over_v6 = sent_to(format!("[::1]:{port}").parse().unwrap(), REQUESTS);
    assert_eq!(over_v6, only(format!("http://{}", v6.addr)));
}

fn https_server(cert: &ServerCert) -> Spawned {
    let flags = cert.flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    server(&www(), &flags)
}

#[test]
fn https_clients_go_to_https_servers_only_plain_clients_to_both() {
    if !require("curl") {
        return;
    }
    let pki = Pki::new("sent-to-https");
    let plain = server(&www(), &[]);
    let secure = https_server(&pki.loopback("s"));
    let secure_base = format!("https://127.0.0.1:{}", secure.addr.port());
    let servers = [
        "--probe-cacert".to_string(),
        pki.ca_file.display().to_string(),
        plain.addr.to_string(),
        format!("{secure_base}/"),
    ];
    let mut args = pki.loopback("balancer").flags();
    args.extend(servers.iter().cloned());
    let https = balancer("127.0.0.1:0", &args);
    assert!(https.url.starts_with("https://"), "{}", https.url);
    // curl asks for each URL of the range over one connection and prints every response head.
    let url = format!("https://localhost:{}/f?[1-{REQUESTS}]", https.addr.port());
    let ran = run(
        Command::new("curl")
            .args(["-sS", "-I", "--cacert"])
            .arg(&pki.ca_file)
            .arg(&url),
        COMMAND,
    );
    assert_eq!(ran.code(), 0, "{}", ran.stderr);
    let bases: Vec<Option<String>> = ran
        .stdout
        .split("\r\n\r\n")
        .filter(|head| head.starts_with("HTTP/"))
        .map(|head| location_base(&format!("\r\n{head}\r\n")))
        .collect();
    assert_eq!(bases.len(), REQUESTS, "{}", ran.stdout);
    for base in bases {
        assert_eq!(
            base.as_deref(),
            Some(secure_base.as_str()),
            "{}",
            ran.stdout
        );
    }
    // The same servers behind a plain balancer: both get clients.
    let http = balancer("127.0.0.1:0", &servers);
    let seen = sent_to(http.addr, REQUESTS);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.contains_key(&secure_base), "{seen:?}");
    assert!(
        seen.contains_key(&format!("http://{}", plain.addr)),
        "{seen:?}"
    );
}
