//! Durations on the command line: `30s`, `500ms`, `2m`, or a bare number of seconds.

use std::time::Duration;

/// Parse `500ms`, `30s`, `2m`, `1.5s` or a bare number of seconds (`10`, `0.25`).
/// For argh's `from_str_fn`.
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    let (number, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("'{input}' is not a duration (examples: 500ms, 30s, 2m)"))?;
    if !value.is_finite() || value < 0.0 || value * scale > 1.0e9 {
        return Err(format!("'{input}' is not a sensible duration"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_units_and_bare_seconds() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn rejects_garbage_and_negatives() {
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("nan").is_err());
    }
}
