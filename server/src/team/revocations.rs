//! How every instance learns that a key was revoked or a person erased,
//! so that what they hold open ends ([`crate::revocation`]).
//!
//! The instance that revokes notes it at once and announces it on the bus
//! ([`announce`]: no data, naming no one); every instance that hears it
//! looks again at once ([`check`]). Should the bus be down, each instance
//! looks every [`CHECK_EVERY`] anyway: the keys its follows and team streams
//! hold are looked up again, and the sessions ended since its last look are
//! read from the database.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::Team;
use crate::bus::Event;
use crate::revocation::{ANNOUNCEMENT, CHANNEL};

/// How often each instance looks again without being told.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(5);

/// How far back each look reaches before the latest ending it saw.
const OVERLAP: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

impl Team {
    /// Tells every instance to look again now. A bus that does not answer
    /// leaves it to their periodic check.
    pub(crate) async fn announce_revocations(&self) {
        let event = Event::team(ANNOUNCEMENT, serde_json::Value::Null);
        if let Err(e) = self.bus.publish(CHANNEL, event).await {
            tracing::warn!(error = %e, "a revocation was not announced: other instances learn of it within {CHECK_EVERY:?}");
        }
    }

    /// Starts the check: every [`CHECK_EVERY`], and at once when an
    /// announcement arrives.
    pub(crate) fn start_revocations(&self) {
        let wake = Arc::new(Notify::new());
        let mut announcements = self.bus.subscribe(CHANNEL);
        let heard = wake.clone();
        let stop = self.tasks.shutdown().clone();
        self.tasks.spawn("revocation announcements", async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    received = announcements.recv() => match received {
                        // A lagged receiver missed announcements: look anyway.
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            heard.notify_one();
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        });
        let checking = self.clone();
        // Sessions ended before this start are read whole on the first look:
        // every one whose tokens may still be alive.
        let since = Arc::new(Mutex::new(Utc::now() - self.sessions.longest_ttl()));
        self.tasks
            .periodic("revocations", CHECK_EVERY, Some(wake), move || {
                let team = checking.clone();
                let since = since.clone();
                async move {
                    let from = *since.lock();
                    if let Some(next) = team.check_revocations(from).await {
                        *since.lock() = next;
                    }
                }
            });
    }

    /// One look: the keys held open, and the sessions ended since `since`.
    /// Returns where the next look starts, once the sessions were read: a
    /// minute before the latest seen, so that an erasure committed late (or
    /// on an instance whose clock is behind) is not passed over.
    pub(crate) async fn check_revocations(&self, since: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let revoked = &self.revocations;
        let mut gone = Vec::new();
        for id in revoked.open_keys() {
            match self.store.key_by_id(id).await {
                Ok(Some(key)) if key.revoked_at.is_none() => {}
                Ok(_) => gone.push(id),
                Err(e) => {
                    tracing::debug!(error = %e, "revoked keys not checked");
                    break;
                }
            }
        }
        revoked.revoke_keys(&gone);
        match self.store.ended_sessions_since(since).await {
            Ok(ended) => {
                let latest = ended.iter().map(|(_, at)| *at).max();
                let ids: Vec<_> = ended.into_iter().map(|(id, _)| id).collect();
                revoked.end_sessions(&ids);
                Some(latest.map_or(since, |at| (at - OVERLAP).max(since)))
            }
            Err(e) => {
                tracing::debug!(error = %e, "ended sessions not read");
                None
            }
        }
    }
}
