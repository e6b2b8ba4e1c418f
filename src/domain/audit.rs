//! The audit log's entries, their hash chain, and the search filter.
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Caps on what a request can put into one entry, so the log cannot be used to store junk.
pub const FIELD_MAX: usize = 512;
pub const REASON_MAX: usize = 1000;
pub const DETAILS_MAX: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Success, Outcome::Failure, Outcome::Denied];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == raw)
    }
}

/// Where a request came from; every audit entry carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestOrigin {
    pub ip: String,
    pub user_agent: String,
    pub request_id: String,
}

impl RequestOrigin {
    /// mcpops itself, for changes its own services make.
    pub fn local() -> Self {
        Self {
            ip: "local".into(),
            user_agent: "mcpops".into(),
            request_id: String::new(),
        }
    }
}

/// One thing that happened, before it has a place in the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// The area: `auth`, `target`, `user`, `token`, `audit`, `demo`, …
    pub event_type: String,
    pub actor: String,
    pub action: String,
    pub resource: String,
    pub result: Outcome,
    pub origin: RequestOrigin,
    pub reason: Option<String>,
    /// Canonical JSON text (see `canonical_details`).
    pub details: String,
}

impl AuditEvent {
    pub fn new(
        event_type: &str,
        actor: &str,
        action: &str,
        resource: &str,
        origin: &RequestOrigin,
    ) -> Self {
        Self {
            event_type: clip(event_type, FIELD_MAX),
            actor: clip(actor, FIELD_MAX),
            action: clip(action, FIELD_MAX),
            resource: clip(resource, FIELD_MAX),
            result: Outcome::Success,
            origin: RequestOrigin {
                ip: clip(&origin.ip, FIELD_MAX),
                user_agent: clip(&origin.user_agent, FIELD_MAX),
                request_id: clip(&origin.request_id, FIELD_MAX),
            },
            reason: None,
            details: "{}".into(),
        }
    }

    pub fn outcome(mut self, result: Outcome) -> Self {
        self.result = result;
        self
    }

    pub fn reason(mut self, reason: impl AsRef<str>) -> Self {
        let reason = reason.as_ref().trim();
        self.reason = (!reason.is_empty()).then(|| clip(reason, REASON_MAX));
        self
    }

    pub fn details(mut self, details: &serde_json::Value) -> Self {
        self.details = canonical_details(details);
        self
    }

    pub fn resource(mut self, resource: &str) -> Self {
        self.resource = clip(resource, FIELD_MAX);
        self
    }
}

/// JSON with object keys sorted at every level, so the same details always hash the same.
/// Oversized details are replaced by a marker rather than refused: the action still gets audited.
pub fn canonical_details(value: &serde_json::Value) -> String {
    let text = super::canonical_json::canonical_json(value);
    if text.len() > DETAILS_MAX {
        format!(r#"{{"truncated":true,"bytes":{}}}"#, text.len())
    } else {
        text
    }
}

fn clip(value: &str, max: usize) -> String {
    if value.len() <= max {
        return value.to_owned();
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].to_owned()
}

/// An entry as stored: the event, its place in the chain, and its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: i64,
    /// Unix milliseconds, UTC.
    pub at_ms: i64,
    pub event: AuditEvent,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEntry {
    pub fn at(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.at_ms)
            .single()
            .unwrap_or_default()
    }

    /// Places `event` after the entry whose hash is `prev_hash`.
    pub fn chain(seq: i64, at_ms: i64, event: AuditEvent, prev_hash: &str) -> Self {
        let hash = entry_hash(prev_hash, seq, at_ms, &event);
        Self {
            seq,
            at_ms,
            event,
            prev_hash: prev_hash.to_owned(),
            hash,
        }
    }

    /// Whether the stored hash matches the entry's content and its predecessor.
    pub fn check(&self, expected_prev: &str) -> ChainCheck {
        if self.prev_hash != expected_prev {
            return ChainCheck::BrokenLink;
        }
        if entry_hash(&self.prev_hash, self.seq, self.at_ms, &self.event) != self.hash {
            return ChainCheck::ContentChanged;
        }
        ChainCheck::Intact
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainCheck {
    Intact,
    /// The entry's fields no longer produce its hash: it was edited.
    ContentChanged,
    /// The entry does not point at its predecessor's hash: one was removed, inserted or edited.
    BrokenLink,
}

impl ChainCheck {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Intact => "intact",
            Self::ContentChanged => "content does not match its hash (edited after writing)",
            Self::BrokenLink => {
                "does not follow the previous entry (an entry was removed or changed)"
            }
        }
    }
}

/// `sha256(prev_hash ‖ canonical_json(entry))`, hex encoded.
pub fn entry_hash(prev_hash: &str, seq: i64, at_ms: i64, event: &AuditEvent) -> String {
    // A struct (not a map) fixes the field order; `details` is already canonical text.
    #[derive(Serialize)]
    struct Canonical<'a> {
        action: &'a str,
        actor: &'a str,
        at_ms: i64,
        details: &'a str,
        event_type: &'a str,
        ip: &'a str,
        reason: Option<&'a str>,
        request_id: &'a str,
        resource: &'a str,
        result: &'a str,
        seq: i64,
        user_agent: &'a str,
    }
    let canonical = Canonical {
        action: &event.action,
        actor: &event.actor,
        at_ms,
        details: &event.details,
        event_type: &event.event_type,
        ip: &event.origin.ip,
        reason: event.reason.as_deref(),
        request_id: &event.origin.request_id,
        resource: &event.resource,
        result: event.result.as_str(),
        seq,
        user_agent: &event.origin.user_agent,
    };
    let json = serde_json::to_vec(&canonical).unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(&json);
    hex::encode(hasher.finalize())
}

/// Walks entries in `seq` order and reports the first one that breaks the chain.
#[derive(Debug)]
pub struct ChainWalker {
    expected_prev: String,
    pub checked: u64,
}

impl Default for ChainWalker {
    fn default() -> Self {
        Self {
            expected_prev: GENESIS_HASH.to_owned(),
            checked: 0,
        }
    }
}

impl ChainWalker {
    /// Checks the next entry; `Err` names the first broken one.
    pub fn next(&mut self, entry: &AuditEntry) -> Result<(), (i64, ChainCheck)> {
        match entry.check(&self.expected_prev) {
            ChainCheck::Intact => {
                self.expected_prev.clone_from(&entry.hash);
                self.checked += 1;
                Ok(())
            }
            broken => Err((entry.seq, broken)),
        }
    }
}

/// Time-range presets on the audit page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditPeriod {
    Hour,
    Day,
    Week,
    Month,
    All,
}

impl AuditPeriod {
    pub const ALL: [AuditPeriod; 5] = [Self::Hour, Self::Day, Self::Week, Self::Month, Self::All];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "1h",
            Self::Day => "24h",
            Self::Week => "7d",
            Self::Month => "30d",
            Self::All => "all",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw)
    }

    pub fn duration(self) -> Option<chrono::Duration> {
        match self {
            Self::Hour => Some(chrono::Duration::hours(1)),
            Self::Day => Some(chrono::Duration::days(1)),
            Self::Week => Some(chrono::Duration::days(7)),
            Self::Month => Some(chrono::Duration::days(30)),
            Self::All => None,
        }
    }
}

pub const SEARCH_MAX: usize = 200;
pub const PAGE_SIZE: i64 = 50;

/// The filter form's raw fields, as they travel in the page's query string; absent is empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    pub user: String,
    pub event_type: String,
    pub action: String,
    pub resource: String,
    pub result: String,
    pub period: String,
    pub q: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainReport {
    pub checked: u64,
    /// The first broken entry and what is wrong with it.
    pub broken: Option<(i64, ChainCheck)>,
    pub millis: u64,
}

impl AuditQuery {
    /// The filter these fields ask for, as of `now` (periods count back from it).
    pub fn filter(&self, now: DateTime<Utc>) -> Result<AuditFilter, super::error::AppError> {
        AuditFilter::from_form(
            &self.user,
            &self.event_type,
            &self.action,
            &self.resource,
            &self.result,
            &self.period,
            &self.q,
            now,
        )
        .map_err(|message| {
            let mut errors = super::target::FieldErrors::default();
            errors.add("filter", message);
            super::error::AppError::Invalid(errors)
        })
    }
}

/// What the auditor asked for; every field is optional and they combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub event_type: Option<String>,
    pub action: Option<String>,
    pub resource: Option<String>,
    pub result: Option<Outcome>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Words that must all appear in the resource or details.
    pub text: Option<String>,
}

impl AuditFilter {
    /// Builds a filter from the form's raw fields, refusing overlong input with a message.
    #[allow(clippy::too_many_arguments)]
    pub fn from_form(
        actor: &str,
        event_type: &str,
        action: &str,
        resource: &str,
        result: &str,
        period: &str,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, String> {
        let field = |name: &str, raw: &str| -> Result<Option<String>, String> {
            let raw = raw.trim();
            if raw.len() > FIELD_MAX {
                return Err(format!("{name} is longer than {FIELD_MAX} characters"));
            }
            Ok((!raw.is_empty()).then(|| raw.to_owned()))
        };
        let text = text.trim();
        if text.len() > SEARCH_MAX {
            return Err(format!("search is longer than {SEARCH_MAX} characters"));
        }
        let result = match result.trim() {
            "" => None,
            raw => Some(Outcome::parse(raw).ok_or_else(|| format!("unknown result '{raw}'"))?),
        };
        let period = match period.trim() {
            "" => AuditPeriod::All,
            raw => AuditPeriod::parse(raw).ok_or_else(|| format!("unknown period '{raw}'"))?,
        };
        Ok(Self {
            actor: field("user", actor)?,
            event_type: field("event type", event_type)?,
            action: field("action", action)?,
            resource: field("resource", resource)?,
            result,
            from_ms: period.duration().map(|d| (now - d).timestamp_millis()),
            to_ms: None,
            text: (!text.is_empty()).then(|| text.to_owned()),
        })
    }

    /// The search words: runs of letters and digits, as both backends' indexes split text.
    /// Whatever the box held, only these reach the full-text engine, bound as parameters.
    pub fn search_terms(&self) -> Vec<String> {
        let mut terms = alphanumeric_runs(self.text.as_deref().unwrap_or_default());
        terms.truncate(16);
        terms
    }

    /// An FTS5 MATCH expression: every term quoted. Whole words only: a prefix query makes
    /// FTS5 merge every matching term's list, which is slow on a log of millions.
    /// The filters are added as column phrases, so the index narrows by them too (the SQL
    /// still compares them exactly).
    pub fn fts5_query(&self) -> Option<String> {
        let terms = self.search_terms();
        if terms.is_empty() {
            return None;
        }
        let words: Vec<String> = terms.iter().map(|t| format!("\"{t}\"")).collect();
        let mut parts = vec![format!("{{resource details}} : ({})", words.join(" AND "))];
        let facets = [
            ("actor", self.actor.as_deref()),
            ("event_type", self.event_type.as_deref()),
            ("action", self.action.as_deref()),
            ("result", self.result.map(Outcome::as_str)),
        ];
        for (column, value) in facets {
            let tokens = value.map(alphanumeric_runs).unwrap_or_default();
            if !tokens.is_empty() {
                parts.push(format!("{column} : \"{}\"", tokens.join(" ")));
            }
        }
        Some(parts.join(" AND "))
    }

    /// A PostgreSQL `to_tsquery('simple', …)` expression: every term, whole words as above.
    pub fn tsquery(&self) -> Option<String> {
        let terms = self.search_terms();
        (!terms.is_empty()).then(|| {
            terms
                .iter()
                .map(String::clone)
                .collect::<Vec<_>>()
                .join(" & ")
        })
    }
}

fn alphanumeric_runs(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(resource: &str) -> AuditEvent {
        AuditEvent::new(
            "target",
            "ann",
            "create",
            resource,
            &RequestOrigin {
                ip: "127.0.0.1".into(),
                user_agent: "test".into(),
                request_id: "r1".into(),
            },
        )
        .details(&serde_json::json!({"b": 1, "a": {"y": 2, "x": 3}}))
    }

    /// A chain written by the release before canonical JSON had one function: every entry
    /// still verifies, and its details come out of today's function byte for byte.
    #[test]
    fn a_chain_written_before_still_verifies_and_its_details_are_reproduced() {
        let fixture = include_str!("../../tests/fixtures/audit-chain-2026-12-07.json");
        let entries: Vec<AuditEntry> = serde_json::from_str(fixture).expect("fixture");
        assert!(entries.len() >= 6);
        let mut walker = ChainWalker::default();
        for entry in &entries {
            assert_eq!(walker.next(entry), Ok(()), "entry {}", entry.seq);
            let details: serde_json::Value =
                serde_json::from_str(&entry.event.details).expect("details");
            assert_eq!(canonical_details(&details), entry.event.details);
        }
        assert!(
            entries.iter().any(|e| e.event.details.contains('[')),
            "nested details"
        );
    }

    #[test]
    fn details_are_canonical_whatever_the_key_order() {
        let one = canonical_details(&serde_json::json!({"b": 1, "a": {"y": 2, "x": 3}}));
        assert_eq!(one, r#"{"a":{"x":3,"y":2},"b":1}"#);
    }

    #[test]
    fn a_chain_verifies_and_an_edit_is_named() {
        let first = AuditEntry::chain(1, 1000, event("alpha"), GENESIS_HASH);
        let second = AuditEntry::chain(2, 2000, event("beta"), &first.hash);
        let mut walker = ChainWalker::default();
        assert_eq!(walker.next(&first), Ok(()));
        assert_eq!(walker.next(&second), Ok(()));
        assert_eq!(walker.checked, 2);

        let mut edited = second.clone();
        edited.event.actor = "mallory".into();
        let mut walker = ChainWalker::default();
        walker.next(&first).expect("first intact");
        assert_eq!(walker.next(&edited), Err((2, ChainCheck::ContentChanged)));

        // Dropping the first entry breaks the link of the second.
        assert_eq!(
            ChainWalker::default().next(&second),
            Err((2, ChainCheck::BrokenLink))
        );
    }

    #[test]
    fn the_hash_is_sha256_of_prev_and_canonical_json() {
        let entry = AuditEntry::chain(7, 42, event("alpha"), GENESIS_HASH);
        let json = format!(
            r#"{{"action":"create","actor":"ann","at_ms":42,"details":"{}","event_type":"target","ip":"127.0.0.1","reason":null,"request_id":"r1","resource":"alpha","result":"success","seq":7,"user_agent":"test"}}"#,
            r#"{\"a\":{\"x\":3,\"y\":2},\"b\":1}"#
        );
        let mut hasher = Sha256::new();
        hasher.update(GENESIS_HASH.as_bytes());
        hasher.update(json.as_bytes());
        assert_eq!(entry.hash, hex::encode(hasher.finalize()));
    }

    #[test]
    fn search_text_cannot_smuggle_syntax() {
        let filter = AuditFilter {
            text: Some(r#"web-1" OR 1=1; DROP TABLE audit_log;-- NEAR(x*"#.into()),
            ..AuditFilter::default()
        };
        let fts = filter.fts5_query().expect("terms");
        assert_eq!(
            fts,
            "{resource details} : (\"web\" AND \"1\" AND \"or\" AND \"1\" AND \"1\" AND \"drop\" \
             AND \"table\" AND \"audit\" AND \"log\" AND \"near\" AND \"x\")"
        );
        let with_filters = AuditFilter {
            actor: Some("token:Deploy Bot".into()),
            result: Some(Outcome::Failure),
            text: Some("web".into()),
            ..AuditFilter::default()
        };
        assert_eq!(
            with_filters.fts5_query().as_deref(),
            Some(
                "{resource details} : (\"web\") AND actor : \"token deploy bot\" AND result : \"failure\""
            )
        );
        let ts = filter.tsquery().expect("terms");
        assert!(
            ts.split(" & ")
                .all(|t| t.chars().all(char::is_alphanumeric))
        );
    }

    #[test]
    fn overlong_filters_are_refused_with_a_reason() {
        let now = Utc::now();
        let long = "x".repeat(SEARCH_MAX + 1);
        let err = AuditFilter::from_form("", "", "", "", "", "", &long, now).expect_err("too long");
        assert!(err.contains("search"));
        let filter =
            AuditFilter::from_form("ann", "", "", "", "failure", "24h", "alpha", now).expect("ok");
        assert_eq!(filter.result, Some(Outcome::Failure));
        assert_eq!(
            filter.from_ms,
            Some((now - chrono::Duration::days(1)).timestamp_millis())
        );
    }

    #[test]
    fn fields_are_clipped_on_char_boundaries() {
        let origin = RequestOrigin::default();
        let event = AuditEvent::new("t", "a", "x", &"é".repeat(FIELD_MAX), &origin);
        assert!(event.resource.len() <= FIELD_MAX);
    }
}
