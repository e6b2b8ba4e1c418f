//! Attacks on a running console, each as an attacker would try it, and each must fail: a
//! target that redirects its probes elsewhere to collect their secret headers, a sign-in link
//! that sends the browser to another site, telling usernames apart by the work a sign-in
//! does, and pages that another site may frame or sniff.
mod common;

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use common::{TestDb, cookie_client, eventually, serve_on_loopback, spawn_app};
use mcpops::domain::target::{TargetSource, TargetSpec};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The tests here count sign-ins in the process's `/metrics`, and every app signs in its
/// admin when it starts: they run one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn probe_secrets_never_follow_a_redirect_to_another_origin() {
    let _serial = ONE_AT_A_TIME.lock().await;
    // The collector: anything that reaches it is a leak.
    let reached = Arc::new(AtomicUsize::new(0));
    let collector = {
        let reached = reached.clone();
        axum::Router::new().fallback(move |headers: HeaderMap| {
            let reached = reached.clone();
            async move {
                if headers.contains_key("x-api-key") {
                    reached.fetch_add(1, Ordering::SeqCst);
                }
                StatusCode::OK
            }
        })
    };
    let elsewhere = serve_on_loopback(collector).await;
    // The target answers every probe, GET or POST, with a redirect to the collector.
    let redirecting = axum::Router::new().fallback(move || async move {
        (
            StatusCode::TEMPORARY_REDIRECT,
            [("location", format!("http://{elsewhere}/steal"))],
        )
            .into_response()
    });
    let target = serve_on_loopback(redirecting).await;

    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;
    let mut spec =
        TargetSpec::from_form("redirecting", &format!("http://{target}"), "1", "").expect("spec");
    spec.headers = Some(vec![("X-Api-Key".into(), "s3cret".into())]);
    let id = app
        .state
        .store
        .insert_target(&spec, TargetSource::Ui, common::test_event())
        .await
        .expect("insert")
        .id;
    app.state.targets_changed();

    let expected = format!(
        "redirected to another origin, http://{elsewhere}: not followed, so the target's headers stay with it"
    );
    let status = eventually(Duration::from_secs(10), "the refused redirect", || async {
        app.state
            .store
            .target_status(id)
            .await
            .ok()
            .flatten()
            .filter(|s| s.failures.iter().any(|f| f.reason == expected))
    })
    .await;
    // A few more polls, every probe asked again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "the secret header reached another origin; {:?}",
        status.failures
    );
}

#[tokio::test]
async fn sign_in_never_sends_the_browser_to_another_site() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;
    let (name, _) = app.signed_in(mcpops::domain::auth::Role::Viewer).await;
    for (next, lands) in [
        ("/alerts", "/alerts"),
        ("/\t/evil.example", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
    ] {
        let response = cookie_client()
            .post(app.url("/api/auth/login"))
            .form(&[
                ("username", name.as_str()),
                ("password", common::TEST_PASSWORD),
                ("next", next),
            ])
            .send()
            .await
            .expect("login");
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        assert_eq!(location.as_deref(), Some(lands), "next={next:?}");
    }
}

/// The process's count of Argon2 verifications, from `/metrics`.
async fn verifications(app: &common::TestApp) -> u64 {
    let text = app
        .anonymous
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix("mcpops_password_verifications_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no verification count in\n{text}"))
}

#[tokio::test]
async fn an_unknown_name_costs_the_same_verification_as_a_wrong_password() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;
    let (known, _) = app.signed_in(mcpops::domain::auth::Role::Viewer).await;
    for name in [known.as_str(), "nobody-by-this-name"] {
        let before = verifications(&app).await;
        let response = app.login(&cookie_client(), name, "wrong password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(
            verifications(&app).await - before,
            1,
            "{name}: exactly one Argon2 verification"
        );
    }
}

#[tokio::test]
async fn pages_cannot_be_framed_elsewhere_or_sniffed_and_keep_their_address_to_themselves() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;
    for path in ["/login", "/fleet", "/api/auth/me", "/health/live"] {
        let response = app.client.get(app.url(path)).send().await.expect("get");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        assert!(
            header("content-security-policy").contains("frame-ancestors 'self'"),
            "{path}: {}",
            header("content-security-policy")
        );
        // Without TLS cookies, no HSTS: it would lock a plain-HTTP console out of browsers.
        assert_eq!(header("strict-transport-security"), "", "{path}");
    }
}
