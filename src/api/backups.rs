//! Server functions for backups: recovery objectives, the run history, progress, and starting a
//! backup or a verification (which run in the background while the page shows progress).
use super::error::AppError;
use crate::domain::backups::{BackupRun, Progress, Recovery};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupsView {
    pub recovery: Recovery,
    pub runs: Vec<BackupRun>,
    pub progress: Option<Progress>,
    /// The schedule in words, e.g. "every 60 min, verified; keeps 7 daily and 4 weekly".
    pub schedule: String,
    pub dir: String,
    pub latest_archive: Option<String>,
}

#[server(endpoint = "backups/get")]
pub async fn backups_overview() -> Result<BackupsView, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Administer)?;
    let backups = &caller.state.backups;
    let result = async {
        let config = backups.config();
        let schedule = if config.every_minutes == 0 {
            "off: back up with the button below or `mcpops backup`".to_owned()
        } else {
            format!(
                "every {} min{}; keeps the newest of {} days and {} weeks",
                config.every_minutes,
                if config.verify_scheduled {
                    ", each verified by a restore"
                } else {
                    ""
                },
                config.keep_daily,
                config.keep_weekly
            )
        };
        Ok(BackupsView {
            recovery: backups.recovery().await?,
            runs: caller.state.store.backup_runs(50).await?,
            progress: backups.progress(),
            schedule,
            dir: backups.dir().display().to_string(),
            latest_archive: backups
                .latest_archive()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())),
        })
    }
    .await
    .map_err(|err: crate::server::store::StoreError| AppError::from(err));
    super::ssr::respond(result)
}

/// Starts a backup (`verify` = false) or a verification of the newest archive; returns at once.
#[server(endpoint = "backups/start")]
pub async fn start_backup(verify: bool) -> Result<(), AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Administer)?;
    let backups = caller.state.backups.clone();
    if backups.progress().is_some() {
        return super::ssr::respond(Err(AppError::Conflict(
            "a backup or verification is already running".into(),
        )));
    }
    let actor = caller.principal.actor.clone();
    let origin = caller.origin.clone();
    if verify {
        let Some(archive) = backups.latest_archive() else {
            return super::ssr::respond(Err(AppError::Conflict(
                "there is no backup to verify yet".into(),
            )));
        };
        tokio::spawn(async move {
            if let Err(err) = backups.verify(&archive, &actor, &origin).await {
                tracing::warn!(error = %err, "verification failed");
            }
        });
    } else {
        tokio::spawn(async move {
            if let Err(err) = backups.back_up(None, &actor, &origin).await {
                tracing::warn!(error = %err, "backup failed");
            }
        });
    }
    Ok(())
}

/// A warning for every signed-in page when the last good backup is older than the RPO.
#[server(endpoint = "backups/health")]
pub async fn backup_warning() -> Result<Option<String>, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let result = caller
        .state
        .backups
        .rpo_warning()
        .await
        .map_err(AppError::from);
    super::ssr::respond(result)
}
