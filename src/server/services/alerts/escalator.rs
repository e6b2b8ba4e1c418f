//! The escalator: pages the people an escalation policy names, level by level, until one of
//! the group's alerts is acknowledged, then sends the resolution to everyone it paged. Its
//! state is in the store, so a restart or another replica carries on where it stopped, and
//! each step is claimed before it is paged, so two replicas never page it twice.
use super::notifier::{Failure, Sender};
use crate::domain::alerts::Severity;
use crate::domain::audit::{AuditEvent, RequestOrigin};
use crate::domain::escalation::{
    ContactMethod, Due, Escalation, EscalationEnd, EscalationPolicy, Page, Step, level_people,
    next_move, route,
};
use crate::domain::notifications::{AlertNotice, ChannelKind, Destination, NoticeEvent};
use crate::server::store::Store;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How often escalations are looked at when nothing wakes the escalator sooner.
const TICK: Duration = Duration::from_secs(1);

/// Who the escalator's steps are recorded as.
pub const ESCALATOR_ACTOR: &str = "system:escalation";

/// An alert of a group notice that is firing, as routing sees it.
pub(super) struct FiringAlert {
    pub alert_id: i64,
    pub severity: Severity,
    pub tags: Vec<String>,
}

#[derive(Clone)]
pub(super) struct Escalator {
    store: Arc<dyn Store>,
    sender: Sender,
    console_url: String,
    wake: Arc<Notify>,
}

fn event(action: &str, escalation_id: i64) -> AuditEvent {
    AuditEvent::new(
        "escalation",
        ESCALATOR_ACTOR,
        action,
        &format!("escalation:{escalation_id}"),
        &RequestOrigin::local(),
    )
}

impl Escalator {
    /// Starts the loop that pages what is due.
    pub(super) fn start(store: Arc<dyn Store>, sender: Sender, console_url: String) -> Self {
        let escalator = Self {
            store,
            sender,
            console_url,
            wake: Arc::new(Notify::new()),
        };
        tokio::spawn(escalator.clone().run());
        escalator
    }

    /// Adds a group's newly firing alerts to the escalations of the policies that route
    /// them, opening those that are not under way.
    pub(super) async fn open(self, group_key: String, firing: Vec<FiringAlert>) {
        let policies = match self.store.escalation_policies().await {
            Ok(policies) => policies,
            Err(err) => {
                tracing::warn!(error = %err, "could not read escalation policies; nobody paged");
                return;
            }
        };
        let mut routed: BTreeMap<i64, (&EscalationPolicy, Vec<i64>)> = BTreeMap::new();
        for alert in firing {
            if let Some(policy) = route(&policies, alert.severity, &alert.tags) {
                routed
                    .entry(policy.id)
                    .or_insert_with(|| (policy, Vec::new()))
                    .1
                    .push(alert.alert_id);
            }
        }
        for (policy, alert_ids) in routed.into_values() {
            let audit = AuditEvent::new(
                "escalation",
                ESCALATOR_ACTOR,
                "open",
                "escalation",
                &RequestOrigin::local(),
            )
            .details(&serde_json::json!({
                "group": group_key,
                "policy": policy.name,
                "alerts": alert_ids.len(),
            }));
            let opened = self
                .store
                .open_escalation(&group_key, policy, &alert_ids, Utc::now(), audit)
                .await;
            match opened {
                Ok(Some(_)) => self.wake.notify_one(),
                Ok(None) => {}
                Err(err) => tracing::warn!(error = %err, "could not open an escalation"),
            }
        }
    }

    async fn run(self) {
        loop {
            if let Err(err) = self.tick().await {
                tracing::warn!(error = %err, "escalations not looked at");
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(TICK) => {}
            }
        }
    }

    async fn tick(&self) -> Result<(), crate::server::store::StoreError> {
        let unresolved = self.store.unresolved_escalations().await?;
        if unresolved.is_empty() {
            return Ok(());
        }
        let policies = self.store.escalation_policies().await?;
        let now = Utc::now();
        for u in unresolved {
            let e = &u.escalation;
            let policy = e
                .policy_id
                .and_then(|id| policies.iter().find(|p| p.id == id));
            let due = next_move(e, policy, u.open_alerts, u.acknowledged_by.as_deref(), now);
            let outcome = match (due, policy) {
                (None, _) => Ok(()),
                (Some(Due::Page(step)), Some(policy)) => self.page(e, policy, step, now).await,
                (Some(Due::Page(_)), None) => self.end(e, EscalationEnd::PolicyGone, now).await,
                (Some(Due::End(end)), _) => self.end(e, end, now).await,
                (Some(Due::Resolve), _) => self.resolve(e, now).await,
            };
            if let Err(err) = outcome {
                tracing::warn!(error = %err, escalation = e.id, "escalation step failed");
            }
        }
        Ok(())
    }

    /// Claims `step`, then pages everyone its level names, each on all their contact
    /// methods; a person with none, and a schedule with nobody on call, are recorded too.
    /// Everything a page needs is read before the claim, so a claimed level is never
    /// skipped for want of it.
    async fn page(
        &self,
        e: &Escalation,
        policy: &EscalationPolicy,
        step: Step,
        now: DateTime<Utc>,
    ) -> Result<(), crate::server::store::StoreError> {
        let Some(level) = policy.levels.get(step.level as usize) else {
            return self.end(e, EscalationEnd::Exhausted, now).await;
        };
        let schedules = self.store.schedules(now).await?;
        let on_call = |id: i64| {
            let schedule = schedules.iter().find(|s| s.id == id)?;
            let coverage = schedule.coverage(now, now + chrono::Duration::minutes(1));
            coverage.now_and_next(now).0.map(|shift| shift.user)
        };
        let (people, uncovered) = level_people(level, on_call);
        let methods = self.store.contact_methods_of(&people).await?;
        let notice = self.notice(e, NoticeEvent::Firing, Some(step)).await?;
        let audit = event("page", e.id).details(&serde_json::json!({
            "policy": policy.name,
            "level": step.level + 1,
            "round": step.round + 1,
            "people": people,
            "nobody_on_call": uncovered,
        }));
        if !self
            .store
            .claim_step(e, step, now + policy.wait(step), audit)
            .await?
        {
            return Ok(());
        }
        let page = |username: String, method: Option<&ContactMethod>, error: Option<String>| Page {
            escalation_id: e.id,
            step,
            event: NoticeEvent::Firing,
            username,
            method: method.map(|m| m.label.clone()).unwrap_or_default(),
            method_id: method.map(|m| m.id),
            kind: method.map(|m| m.kind),
            at: now,
            pending: false,
            error,
        };
        for schedule in uncovered {
            let error = format!("nobody is on call for {schedule}");
            self.store
                .record_page(&page(String::new(), None, Some(error)))
                .await?;
        }
        for person in people {
            let mine: Vec<&(ContactMethod, Destination)> = methods
                .iter()
                .filter(|(m, _)| m.username == person)
                .collect();
            if mine.is_empty() {
                let error = Some("has no contact method".to_owned());
                self.store.record_page(&page(person, None, error)).await?;
                continue;
            }
            for (method, destination) in mine {
                let sent = page(person.clone(), Some(method), None);
                self.send(sent, method.kind, destination.clone(), notice.clone())
                    .await?;
            }
        }
        Ok(())
    }

    /// Records the page as pending, then sends it off the escalator's loop with the
    /// notifier's retries and records how it went. Recorded first, so whatever follows
    /// (the acknowledgement, the resolution) reaches it even while it is still being sent.
    async fn send(
        &self,
        mut page: Page,
        kind: ChannelKind,
        destination: Destination,
        notice: AlertNotice,
    ) -> Result<(), crate::server::store::StoreError> {
        page.pending = true;
        let id = self.store.record_page(&page).await?;
        let escalator = self.clone();
        tokio::spawn(async move {
            let sender = &escalator.sender;
            let outcome = sender
                .retrying(|_| sender.call(kind, &destination, &notice))
                .await;
            let error = outcome.err().map(|failure: Failure| failure.reason);
            if let Err(err) = escalator.store.finish_page(id, Utc::now(), error).await {
                tracing::warn!(error = %err, "could not record a page");
            }
        });
        Ok(())
    }

    async fn end(
        &self,
        e: &Escalation,
        end: EscalationEnd,
        now: DateTime<Utc>,
    ) -> Result<(), crate::server::store::StoreError> {
        let audit = event("stop", e.id).reason(end.describe());
        if !self.store.end_escalation(e.id, &end, now, audit).await? {
            return Ok(());
        }
        if let EscalationEnd::Acknowledged { by } = &end {
            // Services that keep paging until told (PagerDuty) stop; email is not told.
            self.tell_paged(e, NoticeEvent::Acknowledged, Some(by))
                .await?;
        }
        Ok(())
    }

    async fn resolve(
        &self,
        e: &Escalation,
        now: DateTime<Utc>,
    ) -> Result<(), crate::server::store::StoreError> {
        if self
            .store
            .resolve_escalation(e.id, now, event("resolve", e.id))
            .await?
        {
            self.tell_paged(e, NoticeEvent::Resolved, None).await?;
        }
        Ok(())
    }

    /// Sends `event` once to each contact method a page was sent to (reached or not: a
    /// page that timed out may still have arrived). A method deleted since is not told.
    async fn tell_paged(
        &self,
        e: &Escalation,
        event: NoticeEvent,
        by: Option<&str>,
    ) -> Result<(), crate::server::store::StoreError> {
        let pages = self.store.pages(e.id).await?;
        let sent_to: Vec<i64> = pages
            .iter()
            .filter(|p| p.event == NoticeEvent::Firing)
            .filter_map(|p| p.method_id)
            .collect();
        if sent_to.is_empty() {
            return Ok(());
        }
        let mut people: Vec<String> = pages.iter().map(|p| p.username.clone()).collect();
        people.dedup();
        let mut notice = self.notice(e, event, None).await?;
        notice.by = by.map(str::to_owned);
        for (method, destination) in self.store.contact_methods_of(&people).await? {
            if sent_to.contains(&method.id) && method.kind.hears(event) {
                let told = Page {
                    escalation_id: e.id,
                    step: e.step,
                    event,
                    username: method.username.clone(),
                    method: method.label.clone(),
                    method_id: Some(method.id),
                    kind: Some(method.kind),
                    at: Utc::now(),
                    pending: false,
                    error: None,
                };
                self.send(told, method.kind, destination, notice.clone())
                    .await?;
            }
        }
        Ok(())
    }

    /// What a page says: the alert when the escalation has one, otherwise the first and a
    /// count, keyed by the escalation so PagerDuty keeps one incident across levels. When its
    /// alerts were deleted (with their target), it says so, so the resolution still goes out.
    async fn notice(
        &self,
        e: &Escalation,
        event: NoticeEvent,
        step: Option<Step>,
    ) -> Result<AlertNotice, crate::server::store::StoreError> {
        let dedup_key = format!("mcpops/escalation/{}", e.id);
        let ids = self.store.escalation_alert_ids(e.id).await?;
        let Some(first) = ids.first() else {
            return Ok(AlertNotice::bare(
                event,
                Severity::Warning,
                "mcpops".into(),
                format!("{}: its alerts were deleted", e.group_key),
                Utc::now(),
                dedup_key,
            ));
        };
        let (alert, _) = self.store.alert(*first).await?;
        let mut summary = match ids.len() {
            1 => alert.summary.clone(),
            n => format!(
                "{n} alerts of {}, first: {}",
                alert.rule.as_str(),
                alert.summary
            ),
        };
        if let Some(step) = step {
            let round = if step.round > 0 {
                format!(", round {}", step.round + 1)
            } else {
                String::new()
            };
            summary = format!(
                "[{}, level {}{round}] {summary}",
                e.policy_name,
                step.level + 1
            );
        }
        let link = (!self.console_url.is_empty())
            .then(|| format!("{}/alerts/{}", self.console_url, alert.id));
        Ok(AlertNotice {
            alert_id: Some(alert.id),
            rule: Some(alert.rule),
            state: Some(alert.state),
            link,
            runbook: Some(alert.rule.runbook().to_owned()),
            ..AlertNotice::bare(
                event,
                alert.severity,
                alert.target_name.clone(),
                summary,
                Utc::now(),
                dedup_key,
            )
        })
    }
}
