//! The static file server's decisions: which file a request names, its content type, and what
//! it is answered (200, 206, 304, 412, 416, redirects to a folder's slash).

pub mod conditional;
pub mod range;
pub mod serve;
