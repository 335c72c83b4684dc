//! `POST /api/erasure` (admin): erases a person's data — by email (in one
//! campaign, or in all) or by user id — from users, leads, outbox payloads
//! and the live events' history, and ends their sessions
//! ([`crate::team::erase`]). Counts, referrals and statuses stay; the
//! erasure is recorded (without the person) in the erasure log.

use salvo::prelude::*;
use serde::Deserialize;
use uuid::Uuid;

use super::{ApiError, json_body, state, team};
use crate::model::erasure::ErasureSubject;
use crate::model::team::Role;

/// Routes of this resource.
pub fn router() -> Router {
    Router::with_path("api/erasure").post(erase)
}

/// Body of `POST /api/erasure`: `email` (and optionally `campaign`), or `master_id`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    /// The person's email address.
    pub email: Option<String>,
    /// The campaign to erase in (default: every campaign); with `email` only.
    pub campaign: Option<String>,
    /// A registered user's id.
    pub master_id: Option<Uuid>,
}

#[handler]
async fn erase(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Owner).await?;
    let body: ErasureRequest = json_body(req, &state.config).await?;
    let subject = match (body.email, body.master_id, body.campaign) {
        (Some(email), None, campaign) => {
            let email = crate::forms::normalize_email("email", &email)?;
            let campaign_id = match campaign {
                None => None,
                Some(slug) => Some(
                    state
                        .campaigns
                        .by_slug(state.store.as_ref(), &slug)
                        .await?
                        .ok_or_else(|| ApiError::campaign_not_found(&slug))?
                        .id,
                ),
            };
            ErasureSubject::Email { email, campaign_id }
        }
        (None, Some(id), None) => ErasureSubject::User(id),
        (None, Some(_), Some(_)) => {
            return Err(ApiError::invalid_field(
                "campaign",
                "a user id names one campaign's user already; send it without campaign",
            ));
        }
        _ => {
            return Err(ApiError::invalid_field(
                "email",
                "send exactly one of email and master_id",
            ));
        }
    };
    let carried = state.clone();
    let report = crate::team::carried(&state, async move {
        crate::team::erase(&carried, &by, &subject).await
    })
    .await?;
    res.render(Json(report));
    Ok(())
}
