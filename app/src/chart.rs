//! Charts drawn on the server as SVG, so they read without JavaScript: the held-out loss of a task's
//! submissions (bars, the best one marked) and a miner's points over time (a line). The geometry is
//! plain functions, tested here; the components only turn it into elements.

use leptos::prelude::*;

/// The drawing area, in SVG user units; the chart scales to its container's width.
const WIDTH: f64 = 640.0;
/// Room on the left for a bar's label (a miner's hotkey, shortened).
const LABEL: f64 = 150.0;
const BAR: f64 = 22.0;
const GAP: f64 = 8.0;
const LINE_HEIGHT: f64 = 220.0;
const MARGIN: f64 = 30.0;

/// One bar: its label, its value (`None` when there is none, e.g. a failed evaluation) and the
/// length it is drawn at.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: Option<f64>,
    pub length: f64,
    pub best: bool,
}

/// Bars for `values`, as long as their value relative to the largest; the smallest value is the best
/// (a loss). Bars without a value have no length.
pub fn loss_bars(values: &[(String, Option<f64>)]) -> Vec<Bar> {
    let finite = values
        .iter()
        .filter_map(|(_, v)| *v)
        .filter(|v| v.is_finite());
    let max = finite.clone().fold(0.0_f64, f64::max);
    let best = finite.fold(f64::INFINITY, f64::min);
    values
        .iter()
        .map(|(label, value)| {
            let value = value.filter(|v| v.is_finite());
            Bar {
                label: label.clone(),
                value,
                length: match value {
                    Some(v) if max > 0.0 => (v.max(0.0) / max) * (WIDTH - LABEL - 60.0),
                    _ => 0.0,
                },
                best: value == Some(best),
            }
        })
        .collect()
}

/// Points of a line through `series` (time, value), scaled into the chart's area, oldest left; with
/// the value range drawn, always including zero.
pub fn line_points(series: &[(i64, i64)]) -> (Vec<(f64, f64)>, i64, i64) {
    let (Some(first), Some(last)) = (
        series.iter().map(|(t, _)| *t).min(),
        series.iter().map(|(t, _)| *t).max(),
    ) else {
        return (Vec::new(), 0, 0);
    };
    let low = series.iter().map(|(_, v)| *v).min().unwrap_or(0).min(0);
    let high = series.iter().map(|(_, v)| *v).max().unwrap_or(0).max(0);
    let span_t = (last - first).max(1) as f64;
    let span_v = (high - low).max(1) as f64;
    let points = series
        .iter()
        .map(|(t, v)| {
            let x = MARGIN + (*t - first) as f64 / span_t * (WIDTH - 2.0 * MARGIN);
            let y = MARGIN + (high - *v) as f64 / span_v * (LINE_HEIGHT - 2.0 * MARGIN);
            (x, y)
        })
        .collect();
    (points, low, high)
}

/// A running total of `scores` (time, points), oldest first: the miner's points as they stood after
/// each score.
pub fn running_total(scores: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut sorted = scores.to_vec();
    sorted.sort_by_key(|(at, _)| *at);
    let mut total = 0;
    sorted
        .into_iter()
        .map(|(at, points)| {
            total += points;
            (at, total)
        })
        .collect()
}

fn shorten(label: &str) -> String {
    if label.chars().count() <= 16 {
        label.to_string()
    } else {
        let head: String = label.chars().take(7).collect();
        let tail: String = label.chars().skip(label.chars().count() - 6).collect();
        format!("{head}…{tail}")
    }
}

/// Each submission's held-out loss as a bar; the lowest is the winner's. `values` is (miner, loss).
#[component]
pub fn LossChart(values: Vec<(String, Option<f64>)>, caption: String) -> impl IntoView {
    let bars = loss_bars(&values);
    let height = MARGIN + bars.len() as f64 * (BAR + GAP);
    let drawn = bars
        .into_iter()
        .enumerate()
        .map(|(i, bar)| {
            let y = MARGIN / 2.0 + i as f64 * (BAR + GAP);
            let text = bar
                .value
                .map_or_else(|| "no score".to_string(), |v| format!("{v:.4}"));
            let class = if bar.best { "bar best" } else { "bar" };
            view! {
                <g data-test="chart-bar">
                    <title>{format!("{}: {text}", bar.label)}</title>
                    <text x=LABEL - 8.0 y=y + BAR * 0.7 text-anchor="end" class="chart-label">{shorten(&bar.label)}</text>
                    <rect x=LABEL y=y width=bar.length.max(1.0) height=BAR class=class></rect>
                    <text x=LABEL + bar.length + 6.0 y=y + BAR * 0.7 class="chart-value">{text}</text>
                </g>
            }
        })
        .collect_view();
    view! {
        <figure class="chart">
            <svg viewBox=format!("0 0 {WIDTH} {height}") role="img" aria-label=caption.clone() data-test="loss-chart">
                {drawn}
            </svg>
            <figcaption>{caption}</figcaption>
        </figure>
    }
}

/// A line of points over time; `series` is (time in ms, value).
#[component]
pub fn PointsChart(series: Vec<(i64, i64)>, caption: String) -> impl IntoView {
    let (points, low, high) = line_points(&series);
    let path = points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect::<Vec<_>>()
        .join(" ");
    let zero_y = MARGIN + high as f64 / (high - low).max(1) as f64 * (LINE_HEIGHT - 2.0 * MARGIN);
    let dots = points
        .iter()
        .zip(&series)
        .map(|((x, y), (at, value))| {
            view! {
                <circle cx=*x cy=*y r="3" class="dot"><title>{format!("{value:+} after {}", crate::time::format_utc(*at))}</title></circle>
            }
        })
        .collect_view();
    view! {
        <figure class="chart">
            <svg viewBox=format!("0 0 {WIDTH} {LINE_HEIGHT}") role="img" aria-label=caption.clone() data-test="points-chart">
                <line x1=MARGIN x2=WIDTH - MARGIN y1=zero_y y2=zero_y class="axis"></line>
                <text x="2" y=MARGIN class="chart-label">{format!("{high:+}")}</text>
                <text x="2" y=LINE_HEIGHT - MARGIN class="chart-label">{format!("{low:+}")}</text>
                <polyline points=path class="line"></polyline>
                {dots}
            </svg>
            <figcaption>{caption}</figcaption>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_as_long_as_their_loss_and_the_lowest_is_marked_best() {
        let bars = loss_bars(&[
            ("a".into(), Some(2.0)),
            ("b".into(), Some(1.0)),
            ("c".into(), None),
        ]);
        assert!((bars[0].length - 2.0 * bars[1].length).abs() < 1e-9);
        assert!(bars[1].best && !bars[0].best && !bars[2].best);
        assert_eq!(bars[2].length, 0.0, "a failed evaluation has no bar");
    }

    #[test]
    fn a_line_runs_oldest_left_and_higher_points_up() {
        let (points, low, high) = line_points(&[(1_000, 3), (3_000, -1), (2_000, 0)]);
        assert_eq!((low, high), (-1, 3));
        assert!(points[0].0 < points[2].0 && points[2].0 < points[1].0);
        assert!(
            points[0].1 < points[2].1 && points[2].1 < points[1].1,
            "3 above 0 above -1"
        );
        assert!(line_points(&[]).0.is_empty());
    }

    #[test]
    fn the_running_total_adds_scores_in_time_order() {
        assert_eq!(
            running_total(&[(30, -1), (10, 3), (20, 0)]),
            [(10, 3), (20, 3), (30, 2)]
        );
    }

    #[test]
    fn long_hotkeys_are_shortened_at_both_ends() {
        assert_eq!(
            shorten("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"),
            "5GrwvaE…GKutQY"
        );
        assert_eq!(shorten("short"), "short");
    }
}
