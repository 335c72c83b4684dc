//! The review of flagged referrals for the campaign team
//! ([`crate::forms::review`]): `POST /api/campaign/{slug}/referrals/review`
//! approves or rejects a batch. The list to review is `GET
//! /api/campaign/{slug}/referrals?status=flagged`.

use salvo::prelude::*;
use salvo_oapi::{ToSchema, endpoint};
use serde::Serialize;

use super::{ApiError, json_body, state};
use crate::forms::review::{ReviewRequest, ReviewResult};
use crate::model::team::Role;
use crate::request::{answers, team_campaign};

/// Routes of this resource, under `api/campaign/{slug}`.
pub(crate) fn router() -> Router {
    Router::with_path("referrals/review").post(review)
}

/// Body of the answer to a review.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReviewAnswer {
    /// What became of each referral asked for, in the order asked.
    pub results: Vec<ReviewResult>,
}

/// Approve or reject flagged referrals (editor)
///
/// Each referral named is decided in its own transaction, and audited
/// (`referral.approved`, `referral.rejected`). An approved referral counts
/// from then on: the leaderboard moves and a milestone it crosses is
/// announced, live. A rejection is final. A referral that is not flagged
/// (never was, or was reviewed already) is left as it is and reported
/// `not_flagged`; an id not of this campaign `not_found`.
#[endpoint(
    tags("reports"),
    security(("adminToken" = ["editor"])),
    parameters(("slug" = crate::model::schema::Slug, Path, description = "The campaign's slug")),
    request_body = ReviewRequest,
    responses(
        (status_code = 200, description = "What became of each", body = ReviewAnswer),
        answers::TeamWrite,
    )
)]
async fn review(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let (by, campaign) = team_campaign(req, &state, Role::Editor).await?;
    let body: ReviewRequest = json_body(req, &state.config).await?;
    let carried = state.clone();
    let results = state
        .team
        .carried(async move { carried.forms.review_referrals(&by, &campaign, body).await })
        .await?;
    res.render(Json(ReviewAnswer { results }));
    Ok(())
}
