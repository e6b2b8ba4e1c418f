//! Operational readiness per target: the guide's pre-production checklist, with the items
//! mcpops can prove filled from what it has seen, and the rest ticked by hand.
use super::offers::{Offer, ProbeKind, ProbeOffers};
use super::target::group_by_tag;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadinessItem {
    Monitoring,
    Alerts,
    Logging,
    BackupTested,
    Runbooks,
    OnCall,
    IncidentResponse,
    CapacityPlan,
    HealthChecks,
    McpProbe,
    Security,
}

impl ReadinessItem {
    /// The guide's eight items in its order, then the three mcpops adds.
    pub const ALL: [ReadinessItem; 11] = [
        Self::Monitoring,
        Self::Alerts,
        Self::Logging,
        Self::BackupTested,
        Self::Runbooks,
        Self::OnCall,
        Self::IncidentResponse,
        Self::CapacityPlan,
        Self::HealthChecks,
        Self::McpProbe,
        Self::Security,
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
            Self::IncidentResponse => "incident_response",
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
            Self::Alerts => "Alerts and notifications reach a channel",
            Self::Runbooks => "Runbooks are linked to the alerts",
            Self::BackupTested => "Backups are tested by a verified restore",
            Self::Logging => "Structured logs are shipped and searchable",
            Self::CapacityPlan => "A capacity plan covers the expected peak",
            Self::Security => "Authentication and secrets are reviewed",
            Self::OnCall => "An on-call rota owns the service",
            Self::IncidentResponse => {
                "Incident response plan: runbooks linked, an on-call channel set"
            }
        }
    }

    /// A column heading for the fleet's readiness matrix.
    pub fn short_label(self) -> &'static str {
        match self {
            Self::Monitoring => "Monitoring",
            Self::Alerts => "Alerts",
            Self::Logging => "Logging",
            Self::BackupTested => "Backups",
            Self::Runbooks => "Runbooks",
            Self::OnCall => "On-call",
            Self::IncidentResponse => "Incident plan",
            Self::CapacityPlan => "Capacity",
            Self::HealthChecks => "Health",
            Self::McpProbe => "MCP",
            Self::Security => "Security",
        }
    }

    /// One of the operations guide's own pre-production items (the rest are mcpops' additions).
    pub fn in_guide(self) -> bool {
        !matches!(self, Self::HealthChecks | Self::McpProbe | Self::Security)
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
                | Self::IncidentResponse
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
    /// Channels that would receive this target's critical alerts.
    pub alert_channels: Vec<String>,
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
        ReadinessItem::Alerts if !facts.alert_engine_on => (
            false,
            "the alert engine is switched off ([alerts] enabled)".into(),
        ),
        ReadinessItem::Alerts if facts.alert_channels.is_empty() => (
            false,
            format!(
                "{} rules judge every poll, but no channel receives this server's critical alerts",
                facts.rules
            ),
        ),
        ReadinessItem::Alerts => (
            true,
            format!(
                "{} rules judge every poll; critical alerts go to {}",
                facts.rules,
                facts.alert_channels.join(", ")
            ),
        ),
        ReadinessItem::Runbooks => {
            let (linked, all) = facts.rules_with_runbooks;
            (all > 0 && linked == all, runbooks_linked(facts))
        }
        ReadinessItem::IncidentResponse => {
            let (linked, all) = facts.rules_with_runbooks;
            let channel = match facts.alert_channels.first() {
                Some(name) => format!("pages go to {name}"),
                None => "no channel receives its critical alerts".to_owned(),
            };
            (
                all > 0 && linked == all && !facts.alert_channels.is_empty(),
                format!("{}; {channel}", runbooks_linked(facts)),
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

fn runbooks_linked(facts: &ReadinessFacts) -> String {
    let (linked, all) = facts.rules_with_runbooks;
    format!("{linked} of {all} rules link to a runbook in the library")
}

/// How a cell of the fleet matrix reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Proven,
    Ticked,
    Missing,
    NotOffered,
}

impl Mark {
    pub fn of(row: &ReadinessRow) -> Self {
        match row.state {
            ItemState::Met if row.tick.is_some() => Self::Ticked,
            ItemState::Met => Self::Proven,
            ItemState::Unmet => Self::Missing,
            ItemState::NotOffered => Self::NotOffered,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proven => "proven",
            Self::Ticked => "ticked",
            Self::Missing => "missing",
            Self::NotOffered => "not offered",
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Self::Proven => "✔",
            Self::Ticked => "☑",
            Self::Missing => "✘",
            Self::NotOffered => "–",
        }
    }
}

/// One target's checklist, a row of the fleet matrix; `rows` follow `ReadinessItem::ALL`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerReadiness {
    pub target_id: i64,
    pub name: String,
    pub tags: Vec<String>,
    pub rows: Vec<ReadinessRow>,
}

/// A tag value's targets summed per item: how many meet it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupReadiness {
    pub name: String,
    pub targets: usize,
    /// Targets meeting each item, in `ReadinessItem::ALL` order.
    pub met: Vec<usize>,
}

/// Sums targets by the value of tag `key`, or the whole fleet as one group without a key.
pub fn by_group(targets: &[ServerReadiness], key: Option<&str>) -> Vec<GroupReadiness> {
    group_by_tag(targets.iter().collect(), key, |t| t.tags.as_slice())
        .into_iter()
        .map(|(name, members)| GroupReadiness {
            name: if name.is_empty() {
                "every server".to_owned()
            } else {
                name
            },
            targets: members.len(),
            met: ReadinessItem::ALL
                .iter()
                .map(|item| {
                    members
                        .iter()
                        .filter(|t| {
                            t.rows
                                .iter()
                                .any(|r| r.item == *item && r.state == ItemState::Met)
                        })
                        .count()
                })
                .collect(),
        })
        .collect()
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
            alert_channels: vec!["ops-pager".into()],
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

    #[test]
    fn alerts_and_the_incident_plan_need_a_channel_that_receives_the_target() {
        let linked = ReadinessFacts {
            alert_engine_on: true,
            rules: 9,
            rules_with_runbooks: (9, 9),
            ..ReadinessFacts::default()
        };
        let rows = checklist(&linked, &[]);
        let row = |rows: &[ReadinessRow], item| {
            rows.iter().find(|r| r.item == item).cloned().expect("row")
        };
        for item in [ReadinessItem::Alerts, ReadinessItem::IncidentResponse] {
            assert_eq!(row(&rows, item).state, ItemState::Unmet, "{item:?}");
            assert!(row(&rows, item).evidence.contains("no channel"), "{item:?}");
        }
        let paged = ReadinessFacts {
            alert_channels: vec!["ops-pager".into()],
            ..linked.clone()
        };
        let rows = checklist(&paged, &[]);
        assert_eq!(row(&rows, ReadinessItem::Alerts).state, ItemState::Met);
        assert!(
            row(&rows, ReadinessItem::Alerts)
                .evidence
                .contains("ops-pager")
        );
        assert_eq!(
            row(&rows, ReadinessItem::IncidentResponse).state,
            ItemState::Met
        );
        let unlinked = ReadinessFacts {
            rules_with_runbooks: (8, 9),
            ..paged
        };
        let rows = checklist(&unlinked, &[]);
        assert_eq!(
            row(&rows, ReadinessItem::IncidentResponse).state,
            ItemState::Unmet
        );
    }

    #[test]
    fn the_fleet_matrix_marks_cells_and_sums_groups_by_tag() {
        let facts = ReadinessFacts {
            metrics_scraped: true,
            ..ReadinessFacts::default()
        };
        let tick = Tick {
            item: ReadinessItem::Logging,
            by: "ann".into(),
            at: Utc::now(),
        };
        let target = |id, tags: &[&str], ticks: &[Tick]| ServerReadiness {
            target_id: id,
            name: format!("t{id}"),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            rows: checklist(&facts, ticks),
        };
        let fleet = [
            target(1, &["team:pay"], std::slice::from_ref(&tick)),
            target(2, &["team:pay"], &[]),
            target(3, &[], &[]),
        ];
        let marks: Vec<Mark> = fleet[0].rows.iter().map(Mark::of).collect();
        assert_eq!(marks[0], Mark::Proven, "monitoring");
        assert_eq!(marks[2], Mark::Ticked, "logging");
        assert_eq!(marks[1], Mark::Missing, "alerts");
        let groups = by_group(&fleet, Some("team"));
        assert_eq!(groups.len(), 2);
        assert_eq!(
            (groups[0].name.as_str(), groups[0].targets),
            ("team: pay", 2)
        );
        assert_eq!(groups[0].met[0], 2, "both scraped");
        assert_eq!(groups[0].met[2], 1, "one ticked logging");
        assert_eq!((groups[1].name.as_str(), groups[1].targets), ("no team", 1));
        let whole = by_group(&fleet, None);
        assert_eq!(
            (whole[0].name.as_str(), whole[0].targets, whole[0].met[0]),
            ("every server", 3, 3)
        );
        assert_eq!(
            ReadinessItem::ALL.iter().filter(|i| i.in_guide()).count(),
            8
        );
    }
}
