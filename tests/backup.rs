//! Backups taken while the demo fleet is polled restore into a fresh place with the audit
//! chain intact and the manifest's row counts; damaged and mismatched archives are refused and
//! change nothing. Both backends, through the real command line where an operator would use it.
use crate::common;

use common::{BACKENDS, Backend, TestDb, eventually, spawn_app_with, test_config};
use mcpops::domain::audit::RequestOrigin;
use mcpops::domain::backups::RunKind;
use mcpops::server::demo::DemoFleet;
use mcpops::server::services::backup::{self, BackupError, Backups};
use mcpops::server::store::{self, SampleTable, Store, StoreOptions};
use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

fn mcpops(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mcpops"))
        .env_remove("MCPOPS_CONFIG")
        .env("MCPOPS__DATABASE__URL", database_url)
        .env("MCPOPS__LOG__LEVEL", "warn")
        .args(args)
        .output()
        .expect("mcpops runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn open(url: &str) -> Arc<dyn Store> {
    store::open(url, &StoreOptions::default())
        .await
        .expect("store opens")
}

/// The backup service on `store`, configured as in tests.
fn backups_on(store: &Arc<dyn Store>, database_url: &str) -> Arc<Backups> {
    let config = test_config(database_url);
    Backups::new(
        store.clone(),
        config.database.url.clone(),
        config.backup.clone(),
        Default::default(),
    )
}

async fn sample_count(store: &dyn Store) -> usize {
    let from = chrono::Utc::now() - chrono::Duration::hours(1);
    let to = chrono::Utc::now() + chrono::Duration::hours(1);
    store
        .samples(SampleTable::Raw, None, from, to)
        .await
        .expect("samples")
        .len()
}

#[tokio::test]
async fn a_backup_taken_while_polling_restores_with_its_audit_chain_and_row_counts() {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let fleet = Arc::new(DemoFleet::start(4).await.expect("fleet"));
        let app = spawn_app_with(db.url(), Some(fleet.clone()), |c| {
            c.demo.interval_secs = 1;
        })
        .await;
        let store = app.state.store.clone();
        eventually(Duration::from_secs(20), "polls stored", || {
            let store = store.clone();
            async move { (sample_count(store.as_ref()).await >= 12).then_some(()) }
        })
        .await;
        let dir = tempfile::tempdir().expect("dir");
        // Polling goes on during the backup; the copy is one consistent snapshot regardless.
        let before = sample_count(store.as_ref()).await;
        let done = app
            .state
            .backups
            .back_up(Some(dir.path()), "test", &RequestOrigin::local())
            .await
            .expect("backup");
        let archived = done.row_counts["samples"];
        assert!(
            archived >= before as i64,
            "{backend:?}: {archived} < {before}"
        );
        eventually(Duration::from_secs(10), "polling after the backup", || {
            let store = store.clone();
            async move { (sample_count(store.as_ref()).await as i64 > archived).then_some(()) }
        })
        .await;
        assert!(
            archived > 0 && done.row_counts["audit_log"] > 0,
            "{backend:?}"
        );

        // The running server verifies it and records the result for the admin page.
        let checked = app
            .state
            .backups
            .verify(&done.archive, "test", &RequestOrigin::local())
            .await
            .expect("verified");
        assert_eq!(checked.rows, done.rows(), "{backend:?}");
        let recovery = app.state.backups.recovery().await.expect("recovery");
        assert!(
            recovery.rpo.met() && recovery.rto.met(),
            "{backend:?}: {recovery:?}"
        );
        assert_eq!(
            recovery.last_verified.map(|r| r.kind),
            Some(RunKind::Verify)
        );

        // Restore into a fresh database with the command line, as an operator would.
        let fresh = TestDb::new(backend).await;
        let archive = done.archive.to_string_lossy().into_owned();
        let restored = mcpops(fresh.url(), &["restore", &archive]);
        assert!(
            restored.status.success(),
            "{backend:?}: {}",
            text(&restored)
        );
        assert!(
            text(&restored).contains("audit chain intact"),
            "{}",
            text(&restored)
        );
        let audit = mcpops(fresh.url(), &["verify-audit"]);
        assert!(audit.status.success(), "{backend:?}: {}", text(&audit));
        let restored_store = open(fresh.url()).await;
        let counts = restored_store.row_counts().await.expect("counts");
        assert_eq!(counts["samples"], archived, "{backend:?}");
        assert_eq!(counts["targets"], done.row_counts["targets"], "{backend:?}");
        // The restore itself is recorded (and audited) in the restored database.
        let runs = restored_store.backup_runs(10).await.expect("runs");
        assert_eq!(
            runs.first().map(|r| r.kind),
            Some(RunKind::Restore),
            "{backend:?}"
        );
        restored_store.close().await;
        if matches!(backend, Backend::Postgres) {
            drop_previous_databases(fresh.url()).await;
        }
        app.stop().await.expect("stops");
        fleet.shutdown();
    }
}

#[tokio::test]
async fn damaged_and_mismatched_archives_are_refused_and_change_nothing() {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let store = open(db.url()).await;
        store
            .append_audit(common::test_event())
            .await
            .expect("audit");
        let dir = tempfile::tempdir().expect("dir");
        let backups = backups_on(&store, db.url());
        let done = backups
            .back_up(Some(dir.path()), "test", &RequestOrigin::local())
            .await
            .expect("backup");
        let counts_before = store.row_counts().await.expect("counts");
        // Not while the database is in use.
        let refused = mcpops(db.url(), &["restore", &done.archive.to_string_lossy()]);
        assert!(!refused.status.success(), "{backend:?}");
        assert!(
            text(&refused).contains("in use by another process")
                || text(&refused).contains("sessions are connected"),
            "{backend:?}: {}",
            text(&refused)
        );
        store.close().await;
        let bytes = std::fs::read(&done.archive).expect("archive");

        let truncated = dir.path().join("truncated.tar.gz");
        std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).expect("write");
        let flipped = dir.path().join("flipped.tar.gz");
        let mut damaged = bytes.clone();
        let middle = damaged.len() / 2;
        // Every bit of the byte: a single bit can fall in the padding after a stored deflate
        // block's header, which no reader looks at, so the archive's content is unchanged and
        // its restore rightly succeeds (seen: byte 5861 of 11,720, 0x00 → 0x04).
        damaged[middle] ^= 0xff;
        std::fs::write(&flipped, &damaged).expect("write");
        for archive in [&truncated, &flipped] {
            let output = mcpops(db.url(), &["restore", &archive.to_string_lossy()]);
            assert!(
                !output.status.success(),
                "{backend:?} accepted {}",
                archive.display()
            );
            let said = text(&output);
            assert!(
                said.contains("truncated or corrupt") || said.contains("checksum"),
                "{backend:?}: {said}"
            );
            let verify = mcpops(
                db.url(),
                &["restore", "--verify", &archive.to_string_lossy()],
            );
            assert!(!verify.status.success(), "{backend:?}: {}", text(&verify));
            assert!(text(&verify).contains("FAILED"), "{}", text(&verify));
        }
        // Nothing changed but the failed verifications' records and their audit entries.
        let store = open(db.url()).await;
        let counts_after = store.row_counts().await.expect("counts");
        assert_eq!(
            without_run_records(&counts_after),
            without_run_records(&counts_before),
            "{backend:?}"
        );
        let failures = store.backup_runs(10).await.expect("runs");
        assert!(
            failures
                .iter()
                .filter(|r| r.kind == RunKind::Verify)
                .all(|r| !r.ok),
            "{backend:?}: {failures:?}"
        );
        store.close().await;
        if matches!(backend, Backend::Postgres) {
            assert_no_restore_copies(db.url()).await;
        }

        // An archive of the other backend is refused with its reason before anything is done.
        let other = match backend {
            Backend::Sqlite => TestDb::new(Backend::Postgres).await,
            Backend::Postgres => TestDb::new(Backend::Sqlite).await,
        };
        let mismatched = mcpops(other.url(), &["restore", &done.archive.to_string_lossy()]);
        assert!(!mismatched.status.success());
        assert!(
            text(&mismatched).contains("configured database is"),
            "{}",
            text(&mismatched)
        );
    }
}

#[tokio::test]
async fn a_second_backup_while_one_runs_is_told_to_wait() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = open(db.url()).await;
    let backups = backups_on(&store, db.url());
    let dir = tempfile::tempdir().expect("dir");
    let origin = RequestOrigin::local();
    let (first, second) = tokio::join!(
        backups.back_up(Some(dir.path()), "a", &origin),
        backups.back_up(Some(dir.path()), "b", &origin),
    );
    assert!(
        first.is_ok() != second.is_ok(),
        "exactly one runs: {first:?} {second:?}"
    );
    assert!(matches!(
        first.err().or(second.err()),
        Some(BackupError::Busy)
    ));
}

#[tokio::test]
async fn restore_at_a_time_picks_the_newest_archive_before_it_and_falls_back_past_one_that_fails() {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let store = open(db.url()).await;
        let dir = tempfile::tempdir().expect("dir");
        let backups = backups_on(&store, db.url());
        // Four archives of one, two, three and four targets, copied aside from retention
        // (which keeps one a day).
        let kept = tempfile::tempdir().expect("dir");
        let mut taken = Vec::new();
        for n in 1..=4 {
            common::add_target(store.as_ref(), &format!("t{n}"), "http://127.0.0.1:9").await;
            let done = backups
                .back_up(Some(dir.path()), "test", &RequestOrigin::local())
                .await
                .expect("backup");
            let manifest = backup::archive::manifest_of(&done.archive).expect("manifest");
            let copy = kept.path().join(done.archive.file_name().expect("name"));
            std::fs::copy(&done.archive, &copy).expect("copy");
            taken.push((copy, manifest.created_at));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        store.close().await;
        // The third claims a schema newer than this build (as from a later release): its
        // manifest reads, its check refuses it. The fourth is after the time asked.
        let third = &taken[2].0;
        let unpacked = tempfile::tempdir().expect("dir");
        let mut manifest = backup::archive::unpack(third, unpacked.path(), |_| {}).expect("unpack");
        let members: Vec<backup::archive::Member> = manifest
            .files
            .iter()
            .map(|f| backup::archive::Member {
                name: f.name.clone(),
                source: unpacked.path().join(&f.name),
            })
            .collect();
        manifest.schema_version += 1_000;
        backup::archive::write(third, &members, &mut manifest, |_| {}).expect("rewrite");
        // A damaged file is passed over with its reason.
        let damaged = kept.path().join("mcpops-damaged.tar.gz");
        let mut bytes = std::fs::read(&taken[1].0).expect("archive");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&damaged, &bytes).expect("damage");
        let at = (taken[2].1 + chrono::Duration::milliseconds(1)).to_rfc3339();
        let from = kept.path().to_string_lossy().into_owned();
        let fresh = TestDb::new(backend).await;

        // Without --yes and no one to answer, nothing is restored.
        let asked = mcpops(fresh.url(), &["restore", "--at", &at, "--from", &from]);
        assert!(!asked.status.success(), "{backend:?}: {}", text(&asked));
        assert!(
            text(&asked).contains("nothing restored"),
            "{}",
            text(&asked)
        );

        let verified = mcpops(
            fresh.url(),
            &["restore", "--verify", "--at", &at, "--from", &from],
        );
        let said = text(&verified);
        assert!(verified.status.success(), "{backend:?}: {said}");
        assert!(
            said.contains(&format!("verification FAILED for {}", third.display())),
            "{said}"
        );
        assert!(
            said.contains(&format!("verified {}", taken[1].0.display())),
            "{said}"
        );

        let restored = mcpops(
            fresh.url(),
            &["restore", "--at", &at, "--from", &from, "--yes"],
        );
        let said = text(&restored);
        assert!(restored.status.success(), "{backend:?}: {said}");
        let picked = said
            .find(&third.display().to_string())
            .expect("the third is tried first");
        let fallback = said
            .find("trying the next older archive")
            .expect("a fallback");
        assert!(picked < fallback, "{said}");
        assert!(
            said.contains(&format!("restored {}", taken[1].0.display())),
            "{said}"
        );
        assert!(
            !said.contains(&taken[3].0.display().to_string()),
            "not the one after the time"
        );
        let restored_store = open(fresh.url()).await;
        let names: Vec<String> = restored_store
            .list_targets()
            .await
            .expect("targets")
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(
            names,
            ["t1", "t2"],
            "{backend:?}: the second archive's data"
        );
        restored_store.close().await;
        if matches!(backend, Backend::Postgres) {
            drop_previous_databases(fresh.url()).await;
        }

        let unknown = mcpops(
            fresh.url(),
            &["restore", "--at", "last tuesday", "--from", &from],
        );
        assert!(!unknown.status.success());
        assert!(
            text(&unknown).contains("is not a time"),
            "{}",
            text(&unknown)
        );
    }
}

fn without_run_records(counts: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    counts
        .iter()
        .filter(|(table, _)| !["backup_runs", "audit_log"].contains(&table.as_str()))
        .filter(|(table, _)| !table.starts_with("audit_search"))
        .map(|(t, c)| (t.clone(), *c))
        .collect()
}

/// Restore keeps the previous PostgreSQL database under a `_o…` name; tests remove it.
async fn drop_previous_databases(url: &str) {
    let name = url::Url::parse(url)
        .expect("url")
        .path()
        .trim_start_matches('/')
        .to_owned();
    let mut admin = admin().await;
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE $1")
            .bind(format!("{name}\\_o%"))
            .fetch_all(&mut admin)
            .await
            .expect("list");
    assert_eq!(rows.len(), 1, "one previous database kept");
    for (db,) in rows {
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .expect("drop");
    }
}

async fn assert_no_restore_copies(url: &str) {
    let name = url::Url::parse(url)
        .expect("url")
        .path()
        .trim_start_matches('/')
        .to_owned();
    let mut admin = admin().await;
    let (copies,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM pg_database WHERE datname LIKE $1")
            .bind(format!("{name}\\_%"))
            .fetch_one(&mut admin)
            .await
            .expect("count");
    assert_eq!(copies, 0, "a refused restore leaves no database behind");
}

async fn admin() -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(&common::postgres_admin_url())
        .await
        .expect("admin connection")
}
