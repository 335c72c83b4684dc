//! Admission to the live channels: the one place that decides whether a
//! visitor may open an event stream, a cursor session over WebTransport, or
//! post a cursor sample through the fallback uplink.
//!
//! The checks, in order, and what each refusal is — the same for every
//! transport that can answer with a body:
//!
//! | check | refusal |
//! |---|---|
//! | the campaign exists and is visible (drafts: the admin only) | 404 `campaign_not_found` |
//! | cursors are enabled for it (cursor channels) | 404 `cursors_disabled` |
//! | a credential is sent (cursor channels): a connect ticket, or a session token in a header | 401 `unauthorized` |
//! | the ticket is ours, for this campaign, issued to this client address | 401 `invalid_ticket` |
//! | the ticket has not expired | 401 `ticket_expired` |
//! | a token is ours, for this campaign, not expired | 401 `invalid_token`, `token_expired` |
//! | a browser's `Origin` is the server's own, allowed (server-wide or by the campaign) or the one the ticket was issued to | 403 `origin_not_allowed` |
//! | the address holds fewer connections than the campaign allows | 429 `rate_limited` |
//!
//! Which address: over HTTP, the client address ([`crate::client`], through
//! trusted proxies). Over WebTransport, UDP may come through a balancer that
//! replaces the source address, so the address the connect ticket recorded
//! over HTTP counts — unless the deployment says UDP reaches the server
//! directly (`OVASABI_WT_UDP_DIRECT`).
//!
//! Per-address caps: event streams count against
//! `config.rate_limits.streams_per_ip`, WebTransport sessions against
//! `config.cursor.sessions_per_ip`; a fallback uplink holds no connection (its
//! stream does) and is limited per session by `rate_limits.cursor_per_second`.
//!
//! A WebTransport handshake can only be refused with a bare status, which the
//! browser does not even see: a refused handshake is 429 when over the cap and
//! 403 for every other reason ([`Refusal::handshake_status`]). Browsers learn
//! the reason beforehand from `GET /api/campaign/{slug}/webtransport`, which
//! runs these same checks and answers with their JSON error.

use std::net::IpAddr;

use crate::client::rate_limit_key;
use crate::error::ApiError;
use crate::limit::ConnectionSlot;
use crate::model::campaign::Campaign;
use crate::session::{SessionClaims, TicketClaims, verify_session, verify_ticket};
use crate::state::AppState;

/// What a visitor asks to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    /// An event stream (SSE); a session token is optional.
    Events,
    /// A cursor session over WebTransport: token required, one connection.
    CursorSession,
    /// One sample through the fallback uplink: token required, no connection.
    CursorUplink,
}

impl Channel {
    fn needs_cursors(self) -> bool {
        matches!(self, Self::CursorSession | Self::CursorUplink)
    }
}

/// The credential a visitor presents.
#[derive(Debug, Clone, Copy)]
#[allow(missing_docs)] // variants named for what they are
pub(crate) enum Credential<'a> {
    None,
    /// A session token, from an `Authorization` header (never a URL).
    Token(&'a str),
    /// A connect ticket (`POST /api/connect`), the only credential a URL carries.
    Ticket(&'a str),
}

/// Where a browser's request comes from.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestOrigin<'a> {
    /// The `Origin` header, if sent (browsers send it on cross-origin
    /// requests and on WebTransport).
    pub origin: Option<&'a str>,
    /// Whether that origin is the server's own (it names the host the request
    /// was addressed to).
    pub same_origin: bool,
}

/// A request's page origin as read from its headers, owned; admission takes
/// its borrowed view ([`PageOrigin::as_request`]).
#[derive(Debug, Clone, Default)]
pub struct PageOrigin {
    /// The `Origin` header, if sent.
    pub origin: Option<String>,
    /// Whether it names the host the request was addressed to.
    pub same_origin: bool,
}

impl PageOrigin {
    /// The view [`AdmissionRequest`] and [`check_origin`] take.
    pub fn as_request(&self) -> RequestOrigin<'_> {
        RequestOrigin {
            origin: self.origin.as_deref(),
            same_origin: self.same_origin,
        }
    }
}

/// Who asks, and for what.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdmissionRequest<'a> {
    /// The campaign's slug.
    pub slug: &'a str,
    /// The credential sent.
    pub credential: Credential<'a>,
    /// Whether the caller proved to be the admin (who sees drafts).
    pub admin: bool,
    /// The client's address ([`crate::client::client_address`]) when this
    /// transport can tell it; `None` when the connect ticket's must count.
    pub client: Option<IpAddr>,
    /// Whether a ticket must have been issued to `client` (HTTP).
    pub bind_ticket: bool,
    /// The page the request comes from.
    pub origin: RequestOrigin<'a>,
}

/// A visitor let in.
#[derive(Debug)]
pub(crate) struct Admission {
    /// The campaign, as the caller may see it.
    pub campaign: Campaign,
    /// The session the token names, if one was sent.
    pub session: Option<SessionClaims>,
    /// The connection counted against the address's cap, for channels that
    /// hold one; released when dropped.
    pub slot: Option<ConnectionSlot>,
}

/// Why a visitor was refused: the error a transport with a body answers.
pub(crate) type Refusal = ApiError;

/// The status a WebTransport handshake is refused with for `refusal`.
pub(crate) fn handshake_status(refusal: &Refusal) -> u16 {
    match refusal {
        ApiError::TooManyRequests { .. } => 429,
        _ => 403,
    }
}

/// Who an admitted session is in its cursor room: its colour, and the
/// display name of a joined user when the campaign shows names
/// (`config.cursor.names`). A database that cannot answer leaves the name
/// out: the live channels do not wait on it.
pub(crate) async fn member_identity(
    state: &AppState,
    campaign: &Campaign,
    session: Option<&SessionClaims>,
) -> crate::cursor::Identity {
    use crate::cursor::Identity;
    use crate::session::SessionKind;
    let Some(claims) = session else {
        return Identity::of(uuid::Uuid::now_v7(), None);
    };
    if !campaign.config.cursor.names || claims.kind != SessionKind::User {
        return Identity::of(claims.sub, None);
    }
    let lookup = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        state.store.user_by_id(claims.sub),
    )
    .await;
    let name = match lookup {
        Ok(Ok(Some(user))) if user.campaign_id == campaign.id => Some(user.display_name),
        Ok(Ok(_)) => None,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "cursor identity without a name: the database did not answer");
            None
        }
        Err(_) => None,
    };
    Identity::of(claims.sub, name.as_deref())
}

/// The protocol version a live channel asks for with `?v=` (1 when absent
/// or unreadable; a version beyond ours gets ours).
pub(crate) fn protocol_version(requested: Option<&str>) -> u8 {
    requested
        .and_then(|v| v.trim().parse::<u8>().ok())
        .map_or(1, |v| v.clamp(1, protocol::PROTOCOL_VERSION))
}

/// Seconds a client over its connection cap is told to wait.
const CAP_RETRY_AFTER_SECS: u64 = 5;

/// Decides whether `request` may open `channel`; see the module's table.
pub(crate) async fn admit(
    state: &AppState,
    channel: Channel,
    request: AdmissionRequest<'_>,
) -> Result<Admission, Refusal> {
    let campaign = state
        .campaigns
        .visible(state.store.as_ref(), request.slug, request.admin)
        .await?
        .ok_or_else(|| ApiError::campaign_not_found(request.slug))?;
    if channel.needs_cursors() && !campaign.config.cursor.enabled {
        return Err(ApiError::NotFound {
            code: "cursors_disabled",
            message: format!("campaign {:?} has no cursor channel", request.slug),
        });
    }
    let (session, ticket) = match request.credential {
        Credential::Token(token) => (
            Some(verify_session(&state.sessions, token, &campaign)?),
            None,
        ),
        Credential::Ticket(ticket) => {
            let claims = verify_ticket(&state.sessions, ticket, &campaign)?;
            if request.bind_ticket && claims.client != rate_limit_key(request.client) {
                return Err(ApiError::Unauthorized {
                    code: "invalid_ticket",
                    message: "the connect ticket was issued to another address".into(),
                });
            }
            (Some(claims.session()), Some(claims))
        }
        Credential::None if channel.needs_cursors() => {
            return Err(ApiError::Unauthorized {
                code: "unauthorized",
                message: "the cursor channel needs a connect ticket (POST /api/connect)".into(),
            });
        }
        Credential::None => (None, None),
    };
    check_origin(state, &campaign, request.origin, ticket.as_ref())?;
    let key = match (request.client, &ticket) {
        (None, Some(ticket)) => ticket.client.clone(),
        (client, _) => rate_limit_key(client),
    };
    let slot = match channel {
        Channel::Events => Some(
            state
                .streams
                .acquire(&key, campaign.config.rate_limits.streams_per_ip),
        ),
        Channel::CursorSession => Some(
            state
                .cursor_sessions
                .acquire(&key, campaign.config.cursor.sessions_per_ip),
        ),
        Channel::CursorUplink => None,
    };
    let slot = match slot {
        None => None,
        Some(Some(slot)) => Some(slot),
        Some(None) => {
            return Err(ApiError::TooManyRequests {
                retry_after_secs: CAP_RETRY_AFTER_SECS,
            });
        }
    };
    Ok(Admission {
        campaign,
        session,
        slot,
    })
}

/// 403 `origin_not_allowed` unless a browser request's origin is the server's
/// own, allowed server-wide or by `campaign`, or the one `ticket` was issued to.
pub(crate) fn check_origin(
    state: &AppState,
    campaign: &Campaign,
    origin: RequestOrigin<'_>,
    ticket: Option<&TicketClaims>,
) -> Result<(), Refusal> {
    let Some(sent) = origin.origin else {
        return Ok(()); // not a browser, or a same-origin GET
    };
    let allowed = origin.same_origin
        || crate::origin::is_listed(sent, &state.config.cors_origins)
        || crate::origin::is_listed(sent, &campaign.config.origins)
        || ticket.and_then(|t| t.origin.as_deref()) == Some(sent);
    if allowed {
        Ok(())
    } else {
        Err(origin_not_allowed(sent))
    }
}

/// The refusal of a page on `origin`.
pub(crate) fn origin_not_allowed(origin: &str) -> Refusal {
    ApiError::Forbidden {
        code: "origin_not_allowed",
        message: format!("pages on {origin:?} may not use this API"),
    }
}
