//! Typed configuration: defaults, then a TOML file, then `MCPOPS__SECTION__KEY` variables.
use crate::server::auth::AuthConfig;
use crate::server::cluster::ClusterConfig;
use crate::server::collector::CollectorConfig;
use crate::server::services::alerts::AlertsConfig;
use crate::server::services::backup::BackupConfig;
use crate::server::services::rollup::RetentionConfig;
use crate::server::services::runbooks::RunbooksConfig;
use crate::server::services::target_files::TargetFilesConfig;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub log: LogConfig,
    pub demo: DemoConfig,
    pub collector: CollectorConfig,
    pub retention: RetentionConfig,
    pub auth: AuthConfig,
    pub targets: TargetFilesConfig,
    pub alerts: AlertsConfig,
    pub runbooks: RunbooksConfig,
    pub backup: BackupConfig,
    pub cluster: ClusterConfig,
    /// The file this was loaded from, if any (backups archive it).
    #[serde(skip)]
    pub source_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Where cargo-leptos put the compiled site (`pkg/`, CSS, assets).
    pub site_root: PathBuf,
    pub request_timeout_secs: u64,
    pub body_limit_bytes: usize,
    /// Batches of poll updates queued for one live page; a page this far behind is dropped.
    pub live_queue: usize,
    /// Who may frame mcpops' pages (the CSP `frame-ancestors` sources): its own origin by
    /// default, so a kiosk can frame the wall; `'none'` forbids framing.
    pub frame_ancestors: String,
    /// Live streams (`/events`) one person, kiosk or token may have open at once.
    pub max_streams_per_principal: usize,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path` or `postgres://user:password@host/db`; may hold a password.
    pub url: SecretString,
    pub max_connections: u32,
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(self.url.expose_secret()))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter such as `info` or `mcpops=debug,info`.
    pub level: String,
    /// Log one request to `/health/*` or `/metrics` in this many (0: none), so that probes of
    /// mcpops do not flood its log; every other request is logged.
    pub probe_requests_every: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoConfig {
    /// How many simulated MCP servers `mcpops demo` starts.
    pub servers: usize,
    /// The polling interval the demo's targets are registered with.
    pub interval_secs: u32,
    /// Write 30 days of made-up history into a fresh database, for charts and forecasts.
    pub seed_history: bool,
}

/// Defaults as a serialisable tree, so figment can layer the file and env on top.
#[derive(Serialize)]
struct Defaults {
    server: ServerConfig,
    database: DefaultDatabase,
    log: LogConfig,
    demo: DemoConfig,
    collector: CollectorConfig,
    retention: RetentionConfig,
    auth: AuthConfig,
    targets: TargetFilesConfig,
    alerts: AlertsConfig,
    runbooks: RunbooksConfig,
    backup: BackupConfig,
    cluster: ClusterConfig,
}

#[derive(Serialize)]
struct DefaultDatabase {
    url: &'static str,
    max_connections: u32,
}

fn defaults() -> Defaults {
    Defaults {
        server: ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            site_root: PathBuf::from("target/site"),
            request_timeout_secs: 30,
            body_limit_bytes: 1024 * 1024,
            live_queue: crate::server::collector::hub::PAGE_QUEUE,
            frame_ancestors: "'self'".into(),
            max_streams_per_principal: 20,
        },
        database: DefaultDatabase {
            url: "sqlite://data/mcpops.db",
            max_connections: 10,
        },
        log: LogConfig {
            format: LogFormat::Json,
            level: "info".into(),
            probe_requests_every: 60,
        },
        demo: DemoConfig {
            servers: 12,
            interval_secs: 10,
            seed_history: true,
        },
        collector: CollectorConfig::default(),
        retention: RetentionConfig::default(),
        auth: AuthConfig::default(),
        targets: TargetFilesConfig::default(),
        alerts: AlertsConfig::default(),
        runbooks: RunbooksConfig::default(),
        backup: BackupConfig::default(),
        cluster: ClusterConfig::default(),
    }
}

/// A configuration problem, phrased as one line that names the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Loads defaults, then `file` (which must exist when given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(defaults()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError(format!(
                    "config file {} not found",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("MCPOPS__").split("__"));
        let mut config: Config = figment.extract().map_err(|e| ConfigError(one_line(&e)))?;
        config.source_file = file.map(Path::to_path_buf);
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let url = self.database.url.expose_secret();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres:")
            || url.starts_with("postgresql:"))
        {
            return Err(ConfigError(format!(
                "key database.url: '{}' must start with sqlite:// or postgres://",
                redact_url(url)
            )));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError(
                "key database.max_connections: must be at least 1".into(),
            ));
        }
        let ancestors = &self.server.frame_ancestors;
        if ancestors.trim().is_empty()
            || ancestors.contains([';', ','])
            || ancestors.chars().any(char::is_control)
        {
            return Err(ConfigError(
                "key server.frame_ancestors: CSP sources separated by spaces, like \"'self' https://kiosk.example\"".into(),
            ));
        }
        if self.server.request_timeout_secs == 0 {
            return Err(ConfigError(
                "key server.request_timeout_secs: must be at least 1".into(),
            ));
        }
        let collector = &self.collector;
        if collector.concurrency == 0 || collector.timeout_ms == 0 || collector.max_body_bytes == 0
        {
            return Err(ConfigError(
                "keys collector.concurrency, collector.timeout_ms and collector.max_body_bytes must be at least 1".into(),
            ));
        }
        if crate::domain::target::Interval::try_from(self.demo.interval_secs).is_err() {
            return Err(ConfigError(
                "key demo.interval_secs: must be between 1 and 3600".into(),
            ));
        }
        self.alerts.check().map_err(ConfigError)?;
        if self.backup.every_minutes > 0 && self.backup.keep_daily + self.backup.keep_weekly == 0 {
            return Err(ConfigError(
                "keys backup.keep_daily and backup.keep_weekly: keep at least one archive".into(),
            ));
        }
        if self.cluster.lease_secs < 3 {
            return Err(ConfigError(
                "key cluster.lease_secs: must be at least 3 (heartbeats come three times a lease)"
                    .into(),
            ));
        }
        if self.demo.servers == 0 || self.demo.servers > 10_000 {
            return Err(ConfigError(
                "key demo.servers: must be between 1 and 10000".into(),
            ));
        }
        Ok(())
    }
}

/// Figment's error names the key and where the value came from; keep it on one line.
fn one_line(err: &figment::Error) -> String {
    err.clone()
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let origin = e
                .metadata
                .as_ref()
                .map(|m| m.name.to_string())
                .unwrap_or_default();
            let origin = if origin.is_empty() {
                String::new()
            } else {
                format!(" (from {origin})")
            };
            format!("key {key}: {}{origin}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Hides the password in a connection URL, for logs and `Debug`.
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_owned();
    };
    let in_userinfo = parsed.password().is_some();
    // libpq also takes the password as a query parameter.
    let in_query = parsed.query_pairs().any(|(key, _)| key == "password");
    if !in_userinfo && !in_query {
        return url.to_owned();
    }
    if in_userinfo {
        // Setting a password only fails for URLs that cannot have one.
        let _ = parsed.set_password(Some("*****"));
    }
    if in_query {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| {
                let value = if key == "password" {
                    "*****".into()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_database_password() {
        let config = DatabaseConfig {
            url: SecretString::from("postgres://mcpops:hunter2@db:5432/mcpops"),
            max_connections: 5,
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("*****"), "{shown}");
    }

    #[test]
    fn a_password_in_the_query_is_hidden_too() {
        let shown = redact_url("postgres://db/mcpops?sslmode=require&password=hunter2");
        assert_eq!(shown, "postgres://db/mcpops?sslmode=require&password=*****");
    }

    #[test]
    fn redact_leaves_sqlite_urls_alone() {
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
