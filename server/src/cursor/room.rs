//! One page's room: what happens when a member moves, leaves, or another
//! instance reports its members. The room's task (`tick.rs`) turns
//! that into one frame per tick.

use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use protocol::{PointerKind, Uplink};
use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;
use uuid::Uuid;

use super::identity::Identity;
use super::relay::CursorRelay;
use super::scores::Scores;
use super::state::RoomState;
use super::{CursorCounters, DatagramSink, RoomKey, RoomSettings, TickFrames, UplinkOutcome};

/// Frames a member may fall behind before it skips ahead.
const MEMBER_BUFFER: usize = 16;

/// One page's room.
pub(super) struct Room {
    pub(super) key: RoomKey,
    pub(super) settings: RoomSettings,
    pub(super) relay: Option<Arc<CursorRelay>>,
    pub(super) state: Mutex<RoomState>,
    pub(super) frames: broadcast::Sender<Arc<TickFrames>>,
    /// The ticks that carry a roster (what a member whose datagrams go to
    /// a [`DatagramSink`] still waits for).
    pub(super) rosters: broadcast::Sender<Arc<TickFrames>>,
    /// Members whose datagrams the tick task queues itself, by id.
    pub(super) sinks: Mutex<Vec<(u32, Arc<dyn DatagramSink>)>>,
    /// A local member moved, joined or left: the parked task ticks again.
    pub(super) wake: Notify,
    /// Other instances' changes arrived: send them now, not at the next tick.
    pub(super) flush: Notify,
    pub(super) counters: Arc<CursorCounters>,
    /// Where a departing member's humanity score goes.
    pub(super) scores: Arc<Scores>,
}

impl Room {
    /// An empty room.
    pub(super) fn new(
        key: RoomKey,
        settings: RoomSettings,
        relay: Option<Arc<CursorRelay>>,
        counters: Arc<CursorCounters>,
        scores: Arc<Scores>,
    ) -> Self {
        Self {
            key,
            settings,
            relay,
            state: Mutex::new(RoomState::default()),
            frames: broadcast::channel(MEMBER_BUFFER).0,
            rosters: broadcast::channel(MEMBER_BUFFER).0,
            sinks: Mutex::new(Vec::new()),
            wake: Notify::new(),
            flush: Notify::new(),
            counters,
            scores,
        }
    }

    /// Adds a local member of `session`; returns its id.
    pub(super) fn join(&self, session: Uuid, identity: Identity) -> u32 {
        let id = self.state.lock().join(session, identity, Instant::now());
        self.wake.notify_one();
        id
    }

    /// Removes local member `id`.
    pub(super) fn leave(&self, id: u32) {
        self.sinks.lock().retain(|(member, _)| *member != id);
        let departed = self.state.lock().leave(id);
        if let Some(report) = departed.and_then(|mut m| m.take_humanity(&self.key.campaign)) {
            self.scores.push(report);
        }
        self.wake.notify_one();
    }

    /// Sends member `id`'s frames to `sink` from now on.
    pub(super) fn add_sink(&self, id: u32, sink: Arc<dyn DatagramSink>) {
        self.sinks.lock().push((id, sink));
    }

    /// Hands a tick's datagrams to every sink; returns how many were queued
    /// and their bytes.
    pub(super) fn send_to_sinks(&self, datagrams: &[Bytes]) -> (u64, u64) {
        let sinks = self.sinks.lock();
        for (_, sink) in sinks.iter() {
            for datagram in datagrams {
                sink.send(datagram.clone());
            }
        }
        let bytes: usize = datagrams.iter().map(Bytes::len).sum();
        let members = sinks.len() as u64;
        (members * datagrams.len() as u64, members * bytes as u64)
    }

    /// Applies member `id`'s uplink.
    pub(super) fn apply(&self, id: u32, uplink: Uplink) -> UplinkOutcome {
        let counters = &self.counters;
        let now = Instant::now();
        let mut state = self.state.lock();
        let Some(member) = state.members.get_mut(&id) else {
            return UplinkOutcome::Departed;
        };
        match member.admit(uplink.seq, self.settings.uplinks_per_second, now) {
            UplinkOutcome::Accepted => {}
            UplinkOutcome::RateLimited => {
                counters.dropped_rate.inc();
                return UplinkOutcome::RateLimited;
            }
            UplinkOutcome::Stale => {
                counters.dropped_stale.inc();
                return UplinkOutcome::Stale;
            }
            other => return other,
        }
        if uplink.kind == PointerKind::Leave {
            if member.shown {
                member.shown = false;
                member.dirty = false;
                member.relay_dirty = false;
                state.removed.push(id);
                state.relay_removed.push(id);
            }
        } else {
            member.observe(uplink.x, uplink.y, now);
            member.show(uplink.x, uplink.y, uplink.kind);
            member.relay_dirty = true;
            // A member who left and came back in one tick is not "removed".
            state.removed.retain(|r| *r != id);
            state.relay_removed.retain(|r| *r != id);
        }
        drop(state);
        counters.uplinks.inc();
        self.wake.notify_one();
        UplinkOutcome::Accepted
    }

    /// Merges another instance's changes (its ids) into this room.
    pub(super) fn merge_remote(&self, origin: Uuid, frame: &protocol::Frame) {
        let now = Instant::now();
        let mut state = self.state.lock();
        let previous = state.remote_presence.insert(origin, (frame.presence, now));
        if previous.map(|(count, _)| count) != Some(frame.presence) {
            state.presence_changed = true;
        }
        for cursor in &frame.cursors {
            let (_, member) = state.remote_member(origin, cursor.id, now);
            member.show(cursor.x, cursor.y, cursor.kind);
            member.last_active = now;
        }
        for remote_id in &frame.removed {
            if let Some(local) = state.remote_ids.remove(&(origin, *remote_id)) {
                state.remove_member(local);
            }
        }
        drop(state);
        // Sent at once rather than at this room's next tick: the change already
        // waited for the other instance's tick, and one tick + Redis is the budget.
        self.flush.notify_one();
    }

    /// Merges another instance's roster (its ids) into this room: members
    /// new here, or whose identity changed, go into this room's next roster.
    pub(super) fn merge_remote_roster(&self, origin: Uuid, roster: &protocol::Roster) {
        let now = Instant::now();
        let mut state = self.state.lock();
        let mut changed = false;
        for entry in &roster.joined {
            let identity = Identity {
                hue: entry.hue,
                name: entry.name.clone(),
                page: entry.page.clone(),
            };
            let (local, member) = state.remote_member(origin, entry.id, now);
            if member.identity != identity {
                member.identity = identity;
                state.note_joined(local);
                changed = true;
            }
        }
        for remote_id in &roster.left {
            if let Some(local) = state.remote_ids.remove(&(origin, *remote_id)) {
                state.remove_member(local);
                changed = true;
            }
        }
        drop(state);
        if changed {
            self.flush.notify_one();
        }
    }

    /// The roster as it is now, with `self_id` first: what a member who just
    /// joined is sent.
    pub(super) fn roster_snapshot(&self, self_id: u32) -> Vec<Bytes> {
        let roster = self
            .state
            .lock()
            .roster_snapshot(self_id, self.settings.roster_cap);
        protocol::split_roster(Some(self_id), &roster, &[], protocol::MAX_ROSTER)
            .into_iter()
            .map(Bytes::from)
            .collect()
    }

    /// The room as it is now (the most recently active cursors, up to the cap).
    pub(super) fn snapshot(&self) -> Vec<Bytes> {
        let state = self.state.lock();
        let cursors = state.recent(self.settings.interest_cap, |_| true);
        protocol::split_frame(
            state.tick,
            state.presence(),
            &cursors,
            &[],
            protocol::MAX_DATAGRAM,
        )
        .into_iter()
        .map(Bytes::from)
        .collect()
    }
}
