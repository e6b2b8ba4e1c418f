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
    /// Nothing in the group is open any more: services that keep incidents close theirs.
    pub closed: bool,
}

/// An acknowledgement, passed on at once; `group_acknowledged` once every open alert of
/// its group is acknowledged (services that page per group stop then).
#[derive(Debug, Clone, PartialEq)]
pub struct Acknowledged {
    pub notice: AlertNotice,
    pub tags: Vec<String>,
    pub group_acknowledged: bool,
}

struct Member {
    notice: AlertNotice,
    tags: Vec<String>,
    acknowledged: bool,
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

pub struct Grouper {
    timing: GroupTiming,
    group_by: Vec<String>,
    groups: BTreeMap<String, Group>,
    /// Alerts of each group key, so a later notice finds its group.
    group_of: BTreeMap<i64, String>,
    /// Targets with an open target-down alert.
    down: BTreeSet<String>,
    /// Alerts held back by a down target: their resolution is not sent either.
    inhibited: BTreeSet<i64>,
}

impl Grouper {
    pub fn new(timing: GroupTiming, group_by: Vec<String>) -> Self {
        Self {
            timing,
            group_by,
            groups: BTreeMap::new(),
            group_of: BTreeMap::new(),
            down: BTreeSet::new(),
            inhibited: BTreeSet::new(),
        }
    }

    /// Takes a notice about an alert. Firing and resolved notices wait for their group's
    /// flush; an acknowledgement is returned to be sent now.
    pub fn add(
        &mut self,
        notice: AlertNotice,
        tags: Vec<String>,
        now: DateTime<Utc>,
    ) -> Option<Acknowledged> {
        let (Some(id), Some(rule)) = (notice.alert_id, notice.rule) else {
            return None;
        };
        if rule == RuleKind::TargetDown {
            match notice.event {
                NoticeEvent::Firing => self.down.insert(notice.target.clone()),
                NoticeEvent::Resolved => self.down.remove(&notice.target),
                _ => false,
            };
        }
        let key = self
            .group_of
            .get(&id)
            .cloned()
            .unwrap_or_else(|| group_key(rule, &tags, &self.group_by));
        let timing = self.timing;
        let group = self.groups.entry(key.clone()).or_insert_with(|| Group {
            dedup_key: format!("mcpops/group/{key}/{id}"),
            open: BTreeMap::new(),
            firing: Vec::new(),
            resolved: Vec::new(),
            flush_at: None,
            last_flush: None,
            repeat_at: None,
        });
        match notice.event {
            NoticeEvent::Firing => {
                self.group_of.insert(id, key);
                group.firing.push(id);
                group.open.insert(
                    id,
                    Member {
                        notice,
                        tags,
                        acknowledged: false,
                    },
                );
            }
            NoticeEvent::Resolved => {
                self.group_of.remove(&id);
                group.firing.retain(|f| *f != id);
                group.open.remove(&id);
                if self.inhibited.remove(&id) {
                    return None;
                }
                group.resolved.push((notice, tags));
            }
            NoticeEvent::Acknowledged => {
                if self.inhibited.contains(&id) {
                    return None;
                }
                if let Some(member) = group.open.get_mut(&id) {
                    member.acknowledged = true;
                }
                let group_acknowledged = group.open.values().all(|m| m.acknowledged);
                let mut notice = notice;
                notice.dedup_key = group.dedup_key.clone();
                return Some(Acknowledged {
                    notice,
                    tags,
                    group_acknowledged,
                });
            }
            NoticeEvent::Declared | NoticeEvent::Test => return None,
        }
        if group.flush_at.is_none() {
            group.flush_at = Some(match group.last_flush {
                None => now + timing.wait,
                Some(last) => (last + timing.interval).max(now),
            });
        }
        None
    }

    /// When the next flush or repeat is due, if any.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.groups
            .values()
            .filter_map(|g| g.flush_at.or(g.repeat_at))
            .min()
    }

    /// The batches due at `now`, each group's waiting changes in one.
    pub fn due(&mut self, now: DateTime<Utc>) -> Vec<Batch> {
        let mut batches = Vec::new();
        let mut closed = Vec::new();
        for (key, group) in &mut self.groups {
            let flush = group.flush_at.is_some_and(|at| at <= now);
            let repeat = !flush && group.repeat_at.is_some_and(|at| at <= now);
            if !flush && !repeat {
                continue;
            }
            let firing_ids: Vec<i64> = if repeat {
                group
                    .open
                    .iter()
                    .filter(|(_, m)| !m.acknowledged)
                    .map(|(id, _)| *id)
                    .filter(|id| !self.inhibited.contains(id))
                    .collect()
            } else {
                std::mem::take(&mut group.firing)
            };
            let mut firing = Vec::new();
            for id in firing_ids {
                let Some(member) = group.open.get(&id) else {
                    continue;
                };
                let held = member.notice.rule.is_some_and(RuleKind::inhibited_by_down)
                    && self.down.contains(&member.notice.target);
                if held {
                    self.inhibited.insert(id);
                } else {
                    firing.push((member.notice.clone(), member.tags.clone()));
                }
            }
            let resolved = std::mem::take(&mut group.resolved);
            group.flush_at = None;
            group.last_flush = Some(now);
            let waiting = group
                .open
                .iter()
                .any(|(id, m)| !m.acknowledged && !self.inhibited.contains(id));
            group.repeat_at = waiting.then(|| now + self.timing.repeat);
            let is_closed = group.open.is_empty();
            if is_closed {
                closed.push(key.clone());
            }
            if !firing.is_empty() || !resolved.is_empty() {
                batches.push(Batch {
                    key: key.clone(),
                    dedup_key: group.dedup_key.clone(),
                    firing,
                    resolved,
                    repeat,
                    closed: is_closed,
                });
            }
        }
        for key in closed {
            self.groups.remove(&key);
        }
        batches
    }
}

impl Batch {
    /// The part of the batch a channel wants, or `None` when it wants none of it.
    pub fn filtered(&self, wants: impl Fn(&AlertNotice, &[String]) -> bool) -> Option<Batch> {
        let keep = |list: &[(AlertNotice, Vec<String>)]| -> Vec<(AlertNotice, Vec<String>)> {
            list.iter().filter(|(n, t)| wants(n, t)).cloned().collect()
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
            event,
            alert_id: None,
            rule,
            severity,
            state: None,
            target: format!("{} targets", targets.len()),
            summary: format!("{still}{label} on {named}{more} ({counts})"),
            at: all.iter().map(|n| n.at).max().unwrap_or_default(),
            link: alerts_link.map(|l| match rule {
                Some(rule) => format!("{l}?rule={}", rule.as_str()),
                None => l.to_owned(),
            }),
            runbook: all.first().and_then(|n| n.runbook.clone()),
            dedup_key: self.dedup_key.clone(),
            by: None,
            note: None,
            firing: members(&self.firing),
            resolved: members(&self.resolved),
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
            event,
            alert_id: Some(id),
            rule: Some(rule),
            severity: Severity::Warning,
            state: None,
            target: target.into(),
            summary: format!("{rule} on {target}"),
            at: Utc::now(),
            link: None,
            runbook: None,
            dedup_key: String::new(),
            by: None,
            note: None,
            firing: Vec::new(),
            resolved: Vec::new(),
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

        // Alert 1 is acknowledged: only alert 2 repeats, four hours on.
        let ack = grouper
            .add(
                notice(1, RuleKind::ErrorRate, "a", NoticeEvent::Acknowledged),
                vec![],
                later,
            )
            .unwrap();
        assert!(!ack.group_acknowledged, "alert 2 is still unacknowledged");
        let repeat_at = t0() + Duration::seconds(330) + Duration::hours(4);
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
        assert!(last[0].closed);
        assert_eq!(last[0].notice(None).event, NoticeEvent::Resolved);
        assert_eq!(grouper.next_due(), None);
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
        let edge = batch
            .filtered(|_, tags| tags.contains(&"edge".to_owned()))
            .unwrap();
        assert_eq!(edge.notice(None).alert_id, Some(1));
        assert!(batch.filtered(|_, _| false).is_none());
    }
}
