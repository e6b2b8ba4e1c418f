//! Incident communication through the HTTP API, on both backends: roles assigned and handed
//! over, status updates that reach the incident's channels and move its update clock,
//! severity changes, reopening, and action items in the report. Refusals say why and write
//! nothing; every change is one audit entry.
use crate::common;

use common::{
    BACKENDS, Backend, Receivers, TestApp, TestDb, eventually, post_form, spawn_app_with,
};
use mcpops::domain::auth::Role;
use serde_json::Value;
use std::time::Duration;

const ROUTING_KEY: &str = "Rcom456789abcdef0123456789ABCDEF";

#[tokio::test]
async fn roles_status_updates_severity_reopening_and_action_items_are_kept_and_told() {
    for backend in BACKENDS {
        communication_story(backend).await;
    }
}

fn millis(value: &Value) -> i64 {
    value
        .as_str()
        .and_then(|raw| chrono::DateTime::parse_from_rfc3339(raw).ok())
        .map_or(0, |at| at.timestamp_millis())
}

async fn post(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    post_form(app, client, path, form).await
}

async fn communication_story(backend: Backend) {
    let (receivers, hooks) = Receivers::start().await;
    let db = TestDb::new(backend).await;
    let app = spawn_app_with(db.url(), None, |config| {
        config.alerts.retry_base_ms = 50;
        config.alerts.retry_cap_ms = 200;
    })
    .await;
    for fields in [
        vec![
            ("name", "team"),
            ("kind", "webhook"),
            ("url", &*format!("http://{hooks}/team/x")),
        ],
        vec![
            ("name", "pd"),
            ("kind", "pagerduty"),
            ("url", &*format!("http://{hooks}/pagerduty/x")),
            ("secret", ROUTING_KEY),
        ],
    ] {
        let mut form = vec![("min_severity", "info")];
        form.extend(fields);
        let (status, body) = post(&app, &app.client, "/api/channels/create", &form).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
    }
    let (ann, client) = app.signed_in(Role::Operator).await;
    let (status, incident) = post(
        &app,
        &client,
        "/api/incidents/declare",
        &[("title", "Checkout errors"), ("severity", "critical")],
    )
    .await;
    assert_eq!(status, 200, "{backend:?}: {incident}");
    let id = incident["id"].as_i64().expect("id").to_string();
    let declared = millis(&incident["declared_at"]);
    assert_eq!(
        millis(&incident["update_due_at"]) - declared,
        30 * 60 * 1000,
        "{backend:?}: a critical incident owes its first update in 30 minutes"
    );
    let audit_before = db
        .count("SELECT COUNT(*) FROM audit_log")
        .await
        .expect("count");
    let role = |role: &'static str, person: &'static str| {
        let (app, client, id) = (&app, &client, id.clone());
        async move {
            post(
                app,
                client,
                "/api/incidents/role",
                &[("incident_id", &id), ("role", role), ("person", person)],
            )
            .await
        }
    };

    // Roles: assigned, refused when nothing changes or when the commander would be nobody,
    // handed over.
    let (status, body) = role("ops_lead", "bob").await;
    assert_eq!(status, 200, "{backend:?}: {body}");
    assert_eq!(body["ops_lead"], "bob");
    let (status, body) = role("ops_lead", " bob ").await;
    assert_eq!(status, 409, "{backend:?}: {body}");
    assert!(
        body.to_string()
            .contains("bob already is the operations lead"),
        "{body}"
    );
    let (status, body) = role("commander", "  ").await;
    assert_eq!(status, 422, "{backend:?}: {body}");
    assert!(
        body["Invalid"]["person"]
            .as_str()
            .unwrap_or_default()
            .contains("commander")
    );
    let (status, body) = role("commander", "cy").await;
    assert_eq!(status, 200, "{backend:?}: {body}");
    assert_eq!(body["commander"], "cy");
    let (status, _) = role("comms_lead", "dee").await;
    assert_eq!(status, 200);

    // A status update with nothing in it is refused field by field and posts nothing.
    let update = |affected: &'static str, impact: &'static str, next: &'static str| {
        let (app, client, id) = (&app, &client, id.clone());
        async move {
            post(
                app,
                client,
                "/api/incidents/update",
                &[
                    ("incident_id", &id),
                    ("affected", affected),
                    ("impact", impact),
                    ("next_update_minutes", next),
                ],
            )
            .await
        }
    };
    let (status, body) = update(" ", "", "1000").await;
    assert_eq!(status, 422, "{backend:?}: {body}");
    for field in ["affected", "impact", "next_update_minutes"] {
        assert!(
            body["Invalid"][field].is_string(),
            "{backend:?}: {field} in {body}"
        );
    }
    let (status, posted) = update("checkout in eu", "1 in 20 payments fail", "15").await;
    assert_eq!(status, 200, "{backend:?}: {posted}");
    assert_eq!(posted["author"], ann.as_str());
    let promised = millis(&posted["next_update_at"]);
    assert_eq!(promised - millis(&posted["at"]), 15 * 60 * 1000);
    let told = eventually(
        Duration::from_secs(10),
        "the update on the team channel",
        || async {
            receivers
                .of("team")
                .into_iter()
                .find(|m| m["event"] == "updated")
        },
    )
    .await;
    let summary = told["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("Checkout errors: status update. Affected: checkout in eu. Impact: 1 in 20 payments fail."),
        "{backend:?}: {summary}"
    );
    assert!(
        told["link"].is_null()
            || told["link"]
                .as_str()
                .is_some_and(|l| l.ends_with(&format!("/incidents/{id}")))
    );

    // Lowered to warning: the promised update time stands.
    let severity = |to: &'static str| {
        let (app, client, id) = (&app, &client, id.clone());
        async move {
            post(
                app,
                client,
                "/api/incidents/severity",
                &[("incident_id", &id), ("severity", to)],
            )
            .await
        }
    };
    let (status, body) = severity("warning").await;
    assert_eq!(status, 200, "{backend:?}: {body}");
    assert_eq!(body["severity"], "warning");
    assert_eq!(millis(&body["update_due_at"]), promised);
    let (status, body) = severity("warning").await;
    assert_eq!(status, 409, "{backend:?}: {body}");
    let (status, body) = severity("loud").await;
    assert_eq!(status, 422, "{backend:?}: {body}");

    // Resolved: no more updates, until it is reopened.
    let (status, body) = post(
        &app,
        &client,
        "/api/incidents/resolve",
        &[("incident_id", &id)],
    )
    .await;
    assert_eq!(status, 200, "{backend:?}: {body}");
    assert!(
        body["update_due_at"].is_null(),
        "{backend:?}: a resolved incident owes no update"
    );
    let phase_when_resolved = body["phases"][0].clone();
    let (status, body) = update("checkout", "fine now", "").await;
    assert_eq!(status, 409, "{backend:?}: {body}");
    assert!(body.to_string().contains("the incident is resolved"));
    let reopen = || {
        let (app, client, id) = (&app, &client, id.clone());
        async move {
            post(
                app,
                client,
                "/api/incidents/reopen",
                &[("incident_id", &id), ("reason", "errors are back")],
            )
            .await
        }
    };
    let (status, body) = reopen().await;
    assert_eq!(status, 200, "{backend:?}: {body}");
    assert_eq!(body["state"], "open");
    assert!(body["resolved_at"].is_null());
    let reopened_phase = &body["phases"][0];
    assert!(
        reopened_phase["ended_at"].is_null(),
        "{backend:?}: the phase runs again"
    );
    let due_in = millis(&body["update_due_at"]) - chrono::Utc::now().timestamp_millis();
    assert!(
        (59 * 60 * 1000..=60 * 60 * 1000).contains(&due_in),
        "{backend:?}: a reopened warning owes an update within the hour ({due_in} ms)"
    );
    let (status, body) = reopen().await;
    assert_eq!(status, 409, "{backend:?}: {body}");
    assert!(body.to_string().contains("the incident is open"));

    // Action items: a due day in the past is refused; added, closed once, listed while open.
    let today = chrono::Utc::now().date_naive();
    let yesterday = (today - chrono::Days::new(1)).to_string();
    let tomorrow = (today + chrono::Days::new(1)).to_string();
    let today = today.to_string();
    let item = |text: &'static str, owner: &'static str, due: String| {
        let (app, client, id) = (&app, &client, id.clone());
        async move {
            post(
                app,
                client,
                "/api/incidents/action-items/add",
                &[
                    ("incident_id", &id),
                    ("text", text),
                    ("owner", owner),
                    ("due", &due),
                ],
            )
            .await
        }
    };
    let (status, body) = item("Alert on pool use", "bob", yesterday).await;
    assert_eq!(status, 422, "{backend:?}: {body}");
    assert_eq!(body["Invalid"]["due"], "a day from today on");
    let (status, first) = item("Write the post-mortem", "cy", today.clone()).await;
    assert_eq!(status, 200, "{backend:?}: {first}");
    let (status, second) = item("Alert on pool | use", "bob", tomorrow.clone()).await;
    assert_eq!(status, 200, "{backend:?}: {second}");
    let close = |item: &Value| {
        let (app, client, id, item) = (&app, &client, id.clone(), item["id"].to_string());
        async move {
            post(
                app,
                client,
                "/api/incidents/action-items/close",
                &[("incident_id", &id), ("item_id", &item)],
            )
            .await
        }
    };
    let (status, body) = close(&first).await;
    assert_eq!(status, 200, "{backend:?}: {body}");
    assert_eq!(body["closed_by"], ann.as_str());
    let (status, body) = close(&first).await;
    assert_eq!(status, 409, "{backend:?}: {body}");
    assert!(
        body.to_string()
            .contains(&format!("already closed by {ann}")),
        "{body}"
    );
    let (status, open) = post(&app, &client, "/api/incidents/action-items", &[]).await;
    assert_eq!(status, 200, "{backend:?}: {open}");
    let open_items = open["items"].as_array().expect("items");
    assert_eq!(open_items.len(), 1, "{backend:?}: {open}");
    assert_eq!(open_items[0][0]["text"], "Alert on pool | use");
    assert_eq!(open_items[0][1], "Checkout errors");

    // Exactly one audit entry per change; the refusals wrote none.
    let audit_after = db
        .count("SELECT COUNT(*) FROM audit_log")
        .await
        .expect("count");
    assert_eq!(
        audit_after - audit_before,
        10,
        "{backend:?}: 3 roles, 1 update, 1 severity, resolve, reopen, 2 items, 1 close"
    );

    // The timeline tells the story and the report carries it.
    let (status, view) = post(&app, &client, "/api/incidents/get", &[("id", &id)]).await;
    assert_eq!(status, 200, "{backend:?}: {view}");
    let lines: Vec<String> = view["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["kind"].as_str().unwrap_or_default(),
                e["text"].as_str().unwrap_or_default()
            )
        })
        .collect();
    for expected in [
        "role operations lead: bob",
        &format!("role commander handed over from {ann} to cy"),
        "role communications lead: dee",
        "update Affected: checkout in eu. Impact: 1 in 20 payments fail.",
        "severity severity critical → warning",
        "reopened reopened: errors are back",
        "action_item action item closed: Write the post-mortem",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(expected)),
            "{backend:?}: no '{expected}' in {lines:#?}"
        );
    }
    assert_eq!(view["updates"].as_array().map(Vec::len), Some(1));
    // The reopened phase's clock went on from where it stopped, the resolved spell left out.
    let reopened_at = view["timeline"]
        .as_array()
        .and_then(|events| events.iter().find(|e| e["kind"] == "reopened"))
        .map(|e| millis(&e["at"]))
        .expect("reopened on the timeline");
    let spell = reopened_at - millis(&phase_when_resolved["ended_at"]);
    assert_eq!(
        millis(&view["incident"]["phases"][0]["started_at"]),
        millis(&phase_when_resolved["started_at"]) + spell,
        "{backend:?}"
    );
    let report = client
        .get(app.url(&format!("/reports/incident-{id}.md")))
        .send()
        .await
        .expect("report")
        .text()
        .await
        .expect("text");
    for expected in [
        "- Commander: cy\n- Operations lead: bob\n- Communications lead: dee\n",
        "## Status updates",
        "Affected: checkout in eu. Impact: 1 in 20 payments fail.",
        &format!("| Write the post-mortem | cy | {today} | closed by {ann} |"),
        &format!("| Alert on pool \\| use | bob | {tomorrow} | open |"),
    ] {
        assert!(
            report.contains(expected),
            "{backend:?}: no '{expected}' in\n{report}"
        );
    }

    // PagerDuty folds the incident's news into one incident: one key, resolved once.
    let pagerduty = eventually(Duration::from_secs(10), "PagerDuty's events", || async {
        let events = receivers.of("pagerduty");
        (events.len() >= 5).then_some(events)
    })
    .await;
    // Deliveries run side by side, so only the counts are certain.
    let mut actions: Vec<&str> = pagerduty
        .iter()
        .filter_map(|e| e["event_action"].as_str())
        .collect();
    actions.sort_unstable();
    assert_eq!(
        actions,
        ["resolve", "trigger", "trigger", "trigger", "trigger"],
        "{backend:?}: declared, updated, severity, reopened; resolved"
    );
    assert!(
        pagerduty
            .iter()
            .all(|e| e["dedup_key"] == pagerduty[0]["dedup_key"])
    );
    assert!(pagerduty.iter().all(|e| e["routing_key"] == ROUTING_KEY));
}
