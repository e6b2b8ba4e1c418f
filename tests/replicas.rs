//! Three `mcpops serve` processes sharing one PostgreSQL database: the fleet is shared out by
//! leases, a replica killed with SIGKILL loses its targets to the others within two lease
//! periods, no target is polled by two replicas at once, an alert is notified once whoever
//! polls its target, and a browser on any replica sees the whole fleet live.
use crate::common;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use common::{TEST_PASSWORD, TestDb, cookie_client, eventually, test_event};
use mcpops::domain::auth::Role;
use mcpops::domain::notifications::{ChannelForm, NewChannel};
use mcpops::server::store::{self, Store, StoreOptions};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

const TARGETS: usize = 12;
const LEASE_SECS: u64 = 3;
const LEASE: Duration = Duration::from_secs(LEASE_SECS);

/// One poll as a target saw it: which target, which replica (from the User-Agent), when.
#[derive(Clone, Debug)]
struct Seen {
    target: String,
    replica: String,
    at: Instant,
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn replica_of(headers: &HeaderMap) -> String {
    let agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    agent
        .split("(replica ")
        .nth(1)
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or("?")
        .to_owned()
}

async fn metrics(State(log): State<Log>, Path(name): Path<String>, headers: HeaderMap) -> String {
    log.lock().expect("log lock").push(Seen {
        target: name,
        replica: replica_of(&headers),
        at: Instant::now(),
    });
    "# TYPE mcp_requests_total counter\nmcp_requests_total 1\n".into()
}

/// Serving until the handle is dropped.
type Running = tokio::sync::oneshot::Sender<()>;

/// The healthy fleet: `/t/{name}/metrics` answers for every name and logs who asked.
async fn fleet(log: Log) -> (SocketAddr, Running) {
    let app = axum::Router::new()
        .route("/t/{name}/metrics", axum::routing::get(metrics))
        .with_state(log);
    serve(app, "127.0.0.1:0".parse().expect("address")).await
}

async fn serve(app: axum::Router, addr: SocketAddr) -> (SocketAddr, Running) {
    // The flaky target comes back on its old port; the kernel may need a moment to let go.
    let listener = eventually(Duration::from_secs(10), "the port to be free", || async {
        tokio::net::TcpListener::bind(addr).await.ok()
    })
    .await;
    let addr = listener.local_addr().expect("bound address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    (addr, stop)
}

/// A webhook receiver that keeps every notice it gets.
async fn webhook(notices: Arc<Mutex<Vec<Value>>>) -> (SocketAddr, Running) {
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State(notices): State<Arc<Mutex<Vec<Value>>>>,
                 axum::Json(notice): axum::Json<Value>| async move {
                    notices.lock().expect("log lock").push(notice);
                },
            ),
        )
        .with_state(notices);
    serve(app, "127.0.0.1:0".parse().expect("address")).await
}

struct Replica {
    name: String,
    addr: SocketAddr,
    process: tokio::process::Child,
}

async fn start_replica(database_url: &str, name: &str) -> Replica {
    let lease = LEASE_SECS.to_string();
    let (process, addr) = common::serve_process(
        database_url,
        &[
            ("MCPOPS__CLUSTER__NAME", name),
            ("MCPOPS__CLUSTER__LEASE_SECS", &lease),
            ("MCPOPS__COLLECTOR__MODE", "metrics_only"),
            ("MCPOPS__ALERTS__MIN_FIRING_SECS", "0"),
            ("MCPOPS__ALERTS__RETRY_BASE_MS", "100"),
        ],
    )
    .await;
    Replica {
        name: name.to_owned(),
        addr,
        process,
    }
}

/// Which replica (by name) holds each target, from the store.
async fn holders(store: &dyn Store) -> BTreeMap<String, Option<String>> {
    let mut by_target = BTreeMap::new();
    let replicas: BTreeMap<String, String> = store
        .cluster_view("", 0)
        .await
        .expect("cluster view")
        .replicas
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect();
    for target in store.list_targets().await.expect("targets") {
        let mut holder = None;
        for (id, name) in &replicas {
            if store
                .held_targets(id)
                .await
                .expect("held")
                .contains(&target.id)
            {
                holder = Some(name.clone());
            }
        }
        by_target.insert(target.name.clone(), holder);
    }
    by_target
}

/// Each target's pollers in `[from, to)`.
fn pollers(log: &Log, from: Instant, to: Instant) -> BTreeMap<String, Vec<String>> {
    let mut by_target: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for seen in log.lock().expect("log lock").iter() {
        if seen.at >= from && seen.at < to {
            by_target
                .entry(seen.target.clone())
                .or_default()
                .push(seen.replica.clone());
        }
    }
    by_target
}

/// Every target polled in the window, each by one replica only, at most once a second.
fn assert_single_pollers(log: &Log, from: Instant, to: Instant, targets: &[String]) {
    let seen = pollers(log, from, to);
    let window = to.duration_since(from).as_secs_f64();
    for target in targets {
        let polls = seen.get(target).cloned().unwrap_or_default();
        let replicas: BTreeSet<&String> = polls.iter().collect();
        assert_eq!(
            replicas.len(),
            1,
            "{target} polled by {replicas:?} in one {window:.0} s window; all: {seen:?}"
        );
        assert!(
            polls.len() as f64 <= window + 1.0,
            "{target} polled {} times in {window:.0} s at a 1 s interval",
            polls.len()
        );
    }
}

fn notices_of(notices: &Arc<Mutex<Vec<Value>>>, event: &str) -> usize {
    notices
        .lock()
        .expect("fixture")
        .iter()
        .filter(|n| n["event"] == event && n["target"] == "flaky" && n["rule"] == "target_down")
        .count()
}

/// Reads the replica's live stream until an update for one of `targets` arrives.
async fn live_update_for(replica: &Replica, client: &reqwest::Client, targets: &BTreeSet<i64>) {
    let mut stream = client
        .get(format!("http://{}/events", replica.addr))
        .send()
        .await
        .expect("open /events");
    assert!(stream.status().is_success(), "{}", stream.status());
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(chunk)) = stream.chunk().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            let relayed = text.split("\n\n").any(|event| {
                event.contains("event: updates")
                    && event
                        .lines()
                        .find_map(|l| l.strip_prefix("data: "))
                        .and_then(|data| serde_json::from_str::<Vec<Value>>(data).ok())
                        .is_some_and(|updates| {
                            updates.iter().any(|update| {
                                update["target_id"]
                                    .as_i64()
                                    .is_some_and(|id| targets.contains(&id))
                            })
                        })
            });
            if relayed {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{} relayed no update of another replica's targets",
            replica.name
        )
    });
}

#[tokio::test]
async fn replicas_share_the_fleet_take_over_a_dead_one_and_notify_once() {
    let db = TestDb::postgres().await;
    let store = store::open(db.url(), &StoreOptions::default())
        .await
        .expect("open store");
    let log: Log = Arc::default();
    let (fleet_addr, _fleet) = fleet(log.clone()).await;
    let mut names: Vec<String> = (0..TARGETS).map(|i| format!("t{i:02}")).collect();
    for name in &names {
        let url = format!("http://{fleet_addr}/t/{name}");
        common::add_target(store.as_ref(), name, &url).await;
    }
    // The flaky target has a server of its own, so it can go down and come back.
    let flaky_app = axum::Router::new()
        .route("/t/{name}/metrics", axum::routing::get(metrics))
        .with_state(log.clone());
    let (flaky_addr, flaky_stop) =
        serve(flaky_app.clone(), "127.0.0.1:0".parse().expect("address")).await;
    let url = format!("http://{flaky_addr}/t/flaky");
    common::add_target(store.as_ref(), "flaky", &url).await;
    names.push("flaky".into());
    let notices: Arc<Mutex<Vec<Value>>> = Arc::default();
    let (hook, _hook) = webhook(notices.clone()).await;
    let channel = NewChannel::parse(&ChannelForm {
        name: "pager".into(),
        kind: "webhook".into(),
        url: format!("http://{hook}/hook"),
        min_severity: "info".into(),
        ..ChannelForm::default()
    })
    .expect("channel");
    store
        .create_channel(&channel, "test", chrono::Utc::now(), test_event())
        .await
        .expect("create channel");
    mcpops::server::services::accounts::add_user(
        store.as_ref(),
        "watcher",
        Role::Viewer,
        Some(TEST_PASSWORD.into()),
    )
    .await
    .expect("add user");

    let mut replicas = Vec::new();
    for name in ["r1", "r2", "r3"] {
        replicas.push(start_replica(db.url(), name).await);
    }

    // Shared out: three holders, every target held.
    eventually(
        Duration::from_secs(30),
        "three replicas to share the fleet",
        || async {
            let held = holders(store.as_ref()).await;
            let by: BTreeSet<_> = held.values().flatten().cloned().collect();
            (by.len() == 3 && held.values().all(Option::is_some)).then_some(())
        },
    )
    .await;
    // A margin for polls begun before the last rebalance (nothing to observe: they may or may
    // not be running), then a window in which each target must have one poller.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let from = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_single_pollers(&log, from, Instant::now(), &names);

    // The flaky target goes down: one firing notice, from whichever replica polls it.
    drop(flaky_stop);
    eventually(
        Duration::from_secs(20),
        "the target-down notice",
        || async { (notices_of(&notices, "firing") == 1).then_some(()) },
    )
    .await;

    // Kill its poller outright.
    let held_before = holders(store.as_ref()).await;
    let victim_name = held_before["flaky"].clone().expect("flaky is held");
    let orphans: Vec<String> = held_before
        .iter()
        .filter(|(_, holder)| holder.as_deref() == Some(victim_name.as_str()))
        .map(|(target, _)| target.clone())
        .collect();
    let victim = replicas
        .iter()
        .position(|r| r.name == victim_name)
        .expect("fixture");
    let mut victim = replicas.remove(victim);
    victim.process.start_kill().expect("kill");
    victim.process.wait().await.expect("reap");
    let killed = Instant::now();
    eventually(
        2 * LEASE + Duration::from_secs(1),
        "the dead replica's targets to be taken over",
        || async {
            let held = holders(store.as_ref()).await;
            orphans
                .iter()
                .all(|t| held[t].as_ref().is_some_and(|h| *h != victim_name))
                .then_some(())
        },
    )
    .await;
    let taken_over = killed.elapsed();
    assert!(
        taken_over <= 2 * LEASE,
        "taken over after {taken_over:?}, more than two lease periods"
    );
    eprintln!(
        "{} targets of the killed replica taken over after {taken_over:?} (lease {LEASE:?})",
        orphans.len()
    );
    // Their polls resume elsewhere, and the fleet is again polled once per target: a margin
    // for polls in flight at the handover, then a window to watch.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let from = Instant::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let healthy: Vec<String> = names.iter().filter(|n| *n != "flaky").cloned().collect();
    assert_single_pollers(&log, from, Instant::now(), &healthy);
    assert!(
        pollers(&log, killed, Instant::now())
            .values()
            .flatten()
            .all(|r| *r != victim_name),
        "a killed replica cannot poll"
    );

    // The new poller took the open alert up: no second firing notice. When the target comes
    // back, one resolved notice.
    assert_eq!(notices_of(&notices, "firing"), 1);
    let (_, _flaky_back) = serve(flaky_app, flaky_addr).await;
    eventually(Duration::from_secs(20), "the resolved notice", || async {
        (notices_of(&notices, "resolved") == 1).then_some(())
    })
    .await;
    // A window in which no second notice may come.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(notices_of(&notices, "firing"), 1, "firing notified once");
    assert_eq!(
        notices_of(&notices, "resolved"),
        1,
        "resolved notified once"
    );

    // A browser on one survivor sees the other survivor's polls live.
    let held = holders(store.as_ref()).await;
    let (watched, other) = (&replicas[0], &replicas[1]);
    let others_targets: BTreeSet<i64> = store
        .list_targets()
        .await
        .expect("fixture")
        .into_iter()
        .filter(|t| held[&t.name].as_deref() == Some(other.name.as_str()))
        .map(|t| t.id)
        .collect();
    assert!(!others_targets.is_empty());
    let browser = cookie_client();
    let login = browser
        .post(format!("http://{}/api/auth/login", watched.addr))
        .form(&[
            ("username", "watcher"),
            ("password", TEST_PASSWORD),
            ("next", "/"),
        ])
        .send()
        .await
        .expect("login");
    assert!(login.status().is_success() || login.status().is_redirection());
    live_update_for(watched, &browser, &others_targets).await;

    // Readiness reports the leases.
    let ready: Value = reqwest::get(format!("http://{}/health/ready", watched.addr))
        .await
        .expect("fixture")
        .json()
        .await
        .expect("fixture");
    assert_eq!(ready["checks"]["leases"], true, "{ready}");
    assert_eq!(ready["cluster"]["replicas"], 2, "{ready}");

    // A replica that hangs (SIGSTOP) loses its targets the same way; when it wakes up it does
    // not poll them behind the new holder's back, but joins afresh and takes a share again.
    let (hung, survivor) = (&replicas[0], &replicas[1]);
    let hung_targets: Vec<String> = held
        .iter()
        .filter(|(_, holder)| holder.as_deref() == Some(hung.name.as_str()))
        .map(|(target, _)| target.clone())
        .collect();
    let signal = |name: &str, process: &tokio::process::Child| {
        let pid = process.id().expect("running").to_string();
        std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .expect("kill")
    };
    assert!(signal("-STOP", &hung.process).success());
    let stopped = Instant::now();
    eventually(
        2 * LEASE + Duration::from_secs(1),
        "the hung replica's targets to be taken over",
        || async {
            let held = holders(store.as_ref()).await;
            hung_targets
                .iter()
                .all(|t| held[t].as_deref() == Some(survivor.name.as_str()))
                .then_some(())
        },
    )
    .await;
    let taken_over = stopped.elapsed();
    assert!(
        taken_over <= 2 * LEASE,
        "hung replica's targets taken after {taken_over:?}"
    );
    eprintln!(
        "{} targets of the hung replica taken over after {taken_over:?} (lease {LEASE:?})",
        hung_targets.len()
    );
    // The hung replica stays frozen a while after its targets were taken, as a real hang would.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(signal("-CONT", &hung.process).success());
    eventually(
        Duration::from_secs(20),
        "the woken replica to hold a share again",
        || async {
            let held = holders(store.as_ref()).await;
            held.values()
                .any(|h| h.as_deref() == Some(hung.name.as_str()))
                .then_some(())
        },
    )
    .await;
    // A window in which the woken replica could poll what it no longer holds.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Each target changed hands at most twice (to the survivor, and back in the rebalance);
    // two pollers at once would alternate.
    for (target, polls) in pollers(&log, stopped, Instant::now()) {
        let handovers = polls.windows(2).filter(|pair| pair[0] != pair[1]).count();
        assert!(
            handovers <= 2,
            "{target} alternated between pollers: {polls:?}"
        );
    }

    // Two replicas wrote the audit log at once; its chain is intact.
    let verify = common::verify_audit(db.url()).await;
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    store.close().await;
}
