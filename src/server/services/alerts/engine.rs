//! The alert engine: judges every stored poll against every rule, and records, publishes
//! and notifies each change. Its trackers live in memory; a target's open alerts are taken
//! up from the store when the collector starts polling it (at start, or on a hand-over).
use super::{Alerts, AlertsConfig, ENGINE_ACTOR, EngineInput, REFRESH_EVERY, engine_event};
use crate::domain::alerts::{
    Alert, AlertQuery, AlertState, BaselineOverride, Baselines, Damping, Policy, Reading,
    RecentPolls, ResourceHistory, RuleKind, Tracker, Transition, describe_breach, read,
};
use crate::domain::live::is_stale;
use crate::domain::notifications::NoticeEvent;
use crate::domain::observation::{PollRecord, Tool};
use crate::domain::silences::Silence;
use crate::domain::target::Target;
use crate::domain::tools::{RecentListings, ToolDiff};
use crate::server::services::target_directory::TargetDirectory;
use crate::server::store::{AlertChange, NewAlert, Store, StoreError};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::mpsc;

/// How often silent targets are looked for; a target is silent after three intervals.
const STALE_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

struct TargetInfo {
    name: String,
    tags: Vec<String>,
    interval_secs: u32,
}

struct OpenAlert {
    id: i64,
    silenced: bool,
}

type Key = (i64, RuleKind);

/// Targets per query when taking targets up, far below either backend's parameter limit.
const TARGETS_PER_QUERY: usize = 1000;

pub(super) struct Engine {
    store: Arc<dyn Store>,
    directory: TargetDirectory,
    /// The listing `targets` was built from, so an unchanged one is not indexed again.
    listed: Option<Arc<[Target]>>,
    alerts: Arc<Alerts>,
    damping: Damping,
    overrides: Vec<BaselineOverride>,
    silences: Vec<Silence>,
    targets: HashMap<i64, TargetInfo>,
    accepted_tools: HashMap<i64, Vec<Tool>>,
    current_tools: HashMap<i64, Vec<Tool>>,
    /// The lists each target's recent listings returned, to tell disagreeing instances
    /// from a change.
    listings: HashMap<i64, RecentListings>,
    recent: HashMap<i64, RecentPolls>,
    /// Each target's memory and quota over the last hours.
    resources: HashMap<i64, ResourceHistory>,
    /// When each target judged here last completed a poll (or was taken up).
    last_polled: HashMap<i64, DateTime<Utc>>,
    /// Only rules that are pending or firing have a tracker.
    trackers: HashMap<Key, Tracker>,
    open: HashMap<Key, OpenAlert>,
    /// The targets this replica polls, and so judges.
    adopted: HashSet<i64>,
}

impl Engine {
    pub(super) fn new(
        config: &AlertsConfig,
        store: Arc<dyn Store>,
        directory: TargetDirectory,
        alerts: Arc<Alerts>,
    ) -> Self {
        Self {
            directory,
            listed: None,
            store,
            alerts,
            damping: config.damping(),
            overrides: Vec::new(),
            silences: Vec::new(),
            targets: HashMap::new(),
            accepted_tools: HashMap::new(),
            current_tools: HashMap::new(),
            listings: HashMap::new(),
            recent: HashMap::new(),
            last_polled: HashMap::new(),
            resources: HashMap::new(),
            trackers: HashMap::new(),
            open: HashMap::new(),
            adopted: HashSet::new(),
        }
    }

    pub(super) async fn run(mut self, mut input: mpsc::Receiver<EngineInput>) {
        self.reload().await;
        let changed = self.alerts.rules_changed.clone();
        let mut refresh = tokio::time::interval(REFRESH_EVERY);
        refresh.tick().await;
        let mut stale_check = tokio::time::interval(STALE_CHECK_EVERY);
        stale_check.tick().await;
        loop {
            tokio::select! {
                next = input.recv() => match next {
                    // Stopping, and out of time to judge what is left.
                    Some(_) if self.store.is_closed() => break,
                    Some(EngineInput::Polls(batch)) => {
                        let store = self.store.clone();
                        for record in batch.iter().take_while(|_| !store.is_closed()) {
                            self.evaluate(record).await;
                        }
                    }
                    Some(EngineInput::Adopted(targets)) => self.adopt(targets).await,
                    Some(EngineInput::Released(targets)) => self.release(&targets),
                    None => break,
                },
                () = changed.notified() => self.reload().await,
                _ = refresh.tick() => self.reload().await,
                _ = stale_check.tick() => self.judge_silence(Utc::now()).await,
            }
        }
    }

    /// Re-reads what steers the rules. A read that fails keeps the previous copy.
    async fn reload(&mut self) {
        match self.store.baseline_overrides().await {
            Ok(records) => self.overrides = records.into_iter().map(|r| r.baselines).collect(),
            Err(err) => tracing::warn!(error = %err, "could not read baseline overrides"),
        }
        match self.store.silences(Utc::now()).await {
            Ok(silences) => self.silences = silences,
            Err(err) => tracing::warn!(error = %err, "could not read silences"),
        }
        match self.store.tool_acks().await {
            Ok(acks) => self.accepted_tools = acks.into_iter().collect(),
            Err(err) => tracing::warn!(error = %err, "could not read accepted tool lists"),
        }
        match self.directory.targets(self.store.as_ref()).await {
            Ok(targets)
                if self
                    .listed
                    .as_ref()
                    .is_some_and(|l| Arc::ptr_eq(l, &targets)) => {}
            Ok(targets) => {
                self.targets = targets
                    .iter()
                    .map(|t| {
                        let info = TargetInfo {
                            name: t.name.clone(),
                            tags: t.tags.clone(),
                            interval_secs: t.interval_secs,
                        };
                        (t.id, info)
                    })
                    .collect();
                self.listed = Some(targets);
            }
            Err(err) => tracing::warn!(error = %err, "could not read targets"),
        }
    }

    /// Starts judging `targets`, taking up their open alerts (left by this process before a
    /// restart, or by the replica that polled them before) and their newest tool lists.
    async fn adopt(&mut self, targets: Vec<i64>) {
        if targets.iter().any(|id| !self.targets.contains_key(id)) {
            self.reload().await;
        }
        self.resume(&targets).await;
        for chunk in targets.chunks(TARGETS_PER_QUERY) {
            match self.store.latest_tool_catalogs(chunk).await {
                Ok(latest) => self.current_tools.extend(latest),
                Err(err) => tracing::warn!(error = %err, "could not read the newest tool lists"),
            }
        }
        // The time to a first poll counts as silence too, from now.
        let now = Utc::now();
        for target in &targets {
            self.last_polled.entry(*target).or_insert(now);
        }
        self.adopted.extend(targets);
    }

    /// Forgets what it knew of targets another replica judges now; their open alerts stay in
    /// the store for that replica to take up.
    fn release(&mut self, targets: &[i64]) {
        for target in targets {
            self.adopted.remove(target);
            self.last_polled.remove(target);
            self.resources.remove(target);
            self.recent.remove(target);
            self.current_tools.remove(target);
            self.listings.remove(target);
        }
        let released = |key: &Key| targets.contains(&key.0);
        self.trackers.retain(|key, _| !released(key));
        self.open.retain(|key, _| !released(key));
    }

    /// Takes up the stored open alerts of `targets`.
    async fn resume(&mut self, targets: &[i64]) {
        for chunk in targets.chunks(TARGETS_PER_QUERY) {
            // Every one: an outage of a large fleet leaves tens of thousands open, and an
            // alert not taken up here would never resolve (its rule would start from idle).
            let query = AlertQuery {
                states: AlertState::OPEN.to_vec(),
                target_ids: chunk.to_vec(),
                limit: i64::MAX,
                ..AlertQuery::default()
            };
            match self.store.alerts(&query).await {
                Ok(open) => self.take_up(open),
                Err(err) => tracing::warn!(error = %err, "could not read open alerts"),
            }
        }
    }

    fn take_up(&mut self, open: Vec<Alert>) {
        for alert in open {
            let key = (alert.target_id, alert.rule);
            self.trackers
                .insert(key, Tracker::resume(alert.state, alert.fired_at));
            self.open.insert(
                key,
                OpenAlert {
                    id: alert.id,
                    silenced: alert.silenced,
                },
            );
        }
    }

    async fn evaluate(&mut self, record: &PollRecord) {
        let target = record.status.target_id;
        if !self.adopted.contains(&target) {
            // Only the replica that polls a target judges it.
            return;
        }
        if !self.targets.contains_key(&target) {
            // A target added since the last reload.
            self.reload().await;
        }
        let Some(info) = self.targets.get(&target) else {
            return;
        };
        let (name, tags) = (info.name.clone(), info.tags.clone());
        self.last_polled.insert(target, record.status.at);
        if let Some(tools) = &record.tools {
            self.current_tools.insert(target, tools.clone());
            self.listings.entry(target).or_default().push(tools);
        }
        let baselines = Baselines::for_target(&self.overrides, target, &tags);
        let recent = self.recent.entry(target).or_default();
        recent.push(&record.sample);
        let mut readings: Vec<(RuleKind, Reading)> = RuleKind::ALL
            .into_iter()
            .filter(|rule| {
                ![
                    RuleKind::ToolDrift,
                    RuleKind::MemoryGrowth,
                    RuleKind::QuotaLow,
                    RuleKind::Saturation,
                ]
                .contains(rule)
            })
            .map(|rule| (rule, read(rule, record, recent)))
            .collect();
        let resources = self.resources.entry(target).or_default();
        // Judged before this poll joins the history that makes the usual level.
        readings.push((
            RuleKind::Saturation,
            resources.saturation(&record.sample, baselines.factor),
        ));
        resources.push(&record.sample);
        readings.push((RuleKind::MemoryGrowth, resources.memory_growth()));
        readings.push((
            RuleKind::QuotaLow,
            resources.quota(record.sample.quota_remaining),
        ));
        let at = record.status.at;
        readings.push((RuleKind::ToolDrift, self.drift(target, at).await));
        for (rule, reading) in readings {
            let policy = Policy::for_rule(rule, &baselines, self.damping);
            let key = (target, rule);
            let tracker = self.trackers.entry(key).or_default();
            let transition = tracker.step(reading, at, &policy, |value| {
                rule.signal()
                    .map(|signal| describe_breach(signal, value, &baselines))
                    .unwrap_or_default()
            });
            if tracker.is_idle() {
                self.trackers.remove(&key);
            }
            if let Some(transition) = transition {
                self.apply(key, &name, &tags, transition, at).await;
            }
        }
    }

    /// Raises `PollsStopped` for each target judged here whose newest poll is older than
    /// three of its intervals: its polls are being taken by nobody. The next poll clears it.
    async fn judge_silence(&mut self, now: DateTime<Utc>) {
        let silent: Vec<(i64, String)> = self
            .last_polled
            .iter()
            .filter_map(|(target, at)| {
                let info = self.targets.get(target)?;
                let quiet = now - *at;
                is_stale(
                    at.timestamp_millis(),
                    info.interval_secs,
                    now.timestamp_millis(),
                )
                .then(|| {
                    let detail = format!(
                        "no poll completed for {} s (every {} s expected): the collector \
                             stalled or lost the target",
                        quiet.num_seconds(),
                        info.interval_secs
                    );
                    (*target, detail)
                })
            })
            .collect();
        for (target, detail) in silent {
            let Some(info) = self.targets.get(&target) else {
                continue;
            };
            let (name, tags) = (info.name.clone(), info.tags.clone());
            let rule = RuleKind::PollsStopped;
            let policy = Policy::for_rule(rule, &Baselines::default(), self.damping);
            let key = (target, rule);
            let tracker = self.trackers.entry(key).or_default();
            if let Some(transition) =
                tracker.step(Reading::Failing(detail), now, &policy, |_| String::new())
            {
                self.apply(key, &name, &tags, transition, now).await;
            }
        }
    }

    /// Compares the newest tool list with the accepted one; the first list seen is accepted.
    async fn drift(&mut self, target: i64, at: DateTime<Utc>) -> Reading {
        let Some(current) = self.current_tools.get(&target) else {
            return Reading::NoData;
        };
        if self
            .listings
            .get(&target)
            .is_some_and(|recent| recent.disagreement().is_some())
        {
            // Instances behind one URL serve different lists: the page says so, and a flip
            // is not a change to alert on.
            return Reading::NoData;
        }
        match self.accepted_tools.get(&target) {
            Some(accepted) => {
                let diff = ToolDiff::between(accepted, current);
                if diff.is_empty() {
                    Reading::Healthy
                } else {
                    Reading::Failing(format!("tool list changed: {}", diff.summary()))
                }
            }
            None => {
                let current = current.clone();
                if let Err(err) = self
                    .store
                    .accept_tools(target, &current, ENGINE_ACTOR, at)
                    .await
                {
                    tracing::warn!(error = %err, target, "could not record the first tool list");
                }
                self.accepted_tools.insert(target, current);
                Reading::Healthy
            }
        }
    }

    async fn apply(
        &mut self,
        key: Key,
        name: &str,
        tags: &[String],
        transition: Transition,
        at: DateTime<Utc>,
    ) {
        let (target, rule) = key;
        let resource = format!("{name}/{rule}");
        let result = match transition {
            Transition::Pending { detail } => self
                .open_alert(key, AlertState::Pending, detail, false, at)
                .await
                .map(|alert| Some((alert, None))),
            Transition::Firing { detail } => {
                let silenced = self
                    .silences
                    .iter()
                    .any(|s| s.silences(Utc::now(), name, tags, rule));
                let fired = match self.open.get(&key) {
                    Some(open) => {
                        let change = AlertChange {
                            to: AlertState::Firing,
                            expected: &[AlertState::Pending],
                            at,
                            actor: ENGINE_ACTOR.into(),
                            note: detail.clone(),
                            summary: Some(detail),
                            silenced: Some(silenced),
                        };
                        let id = open.id;
                        self.store
                            .change_alert(id, &change, engine_event("fire", &resource))
                            .await
                    }
                    None => {
                        self.open_alert(key, AlertState::Firing, detail, silenced, at)
                            .await
                    }
                };
                fired.map(|alert| {
                    self.open.insert(
                        key,
                        OpenAlert {
                            id: alert.id,
                            silenced,
                        },
                    );
                    Some((alert, (!silenced).then_some(NoticeEvent::Firing)))
                })
            }
            Transition::Resolved { fired } => match self.open.remove(&key) {
                Some(open) => {
                    let change = AlertChange {
                        to: AlertState::Resolved,
                        expected: &[
                            AlertState::Pending,
                            AlertState::Firing,
                            AlertState::Acknowledged,
                        ],
                        at,
                        actor: ENGINE_ACTOR.into(),
                        note: "condition cleared".into(),
                        summary: None,
                        silenced: None,
                    };
                    self.store
                        .change_alert(open.id, &change, engine_event("resolve", &resource))
                        .await
                        .map(|alert| {
                            let notify = fired && !open.silenced;
                            Some((alert, notify.then_some(NoticeEvent::Resolved)))
                        })
                }
                None => Ok(None),
            },
        };
        match result {
            Ok(Some((alert, notice))) => {
                self.alerts.publish(&alert);
                if let Some(event) = notice {
                    self.alerts.notifier.send(&alert, event, tags);
                }
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(error = %err, target, rule = %rule, "could not record an alert change");
                if matches!(err, StoreError::Conflict(_)) {
                    // Stored state moved under us (another writer): start again from it.
                    self.trackers.clear();
                    self.open.clear();
                    let adopted: Vec<i64> = self.adopted.iter().copied().collect();
                    self.resume(&adopted).await;
                }
            }
        }
    }

    async fn open_alert(
        &mut self,
        key: Key,
        state: AlertState,
        summary: String,
        silenced: bool,
        at: DateTime<Utc>,
    ) -> Result<crate::domain::alerts::Alert, StoreError> {
        let (target_id, rule) = key;
        let new = NewAlert {
            rule,
            target_id,
            state,
            summary,
            silenced,
            at,
        };
        let action = if state == AlertState::Firing {
            "fire"
        } else {
            "pending"
        };
        let resource = self
            .targets
            .get(&target_id)
            .map(|t| format!("{}/{rule}", t.name))
            .unwrap_or_default();
        let alert = self
            .store
            .open_alert(&new, engine_event(action, &resource))
            .await?;
        self.open.insert(
            key,
            OpenAlert {
                id: alert.id,
                silenced,
            },
        );
        Ok(alert)
    }
}
