//! The state several balancer processes share, and the messages that carry it: one process
//! probes (a worker's first process with `--workers`, the holder of the lease with `--state`)
//! and sends a [`Board`] of every server's health and latest measurement; the others build
//! their rankings from it instead of probing ([`Board::rankings`]), and send back what only the
//! prober may act on: client reports ([`Message::Unreachable`]), a reloaded server list
//! ([`Message::Servers`]) and their counters ([`Message::Counts`]). Every process, prober or
//! not, sends the others each `--verify-files` check answer it gets ([`Message::File`]).
//!
//! The wire format is one line of text per message, words separated by spaces (a server entry
//! holds none), so it travels as it is over a Unix socket or as a Redis string:
//!
//! ```text
//! board FROM INDEX ADDR FAMILIES INDEX ADDR FAMILIES ...   FAMILIES: v4=live:NANOS:BYTES,v6=removed
//! unreachable FROM ADDR
//! servers FROM ADDR ADDR ...
//! counts FROM 301=12 503=1 @ADDR=12 ...
//! file FROM TARGET PATH STATUS LENGTH MODIFIED DIGEST CHECKED
//! ```
//!
//! A `file` line is one `--verify-files` check answer ([`Message::File`]): TARGET is a server
//! entry or `origin`, PATH the request path with `%`, spaces and every byte outside printable
//! ASCII percent-encoded, STATUS the answer's code, LENGTH its `Content-Length`, MODIFIED its
//! `Last-Modified` in Unix seconds, DIGEST its SHA-256 in hex (each `-` when absent), and
//! CHECKED when the answer came, in Unix milliseconds.
//!
//! `FROM` names the sender (no spaces), so a process can ignore its own messages and a status
//! page can say who probes. A line that does not parse is an `Err`, never a panic: the peer
//! may run another version.

use crate::balance::balancer::{ServerSnapshot, Snapshot};
use crate::balance::family::Family;
use crate::balance::file_check::FileHead;
use crate::balance::pool::{Policy, Pool, ServerAddr};
use crate::balance::probe::{Health, LastProbe, ProbeStatus};
use crate::balance::rankings::Rankings;
use crate::balance::verdict::Measurement;
use crate::http::digest::{Algorithm, Digest};
use crate::http::status::Status;
use std::fmt::{self, Write as _};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One server as the prober sees it, over each family it is probed over.
#[derive(Debug, Clone, PartialEq)]
pub struct BoardServer {
    /// Its index in the prober's pool: a follower's rankings index it the same, so its
    /// counters and reports name the same server across reloads.
    pub index: usize,
    /// The server.
    pub server: ServerAddr,
    /// Its health over each family, with the latest measurement while it is live.
    pub families: Vec<(Family, Health, Option<Measurement>)>,
}

/// Every configured server in the prober's order: what a process needs to redirect as the
/// prober does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Board {
    /// The servers, in pool order (those dropped by a reload are not listed).
    pub servers: Vec<BoardServer>,
}

/// Most pool indices a board may name: a follower allocates a slot for each index below the
/// highest.
pub const MAX_INDEX: usize = 1 << 16;

impl Board {
    /// The board of a prober: every server of `snapshot`, with its measurement over each
    /// family taken from `rankings` while it is live there.
    pub fn from_prober(snapshot: &Snapshot, rankings: &Rankings) -> Board {
        let servers = snapshot
            .servers
            .iter()
            .map(|s| BoardServer {
                index: s.index,
                server: s.server.clone(),
                families: s
                    .families
                    .iter()
                    .map(|(family, status)| {
                        let measurement = rankings
                            .over(*family)
                            .table()
                            .iter()
                            .find(|row| row.index == s.index)
                            .map(|row| row.measurement);
                        (*family, status.health, measurement)
                    })
                    .collect(),
            })
            .collect();
        Board { servers }
    }

    /// The server list in force.
    pub fn server_list(&self) -> Vec<ServerAddr> {
        self.servers.iter().map(|s| s.server.clone()).collect()
    }

    /// The server at pool index `index`, if listed.
    pub fn server(&self, index: usize) -> Option<&ServerAddr> {
        self.servers
            .iter()
            .find(|s| s.index == index)
            .map(|s| &s.server)
    }

    /// The rankings to answer from, as the prober's: a server has its
    /// [`BoardServer::index`].
    pub fn rankings(&self, policy: Policy) -> Rankings {
        let Some(first) = self.servers.first() else {
            return Rankings::empty(policy);
        };
        // Indices of servers dropped by a reload are held by a stand-in that is never live.
        let len = self.servers.iter().map(|s| s.index + 1).max().unwrap_or(0);
        let mut slots = vec![first.server.clone(); len];
        for s in &self.servers {
            slots[s.index] = s.server.clone();
        }
        let mut pools = [0; 2].map(|_| Pool::new(slots.clone()));
        for s in &self.servers {
            for &(family, health, measurement) in &s.families {
                if let (Health::Live, Some(m)) = (health, measurement) {
                    pools[family.index()].record(s.index, m);
                }
            }
        }
        Rankings::new(&pools[0], &pools[1], policy)
    }

    /// A snapshot for the status page of a process that follows: each server's health and
    /// latest measurement (as of `now`, when the board came in), the settings from `settings`
    /// (the follower's own, which match the prober's when both run with the same flags).
    pub fn snapshot(&self, settings: &Snapshot, now: Instant) -> Snapshot {
        let servers = self
            .servers
            .iter()
            .filter_map(|s| {
                let families: Vec<(Family, ProbeStatus)> = s
                    .families
                    .iter()
                    .map(|&(family, health, measurement)| {
                        let last = measurement.map(|m| LastProbe {
                            finished: now,
                            result: Ok(m),
                        });
                        let status = ProbeStatus {
                            health,
                            recent: last.iter().cloned().collect(),
                            last,
                            passes: 0,
                            failures: 0,
                            failures_total: 0,
                            next_probe: None,
                            probing: false,
                        };
                        (family, status)
                    })
                    .collect();
                let probe = families
                    .iter()
                    .min_by_key(|(_, status)| standing(status.health))?
                    .1
                    .clone();
                Some(ServerSnapshot {
                    index: s.index,
                    server: s.server.clone(),
                    probe,
                    families,
                })
            })
            .collect();
        Snapshot {
            servers,
            next_probe: None,
            ..settings.clone()
        }
    }
}

/// Live first, then pending, re-checking, removed: the family a server stands best on.
fn standing(health: Health) -> u8 {
    match health {
        Health::Live => 0,
        Health::Pending => 1,
        Health::Rechecking => 2,
        Health::Removed => 3,
    }
}

/// A process's counters, for totals over all processes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Counts {
    /// Requests answered, by status code.
    pub requests: Vec<(u16, u64)>,
    /// Redirects sent, by server.
    pub redirects: Vec<(ServerAddr, u64)>,
}

/// One message between balancer processes; see the module docs for the line each is.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// The prober's view of every server.
    Board(Board),
    /// A client could not reach this server: the prober verifies it with a probe.
    Unreachable(ServerAddr),
    /// A reload read this server list: it is the one in force from now on.
    Servers(Vec<ServerAddr>),
    /// A process's counters so far.
    Counts(Counts),
    /// A file check's answer: the others take it as their own.
    File(FileNews),
}

/// One `--verify-files` check answer, as one process learnt it: the others record it as if
/// they had checked, so N processes make one `HEAD` per (server, path) per TTL, not N.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileNews {
    /// The server asked (`None`: the origin). Named by its entry, not its pool index: indices
    /// may differ between instances.
    pub server: Option<ServerAddr>,
    /// The request path asked about.
    pub path: String,
    /// What it answered.
    pub head: FileHead,
    /// When the answer came, on the sender's clock.
    pub checked: SystemTime,
}

/// Most bytes of a path in a [`Message::File`] (decoded).
pub const MAX_FILE_PATH: usize = 8192;

/// `path` with `%`, spaces, controls and every non-ASCII byte as `%XX`: one word, no newline.
fn encode_path(path: &str, out: &mut String) {
    for &b in path.as_bytes() {
        if b.is_ascii_graphic() && b != b'%' {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn decode_path(word: &str) -> Option<String> {
    let bytes = crate::http::url::percent_decode(word.as_bytes()).ok()?;
    (bytes.len() <= MAX_FILE_PATH && bytes.first() == Some(&b'/'))
        .then(|| String::from_utf8(bytes).ok())
        .flatten()
}

fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis().min(u128::from(u64::MAX)) as u64)
}

fn decode_file(words: &mut std::str::SplitAsciiWhitespace<'_>) -> Result<FileNews, MessageError> {
    let mut next = || words.next().ok_or(MessageError::Incomplete);
    let target = next()?;
    let server = match target {
        "origin" => None,
        addr => Some(ServerAddr::parse(addr).map_err(|_| MessageError::BadServer)?),
    };
    let path = decode_path(next()?).ok_or(MessageError::BadFile)?;
    let number = |word: &str| -> Result<Option<u64>, MessageError> {
        match word {
            "-" => Ok(None),
            n => n.parse().map(Some).map_err(|_| MessageError::BadFile),
        }
    };
    let status: u16 = next()?.parse().map_err(|_| MessageError::BadFile)?;
    if !(100..=999).contains(&status) {
        return Err(MessageError::BadFile);
    }
    let length = number(next()?)?;
    let modified = number(next()?)?.map(|s| UNIX_EPOCH + Duration::from_secs(s));
    let digest = match next()? {
        "-" => None,
        hex => Some(Box::new(parse_sha256(hex).ok_or(MessageError::BadFile)?)),
    };
    let checked = number(next()?)?.ok_or(MessageError::BadFile)?;
    if words.next().is_some() {
        return Err(MessageError::Incomplete);
    }
    Ok(FileNews {
        server,
        path,
        head: FileHead {
            status: Status::from_code(status),
            length,
            modified,
            digest,
        },
        checked: UNIX_EPOCH + Duration::from_millis(checked),
    })
}

fn parse_sha256(hex: &str) -> Option<Digest> {
    let hex = hex.as_bytes();
    if hex.len() != 2 * Algorithm::Sha256.len() {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = hex
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect::<Option<Vec<u8>>>()?;
    Digest::new(Algorithm::Sha256, &bytes)
}

/// Why a line is not a [`Message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageError {
    /// The line is empty or its first word names no message.
    UnknownKind,
    /// No sender after the kind.
    NoSender,
    /// A server entry does not parse.
    BadServer,
    /// A board's pool index is not a number below [`MAX_INDEX`].
    BadIndex,
    /// A family's state is not `v4=HEALTH[:NANOS:BYTES]` or `v6=...`.
    BadFamily,
    /// A counter is not `CODE=N` or `@ADDR=N`.
    BadCount,
    /// A board names a server without its families, or `unreachable` is not one server.
    Incomplete,
    /// A `file` line's path, status, length, date, digest or time does not parse.
    BadFile,
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MessageError::UnknownKind => "unknown message kind",
            MessageError::NoSender => "no sender",
            MessageError::BadServer => "bad server entry",
            MessageError::BadIndex => "bad pool index",
            MessageError::BadFamily => "bad family state",
            MessageError::BadCount => "bad counter",
            MessageError::Incomplete => "incomplete message",
            MessageError::BadFile => "bad file check answer",
        })
    }
}

impl std::error::Error for MessageError {}

fn health_word(health: Health) -> &'static str {
    match health {
        Health::Pending => "pending",
        Health::Live => "live",
        Health::Rechecking => "rechecking",
        Health::Removed => "removed",
    }
}

fn health_of(word: &str) -> Option<Health> {
    Some(match word {
        "pending" => Health::Pending,
        "live" => Health::Live,
        "rechecking" => Health::Rechecking,
        "removed" => Health::Removed,
        _ => return None,
    })
}

fn family_word(family: Family) -> &'static str {
    match family {
        Family::V4 => "v4",
        Family::V6 => "v6",
    }
}

impl Message {
    /// The message as one line (without the newline), sent by `from` (no spaces in it).
    pub fn encode(&self, from: &str) -> String {
        let mut line = String::new();
        let kind = match self {
            Message::Board(_) => "board",
            Message::Unreachable(_) => "unreachable",
            Message::Servers(_) => "servers",
            Message::Counts(_) => "counts",
            Message::File(_) => "file",
        };
        let _ = write!(line, "{kind} {from}");
        match self {
            Message::Board(board) => {
                for s in &board.servers {
                    let _ = write!(line, " {} {} ", s.index, s.server.as_str());
                    for (i, (family, health, measurement)) in s.families.iter().enumerate() {
                        if i > 0 {
                            line.push(',');
                        }
                        let _ = write!(line, "{}={}", family_word(*family), health_word(*health));
                        if let Some(m) = measurement {
                            let _ = write!(line, ":{}:{}", m.elapsed.as_nanos(), m.bytes);
                        }
                    }
                }
            }
            Message::Unreachable(server) => {
                let _ = write!(line, " {}", server.as_str());
            }
            Message::Servers(servers) => {
                for s in servers {
                    let _ = write!(line, " {}", s.as_str());
                }
            }
            Message::Counts(counts) => {
                for (code, n) in &counts.requests {
                    let _ = write!(line, " {code}={n}");
                }
                for (server, n) in &counts.redirects {
                    let _ = write!(line, " @{}={n}", server.as_str());
                }
            }
            Message::File(news) => {
                let target = news.server.as_ref().map_or("origin", |s| s.as_str());
                let _ = write!(line, " {target} ");
                encode_path(&news.path, &mut line);
                let head = &news.head;
                let _ = write!(line, " {}", head.status.code());
                let dash = |n: Option<u64>| n.map_or("-".to_string(), |n| n.to_string());
                let modified = head.modified.map(|t| unix_millis(t) / 1000);
                let _ = write!(line, " {} {}", dash(head.length), dash(modified));
                match &head.digest {
                    Some(d) if d.algorithm() == Algorithm::Sha256 => {
                        let mut hex = Vec::new();
                        d.write_hex(&mut hex);
                        line.push(' ');
                        line.push_str(&String::from_utf8_lossy(&hex));
                    }
                    _ => line.push_str(" -"),
                }
                let _ = write!(line, " {}", unix_millis(news.checked));
            }
        }
        line
    }

    /// The message in `line` (a trailing newline is ignored) and who sent it.
    pub fn decode(line: &str) -> Result<(Message, &str), MessageError> {
        let mut words = line.split_ascii_whitespace();
        let kind = words.next().ok_or(MessageError::UnknownKind)?;
        if !matches!(
            kind,
            "board" | "unreachable" | "servers" | "counts" | "file"
        ) {
            return Err(MessageError::UnknownKind);
        }
        let from = words.next().ok_or(MessageError::NoSender)?;
        let server = |word: &str| ServerAddr::parse(word).map_err(|_| MessageError::BadServer);
        let message = match kind {
            "board" => {
                let mut servers = Vec::new();
                while let Some(index) = words.next() {
                    let index: usize = index.parse().map_err(|_| MessageError::BadIndex)?;
                    if index >= MAX_INDEX {
                        return Err(MessageError::BadIndex);
                    }
                    let addr = words.next().ok_or(MessageError::Incomplete)?;
                    let server = server(addr)?;
                    let states = words.next().ok_or(MessageError::Incomplete)?;
                    let families = states
                        .split(',')
                        .map(parse_family)
                        .collect::<Result<Vec<_>, _>>()?;
                    servers.push(BoardServer {
                        index,
                        server,
                        families,
                    });
                }
                Message::Board(Board { servers })
            }
            "unreachable" => {
                let s = server(words.next().ok_or(MessageError::Incomplete)?)?;
                if words.next().is_some() {
                    return Err(MessageError::Incomplete);
                }
                Message::Unreachable(s)
            }
            "servers" => Message::Servers(words.map(server).collect::<Result<_, _>>()?),
            "file" => Message::File(decode_file(&mut words)?),
            _ => {
                let mut counts = Counts::default();
                for word in words {
                    let (key, n) = word.rsplit_once('=').ok_or(MessageError::BadCount)?;
                    let n: u64 = n.parse().map_err(|_| MessageError::BadCount)?;
                    match key.strip_prefix('@') {
                        Some(addr) => counts.redirects.push((server(addr)?, n)),
                        None => counts
                            .requests
                            .push((key.parse().map_err(|_| MessageError::BadCount)?, n)),
                    }
                }
                Message::Counts(counts)
            }
        };
        Ok((message, from))
    }
}

/// `v4=live:NANOS:BYTES` or `v6=removed`.
fn parse_family(word: &str) -> Result<(Family, Health, Option<Measurement>), MessageError> {
    let (family, rest) = word.split_once('=').ok_or(MessageError::BadFamily)?;
    let family = match family {
        "v4" => Family::V4,
        "v6" => Family::V6,
        _ => return Err(MessageError::BadFamily),
    };
    let mut parts = rest.split(':');
    let health = parts
        .next()
        .and_then(health_of)
        .ok_or(MessageError::BadFamily)?;
    let measurement = match (parts.next(), parts.next(), parts.next()) {
        (None, _, _) => None,
        (Some(nanos), Some(bytes), None) => {
            let nanos: u64 = nanos.parse().map_err(|_| MessageError::BadFamily)?;
            let bytes: u64 = bytes.parse().map_err(|_| MessageError::BadFamily)?;
            Some(Measurement {
                elapsed: Duration::from_nanos(nanos),
                bytes,
            })
        }
        _ => return Err(MessageError::BadFamily),
    };
    Ok((family, health, measurement))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> ServerAddr {
        ServerAddr::parse(s).unwrap()
    }

    fn ms(n: u64) -> Measurement {
        Measurement {
            elapsed: Duration::from_millis(n),
            bytes: 1000,
        }
    }

    fn board() -> Board {
        Board {
            servers: vec![
                BoardServer {
                    index: 0,
                    server: addr("127.0.0.1:8081"),
                    families: vec![(Family::V4, Health::Live, Some(ms(10)))],
                },
                BoardServer {
                    index: 2,
                    server: addr("https://mirror.example:8443/pub/"),
                    families: vec![
                        (Family::V4, Health::Live, Some(ms(30))),
                        (Family::V6, Health::Rechecking, None),
                    ],
                },
                BoardServer {
                    index: 3,
                    server: addr("[::1]:8083"),
                    families: vec![(Family::V6, Health::Removed, None)],
                },
            ],
        }
    }

    #[test]
    fn every_message_comes_back_as_it_was_sent() {
        let messages = [
            Message::Board(board()),
            Message::Board(Board::default()),
            Message::Unreachable(addr("[::1]:8083")),
            Message::Servers(vec![addr("127.0.0.1:1"), addr("https://a.example/x/")]),
            Message::Servers(Vec::new()),
            Message::Counts(Counts {
                requests: vec![(301, 12), (503, 1)],
                redirects: vec![(addr("127.0.0.1:8081"), 12)],
            }),
            Message::File(news()),
            Message::File(FileNews {
                server: None,
                path: "/a b/%41/\u{e9}t\u{e9}\n.iso".into(),
                head: FileHead::with_status(Status::NOT_FOUND),
                checked: UNIX_EPOCH,
            }),
        ];
        for message in messages {
            let line = message.encode("host-1/4242");
            assert!(!line.contains('\n'), "{line}");
            let sent = format!("{line}\n");
            let (back, from) = Message::decode(&sent).unwrap();
            assert_eq!(back, message, "{line}");
            assert_eq!(from, "host-1/4242");
        }
    }

    fn news() -> FileNews {
        let mut head = FileHead::ok(1234, UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        head.digest = Some(Box::new(
            Digest::new(Algorithm::Sha256, &[0xab; 32]).unwrap(),
        ));
        FileNews {
            server: Some(addr("https://mirror.example:8443/pub/")),
            path: "/new.bin".into(),
            head,
            checked: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
        }
    }

    #[test]
    fn a_file_line_is_one_safe_line() {
        let line = Message::File(news()).encode("a");
        let hex = "ab".repeat(32);
        assert_eq!(
            line,
            format!(
                "file a https://mirror.example:8443/pub/ /new.bin 200 1234 1700000000 {hex} \
                 1700000000123"
            )
        );
        let odd = FileNews {
            path: "/x y%\r\n\u{e9}".into(),
            ..news()
        };
        let line = Message::File(odd.clone()).encode("a");
        assert!(line.contains(" /x%20y%25%0D%0A%C3%A9 "), "{line}");
        assert_eq!(Message::decode(&line).unwrap().0, Message::File(odd));
    }

    #[test]
    fn a_board_line_is_readable() {
        assert_eq!(
            Message::Board(board()).encode("a"),
            "board a 0 127.0.0.1:8081 v4=live:10000000:1000 2 https://mirror.example:8443/pub/ \
             v4=live:30000000:1000,v6=rechecking 3 [::1]:8083 v6=removed"
        );
    }

    #[test]
    fn bad_lines_are_errors_not_panics() {
        let cases = [
            ("", MessageError::UnknownKind),
            ("hello a", MessageError::UnknownKind),
            ("board", MessageError::NoSender),
            ("board a 0", MessageError::Incomplete),
            ("board a 0 127.0.0.1:1", MessageError::Incomplete),
            ("board a 127.0.0.1:1 v4=live", MessageError::BadIndex),
            (
                "board a 1048576 127.0.0.1:1 v4=live",
                MessageError::BadIndex,
            ),
            ("board a 0 127.0.0.1:1 v5=live", MessageError::BadFamily),
            ("board a 0 127.0.0.1:1 v4=alive", MessageError::BadFamily),
            ("board a 0 127.0.0.1:1 v4=live:1", MessageError::BadFamily),
            ("board a 0 127.0.0.1:1 v4=live:x:1", MessageError::BadFamily),
            ("board a 0 nope v4=live", MessageError::BadServer),
            ("unreachable a", MessageError::Incomplete),
            (
                "unreachable a 127.0.0.1:1 127.0.0.1:2",
                MessageError::Incomplete,
            ),
            ("servers a ftp://x:1", MessageError::BadServer),
            ("counts a 301", MessageError::BadCount),
            ("counts a abc=1", MessageError::BadCount),
            ("counts a 301=-1", MessageError::BadCount),
            ("file a", MessageError::Incomplete),
            ("file a origin /x 200 1 2 -", MessageError::Incomplete),
            ("file a origin /x 200 1 2 - 5 6", MessageError::Incomplete),
            ("file a nope /x 200 1 2 - 5", MessageError::BadServer),
            ("file a origin x 200 1 2 - 5", MessageError::BadFile),
            ("file a origin /%zz 200 1 2 - 5", MessageError::BadFile),
            ("file a origin /%FF 200 1 2 - 5", MessageError::BadFile),
            ("file a origin /x 20 1 2 - 5", MessageError::BadFile),
            ("file a origin /x 200 -1 2 - 5", MessageError::BadFile),
            ("file a origin /x 200 1 2 abc 5", MessageError::BadFile),
            ("file a origin /x 200 1 2 - -", MessageError::BadFile),
        ];
        for (line, error) in cases {
            assert_eq!(Message::decode(line), Err(error), "{line:?}");
        }
        // Every prefix of a valid line either parses or is an error.
        for line in [
            Message::Board(board()).encode("a"),
            Message::File(news()).encode("a"),
        ] {
            for end in 0..line.len() {
                if line.is_char_boundary(end) {
                    let _ = Message::decode(&line[..end]);
                }
            }
        }
    }
}
