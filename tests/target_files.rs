//! Targets from a TOML file and Prometheus file_sd JSON, re-read while running, on both backends.
use crate::common;

use common::{BACKENDS, Backend, TestApp, TestDb, eventually, spawn_app_with};
use mcpops::domain::audit::AuditFilter;
use mcpops::domain::target::{Target, TargetSource};
use serde_json::Value;
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(10);

async fn targets(app: &TestApp) -> Vec<Target> {
    app.state.store.list_targets().await.expect("list")
}

async fn sources(app: &TestApp) -> Vec<Value> {
    app.client
        .post(app.url("/api/targets/sources"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .expect("sources")
        .json::<Vec<Value>>()
        .await
        .expect("json")
}

fn write(path: &std::path::Path, text: &str) {
    // Write then rename, as config management does, so a reader never sees half a file.
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text).expect("write");
    std::fs::rename(&partial, path).expect("rename");
}

#[tokio::test]
async fn file_targets_follow_their_files() {
    for backend in BACKENDS {
        follow_files(backend).await;
    }
}

async fn follow_files(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let toml_path = dir.path().join("targets.toml");
    let sd_dir = dir.path().join("sd");
    std::fs::create_dir(&sd_dir).expect("sd dir");
    let sd_path = sd_dir.join("mcp.json");
    write(
        &toml_path,
        r#"
[[target]]
name = "search-api"
url = "http://127.0.0.1:9"
interval_secs = 30
tags = ["prod", "team:search"]

[[target]]
name = "billing-api"
url = "http://127.0.0.1:10"
"#,
    );
    write(
        &sd_path,
        r#"[{"targets": ["127.0.0.1:11", "127.0.0.1:12"], "labels": {"env": "staging", "__scrape_interval__": "15s"}}]"#,
    );
    let (toml_origin, sd_pattern) = (
        toml_path.display().to_string(),
        format!("{}/*.json", sd_dir.display()),
    );
    let app = spawn_app_with(db.url(), None, |config| {
        config.targets.files = vec![toml_path.clone()];
        config.targets.file_sd = vec![sd_pattern.clone()];
        config.targets.reload_secs = 1;
        config.collector.enabled = false;
    })
    .await;

    // Read before the first request: all four are there, with where they came from.
    let listed = targets(&app).await;
    let search = listed
        .iter()
        .find(|t| t.name == "search-api")
        .expect("search-api");
    assert_eq!(search.source, TargetSource::File, "{backend:?}");
    assert_eq!(search.origin, toml_origin);
    assert_eq!(
        (search.interval_secs, search.tags.clone()),
        (30, vec!["prod".to_owned(), "team:search".to_owned()])
    );
    let sd = listed
        .iter()
        .find(|t| t.name == "127.0.0.1-11")
        .expect("file_sd target");
    assert_eq!(sd.source, TargetSource::FileSd);
    assert_eq!(sd.base_url, "http://127.0.0.1:11");
    assert_eq!(
        (sd.interval_secs, sd.tags.clone()),
        (15, vec!["env:staging".to_owned()])
    );
    assert_eq!(listed.len(), 4);

    // Not editable here: they would come back from their file.
    let edit = app
        .client
        .post(app.url("/api/targets/remove"))
        .form(&[("id", search.id.to_string())])
        .send()
        .await
        .expect("remove");
    assert_eq!(edit.status(), reqwest::StatusCode::CONFLICT);

    // A change in the file: one target changes, one goes.
    write(
        &toml_path,
        "[[target]]\nname = \"search-api\"\nurl = \"http://127.0.0.1:9\"\ninterval_secs = 60\n",
    );
    eventually(WITHIN, "the file change to apply", || async {
        let now = targets(&app).await;
        let search = now.iter().find(|t| t.name == "search-api")?;
        (search.interval_secs == 60 && now.iter().all(|t| t.name != "billing-api")).then_some(())
    })
    .await;
    let synced = app
        .state
        .store
        .search_audit(
            &AuditFilter {
                actor: Some("system:target-files".into()),
                ..AuditFilter::default()
            },
            None,
            50,
        )
        .await
        .expect("audit");
    let actions: Vec<(&str, &str)> = synced
        .iter()
        .map(|e| (e.event.action.as_str(), e.event.resource.as_str()))
        .collect();
    assert!(
        actions.contains(&("sync_delete", "billing-api")),
        "{backend:?}: {actions:?}"
    );
    assert!(
        actions.contains(&("sync_update", "search-api")),
        "{actions:?}"
    );

    // A broken file is reported with the line, and its targets stay as they were.
    write(&toml_path, "[[target]]\nname = \"search-api\"\nurl = \n");
    let reason = eventually(WITHIN, "the error to show", || async {
        sources(&app)
            .await
            .into_iter()
            .find(|s| s["path"] == toml_origin.as_str())
            .and_then(|s| s["error"].as_str().map(str::to_owned))
    })
    .await;
    assert!(reason.contains("line 3"), "{backend:?}: {reason}");
    assert!(targets(&app).await.iter().any(|t| t.name == "search-api"));

    // A name a person already uses in the UI is not taken over.
    let added = app
        .client
        .post(app.url("/api/targets/add"))
        .form(&[
            ("name", "mine"),
            ("base_url", "http://127.0.0.1:13"),
            ("interval_secs", "10"),
            ("tags", ""),
        ])
        .send()
        .await
        .expect("add");
    assert!(added.status().is_success());
    write(
        &toml_path,
        "[[target]]\nname = \"search-api\"\nurl = \"http://127.0.0.1:9\"\n\n[[target]]\nname = \"mine\"\nurl = \"http://127.0.0.1:99\"\n",
    );
    let conflict = eventually(WITHIN, "the conflict to show", || async {
        sources(&app)
            .await
            .into_iter()
            .find(|s| s["path"] == toml_origin.as_str())
            .and_then(|s| s["error"].as_str().map(str::to_owned))
            .filter(|e| e.contains("mine"))
    })
    .await;
    assert!(conflict.contains("another source"), "{conflict}");
    let mine = targets(&app)
        .await
        .into_iter()
        .find(|t| t.name == "mine")
        .expect("mine");
    assert_eq!(
        (mine.source, mine.base_url.as_str()),
        (TargetSource::Ui, "http://127.0.0.1:13")
    );

    // A file_sd file that goes away takes its targets with it.
    std::fs::remove_file(&sd_path).expect("remove");
    eventually(WITHIN, "the file_sd targets to go", || async {
        targets(&app)
            .await
            .iter()
            .all(|t| t.source != TargetSource::FileSd)
            .then_some(())
    })
    .await;
}
