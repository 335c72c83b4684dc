//! Browsers on other origins: CORS for the API, and refusal of cross-site
//! writes.
//!
//! An origin may use the API when it is the server's own (it names the host
//! the request was addressed to), is listed server-wide
//! (`OVASABI_CORS_ORIGINS`) or by a campaign (`config.origins`). Such an
//! origin's preflights are answered and its responses carry
//! `Access-Control-Allow-Origin` with that origin — never `*` — and
//! credentials. Any other origin gets no CORS headers, its preflights 403,
//! and its state-changing requests (POST, PUT, PATCH, DELETE) are refused
//! before they run: 403 `origin_not_allowed`. Together with JSON-only bodies
//! (a foreign form's "simple" request cannot be JSON, so never reaches a
//! handler) nothing can be done in a visitor's name by another site.
//!
//! Every API response says `Vary: Origin`. The live channels check the
//! origin once more against their own campaign
//! ([`crate::admission`]); the browser client's module scripts are
//! public and served to any origin (`/client/`, without credentials).

use std::sync::Arc;

use salvo::http::{HeaderValue, Method, header};
use salvo::prelude::*;

use super::{ApiError, request_origin};
use crate::admission::origin_not_allowed;
use crate::state::AppState;

/// Methods a preflight may ask for.
const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
/// Request headers a preflight may ask for.
const ALLOW_HEADERS: &str = "authorization, content-type, idempotency-key, last-event-id";
/// Response headers a page may read.
const EXPOSE_HEADERS: &str = "retry-after, location, idempotency-replayed";
/// How long a browser may cache a preflight, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The cross-origin policy, as a Salvo service hoop (it runs for every
/// request, matched by a route or not: preflights have no route of their own).
pub(crate) struct CrossOrigin(pub Arc<AppState>);

#[async_trait]
impl Handler for CrossOrigin {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let api = req.uri().path().starts_with("/api/");
        let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        let page = request_origin(req.headers());
        let same_origin = page.same_origin;
        // Pages and the client's scripts (public, any origin) need no
        // decision; only the API does, and writes anywhere.
        let origin = page.origin.filter(|_| api || writes);
        let Some(origin) = origin else {
            ctrl.call_next(req, depot, res).await;
            if api {
                vary_origin(res);
            }
            return;
        };
        let allowed = match self.allows(&origin, same_origin).await {
            Ok(allowed) => allowed,
            // The campaigns' origins cannot be read (the database is down): a
            // read goes on without CORS headers; a write is answered with why.
            Err(error) if writes => {
                error.render(res);
                ctrl.skip_rest();
                return;
            }
            Err(_) => false,
        };
        let preflight = req.method() == Method::OPTIONS
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if preflight {
            if allowed {
                allow(res, &origin);
                let headers = res.headers_mut();
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static(ALLOW_METHODS),
                );
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static(ALLOW_HEADERS),
                );
                headers.insert(
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from_static(PREFLIGHT_MAX_AGE),
                );
                res.status_code(StatusCode::NO_CONTENT);
            } else {
                origin_not_allowed(&origin).render(res);
            }
            vary_origin(res);
            ctrl.skip_rest();
            return;
        }
        if writes && !allowed {
            origin_not_allowed(&origin).render(res);
            vary_origin(res);
            ctrl.skip_rest();
            return;
        }
        ctrl.call_next(req, depot, res).await;
        if api && allowed && !same_origin {
            allow(res, &origin);
        }
        if api {
            vary_origin(res);
        }
    }
}

impl CrossOrigin {
    /// Whether `origin` may use the API (before its campaign is known).
    async fn allows(&self, origin: &str, same_origin: bool) -> Result<bool, ApiError> {
        let state = &self.0;
        if same_origin || crate::origin::is_listed(origin, &state.config.cors_origins) {
            return Ok(true);
        }
        let campaigns = state.campaigns.all_origins(state.store.as_ref()).await?;
        Ok(crate::origin::is_listed(origin, &campaigns))
    }
}

/// The headers that let the page on `origin` read the response.
fn allow(res: &mut Response, origin: &str) {
    let Ok(value) = HeaderValue::from_str(origin) else {
        return;
    };
    let headers = res.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
}

fn vary_origin(res: &mut Response) {
    res.headers_mut()
        .append(header::VARY, HeaderValue::from_static("origin"));
}
