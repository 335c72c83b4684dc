//! `POST /api/erasure` (admin): erases a person's data — by email (in one
//! campaign, or in all) or by user id — from users, leads, outbox payloads
//! and the live events' history, and ends their sessions
//! ([`crate::team::Team::erase`]). Counts, referrals and statuses stay; the
//! erasure is recorded (without the person) in the erasure log.

use salvo::prelude::*;
use salvo_oapi::schema::{
    AdditionalProperties, BasicType, KnownFormat, Object, OneOf, Schema, SchemaFormat,
};
use salvo_oapi::{Components, RefOr, ToSchema, endpoint};
use serde::Deserialize;
use uuid::Uuid;

use super::{ApiError, json_body, state, team};
use crate::model::erasure::ErasureReport;
use crate::model::erasure::ErasureSubject;
use crate::model::schema;
use crate::model::team::Role;
use crate::request::answers;

/// Routes of this resource.
pub(crate) fn router() -> Router {
    Router::with_path("api/erasure").post(erase)
}

/// Body of `POST /api/erasure`: `email` (and optionally `campaign`), or `master_id`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ErasureRequest {
    /// The person's email address.
    pub email: Option<String>,
    /// The campaign to erase in (default: every campaign); with `email` only.
    pub campaign: Option<String>,
    /// A registered user's id.
    pub master_id: Option<Uuid>,
}

/// One of two shapes: `email` (and `campaign`), or `master_id` alone.
impl ToSchema for ErasureRequest {
    fn to_schema(components: &mut Components) -> RefOr<Schema> {
        let by_email = Object::new()
            .description("Everyone with this email, in `campaign` or in every campaign")
            .property("email", schema::email())
            .property("campaign", schema::nullable(schema::slug()))
            .required("email")
            .additional_properties(AdditionalProperties::FreeForm(false));
        let by_id = Object::new()
            .description("One registered user")
            .property(
                "master_id",
                Object::with_type(BasicType::String)
                    .format(SchemaFormat::KnownFormat(KnownFormat::Uuid)),
            )
            .required("master_id")
            .additional_properties(AdditionalProperties::FreeForm(false));
        let schema = OneOf::new().item(by_email).item(by_id);
        components.schemas.insert("ErasureRequest", schema);
        RefOr::Ref(salvo_oapi::Ref::from_schema_name("ErasureRequest"))
    }
}

/// Erase a person (owner of every campaign; with `campaign`, an owner of that campaign)
///
/// From users, leads, outbox payloads and the live events' history; their
/// sessions end. Counts, referrals and statuses stay.
#[endpoint(
    tags("operations"),
    security(("adminToken" = ["owner"])),
    request_body = ErasureRequest,
    responses(
        (status_code = 200, description = "What changed", body = ErasureReport),
        answers::TeamWrite,
    )
)]
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
    let report = state
        .team
        .carried(async move { carried.team.erase(&by, &subject).await })
        .await?;
    res.render(Json(report));
    Ok(())
}
