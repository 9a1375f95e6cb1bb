//! `--state redis://HOST:PORT/DB`: balancers on one machine or many sharing one prober through
//! Redis, with the `redis` crate's blocking client on two threads of their own.
//!
//! - The lease: the key `ricochet:lease` holds the id of the instance that probes, with an
//!   expiry of one lease period (`SET NX PX`). Its holder renews it every sixth of a period
//!   (a script that extends it only if it still holds it); every other instance tries to take
//!   it as often, so a holder that died is replaced within a lease period and a sixth.
//! - The holder writes each new board to the key `ricochet:state` (re-written every tick, so a
//!   restarted Redis has it back at once) and publishes it on the channel `ricochet:bus`; the
//!   others read the key when they start following and at every tick, and get what is
//!   published within milliseconds. Client reports and reloaded lists go on the bus for the
//!   holder to act on.
//! - Redis unreachable (a command fails or times out): the instance probes on its own, logs it
//!   once, and keeps trying; when Redis answers again it takes the lease or follows its holder.
//!
//! The prober is told which role it has (`Input::Lead`) and never waits on Redis: lines to
//! send are queued ([`Peer::send`]).

use crate::balancer::prober::Input;
use crate::balancer::state::{Peer, Source};
use futures::channel::mpsc as async_mpsc;
use ricochet_core::balance::shared::Message;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const LEASE_KEY: &str = "ricochet:lease";
const STATE_KEY: &str = "ricochet:state";
const CHANNEL: &str = "ricochet:bus";

/// Gives the lease up only if this instance holds it.
const RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then \
                       return redis.call('del', KEYS[1]) else return 0 end";

/// Extends the lease only if this instance still holds it: 1 if it did, 0 otherwise.
const RENEW: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then \
                     return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";

/// Why `--state` was refused.
#[derive(Debug)]
pub struct StateUrlError(String);

impl fmt::Display for StateUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--state: {}", self.0)
    }
}

impl std::error::Error for StateUrlError {}

/// Where the shared state is kept, and how long a lease lasts.
#[derive(Clone)]
pub struct RedisState {
    client: redis::Client,
    url: String,
    /// How long the lease holds without renewal.
    pub lease: Duration,
    /// The balancer is stopping: give the lease up and take it no more.
    stopping: Arc<AtomicBool>,
}

impl fmt::Debug for RedisState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisState")
            .field("url", &self.url)
            .field("lease", &self.lease)
            .finish()
    }
}

impl RedisState {
    /// `url` as `redis://HOST:PORT/DB`; nothing is connected yet.
    pub fn new(url: &str, lease: Duration) -> Result<RedisState, StateUrlError> {
        if !url.starts_with("redis://") {
            return Err(StateUrlError(format!(
                "'{url}' is not a redis://HOST:PORT/DB URL"
            )));
        }
        if lease < Duration::from_millis(300) {
            return Err(StateUrlError("the lease must be at least 300ms".into()));
        }
        let client =
            redis::Client::open(url).map_err(|e| StateUrlError(format!("'{url}': {e}")))?;
        Ok(RedisState {
            client,
            url: url.to_string(),
            lease,
            stopping: Default::default(),
        })
    }

    /// The balancer `id` stops (SIGTERM): take the lease no more, and give it up if it holds
    /// it, so that another instance takes it at its next attempt rather than when it runs out.
    /// Waits for Redis at most half a lease.
    pub fn release(&self, id: &str) {
        self.stopping.store(true, Ordering::Relaxed);
        let wait = self.lease / 2;
        let released = self
            .client
            .get_connection_with_timeout(wait)
            .and_then(|mut con| {
                con.set_read_timeout(Some(wait))?;
                redis::cmd("EVAL")
                    .arg(RELEASE)
                    .arg(1)
                    .arg(LEASE_KEY)
                    .arg(id)
                    .query::<i64>(&mut con)
            });
        if let Ok(1) = released {
            log::info!("gave up the probing lease");
        }
    }

    /// How often the holder renews the lease and the others try to take it.
    fn tick(&self) -> Duration {
        self.lease / 6
    }

    /// Start the link's threads for the instance `id`: what comes in goes to the prober on
    /// `to_prober`, starting with its role. Returns the link to send on.
    pub(in crate::balancer) fn start(
        &self,
        id: String,
        to_prober: &async_mpsc::UnboundedSender<Input>,
    ) -> std::io::Result<Peer> {
        let (peer, lines) = Peer::channel();
        let control = Control {
            state: self.clone(),
            id: id.clone(),
            to_prober: to_prober.clone(),
            con: None,
            role: Role::Unknown,
            board: None,
            followed: None,
        };
        std::thread::Builder::new()
            .name("redis".into())
            .spawn(move || control.run(lines))?;
        let state = self.clone();
        let to_prober = to_prober.clone();
        std::thread::Builder::new()
            .name("redis-bus".into())
            .spawn(move || subscribe(&state, &id, &to_prober))?;
        Ok(peer)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Before the first answer.
    Unknown,
    /// Holds the lease: probes and publishes.
    Holder,
    /// Another instance holds it: follows its board.
    Follower,
    /// Redis does not answer: probes on its own.
    Alone,
}

/// The lease and the state key, on one connection.
struct Control {
    state: RedisState,
    id: String,
    to_prober: async_mpsc::UnboundedSender<Input>,
    con: Option<redis::Connection>,
    role: Role,
    /// The latest board of this instance's prober (sent while it holds the lease).
    board: Option<String>,
    /// The latest board read from the state key (handed to the prober when it changes).
    followed: Option<String>,
}

impl Control {
    fn run(mut self, lines: mpsc::Receiver<String>) {
        let mut next_tick = Instant::now();
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match lines.recv_timeout(wait) {
                Ok(line) => {
                    let result = self.send(line);
                    if let Err(e) = result {
                        self.alone(&e);
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            next_tick = Instant::now() + self.state.tick();
            if self.state.stopping.load(Ordering::Relaxed) {
                return;
            }
            if let Err(e) = self.tick() {
                self.alone(&e);
            }
        }
    }

    fn connection(&mut self) -> redis::RedisResult<&mut redis::Connection> {
        if self.con.is_none() {
            let timeout = self.state.lease / 2;
            let con = self.state.client.get_connection_with_timeout(timeout)?;
            con.set_read_timeout(Some(timeout))?;
            con.set_write_timeout(Some(timeout))?;
            self.con = Some(con);
        }
        Ok(self.con.as_mut().expect("just connected"))
    }

    /// A line from the prober: a board is kept and written while this instance holds the
    /// lease; anything else goes on the bus (dropped while Redis is unreachable: the
    /// instance then acts on its own).
    fn send(&mut self, line: String) -> redis::RedisResult<()> {
        if line.starts_with("board ") {
            self.board = Some(line);
            if self.role == Role::Holder {
                self.write_board(true)?;
            }
            return Ok(());
        }
        if self.role == Role::Alone || self.role == Role::Unknown {
            return Ok(());
        }
        let con = self.connection()?;
        redis::cmd("PUBLISH")
            .arg(CHANNEL)
            .arg(&line)
            .query::<i64>(con)?;
        Ok(())
    }

    fn write_board(&mut self, publish: bool) -> redis::RedisResult<()> {
        let Some(board) = self.board.clone() else {
            return Ok(());
        };
        let keep = self.state.lease * 10;
        let con = self.connection()?;
        redis::cmd("SET")
            .arg(STATE_KEY)
            .arg(&board)
            .arg("PX")
            .arg(keep.as_millis() as u64)
            .query::<()>(con)?;
        if publish {
            redis::cmd("PUBLISH")
                .arg(CHANNEL)
                .arg(&board)
                .query::<i64>(con)?;
        }
        Ok(())
    }

    /// Renew or take the lease, then act on the role that gives.
    fn tick(&mut self) -> redis::RedisResult<()> {
        let lease_ms = self.state.lease.as_millis() as u64;
        let id = self.id.clone();
        let holder = self.role == Role::Holder;
        let con = self.connection()?;
        let holds = if holder {
            redis::cmd("EVAL")
                .arg(RENEW)
                .arg(1)
                .arg(LEASE_KEY)
                .arg(&id)
                .arg(lease_ms)
                .query::<i64>(con)?
                == 1
        } else {
            redis::cmd("SET")
                .arg(LEASE_KEY)
                .arg(&id)
                .arg("NX")
                .arg("PX")
                .arg(lease_ms)
                .query::<Option<String>>(con)?
                .is_some()
        };
        let before = self.role;
        if holds {
            self.role = Role::Holder;
            // Every tick: a restarted Redis has the board back within one.
            self.write_board(before != Role::Holder)?;
            if before != Role::Holder {
                self.followed = None;
                self.log_role(
                    before,
                    &format!("holds the probing lease in {}", self.state.url),
                );
                let _ = self.to_prober.unbounded_send(Input::Lead(true));
            }
            return Ok(());
        }
        let con = self.connection()?;
        let board: Option<String> = redis::cmd("GET").arg(STATE_KEY).query(con)?;
        let holder: Option<String> = match before {
            Role::Follower => None,
            _ => redis::cmd("GET").arg(LEASE_KEY).query(con)?,
        };
        self.role = Role::Follower;
        if before != Role::Follower {
            let holder = holder.unwrap_or_else(|| "nobody".into());
            self.log_role(before, &format!("follows {holder}, the lease holder"));
        }
        if board.is_some() && board != self.followed {
            self.followed = board.clone();
            if let Some(Ok((message, from))) = board.as_deref().map(Message::decode) {
                let input = Input::Shared(message, Source::Upstream, from.to_string());
                let _ = self.to_prober.unbounded_send(input);
            }
        }
        if before != Role::Follower {
            let _ = self.to_prober.unbounded_send(Input::Lead(false));
        }
        Ok(())
    }

    fn log_role(&self, before: Role, now: &str) {
        if before == Role::Alone {
            log::warn!(
                "Redis at {} answers again: this balancer {now}",
                self.state.url
            );
        } else {
            log::info!("this balancer ({}) {now}", self.id);
        }
    }

    /// Redis did not answer: drop the connection, probe on our own (logged once per outage).
    fn alone(&mut self, e: &redis::RedisError) {
        self.con = None;
        if self.role != Role::Alone {
            log::warn!(
                "Redis at {} is unreachable ({e}): this balancer probes on its own until it \
                 answers again",
                self.state.url
            );
            self.role = Role::Alone;
            self.followed = None;
            let _ = self.to_prober.unbounded_send(Input::Lead(true));
        }
    }
}

/// The bus: every message another instance publishes goes to the prober. Pings Redis after a
/// lease period without any message, and reconnects after any error.
fn subscribe(state: &RedisState, id: &str, to_prober: &async_mpsc::UnboundedSender<Input>) {
    loop {
        let Ok(mut con) = state.client.get_connection_with_timeout(state.lease / 2) else {
            std::thread::sleep(state.tick());
            continue;
        };
        let mut bus = con.as_pubsub();
        if bus.subscribe(CHANNEL).is_err() || bus.set_read_timeout(Some(state.lease)).is_err() {
            std::thread::sleep(state.tick());
            continue;
        }
        loop {
            let message = match bus.get_message() {
                Ok(message) => message,
                // Quiet for a lease period: make sure Redis is still there, then listen on.
                Err(e) if e.is_timeout() => match bus.ping::<redis::Value>() {
                    Ok(_) => continue,
                    Err(_) => break,
                },
                Err(_) => break,
            };
            let Ok(line) = message.get_payload::<String>() else {
                continue;
            };
            match Message::decode(&line) {
                Ok((_, from)) if from == id => {}
                Ok((message, _)) if !super::admit(&message) => {}
                Ok((message, from)) => {
                    let input = Input::Shared(message, Source::Upstream, from.to_string());
                    if to_prober.unbounded_send(input).is_err() {
                        return;
                    }
                }
                Err(e) => log::debug!("ignored a message on {CHANNEL}: {e}"),
            }
        }
    }
}

/// This instance's name in the shared state: host name and process id.
pub fn instance_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().replace(char::is_whitespace, "_"))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    format!("{host}:{}", std::process::id())
}
