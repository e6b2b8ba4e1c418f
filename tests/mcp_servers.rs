//! Servers as they are in the wild, served by the test on loopback: one that adds
//! `/metrics` later, stateless instances that disagree on their tools, a URL where nothing
//! answers, probes switched by file_sd labels, one that stops asking for a token, and one
//! behind a certificate about to expire, one with too many tools; and synthetic tool calls,
//! from the form to the alert.
use crate::common;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use common::{TestApp, TestDb, eventually, serve_on_loopback, spawn_app_with};
use mcpops::domain::alerts::{AlertQuery, RuleKind};
use mcpops::domain::observation::{TargetState, TargetStatus};
use mcpops::domain::offers::Offer;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// A stateless (2026-07-28) MCP server; `tools/list` answers from `tools`, called with how
/// many lists it has given so far.
fn stateless_mcp(tools: impl Fn(usize) -> Value + Clone + Send + Sync + 'static) -> axum::Router {
    let listed = Arc::new(AtomicUsize::new(0));
    axum::Router::new().route(
        "/mcp",
        post(move |headers: HeaderMap, Json(request): Json<Value>| {
            let (tools, listed) = (tools.clone(), listed.clone());
            async move {
                let method = headers
                    .get("mcp-method")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let result = match method {
                    "server/discover" => json!({
                        "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "wild", "version": "1"}}
                    }),
                    "tools/list" => json!({"tools": tools(listed.fetch_add(1, Ordering::SeqCst))}),
                    _ => return StatusCode::BAD_REQUEST.into_response(),
                };
                Json(json!({"jsonrpc": "2.0", "id": request["id"], "result": result})).into_response()
            }
        }),
    )
}

fn tool(name: &str) -> Value {
    json!({"name": name, "inputSchema": {"type": "object"}})
}

async fn status(app: &TestApp, id: i64) -> Option<TargetStatus> {
    app.state.store.target_status(id).await.ok().flatten()
}

#[tokio::test]
async fn a_server_that_adds_metrics_later_is_picked_up_at_the_next_retry() {
    let serving_metrics = Arc::new(AtomicBool::new(false));
    let metrics = {
        let serving = serving_metrics.clone();
        get(move || {
            let serving = serving.load(Ordering::SeqCst);
            async move {
                if serving {
                    "mcp_requests_total 10\n".into_response()
                } else {
                    StatusCode::NOT_FOUND.into_response()
                }
            }
        })
    };
    let addr =
        serve_on_loopback(stateless_mcp(|_| json!([tool("search")])).route("/metrics", metrics))
            .await;
    let db = TestDb::sqlite();
    let app = spawn_app_with(db.url(), None, |c| c.collector.offer_retry_secs = 2).await;
    let id = common::add_target(app.state.store.as_ref(), "grows", &format!("http://{addr}"))
        .await
        .id;
    app.state.targets_changed();

    let before = eventually(Duration::from_secs(10), "metrics not offered", || async {
        status(&app, id)
            .await
            .filter(|s| s.offers.metrics == Offer::NotOffered)
    })
    .await;
    assert_eq!(before.state, TargetState::Up, "{:?}", before.failures);
    assert_eq!(before.offers.mcp, Offer::Offered);

    serving_metrics.store(true, Ordering::SeqCst);
    let after = eventually(Duration::from_secs(10), "metrics offered", || async {
        status(&app, id)
            .await
            .filter(|s| s.offers.metrics == Offer::Offered)
    })
    .await;
    assert_eq!(after.state, TargetState::Up, "{:?}", after.failures);

    // Once offered, losing it is a failure: degraded, with the reason.
    serving_metrics.store(false, Ordering::SeqCst);
    let lost = eventually(Duration::from_secs(10), "metrics failing", || async {
        status(&app, id)
            .await
            .filter(|s| s.offers.metrics == Offer::Failing)
    })
    .await;
    assert_eq!(lost.state, TargetState::Degraded);
    assert_eq!(lost.failures[0].reason, "HTTP status 404");
}

#[tokio::test]
async fn nothing_answering_at_a_url_is_down_and_says_so() {
    let addr = serve_on_loopback(axum::Router::new()).await;
    let db = TestDb::sqlite();
    let app = spawn_app_with(db.url(), None, |_| {}).await;
    let id = common::add_target(app.state.store.as_ref(), "void", &format!("http://{addr}"))
        .await
        .id;
    app.state.targets_changed();
    let down = eventually(Duration::from_secs(10), "down", || async {
        status(&app, id)
            .await
            .filter(|s| s.state == TargetState::Down)
    })
    .await;
    assert_eq!(down.failures[0].probe, "liveness");
    assert_eq!(down.failures[0].reason, "nothing answers at this URL");
    assert_eq!(down.offers.mcp, Offer::NotOffered);
    assert_eq!(down.offers.live, Offer::NotOffered);
}

#[tokio::test]
async fn instances_that_disagree_on_their_tools_are_named_and_do_not_page_on_every_flip() {
    // Two instances behind one URL, answering in turn.
    let addr = serve_on_loopback(stateless_mcp(|n| {
        if n % 2 == 0 {
            json!([tool("search")])
        } else {
            json!([tool("search"), tool("fetch")])
        }
    }))
    .await;
    let db = TestDb::sqlite();
    let app = spawn_app_with(db.url(), None, |c| c.collector.mcp_full_every_secs = 1).await;
    let id = common::add_target(app.state.store.as_ref(), "flip", &format!("http://{addr}"))
        .await
        .id;
    app.state.targets_changed();

    eventually(Duration::from_secs(20), "eight listings", || async {
        let versions = app.state.store.tool_catalogs(id, 10).await.ok()?;
        (versions.len() >= 8).then_some(())
    })
    .await;
    let id_text = id.to_string();
    let (code, detail) = common::post_form(
        &app,
        &app.client,
        "/api/servers/detail",
        &[("id", &id_text)],
    )
    .await;
    assert_eq!(code, 200, "{detail}");
    assert_eq!(detail["instances_disagree"], json!(2), "{detail:.300}");
    let query = AlertQuery {
        rule: Some(RuleKind::ToolDrift),
        target_ids: vec![id],
        limit: 100,
        ..AlertQuery::default()
    };
    let drift = app.state.store.alerts(&query).await.expect("alerts");
    // The first flip looks like any change; the ones after it are known for what they are.
    assert!(
        drift.len() <= 1,
        "one drift alert at most, not one per flip: {drift:?}"
    );
}

#[tokio::test]
async fn a_tool_list_past_the_cap_is_cut_there_and_says_so() {
    let addr = serve_on_loopback(stateless_mcp(|_| {
        Value::Array((0..2500).map(|n| tool(&format!("tool-{n:04}"))).collect())
    }))
    .await;
    let db = TestDb::sqlite();
    let app = spawn_app_with(db.url(), None, |_| {}).await;
    let id = common::add_target(app.state.store.as_ref(), "many", &format!("http://{addr}"))
        .await
        .id;
    app.state.targets_changed();
    let cut = eventually(Duration::from_secs(10), "the cut tool list", || async {
        status(&app, id).await?.mcp?.full_handshake?.tools_cut
    })
    .await;
    assert_eq!(
        cut,
        "the server lists more than 2000 tools; the first 2000 are kept"
    );
    let stored = app.state.store.tool_catalogs(id, 1).await.expect("tools");
    assert_eq!(stored[0].tools.len(), 2000);
    assert_eq!(
        status(&app, id).await.map(|s| s.state),
        Some(TargetState::Up)
    );
}

#[tokio::test]
async fn file_sd_labels_switch_probes_on_and_off() {
    let addr = serve_on_loopback(stateless_mcp(|_| json!([tool("search")]))).await;
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("targets.json");
    let write = |labels: Value| {
        let groups = json!([{"targets": [addr.to_string()], "labels": labels}]);
        std::fs::write(&file, groups.to_string()).expect("write");
    };
    // Readiness switched on: the server has none, so it is a failure, not "not offered".
    write(json!({"__probes__": "ready=on, metrics=off", "__scrape_interval__": "1s"}));
    let db = TestDb::sqlite();
    let pattern = file.to_string_lossy().into_owned();
    let app = spawn_app_with(db.url(), None, |c| {
        c.targets.file_sd = vec![pattern];
        c.targets.reload_secs = 1;
    })
    .await;
    let name = addr.to_string().replace(':', "-");
    let id = eventually(Duration::from_secs(10), "the file_sd target", || async {
        app.state
            .store
            .list_targets()
            .await
            .ok()?
            .into_iter()
            .find(|t| t.name == name)
            .map(|t| t.id)
    })
    .await;
    let switched = eventually(Duration::from_secs(10), "readiness failing", || async {
        status(&app, id)
            .await
            .filter(|s| s.offers.ready == Offer::Failing)
    })
    .await;
    assert_eq!(switched.offers.metrics, Offer::Off);
    assert_eq!(switched.state, TargetState::NotReady);

    write(json!({"__probes__": "ready=off", "__scrape_interval__": "1s"}));
    let relaxed = eventually(Duration::from_secs(10), "readiness off", || async {
        status(&app, id)
            .await
            .filter(|s| s.offers.ready == Offer::Off)
    })
    .await;
    assert_eq!(relaxed.state, TargetState::Up, "{:?}", relaxed.failures);
    assert_eq!(
        relaxed.offers.metrics,
        Offer::NotOffered,
        "metrics back to auto: asked and missing"
    );
}

#[tokio::test]
async fn a_server_that_stops_asking_for_a_token_is_flagged() {
    let protected = Arc::new(AtomicBool::new(true));
    let mcp = stateless_mcp(|_| json!([tool("search")]));
    let gate = {
        let protected = protected.clone();
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let protected = protected.load(Ordering::SeqCst);
            async move {
                if protected {
                    (
                        StatusCode::UNAUTHORIZED,
                        [("www-authenticate", "Bearer realm=\"mcp\"")],
                    )
                        .into_response()
                } else {
                    next.run(request).await
                }
            }
        }
    };
    let addr = serve_on_loopback(mcp.layer(axum::middleware::from_fn(gate))).await;
    let db = TestDb::sqlite();
    let app = spawn_app_with(db.url(), None, |_| {}).await;
    let id = common::add_target(app.state.store.as_ref(), "gate", &format!("http://{addr}"))
        .await
        .id;
    app.state.targets_changed();

    let asked = eventually(Duration::from_secs(10), "the 401", || async {
        status(&app, id)
            .await
            .filter(|s| s.mcp.as_ref().is_some_and(|m| m.protection.is_some()))
    })
    .await;
    assert_eq!(asked.state, TargetState::Up, "{:?}", asked.failures);
    assert!(
        asked.failures.is_empty(),
        "no metadata named, nothing to check: {:?}",
        asked.failures
    );

    protected.store(false, Ordering::SeqCst);
    let open = eventually(Duration::from_secs(10), "the flag", || async {
        status(&app, id).await.filter(|s| !s.failures.is_empty())
    })
    .await;
    assert_eq!(open.state, TargetState::Degraded);
    assert_eq!(open.failures[0].probe, "mcp");
    assert!(
        open.failures[0]
            .reason
            .starts_with("no longer asks for authorization"),
        "{:?}",
        open.failures
    );
}

/// HTTPS for a test server: each connection's TLS handshake, then axum as usual.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

#[tokio::test]
async fn a_certificate_two_days_from_expiry_raises_the_critical_alert() {
    use chrono::Datelike;
    use rcgen::{CertificateParams, DnType, KeyPair};
    use tokio_rustls::rustls;

    // A CA of the test's own, which mcpops is told to trust, and a server certificate it
    // signed that expires in two days.
    let ca = common::test_ca("mcpops test CA");
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "mcp.test");
    let expiry = chrono::Utc::now() + chrono::Duration::days(2);
    params.not_after =
        rcgen::date_time_ymd(expiry.year(), expiry.month() as u8, expiry.day() as u8);
    let certificate = params.signed_by(&key, &ca).expect("signed");
    let dir = tempfile::tempdir().expect("dir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("write");

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![certificate.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .expect("server config");
    let listener = TlsListener {
        tcp: tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind"),
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(tls)),
    };
    let addr = axum::serve::Listener::local_addr(&listener).expect("addr");
    tokio::spawn(axum::serve(listener, stateless_mcp(|_| json!([tool("search")]))).into_future());

    let db = TestDb::sqlite();
    let ca_path = ca_file.to_string_lossy().into_owned();
    let app = spawn_app_with(db.url(), None, |c| c.collector.ca_file = ca_path).await;
    let id = common::add_target(
        app.state.store.as_ref(),
        "expiring",
        &format!("https://{addr}"),
    )
    .await
    .id;
    app.state.targets_changed();

    let up = eventually(Duration::from_secs(10), "the certificate", || async {
        status(&app, id).await.filter(|s| s.certificate.is_some())
    })
    .await;
    assert_eq!(up.state, TargetState::Up, "{:?}", up.failures);
    let read = up.certificate.expect("certificate");
    assert_eq!(read.subject, "CN=mcp.test");
    assert_eq!(read.issuer, "CN=mcpops test CA");
    assert!((1..=2).contains(&read.days_left(up.at)), "{read:?}");

    let query = AlertQuery {
        rule: Some(RuleKind::CertificateExpiringSoon),
        target_ids: vec![id],
        limit: 10,
        ..AlertQuery::default()
    };
    let alert = eventually(
        Duration::from_secs(10),
        "the critical certificate alert",
        || async {
            app.state
                .store
                .alerts(&query)
                .await
                .ok()?
                .into_iter()
                .next()
        },
    )
    .await;
    assert_eq!(alert.state, mcpops::domain::alerts::AlertState::Firing);
    assert!(alert.summary.contains("CN=mcp.test"), "{}", alert.summary);
}

#[tokio::test]
async fn per_tool_signals_come_from_opentelemetry_metrics_with_tool_errors_apart() {
    // Each scrape, 10 more calls of `search` (one a tool error) and 5 of `fetch`.
    let scrapes = Arc::new(AtomicUsize::new(0));
    let metrics = get(move || {
        let n = scrapes.fetch_add(1, Ordering::SeqCst) as u64 + 1;
        async move {
            let series = |tool: &str, error: &str, count: u64| {
                let labels =
                    format!("mcp_method_name=\"tools/call\",gen_ai_tool_name=\"{tool}\"{error}");
                format!(
                    "mcp_server_operation_duration_seconds_bucket{{{labels},le=\"0.1\"}} {count}\n\
                     mcp_server_operation_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}\n\
                     mcp_server_operation_duration_seconds_count{{{labels}}} {count}\n"
                )
            };
            let mut text = String::from("# TYPE mcp_server_operation_duration_seconds histogram\n");
            text += &series("search", "", 9 * n);
            text += &series("search", ",error_type=\"tool_error\"", n);
            text += &series("fetch", "", 5 * n);
            text
        }
    });
    let addr = serve_on_loopback(
        stateless_mcp(|_| json!([tool("search"), tool("fetch")])).route("/metrics", metrics),
    )
    .await;
    let db = TestDb::sqlite();
    let app = spawn_app_with(db.url(), None, |_| {}).await;
    let mut spec =
        mcpops::domain::target::TargetSpec::from_form("tooled", &format!("http://{addr}"), "1", "")
            .expect("spec");
    spec.probe.profile = "opentelemetry".into();
    let id = app
        .state
        .store
        .insert_target(
            &spec,
            mcpops::domain::target::TargetSource::Ui,
            common::test_event(),
        )
        .await
        .expect("insert")
        .id;
    app.state.targets_changed();
    let table = eventually(Duration::from_secs(10), "the tool table", || async {
        status(&app, id).await.and_then(|s| s.tools)
    })
    .await;
    let names: Vec<&str> = table.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["search", "fetch"], "the failing tool first");
    assert_eq!(table.tools[0].tool_error_ratio, Some(0.1));
    assert_eq!(table.tools[0].protocol_error_ratio, Some(0.0));
    assert!(table.tools[1].calls_per_sec > 0.0, "{:?}", table.tools[1]);
    assert_eq!(table.dropped, 0);
}

/// How the tool server below answers `tools/call`.
const ANSWER_OK: usize = 0;
const ANSWER_ERROR: usize = 1;
const ANSWER_MALFORMED: usize = 2;

/// A stateless server with a read-only `lookup` (which needs a string `q`) and a `write`
/// that is not read-only; `lookup` answers as `answer` says, and is dropped from the tool
/// list once `listed` is false. `calls` counts the calls that reached it.
fn tool_server(
    answer: Arc<AtomicUsize>,
    listed: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
) -> axum::Router {
    axum::Router::new().route(
        "/mcp",
        post(move |headers: HeaderMap, Json(request): Json<Value>| {
            let (answer, listed, calls) = (answer.clone(), listed.clone(), calls.clone());
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let lookup = json!({
                    "name": "lookup",
                    "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
                    "annotations": {"readOnlyHint": true},
                });
                let write = json!({"name": "write", "inputSchema": {"type": "object"}});
                let result = match header("mcp-method").as_str() {
                    "server/discover" => json!({}),
                    "tools/list" if listed.load(Ordering::SeqCst) => json!({"tools": [lookup, write]}),
                    "tools/list" => json!({"tools": [write]}),
                    "tools/call" => {
                        calls.fetch_add(1, Ordering::SeqCst);
                        // The 2026-07-28 revision routes a call by the tool's name too.
                        assert_eq!(header("mcp-name"), request["params"]["name"].as_str().unwrap_or_default());
                        match answer.load(Ordering::SeqCst) {
                            ANSWER_MALFORMED => return "{\"jsonrpc\": ".into_response(),
                            ANSWER_OK => json!({"content": [{"type": "text", "text": "found 1"}], "structuredContent": {"found": 1}}),
                            _ => json!({"isError": true, "content": [{"type": "text", "text": "index offline"}]}),
                        }
                    }
                    _ => return StatusCode::BAD_REQUEST.into_response(),
                };
                Json(json!({"jsonrpc": "2.0", "id": request["id"], "result": result})).into_response()
            }
        }),
    )
}

#[tokio::test]
async fn synthetic_calls_are_refused_unless_safe_then_pass_fail_alert_and_stop_with_the_tool() {
    use mcpops::domain::alerts::AlertState;
    use mcpops::domain::audit::AuditFilter;
    use mcpops::domain::checks::{CheckSpec, Outcome};
    use mcpops::domain::observation::TOOL_CALL_PROBE;

    let answer = Arc::new(AtomicUsize::new(ANSWER_OK));
    let listed = Arc::new(AtomicBool::new(true));
    let calls = Arc::new(AtomicUsize::new(0));
    let addr = serve_on_loopback(tool_server(answer.clone(), listed.clone(), calls.clone())).await;
    let db = TestDb::sqlite();
    let app = spawn_app_with(db.url(), None, |c| c.collector.mcp_full_every_secs = 1).await;
    let id = common::add_target(app.state.store.as_ref(), "tools", &format!("http://{addr}"))
        .await
        .id;
    app.state.targets_changed();
    eventually(Duration::from_secs(10), "the tool list", || async {
        app.state
            .store
            .tool_catalogs(id, 1)
            .await
            .ok()?
            .into_iter()
            .next()
    })
    .await;

    // Through the form's server function: each bad field is named, and nothing is saved.
    let id_text = id.to_string();
    let add = |fields: &[(&'static str, &'static str)]| {
        let mut form = vec![("target_id", id_text.as_str())];
        form.extend(fields.iter().copied());
        let form: Vec<(&str, &str)> = form;
        let app = &app;
        async move { common::post_form(app, &app.client, "/api/checks/add", &form).await }
    };
    let refusals = [
        (
            vec![("check[tool]", "lookup"), ("check[arguments]", "{\"q\": ")],
            "arguments",
            "not valid JSON",
        ),
        (
            vec![
                ("check[tool]", "lookup"),
                ("check[arguments]", "{\"q\": 3}"),
            ],
            "arguments",
            "do not match the tool's input schema: /q",
        ),
        (
            vec![("check[tool]", "write"), ("check[arguments]", "{}")],
            "tool",
            "not annotated read-only",
        ),
        (
            vec![("check[tool]", "gone"), ("check[arguments]", "{}")],
            "tool",
            "not in the target's tool list",
        ),
        (
            vec![("check[tool]", "lookup"), ("check[interval_secs]", "5")],
            "interval_secs",
            "10 to 86400",
        ),
    ];
    for (fields, field, message) in refusals {
        let (code, body) = add(&fields).await;
        assert_eq!(code, 422, "{fields:?}: {body}");
        let said = body["Invalid"][field].as_str().unwrap_or_default();
        assert!(said.contains(message), "{fields:?}: {body}");
    }
    assert!(
        app.state
            .store
            .tool_checks(Some(id))
            .await
            .expect("checks")
            .is_empty()
    );
    // The override lets an admin call a tool that is not annotated read-only, on the record.
    let (code, body) = add(&[
        ("check[tool]", "write"),
        ("check[arguments]", "{}"),
        ("check[override_read_only]", "on"),
    ])
    .await;
    assert_eq!(code, 200, "{body}");
    let overridden = body["id"].as_i64().expect("id").to_string();
    let filter = AuditFilter {
        event_type: Some("tool_check".into()),
        ..AuditFilter::default()
    };
    let audited = app
        .state
        .store
        .search_audit(&filter, None, 10)
        .await
        .expect("audit");
    assert!(
        audited
            .iter()
            .any(|e| e.event.details.contains("\"override_read_only\":true")),
        "{audited:?}"
    );
    let (code, body) = common::post_form(
        &app,
        &app.client,
        "/api/checks/remove",
        &[("target_id", &id_text), ("id", &overridden)],
    )
    .await;
    assert_eq!(code, 200, "{body}");

    // A check every second (below the form's minimum, to keep the test short).
    let spec = CheckSpec {
        interval_secs: 1,
        json_pointer: "/found".into(),
        json_equals: "1".into(),
        ..CheckSpec::from_form(&mcpops::domain::checks::CheckForm {
            tool: "lookup".into(),
            arguments: r#"{"q": "status"}"#.into(),
            ..Default::default()
        })
        .expect("spec")
    };
    app.state
        .store
        .add_tool_check(id, &spec, "test", common::test_event())
        .await
        .expect("add");
    app.state.targets_changed();
    let passing = eventually(Duration::from_secs(10), "a passing call", || async {
        status(&app, id).await.filter(|s| {
            s.checks
                .first()
                .is_some_and(|c| c.last.outcome == Outcome::Passed)
        })
    })
    .await;
    assert_eq!(passing.state, TargetState::Up, "{:?}", passing.failures);

    // Errors: failing after two calls in a row, the target degraded and the alert firing.
    answer.store(ANSWER_ERROR, Ordering::SeqCst);
    let failing = eventually(Duration::from_secs(10), "a failing call", || async {
        status(&app, id)
            .await
            .filter(|s| s.failures.iter().any(|f| f.probe == TOOL_CALL_PROBE))
    })
    .await;
    assert_eq!(failing.state, TargetState::Degraded);
    let reason = &failing.failures[0].reason;
    assert!(
        reason.starts_with("lookup: ")
            && reason.ends_with(
                "calls in a row failed, the last: the tool answered isError: index offline"
            ),
        "{reason}"
    );
    let query = AlertQuery {
        states: vec![AlertState::Firing],
        rule: Some(RuleKind::ToolCallFailing),
        target_ids: vec![id],
        limit: 10,
        ..AlertQuery::default()
    };
    eventually(Duration::from_secs(10), "the tool call alert", || async {
        app.state
            .store
            .alerts(&query)
            .await
            .ok()?
            .into_iter()
            .next()
    })
    .await;

    // A malformed answer is a failed call, with the reason.
    answer.store(ANSWER_MALFORMED, Ordering::SeqCst);
    eventually(Duration::from_secs(10), "a malformed answer", || async {
        status(&app, id).await.filter(|s| {
            s.checks.first().is_some_and(|c| {
                matches!(&c.last.outcome, Outcome::Failed(r) if r.contains("tools/call answer is not JSON"))
            })
        })
    })
    .await;

    // Gone from the tool list: no more calls reach it, and the page says why.
    listed.store(false, Ordering::SeqCst);
    let skipped = eventually(Duration::from_secs(10), "a skipped call", || async {
        status(&app, id).await.filter(|s| {
            s.checks.first().is_some_and(|c| {
                matches!(&c.last.outcome, Outcome::Skipped(r) if r == "lookup is no longer in the tool list")
            })
        })
    })
    .await;
    assert!(skipped.checks[0].last.ms.is_none());
    let reached = calls.load(Ordering::SeqCst);
    // A window in which no call may be made.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        reached,
        "no call after the tool left the list"
    );
    let results = app
        .state
        .store
        .check_results(id, chrono::Utc::now() - chrono::Duration::minutes(5))
        .await
        .expect("results");
    assert!(results.iter().any(|r| r.outcome == Outcome::Passed));
    assert!(
        results
            .iter()
            .any(|r| matches!(r.outcome, Outcome::Failed(_)))
    );
    assert!(
        results
            .iter()
            .any(|r| matches!(r.outcome, Outcome::Skipped(_)))
    );
}
