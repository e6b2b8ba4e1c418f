//! The request log, as the operations guide writes it: at `info`, one `request_completed`
//! JSON line per request with its method, matched route, status, `duration_ms` and
//! `request_id`; probes of mcpops left out by config; a live stream logged when it ends.
use crate::common;

use common::{LogLines, TEST_PASSWORD, TestDb, eventually};
use mcpops::domain::auth::Role;
use mcpops::server::store::{self, StoreOptions};
use serde_json::Value;
use std::time::Duration;

/// The `message` lines logged so far, parsed.
fn logged(log: &LogLines, message: &str) -> Vec<Value> {
    log.lock()
        .expect("log lines")
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == message)
        .collect()
}

#[tokio::test]
async fn an_info_run_logs_one_request_completed_line_per_request_with_the_guides_fields() {
    let db = TestDb::sqlite();
    {
        let store = store::open(db.url(), &StoreOptions::default())
            .await
            .expect("store");
        mcpops::server::services::accounts::add_user(
            store.as_ref(),
            "ann",
            Role::Viewer,
            Some(TEST_PASSWORD.into()),
        )
        .await
        .expect("user");
    }
    let (_process, addr, log) = common::serve_process_logging(
        db.url(),
        &[
            ("MCPOPS__LOG__LEVEL", "info"),
            ("MCPOPS__LOG__FORMAT", "json"),
            ("MCPOPS__LOG__PROBE_REQUESTS_EVERY", "0"),
        ],
    )
    .await;
    let client = common::cookie_client();
    let base = format!("http://{addr}");
    let signed_in = client
        .post(format!("{base}/api/auth/login"))
        .form(&[
            ("username", "ann"),
            ("password", TEST_PASSWORD),
            ("next", "/"),
        ])
        .send()
        .await
        .expect("login");
    assert!(signed_in.status().is_success() || signed_in.status().is_redirection());
    for _ in 0..3 {
        let probe = client
            .get(format!("{base}/health/live"))
            .send()
            .await
            .expect("probe");
        assert_eq!(probe.status(), 200);
    }
    let page = client
        .get(format!("{base}/incidents/42?kiosk=SECRET-IN-QUERY"))
        .send()
        .await
        .expect("page");
    let status = page.status().as_u16();
    let request_id = page.headers()["x-request-id"]
        .to_str()
        .expect("request id")
        .to_owned();
    let line = eventually(Duration::from_secs(10), "the page's log line", || async {
        let lines: Vec<Value> = logged(&log, "request_completed")
            .into_iter()
            .filter(|l| l["request_id"] == request_id.as_str())
            .collect();
        (!lines.is_empty()).then_some(lines)
    })
    .await;
    assert_eq!(line.len(), 1, "one line per request: {line:?}");
    let line = &line[0];
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["method"], "GET");
    assert_eq!(
        line["route"], "/incidents/{id}",
        "the matched route, not the path"
    );
    assert_eq!(line["status"], status);
    assert!(
        line["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{line}"
    );
    assert!(line.get("timestamp").is_some());

    // A live page's stream is logged once, when the page goes, with how long it ran.
    let mut events = client
        .get(format!("{base}/events"))
        .send()
        .await
        .expect("events");
    assert_eq!(events.status(), 200);
    let stream_id = events.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    tokio::time::timeout(Duration::from_secs(10), events.chunk())
        .await
        .expect("a first event")
        .expect("chunk");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        logged(&log, "request_completed")
            .iter()
            .all(|l| l["request_id"] != stream_id.as_str()),
        "an open stream is not logged yet"
    );
    drop(events);
    let ended = eventually(Duration::from_secs(10), "the stream's log line", || async {
        logged(&log, "request_completed")
            .into_iter()
            .find(|l| l["request_id"] == stream_id.as_str())
    })
    .await;
    assert_eq!(ended["route"], "/events");
    assert_eq!(ended["stream"], true);
    assert!(
        ended["duration_ms"].as_f64().is_some_and(|ms| ms >= 300.0),
        "{ended}"
    );

    let everything = log.lock().expect("log lines").join("\n");
    assert!(
        !everything.contains("/health/live"),
        "probes are left out by config"
    );
    assert!(
        !everything.contains("SECRET-IN-QUERY"),
        "queries are never logged"
    );
    assert!(!everything.contains(TEST_PASSWORD));
}
