//! Rate limits and connection caps per client.
//!
//! Rate limits are token buckets (GCRA): `limit` requests at once, refilled
//! evenly over `period`. Each instance keeps them in memory with `governor`;
//! memory is bounded — keys whose bucket is full again are swept, and should
//! a flood of distinct keys outgrow [`MAX_KEYS`] anyway, that group's buckets
//! are forgotten (never "refuse every new client"). With Redis configured the
//! limits hold across instances: each check is one script call (one round
//! trip) with a deadline of [`SHARED_DEADLINE`]; when Redis does not answer
//! in time the local buckets decide (failing open to per-instance limits),
//! and Redis is not asked again for [`SHARED_BACKOFF`].

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::telemetry::metrics::{
    IntCounter, IntCounterVec, Registered, Registry, counter, counter_vec, register,
};

/// Most keys one group of buckets (one limit and period) tracks.
pub(crate) const MAX_KEYS: usize = 200_000;
/// Longest wait for Redis before the local buckets decide.
pub(crate) const SHARED_DEADLINE: Duration = Duration::from_millis(200);
/// How long Redis is left alone after it failed to answer.
pub(crate) const SHARED_BACKOFF: Duration = Duration::from_secs(1);

/// GCRA in Redis: KEYS[1] the bucket, ARGV[1] the limit, ARGV[2] the period
/// in milliseconds. Returns 0 when allowed, else milliseconds to wait.
const GCRA: &str = r"
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local interval = period / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or now_ms)
if tat < now_ms then tat = now_ms end
local new_tat = tat + interval
if new_tat - now_ms > period then
  return math.max(1, math.ceil(new_tat - now_ms - period))
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.max(1, math.ceil(new_tat - now_ms)))
return 0
";

type Group = Arc<DefaultKeyedRateLimiter<String>>;

/// Keyed token-bucket rate limits, local or shared through Redis.
pub struct RateLimiter {
    groups: Mutex<HashMap<(u32, Duration), Group>>,
    clock: DefaultClock,
    shared: Option<Shared>,
    /// Checks the local buckets decided because Redis did not answer.
    pub fallbacks: IntCounter,
    /// Requests refused, by kind (what the key names first: `join`, `lead`, …).
    pub refused: IntCounterVec,
}

struct Shared {
    conn: redis::aio::ConnectionManager,
    prefix: String,
    script: redis::Script,
    resting_until: Mutex<Option<Instant>>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self {
            groups: Mutex::default(),
            clock: DefaultClock::default(),
            shared: None,
            fallbacks: counter(
                "ovasabi_rate_limit_fallbacks_total",
                "Rate-limit checks this instance decided alone because Redis did not answer in time.",
            ),
            refused: counter_vec(
                "ovasabi_rate_limited_total",
                "Requests refused by a rate limit, by kind.",
                &["kind"],
            ),
        }
    }
}

impl Registered for RateLimiter {
    fn register(&self, registry: &Registry) {
        register(registry, self.fallbacks.clone());
        register(registry, self.refused.clone());
    }
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("shared", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// Limits shared by every instance on Redis `conn`, under keys starting
    /// with `prefix`.
    pub fn shared(conn: redis::aio::ConnectionManager, prefix: &str) -> Self {
        Self {
            shared: Some(Shared {
                conn,
                prefix: format!("{prefix}:rate:"),
                script: redis::Script::new(GCRA),
                resting_until: Mutex::new(None),
            }),
            ..Self::default()
        }
    }

    /// Counts one hit on `key`: `Err(retry_after)` once more than `limit`
    /// hits came within `period` (refilled evenly).
    pub async fn check(&self, key: &str, limit: u32, period: Duration) -> Result<(), Duration> {
        let shared = match &self.shared {
            Some(shared) => shared.check(key, limit, period).await,
            None => None,
        };
        let verdict = shared.unwrap_or_else(|| {
            if self.shared.is_some() {
                self.fallbacks.inc();
            }
            self.check_local(key, limit, period)
        });
        if verdict.is_err() {
            let kind = key.split(':').next().unwrap_or(key);
            self.refused.with_label_values(&[kind]).inc();
        }
        verdict
    }

    /// [`check`](Self::check) against this instance's buckets only.
    pub fn check_local(&self, key: &str, limit: u32, period: Duration) -> Result<(), Duration> {
        let limit = limit.max(1);
        let group = {
            let mut groups = self.groups.lock();
            groups
                .entry((limit, period))
                .or_insert_with(|| Arc::new(DefaultKeyedRateLimiter::keyed(quota(limit, period))))
                .clone()
        };
        let verdict = group
            .check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()));
        if group.len() > MAX_KEYS {
            group.retain_recent();
            if group.len() > MAX_KEYS {
                tracing::warn!(
                    limit,
                    ?period,
                    "rate-limit keys overflowed; forgetting this group"
                );
                let mut groups = self.groups.lock();
                groups.remove(&(limit, period));
            }
        }
        verdict
    }

    /// Forgets buckets that are full again (as good as new); run periodically.
    pub fn sweep(&self) {
        let groups: Vec<Group> = self.groups.lock().values().cloned().collect();
        for group in groups {
            group.retain_recent();
            group.shrink_to_fit();
        }
    }

    /// Keys tracked in memory.
    pub fn keys(&self) -> usize {
        let groups = self.groups.lock();
        groups.values().map(|g| g.len()).sum()
    }
}

/// `limit` at once, refilled one every `period / limit`.
fn quota(limit: u32, period: Duration) -> Quota {
    let burst = NonZeroU32::new(limit).unwrap_or(NonZeroU32::MIN);
    let every = (period / burst.get()).max(Duration::from_nanos(1));
    Quota::with_period(every)
        .unwrap_or_else(|| Quota::per_second(burst))
        .allow_burst(burst)
}

impl Shared {
    /// Redis's verdict, or `None` when it did not give one in time.
    async fn check(&self, key: &str, limit: u32, period: Duration) -> Option<Result<(), Duration>> {
        {
            let mut resting = self.resting_until.lock();
            match *resting {
                Some(until) if Instant::now() < until => return None,
                Some(_) => *resting = None,
                None => {}
            }
        }
        let mut conn = self.conn.clone();
        let mut call = self.script.key(format!("{}{key}", self.prefix));
        call.arg(limit.max(1))
            .arg(u64::try_from(period.as_millis()).unwrap_or(u64::MAX));
        let answered =
            tokio::time::timeout(SHARED_DEADLINE, call.invoke_async::<u64>(&mut conn)).await;
        match answered {
            Ok(Ok(0)) => Some(Ok(())),
            Ok(Ok(wait_ms)) => Some(Err(Duration::from_millis(wait_ms))),
            Ok(Err(e)) => {
                self.rest(&format!("{e}"));
                None
            }
            Err(_) => {
                self.rest("no answer within the deadline");
                None
            }
        }
    }

    fn rest(&self, why: &str) {
        tracing::warn!(
            why,
            "Redis rate limits unavailable; this instance's limits apply"
        );
        *self.resting_until.lock() = Some(Instant::now() + SHARED_BACKOFF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key() {
        let limiter = RateLimiter::default();
        let minute = Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.check_local("a", 3, minute).is_ok());
        }
        let retry = limiter
            .check_local("a", 3, minute)
            .expect_err("4th refused");
        assert!(
            retry > Duration::from_secs(15) && retry <= Duration::from_secs(20),
            "one token comes back every 20 s: {retry:?}"
        );
        assert!(
            limiter.check_local("b", 3, minute).is_ok(),
            "other keys are separate"
        );
        assert!(
            limiter.check_local("a", 4, minute).is_ok(),
            "another limit is another bucket"
        );
    }

    #[test]
    fn sweeping_forgets_full_buckets_only() {
        let limiter = RateLimiter::default();
        assert!(
            limiter
                .check_local("slow", 2, Duration::from_secs(3600))
                .is_ok()
        );
        assert!(
            limiter
                .check_local("fast", 1000, Duration::from_millis(1))
                .is_ok()
        );
        std::thread::sleep(Duration::from_millis(5));
        limiter.sweep();
        assert_eq!(
            limiter.keys(),
            1,
            "the refilled bucket is gone, the other kept"
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
        let mut open = self.open.lock();
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
        let mut open = self.open.lock();
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
