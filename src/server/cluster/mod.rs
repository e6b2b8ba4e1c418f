//! Replicas sharing one PostgreSQL database. Each replica keeps a membership row alive with
//! a heartbeat; the collector claims its share of the targets under that membership, and
//! the oldest live replica runs the fleet-wide chores. On SQLite there is one process, which
//! holds every target and leads.
pub mod relay;

use crate::domain::leases::{ClusterView, Replica};
use crate::server::store::Store;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// The `[cluster]` section of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// How long a replica's targets stay its own without a heartbeat; the others take them
    /// over within two of these after it stops.
    pub lease_secs: u64,
    /// This replica's name in logs, on the readiness check and in the probes' User-Agent;
    /// the host name when empty.
    pub name: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            lease_secs: 15,
            name: String::new(),
        }
    }
}

impl ClusterConfig {
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs.max(1))
    }

    /// Heartbeats come three times per lease, so one lost heartbeat costs nothing.
    pub fn heartbeat_every(&self) -> Duration {
        self.lease() / 3
    }

    fn replica_name(&self) -> String {
        if !self.name.trim().is_empty() {
            return self.name.trim().to_owned();
        }
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|host| host.trim().to_owned())
            .filter(|host| !host.is_empty())
            .unwrap_or_else(|| "mcpops".into())
    }
}

/// What the last heartbeat established.
#[derive(Debug, Clone)]
pub struct Standing {
    pub replica_id: String,
    /// Changes when the membership lapsed and the replica joined again: every target it held
    /// may be someone else's by now.
    pub generation: u64,
    /// When the heartbeat that renewed the membership was sent.
    pub renewed_at: Instant,
    pub view: ClusterView,
}

/// This process's place among the replicas.
#[derive(Clone)]
pub enum Membership {
    /// The only process on this database: it holds everything.
    Solo,
    Shared {
        name: String,
        lease: Duration,
        standing: watch::Receiver<Option<Standing>>,
    },
}

impl Membership {
    /// Starts joining the replicas on `store` (the first heartbeat joins) and keeps the
    /// membership alive until `stop`.
    pub fn join(
        config: &ClusterConfig,
        store: Arc<dyn Store>,
        stop: tokio_util::sync::CancellationToken,
    ) -> Self {
        let (publish, standing) = watch::channel(None);
        let name = config.replica_name();
        let heartbeat = Heartbeat {
            store,
            lease: config.lease(),
            every: config.heartbeat_every(),
            name: name.clone(),
            publish,
        };
        tokio::spawn(heartbeat.run(stop));
        Self::Shared {
            name,
            lease: config.lease(),
            standing,
        }
    }

    /// This replica's configured name; `None` when it is the only process.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Solo => None,
            Self::Shared { name, .. } => Some(name),
        }
    }

    /// Resolves at each heartbeat; never for a solo process.
    pub async fn next_heartbeat(changes: &mut Option<watch::Receiver<Option<Standing>>>) {
        let beat = match changes {
            Some(receiver) => receiver.changed().await.is_ok(),
            None => false,
        };
        if !beat {
            std::future::pending::<()>().await;
        }
    }

    /// A receiver for [`Self::next_heartbeat`].
    pub fn heartbeats(&self) -> Option<watch::Receiver<Option<Standing>>> {
        match self {
            Self::Solo => None,
            Self::Shared { standing, .. } => Some(standing.clone()),
        }
    }

    /// The membership, when this replica shares the database and has joined.
    pub fn standing(&self) -> Option<Standing> {
        match self {
            Self::Solo => None,
            Self::Shared { standing, .. } => standing.borrow().clone(),
        }
    }

    /// Whether this replica's targets are still surely its own: a heartbeat renewed them less
    /// than two thirds of a lease ago, leaving time for a poll to finish before any other
    /// replica could take them.
    pub fn holds_leases(&self, now: Instant) -> bool {
        match self {
            Self::Solo => true,
            Self::Shared {
                lease, standing, ..
            } => standing
                .borrow()
                .as_ref()
                .is_some_and(|s| now < s.renewed_at + *lease * 2 / 3),
        }
    }

    /// Whether this replica runs the fleet-wide chores now.
    pub fn leads(&self) -> bool {
        match self {
            Self::Solo => true,
            Self::Shared { standing, .. } => {
                self.holds_leases(Instant::now())
                    && standing
                        .borrow()
                        .as_ref()
                        .is_some_and(|s| s.view.leads(&s.replica_id))
            }
        }
    }

    /// Gives the targets back at once when the process stops, instead of at lease expiry.
    pub async fn leave(&self, store: &dyn Store) {
        if let Some(standing) = self.standing()
            && let Err(err) = store.leave_cluster(&standing.replica_id).await
        {
            tracing::warn!(error = %err, "could not leave the cluster; leases will expire");
        }
    }
}

struct Heartbeat {
    store: Arc<dyn Store>,
    lease: Duration,
    every: Duration,
    name: String,
    publish: watch::Sender<Option<Standing>>,
}

impl Heartbeat {
    async fn run(self, stop: tokio_util::sync::CancellationToken) {
        let mut member: Option<(String, u64)> = None;
        let mut generation = 0;
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let sent = Instant::now();
            let now = chrono::Utc::now().timestamp_millis();
            let expires = now + i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
            let renewed = match &member {
                Some((id, _)) => self.store.heartbeat(id, now, expires).await,
                None => Ok(false),
            };
            match renewed {
                Ok(true) => {}
                Ok(false) => {
                    if member.is_some() {
                        tracing::warn!("this replica's membership lapsed; joining again");
                    }
                    generation += 1;
                    let replica = Replica {
                        id: format!("{}-{:08x}", self.name, rand::rng().random::<u32>()),
                        name: self.name.clone(),
                        started_at: now,
                        heartbeat_at: now,
                    };
                    if let Err(err) = self.store.join_cluster(&replica, expires).await {
                        tracing::warn!(error = %err, "cannot join the cluster");
                        continue;
                    }
                    tracing::info!(replica = %replica.id, "joined the cluster");
                    member = Some((replica.id, generation));
                }
                Err(err) => {
                    tracing::warn!(error = %err, "heartbeat failed; polling pauses when the lease runs out");
                    continue;
                }
            }
            let Some((id, generation)) = &member else {
                continue;
            };
            match self.store.cluster_view(id, now).await {
                Ok(view) => {
                    self.publish.send_replace(Some(Standing {
                        replica_id: id.clone(),
                        generation: *generation,
                        renewed_at: sent,
                        view,
                    }));
                }
                Err(err) => tracing::warn!(error = %err, "cannot read the cluster"),
            }
        }
    }
}
