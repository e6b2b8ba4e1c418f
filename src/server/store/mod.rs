//! Storage, by area: one trait per area (targets, polls, alerts, incidents, accounts, audit,
//! ...), each in its own file beside its SQL and implemented once for both backends through
//! `SqlBackend`. `Store` is every area together, which is what the server holds.
mod accounts;
mod alerts;
mod audit;
mod backups;
mod capacity;
mod channels;
mod checks;
mod contacts;
mod database;
mod deploys;
mod dialect;
mod escalation;
mod incident_comms;
mod incidents;
mod leases;
mod oncall;
mod polls;
mod postgres;
mod readiness;
mod silences;
mod sqlite;
mod targets;
mod tools;

use std::sync::Arc;
use std::time::Duration;

pub use accounts::{
    AccountStore, NewToken, NewUser, TokenRecord, UserAccount, UserChange, UserRecord,
};
pub use alerts::{AlertChange, AlertStore, NewAlert};
pub use audit::AuditStore;
pub use backups::BackupStore;
pub use capacity::{CapacityStore, LoadRow};
pub use channels::ChannelStore;
pub use checks::CheckStore;
pub use contacts::ContactStore;
pub use database::{DatabaseSnapshot, DatabaseStore, SessionStoreHandle};
pub use deploys::DeployStore;
pub use escalation::{EscalationStore, UnresolvedEscalation};
pub use incident_comms::IncidentCommsStore;
pub use incidents::{IncidentStore, NewIncident};
pub use leases::LeaseStore;
pub use oncall::OnCallStore;
pub use polls::{MAX_CATALOG_BYTES_PER_TARGET, PollStore, SampleTable};
pub use postgres::{PostgresStore, pg_tool, tool_missing};
pub use readiness::ReadinessStore;
pub use silences::SilenceStore;
pub use sqlite::SqliteStore;
pub use targets::{TargetStamp, TargetStore};
pub use tools::{ToolCatalog, ToolListStore};

/// Declares `Store` as every area trait together, with the blanket impl that makes any type
/// implementing them all a `Store`, from one list.
macro_rules! every_area {
    ($(#[$doc:meta])* $($area:ident),+ $(,)?) => {
        $(#[$doc])*
        pub trait Store: $($area +)+ 'static {}

        impl<T> Store for T where T: $($area +)+ 'static {}
    };
}

every_area! {
    /// Every area of storage: what `open` returns and the server shares. A function that
    /// needs only one area can take that area's trait instead.
    DatabaseStore,
    TargetStore,
    PollStore,
    ToolListStore,
    CheckStore,
    AccountStore,
    AuditStore,
    AlertStore,
    ChannelStore,
    SilenceStore,
    DeployStore,
    IncidentStore,
    IncidentCommsStore,
    ReadinessStore,
    BackupStore,
    CapacityStore,
    LeaseStore,
    OnCallStore,
    ContactStore,
    EscalationStore,
}

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
