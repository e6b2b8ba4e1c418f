//! mcpops' own operability over real HTTP: health, readiness, metrics, request ids, limits.
use crate::common;

use common::{BACKENDS, Backend, TestDb, spawn_app};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

#[tokio::test]
async fn liveness_answers_alive() {
    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;
    let response = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body, serde_json::json!({"status": "alive"}));
}

#[tokio::test]
async fn readiness_reports_the_database_on_both_backends() {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let app = spawn_app(db.url(), None).await;
        let response = app
            .client
            .get(app.url("/health/ready"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{backend:?}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["status"], "ready");
        assert_eq!(body["checks"]["database"], true);
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_include_the_process() {
    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;
    for _ in 0..3 {
        app.client
            .get(app.url("/health/live"))
            .send()
            .await
            .expect("request");
    }
    app.client
        .get(app.url("/no/such/page"))
        .send()
        .await
        .expect("request");
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains(
            r#"mcpops_http_requests_total{method="GET",route="/health/live",status="200"} 3"#
        ),
        "{text}"
    );
    assert!(
        text.contains("mcpops_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(text.contains("process_resident_memory_bytes"), "{text}");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_a_given_one() {
    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;
    let generated = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .expect("request");
    let id = generated
        .headers()
        .get("x-request-id")
        .expect("generated id");
    assert_eq!(id.len(), 36, "a UUID");
    let given = app
        .client
        .get(app.url("/health/live"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .expect("request");
    assert_eq!(given.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn oversized_request_bodies_are_refused() {
    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;
    let body = "name=".to_owned() + &"x".repeat(2 * 1024 * 1024);
    let response = app
        .client
        .post(app.url("/api/targets/add"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 413);
    assert!(
        app.state
            .store
            .list_targets()
            .await
            .expect("list")
            .is_empty()
    );
}

/// A TCP relay in front of PostgreSQL that can be cut and restored, to play a database outage.
struct Relay {
    addr: SocketAddr,
    cut: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(addr: SocketAddr, upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).await.expect("relay binds");
        let addr = listener.local_addr().expect("relay addr");
        let cut = Arc::new(Notify::new());
        let stop = cut.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    () = stop.notified() => break,
                    accepted = listener.accept() => {
                        let Ok((mut client, _)) = accepted else { continue };
                        connections.spawn(async move {
                            if let Ok(mut server) = TcpStream::connect(upstream).await {
                                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            }
                        });
                    }
                }
            }
            // Dropping the set aborts every relayed connection: the database "goes away".
            connections.shutdown().await;
        });
        Self { addr, cut, task }
    }

    async fn cut(self) -> SocketAddr {
        self.cut.notify_one();
        let _ = self.task.await;
        self.addr
    }
}

#[tokio::test]
async fn readiness_turns_503_while_the_database_is_gone_and_recovers() {
    let db = TestDb::new(Backend::Postgres).await;
    let upstream: SocketAddr = "127.0.0.1:5432".parse().expect("addr");
    let relay = Relay::start("127.0.0.1:0".parse().expect("addr"), upstream).await;
    let mut url = url::Url::parse(db.url()).expect("url");
    url.set_port(Some(relay.addr.port())).expect("port");
    let app = spawn_app(url.as_str(), None).await;
    let ready = |app: &common::TestApp| {
        let request = app.client.get(app.url("/health/ready")).send();
        async move {
            let response = request.await.expect("request");
            let status = response.status().as_u16();
            let body: Value = response.json().await.expect("json");
            (status, body)
        }
    };
    assert_eq!(ready(&app).await.0, 200);

    let addr = relay.cut().await;
    let (status, body) = ready(&app).await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["database"], false);

    let _relay = Relay::start(addr, upstream).await;
    let (status, body) = ready(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["database"], true);
}

#[tokio::test]
async fn graceful_shutdown_ends_open_event_streams() {
    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;
    let stream = app
        .client
        .get(app.url("/events"))
        .send()
        .await
        .expect("events");
    assert_eq!(stream.status(), 200);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/event-stream")
    );
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(5), app.stop()).await;
    assert!(
        matches!(stopped, Ok(Ok(()))),
        "shutdown must not wait for the open stream: {stopped:?}"
    );
    drop(stream);
}

/// Counts the `updates` events in the stream until `wanted` have arrived.
async fn count_update_events(mut stream: reqwest::Response, wanted: usize) -> usize {
    let mut text = String::new();
    let mut seen = 0;
    while seen < wanted {
        match stream.chunk().await {
            Ok(Some(chunk)) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => break,
        }
        // Count whole events only, keeping a partial one for the next chunk.
        while let Some(end) = text.find("\n\n") {
            seen += usize::from(text[..end].contains("event: updates"));
            text.drain(..end + 2);
        }
    }
    seen
}

#[tokio::test]
async fn a_live_page_that_stops_reading_is_dropped_and_the_others_get_every_update() {
    const BATCHES: usize = 600;
    let db = TestDb::sqlite();
    let app = common::spawn_app_with(db.url(), None, |config| config.server.live_queue = 16).await;
    let open = || async {
        let stream = app
            .client
            .get(app.url("/events"))
            .send()
            .await
            .expect("events");
        assert_eq!(stream.status(), 200);
        stream
    };
    let reader = tokio::spawn(count_update_events(open().await, BATCHES));
    // Opened and never read: the socket buffers fill, then its queue in the hub.
    let stalled = open().await;
    common::eventually(
        std::time::Duration::from_secs(5),
        "both pages follow the hub",
        || async { (app.state.hub.listeners() == 2).then_some(()) },
    )
    .await;
    // 600 batches of 20 updates of about 2 KB: 24 MB, more than loopback buffers hold.
    let update = |target_id| mcpops::domain::observation::LiveUpdate {
        target_id,
        at_ms: 0,
        state: mcpops::domain::observation::TargetState::Down,
        p95_ms: None,
        error_ratio: None,
        rps: None,
        error: Some("x".repeat(2000)),
        probe_ms: None,
    };
    for batch in 0..BATCHES as i64 {
        app.state
            .hub
            .publish((0..20).map(|i| update(batch * 20 + i)).collect());
        // Paced, as ingest publishes: the reading page keeps up.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let received = tokio::time::timeout(std::time::Duration::from_secs(30), reader)
        .await
        .expect("the reading page got its updates in time")
        .expect("reader");
    assert_eq!(received, BATCHES, "the reading page missed nothing");
    assert_eq!(
        app.state.hub.listeners(),
        1,
        "the stalled page left the hub"
    );
    // Its stream was ended by the server: reading it now comes to an end.
    let leftover = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        count_update_events(stalled, usize::MAX),
    )
    .await
    .expect("the stalled page's stream ends");
    assert!(leftover < BATCHES, "{leftover}");
}

#[tokio::test]
async fn malformed_server_function_arguments_are_the_callers_mistake() {
    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;
    for (what, body) in [("not a number", "id=abc"), ("missing", "")] {
        let response = app
            .client
            .post(app.url("/api/targets/get"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("call");
        assert_eq!(response.status(), 400, "{what}");
        let error: Value = response.json().await.expect("json");
        assert!(error.get("BadRequest").is_some(), "{what}: {error}");
    }
}

/// A page rendered while files load alongside keeps its own CSP nonce: its inline scripts
/// must run, or the page never becomes interactive.
#[tokio::test]
async fn every_page_keeps_its_script_nonce_while_files_load_alongside() {
    use futures::StreamExt;
    let site = tempfile::tempdir().expect("dir");
    std::fs::create_dir(site.path().join("pkg")).expect("pkg");
    std::fs::write(site.path().join("pkg/site.css"), "body { margin: 0 }").expect("css");
    let db = TestDb::sqlite();
    let site_root = site.path().to_path_buf();
    let app = common::spawn_app_with(db.url(), None, move |config| {
        config.server.site_root = site_root;
    })
    .await;
    let file = app
        .anonymous
        .get(app.url("/pkg/site.css"))
        .send()
        .await
        .expect("file");
    assert_eq!(file.status(), 200);
    let missing = app
        .anonymous
        .get(app.url("/pkg/nothing.css"))
        .send()
        .await
        .expect("404");
    assert_eq!(
        missing.status(),
        404,
        "an unknown path is the not-found page"
    );

    enum Fetched {
        Page(Option<String>, String),
        File,
    }
    let requests = (0..600).map(|i| {
        let (client, app) = (&app.anonymous, &app);
        async move {
            if i % 3 == 0 {
                let response = client.get(app.url("/login")).send().await.expect("page");
                let policy = response
                    .headers()
                    .get("content-security-policy")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                Fetched::Page(policy, response.text().await.expect("body"))
            } else {
                let response = client
                    .get(app.url("/pkg/site.css"))
                    .send()
                    .await
                    .expect("file");
                assert_eq!(response.status(), 200);
                Fetched::File
            }
        }
    });
    let fetched: Vec<Fetched> = futures::stream::iter(requests)
        .buffer_unordered(12)
        .collect()
        .await;
    let mut pages = 0;
    for item in fetched {
        let Fetched::Page(policy, body) = item else {
            continue;
        };
        pages += 1;
        let nonce = body
            .split("<script nonce=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the page has an inline script with a nonce");
        let policy = policy.unwrap_or_default();
        assert!(
            policy.contains(&format!("'nonce-{nonce}'")),
            "page {pages}: its policy {policy:?} does not allow its scripts (nonce {nonce})"
        );
    }
    assert_eq!(pages, 200);
}
