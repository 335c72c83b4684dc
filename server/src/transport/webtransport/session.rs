//! One WebTransport session: its request and admission in the handshake,
//! then its cursor room — datagrams both ways, and on version 2 the room's
//! rosters on a stream of the server's.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use wtransport::endpoint::{IncomingSession, SessionRequest};

use super::{GOING_AWAY, SESSION_ENDED};
use crate::admission::{
    Admission, AdmissionRequest, Channel, Credential, RequestOrigin, admit, handshake_status,
    member_identity, protocol_version,
};
use crate::cursor::{CursorMember, RoomKey, RoomSettings};
use crate::state::AppState;

/// How long opening the roster stream, or a roster write, may wait for the
/// client: a client that does not take or read its roster stream is not served.
const ROSTER_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Writes roster messages on the session's roster stream, each after its
/// length ([`protocol::write_length`]).
async fn write_roster(
    stream: &mut wtransport::SendStream,
    messages: &[bytes::Bytes],
) -> anyhow::Result<()> {
    let mut out = Vec::with_capacity(messages.iter().map(|m| m.len() + 3).sum());
    for message in messages {
        protocol::write_length(&mut out, message.len());
        out.extend_from_slice(message);
    }
    tokio::time::timeout(ROSTER_WRITE_TIMEOUT, stream.write_all(&out))
        .await
        .context("the client does not read its roster stream")??;
    Ok(())
}

/// A session's datagrams, queued by its room's tick task.
struct SessionSink(Arc<wtransport::Connection>);

impl crate::cursor::DatagramSink for SessionSink {
    fn send(&self, datagram: bytes::Bytes) {
        // A full or closed send queue loses this tick only.
        let _ = self.0.send_datagram(datagram);
    }
}

/// One browser session: logs how it ended.
pub(super) async fn serve(
    state: Arc<AppState>,
    incoming: IncomingSession,
    shutdown: CancellationToken,
    _slots: Vec<crate::limit::ConnectionSlot>,
) {
    match serve_impl(state, incoming, shutdown).await {
        Ok(()) => tracing::debug!("session ended"),
        Err(e) => tracing::debug!(error = format!("{e:#}"), "session ended with an error"),
    }
}

/// The session's request, within the handshake deadline (a client that
/// connects and says nothing is dropped, not kept), and the campaign its
/// path (`/wt/{slug}`) names; 404 to another path.
async fn session_request(
    state: &AppState,
    incoming: IncomingSession,
) -> anyhow::Result<(SessionRequest, url::Url, String)> {
    let deadline = state.config.handshake_timeout;
    let request = match tokio::time::timeout(deadline, incoming).await {
        Ok(request) => request?,
        Err(_) => {
            state.counters.quic_connections_refused.inc();
            anyhow::bail!("no session request within {deadline:?}");
        }
    };
    let url = url::Url::parse(&format!("https://edge{}", request.path()))?;
    let mut segments = url.path_segments().into_iter().flatten();
    let slug = match (segments.next(), segments.next(), segments.next()) {
        (Some("wt"), Some(slug), None) => slug.to_owned(),
        _ => {
            request.not_found().await;
            anyhow::bail!("unknown path {}", url.path());
        }
    };
    Ok((request, url, slug))
}

/// The session [admitted](crate::admission) to campaign `slug` with its
/// connect ticket (its request given back, to accept), or refused in the
/// handshake (429 or 403, counted).
async fn admit_session(
    state: &AppState,
    request: SessionRequest,
    slug: &str,
    ticket: Option<&str>,
) -> anyhow::Result<(SessionRequest, Admission)> {
    // Only a ticket: a long-lived session token never travels in a URL.
    let credential = ticket.map_or(Credential::None, Credential::Ticket);
    // UDP through a balancer comes from the balancer: then the address the
    // ticket recorded over HTTP is the client's.
    let client = state.config.wt_udp_direct.then(|| {
        crate::client::client_address(
            Some(request.remote_address().ip()),
            &Default::default(),
            crate::client::ProxyTrust::NONE,
        )
    });
    let origin = request.origin().map(str::to_owned);
    let admitted = admit(
        state,
        Channel::CursorSession,
        AdmissionRequest {
            slug,
            credential,
            admin: false,
            client: client.flatten(),
            bind_ticket: false,
            origin: RequestOrigin {
                origin: origin.as_deref(),
                // A page is never served from the WebTransport endpoint.
                same_origin: false,
            },
        },
    )
    .await;
    match admitted {
        Ok(admission) => Ok((request, admission)),
        Err(refusal) => {
            let status = handshake_status(&refusal);
            let refused = if status == 429 {
                request.too_many_requests().await;
                &state.counters.webtransport_refused_429
            } else {
                request.forbidden().await;
                &state.counters.webtransport_refused_403
            };
            refused.inc();
            anyhow::bail!("refused ({status}): {refusal}");
        }
    }
}

async fn serve_impl(
    state: Arc<AppState>,
    incoming: IncomingSession,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (request, url, slug) = session_request(&state, incoming).await?;
    let query = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let (request, admission) =
        admit_session(&state, request, &slug, query("ticket").as_deref()).await?;
    let (campaign, _slot) = (admission.campaign, admission.slot);
    let session = admission
        .session
        .context("a cursor session is admitted with a session")?;
    let key = RoomKey::new(&campaign.slug, query("page").as_deref());
    let version = protocol_version(query("v").as_deref());
    let identity = member_identity(&state, &campaign, Some(&session)).await;
    let connection = Arc::new(request.accept().await?);
    let _open = crate::telemetry::Gauge::hold(&state.counters.webtransport_open);
    let _presence = state.presence.join(&campaign.slug, session.sub);
    let mut member = state
        .cursors
        .join(key, RoomSettings::from(&campaign), session.sub, identity);
    tracing::debug!(campaign = %campaign.slug, member = member.id(), version, "cursor session open");
    // Each tick's frame is queued by the room's task, not this one's. Before
    // the roster snapshot below, so that no roster tick falls between it
    // and the ones this task then waits for.
    member.send_to(Arc::new(SessionSink(connection.clone())));
    // Version 2: who is in the room, reliably, on a stream of the server's.
    let roster = if version >= 2 {
        // A client that takes no stream of ours is not served (not waited for).
        let opening = async { anyhow::Ok(connection.open_uni().await?.await?) };
        let mut stream = tokio::time::timeout(ROSTER_WRITE_TIMEOUT, opening)
            .await
            .context("the client takes no roster stream")??;
        write_roster(&mut stream, &member.roster_snapshot()).await?;
        Some(stream)
    } else {
        None
    };
    for datagram in member.snapshot() {
        connection.send_datagram(datagram)?;
    }
    relay(
        &state,
        &connection,
        &mut member,
        roster,
        session.sub,
        shutdown,
    )
    .await
}

/// Relays the session's room until it ends: the client's datagrams up,
/// rosters on the roster stream (version 2) as the room's ticks carry them;
/// ended by the server's shutdown or the session's revocation.
async fn relay(
    state: &AppState,
    connection: &wtransport::Connection,
    member: &mut CursorMember,
    mut roster: Option<wtransport::SendStream>,
    session: uuid::Uuid,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut revocations = state.revocations.changed();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                connection.close(GOING_AWAY.into(), b"server shutting down");
                return Ok(());
            }
            changed = revocations.changed() => {
                if changed.is_err() || state.revocations.session_ended(session) {
                    connection.close(SESSION_ENDED.into(), b"session ended");
                    return Ok(());
                }
            }
            received = connection.receive_datagram() => {
                member.uplink(&received?);
            }
            // Only the ticks with a roster wake this task (their
            // datagrams went to the sink).
            frames = member.next() => match frames {
                Ok(Some(frames)) => {
                    if let Some(stream) = &mut roster
                        && !frames.roster.is_empty()
                    {
                        write_roster(stream, &frames.roster).await?;
                    }
                }
                Ok(None) => {
                    tracing::debug!("cursor session lagged; skipped ahead");
                    // Rosters may have been skipped too: a whole one, which
                    // replaces what the client knew.
                    if let Some(stream) = &mut roster {
                        write_roster(stream, &member.roster_snapshot()).await?;
                    }
                }
                Err(_) => return Ok(()),
            },
        }
    }
}
