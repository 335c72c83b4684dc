//! The browser client at `/client/v{version}/…` and the demo campaign page
//! at `/`, compiled into the binary from `web-client/` so that they are
//! served whatever the working directory.
//!
//! The client is served at its package version's path with long-lived,
//! immutable caching ([`CLIENT_VERSION`], from `web-client/package.json`);
//! the unversioned `/client/{file}` redirects there (307, not cached), so a
//! page that wants the newest client gets it and a page that pinned a
//! version keeps it from every cache. Only the running version is served.
//!
//! The client's module scripts are public: any origin may load them with
//! `<script type="module">` (CORS `*`, no credentials). The demo page can be
//! turned off (`OVASABI_DEMO=false`); it is served with a Content Security
//! Policy that allows only what it uses — its own scripts and styles, the API
//! and the WebTransport endpoint — and may be framed only by
//! `OVASABI_FRAME_ANCESTORS`. Nothing served here is ever sent as a referrer.

use salvo::http::{HeaderValue, header};
use salvo::prelude::*;
use salvo_oapi::endpoint;

use super::ApiError;
use crate::request::answers;
use crate::state::AppState;
use crate::transport::webtransport::describe::endpoint_info;

/// The browser client's version (`web-client/package.json`): its path is
/// `/client/v{CLIENT_VERSION}/`.
pub const CLIENT_VERSION: &str = env!("OVASABI_CLIENT_VERSION");

/// Routes of this resource.
pub(crate) fn router() -> Router {
    Router::new()
        .push(Router::with_path("client/{version}/{file}").get(versioned_client))
        .push(Router::with_path("client/{file}").get(latest_client))
        .push(Router::with_path("demo/{file}").get(asset))
        .push(
            Router::with_path("admin")
                .get(admin_page)
                .push(Router::with_path("{file}").get(admin_asset)),
        )
}

/// The demo page, for `GET /`.
pub(crate) fn index() -> Router {
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
        // Imports `react`: for pages whose import map names it.
        "client/react.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web-client/src/react.js"),
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
    (
        "admin/index.html",
        "text/html; charset=utf-8",
        include_str!("../../../web-client/admin/index.html"),
    ),
    (
        "admin/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web-client/admin/app.js"),
    ),
    (
        "admin/api.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web-client/admin/api.js"),
    ),
    (
        "admin/views.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web-client/admin/views.js"),
    ),
    (
        "admin/spam.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web-client/admin/spam.js"),
    ),
    (
        "admin/review.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web-client/admin/review.js"),
    ),
    (
        "admin/admin.css",
        "text/css; charset=utf-8",
        include_str!("../../../web-client/admin/admin.css"),
    ),
    (
        // uPlot (npm `uplot`, MIT), the dashboard's charts, as published.
        "admin/uPlot.esm.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../web-client/admin/vendor/uPlot.esm.js"),
    ),
    (
        "admin/uPlot.min.css",
        "text/css; charset=utf-8",
        include_str!("../../../web-client/admin/vendor/uPlot.min.css"),
    ),
];

/// How a file may be cached.
#[derive(Clone, Copy)]
enum Caching {
    /// Revalidated on every use (the demo, redirects to the current client).
    Revalidate,
    /// Never changes at its URL (a versioned client file).
    Immutable,
}

fn serve(path: &str, caching: Caching, res: &mut Response) -> Result<(), ApiError> {
    let (_, content_type, content) = FILES
        .iter()
        .find(|(p, _, _)| *p == path)
        .ok_or_else(not_found)?;
    common_headers(path, caching, res);
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res.body(*content);
    Ok(())
}

fn common_headers(path: &str, caching: Caching, res: &mut Response) {
    let headers = res.headers_mut();
    let cache = match caching {
        Caching::Revalidate => "no-cache",
        Caching::Immutable => "public, max-age=31536000, immutable",
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
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
}

/// The browser client's modules, at its package version
///
/// `ovasabi.js`, `protocol.js`, `motion.js`, `react.js` of the client package
/// `@ovasabi/edge-client` (web-client/), cached for good (`Cache-Control:
/// immutable`); any origin may load them. Only the running version is served.
#[endpoint(
    tags("web"),
    parameters(
        ("version" = String, Path, description = "`v` and the client version, e.g. `v0.2.0`"),
        ("file" = String, Path),
    ),
    responses(
        (status_code = 200, description = "A JavaScript module", content(("text/javascript" = String))),
        answers::NotFound,
    )
)]
async fn versioned_client(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let version = req.param::<String>("version").unwrap_or_default();
    let file = req.param::<String>("file").unwrap_or_default();
    if version.strip_prefix('v') != Some(CLIENT_VERSION) {
        return Err(ApiError::NotFound {
            code: "not_found",
            message: format!(
                "this server serves client version {CLIENT_VERSION} only, at /client/v{CLIENT_VERSION}/"
            ),
        });
    }
    let state = super::state(depot)?;
    let path = format!("client/{file}");
    serve(&path, Caching::Immutable, res)?;
    set_policy(req, depot, &state, res);
    Ok(())
}

/// The browser client's current version (a redirect)
///
/// Redirects (307, not cached) to the same file at `/client/v{version}/{file}`,
/// the running client version.
#[endpoint(
    tags("web"),
    parameters(("file" = String, Path)),
    responses(
        (status_code = 307, description = "The file at the current version's path", headers(("Location" = String))),
        answers::NotFound,
    )
)]
async fn latest_client(req: &mut Request, res: &mut Response) -> Result<(), ApiError> {
    let file = req.param::<String>("file").unwrap_or_default();
    let path = format!("client/{file}");
    if !FILES.iter().any(|(p, _, _)| *p == path) {
        return Err(not_found());
    }
    common_headers(&path, Caching::Revalidate, res);
    let location = format!("/client/v{CLIENT_VERSION}/{file}");
    let location = HeaderValue::from_str(&location).map_err(|e| ApiError::Internal(e.into()))?;
    res.headers_mut().insert(header::LOCATION, location);
    res.status_code(StatusCode::TEMPORARY_REDIRECT);
    Ok(())
}

/// The demo's Content Security Policy on a response.
fn set_policy(req: &Request, depot: &Depot, state: &AppState, res: &mut Response) {
    let policy = demo_policy(req, depot, state);
    if let Ok(value) =
        policy.and_then(|p| HeaderValue::from_str(&p).map_err(|e| ApiError::Internal(e.into())))
    {
        res.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound {
        code: "not_found",
        message: "no such file".into(),
    }
}

/// The demo page's Content Security Policy: its own scripts and styles, the
/// API on this origin, the WebTransport endpoint, nothing else.
fn demo_policy(req: &Request, depot: &Depot, state: &AppState) -> Result<String, ApiError> {
    let webtransport = endpoint_info(req, depot, state)?.url;
    let webtransport = url::Url::parse(&webtransport)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    // The CAPTCHA widgets a campaign may ask for (`config.forms.captcha`):
    // each provider's documented sources.
    const TURNSTILE: &str = "https://challenges.cloudflare.com";
    const HCAPTCHA: &str = "https://hcaptcha.com https://*.hcaptcha.com";
    Ok(format!(
        "default-src 'none'; script-src 'self' {TURNSTILE} {HCAPTCHA}; \
         style-src 'self' {HCAPTCHA}; img-src 'self' data:; \
         frame-src {TURNSTILE} {HCAPTCHA}; \
         connect-src 'self' {webtransport} {HCAPTCHA}; base-uri 'none'; form-action 'self'; \
         frame-ancestors {}",
        state.config.frame_ancestors
    ))
}

/// The demo page's assets
#[endpoint(
    tags("web"),
    parameters(("file" = String, Path)),
    responses(
        (status_code = 200, description = "A script or style sheet", content(("text/plain" = String))),
        answers::NotFound,
    )
)]
async fn asset(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = super::state(depot)?;
    let path = req.uri().path().trim_start_matches('/').to_owned();
    if path.starts_with("demo/") && !state.config.demo {
        return Err(not_found());
    }
    serve(&path, Caching::Revalidate, res)?;
    if path.ends_with(".html") {
        set_policy(req, depot, &state, res);
    }
    Ok(())
}

/// The dashboard's Content Security Policy: its own scripts and styles, the
/// API on this origin; never framed.
const ADMIN_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

fn admin_headers(res: &mut Response) {
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(ADMIN_POLICY),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
}

/// The campaign team's dashboard (HTML; OVASABI_ADMIN_UI): sign in with a team key
#[endpoint(
    tags("web"),
    responses(
        (status_code = 200, description = "The page", content(("text/html" = String))),
        answers::NotFound,
    )
)]
async fn admin_page(depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = super::state(depot)?;
    if !state.config.admin_ui {
        return Err(not_found());
    }
    serve("admin/index.html", Caching::Revalidate, res)?;
    admin_headers(res);
    Ok(())
}

/// The dashboard's scripts and styles
#[endpoint(
    tags("web"),
    parameters(("file" = String, Path)),
    responses(
        (status_code = 200, description = "A script or style sheet", content(("text/plain" = String))),
        answers::NotFound,
    )
)]
async fn admin_asset(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = super::state(depot)?;
    if !state.config.admin_ui {
        return Err(not_found());
    }
    let file = req.param::<String>("file").unwrap_or_default();
    serve(&format!("admin/{file}"), Caching::Revalidate, res)?;
    admin_headers(res);
    Ok(())
}

/// The demo campaign page (HTML)
#[endpoint(
    tags("web"),
    responses(
        (status_code = 200, description = "The page", content(("text/html" = String))),
        answers::NotFound,
    )
)]
async fn demo_page(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = super::state(depot)?;
    if !state.config.demo {
        return Err(not_found());
    }
    serve("demo/index.html", Caching::Revalidate, res)?;
    let policy = demo_policy(req, depot, &state)?;
    let value = HeaderValue::from_str(&policy).map_err(|e| ApiError::Internal(e.into()))?;
    res.headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, value);
    Ok(())
}
