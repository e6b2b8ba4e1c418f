//! Accounts, sessions, tokens and the audit log, through HTTP, on both backends.
use crate::common;

use common::{BACKENDS, Backend, TEST_PASSWORD, TestApp, TestDb, cookie_client, spawn_app};
use mcpops::domain::audit::{AuditFilter, ChainCheck};
use mcpops::domain::auth::Role;
use mcpops::server::services::audit_export::verify_chain;
use reqwest::StatusCode;
use serde_json::Value;

/// Calls a server function with form fields; returns the status and the JSON body.
async fn call(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let response = client
        .post(app.url(path))
        .header("accept", "application/json")
        .form(form)
        .send()
        .await
        .expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn me(app: &TestApp, client: &reqwest::Client) -> Value {
    call(app, client, "/api/auth/me", &[]).await.1
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("mcpops_session="))
        .map(str::to_owned)
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .expect("cookie pair")
        .to_owned()
}

#[tokio::test]
async fn signing_in_and_out() {
    for backend in BACKENDS {
        sign_in_and_out(backend).await;
    }
}

async fn sign_in_and_out(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(db.url(), None).await;
    app.add_user("ann", Role::Operator).await;

    // Wrong password and unknown user are indistinguishable to the person at the form.
    let wrong = app.login(&cookie_client(), "ann", "not the password").await;
    let wrong_status = wrong.status();
    let wrong_body = wrong.text().await.expect("body");
    let unknown = app
        .login(&cookie_client(), "nobody", "not the password")
        .await;
    assert_eq!(wrong_status, StatusCode::UNAUTHORIZED, "{backend:?}");
    assert_eq!(unknown.status(), wrong_status);
    assert_eq!(unknown.text().await.expect("body"), wrong_body);
    assert!(
        wrong_body.contains("wrong username or password"),
        "{wrong_body}"
    );

    // An overlong name is refused with a reason, not with a password check.
    let long = app.login(&cookie_client(), &"a".repeat(300), "x").await;
    assert_eq!(
        long.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "{backend:?}"
    );
    assert!(
        long.text()
            .await
            .expect("body")
            .contains("at most 64 characters")
    );

    // A session cookie is HttpOnly and SameSite=Strict.
    let client = cookie_client();
    let first = app.login(&client, "ann", TEST_PASSWORD).await;
    let first_cookie = session_cookie(&first).expect("session cookie");
    assert!(first_cookie.contains("HttpOnly"), "{first_cookie}");
    assert!(first_cookie.contains("SameSite=Strict"), "{first_cookie}");
    assert_eq!(me(&app, &client).await["name"], "ann");

    // Session fixation: whoever knows the id from before a login cannot ride on it after.
    app.add_user("bob", Role::Viewer).await;
    let planted = cookie_value(&first_cookie);
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let second = raw
        .post(app.url("/api/auth/login"))
        .header("cookie", &planted)
        .form(&[
            ("username", "bob"),
            ("password", TEST_PASSWORD),
            ("next", "/"),
        ])
        .send()
        .await
        .expect("login");
    let cycled = cookie_value(&session_cookie(&second).expect("a new session id at login"));
    assert_ne!(cycled, planted, "{backend:?}: the id changes at login");
    let with_planted = raw
        .post(app.url("/api/auth/me"))
        .header("cookie", &planted)
        .send()
        .await
        .expect("me");
    assert_eq!(with_planted.text().await.expect("body"), "null");
    let with_cycled = raw
        .post(app.url("/api/auth/me"))
        .header("cookie", &cycled)
        .send()
        .await
        .expect("me");
    assert!(with_cycled.text().await.expect("body").contains("\"bob\""));

    // Logout ends the session, and everything is in the audit log.
    let (ann, client) = app.signed_in(Role::Viewer).await;
    let (status, _) = call(&app, &client, "/api/auth/logout", &[]).await;
    assert!(status.is_success() || status.is_redirection(), "{status}");
    assert_eq!(me(&app, &client).await, Value::Null);
    let store = app.state.store.as_ref();
    let actions: Vec<(String, String, String)> = store
        .search_audit(&AuditFilter::default(), None, 100)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| {
            (
                e.event.actor,
                e.event.action,
                e.event.result.as_str().to_owned(),
            )
        })
        .collect();
    for wanted in [
        ("ann", "login", "failure"),
        ("nobody", "login", "failure"),
        ("ann", "login", "success"),
        (ann.as_str(), "logout", "success"),
    ] {
        assert!(
            actions
                .iter()
                .any(|(u, a, r)| (u.as_str(), a.as_str(), r.as_str()) == wanted),
            "{backend:?}: missing {wanted:?} in {actions:?}"
        );
    }
}

#[tokio::test]
async fn repeated_failures_lock_the_account_with_a_clear_message() {
    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;
    app.add_user("carol", Role::Viewer).await;
    for _ in 0..5 {
        let response = app.login(&cookie_client(), "carol", "guessing wrong").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is refused, with a wait rather than a reason.
    let locked = app.login(&cookie_client(), "carol", TEST_PASSWORD).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let body = locked.text().await.expect("body");
    assert!(body.contains("try again in 15 minutes"), "{body}");
    // An account that does not exist locks the same way: nothing to enumerate.
    for _ in 0..5 {
        app.login(&cookie_client(), "ghost", "guessing wrong").await;
    }
    let ghost = app.login(&cookie_client(), "ghost", "guessing wrong").await;
    assert_eq!(ghost.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_forced_reset_must_be_done_and_a_disabled_account_is_out() {
    for backend in BACKENDS {
        forced_reset_and_disable(backend).await;
    }
}

async fn forced_reset_and_disable(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(db.url(), None).await;
    let (status, issued) = call(
        &app,
        &app.client,
        "/api/users/add",
        &[("username", "Dora"), ("role", "operator")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{backend:?}: {issued}");
    assert_eq!(issued["username"], "dora", "usernames are case-folded");
    let temporary = issued["password"].as_str().expect("temporary password");

    let dora = cookie_client();
    let login = app.login(&dora, "dora", temporary).await;
    assert_eq!(
        login
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok()),
        Some("/account/password"),
        "{backend:?}: sent to change the password first"
    );
    let page = dora.get(app.url("/fleet")).send().await.expect("page");
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()["location"], "/account/password");
    let (status, _) = call(&app, &dora, "/api/targets/list", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, body) = call(
        &app,
        &dora,
        "/api/auth/password",
        &[
            ("current", temporary),
            ("new_password", "short"),
            ("confirm", "short"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.to_string().contains("at least 12 characters"),
        "{body}"
    );
    let fresh = "a much better passphrase";
    let (status, body) = call(
        &app,
        &dora,
        "/api/auth/password",
        &[
            ("current", temporary),
            ("new_password", fresh),
            ("confirm", fresh),
        ],
    )
    .await;
    assert!(
        status.is_success() || status.is_redirection(),
        "{status} {body}"
    );
    let (status, _) = call(&app, &dora, "/api/targets/list", &[]).await;
    assert_eq!(status, StatusCode::OK, "{backend:?}: in after the change");

    // Disabling takes effect on the next request of a session that is already open.
    let id = app
        .state
        .store
        .user_by_name("dora")
        .await
        .expect("lookup")
        .expect("dora")
        .account
        .id
        .to_string();
    let (status, body) = call(
        &app,
        &app.client,
        "/api/users/update",
        &[("id", &id), ("role", "operator"), ("disabled", "true")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = call(&app, &dora, "/api/targets/list", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{backend:?}");
    let again = app.login(&cookie_client(), "dora", fresh).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
}

async fn create_token(app: &TestApp, kind: &str, name: &str, role: &str) -> (i64, String) {
    let (status, issued) = call(
        app,
        &app.client,
        "/api/tokens/create",
        &[
            ("kind", kind),
            ("name", name),
            ("role", role),
            ("scopes[0]", "read"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    (
        issued["token"]["id"].as_i64().expect("id"),
        issued["secret"].as_str().expect("secret").to_owned(),
    )
}

#[tokio::test]
async fn kiosk_and_api_tokens_work_until_revoked() {
    for backend in BACKENDS {
        tokens(backend).await;
    }
}

async fn tokens(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(db.url(), None).await;

    let (kiosk_id, kiosk) = create_token(&app, "kiosk", "lobby", "admin").await;
    let wall = cookie_client();
    let page = wall
        .get(app.url(&format!("/wall?kiosk={kiosk}")))
        .send()
        .await
        .expect("wall");
    assert_eq!(page.status(), StatusCode::OK, "{backend:?}");
    let (status, _) = call(&app, &wall, "/api/fleet/overview", &[]).await;
    assert_eq!(status, StatusCode::OK, "the wall's data");
    let (status, _) = call(&app, &wall, "/api/targets/list", &[]).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a kiosk is read-only wall, whatever role was asked"
    );

    let (status, _) = call(
        &app,
        &app.client,
        "/api/tokens/revoke",
        &[("id", &kiosk_id.to_string())],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&app, &wall, "/api/fleet/overview", &[]).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "{backend:?}: revoked at the next request"
    );
    let reopened = cookie_client()
        .get(app.url(&format!("/wall?kiosk={kiosk}")))
        .send()
        .await
        .expect("wall");
    assert_eq!(reopened.status(), StatusCode::UNAUTHORIZED);
    assert!(
        reopened
            .text()
            .await
            .expect("body")
            .contains("no longer works")
    );

    let (api_id, secret) = create_token(&app, "api", "deploy bot", "viewer").await;
    let bot = reqwest::Client::new();
    let list = |client: &reqwest::Client, path: &str| {
        client
            .post(app.url(path))
            .bearer_auth(&secret)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("")
            .send()
    };
    assert_eq!(
        list(&bot, "/api/targets/list")
            .await
            .expect("call")
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        list(&bot, "/api/targets/add").await.expect("call").status(),
        StatusCode::FORBIDDEN,
        "a viewer token cannot change targets"
    );
    // The secret is shown once: the token list never carries it.
    let (_, listed) = call(&app, &app.client, "/api/tokens/list", &[]).await;
    assert!(!listed.to_string().contains(&secret));
    assert!(!listed.to_string().contains(&kiosk));
    let deploy = listed
        .as_array()
        .expect("list")
        .iter()
        .find(|t| t["name"] == "deploy bot")
        .expect("listed");
    assert!(!deploy["last_used_at"].is_null(), "use is recorded");

    call(
        &app,
        &app.client,
        "/api/tokens/revoke",
        &[("id", &api_id.to_string())],
    )
    .await;
    assert_eq!(
        list(&bot, "/api/targets/list")
            .await
            .expect("call")
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let uses = app
        .state
        .store
        .search_audit(
            &AuditFilter {
                action: Some("kiosk_use".into()),
                ..AuditFilter::default()
            },
            None,
            10,
        )
        .await
        .expect("audit");
    assert_eq!(
        uses.len(),
        1,
        "{backend:?}: opening the wall with the token is audited"
    );
}

#[tokio::test]
async fn the_audit_chain_exposes_an_edited_row() {
    for backend in BACKENDS {
        tampering(backend).await;
    }
}

async fn tampering(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(db.url(), None).await;
    let (_, auditor) = app.signed_in(Role::Auditor).await;
    let store = app.state.store.as_ref();
    let report = verify_chain(store, |_| {}).await.expect("verify");
    assert!(report.broken.is_none(), "{backend:?}: {report:?}");
    assert!(report.checked >= 2);

    // The database itself refuses edits while its guard is in place.
    let refused = db
        .raw_sql(&["UPDATE audit_log SET actor = 'mallory' WHERE seq = 1"])
        .await;
    assert!(refused.is_err(), "{backend:?}: append-only guard");

    let lift_guard = match backend {
        Backend::Sqlite => "DROP TRIGGER audit_log_no_update",
        Backend::Postgres => "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
    };
    db.raw_sql(&[
        lift_guard,
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2",
    ])
    .await
    .expect("tamper");

    let report = verify_chain(store, |_| {}).await.expect("verify");
    assert_eq!(
        report.broken,
        Some((2, ChainCheck::ContentChanged)),
        "{backend:?}"
    );
    let (status, entry) = call(&app, &auditor, "/api/audit/entry", &[("seq", "2")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        entry["chain"], "ContentChanged",
        "{backend:?}: flagged in the UI"
    );

    let cli = common::verify_audit(db.url()).await;
    let stdout = String::from_utf8_lossy(&cli.stdout);
    assert_eq!(cli.status.code(), Some(1), "{backend:?}: {stdout}");
    assert!(stdout.contains("BROKEN at entry 2"), "{stdout}");
}

#[tokio::test]
async fn an_action_whose_audit_entry_cannot_be_written_does_not_happen() {
    for backend in BACKENDS {
        unaudited_change_fails(backend).await;
    }
}

async fn unaudited_change_fails(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(db.url(), None).await;
    let block: &[&str] = match backend {
        Backend::Sqlite => &["CREATE TRIGGER audit_blocked BEFORE INSERT ON audit_log \
             BEGIN SELECT RAISE(ABORT, 'audit storage failed'); END"],
        Backend::Postgres => &[
            "CREATE FUNCTION audit_blocked() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'audit storage failed'; END $$",
            "CREATE TRIGGER audit_blocked BEFORE INSERT ON audit_log \
             FOR EACH ROW EXECUTE FUNCTION audit_blocked()",
        ],
    };
    db.raw_sql(block).await.expect("block audit writes");
    let (status, _) = call(
        &app,
        &app.client,
        "/api/targets/add",
        &[
            ("name", "never-audited"),
            ("base_url", "http://127.0.0.1:9"),
            ("interval_secs", "10"),
            ("tags", ""),
        ],
    )
    .await;
    assert!(status.is_server_error(), "{backend:?}: {status}");
    let targets = app.state.store.list_targets().await.expect("list");
    assert!(
        targets.iter().all(|t| t.name != "never-audited"),
        "{backend:?}: the change was rolled back with its audit entry"
    );
}

#[tokio::test]
async fn auditors_search_page_and_export() {
    for backend in BACKENDS {
        search_and_export(backend).await;
    }
}

async fn search_and_export(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(db.url(), None).await;
    let (_, auditor) = app.signed_in(Role::Auditor).await;
    for n in 0..55 {
        let name = format!("zeta-{n:02}");
        let (status, body) = call(
            &app,
            &app.client,
            "/api/targets/add",
            &[
                ("name", &name),
                ("base_url", "http://127.0.0.1:9"),
                ("interval_secs", "10"),
                ("tags", "payments"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    call(
        &app,
        &app.client,
        "/api/targets/add",
        &[
            ("name", "omega-7"),
            ("base_url", "not a url"),
            ("interval_secs", "10"),
            ("tags", ""),
        ],
    )
    .await;

    let search = |q: &str, extra: Vec<(&'static str, String)>| {
        let mut form = vec![
            ("query[user]", String::new()),
            ("query[event_type]", String::new()),
            ("query[action]", String::new()),
            ("query[resource]", String::new()),
            ("query[result]", String::new()),
            ("query[period]", String::new()),
            ("query[q]", q.to_owned()),
        ];
        for (key, value) in extra {
            form.retain(|(k, _)| *k != key);
            form.push((key, value));
        }
        let auditor = auditor.clone();
        let url = app.url("/api/audit/search");
        async move {
            let response = auditor
                .post(url)
                .header("accept", "application/json")
                .form(&form)
                .send()
                .await
                .expect("search");
            let status = response.status();
            (status, response.json::<Value>().await.expect("json"))
        }
    };

    // Full-text: a word of the resource; prefix matching; and keyset pages that do not overlap.
    let (status, first) = search("zeta", vec![]).await;
    assert_eq!(status, StatusCode::OK, "{backend:?}: {first}");
    let first_seqs: Vec<i64> = first["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(first_seqs.len(), 50, "{backend:?}: a page is 50");
    let before = first["next_before"].as_i64().expect("another page");
    let (_, second) = search("zeta", vec![("before", before.to_string())]).await;
    let second_seqs: Vec<i64> = second["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(second_seqs.len(), 5, "{backend:?}");
    assert!(
        second_seqs
            .iter()
            .all(|s| *s < *first_seqs.last().expect("last"))
    );
    assert!(second["next_before"].is_null());

    let (_, one) = search("zeta 07", vec![]).await;
    let resources: Vec<&str> = one["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["event"]["resource"].as_str().expect("resource"))
        .collect();
    assert_eq!(
        resources,
        vec!["zeta-07"],
        "{backend:?}: all words must match"
    );

    // Failures are filterable, and details are searchable (the refused URL is in them).
    let (_, failed) = search(
        "",
        vec![
            ("query[result]", "failure".into()),
            ("query[event_type]", "target".into()),
        ],
    )
    .await;
    let failed = failed["entries"].as_array().expect("entries");
    assert_eq!(failed.len(), 1, "{backend:?}");
    assert_eq!(failed[0]["event"]["resource"], "omega-7");

    // Search syntax and SQL in the box are just words.
    for hostile in [
        "'; DROP TABLE audit_log; --",
        "\" OR 1=1 --",
        "zeta* NEAR(",
        "a:* | !b & (c",
    ] {
        let (status, body) = search(hostile, vec![]).await;
        assert_eq!(status, StatusCode::OK, "{backend:?}: {hostile}: {body}");
    }
    assert!(
        app.state
            .store
            .search_audit(&AuditFilter::default(), None, 1)
            .await
            .is_ok()
    );

    let (status, body) = search(&"x".repeat(201), vec![]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.to_string().contains("longer than 200"), "{body}");

    // CSV export of the current filter, streamed, and itself audited.
    let csv = auditor
        .get(app.url("/audit/export?format=csv&q=zeta"))
        .send()
        .await
        .expect("export");
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .expect("header")
            .contains(".csv")
    );
    let text = csv.text().await.expect("csv");
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .expect("header")
            .starts_with("\"seq\",\"timestamp_utc\",\"event_type\",\"user\"")
    );
    assert_eq!(
        lines.filter(|l| l.contains("zeta-")).count(),
        55,
        "{backend:?}"
    );
    let json: Value = auditor
        .get(app.url("/audit/export?format=json&q=zeta"))
        .send()
        .await
        .expect("export")
        .json()
        .await
        .expect("json export parses");
    let exported = json.as_array().expect("array");
    assert_eq!(
        exported
            .iter()
            .filter(|e| e["resource"]
                .as_str()
                .is_some_and(|r| r.starts_with("zeta-")))
            .count(),
        55
    );
    let exports = app
        .state
        .store
        .search_audit(
            &AuditFilter {
                action: Some("export".into()),
                ..AuditFilter::default()
            },
            None,
            10,
        )
        .await
        .expect("audit");
    assert_eq!(exports.len(), 2, "{backend:?}: each export is audited");
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_timeout_however_busy() {
    let db = TestDb::sqlite();
    // Zero hours: every session is already past its absolute limit at its next request.
    let app = common::spawn_app_with(db.url(), None, |config| {
        config.auth.absolute_timeout_hours = 0;
    })
    .await;
    let (status, _) = call(&app, &app.client, "/api/targets/list", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&app, &app.client).await, Value::Null);
}
