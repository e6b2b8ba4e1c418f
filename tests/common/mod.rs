//! Test helpers: fresh databases on both backends, and the app on a port-0 listener.

pub mod hostile;

use mcpops::domain::auth::Role;
use mcpops::server::config::Config;
use mcpops::server::demo::DemoFleet;
use mcpops::server::startup::Application;
use mcpops::server::state::AppState;
use std::net::SocketAddr;
use std::sync::Arc;

/// Where the test role can create databases; `scripts/test.sh` sets the role up.
pub fn postgres_admin_url() -> String {
    std::env::var("MCPOPS_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://mcpops_test:mcpops_test@127.0.0.1:5432/postgres".into())
}

/// A database that exists for one test and is dropped afterwards, even when the test panics.
pub enum TestDb {
    Sqlite {
        url: String,
        _dir: tempfile::TempDir,
    },
    Postgres {
        url: String,
        name: String,
    },
}

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("mcpops.db").display());
        Self::Sqlite { url, _dir: dir }
    }

    pub async fn postgres() -> Self {
        let name = format!("mcpops_t_{}", uuid::Uuid::new_v4().simple());
        let admin = postgres_admin_url();
        let mut conn = sqlx_connect(&admin).await;
        sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
        let url = replace_db(&admin, &name);
        Self::Postgres { url, name }
    }

    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } | Self::Postgres { url, .. } => url,
        }
    }

    /// Runs SQL straight against the database, as someone with database access (or another
    /// replica) would.
    pub async fn raw_sql(&self, statements: &[&str]) -> Result<(), sqlx::Error> {
        use sqlx::Connection;
        match self {
            Self::Sqlite { .. } => {
                let mut conn = sqlx::SqliteConnection::connect(self.url()).await?;
                for sql in statements {
                    sqlx::Executor::execute(&mut conn, *sql).await?;
                }
            }
            Self::Postgres { .. } => {
                let mut conn = sqlx::PgConnection::connect(self.url()).await?;
                for sql in statements {
                    sqlx::Executor::execute(&mut conn, *sql).await?;
                }
            }
        }
        Ok(())
    }

    /// The single number a query such as `SELECT COUNT(*) …` answers.
    pub async fn count(&self, sql: &str) -> Result<i64, sqlx::Error> {
        use sqlx::Connection;
        match self {
            Self::Sqlite { .. } => {
                let mut conn = sqlx::SqliteConnection::connect(self.url()).await?;
                sqlx::query_scalar(sql).fetch_one(&mut conn).await
            }
            Self::Postgres { .. } => {
                let mut conn = sqlx::PgConnection::connect(self.url()).await?;
                sqlx::query_scalar(sql).fetch_one(&mut conn).await
            }
        }
    }

    /// Runs the migrations numbered below `version` only, to build a database as an older
    /// release left it.
    pub async fn migrate_before(&self, version: i64) -> Result<(), sqlx::migrate::MigrateError> {
        use sqlx::{ConnectOptions, Connection};
        let dir = match self {
            Self::Sqlite { .. } => "migrations/sqlite",
            Self::Postgres { .. } => "migrations/postgres",
        };
        let mut migrator = sqlx::migrate::Migrator::new(std::path::Path::new(dir)).await?;
        let older: Vec<_> = migrator
            .migrations
            .iter()
            .filter(|m| m.version < version)
            .cloned()
            .collect();
        migrator.migrations = older.into();
        match self {
            Self::Sqlite { .. } => {
                let options: sqlx::sqlite::SqliteConnectOptions = self
                    .url()
                    .parse()
                    .map_err(sqlx::migrate::MigrateError::Execute)?;
                let mut conn = options.create_if_missing(true).connect().await?;
                migrator.run(&mut conn).await
            }
            Self::Postgres { .. } => {
                let mut conn = sqlx::PgConnection::connect(self.url()).await?;
                migrator.run(&mut conn).await
            }
        }
    }
}

async fn sqlx_connect(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url).await.unwrap_or_else(|err| {
        panic!(
            "cannot reach the test PostgreSQL at {} ({err}); run scripts/test.sh, which starts it",
            mcpops::server::config::redact_url(url)
        )
    })
}

pub fn replace_db(url: &str, db: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("postgres url");
    parsed.set_path(db);
    parsed.to_string()
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Self::Postgres { name, .. } = self {
            let name = name.clone();
            let (done, finished) = std::sync::mpsc::channel();
            // Drop runs inside the test's runtime, so the cleanup gets a thread and runtime of its
            // own. While we wait here the test's runtime is frozen, and a pool connection it had
            // half opened can hold DROP DATABASE for PostgreSQL's 60 s authentication timeout; so
            // wait a little, then let the test end (which closes that connection) and the drop
            // finish in the background. scripts/test.sh removes any database a run left behind.
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(runtime) = runtime {
                    runtime.block_on(async {
                        let mut conn = sqlx_connect(&postgres_admin_url()).await;
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = sqlx::Executor::execute(&mut conn, sql.as_str()).await;
                    });
                }
                let _ = done.send(());
            });
            let _ = finished.recv_timeout(std::time::Duration::from_secs(3));
        }
    }
}

/// Runs `test` on each backend in turn, naming the backend in any failure.
pub async fn on_each_backend<F, Fut>(test: F)
where
    F: Fn(Backend) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    for backend in BACKENDS {
        if let Err(err) = tokio::spawn(test(backend)).await {
            let message = err
                .try_into_panic()
                .ok()
                .and_then(|p| {
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                })
                .unwrap_or_default();
            panic!("on {backend:?}: {message}");
        }
    }
}

/// Polls `check` every 50 ms until it returns `Some`, or fails after `within`.
pub async fn eventually<T, F, Fut>(within: std::time::Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Configuration for a test server: port 0, the given database, quiet logs unless TEST_LOG is set.
pub fn test_config(database_url: &str) -> Config {
    let mut config = Config::load(None).expect("default config");
    config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.database.url = database_url.to_owned().into();
    // Tests that back up say where; none should write into the working directory.
    config.backup.every_minutes = 0;
    // Made-up history would blur what tests measure from their own polls.
    config.demo.seed_history = false;
    // Notices go out as soon as their alert changes (a group's later changes within a
    // second); the grouping test sets its own timing.
    config.alerts.group_wait_secs = 0;
    config.alerts.group_interval_secs = 1;
    config
}

pub fn init_test_log() {
    if std::env::var_os("TEST_LOG").is_some() {
        let config = mcpops::server::config::LogConfig {
            format: mcpops::server::config::LogFormat::Pretty,
            level: "debug".into(),
            probe_requests_every: 1,
        };
        mcpops::server::telemetry::init(&config);
    }
}

/// The password every test account gets.
pub const TEST_PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    /// Signed in as an admin.
    pub client: reqwest::Client,
    /// Not signed in.
    pub anonymous: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    serving: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A new account with `role` (named after it plus a suffix), and a client signed in as it.
    pub async fn signed_in(&self, role: Role) -> (String, reqwest::Client) {
        let name = format!(
            "{}-{}",
            role.as_str(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        self.add_user(&name, role).await;
        let client = cookie_client();
        let response = self.login(&client, &name, TEST_PASSWORD).await;
        assert!(
            response.status().is_success() || response.status().is_redirection(),
            "login as {name} failed: {}",
            response.status()
        );
        (name, client)
    }

    pub async fn add_user(&self, name: &str, role: Role) {
        mcpops::server::services::accounts::add_user(
            self.state.store.as_ref(),
            name,
            role,
            Some(TEST_PASSWORD.into()),
        )
        .await
        .expect("create test user");
    }

    pub async fn login(
        &self,
        client: &reqwest::Client,
        name: &str,
        password: &str,
    ) -> reqwest::Response {
        client
            .post(self.url("/api/auth/login"))
            .form(&[("username", name), ("password", password), ("next", "/")])
            .send()
            .await
            .expect("login request")
    }

    /// Asks the server to stop, as SIGTERM does, and waits until it has.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.serving.take() {
            Some(serving) => serving
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e))),
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts the app on 127.0.0.1:0 and returns once it accepts connections.
pub async fn spawn_app(database_url: &str, demo: Option<Arc<DemoFleet>>) -> TestApp {
    spawn_app_with(database_url, demo, |_| {}).await
}

/// Like `spawn_app`, with a chance to change the configuration first.
pub async fn spawn_app_with(
    database_url: &str,
    demo: Option<Arc<DemoFleet>>,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    init_test_log();
    let mut config = test_config(database_url);
    adjust(&mut config);
    let app = Application::build(&config, demo).await.expect("app builds");
    let addr = app.local_addr().expect("bound");
    let state = app.state.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.serve(async {
        let _ = rx.await;
    }));
    let mut app = TestApp {
        addr,
        state,
        client: cookie_client(),
        anonymous: cookie_client(),
        shutdown: Some(tx),
        serving: Some(serving),
    };
    app.client = app.signed_in(Role::Admin).await.1;
    app
}

/// A client that keeps cookies (the session) and does not follow redirects.
pub fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// An audit event for store calls made directly by tests.
pub fn test_event() -> mcpops::domain::audit::AuditEvent {
    mcpops::domain::audit::AuditEvent::new(
        "test",
        "test",
        "test",
        "test",
        &mcpops::domain::audit::RequestOrigin::default(),
    )
}

/// Posts a form as `client`: the status, and the body as JSON (or as text when it is not).
pub async fn post_form(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let response = client
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// Runs `mcpops verify-audit` on the database.
pub async fn verify_audit(database_url: &str) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_mcpops"))
        .arg("verify-audit")
        .env("MCPOPS__DATABASE__URL", database_url)
        .env("MCPOPS__LOG__LEVEL", "error")
        .output()
        .await
        .expect("run verify-audit")
}

/// A real `mcpops serve` process on the database, on a port of its own, with `settings` as
/// `MCPOPS__SECTION__KEY` variables; returns once it listens. SIGKILL it with `start_kill`.
pub async fn serve_process(
    database_url: &str,
    settings: &[(&str, &str)],
) -> (tokio::process::Child, SocketAddr) {
    let (process, addr, _) = spawn_serve(database_url, settings, false).await;
    (process, addr)
}

/// The same, keeping every line it logs (JSON, on stderr) as it comes.
pub async fn serve_process_logging(
    database_url: &str,
    settings: &[(&str, &str)],
) -> (tokio::process::Child, SocketAddr, LogLines) {
    let (process, addr, log) = spawn_serve(database_url, settings, true).await;
    (process, addr, log)
}

/// What a process has logged so far, a line each.
pub type LogLines = Arc<std::sync::Mutex<Vec<String>>>;

async fn spawn_serve(
    database_url: &str,
    settings: &[(&str, &str)],
    keep_log: bool,
) -> (tokio::process::Child, SocketAddr, LogLines) {
    use tokio::io::AsyncBufReadExt;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcpops"));
    command
        .arg("serve")
        .env("MCPOPS__DATABASE__URL", database_url)
        .env("MCPOPS__SERVER__LISTEN", "127.0.0.1:0")
        // No scheduled backups into the working directory.
        .env("MCPOPS__BACKUP__EVERY_MINUTES", "0")
        // Notices go out as soon as their alert changes, as in `test_config`.
        .env("MCPOPS__ALERTS__GROUP_WAIT_SECS", "0")
        .env("MCPOPS__ALERTS__GROUP_INTERVAL_SECS", "1")
        .env("MCPOPS__LOG__LEVEL", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    if keep_log {
        command.stderr(std::process::Stdio::piped());
    }
    for (key, value) in settings {
        command.env(key, value);
    }
    let mut process = command.spawn().expect("start mcpops serve");
    let log = LogLines::default();
    if let Some(stderr) = process.stderr.take() {
        let log = log.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                log.lock().expect("log lines").push(line);
            }
        });
    }
    let stdout = process.stdout.take().expect("piped stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let addr = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(addr) = mcpops::server::startup::dashboard_addr(&line) {
                return Some(addr);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("mcpops serve did not start");
    // Keep reading, so a full pipe never blocks the server.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (process, addr, log)
}

/// Serves `app` on 127.0.0.1 at a port of its own, for the rest of the test.
pub async fn serve_on_loopback(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A target added as from the UI, polled every second.
pub async fn add_target(
    store: &dyn mcpops::server::store::Store,
    name: &str,
    url: &str,
) -> mcpops::domain::target::Target {
    let spec = mcpops::domain::target::TargetSpec::from_form(name, url, "1", "").expect("spec");
    store
        .insert_target(
            &spec,
            mcpops::domain::target::TargetSource::Ui,
            test_event(),
        )
        .await
        .expect("insert target")
}

/// Opens an alert in the store as the engine would, now, summarised by its rule.
pub async fn open_test_alert(
    store: &dyn mcpops::server::store::Store,
    target_id: i64,
    rule: mcpops::domain::alerts::RuleKind,
    state: mcpops::domain::alerts::AlertState,
) -> mcpops::domain::alerts::Alert {
    let new = mcpops::server::store::NewAlert {
        rule,
        target_id,
        state,
        summary: format!("{rule}"),
        silenced: false,
        at: chrono::Utc::now(),
    };
    store
        .open_alert(&new, test_event())
        .await
        .expect("open alert")
}

/// A listener on loopback that takes connections and never says a word: a hung webhook or
/// mail server.
pub async fn silent_listener() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

/// The newest alert of `rule` on the target named `target`, in any state.
pub async fn alert_on(
    app: &TestApp,
    target: &str,
    rule: mcpops::domain::alerts::RuleKind,
) -> Option<mcpops::domain::alerts::Alert> {
    let query = mcpops::domain::alerts::AlertQuery {
        rule: Some(rule),
        limit: 100,
        ..Default::default()
    };
    app.state
        .store
        .alerts(&query)
        .await
        .expect("alerts")
        .into_iter()
        .find(|a| a.target_name == target)
}

/// A certificate authority of a test's own, for servers whose certificates mcpops is told
/// to trust (`ca_file`, `smtp_ca_file`).
pub fn test_ca(name: &str) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca")
}

/// Webhook receivers on loopback: every JSON body posted to `/{name}/{anything}` is kept
/// under `name`, answered 202 Accepted (as PagerDuty answers).
#[derive(Clone, Default)]
pub struct Receivers(Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>);

impl Receivers {
    pub async fn start() -> (Self, SocketAddr) {
        async fn hook(
            axum::extract::State(r): axum::extract::State<Receivers>,
            axum::extract::Path((name, _)): axum::extract::Path<(String, String)>,
            axum::Json(body): axum::Json<serde_json::Value>,
        ) -> axum::http::StatusCode {
            r.0.lock().expect("lock").push((name, body));
            axum::http::StatusCode::ACCEPTED
        }
        let receivers = Self::default();
        let app = axum::Router::new()
            .route("/{name}/{rest}", axum::routing::post(hook))
            .with_state(receivers.clone());
        (receivers.clone(), serve_on_loopback(app).await)
    }

    /// What `name` was sent, oldest first.
    pub fn of(&self, name: &str) -> Vec<serde_json::Value> {
        self.0
            .lock()
            .expect("lock")
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, b)| b.clone())
            .collect()
    }
}
