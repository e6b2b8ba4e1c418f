//! What each kind of channel receives for one notice: the fields each service documents,
//! and nothing that a receiver could mistake for something else.
use super::{AlertNotice, NoticeEvent, RoutingKey};
use crate::domain::alerts::Severity;
use serde_json::{Value, json};

/// PagerDuty truncates longer summaries; cutting them here keeps the cut on a character.
const PAGERDUTY_SUMMARY: usize = 1024;
/// A group notice lists at most this many of its alerts in a mail or PagerDuty's details.
const LISTED: usize = 100;
/// Slack refuses a header block longer than this.
const SLACK_HEADER: usize = 150;

impl AlertNotice {
    fn mark(&self) -> &'static str {
        match self.event {
            NoticeEvent::Firing => "FIRING",
            NoticeEvent::Declared => "INCIDENT",
            NoticeEvent::Updated => "UPDATE",
            NoticeEvent::Acknowledged => "ACKNOWLEDGED",
            NoticeEvent::Resolved => "RESOLVED",
            NoticeEvent::Test => "TEST",
        }
    }

    /// One line: `[FIRING] critical · demo-01: liveness failed`.
    pub fn headline(&self) -> String {
        format!(
            "[{}] {} · {}: {}",
            self.mark(),
            self.severity.as_str(),
            self.target,
            self.summary
        )
    }

    /// Who acknowledged and why, when someone did.
    fn acknowledgement(&self) -> Option<String> {
        let by = self.by.as_deref()?;
        Some(match self.note.as_deref() {
            Some(note) => format!("acknowledged by {by}: {note}"),
            None => format!("acknowledged by {by}"),
        })
    }

    /// Where the alert is acknowledged on the console, when the console knows its address.
    fn acknowledge_link(&self) -> Option<String> {
        let link = self.link.as_deref()?;
        (self.alert_id.is_some() && self.event == NoticeEvent::Firing)
            .then(|| format!("{link}#acknowledge"))
    }

    /// Label and value pairs every rich format shows.
    fn facts(&self) -> Vec<(&'static str, String)> {
        let mut facts = vec![
            ("Target", self.target.clone()),
            ("Severity", self.severity.as_str().to_owned()),
        ];
        if let Some(rule) = self.rule {
            facts.push(("Rule", rule.as_str().to_owned()));
        }
        if let Some(runbook) = &self.runbook {
            facts.push(("Runbook", runbook.clone()));
        }
        if let Some(ack) = self.acknowledgement() {
            facts.push(("Acknowledged", ack));
        }
        facts
    }

    /// The generic webhook's document: the notice itself.
    pub fn webhook_body(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// A Slack incoming-webhook message in Block Kit, with `text` as the notification's
    /// fallback and buttons to the alert when the console's address is known.
    pub fn slack_body(&self) -> Value {
        let escape = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        };
        let header: String = format!("{} · {}", self.mark(), self.target)
            .chars()
            .take(SLACK_HEADER)
            .collect();
        let fields: Vec<Value> = self
            .facts()
            .into_iter()
            .map(|(label, value)| json!({"type": "mrkdwn", "text": format!("*{label}*\n{}", escape(&value))}))
            .collect();
        let mut blocks = vec![
            json!({"type": "header", "text": {"type": "plain_text", "text": header}}),
            json!({"type": "section", "text": {"type": "mrkdwn", "text": escape(&self.summary)}}),
            json!({"type": "section", "fields": fields}),
        ];
        let mut buttons = Vec::new();
        if let Some(ack) = self.acknowledge_link() {
            buttons.push(json!({
                "type": "button", "style": "primary", "action_id": "acknowledge",
                "text": {"type": "plain_text", "text": "Acknowledge"}, "url": ack,
            }));
        }
        if let Some(link) = &self.link {
            buttons.push(json!({
                "type": "button", "action_id": "open",
                "text": {"type": "plain_text", "text": "Open in mcpops"}, "url": link,
            }));
        }
        if !buttons.is_empty() {
            blocks.push(json!({"type": "actions", "elements": buttons}));
        }
        json!({"text": self.headline(), "blocks": blocks})
    }

    /// A Teams workflow-webhook message carrying one Adaptive Card.
    pub fn teams_body(&self) -> Value {
        let colour = match (self.event, self.severity) {
            (NoticeEvent::Resolved, _) => "Good",
            (_, Severity::Critical) => "Attention",
            (_, Severity::Warning) => "Warning",
            _ => "Default",
        };
        let facts: Vec<Value> = self
            .facts()
            .into_iter()
            .map(|(title, value)| json!({"title": title, "value": value}))
            .collect();
        let mut actions = Vec::new();
        if let Some(ack) = self.acknowledge_link() {
            actions.push(json!({"type": "Action.OpenUrl", "title": "Acknowledge", "url": ack}));
        }
        if let Some(link) = &self.link {
            actions.push(json!({"type": "Action.OpenUrl", "title": "Open in mcpops", "url": link}));
        }
        let card = json!({
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "size": "Large", "weight": "Bolder", "color": colour,
                 "wrap": true, "text": format!("{} · {}", self.mark(), self.target)},
                {"type": "TextBlock", "wrap": true, "text": self.summary},
                {"type": "FactSet", "facts": facts},
            ],
            "actions": actions,
        });
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": card,
            }],
        })
    }

    /// A PagerDuty Events API v2 event. The dedup key is the same for a group's trigger,
    /// acknowledge and resolve, so PagerDuty folds them into one incident.
    pub fn pagerduty_body(&self, routing_key: &RoutingKey) -> Value {
        let action = match self.event {
            // A trigger with an open incident's key adds to it rather than opening another.
            NoticeEvent::Firing
            | NoticeEvent::Declared
            | NoticeEvent::Updated
            | NoticeEvent::Test => "trigger",
            NoticeEvent::Acknowledged => "acknowledge",
            NoticeEvent::Resolved => "resolve",
        };
        let mut event = json!({
            "routing_key": routing_key.expose(),
            "event_action": action,
            "dedup_key": self.dedup_key,
        });
        if action == "trigger" {
            let summary: String = format!("{}: {}", self.target, self.summary)
                .chars()
                .take(PAGERDUTY_SUMMARY)
                .collect();
            event["payload"] = json!({
                "summary": summary,
                "source": self.target,
                "severity": self.severity.as_str(),
                "timestamp": self.at.to_rfc3339(),
                "component": self.target,
                "class": self.rule.map(|r| r.as_str()),
                "custom_details": {"alert_id": self.alert_id, "runbook": self.runbook},
            });
            if !self.firing.is_empty() {
                let targets: Vec<&str> = self
                    .firing
                    .iter()
                    .take(LISTED)
                    .map(|m| m.target.as_str())
                    .collect();
                event["payload"]["custom_details"]["firing"] = json!(self.firing.len());
                event["payload"]["custom_details"]["targets"] = json!(targets);
            }
            event["client"] = json!("mcpops");
            if let Some(link) = &self.link {
                event["client_url"] = json!(link);
                event["links"] = json!([{"href": link, "text": "Open in mcpops"}]);
            }
        }
        event
    }

    pub fn email_subject(&self) -> String {
        self.headline().chars().take(200).collect()
    }

    /// A plain-text mail body: the summary, the facts, and the links.
    pub fn email_text(&self) -> String {
        let mut text = format!("{}\n\n", self.summary);
        for (label, value) in self.facts() {
            text.push_str(&format!("{label}: {value}\n"));
        }
        text.push_str(&format!("At: {}\n", self.at.to_rfc3339()));
        for (heading, members) in [("Firing", &self.firing), ("Resolved", &self.resolved)] {
            if members.is_empty() {
                continue;
            }
            text.push_str(&format!("\n{heading}:\n"));
            for member in members.iter().take(LISTED) {
                text.push_str(&format!("- {}: {}\n", member.target, member.summary));
            }
            if members.len() > LISTED {
                text.push_str(&format!("- and {} more\n", members.len() - LISTED));
            }
        }
        if let Some(ack) = self.acknowledge_link() {
            text.push_str(&format!("\nAcknowledge: {ack}\n"));
        }
        if let Some(link) = &self.link {
            text.push_str(&format!("Open in mcpops: {link}\n"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alerts::{AlertState, RuleKind};
    use chrono::Utc;

    fn notice(event: NoticeEvent) -> AlertNotice {
        AlertNotice {
            alert_id: Some(4),
            rule: Some(RuleKind::TargetDown),
            state: Some(AlertState::Firing),
            link: Some("http://console/alerts/4".into()),
            runbook: Some("connection-errors".into()),
            ..AlertNotice::bare(
                event,
                Severity::Critical,
                "demo-01".into(),
                "liveness failed <twice>".into(),
                Utc::now(),
                "mcpops/alert/4".into(),
            )
        }
    }

    #[test]
    fn slack_gets_blocks_with_an_acknowledge_button_and_a_fallback_line() {
        let body = notice(NoticeEvent::Firing).slack_body();
        assert_eq!(
            body["text"],
            "[FIRING] critical · demo-01: liveness failed <twice>"
        );
        let blocks = body["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[1]["text"]["text"], "liveness failed &lt;twice&gt;");
        let buttons = blocks[3]["elements"].as_array().unwrap();
        assert_eq!(buttons[0]["url"], "http://console/alerts/4#acknowledge");
        // Once resolved there is nothing left to acknowledge.
        let resolved = notice(NoticeEvent::Resolved).slack_body();
        let buttons = resolved["blocks"][3]["elements"].as_array().unwrap();
        assert_eq!(buttons.len(), 1);
    }

    #[test]
    fn teams_gets_one_adaptive_card() {
        let body = notice(NoticeEvent::Firing).teams_body();
        assert_eq!(body["type"], "message");
        let attachment = &body["attachments"][0];
        assert_eq!(
            attachment["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(attachment["content"]["type"], "AdaptiveCard");
        assert_eq!(
            attachment["content"]["actions"][0]["url"],
            "http://console/alerts/4#acknowledge"
        );
    }

    #[test]
    fn pagerduty_keeps_one_dedup_key_from_trigger_to_resolve() {
        let key = RoutingKey::parse("R0123456789abcdef0123456789ABCDE").unwrap();
        let trigger = notice(NoticeEvent::Firing).pagerduty_body(&key);
        assert_eq!(trigger["event_action"], "trigger");
        assert_eq!(trigger["routing_key"], "R0123456789abcdef0123456789ABCDE");
        assert_eq!(trigger["payload"]["severity"], "critical");
        assert_eq!(trigger["payload"]["source"], "demo-01");
        assert_eq!(
            trigger["payload"]["summary"],
            "demo-01: liveness failed <twice>"
        );
        let mut ack = notice(NoticeEvent::Acknowledged);
        ack.by = Some("ann".into());
        let ack = ack.pagerduty_body(&key);
        let resolve = notice(NoticeEvent::Resolved).pagerduty_body(&key);
        assert_eq!(ack["event_action"], "acknowledge");
        assert_eq!(resolve["event_action"], "resolve");
        for event in [&trigger, &ack, &resolve] {
            assert_eq!(event["dedup_key"], "mcpops/alert/4");
        }
        assert!(resolve.get("payload").is_none());
    }

    #[test]
    fn a_long_summary_is_cut_to_pagerdutys_limit() {
        let key = RoutingKey::parse("R0123456789abcdef0123456789ABCDE").unwrap();
        let mut long = notice(NoticeEvent::Firing);
        long.summary = "é".repeat(5_000);
        let body = long.pagerduty_body(&key);
        let summary = body["payload"]["summary"].as_str().unwrap();
        assert_eq!(summary.chars().count(), 1024);
    }

    #[test]
    fn an_email_names_who_acknowledged_and_links_back() {
        let mut ack = notice(NoticeEvent::Acknowledged);
        ack.by = Some("ann".into());
        ack.note = Some("restarting the pod".into());
        assert_eq!(
            ack.email_subject(),
            "[ACKNOWLEDGED] critical · demo-01: liveness failed <twice>"
        );
        let text = ack.email_text();
        assert!(text.contains("Acknowledged: acknowledged by ann: restarting the pod"));
        assert!(text.contains("Open in mcpops: http://console/alerts/4"));
        assert!(!text.contains("#acknowledge"));
        assert!(
            notice(NoticeEvent::Firing)
                .email_text()
                .contains("#acknowledge")
        );
    }

    #[test]
    fn the_generic_webhook_gets_the_whole_notice() {
        let generic = notice(NoticeEvent::Firing).webhook_body();
        assert_eq!(generic["rule"], "target_down");
        assert_eq!(generic["alert_id"], 4);
        assert_eq!(generic["dedup_key"], "mcpops/alert/4");
    }
}
