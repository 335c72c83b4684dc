//! What the links of a mail open ([`crate::forms::links`]), and the team's
//! view of the mail suppression list:
//!
//! - `GET /v/{token}`: a verification link. It changes nothing (mail
//!   scanners open links) and answers 303 to the campaign's verify page,
//!   which verifies with `POST /api/verify {token}`.
//! - `POST /api/unsubscribe/{token}`: one-click unsubscribe (RFC 8058);
//!   `GET` shows a page with the button (it changes nothing).
//! - `GET /api/quote/{id}/status?sig=…`: one lead's status, read-only.
//! - `GET /api/mail/suppressions?campaign=`: addresses mail is no longer
//!   sent to (viewer).

use salvo::http::StatusCode;
use salvo::prelude::*;
use salvo_oapi::{ToSchema, endpoint};
use serde::{Deserialize, Serialize};

use super::{ApiError, campaign_query, json_body, page, state, team};
use crate::forms::links::{LeadStatusView, Verified};
use crate::model::team::Role;
use crate::request::answers;
use crate::request::markers::PageQuery;
use crate::store::mail::Suppression;

/// Routes of this resource.
pub(crate) fn router() -> Router {
    Router::new()
        .push(Router::with_path("v/{token}").get(open_verification))
        .push(Router::with_path("api/verify").post(verify))
        .push(
            Router::with_path("api/unsubscribe/{token}")
                .get(unsubscribe_page)
                .post(unsubscribe),
        )
        .push(Router::with_path("api/quote/{id}/status").get(lead_status))
        .push(Router::with_path("api/mail/suppressions").get(suppressions))
}

/// Marks an answer that carries a credential or a person's state as not
/// to be kept by any cache.
fn no_store(res: &mut Response) {
    res.headers_mut().insert(
        salvo::http::header::CACHE_CONTROL,
        salvo::http::HeaderValue::from_static("no-store"),
    );
}

/// Body of `POST /api/verify`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyRequest {
    /// The token of the verification link (`?verify=` on the verify page).
    #[salvo(schema(max_length = 512))]
    pub token: String,
}

/// Answer of `POST /api/unsubscribe/{token}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Unsubscribed {
    /// Always `unsubscribed`.
    #[salvo(schema(value_type = String, pattern = "^unsubscribed$"))]
    pub status: &'static str,
}

/// Body of `GET /api/mail/suppressions`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SuppressionList {
    /// The page of suppressed addresses, newest first.
    pub suppressions: Vec<Suppression>,
}

/// Open a verification link (from the mail)
///
/// Checks the link and changes nothing: answers 303 to the campaign's
/// verify page (`config.forms.join.verify_page`, else the demo page) with
/// `?verify={token}`, which verifies with `POST /api/verify`.
#[endpoint(
    tags("visitors"),
    parameters(("token" = String, Path, description = "The link's token")),
    responses(
        (status_code = 303, description = "To the verify page (`Location`)"),
        answers::Link,
    )
)]
async fn open_verification(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let token = req.param::<String>("token").unwrap_or_default();
    let (_, campaign) = state.forms.verification_link(&token).await?;
    let base = match &campaign.config.forms.join.verify_page {
        Some(page) => page.clone(),
        None => match &state.config.mail.public_url {
            Some(url) => format!("{}/", url.as_str().trim_end_matches('/')),
            None => "/".to_owned(),
        },
    };
    let mut target = url::Url::parse(&base)
        .or_else(|_| url::Url::parse("http://relative.invalid").and_then(|u| u.join(&base)))
        .map_err(|e| ApiError::Internal(e.into()))?;
    if campaign.config.forms.join.verify_page.is_none() {
        // The demo page shows the campaign its `campaign` parameter names.
        target
            .query_pairs_mut()
            .append_pair("campaign", &campaign.slug);
    }
    target.query_pairs_mut().append_pair("verify", &token);
    let location = if target.host_str() == Some("relative.invalid") {
        format!("{}?{}", target.path(), target.query().unwrap_or_default())
    } else {
        target.to_string()
    };
    res.status_code(StatusCode::SEE_OTHER);
    res.headers_mut().insert(
        salvo::http::header::LOCATION,
        location
            .parse()
            .map_err(|e: salvo::http::header::InvalidHeaderValue| ApiError::Internal(e.into()))?,
    );
    no_store(res);
    Ok(())
}

/// Verify a join's email (the verify page, or `verifyEmail(token)`)
///
/// From then on the join counts: referrals both ways, milestones, the
/// leaderboard, `user.joined`, the public figures. A second use answers
/// `already_verified`. Answers a session token of the user.
#[endpoint(
    tags("visitors"),
    request_body = VerifyRequest,
    responses(
        (status_code = 200, description = "Verified (`verified`), or verified before (`already_verified`)", body = Verified),
        answers::LinkBody,
    )
)]
async fn verify(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let body: VerifyRequest = json_body(req, &state.config).await?;
    let verified = state.forms.verify_email(body.token.trim()).await?;
    no_store(res);
    res.render(Json(verified));
    Ok(())
}

/// Unsubscribe from marketing mail (one click, RFC 8058)
///
/// What a mail's `List-Unsubscribe` header points at: the person's
/// withdrawal is recorded (once), and no welcome or later marketing mail
/// is sent to them. Transactional mail (a lead's confirmation) still is.
#[endpoint(
    tags("visitors"),
    parameters(("token" = String, Path, description = "The link's token")),
    responses(
        (status_code = 200, description = "Unsubscribed", body = Unsubscribed),
        answers::Link,
    )
)]
async fn unsubscribe(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let token = req.param::<String>("token").unwrap_or_default();
    state.forms.unsubscribe(&token).await?;
    res.render(Json(Unsubscribed {
        status: "unsubscribed",
    }));
    Ok(())
}

/// The unsubscribe page (a person following the link)
///
/// Changes nothing: a page with the button that unsubscribes (a `POST`),
/// since mail scanners open links.
#[endpoint(
    tags("visitors"),
    parameters(("token" = String, Path, description = "The link's token")),
    responses((status_code = 200, description = "The page", content_type = "text/html", body = String))
)]
async fn unsubscribe_page(req: &mut Request, res: &mut Response) {
    let token = req.param::<String>("token").unwrap_or_default();
    let token: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
    res.headers_mut().insert(
        salvo::http::header::CONTENT_SECURITY_POLICY,
        salvo::http::HeaderValue::from_static(
            "default-src 'none'; form-action 'self'; style-src 'unsafe-inline'",
        ),
    );
    res.render(Text::Html(format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Unsubscribe</title>\
         <body style=\"font-family: sans-serif; max-width: 32em; margin: 3em auto\">\
         <h1>Unsubscribe</h1><p>Receive no more marketing mail from this campaign?</p>\
         <form method=\"post\" action=\"/api/unsubscribe/{token}\">\
         <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
         <button type=\"submit\">Unsubscribe</button></form></body></html>"
    )));
}

/// One lead's status, from the link in its confirmation mail
///
/// Read-only, with no session: the link's signature (`sig`) stands for
/// it. An unknown lead and a wrong signature get the same 404.
#[endpoint(
    tags("leads"),
    parameters(
        ("id" = String, Path, description = "The lead's id"),
        ("sig" = String, Query, description = "The link's signature"),
    ),
    responses(
        (status_code = 200, description = "Where the lead stands", body = LeadStatusView),
        answers::NotFound,
        answers::Unavailable,
    )
)]
async fn lead_status(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let id = req.param::<String>("id").unwrap_or_default();
    let signature = req.query::<String>("sig").unwrap_or_default();
    let view = state.forms.lead_status(&id, &signature).await?;
    no_store(res);
    res.render(Json(view));
    Ok(())
}

/// A campaign's mail suppression list (viewer)
///
/// Addresses whose mail server refused mail for good (a 5xx at RCPT or
/// DATA): no mail is sent to them any more. Newest first.
#[endpoint(
    tags("operations"),
    security(("adminToken" = ["viewer"])),
    parameters(("campaign" = crate::model::schema::Slug, Query, description = "The campaign's slug")),
    responses(
        (status_code = 200, description = "Suppressed addresses", body = SuppressionList),
        answers::TeamList,
    )
)]
async fn suppressions(
    _page: PageQuery,
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Viewer).await?;
    let campaign = campaign_query(req, &state).await?;
    by.in_scope(campaign.id)?;
    let list = state.store.suppressions(campaign.id, page(req)?).await?;
    res.render(Json(SuppressionList { suppressions: list }));
    Ok(())
}
