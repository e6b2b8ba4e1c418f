//! Incident communication: who holds which role, status updates on a cadence (an overdue
//! update warns like a phase timer), and the follow-up action items the report lists.
use super::{Incident, TimerLevel};
use crate::domain::alerts::Severity;
use crate::domain::target::FieldErrors;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The incident roles of the guide's incident response: one person each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Commander,
    OpsLead,
    CommsLead,
}

impl Role {
    pub const ALL: [Self; 3] = [Self::Commander, Self::OpsLead, Self::CommsLead];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Commander => "commander",
            Self::OpsLead => "ops_lead",
            Self::CommsLead => "comms_lead",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Commander => "commander",
            Self::OpsLead => "operations lead",
            Self::CommsLead => "communications lead",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

/// Longest name a role holder or an action item's owner may have.
const MAX_PERSON: usize = 100;

impl Incident {
    pub fn holder(&self, role: Role) -> Option<&str> {
        match role {
            Role::Commander => Some(&self.commander),
            Role::OpsLead => self.ops_lead.as_deref(),
            Role::CommsLead => self.comms_lead.as_deref(),
        }
    }
}

/// Who is to hold `role`, from a form: a name, or nobody (a lead stands down; an incident
/// always has a commander).
pub fn parse_holder(role: Role, raw: &str) -> Result<Option<String>, String> {
    let name = raw.trim();
    if name.chars().count() > MAX_PERSON {
        return Err(format!("at most {MAX_PERSON} characters"));
    }
    match (name.is_empty(), role) {
        (true, Role::Commander) => {
            Err("an incident always has a commander: name who takes over".into())
        }
        (true, _) => Ok(None),
        (false, _) => Ok(Some(name.to_owned())),
    }
}

/// The timeline's line for a change of `role` from `from` to `to`; none when nothing changes.
pub fn role_change(role: Role, from: Option<&str>, to: Option<&str>) -> Option<String> {
    let label = role.label();
    match (from, to) {
        (from, to) if from == to => None,
        (None, Some(to)) => Some(format!("{label}: {to}")),
        (Some(from), Some(to)) => Some(format!("{label} handed over from {from} to {to}")),
        (Some(from), None) => Some(format!("{label} {from} stood down")),
        (None, None) => None,
    }
}

/// How often an open incident tells the world where it stands: every 30 minutes when
/// critical, every hour as a warning; an info incident has no cadence.
pub fn update_cadence(severity: Severity) -> Option<Duration> {
    match severity {
        Severity::Critical => Some(Duration::minutes(30)),
        Severity::Warning => Some(Duration::minutes(60)),
        Severity::Info => None,
    }
}

/// When the next update is due after the severity changes at `now`: a more urgent cadence
/// brings it forward; a slower one never pushes back what was promised.
pub fn due_after_severity_change(
    due: Option<DateTime<Utc>>,
    severity: Severity,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match (due, update_cadence(severity)) {
        (Some(due), Some(cadence)) => Some(due.min(now + cadence)),
        (None, Some(cadence)) => Some(now + cadence),
        (due, None) => due,
    }
}

/// The update clock turns amber this close to its due time.
const UPDATE_AMBER: Duration = Duration::minutes(5);

/// How the next status update stands at `now`: its level and "due in 12:05" or
/// "overdue by 3:10".
pub fn update_timer(due: DateTime<Utc>, now: DateTime<Utc>) -> (TimerLevel, String) {
    let left = (due - now).num_seconds();
    let clock = |secs: i64| format!("{}:{:02}", secs / 60, secs % 60);
    if left < 0 {
        (TimerLevel::Overdue, format!("overdue by {}", clock(-left)))
    } else if left <= UPDATE_AMBER.num_seconds() {
        (TimerLevel::Amber, format!("due in {}", clock(left)))
    } else {
        (TimerLevel::Normal, format!("due in {}", clock(left)))
    }
}

/// A status update as posted: what is affected, the impact, and when the next one comes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub author: String,
    pub affected: String,
    pub impact: String,
    pub next_update_at: DateTime<Utc>,
}

impl StatusUpdate {
    /// The update as one paragraph, for channels and the timeline.
    pub fn text(&self) -> String {
        format!(
            "Affected: {}. Impact: {}. Next update by {}.",
            self.affected,
            self.impact,
            self.next_update_at.format("%H:%M UTC")
        )
    }
}

/// The status update form, as typed.
pub struct StatusForm<'a> {
    pub affected: &'a str,
    pub impact: &'a str,
    /// Minutes until the next update; empty takes the severity's cadence (or an hour).
    pub next_update_minutes: &'a str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewStatusUpdate {
    pub affected: String,
    pub impact: String,
    /// How long until the next update; none takes the incident's cadence when it is posted.
    pub next_in: Option<Duration>,
}

const MAX_AFFECTED: usize = 500;
const MAX_IMPACT: usize = 2000;
/// The next update may be promised from 5 minutes to 4 hours ahead.
const NEXT_UPDATE_MINUTES: std::ops::RangeInclusive<i64> = 5..=240;
/// The next update of an info incident, which has no cadence, when none is promised.
const NO_CADENCE_NEXT: Duration = Duration::minutes(60);

impl NewStatusUpdate {
    pub fn parse(form: &StatusForm<'_>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let affected = form.affected.trim();
        if affected.is_empty() || affected.chars().count() > MAX_AFFECTED {
            errors.add(
                "affected",
                format!("say what is affected (1 to {MAX_AFFECTED} characters)"),
            );
        }
        let impact = form.impact.trim();
        if impact.is_empty() || impact.chars().count() > MAX_IMPACT {
            errors.add(
                "impact",
                format!("say what users see (1 to {MAX_IMPACT} characters)"),
            );
        }
        let next_in = match form.next_update_minutes.trim() {
            "" => Ok(None),
            raw => raw
                .parse::<i64>()
                .ok()
                .filter(|m| NEXT_UPDATE_MINUTES.contains(m))
                .map(|m| Some(Duration::minutes(m)))
                .ok_or(()),
        };
        if next_in.is_err() {
            errors.add(
                "next_update_minutes",
                format!(
                    "minutes until the next update, {} to {}",
                    NEXT_UPDATE_MINUTES.start(),
                    NEXT_UPDATE_MINUTES.end()
                ),
            );
        }
        match next_in {
            Ok(next_in) if errors.is_empty() => Ok(Self {
                affected: affected.to_owned(),
                impact: impact.to_owned(),
                next_in,
            }),
            _ => Err(errors),
        }
    }

    /// When the next update is due, posted at `now` for an incident of `severity`.
    pub fn next_update_at(&self, severity: Severity, now: DateTime<Utc>) -> DateTime<Utc> {
        now + self
            .next_in
            .or_else(|| update_cadence(severity))
            .unwrap_or(NO_CADENCE_NEXT)
    }
}

/// The incidents page lists at most this many open action items, soonest due first.
pub const OPEN_ACTION_ITEMS_SHOWN: usize = 500;

/// A follow-up from an incident: what, who owns it, and by when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionItem {
    pub id: i64,
    pub incident_id: i64,
    pub text: String,
    pub owner: String,
    pub due: NaiveDate,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub closed_by: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl ActionItem {
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }

    /// Open past its due day.
    pub fn is_overdue(&self, today: NaiveDate) -> bool {
        self.is_open() && self.due < today
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewActionItem {
    pub text: String,
    pub owner: String,
    pub due: NaiveDate,
}

const MAX_ITEM: usize = 500;
/// A due date further out than this is a typo, not a plan.
const LONGEST_DUE: chrono::Days = chrono::Days::new(2 * 366);

impl NewActionItem {
    /// From the form: the item, its owner, and a due day (YYYY-MM-DD) from `today` on.
    pub fn parse(
        text: &str,
        owner: &str,
        due: &str,
        today: NaiveDate,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let text = text.trim();
        if text.is_empty() || text.chars().count() > MAX_ITEM {
            errors.add("text", format!("1 to {MAX_ITEM} characters"));
        }
        let owner = owner.trim();
        if owner.is_empty() || owner.chars().count() > MAX_PERSON {
            errors.add(
                "owner",
                format!("who owns it (1 to {MAX_PERSON} characters)"),
            );
        }
        let latest = today.checked_add_days(LONGEST_DUE).unwrap_or(today);
        let due = match NaiveDate::parse_from_str(due.trim(), "%Y-%m-%d") {
            Ok(day) if day < today => {
                errors.add("due", "a day from today on");
                None
            }
            Ok(day) if day > latest => {
                errors.add("due", "within two years");
                None
            }
            Ok(day) => Some(day),
            Err(_) => {
                errors.add("due", "a date, YYYY-MM-DD");
                None
            }
        };
        match due {
            Some(due) if errors.is_empty() => Ok(Self {
                text: text.to_owned(),
                owner: owner.to_owned(),
                due,
            }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
    }

    fn day(raw: &str) -> NaiveDate {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn role_changes_read_as_assignments_handoffs_and_stand_downs() {
        assert_eq!(
            role_change(Role::OpsLead, None, Some("bob")).as_deref(),
            Some("operations lead: bob")
        );
        assert_eq!(
            role_change(Role::Commander, Some("ann"), Some("bob")).as_deref(),
            Some("commander handed over from ann to bob")
        );
        assert_eq!(
            role_change(Role::CommsLead, Some("cy"), None).as_deref(),
            Some("communications lead cy stood down")
        );
        assert_eq!(role_change(Role::OpsLead, Some("bob"), Some("bob")), None);
        assert!(parse_holder(Role::Commander, "  ").is_err());
        assert_eq!(parse_holder(Role::OpsLead, "  "), Ok(None));
        assert_eq!(parse_holder(Role::OpsLead, " dee "), Ok(Some("dee".into())));
        assert!(parse_holder(Role::CommsLead, &"x".repeat(101)).is_err());
    }

    #[test]
    fn updates_are_due_every_half_hour_when_critical_and_hourly_as_a_warning() {
        assert_eq!(
            update_cadence(Severity::Critical),
            Some(Duration::minutes(30))
        );
        assert_eq!(
            update_cadence(Severity::Warning),
            Some(Duration::minutes(60))
        );
        assert_eq!(update_cadence(Severity::Info), None);
        // Raised to critical 10 minutes in: due 30 minutes from the change, not at the hour.
        let due = due_after_severity_change(Some(at(3600)), Severity::Critical, at(600));
        assert_eq!(due, Some(at(600 + 1800)));
        // Lowered to warning: the promise already made stands.
        let due = due_after_severity_change(Some(at(1800)), Severity::Warning, at(600));
        assert_eq!(due, Some(at(1800)));
        assert_eq!(
            due_after_severity_change(None, Severity::Warning, at(0)),
            Some(at(3600))
        );
        assert_eq!(due_after_severity_change(None, Severity::Info, at(0)), None);
    }

    #[test]
    fn the_update_clock_turns_amber_five_minutes_before_and_overdue_after() {
        assert_eq!(
            update_timer(at(1800), at(0)),
            (TimerLevel::Normal, "due in 30:00".into())
        );
        assert_eq!(
            update_timer(at(300), at(0)),
            (TimerLevel::Amber, "due in 5:00".into())
        );
        assert_eq!(
            update_timer(at(0), at(190)),
            (TimerLevel::Overdue, "overdue by 3:10".into())
        );
    }

    #[test]
    fn a_status_update_needs_what_is_affected_the_impact_and_a_sane_next_time() {
        let form = |affected, impact, next| StatusForm {
            affected,
            impact,
            next_update_minutes: next,
        };
        let update = NewStatusUpdate::parse(&form(" checkout ", "5% of payments fail", ""))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(update.affected, "checkout");
        assert_eq!(
            update.next_update_at(Severity::Critical, at(0)),
            at(1800),
            "the critical cadence"
        );
        assert_eq!(update.next_update_at(Severity::Info, at(0)), at(3600));
        let promised =
            NewStatusUpdate::parse(&form("a", "b", "15")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(promised.next_update_at(Severity::Critical, at(0)), at(900));
        let posted = StatusUpdate {
            id: 1,
            at: at(0),
            author: "cy".into(),
            affected: update.affected,
            impact: update.impact,
            next_update_at: at(1800),
        };
        assert!(
            posted
                .text()
                .starts_with("Affected: checkout. Impact: 5% of payments fail.")
        );
        let errors = NewStatusUpdate::parse(&form("", " ", "1000"))
            .err()
            .unwrap_or_default();
        assert!(errors.get("affected").is_some());
        assert!(errors.get("impact").is_some());
        assert_eq!(
            errors.get("next_update_minutes"),
            Some("minutes until the next update, 5 to 240")
        );
        assert!(NewStatusUpdate::parse(&form("a", "b", "4")).is_err());
        assert!(NewStatusUpdate::parse(&form("a", "b", "soon")).is_err());
    }

    #[test]
    fn action_items_need_an_owner_and_a_due_day_from_today_and_go_overdue_after_it() {
        let today = day("2026-12-07");
        let item = NewActionItem::parse("Add a pool alert", "bob", "2026-12-07", today)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(item.due, today);
        let errors = NewActionItem::parse("", "", "2026-12-06", today)
            .err()
            .unwrap_or_default();
        assert_eq!(errors.get("due"), Some("a day from today on"));
        assert!(errors.get("text").is_some() && errors.get("owner").is_some());
        let errors = NewActionItem::parse("x", "y", "07/12/2026", today)
            .err()
            .unwrap_or_default();
        assert_eq!(errors.get("due"), Some("a date, YYYY-MM-DD"));
        assert!(NewActionItem::parse("x", "y", "2030-01-01", today).is_err());
        let mut open = ActionItem {
            id: 1,
            incident_id: 2,
            text: item.text,
            owner: item.owner,
            due: today,
            created_by: "ann".into(),
            created_at: at(0),
            closed_by: None,
            closed_at: None,
        };
        assert!(!open.is_overdue(today), "due today is not late yet");
        assert!(open.is_overdue(day("2026-12-08")));
        open.closed_at = Some(at(10));
        assert!(
            !open.is_overdue(day("2026-12-08")),
            "a closed item is never overdue"
        );
    }
}
