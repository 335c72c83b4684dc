//! Credentials ended while in use: team keys that were revoked and the
//! sessions of people who were erased.
//!
//! A new request checks its credential where it always did (a key is looked
//! up in the database on every call; a session token is verified by
//! [`crate::session::SessionKeys`], which asks [`Revocations::session_ended`]).
//! What was opened before — a gRPC follow, a team's event stream, a visitor's
//! stream — holds its credential for as long as it lives, so it watches
//! [`Revocations::changed`] and ends itself when [`Revocations::ends`] says
//! so. This instance learns of a revocation at once when it makes it, and of
//! another instance's through the bus (announced without naming anyone) or,
//! when the bus is down, by the periodic check that `App` runs
//! (`revocations`): the keys that something holds open are looked up again,
//! and the sessions ended since the last look are read.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;
use uuid::Uuid;

/// The bus channel revocations are announced on: not a campaign (slugs are
/// letters, digits and `-`), carrying no data, so it names no one.
pub(crate) const CHANNEL: &str = "~revocations";

/// The kind of the announcement.
pub(crate) const ANNOUNCEMENT: &str = "credentials.revoked";

/// What this instance knows was revoked, and what holds keys open.
#[derive(Debug)]
pub struct Revocations {
    keys: RwLock<HashSet<i64>>,
    sessions: RwLock<HashSet<Uuid>>,
    /// Keys something holds open, with how many holders each.
    open: Mutex<HashMap<i64, usize>>,
    changed: watch::Sender<u64>,
}

impl Default for Revocations {
    fn default() -> Self {
        Self {
            keys: RwLock::default(),
            sessions: RwLock::default(),
            open: Mutex::default(),
            changed: watch::Sender::new(0),
        }
    }
}

impl Revocations {
    /// Nothing revoked yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Whether key `id` was revoked.
    pub fn key_revoked(&self, id: i64) -> bool {
        self.keys.read().contains(&id)
    }

    /// Whether session `id` was ended by an erasure.
    pub fn session_ended(&self, id: Uuid) -> bool {
        let sessions = self.sessions.read();
        !sessions.is_empty() && sessions.contains(&id)
    }

    /// Whether something opened with `key` (a team key's id) or `session`
    /// must end now.
    pub fn ends(&self, key: Option<i64>, session: Option<Uuid>) -> bool {
        key.is_some_and(|k| self.key_revoked(k)) || session.is_some_and(|s| self.session_ended(s))
    }

    /// Notes that keys `ids` were revoked; what holds them ends.
    pub fn revoke_keys(&self, ids: &[i64]) {
        let mut keys = self.keys.write();
        let before = keys.len();
        keys.extend(ids);
        if keys.len() != before {
            drop(keys);
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// Notes that sessions `ids` were ended; their tokens are refused and
    /// their streams end.
    pub fn end_sessions(&self, ids: &[Uuid]) {
        let mut sessions = self.sessions.write();
        let before = sessions.len();
        sessions.extend(ids);
        if sessions.len() != before {
            drop(sessions);
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// Changes whenever something was revoked.
    pub fn changed(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Notes that something holds key `id` open until the hold is dropped,
    /// so the periodic check looks it up again.
    pub fn hold_key(self: &Arc<Self>, id: i64) -> KeyHold {
        *self.open.lock().entry(id).or_insert(0) += 1;
        KeyHold {
            revocations: self.clone(),
            id,
        }
    }

    /// The keys something holds open and that are not known to be revoked.
    pub fn open_keys(&self) -> Vec<i64> {
        let keys = self.keys.read();
        self.open
            .lock()
            .keys()
            .filter(|id| !keys.contains(id))
            .copied()
            .collect()
    }
}

/// A key held open (by a follow, a team stream): released when dropped.
#[derive(Debug)]
pub struct KeyHold {
    revocations: Arc<Revocations>,
    id: i64,
}

impl Drop for KeyHold {
    fn drop(&mut self) {
        let mut open = self.revocations.open.lock();
        if let Some(count) = open.get_mut(&self.id) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_are_told_and_holds_counted() {
        let revocations = Revocations::new();
        let mut changed = revocations.changed();
        let session = Uuid::now_v7();
        assert!(!revocations.ends(Some(1), Some(session)));
        let a = revocations.hold_key(1);
        let b = revocations.hold_key(1);
        let _c = revocations.hold_key(2);
        let mut open = revocations.open_keys();
        open.sort_unstable();
        assert_eq!(open, [1, 2]);
        drop(a);
        assert_eq!(revocations.open_keys().len(), 2, "one holder of 1 left");
        drop(b);
        assert_eq!(revocations.open_keys(), [2]);
        revocations.revoke_keys(&[2]);
        assert!(changed.has_changed().expect("open"));
        changed.mark_unchanged();
        assert!(revocations.ends(Some(2), None));
        assert!(revocations.open_keys().is_empty(), "known revoked");
        revocations.revoke_keys(&[2]);
        assert!(!changed.has_changed().expect("open"), "nothing new");
        revocations.end_sessions(&[session]);
        assert!(changed.has_changed().expect("open"));
        assert!(revocations.ends(None, Some(session)));
    }
}
