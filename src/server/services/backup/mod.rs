//! Backups, restores and verified recovery. A backup copies the database while polling goes
//! on (SQLite `VACUUM INTO`, PostgreSQL `pg_dump` on an exported snapshot), and archives it
//! with the configuration and the runbooks. A restore unpacks into a fresh place, checks
//! integrity, the audit chain and the row counts against the manifest, and only then
//! switches; a verification does the same and throws the copy away.
pub mod archive;
mod place;
mod restore;
mod tracker;

use crate::domain::alerts::Severity;
use crate::domain::audit::{AuditEvent, Outcome, RequestOrigin};
use crate::domain::backups::{
    ARCHIVE_FORMAT, Manifest, NewBackupRun, Progress, Recovery, RunKind, StoredArchive,
    archive_name, expired, human_duration, parse_archive_name,
};
use crate::domain::notifications::NoticeEvent;
use crate::server::cluster::Membership;
use crate::server::config::redact_url;
use crate::server::services::alerts::Alerts;
use crate::server::services::audit_export::verify_chain;
use crate::server::store::{self, Store, StoreError, StoreOptions};
use archive::{ArchiveError, Member};
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

pub use place::backend_of;
pub use restore::{archives_taken_by, record_cli_run, record_restore, restore, verify};
pub use tracker::Tracker;

/// The actor the schedule writes to the audit log.
pub const SCHEDULE_ACTOR: &str = "system:backup";

/// The `[backup]` section of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// Where archives are written and retention prunes; by default `backups/` beside the
    /// SQLite file, or `data/backups` with PostgreSQL.
    pub dir: Option<PathBuf>,
    /// Minutes between scheduled backups; 0 switches the schedule off.
    pub every_minutes: u32,
    pub keep_daily: usize,
    pub keep_weekly: usize,
    /// Verify each scheduled backup by restoring it into a temporary place.
    pub verify_scheduled: bool,
    pub rpo_minutes: u32,
    pub rto_minutes: u32,
    /// How often a missed RPO is looked for (while backups are scheduled).
    pub rpo_check_secs: u64,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            dir: None,
            every_minutes: 60,
            keep_daily: 7,
            keep_weekly: 4,
            verify_scheduled: true,
            rpo_minutes: 60,
            rto_minutes: 30,
            rpo_check_secs: 60,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The archive or the restored copy failed a check; nothing was switched.
    #[error("{0}")]
    Refused(String),
    /// The database is in use (mcpops is running): nothing was restored.
    #[error("{0}")]
    InUse(String),
    /// Switching to the restored database failed part way; the message says where each is.
    #[error("{0}")]
    Switch(String),
    #[error("another backup or verification is running; try again when it ends")]
    Busy,
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let what = what.into();
    move |err| BackupError::Io(what, err)
}

/// What goes into an archive besides the database.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub config_file: Option<PathBuf>,
    pub runbooks_dir: Option<PathBuf>,
    /// Keep passwords and tokens in the archived configuration.
    pub include_secrets: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BackupDone {
    pub archive: PathBuf,
    pub bytes: u64,
    /// Rows per table in the archive, as its manifest records them.
    pub row_counts: std::collections::BTreeMap<String, i64>,
    pub took: std::time::Duration,
}

impl BackupDone {
    pub fn rows(&self) -> i64 {
        self.row_counts.values().sum()
    }
}

/// What a verification or restore checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub tables: usize,
    pub rows: i64,
    pub audit_entries: u64,
    pub took: std::time::Duration,
}

impl Checked {
    pub fn summary(&self) -> String {
        format!(
            "integrity ok, audit chain intact ({} entries), {} tables and {} rows match the manifest",
            self.audit_entries, self.tables, self.rows
        )
    }
}

/// Backups as the running server offers them: on demand, on a schedule, with progress.
pub struct Backups {
    store: Arc<dyn Store>,
    database_url: SecretString,
    config: BackupConfig,
    sources: Sources,
    progress: Arc<Mutex<Option<Progress>>>,
    running: tokio::sync::Mutex<()>,
}

impl Backups {
    pub fn new(
        store: Arc<dyn Store>,
        database_url: SecretString,
        config: BackupConfig,
        sources: Sources,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            database_url,
            config,
            sources,
            progress: Arc::default(),
            running: tokio::sync::Mutex::new(()),
        })
    }

    pub fn config(&self) -> &BackupConfig {
        &self.config
    }

    /// The directory archives go to.
    pub fn dir(&self) -> PathBuf {
        archive_dir(&self.config, self.database_url.expose_secret())
    }

    /// The files that hold secrets: a SQLite database with its WAL and shared memory, and
    /// the backup directory with its archives.
    pub fn files_with_secrets(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        if let Ok(database) = place::sqlite_file(self.database_url.expose_secret()) {
            for suffix in ["", "-wal", "-shm"] {
                files.push(PathBuf::from(format!("{}{suffix}", database.display())));
            }
        }
        let dir = self.dir();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            files.extend(entries.filter_map(|e| Some(e.ok()?.path())));
        }
        files.push(dir);
        files
    }

    /// The backup or verification running now, if any.
    pub fn progress(&self) -> Option<Progress> {
        self.progress.lock().ok().and_then(|p| p.clone())
    }

    pub async fn recovery(&self) -> Result<Recovery, StoreError> {
        let runs = self.store.backup_runs(200).await?;
        Ok(Recovery::from_runs(
            &runs,
            Utc::now(),
            Duration::minutes(i64::from(self.config.rpo_minutes)),
            Duration::minutes(i64::from(self.config.rto_minutes)),
        ))
    }

    /// Writes an archive into `dir` (the configured directory when `None`), records the run
    /// and applies retention there.
    pub async fn back_up(
        &self,
        dir: Option<&Path>,
        actor: &str,
        origin: &RequestOrigin,
    ) -> Result<BackupDone, BackupError> {
        let _running = self.running.try_lock().map_err(|_| BackupError::Busy)?;
        let started = Utc::now();
        let dir = dir.map_or_else(|| self.dir(), Path::to_path_buf);
        let tracker = Tracker::start(&self.progress, RunKind::Backup);
        let result = self.write_archive(&dir, started, &tracker).await;
        drop(tracker);
        let (ok, bytes, detail, archive) = match &result {
            Ok(done) => (
                true,
                Some(i64::try_from(done.bytes).unwrap_or(i64::MAX)),
                format!("{} rows", done.rows()),
                done.archive.clone(),
            ),
            Err(err) => (
                false,
                None,
                err.to_string(),
                dir.join(archive_name(started)),
            ),
        };
        self.record(
            RunKind::Backup,
            actor,
            origin,
            &archive,
            started,
            ok,
            bytes,
            detail,
        )
        .await;
        let done = result?;
        self.prune(&dir).await;
        Ok(done)
    }

    async fn write_archive(
        &self,
        dir: &Path,
        started: DateTime<Utc>,
        tracker: &Tracker,
    ) -> Result<BackupDone, BackupError> {
        let clock = std::time::Instant::now();
        crate::server::private_files::create_dir(dir)
            .map_err(io_error(format!("cannot create {}", dir.display())))?;
        let staging = tempfile::Builder::new()
            .prefix(".mcpops-backup-")
            .tempdir_in(dir)
            .map_err(io_error("cannot create a staging directory"))?;
        tracker.stage("copying the database", 0);
        let snapshot = self.store.snapshot_database(staging.path()).await?;
        let mut members = vec![Member {
            name: format!("database/{}", file_name(&snapshot.file)),
            source: snapshot.file.clone(),
        }];
        let secrets_redacted = !self.sources.include_secrets;
        if let Some(config) = &self.sources.config_file {
            let text = tokio::fs::read_to_string(config)
                .await
                .map_err(io_error(format!("cannot read {}", config.display())))?;
            let text = if secrets_redacted {
                redact_config(&text)
            } else {
                text
            };
            let copy = staging.path().join("mcpops.toml");
            tokio::fs::write(&copy, text)
                .await
                .map_err(io_error("cannot stage the configuration"))?;
            members.push(Member {
                name: "config/mcpops.toml".into(),
                source: copy,
            });
        }
        if let Some(runbooks) = &self.sources.runbooks_dir {
            members.extend(runbook_members(runbooks)?);
        }
        let total: u64 = members
            .iter()
            .filter_map(|m| std::fs::metadata(&m.source).ok())
            .map(|m| m.len())
            .sum();
        tracker.stage("compressing", total);
        let mut manifest = Manifest {
            format: ARCHIVE_FORMAT,
            app_version: env!("CARGO_PKG_VERSION").into(),
            created_at: started,
            backend: backend_of(self.database_url.expose_secret())?,
            schema_version: snapshot.schema_version,
            files: Vec::new(),
            row_counts: snapshot.row_counts.clone(),
            secrets_redacted,
        };
        let dest = dir.join(archive_name(started));
        let progress = tracker.clone();
        let bytes = tokio::task::spawn_blocking(move || {
            let written = archive::write(&dest, &members, &mut manifest, |n| progress.advance(n));
            drop(staging);
            written.map(|bytes| (dest, bytes))
        })
        .await
        .map_err(|e| BackupError::Refused(format!("the backup task failed: {e}")))??;
        Ok(BackupDone {
            archive: bytes.0,
            bytes: bytes.1,
            row_counts: snapshot.row_counts,
            took: clock.elapsed(),
        })
    }

    /// Restores `archive` into a temporary place, checks it, records the result.
    pub async fn verify(
        &self,
        archive: &Path,
        actor: &str,
        origin: &RequestOrigin,
    ) -> Result<Checked, BackupError> {
        let _running = self.running.try_lock().map_err(|_| BackupError::Busy)?;
        let started = Utc::now();
        let tracker = Tracker::start(&self.progress, RunKind::Verify);
        let result = verify(self.database_url.expose_secret(), archive, &tracker).await;
        drop(tracker);
        let (ok, detail) = match &result {
            Ok(checked) => (true, checked.summary()),
            Err(err) => (false, err.to_string()),
        };
        let bytes = std::fs::metadata(archive)
            .ok()
            .and_then(|m| i64::try_from(m.len()).ok());
        self.record(
            RunKind::Verify,
            actor,
            origin,
            archive,
            started,
            ok,
            bytes,
            detail,
        )
        .await;
        result
    }

    #[expect(clippy::too_many_arguments, reason = "one run row and its audit entry")]
    async fn record(
        &self,
        kind: RunKind,
        actor: &str,
        origin: &RequestOrigin,
        archive: &Path,
        started: DateTime<Utc>,
        ok: bool,
        bytes: Option<i64>,
        detail: String,
    ) {
        let run = NewBackupRun {
            kind,
            actor: actor.to_owned(),
            archive: file_name(archive),
            started_at: started,
            finished_at: Utc::now(),
            ok,
            bytes,
            detail,
        };
        if let Err(err) = record_run(self.store.as_ref(), &run, origin).await {
            tracing::error!(error = %err, kind = kind.as_str(), "could not record a backup run");
        }
    }

    /// What pages warn about while backups are scheduled and the last good one is older
    /// than the RPO.
    pub async fn rpo_warning(&self) -> Result<Option<String>, StoreError> {
        if self.config.every_minutes == 0 {
            return Ok(None);
        }
        let recovery = self.recovery().await?;
        Ok((!recovery.rpo.met()).then(|| match recovery.rpo.measured {
            Some(age) => format!(
                "Backup RPO missed: the last good backup is {} old (objective {})",
                human_duration(age),
                human_duration(recovery.rpo.target)
            ),
            None => format!(
                "Backup RPO missed: there is no good backup yet (objective {})",
                human_duration(recovery.rpo.target)
            ),
        }))
    }

    /// Checks the RPO every `rpo_check_secs`; notifies the alert channels and audits when it
    /// is missed and again when it is met.
    pub async fn watch_rpo(
        self: Arc<Self>,
        alerts: Arc<Alerts>,
        membership: Membership,
        shutdown: CancellationToken,
    ) {
        let every = std::time::Duration::from_secs(self.config.rpo_check_secs.max(1));
        let mut missed: Option<String> = None;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            if !membership.leads() {
                continue;
            }
            let Ok(now) = self.rpo_warning().await else {
                continue;
            };
            let (event, summary, action) = match (&missed, &now) {
                (None, Some(warning)) => (NoticeEvent::Firing, warning.clone(), "rpo_missed"),
                (Some(_), None) => (
                    NoticeEvent::Resolved,
                    "Backup RPO met again".to_owned(),
                    "rpo_met",
                ),
                _ => continue,
            };
            let audit = AuditEvent::new(
                "backup",
                SCHEDULE_ACTOR,
                action,
                "rpo",
                &RequestOrigin::local(),
            )
            .reason(&summary);
            if let Err(err) = self.store.append_audit(audit).await {
                tracing::warn!(error = %err, "could not audit the RPO state");
            }
            // Sent after it is recorded, so whoever hears of it finds it in the log.
            alerts
                .notifier()
                .send_system(event, Severity::Critical, summary, "/admin/backups");
            missed = now;
        }
    }

    /// The newest archive in the configured directory.
    pub fn latest_archive(&self) -> Option<PathBuf> {
        let dir = self.dir();
        archives_in(&dir)
            .into_iter()
            .max_by_key(|a| a.taken_at)
            .map(|a| dir.join(a.name))
    }

    async fn prune(&self, dir: &Path) {
        for name in expired(
            &archives_in(dir),
            self.config.keep_daily,
            self.config.keep_weekly,
        ) {
            match tokio::fs::remove_file(dir.join(&name)).await {
                Ok(()) => tracing::info!(archive = %name, "retention removed a backup"),
                Err(err) => tracing::warn!(archive = %name, error = %err, "cannot remove a backup"),
            }
        }
    }

    /// Backs up every `every_minutes` (counting from the last good backup, so a restart does
    /// not take an extra one), verifying each when configured.
    pub async fn run_schedule(
        self: Arc<Self>,
        membership: Membership,
        shutdown: CancellationToken,
    ) {
        if self.config.every_minutes == 0 {
            return;
        }
        let every = Duration::minutes(i64::from(self.config.every_minutes));
        loop {
            let last = self
                .recovery()
                .await
                .ok()
                .and_then(|r| r.last_backup)
                .map(|b| b.finished_at);
            let due = last.map_or(Utc::now(), |at| at + every);
            let wait = (due - Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait.max(std::time::Duration::from_secs(5))) => {}
            }
            if !membership.leads() {
                continue;
            }
            let origin = RequestOrigin::local();
            match self.back_up(None, SCHEDULE_ACTOR, &origin).await {
                Ok(done) if self.config.verify_scheduled => {
                    if let Err(err) = self.verify(&done.archive, SCHEDULE_ACTOR, &origin).await {
                        tracing::error!(error = %err, "scheduled verification failed");
                    }
                }
                Ok(_) => {}
                Err(BackupError::Busy) => {}
                Err(err) => {
                    tracing::error!(error = %err, "scheduled backup failed");
                    // Try again after a pause rather than immediately in a loop.
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(std::time::Duration::from_secs(300)) => {}
                    }
                }
            }
        }
    }
}

async fn record_run(
    store: &dyn Store,
    run: &NewBackupRun,
    origin: &RequestOrigin,
) -> Result<(), StoreError> {
    let action = match run.kind {
        RunKind::Backup => "created",
        RunKind::Verify => "verified",
        RunKind::Restore => "restored",
    };
    let mut event = AuditEvent::new("backup", &run.actor, action, &run.archive, origin)
        .details(&serde_json::json!({ "bytes": run.bytes, "detail": run.detail }));
    if !run.ok {
        event = event.outcome(Outcome::Failure).reason(&run.detail);
    }
    store.record_backup_run(run, event).await
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Where archives go: `[backup] dir`, or `backups/` beside the SQLite file, or
/// `data/backups` with PostgreSQL.
pub fn archive_dir(config: &BackupConfig, database_url: &str) -> PathBuf {
    config.dir.clone().unwrap_or_else(|| {
        place::work_dir(database_url)
            .ok()
            .filter(|_| database_url.starts_with("sqlite:"))
            .map_or_else(|| PathBuf::from("data/backups"), |dir| dir.join("backups"))
    })
}

fn archives_in(dir: &Path) -> Vec<StoredArchive> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            parse_archive_name(&name).map(|taken_at| StoredArchive { name, taken_at })
        })
        .collect()
}

/// The `*.md` files of the runbooks directory.
fn runbook_members(dir: &Path) -> Result<Vec<Member>, BackupError> {
    let entries =
        std::fs::read_dir(dir).map_err(io_error(format!("cannot read {}", dir.display())))?;
    let mut members: Vec<Member> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| e.path().extension().is_some_and(|x| x == "md"))
        .map(|e| Member {
            name: format!("runbooks/{}", e.file_name().to_string_lossy()),
            source: e.path(),
        })
        .collect();
    members.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(members)
}

/// The configuration with passwords, tokens and secrets replaced, and the database URL's
/// password hidden; a file that does not parse is left out rather than copied with secrets.
pub fn redact_config(text: &str) -> String {
    fn walk(value: &mut toml::Value) {
        if let toml::Value::Table(table) = value {
            for (key, item) in table.iter_mut() {
                let key = key.to_ascii_lowercase();
                if let toml::Value::String(s) = item {
                    if key == "url" {
                        *s = redact_url(s);
                    } else if ["password", "secret", "token", "webhook"]
                        .iter()
                        .any(|k| key.contains(k))
                    {
                        *s = "REDACTED".into();
                    }
                } else {
                    walk(item);
                }
            }
        }
    }
    match text.parse::<toml::Table>() {
        Ok(table) => {
            let mut value = toml::Value::Table(table);
            walk(&mut value);
            toml::to_string(&value).unwrap_or_default()
        }
        Err(_) => "# the configuration did not parse and was left out\n".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archived_configuration_hides_secrets() {
        let text = r#"
[database]
url = "postgres://mcpops:hunter2@db/mcpops"
[auth]
session_secret = "abc"
[alerts]
webhook_token = "t0k"
clear_polls = 3
"#;
        let redacted = redact_config(text);
        for secret in ["hunter2", "abc", "t0k"] {
            assert!(!redacted.contains(secret), "{redacted}");
        }
        assert!(redacted.contains("clear_polls = 3"), "{redacted}");
        assert!(
            redacted.contains("postgres://mcpops:*****@db/mcpops"),
            "{redacted}"
        );
        assert!(redact_config("not = [toml").contains("left out"));
    }
}
