//! `--workers N`: the balancer's processes on one machine, linked by Unix socket pairs made
//! before the fork ([`fork`]). The first process probes and sends its board to every worker
//! at each change; a worker sends it the client reports, reloads and counters it gets
//! ([`Source::Worker`]). The processes themselves are started and watched as the server's
//! are ([`crate::runtime::workers`]).

use crate::balancer::prober::Input;
use crate::balancer::state::{self, read_line, Peer, Source, MAX_LINE};
use futures::channel::mpsc;
use ricochet_core::balance::shared::Message;
use std::io::{self, BufReader, Write};
use std::os::unix::net::UnixStream;

/// This process's ends of the socket pairs.
#[derive(Debug)]
pub enum Ends {
    /// No workers: nothing to link.
    Alone,
    /// The first process: one end per worker, in worker order.
    First(Vec<UnixStream>),
    /// A worker: its end of the pair it shares with the first process.
    Worker(UnixStream),
}

/// Make one socket pair per worker, fork `extra` workers ([`crate::runtime::workers::fork`]),
/// and keep this process's ends. Returns 0 in the first process and 1..=extra in each
/// worker. Call it before anything starts a thread.
pub fn fork(extra: usize) -> io::Result<(usize, Ends)> {
    if extra == 0 {
        return Ok((0, Ends::Alone));
    }
    let mut pairs = (0..extra)
        .map(|_| UnixStream::pair())
        .collect::<io::Result<Vec<_>>>()?;
    let index = crate::runtime::workers::fork(extra)?;
    // Every end this process does not use is closed, so that a process's death is the end of
    // the stream for its peer.
    if index == 0 {
        Ok((0, Ends::First(pairs.into_iter().map(|(a, _)| a).collect())))
    } else {
        let (_, mine) = pairs.swap_remove(index - 1);
        Ok((index, Ends::Worker(mine)))
    }
}

/// Start reading and writing `ends`: what comes in goes to the prober on `to_prober`.
/// Returns the first process's link (`None` in the first process) and the workers' (empty in
/// a worker).
pub(in crate::balancer) fn start(
    ends: Ends,
    to_prober: &mpsc::UnboundedSender<Input>,
) -> io::Result<(Option<Peer>, Vec<Peer>)> {
    match ends {
        Ends::Alone => Ok((None, Vec::new())),
        Ends::First(streams) => {
            let peers = streams
                .into_iter()
                .enumerate()
                .map(|(i, s)| link(s, format!("worker {}", i + 1), Source::Worker, to_prober))
                .collect::<io::Result<Vec<_>>>()?;
            Ok((None, peers))
        }
        Ends::Worker(stream) => {
            let peer = link(stream, "first process".into(), Source::Upstream, to_prober)?;
            Ok((Some(peer), Vec::new()))
        }
    }
}

/// A reader thread and a writer thread on `stream`, whose other end is `name`.
fn link(
    stream: UnixStream,
    name: String,
    source: Source,
    to_prober: &mpsc::UnboundedSender<Input>,
) -> io::Result<Peer> {
    let (peer, lines) = Peer::channel();
    let mut writer = stream.try_clone()?;
    std::thread::Builder::new()
        .name("link-out".into())
        .spawn(move || {
            for mut line in lines {
                line.push('\n');
                if writer.write_all(line.as_bytes()).is_err() {
                    return;
                }
            }
        })?;
    let to_prober = to_prober.clone();
    std::thread::Builder::new()
        .name("link-in".into())
        .spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            loop {
                match read_line(&mut reader, &mut line, MAX_LINE) {
                    Ok(true) => {}
                    Ok(false) => {
                        if source == Source::Upstream {
                            let _ = to_prober.unbounded_send(Input::UpstreamGone);
                        }
                        return;
                    }
                    Err(e) => {
                        log::warn!("link with the {name} broken: {e}");
                        return;
                    }
                }
                let input = match Message::decode(&line) {
                    Ok((Message::Counts(counts), _)) => Input::Counts(name.clone(), counts),
                    Ok((message, _)) if !state::admit(&message) => continue,
                    Ok((message, from)) => Input::Shared(message, source, from.to_string()),
                    Err(e) => {
                        log::warn!("ignored a message from the {name}: {e}");
                        continue;
                    }
                };
                if to_prober.unbounded_send(input).is_err() {
                    return;
                }
            }
        })?;
    Ok(peer)
}
