//! Loading, handshakes and the stream against a throwaway CA over loopback.

use super::*;
use crate::runtime::{self, AsyncReadExt, AsyncWriteExt};
use rustls::ServerConfig;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A fresh directory under the system's temporary directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let path = std::env::temp_dir().join(format!("ricochet-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Dir(path)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn localhost(ca: &ThrowawayCa) -> Issued {
    ca.issue(&["localhost", "127.0.0.1"], Validity::Current)
        .unwrap()
}

#[test]
fn a_matching_pair_loads_and_every_bad_file_is_named() {
    let dir = Dir::new("load");
    let ca = ThrowawayCa::new("test CA").unwrap();
    let issued = localhost(&ca);
    let other = localhost(&ca);
    let cert = dir.write("cert.pem", &issued.cert_pem);
    let key = dir.write("key.pem", &issued.key_pem);
    let other_key = dir.write("other-key.pem", &other.key_pem);
    let garbage = dir.write(
        "garbage.pem",
        "-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n",
    );
    let missing = dir.0.join("missing.pem");

    let config = server_config(&cert, &key).unwrap();
    assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);

    let err = server_config(&missing, &key).unwrap_err();
    assert!(
        matches!(&err, CertError::Read(p, _) if *p == missing),
        "{err:?}"
    );
    assert!(err.to_string().contains("missing.pem"), "{err}");

    // A key file given as the certificate, and a certificate given as the key.
    let err = server_config(&key, &key).unwrap_err();
    assert!(
        matches!(&err, CertError::NoCertificate(p) if *p == key),
        "{err:?}"
    );
    let err = server_config(&cert, &cert).unwrap_err();
    assert!(matches!(&err, CertError::NoKey(p) if *p == cert), "{err:?}");

    let err = server_config(&cert, &other_key).unwrap_err();
    assert!(matches!(err, CertError::Mismatch { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "the key in {} does not match the certificate in {}",
            other_key.display(),
            cert.display()
        )
    );

    let err = server_config(&garbage, &key).unwrap_err();
    assert!(
        matches!(&err, CertError::Pem(p, _) if *p == garbage),
        "{err:?}"
    );
    for e in [
        server_config(&missing, &key).unwrap_err(),
        server_config(&garbage, &key).unwrap_err(),
    ] {
        assert!(!e.to_string().contains('\n'), "one line: {e}");
    }

    // The client's --cacert is read the same way.
    let err = client_config(&Trust {
        ca_files: vec![missing.clone()],
        insecure: false,
    })
    .unwrap_err();
    assert!(
        matches!(&err, CertError::Read(p, _) if *p == missing),
        "{err:?}"
    );
}

/// A TLS server on loopback answering each connection with "hello" after reading 4 bytes,
/// handshakes cut off after `timeout`. Returns its address and a channel of handshake
/// outcomes.
fn tls_server(
    config: Arc<ServerConfig>,
    timeout: Duration,
) -> (
    std::net::SocketAddr,
    futures::channel::mpsc::UnboundedReceiver<Result<(), String>>,
) {
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let listener = runtime::block_on(runtime::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = Acceptor::new(config);
    runtime::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            runtime::spawn(async move {
                match acceptor.accept(tcp, timeout).await {
                    Ok(mut stream) => {
                        let _ = tx.unbounded_send(Ok(()));
                        let mut buf = [0; 4];
                        if stream.read_exact(&mut buf).await.is_ok() {
                            let _ = stream.write_all(b"hello").await;
                            let _ = stream.flush().await;
                            let _ = stream.shutdown_write().await;
                        }
                    }
                    Err(e) => {
                        let _ = tx.unbounded_send(Err(e.to_string()));
                    }
                }
            });
        }
    });
    (addr, rx)
}

async fn fetch(
    connector: &Connector,
    addr: std::net::SocketAddr,
    host: &str,
) -> Result<(Vec<u8>, Stream), HandshakeError> {
    let tcp = runtime::connect(addr).await.unwrap();
    let mut stream = connector
        .connect(host, tcp, Duration::from_secs(10))
        .await?;
    stream.write_all(b"ping").await.unwrap();
    stream.flush().await.unwrap();
    let mut got = Vec::new();
    stream.read_to_end(&mut got).await.unwrap();
    Ok((got, stream))
}

#[test]
fn handshakes_verify_names_and_resume() {
    let dir = Dir::new("handshake");
    let ca = ThrowawayCa::new("test CA").unwrap();
    let issued = localhost(&ca);
    let config = server_config_from(issued.chain, issued.key).unwrap();
    let (addr, _outcomes) = tls_server(config, Duration::from_secs(10));
    let ca_file = dir.write("ca.pem", &ca.cert_pem());
    let trusting = Connector::new(
        client_config(&Trust {
            ca_files: vec![ca_file],
            insecure: false,
        })
        .unwrap(),
    );
    runtime::block_on(async {
        for host in ["localhost", "127.0.0.1"] {
            let (got, stream) = fetch(&trusting, addr, host).await.unwrap();
            assert_eq!(got, b"hello");
            let Stream::Tls(tls) = stream else {
                panic!("not TLS")
            };
            assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        }
        // Later connections to localhost resume, each with the ticket the one before got.
        for _ in 0..3 {
            let (_, stream) = fetch(&trusting, addr, "localhost").await.unwrap();
            let Stream::Tls(tls) = stream else {
                panic!("not TLS")
            };
            let kind = match tls.as_ref() {
                futures_rustls::TlsStream::Client(c) => c.get_ref().1.handshake_kind(),
                futures_rustls::TlsStream::Server(_) => unreachable!(),
            };
            assert_eq!(kind, Some(rustls::HandshakeKind::Resumed));
        }

        let err = fetch(&trusting, addr, "other.example").await.unwrap_err();
        assert!(matches!(err, HandshakeError::NameMismatch(_)), "{err}");
        assert!(err.to_string().contains("other.example"), "{err}");

        // Only the system's CAs: ours is unknown.
        let system = Connector::new(client_config(&Trust::default()).unwrap());
        let err = fetch(&system, addr, "localhost").await.unwrap_err();
        assert!(matches!(err, HandshakeError::BadCertificate(_)), "{err}");
        assert!(
            err.to_string().contains("unknown certificate authority"),
            "{err}"
        );

        let insecure = Connector::new(
            client_config(&Trust {
                ca_files: Vec::new(),
                insecure: true,
            })
            .unwrap(),
        );
        let (got, _) = fetch(&insecure, addr, "other.example").await.unwrap();
        assert_eq!(got, b"hello");
    });
}

#[test]
fn an_expired_certificate_is_refused_as_such() {
    let dir = Dir::new("expired");
    let ca = ThrowawayCa::new("test CA").unwrap();
    let issued = ca.issue(&["localhost"], Validity::Expired).unwrap();
    let config = server_config_from(issued.chain, issued.key).unwrap();
    let (addr, _outcomes) = tls_server(config, Duration::from_secs(10));
    let trusting = Connector::new(
        client_config(&Trust {
            ca_files: vec![dir.write("ca.pem", &ca.cert_pem())],
            insecure: false,
        })
        .unwrap(),
    );
    let err = runtime::block_on(fetch(&trusting, addr, "localhost")).unwrap_err();
    assert!(matches!(err, HandshakeError::BadCertificate(_)), "{err}");
    assert!(err.to_string().contains("expired"), "{err}");
}

/// A client that stops sending by closing TCP without `close_notify` is at end of stream for
/// the server's driver (after the bytes it sent), not an error that drops its request.
#[test]
fn a_tcp_close_without_close_notify_is_end_of_stream_for_the_server() {
    use crate::runtime::conn::ByteStream;
    let ca = ThrowawayCa::new("test CA").unwrap();
    let issued = localhost(&ca);
    let acceptor = Acceptor::new(server_config_from(issued.chain, issued.key).unwrap());
    let insecure = Connector::new(
        client_config(&Trust {
            ca_files: Vec::new(),
            insecure: true,
        })
        .unwrap(),
    );
    runtime::block_on(async {
        let listener = runtime::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        runtime::spawn(async move {
            let tcp = runtime::connect(addr).await.unwrap();
            let mut stream = insecure
                .connect("localhost", tcp, Duration::from_secs(10))
                .await
                .unwrap();
            stream
                .write_flushed(b"GET / HTTP/1.1\r\n\r\n")
                .await
                .unwrap();
            stream.tcp().shutdown(std::net::Shutdown::Write).unwrap();
            runtime::sleep(Duration::from_secs(5)).await;
        });
        let (tcp, _) = listener.accept().await.unwrap();
        let mut server = acceptor.accept(tcp, Duration::from_secs(10)).await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            let read = ByteStream::read_some(&mut server, &mut buf);
            match runtime::timeout(Duration::from_secs(5), read).await {
                Some(Ok(0)) => break,
                Some(Ok(n)) => got.extend_from_slice(&buf[..n]),
                other => panic!("not a clean end of stream: {other:?}"),
            }
        }
        assert_eq!(got, b"GET / HTTP/1.1\r\n\r\n");
    });
}

/// Plaintext HTTP and a silent peer each end only their own connection: the first at once,
/// the second at the handshake deadline, while a good client is served in between.
#[test]
fn plaintext_and_stalled_handshakes_end_only_their_connection() {
    let dir = Dir::new("bad-peers");
    let ca = ThrowawayCa::new("test CA").unwrap();
    let issued = localhost(&ca);
    let config = server_config_from(issued.chain, issued.key).unwrap();
    let (addr, mut outcomes) = tls_server(config, Duration::from_millis(500));
    let trusting = Connector::new(
        client_config(&Trust {
            ca_files: vec![dir.write("ca.pem", &ca.cert_pem())],
            insecure: false,
        })
        .unwrap(),
    );
    runtime::block_on(async {
        use futures::StreamExt;
        let _stalled = runtime::connect(addr).await.unwrap();
        let mut plain = runtime::connect(addr).await.unwrap();
        plain
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let read = runtime::timeout(Duration::from_secs(5), plain.read_to_end(&mut answer));
        assert!(read.await.is_some(), "plaintext connection left open");
        assert!(!answer.starts_with(b"HTTP/"), "answered in plaintext");
        let plain_outcome = outcomes.next().await.unwrap().unwrap_err();
        assert!(plain_outcome.contains("TLS"), "{plain_outcome}");

        let (got, _) = fetch(&trusting, addr, "localhost").await.unwrap();
        assert_eq!(got, b"hello");
        assert_eq!(outcomes.next().await, Some(Ok(())));

        let started = Instant::now();
        let stalled = runtime::timeout(Duration::from_secs(10), outcomes.next())
            .await
            .expect("the stalled handshake was not cut off");
        assert_eq!(stalled, Some(Err(HandshakeError::TimedOut.to_string())));
        assert!(started.elapsed() < Duration::from_secs(5));
    });
}
