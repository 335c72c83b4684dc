//! `POST /api/session` `{campaign}`: an anonymous visitor session — the token a
//! page uses for its live channels and to receive its own lead's status.

use chrono::Utc;
use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use salvo_oapi::schema::Object;
use salvo_oapi::{ToSchema, endpoint};

use super::{ApiError, client_ip, json_body, state};
use crate::model::attribution::{Attribution, MAX_URL_CHARS, MAX_UTM_CHARS, VisitorSession};
use crate::model::schema;
use crate::request::answers;
use crate::session::SessionKind;

/// Routes of this resource.
pub(crate) fn router() -> Router {
    Router::with_path("api/session").post(create)
}

/// Body of `POST /api/session`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionRequest {
    /// Campaign slug.
    #[salvo(schema(schema_with = schema::slug))]
    pub campaign: String,
    /// The page the visitor landed on (`location.href`); UTM parameters
    /// not sent are read from its query string.
    #[serde(default)]
    #[salvo(schema(schema_with = landing_page_schema))]
    pub landing_page: Option<String>,
    /// The page that linked to it (`document.referrer`).
    #[serde(default)]
    #[salvo(schema(schema_with = referrer_schema))]
    pub referrer: Option<String>,
    #[serde(default)]
    #[salvo(schema(schema_with = utm_schema))]
    #[allow(missing_docs)] // the UTM parameters of the visit
    pub utm_source: Option<String>,
    #[serde(default)]
    #[salvo(schema(schema_with = utm_schema))]
    #[allow(missing_docs)]
    pub utm_medium: Option<String>,
    #[serde(default)]
    #[salvo(schema(schema_with = utm_schema))]
    #[allow(missing_docs)]
    pub utm_campaign: Option<String>,
    #[serde(default)]
    #[salvo(schema(schema_with = utm_schema))]
    #[allow(missing_docs)]
    pub utm_term: Option<String>,
    #[serde(default)]
    #[salvo(schema(schema_with = utm_schema))]
    #[allow(missing_docs)]
    pub utm_content: Option<String>,
}

/// An absolute `http(s)` URL as [`Attribution::checked`] takes it (trimmed;
/// blank means none), described as `what`.
fn url_schema(what: &str) -> Object {
    schema::optional_text(MAX_URL_CHARS)
        .pattern(schema::trimmed(
            r"[Hh][Tt][Tt][Pp][Ss]?://([A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*(:[0-9]{1,4})?([/?#][!-~]*)?",
        ))
        .description(format!(
            "{what}: an absolute http(s) URL; blank means none"
        ))
}

fn landing_page_schema() -> Object {
    url_schema(
        "The page the visitor landed on (`location.href`); UTM parameters not sent are read \
         from its query string",
    )
}

fn referrer_schema() -> Object {
    url_schema("The page that linked to it (`document.referrer`)")
}

fn utm_schema() -> Object {
    schema::optional_text(MAX_UTM_CHARS)
}

/// A new session.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionResponse {
    /// The visitor id.
    pub session_id: Uuid,
    /// Bearer token naming it.
    pub token: String,
    /// When the token expires.
    pub expires_at: chrono::DateTime<Utc>,
}

/// Sessions one address may open per minute.
const SESSIONS_PER_MINUTE: u32 = 60;

/// An anonymous visitor session, with where the visitor came from (first touch)
#[endpoint(
    tags("visitors"),
    request_body = SessionRequest,
    responses(
        (status_code = 201, description = "Session", body = SessionResponse),
        answers::Form,
    )
)]
async fn create(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let body: SessionRequest = json_body(req, &state.config).await?;
    super::check_campaign_origin(req, &state, &body.campaign).await?;
    let campaign = state.forms.open_campaign(&body.campaign).await?;
    state
        .forms
        .rate_limit(
            "session",
            &campaign,
            &client_ip(req, &state),
            SESSIONS_PER_MINUTE,
        )
        .await?;
    let attribution = Attribution {
        utm_source: body.utm_source,
        utm_medium: body.utm_medium,
        utm_campaign: body.utm_campaign,
        utm_term: body.utm_term,
        utm_content: body.utm_content,
        referrer: body.referrer,
        landing_page: body.landing_page,
    }
    .checked()?;
    let session_id = Uuid::now_v7();
    let now = Utc::now();
    // The first touch is analytics: a database that cannot take it now costs
    // that session's attribution, never the visitor's page.
    let recorded = state
        .store
        .record_visitor_session(&VisitorSession {
            session_id,
            campaign_id: campaign.id,
            attribution,
            created_at: now,
        })
        .await;
    if let Err(e) = recorded {
        tracing::warn!(error = %e, campaign = %campaign.slug, "visitor session not recorded: no attribution for it");
    }
    let (token, expires_at) =
        state
            .sessions
            .issue(session_id, campaign.id, SessionKind::Visitor, now);
    res.status_code(StatusCode::CREATED);
    res.render(Json(SessionResponse {
        session_id,
        token,
        expires_at,
    }));
    Ok(())
}
