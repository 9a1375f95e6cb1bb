//! The balancer: probe verdicts and each server's health, the ranked pool and its weighted
//! pick, the redirect responses, and the admin application, driven together by [`balancer::Balancer`].

pub mod admin;
pub mod balancer;
pub mod pool;
pub mod probe;
pub mod redirect;
pub mod verdict;
