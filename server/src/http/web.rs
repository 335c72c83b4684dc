//! The browser client at `/client/…` and the demo campaign page at `/`,
//! compiled into the binary from `web-client/` so that they are served
//! whatever the working directory.
//!
//! The client's module scripts are public: any origin may load them with
//! `<script type="module">` (CORS `*`, no credentials). The demo page can be
//! turned off (`OVASABI_DEMO=false`); it is served with a Content Security
//! Policy that allows only what it uses — its own scripts and styles, the API
//! and the WebTransport endpoint — and may be framed only by
//! `OVASABI_FRAME_ANCESTORS`. Nothing served here is ever sent as a referrer.

use salvo::http::{HeaderValue, header};
use salvo::prelude::*;

use super::ApiError;
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> Router {
    Router::new()
        .push(Router::with_path("client/{file}").get(asset))
        .push(Router::with_path("demo/{file}").get(asset))
}

/// The demo page, for `GET /`.
pub fn index() -> Router {
    Router::new().get(demo_page)
}

/// `(path, content type, content)` of every file served.
const FILES: &[(&str, &str, &str)] = &[
    (
        "client/ovasabi.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web-client/src/ovasabi.js"),
    ),
    (
        "client/protocol.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web-client/src/protocol.js"),
    ),
    (
        "client/motion.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web-client/src/motion.js"),
    ),
    (
        "demo/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web-client/demo/app.js"),
    ),
    (
        "demo/style.css",
        "text/css; charset=utf-8",
        include_str!("../../../web-client/demo/style.css"),
    ),
    (
        "demo/index.html",
        "text/html; charset=utf-8",
        include_str!("../../../web-client/demo/index.html"),
    ),
];

fn serve(path: &str, res: &mut Response) -> Result<(), ApiError> {
    let (_, content_type, content) = FILES
        .iter()
        .find(|(p, _, _)| *p == path)
        .ok_or_else(not_found)?;
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    if path.starts_with("client/") {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        headers.insert(
            "cross-origin-resource-policy",
            HeaderValue::from_static("cross-origin"),
        );
    }
    res.body(*content);
    Ok(())
}

fn not_found() -> ApiError {
    ApiError::NotFound {
        code: "not_found",
        message: "no such file".into(),
    }
}

/// The demo page's Content Security Policy: its own scripts and styles, the
/// API on this origin, the WebTransport endpoint, nothing else.
fn demo_policy(req: &Request, state: &AppState) -> String {
    let webtransport = super::cursor_endpoint::endpoint_info(req, state).url;
    let webtransport = url::Url::parse(&webtransport)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self' {webtransport}; base-uri 'none'; form-action 'self'; \
         frame-ancestors {}",
        state.config.frame_ancestors
    )
}

#[handler]
async fn asset(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = super::state(depot)?;
    let path = req.uri().path().trim_start_matches('/').to_owned();
    if path.starts_with("demo/") && !state.config.demo {
        return Err(not_found());
    }
    serve(&path, res)?;
    if path.starts_with("client/") || path.ends_with(".html") {
        let policy = demo_policy(req, &state);
        if let Ok(value) = HeaderValue::from_str(&policy) {
            res.headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, value);
        }
    }
    Ok(())
}

#[handler]
async fn demo_page(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = super::state(depot)?;
    if !state.config.demo {
        return Err(not_found());
    }
    serve("demo/index.html", res)?;
    let policy = demo_policy(req, &state);
    let value = HeaderValue::from_str(&policy).map_err(|e| ApiError::Internal(e.into()))?;
    res.headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, value);
    Ok(())
}
