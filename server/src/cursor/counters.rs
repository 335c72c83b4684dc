//! What the cursor channel did, counted for `/metrics`.

use std::sync::atomic::AtomicU64;

/// Counters of the cursor channel.
#[derive(Debug, Default)]
pub struct CursorCounters {
    /// Uplinks accepted.
    pub uplinks: AtomicU64,
    /// Uplinks dropped for going over the rate limit.
    pub dropped_rate: AtomicU64,
    /// Uplinks dropped as malformed, oversized or of another version.
    pub dropped_malformed: AtomicU64,
    /// Uplinks dropped as older than one already applied.
    pub dropped_stale: AtomicU64,
    /// Ticks that built a frame.
    pub frames: AtomicU64,
    /// Datagrams handed to members (per member).
    pub datagrams_out: AtomicU64,
    /// Bytes handed to members (per member).
    pub bytes_out: AtomicU64,
    /// Ticks a slow member missed.
    pub lagged: AtomicU64,
    /// Time each tick spent building its frame.
    pub tick: crate::telemetry::Histogram,
}
