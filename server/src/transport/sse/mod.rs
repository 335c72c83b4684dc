//! `GET /api/campaign/{slug}/events`: the campaign's live events as
//! Server-Sent Events.
//!
//! The first message is a snapshot (`presence` with the current count), or,
//! for a client resuming with `Last-Event-ID` (or `?last_event_id=`), the
//! presence followed by every event it missed — unless the history no longer
//! reaches back that far: then a `reset` with a fresh snapshot comes instead.
//! Every message carries an `id`; `presence` repeats the id of the last event
//! the connection was given, so resuming from it loses nothing. Private events
//! (`lead.status`) go only to their session, named by a connect ticket
//! (`?ticket=`, from `POST /api/connect`) or `Authorization: Bearer`. A session
//! token in the URL (`?token=`) is refused (400 `token_in_url`): URLs end up in
//! logs and `Referer` headers, tickets expire within a minute.
//!
//! From another origin the stream is readable by `EventSource` when the origin
//! is allowed (CORS). `EventSource` reconnects by itself to the same URL and
//! gives up for good on any answer but 200, so once its ticket has expired a
//! client reconnects itself, with a fresh ticket and `?last_event_id=`.
//!
//! A connection is a stream polled by the HTTP connection itself, or, idle on
//! the lean path, kept by its campaign's task of idle streams
//! ([`lean::idle`]): nothing is queued for it but the campaign's shared,
//! bounded buffer (and there, at most 64 shared frames its socket did not take
//! yet). A client that falls further behind than that is skipped ahead with a
//! `reset`.

mod delivery;
mod event_stream;
pub(crate) mod lean;

use std::sync::Arc;
use std::time::Duration;

use salvo::http::{HeaderMap, HeaderValue, header};
use salvo::prelude::*;

use salvo_oapi::schema::{BasicType, Object};
use salvo_oapi::{Components, RefOr, Schema, ToSchema, endpoint};

use crate::admission::{AdmissionRequest, Channel, Credential, PageOrigin, admit, member_identity};
use crate::bus::EventId;
use crate::cursor::{RoomKey, RoomSettings};
use crate::request::answers;
use crate::request::{ApiError, bearer_token, client_address, request_origin, state};
use crate::state::AppState;
use event_stream::{CursorRequest, LiveRooms, Reader};
pub(crate) use event_stream::{EventStream, IdleStream, StreamHold};

/// Routes of this resource (under `api/campaign/{slug}`).
pub(crate) fn router() -> Router {
    Router::with_path("events").get(stream)
}

/// Most missed events replayed to a resuming client; more is a `reset`.
pub(crate) const REPLAY_LIMIT: usize = 1000;
/// Least time between two `presence` messages on one connection.
pub(crate) const PRESENCE_INTERVAL: Duration = Duration::from_millis(250);

/// What an event-stream request asks for, read off its path, query and
/// headers — by the routed handler or by the lean path ([`lean`]).
#[derive(Debug)]
pub struct StreamRequest {
    /// Campaign slug.
    pub slug: String,
    /// The credential: a connect ticket (`?ticket=`) or a session token
    /// (`Authorization: Bearer`).
    pub credential: StreamCredential,
    /// Whether the URL carried a session token (`?token=`): refused.
    pub token_in_url: bool,
    /// The `Authorization: Bearer` token, if any: the admin's sees drafts.
    pub bearer: Option<String>,
    /// The page's `Origin`, if sent, and whether it is the server's own.
    pub origin: PageOrigin,
    /// Where to resume (`Last-Event-ID` or `?last_event_id=`); `Err` when unreadable.
    pub resume: Option<Result<EventId, ()>>,
    /// `?cursors=1`: relay the page's cursor room too.
    pub cursors: bool,
    /// `?page=`: the cursor room's page.
    pub page: Option<String>,
    /// `?v=`: the cursor protocol version (2: rosters too, as `event: roster`).
    pub version: u8,
    /// `?members=1`: who is connected to the campaign too (`event: members`),
    /// when the campaign's `presence.members` is on.
    pub members: bool,
    /// The client's address ([`crate::client::client_address`]).
    pub client: Option<std::net::IpAddr>,
    /// The request id ([`crate::request::access::request_id`]).
    pub request_id: String,
    /// A switch (`cursors`, `members`) given something other than `1`,
    /// `true`, `0` or `false`: refused (422), not read as off.
    pub bad_switch: Option<&'static str>,
}

impl StreamRequest {
    /// Reads the request for campaign `slug` from its headers and query pairs.
    pub fn new(
        slug: &str,
        headers: &HeaderMap,
        query: &[(String, String)],
        client: Option<std::net::IpAddr>,
    ) -> Self {
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let bearer = bearer_token(headers).map(str::to_owned);
        let credential = match (param("ticket").filter(|t| !t.is_empty()), &bearer) {
            (Some(ticket), _) => StreamCredential::Ticket(ticket),
            (None, Some(token)) => StreamCredential::Token(token.clone()),
            (None, None) => StreamCredential::None,
        };
        let mut bad_switch = None;
        let mut switch = |name: &'static str| match param(name).as_deref() {
            None | Some("0" | "false") => false,
            Some("1" | "true") => true,
            Some(_) => {
                bad_switch = Some(name);
                false
            }
        };
        let (cursors, members) = (switch("cursors"), switch("members"));
        let origin = request_origin(headers);
        let resume = headers
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| param("last_event_id"))
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.parse());
        Self {
            slug: slug.to_owned(),
            credential,
            token_in_url: param("token").is_some(),
            bearer,
            origin,
            resume,
            cursors,
            page: param("page"),
            version: crate::admission::protocol_version(param("v").as_deref()),
            members,
            client,
            request_id: crate::request::access::request_id(headers),
            bad_switch,
        }
    }
}

/// The credential of an event stream request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamCredential {
    /// None: public events only.
    None,
    /// A connect ticket.
    Ticket(String),
    /// A session token, from the `Authorization` header.
    Token(String),
}

impl StreamCredential {
    fn as_credential(&self) -> Credential<'_> {
        match self {
            Self::None => Credential::None,
            Self::Ticket(ticket) => Credential::Ticket(ticket),
            Self::Token(token) => Credential::Token(token),
        }
    }
}

/// One message of the stream (OpenAPI 3.1: the schema of each event of the
/// stream): its type (`event`, see `x-events`), its data (JSON, or base64 for
/// `cursors`, `roster` and `members`), its id (for Last-Event-ID); the first
/// carries the reconnection delay (`retry`)
// Described, never built: the stream writes its frames itself.
#[derive(ToSchema)]
#[allow(dead_code)] // a description of the wire, not a value
struct StreamMessage {
    /// The event type (`x-events`).
    event: String,
    /// Its data.
    data: String,
    /// Its id, for `Last-Event-ID`.
    id: Option<String>,
    /// The reconnection delay, in milliseconds.
    #[salvo(schema(minimum = 0))]
    retry: Option<u64>,
}

/// A query switch: `1`/`true` on, `0`/`false` off.
struct Switch;

impl ToSchema for Switch {
    fn to_schema(_components: &mut Components) -> RefOr<Schema> {
        Object::with_type(BasicType::String)
            .enum_values(["1", "true", "0", "false"])
            .into()
    }
}

/// The live event stream (Server-Sent Events)
///
/// Event types and their data: `x-events` at the top of this document. With
/// `?cursors=1&page=/`, `cursors` events carry base64 cursor frames (layout:
/// protocol/README.md); with `&v=2` too, `roster` events say who the cursors
/// are (own id, colours, names).
#[endpoint(
    tags("live"),
    security((), ("sessionToken" = [])),
    parameters(
        ("slug" = crate::model::schema::Slug, Path, description = "The campaign's slug"),
        ("ticket" = Option<String>, Query, description = "A connect ticket (POST /api/connect) naming the session"),
        ("last_event_id" = Option<String>, Query, description = "Resume after this event id (as the `Last-Event-ID` header)"),
        ("cursors" = Option<Switch>, Query, description = "`cursors` events too (the cursor fallback), for `page`"),
        ("v" = Option<String>, Query, description = "The cursor protocol version (default 1); 2 adds `roster` events"),
        ("members" = Option<Switch>, Query, description = "`members` events too: who is connected to the campaign (when its `presence.members` is on); `page` names this visitor's page"),
        ("page" = Option<String>, Query, description = "The page (path) the visitor is on"),
    ),
    responses(
        (status_code = 200, description = "An event stream; see the `x-events` of this document for its event types", content(("text/event-stream" = StreamMessage))),
        answers::Malformed,
        answers::SessionCredential,
        answers::NotAllowed,
        answers::NotFound,
        answers::Invalid,
        answers::Limited,
        answers::Unavailable,
    )
)]
async fn stream(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let slug = req.param::<String>("slug").unwrap_or_default();
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let request = StreamRequest::new(&slug, req.headers(), &query, client_address(req, &state));
    let connection = open_stream(state, request).await?;
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    let frames = futures::stream::unfold(connection, |mut connection| async move {
        let frame = connection.next_frame().await?;
        Some((Ok::<_, std::convert::Infallible>(frame), connection))
    });
    res.stream(frames);
    Ok(())
}

/// Opens the event stream `request` asks for, once
/// [admitted](crate::admission).
pub(crate) async fn open_stream(
    state: Arc<AppState>,
    request: StreamRequest,
) -> Result<EventStream, ApiError> {
    if request.token_in_url {
        return Err(ApiError::BadRequest {
            code: "token_in_url",
            message: "session tokens are not accepted in URLs: send a connect ticket \
                      (?ticket= from POST /api/connect) or an Authorization header"
                .into(),
        });
    }
    if let Some(name) = request.bad_switch {
        return Err(ApiError::invalid_field(name, "must be 1, true, 0 or false"));
    }
    // A bearer of the campaign's team (a key, the admin token) opens its
    // team stream; it is not a visitor's session token.
    let member = state
        .team
        .caller(request.bearer.as_deref())
        .await?
        .filter(|c| c.sees_slug(&request.slug));
    let team = member.is_some();
    let credential = match &request.credential {
        StreamCredential::Token(token) if team && request.bearer.as_ref() == Some(token) => {
            Credential::None
        }
        other => other.as_credential(),
    };
    let admission = admit(
        &state,
        Channel::Events,
        AdmissionRequest {
            slug: &request.slug,
            credential,
            admin: team,
            client: request.client,
            bind_ticket: true,
            origin: request.origin.as_request(),
        },
    )
    .await?;
    let campaign = admission.campaign;
    let mut resume = request.resume;
    if matches!(resume, Some(Ok(_))) && !team {
        // A resume reads history, an open does not: past its share of
        // resumes a client is not refused (its page would lose the stream)
        // but gets `reset` and a fresh snapshot, without a history read.
        let who = crate::client::rate_limit_key(request.client);
        let per_minute = campaign.config.rate_limits.resumes_per_minute;
        if state
            .forms
            .rate_limit("resume", &campaign, &who, per_minute)
            .await
            .is_err()
        {
            state.counters.sse_resumes_limited.inc();
            resume = Some(Err(()));
        }
    }
    let slot = admission
        .slot
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("an event stream holds a slot")))?;
    let cursors = if request.cursors && campaign.config.cursor.enabled {
        let identity = member_identity(&state, &campaign, admission.session.as_ref()).await;
        Some(CursorRequest {
            key: RoomKey::new(&campaign.slug, request.page.as_deref()),
            settings: RoomSettings::from(&campaign),
            identity,
            roster: request.version >= 2,
        })
    } else {
        None
    };
    let presence = &campaign.config.presence;
    let members = if request.members && presence.members {
        let identity = match &cursors {
            Some(c) => c.identity.clone(),
            None => member_identity(&state, &campaign, admission.session.as_ref()).await,
        };
        let page = presence
            .pages
            .then(|| crate::cursor::normalize_page(request.page.as_deref()));
        Some(identity.on_page(page))
    } else {
        None
    };
    let session = admission.session.map(|claims| claims.sub);
    let rooms = LiveRooms { cursors, members };
    let key = member.and_then(|m| m.key_id);
    let reader = Reader { session, team, key };
    EventStream::open(state, campaign.slug, reader, resume, slot, rooms)
        .await
        .map_err(ApiError::Internal)
}
