//! Simulated traffic for one demo server: a daily curve with noise, and the counters,
//! histogram and gauges a real MCP server would expose.
use crate::domain::demo::DemoFault;
use crate::domain::observation::{SampleRow, TargetState};
use crate::domain::signals::BucketDeltas;
use chrono::{DateTime, Timelike, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::fmt::Write;

/// Upper bounds of the latency histogram, in seconds (the Prometheus client defaults).
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const METHODS: [(&str, f64); 3] = [
    ("tools/call", 0.7),
    ("resources/read", 0.2),
    ("prompts/get", 0.1),
];
/// Latency is sampled for at most this many requests a tick; the rest follow the same shape.
const SAMPLES_PER_TICK: u64 = 200;

pub struct Simulation {
    rng: SmallRng,
    base_rps: f64,
    median_latency: f64,
    requests: [u64; METHODS.len()],
    errors_internal: u64,
    errors_timeout: u64,
    bucket_counts: [u64; BUCKETS.len()],
    latency_sum: f64,
    tools_executed: Vec<u64>,
    resources_accessed: u64,
    active_connections: f64,
    sessions_active: f64,
    quota_remaining: f64,
    cpu_seconds: f64,
    memory_bytes: f64,
    drifted: bool,
}

impl Simulation {
    pub fn new(seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5eed);
        let base_rps = rng.random_range(20.0..120.0);
        let median_latency = rng.random_range(0.03..0.08);
        Self {
            rng,
            base_rps,
            median_latency,
            requests: [0; METHODS.len()],
            errors_internal: 0,
            errors_timeout: 0,
            bucket_counts: [0; BUCKETS.len()],
            latency_sum: 0.0,
            tools_executed: vec![0; tool_names(false).len()],
            resources_accessed: 0,
            active_connections: 0.0,
            sessions_active: 0.0,
            quota_remaining: 100_000.0,
            cpu_seconds: 0.0,
            memory_bytes: 120.0 * 1024.0 * 1024.0,
            drifted: false,
        }
    }

    /// Busier by day than by night, peaking mid-afternoon UTC.
    fn daily_factor(now: DateTime<Utc>) -> f64 {
        let hour = f64::from(now.hour()) + f64::from(now.minute()) / 60.0;
        0.65 + 0.35 * ((hour - 9.0) / 24.0 * std::f64::consts::TAU).sin()
    }

    /// Moves the simulation forward by `seconds` of traffic.
    pub fn advance(&mut self, seconds: f64, now: DateTime<Utc>, faults: &HashSet<DemoFault>) {
        if faults.contains(&DemoFault::Down) {
            return;
        }
        let noise = self.rng.random_range(0.85..1.15);
        let rps = self.base_rps * Self::daily_factor(now) * noise;
        let total = (rps * seconds).round() as u64;
        let error_rate = if faults.contains(&DemoFault::ErrorBurst) {
            0.25
        } else {
            0.0005
        };
        let slowdown = if faults.contains(&DemoFault::LatencySpike) {
            12.0
        } else {
            1.0
        };

        let mut assigned = 0;
        for (slot, (_, share)) in METHODS.iter().enumerate() {
            let n = if slot + 1 == METHODS.len() {
                total - assigned
            } else {
                self.round_randomly(total as f64 * share)
                    .min(total - assigned)
            };
            self.requests[slot] += n;
            assigned += n;
        }
        let errors = (0..total.min(SAMPLES_PER_TICK))
            .filter(|_| self.rng.random_bool(error_rate))
            .count() as u64
            * total.div_ceil(SAMPLES_PER_TICK).max(1);
        let errors = errors.min(total);
        let timeouts = errors / 5;
        self.errors_timeout += timeouts;
        self.errors_internal += errors - timeouts;

        self.observe_latencies(total, slowdown);

        let tool_calls = (total as f64 * METHODS[0].1) as u64;
        let tools = self.tools_executed.len() as u64;
        for (i, count) in self.tools_executed.iter_mut().enumerate() {
            *count += tool_calls / tools + u64::from((i as u64) < tool_calls % tools);
        }
        self.resources_accessed += (total as f64 * METHODS[1].1) as u64;

        let mean_latency = self.median_latency * slowdown * 1.2;
        self.active_connections = (rps * mean_latency * 4.0 + 3.0).round();
        self.sessions_active = (rps * 0.8).round();
        self.quota_remaining -= total as f64;
        if self.quota_remaining < 0.0 || now.minute() == 0 && now.second() == 0 {
            self.quota_remaining = 100_000.0;
        }
        self.cpu_seconds += total as f64 * 0.0015 * slowdown.sqrt() + seconds * 0.01;
        let target_memory = (120.0 + self.active_connections * 1.5) * 1024.0 * 1024.0;
        self.memory_bytes += (target_memory - self.memory_bytes) * 0.1;
    }

    /// Rounds up with probability equal to the fraction, so small shares are not always lost.
    fn round_randomly(&mut self, value: f64) -> u64 {
        let floor = value.floor();
        floor as u64 + u64::from(self.rng.random_bool((value - floor).clamp(0.0, 1.0)))
    }

    fn observe_latencies(&mut self, total: u64, slowdown: f64) {
        if total == 0 {
            return;
        }
        let samples = total.min(SAMPLES_PER_TICK);
        let (weight, remainder) = (total / samples, total % samples);
        for i in 0..samples {
            let count = weight + u64::from(i < remainder);
            let latency = self.median_latency * slowdown * self.lognormal(0.6);
            self.latency_sum += latency * count as f64;
            // Cumulative buckets: one observation counts in every bound above it.
            for (bound, bucket) in BUCKETS.iter().zip(self.bucket_counts.iter_mut()) {
                if latency <= *bound {
                    *bucket += count;
                }
            }
        }
    }

    /// One rollup row of made-up past traffic: `period` seconds starting at `at`, at `scale`
    /// times today's level. Built like the live metrics (same latency shape, CPU and memory
    /// model) so seeded history and live polls chart as one series.
    pub fn history_row(
        &mut self,
        target_id: i64,
        at: DateTime<Utc>,
        period: f64,
        scale: f64,
    ) -> SampleRow {
        let middle = at + chrono::Duration::milliseconds((period * 500.0) as i64);
        let rps =
            self.base_rps * Self::daily_factor(middle) * scale * self.rng.random_range(0.9..1.1);
        let total = (rps * period).round();
        let mut counts = vec![0.0; BUCKETS.len() + 1];
        for _ in 0..SAMPLES_PER_TICK {
            let latency = self.median_latency * self.lognormal(0.6);
            let slot = BUCKETS
                .iter()
                .position(|b| latency <= *b)
                .unwrap_or(BUCKETS.len());
            counts[slot] += total / SAMPLES_PER_TICK as f64;
        }
        let buckets = BucketDeltas {
            bounds: BUCKETS.to_vec(),
            counts,
        };
        let connections = (rps * self.median_latency * 1.2 * 4.0 + 3.0).round();
        SampleRow {
            target_id,
            at,
            state: TargetState::Up,
            live_ms: Some(1.0),
            mcp_ms: Some(4.0),
            seconds: Some(period),
            requests: Some(total),
            errors: Some((total * 0.0005).round()),
            p50: buckets.quantile(0.5),
            p95: buckets.quantile(0.95),
            p99: buckets.quantile(0.99),
            active_connections: Some(connections),
            cpu_cores: Some(rps * 0.0015 + 0.01),
            memory_bytes: Some((120.0 + connections * 1.5) * 1024.0 * 1024.0),
            tools_executed: Some((total * METHODS[0].1).round()),
            resources_accessed: Some((total * METHODS[1].1).round()),
            sessions_active: Some((rps * 0.8).round()),
            quota_remaining: None,
            buckets: Some(buckets),
            polls: None,
            polls_down: None,
            probe_buckets: None,
        }
    }

    /// exp(σ·Z) for standard normal Z, by Box–Muller.
    fn lognormal(&mut self, sigma: f64) -> f64 {
        let u1: f64 = self.rng.random_range(f64::EPSILON..1.0);
        let u2: f64 = self.rng.random();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        (sigma * z).exp()
    }

    pub fn tools_changed(&mut self) {
        self.drifted = !self.drifted;
        self.tools_executed
            .resize(tool_names(self.drifted).len(), 0);
    }

    pub fn drifted(&self) -> bool {
        self.drifted
    }

    /// The Prometheus text exposition (format 0.0.4) of the current counters.
    pub fn render_metrics(&self) -> String {
        let mut out = String::with_capacity(4096);
        let total: u64 = self.requests.iter().sum();
        let errors = self.errors_internal + self.errors_timeout;
        out.push_str(
            "# HELP mcp_requests_total MCP requests handled.\n# TYPE mcp_requests_total counter\n",
        );
        for ((method, _), count) in METHODS.iter().zip(self.requests) {
            let share_of_errors =
                (errors as f64 * count as f64 / total.max(1) as f64).round() as u64;
            let _ = writeln!(
                out,
                "mcp_requests_total{{method=\"{method}\",status=\"ok\"}} {}",
                count - share_of_errors.min(count)
            );
            let _ = writeln!(
                out,
                "mcp_requests_total{{method=\"{method}\",status=\"error\"}} {}",
                share_of_errors.min(count)
            );
        }
        out.push_str("# HELP mcp_request_duration_seconds MCP request latency.\n# TYPE mcp_request_duration_seconds histogram\n");
        for (bound, count) in BUCKETS.iter().zip(self.bucket_counts) {
            let _ = writeln!(
                out,
                "mcp_request_duration_seconds_bucket{{le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "mcp_request_duration_seconds_bucket{{le=\"+Inf\"}} {total}"
        );
        let _ = writeln!(
            out,
            "mcp_request_duration_seconds_sum {:.6}",
            self.latency_sum
        );
        let _ = writeln!(out, "mcp_request_duration_seconds_count {total}");
        out.push_str(
            "# HELP mcp_errors_total MCP requests that failed.\n# TYPE mcp_errors_total counter\n",
        );
        let _ = writeln!(
            out,
            "mcp_errors_total{{error_type=\"internal\"}} {}",
            self.errors_internal
        );
        let _ = writeln!(
            out,
            "mcp_errors_total{{error_type=\"timeout\"}} {}",
            self.errors_timeout
        );
        out.push_str("# HELP mcp_active_connections Open client connections.\n# TYPE mcp_active_connections gauge\n");
        let _ = writeln!(out, "mcp_active_connections {}", self.active_connections);
        out.push_str("# HELP tools_executed_total Tool calls by tool.\n# TYPE tools_executed_total counter\n");
        for (tool, count) in tool_names(self.drifted).iter().zip(&self.tools_executed) {
            let _ = writeln!(out, "tools_executed_total{{tool=\"{tool}\"}} {count}");
        }
        out.push_str("# HELP resources_accessed_total Resource reads.\n# TYPE resources_accessed_total counter\n");
        let _ = writeln!(out, "resources_accessed_total {}", self.resources_accessed);
        out.push_str("# HELP user_sessions_active Sessions with activity in the last 5 minutes.\n# TYPE user_sessions_active gauge\n");
        let _ = writeln!(out, "user_sessions_active {}", self.sessions_active);
        out.push_str("# HELP api_quota_remaining Upstream API calls left this hour.\n# TYPE api_quota_remaining gauge\n");
        let _ = writeln!(out, "api_quota_remaining {}", self.quota_remaining.round());
        out.push_str("# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\n");
        let _ = writeln!(out, "process_cpu_seconds_total {:.3}", self.cpu_seconds);
        out.push_str("# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\n");
        let _ = writeln!(
            out,
            "process_resident_memory_bytes {}",
            self.memory_bytes.round()
        );
        out
    }
}

/// The tools the server offers; drift adds one and changes another's schema.
/// Whether a demo tool only reads (and may be called by a synthetic check).
pub fn read_only(tool: &str) -> bool {
    matches!(tool, "search_docs" | "get_weather")
}

pub fn tool_names(drifted: bool) -> &'static [&'static str] {
    if drifted {
        &["search_docs", "get_weather", "create_ticket", "run_shell"]
    } else {
        &["search_docs", "get_weather", "create_ticket"]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_ends_at_the_request_count() {
        let mut sim = Simulation::new(7);
        let now = Utc::now();
        for _ in 0..30 {
            sim.advance(1.0, now, &HashSet::new());
        }
        let total: u64 = sim.requests.iter().sum();
        assert!(total > 0);
        assert!(sim.bucket_counts.windows(2).all(|w| w[0] <= w[1]));
        assert!(*sim.bucket_counts.last().unwrap_or(&0) <= total);
    }

    #[test]
    fn a_down_server_serves_no_traffic() {
        let mut sim = Simulation::new(1);
        sim.advance(5.0, Utc::now(), &HashSet::from([DemoFault::Down]));
        assert_eq!(sim.requests.iter().sum::<u64>(), 0);
    }

    #[test]
    fn an_error_burst_raises_the_error_count() {
        let mut calm = Simulation::new(3);
        let mut burst = Simulation::new(3);
        let now = Utc::now();
        for _ in 0..60 {
            calm.advance(1.0, now, &HashSet::new());
            burst.advance(1.0, now, &HashSet::from([DemoFault::ErrorBurst]));
        }
        assert!(
            burst.errors_internal + burst.errors_timeout
                > 10 * (calm.errors_internal + calm.errors_timeout + 1)
        );
    }
}
