//! Alerts end to end: faults injected into the demo fleet fire the expected alerts, notify a
//! real webhook receiver on loopback (retrying after it fails), respect silences, and resolve
//! when the fault is removed. Run on both backends.
use crate::common;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use common::{BACKENDS, Backend, TestApp, TestDb, eventually, post_form, spawn_app_with};
use mcpops::domain::alerts::{AlertQuery, AlertState, RuleKind};
use mcpops::domain::demo::DemoFault;
use mcpops::server::demo::DemoFleet;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A webhook receiver: answers 500 to its first `failures` calls, then 200; keeps every body.
#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<Value>>>,
    calls: Arc<Mutex<u32>>,
    failures: u32,
}

impl Receiver {
    async fn start(failures: u32) -> (Self, SocketAddr) {
        let receiver = Self {
            failures,
            ..Self::default()
        };
        async fn hook(State(r): State<Receiver>, Json(body): Json<Value>) -> StatusCode {
            let call = {
                let mut calls = r.calls.lock().expect("lock");
                *calls += 1;
                *calls
            };
            if call <= r.failures {
                return StatusCode::INTERNAL_SERVER_ERROR;
            }
            r.bodies.lock().expect("lock").push(body);
            StatusCode::NO_CONTENT
        }
        let app = axum::Router::new()
            .route("/hook/{secret}", axum::routing::post(hook))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, addr)
    }

    fn notices(&self, event: &str) -> Vec<Value> {
        self.bodies
            .lock()
            .expect("lock")
            .iter()
            .filter(|b| b["event"] == event)
            .cloned()
            .collect()
    }
}

/// Adds a webhook channel as the admin; returns the channel as the page gets it.
async fn create_webhook(app: &TestApp, name: &str, url: &str, min_severity: &str) -> Value {
    let (status, body) = post_form(
        app,
        &app.client,
        "/api/channels/create",
        &[
            ("name", name),
            ("kind", "webhook"),
            ("url", url),
            ("min_severity", min_severity),
            ("tags", ""),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

const INTERVAL_SECS: u64 = 1;

#[tokio::test]
async fn injected_faults_fire_notify_and_resolve() {
    for backend in BACKENDS {
        faults_fire_notify_and_resolve(backend).await;
    }
}

async fn faults_fire_notify_and_resolve(backend: Backend) {
    let db = TestDb::new(backend).await;
    let fleet = Arc::new(DemoFleet::start(6).await.expect("fleet"));
    let app = spawn_app_with(db.url(), Some(fleet.clone()), |config| {
        config.demo.interval_secs = INTERVAL_SECS as u32;
        config.collector.mcp_full_every_secs = 1;
        config.alerts.min_firing_secs = 0;
        config.alerts.retry_base_ms = 50;
        config.alerts.retry_cap_ms = 200;
        config.alerts.webhook_timeout_ms = 500;
    })
    .await;

    // A receiver that fails its first two calls, and a channel that never answers.
    let (receiver, addr) = Receiver::start(2).await;
    let hook = format!("http://{addr}/hook/s3cr3t-path");
    let body = create_webhook(&app, "ops", &hook, "info").await;
    assert_eq!(
        body["url_redacted"],
        format!("http://{addr}/…"),
        "the secret path is not shown"
    );
    let hanging = format!("http://{}/never", common::silent_listener().await);
    let (status, _) = post_form(
        &app,
        &app.client,
        "/api/channels/create",
        &[
            ("name", "hanging"),
            ("kind", "slack"),
            ("url", &hanging),
            ("min_severity", "info"),
            ("tags", ""),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = post_form(
        &app,
        &app.client,
        "/api/channels/create",
        &[
            ("name", "bad"),
            ("kind", "webhook"),
            ("url", "ftp://example.com/x"),
            ("min_severity", "info"),
            ("tags", ""),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body["Invalid"]["url"]
            .as_str()
            .is_some_and(|m| m.contains("http")),
        "{body}"
    );

    // demo-06's outage is silenced: recorded, not notified.
    let (status, body) = post_form(
        &app,
        &app.client,
        "/api/silences/create",
        &[
            ("target", "demo-06"),
            ("tag", ""),
            ("rule", ""),
            ("reason", "planned maintenance"),
            ("starts_in_minutes", ""),
            ("duration_minutes", "60"),
            ("weekdays", ""),
            ("window_start", ""),
            ("window_minutes", ""),
            ("until_days", ""),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Drift is measured against the first tool list seen, so wait for every target's.
    eventually(Duration::from_secs(20), "every first tool list", || async {
        let acks = app.state.store.tool_acks().await.expect("acks");
        (acks.len() == 6).then_some(())
    })
    .await;

    let faults = [
        ("demo-01", DemoFault::Down, RuleKind::TargetDown, 2),
        ("demo-02", DemoFault::NotReady, RuleKind::NotReady, 2),
        ("demo-03", DemoFault::LatencySpike, RuleKind::LatencyP50, 3),
        ("demo-04", DemoFault::ErrorBurst, RuleKind::ErrorRate, 3),
        ("demo-05", DemoFault::ToolDrift, RuleKind::ToolDrift, 1),
        ("demo-06", DemoFault::Down, RuleKind::TargetDown, 2),
    ];
    let injected = Instant::now();
    for (server, fault, _, _) in faults {
        fleet.set_fault(server, fault, true).await.expect("fault");
    }
    // Watch all six at once, so each firing is timed when it happens.
    let mut fired_after: Vec<Option<Duration>> = vec![None; faults.len()];
    while fired_after.iter().any(Option::is_none) {
        assert!(
            injected.elapsed() < Duration::from_secs(30),
            "{backend:?}: not all fired: {fired_after:?}"
        );
        for (slot, (server, _, rule, _)) in fired_after.iter_mut().zip(faults) {
            if slot.is_none() {
                let alert = common::alert_on(&app, server, rule).await;
                if let Some(alert) = alert.filter(|a| a.state == AlertState::Firing) {
                    *slot = Some(injected.elapsed());
                    assert_eq!(alert.silenced, server == "demo-06", "{server}");
                    assert!(!alert.summary.is_empty());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fired_after: Vec<String> = fired_after
        .into_iter()
        .zip(faults)
        .map(|(took, (server, _, rule, for_polls))| {
            let took = took.unwrap_or_default();
            // The bound: `for` + one poll interval + 1 s (plus this loop's own period).
            let bound = Duration::from_secs(for_polls * INTERVAL_SECS + INTERVAL_SECS + 1)
                + Duration::from_millis(100);
            assert!(
                took <= bound,
                "{backend:?} {rule} on {server} fired after {took:?} (bound {bound:?})"
            );
            format!("{rule} {:.2}s", took.as_secs_f64())
        })
        .collect();
    println!(
        "{backend:?}: fault injected → firing: {}",
        fired_after.join(", ")
    );

    // Every unsilenced alert reached the receiver, after it had failed twice.
    let notified = eventually(Duration::from_secs(10), "firing notices", || async {
        let firing = receiver.notices("firing");
        (firing.len() >= 5).then_some(firing)
    })
    .await;
    let targets: Vec<&str> = notified
        .iter()
        .filter_map(|n| n["target"].as_str())
        .collect();
    assert!(
        !targets.contains(&"demo-06"),
        "a silenced alert was notified"
    );
    for server in ["demo-01", "demo-02", "demo-03", "demo-04", "demo-05"] {
        assert!(
            targets.contains(&server),
            "{server} not notified: {targets:?}"
        );
    }
    let deliveries = app
        .state
        .store
        .deliveries(None, 200)
        .await
        .expect("deliveries");
    let failed: Vec<_> = deliveries
        .iter()
        .filter(|d| d.error.as_deref() == Some("HTTP status 500"))
        .collect();
    assert_eq!(failed.len(), 2, "the receiver's two failures are recorded");
    assert!(
        deliveries
            .iter()
            .any(|d| d.error.is_none() && d.attempt > 1),
        "a failed notice was retried and delivered"
    );
    assert!(
        deliveries.iter().any(|d| d
            .error
            .as_deref()
            .is_some_and(|e| e.contains("no answer within 500 ms"))),
        "the hanging channel times out"
    );
    assert!(
        deliveries
            .iter()
            .all(|d| !d.error.as_deref().unwrap_or("").contains("s3cr3t")),
        "no delivery error names the secret path"
    );

    // Acknowledging: the first operator wins, the second is told who was first.
    let (op1, first) = app.signed_in(mcpops::domain::auth::Role::Operator).await;
    let (_, second) = app.signed_in(mcpops::domain::auth::Role::Operator).await;
    let drift = common::alert_on(&app, "demo-05", RuleKind::ToolDrift)
        .await
        .expect("drift");
    let id = drift.id.to_string();
    let (status, body) = post_form(
        &app,
        &first,
        "/api/alerts/acknowledge",
        &[("id", &id), ("note", "")],
    )
    .await;
    assert_eq!(status, 422, "a note is required: {body}");
    let (status, body) = post_form(
        &app,
        &first,
        "/api/alerts/acknowledge",
        &[("id", &id), ("note", "expected: v2 adds a tool")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "acknowledged");
    assert_eq!(body["acked_by"], op1.as_str());
    let (status, body) = post_form(
        &app,
        &second,
        "/api/alerts/acknowledge",
        &[("id", &id), ("note", "me too")],
    )
    .await;
    assert_eq!(status, 409);
    assert!(
        body.to_string()
            .contains(&format!("already acknowledged by {op1}")),
        "{body}"
    );
    let (viewer_status, _) = {
        let (_, viewer) = app.signed_in(mcpops::domain::auth::Role::Viewer).await;
        post_form(
            &app,
            &viewer,
            "/api/alerts/acknowledge",
            &[("id", &id), ("note", "x")],
        )
        .await
    };
    assert_eq!(viewer_status, 403);

    // The acknowledged drift resolves with the fault still on: its new list was accepted
    // (removing the fault now would be drift again, back to the old list).
    eventually(
        Duration::from_secs(30),
        "accepted drift resolved",
        || async {
            common::alert_on(&app, "demo-05", RuleKind::ToolDrift)
                .await
                .filter(|a| a.state == AlertState::Resolved)
        },
    )
    .await;

    // Remove the other faults: every alert resolves.
    for (server, fault, _, _) in faults.iter().filter(|f| f.1 != DemoFault::ToolDrift) {
        let (server, fault) = (*server, *fault);
        fleet
            .set_fault(server, fault, false)
            .await
            .expect("clear fault");
    }
    for (server, _, rule, _) in faults {
        eventually(
            Duration::from_secs(30),
            &format!("{rule} on {server} resolved"),
            || async {
                common::alert_on(&app, server, rule)
                    .await
                    .filter(|a| a.state == AlertState::Resolved)
            },
        )
        .await;
    }
    eventually(Duration::from_secs(10), "resolved notices", || async {
        (receiver.notices("resolved").len() >= 5).then_some(())
    })
    .await;

    // Every transition is stored, and each is in the audit chain, which still verifies.
    let down = common::alert_on(&app, "demo-01", RuleKind::TargetDown)
        .await
        .expect("down");
    let (_, steps) = app.state.store.alert(down.id).await.expect("history");
    let path: Vec<&str> = steps.iter().map(|s| s.to.as_str()).collect();
    assert_eq!(path, ["pending", "firing", "resolved"], "{backend:?}");
    let report =
        mcpops::server::services::audit_export::verify_chain(app.state.store.as_ref(), |_| {})
            .await
            .expect("verify");
    assert!(report.broken.is_none());
    let alert_entries = app
        .state
        .store
        .search_audit(&alert_filter(), None, 500)
        .await
        .expect("search");
    assert!(
        alert_entries.len() >= 15,
        "{} alert audit entries",
        alert_entries.len()
    );
    fleet.shutdown();
}

fn alert_filter() -> mcpops::domain::audit::AuditFilter {
    mcpops::domain::audit::AuditFilter::from_form(
        "",
        "alert",
        "",
        "",
        "",
        "",
        "",
        chrono::Utc::now(),
    )
    .expect("filter")
}

#[tokio::test]
async fn deploy_markers_baselines_and_silences_over_http() {
    for backend in BACKENDS {
        deploys_baselines_silences(backend).await;
    }
}

async fn api_token(app: &TestApp, role: &str) -> String {
    let (status, issued) = post_form(
        app,
        &app.client,
        "/api/tokens/create",
        &[
            ("kind", "api"),
            ("name", role),
            ("role", role),
            ("scopes[0]", "deploys:write"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{issued}");
    issued["secret"].as_str().expect("secret").to_owned()
}

async fn deploys_baselines_silences(backend: Backend) {
    let db = TestDb::new(backend).await;
    let fleet = Arc::new(DemoFleet::start(1).await.expect("fleet"));
    let app = spawn_app_with(db.url(), Some(fleet.clone()), |config| {
        config.demo.interval_secs = 1;
    })
    .await;
    let target = app.state.store.list_targets().await.expect("targets")[0].clone();
    eventually(
        Duration::from_secs(10),
        "a few polls with metrics",
        || async {
            let now = chrono::Utc::now();
            let rows = app
                .state
                .store
                .samples(
                    mcpops::server::store::SampleTable::Raw,
                    Some(target.id),
                    now - chrono::Duration::minutes(5),
                    now,
                )
                .await
                .expect("samples");
            (rows.iter().filter(|r| r.requests.is_some()).count() >= 2).then_some(())
        },
    )
    .await;

    // Deploy pipelines post with an operator's API token.
    let operator = api_token(&app, "operator").await;
    let viewer = api_token(&app, "viewer").await;
    let deploys = app.url("/api/v1/deploys");
    let plain = reqwest::Client::new();
    let good = serde_json::json!({ "target": "demo-01", "version": "1.4.2", "note": "canary" });
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(
        status(plain.post(&deploys).json(&good).send().await.expect("post")),
        401
    );
    let as_viewer = plain
        .post(&deploys)
        .bearer_auth(&viewer)
        .json(&good)
        .send()
        .await;
    assert_eq!(status(as_viewer.expect("post")), 403);
    let garbage = plain
        .post(&deploys)
        .bearer_auth(&operator)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await;
    assert_eq!(status(garbage.expect("post")), 400);
    let unknown = serde_json::json!({ "target": "nope", "version": "1" });
    let response = plain
        .post(&deploys)
        .bearer_auth(&operator)
        .json(&unknown)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.expect("json");
    assert!(
        body["Invalid"]["target"]
            .as_str()
            .is_some_and(|m| m.contains("nope")),
        "{body}"
    );
    let response = plain
        .post(&deploys)
        .bearer_auth(&operator)
        .json(&good)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 201);
    let deploy: Value = response.json().await.expect("json");
    assert_eq!(deploy["version"], "1.4.2");
    assert_eq!(deploy["created_by"], "token:operator");

    // The server page's review has the deploy with every signal before and after, and the
    // charts draw the marker.
    let (status_code, reviews) = post_form(
        &app,
        &app.client,
        "/api/deploys/review",
        &[("target_id", &target.id.to_string())],
    )
    .await;
    assert_eq!(status_code, 200, "{reviews}");
    assert_eq!(reviews[0]["deploy"]["version"], "1.4.2");
    assert_eq!(reviews[0]["changes"].as_array().map(Vec::len), Some(5));
    assert!(reviews[0]["changes"][0]["before"].is_number(), "{reviews}");
    let svg = app
        .client
        .get(app.url(&format!("/charts/{}/latency.svg?range=15m", target.id)))
        .send()
        .await
        .expect("chart")
        .text()
        .await
        .expect("svg");
    assert!(svg.contains("deploy 1.4.2"), "the chart marks the deploy");

    // Baselines: bad values are refused field by field; good ones are stored and audited.
    let form = |p95: &'static str, factor: &'static str| {
        [
            ("scope", "fleet"),
            ("p50_ms", ""),
            ("p95_ms", p95),
            ("p99_ms", ""),
            ("error_rate_pct", ""),
            ("rps", ""),
            ("factor", factor),
            ("for_polls", ""),
        ]
    };
    let (code, body) = post_form(&app, &app.client, "/api/rules/save", &form("-5", "1")).await;
    assert_eq!(code, 422);
    assert!(
        body["Invalid"]["p95_ms"].is_string() && body["Invalid"]["factor"].is_string(),
        "{body}"
    );
    let (code, body) = post_form(&app, &app.client, "/api/rules/save", &form("NaN", "2")).await;
    assert_eq!(code, 422, "{body}");
    let (code, body) = post_form(&app, &app.client, "/api/rules/save", &form("400", "2")).await;
    assert_eq!(code, 200, "{body}");
    let (_, rules) = post_form(&app, &app.client, "/api/rules/list", &[]).await;
    assert_eq!(rules["overrides"][0]["baselines"]["p95_ms"], 400.0);
    assert_eq!(rules["overrides"][0]["baselines"]["factor"], 2.0);

    // Learning a baseline proposes numbers from the target's own polls, saving nothing.
    let (code, learned) = post_form(
        &app,
        &app.client,
        "/api/rules/learn",
        &[("target_id", &target.id.to_string())],
    )
    .await;
    assert_eq!(code, 200, "{learned}");
    assert!(learned["hours"].as_u64() >= Some(1));
    assert!(
        learned["p50_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{learned}"
    );
    let overrides = app
        .state
        .store
        .baseline_overrides()
        .await
        .expect("overrides");
    assert_eq!(overrides.len(), 1, "learning saved nothing");

    // A silence that matches nothing says so; ending it twice is refused.
    let (code, silence) = post_form(
        &app,
        &app.client,
        "/api/silences/create",
        &[
            ("target", "no-such-target"),
            ("tag", ""),
            ("rule", ""),
            ("reason", "typo"),
            ("starts_in_minutes", ""),
            ("duration_minutes", "30"),
            ("weekdays", ""),
            ("window_start", ""),
            ("window_minutes", ""),
            ("until_days", ""),
        ],
    )
    .await;
    assert_eq!(code, 200, "{silence}");
    let (_, list) = post_form(&app, &app.client, "/api/silences/list", &[]).await;
    assert_eq!(list[0]["targets_matched"], 0);
    assert_eq!(list[0]["status"], "active");
    let id = silence["id"].to_string();
    let (code, _) = post_form(&app, &app.client, "/api/silences/expire", &[("id", &id)]).await;
    assert_eq!(code, 200);
    let (code, body) = post_form(&app, &app.client, "/api/silences/expire", &[("id", &id)]).await;
    assert_eq!(code, 409, "{body}");
    let (_, list) = post_form(&app, &app.client, "/api/silences/list", &[]).await;
    assert_eq!(list[0]["status"], "expired");
    let (code, body) = post_form(
        &app,
        &app.client,
        "/api/silences/create",
        &[
            ("target", ""),
            ("tag", ""),
            ("rule", ""),
            ("reason", ""),
            ("starts_in_minutes", ""),
            ("duration_minutes", ""),
            ("weekdays", ""),
            ("window_start", ""),
            ("window_minutes", ""),
            ("until_days", ""),
        ],
    )
    .await;
    assert_eq!(code, 422);
    assert!(body["Invalid"]["target"].is_string() && body["Invalid"]["reason"].is_string());
    fleet.shutdown();
}

#[tokio::test]
async fn a_missed_backup_rpo_is_notified_and_audited_then_cleared() {
    use mcpops::domain::backups::{NewBackupRun, RunKind};
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let good_backup = |finished: chrono::DateTime<chrono::Utc>| NewBackupRun {
            kind: RunKind::Backup,
            actor: "test".into(),
            archive: "mcpops-test.tar.gz".into(),
            started_at: finished - chrono::Duration::seconds(5),
            finished_at: finished,
            ok: true,
            bytes: Some(1),
            detail: String::new(),
        };
        let store = mcpops::server::store::open(db.url(), &Default::default())
            .await
            .expect("store");
        // The last good backup finished two hours ago: past the one-hour RPO.
        let two_hours_ago = chrono::Utc::now() - chrono::Duration::hours(2);
        store
            .record_backup_run(&good_backup(two_hours_ago), common::test_event())
            .await
            .expect("run");
        store.close().await;
        let app = spawn_app_with(db.url(), None, |c| {
            // Scheduled (so the RPO is watched), but not due for hours.
            c.backup.every_minutes = 600;
            c.backup.rpo_check_secs = 1;
        })
        .await;
        let (receiver, addr) = Receiver::start(0).await;
        let hook = format!("http://{addr}/hook/rpo");
        create_webhook(&app, "ops", &hook, "warning").await;
        let firing = eventually(Duration::from_secs(15), "RPO notice", || {
            let receiver = receiver.clone();
            async move { receiver.notices("firing").into_iter().next() }
        })
        .await;
        assert!(
            firing["summary"]
                .as_str()
                .unwrap_or_default()
                .contains("Backup RPO missed"),
            "{firing}"
        );
        assert_eq!(firing["severity"], "critical");
        let (_, warning) = post_form(&app, &app.client, "/api/backups/health", &[]).await;
        assert!(
            warning.as_str().unwrap_or_default().contains("2 h"),
            "{backend:?}: {warning}"
        );

        // A backup finishes: the RPO is met again and the channel hears so once.
        app.state
            .store
            .record_backup_run(&good_backup(chrono::Utc::now()), common::test_event())
            .await
            .expect("run");
        eventually(Duration::from_secs(15), "RPO met notice", || {
            let receiver = receiver.clone();
            async move { receiver.notices("resolved").into_iter().next() }
        })
        .await;
        let (_, warning) = post_form(&app, &app.client, "/api/backups/health", &[]).await;
        assert!(warning.is_null(), "{warning}");
        assert_eq!(
            receiver.notices("firing").len(),
            1,
            "notified once while missed"
        );
        let audit = app.state.store.audit_after(0, 1000).await.expect("audit");
        for action in ["rpo_missed", "rpo_met"] {
            assert!(
                audit
                    .iter()
                    .any(|e| e.event.event_type == "backup" && e.event.action == action),
                "{backend:?}: no {action} entry"
            );
        }
        app.stop().await.expect("stops");
    }
}

/// A fleet-wide outage is more alerts than a wall can list: it lists the first few, firing
/// first, and counts them all, so the headline is the true number.
#[tokio::test]
async fn the_wall_lists_a_few_alerts_and_counts_them_all() {
    use mcpops::server::store::AlertChange;
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let app = spawn_app_with(db.url(), None, |_| {}).await;
        let store = app.state.store.clone();
        // Rules a target that cannot be reached never opens, so the engine adds none of
        // these; it may add its own "down" alerts, which only raise the firing count.
        let rules = [
            RuleKind::ToolDrift,
            RuleKind::LatencyP50,
            RuleKind::LatencyP99,
            RuleKind::Traffic,
        ];
        let mut opened = Vec::new();
        for n in 0..3 {
            let target =
                common::add_target(store.as_ref(), &format!("outage-{n}"), "http://127.0.0.1:9")
                    .await;
            for rule in rules {
                let state = if opened.len() == 11 {
                    AlertState::Pending
                } else {
                    AlertState::Firing
                };
                let alert = common::open_test_alert(store.as_ref(), target.id, rule, state).await;
                opened.push(alert.id);
            }
        }
        let acknowledge = AlertChange {
            to: AlertState::Acknowledged,
            expected: &[AlertState::Firing],
            at: chrono::Utc::now(),
            actor: "alice".into(),
            note: "on it".into(),
            summary: None,
            silenced: None,
        };
        store
            .change_alert(opened[0], &acknowledge, common::test_event())
            .await
            .expect("acknowledge");

        let (_, viewer) = app.signed_in(mcpops::domain::auth::Role::Viewer).await;
        let (status, wall) = post_form(&app, &viewer, "/api/alerts/wall", &[]).await;
        assert_eq!(status, 200, "{backend:?}: {wall}");
        let shown = wall["shown"].as_array().expect("shown");
        let firing = wall["firing"].as_i64().expect("firing");
        let acknowledged = wall["acknowledged"].as_i64().expect("acknowledged");
        assert_eq!(shown.len(), 8, "{backend:?}: a wall lists a few");
        assert!(
            firing >= 10,
            "{backend:?}: all ten firing are counted, not {firing}"
        );
        assert_eq!(acknowledged, 1, "{backend:?}");
        assert!(
            shown.iter().all(|a| a["state"] == "firing"),
            "{backend:?}: firing first, pending never: {shown:?}"
        );
    }
}

/// After a restart the engine takes up every open alert, however many: one left out would
/// never resolve, since its rule would start again from idle. 5,000 firing alerts sort ahead
/// of the pending one on the healthy demo server, which must still resolve.
#[tokio::test]
async fn a_restarted_engine_takes_up_every_open_alert() {
    use mcpops::domain::target::{TargetSource, TargetSpec};
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let fleet = Arc::new(DemoFleet::start(1).await.expect("fleet"));
        let store = mcpops::server::startup::open_store(&common::test_config(db.url()))
            .await
            .expect("store");
        fleet
            .register(store.as_ref(), Default::default())
            .await
            .expect("register");
        let demo = store.list_targets().await.expect("targets")[0].clone();
        // Unreachable, and polled at most once an hour, so they change nothing here.
        let rules: Vec<RuleKind> = RuleKind::ALL
            .into_iter()
            .filter(|r| *r != RuleKind::TargetDown)
            .collect();
        for n in 0..5000 / rules.len() {
            let spec =
                TargetSpec::from_form(&format!("gone-{n}"), "http://127.0.0.1:9", "3600", "")
                    .expect("spec");
            let target = store
                .insert_target(&spec, TargetSource::Ui, common::test_event())
                .await
                .expect("target");
            for &rule in &rules {
                common::open_test_alert(store.as_ref(), target.id, rule, AlertState::Firing).await;
            }
        }
        common::open_test_alert(
            store.as_ref(),
            demo.id,
            RuleKind::TargetDown,
            AlertState::Pending,
        )
        .await;
        drop(store);

        let app = spawn_app_with(db.url(), Some(fleet.clone()), |config| {
            config.demo.interval_secs = INTERVAL_SECS as u32;
        })
        .await;
        eventually(
            Duration::from_secs(20),
            "the demo server's pending alert to resolve",
            || async {
                let query = AlertQuery {
                    target_ids: vec![demo.id],
                    limit: 10,
                    ..AlertQuery::default()
                };
                let alerts = app.state.store.alerts(&query).await.ok()?;
                (!alerts.is_empty() && alerts.iter().all(|a| a.state == AlertState::Resolved))
                    .then_some(())
            },
        )
        .await;
        fleet.shutdown();
    }
}

/// A server that accepts polls and never answers: after three intervals its tile turns stale
/// in every live view and `polls_stopped` fires; once it answers again, both clear.
async fn a_hung_server_turns_stale_and_raises_polls_stopped(backend: Backend) {
    use mcpops::domain::observation::TargetState;
    let db = TestDb::new(backend).await;
    let fleet = Arc::new(DemoFleet::start(2).await.expect("fleet"));
    let app = spawn_app_with(db.url(), Some(fleet.clone()), |config| {
        config.demo.interval_secs = INTERVAL_SECS as u32;
        // A hung poll waits this long: well past three intervals.
        config.collector.timeout_ms = 8_000;
        config.alerts.min_firing_secs = 0;
    })
    .await;
    let target = eventually(Duration::from_secs(10), "demo-02 polled", || async {
        let targets = app.state.store.list_targets().await.ok()?;
        let id = targets.iter().find(|t| t.name == "demo-02")?.id;
        (app.state.hub.states().get(&id) == Some(&TargetState::Up)).then_some(id)
    })
    .await;

    let hung = Instant::now();
    fleet
        .set_fault("demo-02", DemoFault::Hang, true)
        .await
        .expect("fault");
    eventually(
        Duration::from_secs(15),
        "demo-02 stale and alerted",
        || async {
            let stale = app.state.hub.states().get(&target) == Some(&TargetState::Stale);
            let alert = common::alert_on(&app, "demo-02", RuleKind::PollsStopped).await;
            (stale && alert.is_some_and(|a| a.state == AlertState::Firing)).then_some(())
        },
    )
    .await;
    println!(
        "{backend:?}: hung → stale and polls_stopped firing after {:.1} s",
        hung.elapsed().as_secs_f64()
    );
    let other = app
        .state
        .hub
        .states()
        .into_iter()
        .filter(|(id, _)| *id != target)
        .map(|(_, state)| state)
        .collect::<Vec<_>>();
    assert_eq!(
        other,
        vec![TargetState::Up],
        "{backend:?}: only the hung one"
    );

    fleet
        .set_fault("demo-02", DemoFault::Hang, false)
        .await
        .expect("clear");
    eventually(
        Duration::from_secs(30),
        "polls_stopped resolved",
        || async {
            let polled = app.state.hub.states().get(&target) != Some(&TargetState::Stale);
            let alert = common::alert_on(&app, "demo-02", RuleKind::PollsStopped).await;
            let resolved = alert.is_some_and(|a| a.state == AlertState::Resolved);
            (polled && resolved).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_hung_server_turns_stale_and_raises_polls_stopped_on_both_backends() {
    common::on_each_backend(a_hung_server_turns_stale_and_raises_polls_stopped).await;
}
