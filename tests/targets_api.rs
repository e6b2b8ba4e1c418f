//! The target server functions over HTTP, as the browser's forms call them.
use crate::common;

use common::{BACKENDS, TestDb, post_form, spawn_app};
use mcpops::domain::target::TargetSource;

#[tokio::test]
async fn bad_fields_are_named_and_nothing_is_saved() {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let app = spawn_app(db.url(), None).await;
        let (status, body) = post_form(
            &app,
            &app.client,
            "/api/targets/add",
            &[
                ("name", "ok-name"),
                ("base_url", "ftp://x"),
                ("interval_secs", "0"),
                ("tags", ""),
            ],
        )
        .await;
        assert_eq!(status, 422, "{backend:?}: {body}");
        let fields = &body["Invalid"];
        assert!(
            fields["base_url"]
                .as_str()
                .is_some_and(|m| m.contains("http")),
            "{body}"
        );
        assert!(fields["interval_secs"].is_string(), "{body}");
        assert!(fields.get("name").is_none(), "{body}");
        assert!(
            app.state
                .store
                .list_targets()
                .await
                .expect("list")
                .is_empty()
        );
    }
}

#[tokio::test]
async fn a_target_is_added_edited_and_removed() {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let app = spawn_app(db.url(), None).await;
        let form = [
            ("name", "api-1"),
            ("base_url", "http://127.0.0.1:9/"),
            ("interval_secs", ""),
            ("tags", "Prod"),
        ];
        let (status, body) = post_form(&app, &app.client, "/api/targets/add", &form).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["base_url"], "http://127.0.0.1:9");
        assert_eq!(body["interval_secs"], 10);
        let id = body["id"].as_i64().expect("id").to_string();

        let (status, _) = post_form(&app, &app.client, "/api/targets/add", &form).await;
        assert_eq!(
            status, 409,
            "{backend:?}: a second target with the same name"
        );

        let edit = [
            ("id", id.as_str()),
            ("name", "api-one"),
            ("base_url", "https://a.example"),
            ("interval_secs", "30"),
            ("tags", ""),
        ];
        let (status, body) = post_form(&app, &app.client, "/api/targets/update", &edit).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["name"], "api-one");

        let (status, _) = post_form(
            &app,
            &app.client,
            "/api/targets/remove",
            &[("id", id.as_str())],
        )
        .await;
        assert_eq!(status, 200);
        let (status, _) = post_form(
            &app,
            &app.client,
            "/api/targets/remove",
            &[("id", id.as_str())],
        )
        .await;
        assert_eq!(status, 404);
    }
}

#[tokio::test]
async fn targets_from_other_sources_cannot_be_changed_in_the_ui() {
    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;
    let spec =
        mcpops::domain::target::TargetSpec::from_form("demo-01", "http://127.0.0.1:1", "", "")
            .expect("spec");
    let target = app
        .state
        .store
        .insert_target(&spec, TargetSource::Demo, common::test_event())
        .await
        .expect("insert");
    let id = target.id.to_string();
    let (status, body) = post_form(
        &app,
        &app.client,
        "/api/targets/remove",
        &[("id", id.as_str())],
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(app.state.store.list_targets().await.expect("list").len(), 1);
}

#[tokio::test]
async fn the_fleet_page_renders_targets_on_the_server() {
    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;
    let spec =
        mcpops::domain::target::TargetSpec::from_form("ssr-visible", "http://127.0.0.1:1", "", "")
            .expect("spec");
    app.state
        .store
        .insert_target(&spec, TargetSource::Ui, common::test_event())
        .await
        .expect("insert");
    let html = app
        .client
        .get(app.url("/fleet"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("html");
    assert!(html.contains("ssr-visible"), "{html}");
    let missing = app
        .client
        .get(app.url("/nowhere"))
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn a_cross_origin_form_post_is_refused_and_saves_nothing() {
    let db = TestDb::sqlite();
    let app = spawn_app(db.url(), None).await;
    let form = [
        ("name", "evil"),
        ("base_url", "http://169.254.169.254"),
        ("interval_secs", ""),
        ("tags", ""),
    ];
    let refused = app
        .client
        .post(app.url("/api/targets/add"))
        .header("origin", "https://attacker.example")
        .form(&form)
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 403);
    assert!(
        app.state
            .store
            .list_targets()
            .await
            .expect("list")
            .is_empty()
    );

    let same_origin = app
        .client
        .post(app.url("/api/targets/add"))
        .header("origin", format!("http://{}", app.addr))
        .form(&[
            ("name", "fine"),
            ("base_url", "http://127.0.0.1:9"),
            ("interval_secs", ""),
            ("tags", ""),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(same_origin.status(), 200);
}
