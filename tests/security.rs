//! Attacks on a running console, each as an attacker would try it, and each must fail: a
//! target that redirects its probes elsewhere to collect their secret headers, a sign-in link
//! that sends the browser to another site, telling usernames apart by the work a sign-in
//! does, and pages that another site may frame or sniff.
use crate::common;

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

/// Whether `client` is still signed in, by what `auth/me` says.
async fn signed_in(app: &common::TestApp, client: &reqwest::Client) -> bool {
    let (code, me) = common::post_form(app, client, "/api/auth/me", &[]).await;
    assert_eq!(code, 200, "{me}");
    !me.is_null()
}

/// Opens the live stream as `client` and says whether it ends within `within`.
async fn stream_ends(
    app: &common::TestApp,
    client: &reqwest::Client,
    end_it: impl std::future::Future<Output = ()>,
    within: Duration,
) -> bool {
    let mut stream = client
        .get(app.url("/events?targets="))
        .send()
        .await
        .expect("events");
    assert_eq!(stream.status(), StatusCode::OK);
    end_it.await;
    tokio::time::timeout(within, async {
        while stream.chunk().await.ok().flatten().is_some() {}
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn no_session_outlives_a_password_change_or_a_sign_out_everywhere() {
    let _serial = ONE_AT_A_TIME.lock().await;
    for backend in common::BACKENDS {
        let db = TestDb::new(backend).await;
        let app = spawn_app(db.url(), None).await;
        let (name, here) = app.signed_in(mcpops::domain::auth::Role::Operator).await;
        let elsewhere = cookie_client();
        app.login(&elsewhere, &name, common::TEST_PASSWORD).await;
        assert!(signed_in(&app, &elsewhere).await, "{backend:?}");

        // A new password here ends the other browser's session, and its open live page.
        let new_password = "a brand new passphrase";
        let change = async {
            let (code, body) = common::post_form(
                &app,
                &here,
                "/api/auth/password",
                &[
                    ("current", common::TEST_PASSWORD),
                    ("new_password", new_password),
                    ("confirm", new_password),
                ],
            )
            .await;
            assert!(code == 200 || code == 302, "{backend:?}: {code} {body}");
        };
        assert!(
            stream_ends(&app, &elsewhere, change, Duration::from_secs(3)).await,
            "{backend:?}: the other browser's live stream ends within a second or two"
        );
        assert!(
            !signed_in(&app, &elsewhere).await,
            "{backend:?}: the other session ended"
        );
        let wall = elsewhere.get(app.url("/wall")).send().await.expect("wall");
        assert!(
            wall.status().is_redirection(),
            "{backend:?}: {}",
            wall.status()
        );
        assert!(
            signed_in(&app, &here).await,
            "{backend:?}: this session goes on"
        );

        // An admin's "sign out everywhere" ends every session of that user.
        let id = app
            .state
            .store
            .user_by_name(&name)
            .await
            .expect("user")
            .expect("exists")
            .account
            .id
            .to_string();
        let sign_out = async {
            let (code, body) =
                common::post_form(&app, &app.client, "/api/users/sign_out", &[("id", &id)]).await;
            assert_eq!(code, 200, "{backend:?}: {body}");
        };
        assert!(
            stream_ends(&app, &here, sign_out, Duration::from_secs(3)).await,
            "{backend:?}: the live stream ends"
        );
        assert!(!signed_in(&app, &here).await, "{backend:?}");
        assert!(
            signed_in(&app, &app.client).await,
            "{backend:?}: the admin stays"
        );
    }
}

#[tokio::test]
async fn parallel_guesses_cannot_all_pass_the_throttle_before_it_counts_them() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::sqlite();
    let app = common::spawn_app_with(db.url(), None, |c| {
        c.auth.max_failures_per_account = 3;
    })
    .await;
    let (name, _) = app.signed_in(mcpops::domain::auth::Role::Viewer).await;
    let before = verifications(&app).await;
    let guesses = (0..20).map(|n| {
        let (app, name) = (&app, name.clone());
        async move {
            let guess = format!("guess number {n}");
            app.login(&cookie_client(), &name, &guess).await.status()
        }
    });
    let answers = futures::future::join_all(guesses).await;
    let wrong = answers
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = answers
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((wrong, refused), (3, 17), "{answers:?}");
    assert_eq!(
        verifications(&app).await - before,
        3,
        "only the guesses that got a slot were hashed"
    );
}

#[tokio::test]
async fn the_database_and_its_backups_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let _serial = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("data").join("mcpops.db");
    let app = spawn_app(&format!("sqlite://{}", file.display()), None).await;
    let (code, body) = common::post_form(
        &app,
        &app.client,
        "/api/backups/start",
        &[("verify", "false")],
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let backups = dir.path().join("data").join("backups");
    let archive = eventually(Duration::from_secs(30), "a backup archive", || async {
        std::fs::read_dir(&backups)
            .ok()?
            .filter_map(|e| Some(e.ok()?.path()))
            .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
    })
    .await;
    let wal = dir.path().join("data").join("mcpops.db-wal");
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&wal), 0o600);
    assert_eq!(mode(&archive), 0o600);
    assert_eq!(mode(&backups), 0o700);
    assert_eq!(mode(&dir.path().join("data")), 0o700);
}

#[tokio::test]
async fn one_principal_cannot_hold_every_live_stream() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::sqlite();
    let app = common::spawn_app_with(db.url(), None, |c| {
        c.server.max_streams_per_principal = 2;
    })
    .await;
    let open = || async {
        app.client
            .get(app.url("/events?targets="))
            .send()
            .await
            .expect("events")
    };
    let (first, second) = (open().await, open().await);
    assert_eq!(
        (first.status(), second.status()),
        (StatusCode::OK, StatusCode::OK)
    );
    assert_eq!(open().await.status(), StatusCode::TOO_MANY_REQUESTS);
    // Someone else still gets theirs.
    let (_, other) = app.signed_in(mcpops::domain::auth::Role::Viewer).await;
    let theirs = other
        .get(app.url("/events?targets="))
        .send()
        .await
        .expect("events");
    assert_eq!(theirs.status(), StatusCode::OK);
}

/// A stateless MCP server on loopback whose `n`th `tools/list` answers `tools_for(n)`; the
/// counter says how many listings it has answered.
async fn serve_tool_lists(
    tools_for: fn(usize) -> Vec<serde_json::Value>,
) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    use axum::Json;
    use serde_json::{Value, json};
    let listings = Arc::new(AtomicUsize::new(0));
    let listed = listings.clone();
    let server = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |headers: HeaderMap, Json(request): Json<Value>| {
            let listings = listings.clone();
            async move {
                let method = headers
                    .get("mcp-method")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let result = match method {
                    "server/discover" => json!({}),
                    "tools/list" => {
                        json!({ "tools": tools_for(listings.fetch_add(1, Ordering::SeqCst)) })
                    }
                    _ => return StatusCode::BAD_REQUEST.into_response(),
                };
                Json(json!({"jsonrpc": "2.0", "id": request["id"], "result": result}))
                    .into_response()
            }
        }),
    );
    (serve_on_loopback(server).await, listed)
}

#[tokio::test]
async fn a_hostile_tool_list_is_cut_and_its_stored_versions_stay_under_the_cap() {
    use mcpops::server::store::MAX_CATALOG_BYTES_PER_TARGET;
    let _serial = ONE_AT_A_TIME.lock().await;
    // A different list on every listing: 2,000 tools with 600-byte schemas, 1.2 MB in all.
    let (addr, listed) = serve_tool_lists(|n| {
        let padding = "x".repeat(560);
        (0..2000)
            .map(|i| {
                serde_json::json!({
                    "name": format!("tool-{n}-{i:04}"),
                    "inputSchema": {"type": "object", "description": padding},
                })
            })
            .collect()
    })
    .await;
    for backend in common::BACKENDS {
        let db = TestDb::new(backend).await;
        let app = common::spawn_app_with(db.url(), None, |c| {
            c.collector.mcp_full_every_secs = 1;
            c.collector.max_body_bytes = 8 * 1024 * 1024;
        })
        .await;
        let id = common::add_target(
            app.state.store.as_ref(),
            "hostile",
            &format!("http://{addr}"),
        )
        .await
        .id;
        let before = listed.load(Ordering::SeqCst);
        app.state.targets_changed();
        // Eight listings of about 1 MiB each: twice the cap.
        eventually(Duration::from_secs(30), "eight listings", || async {
            (listed.load(Ordering::SeqCst) >= before + 8).then_some(())
        })
        .await;
        let status = eventually(Duration::from_secs(10), "a cut list stored", || async {
            app.state
                .store
                .target_status(id)
                .await
                .ok()
                .flatten()
                .filter(|s| {
                    s.mcp
                        .as_ref()
                        .and_then(|m| m.full_handshake.as_ref())
                        .is_some_and(|f| f.tools_cut.is_some())
                })
        })
        .await;
        let cut = status
            .mcp
            .and_then(|m| m.full_handshake)
            .and_then(|f| f.tools_cut)
            .expect("the list was cut");
        assert!(
            cut.starts_with("the tool schemas pass 1024 KiB"),
            "{backend:?}: {cut}"
        );
        let stored = app
            .state
            .store
            .tool_catalogs(id, 100)
            .await
            .expect("catalogs");
        let bytes: usize = stored
            .iter()
            .map(|c| serde_json::to_string(&c.tools).expect("json").len())
            .sum();
        assert!(
            bytes as i64 <= MAX_CATALOG_BYTES_PER_TARGET,
            "{backend:?}: {} lists, {bytes} bytes stored",
            stored.len()
        );
        assert!(stored.iter().all(|c| c.tools.len() < 2000), "{backend:?}");
    }
}

#[tokio::test]
async fn writes_from_another_site_are_refused_even_when_the_origin_is_hidden() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;
    // Under `Referrer-Policy: no-referrer` a browser's form says `Origin: null`; its
    // `Sec-Fetch-Site` still says where the form was.
    for (site, allowed) in [
        ("same-origin", true),
        ("cross-site", false),
        ("same-site", false),
    ] {
        let status = app
            .client
            .post(app.url("/api/auth/me"))
            .header("origin", "null")
            .header("sec-fetch-site", site)
            .send()
            .await
            .expect("post")
            .status();
        assert_eq!(
            status == StatusCode::FORBIDDEN,
            !allowed,
            "{site}: {status}"
        );
    }
    let forged = app
        .client
        .post(app.url("/api/auth/me"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
}

/// Makes an API token as `creator`, returning the secret or the refusal's body.
async fn issue_token(
    app: &common::TestApp,
    creator: &reqwest::Client,
    name: &str,
    role: &str,
    scopes: &[&str],
    expires_days: &str,
) -> Result<String, String> {
    let indexed: Vec<(String, String)> = scopes
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("scopes[{i}]"), (*s).to_owned()))
        .collect();
    let mut form: Vec<(&str, &str)> = vec![
        ("kind", "api"),
        ("name", name),
        ("role", role),
        ("expires_days", expires_days),
    ];
    form.extend(indexed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let (code, body) = common::post_form(app, creator, "/api/tokens/create", &form).await;
    match code {
        200 => Ok(body["secret"].as_str().expect("secret").to_owned()),
        _ => Err(body.to_string()),
    }
}

/// The status of a bodiless server-function call made with `secret`.
async fn with_token(app: &common::TestApp, secret: &str, path: &str) -> StatusCode {
    reqwest::Client::new()
        .post(app.url(path))
        .bearer_auth(secret)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .expect("call")
        .status()
}

async fn post_deploy(app: &common::TestApp, secret: &str) -> StatusCode {
    reqwest::Client::new()
        .post(app.url("/api/v1/deploys"))
        .bearer_auth(secret)
        .json(&serde_json::json!({ "target": "checkout", "version": "1.4.2" }))
        .send()
        .await
        .expect("deploy")
        .status()
}

#[tokio::test]
async fn api_tokens_reach_only_their_scopes_expire_and_end_with_their_creator() {
    use mcpops::domain::auth::Role;
    let _serial = ONE_AT_A_TIME.lock().await;
    for backend in common::BACKENDS {
        let db = TestDb::new(backend).await;
        let app = spawn_app(db.url(), None).await;
        common::add_target(
            app.state.store.as_ref(),
            "checkout",
            "http://127.0.0.1:9/mcp",
        )
        .await;
        let (creator, as_creator) = app.signed_in(Role::Admin).await;

        // A pipeline's token posts deploys and nothing else, not even reads.
        let pipeline = issue_token(
            &app,
            &as_creator,
            "pipeline",
            "operator",
            &["deploys:write"],
            "",
        )
        .await
        .expect("pipeline token");
        assert_eq!(
            post_deploy(&app, &pipeline).await,
            StatusCode::CREATED,
            "{backend:?}"
        );
        assert_eq!(
            with_token(&app, &pipeline, "/api/targets/list").await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            with_token(&app, &pipeline, "/api/alerts/acknowledge").await,
            StatusCode::FORBIDDEN
        );

        // A read token of an admin reads, and writes nothing.
        let reader = issue_token(&app, &as_creator, "reader", "admin", &["read"], "")
            .await
            .expect("reader token");
        assert_eq!(
            with_token(&app, &reader, "/api/targets/list").await,
            StatusCode::OK
        );
        assert_eq!(
            with_token(&app, &reader, "/api/audit/verify").await,
            StatusCode::OK
        );
        assert_eq!(
            with_token(&app, &reader, "/api/targets/remove").await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(post_deploy(&app, &reader).await, StatusCode::FORBIDDEN);

        // A token never does more than its creator's role now allows.
        let everything = issue_token(&app, &as_creator, "everything", "admin", &["admin"], "30")
            .await
            .expect("admin token");
        assert_eq!(
            with_token(&app, &everything, "/api/users/list").await,
            StatusCode::OK
        );
        let id = app
            .state
            .store
            .user_by_name(&creator)
            .await
            .expect("user")
            .expect("exists")
            .account
            .id
            .to_string();
        let demote = [("id", id.as_str()), ("role", "operator")];
        let (code, body) = common::post_form(&app, &app.client, "/api/users/update", &demote).await;
        assert_eq!(code, 200, "{backend:?}: {body}");
        assert_eq!(
            with_token(&app, &everything, "/api/users/list").await,
            StatusCode::FORBIDDEN,
            "{backend:?}: the creator is an operator now"
        );
        assert_eq!(post_deploy(&app, &everything).await, StatusCode::CREATED);
        assert_eq!(
            with_token(&app, &reader, "/api/audit/verify").await,
            StatusCode::FORBIDDEN
        );

        // Past its expiry a token is refused.
        let stale = "UPDATE tokens SET expires_at = '2020-01-01T00:00:00+00:00' \
            WHERE name = 'everything'";
        db.raw_sql(&[stale]).await.expect("expire");
        assert_eq!(
            with_token(&app, &everything, "/api/targets/list").await,
            StatusCode::UNAUTHORIZED,
            "{backend:?}: expired"
        );

        // Disabling the creator stops every token they made.
        let disable = [
            ("id", id.as_str()),
            ("role", "operator"),
            ("disabled", "true"),
        ];
        let (code, body) =
            common::post_form(&app, &app.client, "/api/users/update", &disable).await;
        assert_eq!(code, 200, "{backend:?}: {body}");
        assert_eq!(
            post_deploy(&app, &pipeline).await,
            StatusCode::UNAUTHORIZED,
            "{backend:?}"
        );
        assert_eq!(
            with_token(&app, &reader, "/api/targets/list").await,
            StatusCode::UNAUTHORIZED
        );

        // Bad forms name their field and make nothing.
        for (scopes, days, field) in [
            (&[][..], "", "scopes"),
            (&["write"][..], "", "scopes"),
            (&["read"][..], "0", "expires_days"),
        ] {
            let refused = issue_token(&app, &app.client, "bad", "viewer", scopes, days).await;
            assert!(
                refused.as_ref().is_err_and(|body| body.contains(field)),
                "{backend:?}: {scopes:?} {days}: {refused:?}"
            );
        }
        let names: Vec<String> = app
            .state
            .store
            .tokens()
            .await
            .expect("tokens")
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert!(!names.contains(&"bad".to_owned()), "{names:?}");
    }
}

#[tokio::test]
async fn tokens_made_before_scopes_keep_what_their_role_was_for() {
    use mcpops::domain::auth::TokenScope::*;
    for backend in common::BACKENDS {
        let db = TestDb::new(backend).await;
        db.migrate_before(16).await.expect("older schema");
        let mut rows = Vec::new();
        for role in ["viewer", "operator", "auditor", "admin"] {
            rows.push(format!(
                "INSERT INTO tokens (kind, name, role, secret_hash, created_by, created_at) \
                 VALUES ('api', '{role}', '{role}', 'hash-{role}', 'admin', \
                 '2026-01-01T00:00:00+00:00')"
            ));
        }
        rows.push(
            "INSERT INTO tokens (kind, name, role, secret_hash, created_by, created_at) \
             VALUES ('kiosk', 'lobby', 'viewer', 'hash-kiosk', 'admin', \
             '2026-01-01T00:00:00+00:00')"
                .to_owned(),
        );
        let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
        db.raw_sql(&rows).await.expect("old tokens");
        let store = mcpops::server::store::open(db.url(), &Default::default())
            .await
            .expect("store opens and migrates");
        let scopes = |name: &str, tokens: &[mcpops::domain::auth::TokenRecord]| {
            tokens
                .iter()
                .find(|t| t.name == name)
                .expect(name)
                .scopes
                .clone()
        };
        let tokens = store.tokens().await.expect("tokens");
        assert_eq!(scopes("viewer", &tokens), vec![Read], "{backend:?}");
        assert_eq!(scopes("auditor", &tokens), vec![Read]);
        assert_eq!(
            scopes("operator", &tokens),
            vec![Read, DeploysWrite, AlertsWrite]
        );
        assert_eq!(scopes("admin", &tokens), vec![Admin]);
        assert_eq!(scopes("lobby", &tokens), vec![]);
        assert!(tokens.iter().all(|t| t.expires_at.is_none()));
    }
}

/// Failed sign-in entries: the first of each burst, and the summaries.
async fn failed_sign_ins(app: &common::TestApp) -> Vec<mcpops::domain::audit::AuditEntry> {
    let filter = mcpops::domain::audit::AuditFilter {
        action: Some("login".into()),
        ..Default::default()
    };
    let entries = app
        .state
        .store
        .search_audit(&filter, None, 1_000)
        .await
        .expect("audit");
    entries
        .into_iter()
        .filter(|e| e.event.result == mcpops::domain::audit::Outcome::Failure)
        .collect()
}

#[tokio::test]
async fn a_loop_of_failed_sign_ins_writes_one_entry_per_burst_with_its_count() {
    let _serial = ONE_AT_A_TIME.lock().await;
    for backend in common::BACKENDS {
        let db = TestDb::new(backend).await;
        let app = common::spawn_app_with(db.url(), None, |c| {
            c.auth.failed_sign_in_quiet_seconds = 2;
        })
        .await;
        let (name, _) = app.signed_in(mcpops::domain::auth::Role::Viewer).await;
        // 30 made-up names from one address, and 10 guesses at one account (throttled after 5).
        for n in 0..30 {
            app.login(&cookie_client(), &format!("nobody-{n}"), "a wrong guess")
                .await;
        }
        for n in 0..10 {
            app.login(&cookie_client(), &name, &format!("guess number {n}"))
                .await;
        }
        let at_once = failed_sign_ins(&app).await;
        assert_eq!(
            at_once.len(),
            2,
            "{backend:?}: the first of each burst, at once"
        );

        let summed = eventually(Duration::from_secs(10), "the bursts are summed", || async {
            let entries = failed_sign_ins(&app).await;
            (entries.len() == 4).then_some(entries)
        })
        .await;
        let count = |resource: &str| -> u64 {
            let summary = summed
                .iter()
                .find(|e| e.event.resource == resource && e.event.details.contains("count"))
                .unwrap_or_else(|| panic!("{backend:?}: a summary for {resource}: {summed:?}"));
            let details: serde_json::Value =
                serde_json::from_str(&summary.event.details).expect("details");
            details["count"].as_u64().expect("count")
        };
        assert_eq!(
            count("127.0.0.1"),
            29,
            "{backend:?}: every made-up name is counted"
        );
        assert_eq!(count(&name), 9, "{backend:?}");
        let account = summed
            .iter()
            .find(|e| e.event.resource == name && e.event.details.contains("count"))
            .expect("account summary");
        assert!(
            account.event.details.contains("throttled"),
            "{backend:?}: {}",
            account.event.details
        );
    }
}

/// Every member of a `.tar.gz`, in order.
fn members_of(archive: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let file = std::fs::File::open(archive).expect("archive");
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    tar.entries()
        .expect("entries")
        .map(|entry| {
            let mut entry = entry.expect("entry");
            let name = entry.path().expect("name").to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).expect("read");
            (name, bytes)
        })
        .collect()
}

fn pack(path: &std::path::Path, members: &[(String, Vec<u8>)]) {
    let file = std::fs::File::create(path).expect("create");
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ));
    for (name, bytes) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o600);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes.as_slice())
            .expect("append");
    }
    tar.into_inner().expect("tar").finish().expect("gzip");
}

#[tokio::test]
async fn a_restore_refuses_doubled_unlisted_and_overlong_members() {
    use mcpops::domain::backups::RunKind;
    use mcpops::server::services::backup::{Backups, Tracker, verify};
    for backend in common::BACKENDS {
        let db = TestDb::new(backend).await;
        let config = common::test_config(db.url());
        let store = mcpops::server::store::open(db.url(), &Default::default())
            .await
            .expect("store");
        let dir = tempfile::tempdir().expect("dir");
        let backups = Backups::new(
            store.clone(),
            config.database.url.clone(),
            config.backup.clone(),
            Default::default(),
        );
        let done = backups
            .back_up(
                Some(dir.path()),
                "test",
                &mcpops::domain::audit::RequestOrigin::local(),
            )
            .await
            .expect("backup");
        let real = members_of(&done.archive);
        let database = real
            .iter()
            .position(|(name, _)| name.starts_with("database/"))
            .expect("database member");
        let manifest_at = real
            .iter()
            .position(|(n, _)| n == "manifest.json")
            .expect("manifest");

        // A second copy of the database after the checked one, which would win on disk.
        let mut doubled = real.clone();
        doubled.insert(
            database + 1,
            (real[database].0.clone(), b"not a database".to_vec()),
        );
        // A member the manifest does not list.
        let mut unlisted = real.clone();
        unlisted.insert(
            manifest_at,
            ("runbooks/planted.md".into(), b"# planted".to_vec()),
        );
        // 64 MiB of zeros (a few hundred kilobytes compressed) where the manifest promises
        // the real database's size.
        let mut overlong = real.clone();
        overlong[database].1 = vec![0; 64 << 20];

        for (what, members, said) in [
            ("doubled", doubled, "appears twice"),
            ("unlisted", unlisted, "not listed in the manifest"),
            ("overlong", overlong, "longer than the manifest says"),
        ] {
            let path = dir.path().join(format!("{what}.tar.gz"));
            pack(&path, &members);
            let refused = verify(db.url(), &path, &Tracker::detached(RunKind::Verify)).await;
            let message = match refused {
                Err(err) => err.to_string(),
                Ok(checked) => panic!("{backend:?}: {what} archive accepted: {checked:?}"),
            };
            assert!(message.contains(said), "{backend:?}: {what}: {message}");
        }
        // The untouched archive still verifies: the refusals are about the attacks.
        let intact = dir.path().join("intact.tar.gz");
        pack(&intact, &real);
        let checked = verify(db.url(), &intact, &Tracker::detached(RunKind::Verify)).await;
        assert!(checked.is_ok(), "{backend:?}: {checked:?}");
        store.close().await;
    }
}

#[tokio::test]
async fn pg_dump_connects_with_the_database_urls_tls_parameters() {
    use mcpops::server::services::backup::Backups;
    let db = TestDb::postgres().await;
    // The server's own connections (sqlx) ignore `channel_binding`; libpq's programs obey it,
    // and refuse to go on without TLS. Were the URL's parameters dropped, pg_dump would
    // connect as libpq's default allows and the backup would succeed.
    let strict = format!("{}?sslmode=disable&channel_binding=require", db.url());
    let store = mcpops::server::store::open(&strict, &Default::default())
        .await
        .expect("store");
    let config = common::test_config(&strict);
    let dir = tempfile::tempdir().expect("dir");
    let backups = Backups::new(
        store.clone(),
        config.database.url.clone(),
        config.backup.clone(),
        Default::default(),
    );
    let result = backups
        .back_up(
            Some(dir.path()),
            "test",
            &mcpops::domain::audit::RequestOrigin::local(),
        )
        .await;
    let message = match result {
        Err(err) => err.to_string(),
        Ok(done) => panic!("pg_dump ignored the URL's channel_binding: {done:?}"),
    };
    assert!(message.contains("channel binding"), "{message}");
    store.close().await;
}

#[tokio::test]
async fn probes_never_reach_a_denied_network_by_address_or_by_name() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let reached = Arc::new(AtomicUsize::new(0));
    let counting = {
        let reached = reached.clone();
        axum::Router::new().fallback(move || {
            let reached = reached.clone();
            async move {
                reached.fetch_add(1, Ordering::SeqCst);
                StatusCode::OK
            }
        })
    };
    let listener = serve_on_loopback(counting).await;
    let db = TestDb::sqlite();
    // Loopback stands in for the metadata service: the only address a test may use.
    let app = common::spawn_app_with(db.url(), None, |c| {
        c.collector.deny_networks = vec![
            "127.0.0.0/8".parse().expect("net"),
            "::1/128".parse().expect("net"),
        ];
    })
    .await;
    let port = listener.port();
    let mut ids = Vec::new();
    for (name, url) in [
        ("by-address", format!("http://127.0.0.1:{port}")),
        ("by-name", format!("http://localhost:{port}")),
        ("mapped", format!("http://[::ffff:127.0.0.1]:{port}")),
    ] {
        let spec = TargetSpec::from_form(name, &url, "1", "").expect("spec");
        let target = app
            .state
            .store
            .insert_target(&spec, TargetSource::Ui, common::test_event())
            .await
            .expect("insert");
        ids.push((name, target.id));
    }
    app.state.targets_changed();
    for (name, id) in ids {
        let status = eventually(Duration::from_secs(10), name, || async {
            app.state
                .store
                .target_status(id)
                .await
                .ok()
                .flatten()
                .filter(|s| !s.failures.is_empty())
        })
        .await;
        assert!(
            status
                .failures
                .iter()
                .all(|f| f.reason.contains("deny_networks refuses")),
            "{name}: {:?}",
            status.failures
        );
    }
    // A window in which nothing may reach the listener.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "a probe reached a denied address"
    );
}

#[tokio::test]
async fn only_scripts_with_the_pages_own_nonce_may_run_inline() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;
    let mut nonces = Vec::new();
    // A page with streamed data, the login form, and a page nobody routed (404).
    for path in ["/fleet", "/login", "/no-such-page", "/fleet"] {
        let response = app.client.get(app.url(path)).send().await.expect("get");
        let policy = response
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let html = response.text().await.expect("html");
        let script_src = policy
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src "))
            .unwrap_or_else(|| panic!("{path}: no script-src in {policy}"));
        assert!(
            !script_src.contains("'unsafe-inline'"),
            "{path}: {script_src}"
        );
        let nonce = script_src
            .split_whitespace()
            .find_map(|s| s.strip_prefix("'nonce-")?.strip_suffix('\''))
            .unwrap_or_else(|| panic!("{path}: no nonce in {script_src}"))
            .to_owned();
        let scripts: Vec<&str> = html.split("<script").skip(1).collect();
        assert!(
            !scripts.is_empty(),
            "{path}: the page hydrates with an inline script"
        );
        for script in scripts {
            let tag = script.split('>').next().unwrap_or_default();
            let inline = !tag.contains("src=");
            assert!(
                !inline || tag.contains(&format!("nonce=\"{nonce}\"")),
                "{path}: an inline script without the page's nonce: <script{tag}>"
            );
        }
        nonces.push(nonce);
    }
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 4, "every page gets a fresh nonce");
    // Anything that is not a page allows no inline script at all.
    let api = app
        .client
        .post(app.url("/api/auth/me"))
        .send()
        .await
        .expect("me");
    let policy = api.headers()["content-security-policy"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!policy.contains("nonce-"), "{policy}");
}

#[tokio::test]
async fn a_name_typed_at_the_sign_in_form_reaches_the_audit_csv_as_text_not_a_formula() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;
    // Anyone can type this; an auditor opens the export in a spreadsheet. (Names are
    // case-folded before they are audited.)
    let typed = "ok;=hyperlink(\"http://evil.example\",\"open\")";
    let refused = app.login(&cookie_client(), typed, "whatever").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let csv = app
        .client
        .get(app.url("/audit/export?format=csv"))
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("csv");
    let row = csv
        .split("\r\n")
        .find(|row| row.contains("hyperlink"))
        .unwrap_or_else(|| panic!("the failed sign-in is exported: {csv}"));
    assert!(
        row.contains(",\"ok;'=hyperlink(\"\"http://evil.example\"\",\"\"open\"\")\","),
        "{row}"
    );
    assert!(
        row.starts_with('"') && row.ends_with('"'),
        "every field quoted: {row}"
    );
}

#[tokio::test]
async fn a_server_flipping_between_two_tool_lists_stores_each_list_once() {
    let _serial = ONE_AT_A_TIME.lock().await;
    // Two instances behind one URL, each with its own list: A, B, A, B, …
    let (addr, listed) = serve_tool_lists(|n| {
        (0..=n % 2)
            .map(|i| serde_json::json!({"name": format!("tool-{i}"), "inputSchema": {"type": "object"}}))
            .collect()
    })
    .await;
    for backend in common::BACKENDS {
        let db = TestDb::new(backend).await;
        let app = common::spawn_app_with(db.url(), None, |c| {
            c.collector.mcp_full_every_secs = 1;
        })
        .await;
        let id = common::add_target(
            app.state.store.as_ref(),
            "flipping",
            &format!("http://{addr}"),
        )
        .await
        .id;
        let before = listed.load(Ordering::SeqCst);
        app.state.targets_changed();
        eventually(Duration::from_secs(30), "six listings", || async {
            (listed.load(Ordering::SeqCst) >= before + 6).then_some(())
        })
        .await;
        let history = eventually(Duration::from_secs(10), "five sightings stored", || async {
            let history = app.state.store.tool_catalogs(id, 100).await.ok()?;
            (history.len() >= 5).then_some(history)
        })
        .await;
        assert!(
            history.len() >= 5,
            "{backend:?}: every flip is in the history: {}",
            history.len()
        );
        assert!(
            history.windows(2).all(|w| w[0].tools != w[1].tools),
            "{backend:?}: each sighting is a change"
        );
        let copies = db
            .count(&format!(
                "SELECT COUNT(*) FROM tool_catalogs WHERE target_id = {id} AND same_as IS NULL"
            ))
            .await
            .expect("count");
        assert_eq!(copies, 2, "{backend:?}: one stored copy per distinct list");
        let (code, detail) = common::post_form(
            &app,
            &app.client,
            "/api/servers/detail",
            &[("id", &id.to_string())],
        )
        .await;
        assert_eq!(code, 200, "{detail}");
        assert_eq!(detail["instances_disagree"], 2, "{backend:?}: {detail}");
    }
}

#[tokio::test]
async fn tool_lists_stored_again_before_are_kept_once_after_the_upgrade() {
    for backend in common::BACKENDS {
        let db = TestDb::new(backend).await;
        db.migrate_before(17).await.expect("older schema");
        let (a, b) = (
            r#"[{"name":"search","schema":"{}"}]"#,
            r#"[{"name":"fetch","schema":"{}"},{"name":"search","schema":"{}"}]"#,
        );
        let mut statements = vec![
            "INSERT INTO targets (name, base_url, interval_secs, source, created_at, updated_at) \
             VALUES ('flipping', 'http://127.0.0.1:9', 10, 'ui', \
             '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')"
                .to_owned(),
        ];
        for (at, tools) in [(1_000, a), (2_000, b), (3_000, a), (4_000, b), (5_000, a)] {
            statements.push(format!(
                "INSERT INTO tool_catalogs (target_id, at, tools) \
                 SELECT id, {at}, '{tools}' FROM targets WHERE name = 'flipping'"
            ));
        }
        let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
        db.raw_sql(&statements).await.expect("old rows");
        let store = mcpops::server::store::open(db.url(), &Default::default())
            .await
            .expect("store opens and migrates");
        let id = store.list_targets().await.expect("targets")[0].id;
        let history = store.tool_catalogs(id, 10).await.expect("history");
        let names: Vec<usize> = history.iter().map(|c| c.tools.len()).collect();
        assert_eq!(
            names,
            vec![1, 2, 1, 2, 1],
            "{backend:?}: the history, newest first"
        );
        let copies = db
            .count("SELECT COUNT(*) FROM tool_catalogs WHERE same_as IS NULL")
            .await
            .expect("count");
        assert_eq!(copies, 2, "{backend:?}");
        store.close().await;
    }
}
