//! The team's review of flagged referrals ([`crate::model::referral`]):
//! approving one makes it count from then on — the leaderboard moves and a
//! crossed milestone is announced, as when a referral counts at once —
//! and rejecting one is final. Each decision is audited.

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::Forms;
use crate::error::ApiError;
use crate::model::campaign::Campaign;
use crate::model::referral::{ReferralStatus, Reviewed};
use crate::model::team::{AuditAction, Role};
use crate::team::Caller;

/// Most referrals one review decides.
pub(crate) const MAX_REVIEW: usize = 500;

/// What the team decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, salvo_oapi::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Decision {
    /// It counts from now on.
    Approve,
    /// It never counts (final).
    Reject,
}

/// Body of `POST /api/campaign/{slug}/referrals/review`.
#[derive(Debug, Deserialize, salvo_oapi::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReviewRequest {
    /// The flagged referrals (their `id`), 1 to 500.
    #[salvo(schema(min_items = 1, max_items = 500))]
    #[serde(deserialize_with = "whole_numbers")]
    pub ids: Vec<i64>,
    /// `approve` or `reject`.
    pub decision: Decision,
}

/// Ids as JSON numbers with no fraction: `7` and `7.0` alike (JSON does
/// not tell them apart, and some clients write every number as a float).
fn whole_numbers<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    let numbers = Vec::<serde_json::Number>::deserialize(d)?;
    numbers
        .iter()
        .map(|n| {
            n.as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                        .map(|f| f as i64)
                })
                .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a referral id")))
        })
        .collect()
}

/// What became of one referral of a review.
#[derive(Debug, Clone, PartialEq, Serialize, salvo_oapi::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub(crate) enum ReviewResult {
    /// Approved: it counts, and the referrer's count is now this.
    Approved {
        /// The referral.
        id: i64,
        /// The referrer's count after it.
        count: i64,
    },
    /// Rejected.
    Rejected {
        /// The referral.
        id: i64,
    },
    /// Nothing changed: it was not flagged (reviewed already, or never flagged).
    NotFlagged {
        /// The referral.
        id: i64,
        /// Where it stands.
        status: ReferralStatus,
    },
    /// No such referral in this campaign.
    NotFound {
        /// The id asked for.
        id: i64,
    },
}

impl Forms {
    /// Reviews the flagged referrals `request.ids` of `campaign` (editor),
    /// one at a time, each in its own transaction: what became of each, in
    /// the order asked (an id asked twice is reviewed once).
    pub(crate) async fn review_referrals(
        &self,
        by: &Caller,
        campaign: &Campaign,
        request: ReviewRequest,
    ) -> Result<Vec<ReviewResult>, ApiError> {
        by.require_in(Role::Editor, campaign.id)?;
        if request.ids.is_empty() || request.ids.len() > MAX_REVIEW {
            return Err(ApiError::invalid_field(
                "ids",
                format!("must name 1 to {MAX_REVIEW} referrals"),
            ));
        }
        let approve = request.decision == Decision::Approve;
        let mut ids = request.ids;
        let mut seen = std::collections::HashSet::new();
        ids.retain(|id| seen.insert(*id));
        let mut results = Vec::with_capacity(ids.len());
        for id in ids {
            let reviewed = self
                .store
                .review_referral(campaign.id, id, approve, &by.name, Utc::now())
                .await?;
            let result = match reviewed {
                Reviewed::Missing => ReviewResult::NotFound { id },
                Reviewed::NotFlagged(status) => ReviewResult::NotFlagged { id, status },
                Reviewed::Rejected => ReviewResult::Rejected { id },
                Reviewed::Approved(credit) => {
                    self.announce_milestone(campaign, &credit).await;
                    ReviewResult::Approved {
                        id,
                        count: credit.count,
                    }
                }
            };
            if matches!(
                result,
                ReviewResult::Approved { .. } | ReviewResult::Rejected { .. }
            ) {
                let (action, after) = if approve {
                    (AuditAction::ReferralApproved, ReferralStatus::Counted)
                } else {
                    (AuditAction::ReferralRejected, ReferralStatus::Rejected)
                };
                let change = by.change(
                    action,
                    Some(campaign.id),
                    id.to_string(),
                    Some(serde_json::json!({"status": ReferralStatus::Flagged})),
                    Some(serde_json::json!({"status": after})),
                );
                self.team.record(change).await;
            }
            results.push(result);
        }
        Ok(results)
    }
}
