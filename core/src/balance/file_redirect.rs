//! The balancer's answers with `--verify-files`: a GET or HEAD is redirected only once a
//! [`PickRequest`] has found a server holding the current copy of its file.
//!
//! Answering takes two halves, with waiting for file checks between them (the shell's):
//!
//! 1. [`Redirect::file_request`] answers at once what is not to be redirected (other methods,
//!    a NUL in the path, as [`Redirect::answer`] does) and reads the client's reports: a live
//!    server named by [`UNREACHABLE_HEADER`] or [`MISSING_HEADER`] is avoided by this request
//!    ([`FileRequest::pick`]); a missing report also asks the shell to hand it to
//!    [`crate::balance::file_index::FileIndex::handle_missing_report`], which re-checks rather
//!    than believes it.
//! 2. Once the pick is decided, [`Redirect::answer_pick`] writes it: a redirect to the server
//!    or to the origin, the balancer's own 404 page when no server holds the file and there is
//!    no origin, 503 when none could be shown to hold it.

use crate::balance::file_pick::{PickRequest, PickStep};
use crate::balance::pool::{Ranking, ServerAddr};
use crate::balance::redirect::{
    answer_instead, answer_unavailable, reported_server, write_status, Answer, Redirect,
};
use crate::http::error_page::Method;
use crate::http::report::{MISSING_HEADER, UNREACHABLE_HEADER};
use crate::http::request::Request;
use crate::http::status::Status;
use std::time::SystemTime;

/// A GET or HEAD to redirect once a server holding its file is picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRequest<'r> {
    /// The request path: what the checks ask about and the redirect carries.
    pub path: &'r str,
    /// The query, carried over to the redirect.
    pub query: Option<&'r str>,
    /// A HEAD: the answer has no body.
    pub head_only: bool,
    /// The live server the client reported unreachable ([`UNREACHABLE_HEADER`]): avoided
    /// unless it is the only one left, and handed to the prober for a verification probe as
    /// [`Answer::unreachable`] says.
    pub unreachable: Option<usize>,
    /// The live server the client reported answering 404 or 410 ([`MISSING_HEADER`]):
    /// avoided, and to be handed to
    /// [`crate::balance::file_index::FileIndex::handle_missing_report`].
    pub missing: Option<usize>,
}

impl<'r> FileRequest<'r> {
    /// This request's pick, avoiding the servers the client reported: the one missing the
    /// file always, the unreachable one unless no other may be picked (as without file
    /// checks: the report is verified by a probe, not believed).
    pub fn pick(&self) -> PickRequest<'r> {
        let mut pick = PickRequest::new(self.path);
        if let Some(server) = self.missing {
            pick.avoid(server);
        }
        if let Some(server) = self.unreachable {
            pick.avoid_unless_alone(server);
        }
        pick
    }
}

impl Redirect {
    /// The first half of answering `request` with `--verify-files`: `Err` with the answer
    /// written into `out` when it is not to be redirected (as [`Redirect::answer`] answers
    /// other methods and a NUL in the path), else the request to pick a server for. Reports
    /// name servers of `ranking` (live ones) only.
    pub fn file_request<'r>(
        &self,
        request: &Request<'r>,
        keep_alive: bool,
        ranking: &Ranking,
        now: SystemTime,
        out: &mut Vec<u8>,
    ) -> Result<FileRequest<'r>, Answer> {
        let method = crate::http::error_page::allowed_method(request.method);
        if let Some(answer) = answer_instead(request, method, keep_alive, now, out) {
            return Err(answer);
        }
        Ok(FileRequest {
            path: request.path(),
            query: request.query(),
            head_only: method == Method::Head,
            unreachable: reported_server(request, UNREACHABLE_HEADER, ranking),
            missing: reported_server(request, MISSING_HEADER, ranking),
        })
    }

    /// The second half: write the answer `step` decided for `request` into `out`.
    /// - [`PickStep::Redirect`]: a redirect to that server of `ranking` (503 if it is not in
    ///   `ranking` any more);
    /// - [`PickStep::Origin`]: a redirect to `origin` + path (503 without an origin);
    /// - [`PickStep::NotFound`]: 404, the balancer's own error page;
    /// - [`PickStep::Unavailable`] (or [`PickStep::Wait`], which a caller should not hand in):
    ///   503 with `Retry-After`.
    ///
    /// [`Answer::unreachable`] is the request's unreachable report, for the prober.
    #[allow(clippy::too_many_arguments)]
    pub fn answer_pick(
        &self,
        step: PickStep,
        request: &FileRequest<'_>,
        ranking: &Ranking,
        origin: Option<&ServerAddr>,
        keep_alive: bool,
        now: SystemTime,
        out: &mut Vec<u8>,
    ) -> Answer {
        let none = |_| false;
        self.answer_pick_linked(step, request, ranking, none, origin, keep_alive, now, out)
    }

    /// [`Redirect::answer_pick`], naming in `Link: rel=duplicate` headers the other servers of
    /// `ranking` that `holds` (pool index: known to hold the current copy of the file).
    #[allow(clippy::too_many_arguments)]
    pub fn answer_pick_linked(
        &self,
        step: PickStep,
        request: &FileRequest<'_>,
        ranking: &Ranking,
        holds: impl Fn(usize) -> bool,
        origin: Option<&ServerAddr>,
        keep_alive: bool,
        now: SystemTime,
        out: &mut Vec<u8>,
    ) -> Answer {
        let (path, query, head_only) = (request.path, request.query, request.head_only);
        let target = match step {
            PickStep::Redirect(i) => ranking
                .table()
                .iter()
                .find(|r| r.index == i)
                .map(|r| (r.server.base_url(), Some(i))),
            PickStep::Origin => origin.map(|o| (o.base_url(), None)),
            PickStep::NotFound => {
                let answer = write_status(Status::NOT_FOUND, head_only, keep_alive, now, out);
                return Answer {
                    unreachable: request.unreachable,
                    ..answer
                };
            }
            PickStep::Unavailable | PickStep::Wait => None,
        };
        match target {
            Some((base_url, server)) => {
                let duplicates = ranking
                    .table()
                    .iter()
                    .filter(|r| Some(r.index) != server && holds(r.index))
                    .map(|r| r.server.base_url());
                let body = self.write_linked(
                    base_url, path, query, duplicates, head_only, keep_alive, now, out,
                );
                Answer {
                    status: self.status(),
                    keep_alive,
                    server,
                    unreachable: request.unreachable,
                    body_bytes: body as u64,
                }
            }
            None => answer_unavailable(
                self.retry_after(),
                head_only,
                keep_alive,
                request.unreachable,
                now,
                out,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::pool::{Policy, Pool};
    use crate::balance::verdict::Measurement;
    use crate::http::request::{Limits, RequestParser};
    use crate::http::Parsed;
    use std::time::Duration;

    fn ranking() -> Ranking {
        let servers = ["127.0.0.2:8001", "127.0.0.3:8002"]
            .map(|s| ServerAddr::parse(s).unwrap())
            .to_vec();
        let mut pool = Pool::new(servers);
        for i in 0..2 {
            let elapsed = Duration::from_millis(10 + i as u64);
            pool.record(i, Measurement { elapsed, bytes: 1 });
        }
        pool.ranking(Policy::Rank)
    }

    fn with_request<T>(head: &[u8], f: impl FnOnce(&Request<'_>) -> T) -> T {
        let mut parser = RequestParser::new(Limits::default());
        let Ok(Parsed::Complete { value, .. }) = parser.parse(head) else {
            panic!("bad request");
        };
        f(&value)
    }

    fn text(out: &[u8]) -> String {
        String::from_utf8_lossy(out).into_owned()
    }

    #[test]
    fn reports_of_live_servers_are_avoided_and_others_ignored() {
        let head = b"GET /a.bin?x HTTP/1.1\r\nHost: b\r\nRicochet-Missing: 127.0.0.3:8002\r\n\
                     Ricochet-Unreachable: 10.0.0.1:80\r\n\r\n";
        let request = with_request(head, |request| {
            let mut out = Vec::new();
            let r = Redirect::default().file_request(
                request,
                true,
                &ranking(),
                SystemTime::UNIX_EPOCH,
                &mut out,
            );
            assert!(out.is_empty());
            r.map(|r| {
                (
                    r.path.to_string(),
                    r.query.map(str::to_string),
                    r.head_only,
                    r.unreachable,
                    r.missing,
                )
            })
        });
        assert_eq!(
            request,
            Ok(("/a.bin".into(), Some("x".into()), false, None, Some(1)))
        );
    }

    #[test]
    fn other_methods_are_answered_at_once() {
        let head = b"DELETE /a.bin HTTP/1.1\r\nHost: b\r\n\r\n";
        let mut out = Vec::new();
        let answer = with_request(head, |request| {
            Redirect::default()
                .file_request(request, true, &ranking(), SystemTime::UNIX_EPOCH, &mut out)
                .map(|_| ())
        });
        assert_eq!(answer.map_err(|a| a.status), Err(405));
        assert!(text(&out).starts_with("HTTP/1.1 405"));
    }

    #[test]
    fn each_step_gets_its_answer() {
        let request = FileRequest {
            path: "/a b.bin",
            query: None,
            head_only: false,
            unreachable: None,
            missing: None,
        };
        let origin = ServerAddr::parse("https://origin.example/pub/").unwrap();
        let now = SystemTime::UNIX_EPOCH;
        let redirect = Redirect::default();
        let answer = |step, origin| {
            let mut out = Vec::new();
            let a = redirect.answer_pick(step, &request, &ranking(), origin, true, now, &mut out);
            (a.status, a.server, text(&out))
        };
        let (status, server, out) = answer(PickStep::Redirect(1), None);
        assert_eq!((status, server), (301, Some(1)));
        assert!(
            out.contains("\r\nLocation: http://127.0.0.3:8002/a%20b.bin\r\n"),
            "{out}"
        );
        let (status, server, out) = answer(PickStep::Origin, Some(&origin));
        assert_eq!((status, server), (301, None));
        assert!(
            out.contains("\r\nLocation: https://origin.example:443/pub/a%20b.bin\r\n"),
            "{out}"
        );
        assert_eq!(answer(PickStep::NotFound, None).0, 404);
        assert_eq!(answer(PickStep::Unavailable, None).0, 503);
        assert_eq!(answer(PickStep::Origin, None).0, 503);
    }
}
