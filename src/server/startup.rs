//! Wires configuration, storage and the router into a running server.
use crate::domain::backups::Backend;
use crate::domain::observation::LiveUpdate;
use crate::domain::target::Interval;
use crate::server::cluster::Membership;
use crate::server::cluster::relay::Relay;
use crate::server::collector::Collector;
use crate::server::collector::hub::LiveHub;
use crate::server::config::Config;
use crate::server::demo::{DemoError, DemoFleet};
use crate::server::http;
use crate::server::http::metrics::HttpMetrics;
use crate::server::services::alerts::Alerts;
use crate::server::services::backup::{Backups, Sources, backend_of};
use crate::server::services::target_directory::TargetDirectory;
use crate::server::services::target_files::TargetFiles;
use crate::server::state::{AppState, AppStateInner};
use crate::server::store::{self, StoreError, StoreOptions};
use leptos::prelude::LeptosOptions;
use secrecy::ExposeSecret;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot open the database")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the demo fleet")]
    Demo(#[from] DemoError),
    #[error("cannot register metrics")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot start the notifier")]
    Notifier(#[from] crate::server::services::alerts::NotifierError),
    #[error("cannot start the collector")]
    Collector(#[from] crate::server::collector::StartError),
}

/// A bound, not yet serving, application.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    pub state: AppState,
}

impl Application {
    /// Opens the store (running migrations), starts the demo fleet when asked, and binds.
    pub async fn build(
        config: &Config,
        demo: Option<Arc<DemoFleet>>,
    ) -> Result<Self, StartupError> {
        let store = open_store(config).await?;
        if let Some(fleet) = &demo {
            let interval = Interval::try_from(config.demo.interval_secs).unwrap_or_default();
            fleet.register(store.as_ref(), interval).await?;
            if config.demo.seed_history {
                fleet
                    .seed_history(store.as_ref(), chrono::Utc::now())
                    .await?;
            }
        }
        let addr = config.server.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        let leptos_options = LeptosOptions::builder()
            .output_name("mcpops")
            // `cargo leptos build` writes the assets' hashes beside the binary it builds.
            .hash_files(site_hashes_beside_binary())
            .site_root(config.server.site_root.to_string_lossy().into_owned())
            .site_pkg_dir("pkg")
            .site_addr(addr)
            .build();
        let target_files = if config.targets.is_empty() {
            None
        } else {
            let files = Arc::new(TargetFiles::new(config.targets.clone()));
            // Read once before serving, so the first page already lists the file targets.
            if let Err(err) = files.sync(store.as_ref()).await {
                tracing::warn!(error = %err, "could not apply target files");
            }
            Some(files)
        };
        let shutdown = tokio_util::sync::CancellationToken::new();
        let database_url = config.database.url.expose_secret();
        let shared = backend_of(database_url)? == Backend::Postgres;
        let membership = if shared {
            Membership::join(&config.cluster, store.clone(), shutdown.clone())
        } else {
            Membership::Solo
        };
        let hub = LiveHub::new(config.server.live_queue);
        hub.remember(store.target_statuses().await?.iter().map(LiveUpdate::from));
        tokio::spawn(crate::server::services::rollup::run(
            store.clone(),
            config.retention.clone(),
            membership.clone(),
        ));
        tokio::spawn(sweep_sessions(store.sessions()));
        let directory = TargetDirectory::default();
        let (alerts, poll_sink) = Alerts::start(
            &config.alerts,
            store.clone(),
            directory.clone(),
            &config.collector.deny_networks,
        )?;
        if shared {
            let relay = Relay::start(database_url, hub.clone(), alerts.clone())
                .map_err(StoreError::Database)?;
            hub.relay_to(relay.clone());
            alerts.relay_to(relay);
        }
        let collector = if config.collector.enabled {
            Some(Collector::start(
                config.collector.clone(),
                store.clone(),
                directory.clone(),
                hub.clone(),
                poll_sink,
                membership.clone(),
                shutdown.clone(),
            )?)
        } else {
            None
        };
        let backups = Backups::new(
            store.clone(),
            config.database.url.clone(),
            config.backup.clone(),
            backup_sources(config, false),
        );
        let standings =
            crate::server::auth::standings::watch(store.clone(), shutdown.clone()).await?;
        let exposed =
            crate::server::private_files::readable_by_others(backups.files_with_secrets());
        if !exposed.is_empty() {
            tracing::warn!(
                files = ?exposed,
                "other local users can read these, and they hold secrets: chmod 600 (700 for directories)"
            );
        }
        let metrics = HttpMetrics::new()?;
        if let Some(collector) = &collector {
            metrics.watch_collector(collector.stats().clone())?;
        }
        let signals =
            crate::server::services::signals::Signals::new(store.clone(), config.retention.clone());
        let state = AppState::new(AppStateInner {
            leptos_options,
            store,
            metrics,
            demo,
            hub,
            collector,
            shutdown,
            charts: Default::default(),
            auth: crate::server::auth::Auth::new(config.auth.clone(), standings),
            streams: crate::server::http::streams::OpenStreams::new(
                config.server.max_streams_per_principal,
            ),
            target_files: target_files.clone(),
            alerts,
            runbooks: crate::server::services::runbooks::RunbookLibrary::new(&config.runbooks),
            backups: backups.clone(),
            membership: membership.clone(),
            directory,
            signals,
        });
        tokio::spawn(
            backups
                .clone()
                .run_schedule(membership.clone(), state.shutdown.clone()),
        );
        tokio::spawn(crate::server::auth::failures::report(
            state.auth.failures.clone(),
            state.store.clone(),
            state.shutdown.clone(),
        ));
        tokio::spawn(backups.watch_rpo(state.alerts.clone(), membership, state.shutdown.clone()));
        tokio::spawn(state.hub.clone().watch_staleness(
            state.directory.clone(),
            state.store.clone(),
            state.shutdown.clone(),
        ));
        if let Some(files) = target_files {
            let watcher = state.clone();
            tokio::spawn(async move {
                files
                    .run(watcher.store.as_ref(), || watcher.targets_changed())
                    .await;
            });
        }
        let router = http::app(state.clone(), config);
        Ok(Self {
            listener,
            router,
            state,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let streams = self.state.shutdown.clone();
        let shutdown = async move {
            shutdown.await;
            streams.cancel();
        };
        // Pages are streamed in several writes; without TCP_NODELAY each later write waits for
        // the browser's delayed ACK (about 40 ms on Linux).
        let listener = axum::serve::ListenerExt::tap_io(self.listener, |stream| {
            if let Err(err) = stream.set_nodelay(true) {
                tracing::debug!(error = %err, "cannot set TCP_NODELAY on a connection");
            }
        });
        let served = axum::serve(listener, service)
            .with_graceful_shutdown(shutdown)
            .await;
        self.state.settle().await;
        self.state.membership.leave(self.state.store.as_ref()).await;
        // Closed last, after the polls are stored: nothing later may write, and SQLite can
        // fold its WAL back into the database file.
        self.state.store.close().await;
        served
    }
}

/// What an archive holds besides the database: the configuration file and runbooks.
pub fn backup_sources(config: &Config, include_secrets: bool) -> Sources {
    Sources {
        config_file: config.source_file.clone(),
        runbooks_dir: config.runbooks.dir.clone(),
        include_secrets,
    }
}

/// Deletes expired login sessions every ten minutes.
async fn sweep_sessions(sessions: store::SessionStoreHandle) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        every.tick().await;
        if let Err(err) = sessions.delete_expired().await {
            tracing::warn!(error = %err, "could not delete expired sessions");
        }
    }
}

pub async fn open_store(config: &Config) -> Result<Arc<dyn store::Store>, StoreError> {
    let options = StoreOptions {
        max_connections: config.database.max_connections,
        ..StoreOptions::default()
    };
    store::open(config.database.url.expose_secret(), &options).await
}

/// What `mcpops serve` prints once it listens; scripts (and the tests and benchmarks that
/// start it on port 0) read the address back with `dashboard_addr`.
const DASHBOARD_LINE: &str = "mcpops dashboard: http://";

pub fn dashboard_line(addr: SocketAddr) -> String {
    format!("{DASHBOARD_LINE}{addr}/")
}

pub fn dashboard_addr(line: &str) -> Option<SocketAddr> {
    line.strip_prefix(DASHBOARD_LINE)?
        .trim_end_matches('/')
        .parse()
        .ok()
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

/// Whether the build that made this binary hashed the site's file names (`hash.txt` beside
/// it, which Leptos reads to name them in each page).
fn site_hashes_beside_binary() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("hash.txt")))
        .is_some_and(|path| path.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dashboard_line_gives_back_its_address() {
        let addr: SocketAddr = "127.0.0.1:43127".parse().expect("address");
        assert_eq!(dashboard_addr(&dashboard_line(addr)), Some(addr));
        assert_eq!(dashboard_addr("mcpops is listening"), None);
    }
}
