//! One access-log line per request, and the request id that ties a
//! request's log lines together.
//!
//! The id is the client's `X-Request-Id` when it is a plausible one (1–128
//! characters of `A–Z a–z 0–9 - _ . : / + =`), else a new one; it is sent
//! back in `X-Request-Id` and is a field of the `request` span every log
//! line of the request is inside (with the method and the route template).
//! The access line (`target: access`) adds the status, the duration until
//! the response head, and the client's address; never a body, a query, a
//! token or anything a visitor typed. The same request is counted in the
//! metrics (`ovasabi_http_requests_total`, `…_duration_seconds`) under its
//! route template, never its path (which would be a series per id), and
//! under a standard method or `OTHER`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use salvo::http::{HeaderMap, HeaderValue};
use salvo::prelude::*;
use tracing::Instrument;

use crate::state::AppState;

/// The request id header, asked for and answered.
pub(crate) const REQUEST_ID: &str = "x-request-id";

/// The route of a request no route matched.
const UNMATCHED: &str = "unmatched";

/// The request id the client sent, when plausible, or a new one.
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    let plausible = |id: &&str| {
        (1..=128).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=".contains(&b))
    };
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(plausible)
        .map_or_else(|| uuid::Uuid::now_v7().simple().to_string(), str::to_owned)
}

/// The span a request's log lines are inside.
pub(crate) fn request_span(id: &str, method: &str, route: &str) -> tracing::Span {
    tracing::info_span!("request", id, method, route)
}

/// Counts a request of `route` and `method` answered `status`, begun at
/// `started`, and logs its access line (inside the request's span).
pub(crate) fn record(
    state: &AppState,
    (route, method): (&str, &str),
    status: u16,
    started: Instant,
    client: Option<IpAddr>,
) {
    let seconds = started.elapsed().as_secs_f64();
    let counters = &state.counters;
    counters
        .http_requests
        .with_label_values(&[route, method, &status.to_string()])
        .inc();
    counters
        .http_duration
        .with_label_values(&[route, method])
        .observe(seconds);
    let duration_ms = seconds * 1000.0;
    match client {
        Some(client) => tracing::info!(target: "access", status, duration_ms, %client, "request"),
        None => tracing::info!(target: "access", status, duration_ms, "request"),
    }
}

/// The method as logs and metrics name it: the standard ones as they are,
/// any other `OTHER` (a client must not create a series per made-up method).
fn method_label(method: &str) -> &str {
    match method {
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
        _ => "OTHER",
    }
}

/// The service hoop: request id, span and access line of every request
/// Salvo serves (the lean event-stream path does the same itself).
pub(crate) struct AccessLog(pub Arc<AppState>);

#[async_trait]
impl Handler for AccessLog {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let started = Instant::now();
        let id = request_id(req.headers());
        if let Ok(value) = HeaderValue::from_str(&id) {
            // Handlers that read the id find the same one.
            req.headers_mut().insert(REQUEST_ID, value.clone());
            res.headers_mut().insert(REQUEST_ID, value);
        }
        let route = match req.matched_path() {
            "" => UNMATCHED.to_owned(),
            path => format!("/{path}"),
        };
        let method = method_label(req.method().as_str()).to_owned();
        let span = request_span(&id, &method, &route);
        ctrl.call_next(req, depot, res)
            .instrument(span.clone())
            .await;
        let status = res.status_code.map_or(200, |s| s.as_u16());
        let client = super::client_address(req, &self.0);
        span.in_scope(|| record(&self.0, (&route, &method), status, started, client));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        assert_eq!(method_label("PATCH"), "PATCH");
        assert_eq!(method_label("BREW"), "OTHER");
        assert_eq!(method_label("get"), "OTHER");
    }

    #[test]
    fn implausible_request_ids_are_replaced() {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID, HeaderValue::from_static("abc-123.x"));
        assert_eq!(request_id(&headers), "abc-123.x");
        headers.insert(REQUEST_ID, HeaderValue::from_static("has space"));
        let made = request_id(&headers);
        assert_ne!(made, "has space");
        assert_eq!(made.len(), 32, "a new UUID v7, simple form");
        let long = "a".repeat(129);
        headers.insert(REQUEST_ID, HeaderValue::from_str(&long).expect("header"));
        assert_ne!(request_id(&headers), long);
    }
}
