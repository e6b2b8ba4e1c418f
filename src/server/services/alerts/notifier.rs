//! The notifier: calls each channel that wants an alert, retrying with backoff, off the
//! engine's path, so a webhook that hangs delays nobody but itself.
use super::AlertsConfig;
use crate::domain::alerts::{Alert, Severity};
use crate::domain::notifications::{
    AlertNotice, Channel, Delivery, NoticeEvent, WebhookUrl, retry_delay,
};
use crate::server::store::Store;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};

/// Notifications waiting for their channels; beyond this the newest are dropped (and said).
const QUEUE: usize = 10_000;
/// Webhook calls in flight at once.
const IN_FLIGHT: usize = 64;

struct Job {
    notice: AlertNotice,
    tags: Vec<String>,
}

#[derive(Clone)]
struct Sender {
    client: reqwest::Client,
    store: Arc<dyn Store>,
    attempts: u32,
    retry_base: Duration,
    retry_cap: Duration,
    timeout: Duration,
}

pub struct Notifier {
    queue: mpsc::Sender<Job>,
    sender: Sender,
    console_url: String,
}

/// The result of a test send, as the channel page shows it.
pub type TestOutcome = Result<(), String>;

impl Notifier {
    pub(super) fn start(config: &AlertsConfig, store: Arc<dyn Store>) -> reqwest::Result<Self> {
        let timeout = Duration::from_millis(config.webhook_timeout_ms);
        let client = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .timeout(timeout)
            // A redirect would carry the payload to an address nobody configured.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mcpops/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let sender = Sender {
            client,
            store,
            attempts: config.webhook_attempts,
            retry_base: Duration::from_millis(config.retry_base_ms),
            retry_cap: Duration::from_millis(config.retry_cap_ms),
            timeout,
        };
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(run(jobs, sender.clone()));
        Ok(Self {
            queue,
            sender,
            console_url: config.console_url.trim_end_matches('/').to_owned(),
        })
    }

    /// Queues a notice of `alert` for every channel that wants it; never waits.
    pub fn send(&self, alert: &Alert, event: NoticeEvent, tags: &[String]) {
        let notice = AlertNotice {
            event,
            alert_id: Some(alert.id),
            rule: Some(alert.rule),
            severity: alert.severity,
            state: Some(alert.state),
            target: alert.target_name.clone(),
            summary: alert.summary.clone(),
            at: Utc::now(),
            link: (!self.console_url.is_empty())
                .then(|| format!("{}/alerts/{}", self.console_url, alert.id)),
            runbook: Some(alert.rule.runbook().to_owned()),
        };
        let job = Job {
            notice,
            tags: tags.to_vec(),
        };
        if self.queue.try_send(job).is_err() {
            tracing::warn!(alert = alert.id, "notification queue full; notice dropped");
        }
    }

    /// Queues a notice about mcpops itself (not a target), such as a missed backup RPO; `path`
    /// is the console page that explains it.
    pub fn send_system(&self, event: NoticeEvent, severity: Severity, summary: String, path: &str) {
        let notice = AlertNotice {
            event,
            alert_id: None,
            rule: None,
            severity,
            state: None,
            target: "mcpops".into(),
            summary,
            at: Utc::now(),
            link: (!self.console_url.is_empty()).then(|| format!("{}{path}", self.console_url)),
            runbook: None,
        };
        if self
            .queue
            .try_send(Job {
                notice,
                tags: Vec::new(),
            })
            .is_err()
        {
            tracing::warn!("notification queue full; system notice dropped");
        }
    }

    /// Calls one channel once with a test notice, records the attempt and says how it went.
    pub async fn test(&self, channel: &Channel, url: &WebhookUrl, by: &str) -> TestOutcome {
        let notice = AlertNotice {
            event: NoticeEvent::Test,
            alert_id: None,
            rule: None,
            severity: Severity::Info,
            state: None,
            target: "mcpops".into(),
            summary: format!("Test notification sent by {by}"),
            at: Utc::now(),
            link: None,
            runbook: None,
        };
        self.sender.attempt(channel, url, &notice, 1).await
    }
}

async fn run(mut jobs: mpsc::Receiver<Job>, sender: Sender) {
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(job) = jobs.recv().await {
        let channels = match sender.store.channels().await {
            Ok(channels) => channels,
            Err(err) => {
                tracing::warn!(error = %err, "could not read channels; notice dropped");
                continue;
            }
        };
        let notice = Arc::new(job.notice);
        for (channel, url) in channels {
            if !channel.wants(notice.severity, &job.tags) {
                continue;
            }
            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                return;
            };
            let sender = sender.clone();
            let notice = notice.clone();
            tokio::spawn(async move {
                sender.deliver(&channel, &url, &notice).await;
                drop(permit);
            });
        }
    }
}

impl Sender {
    /// Tries until a call succeeds or the attempts run out, waiting longer each time.
    async fn deliver(&self, channel: &Channel, url: &WebhookUrl, notice: &AlertNotice) {
        for attempt in 1..=self.attempts {
            if self.attempt(channel, url, notice, attempt).await.is_ok() {
                return;
            }
            if attempt < self.attempts {
                tokio::time::sleep(retry_delay(attempt, self.retry_base, self.retry_cap)).await;
            }
        }
        tracing::warn!(
            channel = %channel.name,
            alert = ?notice.alert_id,
            attempts = self.attempts,
            "notification failed on every attempt"
        );
    }

    async fn attempt(
        &self,
        channel: &Channel,
        url: &WebhookUrl,
        notice: &AlertNotice,
        attempt: u32,
    ) -> TestOutcome {
        let outcome = match self
            .client
            .post(url.as_str())
            .json(&notice.body(channel.kind))
            .send()
            .await
        {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("HTTP status {}", response.status().as_u16())),
            Err(err) => Err(self.describe(err)),
        };
        let delivery = Delivery {
            channel_id: channel.id,
            alert_id: notice.alert_id,
            event: notice.event,
            attempt,
            at: Utc::now(),
            error: outcome.as_ref().err().cloned(),
        };
        if let Err(err) = self.store.record_delivery(&delivery).await {
            tracing::warn!(error = %err, channel = %channel.name, "could not record a delivery");
        }
        outcome
    }

    /// Says what went wrong without the address, whose path may hold a secret.
    fn describe(&self, err: reqwest::Error) -> String {
        if err.is_timeout() {
            format!("no answer within {} ms", self.timeout.as_millis())
        } else if err.is_connect() {
            "cannot connect".into()
        } else {
            format!("request failed: {}", err.without_url())
        }
    }
}
