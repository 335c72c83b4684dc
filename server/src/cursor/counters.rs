//! What the cursor channel did, counted for `/metrics`.

use crate::telemetry::metrics::{
    Histogram, IntCounter, IntCounterVec, IntGauge, Registered, Registry, counter, counter_vec,
    gauge, histogram, register,
};

/// Metrics of the cursor channel.
#[derive(Clone)]
pub struct CursorCounters {
    /// Uplinks accepted.
    pub uplinks: IntCounter,
    /// Uplinks dropped for going over the rate limit.
    pub dropped_rate: IntCounter,
    /// Uplinks dropped as malformed, oversized or of another version.
    pub dropped_malformed: IntCounter,
    /// Uplinks dropped as older than one already applied.
    pub dropped_stale: IntCounter,
    /// Ticks that built a frame.
    pub frames: IntCounter,
    /// Datagrams handed to members (per member).
    pub datagrams_out: IntCounter,
    /// Bytes handed to members (per member).
    pub bytes_out: IntCounter,
    /// Ticks a slow member missed.
    pub lagged: IntCounter,
    /// Time each tick spent building its frame.
    pub tick: Histogram,
    /// Rooms alive (set when scraped).
    pub rooms: IntGauge,
    outcomes: IntCounterVec,
}

impl Default for CursorCounters {
    fn default() -> Self {
        let outcomes = counter_vec(
            "ovasabi_cursor_uplinks_total",
            "Cursor uplinks by outcome.",
            &["outcome"],
        );
        Self {
            uplinks: outcomes.with_label_values(&["accepted"]),
            dropped_rate: outcomes.with_label_values(&["rate_limited"]),
            dropped_malformed: outcomes.with_label_values(&["malformed"]),
            dropped_stale: outcomes.with_label_values(&["stale"]),
            frames: counter(
                "ovasabi_cursor_frames_total",
                "Room ticks that built a frame.",
            ),
            datagrams_out: counter(
                "ovasabi_cursor_datagrams_out_total",
                "Frame datagrams handed to members.",
            ),
            bytes_out: counter(
                "ovasabi_cursor_bytes_out_total",
                "Frame bytes handed to members.",
            ),
            lagged: counter(
                "ovasabi_cursor_lagged_total",
                "Ticks members missed for being slow.",
            ),
            tick: histogram(
                "ovasabi_cursor_tick_seconds",
                "Time a room tick spent building its frame.",
            ),
            rooms: gauge("ovasabi_cursor_rooms", "Cursor rooms alive."),
            outcomes,
        }
    }
}

impl Registered for CursorCounters {
    fn register(&self, registry: &Registry) {
        register(registry, self.outcomes.clone());
        register(registry, self.frames.clone());
        register(registry, self.datagrams_out.clone());
        register(registry, self.bytes_out.clone());
        register(registry, self.lagged.clone());
        register(registry, self.tick.clone());
        register(registry, self.rooms.clone());
    }
}
