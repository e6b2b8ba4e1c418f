//! Operational readiness per target: the guide's pre-production checklist, with the items
//! mcpops can prove filled from what it has seen, and the rest ticked by hand.
use super::offers::{Offer, ProbeKind, ProbeOffers};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadinessItem {
    Monitoring,
    HealthChecks,
    McpProbe,
    Alerts,
    Runbooks,
    BackupTested,
    Logging,
    CapacityPlan,
    Security,
    OnCall,
}

impl ReadinessItem {
    pub const ALL: [ReadinessItem; 10] = [
        Self::Monitoring,
        Self::HealthChecks,
        Self::McpProbe,
        Self::Alerts,
        Self::Runbooks,
        Self::BackupTested,
        Self::Logging,
        Self::CapacityPlan,
        Self::Security,
        Self::OnCall,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Monitoring => "monitoring",
            Self::HealthChecks => "health_checks",
            Self::McpProbe => "mcp_probe",
            Self::Alerts => "alerts",
            Self::Runbooks => "runbooks",
            Self::BackupTested => "backup_tested",
            Self::Logging => "logging",
            Self::CapacityPlan => "capacity_plan",
            Self::Security => "security",
            Self::OnCall => "on_call",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.as_str() == raw)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Monitoring => "Monitoring: metrics are scraped",
            Self::HealthChecks => "Health endpoints answer (live and ready)",
            Self::McpProbe => "The MCP endpoint answers the protocol",
            Self::Alerts => "Alert rules are active",
            Self::Runbooks => "Runbooks are linked to the alerts",
            Self::BackupTested => "Backups are tested by a verified restore",
            Self::Logging => "Structured logs are shipped and searchable",
            Self::CapacityPlan => "A capacity plan covers the expected peak",
            Self::Security => "Authentication and secrets are reviewed",
            Self::OnCall => "An on-call rota owns the service",
        }
    }

    /// Items mcpops proves from its own data; the others are ticked by a person.
    pub fn is_automatic(self) -> bool {
        matches!(
            self,
            Self::Monitoring
                | Self::HealthChecks
                | Self::McpProbe
                | Self::Alerts
                | Self::Runbooks
                | Self::BackupTested
        )
    }
}

/// What mcpops knows about a target, for the automatic items.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadinessFacts {
    pub last_poll: Option<DateTime<Utc>>,
    /// The latest poll had signals from `/metrics`.
    pub metrics_scraped: bool,
    pub live: bool,
    pub ready: bool,
    pub ready_checks: Vec<String>,
    pub mcp_protocol: Option<String>,
    pub alert_engine_on: bool,
    pub rules: usize,
    /// Rules whose runbook is in the library, of all rules.
    pub rules_with_runbooks: (usize, usize),
    pub last_verified_restore: Option<DateTime<Utc>>,
    /// What the target offers, as its latest poll found it.
    pub offers: ProbeOffers,
}

/// A manual item's tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    pub item: ReadinessItem,
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    /// Proven by mcpops, or ticked by a person.
    Met,
    Unmet,
    /// The server does not offer the endpoint this item is proven from: a suggestion, not a
    /// failure of the target.
    NotOffered,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadinessRow {
    pub item: ReadinessItem,
    pub state: ItemState,
    /// The evidence, or what is missing.
    pub evidence: String,
    /// For manual items: who ticked it and when.
    pub tick: Option<Tick>,
}

pub fn checklist(facts: &ReadinessFacts, ticks: &[Tick]) -> Vec<ReadinessRow> {
    ReadinessItem::ALL
        .into_iter()
        .map(|item| {
            if !item.is_automatic() {
                let tick = ticks.iter().find(|t| t.item == item).cloned();
                return ReadinessRow {
                    item,
                    state: if tick.is_some() {
                        ItemState::Met
                    } else {
                        ItemState::Unmet
                    },
                    evidence: match item {
                        ReadinessItem::Logging => "mcpops cannot see logs: confirm by hand".into(),
                        _ => "confirm by hand".into(),
                    },
                    tick,
                };
            }
            if let Some(suggestion) = not_offered(item, facts) {
                return ReadinessRow {
                    item,
                    state: ItemState::NotOffered,
                    evidence: suggestion.into(),
                    tick: None,
                };
            }
            let (met, evidence) = automatic(item, facts);
            ReadinessRow {
                item,
                state: if met {
                    ItemState::Met
                } else {
                    ItemState::Unmet
                },
                evidence,
                tick: None,
            }
        })
        .collect()
}

/// What to add, for an item whose endpoint the server does not offer.
fn not_offered(item: ReadinessItem, facts: &ReadinessFacts) -> Option<&'static str> {
    let missing = |probe| facts.offers.get(probe) == Offer::NotOffered;
    match item {
        ReadinessItem::Monitoring if !facts.metrics_scraped && missing(ProbeKind::Metrics) => Some(
            "not offered: the server has no /metrics. Add a Prometheus endpoint with the \
             guide's names (mcp_requests_total, mcp_request_duration_seconds, …) for its own \
             golden signals; until then mcpops measures latency and availability from its probes",
        ),
        ReadinessItem::HealthChecks if missing(ProbeKind::Live) || missing(ProbeKind::Ready) => {
            Some(
                "not offered: add /health/live (200 while the process runs) and /health/ready \
             (200, or 503 with a checks map naming what is not ready); until then the MCP \
             answer is its liveness",
            )
        }
        _ => None,
    }
}

fn automatic(item: ReadinessItem, facts: &ReadinessFacts) -> (bool, String) {
    let polled = facts
        .last_poll
        .map(|at| format!(" (last poll {})", at.format("%Y-%m-%d %H:%M:%S UTC")))
        .unwrap_or_default();
    match item {
        ReadinessItem::Monitoring if facts.metrics_scraped => (
            true,
            format!("golden signals scraped from /metrics{polled}"),
        ),
        ReadinessItem::Monitoring => (false, format!("no signals from /metrics{polled}")),
        ReadinessItem::HealthChecks if facts.live && facts.ready => (
            true,
            if facts.ready_checks.is_empty() {
                "live and ready answer 200".to_owned()
            } else {
                format!(
                    "live and ready answer 200; checks: {}",
                    facts.ready_checks.join(", ")
                )
            },
        ),
        ReadinessItem::HealthChecks => (false, format!("live or ready is failing{polled}")),
        ReadinessItem::McpProbe => match &facts.mcp_protocol {
            Some(version) => (true, format!("protocol {version} answered")),
            None => (false, "no successful MCP probe yet".into()),
        },
        ReadinessItem::Alerts if facts.alert_engine_on => {
            (true, format!("{} rules judge every poll", facts.rules))
        }
        ReadinessItem::Alerts => (
            false,
            "the alert engine is switched off ([alerts] enabled)".into(),
        ),
        ReadinessItem::Runbooks => {
            let (linked, all) = facts.rules_with_runbooks;
            (
                all > 0 && linked == all,
                format!("{linked} of {all} rules link to a runbook in the library"),
            )
        }
        ReadinessItem::BackupTested => match facts.last_verified_restore {
            Some(at) => (
                true,
                format!("verified restore on {}", at.format("%Y-%m-%d %H:%M UTC")),
            ),
            None => (false, "no verified restore recorded".into()),
        },
        _ => (false, String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proven_items_carry_their_evidence_and_manual_ones_need_a_tick() {
        let facts = ReadinessFacts {
            last_poll: Some(Utc::now()),
            metrics_scraped: true,
            live: true,
            ready: true,
            ready_checks: vec!["database".into()],
            mcp_protocol: Some("2025-11-25".into()),
            alert_engine_on: true,
            rules: 9,
            rules_with_runbooks: (9, 9),
            last_verified_restore: None,
            offers: ProbeOffers::default(),
        };
        let ticks = vec![Tick {
            item: ReadinessItem::OnCall,
            by: "ann".into(),
            at: Utc::now(),
        }];
        let rows = checklist(&facts, &ticks);
        let state = |item| rows.iter().find(|r| r.item == item).map(|r| r.state);
        assert_eq!(state(ReadinessItem::Monitoring), Some(ItemState::Met));
        assert_eq!(state(ReadinessItem::BackupTested), Some(ItemState::Unmet));
        assert_eq!(state(ReadinessItem::OnCall), Some(ItemState::Met));
        assert_eq!(state(ReadinessItem::Logging), Some(ItemState::Unmet));
        let health = rows.iter().find(|r| r.item == ReadinessItem::HealthChecks);
        assert!(health.is_some_and(|r| r.evidence.contains("database")));
        let unreached = checklist(&ReadinessFacts::default(), &[]);
        assert!(unreached.iter().all(|r| r.state == ItemState::Unmet));
    }

    #[test]
    fn a_server_with_nothing_but_mcp_is_told_what_to_add_not_failed() {
        let facts = ReadinessFacts {
            last_poll: Some(Utc::now()),
            live: true,
            mcp_protocol: Some("2026-07-28".into()),
            offers: ProbeOffers {
                live: Offer::NotOffered,
                ready: Offer::NotOffered,
                metrics: Offer::NotOffered,
                mcp: Offer::Offered,
            },
            ..ReadinessFacts::default()
        };
        let rows = checklist(&facts, &[]);
        let row = |item| rows.iter().find(|r| r.item == item).expect("row");
        for item in [ReadinessItem::Monitoring, ReadinessItem::HealthChecks] {
            assert_eq!(row(item).state, ItemState::NotOffered, "{item:?}");
            assert!(row(item).evidence.starts_with("not offered: "));
        }
        assert!(row(ReadinessItem::Monitoring).evidence.contains("/metrics"));
        assert!(
            row(ReadinessItem::HealthChecks)
                .evidence
                .contains("/health/ready")
        );
        assert_eq!(row(ReadinessItem::McpProbe).state, ItemState::Met);
    }
}
