//! `GET /api/me` and `PATCH /api/me` with a session token: the caller's own
//! standing and profile ([`crate::forms::profile`]).

use salvo::prelude::*;

use salvo_oapi::endpoint;

use super::{ApiError, bearer_token, json_body, state};
use crate::forms::profile::{Me, ProfilePatch};
use crate::request::answers;

/// Routes of this resource.
pub(crate) fn router() -> Router {
    Router::with_path("api/me").get(show).patch(update)
}

/// The caller's own standing: profile, referral code and count, next milestone, own quotes
///
/// A session token (a user's, from joining, or an anonymous visitor's, from
/// POST /api/session). A visitor sees the quotes of their session (at most
/// 50, newest first).
#[endpoint(
    tags("visitors"),
    security(("sessionToken" = [])),
    responses(
        (status_code = 200, description = "A user, or an anonymous visitor (`kind`)", body = Me),
        answers::SessionCredential,
        answers::Unavailable,
    )
)]
async fn show(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let caller = state.forms.visitor(bearer_token(req.headers())).await?;
    let me = state.forms.me(&caller).await?;
    res.render(Json(me));
    Ok(())
}

/// Change one's profile (a user's token); absent fields stay, a null locale clears it
///
/// The token is checked before the body (401); an anonymous visitor's token
/// is 403 `join_first`.
#[endpoint(
    tags("visitors"),
    security(("sessionToken" = [])),
    request_body = ProfilePatch,
    responses(
        (status_code = 200, description = "The profile after the change", body = Me),
        answers::SessionCredential,
        answers::NotAllowed,
        answers::Body,
        answers::Invalid,
        answers::Unavailable,
    )
)]
async fn update(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let caller = state.forms.visitor(bearer_token(req.headers())).await?;
    let patch: ProfilePatch = json_body(req, &state.config).await?;
    let me = state.forms.update_profile(&caller, patch).await?;
    res.render(Json(me));
    Ok(())
}
