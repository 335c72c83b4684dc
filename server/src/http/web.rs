//! The browser client at `/client/…` and the demo campaign page at `/`,
//! compiled into the binary from `web-client/` so that they are served
//! whatever the working directory.

use salvo::http::{HeaderValue, header};
use salvo::prelude::*;

use super::ApiError;

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
    let (_, content_type, content) =
        FILES
            .iter()
            .find(|(p, _, _)| *p == path)
            .ok_or(ApiError::NotFound {
                code: "not_found",
                message: "no such file".into(),
            })?;
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    res.body(*content);
    Ok(())
}

#[handler]
async fn asset(req: &mut Request, res: &mut Response) -> Result<(), ApiError> {
    let path = req.uri().path().trim_start_matches('/').to_owned();
    serve(&path, res)
}

#[handler]
async fn demo_page(res: &mut Response) -> Result<(), ApiError> {
    serve("demo/index.html", res)
}
