//! Escalation end to end, on both backends. People add contact methods; a policy pages the
//! on-call of a schedule, then a named person. Demo servers go down together: one
//! escalation pages level 1 at once and level 2 after its wait, on receivers on loopback;
//! acknowledging stops it (PagerDuty is told under the escalation's dedup key), and the
//! resolution reaches everyone paged. Refusals name their fields.
use crate::common;

use common::{
    BACKENDS, Backend, Receivers, TestApp, TestDb, eventually, post_form, spawn_app_with,
};
use mcpops::domain::alerts::{AlertState, RuleKind};
use mcpops::domain::auth::Role;
use mcpops::domain::demo::DemoFault;
use mcpops::domain::escalation::EscalationEnd;
use mcpops::server::demo::DemoFleet;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

const ROUTING_KEY: &str = "Rbob456789abcdef0123456789ABCDEF";

async fn call(app: &TestApp, client: &reqwest::Client, path: &str, form: &[(&str, &str)]) -> Value {
    let (status, body) = post_form(app, client, path, form).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

#[tokio::test]
async fn an_unacknowledged_alert_escalates_and_stops_when_acknowledged() {
    for backend in BACKENDS {
        escalates(backend).await;
    }
}

async fn escalates(backend: Backend) {
    let (receivers, hooks) = Receivers::start().await;
    let db = TestDb::new(backend).await;
    let fleet = Arc::new(DemoFleet::start(2).await.expect("fleet"));
    let app = spawn_app_with(db.url(), Some(fleet.clone()), |config| {
        config.demo.interval_secs = 1;
        config.alerts.min_firing_secs = 0;
        config.alerts.retry_base_ms = 50;
        config.alerts.retry_cap_ms = 200;
        config.alerts.webhook_attempts = 2;
        config.alerts.webhook_timeout_ms = 1_000;
    })
    .await;
    for (name, role) in [
        ("alice", Role::Operator),
        ("bob", Role::Operator),
        ("carol", Role::Viewer),
    ] {
        app.add_user(name, role).await;
    }
    let signed_in = |name: &'static str| {
        let app = &app;
        async move {
            let client = common::cookie_client();
            let response = app.login(&client, name, common::TEST_PASSWORD).await;
            assert!(response.status().is_success() || response.status().is_redirection());
            client
        }
    };
    let (alice, bob, carol) = (
        signed_in("alice").await,
        signed_in("bob").await,
        signed_in("carol").await,
    );

    // Contact methods: refused with the reason, the secret never echoed; then saved.
    let (status, body) = post_form(
        &app,
        &bob,
        "/api/paging/contacts/add",
        &[
            ("label", "pager"),
            ("kind", "pagerduty"),
            ("secret", "short-key"),
        ],
    )
    .await;
    assert_eq!(status, 422, "{backend:?}: {body}");
    assert!(
        body["Invalid"]["secret"]
            .as_str()
            .is_some_and(|r| r.contains("32")),
        "{body}"
    );
    assert!(!body.to_string().contains("short-key"));
    let alice_hook = format!("http://{hooks}/alice/XSECRETX");
    call(
        &app,
        &alice,
        "/api/paging/contacts/add",
        &[("label", "chat"), ("kind", "webhook"), ("url", &alice_hook)],
    )
    .await;
    let bob_pd = format!("http://{hooks}/bob/enqueue");
    call(
        &app,
        &bob,
        "/api/paging/contacts/add",
        &[
            ("label", "pager"),
            ("kind", "pagerduty"),
            ("url", &bob_pd),
            ("secret", ROUTING_KEY),
        ],
    )
    .await;
    let mine = call(&app, &bob, "/api/paging/contacts", &[]).await;
    assert_eq!(mine.as_array().map(Vec::len), Some(1), "{mine}");
    assert!(!mine.to_string().contains(ROUTING_KEY), "{mine}");
    // Another person's method is not theirs to test or delete.
    let bobs = mine[0]["id"].to_string();
    let (status, _) = post_form(
        &app,
        &alice,
        "/api/paging/contacts/delete",
        &[("id", &bobs)],
    )
    .await;
    assert_eq!(status, 404);
    let tested = call(&app, &bob, "/api/paging/contacts/test", &[("id", &bobs)]).await;
    assert!(
        tested.as_str().is_some_and(|t| t.contains("accepted")),
        "{tested}"
    );
    let test_pages: Vec<String> = receivers
        .of("bob")
        .iter()
        .map(|e| e["event_action"].to_string())
        .collect();
    assert_eq!(test_pages, ["\"trigger\"", "\"resolve\""]);
    // Anyone may add a method, so none may reach a denied network (the cloud metadata
    // service): refused with the reason, nothing sent.
    let metadata = [
        ("label", "meta"),
        ("kind", "webhook"),
        ("url", "http://169.254.169.254/latest/x"),
    ];
    call(&app, &carol, "/api/paging/contacts/add", &metadata).await;
    let carols = call(&app, &carol, "/api/paging/contacts", &[]).await;
    let meta_id = carols[0]["id"].to_string();
    let (status, body) = post_form(
        &app,
        &carol,
        "/api/paging/contacts/test",
        &[("id", &meta_id)],
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("deny_networks"), "{body}");
    call(
        &app,
        &carol,
        "/api/paging/contacts/delete",
        &[("id", &meta_id)],
    )
    .await;

    // A schedule with alice on call, and a policy: its on-call first, then bob.
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    call(
        &app,
        &alice,
        "/api/oncall/create",
        &[
            ("name", "primary"),
            ("time_zone", "UTC"),
            ("layer_name", ""),
            ("rotation", "weekly"),
            ("first_handoff", &yesterday),
            ("participants", "alice"),
        ],
    )
    .await;
    let policy = |repeat: &'static str, who2: &'static str| {
        vec![
            ("name", "critical"),
            ("min_severity", "critical"),
            ("who1", "primary"),
            ("wait1", "2s"),
            ("who2", who2),
            ("wait2", "1h"),
            ("repeat", repeat),
        ]
    };
    // A loop with no end, a stranger, and a viewer are refused.
    let (status, body) = post_form(
        &app,
        &alice,
        "/api/paging/policies/create",
        &policy("-1", "dave"),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["Invalid"]["repeat"]
            .as_str()
            .is_some_and(|r| r.contains("never ends")),
        "{body}"
    );
    assert!(
        body["Invalid"]["who2"]
            .as_str()
            .is_some_and(|r| r.contains("'dave'")),
        "{body}"
    );
    let (status, _) = post_form(
        &app,
        &carol,
        "/api/paging/policies/create",
        &policy("0", "bob"),
    )
    .await;
    assert_eq!(status, 403);
    call(
        &app,
        &alice,
        "/api/paging/policies/create",
        &policy("0", "bob, carol"),
    )
    .await;
    let listed = call(&app, &carol, "/api/paging/policies", &[]).await;
    assert_eq!(
        listed["policies"][0]["levels"][1]["wait_seconds"], 3600,
        "{listed}"
    );

    // Both servers go down: one group, one escalation, level 1 paged once.
    for server in ["demo-01", "demo-02"] {
        fleet
            .set_fault(server, DemoFault::Down, true)
            .await
            .expect("fault");
    }
    let first_page = eventually(Duration::from_secs(30), "alice paged", || async {
        receivers.of("alice").into_iter().next()
    })
    .await;
    let summary = first_page["summary"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(summary.contains("[critical, level 1]"), "{first_page}");
    let alert = eventually(Duration::from_secs(30), "demo-01 down firing", || async {
        common::alert_on(&app, "demo-01", RuleKind::TargetDown)
            .await
            .filter(|a| a.state == AlertState::Firing)
    })
    .await;
    // Level 2 after its 2 s wait: bob's PagerDuty, keyed to the escalation.
    let trigger = eventually(Duration::from_secs(15), "bob paged", || async {
        receivers.of("bob").into_iter().find(|e| {
            e["event_action"] == "trigger"
                && e["payload"]["summary"]
                    .as_str()
                    .is_some_and(|s| s.contains("level 2"))
        })
    })
    .await;
    assert_eq!(trigger["routing_key"], ROUTING_KEY);
    let dedup_key = trigger["dedup_key"].as_str().expect("dedup key").to_owned();
    assert!(dedup_key.starts_with("mcpops/escalation/"), "{dedup_key}");
    eventually(
        Duration::from_secs(15),
        "demo-02 down firing too",
        || async {
            common::alert_on(&app, "demo-02", RuleKind::TargetDown)
                .await
                .filter(|a| a.state == AlertState::Firing)
        },
    )
    .await;
    assert_eq!(
        receivers.of("alice").len(),
        1,
        "alice paged once for both servers"
    );

    // The alert's page shows who was paged, how, and carol's missing contact method.
    let detail = call(
        &app,
        &carol,
        "/api/alerts/detail",
        &[("id", &alert.id.to_string())],
    )
    .await;
    let escalations = detail["escalations"].as_array().expect("escalations");
    assert_eq!(escalations.len(), 1, "{detail}");
    let pages = escalations[0][1].as_array().expect("pages");
    let paged: Vec<(String, Option<String>)> = pages
        .iter()
        .map(|p| {
            (
                p["username"].as_str().unwrap_or_default().to_owned(),
                p["error"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert!(paged.contains(&("alice".into(), None)), "{paged:?}");
    assert!(paged.contains(&("bob".into(), None)), "{paged:?}");
    assert!(
        paged.contains(&("carol".into(), Some("has no contact method".into()))),
        "{paged:?}"
    );

    // Acknowledging stops it: PagerDuty is told, and nobody else is paged.
    call(
        &app,
        &bob,
        "/api/alerts/acknowledge",
        &[("id", &alert.id.to_string()), ("note", "on it")],
    )
    .await;
    let ack = eventually(
        Duration::from_secs(10),
        "PagerDuty told of the acknowledgement",
        || async {
            receivers.of("bob").into_iter().find(|e| {
                e["event_action"] == "acknowledge" && e["dedup_key"] == dedup_key.as_str()
            })
        },
    )
    .await;
    assert_eq!(ack["routing_key"], ROUTING_KEY);
    let store = &app.state.store;
    let stopped = eventually(
        Duration::from_secs(10),
        "the escalation stopped",
        || async {
            let all = store
                .alert_escalations(alert.id)
                .await
                .expect("escalations");
            all.into_iter().map(|(e, _)| e).find(|e| e.end.is_some())
        },
    )
    .await;
    assert_eq!(
        stopped.end,
        Some(EscalationEnd::Acknowledged { by: "bob".into() })
    );

    // Resolved: everyone reached is told, under the same key.
    for server in ["demo-01", "demo-02"] {
        fleet
            .set_fault(server, DemoFault::Down, false)
            .await
            .expect("fault");
    }
    eventually(Duration::from_secs(30), "PagerDuty resolved", || async {
        receivers
            .of("bob")
            .into_iter()
            .find(|e| e["event_action"] == "resolve" && e["dedup_key"] == dedup_key.as_str())
    })
    .await;
    eventually(
        Duration::from_secs(10),
        "alice told of the resolution",
        || async {
            receivers
                .of("alice")
                .into_iter()
                .find(|e| e["event"] == "resolved")
        },
    )
    .await;
    let triggers = receivers
        .of("bob")
        .iter()
        .filter(|e| e["event_action"] == "trigger")
        .count();
    assert_eq!(triggers, 2, "the test page and level 2, nothing more");

    // Audited: the opening, each level, the stop and the resolution; a few entries in all.
    let entries = db
        .count("SELECT COUNT(*) FROM audit_log WHERE event_type = 'escalation'")
        .await
        .expect("count");
    assert_eq!(entries, 5, "{backend:?}");
    let _ = app.stop().await;
}
