//! Grouping and inhibition, as Alertmanager does them: alerts that share a group key and
//! open within `wait` go out as one notice; later changes are batched every `interval`; a
//! group with unacknowledged alerts is sent again every `repeat`. A target that is down
//! inhibits its own alerts that follow from being down (not ready, slow, failing probes).
//! Pure: the notifier feeds it notices and the time, and sends what it returns.
use super::{AlertNotice, NoticeEvent};
use crate::domain::alerts::{RuleKind, Severity};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A group's notice names at most this many of its targets; the rest are counted.
const NAMED: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupTiming {
    pub wait: Duration,
    pub interval: Duration,
    pub repeat: Duration,
}

impl RuleKind {
    /// Rules that a down target breaks as a matter of course: while the target is down
    /// they are recorded but not sent.
    pub fn inhibited_by_down(self) -> bool {
        matches!(
            self,
            Self::NotReady
                | Self::McpProbeFailing
                | Self::LatencyP50
                | Self::LatencyP95
                | Self::LatencyP99
                | Self::ErrorRate
                | Self::Traffic
                | Self::ToolCallFailing
                | Self::ToolCallSlow
                | Self::Saturation
        )
    }
}

/// The group an alert belongs to: its rule, plus the value of each `group_by` tag key
/// (`team` picks `team:payments` from the target's tags).
pub fn group_key(rule: RuleKind, tags: &[String], group_by: &[String]) -> String {
    let mut key = rule.as_str().to_owned();
    for by in group_by {
        let value = tags
            .iter()
            .find_map(|t| t.strip_prefix(by.as_str())?.strip_prefix(':'))
            .unwrap_or("");
        key.push_str(&format!(" {by}={value}"));
    }
    key
}

/// One alert in a group notice, as receivers list it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMember {
    pub alert_id: Option<i64>,
    pub target: String,
    pub severity: Severity,
    pub summary: String,
}

/// An open alert of a group, as one channel's routing sees it: services that keep one
/// incident per group (PagerDuty) close or acknowledge it by the alerts they were sent.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenMember {
    pub severity: Severity,
    pub tags: Vec<String>,
    pub acknowledged: bool,
}

/// What the grouper hands the notifier: one notice per group flush, for every channel
/// that wants some of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub key: String,
    pub dedup_key: String,
    /// Newly firing (or, when `repeat`, still firing and unacknowledged).
    pub firing: Vec<(AlertNotice, Vec<String>)>,
    pub resolved: Vec<(AlertNotice, Vec<String>)>,
    pub repeat: bool,
    /// The group's alerts still open after this batch (those held back excluded).
    pub still_open: Vec<OpenMember>,
}

/// An acknowledgement, passed on at once, with its group's open alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct Acknowledged {
    pub notice: AlertNotice,
    pub tags: Vec<String>,
    pub open: Vec<OpenMember>,
}

impl Acknowledged {
    /// Every open alert of the group that a channel wants is acknowledged.
    pub fn group_acknowledged_for(&self, wants: impl Fn(Severity, &[String]) -> bool) -> bool {
        self.open
            .iter()
            .filter(|m| wants(m.severity, &m.tags))
            .all(|m| m.acknowledged)
    }
}

struct Member {
    notice: AlertNotice,
    tags: Vec<String>,
    acknowledged: bool,
    /// Sent to the channels at least once.
    announced: bool,
}

struct Group {
    dedup_key: String,
    open: BTreeMap<i64, Member>,
    firing: Vec<i64>,
    resolved: Vec<(AlertNotice, Vec<String>)>,
    flush_at: Option<DateTime<Utc>>,
    last_flush: Option<DateTime<Utc>>,
    repeat_at: Option<DateTime<Utc>>,
}

impl Group {
    fn new(key: &str) -> Self {
        Self {
            dedup_key: dedup_key(key),
            open: BTreeMap::new(),
            firing: Vec::new(),
            resolved: Vec::new(),
            flush_at: None,
            last_flush: None,
            repeat_at: None,
        }
    }

    /// The first change of all waits for `wait`. Later ones go out on the group's next tick,
    /// every `interval` from its last flush, as Alertmanager's group timer does: a burst
    /// after a quiet spell is one notice, not its first change alone and then the rest.
    fn schedule(&mut self, timing: GroupTiming, now: DateTime<Utc>) {
        if self.flush_at.is_none() {
            self.flush_at = Some(match self.last_flush {
                None => now + timing.wait,
                Some(last) => {
                    let interval = timing.interval.num_milliseconds().max(1);
                    let ticks = (now - last).num_milliseconds().max(0) / interval + 1;
                    last + chrono::Duration::milliseconds(interval.saturating_mul(ticks))
                }
            });
        }
    }

    fn open_members(&self, inhibited: &BTreeSet<i64>) -> Vec<OpenMember> {
        self.open
            .iter()
            .filter(|(id, _)| !inhibited.contains(id))
            .map(|(_, m)| OpenMember {
                severity: m.notice.severity,
                tags: m.tags.clone(),
                acknowledged: m.acknowledged,
            })
            .collect()
    }
}

/// The same for every notice of a group, across restarts and replicas. PagerDuty takes at
/// most 255 characters: a long key is replaced by its hash.
fn dedup_key(key: &str) -> String {
    use sha2::Digest;
    if key.len() <= 200 {
        format!("mcpops/group/{key}")
    } else {
        format!("mcpops/group/{}", hex::encode(sha2::Sha256::digest(key)))
    }
}

pub struct Grouper {
    timing: GroupTiming,
    group_by: Vec<String>,
    groups: BTreeMap<String, Group>,
    /// Alerts of each group key, so a later notice finds its group.
    group_of: BTreeMap<i64, String>,
    /// Targets with an open target-down alert, by name.
    down: BTreeSet<String>,
    /// Alerts held back by a down target: their resolution is not sent either.
    inhibited: BTreeSet<i64>,
}

impl Grouper {
    pub fn new(timing: GroupTiming, group_by: Vec<String>) -> Self {
        Self {
            timing,
            // Tags are kept lower-case.
            group_by: group_by.iter().map(|k| k.to_lowercase()).collect(),
            groups: BTreeMap::new(),
            group_of: BTreeMap::new(),
            down: BTreeSet::new(),
            inhibited: BTreeSet::new(),
        }
    }

    /// Takes a notice about an alert. Firing and resolved notices wait for their group's
    /// flush; an acknowledgement of an alert already sent is returned to be sent now.
    pub fn add(
        &mut self,
        notice: AlertNotice,
        tags: Vec<String>,
        now: DateTime<Utc>,
    ) -> Option<Acknowledged> {
        let (Some(id), Some(rule)) = (notice.alert_id, notice.rule) else {
            return None;
        };
        let key = self
            .group_of
            .get(&id)
            .cloned()
            .unwrap_or_else(|| group_key(rule, &tags, &self.group_by));
        let timing = self.timing;
        match notice.event {
            NoticeEvent::Firing => {
                if rule == RuleKind::TargetDown {
                    self.down.insert(notice.target.clone());
                }
                let group = self
                    .groups
                    .entry(key.clone())
                    .or_insert_with(|| Group::new(&key));
                self.group_of.insert(id, key);
                group.firing.push(id);
                let member = Member {
                    notice,
                    tags,
                    acknowledged: false,
                    announced: false,
                };
                group.open.insert(id, member);
                group.schedule(timing, now);
            }
            NoticeEvent::Resolved => {
                let target = notice.target.clone();
                let group = self
                    .groups
                    .entry(key.clone())
                    .or_insert_with(|| Group::new(&key));
                self.group_of.remove(&id);
                group.firing.retain(|f| *f != id);
                let was = group.open.remove(&id);
                let held = self.inhibited.remove(&id);
                // Nobody heard of an alert held back, or gone before its group's first
                // flush; an alert this process never saw (a restart) is resolved anyway.
                if !held && was.as_ref().is_none_or(|m| m.announced) {
                    group.resolved.push((notice, tags));
                }
                group.schedule(timing, now);
                if rule == RuleKind::TargetDown {
                    self.down.remove(&target);
                    self.lift(&target, now);
                }
            }
            NoticeEvent::Acknowledged => {
                if self.inhibited.contains(&id) {
                    return None;
                }
                let unknown = || OpenMember {
                    severity: notice.severity,
                    tags: tags.clone(),
                    acknowledged: false,
                };
                let (dedup_key, open) = match self.groups.get_mut(&key) {
                    Some(group) => {
                        if let Some(member) = group.open.get_mut(&id) {
                            member.acknowledged = true;
                            if !member.announced {
                                // Taken on before anyone was told: now nobody will be.
                                return None;
                            }
                        }
                        let mut open = group.open_members(&self.inhibited);
                        if !group.open.contains_key(&id) {
                            open.push(unknown());
                        }
                        (group.dedup_key.clone(), open)
                    }
                    // Fired before this process started (or on another replica): pass the
                    // acknowledgement on, but do not count the group as taken on.
                    None => (dedup_key(&key), vec![unknown()]),
                };
                let mut notice = notice;
                notice.dedup_key = dedup_key;
                return Some(Acknowledged { notice, tags, open });
            }
            NoticeEvent::Declared | NoticeEvent::Updated | NoticeEvent::Test => {}
        }
        None
    }

    /// A target is up again: what it held back is sent as newly firing.
    fn lift(&mut self, target: &str, now: DateTime<Utc>) {
        for group in self.groups.values_mut() {
            let released: Vec<i64> = group
                .open
                .iter()
                .filter(|(id, m)| m.notice.target == target && self.inhibited.contains(id))
                .map(|(id, _)| *id)
                .collect();
            if released.is_empty() {
                continue;
            }
            for id in released {
                self.inhibited.remove(&id);
                group.firing.push(id);
            }
            group.schedule(self.timing, now);
        }
    }

    /// When the next flush or repeat is due, if any.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.groups
            .values()
            .flat_map(|g| [g.flush_at, g.repeat_at])
            .flatten()
            .min()
    }

    /// The batches due at `now`, each group's waiting changes in one.
    pub fn due(&mut self, now: DateTime<Utc>) -> Vec<Batch> {
        let mut batches = Vec::new();
        let mut empty = Vec::new();
        for (key, group) in &mut self.groups {
            let flush = group.flush_at.is_some_and(|at| at <= now);
            let repeat = !flush && group.repeat_at.is_some_and(|at| at <= now);
            if !flush && !repeat {
                continue;
            }
            let candidates: Vec<i64> = if repeat {
                group
                    .open
                    .iter()
                    .filter(|(_, m)| m.announced)
                    .map(|(id, _)| *id)
                    .collect()
            } else {
                std::mem::take(&mut group.firing)
            };
            let mut firing = Vec::new();
            for id in candidates {
                if self.inhibited.contains(&id) {
                    continue;
                }
                let Some(member) = group.open.get_mut(&id) else {
                    continue;
                };
                if member.acknowledged {
                    continue;
                }
                let held = member.notice.rule.is_some_and(RuleKind::inhibited_by_down)
                    && self.down.contains(&member.notice.target);
                if held {
                    self.inhibited.insert(id);
                } else {
                    member.announced = true;
                    firing.push((member.notice.clone(), member.tags.clone()));
                }
            }
            let resolved = std::mem::take(&mut group.resolved);
            group.flush_at = None;
            group.last_flush = Some(now);
            let waiting = group
                .open
                .iter()
                .any(|(id, m)| m.announced && !m.acknowledged && !self.inhibited.contains(id));
            // A repeat comes `repeat` after the last one, however often the group changes.
            group.repeat_at = match (waiting, repeat, group.repeat_at) {
                (false, _, _) => None,
                (true, true, _) | (true, _, None) => Some(now + self.timing.repeat),
                (true, false, Some(at)) => Some(at),
            };
            if group.open.is_empty() {
                empty.push(key.clone());
            }
            if !firing.is_empty() || !resolved.is_empty() {
                batches.push(Batch {
                    key: key.clone(),
                    dedup_key: group.dedup_key.clone(),
                    firing,
                    resolved,
                    repeat,
                    still_open: group.open_members(&self.inhibited),
                });
            }
        }
        for key in empty {
            self.groups.remove(&key);
        }
        batches
    }
}

impl Batch {
    /// Nothing a channel wants is open in the group any more: services that keep one
    /// incident per group close theirs.
    pub fn closed_for(&self, wants: impl Fn(Severity, &[String]) -> bool) -> bool {
        !self.still_open.iter().any(|m| wants(m.severity, &m.tags))
    }

    /// The part of the batch a channel wants, or `None` when it wants none of it.
    pub fn filtered(&self, wants: impl Fn(Severity, &[String]) -> bool) -> Option<Batch> {
        let keep = |list: &[(AlertNotice, Vec<String>)]| -> Vec<(AlertNotice, Vec<String>)> {
            list.iter()
                .filter(|(n, t)| wants(n.severity, t))
                .cloned()
                .collect()
        };
        let firing = keep(&self.firing);
        let resolved = keep(&self.resolved);
        (!firing.is_empty() || !resolved.is_empty()).then(|| Batch {
            firing,
            resolved,
            ..self.clone()
        })
    }

    /// The batch as one notice: the alert itself when it is alone, otherwise a summary
    /// naming the first targets, with every member listed for the generic webhook.
    /// `alerts_link` is the console's alerts page, when its address is known.
    pub fn notice(&self, alerts_link: Option<&str>) -> AlertNotice {
        let all: Vec<&AlertNotice> = self
            .firing
            .iter()
            .chain(&self.resolved)
            .map(|(n, _)| n)
            .collect();
        let event = if self.firing.is_empty() {
            NoticeEvent::Resolved
        } else {
            NoticeEvent::Firing
        };
        if let [only] = all.as_slice() {
            let mut notice = (*only).clone();
            notice.dedup_key = self.dedup_key.clone();
            notice.event = event;
            if self.repeat {
                notice.summary = format!("still firing: {}", notice.summary);
            }
            return notice;
        }
        let rule = all.first().and_then(|n| n.rule);
        let severity = all
            .iter()
            .map(|n| n.severity)
            .min()
            .unwrap_or(Severity::Info);
        let listed = if self.firing.is_empty() {
            &self.resolved
        } else {
            &self.firing
        };
        let mut targets: Vec<&str> = listed.iter().map(|(n, _)| n.target.as_str()).collect();
        targets.sort_unstable();
        targets.dedup();
        let named = targets
            .iter()
            .take(NAMED)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        let more = targets.len().saturating_sub(NAMED);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        let label = rule.map(RuleKind::label).unwrap_or("Alerts");
        let counts = match (self.firing.len(), self.resolved.len()) {
            (f, 0) => format!("{f} firing"),
            (0, r) => format!("{r} resolved"),
            (f, r) => format!("{f} firing, {r} resolved"),
        };
        let still = if self.repeat { "still firing: " } else { "" };
        let members = |list: &[(AlertNotice, Vec<String>)]| -> Vec<GroupMember> {
            list.iter()
                .map(|(n, _)| GroupMember {
                    alert_id: n.alert_id,
                    target: n.target.clone(),
                    severity: n.severity,
                    summary: n.summary.clone(),
                })
                .collect()
        };
        AlertNotice {
            rule,
            link: alerts_link.map(|l| match rule {
                Some(rule) => format!("{l}?rule={}", rule.as_str()),
                None => l.to_owned(),
            }),
            runbook: all.first().and_then(|n| n.runbook.clone()),
            firing: members(&self.firing),
            resolved: members(&self.resolved),
            ..AlertNotice::bare(
                event,
                severity,
                format!("{} targets", targets.len()),
                format!("{still}{label} on {named}{more} ({counts})"),
                all.iter().map(|n| n.at).max().unwrap_or_default(),
                self.dedup_key.clone(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing() -> GroupTiming {
        GroupTiming {
            wait: Duration::seconds(30),
            interval: Duration::minutes(5),
            repeat: Duration::hours(4),
        }
    }

    fn notice(id: i64, rule: RuleKind, target: &str, event: NoticeEvent) -> AlertNotice {
        AlertNotice {
            alert_id: Some(id),
            rule: Some(rule),
            ..AlertNotice::bare(
                event,
                Severity::Warning,
                target.into(),
                format!("{rule} on {target}"),
                Utc::now(),
                String::new(),
            )
        }
    }

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn a_storm_of_one_rule_is_one_notice_after_the_wait() {
        let mut grouper = Grouper::new(timing(), Vec::new());
        for id in 0..2_000 {
            let target = format!("srv-{id:04}");
            let at = t0() + Duration::milliseconds(id * 10);
            grouper.add(
                notice(id, RuleKind::LatencyP95, &target, NoticeEvent::Firing),
                vec![],
                at,
            );
        }
        assert_eq!(grouper.next_due(), Some(t0() + Duration::seconds(30)));
        assert!(grouper.due(t0() + Duration::seconds(29)).is_empty());
        let batches = grouper.due(t0() + Duration::seconds(30));
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].firing.len(), 2_000);
        let summary = batches[0].notice(Some("http://console/alerts"));
        assert_eq!(summary.target, "2000 targets");
        assert!(
            summary
                .summary
                .ends_with("srv-0009 and 1990 more (2000 firing)"),
            "{}",
            summary.summary
        );
        assert_eq!(summary.firing.len(), 2_000);
        assert_eq!(
            summary.link.as_deref(),
            Some("http://console/alerts?rule=latency_p95")
        );
    }

    #[test]
    fn later_alerts_wait_for_the_interval_and_open_groups_repeat() {
        let mut grouper = Grouper::new(timing(), Vec::new());
        grouper.add(
            notice(1, RuleKind::ErrorRate, "a", NoticeEvent::Firing),
            vec![],
            t0(),
        );
        let first = grouper.due(t0() + Duration::seconds(30));
        assert_eq!(first.len(), 1);
        let alone = first[0].notice(None);
        assert_eq!(
            alone.alert_id,
            Some(1),
            "a group of one is sent as the alert"
        );
        assert_eq!(alone.dedup_key, first[0].dedup_key);

        let later = t0() + Duration::seconds(60);
        grouper.add(
            notice(2, RuleKind::ErrorRate, "b", NoticeEvent::Firing),
            vec![],
            later,
        );
        assert_eq!(
            grouper.next_due(),
            Some(t0() + Duration::seconds(30) + Duration::minutes(5))
        );
        let second = grouper.due(t0() + Duration::seconds(330));
        assert_eq!(second[0].firing.len(), 1);
        assert_eq!(second[0].dedup_key, first[0].dedup_key, "the same group");

        // Alert 1 is acknowledged: only alert 2 repeats, four hours after the group's first
        // notice (later changes do not put the repeat off).
        let ack = grouper
            .add(
                notice(1, RuleKind::ErrorRate, "a", NoticeEvent::Acknowledged),
                vec![],
                later,
            )
            .unwrap();
        assert!(
            !ack.group_acknowledged_for(|_, _| true),
            "alert 2 is still unacknowledged"
        );
        let repeat_at = t0() + Duration::seconds(30) + Duration::hours(4);
        assert_eq!(grouper.next_due(), Some(repeat_at));
        let repeat = grouper.due(repeat_at);
        assert!(repeat[0].repeat);
        let ids: Vec<_> = repeat[0].firing.iter().map(|(n, _)| n.alert_id).collect();
        assert_eq!(ids, [Some(2)]);
        assert!(repeat[0].notice(None).summary.starts_with("still firing: "));

        // Both resolve: one notice, and the group is closed.
        let end = repeat_at + Duration::minutes(1);
        grouper.add(
            notice(1, RuleKind::ErrorRate, "a", NoticeEvent::Resolved),
            vec![],
            end,
        );
        grouper.add(
            notice(2, RuleKind::ErrorRate, "b", NoticeEvent::Resolved),
            vec![],
            end,
        );
        let last = grouper.due(end + Duration::minutes(5));
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].resolved.len(), 2);
        assert!(last[0].closed_for(|_, _| true));
        assert_eq!(last[0].notice(None).event, NoticeEvent::Resolved);
        assert_eq!(grouper.next_due(), None);
    }

    #[test]
    fn a_burst_after_a_quiet_spell_waits_for_the_next_tick_and_goes_out_as_one() {
        let mut grouper = Grouper::new(timing(), Vec::new());
        for id in 0..3 {
            grouper.add(
                notice(id, RuleKind::TargetDown, "a", NoticeEvent::Firing),
                vec![],
                t0(),
            );
        }
        assert_eq!(grouper.due(t0() + Duration::seconds(30)).len(), 1);
        // An hour later all three resolve within a tenth of a second.
        let quiet = t0() + Duration::hours(1);
        for id in 0..3 {
            let at = quiet + Duration::milliseconds(id * 50);
            grouper.add(
                notice(id, RuleKind::TargetDown, "a", NoticeEvent::Resolved),
                vec![],
                at,
            );
            assert!(grouper.due(at).is_empty(), "not the first change alone");
        }
        let tick = t0() + Duration::seconds(30) + Duration::minutes(5) * 12;
        assert_eq!(grouper.next_due(), Some(tick));
        let batches = grouper.due(tick);
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].resolved.len(), 3);
    }

    #[test]
    fn groups_split_by_the_chosen_tag_keys() {
        let mut grouper = Grouper::new(timing(), vec!["team".into()]);
        let tags = |team: &str| vec![format!("team:{team}"), "prod".to_owned()];
        grouper.add(
            notice(1, RuleKind::TargetDown, "a", NoticeEvent::Firing),
            tags("pay"),
            t0(),
        );
        grouper.add(
            notice(2, RuleKind::TargetDown, "b", NoticeEvent::Firing),
            tags("pay"),
            t0(),
        );
        grouper.add(
            notice(3, RuleKind::TargetDown, "c", NoticeEvent::Firing),
            tags("web"),
            t0(),
        );
        grouper.add(
            notice(4, RuleKind::TargetDown, "d", NoticeEvent::Firing),
            vec![],
            t0(),
        );
        let mut keys: Vec<String> = grouper
            .due(t0() + Duration::seconds(30))
            .into_iter()
            .map(|b| format!("{} ×{}", b.key, b.firing.len()))
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "target_down team= ×1",
                "target_down team=pay ×2",
                "target_down team=web ×1"
            ]
        );
    }

    #[test]
    fn a_down_target_holds_back_what_follows_from_it() {
        let mut grouper = Grouper::new(timing(), Vec::new());
        grouper.add(
            notice(1, RuleKind::NotReady, "a", NoticeEvent::Firing),
            vec![],
            t0(),
        );
        grouper.add(
            notice(2, RuleKind::TargetDown, "a", NoticeEvent::Firing),
            vec![],
            t0(),
        );
        grouper.add(
            notice(3, RuleKind::NotReady, "b", NoticeEvent::Firing),
            vec![],
            t0(),
        );
        grouper.add(
            notice(4, RuleKind::ToolDrift, "a", NoticeEvent::Firing),
            vec![],
            t0(),
        );
        let sent: Vec<Option<i64>> = grouper
            .due(t0() + Duration::seconds(30))
            .iter()
            .flat_map(|b| b.firing.iter().map(|(n, _)| n.alert_id))
            .collect();
        assert_eq!(sent.len(), 3, "{sent:?}");
        assert!(!sent.contains(&Some(1)), "a's not-ready is inhibited");
        // Its resolution is not sent either, nor an acknowledgement.
        let later = t0() + Duration::minutes(1);
        let ack = grouper.add(
            notice(1, RuleKind::NotReady, "a", NoticeEvent::Acknowledged),
            vec![],
            later,
        );
        assert!(ack.is_none());
        grouper.add(
            notice(1, RuleKind::NotReady, "a", NoticeEvent::Resolved),
            vec![],
            later,
        );
        let resolved: Vec<_> = grouper
            .due(later + Duration::minutes(10))
            .into_iter()
            .flat_map(|b| b.resolved)
            .collect();
        assert!(resolved.is_empty(), "{resolved:?}");
    }

    #[test]
    fn what_a_down_target_held_back_is_sent_once_it_is_up() {
        let mut grouper = Grouper::new(timing(), Vec::new());
        grouper.add(
            notice(1, RuleKind::TargetDown, "a", NoticeEvent::Firing),
            vec![],
            t0(),
        );
        grouper.add(
            notice(2, RuleKind::NotReady, "a", NoticeEvent::Firing),
            vec![],
            t0(),
        );
        grouper.add(
            notice(3, RuleKind::NotReady, "b", NoticeEvent::Firing),
            vec![],
            t0(),
        );
        let first = grouper.due(t0() + Duration::seconds(30));
        let not_ready = first.iter().find(|b| b.key == "not_ready").unwrap();
        assert_eq!(not_ready.firing.len(), 1, "a's is held back");
        // b resolves: nothing else that was sent is open, so the group's incident closes.
        let later = t0() + Duration::minutes(1);
        grouper.add(
            notice(3, RuleKind::NotReady, "b", NoticeEvent::Resolved),
            vec![],
            later,
        );
        let closing = grouper.due(later + Duration::minutes(5));
        assert!(closing[0].closed_for(|_, _| true));
        // a comes back up but is still not ready: now it is sent.
        let up = later + Duration::minutes(6);
        grouper.add(
            notice(1, RuleKind::TargetDown, "a", NoticeEvent::Resolved),
            vec![],
            up,
        );
        let sent: Vec<Option<i64>> = grouper
            .due(up + Duration::minutes(5))
            .iter()
            .flat_map(|b| b.firing.iter().map(|(n, _)| n.alert_id))
            .collect();
        assert_eq!(sent, [Some(2)]);
    }

    #[test]
    fn an_alert_taken_on_before_its_group_was_sent_is_never_sent() {
        let mut grouper = Grouper::new(timing(), Vec::new());
        grouper.add(
            notice(1, RuleKind::ErrorRate, "a", NoticeEvent::Firing),
            vec![],
            t0(),
        );
        let ack = grouper.add(
            notice(1, RuleKind::ErrorRate, "a", NoticeEvent::Acknowledged),
            vec![],
            t0() + Duration::seconds(5),
        );
        assert!(ack.is_none());
        assert!(grouper.due(t0() + Duration::seconds(30)).is_empty());
        // Nor is its resolution, and the group is gone.
        grouper.add(
            notice(1, RuleKind::ErrorRate, "a", NoticeEvent::Resolved),
            vec![],
            t0(),
        );
        assert!(grouper.due(t0() + Duration::minutes(10)).is_empty());
        assert_eq!(grouper.next_due(), None);
    }

    #[test]
    fn an_acknowledgement_from_before_a_restart_does_not_close_the_group() {
        let mut grouper = Grouper::new(timing(), Vec::new());
        let ack = grouper
            .add(
                notice(9, RuleKind::ErrorRate, "a", NoticeEvent::Acknowledged),
                vec![],
                t0(),
            )
            .unwrap();
        assert_eq!(ack.notice.dedup_key, "mcpops/group/error_rate");
        assert!(!ack.group_acknowledged_for(|_, _| true));
        assert_eq!(grouper.next_due(), None, "no group is kept for it");
    }

    #[test]
    fn group_keys_fit_pagerduty_and_tag_keys_ignore_case() {
        let mut grouper = Grouper::new(timing(), vec!["Team".into()]);
        grouper.add(
            notice(1, RuleKind::ErrorRate, "a", NoticeEvent::Firing),
            vec!["team:pay".into()],
            t0(),
        );
        let batch = grouper.due(t0() + Duration::seconds(30)).remove(0);
        assert_eq!(batch.key, "error_rate team=pay");
        assert_eq!(batch.dedup_key, "mcpops/group/error_rate team=pay");
        let long = group_key(
            RuleKind::ErrorRate,
            &[format!("k:{}", "v".repeat(300))],
            &["k".into()],
        );
        assert!(dedup_key(&long).len() <= 255);
    }

    #[test]
    fn a_channel_gets_only_the_alerts_it_wants() {
        let mut grouper = Grouper::new(timing(), Vec::new());
        grouper.add(
            notice(1, RuleKind::ErrorRate, "a", NoticeEvent::Firing),
            vec!["edge".into()],
            t0(),
        );
        grouper.add(
            notice(2, RuleKind::ErrorRate, "b", NoticeEvent::Firing),
            vec![],
            t0(),
        );
        let batch = grouper.due(t0() + Duration::seconds(30)).remove(0);
        let edge_only = |_, tags: &[String]| tags.contains(&"edge".to_owned());
        let edge = batch.filtered(edge_only).unwrap();
        assert_eq!(edge.notice(None).alert_id, Some(1));
        assert!(batch.filtered(|_, _| false).is_none());
        // Alert 1 resolves: for the edge channel the group is closed, for others not.
        grouper.add(
            notice(1, RuleKind::ErrorRate, "a", NoticeEvent::Resolved),
            vec!["edge".into()],
            t0(),
        );
        let resolved = grouper.due(t0() + Duration::minutes(10)).remove(0);
        assert!(resolved.closed_for(edge_only));
        assert!(!resolved.closed_for(|_, _| true));
    }
}
