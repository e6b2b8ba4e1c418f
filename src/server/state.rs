//! Shared application state, cheap to clone into every handler.
use crate::server::auth::Auth;
use crate::server::collector::Collector;
use crate::server::collector::hub::LiveHub;
use crate::server::demo::DemoFleet;
use crate::server::http::charts::ChartCache;
use crate::server::http::metrics::HttpMetrics;
use crate::server::services::alerts::Alerts;
use crate::server::store::Store;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use std::ops::Deref;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

pub struct AppStateInner {
    pub leptos_options: LeptosOptions,
    pub store: Arc<dyn Store>,
    pub metrics: HttpMetrics,
    pub demo: Option<Arc<DemoFleet>>,
    pub hub: LiveHub,
    /// `None` when polling is switched off (`collector.enabled = false`).
    pub collector: Option<Collector>,
    /// Cancelled when the server begins to stop, so endless responses (SSE) end and
    /// graceful shutdown can finish.
    pub shutdown: CancellationToken,
    pub charts: ChartCache,
    pub auth: Auth,
    /// Live streams open, by principal.
    pub streams: crate::server::http::streams::OpenStreams,
    /// Target files and their last reading; `None` when none are configured.
    pub target_files: Option<Arc<crate::server::services::target_files::TargetFiles>>,
    pub alerts: Arc<Alerts>,
    pub runbooks: crate::server::services::runbooks::RunbookLibrary,
    pub backups: Arc<crate::server::services::backup::Backups>,
    /// This process's place among replicas sharing the database.
    pub membership: crate::server::cluster::Membership,
    /// The target list pages read, kept in memory while the targets table is unchanged.
    pub directory: crate::server::services::target_directory::TargetDirectory,
    pub signals: crate::server::services::signals::Signals,
}

impl AppStateInner {
    /// Tells the collector the target list changed.
    pub fn targets_changed(&self) {
        if let Some(collector) = &self.collector {
            collector.reload();
        }
    }

    /// After `shutdown` is cancelled: waits, up to `STOP_GRACE`, until the polls already
    /// taken are stored and judged, so a restart loses none of them.
    pub async fn settle(&self) {
        let settled = async {
            if let Some(collector) = &self.collector {
                collector.drained().await;
            }
            self.alerts.settled().await;
        };
        if tokio::time::timeout(STOP_GRACE, settled).await.is_err() {
            tracing::warn!(
                grace_secs = STOP_GRACE.as_secs(),
                "stopping before every poll taken was stored"
            );
        }
    }
}

/// How long a stop waits for polls in flight and the store queue; service managers commonly
/// allow 30 s or more between SIGTERM and SIGKILL.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

impl AppState {
    pub fn new(inner: AppStateInner) -> Self {
        Self(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = AppStateInner;
    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
