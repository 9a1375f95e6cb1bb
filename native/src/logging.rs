//! Logging setup shared by every binary: `log` macros, printed by femme.
//!
//! The level comes from the `RICOCHET_LOG` environment variable (`off`, `error`, `warn`, `info`,
//! `debug`, `trace`; default `info`). femme prints to stdout: human-readable in debug builds,
//! one JSON object per line (ndjson) in release builds.

use log::LevelFilter;

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
    femme::with_level(level.unwrap_or(LevelFilter::Info));
    if level.is_none() {
        log::warn!(
            "{LEVEL_VAR}={:?} is not a log level (off, error, warn, info, debug, trace); using info",
            raw.unwrap_or_default()
        );
    }
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
}
