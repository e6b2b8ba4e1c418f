//! SQLite backend: one file, WAL journal, created if missing.
use super::accounts::AccountQueries;
use super::alerts::AlertQueries;
use super::incidents::IncidentQueries;
use super::polls::PollQueries;
use super::{
    AlertChange, NewAlert, NewIncident, NewToken, NewUser, SampleTable, SessionStoreHandle,
    StoreError, StoreOptions, StoreResult, TargetQueries, TokenRecord, ToolCatalog, UserAccount,
    UserChange, UserRecord,
};
use crate::domain::alerts::{
    Alert, AlertQuery, AlertStep, BaselineOverride, OverrideRecord, Scope,
};
use crate::domain::audit::{AuditEntry, AuditEvent, AuditFilter};
use crate::domain::deploys::Deploy;
use crate::domain::incidents::{Incident, StepState, TimelineEvent};
use crate::domain::notifications::{Channel, Delivery, NewChannel, WebhookUrl};
use crate::domain::observation::{PollRecord, SampleRow, TargetStatus, Tool};
use crate::domain::readiness::{ReadinessItem, Tick};
use crate::domain::silences::{NewSilence, Silence};
use crate::domain::target::{Target, TargetSource, TargetSpec};
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;

pub struct SqliteStore {
    pool: SqlitePool,
    sessions: SessionStoreHandle,
}

impl SqliteStore {
    pub async fn open(url: &str, options: &StoreOptions) -> StoreResult<Self> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::Database)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        if let Some(dir) = connect
            .get_filename()
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        let sessions = tower_sessions_sqlx_store::SqliteStore::new(pool.clone());
        sessions.migrate().await?;
        Ok(Self {
            pool,
            sessions: SessionStoreHandle::new(sessions),
        })
    }
}

super::impl_store!(SqliteStore, sqlx::Sqlite);
