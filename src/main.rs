//! The mcpops command line: serve the console, run the demo fleet, migrate.
use clap::{Parser, Subcommand};
use mcpops::domain::audit::RequestOrigin;
use mcpops::domain::auth::Role;
use mcpops::domain::backups::{Progress, RunKind};
use mcpops::domain::demo::DemoFault;
use mcpops::server::bench::collector as bench;
use mcpops::server::collector::PollMode;
use mcpops::server::config::{Config, ConfigError};
use mcpops::server::demo::DemoFleet;
use mcpops::server::services::accounts;
use mcpops::server::services::backup::{self, Backups};
use mcpops::server::startup::{self, Application};
use mcpops::server::telemetry;
use secrecy::ExposeSecret;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "mcpops",
    version,
    about = "Operations console for fleets of MCP servers"
)]
struct Cli {
    /// TOML configuration file; MCPOPS__SECTION__KEY variables override it.
    #[arg(long, short, global = true, env = "MCPOPS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the console (the default).
    Serve,
    /// Serve the console together with a simulated fleet of MCP servers.
    Demo {
        /// How many simulated servers to start (default from demo.servers).
        #[arg(long)]
        servers: Option<usize>,
        /// Start with a fault, as SERVER=FAULT (faults: latency, errors, down, not_ready, drift).
        #[arg(long = "fault", value_parser = parse_fault)]
        faults: Vec<(String, DemoFault)>,
    },
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Manage accounts from the shell (the first admin is made this way).
    #[command(subcommand)]
    User(UserCommand),
    /// Walk the audit log's hash chain and name the first broken entry (exit 1 if any).
    VerifyAudit,
    /// Archive the database (copied while polling goes on), the configuration and the runbooks.
    Backup {
        /// Directory for the archive (default from backup.dir).
        #[arg(long)]
        to: Option<PathBuf>,
        /// Keep passwords and tokens in the archived configuration.
        #[arg(long)]
        include_secrets: bool,
    },
    /// Restore an archive: unpacked and checked in a fresh place, then switched in (stop mcpops
    /// first). With --verify, only check it in a temporary place and record the result.
    Restore {
        /// The archive; or --at TIME to pick one.
        #[arg(required_unless_present = "at", conflicts_with = "at")]
        archive: Option<PathBuf>,
        /// The newest archive taken at or before TIME (by its manifest), from backup.dir or
        /// --from; an older one when it fails its check. RFC 3339, or "YYYY-MM-DD HH:MM" (UTC).
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Where --at looks for archives.
        #[arg(long, requires = "at", value_name = "DIR")]
        from: Option<PathBuf>,
        /// Do not ask before restoring the archive --at picked.
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        verify: bool,
    },
    /// Measure performance and print the figures.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Run only the simulated fleet, printing each server's address (used by the benchmark).
    #[command(hide = true)]
    Fleet {
        #[arg(long)]
        servers: usize,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account. Without --password-stdin a temporary password is printed, to be
    /// changed at first sign-in.
    Add {
        username: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

fn parse_role(raw: &str) -> Result<Role, String> {
    Role::parse(raw).ok_or_else(|| "use viewer, operator, auditor or admin".into())
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Seed a large audit log, then time search, export and chain verification.
    Audit {
        #[arg(long, default_value_t = 1_000_000)]
        entries: u64,
        /// Database to seed (must have an empty audit log); a temporary SQLite file by default.
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long, default_value_t = 200)]
        searches: usize,
    },
    /// Fill a database like DAYS of TARGETS polled every 10 s, then time a backup and a
    /// verified restore.
    Backup {
        #[arg(long, default_value_t = 1000)]
        targets: usize,
        #[arg(long, default_value_t = 7)]
        days: i64,
        /// An empty database to fill; a temporary SQLite file by default.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Time refused sign-ins for real accounts and made-up names: medians of each, which
    /// must match so usernames cannot be told apart by timing.
    SignIn {
        #[arg(long, default_value_t = 50)]
        tries: usize,
    },
    /// Poll a simulated fleet in child processes; print polls/s, CPU, RSS, lag and storage.
    Collector {
        #[arg(long, default_value_t = 1000)]
        targets: usize,
        /// How long to measure, after one interval of warm-up.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        #[arg(long, default_value_t = 10)]
        interval: u32,
        /// Which polling to measure; both when not given.
        #[arg(long, value_enum)]
        mode: Option<BenchMode>,
        /// A synthetic tool call per target per minute (full mode).
        #[arg(long)]
        calls: bool,
    },
    /// Real `mcpops serve` processes polling a simulated fleet: polls, lag, CPU, memory,
    /// storage, page render times and live-update delay, one table row per setup.
    Load {
        /// Fleet sizes measured with one process on SQLite.
        #[arg(long, value_delimiter = ',', default_values_t = [1000, 5000, 10000])]
        sizes: Vec<usize>,
        /// How long polling is measured per setup, after the fleet settles.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        #[arg(long, default_value_t = 100)]
        page_requests: usize,
        /// Browsers following live updates at once.
        #[arg(long, default_value_t = 500)]
        live_clients: usize,
        /// A PostgreSQL server where the bench may create and drop a scratch database, for
        /// the replica row (skipped without it).
        #[arg(long)]
        postgres_url: Option<String>,
        #[arg(long, default_value_t = 3)]
        replicas: usize,
        /// Fleet size of the replica row.
        #[arg(long, default_value_t = 10000)]
        replica_targets: usize,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BenchMode {
    MetricsOnly,
    Full,
}

fn parse_fault(raw: &str) -> Result<(String, DemoFault), String> {
    let (server, fault) = raw
        .split_once('=')
        .ok_or("expected SERVER=FAULT, e.g. demo-03=down")?;
    let fault = DemoFault::parse(fault).ok_or_else(|| {
        let known: Vec<&str> = DemoFault::ALL.iter().map(|f| f.as_str()).collect();
        format!("unknown fault '{fault}'; use one of {}", known.join(", "))
    })?;
    Ok((server.to_owned(), fault))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(err @ ConfigError { .. }) => {
            eprintln!("mcpops: {err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&config.log);
    raise_open_file_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("mcpops: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config)) {
        Ok(code) => code,
        Err(err) => {
            tracing::error!(error = ?err, "mcpops stopped");
            eprintln!("mcpops: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Every polled target holds a connection; raise the soft limit on open files to the hard
/// limit so a large fleet is not cut short by the default 1,024.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(err) => tracing::warn!(error = %err, "cannot raise the open file limit"),
    }
}

/// The demo fleet runs in this process: each simulated server holds a listening socket and
/// both ends of the collector's connection to it. Past the open-file limit the servers do
/// not fail, they stop accepting for a second at a time, so say so before starting.
fn demo_fits_open_file_limit(servers: usize) -> anyhow::Result<()> {
    const FILES_PER_SERVER: u64 = 3;
    // The database, the console's own pages and sockets.
    const HEADROOM: u64 = 512;
    let needed = (servers as u64)
        .saturating_mul(FILES_PER_SERVER)
        .saturating_add(HEADROOM);
    let (allowed, _) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    anyhow::ensure!(
        needed <= allowed,
        "{servers} demo servers need about {needed} open files and this process may open \
         {allowed}: start fewer, or raise the limit (ulimit -n)"
    );
    Ok(())
}

/// What a one-shot command found: a failed check ends the process with a failure code after
/// the store is closed.
enum Finding {
    Passed,
    Failed,
}

/// Runs a one-shot command on an open store and closes it, also when the command fails: a
/// SQLite database left open keeps its WAL file, which a later restore reads as "mcpops is
/// still running".
async fn with_store<T, F, Fut>(config: &Config, command: F) -> anyhow::Result<T>
where
    F: FnOnce(Arc<dyn mcpops::server::store::Store>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let store = startup::open_store(config).await?;
    let result = command(store.clone()).await;
    store.close().await;
    result
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    let finding = run_command(command, config).await?;
    Ok(match finding {
        Finding::Passed => ExitCode::SUCCESS,
        Finding::Failed => ExitCode::FAILURE,
    })
}

async fn run_command(command: Command, config: Config) -> anyhow::Result<Finding> {
    match command {
        Command::Serve => serve(&config, None).await.map(|()| Finding::Passed),
        Command::Demo { servers, faults } => {
            let servers = servers.unwrap_or(config.demo.servers);
            demo_fits_open_file_limit(servers)?;
            let password = with_store(&config, |store| async move {
                Ok(accounts::reset_demo_admin(store.as_ref()).await?)
            })
            .await?;
            println!(
                "sign in as {} with password {password}",
                accounts::DEMO_ADMIN
            );
            let fleet = Arc::new(DemoFleet::start(servers).await?);
            for (server, fault) in faults {
                fleet.set_fault(&server, fault, true).await?;
            }
            let result = serve(&config, Some(fleet.clone())).await;
            fleet.shutdown();
            result.map(|()| Finding::Passed)
        }
        Command::Bench(BenchCommand::Audit {
            entries,
            database_url,
            searches,
        }) => {
            let options = mcpops::server::bench::audit::AuditBenchOptions {
                entries,
                database_url,
                searches,
            };
            mcpops::server::bench::audit::run(&options).await?;
            Ok(Finding::Passed)
        }
        Command::Bench(BenchCommand::Backup {
            targets,
            days,
            database_url,
        }) => {
            let options = mcpops::server::bench::backup::BackupBenchOptions {
                targets,
                days,
                database_url,
            };
            mcpops::server::bench::backup::run(&options, &config).await?;
            Ok(Finding::Passed)
        }
        Command::Bench(BenchCommand::SignIn { tries }) => {
            let options = mcpops::server::bench::sign_in::SignInBenchOptions { tries };
            mcpops::server::bench::sign_in::run(&options, &config).await?;
            Ok(Finding::Passed)
        }
        Command::Bench(BenchCommand::Collector {
            targets,
            seconds,
            interval,
            mode,
            calls,
        }) => {
            let modes = match mode {
                Some(BenchMode::MetricsOnly) => vec![PollMode::MetricsOnly],
                Some(BenchMode::Full) => vec![PollMode::Full],
                None => vec![PollMode::MetricsOnly, PollMode::Full],
            };
            let options = bench::BenchOptions {
                targets,
                seconds,
                interval_secs: interval,
                modes,
                calls,
            };
            let results = bench::run_collector(&options).await?;
            bench::print_table(&results);
            Ok(Finding::Passed)
        }
        Command::Bench(BenchCommand::Load {
            sizes,
            seconds,
            page_requests,
            live_clients,
            postgres_url,
            replicas,
            replica_targets,
        }) => {
            let options = mcpops::server::bench::load::LoadBenchOptions {
                sizes,
                seconds,
                page_requests,
                live_clients,
                postgres_url,
                replicas: replicas.max(1),
                replica_targets,
            };
            mcpops::server::bench::load::run(&options).await?;
            Ok(Finding::Passed)
        }
        Command::Fleet { servers } => {
            let fleet = DemoFleet::start(servers).await?;
            for server in fleet.servers() {
                println!("{}", server.addr);
            }
            println!("ready");
            startup::shutdown_signal().await;
            fleet.shutdown();
            Ok(Finding::Passed)
        }
        Command::User(UserCommand::Add {
            username,
            role,
            password_stdin,
        }) => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                Some(line.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                None
            };
            let created = with_store(&config, |store| async move {
                Ok(accounts::add_user(store.as_ref(), &username, role, password).await?)
            })
            .await?;
            match created.temporary_password {
                Some(password) => println!(
                    "created {} ({}); temporary password: {password} (must be changed at first sign-in)",
                    created.username,
                    role.as_str()
                ),
                None => println!("created {} ({})", created.username, role.as_str()),
            }
            Ok(Finding::Passed)
        }
        Command::VerifyAudit => {
            let report = with_store(&config, |store| async move {
                Ok(mcpops::server::services::audit_export::verify_chain(
                    store.as_ref(),
                    |checked| {
                        eprint!("\rchecked {checked} entries");
                    },
                )
                .await?)
            })
            .await?;
            eprintln!();
            match report.broken {
                None => {
                    println!(
                        "audit chain intact: {} entries verified in {} ms",
                        report.checked, report.millis
                    );
                    Ok(Finding::Passed)
                }
                Some((seq, check)) => {
                    println!(
                        "audit chain BROKEN at entry {seq}: {} ({} entries before it are intact)",
                        check.describe(),
                        report.checked
                    );
                    Ok(Finding::Failed)
                }
            }
        }
        Command::Backup {
            to,
            include_secrets,
        } => {
            let done = with_store(&config, |store| async {
                let backups = Backups::new(
                    store,
                    config.database.url.clone(),
                    config.backup.clone(),
                    startup::backup_sources(&config, include_secrets),
                );
                let printer = print_progress(backups.clone());
                let result = backups
                    .back_up(to.as_deref(), "cli", &RequestOrigin::local())
                    .await;
                printer.abort();
                eprintln!();
                Ok(result?)
            })
            .await?;
            println!(
                "backup written: {} ({} bytes, {} rows, {:.1} s)",
                done.archive.display(),
                done.bytes,
                done.rows(),
                done.took.as_secs_f64()
            );
            Ok(Finding::Passed)
        }
        Command::Restore {
            archive: Some(archive),
            verify,
            ..
        } => restore(&config, &archive, verify).await,
        Command::Restore {
            at,
            from,
            yes,
            verify,
            ..
        } => {
            restore_at(
                &config,
                at.as_deref().unwrap_or_default(),
                from,
                yes,
                verify,
            )
            .await
        }
        Command::Migrate => {
            with_store(&config, |_| async { Ok(()) }).await?;
            tracing::info!("database schema is up to date");
            Ok(Finding::Passed)
        }
    }
}

/// Prints the running backup's progress on one line of standard error.
fn print_progress(backups: Arc<Backups>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            if let Some(p) = backups.progress() {
                print_stage(&p);
            }
        }
    })
}

fn print_stage(p: &Progress) {
    match p.percent() {
        Some(pct) => eprint!(
            "\r{}: {pct}% ({} MB)      ",
            p.stage,
            p.done_bytes / 1_000_000
        ),
        None => eprint!("\r{}…      ", p.stage),
    }
}

/// `restore --at`: says which archive and how old it is, asks unless `yes`, and falls back
/// to the next older archive when one fails its check (before anything was switched).
async fn restore_at(
    config: &Config,
    raw: &str,
    from: Option<PathBuf>,
    yes: bool,
    verify: bool,
) -> anyhow::Result<Finding> {
    use mcpops::domain::backups::{describe_age, parse_restore_time};
    let at = parse_restore_time(raw).map_err(anyhow::Error::msg)?;
    let dir = from.unwrap_or_else(|| {
        backup::archive_dir(&config.backup, config.database.url.expose_secret())
    });
    let (candidates, unreadable) = backup::archives_taken_by(&dir, at).await?;
    for reason in unreadable {
        eprintln!("skipped {reason}");
    }
    let now = chrono::Utc::now();
    for (archive, taken) in candidates {
        println!(
            "{}: taken {}, {} before {} and {} ago",
            archive.display(),
            taken.format("%Y-%m-%d %H:%M:%S UTC"),
            describe_age(taken, at),
            at.format("%Y-%m-%d %H:%M:%S UTC"),
            describe_age(taken, now)
        );
        if !verify && !yes && !confirm("Restore it in place of the current database?")? {
            println!("nothing restored");
            return Ok(Finding::Failed);
        }
        match restore(config, &archive, verify).await {
            Ok(Finding::Passed) => return Ok(Finding::Passed),
            Ok(Finding::Failed) => {}
            // The archive failed a check before the switch: the database is as it was. A
            // database in use or a failed switch is no reason to try an older archive.
            Err(err)
                if matches!(
                    err.downcast_ref::<backup::BackupError>(),
                    Some(backup::BackupError::Archive(_) | backup::BackupError::Refused(_))
                ) =>
            {
                println!("restore FAILED for {}: {err}", archive.display());
            }
            Err(err) => return Err(err),
        }
        println!("trying the next older archive");
    }
    println!(
        "no archive taken at or before {} in {} passed its check",
        at.format("%Y-%m-%d %H:%M:%S UTC"),
        dir.display()
    );
    Ok(Finding::Failed)
}

/// Asks a yes/no question on the terminal; no answer (or no terminal) is no.
fn confirm(question: &str) -> anyhow::Result<bool> {
    use std::io::Write;
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

async fn restore(
    config: &Config,
    archive: &std::path::Path,
    verify: bool,
) -> anyhow::Result<Finding> {
    let url = config.database.url.expose_secret().to_owned();
    let started = chrono::Utc::now();
    let tracker = backup::Tracker::detached(RunKind::Verify);
    let watcher = tracker.clone();
    let printer = tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            if let Some(p) = watcher.snapshot() {
                print_stage(&p);
            }
        }
    });
    if verify {
        let result = backup::verify(&url, archive, &tracker).await;
        printer.abort();
        eprintln!();
        let summary = result
            .as_ref()
            .map(|c| format!("{} ({:.1} s)", c.summary(), c.took.as_secs_f64()))
            .map_err(ToString::to_string);
        let recorded = summary.clone();
        with_store(config, |store| async move {
            Ok(
                backup::record_cli_run(store.as_ref(), RunKind::Verify, archive, started, recorded)
                    .await?,
            )
        })
        .await?;
        match summary {
            Ok(text) => {
                println!("verified {}: {text}", archive.display());
                Ok(Finding::Passed)
            }
            Err(reason) => {
                println!("verification FAILED for {}: {reason}", archive.display());
                Ok(Finding::Failed)
            }
        }
    } else {
        let result = backup::restore(&url, archive, &tracker).await;
        printer.abort();
        eprintln!();
        let (checked, previous) = result?;
        backup::record_restore(&url, archive, &checked, started).await?;
        println!(
            "restored {}: {} in {:.1} s; the previous database is kept as {previous}",
            archive.display(),
            checked.summary(),
            checked.took.as_secs_f64()
        );
        Ok(Finding::Passed)
    }
}

async fn serve(config: &Config, demo: Option<Arc<DemoFleet>>) -> anyhow::Result<()> {
    let app = Application::build(config, demo).await?;
    if app.state.store.count_users().await? == 0 {
        println!(
            "no accounts yet: create the first admin with `mcpops user add NAME --role admin`"
        );
    }
    let addr = app.local_addr()?;
    tracing::info!(%addr, "mcpops is listening");
    println!("{}", startup::dashboard_line(addr));
    app.serve(startup::shutdown_signal()).await?;
    Ok(())
}
