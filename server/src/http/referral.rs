//! `POST /api/referral` `{campaign, code}`: a user who joined enters a friend's
//! code. Counts are derived from rows (one per referred user), and a referrer
//! crossing a milestone of the campaign is announced once as
//! `referral.milestone`.

use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ApiError, json_body, open_campaign, publish, rate_limit, required_session, state};
use crate::bus::Event;
use crate::model::campaign::Campaign;
use crate::model::outbox::NewOutbox;
use crate::model::user::{ReferralCredit, User, normalize_referral_code};
use crate::session::SessionKind;
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> Router {
    Router::with_path("api/referral").post(refer)
}

/// Body of `POST /api/referral`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferralRequest {
    /// Campaign slug.
    pub campaign: String,
    /// The friend's referral code.
    pub code: String,
}

/// Answer of a referral.
#[derive(Debug, Serialize)]
pub struct ReferralResponse {
    /// The referrer's display name.
    pub referrer: String,
    /// The referrer's count, this referral included.
    pub count: i64,
}

fn unknown_code() -> ApiError {
    ApiError::NotFound {
        code: "unknown_code",
        message: "no such referral code in this campaign".into(),
    }
}

/// The user whose code `raw` is, in this campaign; 404 `unknown_code` otherwise.
pub async fn referrer_by_code(
    state: &AppState,
    campaign: &Campaign,
    raw: &str,
) -> Result<User, ApiError> {
    let code = normalize_referral_code(raw).ok_or_else(unknown_code)?;
    state
        .store
        .user_by_referral_code(campaign.id, &code)
        .await?
        .ok_or_else(unknown_code)
}

/// Publishes `referral.milestone` when `credit.count` is one of the campaign's
/// milestones. Each count is returned by exactly one committed referral, so each
/// milestone is announced once.
pub async fn announce_milestone(state: &AppState, campaign: &Campaign, credit: &ReferralCredit) {
    let reached = u32::try_from(credit.count)
        .ok()
        .filter(|count| campaign.config.milestones.contains(count));
    if let Some(milestone) = reached {
        tracing::info!(referrer = %credit.referrer.master_id, milestone, "referral milestone");
        publish(
            state,
            campaign,
            Event::public(
                "referral.milestone",
                json!({"user": credit.referrer.display_name, "count": credit.count, "milestone": milestone}),
            ),
        )
        .await;
    }
}

#[handler]
async fn refer(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let body: ReferralRequest = json_body(req, state.config.max_body_bytes).await?;
    let campaign = open_campaign(&state, &body.campaign).await?;
    let session = required_session(req, &state, &campaign)?;
    if session.kind != SessionKind::User {
        return Err(ApiError::Forbidden {
            code: "join_first",
            message: "only users who joined can enter a referral code".into(),
        });
    }
    rate_limit(
        &state,
        "referral",
        &campaign,
        &session.sub.to_string(),
        campaign.config.rate_limits.referrals_per_minute,
    )?;
    if !campaign.config.forms.join.referrals {
        return Err(ApiError::Forbidden {
            code: "referrals_closed",
            message: "this campaign does not take referral codes".into(),
        });
    }
    let referrer = referrer_by_code(&state, &campaign, &body.code).await?;
    if referrer.master_id == session.sub {
        return Err(ApiError::Unprocessable {
            code: "self_referral",
            message: "that is your own referral code".into(),
            field: Some("code".into()),
        });
    }
    let referred =
        state
            .store
            .user_by_id(session.sub)
            .await?
            .ok_or_else(|| ApiError::Unauthorized {
                code: "invalid_token",
                message: "the session's user does not exist".into(),
            })?;
    let already = || ApiError::Conflict {
        code: "already_referred",
        message: "you were already referred in this campaign".into(),
        field: Some("code".into()),
    };
    if referred.referred_by.is_some() {
        return Err(already());
    }
    let outbox = [NewOutbox::for_campaign(
        &campaign,
        "referral.created",
        json!({"referrer": referrer.master_id, "referred": referred.master_id, "code": referrer.referral_code}),
    )];
    let credit = match state
        .store
        .record_referral(&referrer, &referred, &outbox)
        .await
    {
        Ok(credit) => credit,
        Err(crate::store::StoreError::Conflict { field: "referred" }) => return Err(already()),
        Err(e) => return Err(e.into()),
    };
    announce_milestone(&state, &campaign, &credit).await;
    res.status_code(StatusCode::CREATED);
    res.render(Json(ReferralResponse {
        referrer: credit.referrer.display_name.clone(),
        count: credit.count,
    }));
    Ok(())
}
