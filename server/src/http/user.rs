//! `POST /api/user/register`: a visitor joins a campaign ([`crate::forms::join`]).

use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use salvo_oapi::{ToSchema, endpoint};

use super::{ApiError, bearer_token, client_address, client_ip, state};
use crate::forms::bots::Sender;
use crate::forms::join::JoinRequest;
use crate::request::answers;
use crate::request::body::form_body;

/// Routes of this resource.
pub(crate) fn router() -> Router {
    Router::with_path("api/user/register").post(register)
}

/// Answer of a join.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JoinResponse {
    /// The user's global id.
    pub master_id: Uuid,
    /// Name shown publicly.
    pub display_name: String,
    /// The user's own referral code.
    pub referral_code: String,
    /// Session token.
    pub token: String,
    /// Whether the join counts now; else once the link mailed to the
    /// address is opened (`config.forms.join.verify = "email"`).
    pub verified: bool,
}

/// Join the campaign
///
/// A visitor session's token (`Authorization: Bearer`, optional) links the
/// user to that session's first touch; a bad token is 401. Besides its own
/// fields the body may carry the campaign's honeypot field
/// (`config.forms.honeypot`); any other is refused.
#[endpoint(
    tags("visitors"),
    security((), ("sessionToken" = [])),
    request_body = JoinRequest,
    responses(
        (status_code = 201, description = "Joined", body = JoinResponse),
        answers::SessionCredential,
        answers::Form,
        answers::Conflict,
    )
)]
async fn register(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let (body, extra): (JoinRequest, _) = form_body(req, &state.config).await?;
    super::check_campaign_origin(req, &state, &body.campaign).await?;
    let sender = Sender {
        key: client_ip(req, &state),
        address: client_address(req, &state),
        user_agent: req
            .headers()
            .get(salvo::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        extra,
    };
    let joined = state
        .forms
        .join(body, bearer_token(req.headers()), &sender)
        .await?;
    res.status_code(StatusCode::CREATED);
    res.render(Json(JoinResponse {
        master_id: joined.user.master_id,
        display_name: joined.user.display_name,
        referral_code: joined.user.referral_code,
        token: joined.token,
        verified: joined.user.verified_at.is_some(),
    }));
    Ok(())
}
