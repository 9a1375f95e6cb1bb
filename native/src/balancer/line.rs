//! How the access log and the log name a request, kept while the request waits for file
//! checks (the request head borrows a buffer the connection reuses).

use ricochet_core::http::request::Request;

/// The request as an access log line names it. Its headers are looked up only when a line is
/// written: no cost per request without an access log.
pub(super) struct Line<'a> {
    pub(super) method: &'a str,
    pub(super) target: &'a str,
    pub(super) version: &'static str,
    headers: Headers<'a>,
}

enum Headers<'a> {
    Request(&'a Request<'a>),
    Kept {
        referer: Option<&'a [u8]>,
        user_agent: Option<&'a [u8]>,
    },
}

impl<'a> Line<'a> {
    pub(super) fn of(request: &'a Request<'a>) -> Line<'a> {
        Line {
            method: request.method,
            target: request.raw_target,
            version: request.version.as_str(),
            headers: Headers::Request(request),
        }
    }

    pub(super) fn header(&self, name: &str) -> Option<&'a [u8]> {
        match &self.headers {
            Headers::Request(request) => request.header(name),
            Headers::Kept { referer, .. } if name == "referer" => *referer,
            Headers::Kept { user_agent, .. } => *user_agent,
        }
    }

    pub(super) fn to_owned(&self) -> OwnedLine {
        OwnedLine {
            method: self.method.to_string(),
            target: self.target.to_string(),
            version: self.version,
            referer: self.header("referer").map(<[u8]>::to_vec),
            user_agent: self.header("user-agent").map(<[u8]>::to_vec),
        }
    }
}

pub(super) struct OwnedLine {
    method: String,
    target: String,
    version: &'static str,
    referer: Option<Vec<u8>>,
    user_agent: Option<Vec<u8>>,
}

impl OwnedLine {
    pub(super) fn borrow(&self) -> Line<'_> {
        Line {
            method: &self.method,
            target: &self.target,
            version: self.version,
            headers: Headers::Kept {
                referer: self.referer.as_deref(),
                user_agent: self.user_agent.as_deref(),
            },
        }
    }
}
