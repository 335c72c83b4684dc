//! The referral leaderboard: top referrers by display name and count (never
//! an email), from the same referral rows the milestones count. Opt-in per
//! campaign (`config.leaderboard`). When a referral (or a rename, or an
//! erasure) may have changed the top N, the next announcement round
//! recomputes it and, if it changed, publishes `leaderboard` once per
//! cluster: `{seq, top: [{display_name, count}]}`; `seq` grows with every
//! change, so a page can ignore one that arrives after a newer one.

use super::Live;
use crate::bus::{Audience, Event};
use crate::model::campaign::Campaign;
use crate::model::events::payload::Leaderboard;

/// The live state kind the last announced leaderboard is stored under (a
/// stored key: it stays, whatever the event is called).
const KIND: &str = "leaderboard";

impl Live {
    /// Announces the leaderboards this instance may have changed.
    pub(crate) async fn announce_leaderboards(&self) {
        for id in self.leaderboard_changes.take() {
            let campaign = match self.store.campaign_by_id(id).await {
                Ok(Some(campaign)) => campaign,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, campaign = id, "leaderboard not announced");
                    self.leaderboard_changes.touch(id);
                    continue;
                }
            };
            if let Err(e) = self.announce_leaderboard(&campaign).await {
                tracing::warn!(error = format!("{e:#}"), campaign = %campaign.slug, "leaderboard not announced");
                self.leaderboard_changes.touch(id);
            }
        }
    }

    /// Recomputes `campaign`'s top N and publishes `leaderboard` if this call
    /// changed it; true when it did.
    pub(crate) async fn announce_leaderboard(&self, campaign: &Campaign) -> anyhow::Result<bool> {
        if !campaign.config.leaderboard.enabled {
            return Ok(false);
        }
        let size = campaign.config.leaderboard.size;
        // Swap the stored board for the current one; when another instance
        // swapped first, look again (its board may already be the current one).
        let mut board = None;
        for _ in 0..5 {
            let stored = self.store.live_state(campaign.id, KIND).await?;
            let previous: Option<Leaderboard> =
                stored.as_deref().and_then(|s| serde_json::from_str(s).ok());
            let top = self.store.leaderboard(campaign.id, size).await?;
            if previous.as_ref().map_or(top.is_empty(), |p| p.top == top) {
                return Ok(false);
            }
            let next = Leaderboard {
                seq: previous.map_or(1, |p| p.seq + 1),
                top,
            };
            let value = serde_json::to_string(&next)?;
            if self
                .store
                .swap_live_state(campaign.id, KIND, stored.as_deref(), &value)
                .await?
            {
                board = Some(next);
                break;
            }
        }
        let Some(board) = board else {
            anyhow::bail!("the leaderboard kept changing under this instance");
        };
        self.publisher
            .publish(campaign, Event::built_in(&board, Audience::Everyone))
            .await;
        Ok(true)
    }
}
