//! mcpops' own Prometheus metrics: requests by route, durations, and the process.
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

#[derive(Clone)]
pub struct HttpMetrics {
    registry: Registry,
    requests: IntCounterVec,
    durations: HistogramVec,
}

impl HttpMetrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "mcpops_http_requests_total",
                "HTTP requests served, by route and status.",
            ),
            &["method", "route", "status"],
        )?;
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "mcpops_http_request_duration_seconds",
                "Time to produce the response head, by route.",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
            &["method", "route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(durations.clone()))?;
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        registry.register(Box::new(
            crate::server::auth::password::verifications().clone(),
        ))?;
        Ok(Self {
            registry,
            requests,
            durations,
        })
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.durations
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// Adds the collector's figures: polls (a counter read at scrape time) and scheduling lag.
    pub fn watch_collector(
        &self,
        stats: std::sync::Arc<crate::server::collector::CollectorStats>,
    ) -> Result<(), prometheus::Error> {
        let lag = prometheus::Histogram::with_opts(
            HistogramOpts::new(
                "mcpops_collector_schedule_lag_seconds",
                "How late polls started against their schedule.",
            )
            .buckets(vec![
                0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
            ]),
        )?;
        self.registry.register(Box::new(lag.clone()))?;
        stats.export_lag(lag);
        let counter = prometheus::IntCounter::new(
            "mcpops_collector_polls_total",
            "Polls started by the collector.",
        )?;
        self.registry
            .register(Box::new(PollCount { stats, counter }))?;
        Ok(())
    }

    /// The exposition text, Prometheus format 0.0.4.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// `mcpops_collector_polls_total`, copied from the collector's own counter at scrape time.
struct PollCount {
    stats: std::sync::Arc<crate::server::collector::CollectorStats>,
    counter: prometheus::IntCounter,
}

impl prometheus::core::Collector for PollCount {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.counter.desc()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.counter.reset();
        self.counter.inc_by(self.stats.polls());
        self.counter.collect()
    }
}
