//! The frames every event stream sends, and what a connection does with
//! one envelope of its campaign: shared by the routed stream ([`super::stream`])
//! and the lean path's idle streams ([`super::lean`]).

use std::time::Duration;

use bytes::Bytes;
use uuid::Uuid;

use crate::bus::{Audience, Envelope, EventId};
use crate::state::AppState;

pub(super) fn frame(id: EventId, kind: &str, data: &str) -> Bytes {
    Bytes::from(format!("id: {id}\nevent: {kind}\ndata: {data}\n\n"))
}

/// A `presence` (or `reset`) frame: the campaign's active visitors, with the
/// id of the last event the connection was given.
pub(crate) fn presence_frame(position: EventId, kind: &str, active: u64) -> Bytes {
    frame(position, kind, &format!("{{\"active\":{active}}}"))
}

/// The comment an idle stream is sent now and then, so that proxies and
/// clients know it is alive.
pub(crate) const HEARTBEAT: &[u8] = b": keep-alive\n\n";

/// Where one connection is in its campaign's events, and whose private
/// events it may see.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen {
    pub(crate) session: Option<Uuid>,
    /// Opened by the campaign's team: its team events too.
    pub(crate) team: bool,
    /// The team's named key, if it used one.
    pub(crate) key: Option<i64>,
    /// The id of the last event this connection was given (or skipped past).
    pub(crate) position: EventId,
}

/// What a connection does with one envelope of its campaign.
pub(crate) enum Delivery {
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
    pub(crate) fn revoked(&self, revocations: &crate::revocation::Revocations) -> bool {
        revocations.ends(self.key, self.session)
    }

    /// What the connection does with `envelope`; advances the position.
    pub(crate) fn deliver(&mut self, envelope: &Envelope) -> Delivery {
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
pub(crate) fn count_delivery(state: &AppState, elapsed: Duration) {
    let counters = &state.counters;
    counters.sse_delivery.observe(elapsed.as_secs_f64());
    counters.sse_events_out.inc();
}

/// How long ago `envelope` was published (by this instance's clock).
pub(crate) fn since_published(envelope: &Envelope) -> Duration {
    (chrono::Utc::now() - envelope.published_at)
        .to_std()
        .unwrap_or_default()
}
