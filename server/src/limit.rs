//! Rate limits: a fixed window per key (for example `quote:<campaign>:<ip>`),
//! in memory, per instance. Memory is bounded: expired windows are swept, and
//! when too many keys are live the limiter refuses new keys rather than grow.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most keys tracked at once.
pub const MAX_KEYS: usize = 100_000;

struct Window {
    started: Instant,
    period: Duration,
    count: u32,
}

/// Keyed fixed-window rate limiter.
#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, Window>>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// Counts one hit on `key`; `Err(retry_after)` once more than `limit` hits
    /// fell in the current `period`.
    pub fn check(
        &self,
        key: &str,
        limit: u32,
        period: Duration,
        now: Instant,
    ) -> Result<(), Duration> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(window) = windows.get_mut(key) {
            if now.duration_since(window.started) >= window.period {
                window.started = now;
                window.period = period;
                window.count = 0;
            }
            if window.count >= limit {
                return Err(window
                    .period
                    .saturating_sub(now.duration_since(window.started)));
            }
            window.count += 1;
            return Ok(());
        }
        if windows.len() >= MAX_KEYS {
            windows.retain(|_, w| now.duration_since(w.started) < w.period);
            if windows.len() >= MAX_KEYS {
                return Err(period);
            }
        }
        windows.insert(
            key.to_owned(),
            Window {
                started: now,
                period,
                count: 1,
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_and_window() {
        let limiter = RateLimiter::default();
        let t0 = Instant::now();
        let minute = Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.check("a", 3, minute, t0).is_ok());
        }
        let retry = limiter
            .check("a", 3, minute, t0 + Duration::from_secs(20))
            .expect_err("4th refused");
        assert_eq!(retry, Duration::from_secs(40));
        assert!(
            limiter.check("b", 3, minute, t0).is_ok(),
            "other keys are separate"
        );
        assert!(
            limiter.check("a", 3, minute, t0 + minute).is_ok(),
            "a new window"
        );
    }
}

/// Counts concurrent connections per client address.
#[derive(Default)]
pub struct ConnectionLimiter {
    open: Arc<Mutex<HashMap<String, u32>>>,
}

impl std::fmt::Debug for ConnectionLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionLimiter").finish_non_exhaustive()
    }
}

/// One counted connection; released on drop.
#[derive(Debug)]
pub struct ConnectionSlot {
    open: Arc<Mutex<HashMap<String, u32>>>,
    key: String,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

impl ConnectionLimiter {
    /// A slot for `key` unless it already holds `limit` of them.
    pub fn acquire(&self, key: &str, limit: u32) -> Option<ConnectionSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(key.to_owned()).or_insert(0);
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(ConnectionSlot {
            open: self.open.clone(),
            key: key.to_owned(),
        })
    }
}

#[cfg(test)]
mod connection_tests {
    use super::*;

    #[test]
    fn slots_are_counted_and_released() {
        let limiter = ConnectionLimiter::default();
        let a = limiter.acquire("ip", 2).expect("first");
        let _b = limiter.acquire("ip", 2).expect("second");
        assert!(limiter.acquire("ip", 2).is_none(), "third refused");
        assert!(limiter.acquire("other", 2).is_some());
        drop(a);
        assert!(limiter.acquire("ip", 2).is_some(), "released");
    }
}
