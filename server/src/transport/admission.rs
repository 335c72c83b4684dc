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
//! | a session token is sent (cursor channels) | 401 `unauthorized` |
//! | the token is ours, for this campaign | 401 `invalid_token` |
//! | the token has not expired | 401 `token_expired` |
//! | the address holds fewer connections than the campaign allows | 429 `rate_limited` |
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

use crate::error::ApiError;
use crate::limit::ConnectionSlot;
use crate::model::campaign::Campaign;
use crate::session::{SessionClaims, verify_session};
use crate::state::AppState;

/// What a visitor asks to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
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

/// Who asks, and for what.
#[derive(Debug, Clone, Copy)]
pub struct AdmissionRequest<'a> {
    /// The campaign's slug.
    pub slug: &'a str,
    /// The session token sent, if any.
    pub token: Option<&'a str>,
    /// Whether the caller proved to be the admin (who sees drafts).
    pub admin: bool,
    /// The client's address ([`crate::client::client_address`]).
    pub client: Option<IpAddr>,
}

/// A visitor let in.
#[derive(Debug)]
pub struct Admission {
    /// The campaign, as the caller may see it.
    pub campaign: Campaign,
    /// The session the token names, if one was sent.
    pub session: Option<SessionClaims>,
    /// The connection counted against the address's cap, for channels that
    /// hold one; released when dropped.
    pub slot: Option<ConnectionSlot>,
}

/// Why a visitor was refused: the error a transport with a body answers.
pub type Refusal = ApiError;

/// The status a WebTransport handshake is refused with for `refusal`.
pub fn handshake_status(refusal: &Refusal) -> u16 {
    match refusal {
        ApiError::TooManyRequests { .. } => 429,
        _ => 403,
    }
}

/// Seconds a client over its connection cap is told to wait.
const CAP_RETRY_AFTER_SECS: u64 = 5;

/// Decides whether `request` may open `channel`; see the module's table.
pub async fn admit(
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
    let session = match request.token {
        Some(token) => Some(verify_session(&state.sessions, token, &campaign)?),
        None if channel.needs_cursors() => {
            return Err(ApiError::Unauthorized {
                code: "unauthorized",
                message: "the cursor channel needs a session token".into(),
            });
        }
        None => None,
    };
    let key = crate::client::rate_limit_key(request.client);
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
