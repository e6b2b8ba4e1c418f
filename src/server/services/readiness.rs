//! Readiness facts: what mcpops has seen of a target, for the pre-production checklist.
use crate::domain::alerts::{RuleKind, Severity};
use crate::domain::notifications::Channel;
use crate::domain::observation::TargetStatus;
use crate::domain::readiness::{ReadinessFacts, ReadinessRow, ServerReadiness, Tick, checklist};
use crate::domain::target::Target;
use crate::server::state::AppState;
use crate::server::store::StoreResult;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// The facts that are the same for every target, read once per page.
pub struct FleetFacts {
    alert_engine_on: bool,
    rules_with_runbooks: (usize, usize),
    last_verified_restore: Option<DateTime<Utc>>,
    channels: Vec<Channel>,
}

impl FleetFacts {
    pub async fn gather(state: &AppState) -> StoreResult<Self> {
        let runbooks = state.runbooks.all().await;
        let linked = RuleKind::ALL
            .iter()
            .filter(|rule| runbooks.iter().any(|r| r.slug == rule.runbook()))
            .count();
        Ok(Self {
            alert_engine_on: state.alerts.engine_on,
            rules_with_runbooks: (linked, RuleKind::ALL.len()),
            last_verified_restore: state
                .backups
                .recovery()
                .await?
                .last_verified
                .map(|run| run.finished_at),
            channels: state
                .store
                .channels()
                .await?
                .into_iter()
                .map(|(channel, _)| channel)
                .collect(),
        })
    }

    pub fn checklist(
        &self,
        target: &Target,
        status: Option<&TargetStatus>,
        ticks: &[Tick],
    ) -> Vec<ReadinessRow> {
        checklist(&self.facts(target, status), ticks)
    }

    fn facts(&self, target: &Target, status: Option<&TargetStatus>) -> ReadinessFacts {
        let failed =
            |probe: &str| status.is_none_or(|s| s.failures.iter().any(|f| f.probe == probe));
        ReadinessFacts {
            last_poll: status.map(|s| s.at),
            metrics_scraped: status.is_some_and(|s| s.rps.is_some() || s.p95.is_some()),
            live: !failed("liveness"),
            ready: !failed("readiness")
                && status.is_some_and(|s| s.readiness.as_ref().is_some_and(|r| r.ready)),
            ready_checks: status
                .and_then(|s| s.readiness.as_ref())
                .map(|r| r.checks.iter().map(|(name, _)| name.clone()).collect())
                .unwrap_or_default(),
            mcp_protocol: status
                .and_then(|s| s.mcp.as_ref())
                // A protected server that asked for a token has negotiated nothing yet.
                .filter(|m| !m.protocol_version.is_empty())
                .map(|m| m.protocol_version.clone()),
            alert_engine_on: self.alert_engine_on,
            alert_channels: self
                .channels
                .iter()
                .filter(|c| c.wants(Severity::Critical, &target.tags))
                .map(|c| c.name.clone())
                .collect(),
            rules: RuleKind::ALL.len(),
            rules_with_runbooks: self.rules_with_runbooks,
            last_verified_restore: self.last_verified_restore,
            offers: status.map(|s| s.offers).unwrap_or_default(),
        }
    }
}

/// Every target's checklist, in name order, from the stored latest statuses (one read for
/// the fleet, as the single-target checklist reads its own).
pub async fn fleet(state: &AppState) -> StoreResult<Vec<ServerReadiness>> {
    let fleet = FleetFacts::gather(state).await?;
    let targets = state.directory.targets(state.store.as_ref()).await?;
    let latest: HashMap<i64, TargetStatus> = state
        .store
        .target_statuses()
        .await?
        .into_iter()
        .map(|status| (status.target_id, status))
        .collect();
    let mut ticks: HashMap<i64, Vec<Tick>> = HashMap::new();
    for (target_id, tick) in state.store.all_readiness_ticks().await? {
        ticks.entry(target_id).or_default().push(tick);
    }
    Ok(targets
        .iter()
        .map(|target| ServerReadiness {
            target_id: target.id,
            name: target.name.clone(),
            tags: target.tags.clone(),
            rows: fleet.checklist(
                target,
                latest.get(&target.id),
                ticks.get(&target.id).map_or(&[][..], Vec::as_slice),
            ),
        })
        .collect())
}
