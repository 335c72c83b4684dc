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

pub mod lean;

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use salvo::http::{HeaderMap, HeaderValue, header};
use salvo::prelude::*;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tokio_util::sync::WaitForCancellationFutureOwned;
use uuid::Uuid;

use salvo_oapi::schema::{BasicType, Object};
use salvo_oapi::{Components, RefOr, Schema, ToSchema, endpoint};

use crate::admission::{AdmissionRequest, Channel, Credential, PageOrigin, admit, member_identity};
use crate::bus::{Audience, Envelope, EventId, Since};
use crate::cursor::fallback::FallbackRegistration;
use crate::cursor::{CursorMember, Identity, RoomKey, RoomSettings};
use crate::limit::ConnectionSlot;
use crate::model::events::{CURSORS, MEMBERS, PRESENCE, RESET, ROSTER};
use crate::presence::PresenceGuard;
use crate::request::answers;
use crate::request::{ApiError, bearer_token, client_address, request_origin, state};
use crate::revocation::KeyHold;
use crate::state::AppState;

/// Routes of this resource (under `api/campaign/{slug}`).
pub fn router() -> Router {
    Router::with_path("events").get(stream)
}

/// Most missed events replayed to a resuming client; more is a `reset`.
pub const REPLAY_LIMIT: usize = 1000;
/// Least time between two `presence` messages on one connection.
pub const PRESENCE_INTERVAL: Duration = Duration::from_millis(250);

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
pub async fn open_stream(
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
    let member = crate::team::caller(&state, request.bearer.as_deref())
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
        if crate::forms::rate_limit(&state, "resume", &campaign, &who, per_minute)
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

/// Who reads an event stream.
struct Reader {
    /// The visitor's session, if it named one.
    session: Option<Uuid>,
    /// The campaign's team (its team events; not counted as a visitor).
    team: bool,
    /// The team's named key, if it used one: its revocation ends the stream.
    key: Option<i64>,
}

/// The rooms an event stream is a member of besides its campaign's events.
struct LiveRooms {
    /// Its page's cursor room (`?cursors=1`).
    cursors: Option<CursorRequest>,
    /// The campaign's presence room (`?members=1`), as this visitor.
    members: Option<Identity>,
}

/// The cursor room an event stream relays (`?cursors=1`).
struct CursorRequest {
    key: RoomKey,
    settings: RoomSettings,
    identity: Identity,
    /// `?v=2`: rosters too.
    roster: bool,
}

/// One client's event stream.
pub struct EventStream {
    state: Arc<AppState>,
    campaign: String,
    seen: Seen,
    events: broadcast::Receiver<Arc<Envelope>>,
    presence: watch::Receiver<u64>,
    /// Frames to send before anything live.
    pending: VecDeque<Bytes>,
    presence_due: Option<Instant>,
    last_presence: Instant,
    heartbeat: tokio::time::Interval,
    /// Ends at shutdown. Kept across polls: registering a fresh waiter with
    /// the app-wide token for every event, in each of thousands of streams,
    /// made them queue on its lock.
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    /// The shutdown frame was sent: the stream ends.
    closing: bool,
    /// Changes when a credential was revoked somewhere: this stream's own
    /// may have been.
    revocations: watch::Receiver<u64>,
    /// The cursor room this stream relays (`?cursors=1`), fed by `POST …/cursor`.
    cursors: Option<(CursorMember, FallbackRegistration)>,
    /// Whether the stream relays the room's rosters too (`?v=2`).
    rosters: bool,
    /// The campaign's presence room (`?members=1`): its rosters are `members` events.
    members: Option<Box<CursorMember>>,
    hold: StreamHold,
}

/// The member's next frames, or never without a member.
async fn next_frames(
    member: Option<&mut CursorMember>,
) -> Result<Option<Arc<crate::cursor::TickFrames>>, broadcast::error::RecvError> {
    match member {
        Some(member) => member.next().await,
        None => std::future::pending().await,
    }
}

fn frame(id: EventId, kind: &str, data: &str) -> Bytes {
    Bytes::from(format!("id: {id}\nevent: {kind}\ndata: {data}\n\n"))
}

/// A `presence` (or `reset`) frame: the campaign's active visitors, with the
/// id of the last event the connection was given.
pub(super) fn presence_frame(position: EventId, kind: &str, active: u64) -> Bytes {
    frame(position, kind, &format!("{{\"active\":{active}}}"))
}

/// The comment an idle stream is sent now and then, so that proxies and
/// clients know it is alive.
pub(super) const HEARTBEAT: &[u8] = b": keep-alive\n\n";

/// Where one connection is in its campaign's events, and whose private
/// events it may see.
#[derive(Debug, Clone, Copy)]
pub(super) struct Seen {
    pub(super) session: Option<Uuid>,
    /// Opened by the campaign's team: its team events too.
    pub(super) team: bool,
    /// The team's named key, if it used one.
    pub(super) key: Option<i64>,
    /// The id of the last event this connection was given (or skipped past).
    pub(super) position: EventId,
}

/// What a connection does with one envelope of its campaign.
pub(super) enum Delivery {
    /// The bus lost events: a `reset` with a fresh snapshot.
    Reset,
    /// Not for this connection, or already given.
    Skip,
    /// The event's frame.
    Send(Bytes),
}

impl Seen {
    /// Whether the connection's credential was revoked (its key, or its
    /// session by an erasure): it ends.
    pub(super) fn revoked(&self, revocations: &crate::revocation::Revocations) -> bool {
        revocations.ends(self.key, self.session)
    }

    /// What the connection does with `envelope`; advances the position.
    pub(super) fn deliver(&mut self, envelope: &Envelope) -> Delivery {
        if envelope.event.kind == crate::bus::RESET {
            return Delivery::Reset; // the bus lost events on their way here (Redis was away too long)
        }
        if envelope.id <= self.position {
            return Delivery::Skip; // already given (replayed before the live stream caught up)
        }
        self.position = envelope.id;
        let visible = match envelope.event.audience {
            Audience::Everyone => true,
            Audience::Session(owner) => self.session == Some(owner),
            Audience::Team => self.team,
        };
        if visible {
            Delivery::Send(envelope.sse_frame())
        } else {
            Delivery::Skip
        }
    }
}

/// Counts an event handed to a connection, `elapsed` after it was published.
pub(super) fn count_delivery(state: &AppState, elapsed: Duration) {
    let counters = &state.counters;
    counters.sse_delivery.observe(elapsed.as_secs_f64());
    counters.sse_events_out.inc();
}

/// How long ago `envelope` was published (by this instance's clock).
pub(super) fn since_published(envelope: &Envelope) -> Duration {
    (chrono::Utc::now() - envelope.published_at)
        .to_std()
        .unwrap_or_default()
}

/// An event stream with nothing of its own left to send and no room to
/// relay: what the campaign's shared task of idle streams takes over
/// ([`lean`]).
pub struct IdleStream {
    pub(super) campaign: String,
    pub(super) seen: Seen,
    /// The stream's own subscription, read up to now when it is taken over,
    /// so that nothing published in between is lost.
    pub(super) events: broadcast::Receiver<Arc<Envelope>>,
    pub(super) hold: StreamHold,
}

/// What a stream holds for as long as it lives: its visitor in the presence
/// count (none for the team's), its connection slot, its place in the
/// open-streams gauge, and the team's key it was opened with (which the
/// revocation check looks up again).
pub struct StreamHold(
    #[allow(dead_code)] Option<PresenceGuard>,
    #[allow(dead_code)] ConnectionSlot,
    #[allow(dead_code)] crate::telemetry::Gauge,
    #[allow(dead_code)] Option<KeyHold>,
);

impl EventStream {
    async fn open(
        state: Arc<AppState>,
        campaign: String,
        reader: Reader,
        resume: Option<Result<EventId, ()>>,
        slot: ConnectionSlot,
        rooms: LiveRooms,
    ) -> anyhow::Result<Self> {
        let LiveRooms { cursors, members } = rooms;
        let Reader { session, team, key } = reader;
        // Subscribe before reading history, so nothing falls in between.
        let events = state.bus.subscribe(&campaign);
        let visitor = session.unwrap_or_else(Uuid::now_v7);
        let guard = (!team).then(|| state.presence.join(&campaign, visitor));
        let mut presence = state.presence.watch(&campaign);
        presence.mark_unchanged();
        let heartbeat_every = state.config.sse_heartbeat;
        let rosters = cursors.as_ref().is_some_and(|c| c.roster);
        let cursors = cursors.map(|c| {
            let member = state.cursors.join(c.key, c.settings, visitor, c.identity);
            let registration = state.cursor_fallback.register(&member, visitor);
            (member, registration)
        });
        let members = members.map(|identity| {
            let key = RoomKey::presence(&campaign);
            Box::new(
                state
                    .cursors
                    .join(key, RoomSettings::presence(), visitor, identity),
            )
        });
        let mut connection = Self {
            campaign,
            seen: Seen {
                session,
                team,
                key,
                position: EventId::default(),
            },
            events,
            presence,
            pending: VecDeque::new(),
            presence_due: None,
            last_presence: Instant::now(),
            heartbeat: tokio::time::interval_at(Instant::now() + heartbeat_every, heartbeat_every),
            shutdown: Box::pin(state.tasks.shutdown().clone().cancelled_owned()),
            closing: false,
            revocations: state.revocations.changed(),
            cursors,
            rosters,
            members,
            hold: StreamHold(
                guard,
                slot,
                crate::telemetry::Gauge::hold(&state.counters.sse_open),
                key.map(|id| state.revocations.hold_key(id)),
            ),
            state,
        };
        let replayed = match resume {
            None => None,
            Some(Err(())) => Some(Since::Gap),
            Some(Ok(after)) => {
                connection.seen.position = after;
                Some(
                    connection
                        .state
                        .bus
                        .since(&connection.campaign, after, REPLAY_LIMIT)
                        .await?,
                )
            }
        };
        match replayed {
            None => {
                connection.seen.position = connection.state.bus.head().await?;
                let snapshot = connection.presence_frame(PRESENCE.name);
                connection.pending.push_back(snapshot);
            }
            Some(Since::Gap) => {
                connection.seen.position = connection.state.bus.head().await?;
                let reset = connection.presence_frame(RESET.name);
                connection.pending.push_back(reset);
            }
            Some(Since::Events(missed)) => {
                let snapshot = connection.presence_frame(PRESENCE.name);
                connection.pending.push_back(snapshot);
                for envelope in missed {
                    if let Some(frame) = connection.accept(&envelope) {
                        connection.pending.push_back(frame);
                    }
                }
            }
        }
        let snapshot: Vec<Bytes> = match &connection.cursors {
            Some((member, _)) => {
                let roster = if connection.rosters {
                    member.roster_snapshot()
                } else {
                    Vec::new()
                };
                roster
                    .iter()
                    .map(|m| connection.binary_frame(ROSTER.name, m))
                    .chain(
                        member
                            .snapshot()
                            .iter()
                            .map(|d| connection.binary_frame(CURSORS.name, d)),
                    )
                    .collect()
            }
            None => Vec::new(),
        };
        connection.pending.extend(snapshot);
        let members: Vec<Bytes> = match &connection.members {
            Some(member) => member
                .roster_snapshot()
                .iter()
                .map(|m| connection.binary_frame(MEMBERS.name, m))
                .collect(),
            None => Vec::new(),
        };
        connection.pending.extend(members);
        let retry = format!("retry: {}\n", connection.state.config.sse_retry.as_millis());
        connection.pending.push_front(Bytes::from(retry));
        Ok(connection)
    }

    fn presence_frame(&mut self, kind: &str) -> Bytes {
        self.last_presence = Instant::now();
        self.presence_due = None;
        let active = *self.presence.borrow_and_update();
        presence_frame(self.seen.position, kind, active)
    }

    /// Protocol messages as SSE frames of their base64, one after the other.
    fn binary_frames(&self, kind: &str, messages: &[Bytes]) -> Bytes {
        let text: Vec<u8> = messages
            .iter()
            .flat_map(|m| self.binary_frame(kind, m).to_vec())
            .collect();
        Bytes::from(text)
    }

    /// A protocol message (a frame datagram, a roster) as an SSE frame of
    /// its base64.
    fn binary_frame(&self, kind: &str, message: &[u8]) -> Bytes {
        use base64::Engine;
        let data = base64::engine::general_purpose::STANDARD.encode(message);
        frame(self.seen.position, kind, &data)
    }

    /// The frame for `envelope` if this connection should see it; advances the position.
    fn accept(&mut self, envelope: &Envelope) -> Option<Bytes> {
        match self.seen.deliver(envelope) {
            Delivery::Reset => {
                self.state.counters.sse_resets.inc();
                Some(self.presence_frame(RESET.name))
            }
            Delivery::Skip => None,
            Delivery::Send(frame) => {
                count_delivery(&self.state, since_published(envelope));
                Some(frame)
            }
        }
    }

    /// The frames to send before anything live (the opening: `retry`, the
    /// snapshot, what was missed), all at once.
    pub fn take_opening(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.pending).into()
    }

    /// The stream as the shared task of idle streams keeps it, unless it
    /// relays a room (its frames are its own) or still has frames to send.
    pub fn into_idle(self) -> Result<IdleStream, Box<Self>> {
        if self.cursors.is_some()
            || self.members.is_some()
            || !self.pending.is_empty()
            || self.closing
        {
            return Err(Box::new(self));
        }
        Ok(IdleStream {
            campaign: self.campaign,
            seen: self.seen,
            events: self.events,
            hold: self.hold,
        })
    }

    /// The next frame to send; `None` ends the stream.
    pub async fn next_frame(&mut self) -> Option<Bytes> {
        if let Some(frame) = self.pending.pop_front() {
            if self.pending.is_empty() {
                self.pending = VecDeque::new(); // its room is not needed again
            }
            return Some(frame);
        }
        if self.closing {
            return None;
        }
        loop {
            let presence_due = self.presence_due;
            tokio::select! {
                biased;
                () = &mut self.shutdown => {
                    // The last frame: reconnect soon (to another instance),
                    // spread over a second or two rather than all at once.
                    self.closing = true;
                    let retry_ms = 500 + rand::random::<u64>() % 1500;
                    return Some(Bytes::from(format!("retry: {retry_ms}\n\n")));
                }
                changed = self.revocations.changed() => {
                    if changed.is_err() || self.seen.revoked(&self.state.revocations) {
                        return None;
                    }
                }
                received = self.events.recv() => match received {
                    Ok(envelope) => {
                        if let Some(frame) = self.accept(&envelope) {
                            return Some(frame);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        tracing::debug!(campaign = %self.campaign, skipped, "slow event stream skipped ahead");
                        self.state.counters.sse_resets.inc();
                        return Some(self.presence_frame(RESET.name));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                changed = self.presence.changed(), if presence_due.is_none() => {
                    if changed.is_err() {
                        return None;
                    }
                    let due = self.last_presence + PRESENCE_INTERVAL;
                    if Instant::now() >= due {
                        return Some(self.presence_frame(PRESENCE.name));
                    }
                    self.presence_due = Some(due);
                }
                () = tokio::time::sleep_until(presence_due.unwrap_or_else(Instant::now)), if presence_due.is_some() => {
                    return Some(self.presence_frame(PRESENCE.name));
                }
                frames = next_frames(self.members.as_deref_mut()) => match frames {
                    Ok(Some(frames)) => {
                        if !frames.roster.is_empty() {
                            return Some(self.binary_frames(MEMBERS.name, &frames.roster));
                        }
                    }
                    // Skipped ahead: a whole roster again, which replaces what the client knew.
                    Ok(None) => {
                        if let Some(member) = &self.members {
                            return Some(self.binary_frames(MEMBERS.name, &member.roster_snapshot()));
                        }
                    }
                    Err(_) => self.members = None,
                },
                frames = next_frames(self.cursors.as_mut().map(|(member, _)| member)) => match frames {
                    Ok(Some(frames)) => {
                        let rosters = if self.rosters { &frames.roster[..] } else { &[] };
                        let text: Vec<u8> = rosters
                            .iter()
                            .map(|m| self.binary_frame(ROSTER.name, m))
                            .chain(frames.datagrams.iter().map(|d| self.binary_frame(CURSORS.name, d)))
                            .flat_map(|f| f.to_vec())
                            .collect();
                        return Some(Bytes::from(text));
                    }
                    Ok(None) => {
                        // Skipped ahead: rosters may have been lost with the
                        // frames, so a whole one (which replaces what the
                        // client knew) follows.
                        if self.rosters && let Some((member, _)) = &self.cursors {
                            return Some(self.binary_frames(ROSTER.name, &member.roster_snapshot()));
                        }
                    }
                    Err(_) => self.cursors = None,
                },
                _ = self.heartbeat.tick() => return Some(Bytes::from_static(HEARTBEAT)),
            }
        }
    }
}
