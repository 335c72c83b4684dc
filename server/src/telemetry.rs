//! Logging setup (`tracing` to stderr, filtered by `RUST_LOG`, default `info`)
//! and the server's counters.

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
    /// Events delivered to event streams.
    pub sse_events_out: AtomicU64,
}

/// Adds one to one of the app's gauges for as long as it lives.
pub struct Gauge {
    state: std::sync::Arc<crate::app::AppState>,
    pick: fn(&Counters) -> &AtomicU64,
}

impl Gauge {
    /// Counts one more on the gauge `pick` selects, until dropped.
    pub fn hold(
        state: std::sync::Arc<crate::app::AppState>,
        pick: fn(&Counters) -> &AtomicU64,
    ) -> Self {
        pick(&state.counters).fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self { state, pick }
    }
}

impl Drop for Gauge {
    fn drop(&mut self) {
        (self.pick)(&self.state.counters).fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Installs the global subscriber for the server binary.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,salvo_core=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
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
