//! One poll of one target: its probes one after another, then its synthetic tool calls.
use super::*;

/// What every poll needs and nothing owns exclusively.
pub(super) struct PollContext {
    pub(super) client: reqwest::Client,
    /// Caps the synthetic tool calls in flight, which may each take far longer than a poll.
    pub(super) call_permits: Semaphore,
    pub(super) config: CollectorConfig,
    pub(super) observations: mpsc::Sender<Collected>,
    pub(super) stats: Arc<CollectorStats>,
}

/// What the collector remembers about one target between its polls.
#[derive(Default)]
pub(super) struct TargetMemory {
    previous_scrape: Option<(Snapshot, Instant)>,
    pub(super) mcp: McpMemory,
    /// Which probes the target offers, found out by asking.
    pub(super) discoveries: Discoveries,
    /// An https target's certificate and when it was read.
    pub(super) certificate: Option<(Instant, Certificate)>,
    /// Each synthetic tool call's schedule and recent calls, by check id.
    pub(super) checks: HashMap<i64, CheckMemory>,
}

pub(super) struct CheckMemory {
    pub(super) due: Instant,
    pub(super) history: CheckHistory,
    pub(super) status: Option<CheckStatus>,
}

/// A target as its polls need it: URLs, headers and metric names are worked out when the
/// target changes, not on every poll, and a poll holds it by reference count.
pub(super) struct PolledTarget {
    pub(super) target: Target,
    live_url: String,
    ready_url: String,
    metrics_url: String,
    mcp_url: String,
    pub(super) headers: reqwest::header::HeaderMap,
    pub(super) profile: MetricProfile,
    /// Its synthetic tool calls.
    pub(super) checks: Vec<ToolCheck>,
}

impl PolledTarget {
    pub(super) fn new(target: Target, checks: Vec<ToolCheck>) -> Arc<Self> {
        let probe = &target.probe;
        Arc::new(Self {
            checks,
            live_url: endpoint(&target, &probe.live_path),
            ready_url: endpoint(&target, &probe.ready_path),
            metrics_url: endpoint(&target, &probe.metrics_path),
            mcp_url: endpoint(&target, &probe.mcp_path),
            headers: fetch::header_map(&target.secret_headers),
            profile: probe.metric_profile(),
            target,
        })
    }
}

/// Failures that mean nothing answered at all, as opposed to a wrong answer.
fn unreachable(err: &ProbeError) -> bool {
    matches!(
        err,
        ProbeError::Refused
            | ProbeError::Timeout { .. }
            | ProbeError::Connect(_)
            | ProbeError::Tls(_)
            | ProbeError::Denied { .. }
    )
}

pub(super) fn endpoint(target: &Target, path: &str) -> String {
    TargetUrl::parse(&target.base_url)
        .map(|b| b.join(path))
        .unwrap_or_default()
}

pub(super) async fn close_session(
    context: &PollContext,
    polled: &PolledTarget,
    memory: &mut TargetMemory,
) {
    let probe = McpProbe {
        client: &context.client,
        url: &polled.mcp_url,
        limits: limits(&context.config, &polled.target, &polled.headers),
        full_every: Duration::ZERO,
    };
    probe.close(&mut memory.mcp).await;
}

/// The collector's limits, with the target's own timeout when it has one.
pub(super) fn limits<'a>(
    config: &'a CollectorConfig,
    target: &Target,
    headers: &'a reqwest::header::HeaderMap,
) -> FetchLimits<'a> {
    let timeout_ms = target.probe.timeout_ms.map_or(config.timeout_ms, u64::from);
    FetchLimits {
        timeout: Duration::from_millis(timeout_ms),
        max_body_bytes: config.max_body_bytes,
        headers,
        deny: &config.deny_networks,
    }
}

/// Metrics-only polling asks `/metrics` and nothing else; a 404 there is a failure.
const METRICS_ONLY: ProbeSwitches = ProbeSwitches {
    live: ProbeSwitch::Off,
    ready: ProbeSwitch::Off,
    metrics: ProbeSwitch::On,
    mcp: ProbeSwitch::Off,
};

/// How a probe's failure bears on whether the server offers it.
pub(super) fn answer<T>(result: &Result<T, ProbeError>, probe: ProbeKind) -> Answer {
    match result {
        Ok(_) => Answer::Answered,
        Err(err) if unreachable(err) => Answer::Unreachable,
        Err(ProbeError::HttpStatus(404 | 405)) => Answer::Missing,
        // Health and metrics behind the server's own authorization are not offered to
        // mcpops (unless switched on, or once they have answered).
        Err(ProbeError::HttpStatus(401 | 403)) if probe != ProbeKind::Mcp => Answer::Missing,
        // The MCP probe reports the Streamable HTTP POST's status once the legacy transport
        // was not found either.
        Err(ProbeError::Rejected {
            request,
            status: 404 | 405,
        }) if probe == ProbeKind::Mcp && request == "initialize" => Answer::Missing,
        Err(_) => Answer::Broken,
    }
}

/// Whether anything has answered yet on this poll, or why nothing did.
#[derive(Default)]
struct Quiet {
    heard: bool,
    /// The failure of the first probe that found nobody there, before anything answered.
    silence: Option<ProbeError>,
}

impl Quiet {
    fn hear<T>(&mut self, result: &Option<Result<T, ProbeError>>) {
        match result {
            None => {}
            Some(Err(err)) if unreachable(err) && !self.heard && self.silence.is_none() => {
                self.silence = Some(err.clone());
            }
            Some(Err(err)) if unreachable(err) => {}
            Some(_) => self.heard = true,
        }
    }

    pub(super) fn asking(&self) -> bool {
        self.silence.is_none()
    }
}

/// Whether an MCP failure means the server is not alive, when MCP is all there is to judge
/// by: its own errors (5xx) do; a protocol error or a JSON-RPC error is an answer.
fn mcp_means_down(err: &ProbeError) -> bool {
    matches!(err, ProbeError::Rejected { status, .. } if *status >= 500)
        || matches!(err, ProbeError::HttpStatus(status) if *status >= 500)
}

fn elapsed_ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// One poll: the probes the target offers, one after another, each under its own deadline.
/// Liveness comes from `/health/live` when the server has it, otherwise from its MCP answer
/// (or the scrape, or readiness): most MCP servers offer nothing but MCP.
pub(super) async fn poll(
    context: &PollContext,
    polled: &PolledTarget,
    memory: &mut TargetMemory,
) -> Observation {
    let at = chrono::Utc::now();
    let target = &polled.target;
    let limits = limits(&context.config, target, &polled.headers);
    let client = &context.client;
    let parse_limits = Limits {
        max_samples: context.config.max_samples,
        ..Limits::default()
    };
    let mcp_probe = McpProbe {
        client,
        url: &polled.mcp_url,
        limits,
        full_every: Duration::from_secs(context.config.mcp_full_every_secs),
    };
    let switches = match context.config.mode {
        PollMode::Full => target.probe.switches,
        PollMode::MetricsOnly => METRICS_ONLY,
    };
    let [ask_live, ask_ready, ask_metrics, ask_mcp] = memory.discoveries.due(&switches, at);
    // Probes run one after another so a target needs one kept-alive connection, not four.
    // While nothing has answered, a probe that finds nobody there ends the poll: the rest
    // would only wait for the same timeout.
    let mut quiet = Quiet::default();
    let live = if ask_live {
        Some(probe_health::live(client, &polled.live_url, limits).await)
    } else {
        None
    };
    quiet.hear(&live);
    let ready_started = Instant::now();
    let ready = if ask_ready && quiet.asking() {
        Some(probe_health::ready(client, &polled.ready_url, limits).await)
    } else {
        None
    };
    let ready_ms = elapsed_ms(ready_started);
    quiet.hear(&ready);
    let scrape_started = Instant::now();
    let scrape = if ask_metrics && quiet.asking() {
        Some(
            probe_metrics::scrape(
                client,
                &polled.metrics_url,
                limits,
                parse_limits,
                &polled.profile,
            )
            .await,
        )
    } else {
        None
    };
    let scraped_at = Instant::now();
    quiet.hear(&scrape);
    let mcp_started = Instant::now();
    let mcp = if ask_mcp && quiet.asking() {
        Some(mcp_probe.run(&mut memory.mcp).await)
    } else {
        None
    };
    let mcp_ms = elapsed_ms(mcp_started);
    quiet.hear(&mcp);

    let retry = chrono::Duration::seconds(context.config.offer_retry_secs.min(86_400 * 365) as i64);
    let mut offers = ProbeOffers::default();
    let answers = [
        live.as_ref().map(|r| answer(r, ProbeKind::Live)),
        ready.as_ref().map(|r| answer(r, ProbeKind::Ready)),
        scrape.as_ref().map(|r| answer(r, ProbeKind::Metrics)),
        mcp.as_ref().map(|r| answer(r, ProbeKind::Mcp)),
    ];
    for (probe, answered) in ProbeKind::ALL.into_iter().zip(answers) {
        let switch = switches.get(probe);
        let discovery = memory.discoveries.get_mut(probe);
        let offer = match answered {
            Some(answered) => discovery.observe(switch, answered, at, retry),
            None => discovery.unasked(switch),
        };
        offers.set(probe, offer);
    }
    if let Some(err) = quiet.silence {
        return Observation {
            target_id: target.id,
            at,
            live: Err(err),
            ready: None,
            metrics: None,
            mcp: None,
            offers,
            // The last one read: an expired certificate may be why nothing answers.
            certificate: memory.certificate.as_ref().map(|(_, c)| c.clone()),
            checks: check_statuses(polled, memory),
            check_results: Vec::new(),
        };
    }
    if target.base_url.starts_with("https://")
        && memory
            .certificate
            .as_ref()
            .is_none_or(|(read_at, _)| read_at.elapsed() >= certificate::READ_EVERY)
        && let Some(read) = certificate::read(client, &target.base_url, limits).await
    {
        memory.certificate = Some((Instant::now(), read));
    }
    // A probe the server does not offer says nothing, so it is left out.
    let offered = |probe: ProbeKind| offers.has(probe);
    let ready = ready.filter(|_| offered(ProbeKind::Ready));
    let scrape = scrape.filter(|_| offered(ProbeKind::Metrics));
    let mut mcp = mcp.filter(|_| offered(ProbeKind::Mcp));
    let live = match live.filter(|_| offered(ProbeKind::Live)) {
        Some(live) => live,
        None => match &mcp {
            Some(Err(err)) if mcp_means_down(err) => {
                let err = err.clone();
                // Said once, as the liveness failure.
                mcp = None;
                Err(err)
            }
            Some(_) => Ok(mcp_ms),
            None if scrape.is_some() => {
                Ok(scraped_at.duration_since(scrape_started).as_secs_f64() * 1000.0)
            }
            None if ready.is_some() => Ok(ready_ms),
            None => Err(ProbeError::NothingAnswers),
        },
    };
    let metrics = scrape.map(|scrape| {
        scrape.map(|snapshot| {
            let signals = memory
                .previous_scrape
                .as_ref()
                .map(|(previous, previous_at)| {
                    IntervalSignals::between(
                        previous,
                        &snapshot,
                        scraped_at.duration_since(*previous_at).as_secs_f64(),
                    )
                });
            memory.previous_scrape = Some((snapshot, scraped_at));
            signals
        })
    });
    // Calls go only to a server whose MCP probe just answered, on the same connection.
    let answered = matches!(&mcp, Some(Ok(report)) if report.protection.is_none());
    let check_results = if answered {
        call_tools(context, polled, memory, &mcp_probe, at).await
    } else {
        Vec::new()
    };
    Observation {
        target_id: target.id,
        at,
        live,
        ready,
        metrics,
        mcp,
        offers,
        certificate: memory.certificate.as_ref().map(|(_, c)| c.clone()),
        checks: check_statuses(polled, memory),
        check_results,
    }
}

/// Makes the synthetic tool calls that are due, one after another, each under its own
/// deadline and the fleet's cap on calls in flight. A tool gone from the tool list, or no
/// longer annotated read-only without the admin's override, is not called.
async fn call_tools(
    context: &PollContext,
    polled: &PolledTarget,
    memory: &mut TargetMemory,
    probe: &McpProbe<'_>,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<CheckResult> {
    memory
        .checks
        .retain(|id, _| polled.checks.iter().any(|c| c.id == *id));
    let mut results = Vec::new();
    // A call falls due between polls: one due within half a poll interval is made now, or
    // it would wait a whole interval more.
    let slack = Duration::from_secs(u64::from(polled.target.interval_secs)) / 2;
    for check in &polled.checks {
        let now = Instant::now();
        let interval = Duration::from_secs(u64::from(check.spec.interval_secs));
        let state = memory
            .checks
            .entry(check.id)
            .or_insert_with(|| CheckMemory {
                due: first_call(check, interval, now, at),
                history: CheckHistory::default(),
                status: None,
            });
        if state.due > now + slack {
            continue;
        }
        state.due = now + interval;
        let tool = &check.spec.tool;
        let skip = match McpProbe::listed(&memory.mcp, tool) {
            Listed::Absent => Some(format!("{tool} is no longer in the tool list")),
            Listed::Present { read_only: false } if !check.spec.override_read_only => {
                Some(format!("{tool} is no longer annotated read-only"))
            }
            Listed::NotYet | Listed::Present { .. } => None,
        };
        let (ms, outcome) = match skip {
            Some(reason) => (None, Outcome::Skipped(reason)),
            None => {
                // Closed only when the collector stops.
                let Ok(_permit) = context.call_permits.acquire().await else {
                    break;
                };
                let started = Instant::now();
                let timeout = Duration::from_millis(u64::from(check.spec.timeout_ms));
                let answer = probe
                    .call_tool(&mut memory.mcp, tool, check.spec.arguments_json(), timeout)
                    .await;
                context
                    .stats
                    .calls
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let outcome = match answer.map(|result| check.spec.judge(&result)) {
                    Ok(Ok(())) => Outcome::Passed,
                    Ok(Err(reason)) => Outcome::Failed(reason),
                    Err(err) => Outcome::Failed(err.to_string()),
                };
                (Some(elapsed_ms(started)), outcome)
            }
        };
        let result = CheckResult {
            check_id: check.id,
            target_id: polled.target.id,
            at,
            ms,
            outcome,
        };
        state.status = Some(state.history.push(tool, &check.spec, result.clone()));
        results.push(result);
    }
    results
}

/// A check just added is called at once, so its maker sees an answer; the checks found at
/// start-up start at a random point of their interval, so a fleet's calls are spread out.
fn first_call(
    check: &ToolCheck,
    interval: Duration,
    now: Instant,
    at: chrono::DateTime<chrono::Utc>,
) -> Instant {
    let age = (at - check.created_at).to_std().unwrap_or_default();
    if age < interval {
        now
    } else {
        now + interval.mul_f64(rand::rng().random_range(0.0..1.0))
    }
}

/// Where each of the target's synthetic calls stands, in the order they were made.
fn check_statuses(polled: &PolledTarget, memory: &TargetMemory) -> Vec<CheckStatus> {
    polled
        .checks
        .iter()
        .filter_map(|c| memory.checks.get(&c.id)?.status.clone())
        .collect()
}
