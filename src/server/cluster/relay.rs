//! Live updates between replicas: each replica sends the poll and alert updates it makes
//! through PostgreSQL `NOTIFY`, and publishes what the others send to its own live pages, so
//! a browser sees the whole fleet whichever replica it is connected to.
use crate::domain::alerts::AlertUpdate;
use crate::domain::observation::LiveUpdate;
use crate::server::collector::hub::LiveHub;
use crate::server::services::alerts::Alerts;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const CHANNEL: &str = "mcpops_live";
/// PostgreSQL refuses `NOTIFY` payloads of 8000 bytes or more.
const MAX_PAYLOAD: usize = 7_900;
/// Updates per message before the size check splits it further.
const PER_MESSAGE: usize = 40;
/// Updates waiting to be sent; beyond this they are dropped rather than slowing ingest.
const OUTBOX: usize = 64 * 1024;

#[derive(Serialize, Deserialize)]
struct Envelope {
    /// The sending process, so it can skip its own messages.
    from: String,
    #[serde(default)]
    polls: Vec<LiveUpdate>,
    #[serde(default)]
    alerts: Vec<AlertUpdate>,
}

enum Outgoing {
    Poll(LiveUpdate),
    Alert(AlertUpdate),
}

/// The sending side; cheap to clone.
#[derive(Clone)]
pub struct Relay {
    outbox: mpsc::Sender<Outgoing>,
}

impl Relay {
    /// Connects a small pool of its own (one connection listens, one sends) and starts
    /// relaying in both directions.
    pub fn start(
        database_url: &str,
        hub: LiveHub,
        alerts: Arc<Alerts>,
    ) -> Result<Self, sqlx::Error> {
        let options = PgConnectOptions::from_str(database_url)?.application_name("mcpops-relay");
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(options);
        let origin = format!("{:016x}", rand::rng().random::<u64>());
        let (outbox, pending) = mpsc::channel(OUTBOX);
        tokio::spawn(send(pool.clone(), origin.clone(), pending));
        tokio::spawn(receive(pool, origin, hub, alerts));
        Ok(Self { outbox })
    }

    pub fn poll(&self, update: LiveUpdate) {
        self.offer(Outgoing::Poll(update));
    }

    pub fn alert(&self, update: AlertUpdate) {
        self.offer(Outgoing::Alert(update));
    }

    fn offer(&self, outgoing: Outgoing) {
        if self.outbox.try_send(outgoing).is_err() {
            tracing::debug!("relay outbox full; an update reaches only this replica's pages");
        }
    }
}

async fn send(pool: PgPool, origin: String, mut pending: mpsc::Receiver<Outgoing>) {
    let mut taken = Vec::with_capacity(1024);
    while pending.recv_many(&mut taken, 1024).await > 0 {
        let mut polls = Vec::new();
        let mut alerts = Vec::new();
        for outgoing in taken.drain(..) {
            match outgoing {
                Outgoing::Poll(update) => polls.push(update),
                Outgoing::Alert(update) => alerts.push(update),
            }
        }
        let mut payloads = Vec::new();
        for chunk in polls.chunks(PER_MESSAGE) {
            pack(&origin, chunk.to_vec(), Vec::new(), &mut payloads);
        }
        for chunk in alerts.chunks(PER_MESSAGE) {
            pack(&origin, Vec::new(), chunk.to_vec(), &mut payloads);
        }
        for payload in payloads {
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(payload)
                .execute(&pool)
                .await;
            if let Err(err) = sent {
                tracing::warn!(error = %err, "cannot relay live updates to other replicas");
                break;
            }
        }
    }
}

/// Serializes one message, halving it until it fits; a single update too large (a very long
/// error text) is left to this replica's pages.
fn pack(origin: &str, polls: Vec<LiveUpdate>, alerts: Vec<AlertUpdate>, out: &mut Vec<String>) {
    let count = polls.len() + alerts.len();
    let envelope = Envelope {
        from: origin.to_owned(),
        polls,
        alerts,
    };
    let Ok(payload) = serde_json::to_string(&envelope) else {
        return;
    };
    if payload.len() < MAX_PAYLOAD {
        out.push(payload);
    } else if count > 1 {
        let Envelope {
            mut polls,
            mut alerts,
            ..
        } = envelope;
        let later_polls = polls.split_off(polls.len() / 2);
        let later_alerts = alerts.split_off(alerts.len() / 2);
        pack(origin, polls, alerts, out);
        pack(origin, later_polls, later_alerts, out);
    }
}

async fn receive(pool: PgPool, origin: String, hub: LiveHub, alerts: Arc<Alerts>) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for other replicas' updates; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        if let Err(err) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %err, "cannot listen for other replicas' updates; retrying");
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        loop {
            // After a lost connection the listener reconnects on the next call; what was sent
            // meanwhile is missed, and the pages' next updates cover it.
            let notification = match listener.recv().await {
                Ok(notification) => notification,
                Err(err) => {
                    tracing::warn!(error = %err, "lost the other replicas' updates for a moment");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let Ok(envelope) = serde_json::from_str::<Envelope>(notification.payload()) else {
                tracing::warn!("ignoring a malformed relay message");
                continue;
            };
            if envelope.from == origin {
                continue;
            }
            hub.publish_local(envelope.polls);
            for update in envelope.alerts {
                alerts.publish_local(update);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::observation::TargetState;

    fn update(error: Option<String>) -> LiveUpdate {
        LiveUpdate {
            target_id: 1,
            at_ms: 0,
            state: TargetState::Down,
            p95_ms: None,
            error_ratio: None,
            rps: None,
            error,
            probe_ms: None,
        }
    }

    #[test]
    fn messages_are_split_to_fit_notify_and_lose_nothing_that_fits() {
        let mut out = Vec::new();
        let long = Some("x".repeat(1_000));
        pack("o", vec![update(long); 40], Vec::new(), &mut out);
        assert!(out.len() >= 6, "40 kB of updates need several messages");
        let mut relayed = 0;
        for payload in &out {
            assert!(payload.len() < MAX_PAYLOAD);
            relayed += serde_json::from_str::<Envelope>(payload)
                .unwrap()
                .polls
                .len();
        }
        assert_eq!(relayed, 40);

        let mut out = Vec::new();
        pack(
            "o",
            vec![update(Some("x".repeat(9_000)))],
            Vec::new(),
            &mut out,
        );
        assert!(
            out.is_empty(),
            "one update too large for NOTIFY stays local"
        );
    }
}
