//! Escalation: who is paged about a group of alerts, in what order, until someone takes it
//! on. A policy's levels name on-call schedules and people; each level waits for an
//! acknowledgement before the next is paged, and the whole round repeats a bounded number of
//! times. Routing picks one policy for an alert by its severity and its target's tags.
//! Pure: the escalator in `server` keeps the state and sends the pages.
use super::alerts::Severity;
use super::notifications::{ChannelKind, Destination, DestinationFields, NoticeEvent};
use super::target::FieldErrors;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Levels a policy may have (the form shows this many rows).
pub const MAX_LEVELS: usize = 4;
/// A policy repeats its round at most this often: an escalation must end.
pub const MAX_REPEAT: u32 = 9;
/// How long a level may wait for an acknowledgement.
pub const MAX_WAIT_SECONDS: u32 = 24 * 3600;
/// Contact methods one person may have.
pub const MAX_CONTACT_METHODS: usize = 10;

/// One way of reaching a person: their email, a Slack or Teams webhook, a PagerDuty
/// routing key or a generic webhook. Its secret parts are never shown again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactMethod {
    pub id: i64,
    pub username: String,
    pub label: String,
    pub kind: ChannelKind,
    /// Scheme, host and port (and an email's recipients), as channels show them.
    pub address_redacted: String,
    pub created_at: DateTime<Utc>,
}

/// The raw text of the contact method form: a label, then a channel's destination fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContactForm {
    pub label: String,
    pub kind: String,
    pub url: String,
    pub secret: String,
    pub smtp_user: String,
    pub email_from: String,
    pub email_to: String,
}

pub struct NewContactMethod {
    pub label: String,
    pub kind: ChannelKind,
    pub destination: Destination,
}

impl NewContactMethod {
    pub fn parse(form: &ContactForm) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let label = form.label.trim().to_owned();
        if label.is_empty() || label.chars().count() > 64 {
            errors.add("label", "1 to 64 characters");
        }
        let fields = DestinationFields {
            url: &form.url,
            secret: &form.secret,
            smtp_user: &form.smtp_user,
            email_from: &form.email_from,
            email_to: &form.email_to,
        };
        match Destination::parse_with_kind(&form.kind, fields, &mut errors) {
            Some((kind, destination)) if errors.is_empty() => Ok(Self {
                label,
                kind,
                destination,
            }),
            _ => Err(errors),
        }
    }
}

/// Who a level pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Responder {
    /// Whoever is on call on that schedule when the level is paged.
    Schedule {
        id: i64,
        name: String,
    },
    User(String),
}

impl Responder {
    pub fn describe(&self) -> String {
        match self {
            Self::Schedule { name, .. } => format!("on call for {name}"),
            Self::User(name) => name.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationLevel {
    pub responders: Vec<Responder>,
    /// How long to wait for an acknowledgement before the next level (or round).
    pub wait_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationPolicy {
    pub id: i64,
    pub name: String,
    /// Routing: alerts this severe or worse …
    pub min_severity: Severity,
    /// … of targets with one of these tags (empty: every target).
    pub tags: Vec<String>,
    pub levels: Vec<EscalationLevel>,
    /// Rounds after the first.
    pub repeat: u32,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// Where an escalation stands: the level last paged (from 0) in which round (from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub level: u32,
    pub round: u32,
}

impl EscalationPolicy {
    /// Whether this policy takes alerts of `severity` on a target with `target_tags`.
    pub fn routes(&self, severity: Severity, target_tags: &[String]) -> bool {
        severity.at_least(self.min_severity)
            && (self.tags.is_empty() || self.tags.iter().any(|t| target_tags.contains(t)))
    }

    /// The step after `step`, or `None` once every level of every round has been paged.
    pub fn after(&self, step: Step) -> Option<Step> {
        let levels = self.levels.len() as u32;
        if step.level + 1 < levels {
            Some(Step {
                level: step.level + 1,
                round: step.round,
            })
        } else if step.round < self.repeat {
            Some(Step {
                level: 0,
                round: step.round + 1,
            })
        } else {
            None
        }
    }

    /// How long `step`'s level waits for an acknowledgement.
    pub fn wait(&self, step: Step) -> Duration {
        let seconds = self
            .levels
            .get(step.level as usize)
            .map_or(0, |l| l.wait_seconds);
        Duration::seconds(i64::from(seconds))
    }

    /// Routing order: a policy for some tags before one for every target, then the one for
    /// the more severe alerts, then the older.
    fn precedence(&self) -> (bool, Severity, i64) {
        (self.tags.is_empty(), self.min_severity, self.id)
    }
}

/// The policy that escalates an alert: the first in precedence order that routes it.
pub fn route<'a>(
    policies: &'a [EscalationPolicy],
    severity: Severity,
    target_tags: &[String],
) -> Option<&'a EscalationPolicy> {
    policies
        .iter()
        .filter(|p| p.routes(severity, target_tags))
        .min_by_key(|p| p.precedence())
}

/// Sorts policies in the order routing tries them, as the page lists them.
pub fn in_routing_order(policies: &mut [EscalationPolicy]) {
    policies.sort_by_key(EscalationPolicy::precedence);
}

/// The raw text of the policy form: up to `MAX_LEVELS` rows of who and how long.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyForm {
    pub name: String,
    pub min_severity: String,
    pub tags: String,
    /// Comma-separated schedule names and usernames, one entry per level.
    pub who: Vec<String>,
    /// Durations such as `5m`, `30s` or `1h`; a bare number is minutes.
    pub wait: Vec<String>,
    pub repeat: String,
}

pub struct NewPolicy {
    pub name: String,
    pub min_severity: Severity,
    pub tags: Vec<String>,
    pub levels: Vec<EscalationLevel>,
    pub repeat: u32,
}

impl NewPolicy {
    /// Checks the form against the schedules (id, name) and users that exist. A level's
    /// fields are named `who{N}` and `wait{N}`, from 1.
    pub fn parse(
        form: &PolicyForm,
        schedules: &[(i64, String)],
        known_users: &[String],
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = form.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 64 {
            errors.add("name", "1 to 64 characters");
        }
        let min_severity = Severity::parse(form.min_severity.trim());
        if min_severity.is_none() {
            errors.add("min_severity", "critical, warning or info");
        }
        let tags: Vec<String> = form
            .tags
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        if tags.len() > 20 || tags.iter().any(|t| t.len() > 64) {
            errors.add("tags", "at most 20 tags of 64 characters");
        }
        let mut levels = Vec::new();
        let rows = form.who.len().max(form.wait.len());
        if rows > MAX_LEVELS {
            errors.add("who1", format!("at most {MAX_LEVELS} levels"));
        }
        for row in 0..rows.min(MAX_LEVELS) {
            let who = form.who.get(row).map_or("", |w| w.trim());
            let wait = form.wait.get(row).map_or("", |w| w.trim());
            if who.is_empty() && wait.is_empty() {
                continue;
            }
            let n = row + 1;
            if who.is_empty() {
                errors.add(&format!("who{n}"), "name a schedule or a person to page");
                continue;
            }
            let responders = parse_responders(who, schedules, known_users)
                .map_err(|reason| errors.add(&format!("who{n}"), reason))
                .ok();
            let wait_seconds = parse_wait(wait)
                .map_err(|reason| errors.add(&format!("wait{n}"), reason))
                .ok();
            if let (Some(responders), Some(wait_seconds)) = (responders, wait_seconds) {
                levels.push(EscalationLevel {
                    responders,
                    wait_seconds,
                });
            }
        }
        if levels.is_empty() && errors.get("who1").is_none() {
            errors.add(
                "who1",
                "a policy needs at least one level: who is paged first",
            );
        }
        let repeat = parse_repeat(&form.repeat)
            .map_err(|reason| errors.add("repeat", reason))
            .ok();
        match (min_severity, repeat) {
            (Some(min_severity), Some(repeat)) if errors.is_empty() => Ok(Self {
                name,
                min_severity,
                tags,
                levels,
                repeat,
            }),
            _ => Err(errors),
        }
    }
}

/// Schedule names and usernames, comma-separated; a name that is both is refused.
fn parse_responders(
    raw: &str,
    schedules: &[(i64, String)],
    known_users: &[String],
) -> Result<Vec<Responder>, String> {
    let mut responders = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let schedule = schedules.iter().find(|(_, s)| s == name);
        let user = known_users.iter().any(|u| u == name);
        let responder = match (schedule, user) {
            (Some(_), true) => {
                return Err(format!(
                    "'{name}' is both a schedule and a user; rename one of them"
                ));
            }
            (Some((id, name)), false) => Responder::Schedule {
                id: *id,
                name: name.clone(),
            },
            (None, true) => Responder::User(name.to_owned()),
            (None, false) => return Err(format!("no schedule or user is called '{name}'")),
        };
        if !responders.contains(&responder) {
            responders.push(responder);
        }
    }
    if responders.len() > 10 {
        return Err("at most 10 schedules and people per level".into());
    }
    Ok(responders)
}

/// A wait such as `90s`, `5m` or `1h`; a bare number is minutes. Between 1 second and a day.
pub fn parse_wait(raw: &str) -> Result<u32, String> {
    let raw = raw.trim();
    let refused = || "a duration such as 5m, 30s or 1h".to_owned();
    let (digits, unit) = match raw.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => raw.split_at(at),
        None => (raw, "m"),
    };
    let amount: u32 = digits.parse().map_err(|_| refused())?;
    let seconds = match unit.trim() {
        "s" => Some(amount),
        "m" => amount.checked_mul(60),
        "h" => amount.checked_mul(3600),
        _ => return Err(refused()),
    };
    match seconds {
        Some(s) if (1..=MAX_WAIT_SECONDS).contains(&s) => Ok(s),
        _ => Err("between 1 second and 24 hours".into()),
    }
}

/// Rounds after the first: empty is none; an endless loop is refused.
fn parse_repeat(raw: &str) -> Result<u32, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(0);
    }
    match raw.parse::<i64>() {
        Ok(n) if (0..=i64::from(MAX_REPEAT)).contains(&n) => Ok(n as u32),
        Ok(n) if n < 0 => Err(format!(
            "a policy that repeats forever never ends: at most {MAX_REPEAT} repeats"
        )),
        Ok(_) => Err(format!("at most {MAX_REPEAT} repeats, so it ends")),
        Err(_) => Err(format!("a whole number from 0 to {MAX_REPEAT}")),
    }
}

/// Text for a wait: `90s`, `5m`, `1h 30m`.
pub fn format_wait(seconds: u32) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let parts: Vec<String> = [(h, "h"), (m, "m"), (s, "s")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    parts.join(" ")
}

/// Why an escalation stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationEnd {
    Acknowledged {
        by: String,
    },
    Resolved,
    /// Every level of every round was paged and nobody acknowledged.
    Exhausted,
    /// Its policy was deleted: nobody further to page.
    PolicyGone,
}

impl EscalationEnd {
    pub fn describe(&self) -> String {
        match self {
            Self::Acknowledged { by } => format!("acknowledged by {by}"),
            Self::Resolved => "resolved".into(),
            Self::Exhausted => "every level paged; nobody acknowledged".into(),
            Self::PolicyGone => "its policy was deleted".into(),
        }
    }
}

/// One escalation of a group of alerts under a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Escalation {
    pub id: i64,
    pub group_key: String,
    pub policy_id: Option<i64>,
    pub policy_name: String,
    pub step: Step,
    /// When the current level's wait runs out; `None` before level 1 is paged.
    pub next_at: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end: Option<EscalationEnd>,
}

/// One page: a person reached (or not) at one level of an escalation, or later told that
/// it was acknowledged or resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    pub escalation_id: i64,
    pub step: Step,
    pub event: NoticeEvent,
    pub username: String,
    /// The contact method's label, or empty when the person has none.
    pub method: String,
    /// The contact method's id, by which later news reaches the same one.
    pub method_id: Option<i64>,
    pub kind: Option<ChannelKind>,
    pub at: DateTime<Utc>,
    /// Recorded before it is sent: still being sent (or retried).
    pub pending: bool,
    /// Why the page did not reach them.
    pub error: Option<String>,
}

/// What an escalation should do now, given what became of its alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Page this level and wait for it.
    Page(Step),
    /// Stop paging.
    End(EscalationEnd),
    /// Every alert is resolved: tell everyone paged.
    Resolve,
}

/// The next move of an unresolved escalation at `now`, or `None` while its level still
/// waits (or, once it has stopped paging, while an alert is still open).
/// `acknowledged_by` is whoever took one of its alerts on; `open` counts those not resolved.
pub fn next_move(
    escalation: &Escalation,
    policy: Option<&EscalationPolicy>,
    open: usize,
    acknowledged_by: Option<&str>,
    now: DateTime<Utc>,
) -> Option<Due> {
    if open == 0 {
        return Some(Due::Resolve);
    }
    if escalation.end.is_some() {
        return None;
    }
    if let Some(by) = acknowledged_by {
        return Some(Due::End(EscalationEnd::Acknowledged { by: by.to_owned() }));
    }
    let Some(policy) = policy else {
        return Some(Due::End(EscalationEnd::PolicyGone));
    };
    match escalation.next_at {
        None => Some(Due::Page(escalation.step)),
        Some(at) if at > now => None,
        Some(_) => Some(
            policy
                .after(escalation.step)
                .map_or(Due::End(EscalationEnd::Exhausted), Due::Page),
        ),
    }
}

/// The people a level pages at `now`: its named users, and whoever `on_call` says holds each
/// of its schedules (`None` when a schedule has a gap or no longer exists, which is said).
pub fn level_people(
    level: &EscalationLevel,
    on_call: impl Fn(i64) -> Option<String>,
) -> (Vec<String>, Vec<String>) {
    let mut people: Vec<String> = Vec::new();
    let mut uncovered = Vec::new();
    for responder in &level.responders {
        let person = match responder {
            Responder::User(name) => Some(name.clone()),
            Responder::Schedule { id, name } => {
                let person = on_call(*id);
                if person.is_none() {
                    uncovered.push(name.clone());
                }
                person
            }
        };
        if let Some(person) = person.filter(|p| !people.contains(p)) {
            people.push(person);
        }
    }
    (people, uncovered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(levels: usize, repeat: u32) -> EscalationPolicy {
        EscalationPolicy {
            id: 1,
            name: "primary".into(),
            min_severity: Severity::Warning,
            tags: Vec::new(),
            levels: (0..levels)
                .map(|i| EscalationLevel {
                    responders: vec![Responder::User(format!("user{i}"))],
                    wait_seconds: 60 * (i as u32 + 1),
                })
                .collect(),
            repeat,
            created_by: "admin".into(),
            created_at: DateTime::UNIX_EPOCH,
        }
    }

    fn form(who: &[&str], wait: &[&str], repeat: &str) -> PolicyForm {
        PolicyForm {
            name: "primary".into(),
            min_severity: "critical".into(),
            tags: String::new(),
            who: who.iter().map(|s| s.to_string()).collect(),
            wait: wait.iter().map(|s| s.to_string()).collect(),
            repeat: repeat.into(),
        }
    }

    #[test]
    fn steps_walk_the_levels_then_the_rounds_then_stop() {
        let p = policy(2, 1);
        let mut step = Step { level: 0, round: 0 };
        let mut seen = vec![step];
        while let Some(next) = p.after(step) {
            step = next;
            seen.push(step);
        }
        let expected = [(0, 0), (1, 0), (0, 1), (1, 1)].map(|(level, round)| Step { level, round });
        assert_eq!(seen, expected);
        assert_eq!(p.wait(Step { level: 1, round: 0 }), Duration::minutes(2));
    }

    #[test]
    fn waits_read_as_people_write_them() {
        assert_eq!(parse_wait("30s"), Ok(30));
        assert_eq!(parse_wait("5m"), Ok(300));
        assert_eq!(parse_wait("5"), Ok(300));
        assert_eq!(parse_wait("2h"), Ok(7200));
        assert!(parse_wait("0s").is_err());
        assert!(parse_wait("25h").is_err());
        assert!(parse_wait("5 minutes").is_err());
        assert!(parse_wait("").is_err());
        assert!(parse_wait("99999999999h").is_err());
        assert_eq!(format_wait(5400), "1h 30m");
        assert_eq!(format_wait(45), "45s");
    }

    #[test]
    fn a_policy_names_schedules_and_people_and_must_end() {
        let schedules = vec![(7, "primary-oncall".to_owned())];
        let users = vec!["alice".to_owned(), "bob".to_owned()];
        let parsed = NewPolicy::parse(
            &form(
                &["primary-oncall", "alice, bob", ""],
                &["5m", "10m", ""],
                "2",
            ),
            &schedules,
            &users,
        )
        .map_err(|e| e.to_string())
        .unwrap();
        assert_eq!(parsed.levels.len(), 2);
        assert_eq!(
            parsed.levels[0].responders,
            vec![Responder::Schedule {
                id: 7,
                name: "primary-oncall".into()
            }]
        );
        assert_eq!(parsed.levels[1].wait_seconds, 600);
        assert_eq!(parsed.repeat, 2);

        let forever = NewPolicy::parse(&form(&["alice"], &["5m"], "-1"), &schedules, &users)
            .err()
            .unwrap();
        assert!(forever.get("repeat").unwrap().contains("never ends"));
        let too_many = NewPolicy::parse(&form(&["alice"], &["5m"], "100"), &schedules, &users)
            .err()
            .unwrap();
        assert!(too_many.get("repeat").is_some());
        let nobody = NewPolicy::parse(&form(&["", ""], &["", ""], ""), &schedules, &users)
            .err()
            .unwrap();
        assert!(nobody.get("who1").unwrap().contains("at least one level"));
        let unknown = NewPolicy::parse(
            &form(&["alice", "carol"], &["5m", "x"], ""),
            &schedules,
            &users,
        )
        .err()
        .unwrap();
        assert!(unknown.get("who2").unwrap().contains("'carol'"));
        assert!(unknown.get("wait2").is_some());
        let both = NewPolicy::parse(
            &form(&["alice"], &["5m"], ""),
            &[(1, "alice".to_owned())],
            &users,
        )
        .err()
        .unwrap();
        assert!(both.get("who1").unwrap().contains("both"));
    }

    #[test]
    fn routing_prefers_tagged_then_more_severe_then_older_policies() {
        let mut everyone = policy(1, 0);
        everyone.id = 1;
        let mut critical = policy(1, 0);
        critical.id = 2;
        critical.min_severity = Severity::Critical;
        let mut payments = policy(1, 0);
        payments.id = 3;
        payments.tags = vec!["team:payments".into()];
        let all = vec![everyone, critical, payments];
        let tags = vec!["team:payments".to_owned()];
        assert_eq!(
            route(&all, Severity::Critical, &tags).map(|p| p.id),
            Some(3)
        );
        assert_eq!(route(&all, Severity::Critical, &[]).map(|p| p.id), Some(2));
        assert_eq!(route(&all, Severity::Warning, &[]).map(|p| p.id), Some(1));
        assert_eq!(route(&all, Severity::Info, &[]).map(|p| p.id), None);
    }

    #[test]
    fn an_escalation_pages_waits_moves_on_and_stops() {
        let p = policy(2, 0);
        let t0 = DateTime::UNIX_EPOCH;
        let mut e = Escalation {
            id: 1,
            group_key: "target_down".into(),
            policy_id: Some(1),
            policy_name: "primary".into(),
            step: Step { level: 0, round: 0 },
            next_at: None,
            started_at: t0,
            ended_at: None,
            end: None,
        };
        let first = Step { level: 0, round: 0 };
        assert_eq!(next_move(&e, Some(&p), 1, None, t0), Some(Due::Page(first)));
        e.next_at = Some(t0 + p.wait(first));
        assert_eq!(
            next_move(&e, Some(&p), 1, None, t0 + Duration::seconds(59)),
            None
        );
        let second = Step { level: 1, round: 0 };
        assert_eq!(
            next_move(&e, Some(&p), 1, None, t0 + Duration::seconds(60)),
            Some(Due::Page(second))
        );
        e.step = second;
        e.next_at = Some(t0 + Duration::seconds(180));
        assert_eq!(
            next_move(&e, Some(&p), 1, None, t0 + Duration::seconds(180)),
            Some(Due::End(EscalationEnd::Exhausted))
        );
        assert_eq!(
            next_move(&e, Some(&p), 1, Some("alice"), t0),
            Some(Due::End(EscalationEnd::Acknowledged { by: "alice".into() }))
        );
        assert_eq!(next_move(&e, Some(&p), 0, None, t0), Some(Due::Resolve));
        assert_eq!(
            next_move(&e, None, 1, None, t0),
            Some(Due::End(EscalationEnd::PolicyGone))
        );
        // Once stopped, it waits for its alerts to resolve, then tells everyone paged.
        e.end = Some(EscalationEnd::Acknowledged { by: "alice".into() });
        assert_eq!(
            next_move(&e, Some(&p), 1, Some("alice"), t0 + Duration::hours(1)),
            None
        );
        assert_eq!(
            next_move(&e, Some(&p), 0, Some("alice"), t0),
            Some(Due::Resolve)
        );
    }

    #[test]
    fn a_level_pages_each_person_once_and_says_which_schedules_had_nobody() {
        let level = EscalationLevel {
            responders: vec![
                Responder::Schedule {
                    id: 1,
                    name: "day".into(),
                },
                Responder::Schedule {
                    id: 2,
                    name: "night".into(),
                },
                Responder::User("alice".into()),
            ],
            wait_seconds: 60,
        };
        let (people, uncovered) = level_people(&level, |id| (id == 1).then(|| "alice".to_owned()));
        assert_eq!(people, vec!["alice".to_owned()]);
        assert_eq!(uncovered, vec!["night".to_owned()]);
    }
}
