//! Chart series: samples grouped into evenly spaced points over a time range. Latency
//! quantiles of a point come from the merged bucket deltas of its samples, never from
//! averaging the samples' own percentiles.
use super::observation::{SampleRow, TargetState};
use super::signals::BucketDeltas;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The ranges the time-range picker offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum TimeRange {
    M15,
    #[default]
    H1,
    H6,
    H24,
    D7,
    D30,
}

impl TimeRange {
    pub const ALL: [TimeRange; 6] = [
        Self::M15,
        Self::H1,
        Self::H6,
        Self::H24,
        Self::D7,
        Self::D30,
    ];

    /// How often a chart of this range is drawn again while it is on screen: often enough
    /// that a new poll shows, no more often than a point of it moves.
    pub fn refresh_secs(self) -> u64 {
        match self {
            Self::M15 | Self::H1 => 10,
            Self::H6 => 30,
            Self::H24 | Self::D7 | Self::D30 => 60,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::M15 => "15m",
            Self::H1 => "1h",
            Self::H6 => "6h",
            Self::H24 => "24h",
            Self::D7 => "7d",
            Self::D30 => "30d",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }

    pub fn duration(self) -> Duration {
        match self {
            Self::M15 => Duration::minutes(15),
            Self::H1 => Duration::hours(1),
            Self::H6 => Duration::hours(6),
            Self::H24 => Duration::hours(24),
            Self::D7 => Duration::days(7),
            Self::D30 => Duration::days(30),
        }
    }
}

/// One point of a chart: the signals of every sample in its slot, combined.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SeriesPoint {
    pub at: DateTime<Utc>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub rps: Option<f64>,
    pub error_ratio: Option<f64>,
    pub active_connections: Option<f64>,
    pub cpu_cores: Option<f64>,
    pub memory_bytes: Option<f64>,
    /// The MCP probe's round trips in ms, measured by mcpops whatever the server exports.
    pub probe_p50: Option<f64>,
    pub probe_p95: Option<f64>,
    pub probe_p99: Option<f64>,
    /// Share of polls that found the target down (0 to 1), measured by mcpops.
    pub polls_down_ratio: Option<f64>,
    /// Business metrics, where the server exports them.
    pub tools_per_sec: Option<f64>,
    pub resources_per_sec: Option<f64>,
    pub sessions_active: Option<f64>,
    pub quota_remaining: Option<f64>,
}

/// Samples combined: counters summed, bucket deltas merged, gauges averaged, the worst state.
#[derive(Default)]
struct Accumulator {
    buckets: Option<BucketDeltas>,
    requests: Option<f64>,
    errors: Option<f64>,
    seconds: Option<f64>,
    counters: [Option<f64>; 2],
    /// (sum, count) of live_ms, mcp_ms, active_connections, cpu_cores, memory_bytes,
    /// sessions_active, quota_remaining.
    gauges: [(f64, u32); 7],
    state: Option<TargetState>,
    samples: usize,
    polls: f64,
    polls_down: f64,
    probe: Option<BucketDeltas>,
}

fn add(total: &mut Option<f64>, value: Option<f64>) {
    if let Some(value) = value {
        *total = Some(total.unwrap_or(0.0) + value);
    }
}

fn merge(total: &mut Option<BucketDeltas>, more: Option<&BucketDeltas>) {
    match (total.as_mut(), more) {
        (Some(merged), Some(more)) => merged.merge(more),
        (None, Some(more)) => *total = Some(more.clone()),
        (_, None) => {}
    }
}

fn mean((sum, n): (f64, u32)) -> Option<f64> {
    (n > 0).then(|| sum / f64::from(n))
}

impl Accumulator {
    fn add(&mut self, sample: &SampleRow) {
        self.samples += 1;
        merge(&mut self.buckets, sample.buckets.as_ref());
        merge(&mut self.probe, sample.probe_histogram().as_ref());
        let (polls, down) = sample.poll_counts();
        self.polls += polls;
        self.polls_down += down;
        if sample.requests.is_some() && sample.seconds.is_some() {
            add(&mut self.requests, sample.requests);
            add(&mut self.errors, sample.errors.or(Some(0.0)));
            add(&mut self.seconds, sample.seconds);
        }
        add(&mut self.counters[0], sample.tools_executed);
        add(&mut self.counters[1], sample.resources_accessed);
        let gauges = [
            sample.live_ms,
            sample.mcp_ms,
            sample.active_connections,
            sample.cpu_cores,
            sample.memory_bytes,
            sample.sessions_active,
            sample.quota_remaining,
        ];
        for (gauge, value) in self.gauges.iter_mut().zip(gauges) {
            if let Some(value) = value {
                gauge.0 += value;
                gauge.1 += 1;
            }
        }
        // States order worst first, so the minimum is the worst.
        self.state = Some(self.state.map_or(sample.state, |s| s.min(sample.state)));
    }

    fn quantile(&self, q: f64) -> Option<f64> {
        self.buckets.as_ref().and_then(|b| b.quantile(q))
    }

    fn into_row(self, target_id: i64, at: DateTime<Utc>) -> SampleRow {
        SampleRow {
            target_id,
            at,
            state: self.state.unwrap_or(TargetState::Unknown),
            live_ms: mean(self.gauges[0]),
            mcp_ms: mean(self.gauges[1]),
            seconds: self.seconds,
            requests: self.requests,
            errors: self.errors,
            p50: self.quantile(0.5),
            p95: self.quantile(0.95),
            p99: self.quantile(0.99),
            active_connections: mean(self.gauges[2]),
            cpu_cores: mean(self.gauges[3]),
            memory_bytes: mean(self.gauges[4]),
            tools_executed: self.counters[0],
            resources_accessed: self.counters[1],
            sessions_active: mean(self.gauges[5]),
            quota_remaining: mean(self.gauges[6]),
            buckets: self.buckets,
            polls: (self.samples > 0).then_some(self.polls),
            polls_down: (self.samples > 0).then_some(self.polls_down),
            probe_buckets: self.probe,
        }
    }
}

impl From<SampleRow> for SeriesPoint {
    fn from(row: SampleRow) -> Self {
        let probe = row.probe_histogram();
        let (polls, down) = row.poll_counts();
        Self {
            at: row.at,
            p50: row.p50,
            p95: row.p95,
            p99: row.p99,
            rps: row.rps(),
            error_ratio: row.error_ratio(),
            active_connections: row.active_connections,
            cpu_cores: row.cpu_cores,
            memory_bytes: row.memory_bytes,
            probe_p50: probe.as_ref().and_then(|p| p.quantile(0.5)),
            probe_p95: probe.as_ref().and_then(|p| p.quantile(0.95)),
            probe_p99: probe.as_ref().and_then(|p| p.quantile(0.99)),
            polls_down_ratio: (polls > 0.0).then(|| down / polls),
            tools_per_sec: per_second(row.tools_executed, row.seconds),
            resources_per_sec: per_second(row.resources_accessed, row.seconds),
            sessions_active: row.sessions_active,
            quota_remaining: row.quota_remaining,
        }
    }
}

/// A counter's increase over the seconds it covers, as a rate.
fn per_second(increase: Option<f64>, seconds: Option<f64>) -> Option<f64> {
    let seconds = seconds.filter(|s| *s > 0.0)?;
    increase.map(|n| n / seconds)
}

/// Groups `samples` (any order) into `points` slots across `[from, to)`; empty slots are left out.
pub fn downsample(
    samples: &[SampleRow],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    points: usize,
) -> Vec<SeriesPoint> {
    let span = (to - from).num_milliseconds().max(1);
    let points = points.max(1);
    let mut slots: Vec<Accumulator> = (0..points).map(|_| Accumulator::default()).collect();
    for sample in samples {
        let offset = (sample.at - from).num_milliseconds();
        if (0..span).contains(&offset) {
            slots[(i128::from(offset) * points as i128 / i128::from(span)) as usize].add(sample);
        }
    }
    let slot_ms = span as f64 / points as f64;
    slots
        .into_iter()
        .enumerate()
        .filter(|(_, slot)| slot.samples > 0)
        .map(|(i, slot)| {
            let at = from + Duration::milliseconds(((i as f64 + 0.5) * slot_ms) as i64);
            SeriesPoint::from(slot.into_row(0, at))
        })
        .collect()
}

/// Rolls samples up into rows of `width` per target, each stamped with its period's start.
pub fn roll_up(samples: &[SampleRow], width: Duration) -> Vec<SampleRow> {
    let width_ms = width.num_milliseconds().max(1);
    let mut periods: std::collections::BTreeMap<(i64, i64), Accumulator> =
        std::collections::BTreeMap::new();
    for sample in samples {
        let start = sample.at.timestamp_millis().div_euclid(width_ms) * width_ms;
        periods
            .entry((sample.target_id, start))
            .or_default()
            .add(sample);
    }
    periods
        .into_iter()
        .filter_map(|((target_id, start), acc)| {
            DateTime::from_timestamp_millis(start).map(|at| acc.into_row(target_id, at))
        })
        .collect()
}

/// An SVG polyline's `points` for `values` drawn left to right across `width` × `height`,
/// scaled so the largest value nearly fills the height; gaps (no value) are skipped.
pub fn sparkline(values: &[Option<f64>], width: f64, height: f64) -> String {
    let top = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let step = width / (values.len().max(2) - 1) as f64;
    values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let v = v.filter(|v| v.is_finite())?;
            let y = if top > 0.0 {
                height - 1.0 - (v / top) * (height - 2.0)
            } else {
                height - 1.0
            };
            Some(format!("{:.1},{:.1}", i as f64 * step, y))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The target id fleet-wide rows carry.
pub const FLEET_ID: i64 = 0;

/// Merges rows of many targets into one fleet row per period of `width`: requests and errors
/// summed over the period (so its rate is the fleet's total), bucket deltas merged (so its
/// quantiles are the fleet's), gauges averaged per target, the worst state.
pub fn fleet_roll_up(rows: &[SampleRow], width: Duration) -> Vec<SampleRow> {
    let width_ms = width.num_milliseconds().max(1);
    let mut periods: std::collections::BTreeMap<i64, Accumulator> = Default::default();
    for row in rows {
        let start = row.at.timestamp_millis().div_euclid(width_ms) * width_ms;
        periods.entry(start).or_default().add(row);
    }
    periods
        .into_iter()
        .filter_map(|(start, acc)| {
            let mut row = acc.into_row(FLEET_ID, DateTime::from_timestamp_millis(start)?);
            row.seconds = row.requests.map(|_| width_ms as f64 / 1000.0);
            Some(row)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: DateTime<Utc>, requests: f64, errors: f64, counts: [f64; 3]) -> SampleRow {
        SampleRow {
            target_id: 1,
            at,
            state: TargetState::Up,
            live_ms: None,
            mcp_ms: None,
            seconds: Some(10.0),
            requests: Some(requests),
            errors: Some(errors),
            p50: None,
            p95: None,
            p99: None,
            active_connections: Some(4.0),
            cpu_cores: None,
            memory_bytes: None,
            tools_executed: None,
            resources_accessed: None,
            sessions_active: None,
            quota_remaining: None,
            buckets: Some(BucketDeltas {
                bounds: vec![0.1, 1.0],
                counts: counts.to_vec(),
            }),
            polls: None,
            polls_down: None,
            probe_buckets: None,
        }
    }

    #[test]
    fn a_slot_merges_buckets_and_sums_counters() {
        let from = DateTime::from_timestamp(0, 0).unwrap();
        let to = from + Duration::minutes(10);
        let samples = vec![
            sample(from + Duration::seconds(10), 100.0, 1.0, [100.0, 0.0, 0.0]),
            sample(from + Duration::seconds(20), 900.0, 9.0, [0.0, 900.0, 0.0]),
        ];
        let points = downsample(&samples, from, to, 1);
        assert_eq!(points.len(), 1);
        let p = &points[0];
        assert_eq!(p.rps, Some(50.0));
        assert_eq!(p.error_ratio, Some(0.01));
        // 1000 observations, 900 of them in (0.1, 1]: p50 is inside that bucket.
        let p50 = p.p50.unwrap();
        assert!(p50 > 0.1 && p50 < 1.0, "{p50}");
        assert_eq!(p.active_connections, Some(4.0));
    }

    #[test]
    fn samples_outside_the_range_and_empty_slots_are_left_out() {
        let from = DateTime::from_timestamp(1_000, 0).unwrap();
        let to = from + Duration::minutes(10);
        let samples = vec![
            sample(from - Duration::seconds(1), 1.0, 0.0, [1.0, 0.0, 0.0]),
            sample(from + Duration::minutes(9), 1.0, 0.0, [1.0, 0.0, 0.0]),
            sample(to, 1.0, 0.0, [1.0, 0.0, 0.0]),
        ];
        let points = downsample(&samples, from, to, 10);
        assert_eq!(points.len(), 1);
        assert!(points[0].at > from + Duration::minutes(9));
    }

    #[test]
    fn rollups_merge_per_target_and_period_and_keep_the_worst_state() {
        let from = DateTime::from_timestamp(600, 0).unwrap();
        let mut down = sample(from + Duration::seconds(30), 10.0, 0.0, [10.0, 0.0, 0.0]);
        down.state = TargetState::Down;
        let mut other_target = sample(from, 5.0, 0.0, [5.0, 0.0, 0.0]);
        other_target.target_id = 2;
        let samples = vec![
            sample(from, 100.0, 2.0, [50.0, 50.0, 0.0]),
            down,
            sample(from + Duration::seconds(70), 1.0, 0.0, [1.0, 0.0, 0.0]),
            other_target,
        ];
        let rows = roll_up(&samples, Duration::minutes(1));
        assert_eq!(rows.len(), 3);
        let first = &rows[0];
        assert_eq!((first.target_id, first.at), (1, from));
        assert_eq!(first.requests, Some(110.0));
        assert_eq!(first.seconds, Some(20.0));
        assert_eq!(first.state, TargetState::Down);
        assert_eq!(first.buckets.as_ref().map(BucketDeltas::total), Some(110.0));
        assert_eq!(rows[1].at, from + Duration::minutes(1));
        assert_eq!(rows[2].target_id, 2);
        // Rolling up rollups gives the same totals as rolling up the samples.
        let hourly = roll_up(&rows, Duration::hours(1));
        let direct = roll_up(&samples, Duration::hours(1));
        assert_eq!(
            hourly.iter().map(|r| r.requests).collect::<Vec<_>>(),
            direct.iter().map(|r| r.requests).collect::<Vec<_>>()
        );
    }

    #[test]
    fn probe_round_trips_and_down_polls_roll_up_and_chart_as_quantiles() {
        let from = DateTime::from_timestamp(1_764_158_400, 0).unwrap();
        // Ten polls a minute for two minutes: 4 ms, then one slow poll and one down.
        let samples: Vec<SampleRow> = (0..20)
            .map(|i| {
                let mut row = sample(from + Duration::seconds(6 * i), 1.0, 0.0, [1.0, 0.0, 0.0]);
                row.mcp_ms = Some(if i == 7 { 800.0 } else { 4.0 });
                if i == 13 {
                    row.state = TargetState::Down;
                    row.mcp_ms = None;
                }
                row
            })
            .collect();
        let minutes = roll_up(&samples, Duration::minutes(1));
        assert_eq!(minutes.len(), 2);
        assert_eq!(
            (minutes[0].polls, minutes[0].polls_down),
            (Some(10.0), Some(0.0))
        );
        assert_eq!(
            (minutes[1].polls, minutes[1].polls_down),
            (Some(10.0), Some(1.0))
        );
        assert_eq!(
            minutes[0].probe_buckets.as_ref().map(BucketDeltas::total),
            Some(10.0)
        );
        // An hour rolled up from the minutes counts what the raw polls count.
        let hour = &roll_up(&minutes, Duration::hours(1))[0];
        assert_eq!((hour.polls, hour.polls_down), (Some(20.0), Some(1.0)));
        let point = SeriesPoint::from(hour.clone());
        assert_eq!(point.polls_down_ratio, Some(0.05));
        let p50 = point.probe_p50.expect("p50");
        assert!(p50 <= 5.0, "most polls took 4 ms: {p50}");
        let p99 = point.probe_p99.expect("p99");
        assert!(
            (500.0..=1000.0).contains(&p99),
            "the slow poll is the tail: {p99}"
        );
        // A raw poll is one poll.
        let raw = SeriesPoint::from(samples[13].clone());
        assert_eq!(raw.polls_down_ratio, Some(1.0));
        assert_eq!(raw.probe_p95, None);
    }

    #[test]
    fn the_fleet_row_sums_rates_and_merges_buckets_across_targets() {
        let at = DateTime::from_timestamp(1_764_158_400, 0).unwrap();
        let mut a = sample(at, 600.0, 6.0, [90.0, 10.0, 0.0]);
        a.seconds = Some(60.0);
        let mut b = sample(at, 1200.0, 0.0, [0.0, 10.0, 90.0]);
        b.target_id = 2;
        b.seconds = Some(60.0);
        b.state = TargetState::Down;
        let next = sample(at + Duration::minutes(1), 60.0, 0.0, [1.0, 0.0, 0.0]);
        let rows = fleet_roll_up(&[a, b, next], Duration::minutes(1));
        assert_eq!(rows.len(), 2);
        let first = &rows[0];
        assert_eq!(first.target_id, FLEET_ID);
        // 10 + 20 requests per second: the fleet's total, not the mean of the two.
        assert_eq!(first.rps(), Some(30.0));
        assert_eq!(first.error_ratio(), Some(6.0 / 1800.0));
        assert_eq!(first.state, TargetState::Down);
        // 200 observations: 90 ≤ 0.1 s, 20 in (0.1, 1], 90 above; the median is in the
        // middle bucket, at rank 100: 0.1 + 0.9 × (100 − 90) / 20 = 0.55.
        let median = first.p50.expect("median");
        assert!((median - 0.55).abs() < 1e-9, "{median}");
    }

    #[test]
    fn a_sparkline_spans_the_width_and_scales_to_the_largest_value() {
        let points = sparkline(&[Some(0.0), None, Some(5.0), Some(10.0)], 30.0, 12.0);
        // x steps by 30 / 3; y runs from 11 (zero) up to 1 (the largest value).
        assert_eq!(points, "0.0,11.0 20.0,6.0 30.0,1.0");
        assert_eq!(
            sparkline(&[Some(0.0), Some(0.0)], 10.0, 4.0),
            "0.0,3.0 10.0,3.0"
        );
        assert_eq!(sparkline(&[None, Some(f64::NAN)], 10.0, 4.0), "");
    }

    #[test]
    fn time_ranges_round_trip() {
        for range in TimeRange::ALL {
            assert_eq!(TimeRange::parse(range.as_str()), Some(range));
        }
        assert_eq!(TimeRange::parse("1y"), None);
    }
}
