//! The download client's decisions: save, follow or refuse a response, which bodies to print,
//! the output file's name, resumes and retries, and the pieces of a multi-source download.

pub mod follow;
pub mod resume;
pub mod segments;
pub mod verify;
