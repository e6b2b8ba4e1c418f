//! PostgreSQL backend, for fleets that outgrow one machine.
use super::database::{DatabaseSnapshot, DatabaseStore, SchemaQueries, SessionStoreHandle};
use super::{StoreError, StoreOptions, StoreResult};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

pub struct PostgresStore {
    pool: PgPool,
    sessions: SessionStoreHandle,
    /// For `pg_dump`, which connects on its own.
    url: SecretString,
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
            url: SecretString::from(url.to_owned()),
        })
    }
}

#[async_trait]
impl DatabaseStore for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        SchemaQueries(&self.pool).ping().await
    }

    async fn refresh_statistics(&self) -> StoreResult<()> {
        SchemaQueries(&self.pool).refresh_statistics().await
    }

    fn sessions(&self) -> SessionStoreHandle {
        self.sessions.clone()
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }

    async fn row_counts(&self) -> StoreResult<BTreeMap<String, i64>> {
        SchemaQueries(&self.pool).row_counts().await
    }

    async fn schema_version(&self) -> StoreResult<i64> {
        SchemaQueries(&self.pool).schema_version().await
    }

    async fn snapshot_database(&self, dir: &Path) -> StoreResult<DatabaseSnapshot> {
        // pg_dump joins this transaction's exported snapshot, so the dump and the counts
        // taken here see exactly the same rows while polling goes on.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let (snapshot,): (String,) = sqlx::query_as("SELECT pg_export_snapshot()")
            .fetch_one(&mut *tx)
            .await?;
        let tables: Vec<(String,)> =
            sqlx::query_as(<sqlx::Postgres as super::dialect::Dialect>::LIST_TABLES)
                .fetch_all(&mut *tx)
                .await?;
        let mut row_counts = BTreeMap::new();
        for (table,) in tables {
            let (count,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM \"{table}\""))
                .fetch_one(&mut *tx)
                .await?;
            row_counts.insert(table, count);
        }
        let (schema_version,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
                .fetch_one(&mut *tx)
                .await?;
        let file = dir.join("mcpops.pgdump");
        let output = pg_tool("pg_dump", self.url.expose_secret())?
            .args([
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                "--snapshot",
            ])
            .arg(&snapshot)
            .arg("--file")
            .arg(&file)
            .output()
            .await
            .map_err(|e| tool_missing("pg_dump", &e))?;
        tx.commit().await?;
        if !output.status.success() {
            return Err(StoreError::External(format!(
                "pg_dump failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(DatabaseSnapshot {
            file,
            row_counts,
            schema_version,
        })
    }

    /// PostgreSQL has no whole-database check; every table must at least be readable, which
    /// counting the rows of each does.
    async fn integrity_problems(&self) -> StoreResult<Vec<String>> {
        Ok(Vec::new())
    }
}

/// URL query parameters that libpq's programs read from the environment instead.
const PG_QUERY_ENV: &[(&str, &str)] = &[
    ("sslmode", "PGSSLMODE"),
    ("sslrootcert", "PGSSLROOTCERT"),
    ("sslcert", "PGSSLCERT"),
    ("sslkey", "PGSSLKEY"),
    ("sslcrl", "PGSSLCRL"),
    ("channel_binding", "PGCHANNELBINDING"),
    ("connect_timeout", "PGCONNECT_TIMEOUT"),
    ("application_name", "PGAPPNAME"),
    ("options", "PGOPTIONS"),
    ("target_session_attrs", "PGTARGETSESSIONATTRS"),
    ("host", "PGHOST"),
    ("port", "PGPORT"),
    ("user", "PGUSER"),
    ("password", "PGPASSWORD"),
    ("dbname", "PGDATABASE"),
];

/// A PostgreSQL client program set up to reach the database in `url`. The connection comes
/// through `PG*` variables so the password never appears on a command line.
pub fn pg_tool(program: &str, url: &str) -> StoreResult<tokio::process::Command> {
    let mut command = tokio::process::Command::new(program);
    command.kill_on_drop(true);
    command.envs(pg_environment(url)?);
    Ok(command)
}

/// The `PG*` variables for `url`: its parts, then its query parameters (TLS above all), which
/// win as they do for the server's own connection.
pub fn pg_environment(url: &str) -> StoreResult<Vec<(&'static str, String)>> {
    let parsed = url::Url::parse(url)
        .map_err(|_| StoreError::External("the database URL cannot be parsed".into()))?;
    let mut env = Vec::new();
    if let Some(host) = parsed.host_str() {
        env.push(("PGHOST", host.to_owned()));
    }
    if let Some(port) = parsed.port() {
        env.push(("PGPORT", port.to_string()));
    }
    if !parsed.username().is_empty() {
        env.push(("PGUSER", decode(parsed.username())));
    }
    if let Some(password) = parsed.password() {
        env.push(("PGPASSWORD", decode(password)));
    }
    env.push(("PGDATABASE", decode(parsed.path().trim_start_matches('/'))));
    for (key, value) in parsed.query_pairs() {
        let Some((_, var)) = PG_QUERY_ENV.iter().find(|(k, _)| *k == key) else {
            tracing::warn!(
                parameter = %key,
                "pg_dump and pg_restore do not receive this database URL parameter"
            );
            continue;
        };
        env.retain(|(v, _)| v != var);
        env.push((var, value.into_owned()));
    }
    Ok(env)
}

fn decode(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned()
}

pub fn tool_missing(program: &str, err: &std::io::Error) -> StoreError {
    if err.kind() == std::io::ErrorKind::NotFound {
        StoreError::External(format!(
            "{program} is not installed: PostgreSQL backups need the PostgreSQL client programs \
             (Debian: apt-get install postgresql-client)"
        ))
    } else {
        StoreError::External(format!("cannot run {program}: {err}"))
    }
}

impl super::dialect::SqlBackend for PostgresStore {
    type Db = sqlx::Postgres;
    fn pool(&self) -> &sqlx::Pool<sqlx::Postgres> {
        &self.pool
    }
    /// PostgreSQL writes from any connection alike.
    fn poll_writer(&self) -> &sqlx::Pool<sqlx::Postgres> {
        &self.pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_programs_get_the_urls_tls_parameters() {
        let env = pg_environment(
            "postgres://app:s%40cret@db.internal:6432/mcpops?sslmode=verify-full\
             &sslrootcert=/etc/mcpops/ca.pem&application_name=mcpops",
        )
        .unwrap_or_default();
        let get = |var: &str| env.iter().find(|(v, _)| *v == var).map(|(_, x)| x.as_str());
        assert_eq!(get("PGHOST"), Some("db.internal"));
        assert_eq!(get("PGPORT"), Some("6432"));
        assert_eq!(get("PGPASSWORD"), Some("s@cret"));
        assert_eq!(get("PGDATABASE"), Some("mcpops"));
        assert_eq!(get("PGSSLMODE"), Some("verify-full"));
        assert_eq!(get("PGSSLROOTCERT"), Some("/etc/mcpops/ca.pem"));
        assert_eq!(get("PGAPPNAME"), Some("mcpops"));
        let socket = pg_environment("postgres:///mcpops?host=/run/postgresql").unwrap_or_default();
        assert!(socket.contains(&("PGHOST", "/run/postgresql".to_owned())));
    }
}
