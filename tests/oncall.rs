//! On-call schedules through HTTP on both backends: refusals next to their fields, who is on
//! call now with an override on top, the audit trail, and the calendar feed's secret.
use crate::common;

use common::{BACKENDS, Backend, TestApp, TestDb, spawn_app};
use mcpops::domain::auth::Role;
use mcpops::server::store::UserChange;
use reqwest::StatusCode;
use serde_json::Value;

async fn call(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let (status, body) = common::post_form(app, client, path, form).await;
    (StatusCode::from_u16(status).expect("a status"), body)
}

/// The first handoff a day ago in UTC, so the rotation is running.
fn yesterday() -> String {
    (chrono::Utc::now() - chrono::Duration::days(1))
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

#[tokio::test]
async fn schedules_page_the_right_person_and_feed_calendars() {
    for backend in BACKENDS {
        schedules_and_feeds(backend).await;
    }
}

async fn schedules_and_feeds(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(db.url(), None).await;
    let (operator, ops) = app.signed_in(Role::Operator).await;
    let (viewer, watcher) = app.signed_in(Role::Viewer).await;
    let handoff = yesterday();
    let form = |participants: &'static str, time_zone: &'static str| {
        vec![
            ("name", "Primary"),
            ("time_zone", time_zone),
            ("layer_name", ""),
            ("rotation", "weekly"),
            ("first_handoff", ""),
            ("participants", participants),
        ]
    };

    // Refusals name their fields, and nothing is stored.
    let mut empty = form("", "UTC");
    empty[4].1 = &handoff;
    let (status, body) = call(&app, &ops, "/api/oncall/create", &empty).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{backend:?}: {body}"
    );
    assert!(
        body.to_string().contains("at least one person"),
        "{backend:?}: {body}"
    );
    let mut bad_zone = form("nobody-here", "Mars/Olympus");
    bad_zone[4].1 = &handoff;
    let (status, body) = call(&app, &ops, "/api/oncall/create", &bad_zone).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let text = body.to_string();
    assert!(
        text.contains("time_zone") && text.contains("no user is called 'nobody-here'"),
        "{text}"
    );
    let (status, _) = call(&app, &watcher, "/api/oncall/create", &empty).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a viewer cannot edit schedules"
    );

    // The operator alone is on call; the viewer takes over by an override.
    let people = operator.clone();
    let mut good = form("", "Europe/Berlin");
    good[4].1 = &handoff;
    good[5].1 = &people;
    let (status, id) = call(&app, &ops, "/api/oncall/create", &good).await;
    assert_eq!(status, StatusCode::OK, "{backend:?}: {id}");
    let id = id.as_i64().expect("schedule id").to_string();
    let (_, summaries) = call(&app, &watcher, "/api/oncall/summaries", &[]).await;
    assert_eq!(
        summaries[0]["now"]["user"],
        operator.as_str(),
        "{summaries}"
    );
    assert_eq!(summaries[0]["gaps"], serde_json::json!([]));

    let from = (chrono::Utc::now() - chrono::Duration::hours(1))
        .with_timezone(&chrono_tz::Europe::Berlin)
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let until = (chrono::Utc::now() + chrono::Duration::hours(2))
        .with_timezone(&chrono_tz::Europe::Berlin)
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let (status, body) = call(
        &app,
        &ops,
        "/api/oncall/override/add",
        &[
            ("schedule_id", &id),
            ("user", &viewer),
            ("starts", &until),
            ("ends", &from),
        ],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "backwards: {body}"
    );
    let (status, body) = call(
        &app,
        &ops,
        "/api/oncall/override/add",
        &[
            ("schedule_id", &id),
            ("user", &viewer),
            ("starts", &from),
            ("ends", &until),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, detail) = call(&app, &watcher, "/api/oncall/schedule", &[("id", &id)]).await;
    assert_eq!(
        detail["summary"]["now"]["user"],
        viewer.as_str(),
        "{detail}"
    );
    assert_eq!(detail["summary"]["now"]["source"]["kind"], "override");
    assert_eq!(detail["summary"]["next"]["user"], operator.as_str());
    assert_eq!(detail["can_edit"], false, "a viewer sees no edit controls");

    // Every change is in the audit log.
    let entries = app
        .state
        .store
        .search_audit(
            &mcpops::domain::audit::AuditFilter {
                event_type: Some("schedule".into()),
                ..Default::default()
            },
            None,
            100,
        )
        .await
        .expect("audit");
    let actions: Vec<&str> = entries.iter().map(|e| e.event.action.as_str()).collect();
    assert!(
        actions.contains(&"create") && actions.contains(&"add_override"),
        "{actions:?}"
    );

    // The calendar feed opens with the viewer's own secret, and only while it stands.
    let (status, feed) = call(&app, &watcher, "/api/oncall/feed/new", &[]).await;
    assert_eq!(status, StatusCode::OK, "{feed}");
    let secret = feed["secret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    assert!(secret.starts_with("mcpops_calendar_"));
    let calendar = |secret: String| {
        let url = app.url(&format!("/calendar/{id}.ics?token={secret}"));
        async move { reqwest::get(url).await.expect("calendar") }
    };
    let response = calendar(secret.clone()).await;
    assert_eq!(response.status(), StatusCode::OK, "{backend:?}");
    assert!(
        response.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .expect("content type")
            .starts_with("text/calendar")
    );
    let ics = response.text().await.expect("ics");
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\n"), "{ics}");
    assert!(
        ics.contains(&format!("SUMMARY:On call: {viewer} (Primary)")),
        "{ics}"
    );
    assert!(
        ics.contains(&format!("SUMMARY:On call: {operator} (Primary)")),
        "{ics}"
    );
    let (_, again) = call(&app, &watcher, "/api/oncall/feed", &[]).await;
    assert!(
        again["since"].is_string() && again["secret"].is_null(),
        "{again}"
    );

    assert_eq!(
        calendar(format!("{secret}x")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        calendar(String::new()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (_, renewed) = call(&app, &watcher, "/api/oncall/feed/new", &[]).await;
    let renewed = renewed["secret"].as_str().expect("secret").to_owned();
    assert_eq!(
        calendar(secret).await.status(),
        StatusCode::UNAUTHORIZED,
        "a new secret ends the old one"
    );
    assert_eq!(calendar(renewed.clone()).await.status(), StatusCode::OK);
    let account = app
        .state
        .store
        .user_by_name(&viewer)
        .await
        .expect("read")
        .expect("viewer")
        .account;
    app.state
        .store
        .change_user(
            account.id,
            UserChange {
                disabled: Some(true),
                ..UserChange::default()
            },
            common::test_event(),
        )
        .await
        .expect("disable");
    assert_eq!(
        calendar(renewed).await.status(),
        StatusCode::UNAUTHORIZED,
        "{backend:?}: a disabled account's feed stops"
    );
    let (status, _) = call(&app, &ops, "/api/oncall/feed/revoke", &[]).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the operator has no feed to revoke"
    );
    app.stop().await.expect("stop");
}
