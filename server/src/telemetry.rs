//! What the server tells its operators: logs ([`init`]: `tracing` to
//! stderr, filtered by `RUST_LOG`, default `info`) and what it counts
//! ([`Counters`], [`Gauge`] for what is open now, [`Histogram`] for how long
//! things take), which `GET /metrics` renders.

use std::sync::atomic::AtomicU64;

use tracing_subscriber::EnvFilter;

/// Counters of what the server did, for operators and benchmarks.
#[derive(Debug, Default)]
pub struct Counters {
    /// Event streams skipped ahead with `reset` because they fell behind.
    pub sse_resets: AtomicU64,
    /// Event streams open now.
    pub sse_open: AtomicU64,
    /// Cursor sessions over WebTransport open now.
    pub webtransport_open: AtomicU64,
    /// WebTransport handshakes refused with 403 (not admitted).
    pub webtransport_refused_403: AtomicU64,
    /// WebTransport handshakes refused with 429 (over the address's cap).
    pub webtransport_refused_429: AtomicU64,
    /// HTTP connections refused before a request (over a connection cap).
    pub http_connections_refused: AtomicU64,
    /// QUIC connections refused or dropped before a session (over a
    /// connection cap, or silent past the handshake deadline).
    pub quic_connections_refused: AtomicU64,
    /// Events delivered to event streams.
    pub sse_events_out: AtomicU64,
    /// Publish → handed to an event stream's connection, per stream and event.
    pub sse_delivery: Histogram,
}

/// Adds one to one of the app's gauges for as long as it lives.
pub struct Gauge {
    counters: std::sync::Arc<Counters>,
    pick: fn(&Counters) -> &AtomicU64,
}

impl Gauge {
    /// Counts one more on the gauge `pick` selects, until dropped.
    pub fn hold(counters: std::sync::Arc<Counters>, pick: fn(&Counters) -> &AtomicU64) -> Self {
        pick(&counters).fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self { counters, pick }
    }
}

impl Drop for Gauge {
    fn drop(&mut self) {
        (self.pick)(&self.counters).fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event, for people.
    #[default]
    Text,
    /// One JSON object per line, for log pipelines: `timestamp`, `level`,
    /// `target`, `fields` and the spans it is inside (`span`, `spans`).
    Json,
}

/// Installs the global subscriber for the server binary: to stderr,
/// filtered by `RUST_LOG` (default `info`).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,salvo_core=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
}

/// For tests: logs only when `TEST_LOG` is set, and never fails when called twice.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("debug"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}

/// Upper bounds of [`Histogram`] buckets, in microseconds: 50 µs to 10 s.
const BUCKETS_MICROS: [u64; 16] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 20_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 10_000_000,
];

/// A Prometheus histogram of durations, lock-free: one counter per bucket.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    buckets: [AtomicU64; BUCKETS_MICROS.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// Records one duration.
    pub fn observe(&self, duration: std::time::Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        let bucket = BUCKETS_MICROS.partition_point(|&bound| bound < micros);
        self.buckets[bucket].fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(micros, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Appends the histogram as Prometheus text (`name_bucket{le=…}`, `_sum`, `_count`, in seconds).
    pub fn render(&self, out: &mut String, name: &str, help: &str) {
        use std::fmt::Write;
        use std::sync::atomic::Ordering::Relaxed;
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            cumulative += bucket.load(Relaxed);
            match BUCKETS_MICROS.get(i) {
                Some(bound) => {
                    let le = *bound as f64 / 1e6;
                    let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
                }
                None => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
                }
            }
        }
        let sum = self.sum_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum:.6}\n{name}_count {}", self.count());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn histogram_buckets_are_cumulative_with_sum_and_count() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(40));
        h.observe(Duration::from_micros(50));
        h.observe(Duration::from_micros(700));
        h.observe(Duration::from_secs(60));
        let mut out = String::new();
        h.render(&mut out, "x_seconds", "X.");
        assert!(out.contains("# TYPE x_seconds histogram"), "{out}");
        assert!(
            out.contains("x_seconds_bucket{le=\"0.00005\"} 2\n"),
            "{out}"
        );
        assert!(out.contains("x_seconds_bucket{le=\"0.0005\"} 2\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"0.001\"} 3\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"10\"} 3\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"+Inf\"} 4\n"), "{out}");
        assert!(out.contains("x_seconds_sum 60.000790\n"), "{out}");
        assert!(out.contains("x_seconds_count 4\n"), "{out}");
    }
}
