//! Visitors over a campaign's life: every minute (`OVASABI_VISITOR_SAMPLE_SECS`)
//! each instance records how many visitors each campaign it serves has, so
//! that the hourly series (`GET /api/campaign/{slug}/metrics`, as the admin)
//! shows visitors for the whole campaign, not only for the time a dashboard
//! was open. With Redis the count spans instances, and every instance writes
//! the same count to the same minute's row.

use chrono::{DurationRound, TimeDelta, Utc};

use super::Live;

impl Live {
    /// Records this minute's visitors of every campaign this instance has served.
    pub(crate) async fn sample_visitors(&self) {
        let now = Utc::now();
        let minute = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
        let mut samples = Vec::new();
        for slug in self.presence.campaigns() {
            let campaign = match self.campaigns.by_slug(&*self.store, &slug).await {
                Ok(Some(campaign)) => campaign,
                Ok(None) => continue, // a slug nobody created: nothing to record
                Err(e) => {
                    tracing::debug!(error = %e, "visitor sample skipped: the database is away");
                    return;
                }
            };
            match self.presence.active(&slug).await {
                Ok(active) => {
                    samples.push((campaign.id, i64::try_from(active).unwrap_or(i64::MAX)))
                }
                Err(e) => tracing::debug!(error = format!("{e:#}"), %slug, "visitors not counted"),
            }
        }
        if samples.is_empty() {
            return;
        }
        if let Err(e) = self.store.record_visitors(minute, &samples).await {
            tracing::warn!(error = %e, "visitor samples not recorded");
        }
    }
}
