//! Referrals: a user who joined enters a friend's code. Counts are derived
//! from rows (one per referred user), and a referrer crossing a milestone of
//! the campaign is announced once as `referral.milestone`.

use serde::Deserialize;

use super::Forms;
use crate::bus::{Audience, Event};
use crate::error::ApiError;
use crate::model::campaign::Campaign;
use crate::model::events::payload;
use crate::model::user::{ReferralCredit, User, normalize_referral_code};
use crate::session::{SessionKind, verify_session};

/// Body of `POST /api/referral`.
#[derive(Debug, Deserialize, salvo_oapi::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReferralRequest {
    /// Campaign slug.
    #[salvo(schema(schema_with = crate::model::schema::slug))]
    pub campaign: String,
    /// The friend's referral code.
    #[salvo(schema(schema_with = crate::model::schema::string))]
    pub code: String,
}

fn unknown_code() -> ApiError {
    ApiError::NotFound {
        code: "unknown_code",
        message: "no such referral code in this campaign".into(),
    }
}

impl Forms {
    /// The user whose code `raw` is, in this campaign; 404 `unknown_code` otherwise.
    pub(crate) async fn referrer_by_code(
        &self,
        campaign: &Campaign,
        raw: &str,
    ) -> Result<User, ApiError> {
        let code = normalize_referral_code(raw).ok_or_else(unknown_code)?;
        self.store
            .user_by_referral_code(campaign.id, &code)
            .await?
            .ok_or_else(unknown_code)
    }

    /// Publishes `referral.milestone` when `credit.count` is one of the campaign's
    /// milestones. Each count is returned by exactly one committed referral, so each
    /// milestone is announced once.
    ///
    /// The campaign's leaderboard is marked as changed too (announced by
    /// `crate::live`, at most once a second).
    pub(crate) async fn announce_milestone(&self, campaign: &Campaign, credit: &ReferralCredit) {
        if campaign.config.leaderboard.enabled {
            self.leaderboard_changes.touch(campaign.id);
        }
        let reached = u32::try_from(credit.count)
            .ok()
            .filter(|count| campaign.config.milestones.contains(count));
        if let Some(milestone) = reached {
            tracing::info!(referrer = %credit.referrer.master_id, milestone, "referral milestone");
            self.publisher
                .publish(
                    campaign,
                    Event::built_in(
                        &payload::ReferralMilestone {
                            user: credit.referrer.display_name.clone(),
                            count: credit.count,
                            milestone,
                        },
                        Audience::Everyone,
                    )
                    .about(credit.referrer.master_id),
                )
                .await;
        }
    }

    /// Credits the referrer whose code is `body.code` with the user of `token`:
    /// 401 without a valid session, 403 `join_first` for a visitor who has not
    /// joined, 429 past the rate limit, 403 `referrals_closed`, 404
    /// `unknown_code`, 422 `self_referral`, 409 `already_referred`. The
    /// referral counts at once when both are verified (a credit, and the
    /// referrer's count after it); else when the second of them verifies
    /// (no credit, and the referrer's count as it is).
    pub(crate) async fn refer(
        &self,
        body: ReferralRequest,
        token: Option<&str>,
    ) -> Result<(User, i64, bool), ApiError> {
        let campaign = self.open_campaign(&body.campaign).await?;
        let session = token
            .map(|token| verify_session(&self.sessions, token, &campaign))
            .transpose()?
            .ok_or_else(ApiError::session_required)?;
        if session.kind != SessionKind::User {
            return Err(ApiError::Forbidden {
                code: "join_first",
                message: "only users who joined can enter a referral code".into(),
            });
        }
        self.rate_limit(
            "referral",
            &campaign,
            &session.sub.to_string(),
            campaign.config.rate_limits.referrals_per_minute,
        )
        .await?;
        if !campaign.config.forms.join.referrals {
            return Err(ApiError::Forbidden {
                code: "referrals_closed",
                message: "this campaign does not take referral codes".into(),
            });
        }
        let referrer = self.referrer_by_code(&campaign, &body.code).await?;
        if referrer.master_id == session.sub {
            return Err(ApiError::Unprocessable {
                code: "self_referral",
                message: "that is your own referral code".into(),
                field: Some("code".into()),
            });
        }
        let referred = self.session_user(session.sub).await?;
        let already = || ApiError::Conflict {
            code: "already_referred",
            message: "you were already referred in this campaign".into(),
            field: Some("code".into()),
        };
        if referred.referred_by.is_some() {
            return Err(already());
        }
        let outbox = [super::join::referral_created(
            &campaign,
            &referrer,
            referred.master_id,
        )];
        let credit = match self
            .store
            .record_referral(
                &referrer,
                &referred,
                crate::model::referral::FraudPolicy::of(&campaign),
                &outbox,
            )
            .await
        {
            Ok(credit) => credit,
            Err(crate::store::StoreError::Conflict { field: "referred" }) => return Err(already()),
            Err(e) => return Err(e.into()),
        };
        match credit {
            Some(credit) => {
                self.announce_milestone(&campaign, &credit).await;
                Ok((credit.referrer, credit.count, true))
            }
            None => {
                let count = self.store.referral_count(&referrer).await?;
                Ok((referrer, count, false))
            }
        }
    }
}
