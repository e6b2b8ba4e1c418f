//! On-call schedules: people rotating through layers, overrides on top, and what that adds up
//! to: who is on call at a moment, the shifts over a span, and the gaps nobody covers.
//!
//! Handoffs are local times in the schedule's time zone, so a 09:00 handoff stays at 09:00
//! across daylight-saving changes. A later layer wins over an earlier one where both cover a
//! moment (a business-hours layer above a round-the-clock one), and overrides win over all.
use crate::domain::target::FieldErrors;
use chrono::{
    DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// People in a layer at most, and layers in a schedule at most.
pub const MAX_PARTICIPANTS: usize = 50;
pub const MAX_LAYERS: usize = 10;
const NAME_MAX_CHARS: usize = 100;
/// How far ahead the schedule page and the gap warning look.
pub const LOOKAHEAD_DAYS: i64 = 14;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rotation {
    Daily,
    Weekly,
}

impl Rotation {
    pub const ALL: [Rotation; 2] = [Self::Daily, Self::Weekly];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }

    fn days(self) -> i64 {
        match self {
            Self::Daily => 1,
            Self::Weekly => 7,
        }
    }
}

/// The hours of each day a layer covers, in the schedule's time zone; an `end` at or before
/// `start` runs past midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyWindow {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

/// People taking turns: the first handoff at `first_handoff` (local time), then one every day
/// or week at the same local time, in the order listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    pub id: i64,
    pub name: String,
    pub rotation: Rotation,
    pub first_handoff: NaiveDateTime,
    pub participants: Vec<String>,
    pub window: Option<DailyWindow>,
}

/// Someone covering a span instead of whoever the layers say ("I cover Tuesday").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Override {
    pub id: i64,
    pub user: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub id: i64,
    pub name: String,
    /// An IANA time zone name, e.g. `Europe/Berlin`.
    pub time_zone: String,
    pub layers: Vec<Layer>,
    pub overrides: Vec<Override>,
}

/// Where a shift comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum ShiftSource {
    Layer(String),
    Override,
}

/// One person on call for a span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shift {
    pub user: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub source: ShiftSource,
}

/// A span nobody is on call for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// What a schedule adds up to over a span.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    pub shifts: Vec<Shift>,
    pub gaps: Vec<Gap>,
}

impl Coverage {
    /// Who is on call at `at` (and until when), and who takes over next, for a coverage that
    /// starts at `at`.
    pub fn now_and_next(&self, at: DateTime<Utc>) -> (Option<Shift>, Option<Shift>) {
        let now = self.shifts.first().filter(|s| s.starts_at == at).cloned();
        let next = self
            .shifts
            .iter()
            .find(|s| s.starts_at > at && now.as_ref().is_none_or(|n| n.user != s.user))
            .cloned();
        (now, next)
    }
}

/// Parses an IANA time zone name.
pub fn parse_time_zone(raw: &str) -> Result<Tz, String> {
    raw.trim().parse::<Tz>().map_err(|_| {
        format!(
            "'{}' is not an IANA time zone such as Europe/Berlin",
            raw.trim()
        )
    })
}

/// The instant a local time names. When clocks went back it names two: the first is taken.
/// When clocks went forward past it, it is read with the offset before the change (02:30 on
/// a night that skips from 02:00 to 03:00 is 03:30).
pub fn instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => at.with_timezone(&Utc),
        LocalResult::None => {
            // The offset in force before the jump: the nearest earlier local time that exists
            // (a gap is usually an hour; Samoa once skipped a whole day).
            let offset_secs = (1..=48)
                .find_map(|hours| {
                    tz.from_local_datetime(&(local - Duration::hours(hours)))
                        .earliest()
                })
                .map_or(0, |before| before.offset().fix().local_minus_utc());
            DateTime::from_naive_utc_and_offset(local - Duration::seconds(offset_secs.into()), Utc)
        }
    }
}

impl Layer {
    fn handoff(&self, tz: Tz, index: i64) -> DateTime<Utc> {
        instant(
            tz,
            self.first_handoff + Duration::days(index * self.rotation.days()),
        )
    }

    /// Who this layer puts on call within `[from, to)`, clipped to its window.
    fn shifts(&self, tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Shift> {
        if self.participants.is_empty() || from >= to {
            return Vec::new();
        }
        let local_from = from.with_timezone(&tz).naive_local();
        let days = (local_from - self.first_handoff).num_days();
        let mut index = (days.div_euclid(self.rotation.days()) - 1).max(0);
        let mut turns = Vec::new();
        loop {
            let start = self.handoff(tz, index);
            if start >= to {
                break;
            }
            let end = self.handoff(tz, index + 1);
            if end > from {
                let user = &self.participants[index as usize % self.participants.len()];
                turns.push((start.max(from), end.min(to), user.clone()));
            }
            index += 1;
        }
        let source = ShiftSource::Layer(self.name.clone());
        let clipped: Vec<(DateTime<Utc>, DateTime<Utc>, String)> = match self.window {
            None => turns,
            Some(window) => {
                let spans = window_spans(window, tz, from, to);
                turns
                    .into_iter()
                    .flat_map(|(start, end, user)| {
                        spans.iter().filter_map(move |(ws, we)| {
                            let (s, e) = (start.max(*ws), end.min(*we));
                            (s < e).then(|| (s, e, user.clone()))
                        })
                    })
                    .collect()
            }
        };
        clipped
            .into_iter()
            .map(|(starts_at, ends_at, user)| Shift {
                user,
                starts_at,
                ends_at,
                source: source.clone(),
            })
            .collect()
    }
}

/// The window's spans on each local day that touches `[from, to)`.
fn window_spans(
    window: DailyWindow,
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let first: NaiveDate = from.with_timezone(&tz).date_naive() - Duration::days(1);
    let last: NaiveDate = to.with_timezone(&tz).date_naive();
    first
        .iter_days()
        .take_while(|day| *day <= last)
        .map(|day| {
            let end_day = if window.end <= window.start {
                day + Duration::days(1)
            } else {
                day
            };
            (
                instant(tz, day.and_time(window.start)),
                instant(tz, end_day.and_time(window.end)),
            )
        })
        .filter(|(start, end)| start < end && *end > from && *start < to)
        .collect()
}

impl Schedule {
    pub fn tz(&self) -> Tz {
        parse_time_zone(&self.time_zone).unwrap_or(Tz::UTC)
    }

    /// Who is on call across `[from, to)`: the top layer covering each moment, overrides
    /// above all, with a person's adjoining spans from one source merged.
    pub fn coverage(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Coverage {
        let tz = self.tz();
        // Lowest priority first: layers in order, then overrides.
        let mut candidates: Vec<Shift> = self
            .layers
            .iter()
            .flat_map(|layer| layer.shifts(tz, from, to))
            .collect();
        candidates.extend(
            self.overrides
                .iter()
                .filter(|o| o.ends_at > from && o.starts_at < to)
                .map(|o| Shift {
                    user: o.user.clone(),
                    starts_at: o.starts_at.max(from),
                    ends_at: o.ends_at.min(to),
                    source: ShiftSource::Override,
                }),
        );
        let mut bounds: Vec<DateTime<Utc>> = candidates
            .iter()
            .flat_map(|s| [s.starts_at, s.ends_at])
            .chain([from, to])
            .filter(|at| *at >= from && *at <= to)
            .collect();
        bounds.sort();
        bounds.dedup();
        let mut coverage = Coverage::default();
        for pair in bounds.windows(2) {
            let (start, end) = (pair[0], pair[1]);
            let top = candidates
                .iter()
                .rev()
                .find(|s| s.starts_at <= start && s.ends_at >= end);
            match top {
                Some(shift) => match coverage.shifts.last_mut() {
                    Some(last)
                        if last.ends_at == start
                            && last.user == shift.user
                            && last.source == shift.source =>
                    {
                        last.ends_at = end;
                    }
                    _ => coverage.shifts.push(Shift {
                        starts_at: start,
                        ends_at: end,
                        ..shift.clone()
                    }),
                },
                None => match coverage.gaps.last_mut() {
                    Some(last) if last.ends_at == start => last.ends_at = end,
                    _ => coverage.gaps.push(Gap {
                        starts_at: start,
                        ends_at: end,
                    }),
                },
            }
        }
        coverage
    }
}

/// A new schedule with its first layer, as typed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduleForm {
    pub name: String,
    pub time_zone: String,
    #[serde(flatten)]
    pub layer: LayerForm,
}

/// A layer as typed: the first handoff as `YYYY-MM-DDTHH:MM` (a `datetime-local` field),
/// participants separated by commas or spaces, and an optional daily window `HH:MM`–`HH:MM`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LayerForm {
    pub layer_name: String,
    pub rotation: String,
    pub first_handoff: String,
    pub participants: String,
    pub window_start: String,
    pub window_end: String,
}

/// A new layer, ready to store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewLayer {
    pub name: String,
    pub rotation: Rotation,
    pub first_handoff: NaiveDateTime,
    pub participants: Vec<String>,
    pub window: Option<DailyWindow>,
}

impl NewLayer {
    /// Parses a layer form; `known_users` are the usernames participants must be among.
    pub fn parse(form: &LayerForm, known_users: &[String]) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = form.layer_name.trim();
        let name = if name.is_empty() { "Primary" } else { name };
        if name.chars().count() > NAME_MAX_CHARS {
            errors.add("layer_name", format!("at most {NAME_MAX_CHARS} characters"));
        }
        let rotation = Rotation::parse(form.rotation.trim()).unwrap_or_else(|| {
            errors.add("rotation", "choose daily or weekly");
            Rotation::Weekly
        });
        let first_handoff = parse_local(&form.first_handoff).unwrap_or_else(|message| {
            errors.add("first_handoff", message);
            NaiveDateTime::default()
        });
        let mut participants: Vec<String> = Vec::new();
        for user in form
            .participants
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|u| !u.is_empty())
        {
            if !known_users.iter().any(|k| k == user) {
                errors.add("participants", format!("no user is called '{user}'"));
            } else if !participants.iter().any(|p| p == user) {
                participants.push(user.to_owned());
            }
        }
        if participants.is_empty() && errors.get("participants").is_none() {
            errors.add(
                "participants",
                "name at least one person to be on call (usernames, separated by commas)",
            );
        }
        if participants.len() > MAX_PARTICIPANTS {
            errors.add(
                "participants",
                format!("at most {MAX_PARTICIPANTS} people per layer"),
            );
        }
        let window = match (form.window_start.trim(), form.window_end.trim()) {
            ("", "") => None,
            (start, end) => {
                let start = parse_time(start).map_err(|m| errors.add("window_start", m));
                let end = parse_time(end).map_err(|m| errors.add("window_end", m));
                match (start, end) {
                    (Ok(start), Ok(end)) if start == end => {
                        errors.add(
                            "window_end",
                            "the window must not end when it starts (leave both empty for all day)",
                        );
                        None
                    }
                    (Ok(start), Ok(end)) => Some(DailyWindow { start, end }),
                    _ => None,
                }
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            name: name.to_owned(),
            rotation,
            first_handoff,
            participants,
            window,
        })
    }
}

/// A new schedule, ready to store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSchedule {
    pub name: String,
    pub time_zone: String,
    pub layer: NewLayer,
}

impl NewSchedule {
    pub fn parse(form: &ScheduleForm, known_users: &[String]) -> Result<Self, FieldErrors> {
        let layer = NewLayer::parse(&form.layer, known_users);
        let mut errors = layer.as_ref().err().cloned().unwrap_or_default();
        let name = form.name.trim();
        if name.is_empty() {
            errors.add("name", "a name is required");
        } else if name.chars().count() > NAME_MAX_CHARS {
            errors.add("name", format!("at most {NAME_MAX_CHARS} characters"));
        }
        let time_zone = parse_time_zone(&form.time_zone).map_err(|m| errors.add("time_zone", m));
        match (layer, time_zone) {
            (Ok(layer), Ok(time_zone)) if errors.is_empty() => Ok(Self {
                name: name.to_owned(),
                time_zone: time_zone.name().to_owned(),
                layer,
            }),
            _ => Err(errors),
        }
    }
}

/// An override as typed: who, and from when to when in the schedule's time zone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OverrideForm {
    pub user: String,
    pub starts: String,
    pub ends: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOverride {
    pub user: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

impl NewOverride {
    pub fn parse(form: &OverrideForm, tz: Tz, known_users: &[String]) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let user = form.user.trim();
        if !known_users.iter().any(|k| k == user) {
            errors.add("user", format!("no user is called '{user}'"));
        }
        let starts = parse_local(&form.starts).map_err(|m| errors.add("starts", m));
        let ends = parse_local(&form.ends).map_err(|m| errors.add("ends", m));
        if let (Ok(starts), Ok(ends)) = (starts, ends) {
            let (starts_at, ends_at) = (instant(tz, starts), instant(tz, ends));
            if ends_at <= starts_at {
                errors.add("ends", "must be after the start");
            } else if ends_at - starts_at > Duration::days(90) {
                errors.add("ends", "an override lasts at most 90 days");
            }
            if errors.is_empty() {
                return Ok(Self {
                    user: user.to_owned(),
                    starts_at,
                    ends_at,
                });
            }
        }
        Err(errors)
    }
}

fn parse_local(raw: &str) -> Result<NaiveDateTime, String> {
    let raw = raw.trim();
    NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M"))
        .map_err(|_| format!("'{raw}' is not a date and time such as 2026-12-07T09:00"))
}

fn parse_time(raw: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(raw, "%H:%M")
        .map_err(|_| format!("'{raw}' is not a time such as 09:00"))
}

/// The schedule's shifts as an iCalendar (RFC 5545) feed: one event per shift.
pub fn calendar(schedule: &Schedule, coverage: &Coverage, made_at: DateTime<Utc>) -> String {
    fn text(raw: &str) -> String {
        raw.replace('\\', "\\\\")
            .replace(';', "\\;")
            .replace(',', "\\,")
            .replace('\n', "\\n")
    }
    let stamp = |at: DateTime<Utc>| at.format("%Y%m%dT%H%M%SZ").to_string();
    let mut out = String::from(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//mcpops//on-call//EN\r\nCALSCALE:GREGORIAN\r\n",
    );
    out.push_str(&format!("X-WR-CALNAME:{}\r\n", text(&schedule.name)));
    for shift in &coverage.shifts {
        let source = match &shift.source {
            ShiftSource::Layer(name) => name.clone(),
            ShiftSource::Override => "override".to_owned(),
        };
        out.push_str("BEGIN:VEVENT\r\n");
        out.push_str(&format!(
            "UID:{}-{}-{}@mcpops\r\n",
            schedule.id,
            shift.starts_at.timestamp(),
            text(&shift.user)
        ));
        out.push_str(&format!("DTSTAMP:{}\r\n", stamp(made_at)));
        out.push_str(&format!("DTSTART:{}\r\n", stamp(shift.starts_at)));
        out.push_str(&format!("DTEND:{}\r\n", stamp(shift.ends_at)));
        out.push_str(&format!(
            "SUMMARY:On call: {} ({})\r\n",
            text(&shift.user),
            text(&schedule.name)
        ));
        out.push_str(&format!("DESCRIPTION:{}\r\n", text(&source)));
        out.push_str("END:VEVENT\r\n");
    }
    out.push_str("END:VCALENDAR\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn local(raw: &str) -> NaiveDateTime {
        parse_local(raw).unwrap()
    }

    fn layer(name: &str, rotation: Rotation, first: &str, people: &[&str]) -> Layer {
        Layer {
            id: 0,
            name: name.into(),
            rotation,
            first_handoff: local(first),
            participants: people.iter().map(|p| p.to_string()).collect(),
            window: None,
        }
    }

    fn schedule(time_zone: &str, layers: Vec<Layer>) -> Schedule {
        Schedule {
            id: 1,
            name: "Primary".into(),
            time_zone: time_zone.into(),
            layers,
            overrides: Vec::new(),
        }
    }

    fn now_and_next(schedule: &Schedule, from: DateTime<Utc>) -> (Option<Shift>, Option<Shift>) {
        schedule
            .coverage(from, from + Duration::days(LOOKAHEAD_DAYS))
            .now_and_next(from)
    }

    fn who(schedule: &Schedule, moment: &str) -> Option<String> {
        now_and_next(schedule, at(moment)).0.map(|s| s.user)
    }

    #[test]
    fn a_weekly_rotation_hands_off_at_the_same_local_time_across_daylight_saving() {
        // Berlin leaves summer time on Sunday 25 October 2026 (03:00 CEST → 02:00 CET).
        let s = schedule(
            "Europe/Berlin",
            vec![layer(
                "Primary",
                Rotation::Weekly,
                "2026-10-19T09:00",
                &["ann", "bob"],
            )],
        );
        let coverage = s.coverage(at("2026-10-19T07:00:00Z"), at("2026-11-02T08:00:00Z"));
        let handoffs: Vec<(String, String)> = coverage
            .shifts
            .iter()
            .map(|s| (s.user.clone(), s.starts_at.to_rfc3339()))
            .collect();
        assert_eq!(
            handoffs,
            [
                ("ann".into(), "2026-10-19T07:00:00+00:00".into()),
                // 09:00 CET is 08:00 UTC: the handoff follows the wall clock.
                ("bob".into(), "2026-10-26T08:00:00+00:00".into()),
            ]
        );
        assert!(coverage.gaps.is_empty(), "{:?}", coverage.gaps);
        assert_eq!(who(&s, "2026-10-26T07:59:00Z").as_deref(), Some("ann"));
        assert_eq!(who(&s, "2026-10-26T08:00:00Z").as_deref(), Some("bob"));
        assert_eq!(who(&s, "2026-11-02T08:00:00Z").as_deref(), Some("ann"));
    }

    #[test]
    fn a_handoff_inside_the_spring_forward_gap_happens_when_the_clocks_have_jumped() {
        // New York skips 02:00–03:00 on Sunday 8 March 2026.
        let s = schedule(
            "America/New_York",
            vec![layer(
                "Nights",
                Rotation::Daily,
                "2026-03-06T02:30",
                &["ann", "bob", "cy"],
            )],
        );
        // 7 March 02:30 EST = 07:30 UTC; 8 March 02:30 does not exist: 03:30 EDT = 07:30 UTC.
        assert_eq!(who(&s, "2026-03-08T07:29:00Z").as_deref(), Some("bob"));
        assert_eq!(who(&s, "2026-03-08T07:30:00Z").as_deref(), Some("cy"));
        // From 9 March, 02:30 EDT = 06:30 UTC.
        assert_eq!(who(&s, "2026-03-09T06:29:00Z").as_deref(), Some("cy"));
        assert_eq!(who(&s, "2026-03-09T06:30:00Z").as_deref(), Some("ann"));
        // Samoa skipped 30 December 2011 entirely: read with the offset before (UTC−10).
        let apia = parse_time_zone("Pacific/Apia").unwrap();
        assert_eq!(
            instant(apia, local("2011-12-30T09:00")),
            at("2011-12-30T19:00:00Z")
        );
    }

    #[test]
    fn the_same_rotation_in_two_time_zones_hands_off_at_each_ones_local_time() {
        let tokyo = schedule(
            "Asia/Tokyo",
            vec![layer(
                "Primary",
                Rotation::Daily,
                "2026-12-01T09:00",
                &["ann", "bob"],
            )],
        );
        let utc = schedule(
            "UTC",
            vec![layer(
                "Primary",
                Rotation::Daily,
                "2026-12-01T09:00",
                &["ann", "bob"],
            )],
        );
        // 09:00 in Tokyo is 00:00 UTC.
        assert_eq!(who(&tokyo, "2026-12-02T00:00:00Z").as_deref(), Some("bob"));
        assert_eq!(who(&utc, "2026-12-02T00:00:00Z").as_deref(), Some("ann"));
        assert_eq!(who(&utc, "2026-12-02T09:00:00Z").as_deref(), Some("bob"));
    }

    #[test]
    fn an_override_wins_for_its_span_and_the_rotation_resumes_after() {
        let mut s = schedule(
            "UTC",
            vec![layer(
                "Primary",
                Rotation::Weekly,
                "2026-12-07T09:00",
                &["ann", "bob"],
            )],
        );
        // "I cover Tuesday."
        s.overrides.push(Override {
            id: 1,
            user: "cy".into(),
            starts_at: at("2026-12-08T00:00:00Z"),
            ends_at: at("2026-12-09T00:00:00Z"),
            created_by: "cy".into(),
        });
        assert_eq!(who(&s, "2026-12-07T23:59:00Z").as_deref(), Some("ann"));
        assert_eq!(who(&s, "2026-12-08T12:00:00Z").as_deref(), Some("cy"));
        assert_eq!(who(&s, "2026-12-09T00:00:00Z").as_deref(), Some("ann"));
        let (now, next) = now_and_next(&s, at("2026-12-07T12:00:00Z"));
        assert_eq!(now.unwrap().ends_at, at("2026-12-08T00:00:00Z"));
        let next = next.unwrap();
        assert_eq!(
            (next.user.as_str(), next.source),
            ("cy", ShiftSource::Override)
        );
    }

    #[test]
    fn a_business_hours_layer_sits_above_the_round_the_clock_one() {
        let mut day = layer("Day", Rotation::Daily, "2026-12-07T00:00", &["dee"]);
        day.window = Some(DailyWindow {
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
        });
        let s = schedule(
            "UTC",
            vec![
                layer("Always", Rotation::Weekly, "2026-12-07T00:00", &["ann"]),
                day,
            ],
        );
        assert_eq!(who(&s, "2026-12-07T08:59:00Z").as_deref(), Some("ann"));
        assert_eq!(who(&s, "2026-12-07T09:00:00Z").as_deref(), Some("dee"));
        assert_eq!(who(&s, "2026-12-07T17:00:00Z").as_deref(), Some("ann"));
        let coverage = s.coverage(at("2026-12-07T00:00:00Z"), at("2026-12-08T00:00:00Z"));
        let users: Vec<&str> = coverage.shifts.iter().map(|s| s.user.as_str()).collect();
        assert_eq!(users, ["ann", "dee", "ann"]);
    }

    #[test]
    fn nights_not_covered_by_any_layer_are_gaps() {
        let mut day = layer("Day", Rotation::Daily, "2026-12-07T00:00", &["dee"]);
        // 22:00 to 06:00, past midnight.
        day.window = Some(DailyWindow {
            start: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(6, 0, 0).unwrap(),
        });
        let s = schedule("UTC", vec![day]);
        let coverage = s.coverage(at("2026-12-07T00:00:00Z"), at("2026-12-09T00:00:00Z"));
        let gaps: Vec<(String, String)> = coverage
            .gaps
            .iter()
            .map(|g| (g.starts_at.to_rfc3339(), g.ends_at.to_rfc3339()))
            .collect();
        assert_eq!(
            gaps,
            [
                (
                    "2026-12-07T06:00:00+00:00".into(),
                    "2026-12-07T22:00:00+00:00".into()
                ),
                (
                    "2026-12-08T06:00:00+00:00".into(),
                    "2026-12-08T22:00:00+00:00".into()
                ),
            ]
        );
        assert_eq!(who(&s, "2026-12-07T12:00:00Z"), None);
        let (_, next) = now_and_next(&s, at("2026-12-07T12:00:00Z"));
        assert_eq!(next.unwrap().starts_at, at("2026-12-07T22:00:00Z"));
    }

    #[test]
    fn a_schedule_before_its_first_handoff_has_nobody() {
        let s = schedule(
            "UTC",
            vec![layer(
                "Primary",
                Rotation::Daily,
                "2026-12-10T09:00",
                &["ann"],
            )],
        );
        let coverage = s.coverage(at("2026-12-09T00:00:00Z"), at("2026-12-11T00:00:00Z"));
        assert_eq!(
            coverage.gaps,
            [Gap {
                starts_at: at("2026-12-09T00:00:00Z"),
                ends_at: at("2026-12-10T09:00:00Z"),
            }]
        );
        assert_eq!(coverage.shifts.len(), 1);
    }

    fn users() -> Vec<String> {
        vec!["ann".into(), "bob".into()]
    }

    fn form(participants: &str) -> ScheduleForm {
        ScheduleForm {
            name: "Primary".into(),
            time_zone: "Europe/Berlin".into(),
            layer: LayerForm {
                layer_name: String::new(),
                rotation: "weekly".into(),
                first_handoff: "2026-12-07T09:00".into(),
                participants: participants.into(),
                window_start: String::new(),
                window_end: String::new(),
            },
        }
    }

    #[test]
    fn a_schedule_with_no_participants_is_refused_next_to_the_field() {
        let errors = NewSchedule::parse(&form("  "), &users()).unwrap_err();
        assert!(
            errors
                .get("participants")
                .unwrap()
                .contains("at least one person"),
            "{errors}"
        );
        let errors = NewSchedule::parse(&form("ann, zed"), &users()).unwrap_err();
        assert_eq!(errors.get("participants"), Some("no user is called 'zed'"));
        let ok = NewSchedule::parse(&form("ann, bob ann"), &users()).unwrap();
        assert_eq!(ok.layer.participants, ["ann", "bob"]);
        assert_eq!(ok.layer.name, "Primary");
    }

    #[test]
    fn bad_time_zones_times_and_windows_are_named() {
        let mut bad = form("ann");
        bad.time_zone = "Mars/Olympus".into();
        bad.layer.rotation = "hourly".into();
        bad.layer.first_handoff = "tomorrow".into();
        bad.layer.window_start = "9am".into();
        bad.layer.window_end = "17:00".into();
        let errors = NewSchedule::parse(&bad, &users()).unwrap_err();
        for field in ["time_zone", "rotation", "first_handoff", "window_start"] {
            assert!(errors.get(field).is_some(), "{field}: {errors}");
        }
        let mut empty_window = form("ann");
        empty_window.layer.window_start = "09:00".into();
        empty_window.layer.window_end = "09:00".into();
        assert!(
            NewSchedule::parse(&empty_window, &users())
                .unwrap_err()
                .get("window_end")
                .is_some()
        );
    }

    #[test]
    fn an_override_must_end_after_it_starts() {
        let tz = parse_time_zone("Europe/Berlin").unwrap();
        let backwards = OverrideForm {
            user: "ann".into(),
            starts: "2026-12-08T09:00".into(),
            ends: "2026-12-08T08:00".into(),
        };
        assert!(
            NewOverride::parse(&backwards, tz, &users())
                .unwrap_err()
                .get("ends")
                .is_some()
        );
        let ok = OverrideForm {
            ends: "2026-12-09T09:00".into(),
            ..backwards
        };
        let parsed = NewOverride::parse(&ok, tz, &users()).unwrap();
        assert_eq!(parsed.starts_at, at("2026-12-08T08:00:00Z"));
    }

    #[test]
    fn the_calendar_has_one_event_per_shift_in_utc() {
        let s = schedule(
            "UTC",
            vec![layer(
                "Primary, EU",
                Rotation::Daily,
                "2026-12-07T09:00",
                &["ann", "bob"],
            )],
        );
        let coverage = s.coverage(at("2026-12-07T09:00:00Z"), at("2026-12-09T09:00:00Z"));
        let ics = calendar(&s, &coverage, at("2026-12-07T00:00:00Z"));
        assert!(
            ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"),
            "{ics}"
        );
        assert_eq!(ics.matches("BEGIN:VEVENT").count(), 2);
        assert!(ics.contains("DTSTART:20261207T090000Z\r\nDTEND:20261208T090000Z\r\n"));
        assert!(ics.contains("SUMMARY:On call: bob (Primary)"));
        assert!(ics.contains("DESCRIPTION:Primary\\, EU"));
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
    }
}
