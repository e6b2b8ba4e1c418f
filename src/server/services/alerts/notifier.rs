//! The notifier: groups alert notices (see `domain::notifications::grouping`), then calls
//! each channel that wants them, retrying with backoff and jitter, off the engine's path, so
//! a receiver that hangs delays nobody but itself.
use super::AlertsConfig;
use super::escalator::{Escalator, FiringAlert};
use crate::domain::alerts::{Alert, Severity};
use crate::domain::incidents::Incident;
use crate::domain::notifications::{
    Acknowledged, AlertNotice, Batch, Channel, ChannelKind, Delivery, Destination, EmailRoute,
    Grouper, NoticeEvent, SmtpSecurity, retry_delay,
};
use crate::server::collector::fetch;
use crate::server::store::Store;
use chrono::Utc;
use ipnet::IpNet;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};

/// Notifications waiting for their channels; beyond this the newest are dropped (and said).
const QUEUE: usize = 10_000;
/// Calls in flight at once.
const IN_FLIGHT: usize = 64;

struct Job {
    notice: AlertNotice,
    tags: Vec<String>,
}

#[derive(Clone)]
pub(super) struct Sender {
    client: reqwest::Client,
    /// The CA that SMTP servers' certificates may also chain to (`alerts.smtp_ca_file`).
    smtp_ca: Option<Certificate>,
    store: Arc<dyn Store>,
    /// `[collector] deny_networks`: names are refused by the client's resolver, addresses
    /// here.
    deny: Arc<[IpNet]>,
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

/// What a test send reaches: a channel, whose deliveries record it, or a contact method.
#[derive(Clone, Copy)]
pub enum TestTarget<'a> {
    Channel(&'a Channel),
    Contact(ChannelKind),
}

/// The result of a test send, as the channel page shows it.
pub type TestOutcome = Result<(), String>;

/// Why one attempt failed, and whether trying again could help: a refused password, a bad
/// address or a 4xx answer stays refused.
pub(super) struct Failure {
    pub(super) reason: String,
    permanent: bool,
}

impl Failure {
    fn permanent(reason: String) -> Self {
        Self {
            reason,
            permanent: true,
        }
    }
}

impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Self {
            reason,
            permanent: false,
        }
    }
}

/// Why the notifier could not start.
#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    #[error("cannot build the HTTP client for webhooks")]
    Client(#[from] reqwest::Error),
    #[error("cannot use [alerts] smtp_ca_file {path}: {reason}")]
    SmtpCa { path: String, reason: String },
}

/// Who acknowledged an alert, for the notice that says so.
pub struct Acknowledgement<'a> {
    pub by: &'a str,
    pub note: &'a str,
}

impl Notifier {
    pub(super) fn start(
        config: &AlertsConfig,
        store: Arc<dyn Store>,
        deny: &[IpNet],
    ) -> Result<Self, NotifierError> {
        let timeout = Duration::from_millis(config.webhook_timeout_ms);
        let client = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .timeout(timeout)
            // A redirect would carry the payload to an address nobody configured.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mcpops/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(fetch::deny_resolver(deny))
            .build()?;
        let smtp_ca = if config.smtp_ca_file.is_empty() {
            None
        } else {
            let failed = |reason: String| NotifierError::SmtpCa {
                path: config.smtp_ca_file.clone(),
                reason,
            };
            let pem = std::fs::read(&config.smtp_ca_file).map_err(|e| failed(e.to_string()))?;
            Some(Certificate::from_pem(&pem).map_err(|e| failed(e.to_string()))?)
        };
        let sender = Sender {
            client,
            smtp_ca,
            store: store.clone(),
            deny: deny.into(),
            attempts: config.webhook_attempts,
            retry_base: Duration::from_millis(config.retry_base_ms),
            retry_cap: Duration::from_millis(config.retry_cap_ms),
            timeout,
        };
        let console_url = config.console_url.trim_end_matches('/').to_owned();
        let grouper = Grouper::new(config.group_timing(), config.group_by.clone());
        let alerts_link = (!console_url.is_empty()).then(|| format!("{console_url}/alerts"));
        let (queue, jobs) = mpsc::channel(QUEUE);
        let escalator = Escalator::start(store, sender.clone(), console_url.clone());
        tokio::spawn(run(jobs, sender.clone(), grouper, alerts_link, escalator));
        Ok(Self {
            queue,
            sender,
            console_url,
        })
    }

    fn link(&self, path: &str) -> Option<String> {
        (!self.console_url.is_empty()).then(|| format!("{}{path}", self.console_url))
    }

    /// Queues a notice of `alert` for every channel that wants it; never waits.
    pub fn send(&self, alert: &Alert, event: NoticeEvent, tags: &[String]) {
        self.queue_alert(alert, event, tags, None);
    }

    /// Tells the channels that someone has taken `alert` on (PagerDuty stops paging).
    pub fn send_acknowledged(&self, alert: &Alert, tags: &[String], ack: Acknowledgement<'_>) {
        self.queue_alert(alert, NoticeEvent::Acknowledged, tags, Some(ack));
    }

    fn queue_alert(
        &self,
        alert: &Alert,
        event: NoticeEvent,
        tags: &[String],
        ack: Option<Acknowledgement<'_>>,
    ) {
        let notice = AlertNotice {
            alert_id: Some(alert.id),
            rule: Some(alert.rule),
            state: Some(alert.state),
            link: self.link(&format!("/alerts/{}", alert.id)),
            runbook: Some(alert.rule.runbook().to_owned()),
            by: ack.as_ref().map(|a| a.by.to_owned()),
            note: ack.map(|a| a.note.to_owned()),
            // The grouper gives it the key of the alert's group.
            ..AlertNotice::bare(
                event,
                alert.severity,
                alert.target_name.clone(),
                alert.summary.clone(),
                Utc::now(),
                String::new(),
            )
        };
        self.queue(notice, tags.to_vec());
    }

    /// Queues news of an incident (declared, updated, resolved) for the channels that want
    /// its severity and its targets' `tags`; `summary` says what happened.
    pub fn send_incident(
        &self,
        incident: &Incident,
        event: NoticeEvent,
        summary: String,
        tags: Vec<String>,
    ) {
        let path = format!("/incidents/{}", incident.id);
        let notice = AlertNotice {
            link: self.link(&path),
            runbook: incident.runbook.clone(),
            ..AlertNotice::bare(
                event,
                incident.severity,
                format!("incident #{}", incident.id),
                summary,
                Utc::now(),
                format!("mcpops{path}"),
            )
        };
        self.queue(notice, tags);
    }

    /// Queues a notice about mcpops itself (not a target), such as a missed backup RPO; `path`
    /// is the console page that explains it, and keys its firing and resolved notices.
    pub fn send_system(&self, event: NoticeEvent, severity: Severity, summary: String, path: &str) {
        let notice = AlertNotice {
            link: self.link(path),
            ..AlertNotice::bare(
                event,
                severity,
                "mcpops".into(),
                summary,
                Utc::now(),
                format!("mcpops/system{path}"),
            )
        };
        self.queue(notice, Vec::new());
    }

    fn queue(&self, notice: AlertNotice, tags: Vec<String>) {
        let alert = notice.alert_id;
        if self.queue.try_send(Job { notice, tags }).is_err() {
            tracing::warn!(alert = ?alert, "notification queue full; notice dropped");
        }
    }

    /// Calls a channel or contact method once with a test notice and says how it went (a
    /// channel's attempt is recorded). PagerDuty is sent the resolve right after, so the test
    /// leaves no incident open.
    pub async fn test(
        &self,
        target: TestTarget<'_>,
        destination: &Destination,
        by: &str,
    ) -> TestOutcome {
        let at = Utc::now();
        let mut notice = AlertNotice::bare(
            NoticeEvent::Test,
            Severity::Info,
            "mcpops".into(),
            format!("Test notification sent by {by}"),
            at,
            format!("mcpops/test/{}", at.timestamp_millis()),
        );
        let send = |notice: AlertNotice| async move {
            match target {
                TestTarget::Channel(channel) => {
                    self.sender.attempt(channel, destination, &notice, 1).await
                }
                TestTarget::Contact(kind) => self.sender.call(kind, destination, &notice).await,
            }
            .map_err(|failure| failure.reason)
        };
        send(notice.clone()).await?;
        let kind = match target {
            TestTarget::Channel(channel) => channel.kind,
            TestTarget::Contact(kind) => kind,
        };
        if kind == ChannelKind::PagerDuty {
            notice.event = NoticeEvent::Resolved;
            send(notice).await?;
        }
        Ok(())
    }
}

/// What is ready to go out after a job or a group's timer.
enum Outgoing {
    /// A notice about mcpops itself or an incident, with its targets' tags: not grouped.
    Ungrouped(AlertNotice, Vec<String>),
    Acknowledged(Acknowledged),
    Batch(Batch),
}

impl Outgoing {
    /// The notice `channel` gets, if it wants any of this.
    fn for_channel(&self, channel: &Channel, alerts_link: Option<&str>) -> Option<AlertNotice> {
        match self {
            Self::Ungrouped(notice, tags) => {
                channel.wants(notice.severity, tags).then(|| notice.clone())
            }
            Self::Acknowledged(ack) => {
                let wanted = channel.wants(ack.notice.severity, &ack.tags)
                    && channel.kind.hears(NoticeEvent::Acknowledged)
                    // PagerDuty pages per group: it stops once the whole group is taken on.
                    && (channel.kind != ChannelKind::PagerDuty
                        || ack.group_acknowledged_for(|severity, tags| channel.wants(severity, tags)));
                wanted.then(|| ack.notice.clone())
            }
            Self::Batch(batch) => {
                let wants = |severity, tags: &[String]| channel.wants(severity, tags);
                let mine = batch.filtered(wants)?;
                // PagerDuty keeps one incident per group: a resolution ends it only once
                // nothing of the group that this channel wants is open.
                let quiet = channel.kind == ChannelKind::PagerDuty
                    && mine.firing.is_empty()
                    && !batch.closed_for(wants);
                (!quiet).then(|| mine.notice(alerts_link))
            }
        }
    }
}

/// Takes jobs as they come, holds alert notices in their groups, and sends whatever is due.
async fn run(
    mut jobs: mpsc::Receiver<Job>,
    sender: Sender,
    mut grouper: Grouper,
    alerts_link: Option<String>,
    escalator: Escalator,
) {
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let job = match grouper.next_due() {
            Some(due) => {
                let wait = (due - Utc::now()).to_std().unwrap_or_default();
                tokio::select! {
                    job = jobs.recv() => match job {
                        Some(job) => Some(job),
                        None => return,
                    },
                    () = tokio::time::sleep(wait) => None,
                }
            }
            None => match jobs.recv().await {
                Some(job) => Some(job),
                None => return,
            },
        };
        let mut outgoing = Vec::new();
        if let Some(Job { notice, tags }) = job {
            if notice.alert_id.is_none() {
                outgoing.push(Outgoing::Ungrouped(notice, tags));
            } else if let Some(ack) = grouper.add(notice, tags, Utc::now()) {
                outgoing.push(Outgoing::Acknowledged(ack));
            }
        }
        outgoing.extend(grouper.due(Utc::now()).into_iter().map(Outgoing::Batch));
        if outgoing.is_empty() {
            continue;
        }
        for out in &outgoing {
            if let Outgoing::Batch(batch) = out
                && !batch.repeat
                && !batch.firing.is_empty()
            {
                let firing = batch
                    .firing
                    .iter()
                    .filter_map(|(notice, tags)| {
                        Some(FiringAlert {
                            alert_id: notice.alert_id?,
                            severity: notice.severity,
                            tags: tags.clone(),
                        })
                    })
                    .collect();
                tokio::spawn(escalator.clone().open(batch.key.clone(), firing));
            }
        }
        let channels = match sender.store.channels().await {
            Ok(channels) => channels,
            Err(err) => {
                tracing::warn!(error = %err, "could not read channels; notices dropped");
                continue;
            }
        };
        for out in &outgoing {
            for (channel, destination) in &channels {
                let Some(notice) = out.for_channel(channel, alerts_link.as_deref()) else {
                    continue;
                };
                let Ok(permit) = in_flight.clone().acquire_owned().await else {
                    return;
                };
                let sender = sender.clone();
                let (channel, destination) = (channel.clone(), destination.clone());
                tokio::spawn(async move {
                    sender.deliver(&channel, &destination, &notice).await;
                    drop(permit);
                });
            }
        }
    }
}

impl Sender {
    /// Tries until a call succeeds, fails for good, or the attempts run out, recording each.
    async fn deliver(&self, channel: &Channel, destination: &Destination, notice: &AlertNotice) {
        let outcome = self
            .retrying(|attempt| self.attempt(channel, destination, notice, attempt))
            .await;
        if let Err(failure) = outcome {
            tracing::warn!(
                channel = %channel.name,
                alert = ?notice.alert_id,
                reason = %failure.reason,
                permanent = failure.permanent,
                "notification not delivered"
            );
        }
    }

    /// Calls `call` with attempt numbers from 1 until it succeeds, fails for good, or the
    /// attempts run out, waiting longer (with jitter) each time; the last failure is returned.
    pub(super) async fn retrying<F, Fut>(&self, mut call: F) -> Result<(), Failure>
    where
        F: FnMut(u32) -> Fut,
        Fut: std::future::Future<Output = Result<(), Failure>>,
    {
        let mut attempt = 1;
        loop {
            match call(attempt).await {
                Ok(()) => return Ok(()),
                Err(failure) if failure.permanent || attempt >= self.attempts => {
                    return Err(failure);
                }
                Err(_) => {}
            }
            let jitter = rand::random::<f64>();
            tokio::time::sleep(retry_delay(
                attempt,
                self.retry_base,
                self.retry_cap,
                jitter,
            ))
            .await;
            attempt += 1;
        }
    }

    /// One call of `destination` with `notice`, in the form `kind` takes.
    pub(super) async fn call(
        &self,
        kind: ChannelKind,
        destination: &Destination,
        notice: &AlertNotice,
    ) -> Result<(), Failure> {
        match destination {
            Destination::Http(url) => {
                let body = match kind {
                    ChannelKind::Slack => notice.slack_body(),
                    ChannelKind::Teams => notice.teams_body(),
                    _ => notice.webhook_body(),
                };
                self.post(url.as_str(), &body).await
            }
            Destination::PagerDuty { url, routing_key } => {
                self.post(url.as_str(), &notice.pagerduty_body(routing_key))
                    .await
            }
            Destination::Email(route) => self.mail(route, notice).await,
        }
    }

    async fn attempt(
        &self,
        channel: &Channel,
        destination: &Destination,
        notice: &AlertNotice,
        attempt: u32,
    ) -> Result<(), Failure> {
        let outcome = self.call(channel.kind, destination, notice).await;
        let delivery = Delivery {
            channel_id: channel.id,
            alert_id: notice.alert_id,
            event: notice.event,
            attempt,
            at: Utc::now(),
            error: outcome.as_ref().err().map(|failure| {
                if failure.permanent {
                    format!("{} (not retried)", failure.reason)
                } else {
                    failure.reason.clone()
                }
            }),
        };
        let members: Vec<i64> = notice
            .firing
            .iter()
            .chain(&notice.resolved)
            .filter_map(|m| m.alert_id)
            .collect();
        let recorded = if members.is_empty() {
            self.store.record_delivery(&delivery).await
        } else {
            self.store.record_group_delivery(&delivery, &members).await
        };
        if let Err(err) = recorded {
            tracing::warn!(error = %err, channel = %channel.name, "could not record a delivery");
        }
        outcome
    }

    async fn post(&self, url: &str, body: &serde_json::Value) -> Result<(), Failure> {
        let parsed = reqwest::Url::parse(url).map_err(|e| Failure::permanent(e.to_string()))?;
        fetch::allowed_host(&parsed, &self.deny).map_err(|e| Failure::permanent(e.to_string()))?;
        match self.client.post(parsed).json(body).send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => {
                let status = response.status();
                let reason = format!("HTTP status {}", status.as_u16());
                // A timeout or rate limit may pass; any other 4xx says the request is wrong.
                let passing = matches!(status.as_u16(), 408 | 425 | 429);
                Err(if status.is_client_error() && !passing {
                    Failure::permanent(reason)
                } else {
                    reason.into()
                })
            }
            Err(err) => Err(self.describe(err).into()),
        }
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

    /// Sends one mail: connects, upgrades to TLS (or starts with it), signs in when the
    /// channel has a user, and hands the message over, all within the call deadline.
    async fn mail(&self, route: &EmailRoute, notice: &AlertNotice) -> Result<(), Failure> {
        // lettre resolves names itself: only an address can be checked here.
        if let Ok(ip) = route.server.host.parse::<std::net::IpAddr>()
            && let Some(network) = fetch::denied_network(ip, &self.deny)
        {
            return Err(Failure::permanent(format!(
                "address {ip} is in {network}, which [collector] deny_networks refuses: \
                 nothing was sent"
            )));
        }
        let message = Message::builder()
            .from(
                route
                    .from
                    .parse()
                    .map_err(|e| Failure::permanent(format!("from address: {e}")))?,
            )
            .subject(notice.email_subject())
            .header(lettre::message::header::ContentType::TEXT_PLAIN);
        let message = route
            .to
            .iter()
            .try_fold(message, |message, to| to.parse().map(|to| message.to(to)))
            .map_err(|e| Failure::permanent(format!("to address: {e}")))?
            .body(notice.email_text())
            .map_err(|e| format!("cannot build the mail: {e}"))?;
        let mut tls = TlsParameters::builder(route.server.host.clone());
        if let Some(ca) = &self.smtp_ca {
            tls = tls.add_root_certificate(ca.clone());
        }
        let tls = tls
            .build_rustls()
            .map_err(|e| format!("TLS set-up failed: {e}"))?;
        let tls = match route.server.security {
            SmtpSecurity::StartTls => Tls::Required(tls),
            SmtpSecurity::Tls => Tls::Wrapper(tls),
        };
        let mut transport =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(route.server.host.as_str())
                .port(route.server.port)
                .tls(tls)
                .timeout(Some(self.timeout));
        if !route.username.is_empty() {
            transport = transport.credentials(Credentials::new(
                route.username.clone(),
                route.password.clone(),
            ));
        }
        let transport = transport.build();
        // lettre's timeout covers each read and write; this bounds the whole exchange.
        match tokio::time::timeout(self.timeout * 2, transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(Failure {
                reason: describe_smtp(&err),
                permanent: err.is_permanent(),
            }),
            Err(_) => Err(Failure::from(format!(
                "no answer within {} ms",
                (self.timeout * 2).as_millis()
            ))),
        }
    }
}

/// An SMTP failure in a line, without credentials (lettre's errors never carry them).
fn describe_smtp(err: &lettre::transport::smtp::Error) -> String {
    if err.is_timeout() {
        "no answer from the mail server".into()
    } else if err.status().is_some() {
        format!("the mail server refused: {err}")
    } else {
        format!("mail failed: {err}")
    }
}
