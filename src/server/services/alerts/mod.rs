//! The alert service: the engine that judges every poll, the notifier that calls webhooks,
//! and the live feed of alert changes for open pages.
mod engine;
mod escalator;
mod notifier;

use crate::domain::alerts::{Alert, AlertUpdate, Damping};
use crate::domain::audit::{AuditEvent, RequestOrigin};
use crate::domain::notifications::GroupTiming;
use crate::domain::observation::PollRecord;
use crate::server::cluster::relay::Relay;
use crate::server::services::target_directory::TargetDirectory;
use crate::server::store::Store;
use notifier::Notifier;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// The `[alerts]` section of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    pub enabled: bool,
    /// Healthy polls in a row before a firing alert resolves.
    pub clear_polls: u32,
    /// A firing alert stays firing at least this long (flap damping).
    pub min_firing_secs: u64,
    /// An active degradation alert clears only this far (in percent) below its threshold.
    pub hysteresis_pct: f64,
    /// Each webhook call's deadline.
    pub webhook_timeout_ms: u64,
    /// Calls per notification, the first included.
    pub webhook_attempts: u32,
    /// The first retry waits this long; each further one twice as long, up to the cap.
    pub retry_base_ms: u64,
    pub retry_cap_ms: u64,
    /// The console's public address, for links in notifications (none when empty).
    pub console_url: String,
    /// A PEM file of CA certificates that SMTP servers may also chain to, for private
    /// relays with their own CA (none when empty).
    pub smtp_ca_file: String,
    /// Alerts of one group that open within this long go out as one notice.
    pub group_wait_secs: u64,
    /// A notified group's later changes are sent at most this often.
    pub group_interval_secs: u64,
    /// A group with unacknowledged alerts is sent again this often.
    pub repeat_interval_secs: u64,
    /// Tag keys that split groups beyond the rule, e.g. `["team"]` for `team:payments`.
    pub group_by: Vec<String>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            clear_polls: 2,
            min_firing_secs: 120,
            hysteresis_pct: 10.0,
            webhook_timeout_ms: 5_000,
            webhook_attempts: 6,
            retry_base_ms: 1_000,
            retry_cap_ms: 60_000,
            console_url: String::new(),
            smtp_ca_file: String::new(),
            group_wait_secs: 30,
            group_interval_secs: 300,
            repeat_interval_secs: 4 * 3600,
            group_by: Vec::new(),
        }
    }
}

impl AlertsConfig {
    /// Names the first bad key, for the configuration's one-line error.
    pub fn check(&self) -> Result<(), String> {
        if self.clear_polls == 0 {
            return Err("key alerts.clear_polls: must be at least 1".into());
        }
        if !(0.0..100.0).contains(&self.hysteresis_pct) {
            return Err("key alerts.hysteresis_pct: must be from 0 to below 100".into());
        }
        if self.webhook_attempts == 0 || self.webhook_timeout_ms == 0 {
            return Err(
                "keys alerts.webhook_attempts and alerts.webhook_timeout_ms: must be at least 1"
                    .into(),
            );
        }
        if self.group_interval_secs == 0 || self.repeat_interval_secs < 60 {
            return Err(
                "keys alerts.group_interval_secs and alerts.repeat_interval_secs: \
                 at least 1 s and 60 s"
                    .into(),
            );
        }
        let longest = self
            .group_wait_secs
            .max(self.group_interval_secs)
            .max(self.repeat_interval_secs);
        if longest > MAX_GROUP_SECS {
            return Err(format!(
                "keys alerts.group_wait_secs, group_interval_secs and repeat_interval_secs: \
                 at most {MAX_GROUP_SECS} s (30 days)"
            ));
        }
        if let Some(bad) = self
            .group_by
            .iter()
            .find(|k| k.is_empty() || k.contains(':'))
        {
            return Err(format!(
                "key alerts.group_by: {bad:?} is not a tag key (the part before ':')"
            ));
        }
        Ok(())
    }

    fn group_timing(&self) -> GroupTiming {
        // `check` has capped each at 30 days.
        let secs =
            |s: u64| chrono::Duration::seconds(i64::try_from(s.min(MAX_GROUP_SECS)).unwrap_or(0));
        GroupTiming {
            wait: secs(self.group_wait_secs),
            interval: secs(self.group_interval_secs),
            repeat: secs(self.repeat_interval_secs),
        }
    }

    fn damping(&self) -> Damping {
        Damping {
            clear_polls: self.clear_polls,
            min_firing: chrono::Duration::seconds(
                i64::try_from(self.min_firing_secs).unwrap_or(i64::MAX / 1000),
            ),
            hysteresis: self.hysteresis_pct / 100.0,
        }
    }
}

/// The longest group wait, interval or repeat taken (30 days).
const MAX_GROUP_SECS: u64 = 30 * 24 * 3600;

/// Who the engine's own changes are recorded as.
pub const ENGINE_ACTOR: &str = "system:alerts";

/// The running alert service, shared by handlers.
pub struct Alerts {
    /// Whether the engine runs (`[alerts] enabled`).
    pub engine_on: bool,
    feed: broadcast::Sender<AlertUpdate>,
    rules_changed: Arc<Notify>,
    notifier: Notifier,
    /// Where alert changes also go, when other replicas share the fleet.
    relay: std::sync::OnceLock<Relay>,
    /// Cancelled once the engine has judged the last polls handed to it (or never ran).
    settled: CancellationToken,
}

/// What ingest hands the engine, in the order it happened.
pub enum EngineInput {
    /// Polls just stored.
    Polls(Arc<[PollRecord]>),
    /// This replica polls these targets now: their open alerts are taken up from the store.
    Adopted(Vec<i64>),
    /// This replica no longer polls these: whoever does now judges them.
    Released(Vec<i64>),
}

/// Where ingest hands the engine its input.
pub type PollSink = mpsc::Sender<EngineInput>;

impl Alerts {
    /// Starts the notifier and, when alerting is on, the engine; returns the handle and
    /// the sink ingest feeds (`None` when the engine is off).
    /// Notices never go to `deny` (`[collector] deny_networks`): a contact method is any
    /// signed-in person's to set.
    pub fn start(
        config: &AlertsConfig,
        store: Arc<dyn Store>,
        directory: TargetDirectory,
        deny: &[ipnet::IpNet],
    ) -> Result<(Arc<Self>, Option<PollSink>), NotifierError> {
        let notifier = Notifier::start(config, store.clone(), deny)?;
        let alerts = Arc::new(Self {
            engine_on: config.enabled,
            feed: broadcast::channel(1024).0,
            rules_changed: Arc::new(Notify::new()),
            notifier,
            relay: std::sync::OnceLock::new(),
            settled: CancellationToken::new(),
        });
        if !config.enabled {
            alerts.settled.cancel();
            return Ok((alerts, None));
        }
        let (sink, polls) = mpsc::channel(1024);
        let engine = engine::Engine::new(config, store, directory, alerts.clone());
        let settled = alerts.settled.clone();
        tokio::spawn(async move {
            engine.run(polls).await;
            settled.cancel();
        });
        Ok((alerts, Some(sink)))
    }

    /// Resolves once every sender of polls is gone and the engine has judged what it got.
    pub async fn settled(&self) {
        self.settled.cancelled().await;
    }

    /// Tells the engine that baselines, silences or accepted tool lists changed.
    pub fn rules_changed(&self) {
        self.rules_changed.notify_one();
    }

    /// From now on, sends alert changes to the other replicas too.
    pub fn relay_to(&self, relay: Relay) {
        let _ = self.relay.set(relay);
    }

    /// Tells open pages, on every replica, that an alert changed.
    pub fn publish(&self, alert: &Alert) {
        let update = AlertUpdate {
            alert_id: alert.id,
            target_id: alert.target_id,
            state: alert.state,
        };
        if let Some(relay) = self.relay.get() {
            relay.alert(update.clone());
        }
        self.publish_local(update);
    }

    /// Tells this replica's open pages only (a change relayed from another replica).
    pub fn publish_local(&self, update: AlertUpdate) {
        // Nobody listening is normal.
        let _ = self.feed.send(update);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<AlertUpdate> {
        self.feed.subscribe()
    }

    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }
}

pub use escalator::ESCALATOR_ACTOR;
pub use notifier::{Acknowledgement, NotifierError, TestOutcome, TestTarget};

fn engine_event(action: &str, resource: &str) -> AuditEvent {
    AuditEvent::new(
        "alert",
        ENGINE_ACTOR,
        action,
        resource,
        &RequestOrigin::local(),
    )
}

/// How long the engine waits before re-reading rules it was not told about (changes made
/// by another replica).
const REFRESH_EVERY: Duration = Duration::from_secs(30);
