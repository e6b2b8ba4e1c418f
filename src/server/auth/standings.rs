//! Every replica reads who may still be signed in once a second, so a live stream whose user
//! was disabled or signed out everywhere, or whose kiosk token was revoked, ends within a
//! second wherever it is open.
use crate::domain::auth::Standings;
use crate::server::store::{Store, StoreResult};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const READ_EVERY: Duration = Duration::from_secs(1);

/// Reads the standings now, then every second until `stopping`; a failed read keeps the
/// last ones.
pub async fn watch(
    store: Arc<dyn Store>,
    stopping: CancellationToken,
) -> StoreResult<watch::Receiver<Arc<Standings>>> {
    let (publish, standings) = watch::channel(Arc::new(store.standings().await?));
    tokio::spawn(async move {
        let mut every = tokio::time::interval(READ_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stopping.cancelled() => break,
                _ = every.tick() => {}
            }
            match store.standings().await {
                Ok(read) => {
                    publish.send_if_modified(|current| {
                        let changed = **current != read;
                        if changed {
                            *current = Arc::new(read);
                        }
                        changed
                    });
                }
                Err(err) => tracing::warn!(error = %err, "cannot read who may stay signed in"),
            }
        }
    });
    Ok(standings)
}
