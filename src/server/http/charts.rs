//! Charts as SVG, drawn by plotters on the server for the dark theme, and cached per target,
//! signal, range and tick so that many screens showing one chart cost one render.
use crate::domain::series::{SeriesPoint, TimeRange};
use chrono::{DateTime, Utc};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::collections::HashMap;
use std::sync::Mutex;

/// Where a chart is shown, which sets its size and its text: a wall screen's charts are read
/// from across a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Frame {
    #[default]
    Page,
    Wall,
}

/// A frame's canvas and type sizes, in SVG pixels.
struct Sizes {
    width: u32,
    height: u32,
    caption: u32,
    label: u32,
    legend: u32,
    marker: u32,
    x_area: u32,
    y_area: u32,
    x_labels: usize,
    y_labels: usize,
}

impl Frame {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "page" => Some(Self::Page),
            "wall" => Some(Self::Wall),
            _ => None,
        }
    }

    /// A wall shows four charts across 1920 pixels, each about 424 wide: at that scale its
    /// smallest text is 21 pixels on the screen, and the charts are no taller than a page's
    /// at that width, so a large fleet's cells still fit below them. Sizes are plotters' font sizes, which it
    /// writes into the SVG divided by 1.24.
    fn sizes(self) -> Sizes {
        match self {
            Self::Page => Sizes {
                width: 640,
                height: 260,
                caption: 21,
                label: 16,
                legend: 16,
                marker: 14,
                x_area: 28,
                y_area: 56,
                x_labels: 6,
                y_labels: 5,
            },
            Self::Wall => Sizes {
                width: 440,
                height: 190,
                caption: 30,
                label: 28,
                legend: 28,
                marker: 28,
                x_area: 36,
                y_area: 76,
                x_labels: 4,
                y_labels: 3,
            },
        }
    }
}
const BACKGROUND: RGBColor = RGBColor(0x15, 0x1a, 0x20);
const GRID: RGBColor = RGBColor(0x2a, 0x32, 0x3c);
const TEXT: RGBColor = RGBColor(0xd8, 0xe0, 0xe8);
const MARKER: RGBColor = RGBColor(0xc0, 0x8c, 0xff);
const PALETTE: [RGBColor; 4] = [
    RGBColor(0x5c, 0xc8, 0xff),
    RGBColor(0xff, 0xb0, 0x20),
    RGBColor(0xff, 0x4d, 0x5e),
    RGBColor(0x2f, 0xd3, 0x7a),
];

/// Reads one line's value from a point.
type ReadValue = fn(&SeriesPoint) -> Option<f64>;

/// The golden-signal charts a server page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Chart {
    Latency,
    Traffic,
    Errors,
    Saturation,
    Memory,
    Usage,
    Quota,
}

impl Chart {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "latency" => Some(Self::Latency),
            "traffic" => Some(Self::Traffic),
            "errors" => Some(Self::Errors),
            "saturation" => Some(Self::Saturation),
            "memory" => Some(Self::Memory),
            "usage" => Some(Self::Usage),
            "quota" => Some(Self::Quota),
            _ => None,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::Latency => "Latency (ms)",
            Self::Traffic => "Traffic (requests/s)",
            Self::Errors => "Errors (% of requests)",
            Self::Saturation => "Saturation (connections, CPU %)",
            Self::Memory => "Resident memory (MB)",
            Self::Usage => "Usage (tools/s, resources/s, sessions)",
            Self::Quota => "API quota remaining",
        }
    }

    /// The lines drawn in `frame`. A wall has room for the lines a room reads, p95 rather than
    /// every quantile, with their legends cut to the words before a comma.
    fn lines_for(self, frame: Frame) -> Vec<Line> {
        let lines = self.lines();
        match frame {
            Frame::Page => lines,
            Frame::Wall => lines
                .into_iter()
                .filter(|line| {
                    let detail = line.source == Source::MeasuredDetail;
                    let other_quantile =
                        self == Self::Latency && matches!(line.label, "p50" | "p99");
                    !(detail || other_quantile)
                })
                .map(|line| Line {
                    label: line.label.split(',').next().unwrap_or(line.label),
                    ..line
                })
                .collect(),
        }
    }

    /// Each line: its legend, how to read it from a point, and where its figures come from.
    fn lines(self) -> Vec<Line> {
        use Source::{Measured, MeasuredDetail, Metrics};
        let line = |label, read: ReadValue, source| Line {
            label,
            read,
            source,
        };
        match self {
            Self::Latency => vec![
                line("p50", |p| p.p50.map(|s| s * 1000.0), Metrics),
                line("p95", |p| p.p95.map(|s| s * 1000.0), Metrics),
                line("p99", |p| p.p99.map(|s| s * 1000.0), Metrics),
                line(
                    "MCP probe p50, measured by mcpops",
                    |p| p.probe_p50,
                    MeasuredDetail,
                ),
                line(
                    "MCP probe p95, measured by mcpops",
                    |p| p.probe_p95,
                    Measured,
                ),
                line(
                    "MCP probe p99, measured by mcpops",
                    |p| p.probe_p99,
                    MeasuredDetail,
                ),
            ],
            Self::Traffic => vec![line("requests/s", |p| p.rps, Metrics)],
            Self::Errors => vec![
                line("errors %", |p| p.error_ratio.map(|r| r * 100.0), Metrics),
                line(
                    "polls down %, measured by mcpops",
                    |p| p.polls_down_ratio.map(|r| r * 100.0),
                    Measured,
                ),
            ],
            Self::Saturation => vec![
                line("connections", |p| p.active_connections, Metrics),
                line("CPU %", |p| p.cpu_cores.map(|c| c * 100.0), Metrics),
            ],
            Self::Memory => vec![line(
                "resident MB",
                |p| p.memory_bytes.map(|b| b / 1e6),
                Metrics,
            )],
            Self::Usage => vec![
                line("tools executed/s", |p| p.tools_per_sec, Metrics),
                line("resources accessed/s", |p| p.resources_per_sec, Metrics),
                line("active sessions", |p| p.sessions_active, Metrics),
            ],
            Self::Quota => vec![line("quota remaining", |p| p.quota_remaining, Metrics)],
        }
    }
}

struct Line {
    label: &'static str,
    read: ReadValue,
    source: Source,
}

/// Where a line's figures come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The server's own `/metrics`.
    Metrics,
    /// mcpops' probes, drawn always.
    Measured,
    /// mcpops' probes, drawn only when the server exports no metrics of its own: beside the
    /// server's quantiles, the probe's p95 is enough.
    MeasuredDetail,
}

#[derive(Debug, thiserror::Error)]
#[error("chart drawing failed: {0}")]
pub struct ChartError(String);

fn fail<E: std::fmt::Debug>(err: E) -> ChartError {
    ChartError(format!("{err:?}"))
}

/// A moment drawn across a chart as a dashed line with a label: a deploy.
pub struct Marker {
    pub at: DateTime<Utc>,
    pub label: String,
}

pub fn render(
    chart: Chart,
    frame: Frame,
    points: &[SeriesPoint],
    markers: &[Marker],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<String, ChartError> {
    let span = (to - from).num_seconds().max(1) as f64;
    let all = chart.lines_for(frame);
    let lines: Vec<(&Line, Vec<(f64, f64)>)> = all
        .iter()
        .map(|line| {
            let xy: Vec<(f64, f64)> = points
                .iter()
                .filter_map(|p| {
                    (line.read)(p)
                        .filter(|v| v.is_finite())
                        .map(|v| ((p.at - from).num_seconds() as f64, v))
                })
                .collect();
            (line, xy)
        })
        .collect();
    // The legend names what is drawn: lines without data stay out, and the probe's detail
    // only where the server has no metrics of its own.
    let has_metrics = lines
        .iter()
        .any(|(line, xy)| !xy.is_empty() && line.source == Source::Metrics);
    let lines: Vec<(&str, Vec<(f64, f64)>)> = if lines.iter().any(|(_, xy)| !xy.is_empty()) {
        lines
            .into_iter()
            .filter(|(line, xy)| {
                let detail_beside_metrics = has_metrics && line.source == Source::MeasuredDetail;
                !xy.is_empty() && !detail_beside_metrics
            })
            .map(|(line, xy)| (line.label, xy))
            .collect()
    } else {
        lines
            .into_iter()
            .map(|(line, xy)| (line.label, xy))
            .collect()
    };
    let top = lines
        .iter()
        .flat_map(|(_, xy)| xy.iter().map(|(_, y)| *y))
        .fold(0.0_f64, f64::max);
    let top = if top > 0.0 { top * 1.15 } else { 1.0 };
    let long = span > 2.0 * 86_400.0;

    let mut svg = String::new();
    {
        let size = frame.sizes();
        let root = SVGBackend::with_string(&mut svg, (size.width, size.height)).into_drawing_area();
        root.fill(&BACKGROUND).map_err(fail)?;
        let mut plot = ChartBuilder::on(&root)
            .caption(
                chart.title(),
                ("sans-serif", size.caption).into_font().color(&TEXT),
            )
            .margin(12)
            .x_label_area_size(size.x_area)
            .y_label_area_size(size.y_area)
            .build_cartesian_2d(0.0..span, 0.0..top)
            .map_err(fail)?;
        plot.configure_mesh()
            .bold_line_style(GRID)
            .light_line_style(BACKGROUND)
            .axis_style(GRID)
            .label_style(("sans-serif", size.label).into_font().color(&TEXT))
            .x_labels(size.x_labels)
            .y_labels(size.y_labels)
            .x_label_formatter(&|x| {
                let at = from + chrono::Duration::seconds(*x as i64);
                if long {
                    at.format("%d %b").to_string()
                } else {
                    at.format("%H:%M").to_string()
                }
            })
            .y_label_formatter(&|y| compact(*y))
            .draw()
            .map_err(fail)?;
        for (index, (label, xy)) in lines.into_iter().enumerate() {
            let color = PALETTE[index % PALETTE.len()];
            plot.draw_series(LineSeries::new(xy, color.stroke_width(2)))
                .map_err(fail)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(3))
                });
        }
        for marker in markers {
            let x = (marker.at - from).num_seconds() as f64;
            if !(0.0..=span).contains(&x) {
                continue;
            }
            let dashes = (0..20).map(|i| {
                let (a, b) = (top * f64::from(i) / 20.0, top * (f64::from(i) + 0.5) / 20.0);
                PathElement::new(vec![(x, a), (x, b)], MARKER.stroke_width(2))
            });
            plot.draw_series(dashes).map_err(fail)?;
            let label: String = marker.label.chars().take(24).collect();
            // Labels in the right half read leftwards, so they stay inside the chart.
            let anchor = if x > span / 2.0 {
                Pos::new(HPos::Right, VPos::Top)
            } else {
                Pos::new(HPos::Left, VPos::Top)
            };
            plot.draw_series(std::iter::once(Text::new(
                format!("deploy {label}"),
                (x, top * 0.97),
                ("sans-serif", size.marker)
                    .into_font()
                    .color(&MARKER)
                    .pos(anchor),
            )))
            .map_err(fail)?;
        }
        plot.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(BACKGROUND.mix(0.85))
            .border_style(GRID)
            .label_font(("sans-serif", size.legend).into_font().color(&TEXT))
            .draw()
            .map_err(fail)?;
        root.present().map_err(fail)?;
    }
    Ok(svg)
}

fn compact(value: f64) -> String {
    match value.abs() {
        v if v >= 1e6 => format!("{:.1}M", value / 1e6),
        v if v >= 1e3 => format!("{:.1}k", value / 1e3),
        v if v >= 10.0 => format!("{value:.0}"),
        _ => format!("{value:.2}"),
    }
}

/// A cached chart: target (or the fleet), chart, frame, range and tick.
pub type CacheKey = (i64, Chart, Frame, TimeRange, i64);

/// Rendered charts for the current tick; older ticks are dropped as new ones arrive.
#[derive(Default)]
pub struct ChartCache {
    entries: Mutex<HashMap<CacheKey, String>>,
}

/// Charts are redrawn at most once per this many seconds, whoever asks.
pub const TICK_SECS: i64 = 5;
const MAX_ENTRIES: usize = 4096;

impl ChartCache {
    pub fn get(&self, key: CacheKey) -> Option<String> {
        self.lock().get(&key).cloned()
    }

    pub fn put(&self, key: CacheKey, svg: String) {
        let mut entries = self.lock();
        entries.retain(|(_, _, _, _, tick), _| *tick >= key.4);
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, svg);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, String>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_renders_as_svg_with_its_title_and_legend() {
        let from = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let to = from + chrono::Duration::hours(1);
        let points: Vec<SeriesPoint> = (0..10)
            .map(|i| SeriesPoint {
                at: from + chrono::Duration::minutes(i * 6),
                p50: Some(0.05),
                p95: Some(0.2),
                p99: Some(0.4),
                ..SeriesPoint::default()
            })
            .collect();
        let deploy = Marker {
            at: from + chrono::Duration::minutes(30),
            label: "v1.4.2".into(),
        };
        let svg = render(Chart::Latency, Frame::Page, &points, &[deploy], from, to).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.contains("Latency (ms)"));
        assert!(svg.contains("p99"));
        assert!(svg.contains("deploy v1.4.2"));
        assert!(
            !svg.contains("measured by mcpops"),
            "no probe line without probe data"
        );
    }

    fn probe_points(from: DateTime<Utc>, with_metrics: bool) -> Vec<SeriesPoint> {
        (0..10)
            .map(|i| SeriesPoint {
                at: from + chrono::Duration::minutes(i),
                p95: with_metrics.then_some(0.2),
                probe_p50: Some(8.0),
                probe_p95: Some(12.0),
                probe_p99: Some(20.0),
                ..SeriesPoint::default()
            })
            .collect()
    }

    /// The texts an SVG shows, trimmed: axis labels and the legend.
    fn texts(svg: &str) -> Vec<&str> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| Some(t[t.find('>')? + 1..t.find("</text>")?].trim()))
            .collect()
    }

    #[test]
    fn a_server_without_metrics_shows_the_probe_quantiles_and_one_with_them_its_p95() {
        let from = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let to = from + chrono::Duration::minutes(15);
        let svg = render(
            Chart::Latency,
            Frame::Page,
            &probe_points(from, false),
            &[],
            from,
            to,
        )
        .unwrap();
        let shown = texts(&svg);
        for q in ["p50", "p95", "p99"] {
            let probe = format!("MCP probe {q}, measured by mcpops");
            assert!(shown.contains(&probe.as_str()), "{q}: {shown:?}");
        }
        assert!(
            !shown.contains(&"p95"),
            "metric lines without data stay out of the legend"
        );

        let svg = render(
            Chart::Latency,
            Frame::Page,
            &probe_points(from, true),
            &[],
            from,
            to,
        )
        .unwrap();
        let shown = texts(&svg);
        assert!(shown.contains(&"p95"), "{shown:?}");
        assert!(shown.contains(&"MCP probe p95, measured by mcpops"));
        assert!(
            !shown.contains(&"MCP probe p50, measured by mcpops"),
            "beside the server's own, the probe's p95 alone"
        );
    }

    #[test]
    fn an_empty_series_still_renders_axes() {
        let from = DateTime::from_timestamp(0, 0).unwrap();
        let svg = render(
            Chart::Errors,
            Frame::Page,
            &[],
            &[],
            from,
            from + chrono::Duration::minutes(15),
        )
        .unwrap();
        assert!(svg.contains("Errors"));
    }

    #[test]
    fn a_wall_charts_smallest_text_is_20_pixels_at_a_quarter_of_1920() {
        let from = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let to = from + chrono::Duration::hours(1);
        let deploy = Marker {
            at: from + chrono::Duration::minutes(30),
            label: "v2".into(),
        };
        let svg = render(
            Chart::Latency,
            Frame::Wall,
            &probe_points(from, true),
            &[deploy],
            from,
            to,
        )
        .unwrap();
        let sizes: Vec<f64> = svg
            .split("font-size=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next()?.trim_end_matches("px").parse().ok())
            .collect();
        assert!(!sizes.is_empty(), "{svg}");
        let smallest = sizes.iter().copied().fold(f64::MAX, f64::min);
        // As measured in the browser at 1920×1080.
        let shown_at = 424.0 / f64::from(Frame::Wall.sizes().width);
        assert!(
            smallest * shown_at >= 20.0,
            "{smallest} SVG px at {shown_at}"
        );
    }
}
