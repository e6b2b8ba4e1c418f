//! What one poll of a target saw: each probe's result, timings, and a typed reason on failure.
use super::checks::{CheckResult, CheckStatus};
use super::offers::ProbeOffers;
use super::signals::{BucketDeltas, IntervalSignals};
use super::tool_signals::ToolTable;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a probe failed, specific enough to act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum ProbeError {
    Timeout {
        after_ms: u64,
    },
    Refused,
    Tls(String),
    Connect(String),
    HttpStatus(u16),
    TooManyRedirects,
    /// A redirect to another origin, which is not followed: the target's secret headers must
    /// not go there.
    RedirectedAway(String),
    /// The target's address is in a network `[collector] deny_networks` refuses (cloud
    /// metadata, by default); nothing was sent.
    Denied {
        address: String,
        network: String,
    },
    BodyTooLarge {
        limit_bytes: u64,
    },
    WrongContentType(String),
    InvalidUtf8 {
        line: usize,
    },
    Parse {
        line: usize,
        reason: String,
    },
    TooManySamples {
        limit: usize,
    },
    Histogram(String),
    Protocol(String),
    /// An MCP request answered with an HTTP error status.
    Rejected {
        request: String,
        status: u16,
    },
    JsonRpc {
        code: i64,
        message: String,
    },
    Io(String),
    /// Every probe answered 404 or 405, or nothing answered at all.
    NothingAnswers,
    /// 401 with its `WWW-Authenticate` challenge: the server is there and wants a token.
    Unauthorized {
        challenge: String,
    },
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout { after_ms } => write!(f, "timed out after {after_ms} ms"),
            Self::Refused => write!(f, "connection refused"),
            Self::Tls(detail) => write!(f, "TLS error: {detail}"),
            Self::Connect(detail) => write!(f, "cannot connect: {detail}"),
            Self::HttpStatus(code) => write!(f, "HTTP status {code}"),
            Self::TooManyRedirects => write!(f, "too many redirects"),
            Self::RedirectedAway(origin) => write!(
                f,
                "redirected to another origin, {origin}: not followed, so the target's headers stay with it"
            ),
            Self::Denied { address, network } => write!(
                f,
                "address {address} is in {network}, which [collector] deny_networks refuses: nothing was sent"
            ),
            Self::BodyTooLarge { limit_bytes } => write!(f, "body larger than {limit_bytes} bytes"),
            Self::WrongContentType(found) => write!(f, "unexpected content type '{found}'"),
            Self::InvalidUtf8 { line } => write!(f, "invalid UTF-8 at line {line}"),
            Self::Parse { line, reason } => write!(f, "parse error at line {line}: {reason}"),
            Self::TooManySamples { limit } => write!(f, "more than {limit} samples"),
            Self::Histogram(detail) => write!(f, "{detail}"),
            Self::Protocol(detail) => write!(f, "MCP protocol error: {detail}"),
            Self::Rejected { request, status } => {
                write!(f, "MCP protocol error: {request} answered HTTP {status}")
            }
            Self::JsonRpc { code, message } => write!(f, "JSON-RPC error {code}: {message}"),
            Self::Io(detail) => write!(f, "I/O error: {detail}"),
            Self::NothingAnswers => write!(f, "nothing answers at this URL"),
            Self::Unauthorized { .. } => write!(f, "authorization required (HTTP 401)"),
        }
    }
}

/// The readiness endpoint's verdict and the checks that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    pub ready: bool,
    pub checks: Vec<(String, bool)>,
}

impl Readiness {
    pub fn failing(&self) -> Vec<&str> {
        self.checks
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(name, _)| name.as_str())
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    /// The input schema as canonical JSON text, so a schema change is a text change.
    pub schema: String,
    /// Annotated `readOnlyHint: true`: a synthetic call may call it. Left out of the JSON
    /// when false, so tool lists stored before it read the same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

/// What the MCP probe learned on this poll.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpReport {
    pub protocol_version: String,
    pub server_name: String,
    pub server_version: String,
    /// Each protocol step and how long it took, in order.
    pub steps: Vec<(String, f64)>,
    /// Present when this poll listed the tools (first contact and every few minutes).
    pub tools: Option<Vec<Tool>>,
    /// The last full handshake, kept through the cheap pings of the polls after it.
    #[serde(default)]
    pub full_handshake: Option<FullHandshake>,
    /// Present when the server asked for authorization instead of answering.
    #[serde(default)]
    pub protection: Option<Protection>,
    /// Something about its authorization an operator must look at (metadata that does not
    /// answer, a server that stopped asking for a token); shown as an MCP failure.
    #[serde(default)]
    pub warning: Option<String>,
}

/// The certificate an https target presented.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub subject: String,
    pub issuer: String,
    pub not_after: DateTime<Utc>,
}

impl Certificate {
    /// Whole days left at `now`; negative once it has expired.
    pub fn days_left(&self, now: DateTime<Utc>) -> i64 {
        (self.not_after - now).num_days()
    }
}

impl McpReport {
    /// The probe's steps on this poll, end to end.
    pub fn round_trip_ms(&self) -> f64 {
        self.steps.iter().map(|(_, ms)| ms).sum()
    }
}

/// A server that answered MCP with 401: alive, and asking for a token (RFC 9728).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protection {
    /// The protected resource metadata its challenge named, if it named one.
    pub resource_metadata: Option<String>,
    /// The authorization servers that metadata lists, each with whether its own metadata
    /// (RFC 8414 or OpenID discovery) answered.
    pub authorization_servers: Vec<AuthorizationServer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationServer {
    pub issuer: String,
    /// The metadata URL that answered, or why none did.
    pub metadata: Result<String, String>,
}

/// A full handshake's time and step timings (initialize … tools/list, or discover and
/// tools/list on a 2026-07-28 server).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FullHandshake {
    pub at: DateTime<Utc>,
    pub steps: Vec<(String, f64)>,
    /// Why the tool list was cut short, when it was longer than mcpops keeps.
    #[serde(default)]
    pub tools_cut: Option<String>,
}

/// The state a target is shown in, worst first; `Unknown` until its first poll.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord,
)]
#[serde(rename_all = "snake_case")]
pub enum TargetState {
    Down,
    /// No poll completed for three intervals: what the tile showed is old news. Never
    /// stored; live views judge it from the newest poll's time.
    Stale,
    NotReady,
    Degraded,
    Up,
    #[default]
    Unknown,
}

impl TargetState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Down => "down",
            Self::Stale => "stale",
            Self::NotReady => "not_ready",
            Self::Degraded => "degraded",
            Self::Up => "up",
            Self::Unknown => "unknown",
        }
    }

    /// The state in CSS class names (`status-not-ready`).
    pub fn css_name(self) -> &'static str {
        match self {
            Self::NotReady => "not-ready",
            other => other.as_str(),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Down => "down",
            Self::Stale => "stale",
            Self::NotReady => "not ready",
            Self::Degraded => "degraded",
            Self::Up => "up",
            Self::Unknown => "unknown",
        }
    }

    pub fn parse(raw: &str) -> Self {
        match raw {
            "down" => Self::Down,
            "stale" => Self::Stale,
            "not_ready" => Self::NotReady,
            "degraded" => Self::Degraded,
            "up" => Self::Up,
            _ => Self::Unknown,
        }
    }
}

/// One poll of one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub target_id: i64,
    pub at: DateTime<Utc>,
    /// Whether the target is alive, with the round trip in milliseconds: from `/health/live`
    /// when the server offers it, otherwise from the MCP answer (or the scrape).
    pub live: Result<f64, ProbeError>,
    /// `None` when this poll did not ask, or the server does not offer it.
    pub ready: Option<Result<Readiness, ProbeError>>,
    pub metrics: Option<Result<Option<IntervalSignals>, ProbeError>>,
    pub mcp: Option<Result<McpReport, ProbeError>>,
    /// What the target offers, as this poll found it.
    pub offers: ProbeOffers,
    /// The TLS certificate of an https target, as last read.
    pub certificate: Option<Certificate>,
    /// Where each of the target's synthetic tool calls stands.
    pub checks: Vec<CheckStatus>,
    /// The synthetic calls this poll made.
    pub check_results: Vec<CheckResult>,
}

impl Observation {
    pub fn state(&self) -> TargetState {
        if self.live.is_err() {
            return TargetState::Down;
        }
        match &self.ready {
            Some(Ok(readiness)) if !readiness.ready => return TargetState::NotReady,
            Some(Err(_)) => return TargetState::NotReady,
            _ => {}
        }
        let probe_failed = matches!(self.metrics, Some(Err(_)))
            || self.mcp_failure().is_some()
            || self.checks.iter().any(|c| c.failing.is_some());
        if probe_failed {
            TargetState::Degraded
        } else {
            TargetState::Up
        }
    }

    /// Every probe that failed, with its reason, most severe first.
    pub fn failures(&self) -> Vec<ProbeFailure> {
        let failures = [
            ("liveness", self.live.as_ref().err()),
            (
                "readiness",
                self.ready.as_ref().and_then(|r| r.as_ref().err()),
            ),
            (
                "metrics",
                self.metrics.as_ref().and_then(|m| m.as_ref().err()),
            ),
        ];
        failures
            .into_iter()
            .filter_map(|(probe, err)| {
                err.map(|e| ProbeFailure {
                    probe: probe.to_owned(),
                    reason: e.to_string(),
                })
            })
            .chain(self.mcp_failure().map(|reason| ProbeFailure {
                probe: "mcp".to_owned(),
                reason,
            }))
            .chain(self.checks.iter().filter_map(|c| {
                c.failing.clone().map(|reason| ProbeFailure {
                    probe: TOOL_CALL_PROBE.to_owned(),
                    reason,
                })
            }))
            .collect()
    }

    /// Why the MCP probe failed, or what its answer warns of.
    fn mcp_failure(&self) -> Option<String> {
        match self.mcp.as_ref()? {
            Err(err) => Some(err.to_string()),
            Ok(report) => report.warning.clone(),
        }
    }
}

/// The probe name of a failing synthetic tool call in a status's failures.
pub const TOOL_CALL_PROBE: &str = "tool call";

/// A probe that failed on a poll, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeFailure {
    pub probe: String,
    pub reason: String,
}

/// One stored poll: the flat signals charts read, plus the bucket deltas that quantiles
/// over longer windows are merged from. The default measured nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleRow {
    pub target_id: i64,
    pub at: DateTime<Utc>,
    pub state: TargetState,
    pub live_ms: Option<f64>,
    pub mcp_ms: Option<f64>,
    pub seconds: Option<f64>,
    pub requests: Option<f64>,
    pub errors: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub active_connections: Option<f64>,
    pub cpu_cores: Option<f64>,
    pub memory_bytes: Option<f64>,
    pub tools_executed: Option<f64>,
    pub resources_accessed: Option<f64>,
    pub sessions_active: Option<f64>,
    pub quota_remaining: Option<f64>,
    pub buckets: Option<BucketDeltas>,
    /// Polls a rollup row covers, and how many of them found the target down; `None` on a
    /// raw row, which is one poll and says so by its state.
    pub polls: Option<f64>,
    pub polls_down: Option<f64>,
    /// mcpops' own MCP probe round trips (ms) as a histogram, on rollup rows; a raw row's
    /// one round trip is its `mcp_ms`.
    pub probe_buckets: Option<BucketDeltas>,
}

/// The upper bounds (ms) of the histogram of MCP probe round trips.
pub const PROBE_BOUNDS_MS: [f64; 12] = [
    5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0, 30_000.0,
];

impl SampleRow {
    /// Polls this row covers, and how many found the target down.
    pub fn poll_counts(&self) -> (f64, f64) {
        match self.polls {
            Some(polls) => (polls, self.polls_down.unwrap_or(0.0)),
            None => (1.0, f64::from(u8::from(self.state == TargetState::Down))),
        }
    }

    /// The MCP probe's round trips this row covers, as a histogram.
    pub fn probe_histogram(&self) -> Option<BucketDeltas> {
        self.probe_buckets.clone().or_else(|| {
            self.mcp_ms
                .map(|ms| BucketDeltas::one(&PROBE_BOUNDS_MS, ms))
        })
    }

    pub fn rps(&self) -> Option<f64> {
        match (self.requests, self.seconds) {
            (Some(r), Some(s)) if s > 0.0 => Some(r / s),
            _ => None,
        }
    }

    pub fn error_ratio(&self) -> Option<f64> {
        match (self.errors, self.requests) {
            (Some(e), Some(r)) if r > 0.0 => Some((e / r).min(1.0)),
            _ => None,
        }
    }
}

/// The latest poll of a target, as fleet-wide pages show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetStatus {
    pub target_id: i64,
    pub at: DateTime<Utc>,
    pub state: TargetState,
    /// Every probe that failed on the latest poll, most severe first.
    pub failures: Vec<ProbeFailure>,
    pub readiness: Option<Readiness>,
    /// The MCP report without its tool list (tools are versioned separately).
    pub mcp: Option<McpReport>,
    pub p95: Option<f64>,
    pub error_ratio: Option<f64>,
    pub rps: Option<f64>,
    /// What the target offers, as the latest poll found it.
    #[serde(default)]
    pub offers: ProbeOffers,
    /// The TLS certificate of an https target, as last read.
    #[serde(default)]
    pub certificate: Option<Certificate>,
    /// Calls, errors and p95 by tool over the latest interval, from the server's metrics.
    #[serde(default)]
    pub tools: Option<ToolTable>,
    /// Where each synthetic tool call stands.
    #[serde(default)]
    pub checks: Vec<CheckStatus>,
}

/// The compact per-target message live pages receive after every poll; what it lacks is
/// left out of the JSON, as hundreds of pages may each parse a thousand a second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveUpdate {
    pub target_id: i64,
    pub at_ms: i64,
    pub state: TargetState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The MCP probe's round trip, sent only for a target without `p95_ms` (no metrics):
    /// its tile shows this instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_ms: Option<f64>,
}

impl LiveUpdate {
    /// What a tile shows as its latency: the server's p95, or else the probe's round trip,
    /// with the word for it.
    pub fn latency(&self) -> Option<(&'static str, f64)> {
        self.p95_ms
            .map(|ms| ("p95", ms))
            .or(self.probe_ms.map(|ms| ("MCP probe", ms)))
    }
}

/// One poll's p95 and error ratio: a point of a wall tile's sparklines.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrendPoint {
    pub p95_ms: Option<f64>,
    pub error_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_ms: Option<f64>,
}

impl TrendPoint {
    /// How many recent polls a sparkline shows.
    pub const KEPT: usize = 30;

    /// The server's p95, or else the probe's round trip, as the tile's figure shows.
    pub fn latency_ms(&self) -> Option<f64> {
        self.p95_ms.or(self.probe_ms)
    }
}

impl From<&LiveUpdate> for TrendPoint {
    fn from(update: &LiveUpdate) -> Self {
        Self {
            p95_ms: update.p95_ms,
            error_ratio: update.error_ratio,
            probe_ms: update.probe_ms,
        }
    }
}

impl From<&TargetStatus> for LiveUpdate {
    fn from(status: &TargetStatus) -> Self {
        Self {
            target_id: status.target_id,
            at_ms: status.at.timestamp_millis(),
            state: status.state,
            p95_ms: status.p95.map(|s| s * 1000.0),
            error_ratio: status.error_ratio,
            rps: status.rps,
            error: status
                .failures
                .first()
                .map(|f| format!("{}: {}", f.probe, f.reason)),
            probe_ms: status
                .p95
                .is_none()
                .then(|| status.mcp.as_ref().map(McpReport::round_trip_ms))
                .flatten(),
        }
    }
}

/// What ingest stores for one observation.
#[derive(Debug, Clone, PartialEq)]
pub struct PollRecord {
    pub sample: SampleRow,
    pub status: TargetStatus,
    pub tools: Option<Vec<Tool>>,
    /// The synthetic calls the poll made.
    pub check_results: Vec<CheckResult>,
}

impl PollRecord {
    pub fn from_observation(obs: &Observation) -> Self {
        let signals = match &obs.metrics {
            Some(Ok(Some(signals))) => Some(signals),
            _ => None,
        };
        let pick = |f: fn(&IntervalSignals) -> Option<f64>| signals.and_then(f);
        let (mcp, tools, mcp_ms) = match &obs.mcp {
            Some(Ok(report)) => {
                let total = report.round_trip_ms();
                (
                    Some(McpReport {
                        tools: None,
                        ..report.clone()
                    }),
                    report.tools.clone(),
                    Some(total),
                )
            }
            _ => (None, None, None),
        };
        let sample = SampleRow {
            target_id: obs.target_id,
            at: obs.at,
            state: obs.state(),
            live_ms: obs.live.as_ref().ok().copied(),
            mcp_ms,
            seconds: signals.map(|s| s.seconds),
            requests: pick(|s| s.requests),
            errors: pick(|s| s.errors),
            p50: pick(|s| s.latency_quantile(0.5)),
            p95: pick(|s| s.latency_quantile(0.95)),
            p99: pick(|s| s.latency_quantile(0.99)),
            active_connections: pick(|s| s.active_connections),
            cpu_cores: pick(|s| s.cpu_cores),
            memory_bytes: pick(|s| s.memory_bytes),
            tools_executed: pick(|s| s.tools_executed),
            resources_accessed: pick(|s| s.resources_accessed),
            sessions_active: pick(|s| s.sessions_active),
            quota_remaining: pick(|s| s.quota_remaining),
            buckets: signals.and_then(|s| s.buckets.clone()),
            polls: None,
            polls_down: None,
            probe_buckets: None,
        };
        let status = TargetStatus {
            target_id: obs.target_id,
            at: obs.at,
            state: sample.state,
            failures: obs.failures(),
            readiness: obs.ready.as_ref().and_then(|r| r.as_ref().ok()).cloned(),
            mcp,
            p95: sample.p95,
            error_ratio: sample.error_ratio(),
            rps: sample.rps(),
            offers: obs.offers,
            certificate: obs.certificate.clone(),
            tools: signals.and_then(|s| s.tools.clone()),
            checks: obs.checks.clone(),
        };
        Self {
            sample,
            status,
            tools,
            check_results: obs.check_results.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observation() -> Observation {
        Observation {
            target_id: 1,
            at: Utc::now(),
            live: Ok(2.0),
            ready: Some(Ok(Readiness {
                ready: true,
                checks: vec![("database".into(), true)],
            })),
            metrics: Some(Ok(None)),
            mcp: None,
            offers: ProbeOffers::default(),
            certificate: None,
            checks: Vec::new(),
            check_results: Vec::new(),
        }
    }

    #[test]
    fn a_failed_liveness_probe_means_down_whatever_else_happened() {
        let mut obs = observation();
        obs.live = Err(ProbeError::Refused);
        assert_eq!(obs.state(), TargetState::Down);
        assert_eq!(obs.failures()[0].probe, "liveness");
    }

    #[test]
    fn readiness_503_means_not_ready_and_names_the_failing_checks() {
        let mut obs = observation();
        obs.ready = Some(Ok(Readiness {
            ready: false,
            checks: vec![("database".into(), false), ("cache".into(), true)],
        }));
        assert_eq!(obs.state(), TargetState::NotReady);
        assert_eq!(
            obs.ready
                .as_ref()
                .and_then(|r| r.as_ref().ok())
                .map(Readiness::failing)
                .unwrap(),
            vec!["database"]
        );
    }

    #[test]
    fn a_failing_mcp_probe_degrades_a_live_target() {
        let mut obs = observation();
        obs.mcp = Some(Err(ProbeError::JsonRpc {
            code: -32601,
            message: "nope".into(),
        }));
        assert_eq!(obs.state(), TargetState::Degraded);
        assert_eq!(obs.failures()[0].reason, "JSON-RPC error -32601: nope");
    }

    #[test]
    fn a_failing_synthetic_call_degrades_a_live_target_and_says_which_tool() {
        use crate::domain::checks::Outcome;
        let mut obs = observation();
        let last = CheckResult {
            check_id: 7,
            target_id: 1,
            at: obs.at,
            ms: Some(3.0),
            outcome: Outcome::Failed("timed out".into()),
        };
        obs.checks = vec![CheckStatus {
            check_id: 7,
            tool: "echo".into(),
            last,
            failing: None,
            slow: None,
        }];
        assert_eq!(obs.state(), TargetState::Up, "one failed call is a blip");
        obs.checks[0].failing = Some("echo: 2 calls in a row failed".into());
        assert_eq!(obs.state(), TargetState::Degraded);
        assert_eq!(obs.failures()[0].probe, TOOL_CALL_PROBE);
        assert_eq!(obs.failures()[0].reason, "echo: 2 calls in a row failed");
    }
}
