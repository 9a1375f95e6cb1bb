//! Ricochet's own request headers, by which a download client reports to the balancer what
//! happened at the server it was redirected to. The client sends them, the balancer reads them.

/// The request header by which a client reports the server it could not reach, as `host:port`.
pub const UNREACHABLE_HEADER: &str = "Ricochet-Unreachable";

/// The request header by which a client reports the server it was sent to answered 404 or 410
/// for the file, as `host:port`.
pub const MISSING_HEADER: &str = "Ricochet-Missing";
