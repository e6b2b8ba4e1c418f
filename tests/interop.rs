//! Interoperability: the MCP probe against a server nobody here wrote, the reference Python
//! SDK serving Streamable HTTP, and the legacy HTTP+SSE transport, on loopback. `scripts/test.sh` installs the SDK into a venv and
//! points `MCPOPS_TEST_PYTHON` at its interpreter.
mod common;

use common::{TestApp, TestDb, eventually, spawn_app};
use mcpops::domain::observation::{McpReport, TargetStatus};
use mcpops::domain::target::{TargetSource, TargetSpec};
use mcpops::server::store::ToolCatalog;
use std::time::Duration;

/// The SDK server process, killed when dropped.
struct PythonServer {
    _process: tokio::process::Child,
}

impl PythonServer {
    async fn start(port: u16, transport: &str) -> Self {
        let python = std::env::var("MCPOPS_TEST_PYTHON").unwrap_or_else(|_| {
            panic!("MCPOPS_TEST_PYTHON is not set: run scripts/test.sh, which installs the Python MCP SDK")
        });
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/python_server.py"
        );
        let child = tokio::process::Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .arg(transport)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("python starts");
        eventually(
            Duration::from_secs(30),
            "the Python MCP server to listen",
            || async move {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
                    .map(|_| ())
            },
        )
        .await;
        Self { _process: child }
    }
}

/// Adds the SDK server as a target and waits for the tool list its first poll stores.
async fn poll_until_tools_are_listed(app: &TestApp, spec: &TargetSpec) -> (i64, ToolCatalog) {
    let id = app
        .state
        .store
        .insert_target(spec, TargetSource::Ui, common::test_event())
        .await
        .expect("insert")
        .id;
    app.state.targets_changed();
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

/// The target's first status whose MCP report passes `wanted`.
async fn mcp_status(
    app: &TestApp,
    id: i64,
    what: &str,
    wanted: impl Fn(&McpReport) -> bool,
) -> TargetStatus {
    eventually(Duration::from_secs(15), what, || async {
        app.state
            .store
            .target_status(id)
            .await
            .ok()
            .flatten()
            .filter(|s| s.mcp.as_ref().is_some_and(&wanted))
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
    let port = free_port();
    let _python = PythonServer::start(port, "streamable-http").await;
    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;
    let spec = TargetSpec::from_form("python-sdk", &format!("http://127.0.0.1:{port}"), "1", "")
        .expect("spec");
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
    let port = free_port();
    let _python = PythonServer::start(port, "sse").await;
    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;
    // An operator points the MCP path at the server's event stream.
    let mut spec =
        TargetSpec::from_form("python-sse", &format!("http://127.0.0.1:{port}"), "1", "")
            .expect("spec");
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
