//! The API's description: `GET /api/openapi.json` (OpenAPI 3.1, every route,
//! request body, answer and error code; a test holds it against the router)
//! and `GET /api/docs`, a viewer of it served by the server itself.

use salvo::http::{HeaderValue, header};
use salvo::prelude::*;

/// The OpenAPI document.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// Routes of this resource.
pub fn router() -> Router {
    Router::new()
        .push(Router::with_path("api/openapi.json").get(document))
        .push(
            Router::with_path("api/docs")
                .get(viewer_page)
                .push(Router::with_path("viewer.js").get(viewer_script)),
        )
}

fn send(res: &mut Response, content_type: &'static str, body: &'static str) {
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res.body(body);
}

#[handler]
async fn document(res: &mut Response) {
    send(res, "application/json", DOCUMENT);
}

#[handler]
async fn viewer_page(res: &mut Response) {
    // Its own script and the document, nothing else.
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; \
             frame-ancestors 'none'",
        ),
    );
    send(res, "text/html; charset=utf-8", include_str!("docs.html"));
}

#[handler]
async fn viewer_script(res: &mut Response) {
    send(
        res,
        "text/javascript; charset=utf-8",
        include_str!("viewer.js"),
    );
}
