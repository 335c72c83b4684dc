//! Spam for the campaign team ([`crate::forms::spam`]):
//! `GET /api/spam?campaign=&state=` lists what the bot defence held (or
//! let through marked), `POST /api/spam/{id}/release` is "not spam".

use salvo::prelude::*;
use salvo_oapi::{ToSchema, endpoint};
use serde::Serialize;

use super::{ApiError, page, state, team};
use crate::model::spam::{Spam, SpamState};
use crate::model::team::Role;
use crate::request::answers;
use crate::request::markers::PageQuery;
use crate::store::spam::SpamCounts;

/// Routes of this resource.
pub(crate) fn router() -> Router {
    Router::with_path("api/spam")
        .get(list)
        .push(Router::with_path("{id}/release").post(release))
}

/// Body of `GET /api/spam`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SpamList {
    /// The page of submissions, newest first.
    pub spam: Vec<Spam>,
    /// How many of the campaign's are in each state.
    pub counts: SpamCounts,
}

/// A campaign's submissions held as spam (viewer)
///
/// What the honeypot and the minimum time held (`held`, until released
/// or removed after `OVASABI_SPAM_RETENTION_DAYS`), what the team released
/// (`released`), and what was let through while the CAPTCHA provider was
/// down (`passed`). Newest first.
#[endpoint(
    tags("operations"),
    security(("adminToken" = ["viewer"])),
    parameters(
        ("campaign" = crate::model::schema::Slug, Query, description = "The campaign's slug"),
        ("state" = Option<SpamState>, Query, description = "Only those in this state"),
    ),
    responses(
        (status_code = 200, description = "Submissions", body = SpamList),
        answers::TeamList,
    )
)]
async fn list(
    _page: PageQuery,
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Viewer).await?;
    let slug = req
        .query::<String>("campaign")
        .ok_or_else(|| ApiError::invalid_field("campaign", "the campaign slug is required"))?;
    let filter =
        match req.query::<String>("state") {
            None => None,
            Some(raw) => Some(SpamState::parse(&raw).ok_or_else(|| {
                ApiError::invalid_field("state", "must be held, released or passed")
            })?),
        };
    let (spam, counts) = state
        .forms
        .spam_list(&by, &slug, filter, page(req)?)
        .await?;
    res.render(Json(SpamList { spam, counts }));
    Ok(())
}

/// Not spam: release a held submission (editor)
///
/// Replays it as if it had just arrived — the join or lead is written
/// under the id its sender was answered with, with its mails, live events,
/// counts and referral credit — and marks it released (audited). A replay
/// the forms now refuse (an address that joined since, a referral code
/// gone or no longer taken) leaves it held.
#[endpoint(
    tags("operations"),
    security(("adminToken" = ["editor"])),
    parameters(("id" = String, Path, description = "The submission's id")),
    responses(
        (status_code = 200, description = "Released and replayed", body = Spam),
        answers::Key,
        answers::NotFound,
        answers::Conflict,
        answers::Invalid,
        answers::Unavailable,
    )
)]
async fn release(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Editor).await?;
    let id = req.param::<String>("id").unwrap_or_default();
    let carried = state.clone();
    let released = state
        .team
        .carried(async move { carried.forms.release_spam(&by, &id).await })
        .await?;
    res.render(Json(released));
    Ok(())
}
