//! The same storage cases, run against SQLite and PostgreSQL.
use crate::common;

use common::{Backend, TestDb};
use mcpops::domain::alerts::{AlertQuery, AlertState, RuleKind};
use mcpops::domain::target::{TargetSource, TargetSpec};
use mcpops::server::store::{self, AlertChange, Store, StoreError, StoreOptions};
use std::sync::Arc;

fn spec(name: &str, url: &str) -> TargetSpec {
    TargetSpec::from_form(name, url, "15", "prod, region:eu").expect("valid spec")
}

async fn open(db: &TestDb) -> Arc<dyn Store> {
    store::open(db.url(), &StoreOptions::default())
        .await
        .expect("store opens")
}

async fn targets_round_trip(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = open(&db).await;
    store.ping().await.expect("ping");
    assert!(store.list_targets().await.expect("list").is_empty());

    let created = store
        .insert_target(
            &spec("b-server", "http://127.0.0.1:9001"),
            TargetSource::Ui,
            common::test_event(),
        )
        .await
        .expect("insert");
    store
        .insert_target(
            &spec("a-server", "http://127.0.0.1:9002"),
            TargetSource::Demo,
            common::test_event(),
        )
        .await
        .expect("insert");
    assert_eq!(created.name, "b-server");
    assert_eq!(created.interval_secs, 15);
    assert_eq!(created.tags, vec!["prod", "region:eu"]);
    assert_eq!(created.source, TargetSource::Ui);

    let names: Vec<String> = store
        .list_targets()
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(
        names,
        vec!["a-server", "b-server"],
        "{backend:?}: listed by name"
    );

    let updated = store
        .update_target(
            created.id,
            &spec("b-renamed", "https://mcp.example.com"),
            common::test_event(),
        )
        .await
        .expect("update");
    assert_eq!(updated.name, "b-renamed");
    assert_eq!(updated.base_url, "https://mcp.example.com");
    assert!(updated.updated_at >= created.updated_at);
    assert_eq!(updated.created_at, created.created_at);

    store
        .delete_target(created.id, common::test_event())
        .await
        .expect("delete");
    assert!(matches!(
        store.get_target(created.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_target(created.id, common::test_event()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .update_target(created.id, &spec("x", "http://x"), common::test_event())
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn duplicate_name_is_a_conflict(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = open(&db).await;
    store
        .insert_target(
            &spec("same", "http://127.0.0.1:1"),
            TargetSource::Ui,
            common::test_event(),
        )
        .await
        .expect("first");
    let second = store
        .insert_target(
            &spec("same", "http://127.0.0.1:2"),
            TargetSource::Ui,
            common::test_event(),
        )
        .await;
    assert!(
        matches!(second, Err(StoreError::Conflict(_))),
        "{backend:?}: {second:?}"
    );
    assert_eq!(store.list_targets().await.expect("list").len(), 1);
}

async fn upsert_replaces_the_address_and_keeps_the_id(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = open(&db).await;
    let first = store
        .upsert_target(
            &spec("demo-01", "http://127.0.0.1:4000"),
            TargetSource::Demo,
            "",
            None,
        )
        .await
        .expect("upsert");
    let second = store
        .upsert_target(
            &spec("demo-01", "http://127.0.0.1:5000"),
            TargetSource::Demo,
            "",
            None,
        )
        .await
        .expect("upsert");
    assert_eq!(first.id, second.id);
    assert_eq!(second.base_url, "http://127.0.0.1:5000");
    assert_eq!(store.list_targets().await.expect("list").len(), 1);

    // A source never takes over another source's target of the same name.
    let taken = store
        .upsert_target(
            &spec("demo-01", "http://127.0.0.1:6000"),
            TargetSource::File,
            "/etc/mcpops/targets.toml",
            Some(common::test_event()),
        )
        .await;
    assert!(
        matches!(taken, Err(StoreError::Conflict(_))),
        "{backend:?}: {taken:?}"
    );
    let kept = store.get_target(first.id).await.expect("get");
    assert_eq!(
        (kept.source, kept.base_url.as_str()),
        (TargetSource::Demo, "http://127.0.0.1:5000")
    );
    let filed = store
        .upsert_target(
            &spec("from-file", "http://127.0.0.1:6000"),
            TargetSource::File,
            "/etc/mcpops/targets.toml",
            Some(common::test_event()),
        )
        .await
        .expect("file target");
    assert_eq!(filed.origin, "/etc/mcpops/targets.toml");
}

async fn data_survives_reopening(backend: Backend) {
    let db = TestDb::new(backend).await;
    {
        let store = open(&db).await;
        store
            .insert_target(
                &spec("kept", "http://127.0.0.1:7"),
                TargetSource::Ui,
                common::test_event(),
            )
            .await
            .expect("insert");
    }
    // Opening again runs the migrations again; they must be idempotent.
    let store = open(&db).await;
    let targets = store.list_targets().await.expect("list");
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].name, "kept");
}

/// Alerts are chosen and counted by state in the database: the wall asks for firing and
/// acknowledged ones, the engine for every open one, the alerts page for one state or all.
async fn alerts_are_chosen_by_state_and_target(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = open(&db).await;
    let target = store
        .insert_target(
            &spec("alerting", "http://127.0.0.1:9001"),
            TargetSource::Ui,
            common::test_event(),
        )
        .await
        .expect("insert");
    let now = chrono::Utc::now();
    let mut opened = Vec::new();
    for (rule, state) in [
        (RuleKind::ErrorRate, AlertState::Pending),
        (RuleKind::TargetDown, AlertState::Firing),
        (RuleKind::NotReady, AlertState::Firing),
        (RuleKind::ToolDrift, AlertState::Firing),
    ] {
        let alert = common::open_test_alert(store.as_ref(), target.id, rule, state).await;
        opened.push(alert.id);
    }
    for (id, to) in [
        (opened[2], AlertState::Acknowledged),
        (opened[3], AlertState::Resolved),
    ] {
        let change = AlertChange {
            to,
            expected: &[AlertState::Firing],
            at: now,
            actor: "alice".into(),
            note: String::new(),
            summary: None,
            silenced: None,
        };
        store
            .change_alert(id, &change, common::test_event())
            .await
            .expect("change");
    }

    let chosen = async |states: Vec<AlertState>| {
        let query = AlertQuery {
            states,
            limit: 100,
            ..AlertQuery::default()
        };
        let mut found: Vec<&str> = store
            .alerts(&query)
            .await
            .expect("alerts")
            .into_iter()
            .map(|a| a.state.as_str())
            .collect();
        found.sort_unstable();
        found
    };
    assert_eq!(
        chosen(Vec::new()).await,
        ["acknowledged", "firing", "pending", "resolved"],
        "{backend:?}: any state"
    );
    assert_eq!(
        chosen(AlertState::OPEN.to_vec()).await,
        ["acknowledged", "firing", "pending"],
        "{backend:?}: open"
    );
    assert_eq!(
        chosen(vec![AlertState::Firing, AlertState::Acknowledged]).await,
        ["acknowledged", "firing"],
        "{backend:?}: the wall's"
    );
    assert_eq!(
        chosen(vec![AlertState::Pending]).await,
        ["pending"],
        "{backend:?}: one state"
    );

    let mut counts = store
        .count_alerts(&[AlertState::Firing, AlertState::Acknowledged])
        .await
        .expect("count");
    counts.sort_by_key(|(state, _)| state.as_str());
    assert_eq!(
        counts,
        [(AlertState::Acknowledged, 1), (AlertState::Firing, 1)],
        "{backend:?}: counted by state"
    );

    // By target: one firing alert on each of two more targets.
    let mut others = Vec::new();
    for (name, port) in [("second", 9002), ("third", 9003)] {
        let other = store
            .insert_target(
                &spec(name, &format!("http://127.0.0.1:{port}")),
                TargetSource::Ui,
                common::test_event(),
            )
            .await
            .expect("insert");
        common::open_test_alert(
            store.as_ref(),
            other.id,
            RuleKind::TargetDown,
            AlertState::Firing,
        )
        .await;
        others.push(other.id);
    }
    let of_targets = async |target_ids: Vec<i64>| {
        let query = AlertQuery {
            states: vec![AlertState::Firing],
            target_ids,
            limit: 100,
            ..AlertQuery::default()
        };
        let mut found: Vec<String> = store
            .alerts(&query)
            .await
            .expect("alerts")
            .into_iter()
            .map(|a| a.target_name)
            .collect();
        found.sort_unstable();
        found
    };
    assert_eq!(
        of_targets(vec![target.id]).await,
        ["alerting"],
        "{backend:?}: one target"
    );
    assert_eq!(
        of_targets(others).await,
        ["second", "third"],
        "{backend:?}: two targets"
    );
    assert_eq!(
        of_targets(Vec::new()).await,
        ["alerting", "second", "third"],
        "{backend:?}: every target"
    );
}

#[tokio::test]
async fn conformance_alerts_are_chosen_by_state_and_target() {
    common::on_each_backend(alerts_are_chosen_by_state_and_target).await;
}

#[tokio::test]
async fn conformance_targets_round_trip() {
    common::on_each_backend(targets_round_trip).await;
}

#[tokio::test]
async fn conformance_duplicate_name_is_a_conflict() {
    common::on_each_backend(duplicate_name_is_a_conflict).await;
}

#[tokio::test]
async fn conformance_upsert_replaces_the_address_and_keeps_the_id() {
    common::on_each_backend(upsert_replaces_the_address_and_keeps_the_id).await;
}

#[tokio::test]
async fn conformance_data_survives_reopening() {
    common::on_each_backend(data_survives_reopening).await;
}

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode() {
    let db = TestDb::sqlite();
    let _store = open(&db).await;
    let path = db.url().trim_start_matches("sqlite://").to_owned();
    assert!(std::path::Path::new(&path).exists());
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(db.url())
        .await
        .expect("connect");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .expect("pragma");
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn unknown_url_scheme_is_refused() {
    let result = store::open("mysql://localhost/x", &StoreOptions::default()).await;
    assert!(matches!(result, Err(StoreError::UnsupportedUrl(scheme)) if scheme == "mysql"));
}

/// A poll of `target_id` at `at` that measured nothing.
fn quiet_poll(
    target_id: i64,
    at: chrono::DateTime<chrono::Utc>,
) -> mcpops::domain::observation::PollRecord {
    use mcpops::domain::observation::{PollRecord, SampleRow, TargetStatus};
    PollRecord {
        sample: SampleRow {
            target_id,
            at,
            ..SampleRow::default()
        },
        status: TargetStatus {
            target_id,
            at,
            state: Default::default(),
            failures: vec![],
            readiness: None,
            mcp: None,
            p95: None,
            error_ratio: None,
            rps: None,
            offers: Default::default(),
            certificate: None,
            tools: None,
            checks: vec![],
        },
        tools: None,
        check_results: vec![],
    }
}

async fn newest_tool_lists_of_the_targets_asked(backend: Backend) {
    use mcpops::domain::observation::{PollRecord, Tool};
    let db = TestDb::new(backend).await;
    let store = open(&db).await;
    let poll = |target_id: i64, seconds: i64, tools: &[&str]| {
        let at = chrono::Utc::now() - chrono::Duration::seconds(60 - seconds);
        PollRecord {
            tools: Some(
                tools
                    .iter()
                    .map(|name| Tool {
                        name: (*name).to_owned(),
                        schema: "{}".into(),
                        read_only: false,
                    })
                    .collect(),
            ),
            ..quiet_poll(target_id, at)
        }
    };
    let mut ids = Vec::new();
    for (index, name) in ["first", "second", "third"].into_iter().enumerate() {
        let target = store
            .insert_target(
                &spec(name, &format!("http://127.0.0.1:{}", 9001 + index)),
                TargetSource::Ui,
                common::test_event(),
            )
            .await
            .expect("insert");
        ids.push(target.id);
    }
    // Each target's list grows by one tool; the third has never been probed.
    for (at, tools) in [(0, &["search"][..]), (10, &["search", "fetch"][..])] {
        store
            .record_polls(&[poll(ids[0], at, tools), poll(ids[1], at, tools)])
            .await
            .expect("polls");
    }
    let mut newest = store
        .latest_tool_catalogs(&[ids[0], ids[2]])
        .await
        .expect("newest");
    newest.sort_by_key(|(id, _)| *id);
    let names: Vec<(i64, Vec<&str>)> = newest
        .iter()
        .map(|(id, tools)| (*id, tools.iter().map(|t| t.name.as_str()).collect()))
        .collect();
    assert_eq!(names, [(ids[0], vec!["search", "fetch"])], "{backend:?}");
    assert!(
        store
            .latest_tool_catalogs(&[])
            .await
            .expect("none asked")
            .is_empty()
    );
}

#[tokio::test]
async fn conformance_newest_tool_lists_of_the_targets_asked() {
    common::on_each_backend(newest_tool_lists_of_the_targets_asked).await;
}

async fn synthetic_calls_and_their_results_round_trip(backend: Backend) {
    use mcpops::domain::checks::{
        CheckForm, CheckHistory, CheckResult, CheckSpec, MAX_CHECKS_PER_TARGET, Outcome,
    };
    let db = TestDb::new(backend).await;
    let store = open(&db).await;
    let target = store
        .insert_target(
            &spec("called", "http://127.0.0.1:9001"),
            TargetSource::Ui,
            common::test_event(),
        )
        .await
        .expect("insert");
    let form = CheckForm {
        tool: "echo".into(),
        arguments: r#"{"message": "hi"}"#.into(),
        text_contains: "hi".into(),
        ..CheckForm::default()
    };
    let spec = CheckSpec::from_form(&form).expect("spec");
    let check = store
        .add_tool_check(target.id, &spec, "alice", common::test_event())
        .await
        .expect("add");
    assert_eq!(check.spec, spec, "{backend:?}");
    assert_eq!(check.created_by, "alice");
    assert_eq!(
        store.tool_checks(None).await.expect("all"),
        vec![check.clone()]
    );

    // A poll stores its calls and where each check stands; times are kept to the millisecond.
    let now = chrono::DateTime::from_timestamp_millis(chrono::Utc::now().timestamp_millis())
        .expect("now");
    let at = |seconds: i64| now - chrono::Duration::seconds(seconds);
    let result = |seconds: i64, outcome: Outcome| CheckResult {
        check_id: check.id,
        target_id: target.id,
        at: at(seconds),
        ms: Some(12.5),
        outcome,
    };
    let calls = vec![
        result(30, Outcome::Passed),
        result(
            20,
            Outcome::Failed("the tool answered isError: boom".into()),
        ),
    ];
    let mut history = CheckHistory::default();
    let standing = calls
        .iter()
        .map(|c| history.push("echo", &spec, c.clone()))
        .last();
    let mut record = quiet_poll(target.id, at(20));
    record.status.checks = standing.into_iter().collect();
    record.check_results = calls.clone();
    store.record_polls(&[record]).await.expect("polls");
    let stored = store
        .check_results(target.id, at(60))
        .await
        .expect("results");
    assert_eq!(stored, calls, "{backend:?}");
    let status = store
        .target_status(target.id)
        .await
        .expect("status")
        .expect("polled");
    assert_eq!(status.checks.len(), 1);
    assert_eq!(status.checks[0].last, calls[1]);

    // Retention keeps the recent call; removing the check takes its results with it.
    assert_eq!(
        store
            .delete_check_results_before(at(25))
            .await
            .expect("retention"),
        1
    );
    assert_eq!(
        store
            .check_results(target.id, at(60))
            .await
            .expect("results")
            .len(),
        1
    );
    assert!(matches!(
        store
            .remove_tool_check(target.id + 1, check.id, common::test_event())
            .await,
        Err(StoreError::NotFound)
    ));
    store
        .remove_tool_check(target.id, check.id, common::test_event())
        .await
        .expect("remove");
    assert!(
        store
            .tool_checks(Some(target.id))
            .await
            .expect("none")
            .is_empty()
    );
    assert!(
        store
            .check_results(target.id, at(60))
            .await
            .expect("gone")
            .is_empty()
    );

    // A target holds a bounded number of checks.
    for _ in 0..MAX_CHECKS_PER_TARGET {
        store
            .add_tool_check(target.id, &spec, "alice", common::test_event())
            .await
            .expect("within the cap");
    }
    assert!(matches!(
        store
            .add_tool_check(target.id, &spec, "alice", common::test_event())
            .await,
        Err(StoreError::Conflict(_))
    ));
    // They go with their target.
    store
        .delete_target(target.id, common::test_event())
        .await
        .expect("delete");
    assert!(store.tool_checks(None).await.expect("none").is_empty());
}

#[tokio::test]
async fn conformance_synthetic_calls_and_their_results_round_trip() {
    common::on_each_backend(synthetic_calls_and_their_results_round_trip).await;
}

async fn leases_share_targets_and_lapse(backend: Backend) {
    use mcpops::domain::leases::Replica;
    let db = TestDb::new(backend).await;
    let store = open(&db).await;
    for i in 0..5 {
        store
            .insert_target(
                &spec(&format!("t{i}"), "http://127.0.0.1:9"),
                TargetSource::Ui,
                common::test_event(),
            )
            .await
            .expect("insert");
    }
    let now = 1_000_000;
    let replica = |id: &str, started_at: i64| Replica {
        id: id.into(),
        name: id.into(),
        started_at,
        heartbeat_at: started_at,
    };
    store
        .join_cluster(&replica("a", now), now + 10_000)
        .await
        .expect("lease store call");
    store
        .join_cluster(&replica("b", now + 1), now + 10_000)
        .await
        .expect("lease store call");

    let a = store
        .claim_targets("a", now, 3)
        .await
        .expect("lease store call");
    let b = store
        .claim_targets("b", now, 5)
        .await
        .expect("lease store call");
    assert_eq!(
        (a.len(), b.len()),
        (3, 2),
        "{backend:?}: b gets only what a left"
    );
    assert!(
        a.iter().all(|id| !b.contains(id)),
        "{backend:?}: no target twice"
    );
    assert_eq!(store.held_targets("a").await.expect("lease store call"), a);

    assert!(
        store
            .heartbeat("a", now + 5_000, now + 15_000)
            .await
            .expect("lease store call")
    );
    let view = store
        .cluster_view("a", now + 5_000)
        .await
        .expect("lease store call");
    let ids: Vec<&str> = view.replicas.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"], "{backend:?}: oldest first");
    assert_eq!((view.targets, view.held), (5, 3));
    assert!(view.leads("a"));

    // A target given back is free at once.
    store
        .release_targets("a", &a[..1])
        .await
        .expect("lease store call");
    assert_eq!(
        store
            .claim_targets("b", now + 5_000, 5)
            .await
            .expect("lease store call"),
        a[..1]
    );

    // b's membership lapses: its heartbeat is refused and a may take everything it held.
    let later = now + 12_000;
    assert!(
        !store
            .heartbeat("b", later, later + 10_000)
            .await
            .expect("lease store call")
    );
    assert!(
        store
            .heartbeat("a", later, later + 10_000)
            .await
            .expect("lease store call")
    );
    let view = store
        .cluster_view("a", later)
        .await
        .expect("lease store call");
    assert_eq!(view.replicas.len(), 1, "{backend:?}: b no longer counts");
    assert_eq!(
        store
            .claim_targets("a", later, 10)
            .await
            .expect("lease store call")
            .len(),
        3
    );
    assert_eq!(
        store
            .held_targets("a")
            .await
            .expect("lease store call")
            .len(),
        5
    );

    // Leaving gives everything back at once.
    store.leave_cluster("a").await.expect("lease store call");
    assert!(
        store
            .held_targets("a")
            .await
            .expect("lease store call")
            .is_empty()
    );
    assert!(
        store
            .cluster_view("a", later)
            .await
            .expect("lease store call")
            .replicas
            .is_empty()
    );
    assert_eq!(
        store
            .claim_targets("c", later, 10)
            .await
            .expect("lease store call")
            .len(),
        5
    );
}

#[tokio::test]
async fn conformance_leases_share_targets_and_lapse() {
    common::on_each_backend(leases_share_targets_and_lapse).await;
}

/// The directory pages read targets through is current after every kind of change made
/// straight in the store, as another replica or an operator's SQL would.
async fn the_target_directory_follows_every_change(backend: Backend) {
    use mcpops::server::services::target_directory::TargetDirectory;
    let db = TestDb::new(backend).await;
    let store = open(&db).await;
    let directory = TargetDirectory::default();
    let names = |targets: Arc<[mcpops::domain::target::Target]>| -> Vec<String> {
        targets.iter().map(|t| t.name.clone()).collect()
    };
    assert!(names(directory.targets(store.as_ref()).await.expect("empty")).is_empty());

    let first = store
        .insert_target(
            &spec("one", "http://127.0.0.1:9001"),
            TargetSource::Ui,
            common::test_event(),
        )
        .await
        .expect("insert");
    let stamp = store.target_stamp().await.expect("stamp");
    assert_eq!(
        names(directory.targets(store.as_ref()).await.expect("added")),
        ["one"],
        "{backend:?}"
    );
    assert_eq!(
        store.target_stamp().await.expect("stamp"),
        stamp,
        "reads do not move it"
    );

    store
        .update_target(
            first.id,
            &spec("one-renamed", "http://127.0.0.1:9001"),
            common::test_event(),
        )
        .await
        .expect("update");
    assert_eq!(
        names(directory.targets(store.as_ref()).await.expect("renamed")),
        ["one-renamed"],
        "{backend:?}"
    );

    // Another replica, its clock an hour ahead, edited a second target; an edit made here
    // afterwards is older by the clock than that one, and must still show.
    let other = store
        .insert_target(
            &spec("other", "http://127.0.0.1:9003"),
            TargetSource::Ui,
            common::test_event(),
        )
        .await
        .expect("insert");
    let ahead = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    db.raw_sql(&[&format!(
        "UPDATE targets SET updated_at = '{ahead}' WHERE id = {}",
        other.id
    )])
    .await
    .expect("edit with a clock ahead");
    assert_eq!(
        names(directory.targets(store.as_ref()).await.expect("both")),
        ["one-renamed", "other"],
        "{backend:?}"
    );
    store
        .update_target(
            first.id,
            &spec("one-again", "http://127.0.0.1:9001"),
            common::test_event(),
        )
        .await
        .expect("update");
    assert_eq!(
        names(
            directory
                .targets(store.as_ref())
                .await
                .expect("renamed again")
        ),
        ["one-again", "other"],
        "{backend:?}: an edit behind another replica's clock is seen"
    );
    store
        .delete_target(other.id, common::test_event())
        .await
        .expect("delete");

    // Removed and replaced at once: the count is the same, and SQLite may even give the
    // new row the old id.
    store
        .delete_target(first.id, common::test_event())
        .await
        .expect("delete");
    store
        .insert_target(
            &spec("two", "http://127.0.0.1:9002"),
            TargetSource::Ui,
            common::test_event(),
        )
        .await
        .expect("insert");
    assert_eq!(
        names(directory.targets(store.as_ref()).await.expect("replaced")),
        ["two"],
        "{backend:?}"
    );

    let second = store.list_targets().await.expect("list")[0].id;
    store
        .delete_target(second, common::test_event())
        .await
        .expect("delete");
    assert!(
        names(directory.targets(store.as_ref()).await.expect("removed")).is_empty(),
        "{backend:?}"
    );
}

#[tokio::test]
async fn conformance_the_target_directory_follows_every_change() {
    common::on_each_backend(the_target_directory_follows_every_change).await;
}

async fn readiness_ticks_keep_the_first_tick_and_list_across_the_fleet(backend: Backend) {
    use chrono::{TimeZone, Utc};
    use mcpops::domain::readiness::ReadinessItem;
    let db = TestDb::new(backend).await;
    let store = open(&db).await;
    let add = |name: &'static str, port: u16| {
        let store = store.clone();
        async move {
            store
                .insert_target(
                    &spec(name, &format!("http://127.0.0.1:{port}")),
                    TargetSource::Ui,
                    common::test_event(),
                )
                .await
                .expect("insert")
        }
    };
    let (a, b) = (add("a", 9001).await, add("b", 9002).await);
    let first = Utc.timestamp_millis_opt(1_700_000_000_000).unwrap();
    let later = Utc.timestamp_millis_opt(1_700_000_600_000).unwrap();
    let tick = |target: i64, item, by: &'static str, at| {
        let store = store.clone();
        async move {
            store
                .set_readiness_tick(target, item, Some((by, at)), common::test_event())
                .await
                .expect("tick");
        }
    };
    tick(a.id, ReadinessItem::OnCall, "ann", first).await;
    // A second tick keeps the first one's who and when.
    tick(a.id, ReadinessItem::OnCall, "bob", later).await;
    tick(a.id, ReadinessItem::Logging, "ann", later).await;
    tick(b.id, ReadinessItem::CapacityPlan, "cy", later).await;

    let on_a = store.readiness_ticks(a.id).await.expect("ticks");
    let on_call = on_a
        .iter()
        .find(|t| t.item == ReadinessItem::OnCall)
        .expect("on call");
    assert_eq!(
        (on_call.by.as_str(), on_call.at),
        ("ann", first),
        "{backend:?}"
    );
    let mut fleet: Vec<(i64, ReadinessItem, String)> = store
        .all_readiness_ticks()
        .await
        .expect("all ticks")
        .into_iter()
        .map(|(target, tick)| (target, tick.item, tick.by))
        .collect();
    fleet.sort_by_key(|(target, item, _)| (*target, item.as_str()));
    assert_eq!(
        fleet,
        vec![
            (a.id, ReadinessItem::Logging, "ann".to_owned()),
            (a.id, ReadinessItem::OnCall, "ann".to_owned()),
            (b.id, ReadinessItem::CapacityPlan, "cy".to_owned()),
        ],
        "{backend:?}"
    );

    store
        .set_readiness_tick(a.id, ReadinessItem::OnCall, None, common::test_event())
        .await
        .expect("clear");
    store
        .delete_target(b.id, common::test_event())
        .await
        .expect("delete");
    let left = store.all_readiness_ticks().await.expect("all ticks");
    assert_eq!(
        left.len(),
        1,
        "{backend:?}: cleared, and gone with its target"
    );
    assert_eq!(left[0].1.item, ReadinessItem::Logging);
}

#[tokio::test]
async fn conformance_readiness_ticks_keep_the_first_tick_and_list_across_the_fleet() {
    common::on_each_backend(readiness_ticks_keep_the_first_tick_and_list_across_the_fleet).await;
}

async fn schedules_keep_layers_overrides_and_feed_secrets(backend: Backend) {
    use chrono::{Duration, TimeZone, Utc};
    use mcpops::domain::oncall::{NewLayer, NewOverride, NewSchedule, Rotation};
    use mcpops::server::services::accounts::add_user;
    let db = TestDb::new(backend).await;
    let store = open(&db).await;
    let now = Utc
        .timestamp_millis_opt(1_765_000_000_000)
        .single()
        .expect("valid");
    let layer = |name: &str, people: &[&str]| NewLayer {
        name: name.into(),
        rotation: Rotation::Weekly,
        first_handoff: chrono::NaiveDate::from_ymd_opt(2026, 12, 7)
            .expect("valid")
            .and_hms_opt(9, 0, 0)
            .expect("valid"),
        participants: people.iter().map(|p| p.to_string()).collect(),
        window: None,
    };
    let new = NewSchedule {
        name: "Primary".into(),
        time_zone: "Europe/Berlin".into(),
        layer: layer("Round the clock", &["ann", "bob"]),
    };
    let id = store
        .create_schedule(&new, "ann", now, common::test_event())
        .await
        .expect("create");
    assert!(
        matches!(
            store
                .create_schedule(&new, "ann", now, common::test_event())
                .await,
            Err(StoreError::Conflict(_))
        ),
        "{backend:?}: a second schedule of the same name"
    );
    let mut day = layer("Business hours", &["cy"]);
    day.window = Some(mcpops::domain::oncall::DailyWindow {
        start: chrono::NaiveTime::from_hms_opt(9, 0, 0).expect("valid"),
        end: chrono::NaiveTime::from_hms_opt(17, 0, 0).expect("valid"),
    });
    let day_id = store
        .add_layer(id, &day, common::test_event())
        .await
        .expect("add layer");
    let ended = NewOverride {
        user: "cy".into(),
        starts_at: now - Duration::days(3),
        ends_at: now - Duration::days(2),
    };
    let ahead = NewOverride {
        user: "bob".into(),
        starts_at: now + Duration::hours(1),
        ends_at: now + Duration::hours(5),
    };
    for o in [&ended, &ahead] {
        store
            .add_override(id, o, "ann", now, common::test_event())
            .await
            .expect("override");
    }

    let schedules = store.schedules(now).await.expect("schedules");
    assert_eq!(schedules.len(), 1, "{backend:?}");
    let schedule = &schedules[0];
    assert_eq!(
        (schedule.name.as_str(), schedule.time_zone.as_str()),
        ("Primary", "Europe/Berlin")
    );
    let layers: Vec<(&str, Vec<String>, bool)> = schedule
        .layers
        .iter()
        .map(|l| (l.name.as_str(), l.participants.clone(), l.window.is_some()))
        .collect();
    assert_eq!(
        layers,
        [
            ("Round the clock", vec!["ann".into(), "bob".into()], false),
            ("Business hours", vec!["cy".into()], true),
        ],
        "{backend:?}: layers in the order added, windows kept"
    );
    assert_eq!(schedule.layers[1].window, day.window);
    assert_eq!(schedule.layers[0].first_handoff, new.layer.first_handoff);
    let overrides: Vec<(&str, chrono::DateTime<Utc>)> = schedule
        .overrides
        .iter()
        .map(|o| (o.user.as_str(), o.starts_at))
        .collect();
    assert_eq!(
        overrides,
        [("bob", ahead.starts_at)],
        "{backend:?}: overrides that ended are not read"
    );

    store
        .delete_layer(id, day_id, common::test_event())
        .await
        .expect("delete a layer");
    let only = schedules[0].layers[0].id;
    assert!(
        matches!(
            store.delete_layer(id, only, common::test_event()).await,
            Err(StoreError::Conflict(_))
        ),
        "{backend:?}: the last layer stays"
    );
    assert!(matches!(
        store.add_layer(id + 100, &day, common::test_event()).await,
        Err(StoreError::NotFound)
    ));

    // Feed secrets: one per user, replaced by a new one, gone when revoked.
    add_user(
        store.as_ref(),
        "ann",
        mcpops::domain::auth::Role::Viewer,
        None,
    )
    .await
    .expect("user");
    let user = store
        .user_by_name("ann")
        .await
        .expect("read")
        .expect("ann")
        .account;
    store
        .set_calendar_feed(user.id, "hash-1", now, common::test_event())
        .await
        .expect("feed");
    assert_eq!(
        store.calendar_feed_user("hash-1").await.expect("valid"),
        Some(user.id)
    );
    store
        .set_calendar_feed(user.id, "hash-2", now, common::test_event())
        .await
        .expect("new feed");
    assert_eq!(
        store.calendar_feed_user("hash-1").await.expect("valid"),
        None,
        "{backend:?}: the old secret stops"
    );
    assert_eq!(
        store.calendar_feed_since(user.id).await.expect("valid"),
        Some(now)
    );
    store
        .revoke_calendar_feed(user.id, common::test_event())
        .await
        .expect("revoke");
    assert_eq!(
        store.calendar_feed_user("hash-2").await.expect("valid"),
        None
    );
    assert_eq!(
        store.calendar_feed_since(user.id).await.expect("valid"),
        None
    );

    store
        .delete_schedule(id, common::test_event())
        .await
        .expect("delete");
    assert!(store.schedules(now).await.expect("valid").is_empty());
    let left = db
        .count("SELECT COUNT(*) FROM oncall_layers")
        .await
        .expect("count")
        + db.count("SELECT COUNT(*) FROM oncall_overrides")
            .await
            .expect("count");
    assert_eq!(left, 0, "{backend:?}: layers and overrides go with it");
}

#[tokio::test]
async fn conformance_schedules_keep_layers_overrides_and_feed_secrets() {
    common::on_each_backend(schedules_keep_layers_overrides_and_feed_secrets).await;
}

/// A channel of each kind keeps its destination, secret included, and an alert's
/// deliveries come back with the channel's name.
async fn channels_keep_their_destinations(backend: Backend) {
    use mcpops::domain::notifications::{ChannelForm, Delivery, NewChannel, NoticeEvent};
    let db = TestDb::new(backend).await;
    let store = open(&db).await;
    let forms = [
        ("hook", "webhook", "https://hooks.example.com/x/SECRET", ""),
        (
            "chat",
            "teams",
            "https://example.webhook.office.com/w/SECRET",
            "",
        ),
        ("pd", "pagerduty", "", "R0123456789abcdef0123456789ABCDE"),
        ("mail", "email", "smtps://mail.example.com", "pw"),
    ];
    let mut created = Vec::new();
    for (name, kind, url, secret) in forms {
        let new = NewChannel::parse(&ChannelForm {
            name: name.into(),
            kind: kind.into(),
            url: url.into(),
            secret: secret.into(),
            smtp_user: if kind == "email" {
                "mcpops".into()
            } else {
                String::new()
            },
            email_from: "mcpops@example.com".into(),
            email_to: "ops@example.com, lead@example.com".into(),
            min_severity: "warning".into(),
            tags: "edge".into(),
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let channel = store
            .create_channel(&new, "ann", chrono::Utc::now(), common::test_event())
            .await
            .expect("create");
        assert!(!channel.url_redacted.contains("SECRET"));
        created.push((channel, new.destination));
    }
    let listed = store.channels().await.expect("channels");
    assert_eq!(listed.len(), 4, "{backend:?}");
    for (channel, destination) in &created {
        let (stored, stored_destination) = listed
            .iter()
            .find(|(c, _)| c.id == channel.id)
            .expect("listed");
        assert_eq!(stored.kind, channel.kind);
        assert_eq!(stored.url_redacted, channel.url_redacted);
        assert_eq!(
            stored_destination, destination,
            "{backend:?} {}",
            channel.name
        );
    }

    let target = store
        .insert_target(
            &spec("demo", "http://127.0.0.1:9/mcp"),
            TargetSource::Ui,
            common::test_event(),
        )
        .await
        .expect("target");
    let alert = common::open_test_alert(
        store.as_ref(),
        target.id,
        RuleKind::TargetDown,
        AlertState::Firing,
    )
    .await;
    for (attempt, error) in [(1, Some("cannot connect")), (2, None)] {
        store
            .record_delivery(&Delivery {
                channel_id: created[2].0.id,
                alert_id: Some(alert.id),
                event: NoticeEvent::Acknowledged,
                attempt,
                at: chrono::Utc::now(),
                error: error.map(str::to_owned),
            })
            .await
            .expect("delivery");
    }
    let sent = store.alert_deliveries(alert.id).await.expect("deliveries");
    let seen: Vec<(&str, u32, bool)> = sent
        .iter()
        .map(|s| {
            (
                s.channel.as_str(),
                s.delivery.attempt,
                s.delivery.error.is_none(),
            )
        })
        .collect();
    assert_eq!(seen, [("pd", 1, false), ("pd", 2, true)], "{backend:?}");
    assert_eq!(sent[0].delivery.event, NoticeEvent::Acknowledged);

    // A group notice is recorded against each of its alerts.
    let other = common::open_test_alert(
        store.as_ref(),
        target.id,
        RuleKind::NotReady,
        AlertState::Firing,
    )
    .await;
    let group = Delivery {
        channel_id: created[0].0.id,
        alert_id: None,
        event: NoticeEvent::Firing,
        attempt: 1,
        at: chrono::Utc::now(),
        error: None,
    };
    store
        .record_group_delivery(&group, &[alert.id, other.id])
        .await
        .expect("group delivery");
    for id in [alert.id, other.id] {
        let told = store.alert_deliveries(id).await.expect("deliveries");
        assert!(
            told.iter()
                .any(|t| t.channel == "hook" && t.delivery.event == NoticeEvent::Firing),
            "{backend:?} alert {id}: {told:?}"
        );
    }
}

#[tokio::test]
async fn conformance_channels_keep_their_destinations() {
    common::on_each_backend(channels_keep_their_destinations).await;
}

/// Channels and deliveries made before Teams, PagerDuty and email existed survive the
/// migration that added them (SQLite copies both tables).
async fn older_channels_survive_the_channel_kinds_migration(backend: Backend) {
    let db = TestDb::new(backend).await;
    db.migrate_before(19).await.expect("older schema");
    db.raw_sql(&[
        "INSERT INTO channels (name, kind, url, min_severity, tags, created_by, created_at) \
         VALUES ('old-slack', 'slack', 'https://hooks.slack.com/services/T0/B0/X', 'warning', \
         '[]', 'ann', 1700000000000)",
        "INSERT INTO deliveries (channel_id, alert_id, event, attempt, at, error) \
         SELECT id, NULL, 'test', 1, 1700000000000, NULL FROM channels",
        "INSERT INTO channels (name, kind, url, min_severity, tags, created_by, created_at) \
         VALUES ('gone', 'webhook', 'https://hooks.example.com/gone', 'info', '[]', 'ann', \
         1700000000000)",
        "DELETE FROM channels WHERE name = 'gone'",
    ])
    .await
    .expect("old rows");
    let store = open(&db).await;
    let listed = store.channels().await.expect("channels");
    assert_eq!(listed.len(), 1, "{backend:?}");
    assert_eq!(listed[0].0.name, "old-slack");
    assert_eq!(listed[0].0.url_redacted, "https://hooks.slack.com/…");
    let deliveries = store
        .deliveries(Some(listed[0].0.id), 10)
        .await
        .expect("deliveries");
    assert_eq!(deliveries.len(), 1, "{backend:?}: the delivery was kept");
    // A deleted channel's id is not handed out again.
    let new = mcpops::domain::notifications::NewChannel::parse(
        &mcpops::domain::notifications::ChannelForm {
            name: "new".into(),
            kind: "webhook".into(),
            url: "https://hooks.example.com/new".into(),
            min_severity: "info".into(),
            ..Default::default()
        },
    )
    .expect("form");
    let made = store
        .create_channel(&new, "ann", chrono::Utc::now(), common::test_event())
        .await
        .expect("create");
    assert!(made.id > 2, "{backend:?}: id {} reused", made.id);
    // Deleting the channel still takes its deliveries with it.
    store
        .delete_channel(listed[0].0.id, common::test_event())
        .await
        .expect("delete");
    assert!(store.deliveries(None, 10).await.expect("all").is_empty());
}

#[tokio::test]
async fn conformance_older_channels_survive_the_channel_kinds_migration() {
    // In turn, not spawned: sqlx's migrator is not `Send` across its awaits.
    for backend in common::BACKENDS {
        older_channels_survive_the_channel_kinds_migration(backend).await;
    }
}

/// Contact methods belong to their person; an escalation is opened once per group and
/// policy, each step is claimed once, and it stops, then resolves, once.
async fn escalations_page_each_step_once(backend: Backend) {
    use chrono::{Duration, Utc};
    use mcpops::domain::alerts::Severity;
    use mcpops::domain::auth::Role;
    use mcpops::domain::escalation::{
        ContactForm, EscalationEnd, EscalationLevel, NewContactMethod, NewPolicy, Page, Responder,
        Step,
    };
    use mcpops::domain::notifications::{ChannelKind, NoticeEvent};
    use mcpops::server::services::accounts::add_user;
    let db = TestDb::new(backend).await;
    let store = open(&db).await;
    for name in ["alice", "bob"] {
        add_user(
            store.as_ref(),
            name,
            Role::Operator,
            Some(common::TEST_PASSWORD.into()),
        )
        .await
        .expect("user");
    }
    let users = store.users().await.expect("users");
    let id_of = |name: &str| users.iter().find(|u| u.username == name).expect("user").id;
    let (alice, bob) = (id_of("alice"), id_of("bob"));
    // Times are kept to the millisecond.
    let now = chrono::DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("now");

    let pager = NewContactMethod::parse(&ContactForm {
        label: "pager".into(),
        kind: "pagerduty".into(),
        secret: "R0123456789abcdef0123456789ABCDE".into(),
        ..ContactForm::default()
    })
    .expect("valid");
    let id = store
        .add_contact_method(alice, &pager, now, common::test_event())
        .await
        .expect("add");
    assert!(
        matches!(
            store
                .add_contact_method(alice, &pager, now, common::test_event())
                .await,
            Err(StoreError::Conflict(_))
        ),
        "{backend:?}: a second method of the same label"
    );
    let (method, destination) = store.contact_method(alice, id).await.expect("own");
    assert_eq!(
        (method.kind, method.username.as_str()),
        (ChannelKind::PagerDuty, "alice")
    );
    assert_eq!(
        destination, pager.destination,
        "{backend:?}: the routing key is kept"
    );
    assert!(matches!(
        store.contact_method(bob, id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .delete_contact_method(bob, id, common::test_event())
            .await,
        Err(StoreError::NotFound)
    ));
    let of = store
        .contact_methods_of(&["alice".into(), "bob".into()])
        .await
        .expect("of");
    assert_eq!(of.len(), 1);

    let new = NewPolicy {
        name: "primary".into(),
        min_severity: Severity::Critical,
        tags: vec!["team:payments".into()],
        levels: vec![EscalationLevel {
            responders: vec![Responder::User("alice".into())],
            wait_seconds: 300,
        }],
        repeat: 2,
    };
    let policy_id = store
        .create_policy(&new, "ann", now, common::test_event())
        .await
        .expect("policy");
    assert!(matches!(
        store
            .create_policy(&new, "ann", now, common::test_event())
            .await,
        Err(StoreError::Conflict(_))
    ));
    let policies = store.escalation_policies().await.expect("policies");
    let policy = &policies[0];
    assert_eq!(
        (policy.id, policy.repeat, policy.levels.clone()),
        (policy_id, 2, new.levels.clone())
    );
    assert_eq!(policy.tags, new.tags);

    let target = common::add_target(store.as_ref(), "api", "http://127.0.0.1:9/mcp").await;
    let other = common::add_target(store.as_ref(), "db", "http://127.0.0.1:10/mcp").await;
    let first = common::open_test_alert(
        store.as_ref(),
        target.id,
        RuleKind::TargetDown,
        AlertState::Firing,
    )
    .await;
    let second = common::open_test_alert(
        store.as_ref(),
        other.id,
        RuleKind::TargetDown,
        AlertState::Firing,
    )
    .await;
    let opened = store
        .open_escalation(
            "target_down",
            policy,
            &[first.id],
            now,
            common::test_event(),
        )
        .await
        .expect("open");
    let escalation_id = opened.expect("a new escalation");
    let again = store
        .open_escalation(
            "target_down",
            policy,
            &[second.id, first.id],
            now,
            common::test_event(),
        )
        .await
        .expect("attach");
    assert_eq!(
        again, None,
        "{backend:?}: the group's escalation is joined, not opened twice"
    );
    assert_eq!(
        store
            .escalation_alert_ids(escalation_id)
            .await
            .expect("ids"),
        vec![first.id, second.id]
    );

    let unresolved = store.unresolved_escalations().await.expect("unresolved");
    assert_eq!(unresolved.len(), 1);
    let seen = unresolved[0].escalation.clone();
    assert_eq!(
        (
            unresolved[0].open_alerts,
            unresolved[0].acknowledged_by.clone()
        ),
        (2, None)
    );
    let step = Step { level: 0, round: 0 };
    let due = now + Duration::minutes(5);
    assert!(
        store
            .claim_step(&seen, step, due, common::test_event())
            .await
            .expect("claim")
    );
    assert!(
        !store
            .claim_step(&seen, step, due, common::test_event())
            .await
            .expect("claim"),
        "{backend:?}: a step already claimed (by another replica) is not paged again"
    );
    let page = Page {
        escalation_id,
        step,
        event: NoticeEvent::Firing,
        username: "alice".into(),
        method: "pager".into(),
        method_id: Some(id),
        kind: Some(ChannelKind::PagerDuty),
        at: now,
        pending: true,
        error: None,
    };
    let page_id = store.record_page(&page).await.expect("page");
    store
        .finish_page(page_id, now, Some("HTTP status 500".into()))
        .await
        .expect("finish");
    let page = Page {
        pending: false,
        error: Some("HTTP status 500".into()),
        ..page
    };

    store
        .change_alert(
            first.id,
            &AlertChange {
                to: AlertState::Acknowledged,
                expected: &[AlertState::Firing],
                at: now,
                actor: "alice".into(),
                note: "on it".into(),
                summary: None,
                silenced: None,
            },
            common::test_event(),
        )
        .await
        .expect("ack");
    let unresolved = store.unresolved_escalations().await.expect("unresolved");
    assert_eq!(unresolved[0].acknowledged_by.as_deref(), Some("alice"));
    assert_eq!(unresolved[0].escalation.next_at, Some(due));
    let end = EscalationEnd::Acknowledged { by: "alice".into() };
    assert!(
        store
            .end_escalation(escalation_id, &end, now, common::test_event())
            .await
            .expect("end")
    );
    assert!(
        !store
            .end_escalation(escalation_id, &end, now, common::test_event())
            .await
            .expect("end")
    );
    assert!(
        store
            .resolve_escalation(escalation_id, now, common::test_event())
            .await
            .expect("resolve")
    );
    assert!(
        !store
            .resolve_escalation(escalation_id, now, common::test_event())
            .await
            .expect("resolve")
    );
    assert!(
        store
            .unresolved_escalations()
            .await
            .expect("none")
            .is_empty()
    );
    let shown = store.alert_escalations(second.id).await.expect("shown");
    assert_eq!(shown.len(), 1);
    assert_eq!(
        shown[0].0.end,
        Some(end),
        "{backend:?}: stopped by the acknowledgement, kept"
    );
    assert_eq!(shown[0].1, vec![page]);

    // A new escalation may open for the group once the last one is resolved.
    let reopened = store
        .open_escalation(
            "target_down",
            policy,
            &[second.id],
            now,
            common::test_event(),
        )
        .await
        .expect("open");
    let reopened = reopened.expect("a new escalation");
    // Stopped with nobody answering: a new alert pages again from level 1.
    let exhausted = EscalationEnd::Exhausted;
    store
        .end_escalation(reopened, &exhausted, now, common::test_event())
        .await
        .expect("end");
    let third = common::open_test_alert(
        store.as_ref(),
        target.id,
        RuleKind::NotReady,
        AlertState::Firing,
    )
    .await;
    let again = store
        .open_escalation(
            "target_down",
            policy,
            &[third.id],
            now,
            common::test_event(),
        )
        .await
        .expect("restart");
    assert_eq!(again, Some(reopened), "{backend:?}: paging anew");
    let restarted = store.unresolved_escalations().await.expect("unresolved");
    assert_eq!(
        (
            restarted[0].escalation.end.clone(),
            restarted[0].escalation.next_at
        ),
        (None, None)
    );
    store
        .delete_policy(policy_id, common::test_event())
        .await
        .expect("delete");
    let orphan = store.unresolved_escalations().await.expect("unresolved");
    assert_eq!(
        orphan[0].escalation.policy_id, None,
        "{backend:?}: kept, without its policy"
    );
    assert_eq!(orphan[0].escalation.policy_name, "primary");
}

#[tokio::test]
async fn conformance_escalations_page_each_step_once() {
    common::on_each_backend(escalations_page_each_step_once).await;
}
