//! Logging setup (`tracing` to stderr, filtered by `RUST_LOG`, default `info`)
//! and the server's counters.

use std::sync::atomic::AtomicU64;

use tracing_subscriber::EnvFilter;

/// Counters of what the server did, for operators and benchmarks.
#[derive(Debug, Default)]
pub struct Counters {
    /// Event streams skipped ahead with `reset` because they fell behind.
    pub sse_resets: AtomicU64,
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
