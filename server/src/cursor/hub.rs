//! Every room of this instance, by page: where members join, where other
//! instances' changes arrive, and where an empty room goes away.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use uuid::Uuid;

use super::handle::CursorMember;
use super::relay::{CursorRelay, RemoteRooms};
use super::room::Room;
use super::scores::{HumanityReport, Scores};
use super::{CursorCounters, Identity, RoomKey, RoomSettings};
use crate::tasks::Tasks;

/// Every room of this instance.
pub struct CursorHub {
    rooms: Mutex<HashMap<RoomKey, Arc<Room>>>,
    relay: Option<Arc<CursorRelay>>,
    /// What the cursor channel did.
    pub counters: Arc<CursorCounters>,
    /// Humanity scores of members who left, until taken.
    scores: Arc<Scores>,
    tasks: Tasks,
}

impl CursorHub {
    /// A hub whose room tasks run in `tasks` (until shutdown); with `relay`,
    /// rooms span instances.
    pub fn new(tasks: Tasks, relay: Option<Arc<CursorRelay>>) -> Self {
        Self {
            rooms: Mutex::new(HashMap::new()),
            relay,
            counters: Arc::new(CursorCounters::default()),
            scores: Arc::default(),
            tasks,
        }
    }

    /// Adds a member for `session` to the room, creating (and starting) it if needed.
    pub fn join(
        self: &Arc<Self>,
        key: RoomKey,
        settings: RoomSettings,
        session: Uuid,
        identity: Identity,
    ) -> CursorMember {
        let mut rooms = self.rooms.lock();
        let room = rooms
            .entry(key.clone())
            .or_insert_with(|| {
                let room = Arc::new(Room::new(
                    key,
                    settings,
                    self.relay.clone(),
                    self.counters.clone(),
                    self.scores.clone(),
                ));
                self.tasks.spawn(
                    "cursor room",
                    room.clone()
                        .run(Arc::downgrade(self), self.tasks.shutdown().clone()),
                );
                room
            })
            .clone();
        let frames = room.frames.subscribe();
        // Joined while the hub is locked: the room cannot go away in between.
        let id = room.join(session, identity);
        drop(rooms);
        CursorMember {
            room,
            id,
            frames,
            direct: false,
        }
    }

    /// Starts the relay between instances (when there is one).
    pub fn start(self: &Arc<Self>) {
        if let Some(relay) = &self.relay {
            relay.clone().start(self.clone(), &self.tasks);
        }
    }

    /// Removes `room` if it has no local members; true when it did.
    pub(super) fn remove_if_empty(&self, room: &Arc<Room>) -> bool {
        let mut rooms = self.rooms.lock();
        if room.state.lock().has_local_members() {
            return false;
        }
        if rooms.get(&room.key).is_some_and(|r| Arc::ptr_eq(r, room)) {
            rooms.remove(&room.key);
        }
        true
    }

    /// The humanity scores that changed since last taken: of the members
    /// who left, and of those still here.
    pub fn take_humanity(&self) -> Vec<HumanityReport> {
        let rooms: Vec<Arc<Room>> = self.rooms.lock().values().cloned().collect();
        let mut reports = self.scores.take();
        for room in rooms {
            let mut state = room.state.lock();
            reports.extend(
                state
                    .members
                    .values_mut()
                    .filter(|m| m.origin.is_none())
                    .filter_map(|m| m.take_humanity(&room.key.campaign)),
            );
        }
        reports
    }

    /// Rooms alive now.
    pub fn room_count(&self) -> usize {
        self.rooms.lock().len()
    }
}

impl RemoteRooms for CursorHub {
    /// Merges another instance's changes into the room, if this instance has it.
    fn merge_remote(&self, key: &RoomKey, origin: Uuid, frame: &protocol::Frame) {
        let room = self.rooms.lock().get(key).cloned();
        if let Some(room) = room {
            room.merge_remote(origin, frame);
        }
    }

    /// Merges another instance's roster into the room, if this instance has it.
    fn merge_remote_roster(&self, key: &RoomKey, origin: Uuid, roster: &protocol::Roster) {
        let room = self.rooms.lock().get(key).cloned();
        if let Some(room) = room {
            room.merge_remote_roster(origin, roster);
        }
    }
}
