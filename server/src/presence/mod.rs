//! Presence: how many distinct visitors are connected to a campaign right now.
//!
//! A visitor is a session (a user or an anonymous visitor id), not a
//! connection: one visitor with an event stream and a cursor channel open
//! counts once. Each connection holds a [`PresenceGuard`]; the count a campaign
//! shows is watched through [`Presence::watch`] and changes only when it changes.
//!
//! With Redis, the count spans every instance: each instance refreshes its
//! visitors in a sorted set per campaign (`<prefix>:presence:<campaign>`,
//! member = session id, score = expiry in Unix milliseconds) every second and
//! drops expired members, so a visitor of a crashed instance stops counting
//! within the TTL. A visitor leaving one instance while still connected to
//! another is re-added by that instance's next refresh.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use chrono::Utc;
use redis::aio::ConnectionManager;
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use crate::tasks::Tasks;

/// Longest one presence sync waits for Redis.
const SYNC_DEADLINE: Duration = Duration::from_secs(2);

/// Redis side of presence.
struct Shared {
    conn: ConnectionManager,
    prefix: String,
    ttl: Duration,
}

#[derive(Default)]
struct CampaignPresence {
    /// Live connections per local session.
    sessions: HashMap<Uuid, u32>,
    /// Local sessions whose last connection closed since the last sync.
    departed: HashSet<Uuid>,
    /// The count shown (local, or across instances with Redis).
    total: Option<watch::Sender<u64>>,
}

impl CampaignPresence {
    fn total(&mut self) -> &watch::Sender<u64> {
        self.total.get_or_insert_with(|| watch::channel(0).0)
    }
}

/// Presence of every campaign on this instance.
pub struct Presence {
    campaigns: Mutex<HashMap<String, CampaignPresence>>,
    shared: Option<Shared>,
    wake: Arc<Notify>,
}

/// Keeps a session counted while it lives.
pub struct PresenceGuard {
    presence: Arc<Presence>,
    campaign: String,
    session: Uuid,
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        self.presence.leave(&self.campaign, self.session);
    }
}

impl Presence {
    /// Presence of this instance only.
    pub fn local() -> Self {
        Self {
            campaigns: Mutex::new(HashMap::new()),
            shared: None,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Presence across the instances sharing `prefix` on Redis; a visitor not
    /// refreshed for `ttl` no longer counts.
    pub fn shared(conn: ConnectionManager, prefix: &str, ttl: Duration) -> Self {
        Self {
            shared: Some(Shared {
                conn,
                prefix: prefix.to_owned(),
                ttl,
            }),
            ..Self::local()
        }
    }

    /// Counts `session` as present in `campaign` until the guard is dropped.
    pub fn join(self: &Arc<Self>, campaign: &str, session: Uuid) -> PresenceGuard {
        let mut campaigns = self.campaigns.lock();
        let entry = campaigns.entry(campaign.to_owned()).or_default();
        let connections = entry.sessions.entry(session).or_insert(0);
        *connections += 1;
        if *connections == 1 {
            entry.departed.remove(&session);
            self.changed(entry);
        }
        PresenceGuard {
            presence: self.clone(),
            campaign: campaign.to_owned(),
            session,
        }
    }

    fn leave(&self, campaign: &str, session: Uuid) {
        let mut campaigns = self.campaigns.lock();
        let Some(entry) = campaigns.get_mut(campaign) else {
            return;
        };
        if let Some(connections) = entry.sessions.get_mut(&session) {
            *connections -= 1;
            if *connections == 0 {
                entry.sessions.remove(&session);
                entry.departed.insert(session);
                self.changed(entry);
            }
        }
    }

    /// A session came or went: publish the local count now, or have the sync
    /// task tell Redis.
    fn changed(&self, entry: &mut CampaignPresence) {
        if self.shared.is_none() {
            let count = entry.sessions.len() as u64;
            entry
                .total()
                .send_if_modified(|total| std::mem::replace(total, count) != count);
        } else {
            self.wake.notify_one();
        }
    }

    /// Every campaign this instance has had a visitor of (or a watcher) since
    /// it started.
    pub fn campaigns(&self) -> Vec<String> {
        self.campaigns.lock().keys().cloned().collect()
    }

    /// The campaign's count, as it changes.
    pub fn watch(&self, campaign: &str) -> watch::Receiver<u64> {
        self.campaigns
            .lock()
            .entry(campaign.to_owned())
            .or_default()
            .total()
            .subscribe()
    }

    fn key(prefix: &str, campaign: &str) -> String {
        format!("{prefix}:presence:{campaign}")
    }

    /// The campaign's count now (read from Redis when shared).
    pub async fn active(&self, campaign: &str) -> anyhow::Result<u64> {
        let Some(shared) = &self.shared else {
            return Ok(self
                .campaigns
                .lock()
                .get(campaign)
                .map_or(0, |c| c.sessions.len() as u64));
        };
        let mut conn = shared.conn.clone();
        let now = Utc::now().timestamp_millis();
        let count: u64 = redis::cmd("ZCOUNT")
            .arg(Self::key(&shared.prefix, campaign))
            .arg(now)
            .arg("+inf")
            .query_async(&mut conn)
            .await?;
        Ok(count)
    }

    /// One refresh with Redis: re-adds this instance's visitors with a new
    /// expiry, removes those who left and those expired, and publishes each
    /// campaign's total. Nothing to do without Redis.
    pub async fn sync_once(&self) -> anyhow::Result<()> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let work: Vec<(String, Vec<Uuid>, Vec<Uuid>)> = {
            let mut campaigns = self.campaigns.lock();
            campaigns.retain(|_, c| {
                !c.sessions.is_empty()
                    || !c.departed.is_empty()
                    || c.total.as_ref().is_some_and(|t| t.receiver_count() > 0)
            });
            campaigns
                .iter_mut()
                .map(|(slug, c)| {
                    (
                        slug.clone(),
                        c.sessions.keys().copied().collect(),
                        c.departed.drain().collect(),
                    )
                })
                .collect()
        };
        let now = Utc::now().timestamp_millis();
        let expiry = now + i64::try_from(shared.ttl.as_millis()).unwrap_or(i64::MAX / 2);
        let mut conn = shared.conn.clone();
        for (campaign, present, departed) in work {
            let key = Self::key(&shared.prefix, &campaign);
            let mut pipe = redis::pipe();
            if !present.is_empty() {
                let zadd = pipe.cmd("ZADD").arg(&key);
                for session in &present {
                    zadd.arg(expiry).arg(session.to_string());
                }
                zadd.ignore();
            }
            if !departed.is_empty() {
                let zrem = pipe.cmd("ZREM").arg(&key);
                for session in &departed {
                    zrem.arg(session.to_string());
                }
                zrem.ignore();
            }
            pipe.cmd("ZREMRANGEBYSCORE")
                .arg(&key)
                .arg("-inf")
                .arg(now)
                .ignore();
            pipe.cmd("PEXPIRE")
                .arg(&key)
                .arg(shared.ttl.as_millis() as u64 * 4)
                .ignore();
            pipe.cmd("ZCARD").arg(&key);
            let (total,): (u64,) = tokio::time::timeout(SYNC_DEADLINE, pipe.query_async(&mut conn))
                .await
                .map_err(|_| anyhow::anyhow!("Redis did not answer within {SYNC_DEADLINE:?}"))??;
            if let Some(entry) = self.campaigns.lock().get_mut(&campaign) {
                entry
                    .total()
                    .send_if_modified(|t| std::mem::replace(t, total) != total);
            }
        }
        Ok(())
    }

    /// Shows each campaign's count of this instance's visitors.
    fn show_local_counts(&self) {
        for entry in self.campaigns.lock().values_mut() {
            let count = entry.sessions.len() as u64;
            entry
                .total()
                .send_if_modified(|total| std::mem::replace(total, count) != count);
        }
    }

    /// With Redis: syncs whenever a visitor comes or goes, and at least every
    /// fifth of the TTL, until shutdown (the task `presence sync`). Without:
    /// nothing to run.
    pub fn start(self: Arc<Self>, tasks: &Tasks) {
        let Some(shared) = &self.shared else {
            return;
        };
        let every = shared.ttl / 5;
        let wake = self.wake.clone();
        tasks.periodic("presence sync", every, Some(wake), move || {
            let presence = self.clone();
            async move {
                if let Err(e) = presence.sync_once().await {
                    tracing::warn!(error = format!("{e:#}"), "presence sync failed");
                    // Without Redis, each instance shows its own visitors
                    // (rather than a frozen total); the next sync merges again.
                    presence.show_local_counts();
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_counts_once_however_many_connections() {
        let presence = Arc::new(Presence::local());
        let count = presence.watch("c");
        let ada = Uuid::now_v7();
        let sse = presence.join("c", ada);
        let cursor = presence.join("c", ada);
        assert_eq!(*count.borrow(), 1);
        let grace = presence.join("c", Uuid::now_v7());
        assert_eq!(*count.borrow(), 2);
        drop(sse);
        assert_eq!(*count.borrow(), 2, "Ada still has her cursor channel");
        drop(cursor);
        drop(grace);
        assert_eq!(*count.borrow(), 0);
        let other = presence.watch("other");
        assert_eq!(*other.borrow(), 0);
    }
}
