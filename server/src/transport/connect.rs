//! `POST /api/connect` `{campaign}` with `Authorization: Bearer <session
//! token>`: a connect ticket for the live channels — the one credential a URL
//! carries (`EventSource` and `WebTransport` cannot send headers). Valid for
//! a minute, reusable within it, for that session and campaign only, bound to
//! the client address it was issued to and to the page origin that asked.

use chrono::Utc;
use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::{Deserialize, Serialize};

use salvo_oapi::{ToSchema, endpoint};

use crate::admission::check_origin;
use crate::request::answers;
use crate::request::{ApiError, bearer_token, client_ip, json_body, request_origin, state};
use crate::session::{TICKET_TTL, verify_session};

/// Routes of this resource.
pub(crate) fn router() -> Router {
    Router::with_path("api/connect").post(create)
}

/// Body of `POST /api/connect`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConnectRequest {
    /// Campaign slug.
    #[salvo(schema(schema_with = crate::model::schema::slug))]
    pub campaign: String,
}

/// A connect ticket.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConnectTicket {
    /// The ticket, for `?ticket=` on the event stream and the WebTransport URL.
    pub ticket: String,
    /// When it expires.
    pub expires_at: chrono::DateTime<Utc>,
    /// Seconds it is valid.
    pub expires_in: u64,
}

/// Tickets one address may ask for per minute (a page asks one per
/// (re)connection of each channel).
const TICKETS_PER_MINUTE: u32 = 120;

/// A connect ticket for the live channels (one minute)
///
/// For `?ticket=` on the event stream and the WebTransport URL: reusable
/// within its minute, for that session and campaign only, from the client
/// address and page origin that asked.
#[endpoint(
    tags("visitors"),
    security(("sessionToken" = [])),
    request_body = ConnectRequest,
    responses(
        (status_code = 201, description = "Ticket", body = ConnectTicket),
        answers::SessionCredential,
        answers::Form,
    )
)]
async fn create(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let token = bearer_token(req.headers())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::Unauthorized {
            code: "unauthorized",
            message: "a connect ticket needs the session token (Authorization: Bearer)".into(),
        })?;
    let body: ConnectRequest = json_body(req, &state.config).await?;
    let campaign = state
        .campaigns
        .visible(state.store.as_ref(), &body.campaign, false)
        .await?
        .ok_or_else(|| ApiError::campaign_not_found(&body.campaign))?;
    let claims = verify_session(&state.sessions, &token, &campaign)?;
    let page = request_origin(req.headers());
    check_origin(&state, &campaign, page.as_request(), None)?;
    let client = client_ip(req, &state);
    state
        .forms
        .rate_limit("connect", &campaign, &client, TICKETS_PER_MINUTE)
        .await?;
    let (ticket, expires_at) =
        state
            .sessions
            .issue_ticket(&claims, &client, page.origin.as_deref(), Utc::now());
    res.status_code(StatusCode::CREATED);
    res.render(Json(ConnectTicket {
        ticket,
        expires_at,
        expires_in: TICKET_TTL.as_secs(),
    }));
    Ok(())
}
