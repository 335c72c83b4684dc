//! What the server counts, as Prometheus metrics (the `prometheus` crate).
//!
//! Each part of the server owns its metrics, made with fixed names when the
//! part is made ([`counter`], [`histogram`], …); the app registers them all
//! in one [`Registry`] per instance ([`Registered::register`]), which
//! `GET /metrics` renders in the Prometheus text format. Several apps in one
//! process (the tests) each have their own.

use prometheus::core::Collector;
pub(crate) use prometheus::{
    Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Registry,
};

/// Bucket bounds of duration histograms, in seconds: 50 µs to 10 s.
pub(crate) const SECONDS_BUCKETS: [f64; 16] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 10.0,
];

// The names and label names below are constants of this crate: the
// constructors only fail on an invalid one, which is a bug found by any test.

/// A counter.
pub(crate) fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("a valid metric name")
}

/// Counters by `labels`.
pub(crate) fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(prometheus::Opts::new(name, help), labels).expect("valid metric names")
}

/// A gauge.
pub(crate) fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect("a valid metric name")
}

/// Gauges by `labels`.
pub(crate) fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(prometheus::Opts::new(name, help), labels).expect("valid metric names")
}

/// Bucket bounds of the event streams' delivery histogram, in seconds: 5 ms
/// steps up to 50 ms and 25 ms steps to 100 ms, where a broadcast to
/// thousands of streams lands (the target is p99 ≤ 50 ms: the general
/// buckets only told ≤ 100 ms), then coarser to 10 s.
pub(crate) const DELIVERY_BUCKETS: [f64; 20] = [
    0.001, 0.002_5, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.045, 0.05, 0.075, 0.1,
    0.15, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A histogram of durations in seconds ([`SECONDS_BUCKETS`]).
pub(crate) fn histogram(name: &str, help: &str) -> Histogram {
    histogram_with(name, help, &SECONDS_BUCKETS)
}

/// A histogram of durations in seconds with these bucket bounds.
pub(crate) fn histogram_with(name: &str, help: &str, buckets: &[f64]) -> Histogram {
    Histogram::with_opts(prometheus::HistogramOpts::new(name, help).buckets(buckets.to_vec()))
        .expect("a valid metric name")
}

/// Histograms of durations in seconds by `labels`.
pub(crate) fn histogram_vec(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    HistogramVec::new(
        prometheus::HistogramOpts::new(name, help).buckets(SECONDS_BUCKETS.to_vec()),
        labels,
    )
    .expect("valid metric names")
}

/// Something that owns metrics and puts them in a registry.
pub(crate) trait Registered {
    /// Registers every metric of `self` in `registry`.
    fn register(&self, registry: &Registry);
}

/// Registers one metric; a name registered twice is logged (and the second
/// left out), not fatal: metrics never stop the server.
pub(crate) fn register(registry: &Registry, metric: impl Collector + 'static) {
    if let Err(e) = registry.register(Box::new(metric)) {
        tracing::warn!(error = %e, "metric not registered");
    }
}

/// Metrics of the HTTP side, live connections, event streams, webhooks and
/// translation.
#[derive(Clone)]
pub struct Counters {
    /// HTTP requests by route template, method and status.
    pub http_requests: IntCounterVec,
    /// HTTP request durations (until the response head) by route template and method.
    pub http_duration: HistogramVec,
    /// Event streams open now.
    pub sse_open: IntGauge,
    /// Cursor sessions over WebTransport open now.
    pub webtransport_open: IntGauge,
    /// WebTransport handshakes refused with 403 (not admitted).
    pub webtransport_refused_403: IntCounter,
    /// WebTransport handshakes refused with 429 (over the address's cap).
    pub webtransport_refused_429: IntCounter,
    /// HTTP connections refused before a request (over a connection cap).
    pub http_connections_refused: IntCounter,
    /// QUIC connections refused or dropped before a session (over a
    /// connection cap, or silent past the handshake deadline).
    pub quic_connections_refused: IntCounter,
    /// Events this instance published.
    pub events_published: IntCounter,
    /// Events written to event streams.
    pub sse_events_out: IntCounter,
    /// Event streams skipped ahead with `reset` because they fell behind.
    pub sse_resets: IntCounter,
    /// Resumes past the campaign's `rate_limits.resumes_per_minute`,
    /// answered with `reset` instead of a history read.
    pub sse_resumes_limited: IntCounter,
    /// Publish → handed to an event stream's connection, per stream and event.
    pub sse_delivery: Histogram,
    /// Webhook attempts by outcome (`delivered`, `retrying`, `dead`).
    pub webhook_attempts: IntCounterVec,
    /// Entry written → delivered, for webhooks delivered.
    pub webhook_delivery: Histogram,
    /// Mail attempts by outcome (`sent`, `retrying`, `dead`, `suppressed`).
    pub mail_attempts: IntCounterVec,
    /// CAPTCHA tokens checked, by provider and result (`valid`,
    /// `invalid`, `reused`, `unavailable`).
    pub captcha_checks: IntCounterVec,
    /// Form submissions held or marked as spam, by form and reason.
    pub spam: IntCounterVec,
    /// Texts looked up in the translation memory, by result (`hit`, `miss`).
    pub translation_memory: IntCounterVec,
    /// Calls to LibreTranslate by outcome (`ok`, `failed`).
    pub translation_machine: IntCounterVec,
    /// 1 while LibreTranslate's circuit breaker is open (set when scraped).
    pub translation_breaker_open: IntGauge,
    /// Outbox entries by state, `pending` or `dead` (read when scraped).
    pub outbox_entries: IntGaugeVec,
    connections: IntGaugeVec,
    refused: IntCounterVec,
    webtransport_refused: IntCounterVec,
}

impl Default for Counters {
    fn default() -> Self {
        let connections = gauge_vec(
            "ovasabi_connections",
            "Open live connections by transport.",
            &["transport"],
        );
        let refused = counter_vec(
            "ovasabi_connections_refused_total",
            "Connections refused before a request or session: over a connection cap, or (QUIC) silent past the handshake deadline.",
            &["transport"],
        );
        let (captcha_checks, spam) = bot_counters();
        let webtransport_refused = counter_vec(
            "ovasabi_webtransport_refused_total",
            "WebTransport handshakes refused, by the status answered.",
            &["status"],
        );
        Self {
            http_requests: counter_vec(
                "ovasabi_http_requests_total",
                "HTTP requests by route template, method and status.",
                &["route", "method", "status"],
            ),
            http_duration: histogram_vec(
                "ovasabi_http_request_duration_seconds",
                "HTTP request durations until the response head (an event stream: until it opened).",
                &["route", "method"],
            ),
            sse_open: connections.with_label_values(&["sse"]),
            webtransport_open: connections.with_label_values(&["webtransport"]),
            webtransport_refused_403: webtransport_refused.with_label_values(&["403"]),
            webtransport_refused_429: webtransport_refused.with_label_values(&["429"]),
            http_connections_refused: refused.with_label_values(&["http"]),
            quic_connections_refused: refused.with_label_values(&["quic"]),
            events_published: counter(
                "ovasabi_events_published_total",
                "Live events this instance published.",
            ),
            sse_events_out: counter(
                "ovasabi_sse_events_total",
                "Events written to event streams.",
            ),
            sse_resets: counter(
                "ovasabi_sse_resets_total",
                "Event streams skipped ahead with reset.",
            ),
            sse_resumes_limited: counter(
                "ovasabi_sse_resumes_limited_total",
                "Resumes past the campaign's share, answered with reset instead of a history read.",
            ),
            sse_delivery: histogram_with(
                "ovasabi_sse_delivery_seconds",
                "Time from an event's publishing to its handing to each event stream's connection.",
                &DELIVERY_BUCKETS,
            ),
            webhook_attempts: counter_vec(
                "ovasabi_webhook_attempts_total",
                "Webhook delivery attempts by outcome: delivered, retrying (failed, retried later) or dead (failed for the last time).",
                &["outcome"],
            ),
            webhook_delivery: histogram(
                "ovasabi_webhook_delivery_seconds",
                "Time from an outbox entry's writing to its delivery.",
            ),
            mail_attempts: counter_vec(
                "ovasabi_mail_attempts_total",
                "Mail attempts by outcome: sent, retrying (failed, retried later), dead (failed for the last time, or not to be sent) or suppressed (refused for good: the address is suppressed).",
                &["outcome"],
            ),
            captcha_checks,
            spam,
            translation_memory: counter_vec(
                "ovasabi_translation_memory_total",
                "Texts looked up in the translation memory, by result: hit or miss.",
                &["result"],
            ),
            translation_machine: counter_vec(
                "ovasabi_translation_machine_calls_total",
                "Calls to LibreTranslate by outcome: ok or failed.",
                &["outcome"],
            ),
            translation_breaker_open: gauge(
                "ovasabi_translation_breaker_open",
                "1 while LibreTranslate's circuit breaker is open (calls are not made), else 0.",
            ),
            outbox_entries: gauge_vec(
                "ovasabi_outbox_entries",
                "Outbox entries not delivered, by state: pending (still tried) or dead (given up on, waiting for a re-drive).",
                &["state"],
            ),
            connections,
            refused,
            webtransport_refused,
        }
    }
}

/// The bot defence's counters: CAPTCHA checks, and spam.
fn bot_counters() -> (IntCounterVec, IntCounterVec) {
    (
        counter_vec(
            "ovasabi_captcha_checks_total",
            "CAPTCHA tokens checked with their provider, by provider and result: valid, invalid, reused or unavailable (the provider could not answer; the campaign's on_outage decided).",
            &["provider", "result"],
        ),
        counter_vec(
            "ovasabi_spam_total",
            "Form submissions held as spam (honeypot, too_fast) or let through marked (captcha_unavailable), by form and reason.",
            &["form", "reason"],
        ),
    )
}

impl Registered for Counters {
    fn register(&self, registry: &Registry) {
        register(registry, self.http_requests.clone());
        register(registry, self.http_duration.clone());
        register(registry, self.connections.clone());
        register(registry, self.refused.clone());
        register(registry, self.webtransport_refused.clone());
        register(registry, self.events_published.clone());
        register(registry, self.sse_events_out.clone());
        register(registry, self.sse_resets.clone());
        register(registry, self.sse_resumes_limited.clone());
        register(registry, self.sse_delivery.clone());
        register(registry, self.webhook_attempts.clone());
        register(registry, self.webhook_delivery.clone());
        register(registry, self.mail_attempts.clone());
        register(registry, self.captcha_checks.clone());
        register(registry, self.spam.clone());
        register(registry, self.translation_memory.clone());
        register(registry, self.translation_machine.clone());
        register(registry, self.translation_breaker_open.clone());
        register(registry, self.outbox_entries.clone());
    }
}

/// Adds one to a gauge for as long as it lives.
pub(crate) struct Gauge(IntGauge);

impl Gauge {
    /// Counts one more on `gauge`, until dropped.
    pub(crate) fn hold(gauge: &IntGauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for Gauge {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `registry`'s metrics in the Prometheus text format.
pub(crate) fn render(registry: &Registry) -> String {
    use prometheus::Encoder;
    let mut out = Vec::with_capacity(8192);
    if let Err(e) = prometheus::TextEncoder::new().encode(&registry.gather(), &mut out) {
        tracing::warn!(error = %e, "metrics not rendered");
    }
    String::from_utf8(out).unwrap_or_default()
}

/// The process's own metrics (CPU, memory, open files, start time), where
/// the platform has them (Linux).
pub(crate) fn register_process(registry: &Registry) {
    #[cfg(target_os = "linux")]
    register(
        registry,
        prometheus::process_collector::ProcessCollector::for_self(),
    );
    #[cfg(not(target_os = "linux"))]
    let _ = registry;
}
