//! Deploy markers, and the before/after comparison that flags a regressing rollout.
use super::alerts::{Baselines, GoldenSignal, pooled};
use super::observation::SampleRow;
use super::target::FieldErrors;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How far either side of a deploy the comparison looks.
pub const COMPARE_WINDOW: Duration = Duration::minutes(30);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deploy {
    pub id: i64,
    /// The target deployed, or `None` when the deploy was of a tag.
    pub target_id: Option<i64>,
    pub tag: Option<String>,
    pub version: String,
    pub note: String,
    pub at: DateTime<Utc>,
    pub created_by: String,
}

impl Deploy {
    pub fn covers(&self, target_id: i64, tags: &[String]) -> bool {
        self.target_id == Some(target_id) || self.tag.as_ref().is_some_and(|t| tags.contains(t))
    }
}

/// A deploy as typed or posted: of a target (by name) or of a tag, with a version label.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeployForm {
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub tag: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub note: String,
}

impl DeployForm {
    /// Checks the text fields; the caller resolves the target name.
    pub fn check(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        let target = self.target.trim();
        let tag = self.tag.trim();
        if target.is_empty() == tag.is_empty() {
            errors.add("target", "name either a target or a tag");
        }
        let version = self.version.trim();
        if version.is_empty() || version.chars().count() > 128 {
            errors.add("version", "1 to 128 characters");
        }
        if self.note.chars().count() > 1000 || tag.chars().count() > 64 {
            errors.add("note", "at most 1000 characters");
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// One signal before and after a deploy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalChange {
    pub signal: GoldenSignal,
    pub before: Option<f64>,
    pub after: Option<f64>,
    /// After is worse than before × the baseline factor.
    pub regressed: bool,
}

/// Latency quantiles from the merged buckets of each side (never averaged percentiles);
/// the error rate from summed counts; traffic as the mean rate.
pub fn compare(
    samples: &[SampleRow],
    at: DateTime<Utc>,
    baselines: &Baselines,
) -> Vec<SignalChange> {
    let before: Vec<&SampleRow> = samples
        .iter()
        .filter(|s| s.at < at && s.at >= at - COMPARE_WINDOW)
        .collect();
    let after: Vec<&SampleRow> = samples
        .iter()
        .filter(|s| s.at >= at && s.at < at + COMPARE_WINDOW)
        .collect();
    GoldenSignal::ALL
        .into_iter()
        .map(|signal| {
            let before_value = pooled(&before, signal);
            let after_value = pooled(&after, signal);
            // Traffic going up is not a regression; every other signal is worse higher.
            let regressed = signal != GoldenSignal::Rps
                && matches!((before_value, after_value),
                    (Some(b), Some(a)) if a > b * baselines.factor && a > 0.0);
            SignalChange {
                signal,
                before: before_value,
                after: after_value,
                regressed,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::observation::TargetState;
    use crate::domain::signals::BucketDeltas;

    fn sample(at: DateTime<Utc>, errors: f64, latency_bucket: usize) -> SampleRow {
        let mut counts = vec![0.0; 4];
        counts[latency_bucket] = 100.0;
        SampleRow {
            target_id: 1,
            at,
            state: TargetState::Up,
            live_ms: None,
            mcp_ms: None,
            seconds: Some(10.0),
            requests: Some(100.0),
            errors: Some(errors),
            p50: None,
            p95: None,
            p99: None,
            active_connections: None,
            cpu_cores: None,
            memory_bytes: None,
            tools_executed: None,
            resources_accessed: None,
            sessions_active: None,
            quota_remaining: None,
            buckets: Some(BucketDeltas {
                bounds: vec![0.05, 0.1, 0.5],
                counts,
            }),
            polls: None,
            polls_down: None,
            probe_buckets: None,
        }
    }

    #[test]
    fn a_deploy_that_multiplies_errors_and_latency_is_flagged() {
        let at = Utc::now();
        let mut rows: Vec<SampleRow> = (1..=10)
            .map(|m| sample(at - Duration::minutes(m), 0.1, 1))
            .collect();
        rows.extend((0..10).map(|m| sample(at + Duration::minutes(m), 1.0, 2)));
        let changes = compare(&rows, at, &Baselines::default());
        let find = |s: GoldenSignal| changes.iter().find(|c| c.signal == s).cloned().unwrap();
        let errors = find(GoldenSignal::ErrorRate);
        assert!(errors.regressed, "{errors:?}");
        assert!((errors.before.unwrap() - 0.1).abs() < 1e-9);
        assert!(find(GoldenSignal::P50).regressed);
        assert!(!find(GoldenSignal::Rps).regressed);
    }

    #[test]
    fn a_steady_deploy_is_not_flagged_and_a_missing_side_is_unknown() {
        let at = Utc::now();
        let rows: Vec<SampleRow> = (-10..10)
            .map(|m| sample(at + Duration::minutes(m), 0.1, 1))
            .collect();
        assert!(
            compare(&rows, at, &Baselines::default())
                .iter()
                .all(|c| !c.regressed)
        );
        let only_before: Vec<SampleRow> = rows.into_iter().filter(|r| r.at < at).collect();
        let changes = compare(&only_before, at, &Baselines::default());
        assert!(changes.iter().all(|c| c.after.is_none() && !c.regressed));
    }

    #[test]
    fn a_deploy_form_names_a_target_or_a_tag_not_both() {
        let both = DeployForm {
            target: "a".into(),
            tag: "b".into(),
            version: "1.2".into(),
            note: String::new(),
        };
        assert!(both.check().unwrap_err().get("target").is_some());
        let ok = DeployForm {
            tag: String::new(),
            ..both
        };
        assert!(ok.check().is_ok());
    }
}
