//! Golden signals from scrapes: which names carry which signal, counter deltas with reset
//! handling, histogram bucket deltas, and quantiles from merged buckets.
use super::exposition::Exposition;
use super::tool_signals::{ToolSnapshot, ToolTable, tool_snapshot};
use serde::{Deserialize, Serialize};

/// Where each signal lives in a server's metrics. Counters and histograms are summed over
/// their label sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricProfile {
    /// A counter of requests; `None` takes the request count from the duration histogram.
    pub requests_total: Option<String>,
    /// A counter of failed requests; `None` counts histogram observations whose
    /// `error_label` is set and non-empty.
    pub errors_total: Option<String>,
    pub error_label: Option<String>,
    /// The latency histogram's base name (without `_bucket`, `_sum`, `_count`).
    pub duration_histogram: String,
    pub active_connections: String,
    pub cpu_seconds_total: String,
    pub resident_memory_bytes: String,
    pub tools_executed_total: String,
    pub resources_accessed_total: String,
    pub sessions_active: String,
    pub quota_remaining: String,
}

impl MetricProfile {
    /// The names from the operations guide.
    pub fn operations_guide() -> Self {
        Self {
            requests_total: Some("mcp_requests_total".into()),
            errors_total: Some("mcp_errors_total".into()),
            error_label: None,
            duration_histogram: "mcp_request_duration_seconds".into(),
            active_connections: "mcp_active_connections".into(),
            cpu_seconds_total: "process_cpu_seconds_total".into(),
            resident_memory_bytes: "process_resident_memory_bytes".into(),
            tools_executed_total: "tools_executed_total".into(),
            resources_accessed_total: "resources_accessed_total".into(),
            sessions_active: "user_sessions_active".into(),
            quota_remaining: "api_quota_remaining".into(),
        }
    }

    /// The OpenTelemetry MCP semantic conventions, as exported to Prometheus.
    pub fn opentelemetry() -> Self {
        Self {
            requests_total: None,
            errors_total: None,
            error_label: Some("error_type".into()),
            duration_histogram: "mcp_server_operation_duration_seconds".into(),
            ..Self::operations_guide()
        }
    }
}

/// A cumulative histogram: counts for each finite upper bound, then the +Inf total.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    pub bounds: Vec<f64>,
    /// `bounds.len() + 1` cumulative counts; the last is the +Inf bucket.
    pub cumulative: Vec<f64>,
}

/// What one scrape said, before any deltas.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    pub requests: Option<f64>,
    pub errors: Option<f64>,
    pub histogram: Option<Histogram>,
    pub active_connections: Option<f64>,
    pub cpu_seconds: Option<f64>,
    pub memory_bytes: Option<f64>,
    pub tools_executed: Option<f64>,
    pub resources_accessed: Option<f64>,
    pub sessions_active: Option<f64>,
    pub quota_remaining: Option<f64>,
    /// Counts by tool, when the server's series name their tool.
    pub tools: ToolSnapshot,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    #[error("histogram {0} has no +Inf bucket")]
    MissingInfBucket(String),
    #[error("histogram {0} has a bucket with an invalid 'le'")]
    BadBucketBound(String),
}

fn sum_of(exp: &Exposition<'_>, name: &str) -> Option<f64> {
    let mut found = false;
    let total = exp
        .samples
        .iter()
        .filter(|s| s.name == name && s.value.is_finite())
        .inspect(|_| found = true)
        .map(|s| s.value)
        .sum();
    found.then_some(total)
}

/// Sums the `_bucket` series of `base` over label sets into one cumulative histogram.
fn histogram_of(exp: &Exposition<'_>, base: &str) -> Result<Option<Histogram>, SignalError> {
    let bucket_name = format!("{base}_bucket");
    let mut by_bound: Vec<(f64, f64)> = Vec::new();
    for sample in exp.samples.iter().filter(|s| s.name == bucket_name) {
        let bound = match sample.label("le") {
            Some("+Inf") | Some("Inf") => f64::INFINITY,
            Some(raw) => raw
                .parse::<f64>()
                .map_err(|_| SignalError::BadBucketBound(base.into()))?,
            None => return Err(SignalError::BadBucketBound(base.into())),
        };
        let value = if sample.value.is_finite() {
            sample.value
        } else {
            0.0
        };
        match by_bound.iter_mut().find(|(b, _)| *b == bound) {
            Some((_, count)) => *count += value,
            None => by_bound.push((bound, value)),
        }
    }
    if by_bound.is_empty() {
        return Ok(None);
    }
    by_bound.sort_by(|a, b| a.0.total_cmp(&b.0));
    if by_bound.last().is_none_or(|(b, _)| !b.is_infinite()) {
        return Err(SignalError::MissingInfBucket(base.into()));
    }
    let bounds = by_bound[..by_bound.len() - 1]
        .iter()
        .map(|(b, _)| *b)
        .collect();
    let cumulative = by_bound.iter().map(|(_, c)| *c).collect();
    Ok(Some(Histogram { bounds, cumulative }))
}

/// Histogram observations whose error label is set (the OpenTelemetry way of counting errors).
fn errors_from_label(exp: &Exposition<'_>, base: &str, label: &str) -> Option<f64> {
    let count_name = format!("{base}_count");
    let mut found = false;
    let total = exp
        .samples
        .iter()
        .filter(|s| s.name == count_name)
        .inspect(|_| found = true)
        .filter(|s| s.label(label).is_some_and(|v| !v.is_empty()))
        .map(|s| s.value)
        .filter(|v| v.is_finite())
        .sum();
    found.then_some(total)
}

pub fn snapshot(exp: &Exposition<'_>, profile: &MetricProfile) -> Result<Snapshot, SignalError> {
    let histogram = histogram_of(exp, &profile.duration_histogram)?;
    let requests = match &profile.requests_total {
        Some(name) => sum_of(exp, name),
        None => sum_of(exp, &format!("{}_count", profile.duration_histogram)),
    };
    let errors = match (&profile.errors_total, &profile.error_label) {
        (Some(name), _) => sum_of(exp, name),
        (None, Some(label)) => errors_from_label(exp, &profile.duration_histogram, label),
        (None, None) => None,
    };
    Ok(Snapshot {
        requests,
        errors,
        histogram,
        active_connections: sum_of(exp, &profile.active_connections),
        cpu_seconds: sum_of(exp, &profile.cpu_seconds_total),
        memory_bytes: sum_of(exp, &profile.resident_memory_bytes),
        tools_executed: sum_of(exp, &profile.tools_executed_total),
        resources_accessed: sum_of(exp, &profile.resources_accessed_total),
        sessions_active: sum_of(exp, &profile.sessions_active),
        quota_remaining: sum_of(exp, &profile.quota_remaining),
        tools: tool_snapshot(exp, profile),
    })
}

/// The increase of a counter between two scrapes. A drop means the counter was reset
/// (the process restarted), so everything counted since is the new value.
pub fn counter_delta(previous: f64, current: f64) -> f64 {
    if current >= previous {
        current - previous
    } else {
        current
    }
}

/// Non-cumulative bucket counts for one interval: `counts[i]` observations fell in
/// `(bounds[i-1], bounds[i]]`, and the last count is above the highest bound.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BucketDeltas {
    pub bounds: Vec<f64>,
    pub counts: Vec<f64>,
}

impl BucketDeltas {
    /// The change between two cumulative histograms; a reset restarts from the current one.
    pub fn between(previous: &Histogram, current: &Histogram) -> Self {
        let comparable = previous.bounds == current.bounds;
        let total = |h: &Histogram| h.cumulative.last().copied().unwrap_or(0.0);
        let reset = !comparable || total(current) < total(previous);
        let cumulative: Vec<f64> = if reset {
            current.cumulative.clone()
        } else {
            current
                .cumulative
                .iter()
                .zip(&previous.cumulative)
                .map(|(c, p)| (c - p).max(0.0))
                .collect()
        };
        let mut counts = Vec::with_capacity(cumulative.len());
        let mut below = 0.0;
        for value in cumulative {
            counts.push((value - below).max(0.0));
            below = value.max(below);
        }
        Self {
            bounds: current.bounds.clone(),
            counts,
        }
    }

    pub fn total(&self) -> f64 {
        self.counts.iter().sum()
    }

    /// One observation of `value` in buckets with these upper bounds.
    pub fn one(bounds: &[f64], value: f64) -> Self {
        let mut counts = vec![0.0; bounds.len() + 1];
        counts[bounds.partition_point(|upper| *upper < value)] = 1.0;
        Self {
            bounds: bounds.to_vec(),
            counts,
        }
    }

    /// Adds another interval's counts. Layouts that differ are merged onto the union of
    /// their bounds, each count landing in the union bucket with its own upper bound.
    pub fn merge(&mut self, other: &BucketDeltas) {
        if self.bounds == other.bounds {
            for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
                *mine += theirs;
            }
            return;
        }
        let mut bounds: Vec<f64> = self.bounds.iter().chain(&other.bounds).copied().collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        let mut counts = vec![0.0; bounds.len() + 1];
        for source in [&*self, other] {
            for (i, count) in source.counts.iter().enumerate() {
                let slot = source.bounds.get(i).map_or(bounds.len(), |b| {
                    bounds.iter().position(|u| u == b).unwrap_or(bounds.len())
                });
                counts[slot] += count;
            }
        }
        *self = Self { bounds, counts };
    }

    /// The q-quantile (0 ≤ q ≤ 1), interpolated linearly inside its bucket as Prometheus'
    /// `histogram_quantile` does. Above the highest finite bound, that bound is the answer.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.total();
        if total <= 0.0 || !(0.0..=1.0).contains(&q) || self.bounds.is_empty() {
            return None;
        }
        let rank = q * total;
        let mut below = 0.0;
        for (i, count) in self.counts.iter().enumerate() {
            let through = below + count;
            if through >= rank && *count > 0.0 {
                let Some(&upper) = self.bounds.get(i) else {
                    return self.bounds.last().copied();
                };
                let lower = if i == 0 {
                    0.0_f64.min(upper)
                } else {
                    self.bounds[i - 1]
                };
                return Some(lower + (upper - lower) * (rank - below) / count);
            }
            below = through;
        }
        self.bounds.last().copied()
    }
}

/// Golden signals for one interval between two scrapes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IntervalSignals {
    pub seconds: f64,
    pub requests: Option<f64>,
    pub errors: Option<f64>,
    pub buckets: Option<BucketDeltas>,
    pub active_connections: Option<f64>,
    /// CPU cores in use on average over the interval.
    pub cpu_cores: Option<f64>,
    pub memory_bytes: Option<f64>,
    pub tools_executed: Option<f64>,
    pub resources_accessed: Option<f64>,
    pub sessions_active: Option<f64>,
    pub quota_remaining: Option<f64>,
    /// Calls, errors and p95 by tool, when the server's series name their tool.
    #[serde(default)]
    pub tools: Option<ToolTable>,
}

impl IntervalSignals {
    pub fn between(previous: &Snapshot, current: &Snapshot, seconds: f64) -> Self {
        let delta = |p: Option<f64>, c: Option<f64>| Some(counter_delta(p?, c?));
        let buckets = match (&previous.histogram, &current.histogram) {
            (Some(p), Some(c)) => Some(BucketDeltas::between(p, c)),
            _ => None,
        };
        Self {
            seconds,
            requests: delta(previous.requests, current.requests),
            errors: delta(previous.errors, current.errors),
            buckets,
            active_connections: current.active_connections,
            cpu_cores: delta(previous.cpu_seconds, current.cpu_seconds)
                .filter(|_| seconds > 0.0)
                .map(|d| d / seconds),
            memory_bytes: current.memory_bytes,
            tools_executed: delta(previous.tools_executed, current.tools_executed),
            resources_accessed: delta(previous.resources_accessed, current.resources_accessed),
            sessions_active: current.sessions_active,
            quota_remaining: current.quota_remaining,
            tools: ToolTable::between(&previous.tools, &current.tools, seconds),
        }
    }

    pub fn requests_per_second(&self) -> Option<f64> {
        self.requests
            .filter(|_| self.seconds > 0.0)
            .map(|r| r / self.seconds)
    }

    /// Errors over requests; `None` when nothing was requested.
    pub fn error_ratio(&self) -> Option<f64> {
        match (self.errors, self.requests) {
            (Some(e), Some(r)) if r > 0.0 => Some((e / r).min(1.0)),
            _ => None,
        }
    }

    pub fn latency_quantile(&self, q: f64) -> Option<f64> {
        self.buckets.as_ref()?.quantile(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::exposition::{Limits, parse};

    fn buckets(bounds: &[f64], counts: &[f64]) -> BucketDeltas {
        BucketDeltas {
            bounds: bounds.to_vec(),
            counts: counts.to_vec(),
        }
    }

    #[test]
    fn counter_reset_is_not_a_negative_rate() {
        assert_eq!(counter_delta(100.0, 130.0), 30.0);
        assert_eq!(counter_delta(100.0, 7.0), 7.0);
        assert_eq!(counter_delta(5.0, 5.0), 0.0);
    }

    #[test]
    fn quantile_interpolates_inside_the_bucket_like_prometheus() {
        // 100 observations: 50 in (0, 0.1], 40 in (0.1, 0.5], 10 in (0.5, 1].
        let b = buckets(&[0.1, 0.5, 1.0], &[50.0, 40.0, 10.0, 0.0]);
        // p50: rank 50 is the top of the first bucket.
        assert!((b.quantile(0.5).unwrap() - 0.1).abs() < 1e-12);
        // p95: rank 95 is 5 of the 10 in (0.5, 1] → 0.5 + 0.5 × 5/10 = 0.75.
        assert!((b.quantile(0.95).unwrap() - 0.75).abs() < 1e-12);
        // p70: rank 70 is 20 of 40 in (0.1, 0.5] → 0.1 + 0.4 × 0.5 = 0.3.
        assert!((b.quantile(0.7).unwrap() - 0.3).abs() < 1e-12);
    }

    #[test]
    fn quantile_in_the_inf_bucket_is_the_highest_finite_bound() {
        let b = buckets(&[0.1, 0.5], &[1.0, 1.0, 8.0]);
        assert_eq!(b.quantile(0.99), Some(0.5));
    }

    #[test]
    fn empty_histograms_have_no_quantile() {
        assert_eq!(buckets(&[0.1], &[0.0, 0.0]).quantile(0.5), None);
    }

    #[test]
    fn merged_buckets_are_not_averaged_percentiles() {
        // A quiet fast interval and a busy slow one: the merged p99 follows the traffic.
        let mut quiet = buckets(&[0.1, 1.0], &[10.0, 0.0, 0.0]);
        let busy = buckets(&[0.1, 1.0], &[0.0, 990.0, 0.0]);
        let average_of_p99s = (quiet.quantile(0.99).unwrap() + busy.quantile(0.99).unwrap()) / 2.0;
        quiet.merge(&busy);
        let merged = quiet.quantile(0.99).unwrap();
        assert!(merged > 0.98 && merged <= 1.0, "{merged}");
        assert!(average_of_p99s < 0.6);
    }

    #[test]
    fn merging_different_layouts_keeps_every_count() {
        let mut a = buckets(&[0.1, 1.0], &[1.0, 2.0, 3.0]);
        a.merge(&buckets(&[0.5], &[4.0, 5.0]));
        assert_eq!(a.bounds, vec![0.1, 0.5, 1.0]);
        assert_eq!(a.total(), 15.0);
        assert_eq!(a.counts, vec![1.0, 4.0, 2.0, 8.0]);
    }

    #[test]
    fn bucket_deltas_come_from_cumulative_differences() {
        let p = Histogram {
            bounds: vec![0.1, 1.0],
            cumulative: vec![10.0, 15.0, 16.0],
        };
        let c = Histogram {
            bounds: vec![0.1, 1.0],
            cumulative: vec![14.0, 25.0, 27.0],
        };
        assert_eq!(BucketDeltas::between(&p, &c).counts, vec![4.0, 6.0, 1.0]);
        // A restarted server: the totals dropped, so the current histogram is the delta.
        let restarted = Histogram {
            bounds: vec![0.1, 1.0],
            cumulative: vec![2.0, 3.0, 3.0],
        };
        assert_eq!(
            BucketDeltas::between(&c, &restarted).counts,
            vec![2.0, 1.0, 0.0]
        );
    }

    const GUIDE: &str = "\
mcp_requests_total{method=\"tools/call\",status=\"ok\"} 90
mcp_requests_total{method=\"resources/read\",status=\"ok\"} 10
mcp_errors_total{error_type=\"internal\"} 2
mcp_request_duration_seconds_bucket{method=\"a\",le=\"0.1\"} 60
mcp_request_duration_seconds_bucket{method=\"a\",le=\"+Inf\"} 70
mcp_request_duration_seconds_bucket{method=\"b\",le=\"0.1\"} 10
mcp_request_duration_seconds_bucket{method=\"b\",le=\"+Inf\"} 30
mcp_active_connections 7
process_cpu_seconds_total 12.5
process_resident_memory_bytes 1048576
";

    #[test]
    fn guide_profile_sums_label_sets_and_merges_histograms() {
        let exp = parse(GUIDE, Limits::default()).unwrap();
        let snap = snapshot(&exp, &MetricProfile::operations_guide()).unwrap();
        assert_eq!(snap.requests, Some(100.0));
        assert_eq!(snap.errors, Some(2.0));
        let h = snap.histogram.unwrap();
        assert_eq!(h.bounds, vec![0.1]);
        assert_eq!(h.cumulative, vec![70.0, 100.0]);
        assert_eq!(snap.active_connections, Some(7.0));
    }

    #[test]
    fn a_histogram_without_inf_is_refused_with_its_name() {
        let exp = parse(
            "mcp_request_duration_seconds_bucket{le=\"0.1\"} 3\n",
            Limits::default(),
        )
        .unwrap();
        let err = snapshot(&exp, &MetricProfile::operations_guide()).unwrap_err();
        assert_eq!(
            err,
            SignalError::MissingInfBucket("mcp_request_duration_seconds".into())
        );
    }

    #[test]
    fn opentelemetry_profile_counts_errors_by_label() {
        let text = "\
mcp_server_operation_duration_seconds_bucket{mcp_method_name=\"tools/call\",le=\"+Inf\"} 40
mcp_server_operation_duration_seconds_count{mcp_method_name=\"tools/call\",gen_ai_tool_name=\"x\"} 40
mcp_server_operation_duration_seconds_bucket{mcp_method_name=\"tools/call\",error_type=\"timeout\",le=\"+Inf\"} 5
mcp_server_operation_duration_seconds_count{mcp_method_name=\"tools/call\",error_type=\"timeout\"} 5
";
        let exp = parse(text, Limits::default()).unwrap();
        let snap = snapshot(&exp, &MetricProfile::opentelemetry()).unwrap();
        assert_eq!(snap.requests, Some(45.0));
        assert_eq!(snap.errors, Some(5.0));
    }

    #[test]
    fn interval_signals_give_rates_ratios_and_cores() {
        let before = Snapshot {
            requests: Some(100.0),
            errors: Some(1.0),
            cpu_seconds: Some(10.0),
            ..Snapshot::default()
        };
        let after = Snapshot {
            requests: Some(300.0),
            errors: Some(3.0),
            cpu_seconds: Some(15.0),
            ..Snapshot::default()
        };
        let signals = IntervalSignals::between(&before, &after, 10.0);
        assert_eq!(signals.requests_per_second(), Some(20.0));
        assert_eq!(signals.error_ratio(), Some(0.01));
        assert_eq!(signals.cpu_cores, Some(0.5));
    }
}
