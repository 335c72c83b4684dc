//! Humanity scores kept: every few seconds the cursor rooms' changed
//! scores ([`crate::cursor::CursorHub::take_humanity`]) are stored by
//! session, for the referral review ([`crate::model::referral`]). A score
//! is a hint for the team, so a batch the database refuses is dropped
//! (logged), never retried.

use std::time::Duration;

use chrono::Utc;

use super::Live;
use crate::model::referral::HumanityScore;

/// How often scores are stored: a join made this long after its visitor
/// last moved is checked against their whole path.
pub(crate) const SAVE_EVERY: Duration = Duration::from_secs(2);

impl Live {
    /// Stores the scores that changed since the last time.
    pub(crate) async fn save_humanity(&self) {
        let reports = self.cursors.take_humanity();
        if reports.is_empty() {
            return;
        }
        let at = Utc::now();
        let mut scores = Vec::with_capacity(reports.len());
        for report in reports {
            let campaign = match self.campaigns.by_slug(&*self.store, &report.campaign).await {
                Ok(Some(campaign)) => campaign,
                Ok(None) => continue,
                Err(e) => {
                    tracing::debug!(error = %e, "humanity scores dropped: the database is away");
                    return;
                }
            };
            scores.push(HumanityScore {
                subject: report.session,
                campaign_id: campaign.id,
                score: f64::from(report.score),
                samples: report.samples,
                at,
            });
        }
        if let Err(e) = self.store.save_humanity(&scores).await {
            tracing::warn!(error = %e, count = scores.len(), "humanity scores dropped");
        }
    }
}
