//! mcpops' own operability over real HTTP: health, readiness, metrics, request ids, limits.
mod common;

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
