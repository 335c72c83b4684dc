//! What a connection holds while it is in a room ([`CursorMember`]), and
//! what reaches a member without keeping it in ([`MemberHandle`]).

use std::sync::Arc;

use bytes::Bytes;
use protocol::Uplink;
use tokio::sync::broadcast;

use super::room::Room;
use super::{CursorCounters, DatagramSink, RoomKey, TickFrames, UplinkOutcome};

/// One connection's place in a room; leaving the room when dropped.
pub struct CursorMember {
    pub(super) room: Arc<Room>,
    pub(super) id: u32,
    pub(super) frames: broadcast::Receiver<Arc<TickFrames>>,
    /// Whether the tick task sends this member's datagrams ([`Self::send_to`]).
    pub(super) direct: bool,
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
                self.room.counters.dropped_malformed.inc();
                UplinkOutcome::Malformed
            }
        }
    }

    /// Applies one decoded uplink.
    pub fn apply(&self, uplink: Uplink) -> UplinkOutcome {
        self.room.apply(self.id, uplink)
    }

    /// Who is in the room now, with this member's own id first (protocol
    /// version 2): roster messages for a member who just joined.
    pub fn roster_snapshot(&self) -> Vec<Bytes> {
        self.room.roster_snapshot(self.id)
    }

    /// The room as it is now (the most recently active cursors, up to the cap),
    /// for a member who just joined.
    pub fn snapshot(&self) -> Vec<Bytes> {
        self.room.snapshot()
    }

    /// From now on the room's tick task hands this member's datagrams to
    /// `sink` itself — no wake of the member's task per tick — and
    /// [`Self::next`] returns only the ticks that carry a roster (whose
    /// datagrams were sent already).
    pub fn send_to(&mut self, sink: Arc<dyn DatagramSink>) {
        self.frames = self.room.rosters.subscribe();
        self.direct = true;
        self.room.add_sink(self.id, sink);
    }

    /// The next tick's datagrams (with [`Self::send_to`]: the next tick with
    /// a roster). `Ok(None)` when the member fell behind and skipped ahead;
    /// `Err` when the room closed.
    pub async fn next(&mut self) -> Result<Option<Arc<TickFrames>>, broadcast::error::RecvError> {
        let counters = &self.room.counters;
        match self.frames.recv().await {
            Ok(frames) => {
                if !self.direct {
                    counters.datagrams_out.inc_by(frames.datagrams.len() as u64);
                    let bytes: usize = frames.datagrams.iter().map(Bytes::len).sum();
                    counters.bytes_out.inc_by(bytes as u64);
                }
                Ok(Some(frames))
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                counters.lagged.inc();
                Ok(None)
            }
            Err(closed) => Err(closed),
        }
    }
}
