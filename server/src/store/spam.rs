//! The part of the [`Store`](super::Store) that bot defence needs: the
//! submissions held as spam (or let through marked), listed, released,
//! counted and pruned. Implemented in `sql/spam.rs`; erased with the
//! person in `sql/erasure.rs`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{Page, StoreError};
use crate::model::spam::{NewSpam, Spam, SpamState};

/// How many submissions of a campaign are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, salvo_oapi::ToSchema)]
pub struct SpamCounts {
    /// Held, waiting for the team.
    pub held: u64,
    /// Released by the team.
    pub released: u64,
    /// Let through unverified while the CAPTCHA provider was down.
    pub passed: u64,
}

/// Spam, held and listed.
#[async_trait]
pub trait SpamStore: Send + Sync + 'static {
    /// Lists a submission.
    async fn hold_spam(&self, spam: &NewSpam) -> Result<(), StoreError>;

    /// A campaign's listed submissions, newest first; only those in
    /// `state` when given.
    async fn spam(
        &self,
        campaign_id: i64,
        state: Option<SpamState>,
        page: Page,
    ) -> Result<Vec<Spam>, StoreError>;

    /// One listed submission.
    async fn spam_by_id(&self, id: Uuid) -> Result<Option<Spam>, StoreError>;

    /// Marks held submission `id` released by `by` at `at`; false when it
    /// is not held (released already, or gone).
    async fn release_spam(&self, id: Uuid, by: &str, at: DateTime<Utc>)
    -> Result<bool, StoreError>;

    /// How many of a campaign's submissions are in each state.
    async fn spam_counts(&self, campaign_id: i64) -> Result<SpamCounts, StoreError>;

    /// Removes what was listed before `before`; how many.
    async fn prune_spam(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
