//! The balancer's shell: probe downloads driven by the core's
//! [`Balancer`](ricochet_core::balance::balancer::Balancer), a shared ranking swapped
//! atomically, and connections answered with
//! [`Redirect::answer`](ricochet_core::balance::redirect::Redirect::answer).
//!
//! - [`config`]: the settings, the re-admission flags, and why the balancer could not start.
//! - [`prober`]: the [`Prober`] loop. It starts the probe downloads the core asks for
//!   ([`probe`]), feeds in results, deadlines, client reports and reloads, logs every event and
//!   publishes each new ranking and snapshot into [`Published`]. It runs for ever, even with
//!   every server removed. [`start`] runs the first probe round before any client is accepted.
//! - [`published`]: what the prober publishes and every connection reads with one atomic load.
//! - [`reload`]: the [`Reloader`] handle (SIGHUP, `POST /reload`) and why a reload was refused.
//! - [`redirector`]: one client connection on the shared driver ([`crate::runtime::driver`]),
//!   each request answered at once with a redirect (with `--verify-files`, once the file
//!   checks it waits on are in), and `?mirrorlist` pages.
//! - [`files`]: `--verify-files`, the core's file index shared by every connection, the
//!   checks it asks for ([`check`]: one `HEAD` each) and the requests waiting on them.
//! - [`servers`]: where the server list is read from; [`counters`]: requests and redirects
//!   counted for [`admin`], the admin listener.
//! - [`state`]: several balancer processes sharing one prober (`--workers`, `--state`).
//!
//! [`serve_until`] runs the prober in the background and answers clients until shutdown;
//! [`serve_forever`] never stops.

pub mod admin;
pub mod check;
pub mod config;
pub mod counters;
pub mod files;
mod line;
pub mod probe;
pub mod prober;
pub mod published;
pub mod redirector;
pub mod reload;
pub mod servers;
pub mod state;

pub use config::{
    readmit_from_flags, Config, FileFlags, FileFlagsError, LaunchError, ReadmitFlagsError,
    StartError,
};
pub use prober::{start, Prober};
pub use published::Published;
pub use redirector::serve_connection;
pub use reload::{ReloadError, Reloader};

use crate::runtime::driver::Shutdown;
use crate::runtime::{self, accept, TcpListener};
use redirector::Client;
use std::sync::Arc;

/// Keep probing in the background and answer clients from `listener` until `shutdown` fires;
/// then stop probing, let every connection drain and return once all have closed.
pub async fn serve_until(
    mut listener: TcpListener,
    prober: Prober,
    config: Config,
    shutdown: Shutdown,
) {
    let published = Arc::clone(prober.published());
    // The prober stops with the accept loop: no new probe during the drain.
    let stop = shutdown.clone();
    runtime::spawn(async move {
        let probing = std::pin::pin!(prober.run_forever());
        futures::future::select(probing, std::pin::pin!(stop.wait())).await;
    });
    let config = Arc::new(config);
    let max = config.listener.max_connections;
    config.listener.prepare(&mut listener);
    accept::accept_loop(listener, max, shutdown, move |stream, peer, shutdown| {
        let client = Client {
            config: Arc::clone(&config),
            published: Arc::clone(&published),
            peer,
            shutdown,
        };
        async move { accept::serve_accepted(&client, &client.config.listener, stream, peer).await }
    })
    .await
}

/// Keep probing in the background and answer clients from `listener`; never returns.
pub async fn serve_forever(listener: TcpListener, prober: Prober, config: Config) -> ! {
    serve_until(listener, prober, config, Shutdown::never()).await;
    futures::future::pending().await
}
