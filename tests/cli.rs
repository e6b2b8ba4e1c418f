//! The binary's command line: configuration errors are one clear line and exit code 2.
use std::process::Command;

fn mcpops() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcpops"));
    command.env_remove("MCPOPS_CONFIG");
    command
}

#[test]
fn a_bad_environment_value_names_the_key_and_exits_2() {
    let output = mcpops()
        .arg("migrate")
        .env("MCPOPS__SERVER__LISTEN", "not-an-address")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("server.listen"), "{stderr}");
}

#[test]
fn an_unknown_database_scheme_names_the_key_and_hides_the_password() {
    let output = mcpops()
        .arg("migrate")
        .env("MCPOPS__DATABASE__URL", "mysql://root:s3cret@db/x")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("database.url"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
}

#[test]
fn a_missing_config_file_is_named() {
    let output = mcpops()
        .args(["--config", "/nonexistent/mcpops.toml", "migrate"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/mcpops.toml"));
}

#[test]
fn a_demo_fleet_beyond_the_open_file_limit_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("mcpops.db");
    let output = mcpops()
        .args(["demo", "--servers", "10000000"])
        .env(
            "MCPOPS__DATABASE__URL",
            format!("sqlite://{}", path.display()),
        )
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("10000000 demo servers need about 30000512 open files"),
        "{stderr}"
    );
    assert!(!path.exists(), "nothing was created");
}

#[test]
fn migrate_creates_the_sqlite_database() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("nested/mcpops.db");
    let output = mcpops()
        .arg("migrate")
        .env(
            "MCPOPS__DATABASE__URL",
            format!("sqlite://{}", path.display()),
        )
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(path.exists());
}
