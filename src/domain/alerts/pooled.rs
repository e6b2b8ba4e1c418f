//! Golden signals pooled over several polls, and the error rate's Wilson lower bound.
use super::*;

/// A golden signal with a baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GoldenSignal {
    P50,
    P95,
    P99,
    ErrorRate,
    Rps,
}

impl GoldenSignal {
    pub const ALL: [GoldenSignal; 5] =
        [Self::P50, Self::P95, Self::P99, Self::ErrorRate, Self::Rps];

    pub fn field(self) -> &'static str {
        match self {
            Self::P50 => "p50_ms",
            Self::P95 => "p95_ms",
            Self::P99 => "p99_ms",
            Self::ErrorRate => "error_rate_pct",
            Self::Rps => "rps",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::P50 => "p50 latency",
            Self::P95 => "p95 latency",
            Self::P99 => "p99 latency",
            Self::ErrorRate => "error rate",
            Self::Rps => "traffic",
        }
    }

    pub fn format(self, value: f64) -> String {
        match self {
            Self::P50 | Self::P95 | Self::P99 => format!("{value:.0} ms"),
            Self::ErrorRate => format!("{value:.2}%"),
            Self::Rps => format!("{value:.0} req/s"),
        }
    }
}

/// A signal over several polls, in baseline units: latency quantiles from the merged bucket
/// deltas (never averaged percentiles), the error rate from summed counts, traffic as the
/// mean rate. Without buckets, a single poll's own quantiles are used.
pub fn pooled(rows: &[&SampleRow], signal: GoldenSignal) -> Option<f64> {
    let sum = |read: fn(&SampleRow) -> Option<f64>| -> Option<f64> {
        let values: Vec<f64> = rows.iter().filter_map(|r| read(r)).collect();
        (!values.is_empty()).then(|| values.iter().sum())
    };
    let quantile = |q: f64, own: fn(&SampleRow) -> Option<f64>| -> Option<f64> {
        let mut merged: Option<BucketDeltas> = None;
        for buckets in rows.iter().filter_map(|r| r.buckets.as_ref()) {
            match merged.as_mut() {
                Some(m) => m.merge(buckets),
                None => merged = Some(buckets.clone()),
            }
        }
        match (merged.and_then(|m| m.quantile(q)), rows) {
            (Some(seconds), _) => Some(seconds),
            (None, [only]) => own(only),
            (None, _) => None,
        }
        .map(|s| s * 1000.0)
    };
    match signal {
        GoldenSignal::P50 => quantile(0.5, |r| r.p50),
        GoldenSignal::P95 => quantile(0.95, |r| r.p95),
        GoldenSignal::P99 => quantile(0.99, |r| r.p99),
        GoldenSignal::ErrorRate => match (sum(|r| r.errors), sum(|r| r.requests)) {
            (Some(e), Some(r)) if r > 0.0 => Some(e / r * 100.0),
            _ => None,
        },
        GoldenSignal::Rps => match (sum(|r| r.requests), sum(|r| r.seconds)) {
            (Some(r), Some(s)) if s > 0.0 => Some(r / s),
            _ => None,
        },
    }
    .filter(|v| v.is_finite())
}

/// The error rate is judged over this many of a target's latest polls with metrics (a
/// minute at the default interval), so it rests on as many requests as possible.
pub const ERROR_RATE_POLLS: usize = 6;
/// How sure the engine must be that the error rate is above its threshold: the rate judged
/// is the one-sided 99.9% lower bound of the Wilson score interval. One stray error in 300
/// requests is 0.33%, twice the default threshold, but says nothing about a 0.15% rate;
/// judged raw, a healthy busy server at 0.05% errors would breach on about one poll in seven.
/// A fleet makes thousands of judgments a minute: at 99% a healthy one still paged, 8 times
/// in 10,000 simulated server-hours, and at 99.9% not once (see the tests).
const ERROR_RATE_CONFIDENCE_Z: f64 = 3.09;

/// The lowest error rate, in percent, that `errors` in `requests` make likely (see
/// [`ERROR_RATE_CONFIDENCE_Z`]); `None` without requests.
pub fn error_rate_lower_bound(errors: f64, requests: f64) -> Option<f64> {
    let counted = requests.is_finite() && requests > 0.0 && errors.is_finite();
    if !counted {
        return None;
    }
    let n = requests;
    let p = (errors / n).clamp(0.0, 1.0);
    let z2 = ERROR_RATE_CONFIDENCE_Z * ERROR_RATE_CONFIDENCE_Z;
    let centre = p + z2 / (2.0 * n);
    let margin = ERROR_RATE_CONFIDENCE_Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - margin) / (1.0 + z2 / n)).max(0.0) * 100.0)
}

/// A target's latest polls with metrics, newest first.
#[derive(Debug, Clone, Default)]
pub struct RecentPolls {
    rows: std::collections::VecDeque<SampleRow>,
}

impl RecentPolls {
    /// Keeps a poll that carried metrics; a poll without them leaves the window as it was.
    pub fn push(&mut self, sample: &SampleRow) {
        if sample.requests.is_none() {
            return;
        }
        self.rows.push_front(sample.clone());
        self.rows.truncate(ERROR_RATE_POLLS);
    }

    /// The figure a value rule judges: latency and traffic from the newest poll, whose
    /// quantiles already rest on every request it saw; the error rate as the lowest rate
    /// the kept polls' errors make likely.
    pub fn judged(&self, signal: GoldenSignal) -> Option<f64> {
        if signal != GoldenSignal::ErrorRate {
            return pooled(&self.rows.iter().take(1).collect::<Vec<_>>(), signal);
        }
        // Polls without an error count say nothing about the error rate, not that it is 0.
        let counted: Vec<(f64, f64)> = self
            .rows
            .iter()
            .filter_map(|r| Some((r.errors?, r.requests?)))
            .collect();
        if counted.is_empty() {
            return None;
        }
        let (errors, requests) = counted
            .iter()
            .fold((0.0, 0.0), |(e, n), (errors, requests)| {
                (e + errors, n + requests)
            });
        error_rate_lower_bound(errors, requests)
    }
}
