//! Binding a listening socket and announcing it, the same way in every binary: scripts and tests
//! wait for the `listening on http://ADDR` (or `https://ADDR`) line on stdout to learn the real
//! address (port 0 picks a free one).

use crate::runtime::{self, TcpListener};
use std::io::{self, Write};
use std::net::SocketAddr;

/// Bind `addr` (`host:port`, IPv6 bracketed) and return the listener with the address it got.
pub async fn bind(addr: &str) -> io::Result<(TcpListener, SocketAddr)> {
    let listener = runtime::bind(addr).await?;
    let bound = listener.local_addr()?;
    Ok((listener, bound))
}

/// The line a listening binary prints, e.g. `listening on http://127.0.0.1:8080`
/// (`http://[::1]:8080` for IPv6), `https://` when it speaks TLS.
pub fn listening_line(addr: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    format!("listening on {scheme}://{addr}")
}

/// Print [`listening_line`] on stdout and flush it, so a reader of the pipe sees it at once.
pub fn announce(addr: SocketAddr, tls: bool) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{}", listening_line(addr, tls));
    let _ = stdout.flush();
}
