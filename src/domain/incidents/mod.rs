//! Incidents: phases with timers, a checklist, the timeline, and the post-incident report.
pub mod comms;
mod report;

use super::alerts::Severity;
use super::runbooks::Runbook;
use chrono::{DateTime, Utc};
pub use report::{ReportParts, report_markdown};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    Open,
    Resolved,
}

impl IncidentState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Open, Self::Resolved]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Pending,
    Done,
    Skipped,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Done => "done",
            Self::Skipped => "skipped",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Done, Self::Skipped]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseRun {
    pub name: String,
    pub budget_secs: Option<u32>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRun {
    pub id: i64,
    pub phase: usize,
    pub text: String,
    pub state: StepState,
    /// Who checked or skipped it, when, and (for a skip) why.
    pub actor: Option<String>,
    pub at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: i64,
    pub title: String,
    pub severity: Severity,
    pub commander: String,
    pub ops_lead: Option<String>,
    pub comms_lead: Option<String>,
    pub state: IncidentState,
    pub runbook: Option<String>,
    pub alert_id: Option<i64>,
    pub target_ids: Vec<i64>,
    pub declared_by: String,
    pub declared_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub current_phase: usize,
    pub phases: Vec<PhaseRun>,
    pub steps: Vec<StepRun>,
    /// When the next status update is due while the incident is open (none for an info
    /// incident before its first update).
    pub update_due_at: Option<DateTime<Utc>>,
}

/// The plan an incident starts from: the runbook's phases and steps, or one free phase.
pub fn plan(runbook: Option<&Runbook>) -> Vec<(String, Option<u32>, Vec<String>)> {
    match runbook {
        Some(runbook) if !runbook.phases.is_empty() => runbook
            .phases
            .iter()
            .map(|p| (p.name.clone(), p.budget_secs, p.steps.clone()))
            .collect(),
        _ => vec![("Response".to_owned(), None, Vec::new())],
    }
}

/// How a phase's time budget stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerLevel {
    /// Under 80% of the budget, or no budget.
    Normal,
    /// At 80% of the budget or more.
    Amber,
    Overdue,
}

impl TimerLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Amber => "amber",
            Self::Overdue => "overdue",
        }
    }
}

/// A phase's clock: how long it has run and how that compares with its budget.
pub fn timer(elapsed_secs: i64, budget_secs: Option<u32>) -> TimerLevel {
    match budget_secs.map(i64::from) {
        Some(budget) if elapsed_secs > budget => TimerLevel::Overdue,
        Some(budget) if elapsed_secs * 10 >= budget * 8 => TimerLevel::Amber,
        _ => TimerLevel::Normal,
    }
}

/// "4:05 left", "1:10 over" or "12:30 elapsed", as the countdown shows it.
pub fn countdown(elapsed_secs: i64, budget_secs: Option<u32>) -> String {
    let clock = |secs: i64| format!("{}:{:02}", secs / 60, secs % 60);
    match budget_secs.map(i64::from) {
        Some(budget) if elapsed_secs > budget => format!("{} over", clock(elapsed_secs - budget)),
        Some(budget) => format!("{} left", clock(budget - elapsed_secs.max(0))),
        None => format!("{} elapsed", clock(elapsed_secs.max(0))),
    }
}

/// What someone asks of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentAction {
    Step {
        step_id: i64,
    },
    Note,
    /// Move on from the phase the person was looking at.
    Advance {
        from_phase: usize,
    },
    Resolve,
    /// Assign or hand over a role, change the severity, or post a status update.
    Communicate,
    Reopen,
    /// Add or close an action item: follow-ups outlive the incident.
    FollowUp,
}

/// How far before its declaration an incident's timeline and charts look: its first alert
/// is usually inside this.
pub const WINDOW_LEAD: chrono::Duration = chrono::Duration::minutes(30);

impl Incident {
    /// The start of what the incident's timeline and charts cover; they end at its
    /// resolution, or now while it is open.
    pub fn window_start(&self) -> DateTime<Utc> {
        self.declared_at - WINDOW_LEAD
    }

    /// Whether `action` may happen now, or why not. The store applies the same rules
    /// atomically, so two people acting at once cannot both pass.
    pub fn allows(&self, action: IncidentAction) -> Result<(), String> {
        match (self.state, action) {
            (_, IncidentAction::FollowUp) | (IncidentState::Resolved, IncidentAction::Reopen) => {
                Ok(())
            }
            (IncidentState::Open, IncidentAction::Reopen) => Err("the incident is open".into()),
            (IncidentState::Resolved, _) => Err("the incident is resolved".into()),
            (IncidentState::Open, IncidentAction::Step { step_id }) => {
                match self.steps.iter().find(|s| s.id == step_id) {
                    None => Err("no such step in this incident".into()),
                    Some(step) if step.state != StepState::Pending => Err(format!(
                        "already {} by {}",
                        step.state.as_str(),
                        step.actor.as_deref().unwrap_or("someone")
                    )),
                    Some(_) => Ok(()),
                }
            }
            (IncidentState::Open, IncidentAction::Advance { from_phase })
                if from_phase != self.current_phase =>
            {
                Err("the incident has already moved on from that phase".into())
            }
            (IncidentState::Open, IncidentAction::Advance { .. }) if self.is_last_phase() => {
                Err("this is the last phase: resolve the incident instead".into())
            }
            (
                IncidentState::Open,
                IncidentAction::Advance { .. }
                | IncidentAction::Note
                | IncidentAction::Resolve
                | IncidentAction::Communicate,
            ) => Ok(()),
        }
    }

    pub fn phase(&self) -> Option<&PhaseRun> {
        self.phases.get(self.current_phase)
    }

    pub fn is_last_phase(&self) -> bool {
        self.current_phase + 1 >= self.phases.len()
    }

    /// Seconds the current phase has run at `now`.
    pub fn phase_elapsed(&self, now: DateTime<Utc>) -> i64 {
        self.phase()
            .and_then(|p| p.started_at)
            .map_or(0, |start| (now - start).num_seconds().max(0))
    }

    /// Time spent in each phase (so far, for the running one) against its budget.
    pub fn phase_times(&self, now: DateTime<Utc>) -> Vec<(String, Option<i64>, Option<u32>)> {
        self.phases
            .iter()
            .map(|p| {
                let spent = p
                    .started_at
                    .map(|start| (p.ended_at.unwrap_or(now) - start).num_seconds().max(0));
                (p.name.clone(), spent, p.budget_secs)
            })
            .collect()
    }
}

/// What happened, for the timeline and the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    Declared,
    Alert,
    Phase,
    Step,
    Note,
    Deploy,
    Resolved,
    /// A role assigned, handed over or stood down.
    Role,
    Severity,
    /// A status update, as posted to the channels.
    Update,
    Reopened,
    ActionItem,
}

impl TimelineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Declared => "declared",
            Self::Alert => "alert",
            Self::Phase => "phase",
            Self::Step => "step",
            Self::Note => "note",
            Self::Deploy => "deploy",
            Self::Resolved => "resolved",
            Self::Role => "role",
            Self::Severity => "severity",
            Self::Update => "update",
            Self::Reopened => "reopened",
            Self::ActionItem => "action_item",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Declared,
            Self::Alert,
            Self::Phase,
            Self::Step,
            Self::Note,
            Self::Deploy,
            Self::Resolved,
            Self::Role,
            Self::Severity,
            Self::Update,
            Self::Reopened,
            Self::ActionItem,
        ]
        .into_iter()
        .find(|k| k.as_str() == raw)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub at: DateTime<Utc>,
    pub kind: TimelineKind,
    pub actor: String,
    pub text: String,
}

/// "T+4:05" from the declaration ("T-2:00" for what came before it).
pub fn relative(at: DateTime<Utc>, origin: DateTime<Utc>) -> String {
    let secs = (at - origin).num_seconds();
    let sign = if secs < 0 { '-' } else { '+' };
    let secs = secs.abs();
    format!("T{sign}{}:{:02}", secs / 60, secs % 60)
}

/// Sorts events by time, the declaration first among equals, so the report reads in order.
pub fn ordered(mut events: Vec<TimelineEvent>) -> Vec<TimelineEvent> {
    events.sort_by_key(|e| (e.at, e.kind != TimelineKind::Declared));
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn at(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
    }

    pub(super) fn incident() -> Incident {
        Incident {
            id: 7,
            title: "Error burst on demo-04".into(),
            severity: Severity::Critical,
            commander: "ann".into(),
            ops_lead: None,
            comms_lead: None,
            state: IncidentState::Open,
            runbook: Some("high-error-rate".into()),
            alert_id: Some(3),
            target_ids: vec![4],
            declared_by: "ann".into(),
            declared_at: at(0),
            resolved_at: None,
            current_phase: 1,
            phases: vec![
                PhaseRun {
                    name: "Initial Response".into(),
                    budget_secs: Some(300),
                    started_at: Some(at(0)),
                    ended_at: Some(at(400)),
                },
                PhaseRun {
                    name: "Investigation".into(),
                    budget_secs: Some(900),
                    started_at: Some(at(400)),
                    ended_at: None,
                },
                PhaseRun {
                    name: "Mitigation".into(),
                    budget_secs: None,
                    started_at: None,
                    ended_at: None,
                },
            ],
            steps: vec![StepRun {
                id: 1,
                phase: 0,
                text: "Page the owner".into(),
                state: StepState::Skipped,
                actor: Some("bob".into()),
                at: Some(at(60)),
                reason: Some("owner already on the bridge".into()),
            }],
            update_due_at: Some(at(1800)),
        }
    }

    #[test]
    fn the_timer_turns_amber_at_80_percent_and_overdue_past_the_budget() {
        assert_eq!(timer(239, Some(300)), TimerLevel::Normal);
        assert_eq!(timer(240, Some(300)), TimerLevel::Amber);
        assert_eq!(timer(300, Some(300)), TimerLevel::Amber);
        assert_eq!(timer(301, Some(300)), TimerLevel::Overdue);
        assert_eq!(timer(100_000, None), TimerLevel::Normal);
        assert_eq!(countdown(55, Some(300)), "4:05 left");
        assert_eq!(countdown(370, Some(300)), "1:10 over");
        assert_eq!(countdown(750, None), "12:30 elapsed");
    }

    #[test]
    fn phases_report_time_spent_against_budget() {
        let times = incident().phase_times(at(500));
        assert_eq!(times[0], ("Initial Response".into(), Some(400), Some(300)));
        assert_eq!(times[1], ("Investigation".into(), Some(100), Some(900)));
        assert_eq!(times[2], ("Mitigation".into(), None, None));
        assert_eq!(incident().phase_elapsed(at(500)), 100);
        assert!(!incident().is_last_phase());
    }

    #[test]
    fn the_state_machine_refuses_double_work_and_anything_after_resolution() {
        let mut open = incident();
        open.steps.push(StepRun {
            id: 2,
            phase: 1,
            text: "Read the logs".into(),
            state: StepState::Pending,
            actor: None,
            at: None,
            reason: None,
        });
        assert_eq!(open.allows(IncidentAction::Step { step_id: 2 }), Ok(()));
        assert_eq!(
            open.allows(IncidentAction::Step { step_id: 1 }),
            Err("already skipped by bob".into())
        );
        assert!(open.allows(IncidentAction::Step { step_id: 99 }).is_err());
        assert_eq!(
            open.allows(IncidentAction::Advance { from_phase: 1 }),
            Ok(())
        );
        assert!(
            open.allows(IncidentAction::Advance { from_phase: 0 })
                .is_err(),
            "a stale click"
        );
        let mut last = open.clone();
        last.current_phase = 2;
        assert!(
            last.allows(IncidentAction::Advance { from_phase: 2 })
                .is_err()
        );
        assert_eq!(last.allows(IncidentAction::Resolve), Ok(()));
        assert_eq!(open.allows(IncidentAction::Communicate), Ok(()));
        assert_eq!(
            open.allows(IncidentAction::Reopen),
            Err("the incident is open".into())
        );
        let resolved = Incident {
            state: IncidentState::Resolved,
            ..open
        };
        for action in [
            IncidentAction::Note,
            IncidentAction::Resolve,
            IncidentAction::Step { step_id: 2 },
            IncidentAction::Communicate,
        ] {
            assert_eq!(
                resolved.allows(action),
                Err("the incident is resolved".into())
            );
        }
        assert_eq!(resolved.allows(IncidentAction::Reopen), Ok(()));
        assert_eq!(
            resolved.allows(IncidentAction::FollowUp),
            Ok(()),
            "action items are added and closed after resolution"
        );
    }

    #[test]
    fn without_a_runbook_an_incident_has_one_free_phase() {
        let plan = plan(None);
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].0, "Response");
    }
}
