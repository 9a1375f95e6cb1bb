//! Logging setup shared by every binary: the `log` macros, printed to stderr by a small logger
//! of our own.
//!
//! The level comes from the `RICOCHET_LOG` environment variable (`off`, `error`, `warn`, `info`,
//! `debug`, `trace`; default `info`). On a terminal each record is one human-readable line
//! (`12:04:05.123 INFO  server: ...`); otherwise it is one JSON object per line (ndjson:
//! `{"time":1764130000123,"level":"info","target":"ricochet::server","msg":"..."}`, time in
//! milliseconds since the Unix epoch), for log collectors.
//!
//! Why not femme, which the project first chose: femme 2 writes to stdout (where the binaries
//! print `listening on ...` and the client prints response heads), panics when stdout is
//! closed, and picks its format by build profile rather than by terminal. Records go to stderr
//! here, a failed write is ignored, and the format follows the terminal.

use log::{LevelFilter, Log, Metadata, Record};
use std::io::{IsTerminal, Write};
use std::time::{SystemTime, UNIX_EPOCH};

/// The environment variable that sets the log level.
pub const LEVEL_VAR: &str = "RICOCHET_LOG";

/// The level `RICOCHET_LOG` asks for: `None` when it names no level. Unset means `info`.
pub fn level_from(value: Option<&str>) -> Option<LevelFilter> {
    match value {
        None => Some(LevelFilter::Info),
        Some(v) => v.trim().parse().ok(),
    }
}

/// Start logging at the level `RICOCHET_LOG` names (an unknown value falls back to `info`, with a
/// warning). Call once, first thing in `main`.
pub fn init() {
    let raw = std::env::var(LEVEL_VAR).ok();
    let level = level_from(raw.as_deref());
    let logger = StderrLogger {
        human: std::io::stderr().is_terminal(),
    };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(level.unwrap_or(LevelFilter::Info));
    }
    if level.is_none() {
        log::warn!(
            "{LEVEL_VAR}={:?} is not a log level (off, error, warn, info, debug, trace); using info",
            raw.unwrap_or_default()
        );
    }
}

struct StderrLogger {
    human: bool,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let line = if self.human {
            human_line(millis, record)
        } else {
            json_line(millis, record)
        };
        // One write per record so lines from different threads never interleave; a closed or
        // full stderr must not take the server down, so the result is ignored.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

fn human_line(millis: u128, record: &Record<'_>) -> String {
    let day_ms = (millis % 86_400_000) as u64;
    let (h, m, s, ms) = (
        day_ms / 3_600_000,
        day_ms / 60_000 % 60,
        day_ms / 1000 % 60,
        day_ms % 1000,
    );
    let target = record.target();
    let short = target.strip_prefix("ricochet::").unwrap_or(target);
    format!(
        "{h:02}:{m:02}:{s:02}.{ms:03} {:<5} {short}: {}\n",
        record.level(),
        record.args()
    )
}

fn json_line(millis: u128, record: &Record<'_>) -> String {
    let mut line = format!(
        "{{\"time\":{millis},\"level\":\"{}\",\"target\":",
        record.level().as_str().to_ascii_lowercase()
    );
    push_json_string(&mut line, record.target());
    line.push_str(",\"msg\":");
    push_json_string(&mut line, &record.args().to_string());
    line.push_str("}\n");
    line
}

/// Append `s` as a JSON string literal (RFC 8259 escaping).
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_defaults_to_info_and_parses_names() {
        assert_eq!(level_from(None), Some(LevelFilter::Info));
        assert_eq!(level_from(Some("warn")), Some(LevelFilter::Warn));
        assert_eq!(level_from(Some("DEBUG")), Some(LevelFilter::Debug));
        assert_eq!(level_from(Some("off")), Some(LevelFilter::Off));
        assert_eq!(level_from(Some("loud")), None);
    }

    #[test]
    fn json_lines_escape_what_json_requires() {
        let line = json_line(
            1_700_000_000_123,
            &Record::builder()
                .level(log::Level::Warn)
                .target("ricochet::server")
                .args(format_args!("a \"quoted\" \\ path\nnext\u{1}"))
                .build(),
        );
        assert_eq!(
            line,
            "{\"time\":1700000000123,\"level\":\"warn\",\"target\":\"ricochet::server\",\
             \"msg\":\"a \\\"quoted\\\" \\\\ path\\nnext\\u0001\"}\n"
        );
    }

    #[test]
    fn human_lines_show_the_time_of_day_and_level() {
        let line = human_line(
            // 1970-01-02 03:04:05.006 UTC
            86_400_000 + 3 * 3_600_000 + 4 * 60_000 + 5_006,
            &Record::builder()
                .level(log::Level::Info)
                .target("ricochet::balancer")
                .args(format_args!("ranking"))
                .build(),
        );
        assert_eq!(line, "03:04:05.006 INFO  balancer: ranking\n");
    }
}
