//! Storage: one `Store` trait, implemented for SQLite and PostgreSQL.
mod accounts;
mod alerts;
mod backups;
mod checks;
mod dialect;
mod incidents;
mod leases;
mod polls;
mod postgres;
mod sqlite;

use crate::domain::alerts::{
    Alert, AlertQuery, AlertState, AlertStep, BaselineOverride, OverrideRecord, Scope,
};
use crate::domain::audit::{AuditEntry, AuditEvent, AuditFilter};
use crate::domain::backups::{BackupRun, NewBackupRun};
use crate::domain::checks::{CheckResult, CheckSpec, ToolCheck};
use crate::domain::deploys::Deploy;
use crate::domain::incidents::{Incident, StepState, TimelineEvent};
use crate::domain::leases::{ClusterView, Replica};
use crate::domain::notifications::{Channel, Delivery, NewChannel, WebhookUrl};
use crate::domain::observation::Tool;
use crate::domain::observation::{PollRecord, SampleRow, TargetStatus};
use crate::domain::readiness::{ReadinessItem, Tick};
use crate::domain::silences::{NewSilence, Silence};
use crate::domain::target::{Target, TargetSource, TargetSpec};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialect::queries_for_any_backend;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use accounts::{NewToken, NewUser, TokenRecord, UserAccount, UserChange, UserRecord};
pub use alerts::{AlertChange, NewAlert};
pub use backups::LoadRow;
pub use incidents::NewIncident;
pub use polls::{MAX_CATALOG_BYTES_PER_TARGET, SampleTable, ToolCatalog};
pub use postgres::{PostgresStore, pg_tool, tool_missing};
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// The runtime a store call was handed to is shutting down; the database may be fine.
    #[error("shutting down")]
    ShuttingDown,
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL scheme '{0}': use sqlite:// or postgres://")]
    UnsupportedUrl(String),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A program the backend needs (`pg_dump`, `pg_restore`) is missing or failed.
    #[error("{0}")]
    External(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                Self::Unavailable(err)
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Self::Conflict("that name is already taken".into())
            }
            _ => Self::Database(err),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Answers when the database can run a trivial query.
    async fn ping(&self) -> StoreResult<()>;
    /// Refreshes the query planner's statistics (after a bulk load).
    async fn refresh_statistics(&self) -> StoreResult<()>;
    /// Where login sessions live: the same database.
    fn sessions(&self) -> SessionStoreHandle;
    /// Closes every connection, waiting for them to finish.
    async fn close(&self);
    /// Whether `close` was called: the process is stopping.
    fn is_closed(&self) -> bool;

    async fn list_targets(&self) -> StoreResult<Vec<Target>>;
    /// A cheap fingerprint of the targets table that moves whenever a target is added,
    /// changed or removed; a cached target list is current while it stays the same.
    async fn target_stamp(&self) -> StoreResult<TargetStamp>;
    async fn get_target(&self, id: i64) -> StoreResult<Target>;
    async fn insert_target(
        &self,
        spec: &TargetSpec,
        source: TargetSource,
        event: AuditEvent,
    ) -> StoreResult<Target>;
    async fn update_target(
        &self,
        id: i64,
        spec: &TargetSpec,
        event: AuditEvent,
    ) -> StoreResult<Target>;
    /// Creates or replaces the target with this name for a source that owns its targets (the
    /// demo, target files); a name held by another source is a conflict.
    async fn upsert_target(
        &self,
        spec: &TargetSpec,
        source: TargetSource,
        origin: &str,
        event: Option<AuditEvent>,
    ) -> StoreResult<Target>;
    async fn delete_target(&self, id: i64, event: AuditEvent) -> StoreResult<()>;

    /// Stores a batch of polls (samples, latest status, changed tool lists) in one transaction.
    async fn record_polls(&self, batch: &[PollRecord]) -> StoreResult<()>;
    /// The latest status of every target that has been polled.
    async fn target_statuses(&self) -> StoreResult<Vec<TargetStatus>>;
    /// One target's latest status; `None` before its first poll.
    async fn target_status(&self, target_id: i64) -> StoreResult<Option<TargetStatus>>;
    /// Rows of `table` in `[from, to)`, for one target or all, ordered by target then time.
    async fn samples(
        &self,
        table: SampleTable,
        target_id: Option<i64>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<SampleRow>>;
    /// Stores rollup rows and, when given, records that `table` is rolled up to `up_to`.
    async fn record_rollups(
        &self,
        table: SampleTable,
        rows: &[SampleRow],
        up_to: Option<DateTime<Utc>>,
    ) -> StoreResult<()>;
    async fn rollup_progress(&self, table: SampleTable) -> StoreResult<Option<DateTime<Utc>>>;
    async fn oldest_sample(&self, table: SampleTable) -> StoreResult<Option<DateTime<Utc>>>;
    /// Retention: deletes rows of `table` older than `cutoff`, returning how many.
    async fn delete_samples_before(
        &self,
        table: SampleTable,
        cutoff: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// The newest `limit` tool lists of a target, newest first.
    async fn tool_catalogs(&self, target_id: i64, limit: i64) -> StoreResult<Vec<ToolCatalog>>;
    /// Retention: tool lists last seen before `cutoff`, except each target's newest.
    async fn delete_catalogs_before(&self, cutoff: DateTime<Utc>) -> StoreResult<u64>;
    /// Synthetic tool calls: every target's checks, or one target's, oldest first.
    async fn tool_checks(&self, target_id: Option<i64>) -> StoreResult<Vec<ToolCheck>>;
    async fn add_tool_check(
        &self,
        target_id: i64,
        spec: &CheckSpec,
        created_by: &str,
        event: AuditEvent,
    ) -> StoreResult<ToolCheck>;
    /// Removes a check of `target_id` and its results.
    async fn remove_tool_check(
        &self,
        target_id: i64,
        id: i64,
        event: AuditEvent,
    ) -> StoreResult<()>;
    /// A target's call results since `from`, by check, oldest first.
    async fn check_results(
        &self,
        target_id: i64,
        from: DateTime<Utc>,
    ) -> StoreResult<Vec<CheckResult>>;
    /// Retention: results older than `cutoff` and those of deleted checks.
    async fn delete_check_results_before(&self, cutoff: DateTime<Utc>) -> StoreResult<u64>;

    /// Every user's standing and the revoked kiosk tokens, for ending live streams.
    async fn standings(&self) -> StoreResult<crate::domain::auth::Standings>;
    async fn count_users(&self) -> StoreResult<i64>;
    async fn user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    async fn user(&self, id: i64) -> StoreResult<UserRecord>;
    async fn users(&self) -> StoreResult<Vec<UserAccount>>;
    /// Changes below write their audit entry in the same transaction: both land or neither.
    async fn create_user(&self, new: &NewUser, event: AuditEvent) -> StoreResult<UserAccount>;
    async fn change_user(
        &self,
        id: i64,
        change: UserChange,
        event: AuditEvent,
    ) -> StoreResult<UserAccount>;
    async fn tokens(&self) -> StoreResult<Vec<TokenRecord>>;
    async fn token_by_secret(&self, secret_hash: &str) -> StoreResult<Option<TokenRecord>>;
    async fn create_token(&self, new: &NewToken, event: AuditEvent) -> StoreResult<TokenRecord>;
    async fn revoke_token(&self, id: i64, event: AuditEvent) -> StoreResult<TokenRecord>;
    async fn touch_token(&self, id: i64, at: DateTime<Utc>) -> StoreResult<()>;

    /// Appends an entry on its own (for events that change nothing else, such as a login).
    async fn append_audit(&self, event: AuditEvent) -> StoreResult<AuditEntry>;
    /// Appends entries chained elsewhere (bulk seeding for the benchmark); they must continue
    /// the chain from its current tail.
    async fn append_chained_audit(&self, entries: &[AuditEntry]) -> StoreResult<()>;
    /// Newest first: at most `limit` entries matching `filter` with `seq < before`.
    async fn search_audit(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEntry>>;
    /// Oldest first: at most `limit` entries with `seq > after`.
    async fn audit_after(&self, after: i64, limit: i64) -> StoreResult<Vec<AuditEntry>>;
    /// An entry and its predecessor.
    async fn audit_entry(&self, seq: i64) -> StoreResult<(Option<AuditEntry>, AuditEntry)>;

    async fn alerts(&self, query: &AlertQuery) -> StoreResult<Vec<Alert>>;
    /// How many alerts are in each of `states`; a state with none is left out.
    async fn count_alerts(&self, states: &[AlertState]) -> StoreResult<Vec<(AlertState, i64)>>;
    /// An alert and every change of its state, oldest first.
    async fn alert(&self, id: i64) -> StoreResult<(Alert, Vec<AlertStep>)>;
    /// Opens an alert; a conflict when the rule already has an open one on the target.
    async fn open_alert(&self, new: &NewAlert, event: AuditEvent) -> StoreResult<Alert>;
    async fn change_alert(
        &self,
        id: i64,
        change: &AlertChange<'_>,
        event: AuditEvent,
    ) -> StoreResult<Alert>;
    async fn baseline_overrides(&self) -> StoreResult<Vec<OverrideRecord>>;
    async fn save_baseline_override(
        &self,
        baselines: &BaselineOverride,
        by: &str,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<()>;
    async fn delete_baseline_override(&self, scope: &Scope, event: AuditEvent) -> StoreResult<()>;
    /// Channels with their full addresses (for sending; pages get only `Channel`).
    async fn channels(&self) -> StoreResult<Vec<(Channel, WebhookUrl)>>;
    async fn create_channel(
        &self,
        new: &NewChannel,
        by: &str,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<Channel>;
    async fn delete_channel(&self, id: i64, event: AuditEvent) -> StoreResult<()>;
    async fn record_delivery(&self, delivery: &Delivery) -> StoreResult<()>;
    async fn deliveries(&self, channel_id: Option<i64>, limit: i64) -> StoreResult<Vec<Delivery>>;
    /// Silences that end after `since`.
    async fn silences(&self, since: DateTime<Utc>) -> StoreResult<Vec<Silence>>;
    async fn create_silence(
        &self,
        new: &NewSilence,
        owner: &str,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<Silence>;
    async fn expire_silence(
        &self,
        id: i64,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<()>;
    /// The tool list each target's drift is measured against.
    async fn tool_acks(&self) -> StoreResult<Vec<(i64, Vec<Tool>)>>;
    /// The newest tool list seen on each of `target_ids` that has one.
    async fn latest_tool_catalogs(&self, target_ids: &[i64]) -> StoreResult<Vec<(i64, Vec<Tool>)>>;
    async fn accept_tools(
        &self,
        target_id: i64,
        tools: &[Tool],
        by: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn create_deploy(&self, deploy: &Deploy, event: AuditEvent) -> StoreResult<Deploy>;
    async fn deploys(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<Deploy>>;

    async fn declare_incident(&self, new: &NewIncident, event: AuditEvent)
    -> StoreResult<Incident>;
    /// Open incidents first, then the newest.
    async fn incidents(&self) -> StoreResult<Vec<Incident>>;
    async fn incident(&self, id: i64) -> StoreResult<Incident>;
    /// The incident's own timeline entries (declared, phases, steps, notes, resolved).
    async fn incident_events(&self, id: i64) -> StoreResult<Vec<TimelineEvent>>;
    #[expect(
        clippy::too_many_arguments,
        reason = "the step, what happened, and its audit"
    )]
    async fn mark_step(
        &self,
        incident_id: i64,
        step_id: i64,
        state: StepState,
        actor: &str,
        reason: Option<String>,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<Incident>;
    async fn add_incident_note(
        &self,
        incident_id: i64,
        actor: &str,
        text: &str,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<()>;
    async fn advance_incident(
        &self,
        incident_id: i64,
        from_phase: usize,
        actor: &str,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<Incident>;
    async fn resolve_incident(
        &self,
        incident_id: i64,
        actor: &str,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<Incident>;
    async fn record_backup_run(&self, run: &NewBackupRun, event: AuditEvent) -> StoreResult<()>;
    /// The newest `limit` backups, verifications and restores, newest first.
    async fn backup_runs(&self, limit: i64) -> StoreResult<Vec<BackupRun>>;
    /// A user's what-if capacity inputs for a scope (JSON) and when they were saved.
    async fn capacity_plan(
        &self,
        user_id: i64,
        scope: &str,
    ) -> StoreResult<Option<(String, DateTime<Utc>)>>;
    /// `overrides: None` removes them.
    async fn save_capacity_plan(
        &self,
        user_id: i64,
        scope: &str,
        overrides: Option<&str>,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<()>;
    /// Load per period of `table` in `[from, to)`, summed over the targets (all when `None`).
    async fn load(
        &self,
        table: SampleTable,
        target_ids: Option<&[i64]>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<LoadRow>>;
    async fn row_counts(&self) -> StoreResult<BTreeMap<String, i64>>;
    /// The newest schema migration applied.
    async fn schema_version(&self) -> StoreResult<i64>;
    /// What the database's own integrity check reports wrong; empty when it is sound.
    async fn integrity_problems(&self) -> StoreResult<Vec<String>>;
    /// Copies the database consistently into `dir` while it stays in use, counting each
    /// table's rows in the same snapshot.
    async fn snapshot_database(&self, dir: &Path) -> StoreResult<DatabaseSnapshot>;
    /// Registers a replica sharing this database; its membership lasts until `expires_at`.
    async fn join_cluster(&self, replica: &Replica, expires_at: i64) -> StoreResult<()>;
    /// Renews a live membership; `false` when it had already lapsed.
    async fn heartbeat(&self, replica_id: &str, now: i64, expires_at: i64) -> StoreResult<bool>;
    async fn cluster_view(&self, replica_id: &str, now: i64) -> StoreResult<ClusterView>;
    /// Takes up to `max` targets no live replica holds; returns their ids.
    async fn claim_targets(&self, replica_id: &str, now: i64, max: usize) -> StoreResult<Vec<i64>>;
    async fn release_targets(&self, replica_id: &str, target_ids: &[i64]) -> StoreResult<()>;
    async fn held_targets(&self, replica_id: &str) -> StoreResult<Vec<i64>>;
    async fn leave_cluster(&self, replica_id: &str) -> StoreResult<()>;
    async fn readiness_ticks(&self, target_id: i64) -> StoreResult<Vec<Tick>>;
    /// `ticked: None` clears the item.
    async fn set_readiness_tick(
        &self,
        target_id: i64,
        item: ReadinessItem,
        ticked: Option<(&str, DateTime<Utc>)>,
        event: AuditEvent,
    ) -> StoreResult<()>;
}

/// Implements `Store` for a backend whose `pool` field holds a pool of `$db`, by handing every
/// method to the query structs written once for both dialects.
macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::server::store::Store for $store {
            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }
            async fn refresh_statistics(&self) -> StoreResult<()> {
                sqlx::query(<$db as super::dialect::Dialect>::ANALYZE)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
            fn sessions(&self) -> SessionStoreHandle {
                self.sessions.clone()
            }
            async fn close(&self) {
                self.close_pools().await;
            }
            fn is_closed(&self) -> bool {
                self.pool.is_closed()
            }
            async fn list_targets(&self) -> StoreResult<Vec<Target>> {
                TargetQueries::<$db>(&self.pool).list().await
            }
            async fn target_stamp(&self) -> StoreResult<$crate::server::store::TargetStamp> {
                TargetQueries::<$db>(&self.pool).stamp().await
            }
            async fn get_target(&self, id: i64) -> StoreResult<Target> {
                TargetQueries::<$db>(&self.pool).get(id).await
            }
            async fn insert_target(
                &self,
                spec: &TargetSpec,
                source: TargetSource,
                event: AuditEvent,
            ) -> StoreResult<Target> {
                TargetQueries::<$db>(&self.pool)
                    .insert(spec, source, event)
                    .await
            }
            async fn update_target(
                &self,
                id: i64,
                spec: &TargetSpec,
                event: AuditEvent,
            ) -> StoreResult<Target> {
                TargetQueries::<$db>(&self.pool)
                    .update(id, spec, event)
                    .await
            }
            async fn upsert_target(
                &self,
                spec: &TargetSpec,
                source: TargetSource,
                origin: &str,
                event: Option<AuditEvent>,
            ) -> StoreResult<Target> {
                TargetQueries::<$db>(&self.pool)
                    .upsert(spec, source, origin, event)
                    .await
            }
            async fn delete_target(&self, id: i64, event: AuditEvent) -> StoreResult<()> {
                TargetQueries::<$db>(&self.pool).delete(id, event).await
            }
            async fn record_polls(&self, batch: &[PollRecord]) -> StoreResult<()> {
                PollQueries::<$db>(self.poll_writer()).record(batch).await
            }
            async fn target_statuses(&self) -> StoreResult<Vec<TargetStatus>> {
                PollQueries::<$db>(&self.pool).statuses().await
            }
            async fn target_status(&self, target_id: i64) -> StoreResult<Option<TargetStatus>> {
                PollQueries::<$db>(&self.pool).status(target_id).await
            }
            async fn samples(
                &self,
                table: SampleTable,
                target_id: Option<i64>,
                from: DateTime<Utc>,
                to: DateTime<Utc>,
            ) -> StoreResult<Vec<SampleRow>> {
                PollQueries::<$db>(&self.pool)
                    .samples(table, target_id, from, to)
                    .await
            }
            async fn record_rollups(
                &self,
                table: SampleTable,
                rows: &[SampleRow],
                up_to: Option<DateTime<Utc>>,
            ) -> StoreResult<()> {
                PollQueries::<$db>(&self.pool)
                    .record_rollups(table, rows, up_to)
                    .await
            }
            async fn rollup_progress(
                &self,
                table: SampleTable,
            ) -> StoreResult<Option<DateTime<Utc>>> {
                PollQueries::<$db>(&self.pool).rollup_progress(table).await
            }
            async fn oldest_sample(
                &self,
                table: SampleTable,
            ) -> StoreResult<Option<DateTime<Utc>>> {
                PollQueries::<$db>(&self.pool).oldest(table).await
            }
            async fn delete_samples_before(
                &self,
                table: SampleTable,
                cutoff: DateTime<Utc>,
            ) -> StoreResult<u64> {
                PollQueries::<$db>(&self.pool)
                    .delete_before(table, cutoff)
                    .await
            }
            async fn tool_catalogs(
                &self,
                target_id: i64,
                limit: i64,
            ) -> StoreResult<Vec<ToolCatalog>> {
                PollQueries::<$db>(&self.pool)
                    .catalogs(target_id, limit)
                    .await
            }
            async fn delete_catalogs_before(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
                PollQueries::<$db>(&self.pool)
                    .delete_catalogs_before(cutoff)
                    .await
            }
            async fn tool_checks(&self, target_id: Option<i64>) -> StoreResult<Vec<ToolCheck>> {
                CheckQueries::<$db>(&self.pool).list(target_id).await
            }
            async fn add_tool_check(
                &self,
                target_id: i64,
                spec: &CheckSpec,
                created_by: &str,
                event: AuditEvent,
            ) -> StoreResult<ToolCheck> {
                CheckQueries::<$db>(&self.pool)
                    .insert(target_id, spec, created_by, event)
                    .await
            }
            async fn remove_tool_check(
                &self,
                target_id: i64,
                id: i64,
                event: AuditEvent,
            ) -> StoreResult<()> {
                CheckQueries::<$db>(&self.pool)
                    .delete(target_id, id, event)
                    .await
            }
            async fn check_results(
                &self,
                target_id: i64,
                from: DateTime<Utc>,
            ) -> StoreResult<Vec<CheckResult>> {
                CheckQueries::<$db>(&self.pool)
                    .results(target_id, from)
                    .await
            }
            async fn delete_check_results_before(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
                CheckQueries::<$db>(&self.pool)
                    .delete_results_before(cutoff)
                    .await
            }
            async fn standings(&self) -> StoreResult<crate::domain::auth::Standings> {
                AccountQueries::<$db>(&self.pool).standings().await
            }
            async fn count_users(&self) -> StoreResult<i64> {
                AccountQueries::<$db>(&self.pool).count_users().await
            }
            async fn user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>> {
                AccountQueries::<$db>(&self.pool)
                    .user_by_name(username)
                    .await
            }
            async fn user(&self, id: i64) -> StoreResult<UserRecord> {
                AccountQueries::<$db>(&self.pool).user(id).await
            }
            async fn users(&self) -> StoreResult<Vec<UserAccount>> {
                AccountQueries::<$db>(&self.pool).users().await
            }
            async fn create_user(
                &self,
                new: &NewUser,
                event: AuditEvent,
            ) -> StoreResult<UserAccount> {
                AccountQueries::<$db>(&self.pool)
                    .create_user(new, event)
                    .await
            }
            async fn change_user(
                &self,
                id: i64,
                change: UserChange,
                event: AuditEvent,
            ) -> StoreResult<UserAccount> {
                AccountQueries::<$db>(&self.pool)
                    .change_user(id, change, event)
                    .await
            }
            async fn tokens(&self) -> StoreResult<Vec<TokenRecord>> {
                AccountQueries::<$db>(&self.pool).tokens().await
            }
            async fn token_by_secret(&self, secret_hash: &str) -> StoreResult<Option<TokenRecord>> {
                AccountQueries::<$db>(&self.pool)
                    .token_by_secret(secret_hash)
                    .await
            }
            async fn create_token(
                &self,
                new: &NewToken,
                event: AuditEvent,
            ) -> StoreResult<TokenRecord> {
                AccountQueries::<$db>(&self.pool)
                    .create_token(new, event)
                    .await
            }
            async fn revoke_token(&self, id: i64, event: AuditEvent) -> StoreResult<TokenRecord> {
                AccountQueries::<$db>(&self.pool)
                    .revoke_token(id, event)
                    .await
            }
            async fn touch_token(&self, id: i64, at: DateTime<Utc>) -> StoreResult<()> {
                AccountQueries::<$db>(&self.pool).touch_token(id, at).await
            }
            async fn append_audit(&self, event: AuditEvent) -> StoreResult<AuditEntry> {
                AccountQueries::<$db>(&self.pool).append_audit(event).await
            }
            async fn append_chained_audit(&self, entries: &[AuditEntry]) -> StoreResult<()> {
                AccountQueries::<$db>(&self.pool)
                    .append_chained(entries)
                    .await
            }
            async fn search_audit(
                &self,
                filter: &AuditFilter,
                before: Option<i64>,
                limit: i64,
            ) -> StoreResult<Vec<AuditEntry>> {
                AccountQueries::<$db>(&self.pool)
                    .search_audit(filter, before, limit)
                    .await
            }
            async fn audit_after(&self, after: i64, limit: i64) -> StoreResult<Vec<AuditEntry>> {
                AccountQueries::<$db>(&self.pool)
                    .audit_after(after, limit)
                    .await
            }
            async fn audit_entry(&self, seq: i64) -> StoreResult<(Option<AuditEntry>, AuditEntry)> {
                AccountQueries::<$db>(&self.pool).audit_entry(seq).await
            }

            async fn alerts(&self, query: &AlertQuery) -> StoreResult<Vec<Alert>> {
                AlertQueries::<$db>(&self.pool).alerts(query).await
            }
            async fn count_alerts(
                &self,
                states: &[AlertState],
            ) -> StoreResult<Vec<(AlertState, i64)>> {
                AlertQueries::<$db>(&self.pool).count(states).await
            }
            async fn alert(&self, id: i64) -> StoreResult<(Alert, Vec<AlertStep>)> {
                AlertQueries::<$db>(&self.pool).alert(id).await
            }
            async fn open_alert(&self, new: &NewAlert, event: AuditEvent) -> StoreResult<Alert> {
                AlertQueries::<$db>(&self.pool).open(new, event).await
            }
            async fn change_alert(
                &self,
                id: i64,
                change: &AlertChange<'_>,
                event: AuditEvent,
            ) -> StoreResult<Alert> {
                AlertQueries::<$db>(&self.pool)
                    .change(id, change, event)
                    .await
            }
            async fn baseline_overrides(&self) -> StoreResult<Vec<OverrideRecord>> {
                AlertQueries::<$db>(&self.pool).overrides().await
            }
            async fn save_baseline_override(
                &self,
                baselines: &BaselineOverride,
                by: &str,
                at: DateTime<Utc>,
                event: AuditEvent,
            ) -> StoreResult<()> {
                AlertQueries::<$db>(&self.pool)
                    .save_override(baselines, by, at, event)
                    .await
            }
            async fn delete_baseline_override(
                &self,
                scope: &Scope,
                event: AuditEvent,
            ) -> StoreResult<()> {
                AlertQueries::<$db>(&self.pool)
                    .delete_override(scope, event)
                    .await
            }
            async fn channels(&self) -> StoreResult<Vec<(Channel, WebhookUrl)>> {
                AlertQueries::<$db>(&self.pool).channels().await
            }
            async fn create_channel(
                &self,
                new: &NewChannel,
                by: &str,
                at: DateTime<Utc>,
                event: AuditEvent,
            ) -> StoreResult<Channel> {
                AlertQueries::<$db>(&self.pool)
                    .create_channel(new, by, at, event)
                    .await
            }
            async fn delete_channel(&self, id: i64, event: AuditEvent) -> StoreResult<()> {
                AlertQueries::<$db>(&self.pool)
                    .delete_channel(id, event)
                    .await
            }
            async fn record_delivery(&self, delivery: &Delivery) -> StoreResult<()> {
                AlertQueries::<$db>(&self.pool)
                    .record_delivery(delivery)
                    .await
            }
            async fn deliveries(
                &self,
                channel_id: Option<i64>,
                limit: i64,
            ) -> StoreResult<Vec<Delivery>> {
                AlertQueries::<$db>(&self.pool)
                    .deliveries(channel_id, limit)
                    .await
            }
            async fn silences(&self, since: DateTime<Utc>) -> StoreResult<Vec<Silence>> {
                AlertQueries::<$db>(&self.pool).silences(since).await
            }
            async fn create_silence(
                &self,
                new: &NewSilence,
                owner: &str,
                at: DateTime<Utc>,
                event: AuditEvent,
            ) -> StoreResult<Silence> {
                AlertQueries::<$db>(&self.pool)
                    .create_silence(new, owner, at, event)
                    .await
            }
            async fn expire_silence(
                &self,
                id: i64,
                at: DateTime<Utc>,
                event: AuditEvent,
            ) -> StoreResult<()> {
                AlertQueries::<$db>(&self.pool)
                    .expire_silence(id, at, event)
                    .await
            }
            async fn tool_acks(&self) -> StoreResult<Vec<(i64, Vec<Tool>)>> {
                AlertQueries::<$db>(&self.pool).tool_acks().await
            }
            async fn latest_tool_catalogs(
                &self,
                target_ids: &[i64],
            ) -> StoreResult<Vec<(i64, Vec<Tool>)>> {
                AlertQueries::<$db>(&self.pool)
                    .latest_catalogs(target_ids)
                    .await
            }
            async fn accept_tools(
                &self,
                target_id: i64,
                tools: &[Tool],
                by: &str,
                at: DateTime<Utc>,
            ) -> StoreResult<()> {
                AlertQueries::<$db>(&self.pool)
                    .accept_tools(target_id, tools, by, at)
                    .await
            }
            async fn create_deploy(
                &self,
                deploy: &Deploy,
                event: AuditEvent,
            ) -> StoreResult<Deploy> {
                AlertQueries::<$db>(&self.pool)
                    .create_deploy(deploy, event)
                    .await
            }
            async fn deploys(
                &self,
                from: DateTime<Utc>,
                to: DateTime<Utc>,
            ) -> StoreResult<Vec<Deploy>> {
                AlertQueries::<$db>(&self.pool).deploys(from, to).await
            }
            async fn declare_incident(
                &self,
                new: &NewIncident,
                event: AuditEvent,
            ) -> StoreResult<Incident> {
                IncidentQueries::<$db>(&self.pool).declare(new, event).await
            }
            async fn incidents(&self) -> StoreResult<Vec<Incident>> {
                IncidentQueries::<$db>(&self.pool).list().await
            }
            async fn incident(&self, id: i64) -> StoreResult<Incident> {
                IncidentQueries::<$db>(&self.pool).get(id).await
            }
            async fn incident_events(&self, id: i64) -> StoreResult<Vec<TimelineEvent>> {
                IncidentQueries::<$db>(&self.pool).events(id).await
            }
            async fn mark_step(
                &self,
                incident_id: i64,
                step_id: i64,
                state: StepState,
                actor: &str,
                reason: Option<String>,
                at: DateTime<Utc>,
                event: AuditEvent,
            ) -> StoreResult<Incident> {
                IncidentQueries::<$db>(&self.pool)
                    .mark_step(incident_id, step_id, state, actor, reason, at, event)
                    .await
            }
            async fn add_incident_note(
                &self,
                incident_id: i64,
                actor: &str,
                text: &str,
                at: DateTime<Utc>,
                event: AuditEvent,
            ) -> StoreResult<()> {
                IncidentQueries::<$db>(&self.pool)
                    .note(incident_id, actor, text, at, event)
                    .await
            }
            async fn advance_incident(
                &self,
                incident_id: i64,
                from_phase: usize,
                actor: &str,
                at: DateTime<Utc>,
                event: AuditEvent,
            ) -> StoreResult<Incident> {
                IncidentQueries::<$db>(&self.pool)
                    .advance(incident_id, from_phase, actor, at, event)
                    .await
            }
            async fn resolve_incident(
                &self,
                incident_id: i64,
                actor: &str,
                at: DateTime<Utc>,
                event: AuditEvent,
            ) -> StoreResult<Incident> {
                IncidentQueries::<$db>(&self.pool)
                    .resolve(incident_id, actor, at, event)
                    .await
            }
            async fn record_backup_run(
                &self,
                run: &NewBackupRun,
                event: AuditEvent,
            ) -> StoreResult<()> {
                BackupQueries::<$db>(&self.pool)
                    .record_run(run, event)
                    .await
            }
            async fn backup_runs(&self, limit: i64) -> StoreResult<Vec<BackupRun>> {
                BackupQueries::<$db>(&self.pool).runs(limit).await
            }
            async fn capacity_plan(
                &self,
                user_id: i64,
                scope: &str,
            ) -> StoreResult<Option<(String, DateTime<Utc>)>> {
                BackupQueries::<$db>(&self.pool)
                    .capacity_plan(user_id, scope)
                    .await
            }
            async fn save_capacity_plan(
                &self,
                user_id: i64,
                scope: &str,
                overrides: Option<&str>,
                at: DateTime<Utc>,
                event: AuditEvent,
            ) -> StoreResult<()> {
                BackupQueries::<$db>(&self.pool)
                    .save_capacity_plan(user_id, scope, overrides, at, event)
                    .await
            }
            async fn load(
                &self,
                table: SampleTable,
                target_ids: Option<&[i64]>,
                from: DateTime<Utc>,
                to: DateTime<Utc>,
            ) -> StoreResult<Vec<LoadRow>> {
                BackupQueries::<$db>(&self.pool)
                    .load(table, target_ids, from, to)
                    .await
            }
            async fn row_counts(&self) -> StoreResult<BTreeMap<String, i64>> {
                BackupQueries::<$db>(&self.pool).row_counts().await
            }
            async fn schema_version(&self) -> StoreResult<i64> {
                BackupQueries::<$db>(&self.pool).schema_version().await
            }
            async fn integrity_problems(&self) -> StoreResult<Vec<String>> {
                self.integrity_problems_of_backend().await
            }
            async fn snapshot_database(&self, dir: &Path) -> StoreResult<DatabaseSnapshot> {
                self.snapshot_of_backend(dir).await
            }
            async fn join_cluster(&self, replica: &Replica, expires_at: i64) -> StoreResult<()> {
                LeaseQueries::<$db>(&self.pool)
                    .join(replica, expires_at)
                    .await
            }
            async fn heartbeat(
                &self,
                replica_id: &str,
                now: i64,
                expires_at: i64,
            ) -> StoreResult<bool> {
                LeaseQueries::<$db>(&self.pool)
                    .heartbeat(replica_id, now, expires_at)
                    .await
            }
            async fn cluster_view(&self, replica_id: &str, now: i64) -> StoreResult<ClusterView> {
                LeaseQueries::<$db>(&self.pool).view(replica_id, now).await
            }
            async fn claim_targets(
                &self,
                replica_id: &str,
                now: i64,
                max: usize,
            ) -> StoreResult<Vec<i64>> {
                LeaseQueries::<$db>(&self.pool)
                    .claim(replica_id, now, max)
                    .await
            }
            async fn release_targets(
                &self,
                replica_id: &str,
                target_ids: &[i64],
            ) -> StoreResult<()> {
                LeaseQueries::<$db>(&self.pool)
                    .release(replica_id, target_ids)
                    .await
            }
            async fn held_targets(&self, replica_id: &str) -> StoreResult<Vec<i64>> {
                LeaseQueries::<$db>(&self.pool).held(replica_id).await
            }
            async fn leave_cluster(&self, replica_id: &str) -> StoreResult<()> {
                LeaseQueries::<$db>(&self.pool).leave(replica_id).await
            }
            async fn readiness_ticks(&self, target_id: i64) -> StoreResult<Vec<Tick>> {
                IncidentQueries::<$db>(&self.pool).ticks(target_id).await
            }
            async fn set_readiness_tick(
                &self,
                target_id: i64,
                item: ReadinessItem,
                ticked: Option<(&str, DateTime<Utc>)>,
                event: AuditEvent,
            ) -> StoreResult<()> {
                IncidentQueries::<$db>(&self.pool)
                    .set_tick(target_id, item, ticked, event)
                    .await
            }
        }
    };
}
pub(crate) use impl_store;

type SweepFn = dyn Fn() -> futures::future::BoxFuture<'static, tower_sessions::session_store::Result<()>>
    + Send
    + Sync;

/// The session store tower-sessions uses, whichever backend holds it.
#[derive(Clone)]
pub struct SessionStoreHandle {
    store: Arc<dyn tower_sessions::SessionStore>,
    sweep: Arc<SweepFn>,
}

impl std::fmt::Debug for SessionStoreHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStoreHandle").finish_non_exhaustive()
    }
}

impl SessionStoreHandle {
    pub fn new<S>(store: S) -> Self
    where
        S: tower_sessions::ExpiredDeletion + Clone,
    {
        let swept = store.clone();
        Self {
            store: Arc::new(store),
            sweep: Arc::new(move || {
                let store = swept.clone();
                Box::pin(async move { store.delete_expired().await })
            }),
        }
    }

    /// Removes sessions past their expiry (the cookie is gone by then; the row is not).
    pub async fn delete_expired(&self) -> tower_sessions::session_store::Result<()> {
        (self.sweep)().await
    }
}

#[async_trait]
impl tower_sessions::SessionStore for SessionStoreHandle {
    async fn create(
        &self,
        record: &mut tower_sessions::session::Record,
    ) -> tower_sessions::session_store::Result<()> {
        self.store.create(record).await
    }
    async fn save(
        &self,
        record: &tower_sessions::session::Record,
    ) -> tower_sessions::session_store::Result<()> {
        self.store.save(record).await
    }
    async fn load(
        &self,
        id: &tower_sessions::session::Id,
    ) -> tower_sessions::session_store::Result<Option<tower_sessions::session::Record>> {
        self.store.load(id).await
    }
    async fn delete(
        &self,
        id: &tower_sessions::session::Id,
    ) -> tower_sessions::session_store::Result<()> {
        self.store.delete(id).await
    }
}

/// A consistent copy of the database, made while it stayed in use.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseSnapshot {
    pub file: PathBuf,
    pub row_counts: BTreeMap<String, i64>,
    pub schema_version: i64,
}

/// Settings for opening a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

/// `count` numbered placeholders from `$first` on, as both dialects take them: "$3, $4, $5".
fn numbered_params(first: usize, count: usize) -> String {
    let params: Vec<String> = (first..first + count).map(|n| format!("${n}")).collect();
    params.join(", ")
}

/// `rows` tuples of `columns` parameters each, for a multi-row insert:
/// `($1, …, $n), ($n+1, …), …`.
fn value_rows(rows: usize, columns: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| format!("({})", numbered_params(row * columns + 1, columns)))
        .collect();
    values.join(", ")
}

/// The newest schema migration this build knows for a backend.
pub fn newest_migration(backend: crate::domain::backups::Backend) -> i64 {
    let migrator = match backend {
        crate::domain::backups::Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
        crate::domain::backups::Backend::Postgres => sqlx::migrate!("migrations/postgres"),
    };
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Opens the backend the URL names and brings its schema up to date.
pub async fn open(url: &str, options: &StoreOptions) -> StoreResult<Arc<dyn Store>> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        "sqlite" => Ok(Arc::new(SqliteStore::open(url, options).await?)),
        "postgres" | "postgresql" => Ok(Arc::new(PostgresStore::open(url, options).await?)),
        other => Err(StoreError::UnsupportedUrl(other.to_owned())),
    }
}

/// A `targets` row; both dialects decode into it.
#[derive(sqlx::FromRow)]
struct TargetRow {
    id: i64,
    name: String,
    base_url: String,
    interval_secs: i32,
    tags: sqlx::types::Json<Vec<String>>,
    source: String,
    origin: String,
    probe: String,
    headers: String,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl TryFrom<TargetRow> for Target {
    type Error = StoreError;
    fn try_from(row: TargetRow) -> StoreResult<Self> {
        let secret_headers: Vec<(String, String)> = serde_json::from_str(&row.headers)
            .map_err(|e| StoreError::Corrupt(format!("headers: {e}")))?;
        Ok(Target {
            id: row.id,
            name: row.name,
            base_url: row.base_url,
            interval_secs: u32::try_from(row.interval_secs)
                .map_err(|_| StoreError::Corrupt("interval out of range".into()))?,
            tags: row.tags.0,
            source: TargetSource::parse(&row.source).ok_or_else(|| {
                StoreError::Corrupt(format!("unknown target source '{}'", row.source))
            })?,
            origin: row.origin,
            probe: serde_json::from_str(&row.probe)
                .map_err(|e| StoreError::Corrupt(format!("probe settings: {e}")))?,
            header_names: secret_headers
                .iter()
                .map(|(name, _)| name.clone())
                .collect(),
            secret_headers,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Target queries written once for both backends: the SQL is the same in both dialects
/// (SQLite reads `$N` as positional too), only the pool type differs.
struct TargetQueries<'p, DB: sqlx::Database>(&'p sqlx::Pool<DB>);

/// See `Store::target_stamp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetStamp {
    rows: i64,
    max_id: i64,
    updated_sum_ms: i64,
}

const SELECT_TARGETS: &str = "SELECT id, name, base_url, interval_secs, tags, source, origin, \
    probe, headers, created_at, updated_at FROM targets";
const INSERT_TARGET: &str = "INSERT INTO targets \
    (name, base_url, interval_secs, tags, source, origin, probe, headers, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $7, $8, COALESCE($9, '[]'), $6, $6) RETURNING id";
const UPSERT_TARGET: &str = "INSERT INTO targets \
    (name, base_url, interval_secs, tags, source, origin, probe, headers, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $7, $8, COALESCE($9, '[]'), $6, $6) \
    ON CONFLICT (name) DO UPDATE SET base_url = excluded.base_url, \
    interval_secs = excluded.interval_secs, tags = excluded.tags, \
    origin = excluded.origin, probe = excluded.probe, headers = excluded.headers, \
    updated_at = excluded.updated_at \
    WHERE targets.source = excluded.source RETURNING id";
const UPDATE_TARGET: &str = "UPDATE targets SET name = $1, base_url = $2, interval_secs = $3, \
    tags = $4, updated_at = $5, probe = $7, headers = COALESCE($8, headers) \
    WHERE id = $6 RETURNING id";
const DELETE_TARGET: &str = "DELETE FROM targets WHERE id = $1 RETURNING id";

queries_for_any_backend! {
    impl TargetQueries rows [TargetRow] {
        async fn stamp(&self) -> StoreResult<TargetStamp> {
            // Every insert and update sets `updated_at` to now, which moves the sum; a removal
            // lowers the count, and a row deleted and replaced by a new one raises the top id.
            // Not the newest `updated_at`: an edit by a replica whose clock runs behind another's
            // would not move that.
            let (rows, max_id, updated_sum_ms) =
                sqlx::query_as::<DB, (i64, i64, i64)>(DB::TARGET_STAMP)
                    .fetch_one(self.0)
                    .await?;
            Ok(TargetStamp {
                rows,
                max_id,
                updated_sum_ms,
            })
        }

        async fn list(&self) -> StoreResult<Vec<Target>> {
            let sql = format!("{SELECT_TARGETS} ORDER BY name");
            sqlx::query_as::<DB, TargetRow>(&sql)
                .fetch_all(self.0)
                .await?
                .into_iter()
                .map(Target::try_from)
                .collect()
        }

        async fn get(&self, id: i64) -> StoreResult<Target> {
            let sql = format!("{SELECT_TARGETS} WHERE id = $1");
            sqlx::query_as::<DB, TargetRow>(&sql)
                .bind(id)
                .fetch_one(self.0)
                .await?
                .try_into()
        }

        /// Runs an insert or upsert of `spec`, with its audit entry when it has one.
        async fn write(
            &self,
            sql: &str,
            spec: &TargetSpec,
            source: TargetSource,
            origin: &str,
            event: Option<AuditEvent>,
        ) -> StoreResult<Target> {
            let mut tx = DB::begin_serialized(self.0).await?;
            let written = sqlx::query_as::<DB, (i64,)>(sql)
                .bind(spec.name.as_str().to_owned())
                .bind(spec.base_url.as_str().to_owned())
                .bind(interval_column(spec))
                .bind(sqlx::types::Json(spec.tags.clone()))
                .bind(source.as_str().to_owned())
                .bind(chrono::Utc::now())
                .bind(origin.to_owned())
                .bind(probe_column(spec)?)
                .bind(headers_column(spec)?)
                .fetch_optional(&mut *tx)
                .await?;
            // An upsert writes nothing when the name belongs to another source.
            let (id,) = written.ok_or_else(|| {
                StoreError::Conflict(format!(
                    "{} is already a target from another source",
                    spec.name.as_str()
                ))
            })?;
            if let Some(event) = event {
                accounts::append(&mut tx, event).await?;
            }
            tx.commit().await?;
            self.get(id).await
        }

        async fn insert(
            &self,
            spec: &TargetSpec,
            source: TargetSource,
            event: AuditEvent,
        ) -> StoreResult<Target> {
            self.write(INSERT_TARGET, spec, source, "", Some(event))
                .await
        }

        async fn upsert(
            &self,
            spec: &TargetSpec,
            source: TargetSource,
            origin: &str,
            event: Option<AuditEvent>,
        ) -> StoreResult<Target> {
            self.write(UPSERT_TARGET, spec, source, origin, event).await
        }

        async fn update(&self, id: i64, spec: &TargetSpec, event: AuditEvent) -> StoreResult<Target> {
            let mut tx = DB::begin_serialized(self.0).await?;
            sqlx::query_as::<DB, (i64,)>(UPDATE_TARGET)
                .bind(spec.name.as_str().to_owned())
                .bind(spec.base_url.as_str().to_owned())
                .bind(interval_column(spec))
                .bind(sqlx::types::Json(spec.tags.clone()))
                .bind(chrono::Utc::now())
                .bind(id)
                .bind(probe_column(spec)?)
                .bind(headers_column(spec)?)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            accounts::append(&mut tx, event).await?;
            tx.commit().await?;
            self.get(id).await
        }

        async fn delete(&self, id: i64, event: AuditEvent) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.0).await?;
            sqlx::query_as::<DB, (i64,)>(DELETE_TARGET)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            accounts::append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(())
        }
    }
}

fn probe_column(spec: &TargetSpec) -> StoreResult<String> {
    serde_json::to_string(&spec.probe).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// `None` leaves the stored headers as they are.
fn headers_column(spec: &TargetSpec) -> StoreResult<Option<String>> {
    spec.headers
        .as_ref()
        .map(|h| serde_json::to_string(h).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}

fn interval_column(spec: &TargetSpec) -> i32 {
    // Interval is validated to at most 3600 s, so it always fits.
    i32::try_from(spec.interval.secs()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_numbered_on_from_the_first() {
        assert_eq!(super::numbered_params(3, 3), "$3, $4, $5");
        assert_eq!(super::numbered_params(1, 1), "$1");
        assert_eq!(super::numbered_params(1, 0), "");
        assert_eq!(super::value_rows(2, 2), "($1, $2), ($3, $4)");
    }
}
