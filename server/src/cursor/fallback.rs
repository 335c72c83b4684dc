//! Which member a posted uplink feeds: the registry of the SSE fallback.
//!
//! A browser without WebTransport reads its room's frames on the event stream
//! (`?cursors=1`) and sends its pointer with `POST …/cursor`. The post finds
//! the stream's member here, by room and visitor. Only the fallback uses
//! this; it lives beside the rooms rather than with the HTTP handlers
//! because the shared state ([`crate::state::AppState`]) holds it, and the
//! shared state sits below the transports.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use protocol::Uplink;
use uuid::Uuid;

use super::{CursorMember, MemberHandle, RoomKey, UplinkOutcome};

type Members = Arc<Mutex<HashMap<(RoomKey, Uuid), MemberHandle>>>;

/// The fallback streams' members, by room and visitor.
#[derive(Default)]
pub struct FallbackMembers {
    members: Members,
}

impl FallbackMembers {
    /// Makes `member` the one that `POST …/cursor` uplinks of `session` feed,
    /// until the returned guard is dropped.
    pub fn register(&self, member: &CursorMember, session: Uuid) -> FallbackRegistration {
        let key = (member.room().clone(), session);
        let handle = member.handle();
        let id = handle.id();
        self.members.lock().insert(key.clone(), handle);
        FallbackRegistration {
            members: self.members.clone(),
            key,
            id,
        }
    }

    /// Applies an uplink posted by `session` to its member in `room`; `None`
    /// when it has no fallback stream open there.
    pub fn apply(&self, room: &RoomKey, session: Uuid, uplink: Uplink) -> Option<UplinkOutcome> {
        let handle = self.members.lock().get(&(room.clone(), session)).cloned()?;
        handle.apply(uplink)
    }
}

/// Keeps a fallback member reachable by `POST …/cursor`; unregisters on drop.
pub struct FallbackRegistration {
    members: Members,
    key: (RoomKey, Uuid),
    id: u32,
}

impl Drop for FallbackRegistration {
    fn drop(&mut self) {
        let mut members = self.members.lock();
        // Only if a newer stream of the same session did not take over.
        if members.get(&self.key).is_some_and(|h| h.id() == self.id) {
            members.remove(&self.key);
        }
    }
}
