//! The HTTP API: one module per REST resource, each exposing a `router()`,
//! and the one router ([`routes_tree`]) that composes them with the live
//! channels' routes (`crate::transport`) into the [`service`]. Handlers
//! reach the [`AppState`] and what else a request carries through
//! [`crate::request`].

pub(crate) mod campaign;
pub(crate) mod cors;
pub(crate) mod erasure;
pub(crate) mod error;
mod export;
pub(crate) mod health;
pub(crate) mod lead;
pub(crate) mod live;
pub(crate) mod mail;
pub(crate) mod me;
pub(crate) mod metrics;
pub(crate) mod openapi;
pub(crate) mod outbox;
pub(crate) mod referral;
pub(crate) mod reports;
pub(crate) mod review;
pub(crate) mod session;
pub(crate) mod spam;
pub(crate) mod team;
pub(crate) mod translate;
pub(crate) mod user;
pub(crate) mod web;

use std::sync::Arc;

use salvo::catcher::Catcher;
use salvo::prelude::*;

use crate::model::campaign::Campaign;
pub(crate) use crate::request::{
    ApiError, Inject, MAX_PAGE, bearer_token, check_campaign_origin, client_address, client_ip,
    json_body, page, query_u32, read_body, request_origin, sees_campaign, state, team,
    team_campaign, visible_campaign,
};
use crate::request::{access, body};
use crate::state::AppState;
use crate::team::Caller;
use crate::transport::webtransport::describe::PublishedEndpoint;
use crate::transport::{connect, fallback, sse, webtransport};

/// The whole HTTP service for `state`; `webtransport` is the cursor
/// channel's endpoint, which its description reads.
pub(crate) fn service(state: Arc<AppState>, webtransport: Arc<PublishedEndpoint>) -> Service {
    openapi::document();
    Service::new(router(state.clone(), webtransport))
        .hoop(access::AccessLog(state.clone()))
        .hoop(body::DrainRefused)
        .hoop(cors::CrossOrigin(state))
        .catcher(Catcher::new(error::json_catcher))
}

/// Every route of the HTTP API, with the shared state (and the cursor
/// channel's endpoint, beside it) put in each request's depot.
pub(crate) fn router(state: Arc<AppState>, webtransport: Arc<PublishedEndpoint>) -> Router {
    routes_tree().hoop(Inject(state)).hoop(Inject(webtransport))
}

/// Every route of the HTTP API, without the state: what the API description
/// ([`openapi`]) is generated from.
pub fn routes_tree() -> Router {
    web::index()
        .push(web::router())
        .push(connect::router())
        .push(erasure::router())
        .push(health::router())
        .push(metrics::router())
        .push(campaign::router())
        .push(
            Router::with_path("api/campaign/{slug}")
                .push(live::router())
                .push(reports::router())
                .push(review::router())
                .push(sse::router())
                .push(fallback::router())
                .push(webtransport::describe::campaign_router()),
        )
        .push(session::router())
        .push(user::router())
        .push(me::router())
        .push(lead::router())
        .push(mail::router())
        .push(referral::router())
        .push(outbox::router())
        .push(spam::router())
        .push(team::router())
        .push(translate::router())
        .push(webtransport::describe::router())
        .push(openapi::router())
}

/// Every route of `router` as `(method, path template)`, e.g.
/// `("PATCH", "/api/quote/{id}")`: what the API description must cover.
pub fn routes(router: &Router) -> Vec<(String, String)> {
    fn walk(router: &Router, prefix: &str, out: &mut Vec<(String, String)>) {
        use salvo::routing::FilterInfo;
        let mut path = prefix.to_owned();
        let mut method = None;
        for filter in router.filters() {
            match filter.info() {
                FilterInfo::Path(segment) => {
                    let segment = segment.trim_matches('/');
                    if !segment.is_empty() {
                        path = format!("{}/{segment}", path.trim_end_matches('/'));
                    }
                }
                FilterInfo::Method(m) => method = Some(m.as_str().to_owned()),
                _ => {}
            }
        }
        if let Some(method) = method {
            let path = if path.is_empty() {
                "/".to_owned()
            } else {
                path.clone()
            };
            out.push((method, path));
        }
        for child in router.routers() {
            walk(child, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(router, "", &mut out);
    out.sort();
    out.dedup();
    out
}

/// The campaign named by the `campaign` query parameter, drafts included (for
/// admin lists); 422 when missing, 404 when unknown.
pub(crate) async fn campaign_query(req: &Request, state: &AppState) -> Result<Campaign, ApiError> {
    let slug = req
        .query::<String>("campaign")
        .ok_or_else(|| ApiError::invalid_field("campaign", "the campaign slug is required"))?;
    let found = state.campaigns.by_slug(state.store.as_ref(), &slug).await?;
    found.ok_or_else(|| ApiError::campaign_not_found(&slug))
}

/// The campaign a team list is of: the `campaign` query parameter's (404
/// when unknown, 403 out of `by`'s scope), else `by`'s own campaign for a
/// campaign's key, else every campaign (`None`).
pub(crate) async fn campaign_filter(
    req: &Request,
    state: &AppState,
    by: &Caller,
) -> Result<Option<i64>, ApiError> {
    if req.query::<String>("campaign").is_none() {
        return Ok(by.scope_id());
    }
    let campaign = campaign_query(req, state).await?;
    by.in_scope(campaign.id)?;
    Ok(Some(campaign.id))
}
