//! The post-incident report in Markdown: what happened in order, who held which role, what
//! was said outside, the time per phase, what was skipped, and what is still to do.
use super::comms::{ActionItem, Role, StatusUpdate};
use super::{Incident, StepRun, StepState, TimelineEvent, relative};
use chrono::{DateTime, Utc};

/// Everything a report is written from.
pub struct ReportParts<'a> {
    pub incident: &'a Incident,
    pub timeline: &'a [TimelineEvent],
    pub updates: &'a [StatusUpdate],
    pub action_items: &'a [ActionItem],
    /// (title, Markdown image), inline so the file stands alone.
    pub charts: &'a [(String, String)],
}

fn minutes(secs: i64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// The report: summary and roles, timeline, status updates, time per phase against its
/// budget, skipped steps, action items, and the charts.
pub fn report_markdown(parts: &ReportParts<'_>, now: DateTime<Utc>) -> String {
    let incident = parts.incident;
    let mut out = String::new();
    let end = incident.resolved_at.unwrap_or(now);
    out.push_str(&format!(
        "# Incident #{}: {}\n\n",
        incident.id, incident.title
    ));
    out.push_str(&format!(
        "- Severity: {}\n- Declared: {} by {}\n- State: {}\n- Duration: {}\n",
        incident.severity.as_str(),
        incident.declared_at.format("%Y-%m-%d %H:%M:%S UTC"),
        incident.declared_by,
        incident.state.as_str(),
        minutes((end - incident.declared_at).num_seconds().max(0)),
    ));
    for role in Role::ALL {
        let holder = incident.holder(role).unwrap_or("–");
        let mut label = role.label().to_owned();
        label[..1].make_ascii_uppercase();
        out.push_str(&format!("- {label}: {holder}\n"));
    }
    if let Some(runbook) = &incident.runbook {
        out.push_str(&format!("- Runbook: {runbook}\n"));
    }
    out.push_str("\n## Timeline\n\n| When | What | Who | Detail |\n|---|---|---|---|\n");
    for event in parts.timeline {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            relative(event.at, incident.declared_at),
            event.kind.as_str(),
            cell(&event.actor),
            cell(&event.text)
        ));
    }
    if !parts.updates.is_empty() {
        out.push_str("\n## Status updates\n\n");
        for update in parts.updates {
            out.push_str(&format!(
                "- {} by {}: {}\n",
                relative(update.at, incident.declared_at),
                update.author,
                one_line(&update.text())
            ));
        }
    }
    out.push_str("\n## Time per phase\n\n| Phase | Spent | Budget | |\n|---|---|---|---|\n");
    for (name, spent, budget) in incident.phase_times(now) {
        let over = match (spent, budget) {
            (Some(s), Some(b)) if s > i64::from(b) => "over budget",
            (None, _) => "not reached",
            _ => "",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {over} |\n",
            cell(&name),
            spent.map_or_else(|| "–".into(), minutes),
            budget.map_or_else(|| "–".into(), |b| minutes(i64::from(b))),
        ));
    }
    let skipped: Vec<&StepRun> = incident
        .steps
        .iter()
        .filter(|s| s.state == StepState::Skipped)
        .collect();
    let open: Vec<&StepRun> = incident
        .steps
        .iter()
        .filter(|s| s.state == StepState::Pending)
        .collect();
    out.push_str("\n## Steps skipped\n\n");
    if skipped.is_empty() {
        out.push_str("None.\n");
    }
    for step in skipped {
        out.push_str(&format!(
            "- {} (skipped by {}: {})\n",
            step.text,
            step.actor.as_deref().unwrap_or("?"),
            step.reason.as_deref().unwrap_or("")
        ));
    }
    if !open.is_empty() {
        out.push_str("\n## Steps not done\n\n");
        for step in open {
            out.push_str(&format!("- {}\n", step.text));
        }
    }
    out.push_str("\n## Action items\n\n");
    if parts.action_items.is_empty() {
        out.push_str("None yet.\n");
    } else {
        let today = now.date_naive();
        out.push_str("| Item | Owner | Due | State |\n|---|---|---|---|\n");
        for item in parts.action_items {
            let state = match (&item.closed_by, item.is_overdue(today)) {
                (Some(by), _) => format!("closed by {by}"),
                (None, true) => "overdue".to_owned(),
                (None, false) => "open".to_owned(),
            };
            out.push_str(&format!(
                "| {} | {} | {} | {state} |\n",
                cell(&item.text),
                cell(&item.owner),
                item.due.format("%Y-%m-%d")
            ));
        }
    }
    if !parts.charts.is_empty() {
        out.push_str("\n## Golden signals\n\n");
        for (title, svg) in parts.charts {
            out.push_str(&format!("### {title}\n\n{svg}\n\n"));
        }
    }
    out
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// A table cell: one line, with the column separator escaped.
fn cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::super::tests::{at, incident};
    use super::super::{TimelineKind, ordered};
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn the_report_lists_the_timeline_in_order_with_relative_times() {
        let events = ordered(vec![
            TimelineEvent {
                at: at(60),
                kind: TimelineKind::Step,
                actor: "bob".into(),
                text: "skipped: Page the owner".into(),
            },
            TimelineEvent {
                at: at(-30),
                kind: TimelineKind::Alert,
                actor: "system:alerts".into(),
                text: "error rate firing | 25%".into(),
            },
            TimelineEvent {
                at: at(0),
                kind: TimelineKind::Declared,
                actor: "ann".into(),
                text: "declared".into(),
            },
        ]);
        let incident = incident();
        let parts = ReportParts {
            incident: &incident,
            timeline: &events,
            updates: &[],
            action_items: &[],
            charts: &[],
        };
        let report = report_markdown(&parts, at(500));
        let alert = report.find("T-0:30 | alert").unwrap();
        let declared = report.find("T+0:00 | declared").unwrap();
        let step = report.find("T+1:00 | step").unwrap();
        assert!(alert < declared && declared < step, "{report}");
        assert!(
            report.contains("error rate firing \\| 25%"),
            "a pipe in text cannot break the table"
        );
        assert!(report.contains("| Initial Response | 6:40 | 5:00 | over budget |"));
        assert!(report.contains("| Mitigation | – | – | not reached |"));
        assert!(report.contains("Page the owner (skipped by bob: owner already on the bridge)"));
        assert!(report.contains("- Commander: ann\n- Operations lead: –\n"));
        assert!(report.contains("## Action items\n\nNone yet."));
    }

    #[test]
    fn the_report_lists_roles_status_updates_and_action_items_with_their_state() {
        let mut incident = incident();
        incident.ops_lead = Some("bob".into());
        incident.comms_lead = Some("cy".into());
        let updates = [StatusUpdate {
            id: 1,
            at: at(120),
            author: "cy".into(),
            affected: "checkout".into(),
            impact: "slow\npayments".into(),
            next_update_at: at(1920),
        }];
        let day = |raw| NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap_or_default();
        let item = |id, text: &str, due, closed_by: Option<&str>| ActionItem {
            id,
            incident_id: 7,
            text: text.into(),
            owner: "bob".into(),
            due: day(due),
            created_by: "ann".into(),
            created_at: at(0),
            closed_by: closed_by.map(Into::into),
            closed_at: closed_by.map(|_| at(10)),
        };
        let items = [
            item(1, "Alert on pool use", "2020-01-01", None),
            item(2, "Raise the pool | to 50", "2099-01-01", None),
            item(3, "Write the post-mortem", "2020-01-01", Some("ann")),
        ];
        let parts = ReportParts {
            incident: &incident,
            timeline: &[],
            updates: &updates,
            action_items: &items,
            charts: &[],
        };
        let report = report_markdown(&parts, at(500));
        assert!(report.contains("- Operations lead: bob\n- Communications lead: cy\n"));
        assert!(
            report.contains(
                "- T+2:00 by cy: Affected: checkout. Impact: slow payments. Next update by"
            )
        );
        assert!(report.contains("| Alert on pool use | bob | 2020-01-01 | overdue |"));
        assert!(report.contains("| Raise the pool \\| to 50 | bob | 2099-01-01 | open |"));
        assert!(report.contains("| Write the post-mortem | bob | 2020-01-01 | closed by ann |"));
    }
}
