//! Failed sign-ins reach the audit log once per burst, not once per request: an anonymous
//! loop must not grow the append-only log without bound. The first failure of a burst is
//! written at once, so an auditor sees an attack begin; the rest are counted and written as one
//! entry when the burst goes quiet (or every `LONGEST_BURST` while it goes on).
//!
//! A burst belongs to the account when the name exists, otherwise to the address: spraying
//! made-up names from one address is one burst.
use crate::domain::audit::{AuditEvent, Outcome, RequestOrigin};
use crate::server::store::Store;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A burst still going after this long is written and begun afresh.
const LONGEST_BURST: Duration = Duration::from_secs(600);
/// Bursts tracked at once; past it, new addresses share one burst.
const MAX_BURSTS: usize = 10_000;
/// Names listed in an address's summary; the count covers the rest.
const MAX_NAMES: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BurstKey {
    Account(String),
    Address(IpAddr),
    /// Every address beyond `MAX_BURSTS`.
    ManyAddresses,
}

#[derive(Debug)]
struct Burst {
    began: Instant,
    last_seen: Instant,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
    /// Failures after the first, which was written when it happened.
    more: u64,
    reasons: BTreeMap<String, u64>,
    names: BTreeSet<String>,
    origin: RequestOrigin,
}

/// One failed sign-in, as the form saw it.
pub struct Failure<'a> {
    pub name: &'a str,
    pub reason: &'a str,
    pub origin: &'a RequestOrigin,
}

#[derive(Debug)]
pub struct SignInFailures {
    quiet: Duration,
    bursts: Mutex<HashMap<BurstKey, Burst>>,
}

impl SignInFailures {
    /// A burst ends once no failure joined it for `quiet`.
    pub fn new(quiet: Duration) -> Self {
        Self {
            quiet,
            bursts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a failure; returns the audit entry to write now when it begins a burst.
    pub fn note(
        &self,
        key: BurstKey,
        failure: &Failure<'_>,
        now: Instant,
        at: DateTime<Utc>,
    ) -> Option<AuditEvent> {
        let mut bursts = self.bursts.lock().unwrap_or_else(|e| e.into_inner());
        let key = if bursts.len() >= MAX_BURSTS && !bursts.contains_key(&key) {
            BurstKey::ManyAddresses
        } else {
            key
        };
        if let Some(burst) = bursts.get_mut(&key) {
            burst.last_seen = now;
            burst.last_at = at;
            burst.more += 1;
            *burst.reasons.entry(failure.reason.to_owned()).or_default() += 1;
            if burst.names.len() < MAX_NAMES {
                burst.names.insert(failure.name.to_owned());
            }
            return None;
        }
        bursts.insert(
            key,
            Burst {
                began: now,
                last_seen: now,
                first_at: at,
                last_at: at,
                more: 0,
                reasons: BTreeMap::new(),
                names: BTreeSet::from([failure.name.to_owned()]),
                origin: failure.origin.clone(),
            },
        );
        Some(
            AuditEvent::new("auth", failure.name, "login", failure.name, failure.origin)
                .outcome(Outcome::Failure)
                .reason(failure.reason),
        )
    }

    /// Ends the bursts that went quiet or ran too long, as of `now`; `everything` ends all
    /// (at shutdown). Returns the summaries to write, for bursts with more than their first.
    pub fn close(&self, now: Instant, everything: bool) -> Vec<AuditEvent> {
        let mut bursts = self.bursts.lock().unwrap_or_else(|e| e.into_inner());
        let ended: Vec<BurstKey> = bursts
            .iter()
            .filter(|(_, b)| {
                everything
                    || now.duration_since(b.last_seen) >= self.quiet
                    || now.duration_since(b.began) >= LONGEST_BURST
            })
            .map(|(key, _)| key.clone())
            .collect();
        ended
            .into_iter()
            .filter_map(|key| {
                let burst = bursts.remove(&key)?;
                (burst.more > 0).then(|| summary(&key, &burst))
            })
            .collect()
    }
}

fn summary(key: &BurstKey, burst: &Burst) -> AuditEvent {
    let (actor, resource) = match key {
        BurstKey::Account(name) => (name.clone(), name.clone()),
        BurstKey::Address(ip) => ("anonymous".to_owned(), ip.to_string()),
        BurstKey::ManyAddresses => ("anonymous".to_owned(), "many addresses".to_owned()),
    };
    let reasons = burst
        .reasons
        .iter()
        .map(|(reason, n)| format!("{reason} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let seconds = (burst.last_at - burst.first_at).num_seconds();
    AuditEvent::new("auth", &actor, "login", &resource, &burst.origin)
        .outcome(Outcome::Failure)
        .reason(format!(
            "{} more failed sign-ins over {seconds} s: {reasons}",
            burst.more
        ))
        .details(&serde_json::json!({
            "count": burst.more,
            "first_at": burst.first_at.to_rfc3339(),
            "last_at": burst.last_at.to_rfc3339(),
            "reasons": burst.reasons,
            "names": burst.names,
        }))
}

/// Writes the summaries of ended bursts every second, and all of them at shutdown.
pub async fn report(
    failures: std::sync::Arc<SignInFailures>,
    store: std::sync::Arc<dyn Store>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let everything = tokio::select! {
            _ = tick.tick() => false,
            () = shutdown.cancelled() => true,
        };
        for event in failures.close(Instant::now(), everything) {
            if let Err(err) = store.append_audit(event).await {
                tracing::warn!(error = %err, "could not audit a burst of failed sign-ins");
            }
        }
        if everything {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure<'a>(name: &'a str, reason: &'a str, origin: &'a RequestOrigin) -> Failure<'a> {
        Failure {
            name,
            reason,
            origin,
        }
    }

    #[test]
    fn a_burst_is_written_at_its_first_failure_and_summed_when_it_goes_quiet() {
        let failures = SignInFailures::new(Duration::from_secs(60));
        let origin = RequestOrigin::local();
        let start = Instant::now();
        let at = Utc::now();
        let ip = BurstKey::Address([10, 0, 0, 1].into());
        let first = failures.note(
            ip.clone(),
            &failure("a1", "unknown user", &origin),
            start,
            at,
        );
        assert!(first.is_some());
        for n in 2..=30 {
            let name = format!("a{n}");
            let later = start + Duration::from_secs(n);
            let noted = failures.note(
                ip.clone(),
                &failure(&name, "unknown user", &origin),
                later,
                at,
            );
            assert!(noted.is_none(), "{n}");
        }
        assert!(
            failures
                .close(start + Duration::from_secs(60), false)
                .is_empty(),
            "not quiet yet"
        );
        let written = failures.close(start + Duration::from_secs(91), false);
        assert_eq!(written.len(), 1);
        assert!(
            written[0]
                .reason
                .as_deref()
                .unwrap_or("")
                .starts_with("29 more failed sign-ins")
        );
        assert!(
            written[0].details.contains("\"count\":29"),
            "{}",
            written[0].details
        );
        assert!(
            failures
                .close(start + Duration::from_secs(200), true)
                .is_empty(),
            "nothing left"
        );
        // The next failure begins a new burst.
        let again = failures.note(ip, &failure("a1", "unknown user", &origin), start, at);
        assert!(again.is_some());
    }

    #[test]
    fn a_lone_failure_writes_nothing_more_and_a_long_attack_is_summed_every_ten_minutes() {
        let failures = SignInFailures::new(Duration::from_secs(60));
        let origin = RequestOrigin::local();
        let start = Instant::now();
        let ann = BurstKey::Account("ann".into());
        failures.note(
            ann.clone(),
            &failure("ann", "wrong password", &origin),
            start,
            Utc::now(),
        );
        assert!(
            failures
                .close(start + Duration::from_secs(3_600), false)
                .is_empty()
        );
        for s in 0..=600 {
            let now = start + Duration::from_secs(s);
            failures.note(
                ann.clone(),
                &failure("ann", "wrong password", &origin),
                now,
                Utc::now(),
            );
        }
        let written = failures.close(start + Duration::from_secs(600), false);
        assert_eq!(written.len(), 1, "a burst runs at most ten minutes");
    }
}
