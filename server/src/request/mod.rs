//! What every HTTP entry reads from a request, REST resource and live
//! channel alike: the shared state (put in the depot by [`Inject`]),
//! the bearer token and the team member it names, the client's address and
//! rate-limit key, the page's origin, the campaign named in the path, JSON
//! bodies ([`body`]), and the access log ([`access`]). The error answers an
//! entry declares in the API description are [`answers`].

pub(crate) mod access;
pub(crate) mod answers;
pub(crate) mod body;
pub(crate) mod markers;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use salvo::http::{HeaderMap, header};
use salvo::prelude::*;

pub use self::body::parse_json;
pub(crate) use self::body::{json_body, read_body};
pub(crate) use crate::error::ApiError;
use crate::model::campaign::Campaign;
use crate::model::team::Role;
use crate::state::AppState;
use crate::team::Caller;

/// Puts a shared value (the [`AppState`], a transport's own) into every
/// request's depot, where handlers take it by its type.
pub(crate) struct Inject<T>(pub T);

#[async_trait]
impl<T: Clone + Send + Sync + 'static> Handler for Inject<T> {
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
pub(crate) fn state(depot: &Depot) -> Result<Arc<AppState>, ApiError> {
    depot
        .get_typed::<Arc<AppState>>()
        .cloned()
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("app state missing from depot")))
}

/// The bearer token of `headers`, if any.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    bearer(headers.get(header::AUTHORIZATION)?.to_str().ok()?)
}

/// The token of an `Authorization` value (`Bearer <token>`; an HTTP header
/// or gRPC metadata), if it is one.
pub(crate) fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The team member calling (a named key or the admin token) with a role of
/// at least `role`: 401 without a live key, 403 with too small a role.
/// Handlers check the campaign scope once they know the campaign.
pub(crate) async fn team(req: &Request, state: &AppState, role: Role) -> Result<Caller, ApiError> {
    state.team.require(bearer_token(req.headers()), role).await
}

/// Whether the request carries a team key that may see the campaign `slug`
/// (its drafts, its private events, its admin-only figures).
pub(crate) async fn sees_campaign(
    req: &Request,
    state: &AppState,
    slug: &str,
) -> Result<bool, ApiError> {
    state
        .team
        .sees_campaign(bearer_token(req.headers()), slug)
        .await
}

/// The campaign named by the path (`{slug}`), as the caller may see it
/// (drafts with a team key that may see them); 404 otherwise.
pub(crate) async fn visible_campaign(
    req: &Request,
    state: &AppState,
) -> Result<Campaign, ApiError> {
    let slug = req.param::<String>("slug").unwrap_or_default();
    let team = sees_campaign(req, state, &slug).await?;
    state.forms.visible_campaign(&slug, team).await
}

/// The campaign named by the path, for a team member with at least `role`
/// who may see it: 401/403 otherwise, 404 when there is none.
pub(crate) async fn team_campaign(
    req: &Request,
    state: &AppState,
    role: Role,
) -> Result<(Caller, Campaign), ApiError> {
    let by = team(req, state, role).await?;
    let slug = req.param::<String>("slug").unwrap_or_default();
    let campaign = state.forms.visible_campaign(&slug, true).await?;
    by.in_scope(campaign.id)?;
    Ok((by, campaign))
}

/// 403 `origin_not_allowed` when a browser page on another origin posts to
/// campaign `slug` without that campaign (or the server) allowing its origin.
/// The service hoop (`http::cors`) already refused origins no campaign allows; this
/// is the campaign's own say, once the body named it. An unknown campaign is
/// left to the service (404).
pub(crate) async fn check_campaign_origin(
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
    crate::admission::check_origin(state, &campaign, page.as_request(), None)
}

/// The address of the client that sent `req` ([`crate::client::client_address`]:
/// the peer, or the client a trusted proxy names).
pub(crate) fn client_address(req: &Request, state: &AppState) -> Option<std::net::IpAddr> {
    crate::client::client_address(
        req.remote_addr().ip(),
        req.headers(),
        state.config.proxy_trust(),
    )
}

/// The rate-limit key of the client that sent `req` ([`crate::client::rate_limit_key`]).
pub(crate) fn client_ip(req: &Request, state: &AppState) -> String {
    crate::client::rate_limit_key(client_address(req, state))
}

/// The `Origin` a request was sent from, and whether it is the origin of
/// the host the request was addressed to.
pub(crate) fn request_origin(headers: &HeaderMap) -> crate::admission::PageOrigin {
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let same = match (&origin, host) {
        (Some(origin), Some(host)) => crate::origin::is_same_origin(origin, host),
        _ => false,
    };
    crate::admission::PageOrigin {
        origin,
        same_origin: same,
    }
}
/// Most rows one list page returns.
pub(crate) const MAX_PAGE: u32 = 500;

/// A whole-number query parameter within `0..=max`; 422 naming it otherwise.
pub(crate) fn query_u32(
    req: &Request,
    name: &str,
    default: u32,
    max: u32,
) -> Result<u32, ApiError> {
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
pub(crate) fn page(req: &Request) -> Result<crate::store::Page, ApiError> {
    Ok(crate::store::Page {
        limit: query_u32(req, "limit", 100, MAX_PAGE)?,
        offset: query_u32(req, "offset", 0, u32::MAX)?,
    })
}

/// An RFC 3339 time query parameter, if given; 422 naming it otherwise.
pub(crate) fn query_time(req: &Request, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    req.query::<String>(name)
        .map(|raw| rfc3339(name, &raw))
        .transpose()
}

/// `raw` as an RFC 3339 time; 422 naming `field` otherwise.
pub(crate) fn rfc3339(field: &str, raw: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::invalid_field(
                field,
                "must be an RFC 3339 time such as 2026-12-01T00:00:00Z",
            )
        })
}

/// A `true`/`false` query parameter, if given; 422 naming it otherwise.
pub(crate) fn query_bool(req: &Request, name: &str) -> Result<Option<bool>, ApiError> {
    match req.query::<String>(name).as_deref() {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::invalid_field(name, "must be true or false")),
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
