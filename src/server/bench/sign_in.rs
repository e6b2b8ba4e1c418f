//! `mcpops bench sign-in`: whether a wrong password for a real account and a made-up name
//! take the same time, so nobody can tell which usernames exist by timing the form. A real
//! server on loopback; the two kinds of try are interleaved, and each stays under the login
//! throttle (every real-account try uses its own account).
use crate::domain::auth::Role;
use crate::server::config::Config;
use crate::server::services::accounts::add_user;
use crate::server::startup::Application;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub struct SignInBenchOptions {
    /// Tries of each kind, after a few to warm up.
    pub tries: usize,
}

const WARM_UP: usize = 5;
const PASSWORD: &str = "the bench account's password";

pub async fn run(options: &SignInBenchOptions, base: &Config) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = base.clone();
    config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.database.url = format!("sqlite://{}", dir.path().join("sign-in.db").display()).into();
    config.collector.enabled = false;
    config.backup.every_minutes = 0;
    let rounds = WARM_UP + options.tries;
    // Two failures per round from this one address, all within the throttle's window.
    config.auth.max_failures_per_ip = u32::try_from(2 * rounds + 10)?;
    let app = Application::build(&config, None).await?;
    let addr = app.local_addr()?;
    let store = app.state.store.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.serve(async {
        let _ = stopped.await;
    }));

    println!("creating {rounds} accounts…");
    for round in 0..rounds {
        add_user(
            store.as_ref(),
            &format!("bench-{round}"),
            Role::Viewer,
            Some(PASSWORD.into()),
        )
        .await?;
    }
    let client = reqwest::Client::new();
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let real = sign_in(&client, addr, &format!("bench-{round}")).await?;
        let made_up = sign_in(&client, addr, &format!("nobody-{round}")).await?;
        if round >= WARM_UP {
            known.push(real);
            unknown.push(made_up);
        }
    }
    let _ = stop.send(());
    serving.await??;

    let (known_median, unknown_median) = (percentile(&mut known, 50), percentile(&mut unknown, 50));
    println!();
    println!("| sign-in with a wrong password | tries | median ms | p90 ms |");
    println!("|---|---:|---:|---:|");
    for (what, times, median) in [
        ("real account", &mut known, known_median),
        ("made-up name", &mut unknown, unknown_median),
    ] {
        let p90 = percentile(times, 90);
        println!(
            "| {what} | {} | {:.1} | {:.1} |",
            times.len(),
            ms(median),
            ms(p90)
        );
    }
    let gap = ms(known_median) - ms(unknown_median);
    println!();
    println!(
        "difference of medians: {gap:+.1} ms ({:+.1}% of the real account's)",
        100.0 * gap / ms(known_median).max(f64::EPSILON)
    );
    Ok(())
}

/// Times one refused sign-in; anything but "wrong username or password" ends the bench.
async fn sign_in(
    client: &reqwest::Client,
    addr: SocketAddr,
    name: &str,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let response = client
        .post(format!("http://{addr}/api/auth/login"))
        .form(&[
            ("username", name),
            ("password", "not the password"),
            ("next", "/"),
        ])
        .send()
        .await?;
    let took = started.elapsed();
    anyhow::ensure!(
        response.status() == reqwest::StatusCode::UNAUTHORIZED,
        "a sign-in as {name} answered {}, not 401: the throttle or the server interfered",
        response.status()
    );
    Ok(took)
}

fn percentile(times: &mut [Duration], pct: usize) -> Duration {
    times.sort_unstable();
    let index = (times.len() * pct / 100).min(times.len().saturating_sub(1));
    times.get(index).copied().unwrap_or_default()
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
