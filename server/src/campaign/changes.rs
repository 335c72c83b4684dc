//! Campaigns whose derived live state may have changed on this instance:
//! marked by the writes that change it (a referral, a renamed or erased
//! referrer), taken by the task that announces it at most once a second
//! (`crate::live`).

use std::collections::HashSet;

use parking_lot::Mutex;

/// Campaign ids whose leaderboard may have changed since it was last announced.
#[derive(Debug, Default)]
pub struct LeaderboardChanges(Mutex<HashSet<i64>>);

impl LeaderboardChanges {
    /// Marks campaign `id`'s leaderboard as possibly changed.
    pub fn touch(&self, id: i64) {
        self.0.lock().insert(id);
    }

    /// The marked campaigns, unmarking them.
    pub fn take(&self) -> Vec<i64> {
        self.0.lock().drain().collect()
    }
}
