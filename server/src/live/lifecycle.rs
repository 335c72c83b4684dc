//! A campaign's life honoured live: when one opens or closes — its status
//! changed, or it reached `starts_at` or `ends_at` — its forms follow at
//! once (they ask `Campaign::is_open` on every request) and connected pages
//! are told with `campaign.status` `{status, open, starts_at, ends_at}`,
//! once per cluster.

use super::Live;
use crate::bus::{Audience, Event};
use crate::model::campaign::{Campaign, CampaignStatus};
use crate::model::events::payload;
use crate::store::Page;

/// The live state kind a campaign's last announced status is stored under.
const KIND: &str = "status";

/// Most campaigns looked at per round.
const MAX_CAMPAIGNS: u32 = 500;

/// What is announced of a campaign's life: its status and whether it is open.
fn status_of(campaign: &Campaign, now: chrono::DateTime<chrono::Utc>) -> String {
    format!("{}:{}", campaign.status.as_str(), campaign.is_open(now))
}

impl Live {
    /// Announces every campaign whose status or openness changed since it was
    /// last announced. The first time a campaign is seen its state is only
    /// recorded: nothing changed that a page could have missed.
    pub(crate) async fn announce_statuses(&self) {
        let campaigns = match self
            .store
            .list_campaigns(Page {
                limit: MAX_CAMPAIGNS,
                offset: 0,
            })
            .await
        {
            Ok(campaigns) => campaigns,
            Err(e) => {
                tracing::debug!(error = %e, "campaign statuses not checked");
                return;
            }
        };
        let now = chrono::Utc::now();
        for campaign in campaigns {
            if campaign.status == CampaignStatus::Draft {
                continue;
            }
            if let Err(e) = self.announce_status(&campaign, now).await {
                tracing::warn!(error = %e, campaign = %campaign.slug, "campaign status not announced");
            }
        }
    }

    /// Publishes `campaign.status` if `campaign`'s status or openness at `now`
    /// is not what was last announced and this call is the one that swapped it.
    async fn announce_status(
        &self,
        campaign: &Campaign,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), crate::store::StoreError> {
        let current = status_of(campaign, now);
        let stored = self.store.live_state(campaign.id, KIND).await?;
        match stored {
            Some(stored) if stored == current => return Ok(()),
            None => {
                self.store
                    .swap_live_state(campaign.id, KIND, None, &current)
                    .await?;
                return Ok(());
            }
            Some(stored) => {
                if !self
                    .store
                    .swap_live_state(campaign.id, KIND, Some(&stored), &current)
                    .await?
                {
                    // Another instance saw the change first, and announces it.
                    return Ok(());
                }
            }
        }
        tracing::info!(campaign = %campaign.slug, status = %current, "campaign status announced");
        self.publisher
            .publish(
                campaign,
                Event::built_in(
                    &payload::CampaignStatus {
                        status: campaign.status,
                        open: campaign.is_open(now),
                        starts_at: campaign.starts_at,
                        ends_at: campaign.ends_at,
                    },
                    Audience::Everyone,
                ),
            )
            .await;
        Ok(())
    }
}
