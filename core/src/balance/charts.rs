//! The admin page's small inline SVG charts: a server's expected share of the redirects beside
//! the share it got, and its recent probe times. Plain SVG elements inside the HTML: no script,
//! no other request; each has a `<title>` that says in words what it draws (a tooltip, and what
//! a screen reader reads).

use crate::balance::pool::format_duration;
use std::fmt::Write as _;
use std::time::Duration;

/// Width of every chart, in CSS pixels: small enough to sit in a table cell.
pub const WIDTH: f64 = 160.0;

/// Colour of the expected share, and of the probe-time line.
pub(crate) const EXPECTED: &str = "#4a78b0";
/// Colour of the share actually got.
pub(crate) const ACTUAL: &str = "#e08a1e";
/// Colour of a failed probe's mark.
const FAILED: &str = "#c0201e";

/// Two horizontal bars on a common 0-100 % scale: `expected` (the share of the redirects the
/// ranking gives the server, top, `class="expected"`) and `actual` (the share of the redirects
/// it got, bottom, `class="actual"`). A missing share draws no bar; its track stays.
pub fn share_bars(expected: Option<f64>, actual: Option<f64>) -> String {
    let percent = |x: Option<f64>| x.map_or("none".to_string(), |x| format!("{:.1}%", x * 100.0));
    let title = format!(
        "expected share {}, got {} of the redirects",
        percent(expected),
        percent(actual)
    );
    let mut svg = format!(
        "<svg class=\"shares\" width=\"{WIDTH}\" height=\"18\" viewBox=\"0 0 {WIDTH} 18\" \
         role=\"img\"><title>{title}</title>"
    );
    for (class, share, y, colour) in [
        ("expected", expected, 1, EXPECTED),
        ("actual", actual, 10, ACTUAL),
    ] {
        let _ = write!(
            svg,
            "<rect class=\"track\" x=\"0\" y=\"{y}\" width=\"{WIDTH}\" height=\"7\" \
             fill=\"#eee\"/>"
        );
        if let Some(share) = share {
            let width = share.clamp(0.0, 1.0) * WIDTH;
            let _ = write!(
                svg,
                "<rect class=\"{class}\" x=\"0\" y=\"{y}\" width=\"{width:.1}\" height=\"7\" \
                 fill=\"{colour}\"/>"
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Height of the sparkline, in CSS pixels.
const SPARK_HEIGHT: f64 = 24.0;

/// A sparkline of `probes`, oldest first: a probe's time, or `None` for a failed one. One
/// point of the polyline per probe, `slots` points' spacing across the chart, the newest at
/// the right edge; heights scaled to the slowest probe (the top); a failed probe is drawn at
/// the top and marked with a red dot (`class="failed"`), the newest probe with a dot too
/// (`class="latest"`). `None` when there is no probe to draw.
pub fn probe_sparkline(probes: &[Option<Duration>], slots: usize) -> Option<String> {
    let newest = probes.last()?;
    let slowest = probes.iter().flatten().max().copied();
    let failed = probes.iter().filter(|p| p.is_none()).count();
    let mut title = match probes.len() {
        1 => "1 probe".to_string(),
        n => format!("last {n} probes"),
    };
    match (probes.iter().flatten().min(), slowest) {
        (Some(fastest), Some(slowest)) if *fastest < slowest => {
            let _ = write!(
                title,
                ": {} to {}",
                format_duration(*fastest),
                format_duration(slowest)
            );
        }
        _ => {}
    }
    let _ = write!(
        title,
        ", latest {}",
        newest.map_or("failed".to_string(), format_duration)
    );
    if failed > 0 {
        let _ = write!(title, "; {failed} failed");
    }
    // Two pixels of margin keep the dots inside the box.
    let step = (WIDTH - 4.0) / (slots.max(probes.len()).max(2) - 1) as f64;
    let first = WIDTH - 2.0 - step * (probes.len() - 1) as f64;
    let points: Vec<(f64, f64)> = probes
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let x = first + step * i as f64;
            let height = match (p, slowest) {
                (Some(t), Some(slowest)) if !slowest.is_zero() => {
                    t.as_secs_f64() / slowest.as_secs_f64()
                }
                (Some(_), _) => 0.0,
                (None, _) => 1.0,
            };
            (x, SPARK_HEIGHT - 2.0 - height * (SPARK_HEIGHT - 4.0))
        })
        .collect();
    let mut svg = format!(
        "<svg class=\"probes\" width=\"{WIDTH}\" height=\"{SPARK_HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {SPARK_HEIGHT}\" role=\"img\"><title>{title}</title>\
         <polyline fill=\"none\" stroke=\"{EXPECTED}\" stroke-width=\"1.5\" \
         stroke-linejoin=\"round\" points=\""
    );
    let coordinates: Vec<String> = points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect();
    svg.push_str(&coordinates.join(" "));
    svg.push_str("\"/>");
    for (p, (x, y)) in probes.iter().zip(&points) {
        if p.is_none() {
            let _ = write!(
                svg,
                "<circle class=\"failed\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"2.5\" fill=\"{FAILED}\"/>"
            );
        }
    }
    if let (Some((x, y)), Some(_)) = (points.last(), newest) {
        let _ = write!(
            svg,
            "<circle class=\"latest\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"2\" fill=\"{EXPECTED}\"/>"
        );
    }
    svg.push_str("</svg>");
    Some(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_as_wide_as_their_share() {
        let svg = share_bars(Some(0.5), Some(0.25));
        assert!(
            svg.contains("class=\"expected\" x=\"0\" y=\"1\" width=\"80.0\""),
            "{svg}"
        );
        assert!(
            svg.contains("class=\"actual\" x=\"0\" y=\"10\" width=\"40.0\""),
            "{svg}"
        );
        assert!(svg.contains("<title>expected share 50.0%, got 25.0% of the redirects</title>"));
        let none = share_bars(None, None);
        assert!(!none.contains("class=\"expected\"") && !none.contains("class=\"actual\""));
        assert_eq!(none.matches("class=\"track\"").count(), 2);
    }

    #[test]
    fn the_slowest_probe_is_at_the_top_and_a_failure_marked() {
        let ms = |n| Some(Duration::from_millis(n));
        let svg = probe_sparkline(&[ms(10), ms(20), None], 3).unwrap();
        // x: 2, 80, 158; y: 24 - 2 - h * 20 with h = 0.5, 1, 1 (failed at the top).
        assert!(
            svg.contains("points=\"2.0,12.0 80.0,2.0 158.0,2.0\""),
            "{svg}"
        );
        assert!(
            svg.contains("<circle class=\"failed\" cx=\"158.0\" cy=\"2.0\""),
            "{svg}"
        );
        assert!(
            !svg.contains("class=\"latest\""),
            "the newest failed: {svg}"
        );
        assert!(
            svg.contains(
                "<title>last 3 probes: 10.0 ms to 20.0 ms, latest failed; 1 failed</title>"
            ),
            "{svg}"
        );
        assert_eq!(probe_sparkline(&[], 20), None);
    }
}
