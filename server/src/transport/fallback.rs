//! `POST /api/campaign/{slug}/cursor?page=/` — the uplink of the cursor
//! fallback, for browsers without WebTransport. The visitor first opens its
//! event stream with `?cursors=1&page=…&ticket=…`; then each pointer sample is
//! posted here with its session token (`Authorization: Bearer`), either as the same bincode bytes a
//! datagram carries (`application/octet-stream`) or as a tiny JSON
//! `{"seq", "kind": "move"|"tap"|"leave", "x", "y"}`. Rate limited like datagrams.

use salvo::http::{StatusCode, header};
use salvo::prelude::*;
use serde::Deserialize;

use salvo_oapi::request_body::RequestBody;
use salvo_oapi::schema::{BasicType, Object};
use salvo_oapi::{Content, Required, ToSchema, endpoint};

use crate::admission::{AdmissionRequest, Channel, Credential, admit};
use crate::cursor::{RoomKey, UplinkOutcome};
use crate::request::answers;
use crate::request::markers::marker;
use crate::request::{
    ApiError, bearer_token, client_address, parse_json, request_origin, sees_campaign, state,
};

/// Routes of this resource (under `api/campaign/{slug}`).
pub(crate) fn router() -> Router {
    Router::with_path("cursor").post(uplink)
}

/// The JSON form of an uplink.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JsonUplink {
    /// The client's sample counter.
    pub seq: u32,
    /// What the pointer did.
    #[salvo(schema(schema_with = pointer_kind_schema))]
    pub kind: protocol::PointerKind,
    /// Quantized horizontal position.
    pub x: u16,
    /// Quantized vertical position.
    pub y: u16,
}

/// [`JsonUplink::kind`]: a [`protocol::PointerKind`] by its name.
fn pointer_kind_schema() -> salvo_oapi::schema::Object {
    use salvo_oapi::schema::{BasicType, Object};
    Object::with_type(BasicType::String).enum_values(["move", "tap", "leave"])
}

/// Cursor fallback uplink (needs an event stream open with ?cursors=1)
///
/// A JSON sample, or the same bincode `Uplink` a datagram carries as
/// `application/octet-stream` (protocol/README.md).
#[endpoint(
    tags("live"),
    security(("sessionToken" = [])),
    parameters(
        ("slug" = crate::model::schema::Slug, Path, description = "The campaign's slug"),
        ("page" = Option<String>, Query, description = "The page (path) the pointer is on"),
    ),
    responses(
        (status_code = 204, description = "Applied or dropped as stale"),
        answers::SessionCredential,
        answers::NotFound,
        answers::Conflict,
        answers::Body,
        answers::Invalid,
        answers::Limited,
        answers::Unavailable,
    )
)]
async fn uplink(
    _body: CursorUplinkBody,
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let slug = req.param::<String>("slug").unwrap_or_default();
    let page = request_origin(req.headers());
    let admission = admit(
        &state,
        Channel::CursorUplink,
        AdmissionRequest {
            slug: &slug,
            credential: bearer_token(req.headers()).map_or(Credential::None, Credential::Token),
            admin: sees_campaign(req, &state, &slug).await?,
            client: client_address(req, &state),
            bind_ticket: true,
            origin: page.as_request(),
        },
    )
    .await?;
    let session = admission.session.ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!(
            "a cursor uplink is admitted with a session"
        ))
    })?;
    let room = RoomKey::new(
        &admission.campaign.slug,
        req.query::<String>("page").as_deref(),
    );
    let binary = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/octet-stream"));
    let limit = if binary { protocol::MAX_UPLINK } else { 256 };
    let bytes = crate::request::read_body(req, limit, state.config.body_timeout).await?;
    let sample = if binary {
        protocol::decode_uplink(&bytes).map_err(|e| {
            state.cursors.counters.dropped_malformed.inc();
            ApiError::invalid_field("body", format!("not a cursor uplink: {e}"))
        })?
    } else {
        let json: JsonUplink = parse_json(&bytes)?;
        protocol::Uplink {
            version: protocol::VERSION,
            seq: json.seq,
            kind: json.kind,
            x: json.x,
            y: json.y,
        }
    };
    match state.cursor_fallback.apply(&room, session.sub, sample) {
        // No stream open, or it closed just now.
        None | Some(UplinkOutcome::Departed) => Err(ApiError::Conflict {
            code: "no_cursor_stream",
            message: "open the event stream with ?cursors=1 and this page first".into(),
            field: None,
        }),
        Some(UplinkOutcome::RateLimited) => Err(ApiError::TooManyRequests {
            retry_after_secs: 1,
        }),
        Some(UplinkOutcome::Malformed) => {
            Err(ApiError::invalid_field("body", "not a cursor uplink"))
        }
        // A stale sample is dropped as a datagram would be: nothing to retry.
        Some(UplinkOutcome::Accepted | UplinkOutcome::Stale) => {
            res.status_code(StatusCode::NO_CONTENT);
            Ok(())
        }
    }
}

marker!(
    /// A cursor fallback uplink: a JSON sample, or the bincode `Uplink` a
    /// datagram carries (protocol/README.md).
    CursorUplinkBody,
    "CursorUplinkBody",
    |components, operation| {
        operation.request_body = Some(RequestBody::new()
            .required(Required::True)
            .add_content(
                "application/json",
                Content::new(JsonUplink::to_schema(components)),
            )
            .add_content(
                "application/octet-stream",
                Content::new(
                    Object::with_type(BasicType::String)
                        .format(salvo_oapi::schema::SchemaFormat::KnownFormat(
                            salvo_oapi::schema::KnownFormat::Binary,
                        ))
                        .description("A bincode `protocol::Uplink`"),
                ),
            ));
    }
);
