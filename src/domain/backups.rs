//! Backups and verified recovery: the archive's manifest, which archives retention keeps, and
//! whether the recovery objectives (RPO: age of the last good backup; RTO: duration of the
//! last verified restore) are met.
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The archive layout this build writes and reads; a newer one is refused, not guessed at.
pub const ARCHIVE_FORMAT: u32 = 1;

/// The guide's recovery objectives.
pub const RPO_TARGET: Duration = Duration::hours(1);
pub const RTO_TARGET: Duration = Duration::minutes(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// One file in an archive and its checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// What an archive holds, written first in it, so a restore can refuse a mismatch before it
/// touches anything and check every file and table against it afterwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub app_version: String,
    pub created_at: DateTime<Utc>,
    pub backend: Backend,
    /// The newest schema migration applied to the copied database.
    pub schema_version: i64,
    pub files: Vec<ManifestFile>,
    /// Rows per table in the copy, counted in the same snapshot.
    pub row_counts: BTreeMap<String, i64>,
    /// Whether the configuration inside had its secrets replaced.
    pub secrets_redacted: bool,
}

impl Manifest {
    /// Why this build cannot restore the archive, if it cannot.
    pub fn incompatibility(&self, backend: Backend, schema_version: i64) -> Option<String> {
        if self.format > ARCHIVE_FORMAT {
            return Some(format!(
                "archive format {} is newer than this mcpops understands ({ARCHIVE_FORMAT}); use mcpops {} or later",
                self.format, self.app_version
            ));
        }
        if self.backend != backend {
            return Some(format!(
                "archive holds a {} database but the configured database is {}",
                self.backend.as_str(),
                backend.as_str()
            ));
        }
        if self.schema_version > schema_version {
            return Some(format!(
                "archive's schema version {} is newer than this build's {schema_version}; use mcpops {} or later",
                self.schema_version, self.app_version
            ));
        }
        None
    }

    /// Tables whose restored row count differs from the manifest, as `table: expected → found`.
    pub fn count_mismatches(&self, restored: &BTreeMap<String, i64>) -> Vec<String> {
        self.row_counts
            .iter()
            .filter_map(|(table, expected)| {
                let found = restored.get(table).copied();
                (found != Some(*expected)).then(|| match found {
                    Some(found) => format!("{table}: {expected} → {found}"),
                    None => format!("{table}: {expected} → missing"),
                })
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    Backup,
    Verify,
    Restore,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Backup => "backup",
            Self::Verify => "verify",
            Self::Restore => "restore",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Backup, Self::Verify, Self::Restore]
            .into_iter()
            .find(|k| k.as_str() == raw)
    }
}

/// One backup, verification or restore, as the admin page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupRun {
    pub id: i64,
    pub kind: RunKind,
    /// Who started it: a user, `system:backup` for the schedule, `cli` for the shell.
    pub actor: String,
    pub archive: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub ok: bool,
    pub bytes: Option<i64>,
    /// The error, or a one-line summary of what was checked.
    pub detail: String,
}

impl BackupRun {
    pub fn duration(&self) -> Duration {
        self.finished_at - self.started_at
    }
}

/// A run about to be recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBackupRun {
    pub kind: RunKind,
    pub actor: String,
    pub archive: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub ok: bool,
    pub bytes: Option<i64>,
    pub detail: String,
}

/// One objective: what was measured against its target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    pub measured: Option<Duration>,
    pub target: Duration,
}

impl Objective {
    pub fn met(&self) -> bool {
        self.measured.is_some_and(|m| m <= self.target)
    }
}

/// Recovery as the admin page, the wall and the readiness checklist see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    pub last_backup: Option<BackupRun>,
    pub last_verified: Option<BackupRun>,
    /// Age of the last good backup.
    pub rpo: Objective,
    /// Duration of the last verified restore.
    pub rto: Objective,
}

impl Recovery {
    /// `runs` in any order; only successful ones count.
    pub fn from_runs(runs: &[BackupRun], now: DateTime<Utc>, rpo: Duration, rto: Duration) -> Self {
        let newest = |kind: RunKind| {
            runs.iter()
                .filter(|r| r.kind == kind && r.ok)
                .max_by_key(|r| r.finished_at)
                .cloned()
        };
        let last_backup = newest(RunKind::Backup);
        let last_verified = newest(RunKind::Verify);
        Self {
            rpo: Objective {
                measured: last_backup.as_ref().map(|b| now - b.finished_at),
                target: rpo,
            },
            rto: Objective {
                measured: last_verified.as_ref().map(BackupRun::duration),
                target: rto,
            },
            last_backup,
            last_verified,
        }
    }
}

/// An archive in the backup directory, by the time it was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredArchive {
    pub name: String,
    pub taken_at: DateTime<Utc>,
}

/// Archive names: sortable by time, and recognisable so retention never deletes other files.
pub fn archive_name(taken_at: DateTime<Utc>) -> String {
    format!("mcpops-{}.tar.gz", taken_at.format("%Y%m%dT%H%M%S%.3fZ"))
}

pub fn parse_archive_name(name: &str) -> Option<DateTime<Utc>> {
    let stamp = name.strip_prefix("mcpops-")?.strip_suffix(".tar.gz")?;
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S%.3fZ")
        .ok()
        .map(|t| t.and_utc())
}

/// Which archives retention deletes: it keeps the newest archive of each of the last
/// `keep_daily` days that have one, the newest of each of the last `keep_weekly` ISO weeks,
/// and always the newest archive of all.
pub fn expired(archives: &[StoredArchive], keep_daily: usize, keep_weekly: usize) -> Vec<String> {
    let mut newest_first: Vec<&StoredArchive> = archives.iter().collect();
    newest_first.sort_by_key(|a| std::cmp::Reverse(a.taken_at));
    let mut keep: BTreeSet<&str> = BTreeSet::new();
    if let Some(newest) = newest_first.first() {
        keep.insert(&newest.name);
    }
    let mut days: BTreeSet<NaiveDate> = BTreeSet::new();
    let mut weeks: BTreeSet<(i32, u32)> = BTreeSet::new();
    for archive in &newest_first {
        let day = archive.taken_at.date_naive();
        if days.len() < keep_daily && days.insert(day) {
            keep.insert(&archive.name);
        }
        let week = (day.iso_week().year(), day.iso_week().week());
        if weeks.len() < keep_weekly && weeks.insert(week) {
            keep.insert(&archive.name);
        }
    }
    newest_first
        .iter()
        .filter(|a| !keep.contains(a.name.as_str()))
        .map(|a| a.name.clone())
        .collect()
}

/// How far a long backup, verification or restore has got, for the page and the shell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub kind: RunKind,
    pub stage: String,
    pub done_bytes: u64,
    /// Zero while the size is not known yet.
    pub total_bytes: u64,
    pub started_at: DateTime<Utc>,
}

impl Progress {
    pub fn percent(&self) -> Option<u8> {
        (self.total_bytes > 0).then(|| {
            let ratio = self.done_bytes.min(self.total_bytes) as f64 / self.total_bytes as f64;
            (ratio * 100.0).round() as u8
        })
    }
}

/// Durations as people read them on the admin page: `45 s`, `12 min`, `3 h 20 min`, `2 d 4 h`.
pub fn human_duration(duration: Duration) -> String {
    let secs = duration.num_seconds().max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86_400 if secs % 3600 < 60 => format!("{} h", secs / 3600),
        3600..86_400 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} d {} h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// The moment `restore --at` asks for: RFC 3339 (`2026-12-07T21:00:00Z`), or
/// `YYYY-MM-DD HH:MM[:SS]` read as UTC.
pub fn parse_restore_time(raw: &str) -> Result<DateTime<Utc>, String> {
    let raw = raw.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(at.with_timezone(&Utc));
    }
    [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|format| chrono::NaiveDateTime::parse_from_str(raw, format).ok())
    .map(|naive| naive.and_utc())
    .ok_or_else(|| {
        format!("'{raw}' is not a time: use 2026-12-07T21:00:00Z or \"2026-12-07 21:00\" (UTC)")
    })
}

/// The archives taken at or before `at`, newest first: the order `restore --at` tries them,
/// falling back to the next older when one fails its check.
pub fn restore_candidates<T>(
    archives: Vec<(T, DateTime<Utc>)>,
    at: DateTime<Utc>,
) -> Vec<(T, DateTime<Utc>)> {
    let mut candidates: Vec<(T, DateTime<Utc>)> = archives
        .into_iter()
        .filter(|(_, taken)| *taken <= at)
        .collect();
    candidates.sort_by_key(|(_, taken)| std::cmp::Reverse(*taken));
    candidates
}

/// How long before `later` something happened: "2 d 3 h", "3 h 12 min", "45 s".
pub fn describe_age(earlier: DateTime<Utc>, later: DateTime<Utc>) -> String {
    let secs = (later - earlier).num_seconds().max(0);
    let (days, hours, minutes) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{secs} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn run(kind: RunKind, ok: bool, start: DateTime<Utc>, secs: i64) -> BackupRun {
        BackupRun {
            id: 0,
            kind,
            actor: "cli".into(),
            archive: archive_name(start),
            started_at: start,
            finished_at: start + Duration::seconds(secs),
            ok,
            bytes: Some(1),
            detail: String::new(),
        }
    }

    #[test]
    fn archive_names_round_trip_and_others_are_not_ours() {
        let taken = at(3, 4) + Duration::milliseconds(250);
        assert_eq!(parse_archive_name(&archive_name(taken)), Some(taken));
        assert_eq!(parse_archive_name("notes.txt"), None);
        assert_eq!(parse_archive_name("mcpops-yesterday.tar.gz"), None);
    }

    #[test]
    fn retention_keeps_newest_per_day_and_week_and_always_the_newest() {
        // Hourly-ish backups over 20 days, four a day.
        let archives: Vec<StoredArchive> = (1..=20)
            .flat_map(|day| [0, 6, 12, 18].map(move |h| at(day, h)))
            .map(|t| StoredArchive {
                name: archive_name(t),
                taken_at: t,
            })
            .collect();
        let deleted = expired(&archives, 3, 2);
        let kept: Vec<&StoredArchive> = archives
            .iter()
            .filter(|a| !deleted.contains(&a.name))
            .collect();
        let kept_times: Vec<DateTime<Utc>> = kept.iter().map(|a| a.taken_at).collect();
        // Days 20, 19, 18 (newest of each), plus the newest of the week before (Sun 15 Nov).
        assert_eq!(
            kept_times,
            vec![at(15, 18), at(18, 18), at(19, 18), at(20, 18)]
        );
        assert_eq!(deleted.len(), archives.len() - 4);
    }

    #[test]
    fn retention_with_nothing_to_keep_still_keeps_the_newest() {
        let archives = [at(1, 0), at(2, 0)].map(|t| StoredArchive {
            name: archive_name(t),
            taken_at: t,
        });
        assert_eq!(expired(&archives, 0, 0), vec![archive_name(at(1, 0))]);
    }

    #[test]
    fn recovery_measures_rpo_from_the_last_good_backup_and_rto_from_the_last_verify() {
        let now = at(10, 12);
        let runs = [
            run(RunKind::Backup, true, at(10, 10), 30),
            run(RunKind::Backup, false, at(10, 11), 5),
            run(RunKind::Verify, true, at(10, 10), 600),
        ];
        let recovery = Recovery::from_runs(&runs, now, RPO_TARGET, RTO_TARGET);
        assert_eq!(
            recovery.rpo.measured,
            Some(Duration::hours(2) - Duration::seconds(30))
        );
        assert!(!recovery.rpo.met(), "a failed newer backup does not count");
        assert_eq!(recovery.rto.measured, Some(Duration::minutes(10)));
        assert!(recovery.rto.met());
        let none = Recovery::from_runs(&[], now, RPO_TARGET, RTO_TARGET);
        assert!(!none.rpo.met() && !none.rto.met());
    }

    fn manifest() -> Manifest {
        Manifest {
            format: ARCHIVE_FORMAT,
            app_version: "0.1.0".into(),
            created_at: at(1, 0),
            backend: Backend::Sqlite,
            schema_version: 10,
            files: vec![],
            row_counts: BTreeMap::from([("samples".into(), 5), ("audit_log".into(), 2)]),
            secrets_redacted: true,
        }
    }

    #[test]
    fn a_mismatched_archive_is_refused_with_its_reason() {
        let m = manifest();
        assert_eq!(m.incompatibility(Backend::Sqlite, 10), None);
        assert_eq!(m.incompatibility(Backend::Sqlite, 11), None);
        let other = m.incompatibility(Backend::Postgres, 10).unwrap_or_default();
        assert!(other.contains("sqlite database"), "{other}");
        let newer = m.incompatibility(Backend::Sqlite, 9).unwrap_or_default();
        assert!(newer.contains("schema version 10"), "{newer}");
        let format = Manifest { format: 2, ..m }
            .incompatibility(Backend::Sqlite, 10)
            .unwrap_or_default();
        assert!(format.contains("archive format 2"), "{format}");
    }

    #[test]
    fn count_mismatches_name_the_table() {
        let m = manifest();
        let same = BTreeMap::from([("samples".into(), 5), ("audit_log".into(), 2)]);
        assert!(m.count_mismatches(&same).is_empty());
        let short = BTreeMap::from([("samples".into(), 4)]);
        assert_eq!(
            m.count_mismatches(&short),
            vec!["audit_log: 2 → missing", "samples: 5 → 4"]
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::seconds(45)), "45 s");
        assert_eq!(human_duration(Duration::minutes(12)), "12 min");
        assert_eq!(human_duration(Duration::minutes(200)), "3 h 20 min");
        assert_eq!(human_duration(Duration::hours(1)), "1 h");
        assert_eq!(human_duration(Duration::hours(52)), "2 d 4 h");
    }

    #[test]
    fn restore_at_takes_the_newest_archive_at_or_before_the_time_then_older_ones() {
        let at = |raw: &str| parse_restore_time(raw).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(at("2026-12-07T21:00:00Z"), at("2026-12-07 21:00"));
        assert_eq!(at("2026-12-07T22:00:00+01:00"), at("2026-12-07 21:00:00"));
        assert!(parse_restore_time("yesterday").is_err());
        let archives = vec![
            ("a", at("2026-12-07 18:00")),
            ("c", at("2026-12-07 21:30")),
            ("b", at("2026-12-07 20:00")),
            ("exact", at("2026-12-07 21:00")),
        ];
        let picked: Vec<&str> = restore_candidates(archives, at("2026-12-07 21:00"))
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(
            picked,
            ["exact", "b", "a"],
            "newest first; none after the time"
        );
        assert_eq!(
            describe_age(at("2026-12-07 18:00"), at("2026-12-07 21:12")),
            "3 h 12 min"
        );
        assert_eq!(
            describe_age(at("2026-12-05 18:00"), at("2026-12-07 21:12")),
            "2 d 3 h"
        );
        assert_eq!(
            describe_age(at("2026-12-07 21:00"), at("2026-12-07 21:00:45")),
            "45 s"
        );
    }
}
