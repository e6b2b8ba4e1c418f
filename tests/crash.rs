//! Crash safety: `mcpops serve` is killed with SIGKILL at random moments while it ingests polls
//! and an operator acts (acknowledging alerts, checking incident steps, writing notes). After
//! every kill: nothing the operator was told succeeded is missing, the audit chain verifies,
//! and the database's own integrity check passes. On both backends.
//!
//! `MCPOPS_CRASH_KILLS` sets the number of kills (20 by default).
use crate::common;

use common::{BACKENDS, Backend, TEST_PASSWORD, TestDb, cookie_client, eventually};
use mcpops::domain::alerts::{AlertQuery, AlertState};
use mcpops::domain::auth::Role;
use mcpops::domain::incidents::StepState;
use mcpops::server::store::{self, Store, StoreOptions};
use rand::Rng;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Healthy targets keep ingest busy; dead ones (nothing listens) give alerts to acknowledge.
const HEALTHY: usize = 30;
const DEAD: usize = 40;

/// What the operator was told succeeded.
#[derive(Debug, Clone)]
enum Done {
    Acknowledged(i64),
    Declared(i64),
    Step { incident: i64, step: i64 },
    Note { incident: i64, text: String },
}

async fn fleet() -> SocketAddr {
    let app = axum::Router::new().route(
        "/t/{name}/metrics",
        axum::routing::get(|| async {
            "# TYPE mcp_requests_total counter\nmcp_requests_total 1\n"
        }),
    );
    common::serve_on_loopback(app).await
}

/// A port nothing listens on.
async fn dead_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("fixture");
    listener.local_addr().expect("bound address").port()
}

async fn start(database_url: &str) -> (tokio::process::Child, SocketAddr) {
    common::serve_process(
        database_url,
        &[
            ("MCPOPS__COLLECTOR__MODE", "metrics_only"),
            ("MCPOPS__ALERTS__MIN_FIRING_SECS", "0"),
            ("MCPOPS__CLUSTER__LEASE_SECS", "3"),
            ("MCPOPS__LOG__LEVEL", "error"),
        ],
    )
    .await
}

async fn post(
    client: &reqwest::Client,
    addr: SocketAddr,
    path: &str,
    form: &[(&str, &str)],
) -> Option<Value> {
    let response = client
        .post(format!("http://{addr}{path}"))
        .form(form)
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    // A body cut off by the kill is not a success the operator saw.
    let text = response.text().await.ok()?;
    Some(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Acts as fast as the server answers, recording each success, until the server is gone.
async fn operate(
    store: Arc<dyn Store>,
    client: reqwest::Client,
    addr: SocketAddr,
    done: Arc<Mutex<Vec<Done>>>,
    round: usize,
) {
    for n in 0.. {
        let open = store
            .alerts(&AlertQuery {
                states: vec![AlertState::Firing],
                limit: 100,
                ..AlertQuery::default()
            })
            .await
            .unwrap_or_default();
        let incidents = store.incidents().await.unwrap_or_default();
        let result = match n % 4 {
            0 if !open.is_empty() => {
                let id = open[n / 4 % open.len()].id;
                post(
                    &client,
                    addr,
                    "/api/alerts/acknowledge",
                    &[("id", &id.to_string()), ("note", "on it")],
                )
                .await
                .map(|_| Done::Acknowledged(id))
            }
            1 if incidents.len() < 3 * (round + 1) => post(
                &client,
                addr,
                "/api/incidents/declare",
                &[
                    ("title", &format!("crash round {round}")),
                    ("runbook", "high-error-rate"),
                ],
            )
            .await
            .and_then(|incident| incident["id"].as_i64())
            .map(Done::Declared),
            2 => {
                let open_step = incidents.iter().find_map(|incident| {
                    incident
                        .steps
                        .iter()
                        .find(|s| s.state == StepState::Pending)
                        .map(|s| (incident.id, s.id))
                });
                match open_step {
                    Some((incident, step)) => post(
                        &client,
                        addr,
                        "/api/incidents/step",
                        &[
                            ("incident_id", &incident.to_string()),
                            ("step_id", &step.to_string()),
                            ("action", "done"),
                        ],
                    )
                    .await
                    .map(|_| Done::Step { incident, step }),
                    None => None,
                }
            }
            _ => match incidents.first() {
                Some(incident) => {
                    let text = format!("round {round} note {n}");
                    post(
                        &client,
                        addr,
                        "/api/incidents/note",
                        &[("incident_id", &incident.id.to_string()), ("text", &text)],
                    )
                    .await
                    .map(|_| Done::Note {
                        incident: incident.id,
                        text,
                    })
                }
                None => None,
            },
        };
        if let Some(action) = result {
            done.lock().expect("log lock").push(action);
        }
    }
}

/// Every success the operator saw is in the store.
async fn assert_kept(store: &dyn Store, done: &[Done], backend: Backend) {
    for action in done {
        match action {
            Done::Acknowledged(id) => {
                let (alert, _) = store.alert(*id).await.expect("alert");
                assert!(
                    alert.acked_by.is_some(),
                    "{backend:?}: acknowledgement of alert {id} lost"
                );
            }
            Done::Declared(id) => {
                store.incident(*id).await.expect("declared incident lost");
            }
            Done::Step { incident, step } => {
                let incident = store.incident(*incident).await.expect("incident");
                let step = incident.steps.iter().find(|s| s.id == *step).expect("step");
                assert_eq!(
                    step.state,
                    StepState::Done,
                    "{backend:?}: checked step lost"
                );
            }
            Done::Note { incident, text } => {
                let events = store.incident_events(*incident).await.expect("events");
                assert!(
                    events.iter().any(|e| e.text.contains(text.as_str())),
                    "{backend:?}: note '{text}' lost"
                );
            }
        }
    }
}

async fn killed_repeatedly(backend: Backend, kills: usize) {
    let db = TestDb::new(backend).await;
    let store = store::open(db.url(), &StoreOptions::default())
        .await
        .expect("open store");
    let fleet = fleet().await;
    for i in 0..HEALTHY {
        let url = format!("http://{fleet}/t/{i}");
        common::add_target(store.as_ref(), &format!("ok{i:02}"), &url).await;
    }
    for i in 0..DEAD {
        let url = format!("http://127.0.0.1:{}/t/{i}", dead_port().await);
        common::add_target(store.as_ref(), &format!("dead{i:02}"), &url).await;
    }
    mcpops::server::services::accounts::add_user(
        store.as_ref(),
        "oncall",
        Role::Operator,
        Some(TEST_PASSWORD.into()),
    )
    .await
    .expect("fixture");
    let done: Arc<Mutex<Vec<Done>>> = Arc::default();
    let mut polls_before = 0;
    for round in 0..kills {
        let (mut server, addr) = start(db.url()).await;
        let client = cookie_client();
        let login = client
            .post(format!("http://{addr}/api/auth/login"))
            .form(&[
                ("username", "oncall"),
                ("password", TEST_PASSWORD),
                ("next", "/"),
            ])
            .send()
            .await
            .expect("login");
        assert!(login.status().is_success() || login.status().is_redirection());
        let operator = tokio::spawn(operate(store.clone(), client, addr, done.clone(), round));
        // Killed while ingesting: on PostgreSQL a restarted replica first waits for the
        // killed one's leases to expire.
        let stored = |store: Arc<dyn Store>| async move {
            store.row_counts().await.map(|c| c["samples"]).unwrap_or(0)
        };
        eventually(Duration::from_secs(30), "polls to be stored", || async {
            (stored(store.clone()).await > polls_before).then_some(())
        })
        .await;
        let alive = rand::rng().random_range(500..3_000);
        // Printed, so a failure can be matched to the moment of its kill.
        eprintln!("{backend:?} round {round}: killed {alive} ms after polls were stored");
        tokio::time::sleep(Duration::from_millis(alive)).await;
        server.start_kill().expect("kill");
        server.wait().await.expect("reap");
        operator.abort();

        let told = done.lock().expect("log lock").clone();
        assert_kept(store.as_ref(), &told, backend).await;
        // A connection of its own, as an operator's check would be: SQLite 3.46's check of the
        // full-text index, run on a connection that was open while another process wrote,
        // reports the index malformed although it is sound (a fresh connection and FTS5's own
        // integrity-check both pass).
        let fresh = store::open(db.url(), &StoreOptions::default())
            .await
            .expect("open store");
        let problems = fresh.integrity_problems().await.expect("integrity check");
        fresh.close().await;
        assert!(
            problems.is_empty(),
            "{backend:?} round {round}: {problems:?}"
        );
        let verify = common::verify_audit(db.url()).await;
        assert!(
            verify.status.success(),
            "{backend:?} round {round}: {}",
            String::from_utf8_lossy(&verify.stdout)
        );
        polls_before = stored(store.clone()).await;
    }
    store.close().await;
    let done = done.lock().expect("log lock");
    let count = |f: fn(&Done) -> bool| done.iter().filter(|d| f(d)).count();
    eprintln!(
        "{backend:?}: {kills} kills; kept {} acknowledgements, {} incidents, {} steps, {} notes",
        count(|d| matches!(d, Done::Acknowledged(_))),
        count(|d| matches!(d, Done::Declared(_))),
        count(|d| matches!(d, Done::Step { .. })),
        count(|d| matches!(d, Done::Note { .. })),
    );
    assert!(
        count(|d| matches!(d, Done::Acknowledged(_))) > 0
            && count(|d| matches!(d, Done::Step { .. })) > 0,
        "{backend:?}: the operator got things done between kills"
    );
}

#[tokio::test]
async fn killed_at_random_it_loses_no_acknowledged_action() {
    let kills = std::env::var("MCPOPS_CRASH_KILLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    for backend in BACKENDS {
        killed_repeatedly(backend, kills).await;
    }
}
