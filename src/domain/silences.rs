//! Silences and maintenance windows: which alerts they cover and when they are in force.
use super::alerts::RuleKind;
use super::target::FieldErrors;
use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

/// What a silence covers; every matcher that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matchers {
    /// A target name.
    pub target: Option<String>,
    pub tag: Option<String>,
    pub rule: Option<RuleKind>,
}

impl Matchers {
    pub fn matches(&self, target: &str, tags: &[String], rule: RuleKind) -> bool {
        self.target.as_deref().is_none_or(|t| t == target)
            && self.tag.as_ref().is_none_or(|t| tags.contains(t))
            && self.rule.is_none_or(|r| r == rule)
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = &self.target {
            parts.push(format!("target = {t}"));
        }
        if let Some(t) = &self.tag {
            parts.push(format!("tag = {t}"));
        }
        if let Some(r) = self.rule {
            parts.push(format!("rule = {r}"));
        }
        parts.join(", ")
    }
}

/// A window that repeats every week on the given days (UTC), e.g. Sundays 02:00 for 2 h.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurrence {
    /// Days as 0 = Monday … 6 = Sunday.
    pub weekdays: Vec<u8>,
    pub start: NaiveTime,
    pub minutes: u32,
}

impl Recurrence {
    /// Whether `now` falls in a window that started today or on an earlier day and still runs.
    fn covers(&self, now: DateTime<Utc>) -> bool {
        let span = Duration::minutes(i64::from(self.minutes));
        // A window can run past midnight, and up to a week long.
        (0..=7).any(|days_back| {
            let day = now.date_naive() - Duration::days(days_back);
            let weekday = u8::try_from(day.weekday().num_days_from_monday()).unwrap_or(0);
            if !self.weekdays.contains(&weekday) {
                return false;
            }
            let start = day.and_time(self.start).and_utc();
            start <= now && now < start + span
        })
    }

    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.weekdays.iter().map(|d| weekday_name(*d)).collect();
        format!(
            "every {} at {} UTC for {} min",
            names.join(", "),
            self.start.format("%H:%M"),
            self.minutes
        )
    }
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

pub fn weekday_name(day: u8) -> &'static str {
    WEEKDAYS.get(usize::from(day)).copied().unwrap_or("?")
}

/// "Mon", "monday" or "mo" → 0; "Sun" → 6.
fn parse_weekday(raw: &str) -> Option<u8> {
    let raw = raw.to_ascii_lowercase();
    if raw.len() < 2 {
        return None;
    }
    WEEKDAYS
        .iter()
        .position(|d| {
            let full = d.to_ascii_lowercase();
            full.starts_with(&raw) || raw.starts_with(&full)
        })
        .and_then(|i| u8::try_from(i).ok())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub id: i64,
    pub matchers: Matchers,
    pub owner: String,
    pub reason: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub recurrence: Option<Recurrence>,
    pub created_at: DateTime<Utc>,
}

/// How a silence stands now, as its page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SilenceStatus {
    Active,
    /// Not started yet, or between two windows of a recurring one.
    Waiting,
    Expired,
}

impl SilenceStatus {
    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Waiting => "waiting",
            Self::Expired => "expired",
        }
    }
}

impl Silence {
    pub fn status(&self, now: DateTime<Utc>) -> SilenceStatus {
        if now >= self.ends_at {
            SilenceStatus::Expired
        } else if now < self.starts_at || self.recurrence.as_ref().is_some_and(|r| !r.covers(now)) {
            SilenceStatus::Waiting
        } else {
            SilenceStatus::Active
        }
    }

    /// Whether an alert of `rule` on this target is silenced at `now`.
    pub fn silences(
        &self,
        now: DateTime<Utc>,
        target: &str,
        tags: &[String],
        rule: RuleKind,
    ) -> bool {
        self.status(now) == SilenceStatus::Active && self.matchers.matches(target, tags, rule)
    }
}

/// The raw text of the silence form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SilenceForm {
    pub target: String,
    pub tag: String,
    pub rule: String,
    pub reason: String,
    /// Minutes from now until it starts (empty: now).
    pub starts_in_minutes: String,
    pub duration_minutes: String,
    /// For a recurring window: the days it repeats on ("Sat, Sun"), the time of day
    /// (HH:MM, UTC), and how long it lasts; the silence as a whole ends after `until_days`.
    pub weekdays: String,
    pub window_start: String,
    pub window_minutes: String,
    pub until_days: String,
}

/// A silence ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSilence {
    pub matchers: Matchers,
    pub reason: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub recurrence: Option<Recurrence>,
}

const MAX_REASON: usize = 500;

impl NewSilence {
    pub fn parse(form: &SilenceForm, now: DateTime<Utc>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let text = |raw: &str| Some(raw.trim().to_owned()).filter(|s| !s.is_empty());
        let rule = match form.rule.trim() {
            "" => None,
            raw => match RuleKind::parse(raw) {
                Some(rule) => Some(rule),
                None => {
                    errors.add("rule", format!("unknown rule '{raw}'"));
                    None
                }
            },
        };
        let matchers = Matchers {
            target: text(&form.target),
            tag: text(&form.tag),
            rule,
        };
        if matchers == Matchers::default() && errors.is_empty() {
            errors.add(
                "target",
                "name a target, a tag or a rule: a silence must not cover everything",
            );
        }
        let reason = form.reason.trim().to_owned();
        if reason.is_empty() {
            errors.add("reason", "say why alerts are silenced");
        } else if reason.chars().count() > MAX_REASON {
            errors.add("reason", format!("at most {MAX_REASON} characters"));
        }
        let mut minutes = |field: &str, raw: &str, default: Option<i64>, max: i64| -> Option<i64> {
            match raw.trim() {
                "" if default.is_some() => default,
                raw => match raw.parse::<i64>() {
                    Ok(n) if (0..=max).contains(&n) => Some(n),
                    _ => {
                        errors.add(field, format!("a whole number from 0 to {max}"));
                        None
                    }
                },
            }
        };
        let starts_in = minutes(
            "starts_in_minutes",
            &form.starts_in_minutes,
            Some(0),
            525_600,
        );
        let recurring = !form.weekdays.trim().is_empty() || !form.window_start.trim().is_empty();
        let starts_at = now + Duration::minutes(starts_in.unwrap_or(0));
        let (ends_at, recurrence) = if recurring {
            let window = minutes("window_minutes", &form.window_minutes, None, 7 * 24 * 60);
            let days = minutes("until_days", &form.until_days, Some(90), 3660);
            let start = NaiveTime::parse_from_str(form.window_start.trim(), "%H:%M").ok();
            if start.is_none() {
                errors.add("window_start", "a time of day as HH:MM (UTC)");
            }
            let named: Vec<&str> = form
                .weekdays
                .split([',', ' '])
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .collect();
            let mut weekdays: Vec<u8> = named.iter().filter_map(|d| parse_weekday(d)).collect();
            weekdays.sort_unstable();
            weekdays.dedup();
            if named.is_empty() || named.iter().any(|d| parse_weekday(d).is_none()) {
                errors.add("weekdays", "days such as Mon, Sat, Sun");
            }
            if window == Some(0) {
                errors.add("window_minutes", "a window lasts at least a minute");
            }
            let recurrence = start.zip(window).map(|(start, minutes)| Recurrence {
                weekdays,
                start,
                minutes: u32::try_from(minutes).unwrap_or(0),
            });
            (starts_at + Duration::days(days.unwrap_or(0)), recurrence)
        } else {
            let duration = minutes("duration_minutes", &form.duration_minutes, None, 525_600);
            if duration == Some(0) {
                errors.add("duration_minutes", "a silence lasts at least a minute");
            }
            (starts_at + Duration::minutes(duration.unwrap_or(0)), None)
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            matchers,
            reason,
            starts_at,
            ends_at,
            recurrence,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monday_at(hour: u32, minute: u32) -> DateTime<Utc> {
        // 2026-11-23 is a Monday.
        chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
            .and_then(|d| d.and_hms_opt(hour, minute, 0))
            .map(|d| d.and_utc())
            .unwrap_or_default()
    }

    fn silence(matchers: Matchers, recurrence: Option<Recurrence>) -> Silence {
        Silence {
            id: 1,
            matchers,
            owner: "ann".into(),
            reason: "maintenance".into(),
            starts_at: monday_at(0, 0),
            ends_at: monday_at(0, 0) + Duration::days(30),
            recurrence,
            created_at: monday_at(0, 0),
        }
    }

    #[test]
    fn every_set_matcher_must_match() {
        let by_tag_and_rule = Matchers {
            tag: Some("edge".into()),
            rule: Some(RuleKind::TargetDown),
            ..Matchers::default()
        };
        let edge = vec!["edge".to_owned()];
        assert!(by_tag_and_rule.matches("a", &edge, RuleKind::TargetDown));
        assert!(!by_tag_and_rule.matches("a", &edge, RuleKind::NotReady));
        assert!(!by_tag_and_rule.matches("a", &[], RuleKind::TargetDown));
    }

    #[test]
    fn a_silence_is_waiting_then_active_then_expired() {
        let s = silence(
            Matchers {
                target: Some("a".into()),
                ..Matchers::default()
            },
            None,
        );
        assert_eq!(
            s.status(monday_at(0, 0) - Duration::minutes(1)),
            SilenceStatus::Waiting
        );
        assert_eq!(s.status(monday_at(12, 0)), SilenceStatus::Active);
        assert!(s.silences(monday_at(12, 0), "a", &[], RuleKind::TargetDown));
        assert!(!s.silences(monday_at(12, 0), "b", &[], RuleKind::TargetDown));
        assert_eq!(s.status(s.ends_at), SilenceStatus::Expired);
    }

    #[test]
    fn a_recurring_window_covers_its_days_even_past_midnight() {
        // Mondays 23:00 for 2 hours: covers Monday 23:30 and Tuesday 00:30, not Tuesday 23:30.
        let s = silence(
            Matchers {
                tag: Some("db".into()),
                ..Matchers::default()
            },
            Some(Recurrence {
                weekdays: vec![0],
                start: NaiveTime::from_hms_opt(23, 0, 0).unwrap_or_default(),
                minutes: 120,
            }),
        );
        assert_eq!(s.status(monday_at(22, 59)), SilenceStatus::Waiting);
        assert_eq!(s.status(monday_at(23, 30)), SilenceStatus::Active);
        let tuesday = monday_at(0, 30) + Duration::days(1);
        assert_eq!(s.status(tuesday), SilenceStatus::Active);
        assert_eq!(
            s.status(tuesday + Duration::hours(23)),
            SilenceStatus::Waiting
        );
        assert_eq!(
            s.status(monday_at(23, 30) + Duration::days(7)),
            SilenceStatus::Active
        );
    }

    #[test]
    fn a_silence_form_needs_a_matcher_a_reason_and_a_duration() {
        let errors = NewSilence::parse(&SilenceForm::default(), monday_at(0, 0)).unwrap_err();
        let fields: Vec<&str> = errors.0.keys().map(String::as_str).collect();
        assert_eq!(fields, ["duration_minutes", "reason", "target"]);
        let ok = NewSilence::parse(
            &SilenceForm {
                tag: "edge".into(),
                reason: "deploy".into(),
                duration_minutes: "90".into(),
                ..SilenceForm::default()
            },
            monday_at(0, 0),
        )
        .unwrap();
        assert_eq!(ok.ends_at - ok.starts_at, Duration::minutes(90));
    }

    #[test]
    fn a_recurring_form_is_parsed_into_a_weekly_window() {
        let form = SilenceForm {
            rule: "traffic".into(),
            reason: "batch job".into(),
            weekdays: "sun".into(),
            window_start: "02:00".into(),
            window_minutes: "120".into(),
            until_days: "30".into(),
            ..SilenceForm::default()
        };
        let parsed = NewSilence::parse(&form, monday_at(0, 0)).unwrap();
        let recurrence = parsed.recurrence.unwrap();
        assert_eq!(recurrence.describe(), "every Sun at 02:00 UTC for 120 min");
        assert_eq!(parsed.ends_at, monday_at(0, 0) + Duration::days(30));
        let bad = SilenceForm {
            window_start: "25:00".into(),
            weekdays: "Mon, Funday".into(),
            ..form
        };
        let fields: Vec<String> = NewSilence::parse(&bad, monday_at(0, 0))
            .unwrap_err()
            .0
            .into_keys()
            .collect();
        assert_eq!(fields, ["weekdays", "window_start"]);
    }
}
