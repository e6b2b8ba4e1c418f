//! The database, its WAL and the backups hold session ids, probe secret headers and webhook
//! URLs: they are created readable by their owner only (files 0600, directories 0700), and
//! any found readable by others is named at start-up.
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Creates `dir` and any missing parents, each new one 0700.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Creates (or truncates) a file only its owner may read or write.
pub fn create_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// Creates an empty file 0600 unless it exists, so a program that creates it on first open
/// (SQLite) finds it private, and makes the files it creates beside it (WAL) private too.
pub fn create_if_missing(path: &Path) -> io::Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err),
    }
}

/// Those of `paths` that exist and that someone other than their owner may read.
pub fn readable_by_others(paths: impl IntoIterator<Item = PathBuf>) -> Vec<PathBuf> {
    paths
        .into_iter()
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o077 != 0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_created_here_is_the_owners_alone_and_the_rest_is_named() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("a/b");
        create_dir(&dir).expect("dir");
        let file = dir.join("mcpops.db");
        create_if_missing(&file).expect("file");
        create_if_missing(&file).expect("again, untouched");
        let archive = dir.join("backup.tar.gz");
        create_file(&archive).expect("archive");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!((mode(&file), mode(&archive)), (0o600, 0o600));
        assert!(readable_by_others([file.clone(), archive.clone()]).is_empty());
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(
            readable_by_others([file.clone(), archive, dir.join("absent")]),
            vec![file]
        );
    }
}
