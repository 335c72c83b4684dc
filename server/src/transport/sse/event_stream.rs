//! One client's event stream: what it opens with (the `retry`, a snapshot,
//! what it missed, its rooms' snapshots), then its campaign's events, the
//! presence count, its rooms' frames and heartbeats, until it ends.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tokio_util::sync::WaitForCancellationFutureOwned;
use uuid::Uuid;

use super::delivery::{
    Delivery, HEARTBEAT, Seen, count_delivery, frame, presence_frame, since_published,
};
use super::{PRESENCE_INTERVAL, REPLAY_LIMIT};
use crate::bus::{Envelope, EventId, Since};
use crate::cursor::fallback::FallbackRegistration;
use crate::cursor::{CursorMember, Identity, RoomKey, RoomSettings};
use crate::limit::ConnectionSlot;
use crate::model::events::{CURSORS, MEMBERS, PRESENCE, RESET, ROSTER};
use crate::presence::PresenceGuard;
use crate::revocation::KeyHold;
use crate::state::AppState;

/// Who reads an event stream.
pub(super) struct Reader {
    /// The visitor's session, if it named one.
    pub(super) session: Option<Uuid>,
    /// The campaign's team (its team events; not counted as a visitor).
    pub(super) team: bool,
    /// The team's named key, if it used one: its revocation ends the stream.
    pub(super) key: Option<i64>,
}

/// The rooms an event stream is a member of besides its campaign's events.
pub(super) struct LiveRooms {
    /// Its page's cursor room (`?cursors=1`).
    pub(super) cursors: Option<CursorRequest>,
    /// The campaign's presence room (`?members=1`), as this visitor.
    pub(super) members: Option<Identity>,
}

/// The cursor room an event stream relays (`?cursors=1`).
pub(super) struct CursorRequest {
    pub(super) key: RoomKey,
    pub(super) settings: RoomSettings,
    pub(super) identity: Identity,
    /// `?v=2`: rosters too.
    pub(super) roster: bool,
}

/// One client's event stream.
pub(crate) struct EventStream {
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

/// An event stream with nothing of its own left to send and no room to
/// relay: what the campaign's shared task of idle streams takes over
/// ([`lean`]).
pub(crate) struct IdleStream {
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
pub(crate) struct StreamHold(
    #[allow(dead_code)] Option<PresenceGuard>,
    #[allow(dead_code)] ConnectionSlot,
    #[allow(dead_code)] crate::telemetry::Gauge,
    #[allow(dead_code)] Option<KeyHold>,
);

impl EventStream {
    pub(super) async fn open(
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
        connection.replay(resume).await?;
        connection.push_room_snapshots();
        let retry = format!("retry: {}\n", connection.state.config.sse_retry.as_millis());
        connection.pending.push_front(Bytes::from(retry));
        Ok(connection)
    }

    /// Queues the opening's snapshot: the presence count, then what the
    /// client missed since `resume` (or a `reset` when the history no
    /// longer reaches back that far).
    async fn replay(&mut self, resume: Option<Result<EventId, ()>>) -> anyhow::Result<()> {
        let replayed = match resume {
            None => None,
            Some(Err(())) => Some(Since::Gap),
            Some(Ok(after)) => {
                self.seen.position = after;
                Some(
                    self.state
                        .bus
                        .since(&self.campaign, after, REPLAY_LIMIT)
                        .await?,
                )
            }
        };
        match replayed {
            None => {
                self.seen.position = self.state.bus.head().await?;
                let snapshot = self.presence_frame(PRESENCE.name);
                self.pending.push_back(snapshot);
            }
            Some(Since::Gap) => {
                self.seen.position = self.state.bus.head().await?;
                let reset = self.presence_frame(RESET.name);
                self.pending.push_back(reset);
            }
            Some(Since::Events(missed)) => {
                let snapshot = self.presence_frame(PRESENCE.name);
                self.pending.push_back(snapshot);
                for envelope in missed {
                    if let Some(frame) = self.accept(&envelope) {
                        self.pending.push_back(frame);
                    }
                }
            }
        }
        Ok(())
    }

    /// Queues the snapshots of the rooms the stream relays: its page's
    /// cursors (with their roster on `?v=2`) and the campaign's members.
    fn push_room_snapshots(&mut self) {
        let snapshot: Vec<Bytes> = match &self.cursors {
            Some((member, _)) => {
                let roster = if self.rosters {
                    member.roster_snapshot()
                } else {
                    Vec::new()
                };
                roster
                    .iter()
                    .map(|m| self.binary_frame(ROSTER.name, m))
                    .chain(
                        member
                            .snapshot()
                            .iter()
                            .map(|d| self.binary_frame(CURSORS.name, d)),
                    )
                    .collect()
            }
            None => Vec::new(),
        };
        self.pending.extend(snapshot);
        let members: Vec<Bytes> = match &self.members {
            Some(member) => member
                .roster_snapshot()
                .iter()
                .map(|m| self.binary_frame(MEMBERS.name, m))
                .collect(),
            None => Vec::new(),
        };
        self.pending.extend(members);
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
    pub(crate) fn take_opening(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.pending).into()
    }

    /// The stream as the shared task of idle streams keeps it, unless it
    /// relays a room (its frames are its own) or still has frames to send.
    pub(crate) fn into_idle(self) -> Result<IdleStream, Box<Self>> {
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
    pub(crate) async fn next_frame(&mut self) -> Option<Bytes> {
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
