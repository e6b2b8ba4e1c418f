//! Interoperability: mcpops against servers nobody here wrote, on loopback: the reference
//! Python SDK (Streamable HTTP and the legacy HTTP+SSE transport) and the reference
//! TypeScript server, `server-everything`. None of them has `/health/*` or `/metrics`: they
//! speak MCP and nothing else, as most servers do. `scripts/test.sh` installs both and points
//! `MCPOPS_TEST_PYTHON` and `MCPOPS_TEST_EVERYTHING` at them.
use crate::common;

use axum::routing::get;
use common::{TestApp, TestDb, eventually, serve_on_loopback, spawn_app};
use mcpops::domain::alerts::{AlertQuery, AlertState, RuleKind};
use mcpops::domain::checks::{CheckForm, CheckSpec, Outcome};
use mcpops::domain::observation::{McpReport, TargetState, TargetStatus};
use mcpops::domain::offers::{Offer, ProbeOffers};
use mcpops::domain::target::{TargetSource, TargetSpec};
use mcpops::server::store::ToolCatalog;
use std::time::Duration;

/// A reference server's process, killed when dropped.
struct ReferenceServer {
    process: tokio::process::Child,
    port: u16,
}

impl ReferenceServer {
    /// The Python SDK server of `tests/interop/python_server.py`.
    async fn python(transport: &str) -> Self {
        Self::python_with(&[transport]).await
    }

    /// The Python SDK server protected by `token`, naming `issuer` as its authorization
    /// server.
    async fn python_protected(issuer: &str, token: &str) -> Self {
        Self::python_with(&["streamable-http", issuer, token]).await
    }

    async fn python_with(args: &[&str]) -> Self {
        let python = std::env::var("MCPOPS_TEST_PYTHON").unwrap_or_else(|_| {
            panic!("MCPOPS_TEST_PYTHON is not set: run scripts/test.sh, which installs the Python MCP SDK")
        });
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/python_server.py"
        );
        let port = free_port();
        let mut command = tokio::process::Command::new(python);
        command.arg(script).arg(port.to_string()).args(args);
        Self::start(command, port, "the Python MCP server").await
    }

    /// `server-everything` in `streamableHttp` or `sse` mode. It listens on every interface
    /// and has no host option, so a preload binds it to loopback.
    async fn everything(mode: &str) -> Self {
        let entry = std::env::var("MCPOPS_TEST_EVERYTHING").unwrap_or_else(|_| {
            panic!("MCPOPS_TEST_EVERYTHING is not set: run scripts/test.sh, which installs server-everything")
        });
        let preload = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/loopback.cjs");
        let port = free_port();
        let mut command = tokio::process::Command::new("node");
        command
            .arg("-r")
            .arg(preload)
            .arg(entry)
            .arg(mode)
            .env("PORT", port.to_string());
        Self::start(command, port, "server-everything").await
    }

    async fn start(mut command: tokio::process::Command, port: u16, what: &str) -> Self {
        let process = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{what} starts: {e}"));
        eventually(
            Duration::from_secs(30),
            &format!("{what} to listen"),
            || async move {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
                    .map(|_| ())
            },
        )
        .await;
        Self { process, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn stop(&mut self) {
        self.process.kill().await.expect("the server stops");
    }
}

/// Adds the SDK server as a target and waits for the tool list its first poll stores.
async fn poll_until_tools_are_listed(app: &TestApp, spec: &TargetSpec) -> (i64, ToolCatalog) {
    let id = add(app, spec).await;
    let catalog = eventually(Duration::from_secs(20), "the SDK's tool list", || async {
        app.state
            .store
            .tool_catalogs(id, 1)
            .await
            .ok()?
            .into_iter()
            .next()
    })
    .await;
    let names: Vec<&str> = catalog.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, vec!["add", "echo"]);
    (id, catalog)
}

async fn add(app: &TestApp, spec: &TargetSpec) -> i64 {
    let id = app
        .state
        .store
        .insert_target(spec, TargetSource::Ui, common::test_event())
        .await
        .expect("insert")
        .id;
    app.state.targets_changed();
    id
}

/// The target's first status whose MCP report passes `wanted`.
async fn mcp_status(
    app: &TestApp,
    id: i64,
    what: &str,
    wanted: impl Fn(&McpReport) -> bool,
) -> TargetStatus {
    status_where(app, id, what, |s| s.mcp.as_ref().is_some_and(&wanted)).await
}

/// The target's first status that passes `wanted`.
async fn status_where(
    app: &TestApp,
    id: i64,
    what: &str,
    wanted: impl Fn(&TargetStatus) -> bool,
) -> TargetStatus {
    eventually(Duration::from_secs(20), what, || async {
        app.state
            .store
            .target_status(id)
            .await
            .ok()
            .flatten()
            .filter(&wanted)
    })
    .await
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[tokio::test]
async fn the_mcp_probe_speaks_to_the_reference_python_sdk() {
    let python = ReferenceServer::python("streamable-http").await;
    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;
    let spec = TargetSpec::from_form("python-sdk", &python.url(), "1", "").expect("spec");
    let (id, catalog) = poll_until_tools_are_listed(&app, &spec).await;
    assert!(
        catalog.tools[0].schema.contains("\"a\""),
        "{}",
        catalog.tools[0].schema
    );

    let status = mcp_status(&app, id, "an MCP report", |_| true).await;
    let report = status.mcp.expect("report");
    assert_eq!(report.server_name, "interop-python");
    assert_eq!(report.server_version, "9.9.9");
    // The SDK speaks the stateless 2026-07-28 revision, which the probe tries first.
    assert_eq!(report.protocol_version, "2026-07-28");
    assert!(
        !status.failures.iter().any(|f| f.probe == "mcp"),
        "{:?}",
        status.failures
    );
}

#[tokio::test]
async fn the_mcp_probe_speaks_the_legacy_sse_transport_of_the_reference_python_sdk() {
    let python = ReferenceServer::python("sse").await;
    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;
    // An operator points the MCP path at the server's event stream.
    let mut spec = TargetSpec::from_form("python-sse", &python.url(), "1", "").expect("spec");
    spec.probe.mcp_path = "/sse".into();
    let (id, _) = poll_until_tools_are_listed(&app, &spec).await;

    // The stream stays open between polls: a routine poll is one ping on it.
    let status = mcp_status(&app, id, "a ping-only poll", |m| {
        m.steps.len() == 1 && m.steps[0].0 == "ping"
    })
    .await;
    let report = status.mcp.expect("report");
    assert_eq!(report.server_name, "interop-python");
    assert_eq!(report.protocol_version, "2024-11-05");
    let full: Vec<&str> = report
        .full_handshake
        .as_ref()
        .expect("the last full handshake")
        .steps
        .iter()
        .map(|(s, _)| s.as_str())
        .collect();
    assert_eq!(
        full,
        [
            "GET event stream",
            "initialize",
            "notifications/initialized",
            "ping",
            "tools/list"
        ]
    );
    assert!(
        !status.failures.iter().any(|f| f.probe == "mcp"),
        "{:?}",
        status.failures
    );
}

/// What a server offers that speaks MCP and nothing else.
const MCP_ONLY: ProbeOffers = ProbeOffers {
    live: Offer::NotOffered,
    ready: Offer::NotOffered,
    metrics: Offer::NotOffered,
    mcp: Offer::Offered,
};

/// A synthetic call of a server's read-only echo tool, and the text a good answer holds.
struct EchoCall {
    tool: &'static str,
    arguments: &'static str,
    answer_contains: &'static str,
}

/// A server with nothing but MCP is up, with the MCP answer as its liveness, probe latency
/// on its chart, a synthetic call of its echo tool that passes, and no alert; stopped, it is
/// down and the down alert fires.
async fn judged_on_mcp_alone(
    mut server: ReferenceServer,
    name: &str,
    mcp_path: &str,
    echo: EchoCall,
) {
    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;
    let mut spec = TargetSpec::from_form(name, &server.url(), "1", "").expect("spec");
    spec.probe.mcp_path = mcp_path.into();
    let id = add(&app, &spec).await;
    let form = CheckForm {
        tool: echo.tool.into(),
        arguments: echo.arguments.into(),
        interval_secs: "10".into(),
        text_contains: echo.answer_contains.into(),
        ..CheckForm::default()
    };
    let check = CheckSpec::from_form(&form).expect("check");
    app.state
        .store
        .add_tool_check(id, &check, "test", common::test_event())
        .await
        .expect("add the check");
    app.state.targets_changed();

    let up = |s: &TargetStatus| s.state == TargetState::Up;
    let status = status_where(&app, id, &format!("{name} up"), up).await;
    assert_eq!(status.offers, MCP_ONLY, "{name}: {:?}", status.failures);
    assert!(status.failures.is_empty(), "{name}: {:?}", status.failures);

    // The echo tool is listed as read-only, and the synthetic call of it passes.
    let catalog = app.state.store.tool_catalogs(id, 1).await.expect("tools");
    let listed = catalog[0].tools.iter().find(|t| t.name == echo.tool);
    assert!(listed.is_some_and(|t| t.read_only), "{name}: {listed:?}");
    let called = status_where(&app, id, &format!("{name}'s synthetic call"), |s| {
        !s.checks.is_empty()
    })
    .await;
    assert_eq!(
        called.checks[0].last.outcome,
        Outcome::Passed,
        "{name}: {:?}",
        called.checks
    );
    let results = app
        .state
        .store
        .check_results(id, chrono::Utc::now() - chrono::Duration::minutes(5))
        .await
        .expect("results");
    assert!(
        results
            .first()
            .is_some_and(|r| r.ms.is_some_and(|ms| ms > 0.0)),
        "{name}: {results:?}"
    );

    // Several polls later: probe latency is stored and charted, and nothing has alerted.
    let probed = eventually(
        Duration::from_secs(20),
        &format!("{name}'s probe timings"),
        || async {
            let to = chrono::Utc::now() + chrono::Duration::seconds(1);
            let rows = app
                .state
                .store
                .samples(
                    mcpops::server::store::SampleTable::Raw,
                    Some(id),
                    to - chrono::Duration::minutes(5),
                    to,
                )
                .await
                .ok()?;
            (rows
                .iter()
                .filter(|r| r.mcp_ms.is_some() && r.state == TargetState::Up)
                .count()
                >= 4)
                .then_some(rows)
        },
    )
    .await;
    assert!(
        probed.iter().all(|r| r.requests.is_none()),
        "{name}: no metrics were scraped"
    );
    let svg = app
        .client
        .get(app.url(&format!("/charts/{id}/latency.svg?range=15m")))
        .send()
        .await
        .expect("chart")
        .text()
        .await
        .expect("svg");
    assert!(
        svg.contains("MCP probe p95, measured by mcpops"),
        "{name}: {svg:.300}"
    );
    let query = AlertQuery {
        target_ids: vec![id],
        limit: 100,
        ..AlertQuery::default()
    };
    let alerts = app.state.store.alerts(&query).await.expect("alerts");
    assert!(alerts.is_empty(), "{name}: {alerts:?}");

    server.stop().await;
    let down = |s: &TargetStatus| s.state == TargetState::Down;
    let down = status_where(&app, id, &format!("{name} down"), down).await;
    assert_eq!(down.failures[0].probe, "liveness", "{name}");
    assert_eq!(down.failures[0].reason, "connection refused", "{name}");
    let query = AlertQuery {
        states: vec![AlertState::Firing],
        rule: Some(RuleKind::TargetDown),
        target_ids: vec![id],
        limit: 10,
        ..AlertQuery::default()
    };
    let firing = eventually(
        Duration::from_secs(20),
        &format!("{name}'s down alert"),
        || async {
            app.state
                .store
                .alerts(&query)
                .await
                .ok()
                .and_then(|alerts| alerts.into_iter().next())
        },
    )
    .await;
    assert!(
        firing.summary.contains("connection refused"),
        "{}",
        firing.summary
    );
}

const EVERYTHING_ECHO: EchoCall = EchoCall {
    tool: "echo",
    arguments: r#"{"message": "from mcpops"}"#,
    answer_contains: "Echo: from mcpops",
};

#[tokio::test]
async fn server_everything_over_streamable_http_is_judged_on_mcp_alone() {
    let server = ReferenceServer::everything("streamableHttp").await;
    judged_on_mcp_alone(server, "everything-http", "/mcp", EVERYTHING_ECHO).await;
}

#[tokio::test]
async fn server_everything_over_legacy_sse_is_judged_on_mcp_alone() {
    let server = ReferenceServer::everything("sse").await;
    judged_on_mcp_alone(server, "everything-sse", "/sse", EVERYTHING_ECHO).await;
}

#[tokio::test]
async fn the_python_sdk_server_is_judged_on_mcp_alone() {
    let server = ReferenceServer::python("streamable-http").await;
    let echo = EchoCall {
        tool: "echo",
        arguments: r#"{"text": "from mcpops"}"#,
        answer_contains: "from mcpops",
    };
    judged_on_mcp_alone(server, "python-sdk", "/mcp", echo).await;
}

/// An authorization server's RFC 8414 metadata, naming the address it was asked at.
async fn authorization_server() -> std::net::SocketAddr {
    let metadata = get(|headers: axum::http::HeaderMap| async move {
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        axum::Json(serde_json::json!({
            "issuer": format!("http://{host}"),
            "token_endpoint": format!("http://{host}/token"),
        }))
    });
    serve_on_loopback(
        axum::Router::new().route("/.well-known/oauth-authorization-server", metadata),
    )
    .await
}

#[tokio::test]
async fn a_protected_server_is_alive_without_a_token_and_fully_probed_with_one() {
    let issuer = format!("http://{}", authorization_server().await);
    let server = ReferenceServer::python_protected(&issuer, "s3cret").await;
    // Its authorization server answers nothing: a client could never get a token.
    let nowhere = format!("http://{}", serve_on_loopback(axum::Router::new()).await);
    let broken = ReferenceServer::python_protected(&nowhere, "s3cret").await;
    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;

    let spec = TargetSpec::from_form("protected", &server.url(), "1", "").expect("spec");
    let id = add(&app, &spec).await;
    let status = mcp_status(&app, id, "the 401 challenge", |m| m.protection.is_some()).await;
    assert_eq!(status.state, TargetState::Up, "{:?}", status.failures);
    assert!(status.failures.is_empty(), "{:?}", status.failures);
    assert_eq!(status.offers.mcp, Offer::Offered);
    let protection = status.mcp.and_then(|m| m.protection).expect("protection");
    assert_eq!(
        protection.resource_metadata,
        Some(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            server.url()
        ))
    );
    assert_eq!(protection.authorization_servers.len(), 1);
    assert_eq!(protection.authorization_servers[0].issuer, issuer);
    assert_eq!(
        protection.authorization_servers[0].metadata,
        Ok(format!("{issuer}/.well-known/oauth-authorization-server"))
    );

    // With its token, the full probe runs: handshake and tool list.
    let mut spec = TargetSpec::from_form("with-token", &server.url(), "1", "").expect("spec");
    spec.headers = Some(vec![("Authorization".into(), "Bearer s3cret".into())]);
    let (with_token, _) = poll_until_tools_are_listed(&app, &spec).await;
    let status = mcp_status(&app, with_token, "a full probe", |m| m.protection.is_none()).await;
    assert_eq!(status.state, TargetState::Up, "{:?}", status.failures);
    assert_eq!(status.mcp.expect("report").server_name, "interop-python");

    // A wrong token is refused: that is flagged, not taken for a healthy protected server.
    let mut spec = TargetSpec::from_form("wrong-token", &server.url(), "1", "").expect("spec");
    spec.headers = Some(vec![("Authorization".into(), "Bearer nope".into())]);
    let wrong = add(&app, &spec).await;
    let refused = status_where(&app, wrong, "the refused token", |s| !s.failures.is_empty()).await;
    assert_eq!(refused.state, TargetState::Degraded);
    assert!(
        refused.failures[0]
            .reason
            .contains("refused the configured token"),
        "{:?}",
        refused.failures
    );

    // Metadata that leads nowhere is flagged.
    let spec = TargetSpec::from_form("broken-auth", &broken.url(), "1", "").expect("spec");
    let broken_id = add(&app, &spec).await;
    let flagged = status_where(&app, broken_id, "the broken metadata", |s| {
        !s.failures.is_empty()
    })
    .await;
    assert_eq!(flagged.state, TargetState::Degraded);
    assert_eq!(flagged.failures[0].probe, "mcp");
    assert!(
        flagged.failures[0].reason.starts_with(&format!(
            "authorization server {nowhere}: no metadata answers"
        )),
        "{:?}",
        flagged.failures
    );
}
