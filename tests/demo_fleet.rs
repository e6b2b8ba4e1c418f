//! The simulated fleet behaves like real MCP servers, and its faults take effect.
use crate::common;

use chrono::{DurationRound, Utc};
use common::{BACKENDS, TestDb, spawn_app, test_config};
use mcpops::domain::demo::DemoFault;
use mcpops::domain::observation::SampleRow;
use mcpops::domain::target::Interval;
use mcpops::server::demo::DemoFleet;
use mcpops::server::startup::open_store;
use mcpops::server::store::{SampleTable, Store};
use serde_json::{Value, json};
use std::sync::Arc;

const ACCEPT_BOTH: &str = "application/json, text/event-stream";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

async fn rpc(
    client: &reqwest::Client,
    url: &str,
    session: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut request = client.post(url).header("accept", ACCEPT_BOTH).json(&body);
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    request.send().await.expect("rpc")
}

#[tokio::test]
async fn metrics_carry_the_operations_guide_names() {
    let fleet = DemoFleet::start(2).await.expect("fleet");
    let server = &fleet.servers()[0];
    // The fleet ticks once a second; wait for traffic instead of sleeping a fixed time.
    let mut text = String::new();
    for _ in 0..50 {
        text = client()
            .get(format!("http://{}/metrics", server.addr))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        if !text.contains("mcp_request_duration_seconds_count 0") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for name in [
        "mcp_requests_total{",
        "mcp_request_duration_seconds_bucket{le=\"+Inf\"}",
        "mcp_errors_total{",
        "mcp_active_connections ",
        "tools_executed_total{",
        "resources_accessed_total ",
        "user_sessions_active ",
        "api_quota_remaining ",
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
    ] {
        assert!(text.contains(name), "missing {name} in\n{text}");
    }
    assert!(
        !text.contains("mcp_request_duration_seconds_count 0\n"),
        "traffic flows:\n{text}"
    );
    fleet.shutdown();
}

#[tokio::test]
async fn mcp_session_lifecycle_over_streamable_http() {
    let fleet = DemoFleet::start(1).await.expect("fleet");
    let url = format!("http://{}/mcp", fleet.servers()[0].addr);
    let client = client();

    let refused = client
        .post(&url)
        .header("accept", "application/json")
        .json(&json!({}))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), 406);

    let init = rpc(&client, &url, None, json!({"jsonrpc":"2.0","id":1,"method":"initialize",
        "params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})).await;
    assert_eq!(init.status(), 200);
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let body: Value = init.json().await.expect("json");
    assert_eq!(body["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(body["result"]["serverInfo"]["name"], "mcpops-demo/demo-01");

    let note = rpc(
        &client,
        &url,
        Some(&session),
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    )
    .await;
    assert_eq!(note.status(), 202);
    let ping: Value = rpc(
        &client,
        &url,
        Some(&session),
        json!({"jsonrpc":"2.0","id":2,"method":"ping"}),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(ping["result"], json!({}));
    let tools: Value = rpc(
        &client,
        &url,
        Some(&session),
        json!({"jsonrpc":"2.0","id":3,"method":"tools/list"}),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(tools["result"]["tools"].as_array().expect("tools").len(), 3);

    let unknown = rpc(
        &client,
        &url,
        Some("no-such-session"),
        json!({"jsonrpc":"2.0","id":4,"method":"ping"}),
    )
    .await;
    assert_eq!(unknown.status(), 404);

    let deleted = client
        .delete(&url)
        .header("mcp-session-id", &session)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 200);
    let after = rpc(
        &client,
        &url,
        Some(&session),
        json!({"jsonrpc":"2.0","id":5,"method":"ping"}),
    )
    .await;
    assert_eq!(after.status(), 404, "a deleted session is gone");
    fleet.shutdown();
}

#[tokio::test]
async fn down_refuses_connections_and_recovery_listens_on_the_same_port() {
    let fleet = DemoFleet::start(2).await.expect("fleet");
    let server = fleet.servers()[1].clone();
    let live = format!("http://{}/health/live", server.addr);
    assert_eq!(client().get(&live).send().await.expect("up").status(), 200);

    fleet
        .set_fault(&server.name, DemoFault::Down, true)
        .await
        .expect("inject");
    let err = client().get(&live).send().await.expect_err("down");
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(
        client()
            .get(format!("http://{}/health/live", fleet.servers()[0].addr))
            .send()
            .await
            .expect("other up")
            .status(),
        200,
        "other servers are unaffected"
    );

    fleet
        .set_fault(&server.name, DemoFault::Down, false)
        .await
        .expect("clear");
    assert_eq!(
        client().get(&live).send().await.expect("back").status(),
        200
    );
    fleet.shutdown();
}

#[tokio::test]
async fn not_ready_names_the_failing_check_and_drift_changes_the_tools() {
    let fleet = DemoFleet::start(1).await.expect("fleet");
    let server = fleet.servers()[0].clone();
    fleet
        .set_fault(&server.name, DemoFault::NotReady, true)
        .await
        .expect("inject");
    let ready = client()
        .get(format!("http://{}/health/ready", server.addr))
        .send()
        .await
        .expect("get");
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["checks"]["database"], false);

    fleet
        .set_fault(&server.name, DemoFault::ToolDrift, true)
        .await
        .expect("drift");
    let url = format!("http://{}/mcp", server.addr);
    let client = client();
    let init = rpc(
        &client,
        &url,
        None,
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}),
    )
    .await;
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let tools: Value = rpc(
        &client,
        &url,
        Some(&session),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
    )
    .await
    .json()
    .await
    .expect("json");
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"run_shell"), "{names:?}");
    assert!(matches!(
        fleet.set_fault("demo-99", DemoFault::Down, true).await,
        Err(mcpops::server::demo::DemoError::UnknownServer(name)) if name == "demo-99"
    ));
    fleet.shutdown();
}

#[tokio::test]
async fn the_demo_registers_its_servers_as_targets_and_faults_are_set_from_the_page_api() {
    let db = TestDb::sqlite();
    let fleet = Arc::new(DemoFleet::start(3).await.expect("fleet"));
    let app = spawn_app(db.url(), Some(fleet.clone())).await;
    let targets = app.state.store.list_targets().await.expect("list");
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, vec!["demo-01", "demo-02", "demo-03"]);
    assert!(targets.iter().all(|t| t.tags.contains(&"demo".to_owned())));
    assert_eq!(
        targets[0].base_url,
        format!("http://{}", fleet.servers()[0].addr)
    );

    let response = app
        .client
        .post(app.url("/api/demo/fault"))
        .form(&[("server", "demo-02"), ("fault", "errors"), ("on", "true")])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    assert!(fleet.servers()[1].has_fault(DemoFault::ErrorBurst));
    let bad = app
        .client
        .post(app.url("/api/demo/fault"))
        .form(&[("server", "demo-02"), ("fault", "meteor"), ("on", "true")])
        .send()
        .await
        .expect("post");
    assert_eq!(bad.status(), 422);
    fleet.shutdown();
}

/// Rows per target of `table` in the day (or month) before `now`.
async fn seeded_rows(
    store: &dyn Store,
    table: SampleTable,
    id: i64,
    now: chrono::DateTime<Utc>,
) -> Vec<SampleRow> {
    store
        .samples(table, Some(id), now - chrono::Duration::days(31), now)
        .await
        .expect("samples")
}

#[tokio::test]
async fn a_seed_cut_short_is_written_again_in_full_and_a_finished_one_is_left_alone() {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let store = open_store(&test_config(db.url())).await.expect("store");
        let fleet = DemoFleet::start(3).await.expect("fleet");
        fleet
            .register(store.as_ref(), Interval::default())
            .await
            .expect("register");
        let targets = store.list_targets().await.expect("targets");
        let now = Utc::now();
        let hour_end = now
            .duration_trunc(chrono::Duration::hours(1))
            .expect("hour");

        // What a seed stopped part way leaves: rows of its first steps, no rollup marks.
        let partial = SampleRow {
            target_id: targets[0].id,
            at: hour_end - chrono::Duration::hours(1),
            ..SampleRow::default()
        };
        store
            .record_rollups(SampleTable::Hour, std::slice::from_ref(&partial), None)
            .await
            .expect("partial seed");

        fleet.seed_history(store.as_ref(), now).await.expect("seed");
        for target in &targets {
            let hours = seeded_rows(store.as_ref(), SampleTable::Hour, target.id, now).await;
            let minutes = seeded_rows(store.as_ref(), SampleTable::Minute, target.id, now).await;
            assert_eq!(hours.len(), 30 * 24, "{backend:?} {}", target.name);
            assert_eq!(minutes.len(), 24 * 60, "{backend:?} {}", target.name);
            assert!(
                hours.iter().all(|row| row.requests.is_some()),
                "{backend:?}: the cut-short row is written over"
            );
        }
        assert_eq!(
            store
                .rollup_progress(SampleTable::Hour)
                .await
                .expect("mark"),
            Some(hour_end),
            "{backend:?}"
        );
        // The wall's fleet charts have their last hour at once.
        let fleet_rows = store
            .samples(
                SampleTable::FleetMinute,
                None,
                now - chrono::Duration::hours(2),
                now,
            )
            .await
            .expect("fleet rows");
        assert_eq!(
            fleet_rows.len(),
            60,
            "{backend:?}: an hour of fleet minutes"
        );
        assert!(
            fleet_rows
                .iter()
                .all(|row| row.requests.is_some_and(|r| r > 0.0)),
            "{backend:?}: every fleet minute carries the fleet's traffic"
        );

        // A later start finds the marks and seeds nothing: no hours after the first seed's.
        let later = now + chrono::Duration::hours(3);
        fleet
            .seed_history(store.as_ref(), later)
            .await
            .expect("second seed");
        let hours = seeded_rows(store.as_ref(), SampleTable::Hour, targets[0].id, later).await;
        assert!(
            hours.iter().all(|row| row.at < hour_end),
            "{backend:?}: a second seed wrote more history"
        );
        fleet.shutdown();
    }
}
