//! The authorization matrix: every server function, route and page, asked by every kind of
//! caller, on both backends. The expectations are written here independently of the server's
//! policy table, and every registered server function must appear, so a new endpoint without
//! a decision fails this test.
use crate::common;

use common::{BACKENDS, Backend, TestApp, TestDb, cookie_client, spawn_app};
use mcpops::domain::auth::Role;
use reqwest::StatusCode;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Need {
    Anyone,
    SignedIn,
    Wall,
    Dashboards,
    Operate,
    Audit,
    Admin,
}

/// What each server function needs, as the issue describes the roles.
const SERVER_FUNCTIONS: &[(&str, Need)] = &[
    ("/api/auth/me", Need::Anyone),
    ("/api/auth/login", Need::Anyone),
    ("/api/auth/password", Need::SignedIn),
    ("/api/fleet/overview", Need::Wall),
    ("/api/servers/detail", Need::Dashboards),
    ("/api/targets/list", Need::Dashboards),
    ("/api/targets/get", Need::Dashboards),
    ("/api/targets/offers", Need::Dashboards),
    ("/api/targets/sources", Need::Dashboards),
    ("/api/targets/add", Need::Admin),
    ("/api/targets/update", Need::Admin),
    ("/api/targets/remove", Need::Admin),
    ("/api/checks/list", Need::Dashboards),
    ("/api/checks/add", Need::Admin),
    ("/api/checks/remove", Need::Admin),
    ("/api/demo/list", Need::Dashboards),
    ("/api/demo/fault", Need::Operate),
    ("/api/users/list", Need::Admin),
    ("/api/users/add", Need::Admin),
    ("/api/users/update", Need::Admin),
    ("/api/users/reset", Need::Admin),
    ("/api/users/sign_out", Need::Admin),
    ("/api/tokens/list", Need::Admin),
    ("/api/tokens/create", Need::Admin),
    ("/api/tokens/revoke", Need::Admin),
    ("/api/audit/search", Need::Audit),
    ("/api/audit/entry", Need::Audit),
    ("/api/audit/verify", Need::Audit),
    ("/api/alerts/list", Need::Dashboards),
    ("/api/alerts/wall", Need::Wall),
    ("/api/alerts/detail", Need::Dashboards),
    ("/api/alerts/acknowledge", Need::Operate),
    ("/api/rules/list", Need::Dashboards),
    ("/api/rules/save", Need::Operate),
    ("/api/rules/delete", Need::Operate),
    ("/api/rules/learn", Need::Operate),
    ("/api/silences/list", Need::Dashboards),
    ("/api/silences/create", Need::Operate),
    ("/api/silences/expire", Need::Operate),
    ("/api/channels/list", Need::Operate),
    ("/api/channels/create", Need::Admin),
    ("/api/channels/delete", Need::Admin),
    ("/api/channels/test", Need::Operate),
    ("/api/deploys/create", Need::Operate),
    ("/api/deploys/review", Need::Dashboards),
    ("/api/runbooks/list", Need::Dashboards),
    ("/api/runbooks/get", Need::Dashboards),
    ("/api/incidents/list", Need::Dashboards),
    ("/api/incidents/get", Need::Dashboards),
    ("/api/incidents/declare", Need::Operate),
    ("/api/incidents/step", Need::Operate),
    ("/api/incidents/note", Need::Operate),
    ("/api/incidents/advance", Need::Operate),
    ("/api/incidents/resolve", Need::Operate),
    ("/api/incidents/role", Need::Operate),
    ("/api/incidents/severity", Need::Operate),
    ("/api/incidents/reopen", Need::Operate),
    ("/api/incidents/update", Need::Operate),
    ("/api/incidents/action-items", Need::Dashboards),
    ("/api/incidents/action-items/add", Need::Operate),
    ("/api/incidents/action-items/close", Need::Operate),
    ("/api/readiness/get", Need::Dashboards),
    ("/api/readiness/fleet", Need::Dashboards),
    ("/api/readiness/tick", Need::Operate),
    ("/api/oncall/summaries", Need::Wall),
    ("/api/oncall/schedule", Need::Dashboards),
    ("/api/oncall/create", Need::Operate),
    ("/api/oncall/delete", Need::Operate),
    ("/api/oncall/layer/add", Need::Operate),
    ("/api/oncall/layer/delete", Need::Operate),
    ("/api/oncall/override/add", Need::Operate),
    ("/api/oncall/override/delete", Need::Operate),
    ("/api/oncall/feed", Need::SignedIn),
    ("/api/oncall/feed/new", Need::SignedIn),
    ("/api/oncall/feed/revoke", Need::SignedIn),
    ("/api/paging/contacts", Need::SignedIn),
    ("/api/paging/contacts/add", Need::SignedIn),
    ("/api/paging/contacts/delete", Need::SignedIn),
    ("/api/paging/contacts/test", Need::SignedIn),
    ("/api/paging/policies", Need::Dashboards),
    ("/api/paging/policies/create", Need::Operate),
    ("/api/paging/policies/delete", Need::Operate),
    ("/api/backups/get", Need::Admin),
    ("/api/backups/start", Need::Admin),
    ("/api/backups/health", Need::Dashboards),
    ("/api/capacity/get", Need::Dashboards),
    ("/api/capacity/save", Need::Dashboards),
    // Last: they end the caller's sessions.
    ("/api/auth/sign_out_everywhere", Need::SignedIn),
    ("/api/auth/logout", Need::SignedIn),
];

/// Plain routes and pages (GET).
const GETS: &[(&str, Need)] = &[
    ("/health/live", Need::Anyone),
    ("/health/ready", Need::Anyone),
    ("/metrics", Need::Anyone),
    ("/login", Need::Anyone),
    ("/pkg/mcpops.css", Need::Anyone),
    ("/events", Need::Wall),
    ("/charts/1/latency.svg", Need::Dashboards),
    ("/charts/fleet/latency.svg", Need::Wall),
    ("/audit/export?format=csv", Need::Audit),
    ("/reports/incident-1.md", Need::Dashboards),
    ("/reports/capacity.csv?scope=fleet", Need::Dashboards),
    ("/charts/capacity.svg?scope=fleet", Need::Dashboards),
    ("/account/password", Need::SignedIn),
];

/// Pages expected for each route the app declares; any route not named needs dashboards.
const PAGES: &[(&str, Need)] = &[
    ("/", Need::Dashboards),
    ("/wall", Need::Wall),
    ("/login", Need::Anyone),
    ("/account/password", Need::SignedIn),
    ("/audit", Need::Audit),
    ("/audit/1", Need::Audit),
    ("/admin/users", Need::Admin),
    ("/admin/tokens", Need::Admin),
    ("/admin/backups", Need::Admin),
    ("/capacity", Need::Dashboards),
    ("/alerts/channels", Need::Operate),
    ("/alerts/1", Need::Dashboards),
];

/// REST routes that take a POST (with an empty body: allowed callers get a 400, not a 401/403).
const POSTS: &[(&str, Need)] = &[("/api/v1/deploys", Need::Operate)];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Caller {
    Anonymous,
    Kiosk,
    User(Role),
    ApiToken(Role),
}

impl Caller {
    fn allowed(self, need: Need) -> bool {
        match (self, need) {
            (_, Need::Anyone) => true,
            (Caller::Anonymous, _) => false,
            (Caller::Kiosk, need) => need == Need::Wall,
            // "Signed in" means a person with a session; tokens cannot log out or set passwords.
            (Caller::User(_), Need::SignedIn) => true,
            (Caller::ApiToken(_), Need::SignedIn) => false,
            (Caller::User(role) | Caller::ApiToken(role), need) => match need {
                Need::Wall | Need::Dashboards => true,
                Need::Operate => matches!(role, Role::Operator | Role::Admin),
                Need::Audit => matches!(role, Role::Auditor | Role::Admin),
                Need::Admin => role == Role::Admin,
                Need::Anyone | Need::SignedIn => true,
            },
        }
    }
}

#[tokio::test]
async fn every_endpoint_refuses_whoever_its_role_does_not_cover() {
    for backend in BACKENDS {
        matrix(backend).await;
    }
}

fn registered_server_functions() -> Vec<String> {
    let mut paths: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_owned())
        .collect();
    paths.sort();
    paths
}

async fn matrix(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(db.url(), None).await;

    let mut expected: Vec<String> = SERVER_FUNCTIONS
        .iter()
        .map(|(p, _)| (*p).to_owned())
        .collect();
    expected.sort();
    assert_eq!(
        registered_server_functions(),
        expected,
        "every server function needs a row in this test's table (and the server's policy)"
    );

    let mut callers = vec![(Caller::Anonymous, cookie_client(), None)];
    callers.push((Caller::Kiosk, kiosk_client(&app).await, None));
    for role in Role::ALL {
        callers.push((Caller::User(role), app.signed_in(role).await.1, None));
    }
    callers.push((
        Caller::ApiToken(Role::Operator),
        cookie_client(),
        Some(api_token(&app, Role::Operator).await),
    ));

    let mut failures = Vec::new();
    for (caller, client, bearer) in &callers {
        let with_auth = |request: reqwest::RequestBuilder| match bearer {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        for (path, need) in GETS.iter().chain(PAGES) {
            let response = with_auth(client.get(app.url(path)))
                .send()
                .await
                .expect("request");
            let status = response.status();
            drop(response);
            check(&mut failures, *caller, "GET", path, *need, status, true);
        }
        for (path, need) in POSTS.iter().chain(SERVER_FUNCTIONS) {
            let status = with_auth(client.post(app.url(path)))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("")
                .send()
                .await
                .expect("request")
                .status();
            check(&mut failures, *caller, "POST", path, *need, status, false);
        }
    }
    assert!(
        failures.is_empty(),
        "{backend:?}: authorization mismatches:\n{}",
        failures.join("\n")
    );
}

fn check(
    failures: &mut Vec<String>,
    caller: Caller,
    method: &str,
    path: &str,
    need: Need,
    status: StatusCode,
    is_get: bool,
) {
    let refused = status == StatusCode::UNAUTHORIZED
        || status == StatusCode::FORBIDDEN
        // Pages send the anonymous (and a must-reset user) to a form instead of a bare 401.
        || (is_get && status == StatusCode::SEE_OTHER);
    let allowed = caller.allowed(need);
    let right = if allowed {
        !refused
    } else if caller == Caller::Anonymous && !path.starts_with("/api/") {
        refused
    } else if caller == Caller::Anonymous {
        status == StatusCode::UNAUTHORIZED
    } else {
        status == StatusCode::FORBIDDEN || (is_get && status == StatusCode::UNAUTHORIZED)
    };
    if !right {
        failures.push(format!(
            "{caller:?} {method} {path}: got {status}, expected {}",
            if allowed { "access" } else { "refusal" }
        ));
    }
}

async fn kiosk_client(app: &TestApp) -> reqwest::Client {
    let secret = create_token(app, "kiosk", "matrix-wall", "viewer").await;
    let client = cookie_client();
    let response = client
        .get(app.url(&format!("/wall?kiosk={secret}")))
        .send()
        .await
        .expect("kiosk wall");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "kiosk token opens the wall"
    );
    client
}

/// With the `admin` scope, so the matrix shows what the role alone allows.
async fn api_token(app: &TestApp, role: Role) -> String {
    create_token(app, "api", "matrix-api", role.as_str()).await
}

async fn create_token(app: &TestApp, kind: &str, name: &str, role: &str) -> String {
    let issued: serde_json::Value = app
        .client
        .post(app.url("/api/tokens/create"))
        .form(&[
            ("kind", kind),
            ("name", name),
            ("role", role),
            ("scopes[0]", "admin"),
        ])
        .header("accept", "application/json")
        .send()
        .await
        .expect("create token")
        .json()
        .await
        .expect("token json");
    issued["secret"].as_str().expect("secret").to_owned()
}

#[tokio::test]
async fn the_page_table_covers_every_declared_route() {
    // Routes with parameters are listed with a sample value above; this keeps the list honest.
    let declared = [
        "/",
        "/wall",
        "/fleet",
        "/fleet/{id}/edit",
        "/targets/{id}",
        "/alerts",
        "/alerts/rules",
        "/alerts/silences",
        "/alerts/channels",
        "/alerts/{id}",
        "/incidents",
        "/incidents/{id}",
        "/oncall",
        "/oncall/paging",
        "/oncall/{id}",
        "/runbooks",
        "/runbooks/{slug}",
        "/capacity",
        "/readiness",
        "/admin",
        "/admin/users",
        "/admin/tokens",
        "/admin/backups",
        "/audit",
        "/audit/{seq}",
        "/login",
        "/account/password",
    ];
    for route in leptos_axum::generate_route_list(mcpops::app::App) {
        let path = route.path();
        assert!(
            declared.contains(&path),
            "new page {path}: add it to PAGES (or to this list if it needs only dashboards)"
        );
    }
}
