//! The back-office feed's named consumers: each belongs to a scope — the one
//! campaign whose records it reads, or every campaign — and keeps the
//! position it acknowledged. Names are unique within a scope, so a key of
//! one campaign can neither move nor create another scope's consumer.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The scope of a feed consumer: one campaign (`Some(id)`) or every campaign.
pub(crate) type ConsumerScope = Option<i64>;

/// How a scope is stored: the campaign id, or 0 for every campaign
/// (campaign ids start at 1).
pub(crate) fn stored_scope(scope: ConsumerScope) -> i64 {
    scope.unwrap_or(0)
}

/// A stored scope.
pub(crate) fn read_scope(stored: i64) -> ConsumerScope {
    (stored > 0).then_some(stored)
}

/// A named consumer of the feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, salvo_oapi::ToSchema)]
#[salvo(schema(name = StoredFeedConsumer))]
pub struct FeedConsumer {
    /// Its name (1-64 letters, digits, `.`, `_`, `-`), unique in its scope.
    pub name: String,
    /// The campaign it reads (id), or every campaign (`None`).
    #[serde(skip)]
    pub scope: ConsumerScope,
    /// Its campaign's slug; null: every campaign.
    #[salvo(schema(required = true))]
    pub campaign: Option<String>,
    /// The position it acknowledged.
    pub position: u64,
    /// When it last acknowledged.
    pub updated_at: DateTime<Utc>,
    /// When it was last followed or acknowledged.
    pub read_at: DateTime<Utc>,
}

impl FeedConsumer {
    /// Whether it was read since `cutoff`; a consumer idle for longer no
    /// longer holds retention back.
    pub fn live_since(&self, cutoff: DateTime<Utc>) -> bool {
        self.read_at >= cutoff
    }
}

/// What acknowledging a position did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acked {
    /// The consumer's position before (`None`: the acknowledgement made it).
    pub before: Option<u64>,
    /// Its position now (never lower than before).
    pub position: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_stored_as_campaign_ids_or_zero() {
        assert_eq!(stored_scope(None), 0);
        assert_eq!(stored_scope(Some(7)), 7);
        assert_eq!(read_scope(0), None);
        assert_eq!(read_scope(7), Some(7));
    }
}
