//! Alert rules: what each watches and how urgent it is, and what one poll says about each.
use super::*;

/// How urgent an alert is; channels are routed by it (the most severe first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Self::Critical, Self::Warning, Self::Info];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether an alert of this severity reaches a channel that wants `minimum` or worse.
    pub fn at_least(self, minimum: Severity) -> bool {
        self <= minimum
    }
}

/// The rules the engine evaluates on every poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    TargetDown,
    NotReady,
    McpProbeFailing,
    ToolDrift,
    LatencyP50,
    LatencyP95,
    LatencyP99,
    ErrorRate,
    Traffic,
    /// An https target's certificate expires within 14 days.
    CertificateExpiring,
    /// … within 3 days.
    CertificateExpiringSoon,
    /// A synthetic tool call failed twice or more in a row.
    ToolCallFailing,
    /// A synthetic tool call is slow against its threshold or its own usual time.
    ToolCallSlow,
    /// No poll completed for three intervals: the collector stalled or lost the target.
    PollsStopped,
    /// Resident memory has grown steadily for hours.
    MemoryGrowth,
    /// The remaining API quota is under a tenth of the most seen in six hours.
    QuotaLow,
    /// Active connections or CPU well above the target's own usual level.
    Saturation,
}

impl RuleKind {
    pub const ALL: [RuleKind; 17] = [
        Self::TargetDown,
        Self::NotReady,
        Self::McpProbeFailing,
        Self::ToolDrift,
        Self::LatencyP50,
        Self::LatencyP95,
        Self::LatencyP99,
        Self::ErrorRate,
        Self::Traffic,
        Self::CertificateExpiring,
        Self::CertificateExpiringSoon,
        Self::ToolCallFailing,
        Self::ToolCallSlow,
        Self::PollsStopped,
        Self::MemoryGrowth,
        Self::QuotaLow,
        Self::Saturation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TargetDown => "target_down",
            Self::NotReady => "not_ready",
            Self::McpProbeFailing => "mcp_probe_failing",
            Self::ToolDrift => "tool_drift",
            Self::LatencyP50 => "latency_p50",
            Self::LatencyP95 => "latency_p95",
            Self::LatencyP99 => "latency_p99",
            Self::ErrorRate => "error_rate",
            Self::Traffic => "traffic",
            Self::CertificateExpiring => "certificate_expiring",
            Self::CertificateExpiringSoon => "certificate_expiring_soon",
            Self::ToolCallFailing => "tool_call_failing",
            Self::ToolCallSlow => "tool_call_slow",
            Self::PollsStopped => "polls_stopped",
            Self::MemoryGrowth => "memory_growth",
            Self::QuotaLow => "quota_low",
            Self::Saturation => "saturation",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::TargetDown => "Target down",
            Self::NotReady => "Not ready",
            Self::McpProbeFailing => "MCP probe failing",
            Self::ToolDrift => "Tool catalog drift",
            Self::LatencyP50 => "Latency p50 above baseline",
            Self::LatencyP95 => "Latency p95 above baseline",
            Self::LatencyP99 => "Latency p99 above baseline",
            Self::ErrorRate => "Error rate above baseline",
            Self::Traffic => "Traffic above baseline",
            Self::CertificateExpiring => "TLS certificate expires within 14 days",
            Self::CertificateExpiringSoon => "TLS certificate expires within 3 days",
            Self::ToolCallFailing => "Synthetic tool call failing",
            Self::ToolCallSlow => "Synthetic tool call slow",
            Self::PollsStopped => "Polls stopped (collector stalled)",
            Self::MemoryGrowth => "Memory growing steadily",
            Self::QuotaLow => "API quota running out",
            Self::Saturation => "Saturation above baseline",
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            Self::TargetDown
            | Self::ErrorRate
            | Self::CertificateExpiringSoon
            | Self::ToolCallFailing
            // Nobody is watching this target while it lasts.
            | Self::PollsStopped => Severity::Critical,
            Self::ToolDrift => Severity::Info,
            _ => Severity::Warning,
        }
    }

    /// The slug of the shipped runbook that serves this rule.
    pub fn runbook(self) -> &'static str {
        match self {
            // An expired certificate is a connection error waiting to happen.
            Self::TargetDown
            | Self::NotReady
            | Self::McpProbeFailing
            | Self::CertificateExpiring
            | Self::CertificateExpiringSoon
            // Until mcpops has a runbook of its own: the polls are connections that stopped.
            | Self::PollsStopped => "connection-errors",
            Self::ToolDrift => "zero-downtime-rolling-update",
            Self::MemoryGrowth => "memory-leak",
            // An exhausted quota turns into refused requests.
            Self::QuotaLow => "high-error-rate",
            Self::ErrorRate | Self::ToolCallFailing => "high-error-rate",
            Self::LatencyP50
            | Self::LatencyP95
            | Self::LatencyP99
            | Self::Traffic
            | Self::ToolCallSlow
            // The high-latency runbook's first diagnosis: connections and CPU.
            | Self::Saturation => "high-latency",
        }
    }

    /// Polls in a row the condition must hold before the alert fires, unless overridden.
    pub(super) fn default_for_polls(self) -> u32 {
        match self {
            // A call is judged failing or slow over several calls already.
            Self::ToolDrift
            | Self::CertificateExpiring
            | Self::CertificateExpiringSoon
            | Self::ToolCallFailing
            | Self::ToolCallSlow
            // Judged only after three silent intervals already.
            | Self::PollsStopped
            // Judged over hours already.
            | Self::MemoryGrowth => 1,
            Self::TargetDown | Self::NotReady | Self::McpProbeFailing => 2,
            _ => 3,
        }
    }

    /// The baseline signal this rule compares against, for the degradation rules.
    pub fn signal(self) -> Option<GoldenSignal> {
        match self {
            Self::LatencyP50 => Some(GoldenSignal::P50),
            Self::LatencyP95 => Some(GoldenSignal::P95),
            Self::LatencyP99 => Some(GoldenSignal::P99),
            Self::ErrorRate => Some(GoldenSignal::ErrorRate),
            Self::Traffic => Some(GoldenSignal::Rps),
            _ => None,
        }
    }
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one poll says about one rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// The condition holds, with what to tell the operator.
    Failing(String),
    Healthy,
    /// A signal value, judged against the rule's threshold.
    Value(f64),
    /// This poll says nothing about the rule (no metrics, or a worse rule covers it).
    NoData,
}

/// What a poll says for each rule except drift, which needs the acknowledged catalog.
/// Value rules read `recent`, which must already hold this poll.
pub fn read(rule: RuleKind, record: &PollRecord, recent: &RecentPolls) -> Reading {
    let status = &record.status;
    let failure = |probe: &str| {
        status
            .failures
            .iter()
            .find(|f| f.probe == probe)
            .map(|f| f.reason.clone())
    };
    let down = failure("liveness");
    match rule {
        // A poll completed, down or not: polls have not stopped.
        RuleKind::PollsStopped => Reading::Healthy,
        // Judged over the target's history (`ResourceHistory`), not one poll.
        RuleKind::MemoryGrowth | RuleKind::QuotaLow | RuleKind::Saturation => Reading::NoData,
        // Judged even while the target is down: an expired certificate may be why.
        RuleKind::CertificateExpiring | RuleKind::CertificateExpiringSoon => {
            certificate_reading(rule, status)
        }
        RuleKind::TargetDown => match down {
            Some(reason) => Reading::Failing(format!("liveness failed: {reason}")),
            None => Reading::Healthy,
        },
        // A target that is down is neither ready nor answering MCP; one alert says so.
        _ if down.is_some() => Reading::NoData,
        RuleKind::NotReady => match (&status.readiness, failure("readiness")) {
            (_, Some(reason)) => Reading::Failing(format!("readiness failed: {reason}")),
            (Some(r), None) if !r.ready => {
                let failing = r.failing();
                Reading::Failing(if failing.is_empty() {
                    "readiness answered 503".to_owned()
                } else {
                    format!("not ready: failing checks {}", failing.join(", "))
                })
            }
            (Some(_), None) => Reading::Healthy,
            (None, None) => Reading::NoData,
        },
        RuleKind::McpProbeFailing => match failure("mcp") {
            Some(reason) => Reading::Failing(reason),
            None if status.mcp.is_some() => Reading::Healthy,
            None => Reading::NoData,
        },
        RuleKind::ToolDrift => Reading::NoData,
        RuleKind::ToolCallFailing => {
            let failing: Vec<String> = status
                .failures
                .iter()
                .filter(|f| f.probe == TOOL_CALL_PROBE)
                .map(|f| f.reason.clone())
                .collect();
            checks_reading(status, failing)
        }
        RuleKind::ToolCallSlow => {
            let slow = status
                .checks
                .iter()
                .filter_map(|c| c.slow.clone())
                .collect();
            checks_reading(status, slow)
        }
        _ if record.sample.requests.is_none() => Reading::NoData,
        _ => match rule.signal().and_then(|s| recent.judged(s)) {
            Some(value) => Reading::Value(value),
            None => Reading::NoData,
        },
    }
}

/// Failing with every problem named, healthy while the target has checks and none has one.
fn checks_reading(status: &TargetStatus, problems: Vec<String>) -> Reading {
    if !problems.is_empty() {
        Reading::Failing(problems.join("; "))
    } else if status.checks.is_empty() {
        Reading::NoData
    } else {
        Reading::Healthy
    }
}

/// Days a certificate may have left before each certificate rule fails.
const CERTIFICATE_WARNING_DAYS: i64 = 14;
const CERTIFICATE_CRITICAL_DAYS: i64 = 3;

/// The warning covers 14 down to 3 days; below that the critical rule takes over, so one
/// alert is open at a time.
fn certificate_reading(rule: RuleKind, status: &TargetStatus) -> Reading {
    let Some(certificate) = &status.certificate else {
        return Reading::NoData;
    };
    let left = certificate.not_after - status.at;
    let critical = left < Duration::days(CERTIFICATE_CRITICAL_DAYS);
    let failing = match rule {
        RuleKind::CertificateExpiringSoon => critical,
        _ => !critical && left < Duration::days(CERTIFICATE_WARNING_DAYS),
    };
    if !failing {
        return Reading::Healthy;
    }
    let when = if left <= Duration::zero() {
        "expired".to_owned()
    } else {
        format!(
            "expires in {}",
            crate::domain::counted(left.num_days().max(0) as u64, "day")
        )
    };
    Reading::Failing(format!(
        "TLS certificate {} {when} ({}), issued by {}",
        certificate.subject,
        certificate.not_after.format("%Y-%m-%d %H:%M UTC"),
        certificate.issuer
    ))
}
