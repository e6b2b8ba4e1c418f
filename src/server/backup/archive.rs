//! The archive: a gzip-compressed tar of the database copy, the configuration and the
//! runbooks, then `manifest.json` (every file's size and SHA-256, row counts) and
//! `manifest.sha256`. Blocking I/O: callers run it on the blocking pool.
use crate::domain::backups::{Manifest, ManifestFile};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

const MANIFEST: &str = "manifest.json";
const MANIFEST_SUM: &str = "manifest.sha256";
/// More members than any archive mcpops writes; a bigger one is not ours.
const MAX_MEMBERS: usize = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot write the archive: {0}")]
    Write(#[source] io::Error),
    #[error("the archive is truncated or corrupt: {0}")]
    Corrupt(String),
    #[error("the archive's {0} does not match its checksum: it was changed or damaged")]
    Checksum(String),
}

/// A file to put in the archive under `name`.
pub struct Member {
    pub name: String,
    pub source: PathBuf,
}

/// Counts and hashes what passes through, and reports progress.
struct Tally<'a, R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    progress: &'a mut dyn FnMut(u64),
}

impl<R: Read> Read for Tally<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        (self.progress)(n as u64);
        Ok(n)
    }
}

/// Writes `members` and the manifest to `dest` (through a `.partial` file renamed at the end,
/// so a failed backup never leaves something that looks like an archive). `manifest.files`
/// is filled in here. `progress` gets the bytes read from the members so far.
pub fn write(
    dest: &Path,
    members: &[Member],
    manifest: &mut Manifest,
    mut progress: impl FnMut(u64),
) -> Result<u64, ArchiveError> {
    let partial = dest.with_extension("partial");
    let result = write_to(&partial, members, manifest, &mut progress)
        .and_then(|()| std::fs::rename(&partial, dest));
    if let Err(err) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(ArchiveError::Write(err));
    }
    std::fs::metadata(dest)
        .map(|m| m.len())
        .map_err(ArchiveError::Write)
}

fn write_to(
    partial: &Path,
    members: &[Member],
    manifest: &mut Manifest,
    progress: &mut dyn FnMut(u64),
) -> io::Result<()> {
    let file = crate::server::private_files::create_file(partial)?;
    // Fast compression: a backup should not take a core away from polling for long.
    let encoder = GzEncoder::new(BufWriter::new(file), Compression::fast());
    let mut tar = tar::Builder::new(encoder);
    manifest.files.clear();
    for member in members {
        let source = File::open(&member.source)?;
        let size = source.metadata()?.len();
        let mut tally = Tally {
            inner: BufReader::new(source),
            hasher: Sha256::new(),
            bytes: 0,
            progress: &mut *progress,
        };
        tar.append_data(&mut header(size), &member.name, &mut tally)?;
        manifest.files.push(ManifestFile {
            name: member.name.clone(),
            bytes: tally.bytes,
            sha256: hex::encode(tally.hasher.finalize()),
        });
    }
    let json = serde_json::to_vec_pretty(manifest).map_err(io::Error::other)?;
    let sum = format!("{}  {MANIFEST}\n", hex::encode(Sha256::digest(&json)));
    tar.append_data(&mut header(json.len() as u64), MANIFEST, json.as_slice())?;
    tar.append_data(&mut header(sum.len() as u64), MANIFEST_SUM, sum.as_bytes())?;
    let mut writer = tar.into_inner()?.finish()?;
    writer.flush()?;
    writer.into_inner().map_err(|e| e.into_error())?.sync_all()
}

fn header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(0);
    header
}

/// Member names mcpops writes: one plain file, or one inside `database/`, `config/` or
/// `runbooks/`. Anything else (absolute, `..`, deeper) is refused before it is written.
fn allowed(name: &Path) -> bool {
    let parts: Vec<Component> = name.components().collect();
    let plain = |c: &Component| matches!(c, Component::Normal(_));
    match parts.as_slice() {
        [file] => plain(file),
        [Component::Normal(dir), file] => {
            plain(file) && ["database", "config", "runbooks"].iter().any(|d| dir == d)
        }
        _ => false,
    }
}

/// Unpacks `archive` into the empty directory `into`, checking every file against the
/// manifest, and returns the manifest. Nothing outside `into` is touched. `progress` gets
/// compressed bytes read so far.
pub fn unpack(
    archive: &Path,
    into: &Path,
    mut progress: impl FnMut(u64),
) -> Result<Manifest, ArchiveError> {
    let corrupt = |e: io::Error| ArchiveError::Corrupt(e.to_string());
    let file = File::open(archive)
        .map_err(|e| ArchiveError::Corrupt(format!("cannot open {}: {e}", archive.display())))?;
    let counted = Tally {
        inner: BufReader::new(file),
        hasher: Sha256::new(),
        bytes: 0,
        progress: &mut progress,
    };
    let mut tar = tar::Archive::new(GzDecoder::new(counted));
    let mut seen: Vec<ManifestFile> = Vec::new();
    for entry in tar.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        if seen.len() >= MAX_MEMBERS {
            return Err(ArchiveError::Corrupt(
                "too many files for an mcpops archive".into(),
            ));
        }
        let name = entry.path().map_err(corrupt)?.into_owned();
        if !entry.header().entry_type().is_file() || !allowed(&name) {
            return Err(ArchiveError::Corrupt(format!(
                "unexpected member '{}': not an mcpops archive",
                name.display()
            )));
        }
        let dest = into.join(&name);
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(corrupt)?;
        }
        let mut out = BufWriter::new(File::create(&dest).map_err(corrupt)?);
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = entry.read(&mut buf).map_err(corrupt)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(corrupt)?;
            bytes += n as u64;
        }
        out.flush().map_err(corrupt)?;
        seen.push(ManifestFile {
            name: name.to_string_lossy().into_owned(),
            bytes,
            sha256: hex::encode(hasher.finalize()),
        });
    }
    // Read to the end so gzip checks its trailer (CRC and length) too.
    io::copy(&mut tar.into_inner(), &mut io::sink()).map_err(corrupt)?;
    let manifest_bytes = std::fs::read(into.join(MANIFEST))
        .map_err(|_| ArchiveError::Corrupt(format!("{MANIFEST} is missing")))?;
    let sum = std::fs::read_to_string(into.join(MANIFEST_SUM))
        .map_err(|_| ArchiveError::Corrupt(format!("{MANIFEST_SUM} is missing")))?;
    if sum.split_whitespace().next() != Some(&hex::encode(Sha256::digest(&manifest_bytes))) {
        return Err(ArchiveError::Checksum(MANIFEST.into()));
    }
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| ArchiveError::Corrupt(format!("{MANIFEST} cannot be read: {e}")))?;
    for expected in &manifest.files {
        match seen.iter().find(|f| f.name == expected.name) {
            None => {
                return Err(ArchiveError::Corrupt(format!(
                    "{} is missing",
                    expected.name
                )));
            }
            Some(found) if found != expected => {
                return Err(ArchiveError::Checksum(expected.name.clone()));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = seen.iter().find(|f| {
        f.name != MANIFEST
            && f.name != MANIFEST_SUM
            && !manifest.files.iter().any(|m| m.name == f.name)
    }) {
        return Err(ArchiveError::Corrupt(format!(
            "{} is not listed in the manifest",
            extra.name
        )));
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::backups::{ARCHIVE_FORMAT, Backend};

    fn manifest() -> Manifest {
        Manifest {
            format: ARCHIVE_FORMAT,
            app_version: "test".into(),
            created_at: chrono::Utc::now(),
            backend: Backend::Sqlite,
            schema_version: 1,
            files: vec![],
            row_counts: Default::default(),
            secrets_redacted: true,
        }
    }

    fn archive_with(dir: &Path, content: &[u8]) -> PathBuf {
        let source = dir.join("db");
        std::fs::write(&source, content).unwrap_or_default();
        let dest = dir.join("a.tar.gz");
        let members = [Member {
            name: "database/mcpops.db".into(),
            source,
        }];
        let mut m = manifest();
        let written = write(&dest, &members, &mut m, |_| {});
        assert!(written.is_ok(), "{written:?}");
        assert_eq!(m.files.len(), 1);
        dest
    }

    #[test]
    fn an_archive_round_trips_with_its_checksums() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let content: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let archive = archive_with(dir.path(), &content);
        let into = dir.path().join("out");
        std::fs::create_dir(&into)?;
        let manifest = unpack(&archive, &into, |_| {})?;
        assert_eq!(manifest.files[0].bytes, content.len() as u64);
        assert_eq!(std::fs::read(into.join("database/mcpops.db"))?, content);
        Ok(())
    }

    #[test]
    fn truncated_and_bit_flipped_archives_are_refused() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let content: Vec<u8> = (0..50_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let archive = archive_with(dir.path(), &content);
        let bytes = std::fs::read(&archive)?;
        let damaged = dir.path().join("damaged.tar.gz");
        for (what, data) in [
            ("truncated", bytes[..bytes.len() / 2].to_vec()),
            ("bit-flipped", {
                let mut flipped = bytes.clone();
                flipped[bytes.len() / 3] ^= 0x10;
                flipped
            }),
            ("trailer flipped", {
                let mut flipped = bytes.clone();
                let last = flipped.len() - 6;
                flipped[last] ^= 0x01;
                flipped
            }),
        ] {
            std::fs::write(&damaged, data)?;
            let into = tempfile::tempdir()?;
            let result = unpack(&damaged, into.path(), |_| {});
            assert!(result.is_err(), "{what} archive accepted");
        }
        Ok(())
    }

    #[test]
    fn only_mcpops_member_names_are_allowed() {
        for ok in ["manifest.json", "database/mcpops.db", "runbooks/x.md"] {
            assert!(allowed(Path::new(ok)), "{ok}");
        }
        for bad in [
            "/etc/passwd",
            "../x",
            "database/../../x",
            "other/x",
            "runbooks/a/b.md",
        ] {
            assert!(!allowed(Path::new(bad)), "{bad}");
        }
    }
}
