//! Stopping: the [`Shutdown`] signal every accept loop and connection watches, and the
//! process's [`GracefulStop`] that fires it on SIGTERM and SIGINT.

#[cfg(unix)]
mod graceful;
mod shutdown;

#[cfg(unix)]
pub use graceful::GracefulStop;
pub use shutdown::{Open, Shutdown, ShutdownTrigger, StopWatch};
