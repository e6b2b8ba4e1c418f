//! Per-tool signals from a server's own metrics: calls, errors and latency by tool, when its
//! series carry the tool's name. OpenTelemetry's MCP conventions put it in
//! `gen_ai_tool_name` on `mcp_server_operation_duration_seconds` and tell a tool's own
//! failure (`error_type="tool_error"`, a result with `isError`) from a protocol error; the
//! operations guide's names carry it as `tool` (its requests and errors, and
//! `tools_executed_total`). The tools kept per target are capped, and
//! the ones past the cap are counted.
use super::exposition::Exposition;
use super::signals::{BucketDeltas, Histogram, MetricProfile, counter_delta};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Tools kept per target; a server that labels by something unbounded cannot grow memory.
pub const MAX_TOOLS: usize = 500;
/// Labels that name the tool, in order of preference.
const TOOL_LABELS: [&str; 2] = ["gen_ai_tool_name", "tool"];
/// The error label's value for a tool's own failure, as opposed to a protocol error.
const TOOL_ERROR: &str = "tool_error";

/// One scrape's cumulative counts for each tool.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolSnapshot {
    pub tools: BTreeMap<String, ToolCounts>,
    /// Tools past `MAX_TOOLS`, not kept.
    pub dropped: usize,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolCounts {
    /// From a requests counter when the profile has one, else the histogram's count.
    pub calls: Option<f64>,
    pub tool_errors: f64,
    pub protocol_errors: f64,
    /// `(le, cumulative count)`, summed over the tool's other labels.
    buckets: Vec<(f64, f64)>,
}

impl ToolCounts {
    fn histogram(&self) -> Option<Histogram> {
        let mut buckets = self.buckets.clone();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        if buckets.last().is_none_or(|(le, _)| le.is_finite()) {
            return None;
        }
        Some(Histogram {
            bounds: buckets[..buckets.len() - 1]
                .iter()
                .map(|(le, _)| *le)
                .collect(),
            cumulative: buckets.iter().map(|(_, count)| *count).collect(),
        })
    }
}

/// The tool a series is about, if it names one.
fn tool_of<'s>(sample: &'s super::exposition::Sample<'_>) -> Option<&'s str> {
    TOOL_LABELS
        .iter()
        .find_map(|label| sample.label(label).filter(|name| !name.is_empty()))
}

pub fn tool_snapshot(exp: &Exposition<'_>, profile: &MetricProfile) -> ToolSnapshot {
    let bucket_name = format!("{}_bucket", profile.duration_histogram);
    let count_name = format!("{}_count", profile.duration_histogram);
    let mut tools: BTreeMap<String, ToolCounts> = BTreeMap::new();
    let mut dropped: BTreeSet<&str> = BTreeSet::new();
    let mut histogram_calls: BTreeMap<String, f64> = BTreeMap::new();
    let mut executed: BTreeMap<String, f64> = BTreeMap::new();
    for sample in &exp.samples {
        let Some(tool) = tool_of(sample) else {
            continue;
        };
        let name = sample.name;
        let relevant = name == bucket_name
            || name == count_name
            || name == profile.tools_executed_total
            || profile.requests_total.as_deref() == Some(name)
            || profile.errors_total.as_deref() == Some(name);
        if !relevant || !sample.value.is_finite() {
            continue;
        }
        let key: String = tool.chars().take(128).collect();
        if !tools.contains_key(&key) && tools.len() >= MAX_TOOLS {
            dropped.insert(tool);
            continue;
        }
        let counts = tools.entry(key.clone()).or_default();
        let error = profile
            .error_label
            .as_deref()
            .and_then(|label| sample.label(label))
            .filter(|e| !e.is_empty());
        if name == bucket_name {
            let le = match sample.label("le") {
                Some("+Inf" | "Inf") => f64::INFINITY,
                Some(raw) => match raw.parse::<f64>() {
                    Ok(le) => le,
                    Err(_) => continue,
                },
                None => continue,
            };
            match counts.buckets.iter_mut().find(|(b, _)| *b == le) {
                Some((_, count)) => *count += sample.value,
                None => counts.buckets.push((le, sample.value)),
            }
        } else if name == count_name {
            *histogram_calls.entry(key).or_default() += sample.value;
            match error {
                Some(TOOL_ERROR) => counts.tool_errors += sample.value,
                Some(_) => counts.protocol_errors += sample.value,
                None => {}
            }
        } else if name == profile.tools_executed_total {
            *executed.entry(key).or_default() += sample.value;
        } else if profile.requests_total.as_deref() == Some(name) {
            *counts.calls.get_or_insert(0.0) += sample.value;
        } else {
            // The errors counter: a tool's own failure when it says so.
            match sample.label("error_type") {
                Some(TOOL_ERROR) => counts.tool_errors += sample.value,
                _ => counts.protocol_errors += sample.value,
            }
        }
    }
    // A per-tool requests counter first, then the histogram's count, then the guide's
    // business counter of tool executions.
    for (tool, calls) in histogram_calls.into_iter().chain(executed) {
        if let Some(counts) = tools.get_mut(&tool) {
            counts.calls.get_or_insert(calls);
        }
    }
    ToolSnapshot {
        tools,
        dropped: dropped.len(),
    }
}

/// One tool over one interval between scrapes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSignals {
    pub name: String,
    pub calls_per_sec: f64,
    /// Calls whose result was an error (`isError`), of all calls.
    pub tool_error_ratio: Option<f64>,
    /// Calls that failed at the protocol level, of all calls.
    pub protocol_error_ratio: Option<f64>,
    pub p95_ms: Option<f64>,
}

/// The tools of one interval, slowest or most failing first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolTable {
    pub tools: Vec<ToolSignals>,
    /// Tools past the cap, counted but not kept.
    pub dropped: usize,
}

impl ToolTable {
    pub fn between(previous: &ToolSnapshot, current: &ToolSnapshot, seconds: f64) -> Option<Self> {
        if current.tools.is_empty() && current.dropped == 0 {
            return None;
        }
        let mut tools: Vec<ToolSignals> = current
            .tools
            .iter()
            .filter_map(|(name, now)| {
                let before = previous.tools.get(name)?;
                let calls = counter_delta(before.calls?, now.calls?);
                let ratio =
                    |b: f64, n: f64| (calls > 0.0).then(|| (counter_delta(b, n) / calls).min(1.0));
                let p95_ms = match (before.histogram(), now.histogram()) {
                    (Some(b), Some(n)) => BucketDeltas::between(&b, &n)
                        .quantile(0.95)
                        .map(|s| s * 1000.0),
                    _ => None,
                };
                Some(ToolSignals {
                    name: name.clone(),
                    calls_per_sec: if seconds > 0.0 { calls / seconds } else { 0.0 },
                    tool_error_ratio: ratio(before.tool_errors, now.tool_errors),
                    protocol_error_ratio: ratio(before.protocol_errors, now.protocol_errors),
                    p95_ms,
                })
            })
            .collect();
        tools.sort_by(|a, b| worst_first(a).total_cmp(&worst_first(b)).reverse());
        Some(Self {
            tools,
            dropped: current.dropped,
        })
    }
}

/// Failing tools first (by their share of failed calls), then the slowest.
fn worst_first(tool: &ToolSignals) -> f64 {
    let failed = tool.tool_error_ratio.unwrap_or(0.0) + tool.protocol_error_ratio.unwrap_or(0.0);
    failed * 1e9 + tool.p95_ms.unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::exposition::{Limits, parse};

    fn scrape(text: &str, profile: &MetricProfile) -> ToolSnapshot {
        tool_snapshot(&parse(text, Limits::default()).unwrap(), profile)
    }

    fn otel(
        search_calls: u32,
        search_tool_errors: u32,
        fetch_calls: u32,
        fetch_slow: u32,
    ) -> String {
        let mut text = String::from("# TYPE mcp_server_operation_duration_seconds histogram\n");
        let series = |tool: &str, error: &str, fast: u32, all: u32| {
            let labels =
                format!("mcp_method_name=\"tools/call\",gen_ai_tool_name=\"{tool}\"{error}");
            format!(
                "mcp_server_operation_duration_seconds_bucket{{{labels},le=\"0.1\"}} {fast}\n\
                 mcp_server_operation_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {all}\n\
                 mcp_server_operation_duration_seconds_count{{{labels}}} {all}\n"
            )
        };
        text += &series("search", "", search_calls, search_calls);
        text += &series(
            "search",
            ",error_type=\"tool_error\"",
            search_tool_errors,
            search_tool_errors,
        );
        text += &series("fetch", "", fetch_calls - fetch_slow, fetch_calls);
        text
    }

    #[test]
    fn opentelemetry_tools_are_told_apart_with_tool_errors_kept_from_protocol_errors() {
        let profile = MetricProfile::opentelemetry();
        let before = scrape(&otel(100, 0, 50, 0), &profile);
        let after = scrape(&otel(190, 10, 60, 10), &profile);
        let table = ToolTable::between(&before, &after, 10.0).expect("tools");
        let names: Vec<&str> = table.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["search", "fetch"], "the failing tool first");
        let search = &table.tools[0];
        assert_eq!(search.calls_per_sec, 10.0);
        assert_eq!(search.tool_error_ratio, Some(0.1));
        assert_eq!(search.protocol_error_ratio, Some(0.0));
        let fetch = &table.tools[1];
        assert_eq!(fetch.calls_per_sec, 1.0);
        // Every one of its 10 calls was slower than 100 ms: p95 sits above the bound.
        assert!(fetch.p95_ms.is_some_and(|p| p >= 100.0), "{fetch:?}");
    }

    #[test]
    fn the_guides_names_with_a_tool_label_count_calls_and_errors() {
        let profile = MetricProfile::operations_guide();
        let text = |calls: u32, errors: u32| {
            format!(
                "mcp_requests_total{{tool=\"search\"}} {calls}\nmcp_errors_total{{tool=\"search\"}} {errors}\n\
                 mcp_requests_total 999\n"
            )
        };
        let table = ToolTable::between(
            &scrape(&text(10, 0), &profile),
            &scrape(&text(30, 5), &profile),
            10.0,
        )
        .expect("tools");
        assert_eq!(table.tools.len(), 1);
        assert_eq!(table.tools[0].calls_per_sec, 2.0);
        assert_eq!(table.tools[0].protocol_error_ratio, Some(0.25));
        assert_eq!(table.tools[0].p95_ms, None);
        assert_eq!(
            ToolTable::between(&ToolSnapshot::default(), &scrape("up 1\n", &profile), 10.0),
            None
        );
        // The guide's business counter alone gives calls.
        let executed = |n: u32| format!("tools_executed_total{{tool=\"fetch\"}} {n}\n");
        let table = ToolTable::between(
            &scrape(&executed(5), &profile),
            &scrape(&executed(25), &profile),
            10.0,
        )
        .expect("tools");
        assert_eq!(
            (table.tools[0].name.as_str(), table.tools[0].calls_per_sec),
            ("fetch", 2.0)
        );
    }

    #[test]
    fn tools_past_the_cap_are_counted_not_kept() {
        let profile = MetricProfile::operations_guide();
        let text: String = (0..MAX_TOOLS + 20)
            .map(|i| format!("mcp_requests_total{{tool=\"t{i}\"}} 1\n"))
            .collect();
        let snapshot = scrape(&text, &profile);
        assert_eq!(snapshot.tools.len(), MAX_TOOLS);
        assert_eq!(snapshot.dropped, 20);
    }
}
