//! Notification channels: webhook addresses, routing by severity and tag, payloads, retries.
use super::alerts::{AlertState, RuleKind, Severity};
use super::target::FieldErrors;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The shape of the JSON a channel receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// mcpops's own JSON document (see `AlertNotice`).
    Webhook,
    /// `{"text": …}`, as Slack's and compatible incoming webhooks take it.
    Slack,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Slack => "slack",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Webhook, Self::Slack]
            .into_iter()
            .find(|k| k.as_str() == raw)
    }
}

/// A webhook address: http or https with a host. Its path and query often hold a secret,
/// so only `redacted()` is ever shown or logged.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

const MAX_URL: usize = 2048;

impl WebhookUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.len() > MAX_URL {
            return Err(format!("at most {MAX_URL} characters"));
        }
        let url = url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "must be an http or https URL, not {}:",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("must name a host".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("put credentials in the path or a token, not user:password@".into());
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Scheme, host and port only, e.g. `https://hooks.example.com/…`.
    pub fn redacted(&self) -> String {
        let port = self.0.port().map(|p| format!(":{p}")).unwrap_or_default();
        let rest = if self.0.path() == "/" && self.0.query().is_none() {
            ""
        } else {
            "/…"
        };
        format!(
            "{}://{}{port}{rest}",
            self.0.scheme(),
            self.0.host_str().unwrap_or_default()
        )
    }
}

/// A channel as pages show it: never with its full address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    pub id: i64,
    pub name: String,
    pub kind: ChannelKind,
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
    pub min_severity: String,
    pub tags: String,
}

pub struct NewChannel {
    pub name: String,
    pub kind: ChannelKind,
    pub url: WebhookUrl,
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
        let kind = ChannelKind::parse(form.kind.trim());
        if kind.is_none() {
            errors.add("kind", "webhook or slack");
        }
        let url = WebhookUrl::parse(&form.url)
            .map_err(|reason| errors.add("url", reason))
            .ok();
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
        match (kind, url, min_severity) {
            (Some(kind), Some(url), Some(min_severity)) if errors.is_empty() => Ok(Self {
                name,
                kind,
                url,
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
    Resolved,
    Test,
}

impl NoticeEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Firing => "firing",
            Self::Resolved => "resolved",
            Self::Test => "test",
        }
    }
}

/// The document a generic webhook receives.
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
}

impl AlertNotice {
    pub fn body(&self, kind: ChannelKind) -> serde_json::Value {
        match kind {
            ChannelKind::Webhook => serde_json::to_value(self).unwrap_or_default(),
            ChannelKind::Slack => {
                let mark = match self.event {
                    NoticeEvent::Firing => "FIRING",
                    NoticeEvent::Resolved => "RESOLVED",
                    NoticeEvent::Test => "TEST",
                };
                let link = self
                    .link
                    .as_deref()
                    .map(|l| format!(" <{l}|open>"))
                    .unwrap_or_default();
                serde_json::json!({
                    "text": format!(
                        "[{mark}] {} · {}: {}{link}",
                        self.severity.as_str(),
                        self.target,
                        self.summary
                    )
                })
            }
        }
    }
}

/// When to retry a failed delivery: doubling from `base`, never longer than `cap`.
pub fn retry_delay(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let factor = 2_u32.saturating_pow(attempt.saturating_sub(1));
    base.saturating_mul(factor).min(cap)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_webhooks_are_taken() {
        assert!(WebhookUrl::parse("https://hooks.example.com/T0/B0/secret").is_ok());
        for bad in [
            "ftp://example.com/x",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "not a url",
            "https://user:pw@example.com/",
        ] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_webhook_url_is_shown_without_its_path_or_query() {
        let url =
            WebhookUrl::parse("https://hooks.example.com:8443/services/T0/B0/XSECRETX?token=abc")
                .unwrap();
        assert_eq!(url.redacted(), "https://hooks.example.com:8443/…");
        assert!(!format!("{url:?}").contains("SECRET"));
    }

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
    fn retries_double_up_to_the_cap() {
        let base = Duration::from_secs(1);
        let cap = Duration::from_secs(30);
        let delays: Vec<u64> = (1..=7)
            .map(|a| retry_delay(a, base, cap).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
    }

    #[test]
    fn slack_gets_a_text_line_and_webhooks_the_whole_notice() {
        let notice = AlertNotice {
            event: NoticeEvent::Firing,
            alert_id: Some(4),
            rule: Some(RuleKind::TargetDown),
            severity: Severity::Critical,
            state: Some(AlertState::Firing),
            target: "demo-01".into(),
            summary: "liveness failed".into(),
            at: Utc::now(),
            link: Some("http://console/alerts/4".into()),
            runbook: Some("connection-errors".into()),
        };
        assert_eq!(
            notice.body(ChannelKind::Slack)["text"],
            "[FIRING] critical · demo-01: liveness failed <http://console/alerts/4|open>"
        );
        let generic = notice.body(ChannelKind::Webhook);
        assert_eq!(generic["rule"], "target_down");
        assert_eq!(generic["alert_id"], 4);
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
        assert_eq!(fields, ["kind", "min_severity", "name", "url"]);
    }
}
