//! The download client's decisions: which responses to follow, when to stop, where to save.

use crate::url::{Url, UrlError};

/// What the client does after a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// A final response: save the body if the status is 2xx, otherwise report it.
    Done,
    /// A redirect: request this URL next.
    Redirect(Url),
}

/// Why the client stops following.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowError {
    /// More redirects than allowed.
    TooManyRedirects(u32),
    /// The Location leads back to a URL already requested.
    Loop(Url),
    /// A redirect without a Location header.
    MissingLocation(u16),
    /// A Location that is not a usable URL.
    BadLocation(UrlError),
}

impl std::fmt::Display for FollowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FollowError::TooManyRedirects(n) => write!(f, "stopped after {n} redirects"),
            FollowError::Loop(u) => write!(f, "redirect loop: {u} was already requested"),
            FollowError::MissingLocation(s) => write!(f, "{s} redirect without a Location header"),
            FollowError::BadLocation(e) => write!(f, "unusable Location: {e}"),
        }
    }
}

impl std::error::Error for FollowError {}

/// Tracks a chain of requests from the first URL.
#[derive(Debug, Clone)]
pub struct Follower {
    max_redirects: u32,
    visited: Vec<Url>,
}

impl Follower {
    /// Start at `url`, following at most `max_redirects` redirects.
    pub fn new(url: Url, max_redirects: u32) -> Self {
        Follower {
            max_redirects,
            visited: vec![url],
        }
    }

    /// The URL to request now.
    pub fn current(&self) -> &Url {
        self.visited.last().expect("never empty")
    }

    /// Feed the status and `Location` of the response to the current request.
    pub fn handle_response(
        &mut self,
        status: u16,
        location: Option<&[u8]>,
    ) -> Result<Next, FollowError> {
        let _ = (status, location, self.max_redirects);
        todo!("core-app helper")
    }
}

/// File name to save a URL's body under when the user gave none: the last path segment,
/// percent-decoded, with anything unsafe for a file name replaced; `index.html` for an empty
/// segment (a trailing slash).
pub fn output_name(url: &Url) -> String {
    let _ = url;
    todo!("core-app helper")
}
