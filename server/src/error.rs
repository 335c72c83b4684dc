//! The one API error type, of every entry point (REST handlers, the lean event
//! stream path, the live channels' admission, the form services). Every error
//! is JSON `{"code", "message", "field"?}` with the status its variant
//! documents; database and unexpected failures are an opaque 500 whose cause
//! chain is logged, never sent.

use salvo::http::{HeaderValue, StatusCode, header};
use salvo::prelude::*;
use serde::Serialize;

use crate::model::campaign::ValidationError;
use crate::store::StoreError;

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not well-formed (JSON syntax, encoding, empty).
    #[error("{message}")]
    BadRequest {
        /// Stable code, e.g. `malformed_json`.
        code: &'static str,
        /// For a person.
        message: String,
    },
    /// 401: missing, wrong or expired credentials.
    #[error("{message}")]
    Unauthorized {
        /// Stable code: `unauthorized`, `invalid_token` or `token_expired`.
        code: &'static str,
        /// For a person.
        message: String,
    },
    /// 403: understood, but not allowed now (e.g. `campaign_closed`).
    #[error("{message}")]
    Forbidden {
        /// Stable code.
        code: &'static str,
        /// For a person.
        message: String,
    },
    /// 404: the thing named does not exist (or is not visible to the caller).
    #[error("{message}")]
    NotFound {
        /// Stable code, e.g. `campaign_not_found`.
        code: &'static str,
        /// For a person.
        message: String,
    },
    /// 409: conflicts with what is stored (duplicate, illegal transition).
    #[error("{message}")]
    Conflict {
        /// Stable code, e.g. `slug_taken`.
        code: &'static str,
        /// For a person.
        message: String,
        /// The field concerned.
        field: Option<String>,
    },
    /// 410: the thing named existed, but is no more (an expired link).
    #[error("{message}")]
    Gone {
        /// Stable code, e.g. `token_expired`.
        code: &'static str,
        /// For a person.
        message: String,
    },
    /// 408: the body did not arrive in time (a client trickling it).
    #[error("the request body did not arrive within {secs} s")]
    RequestTimeout {
        /// The limit in seconds.
        secs: u64,
    },
    /// 413: the body is over the limit.
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 415: the body is not JSON.
    #[error("request body must be application/json")]
    UnsupportedMediaType,
    /// 422: well-formed, but a field breaks a rule.
    #[error("{message}")]
    Unprocessable {
        /// Stable code, e.g. `invalid_field`.
        code: &'static str,
        /// For a person.
        message: String,
        /// The field concerned.
        field: Option<String>,
    },
    /// 429: over a rate limit; retry after the given seconds.
    #[error("too many requests")]
    TooManyRequests {
        /// Seconds until a retry can succeed.
        retry_after_secs: u64,
    },
    /// 503: a dependency is down; the request can be retried.
    #[error("{message}")]
    Unavailable {
        /// Stable code.
        code: &'static str,
        /// For a person.
        message: String,
    },
    /// 500: anything unexpected. The cause is logged, never sent.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The JSON body of every error.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorBody<'a> {
    /// Stable, machine-readable code.
    pub code: &'a str,
    /// Human-readable message.
    pub message: &'a str,
    /// The request field concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'a str>,
}

impl ApiError {
    /// A 404 for an unknown campaign.
    pub fn campaign_not_found(slug: &str) -> Self {
        Self::NotFound {
            code: "campaign_not_found",
            message: format!("no campaign {slug:?}"),
        }
    }

    /// A 401 for a call that needs a session token and came without one.
    pub fn session_required() -> Self {
        Self::Unauthorized {
            code: "unauthorized",
            message: "this endpoint needs a session token (Authorization: Bearer …)".into(),
        }
    }

    /// A 422 for a field breaking a rule.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code: "invalid_field",
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Gone { .. } => StatusCode::GONE,
            Self::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Unauthorized { code, .. }
            | Self::Forbidden { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::Gone { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::Unavailable { code, .. } => code,
            Self::RequestTimeout { .. } => "request_timeout",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::TooManyRequests { .. } => "rate_limited",
            Self::Internal(_) => "internal",
        }
    }

    /// The request field concerned, if one is.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Conflict { field, .. } | Self::Unprocessable { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    /// Writes this error into `res`.
    pub fn render(&self, res: &mut Response) {
        let message = match self {
            Self::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "request failed");
                "internal server error".to_owned()
            }
            other => other.to_string(),
        };
        match self {
            Self::Unauthorized { .. } => {
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::TooManyRequests { retry_after_secs } => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::Unavailable { .. } => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        res.status_code(self.status());
        res.render(Json(ErrorBody {
            code: self.code(),
            message: &message,
            field: self.field(),
        }));
    }
}

#[async_trait]
impl Writer for ApiError {
    async fn write(self, _req: &mut Request, _depot: &mut Depot, res: &mut Response) {
        self.render(res);
    }
}

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        Self::invalid_field(err.field, err.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict { field } => Self::Conflict {
                code: match field {
                    "slug" => "slug_taken",
                    "email" => "email_taken",
                    "referred" => "already_referred",
                    "idempotency_key" => "idempotency_conflict",
                    _ => "conflict",
                },
                message: format!("{field} is already taken"),
                field: Some(field.to_owned()),
            },
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                Self::Unavailable {
                    code: "unavailable",
                    message: "the database does not answer; retry in a moment".into(),
                }
            }
            StoreError::Busy(cause) => {
                tracing::warn!(error = %cause, "database busy");
                Self::Unavailable {
                    code: "busy",
                    message: "the database is busy; retry in a moment".into(),
                }
            }
            StoreError::Stopped => Self::Unavailable {
                code: "unavailable",
                message: "the server is shutting down; retry in a moment".into(),
            },
            other => Self::Internal(other.into()),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        Self::Internal(err)
    }
}
