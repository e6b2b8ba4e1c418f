//! Verifying and restoring an archive: unpacked and checked beside the database, then
//! switched in; and the records of runs made from the command line.
use super::*;

/// The archives in `dir` taken at or before `at`, by their manifests (not their names), newest
/// first; and the files that could not be read as archives, with why.
pub async fn archives_taken_by(
    dir: &Path,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(Vec<(PathBuf, chrono::DateTime<chrono::Utc>)>, Vec<String>), BackupError> {
    let dir = dir.to_owned();
    let read = tokio::task::spawn_blocking(move || {
        let entries =
            std::fs::read_dir(&dir).map_err(io_error(format!("cannot read {}", dir.display())))?;
        let (mut found, mut unreadable) = (Vec::new(), Vec::new());
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let is_archive = entry.file_type().is_ok_and(|t| t.is_file())
                && path.to_string_lossy().ends_with(".tar.gz");
            if !is_archive {
                continue;
            }
            match archive::manifest_of(&path) {
                Ok(manifest) => found.push((path, manifest.created_at)),
                Err(err) => unreadable.push(format!("{}: {err}", path.display())),
            }
        }
        Ok((
            crate::domain::backups::restore_candidates(found, at),
            unreadable,
        ))
    });
    read.await
        .map_err(|err| BackupError::Refused(format!("reading the archives failed: {err}")))?
}

/// Unpacks and checks `archive` in a temporary place, then removes it.
pub async fn verify(
    database_url: &str,
    archive: &Path,
    tracker: &Tracker,
) -> Result<Checked, BackupError> {
    let clock = std::time::Instant::now();
    let work = tempfile::Builder::new()
        .prefix("mcpops-verify-")
        .tempdir()
        .map_err(io_error("cannot create a temporary directory"))?;
    let manifest = unpack(database_url, archive, work.path(), tracker).await?;
    tracker.stage("restoring into a temporary place", 0);
    let placed = place::stage(database_url, work.path(), &manifest, "v").await?;
    tracker.stage("checking integrity, the audit chain and row counts", 0);
    let checked = check(&placed.url, &manifest).await;
    placed.discard(database_url).await;
    let mut checked = checked?;
    checked.took = clock.elapsed();
    Ok(checked)
}

/// Restores `archive` as the database in `database_url`: unpacked and checked beside it,
/// then switched in; the previous database is kept under a `before-restore` name. mcpops must
/// be stopped. Returns the checks and where the previous database went.
pub async fn restore(
    database_url: &str,
    archive: &Path,
    tracker: &Tracker,
) -> Result<(Checked, String), BackupError> {
    let clock = std::time::Instant::now();
    let work_parent = place::work_dir(database_url)?;
    tokio::fs::create_dir_all(&work_parent)
        .await
        .map_err(io_error(format!("cannot create {}", work_parent.display())))?;
    let work = tempfile::Builder::new()
        .prefix(".mcpops-restore-")
        .tempdir_in(&work_parent)
        .map_err(io_error("cannot create a restore directory"))?;
    let manifest = unpack(database_url, archive, work.path(), tracker).await?;
    place::ensure_stopped(database_url).await?;
    tracker.stage("restoring into a fresh place", 0);
    let placed = place::stage(database_url, work.path(), &manifest, "r").await?;
    tracker.stage("checking integrity, the audit chain and row counts", 0);
    let mut checked = match check(&placed.url, &manifest).await {
        Ok(checked) => checked,
        Err(err) => {
            placed.discard(database_url).await;
            return Err(err);
        }
    };
    tracker.stage("switching to the restored database", 0);
    let previous = placed.switch(database_url).await?;
    checked.took = clock.elapsed();
    Ok((checked, previous))
}

/// Records a restore in the restored database itself, which is the current one now.
pub async fn record_restore(
    database_url: &str,
    archive: &Path,
    checked: &Checked,
    started: DateTime<Utc>,
) -> Result<(), StoreError> {
    let store = store::open(database_url, &StoreOptions::default()).await?;
    let result = record_cli_run(
        store.as_ref(),
        RunKind::Restore,
        archive,
        started,
        Ok(checked.summary()),
    )
    .await;
    store.close().await;
    result
}

/// Records a command-line backup, verification or restore in `store`.
pub async fn record_cli_run(
    store: &dyn Store,
    kind: RunKind,
    archive: &Path,
    started: DateTime<Utc>,
    result: Result<String, String>,
) -> Result<(), StoreError> {
    let ok = result.is_ok();
    let run = NewBackupRun {
        kind,
        actor: "cli".into(),
        archive: file_name(archive),
        started_at: started,
        finished_at: Utc::now(),
        ok,
        bytes: std::fs::metadata(archive)
            .ok()
            .and_then(|m| i64::try_from(m.len()).ok()),
        detail: result.unwrap_or_else(|e| e),
    };
    record_run(store, &run, &RequestOrigin::local()).await
}

async fn unpack(
    database_url: &str,
    archive: &Path,
    into: &Path,
    tracker: &Tracker,
) -> Result<Manifest, BackupError> {
    let total = std::fs::metadata(archive)
        .map_err(io_error(format!("cannot read {}", archive.display())))?
        .len();
    // Read twice: once for the manifest, once to unpack what it lists.
    tracker.stage("reading and checking the archive", 2 * total);
    let (source, dest, progress) = (archive.to_path_buf(), into.to_path_buf(), tracker.clone());
    let manifest = tokio::task::spawn_blocking(move || {
        archive::unpack(&source, &dest, |n| progress.advance(n))
    })
    .await
    .map_err(|e| BackupError::Refused(format!("the unpacking task failed: {e}")))??;
    let backend = backend_of(database_url)?;
    if let Some(reason) = manifest.incompatibility(backend, store::newest_migration(backend)) {
        return Err(BackupError::Refused(reason));
    }
    Ok(manifest)
}

/// Integrity, the audit chain, and every table's rows against the manifest.
async fn check(url: &str, manifest: &Manifest) -> Result<Checked, BackupError> {
    let options = StoreOptions {
        max_connections: 2,
        // A restored database of many gigabytes is slow to open the first time; nobody waits
        // on this connection but the check itself.
        acquire_timeout: std::time::Duration::from_secs(120),
    };
    let restored = store::open(url, &options).await?;
    let result = check_store(restored.as_ref(), manifest).await;
    restored.close().await;
    result
}

async fn check_store(store: &dyn Store, manifest: &Manifest) -> Result<Checked, BackupError> {
    let problems = store.integrity_problems().await?;
    if !problems.is_empty() {
        return Err(BackupError::Refused(format!(
            "the restored database fails its integrity check: {}",
            problems.join("; ")
        )));
    }
    let chain = verify_chain(store, |_| {}).await?;
    if let Some((seq, broken)) = chain.broken {
        return Err(BackupError::Refused(format!(
            "the restored audit chain is broken at entry {seq}: {}",
            broken.describe()
        )));
    }
    let counts = store.row_counts().await?;
    let mismatches = manifest.count_mismatches(&counts);
    if !mismatches.is_empty() {
        return Err(BackupError::Refused(format!(
            "restored row counts differ from the manifest: {}",
            mismatches.join(", ")
        )));
    }
    Ok(Checked {
        tables: manifest.row_counts.len(),
        rows: manifest.row_counts.values().sum(),
        audit_entries: chain.checked,
        took: std::time::Duration::ZERO,
    })
}
