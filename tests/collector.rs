//! The collector against real HTTP servers on loopback: the demo fleet, and servers built to
//! misbehave. Every misbehaving target must show its own reason while the others stay polled.
use crate::common;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use common::hostile::hostile_server;
use common::{BACKENDS, TestApp, TestDb, eventually, spawn_app_with};
use mcpops::domain::demo::DemoFault;
use mcpops::domain::observation::{TargetState, TargetStatus};
use mcpops::server::demo::DemoFleet;
use mcpops::server::store::{self, SampleTable, StoreOptions};
use std::sync::Arc;
use std::time::Duration;

async fn status_of(app: &TestApp, name: &str) -> Option<TargetStatus> {
    let targets = app.state.store.list_targets().await.ok()?;
    let id = targets.iter().find(|t| t.name == name)?.id;
    app.state
        .store
        .target_statuses()
        .await
        .ok()?
        .into_iter()
        .find(|s| s.target_id == id)
}

/// Waits until a target has a stored sample with a rate and a latency (two scrapes compared).
async fn samples_with_latency(
    app: &TestApp,
    id: i64,
) -> Vec<mcpops::domain::observation::SampleRow> {
    eventually(Duration::from_secs(10), "samples with latency", || async {
        let now = chrono::Utc::now();
        let from = now - chrono::Duration::minutes(5);
        let rows = app
            .state
            .store
            .samples(SampleTable::Raw, Some(id), from, now)
            .await
            .ok()?;
        rows.iter()
            .any(|r| r.p95.is_some() && r.rps().is_some())
            .then_some(rows)
    })
    .await
}

async fn wait_for_state(app: &TestApp, name: &str, state: TargetState) -> TargetStatus {
    eventually(
        Duration::from_secs(10),
        &format!("{name} to be {state:?}"),
        || async { status_of(app, name).await.filter(|s| s.state == state) },
    )
    .await
}

#[tokio::test]
async fn demo_fleet_is_polled_stored_and_faults_show_up_on_both_backends() {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let fleet = Arc::new(DemoFleet::start(3).await.expect("fleet"));
        let app = spawn_app_with(db.url(), Some(fleet.clone()), |c| c.demo.interval_secs = 1).await;

        let up = wait_for_state(&app, "demo-01", TargetState::Up).await;
        let mcp = up.mcp.expect("mcp report");
        assert_eq!(mcp.protocol_version, "2025-11-25", "{backend:?}");
        assert_eq!(mcp.server_name, "mcpops-demo/demo-01");
        let steps: Vec<&str> = mcp.steps.iter().map(|(s, _)| s.as_str()).collect();
        assert!(
            steps == ["ping"] || steps.contains(&"initialize"),
            "{steps:?}"
        );
        // Between full handshakes a poll only pings; the last full handshake is kept with it.
        let pinged = eventually(Duration::from_secs(10), "a ping-only poll", || async {
            status_of(&app, "demo-01")
                .await
                .and_then(|s| s.mcp)
                .filter(|m| m.steps.len() == 1 && m.steps[0].0 == "ping")
        })
        .await;
        let full = pinged.full_handshake.expect("the last full handshake");
        let full_steps: Vec<&str> = full.steps.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(
            full_steps,
            [
                "initialize",
                "notifications/initialized",
                "ping",
                "tools/list"
            ],
            "{backend:?}"
        );

        fleet
            .set_fault("demo-02", DemoFault::Down, true)
            .await
            .expect("down");
        let down = wait_for_state(&app, "demo-02", TargetState::Down).await;
        assert_eq!(down.failures[0].probe, "liveness");
        assert_eq!(down.failures[0].reason, "connection refused");
        assert_eq!(
            down.failures.len(),
            1,
            "an unreachable target is not probed further: {:?}",
            down.failures
        );

        fleet
            .set_fault("demo-03", DemoFault::NotReady, true)
            .await
            .expect("not ready");
        let not_ready = wait_for_state(&app, "demo-03", TargetState::NotReady).await;
        assert_eq!(
            not_ready.readiness.expect("readiness").failing(),
            vec!["database"]
        );

        fleet
            .set_fault("demo-02", DemoFault::Down, false)
            .await
            .expect("recover");
        wait_for_state(&app, "demo-02", TargetState::Up).await;

        // Samples carry rates and latency quantiles once two scrapes have been compared.
        let id = app.state.store.list_targets().await.expect("targets")[0].id;
        let samples = samples_with_latency(&app, id).await;
        let with_p95 = samples.iter().find(|r| r.p95.is_some()).expect("p95");
        assert!(
            with_p95.p50 <= with_p95.p95 && with_p95.p95 <= with_p95.p99,
            "{with_p95:?}"
        );
        assert!(with_p95.buckets.as_ref().is_some_and(|b| b.total() > 0.0));

        // The console's own /metrics reports the collector's work.
        let exposition = app
            .anonymous
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        let polls: f64 = exposition
            .lines()
            .find_map(|l| l.strip_prefix("mcpops_collector_polls_total "))
            .and_then(|v| v.trim().parse().ok())
            .expect("polls counter");
        assert!(polls >= 4.0, "{backend:?}: {polls}");
        assert!(exposition.contains("mcpops_collector_schedule_lag_seconds_bucket"));
        fleet.shutdown();
    }
}

#[tokio::test]
async fn a_stop_stores_every_poll_taken_and_closes_every_mcp_session() {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let fleet = Arc::new(DemoFleet::start(3).await.expect("fleet"));
        let app = spawn_app_with(db.url(), Some(fleet.clone()), |c| c.demo.interval_secs = 1).await;
        eventually(
            Duration::from_secs(15),
            "a session on every server",
            || async {
                fleet
                    .servers()
                    .iter()
                    .all(|s| s.open_sessions() > 0)
                    .then_some(())
            },
        )
        .await;
        let stats = app
            .state
            .collector
            .as_ref()
            .expect("collector")
            .stats()
            .clone();
        app.stop().await.expect("stops");
        let polls_taken = stats.polls();

        let sessions: Vec<usize> = fleet.servers().iter().map(|s| s.open_sessions()).collect();
        assert_eq!(sessions, [0, 0, 0], "{backend:?}: sessions left open");
        let store = store::open(db.url(), &StoreOptions::default())
            .await
            .expect("reopens");
        let counts = store.row_counts().await.expect("counts");
        assert_eq!(
            u64::try_from(counts["samples"]).ok(),
            Some(polls_taken),
            "{backend:?}: every poll taken is stored"
        );
        store.close().await;
        fleet.shutdown();
    }
}

#[tokio::test]
async fn tool_drift_records_a_new_catalog_version() {
    let db = TestDb::sqlite();
    let fleet = Arc::new(DemoFleet::start(1).await.expect("fleet"));
    let app = spawn_app_with(db.url(), Some(fleet.clone()), |c| {
        c.demo.interval_secs = 1;
        c.collector.mcp_full_every_secs = 1;
    })
    .await;
    let id = app.state.store.list_targets().await.expect("targets")[0].id;
    eventually(Duration::from_secs(10), "a first catalog", || async {
        app.state
            .store
            .tool_catalogs(id, 10)
            .await
            .ok()
            .filter(|c| c.len() == 1)
    })
    .await;
    fleet
        .set_fault("demo-01", DemoFault::ToolDrift, true)
        .await
        .expect("drift");
    let catalogs = eventually(Duration::from_secs(10), "a second catalog", || async {
        app.state
            .store
            .tool_catalogs(id, 10)
            .await
            .ok()
            .filter(|c| c.len() == 2)
    })
    .await;
    let newest: Vec<&str> = catalogs[0].tools.iter().map(|t| t.name.as_str()).collect();
    assert!(newest.contains(&"run_shell"), "{newest:?}");
    assert!(!catalogs[1].tools.iter().any(|t| t.name == "run_shell"));
    let changed = catalogs[0]
        .tools
        .iter()
        .find(|t| t.name == "create_ticket")
        .expect("tool");
    let before = catalogs[1]
        .tools
        .iter()
        .find(|t| t.name == "create_ticket")
        .expect("tool");
    assert_ne!(
        changed.schema, before.schema,
        "a widened schema is a change"
    );
    fleet.shutdown();
}

/// One server whose path prefixes each misbehave in their own way.
#[tokio::test]
async fn misbehaving_targets_each_show_their_own_reason() {
    let db = TestDb::sqlite();
    let hostile = hostile_server().await;
    let app = spawn_app_with(db.url(), None, |c| {
        c.collector.timeout_ms = 1500;
        c.collector.max_body_bytes = 16 * 1024;
    })
    .await;
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "garbage",
            format!("http://{hostile}/garbage"),
            "metrics",
            "parse error at line 2",
        ),
        (
            "huge",
            format!("http://{hostile}/huge"),
            "metrics",
            "body larger than 16384 bytes",
        ),
        (
            "slow",
            format!("http://{hostile}/slow"),
            "metrics",
            "timed out after 1500 ms",
        ),
        (
            "html",
            format!("http://{hostile}/html"),
            "metrics",
            "unexpected content type 'text/html'",
        ),
        (
            "loop",
            format!("http://{hostile}/loop"),
            "metrics",
            "too many redirects",
        ),
        (
            "noinf",
            format!("http://{hostile}/noinf"),
            "metrics",
            "has no +Inf bucket",
        ),
        (
            "status500",
            format!("http://{hostile}/status500"),
            "metrics",
            "HTTP status 500",
        ),
        (
            "badutf8",
            format!("http://{hostile}/badutf8"),
            "metrics",
            "invalid UTF-8 at line 2",
        ),
        (
            "refused",
            format!("http://{refused}"),
            "liveness",
            "connection refused",
        ),
    ];
    for (name, url, _, _) in &cases {
        common::add_target(app.state.store.as_ref(), name, url).await;
    }
    app.state.targets_changed();
    for (name, _, probe, reason) in &cases {
        let status = eventually(
            Duration::from_secs(10),
            &format!("{name} to fail"),
            || async {
                status_of(&app, name)
                    .await
                    .filter(|s| s.failures.iter().any(|f| f.probe == *probe))
            },
        )
        .await;
        let failure = status
            .failures
            .iter()
            .find(|f| f.probe == *probe)
            .expect("failure");
        assert!(
            failure.reason.contains(reason),
            "{name}: expected '{reason}' in '{}'",
            failure.reason
        );
    }
}

#[tokio::test]
async fn mcp_failures_are_named_and_a_silent_event_stream_times_out() {
    let db = TestDb::sqlite();
    let hostile = hostile_server().await;
    // These servers have no /metrics (404); each MCP failure must still be named on its own.
    let app = spawn_app_with(db.url(), None, |c| c.collector.timeout_ms = 1500).await;
    let cases = [
        ("rpcerr", "JSON-RPC error -32603: backend exploded"),
        ("sse", "timed out after 1500 ms"),
        ("mcp406", "initialize answered HTTP 406"),
        (
            "legacy-elsewhere",
            "the endpoint event names another origin",
        ),
        ("legacy-silent", "timed out after 1500 ms"),
    ];
    for (name, _) in cases {
        let url = format!("http://{hostile}/{name}");
        common::add_target(app.state.store.as_ref(), name, &url).await;
    }
    app.state.targets_changed();
    for (name, reason) in cases {
        let status = eventually(
            Duration::from_secs(15),
            &format!("{name}'s MCP reason"),
            || async {
                status_of(&app, name)
                    .await
                    .filter(|s| s.failures.iter().any(|f| f.probe == "mcp"))
            },
        )
        .await;
        assert_eq!(status.state, TargetState::Degraded, "{name}");
        let failure = status
            .failures
            .iter()
            .find(|f| f.probe == "mcp")
            .expect("mcp failure");
        assert!(
            failure.reason.contains(reason),
            "{name}: expected '{reason}' in '{}'",
            failure.reason
        );
    }
}

#[tokio::test]
async fn the_server_page_and_its_charts_show_what_was_polled() {
    let db = TestDb::sqlite();
    let fleet = Arc::new(DemoFleet::start(2).await.expect("fleet"));
    let app = spawn_app_with(db.url(), Some(fleet.clone()), |c| c.demo.interval_secs = 1).await;
    fleet
        .set_fault("demo-02", DemoFault::NotReady, true)
        .await
        .expect("fault");
    let not_ready = wait_for_state(&app, "demo-02", TargetState::NotReady).await;
    let id = not_ready.target_id;
    samples_with_latency(&app, id).await;

    let svg = app
        .client
        .get(app.url(&format!("/charts/{id}/latency.svg?range=15m")))
        .send()
        .await
        .expect("chart");
    assert_eq!(svg.status(), 200);
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    let body = svg.text().await.expect("svg");
    assert!(
        body.contains("<svg") && body.contains("p95") && body.contains("<polyline"),
        "{body}"
    );

    let bad_range = app
        .client
        .get(app.url(&format!("/charts/{id}/latency.svg?range=2y")))
        .send()
        .await
        .expect("chart");
    assert_eq!(bad_range.status(), 400);
    let unknown = app
        .client
        .get(app.url(&format!("/charts/{id}/nonsense.svg")))
        .send()
        .await
        .expect("chart");
    assert_eq!(unknown.status(), 404);

    let html = app
        .client
        .get(app.url(&format!("/targets/{id}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("demo-02"), "{html}");
    assert!(html.contains("not ready"), "{html}");
    assert!(
        html.contains("failing"),
        "the failing readiness check is listed: {html}"
    );
    assert!(
        html.contains("2025-11-25") && html.contains("<td>ping</td>"),
        "the MCP report is shown: {html}"
    );
    assert!(html.contains("search_docs"), "the tools are listed: {html}");
    fleet.shutdown();
}

/// A server that wants a bearer token everywhere, keeps its endpoints under its own paths,
/// and names its metrics its own way.
async fn custom_server() -> std::net::SocketAddr {
    use std::sync::atomic::{AtomicU64, Ordering};
    let scrapes = Arc::new(AtomicU64::new(0));
    let authorized = |headers: &axum::http::HeaderMap| {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            == Some("Bearer s3cr3t")
    };
    let metrics = move |headers: axum::http::HeaderMap| {
        let scrapes = scrapes.clone();
        async move {
            if !authorized(&headers) {
                return StatusCode::UNAUTHORIZED.into_response();
            }
            let n = scrapes.fetch_add(1, Ordering::Relaxed) + 1;
            let (requests, slow) = (n * 100, n * 10);
            format!(
                "# TYPE http_requests_total counter\nhttp_requests_total {requests}\n\
                 # TYPE http_request_duration_seconds histogram\n\
                 http_request_duration_seconds_bucket{{le=\"0.1\"}} {}\n\
                 http_request_duration_seconds_bucket{{le=\"1\"}} {requests}\n\
                 http_request_duration_seconds_bucket{{le=\"+Inf\"}} {requests}\n\
                 http_request_duration_seconds_sum {n}\nhttp_request_duration_seconds_count {requests}\n",
                requests - slow
            )
            .into_response()
        }
    };
    let health = move |headers: axum::http::HeaderMap| async move {
        if authorized(&headers) {
            (
                StatusCode::OK,
                "{\"status\":\"ok\",\"checks\":{\"database\":\"ok\"}}",
            )
                .into_response()
        } else {
            StatusCode::UNAUTHORIZED.into_response()
        }
    };
    let app = Router::new()
        .route("/status/live", get(health))
        .route("/status/ready", get(health))
        .route("/admin/metrics", get(metrics));
    common::serve_on_loopback(app).await
}

#[tokio::test]
async fn a_target_is_probed_with_its_own_paths_headers_and_metric_names() {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let server = custom_server().await;
        let app = spawn_app_with(db.url(), None, |_| {}).await;
        let url = format!("http://{server}");
        let mut form = vec![
            ("name", "custom"),
            ("base_url", url.as_str()),
            ("interval_secs", "1"),
            ("tags", ""),
            ("probe[timeout_ms]", "800"),
            ("probe[live_path]", "/status/live"),
            ("probe[ready_path]", "/status/ready"),
            ("probe[metrics_path]", "/admin/metrics"),
            ("probe[mcp_path]", ""),
            ("probe[profile]", "guide"),
            (
                "probe[metric_names]",
                "requests_total = http_requests_total\nduration_histogram = http_request_duration_seconds",
            ),
            ("probe[headers]", "Authorization: Bearer s3cr3t"),
        ];
        let bad = {
            let mut bad = form.clone();
            bad[4] = ("probe[timeout_ms]", "5");
            bad[11] = ("probe[headers]", "Host: elsewhere");
            bad
        };
        let response = app
            .client
            .post(app.url("/api/targets/add"))
            .form(&bad)
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 422);
        let body: serde_json::Value = response.json().await.expect("json");
        assert!(
            body["Invalid"]["timeout_ms"].is_string() && body["Invalid"]["headers"].is_string(),
            "{body}"
        );

        let response = app
            .client
            .post(app.url("/api/targets/add"))
            .form(&form)
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
        // Polled through its own paths with its header, and its own metric names read.
        let status = eventually(
            Duration::from_secs(10),
            "signals from the custom target",
            || async {
                status_of(&app, "custom")
                    .await
                    .filter(|s| s.rps.is_some() && s.p95.is_some())
            },
        )
        .await;
        // It does not serve MCP (404): not offered, so it is up on what it does serve.
        assert_eq!(status.state, TargetState::Up, "{:?}", status.failures);
        assert_eq!(status.offers.mcp, mcpops::domain::offers::Offer::NotOffered);
        assert!(status.readiness.is_some_and(|r| r.ready));
        assert!(
            status.p95.is_some_and(|p| p > 0.1),
            "10% of requests were slower than 100 ms"
        );

        // Pages and the audit log see the header's name, never its value.
        let listed = app
            .client
            .post(app.url("/api/targets/list"))
            .send()
            .await
            .expect("list")
            .text()
            .await
            .expect("text");
        assert!(
            listed.contains("Authorization") && !listed.contains("s3cr3t"),
            "{listed}"
        );
        let audit = app
            .client
            .get(app.url("/audit/export?format=csv"))
            .send()
            .await
            .expect("export")
            .text()
            .await
            .expect("csv");
        assert!(audit.contains("/admin/metrics") && !audit.contains("s3cr3t"));

        // An edit that leaves the headers empty keeps them.
        let id = app.state.store.list_targets().await.expect("targets")[0]
            .id
            .to_string();
        form.retain(|(k, _)| *k != "probe[headers]");
        form.push(("probe[headers]", ""));
        form.push(("id", id.as_str()));
        form[3] = ("tags", "edited");
        let response = app
            .client
            .post(app.url("/api/targets/update"))
            .form(&form)
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 200);
        let target = app
            .state
            .store
            .list_targets()
            .await
            .expect("targets")
            .remove(0);
        assert_eq!(target.tags, ["edited"]);
        assert_eq!(
            target.secret_headers,
            [("Authorization".to_owned(), "Bearer s3cr3t".to_owned())]
        );
    }
}
