//! Incidents end to end: an error burst fires an alert, an incident is declared from it with
//! its runbook as the checklist, worked phase by phase, resolved, and reported, on both backends.
use crate::common;

use common::{BACKENDS, Backend, TestDb, eventually, post_form, spawn_app_with};
use mcpops::domain::alerts::{AlertQuery, AlertState, RuleKind};
use mcpops::domain::auth::Role;
use mcpops::domain::demo::DemoFault;
use mcpops::server::demo::DemoFleet;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn an_incident_from_an_alert_is_worked_resolved_and_reported() {
    for backend in BACKENDS {
        incident_story(backend).await;
    }
}

async fn incident_story(backend: Backend) {
    let db = TestDb::new(backend).await;
    let fleet = Arc::new(DemoFleet::start(2).await.expect("fleet"));
    let app = spawn_app_with(db.url(), Some(fleet.clone()), |config| {
        config.demo.interval_secs = 1;
        config.alerts.min_firing_secs = 0;
    })
    .await;
    fleet
        .set_fault("demo-02", DemoFault::ErrorBurst, true)
        .await
        .expect("fault");
    let alert = eventually(Duration::from_secs(20), "the error-rate alert", || async {
        let query = AlertQuery {
            states: vec![AlertState::Firing],
            rule: Some(RuleKind::ErrorRate),
            limit: 10,
            ..AlertQuery::default()
        };
        app.state
            .store
            .alerts(&query)
            .await
            .expect("alerts")
            .into_iter()
            .next()
    })
    .await;

    // One click: the alert's runbook becomes the checklist, the caller the commander.
    let (ann, commander) = app.signed_in(Role::Operator).await;
    let (_, second) = app.signed_in(Role::Operator).await;
    let (status, incident) = post_form(
        &app,
        &commander,
        "/api/incidents/declare",
        &[("alert_id", &alert.id.to_string())],
    )
    .await;
    assert_eq!(status, 200, "{incident}");
    assert_eq!(incident["title"], "Error rate above baseline on demo-02");
    assert_eq!(incident["runbook"], "high-error-rate");
    assert_eq!(incident["commander"], ann.as_str());
    assert_eq!(incident["severity"], "critical");
    let phases: Vec<&str> = incident["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        phases,
        [
            "Initial Response",
            "Investigation",
            "Mitigation",
            "Resolution",
            "Post-Incident"
        ]
    );
    assert_eq!(incident["phases"][0]["budget_secs"], 300);
    let id = incident["id"].to_string();
    let step_id = |n: usize| incident["steps"][n]["id"].to_string();

    // Two people check the same step: the second is told who was first, nothing is doubled.
    let (status, _) = post_form(
        &app,
        &commander,
        "/api/incidents/step",
        &[
            ("incident_id", &id),
            ("step_id", &step_id(0)),
            ("action", "done"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = post_form(
        &app,
        &second,
        "/api/incidents/step",
        &[
            ("incident_id", &id),
            ("step_id", &step_id(0)),
            ("action", "done"),
        ],
    )
    .await;
    assert_eq!(status, 409);
    assert!(
        body.to_string().contains(&format!("already done by {ann}")),
        "{body}"
    );
    let (status, body) = post_form(
        &app,
        &commander,
        "/api/incidents/step",
        &[
            ("incident_id", &id),
            ("step_id", &step_id(1)),
            ("action", "skip"),
            ("reason", ""),
        ],
    )
    .await;
    assert_eq!(status, 422, "a skip needs a reason: {body}");
    let (status, _) = post_form(
        &app,
        &commander,
        "/api/incidents/step",
        &[
            ("incident_id", &id),
            ("step_id", &step_id(1)),
            ("action", "skip"),
            ("reason", "owner already paged"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post_form(
        &app,
        &commander,
        "/api/incidents/note",
        &[
            ("incident_id", &id),
            (
                "text",
                "errors from the payments dependency <script>alert(1)</script>",
            ),
        ],
    )
    .await;
    assert_eq!(status, 200);

    // A double click moves one phase.
    let advance = [("incident_id", id.as_str()), ("from_phase", "0")];
    let (status, moved) = post_form(&app, &commander, "/api/incidents/advance", &advance).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["current_phase"], 1);
    let (status, _) = post_form(&app, &second, "/api/incidents/advance", &advance).await;
    assert_eq!(status, 409);

    fleet
        .set_fault("demo-02", DemoFault::ErrorBurst, false)
        .await
        .expect("clear");
    let (status, resolved) = post_form(
        &app,
        &commander,
        "/api/incidents/resolve",
        &[("incident_id", &id)],
    )
    .await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["state"], "resolved");
    let (status, _) = post_form(
        &app,
        &commander,
        "/api/incidents/note",
        &[("incident_id", &id), ("text", "too late")],
    )
    .await;
    assert_eq!(status, 409, "a resolved incident takes no more notes");

    // The report has every timeline event, in order.
    let report = app
        .client
        .get(app.url(&format!("/reports/incident-{id}.md")))
        .send()
        .await
        .expect("report");
    assert_eq!(report.status(), 200);
    assert!(
        report.headers()["content-disposition"]
            .to_str()
            .is_ok_and(|d| d.contains(&format!("incident-{id}.md")))
    );
    let markdown = report.text().await.expect("markdown");
    let order = [
        "| alert | system:alerts | Error rate above baseline on demo-02: pending",
        "| alert | system:alerts | Error rate above baseline on demo-02: firing",
        "| declared |",
        "| phase |",
        &format!("| step | {ann} | done:"),
        &format!("| step | {ann} | skipped:"),
        "| note |",
        "phase Investigation started",
        "| resolved |",
    ];
    let mut last = 0;
    for line in order {
        let found = markdown[last..].find(line).unwrap_or_else(|| {
            panic!("{backend:?}: '{line}' missing or out of order in:\n{markdown}")
        });
        last += found;
    }
    assert!(markdown.contains("| Initial Response |"));
    assert!(markdown.contains("owner already paged"));
    assert!(
        markdown.contains("data:image/svg+xml;base64,"),
        "charts are embedded"
    );

    let html = app
        .client
        .get(app.url(&format!("/reports/incident-{id}.html")))
        .send()
        .await
        .expect("html")
        .text()
        .await
        .expect("text");
    assert!(html.contains("<table>"));
    assert!(html.contains("<img"), "charts are embedded");
    assert!(
        !html.contains("<script>alert(1)"),
        "a note cannot run in the report"
    );

    // Viewers read incidents but cannot work them.
    let (_, viewer) = app.signed_in(Role::Viewer).await;
    let (status, _) = post_form(&app, &viewer, "/api/incidents/get", &[("id", &id)]).await;
    assert_eq!(status, 200);
    let (status, _) = post_form(&app, &viewer, "/api/incidents/declare", &[("title", "x")]).await;
    assert_eq!(status, 403);
    // Operational readiness: proven items carry evidence; the rest are ticked by hand.
    let target = incident["target_ids"][0].to_string();
    let state_of = |rows: &Value, item: &str| {
        rows.as_array()
            .and_then(|rows| rows.iter().find(|r| r["item"] == item))
            .map(|r| r["state"].as_str().unwrap_or_default().to_owned())
    };
    let (status, rows) = post_form(
        &app,
        &viewer,
        "/api/readiness/get",
        &[("target_id", &target)],
    )
    .await;
    assert_eq!(status, 200, "{rows}");
    assert_eq!(
        state_of(&rows, "monitoring").as_deref(),
        Some("met"),
        "{rows}"
    );
    assert_eq!(
        state_of(&rows, "runbooks").as_deref(),
        Some("met"),
        "{rows}"
    );
    assert_eq!(state_of(&rows, "on_call").as_deref(), Some("unmet"));
    let tick = |item: &'static str| {
        [
            ("target_id", target.clone()),
            ("item", item.to_owned()),
            ("ticked", "true".to_owned()),
        ]
    };
    let (status, _) = post_form(
        &app,
        &viewer,
        "/api/readiness/tick",
        &tick("on_call").each_ref().map(|(k, v)| (*k, v.as_str())),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = post_form(
        &app,
        &commander,
        "/api/readiness/tick",
        &tick("monitoring").each_ref().map(|(k, v)| (*k, v.as_str())),
    )
    .await;
    assert_eq!(status, 422, "what mcpops proves is not ticked by hand");
    let (status, _) = post_form(
        &app,
        &commander,
        "/api/readiness/tick",
        &tick("on_call").each_ref().map(|(k, v)| (*k, v.as_str())),
    )
    .await;
    assert_eq!(status, 200);
    let (_, rows) = post_form(
        &app,
        &viewer,
        "/api/readiness/get",
        &[("target_id", &target)],
    )
    .await;
    assert_eq!(state_of(&rows, "on_call").as_deref(), Some("met"));
    let on_call = rows
        .as_array()
        .and_then(|r| r.iter().find(|r| r["item"] == "on_call"))
        .cloned();
    assert_eq!(
        on_call.map(|r| r["tick"]["by"].clone()),
        Some(Value::String(ann.clone()))
    );

    let report =
        mcpops::server::services::audit_export::verify_chain(app.state.store.as_ref(), |_| {})
            .await
            .expect("verify");
    assert!(report.broken.is_none());
    fleet.shutdown();
}
