//! The mcpops command line: serve the console, run the demo fleet, migrate.
use clap::{Parser, Subcommand};
use mcpops::api::demo::DemoFault;
use mcpops::server::bench;
use mcpops::server::collector::PollMode;
use mcpops::server::config::{Config, ConfigError};
use mcpops::server::demo::DemoFleet;
use mcpops::server::startup::{self, Application};
use mcpops::server::telemetry;
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
enum BenchCommand {
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
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = ?err, "mcpops stopped");
            eprintln!("mcpops: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve(&config, None).await,
        Command::Demo { servers, faults } => {
            let fleet = Arc::new(DemoFleet::start(servers.unwrap_or(config.demo.servers)).await?);
            for (server, fault) in faults {
                fleet.set_fault(&server, fault, true).await?;
            }
            let result = serve(&config, Some(fleet.clone())).await;
            fleet.shutdown();
            result
        }
        Command::Bench(BenchCommand::Collector {
            targets,
            seconds,
            interval,
            mode,
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
            };
            let results = bench::run_collector(&options).await?;
            bench::print_table(&results);
            Ok(())
        }
        Command::Fleet { servers } => {
            let fleet = DemoFleet::start(servers).await?;
            for server in fleet.servers() {
                println!("{}", server.addr);
            }
            println!("ready");
            startup::shutdown_signal().await;
            fleet.shutdown();
            Ok(())
        }
        Command::Migrate => {
            startup::open_store(&config).await?;
            tracing::info!("database schema is up to date");
            Ok(())
        }
    }
}

async fn serve(config: &Config, demo: Option<Arc<DemoFleet>>) -> anyhow::Result<()> {
    let app = Application::build(config, demo).await?;
    let addr = app.local_addr()?;
    tracing::info!(%addr, "mcpops is listening");
    println!("mcpops dashboard: http://{addr}/");
    app.serve(startup::shutdown_signal()).await?;
    Ok(())
}
