//! PostgreSQL backend, for fleets that outgrow one machine.
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
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;

pub struct PostgresStore {
    pool: PgPool,
    sessions: SessionStoreHandle,
}

impl PostgresStore {
    pub async fn open(url: &str, options: &StoreOptions) -> StoreResult<Self> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(StoreError::Database)?
            .application_name("mcpops");
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            // A connection that died with the server must not be handed out again.
            .test_before_acquire(true)
            .connect_with(connect)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        let sessions = tower_sessions_sqlx_store::PostgresStore::new(pool.clone());
        sessions.migrate().await?;
        Ok(Self {
            pool,
            sessions: SessionStoreHandle::new(sessions),
        })
    }
}

super::impl_store!(PostgresStore, sqlx::Postgres);
