//! The balancer: probe verdicts and each server's health, the ranked pool and its weighted
//! pick, the rankings a request may be answered from by its scheme and address family
//! (`family`, `rankings`), the redirect responses, and the admin application (with its status
//! page's `charts`), driven together by [`balancer::Balancer`]; and, for `--verify-files`, which
//! server holds the current copy of which file: what one file check yields (`file_check`), the
//! per-path knowledge (`file_index`) and one request's pick among the servers that hold it
//! (`file_pick`), the answers written once it is decided (`file_redirect`), and what it shows
//! (`mirror_list`, and the `?mirrorlist` page: `mirror_page`). Several balancer processes share
//! one prober's state through `shared`.

pub mod admin;
pub mod balancer;
pub mod charts;
pub mod family;
pub mod file_check;
pub mod file_index;
pub mod file_pick;
pub mod file_redirect;
mod lru;
pub mod mirror_list;
pub mod mirror_meta;
pub mod mirror_page;
pub mod pool;
pub mod probe;
pub mod rankings;
pub mod redirect;
pub mod shared;
pub mod verdict;
