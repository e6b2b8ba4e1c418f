//! Targets from files: TOML target files and Prometheus `file_sd` JSON, re-read every few
//! seconds. Each file's targets are created, updated and removed to match it; a file that does
//! not read cleanly leaves its targets as they were and shows why on the Fleet page.
use crate::domain::audit::{AuditEvent, RequestOrigin};
use crate::domain::target::{Target, TargetSource, TargetSpec};
use crate::domain::target_files::{FileSdGroup, SourceStatus, TargetsFile, specs_from_file_sd};
use crate::server::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// A target file larger than this is refused rather than read.
const FILE_MAX_BYTES: u64 = 4 * 1024 * 1024;
const ACTOR: &str = "system:target-files";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFilesConfig {
    /// TOML files of `[[target]]` tables (`name`, `url`, `interval_secs`, `tags`).
    pub files: Vec<PathBuf>,
    /// Prometheus `file_sd` JSON files; `*` and `?` in a path match as in Prometheus.
    pub file_sd: Vec<String>,
    pub reload_secs: u64,
}

impl Default for TargetFilesConfig {
    fn default() -> Self {
        Self {
            files: Vec::new(),
            file_sd: Vec::new(),
            reload_secs: 5,
        }
    }
}

impl TargetFilesConfig {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.file_sd.is_empty()
    }
}

/// The file sources and how each fared at its last reading.
#[derive(Debug, Default)]
pub struct TargetFiles {
    config: TargetFilesConfig,
    status: Mutex<Vec<SourceStatus>>,
}

struct Listed {
    source: TargetSource,
    origin: String,
    spec: TargetSpec,
}

impl TargetFiles {
    pub fn new(config: TargetFilesConfig) -> Self {
        Self {
            config,
            status: Mutex::default(),
        }
    }

    pub fn status(&self) -> Vec<SourceStatus> {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-reads every file forever; `changed` hears when the target list changed.
    pub async fn run(&self, store: &dyn Store, changed: impl Fn()) {
        let mut every = tokio::time::interval(Duration::from_secs(self.config.reload_secs.max(1)));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match self.sync(store).await {
                Ok(true) => changed(),
                Ok(false) => {}
                Err(err) => tracing::warn!(error = %err, "could not apply target files"),
            }
        }
    }

    /// Reads every file and makes the stored targets match; returns whether anything changed.
    pub async fn sync(&self, store: &dyn Store) -> Result<bool, StoreError> {
        let mut listed = Vec::new();
        let mut unreadable = HashSet::new();
        let mut status = Vec::new();
        let sources = self
            .config
            .files
            .iter()
            .map(|p| (TargetSource::File, p.clone()))
            .chain(
                self.file_sd_paths()
                    .into_iter()
                    .map(|p| (TargetSource::FileSd, p)),
            );
        for (source, path) in sources {
            let origin = path.display().to_string();
            let read = read_specs(source, &path).await;
            let missing = read.is_ok() && !path.exists();
            status.push(SourceStatus {
                path: origin.clone(),
                source,
                read_at: chrono::Utc::now(),
                targets: read.as_ref().map_or(0, Vec::len),
                error: if missing {
                    Some("file not found, so it lists no targets".into())
                } else {
                    read.as_ref().err().cloned()
                },
            });
            match read {
                Ok(specs) => listed.extend(specs.into_iter().map(|spec| Listed {
                    source,
                    origin: origin.clone(),
                    spec,
                })),
                Err(_) => {
                    unreadable.insert(origin);
                }
            }
        }
        let changed = self.apply(store, listed, &unreadable, &mut status).await?;
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status;
        Ok(changed)
    }

    /// The `file_sd` paths, with patterns expanded (a plain path is kept even when missing,
    /// so its status says so).
    fn file_sd_paths(&self) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        for pattern in &self.config.file_sd {
            if pattern.contains(['*', '?', '[']) {
                match glob::glob(pattern) {
                    Ok(found) => paths.extend(found.filter_map(Result::ok)),
                    Err(err) => tracing::warn!(pattern, error = %err, "bad file_sd pattern"),
                }
            } else {
                paths.push(PathBuf::from(pattern));
            }
        }
        paths
    }

    async fn apply(
        &self,
        store: &dyn Store,
        listed: Vec<Listed>,
        unreadable: &HashSet<String>,
        status: &mut [SourceStatus],
    ) -> Result<bool, StoreError> {
        let current: HashMap<String, Target> = store
            .list_targets()
            .await?
            .into_iter()
            .map(|t| (t.name.clone(), t))
            .collect();
        let mut changed = false;
        let mut wanted = HashSet::new();
        for item in listed {
            let name = item.spec.name.as_str().to_owned();
            wanted.insert(name.clone());
            let existing = current.get(&name);
            if existing.is_some_and(|t| same(t, &item)) {
                continue;
            }
            let action = if existing.is_some() {
                "sync_update"
            } else {
                "sync_create"
            };
            let event = system_event(action, &name, &item.origin);
            match store
                .upsert_target(&item.spec, item.source, &item.origin, Some(event))
                .await
            {
                Ok(_) => changed = true,
                Err(StoreError::Conflict(message)) => {
                    if let Some(entry) = status.iter_mut().find(|s| s.path == item.origin) {
                        entry.error = Some(message);
                    }
                }
                Err(err) => return Err(err),
            }
        }
        for target in current.values() {
            let from_files = matches!(target.source, TargetSource::File | TargetSource::FileSd);
            if from_files && !wanted.contains(&target.name) && !unreadable.contains(&target.origin)
            {
                let event = system_event("sync_delete", &target.name, &target.origin);
                match store.delete_target(target.id, event).await {
                    Ok(()) | Err(StoreError::NotFound) => changed = true,
                    Err(err) => return Err(err),
                }
            }
        }
        Ok(changed)
    }
}

fn same(target: &Target, item: &Listed) -> bool {
    target.source == item.source
        && target.origin == item.origin
        && target.base_url == item.spec.base_url.as_str()
        && target.interval_secs == item.spec.interval.secs()
        && target.tags == item.spec.tags
        && target.probe == item.spec.probe
        && item
            .spec
            .headers
            .as_ref()
            .is_none_or(|headers| *headers == target.secret_headers)
}

fn system_event(action: &str, name: &str, origin: &str) -> AuditEvent {
    AuditEvent::new("target", ACTOR, action, name, &RequestOrigin::local())
        .details(&serde_json::json!({ "file": origin }))
}

/// Reads one file. A file that is not there lists no targets (as in Prometheus), so its
/// targets go; one that is there but bad keeps them and says why.
async fn read_specs(source: TargetSource, path: &Path) -> Result<Vec<TargetSpec>, String> {
    let text = match tokio::fs::metadata(path).await {
        Ok(meta) if meta.len() > FILE_MAX_BYTES => {
            return Err(format!("larger than {} MiB", FILE_MAX_BYTES / 1024 / 1024));
        }
        Ok(_) => tokio::fs::read_to_string(path)
            .await
            .map_err(|e| format!("cannot read: {e}"))?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(format!("cannot read: {err}")),
    };
    match source {
        TargetSource::FileSd => {
            let groups: Vec<FileSdGroup> =
                serde_json::from_str(&text).map_err(|e| format!("not file_sd JSON: {e}"))?;
            specs_from_file_sd(&groups)
        }
        _ => {
            let file: TargetsFile = toml::from_str(&text).map_err(|e| one_line(&e.to_string()))?;
            file.specs()
        }
    }
}

/// toml's message is "where", a source excerpt with a caret, then "what"; the page shows
/// "where: what" on one line.
fn one_line(message: &str) -> String {
    let mut lines = message.lines();
    let place = lines.next().unwrap_or_default().trim();
    let what: Vec<&str> = lines
        .skip_while(|l| !l.contains('^'))
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if what.is_empty() {
        message.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        format!("{place}: {}", what.join(" "))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn toml_errors_read_as_one_line() {
        let err = toml::from_str::<crate::domain::target_files::TargetsFile>(
            "[[target]]\nname = \"a\"\nurl = \n",
        )
        .expect_err("bad toml");
        let line = super::one_line(&err.to_string());
        assert!(line.starts_with("TOML parse error at line 3"), "{line}");
        assert!(!line.contains('|') && !line.contains('\n'), "{line}");
    }
}
