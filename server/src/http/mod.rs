//! The HTTP API: one module per resource, each exposing a `router()`, composed
//! by [`service`]. Handlers reach the [`AppState`] through Salvo's depot.

pub mod access;
pub mod body;
pub mod campaign;
pub mod connect;
pub mod cors;
pub mod cursor;
pub mod cursor_endpoint;
pub mod erasure;
pub mod error;
pub mod events;
pub mod health;
pub mod lead;
pub mod lean;
pub mod live;
pub mod me;
pub mod metrics;
pub mod openapi;
pub mod outbox;
pub mod referral;
pub mod reports;
pub mod session;
pub mod team;
pub mod translate;
pub mod user;
pub mod web;

use std::sync::Arc;

use salvo::catcher::Catcher;
use salvo::http::{HeaderMap, header};
use salvo::prelude::*;

pub use self::body::{json_body, parse_json, read_body};
pub use crate::error::ApiError;
use crate::model::campaign::Campaign;
use crate::model::team::Role;
use crate::state::AppState;
use crate::team::Caller;

/// The whole HTTP service for `state`.
pub fn service(state: Arc<AppState>) -> Service {
    openapi::document();
    Service::new(router(state.clone()))
        .hoop(access::AccessLog(state.clone()))
        .hoop(body::DrainRefused)
        .hoop(cors::CrossOrigin(state))
        .catcher(Catcher::new(error::json_catcher))
}

/// Every route of the HTTP API, with the shared state put in each request's depot.
pub fn router(state: Arc<AppState>) -> Router {
    routes_tree().hoop(InjectState(state))
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
        .push(session::router())
        .push(user::router())
        .push(me::router())
        .push(lead::router())
        .push(referral::router())
        .push(outbox::router())
        .push(team::router())
        .push(translate::router())
        .push(cursor_endpoint::router())
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

/// Puts the shared state into every request's depot.
pub(crate) struct InjectState(pub(crate) Arc<AppState>);

#[async_trait]
impl Handler for InjectState {
    async fn handle(
        &self,
        _req: &mut Request,
        depot: &mut Depot,
        _res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        depot.insert_typed(self.0.clone());
    }
}

/// The shared state of the app serving this request.
pub fn state(depot: &Depot) -> Result<Arc<AppState>, ApiError> {
    depot
        .get_typed::<Arc<AppState>>()
        .cloned()
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("app state missing from depot")))
}

/// The bearer token of `headers`, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    bearer(headers.get(header::AUTHORIZATION)?.to_str().ok()?)
}

/// The token of an `Authorization` value (`Bearer <token>`; an HTTP header
/// or gRPC metadata), if it is one.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

pub use crate::team::token_matches;

/// The team member calling (a named key or the admin token) with a role of
/// at least `role`: 401 without a live key, 403 with too small a role.
/// Handlers check the campaign scope once they know the campaign.
pub async fn team(req: &Request, state: &AppState, role: Role) -> Result<Caller, ApiError> {
    crate::team::require(state, bearer_token(req.headers()), role).await
}

/// Whether the request carries a team key that may see the campaign `slug`
/// (its drafts, its private events, its admin-only figures).
pub async fn sees_campaign(req: &Request, state: &AppState, slug: &str) -> Result<bool, ApiError> {
    crate::team::sees_campaign(state, bearer_token(req.headers()), slug).await
}

pub use crate::forms::{open_campaign, rate_limit};
/// Most rows one list page returns.
pub const MAX_PAGE: u32 = 500;

/// A whole-number query parameter within `0..=max`; 422 naming it otherwise.
pub fn query_u32(req: &Request, name: &str, default: u32, max: u32) -> Result<u32, ApiError> {
    match req.query::<String>(name) {
        None => Ok(default),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|v| *v <= max)
            .ok_or_else(|| {
                ApiError::invalid_field(name, format!("must be a whole number from 0 to {max}"))
            }),
    }
}

/// The `limit` (default 100, at most [`MAX_PAGE`]) and `offset` of a list request.
pub fn page(req: &Request) -> Result<crate::store::Page, ApiError> {
    Ok(crate::store::Page {
        limit: query_u32(req, "limit", 100, MAX_PAGE)?,
        offset: query_u32(req, "offset", 0, u32::MAX)?,
    })
}

/// The campaign named by the `campaign` query parameter, drafts included (for
/// admin lists); 422 when missing, 404 when unknown.
pub async fn campaign_query(req: &Request, state: &AppState) -> Result<Campaign, ApiError> {
    let slug = req
        .query::<String>("campaign")
        .ok_or_else(|| ApiError::invalid_field("campaign", "the campaign slug is required"))?;
    let found = state.campaigns.by_slug(state.store.as_ref(), &slug).await?;
    found.ok_or_else(|| ApiError::campaign_not_found(&slug))
}

/// The campaign a team list is of: the `campaign` query parameter's (404
/// when unknown, 403 out of `by`'s scope), else `by`'s own campaign for a
/// campaign's key, else every campaign (`None`).
pub async fn campaign_filter(
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

/// 403 `origin_not_allowed` when a browser page on another origin posts to
/// campaign `slug` without that campaign (or the server) allowing its origin.
/// The service hoop ([`cors`]) already refused origins no campaign allows; this
/// is the campaign's own say, once the body named it. An unknown campaign is
/// left to the service (404).
pub async fn check_campaign_origin(
    req: &Request,
    state: &AppState,
    slug: &str,
) -> Result<(), ApiError> {
    let page = request_origin(req.headers());
    if page.origin.is_none() || page.same_origin {
        return Ok(());
    }
    let Some(campaign) = state.campaigns.by_slug(state.store.as_ref(), slug).await? else {
        return Ok(());
    };
    crate::transport::admission::check_origin(state, &campaign, page.as_request(), None)
}

/// The address of the client that sent `req` ([`crate::client::client_address`]:
/// the peer, or the client a trusted proxy names).
pub fn client_address(req: &Request, state: &AppState) -> Option<std::net::IpAddr> {
    crate::client::client_address(
        req.remote_addr().ip(),
        req.headers(),
        state.config.proxy_trust(),
    )
}

/// The rate-limit key of the client that sent `req` ([`crate::client::rate_limit_key`]).
pub fn client_ip(req: &Request, state: &AppState) -> String {
    crate::client::rate_limit_key(client_address(req, state))
}

/// The `Origin` a request was sent from, and whether it is the origin of
/// the host the request was addressed to.
pub fn request_origin(headers: &HeaderMap) -> crate::transport::admission::PageOrigin {
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let same = match (&origin, host) {
        (Some(origin), Some(host)) => crate::origin::is_same_origin(origin, host),
        _ => false,
    };
    crate::transport::admission::PageOrigin {
        origin,
        same_origin: same,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer abc".parse().expect("header"));
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().expect("header"));
        assert_eq!(bearer_token(&headers), None);
    }
}
