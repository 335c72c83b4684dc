//! How a failed attempt of an outbox entry — a webhook or a mail — is
//! retried with backoff, or given up after the last one.

use std::time::Duration;

use chrono::Utc;

use super::backoff;
use crate::model::outbox::OutboxEntry;

/// How failed attempts of an entry are retried.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retries {
    /// Attempts before an entry is dead.
    pub(crate) max_attempts: u32,
    /// First retry delay; doubles each attempt.
    pub(crate) base: Duration,
    /// Longest retry delay.
    pub(crate) cap: Duration,
}

impl Retries {
    /// Records failed attempt number `attempt` of `entry` (`error`): due
    /// again after a backoff (`true`), or dead after the last attempt.
    pub(crate) async fn record(
        &self,
        store: &dyn crate::store::Store,
        entry: &OutboxEntry,
        attempt: i32,
        error: &str,
    ) -> anyhow::Result<bool> {
        let now = Utc::now();
        let attempts = u32::try_from(attempt).unwrap_or(u32::MAX);
        let retry_at = (attempts < self.max_attempts)
            .then(|| backoff(attempts, self.base, self.cap))
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| now + d);
        store
            .outbox_failed(entry.id, attempt, error, retry_at, now)
            .await?;
        Ok(retry_at.is_some())
    }
}
