//! Alert rules, baselines and the life of one alert, evaluated on every poll: no I/O here.
//! `rules` says what a poll means for each rule, `pooled` pools signals over polls,
//! `baselines` holds what they are judged against, and `tracker` turns readings into alerts.
mod baselines;
mod pooled;
mod rules;
mod tracker;
mod trend;

pub use baselines::*;
pub use pooled::*;
pub use rules::*;
pub use tracker::*;
pub use trend::ResourceHistory;

use super::observation::{PollRecord, SampleRow, TOOL_CALL_PROBE, TargetStatus};
use super::signals::BucketDeltas;
use super::target::FieldErrors;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where an alert is in its life, as the engine tracks it (acknowledgement is stored, and
/// does not change how the condition is judged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Pending,
    Firing,
    Acknowledged,
    Resolved,
}

impl AlertState {
    pub const ALL: [AlertState; 4] = [
        Self::Firing,
        Self::Acknowledged,
        Self::Pending,
        Self::Resolved,
    ];
    /// Every state but resolved.
    pub const OPEN: [AlertState; 3] = [Self::Firing, Self::Acknowledged, Self::Pending];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Firing => "firing",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    pub fn is_open(self) -> bool {
        self != Self::Resolved
    }
}

/// An alert as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: i64,
    pub rule: RuleKind,
    pub target_id: i64,
    pub target_name: String,
    pub severity: Severity,
    pub state: AlertState,
    pub summary: String,
    /// It fired inside a silence: recorded, not notified.
    pub silenced: bool,
    pub opened_at: DateTime<Utc>,
    pub fired_at: Option<DateTime<Utc>>,
    pub acked_at: Option<DateTime<Utc>>,
    pub acked_by: Option<String>,
    pub ack_note: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// A baseline override as stored, with who set it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverrideRecord {
    pub baselines: BaselineOverride,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// The message live pages get when an alert changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertUpdate {
    pub alert_id: i64,
    pub target_id: i64,
    pub state: AlertState,
}

/// One stored change of an alert's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertStep {
    pub at: DateTime<Utc>,
    pub from: Option<AlertState>,
    pub to: AlertState,
    pub actor: String,
    pub note: String,
}

/// Which alerts a page, the wall or the engine asks for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertQuery {
    /// Alerts in any of these states; in any state at all when empty.
    pub states: Vec<AlertState>,
    pub severity: Option<Severity>,
    pub rule: Option<RuleKind>,
    /// Alerts of any of these targets; of every target when empty.
    pub target_ids: Vec<i64>,
    pub limit: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::observation::{ProbeFailure, Readiness, TargetState, TargetStatus};

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + seconds, 0).unwrap_or_default()
    }

    fn record(p95_seconds: Option<f64>) -> PollRecord {
        let sample = SampleRow {
            target_id: 1,
            at: at(0),
            state: TargetState::Up,
            live_ms: Some(1.0),
            mcp_ms: None,
            seconds: Some(10.0),
            requests: Some(1000.0),
            errors: Some(0.0),
            p50: None,
            p95: p95_seconds,
            p99: None,
            active_connections: None,
            cpu_cores: None,
            memory_bytes: None,
            tools_executed: None,
            resources_accessed: None,
            sessions_active: None,
            quota_remaining: None,
            buckets: None,
            polls: None,
            polls_down: None,
            probe_buckets: None,
        };
        PollRecord {
            status: TargetStatus {
                target_id: 1,
                at: at(0),
                state: TargetState::Up,
                failures: vec![],
                readiness: Some(Readiness {
                    ready: true,
                    checks: vec![("database".into(), true)],
                }),
                mcp: None,
                p95: p95_seconds,
                error_ratio: Some(0.0),
                rps: Some(100.0),
                offers: Default::default(),
                certificate: None,
                tools: None,
                checks: vec![],
            },
            sample,
            tools: None,
            check_results: vec![],
        }
    }

    #[test]
    fn tool_call_rules_read_the_checks_and_say_nothing_without_them() {
        use crate::domain::checks::{CheckResult, CheckStatus, Outcome};
        let mut record = record(None);
        let recent = RecentPolls::default();
        assert_eq!(
            read(RuleKind::ToolCallFailing, &record, &recent),
            Reading::NoData
        );
        let check = CheckStatus {
            check_id: 1,
            tool: "echo".into(),
            last: CheckResult {
                check_id: 1,
                target_id: 1,
                at: at(0),
                ms: Some(900.0),
                outcome: Outcome::Passed,
            },
            failing: None,
            slow: Some("echo: slow".into()),
        };
        record.status.checks = vec![check];
        assert_eq!(
            read(RuleKind::ToolCallFailing, &record, &recent),
            Reading::Healthy
        );
        assert_eq!(
            read(RuleKind::ToolCallSlow, &record, &recent),
            Reading::Failing("echo: slow".into())
        );
        record.status.failures.push(ProbeFailure {
            probe: TOOL_CALL_PROBE.into(),
            reason: "echo: 2 calls in a row failed".into(),
        });
        assert_eq!(
            read(RuleKind::ToolCallFailing, &record, &recent),
            Reading::Failing("echo: 2 calls in a row failed".into())
        );
        assert_eq!(RuleKind::ToolCallFailing.severity(), Severity::Critical);
    }

    fn damping() -> Damping {
        Damping {
            clear_polls: 2,
            min_firing: Duration::seconds(60),
            hysteresis: 0.1,
        }
    }

    fn p95_policy() -> Policy {
        Policy::for_rule(RuleKind::LatencyP95, &Baselines::default(), damping())
    }

    /// Feeds p95 readings (ms) at 10 s intervals; returns the transitions in order.
    fn run(values: &[f64], policy: &Policy) -> Vec<(usize, Transition)> {
        let mut tracker = Tracker::default();
        values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                tracker
                    .step(Reading::Value(*v), at(i as i64 * 10), policy, |v| {
                        format!("{v}")
                    })
                    .map(|t| (i, t))
            })
            .collect()
    }

    #[test]
    fn exactly_one_and_a_half_times_the_baseline_does_not_fire_but_just_above_does() {
        let policy = p95_policy();
        assert_eq!(policy.threshold, Some(750.0));
        assert!(run(&[750.0; 10], &policy).is_empty());
        let fired = run(&[750.1; 3], &policy);
        assert!(matches!(fired[0], (0, Transition::Pending { .. })));
        assert!(matches!(fired[1], (2, Transition::Firing { .. })));
    }

    #[test]
    fn a_degradation_fires_only_after_its_for_window_of_polls() {
        let policy = p95_policy();
        assert_eq!(policy.for_polls, 3);
        let transitions = run(&[900.0, 900.0], &policy);
        assert_eq!(transitions.len(), 1, "pending after two polls, not firing");
        let transitions = run(&[900.0, 900.0, 400.0, 900.0, 900.0, 900.0], &policy);
        let kinds: Vec<_> = transitions.iter().map(|(i, t)| (*i, t.clone())).collect();
        assert!(matches!(kinds[0], (0, Transition::Pending { .. })));
        assert!(matches!(
            kinds[1],
            (2, Transition::Resolved { fired: false })
        ));
        assert!(matches!(kinds[2], (3, Transition::Pending { .. })));
        assert!(matches!(kinds[3], (5, Transition::Firing { .. })));
    }

    #[test]
    fn a_firing_alert_holds_inside_the_hysteresis_band() {
        let policy = p95_policy();
        // Fires at poll 2, then hovers at 700 ms: below 750 but above 750 × 0.9 = 675.
        let mut values = vec![900.0; 3];
        values.extend([700.0; 20]);
        let transitions = run(&values, &policy);
        assert_eq!(transitions.len(), 2, "{transitions:?}");
        // Below the band it resolves after two clear polls.
        values.extend([600.0, 600.0]);
        let transitions = run(&values, &policy);
        assert!(matches!(
            transitions.last(),
            Some((24, Transition::Resolved { fired: true }))
        ));
    }

    #[test]
    fn a_flapping_target_stays_firing_for_the_minimum_duration() {
        let policy = p95_policy();
        // Fires at poll 2 (t = 20 s); clear from t = 30 s; the minimum of 60 s holds it
        // until t = 80 s even though two clear polls came at t = 40 s.
        let values = [
            900.0, 900.0, 900.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0,
        ];
        let transitions = run(&values, &policy);
        assert_eq!(transitions.len(), 3, "{transitions:?}");
        assert!(matches!(
            transitions[2],
            (8, Transition::Resolved { fired: true })
        ));
        // Swinging above and below resets the clear count: no resolve, no new firing.
        let flapping = [
            900.0, 900.0, 900.0, 100.0, 900.0, 100.0, 900.0, 100.0, 900.0, 100.0, 900.0,
        ];
        let transitions = run(&flapping, &policy);
        assert_eq!(
            transitions.len(),
            2,
            "one pending, one firing: {transitions:?}"
        );
    }

    #[test]
    fn a_certificate_warns_at_14_days_and_turns_critical_at_3() {
        let reading = |days: f64| {
            let mut r = record(None);
            r.status.certificate = Some(crate::domain::observation::Certificate {
                subject: "CN=mcp.test".into(),
                issuer: "CN=Test CA".into(),
                not_after: r.status.at + Duration::seconds((days * 86_400.0) as i64),
            });
            let recent = RecentPolls::default();
            (
                read(RuleKind::CertificateExpiring, &r, &recent),
                read(RuleKind::CertificateExpiringSoon, &r, &recent),
            )
        };
        assert_eq!(reading(30.0), (Reading::Healthy, Reading::Healthy));
        let (warning, critical) = reading(10.5);
        assert!(
            matches!(warning, Reading::Failing(ref m) if m.contains("expires in 10 days")),
            "{warning:?}"
        );
        assert_eq!(critical, Reading::Healthy);
        let (warning, critical) = reading(2.0);
        assert_eq!(warning, Reading::Healthy, "one alert at a time");
        assert!(
            matches!(critical, Reading::Failing(ref m) if m.contains("issued by CN=Test CA")),
            "{critical:?}"
        );
        let (_, expired) = reading(-1.0);
        assert!(
            matches!(expired, Reading::Failing(ref m) if m.contains("expired")),
            "{expired:?}"
        );
        let mut without = record(None);
        without.status.certificate = None;
        assert_eq!(
            read(
                RuleKind::CertificateExpiring,
                &without,
                &RecentPolls::default()
            ),
            Reading::NoData
        );
        assert_eq!(
            RuleKind::CertificateExpiringSoon.severity(),
            Severity::Critical
        );
    }

    #[test]
    fn target_down_fires_on_the_second_failed_poll_and_resolves_when_live_again() {
        let policy = Policy::for_rule(
            RuleKind::TargetDown,
            &Baselines::default(),
            Damping {
                min_firing: Duration::zero(),
                ..damping()
            },
        );
        let mut down = record(None);
        down.status.failures = vec![ProbeFailure {
            probe: "liveness".into(),
            reason: "connection refused".into(),
        }];
        let up = record(None);
        let mut tracker = Tracker::default();
        let mut step = |r: &PollRecord, t| {
            tracker.step(
                read(RuleKind::TargetDown, r, &RecentPolls::default()),
                at(t),
                &policy,
                |_| String::new(),
            )
        };
        assert!(
            matches!(step(&down, 0), Some(Transition::Pending { detail }) if detail.contains("refused"))
        );
        assert!(matches!(step(&down, 10), Some(Transition::Firing { .. })));
        assert_eq!(step(&up, 20), None);
        assert_eq!(step(&up, 30), Some(Transition::Resolved { fired: true }));
    }

    #[test]
    fn not_ready_names_the_failing_checks_and_is_silent_while_down() {
        let mut not_ready = record(None);
        not_ready.status.readiness = Some(Readiness {
            ready: false,
            checks: vec![("database".into(), false), ("cache".into(), true)],
        });
        assert_eq!(
            read(RuleKind::NotReady, &not_ready, &RecentPolls::default()),
            Reading::Failing("not ready: failing checks database".into())
        );
        not_ready.status.failures.push(ProbeFailure {
            probe: "liveness".into(),
            reason: "timed out".into(),
        });
        assert_eq!(
            read(RuleKind::NotReady, &not_ready, &RecentPolls::default()),
            Reading::NoData
        );
    }

    #[test]
    fn mcp_probe_failure_is_read_from_the_polls_failures() {
        let mut failing = record(None);
        failing.status.failures.push(ProbeFailure {
            probe: "mcp".into(),
            reason: "JSON-RPC error -32603: boom".into(),
        });
        assert_eq!(
            read(RuleKind::McpProbeFailing, &failing, &RecentPolls::default()),
            Reading::Failing("JSON-RPC error -32603: boom".into())
        );
        assert_eq!(
            read(
                RuleKind::McpProbeFailing,
                &record(None),
                &RecentPolls::default()
            ),
            Reading::NoData
        );
    }

    #[test]
    fn signals_are_read_in_baseline_units() {
        let mut r = record(Some(0.8));
        r.sample.errors = Some(5.0);
        let mut recent = RecentPolls::default();
        recent.push(&r.sample);
        let read = |rule| read(rule, &r, &recent);
        assert_eq!(read(RuleKind::LatencyP95), Reading::Value(800.0));
        // 5 errors in 1,000 requests: 0.5% seen, judged at its lower bound.
        assert!(matches!(read(RuleKind::ErrorRate), Reading::Value(v) if (0.1..0.5).contains(&v)));
        assert_eq!(read(RuleKind::Traffic), Reading::Value(100.0));
        assert_eq!(read(RuleKind::LatencyP99), Reading::NoData);
    }

    fn poll_with(requests: f64, errors: f64) -> SampleRow {
        SampleRow {
            requests: Some(requests),
            errors: Some(errors),
            ..record(None).sample
        }
    }

    fn judged_error_rate(polls: &[(f64, f64)]) -> f64 {
        let mut recent = RecentPolls::default();
        for &(requests, errors) in polls {
            recent.push(&poll_with(requests, errors));
        }
        recent
            .judged(GoldenSignal::ErrorRate)
            .expect("an error rate")
    }

    #[test]
    fn a_stray_error_on_a_healthy_server_is_no_breach() {
        let threshold = Baselines::default().threshold(GoldenSignal::ErrorRate);
        // One error in 300 requests is 0.33%, but no evidence of a rate above 0.15%.
        assert!(judged_error_rate(&[(300.0, 1.0)]) < threshold);
        // Nor is one error in a quiet minute.
        assert!(
            judged_error_rate(
                &[(20.0, 0.0); 5]
                    .iter()
                    .chain(&[(20.0, 1.0)])
                    .copied()
                    .collect::<Vec<_>>()
            ) < threshold
        );
        // A healthy server's minute: 0.05% of 6 × 300 requests, rounded up.
        assert!(
            judged_error_rate(&[
                (300.0, 0.0),
                (300.0, 1.0),
                (300.0, 0.0),
                (300.0, 0.0),
                (300.0, 0.0),
                (300.0, 1.0)
            ]) < threshold
        );
    }

    #[test]
    fn a_burst_or_a_steady_rise_is_a_breach() {
        let threshold = Baselines::default().threshold(GoldenSignal::ErrorRate);
        // A quarter of one poll's requests failing, after five calm polls.
        let calm = [(300.0, 0.0); 5];
        assert!(judged_error_rate(&[&calm[..], &[(300.0, 75.0)]].concat()) > threshold);
        // 0.5% for a minute: 9 errors in 1,800 requests.
        assert!(
            judged_error_rate(&[
                (300.0, 1.0),
                (300.0, 2.0),
                (300.0, 1.0),
                (300.0, 2.0),
                (300.0, 1.0),
                (300.0, 2.0)
            ]) > threshold
        );
        // Only the newest polls count: the first of seven, all errors, has left the window.
        let mut polls = vec![(300.0, 300.0)];
        polls.extend([(300.0, 0.0); ERROR_RATE_POLLS]);
        assert!(judged_error_rate(&polls) < threshold);
    }

    #[test]
    fn the_judged_error_rate_never_exceeds_the_observed_one_and_nears_it_with_traffic() {
        for (errors, requests) in [(0.0, 10.0), (1.0, 10.0), (5.0, 1000.0), (500.0, 1000.0)] {
            let low = error_rate_lower_bound(errors, requests).expect("a bound");
            assert!(
                (0.0..=errors / requests * 100.0).contains(&low),
                "{errors}/{requests}: {low}"
            );
        }
        let busy = error_rate_lower_bound(5_000.0, 1_000_000.0).expect("a bound");
        assert!((0.47..0.5).contains(&busy), "{busy}");
        assert_eq!(error_rate_lower_bound(0.0, 0.0), None);
    }

    /// Errors among `requests` at `rate`: Poisson, as errors are rare.
    fn errors_at(rng: &mut impl rand::Rng, requests: f64, rate: f64) -> f64 {
        let mean = requests * rate;
        let (mut k, mut p, mut cumulative) = (0.0, (-mean).exp(), (-mean).exp());
        let u: f64 = rng.random();
        while u > cumulative && k < requests {
            k += 1.0;
            p *= mean / k;
            cumulative += p;
        }
        k
    }

    #[test]
    fn a_healthy_fleet_at_a_third_of_the_threshold_does_not_page() {
        use rand::{Rng, SeedableRng};
        // 10,000 server-hours of 10 s polls at 20–120 req/s and 0.05% errors, as the demo's:
        // each judgment is a test, and a fleet makes thousands a minute.
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let policy = Policy::for_rule(
            RuleKind::ErrorRate,
            &Baselines::default(),
            Damping::default(),
        );
        let mut fired = 0;
        for _ in 0..10_000 {
            let requests = (rng.random_range(20.0..120.0_f64) * 10.0).round();
            let mut recent = RecentPolls::default();
            let mut tracker = Tracker::default();
            for i in 0..360 {
                recent.push(&poll_with(requests, errors_at(&mut rng, requests, 0.0005)));
                let judged = recent
                    .judged(GoldenSignal::ErrorRate)
                    .expect("an error rate");
                let step = tracker.step(Reading::Value(judged), at(i * 10), &policy, |_| {
                    String::new()
                });
                fired += usize::from(matches!(step, Some(Transition::Firing { .. })));
            }
        }
        assert!(fired <= 2, "{fired} false alerts in 10,000 server-hours");
    }

    #[test]
    fn a_poll_without_metrics_leaves_the_error_rate_as_it_was() {
        let mut recent = RecentPolls::default();
        recent.push(&poll_with(1000.0, 50.0));
        let before = recent.judged(GoldenSignal::ErrorRate);
        recent.push(&SampleRow {
            requests: None,
            ..record(None).sample
        });
        assert_eq!(recent.judged(GoldenSignal::ErrorRate), before);
        // Nor does a server that counts requests but not errors have a rate of 0.
        let mut uncounted = RecentPolls::default();
        uncounted.push(&SampleRow {
            errors: None,
            ..poll_with(1000.0, 0.0)
        });
        assert_eq!(uncounted.judged(GoldenSignal::ErrorRate), None);
    }

    #[test]
    fn no_data_neither_starts_nor_clears_an_alert() {
        let policy = p95_policy();
        let mut tracker = Tracker::default();
        for i in 0..3 {
            tracker.step(Reading::Value(900.0), at(i * 10), &policy, |v| {
                v.to_string()
            });
        }
        for i in 3..20 {
            assert_eq!(
                tracker.step(Reading::NoData, at(i * 10), &policy, |v| v.to_string()),
                None
            );
        }
        assert!(!tracker.is_idle());
    }

    #[test]
    fn overrides_apply_fleet_then_tags_then_target() {
        let form = |p95: &str, factor: &str| BaselineForm {
            p95_ms: p95.into(),
            factor: factor.into(),
            ..BaselineForm::default()
        };
        let overrides = vec![
            BaselineOverride::parse(Scope::Target(7), &form("200", "")).unwrap(),
            BaselineOverride::parse(Scope::Fleet, &form("400", "2")).unwrap(),
            BaselineOverride::parse(Scope::Tag("edge".into()), &form("300", "")).unwrap(),
        ];
        let edge = vec!["edge".to_owned()];
        let target = Baselines::for_target(&overrides, 7, &edge);
        assert_eq!(
            (target.p95_ms, target.factor, target.p50_ms),
            (200.0, 2.0, 100.0)
        );
        assert_eq!(Baselines::for_target(&overrides, 8, &edge).p95_ms, 300.0);
        assert_eq!(Baselines::for_target(&overrides, 8, &[]).p95_ms, 400.0);
    }

    #[test]
    fn bad_rule_values_are_refused_field_by_field() {
        let form = BaselineForm {
            p50_ms: "-5".into(),
            p95_ms: "NaN".into(),
            p99_ms: "fast".into(),
            error_rate_pct: "150".into(),
            factor: "1".into(),
            for_polls: "0".into(),
            ..BaselineForm::default()
        };
        let errors = BaselineOverride::parse(Scope::Fleet, &form).unwrap_err();
        let fields: Vec<&str> = errors.0.keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            [
                "error_rate_pct",
                "factor",
                "for_polls",
                "p50_ms",
                "p95_ms",
                "p99_ms"
            ]
        );
        assert!(errors.get("factor").unwrap().contains("greater than 1"));
    }

    #[test]
    fn learned_baselines_are_the_median_of_the_hourly_values() {
        let hours: Vec<SampleRow> = [0.12, 0.08, 0.1, 0.09]
            .into_iter()
            .map(|p50| SampleRow {
                p50: Some(p50),
                ..record(None).sample
            })
            .collect();
        let learned = learn_baselines(1, &hours).unwrap();
        assert_eq!(learned.hours, 4);
        assert!((learned.p50_ms.unwrap() - 95.0).abs() < 1e-9);
        assert_eq!(learned.rps, Some(100.0));
        assert_eq!(learned.error_rate_pct, Some(0.0));
        assert_eq!(learned.p99_ms, None);
        assert_eq!(learn_baselines(1, &[]), None);
    }

    #[test]
    fn the_breach_description_names_value_threshold_and_baseline() {
        assert_eq!(
            describe_breach(GoldenSignal::P95, 812.4, &Baselines::default()),
            "p95 latency 812 ms > 750 ms (500 ms × 1.5)"
        );
        assert_eq!(
            describe_breach(GoldenSignal::ErrorRate, 0.184, &Baselines::default()),
            "error rate at least 0.18% > 0.15% (0.10% × 1.5)"
        );
    }

    #[test]
    fn channels_get_alerts_of_their_severity_or_worse() {
        assert!(Severity::Critical.at_least(Severity::Warning));
        assert!(!Severity::Info.at_least(Severity::Warning));
    }
}
