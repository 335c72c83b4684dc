//! Errors Salvo raises itself (no route, wrong method) in the JSON shape of
//! [`ApiError`](crate::error::ApiError).

use salvo::http::StatusCode;
use salvo::prelude::*;

use crate::error::ErrorBody;

/// Catcher goal: errors Salvo raises itself (no route, wrong method) get the same
/// JSON shape as ours.
#[handler]
pub async fn json_catcher(res: &mut Response) {
    let status = res.status_code.unwrap_or(StatusCode::NOT_FOUND);
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such endpoint"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed here"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body too large"),
        s if s.is_server_error() => ("internal", "internal server error"),
        _ => ("bad_request", "the request could not be handled"),
    };
    res.render(Json(ErrorBody {
        code,
        message,
        field: None,
    }));
}
