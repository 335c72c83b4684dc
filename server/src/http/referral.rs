//! `POST /api/referral` `{campaign, code}`: a user who joined enters a friend's
//! code ([`crate::forms::referral`]).

use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::Serialize;

use salvo_oapi::{ToSchema, endpoint};

use super::{ApiError, bearer_token, json_body, state};
use crate::forms::referral::ReferralRequest;
use crate::request::answers;

/// Routes of this resource.
pub(crate) fn router() -> Router {
    Router::with_path("api/referral").post(refer)
}

/// Answer of a referral.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReferralResponse {
    /// The referrer's display name.
    pub referrer: String,
    /// The referrer's count: this referral included when it counts now.
    pub count: i64,
    /// Whether it counts now; else it counts once both you and the
    /// referrer have verified your emails.
    pub counted: bool,
}

/// Credit a friend's referral code
#[endpoint(
    tags("visitors"),
    security(("sessionToken" = [])),
    request_body = ReferralRequest,
    responses(
        (status_code = 201, description = "Recorded: counted now, or once both emails are verified", body = ReferralResponse),
        answers::SessionCredential,
        answers::Form,
        answers::Conflict,
    )
)]
async fn refer(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    // A referral is credited to a session: without one, nothing else is looked at.
    if bearer_token(req.headers()).is_none() {
        return Err(ApiError::Unauthorized {
            code: "unauthorized",
            message: "a referral needs the session token (Authorization: Bearer)".into(),
        });
    }
    let body: ReferralRequest = json_body(req, &state.config).await?;
    super::check_campaign_origin(req, &state, &body.campaign).await?;
    let (referrer, count, counted) = state.forms.refer(body, bearer_token(req.headers())).await?;
    res.status_code(StatusCode::CREATED);
    res.render(Json(ReferralResponse {
        referrer: referrer.display_name,
        count,
        counted,
    }));
    Ok(())
}
