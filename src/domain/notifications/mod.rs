//! Notification channels: generic webhooks, Slack, Teams, PagerDuty and email, routed by
//! severity and tag; the notices they are sent, retries, and the record of each attempt.
mod destination;
mod grouping;
mod payloads;

pub use destination::{
    Destination, DestinationFields, EmailRoute, EmailSettings, PAGERDUTY_EVENTS_URL, RoutingKey,
    SmtpSecurity, SmtpServer, StoredDestination, WebhookUrl, parse_address,
};
pub use grouping::{Acknowledged, Batch, GroupMember, GroupTiming, Grouper, group_key};

use super::alerts::{AlertState, RuleKind, Severity};
use super::target::FieldErrors;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The service a channel talks to, which decides what it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// mcpops's own JSON document (see `AlertNotice`).
    Webhook,
    /// A Slack incoming webhook, sent Block Kit.
    Slack,
    /// A Microsoft Teams workflow webhook, sent an Adaptive Card.
    Teams,
    /// PagerDuty's Events API v2.
    #[serde(rename = "pagerduty")]
    PagerDuty,
    /// Mail over SMTP with STARTTLS or TLS.
    Email,
}

impl ChannelKind {
    pub const ALL: [Self; 5] = [
        Self::Webhook,
        Self::Slack,
        Self::Teams,
        Self::PagerDuty,
        Self::Email,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Slack => "slack",
            Self::Teams => "teams",
            Self::PagerDuty => "pagerduty",
            Self::Email => "email",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Webhook => "Webhook (mcpops JSON)",
            Self::Slack => "Slack",
            Self::Teams => "Microsoft Teams",
            Self::PagerDuty => "PagerDuty",
            Self::Email => "Email",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// Acknowledgements go where they change something or someone reads along (PagerDuty
    /// stops paging; chat shows who has it), not into inboxes already told it fired.
    pub fn hears(self, event: NoticeEvent) -> bool {
        event != NoticeEvent::Acknowledged || self != Self::Email
    }
}

/// A channel as pages show it: never with its secret or its full address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    pub id: i64,
    pub name: String,
    pub kind: ChannelKind,
    /// Scheme, host and port (and an email channel's recipients).
    pub url_redacted: String,
    pub min_severity: Severity,
    /// Only alerts of targets with one of these tags; empty means every target.
    pub tags: Vec<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl Channel {
    pub fn wants(&self, severity: Severity, target_tags: &[String]) -> bool {
        severity.at_least(self.min_severity)
            && (self.tags.is_empty() || self.tags.iter().any(|t| target_tags.contains(t)))
    }
}

/// The raw text of the channel form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelForm {
    pub name: String,
    pub kind: String,
    pub url: String,
    /// A PagerDuty routing key or an SMTP password.
    pub secret: String,
    pub smtp_user: String,
    pub email_from: String,
    /// Comma-separated.
    pub email_to: String,
    pub min_severity: String,
    pub tags: String,
}

pub struct NewChannel {
    pub name: String,
    pub kind: ChannelKind,
    pub destination: Destination,
    pub min_severity: Severity,
    pub tags: Vec<String>,
}

impl NewChannel {
    pub fn parse(form: &ChannelForm) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = form.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 64 {
            errors.add("name", "1 to 64 characters");
        }
        let fields = DestinationFields {
            url: &form.url,
            secret: &form.secret,
            smtp_user: &form.smtp_user,
            email_from: &form.email_from,
            email_to: &form.email_to,
        };
        let destination = Destination::parse_with_kind(&form.kind, fields, &mut errors);
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
        match (destination, min_severity) {
            (Some((kind, destination)), Some(min_severity)) if errors.is_empty() => Ok(Self {
                name,
                kind,
                destination,
                min_severity,
                tags,
            }),
            _ => Err(errors),
        }
    }
}

/// Why a channel is being called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeEvent {
    Firing,
    /// An incident was declared (its resolution is `Resolved`).
    Declared,
    /// An incident posted a status update, changed severity or was reopened.
    Updated,
    Acknowledged,
    Resolved,
    Test,
}

impl NoticeEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Firing => "firing",
            Self::Declared => "declared",
            Self::Updated => "updated",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
            Self::Test => "test",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Firing,
            Self::Declared,
            Self::Updated,
            Self::Acknowledged,
            Self::Resolved,
            Self::Test,
        ]
        .into_iter()
        .find(|e| e.as_str() == raw)
    }
}

/// One notice about an alert (or about mcpops itself); the generic webhook receives it as is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertNotice {
    pub event: NoticeEvent,
    pub alert_id: Option<i64>,
    pub rule: Option<RuleKind>,
    pub severity: Severity,
    pub state: Option<AlertState>,
    pub target: String,
    pub summary: String,
    pub at: DateTime<Utc>,
    /// Where the alert is on the console, when the console knows its own address.
    pub link: Option<String>,
    pub runbook: Option<String>,
    /// The same for every notice about one alert group, so receivers can fold them together.
    pub dedup_key: String,
    /// Who acknowledged, and their note.
    pub by: Option<String>,
    pub note: Option<String>,
    /// A group's alerts, when this notice stands for more than one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub firing: Vec<GroupMember>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved: Vec<GroupMember>,
}

impl AlertNotice {
    /// A notice with nothing but its event, severity, subject and key; the optional parts
    /// (rule, alert, links, who acknowledged, group members) are added by the caller.
    pub fn bare(
        event: NoticeEvent,
        severity: Severity,
        target: String,
        summary: String,
        at: DateTime<Utc>,
        dedup_key: String,
    ) -> Self {
        Self {
            event,
            alert_id: None,
            rule: None,
            severity,
            state: None,
            target,
            summary,
            at,
            link: None,
            runbook: None,
            dedup_key,
            by: None,
            note: None,
            firing: Vec::new(),
            resolved: Vec::new(),
        }
    }
}

/// When to retry a failed delivery: doubling from `base`, never longer than `cap`, and
/// spread over the upper half of that by `jitter` (0 to 1), so receivers that failed
/// together are not all called again in the same instant.
pub fn retry_delay(attempt: u32, base: Duration, cap: Duration, jitter: f64) -> Duration {
    let factor = 2_u32.saturating_pow(attempt.saturating_sub(1));
    let full = base.saturating_mul(factor).min(cap);
    full / 2 + full.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
}

/// One attempt to deliver, as the channel page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub channel_id: i64,
    pub alert_id: Option<i64>,
    pub event: NoticeEvent,
    pub attempt: u32,
    pub at: DateTime<Utc>,
    /// `None` when the attempt succeeded.
    pub error: Option<String>,
}

/// A delivery to one of an alert's channels, as the alert's page lists who was told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertDelivery {
    pub channel: String,
    pub kind: ChannelKind,
    pub delivery: Delivery,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_route_by_severity_and_tag() {
        let channel = Channel {
            id: 1,
            name: "edge".into(),
            kind: ChannelKind::Webhook,
            url_redacted: String::new(),
            min_severity: Severity::Warning,
            tags: vec!["edge".into()],
            created_by: "ann".into(),
            created_at: Utc::now(),
        };
        let edge = vec!["edge".to_owned(), "eu".to_owned()];
        assert!(channel.wants(Severity::Critical, &edge));
        assert!(!channel.wants(Severity::Info, &edge));
        assert!(!channel.wants(Severity::Critical, &["core".to_owned()]));
    }

    #[test]
    fn inboxes_are_not_told_of_acknowledgements() {
        assert!(ChannelKind::PagerDuty.hears(NoticeEvent::Acknowledged));
        assert!(ChannelKind::Slack.hears(NoticeEvent::Acknowledged));
        assert!(!ChannelKind::Email.hears(NoticeEvent::Acknowledged));
        assert!(ChannelKind::Email.hears(NoticeEvent::Resolved));
        assert!(ChannelKind::Email.hears(NoticeEvent::Declared));
    }

    #[test]
    fn retries_double_up_to_the_cap_within_their_jitter() {
        let base = Duration::from_secs(1);
        let cap = Duration::from_secs(30);
        let delays = |jitter| -> Vec<u64> {
            (1..=7)
                .map(|a| retry_delay(a, base, cap, jitter).as_millis() as u64)
                .collect()
        };
        assert_eq!(delays(1.0), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(delays(0.0), [500, 1000, 2000, 4000, 8000, 15000, 15000]);
        assert_eq!(delays(7.0), delays(1.0), "jitter is clamped");
    }

    #[test]
    fn a_channel_form_names_every_bad_field() {
        let errors = NewChannel::parse(&ChannelForm {
            url: "ftp://x".into(),
            ..ChannelForm::default()
        })
        .err()
        .unwrap_or_default();
        let fields: Vec<&str> = errors.0.keys().map(String::as_str).collect();
        assert_eq!(fields, ["kind", "min_severity", "name"]);
        let errors = NewChannel::parse(&ChannelForm {
            name: "mail".into(),
            kind: "email".into(),
            url: "ftp://x".into(),
            email_to: "ops@example.com, not-an-address".into(),
            min_severity: "warning".into(),
            ..ChannelForm::default()
        })
        .err()
        .unwrap_or_default();
        let fields: Vec<&str> = errors.0.keys().map(String::as_str).collect();
        assert_eq!(fields, ["email_from", "email_to", "url"]);
        assert!(errors.0["email_to"].contains("not-an-address"));
    }
}
