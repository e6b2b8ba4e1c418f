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

/// The most a manifest or its checksum may take; real ones are a few kilobytes.
const MANIFEST_MAX: u64 = 4 * 1024 * 1024;

fn open_entries<'a>(
    archive: &Path,
    progress: &'a mut dyn FnMut(u64),
) -> Result<tar::Archive<GzDecoder<Tally<'a, BufReader<File>>>>, ArchiveError> {
    let file = File::open(archive)
        .map_err(|e| ArchiveError::Corrupt(format!("cannot open {}: {e}", archive.display())))?;
    let counted = Tally {
        inner: BufReader::new(file),
        hasher: Sha256::new(),
        bytes: 0,
        progress,
    };
    Ok(tar::Archive::new(GzDecoder::new(counted)))
}

fn corrupt(e: io::Error) -> ArchiveError {
    ArchiveError::Corrupt(e.to_string())
}

/// Unpacks `archive` into the empty directory `into`, checking every file against the
/// manifest, and returns the manifest. Nothing outside `into` is touched, and nothing is
/// written that the manifest does not list: a first pass reads the manifest (it is the last
/// member), a second writes each listed member, refusing duplicates and stopping at the first
/// byte past its listed size. `progress` gets compressed bytes read, twice the archive's size
/// in all.
pub fn unpack(
    archive: &Path,
    into: &Path,
    mut progress: impl FnMut(u64),
) -> Result<Manifest, ArchiveError> {
    let (manifest, manifest_sha) = read_manifest(archive, &mut progress)?;
    let mut tar = open_entries(archive, &mut progress)?;
    let mut seen: Vec<ManifestFile> = Vec::new();
    for entry in tar.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let name = member_name(&entry, seen.len())?;
        let name_text = name.to_string_lossy().into_owned();
        if seen.iter().any(|f| f.name == name_text) {
            return Err(ArchiveError::Corrupt(format!(
                "{name_text} appears twice in the archive"
            )));
        }
        let cap = match manifest.files.iter().find(|f| f.name == name_text) {
            Some(listed) => listed.bytes,
            None if name_text == MANIFEST || name_text == MANIFEST_SUM => MANIFEST_MAX,
            None => {
                return Err(ArchiveError::Corrupt(format!(
                    "{name_text} is not listed in the manifest"
                )));
            }
        };
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
            bytes += n as u64;
            if bytes > cap {
                return Err(ArchiveError::Corrupt(format!(
                    "{name_text} is longer than the manifest says ({cap} bytes)"
                )));
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(corrupt)?;
        }
        out.flush().map_err(corrupt)?;
        seen.push(ManifestFile {
            name: name_text,
            bytes,
            sha256: hex::encode(hasher.finalize()),
        });
    }
    // Read to the end so gzip checks its trailer (CRC and length) too.
    io::copy(&mut tar.into_inner(), &mut io::sink()).map_err(corrupt)?;
    // The file may have changed between the passes; the manifest unpacked must be the one read.
    if seen
        .iter()
        .find(|f| f.name == MANIFEST)
        .is_none_or(|f| f.sha256 != manifest_sha)
    {
        return Err(ArchiveError::Checksum(MANIFEST.into()));
    }
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
    Ok(manifest)
}

/// A member's name, once it is known to be a plain file mcpops could have written.
fn member_name<R: Read>(entry: &tar::Entry<'_, R>, index: usize) -> Result<PathBuf, ArchiveError> {
    if index >= MAX_MEMBERS {
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
    Ok(name)
}

/// The manifest of `archive`, checked against its checksum, without writing anything. The
/// manifest is the last member, so the whole archive is read through.
pub fn manifest_of(archive: &Path) -> Result<Manifest, ArchiveError> {
    read_manifest(archive, &mut |_| {}).map(|(manifest, _)| manifest)
}

/// The first pass: finds the manifest and its checksum without writing anything, and checks
/// one against the other. Returns the manifest and its SHA-256.
fn read_manifest(
    archive: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<(Manifest, String), ArchiveError> {
    let mut tar = open_entries(archive, progress)?;
    let (mut manifest_bytes, mut sum_bytes) = (None, None);
    for (index, entry) in tar.entries().map_err(corrupt)?.enumerate() {
        let entry = entry.map_err(corrupt)?;
        let name = member_name(&entry, index)?;
        let slot = match name.to_str() {
            Some(MANIFEST) => &mut manifest_bytes,
            Some(MANIFEST_SUM) => &mut sum_bytes,
            _ => continue,
        };
        if slot.is_some() {
            return Err(ArchiveError::Corrupt(format!(
                "{} appears twice in the archive",
                name.display()
            )));
        }
        let mut bytes = Vec::new();
        entry
            .take(MANIFEST_MAX + 1)
            .read_to_end(&mut bytes)
            .map_err(corrupt)?;
        if bytes.len() as u64 > MANIFEST_MAX {
            return Err(ArchiveError::Corrupt(format!(
                "{} is too large for a manifest",
                name.display()
            )));
        }
        *slot = Some(bytes);
    }
    io::copy(&mut tar.into_inner(), &mut io::sink()).map_err(corrupt)?;
    let manifest_bytes =
        manifest_bytes.ok_or_else(|| ArchiveError::Corrupt(format!("{MANIFEST} is missing")))?;
    let sum =
        sum_bytes.ok_or_else(|| ArchiveError::Corrupt(format!("{MANIFEST_SUM} is missing")))?;
    let manifest_sha = hex::encode(Sha256::digest(&manifest_bytes));
    let listed = String::from_utf8_lossy(&sum);
    if listed.split_whitespace().next() != Some(manifest_sha.as_str()) {
        return Err(ArchiveError::Checksum(MANIFEST.into()));
    }
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| ArchiveError::Corrupt(format!("{MANIFEST} cannot be read: {e}")))?;
    for (i, file) in manifest.files.iter().enumerate() {
        if !allowed(Path::new(&file.name))
            || manifest.files[..i].iter().any(|f| f.name == file.name)
        {
            return Err(ArchiveError::Corrupt(format!(
                "the manifest lists '{}' twice or outside the archive's places",
                file.name
            )));
        }
    }
    Ok((manifest, manifest_sha))
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

    /// An archive of exactly `members`, with a manifest listing `listed` and its checksum.
    fn crafted(dir: &Path, members: &[(&str, &[u8])], listed: &[(&str, &[u8])]) -> PathBuf {
        let mut m = manifest();
        m.files = listed
            .iter()
            .map(|(name, bytes)| ManifestFile {
                name: (*name).to_owned(),
                bytes: bytes.len() as u64,
                sha256: hex::encode(Sha256::digest(bytes)),
            })
            .collect();
        let json = serde_json::to_vec(&m).unwrap_or_default();
        let sum = format!("{}  {MANIFEST}\n", hex::encode(Sha256::digest(&json)));
        let dest = dir.join("crafted.tar.gz");
        let file = File::create(&dest).map(BufWriter::new);
        let Ok(file) = file else { return dest };
        let mut tar = tar::Builder::new(GzEncoder::new(file, Compression::fast()));
        let all = members
            .iter()
            .copied()
            .chain([(MANIFEST, json.as_slice()), (MANIFEST_SUM, sum.as_bytes())]);
        for (name, bytes) in all {
            let mut h = header(bytes.len() as u64);
            let appended = tar.append_data(&mut h, name, bytes);
            assert!(appended.is_ok(), "{appended:?}");
        }
        let finished = tar.into_inner().and_then(|gz| gz.finish());
        assert!(finished.is_ok());
        dest
    }

    fn refusal(archive: &Path, into: &Path) -> String {
        match unpack(archive, into, |_| {}) {
            Ok(_) => "accepted".into(),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn doubled_unlisted_and_overlong_members_are_refused_before_they_are_written()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let db: &[u8] = b"the database";
        let doubled = crafted(
            dir.path(),
            &[("database/mcpops.db", db), ("database/mcpops.db", b"evil")],
            &[("database/mcpops.db", db)],
        );
        let into = tempfile::tempdir()?;
        assert!(refusal(&doubled, into.path()).contains("appears twice"));
        assert_eq!(std::fs::read(into.path().join("database/mcpops.db"))?, db);

        let unlisted = crafted(
            dir.path(),
            &[("database/mcpops.db", db), ("runbooks/planted.md", b"x")],
            &[("database/mcpops.db", db)],
        );
        let into = tempfile::tempdir()?;
        assert!(refusal(&unlisted, into.path()).contains("not listed"));
        assert!(!into.path().join("runbooks/planted.md").exists());

        let bomb = vec![0u8; 8 << 20];
        let overlong = crafted(
            dir.path(),
            &[("database/mcpops.db", &bomb)],
            &[("database/mcpops.db", db)],
        );
        let into = tempfile::tempdir()?;
        assert!(refusal(&overlong, into.path()).contains("longer than the manifest says"));
        let written = std::fs::metadata(into.path().join("database/mcpops.db"))?.len();
        assert!(written <= db.len() as u64, "wrote {written} bytes");

        let listed_twice = crafted(
            dir.path(),
            &[("database/mcpops.db", db)],
            &[("database/mcpops.db", db), ("database/mcpops.db", db)],
        );
        let into = tempfile::tempdir()?;
        assert!(refusal(&listed_twice, into.path()).contains("twice"));
        Ok(())
    }

    /// Every file under `dir`, with its size.
    fn files_under(dir: &Path) -> Vec<(PathBuf, u64)> {
        let mut found = Vec::new();
        let mut pending = vec![dir.to_path_buf()];
        while let Some(next) = pending.pop() {
            for entry in std::fs::read_dir(&next).into_iter().flatten().flatten() {
                let path = entry.path();
                match entry.metadata() {
                    Ok(m) if m.is_dir() => pending.push(path),
                    Ok(m) => found.push((path, m.len())),
                    Err(_) => {}
                }
            }
        }
        found
    }

    #[derive(Debug, Clone)]
    enum Damage {
        Flip(proptest::sample::Index, u8),
        Cut(proptest::sample::Index),
        Insert(proptest::sample::Index, Vec<u8>),
    }

    fn damage() -> impl proptest::strategy::Strategy<Value = Damage> {
        use proptest::prelude::*;
        prop_oneof![
            (any::<proptest::sample::Index>(), 1u8..=255).prop_map(|(i, x)| Damage::Flip(i, x)),
            any::<proptest::sample::Index>().prop_map(Damage::Cut),
            (
                any::<proptest::sample::Index>(),
                proptest::collection::vec(any::<u8>(), 1..64)
            )
                .prop_map(|(i, b)| Damage::Insert(i, b)),
        ]
    }

    const PLACES: [&str; 5] = [
        "database/mcpops.db",
        "config/mcpops.toml",
        "runbooks/a.md",
        "runbooks/b.md",
        "notes.txt",
    ];

    proptest::proptest! {
        #![proptest_config(crate::fuzz_config())]

        /// A real archive, damaged: refused or unpacked whole, and never a byte outside `into`
        /// or beyond what its manifest lists.
        #[test]
        fn fuzz_archive_damage_is_refused_or_harmless(damages in proptest::collection::vec(damage(), 1..4)) {
            let dir = tempfile::tempdir().map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            let db: Vec<u8> = (0..2_000u32).map(|i| (i % 251) as u8).collect();
            let archive = crafted(dir.path(), &[("database/mcpops.db", &db)], &[("database/mcpops.db", &db)]);
            let mut bytes = std::fs::read(&archive).unwrap_or_default();
            for d in &damages {
                match d {
                    Damage::Flip(i, x) if !bytes.is_empty() => {
                        let at = i.index(bytes.len());
                        bytes[at] ^= x;
                    }
                    Damage::Cut(i) => bytes.truncate(i.index(bytes.len() + 1)),
                    Damage::Insert(i, extra) => {
                        let at = i.index(bytes.len() + 1);
                        bytes.splice(at..at, extra.iter().copied());
                    }
                    Damage::Flip(..) => {}
                }
            }
            proptest::prop_assert!(std::fs::write(&archive, &bytes).is_ok());
            let into = dir.path().join("into");
            proptest::prop_assert!(std::fs::create_dir(&into).is_ok());
            let result = unpack(&archive, &into, |_| {});
            let outside: Vec<_> = files_under(dir.path())
                .into_iter()
                .filter(|(p, _)| !p.starts_with(&into) && *p != archive)
                .collect();
            proptest::prop_assert!(outside.is_empty(), "{outside:?}");
            let written: u64 = files_under(&into).iter().map(|(_, n)| n).sum();
            proptest::prop_assert!(written <= db.len() as u64 + 2 * MANIFEST_MAX);
            if result.is_ok() {
                proptest::prop_assert_eq!(std::fs::read(into.join("database/mcpops.db")).ok(), Some(db));
            }
        }

        /// Members and a manifest chosen at random among mcpops's places: unpacked only when
        /// the two agree exactly, and never a member longer than its listing.
        #[test]
        fn fuzz_archive_members_must_match_their_manifest(
            members in proptest::collection::vec((0..PLACES.len(), proptest::collection::vec(0u8..4, 0..40)), 0..6),
            listed in proptest::collection::vec((0..PLACES.len(), proptest::collection::vec(0u8..4, 0..40)), 0..6),
        ) {
            let dir = tempfile::tempdir().map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            let members: Vec<(&str, &[u8])> = members.iter().map(|(i, b)| (PLACES[*i], b.as_slice())).collect();
            let listed: Vec<(&str, &[u8])> = listed.iter().map(|(i, b)| (PLACES[*i], b.as_slice())).collect();
            let archive = crafted(dir.path(), &members, &listed);
            let into = dir.path().join("into");
            proptest::prop_assert!(std::fs::create_dir(&into).is_ok());
            let result = unpack(&archive, &into, |_| {});
            for (path, size) in files_under(&into) {
                let name = path.strip_prefix(&into).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
                if name == MANIFEST || name == MANIFEST_SUM {
                    continue;
                }
                let cap = listed.iter().find(|(n, _)| *n == name).map(|(_, b)| b.len() as u64);
                proptest::prop_assert!(cap.is_some_and(|cap| size <= cap), "{name}: {size} bytes, listed {cap:?}");
            }
            let mut unique: Vec<&str> = members.iter().map(|(n, _)| *n).collect();
            unique.sort_unstable();
            unique.dedup();
            let agree = unique.len() == members.len()
                && listed.len() == members.len()
                && members.iter().all(|m| listed.contains(m));
            proptest::prop_assert_eq!(result.is_ok(), agree, "{:?}", result.err().map(|e| e.to_string()));
        }
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
