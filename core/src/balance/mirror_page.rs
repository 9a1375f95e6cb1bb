//! `GET /PATH?mirrorlist` on the redirect port: every server, where it stands for this file,
//! its weight and share, and when it was last checked; as a plain HTML page (no script, no
//! external asset) or, for `Accept: application/json`, as JSON with the same facts.
//!
//! [`asked`] says whether a request wants the list; [`MirrorPage::answer`] writes it. Without
//! `--verify-files` there is no [`MirrorList`] and every server is "not checked".

use crate::balance::balancer::Snapshot;
use crate::balance::file_check::{FileHead, Presence};
use crate::balance::mirror_list::{CopyState, MirrorList};
use crate::balance::mirror_meta::FileMeta;
use crate::balance::pool::{Ranking, ServerAddr};
use crate::balance::probe::Health;
use crate::balance::redirect::{answer_page, html_escape, Answer};
use crate::http::digest::Digest;
use crate::http::error_page::Method;
use crate::http::request::Request;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The query that asks for the mirror list instead of a redirect.
pub const QUERY: &str = "mirrorlist";

/// How the mirror list is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A page for a browser.
    Html,
    /// `Accept: application/json`.
    Json,
}

/// A request for the mirror list: in which format, and whether for its head only (HEAD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asked {
    /// HTML or JSON.
    pub format: Format,
    /// The request was a HEAD: the answer's head only.
    pub head_only: bool,
}

/// Whether `request` asks for the mirror list of its path (a GET or HEAD with the query
/// [`QUERY`]), and how. Costs a comparison of the query on other requests.
pub fn asked(request: &Request<'_>) -> Option<Asked> {
    if request.query() != Some(QUERY) {
        return None;
    }
    let head_only = match crate::http::error_page::allowed_method(request.method) {
        Method::Get => false,
        Method::Head => true,
        _ => return None,
    };
    let json = request.header("accept").is_some_and(|accept| {
        accept
            .split(|&b| b == b',')
            .any(|item| item.trim_ascii().starts_with(b"application/json"))
    });
    let format = if json { Format::Json } else { Format::Html };
    Some(Asked { format, head_only })
}

/// What the mirror list of one path shows.
#[derive(Debug, Clone, Copy)]
pub struct MirrorPage<'a> {
    /// The path asked about.
    pub path: &'a str,
    /// Every configured server and its health.
    pub snapshot: &'a Snapshot,
    /// The ranking in force: weights and shares.
    pub ranking: &'a Ranking,
    /// What the file index knows (`None`: `--verify-files` is off).
    pub list: Option<&'a MirrorList>,
    /// The origin, if one is configured.
    pub origin: Option<&'a ServerAddr>,
    /// Now, on the clock the list's instants are on.
    pub now: Instant,
    /// Now, on the wall clock.
    pub wall: SystemTime,
}

/// One row: a server's facts for this path.
struct Row<'a> {
    name: &'a str,
    state: &'static str,
    label: String,
    head: Option<&'a FileHead>,
    weight: Option<f64>,
    share: Option<f64>,
    checked: Option<SystemTime>,
    checking: bool,
}

impl Row<'_> {
    /// The file's length and date from the last answer: none after a 404 or 410, whose length
    /// is its error page's.
    fn file(&self) -> Option<&FileHead> {
        self.head.filter(|_| self.state != "lacks")
    }
}

impl MirrorPage<'_> {
    /// Write the `200` answer in `format` into `out` (no body when `head_only`).
    pub fn answer(
        &self,
        format: Format,
        head_only: bool,
        keep_alive: bool,
        out: &mut Vec<u8>,
    ) -> Answer {
        let (body, content_type) = match format {
            Format::Html => (self.html(), "text/html; charset=utf-8"),
            Format::Json => (self.json().to_string(), "application/json"),
        };
        answer_page(
            body.as_bytes(),
            content_type,
            head_only,
            keep_alive,
            self.wall,
            out,
        )
    }

    /// The share of this file's redirects a ranked server gets: its weight over the weights of
    /// the ranked servers not known to lack the current copy (as the pick renormalises them);
    /// 0 for one known to lack it.
    fn file_share(&self, index: usize) -> Option<f64> {
        let excluded = |i: usize| {
            self.list
                .and_then(|l| l.servers.iter().find(|c| c.server == i))
                .is_some_and(|c| c.state.presence.is_not_current())
        };
        let row = self.ranking.table().iter().find(|r| r.index == index)?;
        if excluded(index) {
            return Some(0.0);
        }
        let total: f64 = self
            .ranking
            .table()
            .iter()
            .filter(|r| !excluded(r.index))
            .map(|r| r.weight)
            .sum();
        Some(if total > 0.0 { row.weight / total } else { 0.0 })
    }

    fn rows(&self) -> Vec<Row<'_>> {
        self.snapshot
            .servers
            .iter()
            .map(|s| {
                let ranked = self.ranking.table().iter().find(|r| r.index == s.index);
                let copy = self
                    .list
                    .and_then(|l| l.servers.iter().find(|c| c.server == s.index))
                    .map(|c| &c.state);
                let (state, label) = match (s.probe.health, copy) {
                    (Health::Removed | Health::Rechecking, _) => {
                        ("removed", "removed (failed its probe)".to_string())
                    }
                    (Health::Pending, _) => ("pending", "not probed yet".to_string()),
                    (Health::Live, None) => ("not_checked", "not checked".to_string()),
                    (Health::Live, Some(copy)) => describe(copy),
                };
                Row {
                    name: s.server.as_str(),
                    state,
                    label,
                    head: copy.and_then(|c| c.head.as_ref()),
                    weight: ranked.map(|r| r.weight),
                    share: self.file_share(s.index),
                    checked: copy.and_then(|c| c.checked).map(|at| self.wall_time(at)),
                    checking: copy.is_some_and(|c| c.checking),
                }
            })
            .collect()
    }

    fn origin_row(&self) -> Option<Row<'_>> {
        let origin = self.origin?;
        let copy = self.list.and_then(|l| l.origin.as_ref());
        let (state, label) = match copy {
            None => ("not_checked", "not checked".to_string()),
            Some(copy) => describe(copy),
        };
        Some(Row {
            name: origin.as_str(),
            state,
            label,
            head: copy.and_then(|c| c.head.as_ref()),
            weight: None,
            share: None,
            checked: copy.and_then(|c| c.checked).map(|at| self.wall_time(at)),
            checking: copy.is_some_and(|c| c.checking),
        })
    }

    /// The file's SHA-256 as the redirects carry it: the origin's, else (no origin) that of a
    /// server holding the current copy; in hexadecimal.
    fn sha256(&self) -> Option<String> {
        let list = self.list?;
        let digest = FileMeta::new(self.path, self.ranking, Some(list)).digest?;
        Some(hex(&digest))
    }

    fn wall_time(&self, at: Instant) -> SystemTime {
        self.wall - self.now.saturating_duration_since(at)
    }

    /// The list as JSON: `path`, `verify_files`, `origin` (or null) and `servers`, each with
    /// `server`, `state` (`has`, `lacks`, `other_version`, `unknown`, `checking`, `removed`,
    /// `pending`, `not_checked`), `label`, `status`, `length`, `last_modified` (Unix seconds),
    /// `weight`, `share`, `checked` (Unix seconds), `checking` and `sha256` (the digest its
    /// last answer gave, hexadecimal); and `sha256`, the file's digest as redirects carry it.
    pub fn json(&self) -> Value {
        let row = |r: &Row<'_>| {
            json!({
                "server": r.name,
                "state": r.state,
                "label": r.label,
                "status": r.head.map(|h| h.status.code()),
                "length": r.file().and_then(|h| h.length),
                "last_modified": r.file().and_then(|h| h.modified).map(unix_seconds),
                "weight": r.weight,
                "share": r.share,
                "checked": r.checked.map(unix_seconds),
                "checking": r.checking,
                "sha256": r.file().and_then(|h| h.digest.as_deref()).map(hex),
            })
        };
        json!({
            "path": self.path,
            "sha256": self.sha256(),
            "verify_files": self.list.is_some(),
            "origin": self.origin_row().as_ref().map(row),
            "servers": self.rows().iter().map(row).collect::<Vec<_>>(),
        })
    }

    /// The list as an HTML page: a table, no script.
    pub fn html(&self) -> String {
        let path = html_escape(self.path);
        let mut page = String::with_capacity(4096);
        let _ = write!(
            page,
            "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\">\
             <title>Mirrors of {path}</title>\n<style>body{{font-family:sans-serif}}\
             table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;\
             text-align:left}}.has{{background:#dfd}}.lacks,.other_version{{background:#fdd}}\
             .removed,.pending{{color:#888}}</style></head>\n<body>\n<h1>Mirrors of {path}</h1>\n"
        );
        if self.list.is_none() {
            page.push_str(
                "<p>This balancer does not check files (no --verify-files): every live server \
                 is assumed to hold every file.</p>\n",
            );
        }
        if let Some(sha256) = self.sha256() {
            let _ = writeln!(page, "<p>SHA-256: <code>{sha256}</code></p>");
        }
        page.push_str(
            "<table>\n<tr><th>Server</th><th>This file</th><th>Length</th>\
             <th>Last-Modified</th><th>SHA-256</th><th>Weight</th><th>Share</th>\
             <th>Last checked</th></tr>\n",
        );
        let mut write_row = |r: &Row<'_>, role: &str| {
            let length = r.file().and_then(|h| h.length).map(|l| l.to_string());
            let modified = r.file().and_then(|h| h.modified);
            // The first 16 digits: enough to tell copies apart at a glance.
            let digest = r.file().and_then(|h| h.digest.as_deref()).map(hex);
            let digest = digest.as_deref().map_or("-", |d| &d[..16]);
            let _ = writeln!(
                page,
                "<tr class=\"{state}\"><td>{role}{name}</td><td>{label}{checking}</td>\
                 <td>{length}</td><td>{modified}</td><td><code>{digest}</code></td>\
                 <td>{weight}</td><td>{share}</td><td>{checked}</td></tr>",
                state = r.state,
                name = html_escape(r.name),
                label = html_escape(&r.label),
                checking = if r.checking { " (checking now)" } else { "" },
                length = length.as_deref().unwrap_or("-"),
                modified = modified.map_or("-".into(), crate::http::date::http_date),
                weight = r.weight.map_or("-".into(), |w| format!("{w:.2}")),
                share = r.share.map_or("-".into(), |s| format!("{:.1}%", s * 100.0)),
                checked = r.checked.map_or("never".into(), |t| self.ago(t)),
            );
        };
        if let Some(origin) = self.origin_row() {
            write_row(&origin, "origin: ");
        }
        for row in self.rows() {
            write_row(&row, "");
        }
        let _ = write!(
            page,
            "</table>\n<p>As of {}.</p>\n</body>\n</html>\n",
            crate::http::date::http_date(self.wall)
        );
        page
    }

    fn ago(&self, t: SystemTime) -> String {
        let secs = self.wall.duration_since(t).map_or(0, |d| d.as_secs());
        format!("{} ({secs} s ago)", crate::http::date::http_date(t))
    }
}

/// The state key and label of a checked copy.
fn describe(copy: &CopyState) -> (&'static str, String) {
    match copy.presence {
        Presence::Has => ("has", "has it".to_string()),
        Presence::Lacks(status) => (
            "lacks",
            format!("lacks it ({} {})", status.code(), status.reason()),
        ),
        Presence::OtherVersion { length, modified } => {
            let length = length.map_or("no length".into(), |l| format!("{l} bytes"));
            let date = modified.map_or("no date".into(), crate::http::date::http_date);
            ("other_version", format!("other version ({length}, {date})"))
        }
        Presence::Unknown if copy.checking => ("checking", "checking".to_string()),
        Presence::Unknown => match (copy.failure, copy.checked) {
            (Some(failure), _) => ("unknown", format!("unknown ({failure})")),
            (None, Some(_)) => ("unknown", "unknown (answer expired)".to_string()),
            (None, None) => ("unknown", "not checked yet".to_string()),
        },
    }
}

fn hex(digest: &Digest) -> String {
    let mut hex = Vec::with_capacity(2 * digest.as_bytes().len());
    digest.write_hex(&mut hex);
    String::from_utf8_lossy(&hex).into_owned()
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::{Limits, RequestParser};
    use crate::http::Parsed;

    fn asked_by(head: &[u8]) -> Option<Format> {
        let mut parser = RequestParser::new(Limits::default());
        let Ok(Parsed::Complete { value, .. }) = parser.parse(head) else {
            panic!("bad request");
        };
        let asked = asked(&value)?;
        let head = value.method == "HEAD";
        assert_eq!(asked.head_only, head, "head-only for a HEAD and only then");
        Some(asked.format)
    }

    #[test]
    fn the_query_asks_for_the_list_and_accept_picks_the_format() {
        assert_eq!(
            asked_by(b"GET /a.bin?mirrorlist HTTP/1.1\r\nHost: b\r\n\r\n"),
            Some(Format::Html)
        );
        assert_eq!(
            asked_by(
                b"HEAD /a.bin?mirrorlist HTTP/1.1\r\nHost: b\r\n\
                  Accept: text/plain, application/json;q=0.9\r\n\r\n"
            ),
            Some(Format::Json)
        );
        assert_eq!(
            asked_by(b"GET /a.bin?mirrorlist=1 HTTP/1.1\r\nHost: b\r\n\r\n"),
            None
        );
        assert_eq!(asked_by(b"GET /a.bin HTTP/1.1\r\nHost: b\r\n\r\n"), None);
        assert_eq!(
            asked_by(b"POST /a.bin?mirrorlist HTTP/1.1\r\nHost: b\r\n\r\n"),
            None
        );
    }
}
