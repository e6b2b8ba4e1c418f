//! Where a restored database lives while it is checked, and how it is switched in or thrown
//! away: a file beside the current one for SQLite, a new database for PostgreSQL.
use super::{BackupError, io_error};
use crate::domain::backups::{Backend, Manifest};
use crate::server::store::{StoreError, pg_tool, tool_missing};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, PgConnection};
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub fn backend_of(database_url: &str) -> Result<Backend, StoreError> {
    match database_url.split(':').next().unwrap_or_default() {
        "sqlite" => Ok(Backend::Sqlite),
        "postgres" | "postgresql" => Ok(Backend::Postgres),
        other => Err(StoreError::UnsupportedUrl(other.to_owned())),
    }
}

pub(super) fn sqlite_file(database_url: &str) -> Result<PathBuf, BackupError> {
    let options = SqliteConnectOptions::from_str(database_url).map_err(StoreError::Database)?;
    Ok(options.get_filename().to_path_buf())
}

/// Where a restore unpacks: beside the SQLite file (so the switch is a rename on one file
/// system), or the temporary directory for PostgreSQL.
pub fn work_dir(database_url: &str) -> Result<PathBuf, BackupError> {
    Ok(match backend_of(database_url)? {
        Backend::Sqlite => sqlite_file(database_url)?
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        Backend::Postgres => std::env::temp_dir(),
    })
}

/// A restore must not pull the database from under a running mcpops.
pub async fn ensure_stopped(database_url: &str) -> Result<(), BackupError> {
    match backend_of(database_url)? {
        Backend::Sqlite => {
            // SQLite keeps the WAL file while any connection is open, and the last connection
            // to close removes it. One left by a crash (or by a close that could not finish) is
            // folded back by opening and closing the database here; one that stays after that
            // belongs to a process still using the database.
            let file = sqlite_file(database_url)?;
            let wal = PathBuf::from(format!("{}-wal", file.display()));
            if !wal.exists() {
                return Ok(());
            }
            let options = SqliteConnectOptions::new().filename(&file);
            let mut conn = sqlx::SqliteConnection::connect_with(&options)
                .await
                .map_err(StoreError::from)?;
            // A checkpoint that another connection blocks fails or leaves the WAL: either way
            // the file stays, which is the answer.
            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
            if wal.exists() {
                return Err(BackupError::InUse(format!(
                    "{} is in use by another process (is mcpops running?): stop it and restore again",
                    file.display()
                )));
            }
            Ok(())
        }
        Backend::Postgres => {
            let (mut admin, name) = maintenance(database_url).await?;
            let (others,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .map_err(StoreError::from)?;
            let _ = admin.close().await;
            if others > 0 {
                return Err(BackupError::InUse(format!(
                    "{others} sessions are connected to database {name}: stop every mcpops replica and restore again"
                )));
            }
            Ok(())
        }
    }
}

/// A restored copy awaiting its checks.
pub struct Placed {
    pub url: String,
    kind: PlacedKind,
}

enum PlacedKind {
    Sqlite(PathBuf),
    Postgres(String),
}

/// Puts the unpacked database somewhere it can be opened: the SQLite file as it is, or a new
/// PostgreSQL database (named after the current one with `tag` and the time) filled by
/// `pg_restore`.
pub async fn stage(
    database_url: &str,
    unpacked: &Path,
    manifest: &Manifest,
    tag: &str,
) -> Result<Placed, BackupError> {
    let file = manifest
        .files
        .iter()
        .find(|f| f.name.starts_with("database/"))
        .ok_or_else(|| BackupError::Refused("the archive holds no database".into()))?;
    let dump = unpacked.join(&file.name);
    match manifest.backend {
        Backend::Sqlite => {
            // On disk before it is opened or switched in. Flushed now, a large file's first
            // open (which turns on WAL, and syncs) is quick instead of waiting on the flush.
            let synced = dump.clone();
            tokio::task::spawn_blocking(move || std::fs::File::open(&synced)?.sync_all())
                .await
                .map_err(std::io::Error::other)
                .and_then(|synced| synced)
                .map_err(io_error("cannot flush the restored database to disk"))?;
            Ok(Placed {
                url: format!("sqlite://{}", dump.display()),
                kind: PlacedKind::Sqlite(dump),
            })
        }
        Backend::Postgres => {
            let (mut admin, current) = maintenance(database_url).await?;
            let name = sibling_name(&current, tag);
            sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                .execute(&mut admin)
                .await
                .map_err(StoreError::from)?;
            let _ = admin.close().await;
            let url = with_database(database_url, &name)?;
            let placed = Placed {
                url: url.clone(),
                kind: PlacedKind::Postgres(name),
            };
            let output = pg_tool("pg_restore", &url)?
                .args([
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    "--dbname",
                ])
                .arg(name_of(&url))
                .arg(&dump)
                .output()
                .await
                .map_err(|e| tool_missing("pg_restore", &e));
            match output {
                Ok(out) if out.status.success() => Ok(placed),
                Ok(out) => {
                    placed.discard(database_url).await;
                    Err(BackupError::Refused(format!(
                        "pg_restore failed: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    )))
                }
                Err(err) => {
                    placed.discard(database_url).await;
                    Err(err.into())
                }
            }
        }
    }
}

impl Placed {
    /// Throws the copy away (a verification, or a restore that failed its checks).
    pub async fn discard(self, database_url: &str) {
        match self.kind {
            PlacedKind::Sqlite(_) => {} // the temporary directory goes with it
            PlacedKind::Postgres(name) => {
                let dropped = async {
                    let (mut admin, _) = maintenance(database_url).await?;
                    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut admin)
                        .await
                        .map_err(StoreError::from)?;
                    let _ = admin.close().await;
                    Ok::<(), BackupError>(())
                };
                if let Err(err) = dropped.await {
                    tracing::warn!(database = %name, error = %err, "cannot drop a restore copy");
                }
            }
        }
    }

    /// Moves the current database aside and the restored one into its place; returns where
    /// the previous one went.
    pub async fn switch(self, database_url: &str) -> Result<String, BackupError> {
        match self.kind {
            PlacedKind::Sqlite(restored) => {
                let current = sqlite_file(database_url)?;
                let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
                let previous =
                    PathBuf::from(format!("{}.before-restore-{stamp}", current.display()));
                let had_current = current.exists();
                if had_current {
                    std::fs::rename(&current, &previous)
                        .map_err(io_error(format!("cannot move {} aside", current.display())))?;
                }
                std::fs::rename(&restored, &current).map_err(io_error(format!(
                    "cannot move the restored database to {}",
                    current.display()
                )))?;
                Ok(if had_current {
                    previous.display().to_string()
                } else {
                    "none (there was no database)".into()
                })
            }
            PlacedKind::Postgres(restored) => {
                let (mut admin, current) = maintenance(database_url).await?;
                let previous = sibling_name(&current, "o");
                let renamed = async {
                    sqlx::query(&format!(
                        "ALTER DATABASE \"{current}\" RENAME TO \"{previous}\""
                    ))
                    .execute(&mut admin)
                    .await?;
                    sqlx::query(&format!(
                        "ALTER DATABASE \"{restored}\" RENAME TO \"{current}\""
                    ))
                    .execute(&mut admin)
                    .await
                };
                let result = renamed.await;
                let _ = admin.close().await;
                match result {
                    Ok(_) => Ok(format!("database {previous}")),
                    Err(err) => Err(BackupError::Switch(format!(
                        "cannot switch databases ({err}); the restored copy is kept as {restored}"
                    ))),
                }
            }
        }
    }
}

/// A connection to the `postgres` maintenance database with the same credentials (a database
/// cannot be created, renamed or dropped from inside itself), and the current database's name.
async fn maintenance(database_url: &str) -> Result<(PgConnection, String), BackupError> {
    let current = name_of(database_url);
    let url = with_database(database_url, "postgres")?;
    let conn = PgConnection::connect(&url)
        .await
        .map_err(StoreError::from)?;
    Ok((conn, current))
}

fn name_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.path().trim_start_matches('/').to_owned())
        .unwrap_or_default()
}

fn with_database(database_url: &str, name: &str) -> Result<String, BackupError> {
    let mut url = url::Url::parse(database_url)
        .map_err(|_| BackupError::Refused("the database URL cannot be parsed".into()))?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// `current` plus a tag and the time, within PostgreSQL's 63-byte names.
fn sibling_name(current: &str, tag: &str) -> String {
    let suffix = format!("_{tag}{}", chrono::Utc::now().timestamp_millis());
    let keep = 63usize.saturating_sub(suffix.len());
    let base: String = current.chars().take(keep).collect();
    format!("{base}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sibling_names_fit_postgres_limits() {
        let long = "x".repeat(80);
        let name = sibling_name(&long, "r");
        assert!(name.len() <= 63, "{name}");
        assert!(sibling_name("mcpops", "o").starts_with("mcpops_o"));
    }

    #[test]
    fn the_database_is_replaced_in_urls() {
        let url = with_database(
            "postgres://u:p@127.0.0.1:5432/mcpops?sslmode=disable",
            "other",
        );
        assert_eq!(
            url.ok().as_deref(),
            Some("postgres://u:p@127.0.0.1:5432/other?sslmode=disable")
        );
        assert_eq!(name_of("postgres://u@h/db1"), "db1");
    }
}
