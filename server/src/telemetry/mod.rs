//! What the server tells its operators: logs ([`init`]: `tracing` to
//! stderr, filtered by `RUST_LOG`, default `info`) and what it counts
//! ([`metrics`]: Prometheus metrics, which `GET /metrics` renders).

pub(crate) mod metrics;

use tracing_subscriber::EnvFilter;

pub(crate) use metrics::{Counters, Gauge, Histogram};

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
