//! A member of a room: its pointer, its uplink rate and sequence, and the
//! handle ([`CursorMember`]) a connection holds while it is in the room.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use protocol::{Cursor, PointerKind, Uplink};
use tokio::sync::broadcast;
use tokio::time::Instant;
use uuid::Uuid;

use super::room::Room;
use super::{CursorCounters, RoomKey, TickFrames, UplinkOutcome};

/// One pointer in a room, local or relayed from another instance.
pub(super) struct Member {
    /// The instance a remote member is on (`None`: a member of this instance).
    pub(super) origin: Option<Uuid>,
    /// The visitor (nil for remote members).
    pub(super) session: Uuid,
    pub(super) x: u16,
    pub(super) y: u16,
    pub(super) kind: PointerKind,
    /// Whether the pointer is on the page (a leave hides it until it moves).
    pub(super) shown: bool,
    pub(super) last_active: Instant,
    /// Changed since it was last sent.
    pub(super) dirty: bool,
    /// Changed since it was last published to the other instances.
    pub(super) relay_dirty: bool,
    /// The newest uplink sequence applied.
    last_seq: Option<u32>,
    /// The start of the current one-second rate window, and uplinks in it.
    window_start: Instant,
    window_count: u32,
}

impl Member {
    /// A member not yet shown, of `session` (local) or of instance `origin` (remote).
    pub(super) fn new(origin: Option<Uuid>, session: Uuid, now: Instant) -> Self {
        Self {
            origin,
            session,
            x: 0,
            y: 0,
            kind: PointerKind::Move,
            shown: false,
            last_active: now,
            dirty: false,
            relay_dirty: false,
            last_seq: None,
            window_start: now,
            window_count: 0,
        }
    }

    /// Shows the pointer at a new position, to be sent at the next tick.
    pub(super) fn show(&mut self, x: u16, y: u16, kind: PointerKind) {
        self.x = x;
        self.y = y;
        self.kind = kind;
        self.shown = true;
        self.dirty = true;
    }

    /// Counts an uplink with sequence `seq` against the member's rate
    /// (`per_second`) and checks it is newer than the last one applied.
    pub(super) fn admit(&mut self, seq: u32, per_second: u32, now: Instant) -> UplinkOutcome {
        if now.duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.window_count = 0;
        }
        if self.window_count >= per_second {
            return UplinkOutcome::RateLimited;
        }
        self.window_count += 1;
        // Sequences wrap: newer means ahead by less than half the range.
        if let Some(last) = self.last_seq
            && (seq.wrapping_sub(last) as i32) <= 0
        {
            return UplinkOutcome::Stale;
        }
        self.last_seq = Some(seq);
        self.last_active = now;
        UplinkOutcome::Accepted
    }

    /// The pointer as a frame carries it, under `id`.
    pub(super) fn cursor(&self, id: u32) -> Cursor {
        Cursor {
            id,
            kind: self.kind,
            x: self.x,
            y: self.y,
        }
    }
}

/// One connection's place in a room; leaving the room when dropped.
pub struct CursorMember {
    pub(super) room: Arc<Room>,
    pub(super) id: u32,
    pub(super) frames: broadcast::Receiver<Arc<TickFrames>>,
}

/// Reaches a member by its room and id without keeping either alive: what
/// the fallback transport holds to feed posted uplinks to a stream's member.
#[derive(Clone)]
pub struct MemberHandle {
    room: std::sync::Weak<Room>,
    id: u32,
}

impl MemberHandle {
    /// The member's id in its room.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Applies an uplink to the member; `None` when its room is gone.
    pub fn apply(&self, uplink: Uplink) -> Option<UplinkOutcome> {
        Some(self.room.upgrade()?.apply(self.id, uplink))
    }
}

impl Drop for CursorMember {
    fn drop(&mut self) {
        self.room.leave(self.id);
    }
}

impl CursorMember {
    /// This member's id in the room.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The room.
    pub fn room(&self) -> &RoomKey {
        &self.room.key
    }

    /// The room's counters.
    pub fn counters(&self) -> &CursorCounters {
        &self.room.counters
    }

    /// A handle that reaches this member while it is in the room.
    pub fn handle(&self) -> MemberHandle {
        MemberHandle {
            room: Arc::downgrade(&self.room),
            id: self.id,
        }
    }

    /// Applies one uplink datagram from this member.
    pub fn uplink(&self, bytes: &[u8]) -> UplinkOutcome {
        match protocol::decode_uplink(bytes) {
            Ok(uplink) => self.apply(uplink),
            Err(_) => {
                self.room
                    .counters
                    .dropped_malformed
                    .fetch_add(1, Ordering::Relaxed);
                UplinkOutcome::Malformed
            }
        }
    }

    /// Applies one decoded uplink.
    pub fn apply(&self, uplink: Uplink) -> UplinkOutcome {
        self.room.apply(self.id, uplink)
    }

    /// The room as it is now (the most recently active cursors, up to the cap),
    /// for a member who just joined.
    pub fn snapshot(&self) -> Vec<Bytes> {
        self.room.snapshot()
    }

    /// The next tick's datagrams. `Ok(None)` when the member fell behind and
    /// skipped ahead; `Err` when the room closed.
    pub async fn next(&mut self) -> Result<Option<Arc<TickFrames>>, broadcast::error::RecvError> {
        let counters = &self.room.counters;
        match self.frames.recv().await {
            Ok(frames) => {
                counters
                    .datagrams_out
                    .fetch_add(frames.datagrams.len() as u64, Ordering::Relaxed);
                let bytes: usize = frames.datagrams.iter().map(Bytes::len).sum();
                counters
                    .bytes_out
                    .fetch_add(bytes as u64, Ordering::Relaxed);
                Ok(Some(frames))
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                counters.lagged.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            Err(closed) => Err(closed),
        }
    }
}
