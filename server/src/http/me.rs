//! `GET /api/me` and `PATCH /api/me` with a session token: the caller's own
//! standing and profile ([`crate::forms::profile`]).

use salvo::prelude::*;

use super::{ApiError, bearer_token, json_body, state};
use crate::forms::profile::ProfilePatch;

/// Routes of this resource.
pub fn router() -> Router {
    Router::with_path("api/me").get(show).patch(update)
}

#[handler]
async fn show(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let caller = crate::forms::profile::caller(&state, bearer_token(req.headers())).await?;
    let me = crate::forms::profile::me(&state, &caller).await?;
    res.render(Json(me));
    Ok(())
}

#[handler]
async fn update(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let caller = crate::forms::profile::caller(&state, bearer_token(req.headers())).await?;
    let patch: ProfilePatch = json_body(req, &state.config).await?;
    let me = crate::forms::profile::update(&state, &caller, patch).await?;
    res.render(Json(me));
    Ok(())
}
