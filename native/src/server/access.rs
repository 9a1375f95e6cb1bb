//! The access-log line of a request: what it needs of the request, kept while the request is
//! answered, then written in Combined Log Format.

use crate::runtime::access_log::AccessLog;
use ricochet_core::http::access_log;
use ricochet_core::http::request::Request;
use std::net::SocketAddr;
use std::time::SystemTime;

/// What the access log needs of a request, kept while it is answered (the head borrows the
/// receive buffer); the buffers are reused from request to request.
pub struct AccessFields {
    received: SystemTime,
    method: String,
    target: String,
    version: &'static str,
    referer: Vec<u8>,
    user_agent: Vec<u8>,
    parsed: bool,
}

impl Default for AccessFields {
    fn default() -> AccessFields {
        AccessFields {
            received: SystemTime::UNIX_EPOCH,
            method: String::new(),
            target: String::new(),
            version: "",
            referer: Vec::new(),
            user_agent: Vec::new(),
            parsed: false,
        }
    }
}

impl AccessFields {
    /// Keep what the access log needs of `request`, received now.
    pub fn keep(&mut self, request: &Request<'_>) {
        self.received = SystemTime::now();
        self.method.clear();
        self.method.push_str(request.method);
        self.target.clear();
        self.target.push_str(request.raw_target);
        self.version = request.version.as_str();
        self.referer.clear();
        self.referer
            .extend_from_slice(request.header("referer").unwrap_or_default());
        self.user_agent.clear();
        self.user_agent
            .extend_from_slice(request.header("user-agent").unwrap_or_default());
        self.parsed = true;
    }

    /// A request that could not be (fully) parsed, received now: no request line to log.
    pub fn unparsed(&mut self) {
        self.received = SystemTime::now();
        self.parsed = false;
        self.referer.clear();
        self.user_agent.clear();
    }

    /// Write the line: answered `status` with `body_bytes` of body.
    pub fn record(&self, log: &AccessLog, peer: SocketAddr, status: u16, body_bytes: u64) {
        log.record(|line| {
            let entry = access_log::Entry {
                client: &peer.ip(),
                time: self.received,
                request: self.parsed.then_some((
                    self.method.as_str(),
                    self.target.as_str(),
                    self.version,
                )),
                status,
                body_bytes,
                referer: Some(&self.referer),
                user_agent: Some(&self.user_agent),
            };
            access_log::write_combined(&entry, line);
        });
    }
}
