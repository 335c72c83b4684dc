//! Cursor rooms: every visitor's pointer on a campaign page, relayed to every
//! other visitor of that page.
//!
//! A room (campaign + page) keeps the latest position of each member. On a
//! fixed tick (the campaign's `cursor.tick_hz`) it builds **one** frame of what
//! changed — at most `cursor.interest_cap` cursors, most recently active first,
//! plus everyone who left — encodes it once (split under the datagram size) and
//! hands the same bytes to every member. A room where nothing changed parks its
//! tick task until something does; an empty room goes away.
//!
//! Transports (WebTransport, the SSE fallback) are skins over this: each holds
//! a [`CursorMember`], feeds it uplink bytes and forwards its frames. With Redis,
//! [`relay::CursorRelay`] carries each room's local changes to the other
//! instances, whose visitors appear here as remote members.

//!
//! The parts: [`hub`] (the rooms of this instance), `room` (what an uplink,
//! a leave or another instance's frame does to a room), `tick` (the room's
//! task), `state` (a room's members and what changed), `member` (one
//! pointer, its rate and sequence), [`handle`] (what a connection holds),
//! [`fallback`] (the SSE fallback's members), [`counters`] and [`relay`].

pub(crate) mod counters;
pub(crate) mod fallback;
pub(crate) mod handle;
pub(crate) mod hub;
pub(crate) mod humanity;
#[cfg(test)]
mod humanity_paths;
pub(crate) mod identity;
mod member;
pub(crate) mod relay;
mod room;
pub(crate) mod scores;
mod state;
mod tick;

use std::time::Duration;

use bytes::Bytes;

use crate::model::campaign::Campaign;

pub(crate) use counters::CursorCounters;
pub(crate) use handle::{CursorMember, MemberHandle};
pub(crate) use hub::CursorHub;
pub(crate) use identity::Identity;

/// A room: one page of one campaign.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoomKey {
    /// Campaign slug.
    pub campaign: String,
    /// Page path, e.g. `/`.
    pub page: String,
}

impl RoomKey {
    /// The room of `page` (as the client named it) in campaign `campaign`.
    pub fn new(campaign: &str, page: Option<&str>) -> Self {
        Self {
            campaign: campaign.to_owned(),
            page: normalize_page(page),
        }
    }

    /// The campaign's presence room: every visitor whose event stream asked
    /// who is connected (`?members=1`), wherever they are. No pointer moves
    /// in it; its rosters are the campaign's joins and leaves. Its page, the
    /// empty string, is no page's (a page starts with `/`).
    pub fn presence(campaign: &str) -> Self {
        Self {
            campaign: campaign.to_owned(),
            page: String::new(),
        }
    }
}

/// A page path as a room name: starts with `/`, at most 200 characters, no
/// control characters; anything else is `/`.
pub(crate) fn normalize_page(page: Option<&str>) -> String {
    match page.map(str::trim) {
        Some(p)
            if p.starts_with('/')
                && p.chars().count() <= 200
                && !p.chars().any(char::is_control) =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// Members a page room's first roster lists at most.
pub(crate) const MAX_ROSTER_SNAPSHOT: usize = 2000;

/// How a room runs (from the campaign's `cursor` and `rate_limits` settings).
#[derive(Debug, Clone, Copy)]
pub struct RoomSettings {
    /// Time between ticks.
    pub tick: Duration,
    /// Most cursors per tick.
    pub interest_cap: usize,
    /// Most uplinks per member per second.
    pub uplinks_per_second: u32,
    /// Most members the roster a newcomer gets lists (itself and the most
    /// recently active others); the rest are known as they change.
    pub roster_cap: usize,
}

/// Members of a campaign's presence room a newcomer is told about at once.
pub(crate) const PRESENCE_SNAPSHOT: usize = 200;
/// How often a campaign's presence room sends who joined and left (as often
/// as the count changes, at most).
pub(crate) const PRESENCE_TICK: Duration = Duration::from_millis(250);

impl RoomSettings {
    /// The settings of a campaign's presence room: joins and leaves four
    /// times a second at most, no pointers, a capped first roster.
    pub fn presence() -> Self {
        Self {
            tick: PRESENCE_TICK,
            interest_cap: 0,
            uplinks_per_second: 0,
            roster_cap: PRESENCE_SNAPSHOT,
        }
    }
}

impl From<&Campaign> for RoomSettings {
    fn from(campaign: &Campaign) -> Self {
        Self {
            tick: Duration::from_secs_f64(1.0 / f64::from(campaign.config.cursor.tick_hz.max(1))),
            interest_cap: campaign.config.cursor.interest_cap as usize,
            uplinks_per_second: campaign.config.rate_limits.cursor_per_second,
            roster_cap: MAX_ROSTER_SNAPSHOT,
        }
    }
}

/// What happened to an uplink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UplinkOutcome {
    /// Applied.
    Accepted,
    /// Over the member's rate.
    RateLimited,
    /// Not a valid uplink.
    Malformed,
    /// Older than one already applied.
    Stale,
    /// The member has left the room (its connection closed).
    Departed,
}

/// Where a member's frames go straight from its room's tick task, without
/// waking the member's own task (a WebTransport connection: queuing a
/// datagram is a lock and a wake of its connection driver). A full or
/// closed queue loses that frame only.
pub trait DatagramSink: Send + Sync {
    /// Queues one datagram.
    fn send(&self, datagram: Bytes);
}

/// The datagrams of one tick, encoded once and shared by every member.
#[derive(Debug)]
#[allow(missing_docs)] // fields named for what they hold
pub struct TickFrames {
    pub tick: u32,
    /// Datagrams, each at most [`protocol::MAX_DATAGRAM`] bytes.
    pub datagrams: Vec<Bytes>,
    /// Roster messages (protocol version 2) of who joined and left since the
    /// last tick, each at most [`protocol::MAX_ROSTER`] bytes; for the
    /// members who asked for them, over a reliable channel.
    pub roster: Vec<Bytes>,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use protocol::{PointerKind, Uplink, VERSION, decode_frame};
    use uuid::Uuid;

    use super::*;
    use crate::tasks::Tasks;

    fn settings(cap: usize) -> RoomSettings {
        RoomSettings {
            tick: Duration::from_millis(10),
            interest_cap: cap,
            uplinks_per_second: 60,
            roster_cap: MAX_ROSTER_SNAPSHOT,
        }
    }

    fn key() -> RoomKey {
        RoomKey {
            campaign: "c".into(),
            page: "/".into(),
        }
    }

    fn join(hub: &Arc<CursorHub>, settings: RoomSettings) -> CursorMember {
        let session = Uuid::now_v7();
        hub.join(key(), settings, session, Identity::of(session, None))
    }

    fn mv(seq: u32, x: u16) -> Uplink {
        Uplink {
            version: VERSION,
            seq,
            kind: PointerKind::Move,
            x,
            y: 7,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_frame_per_tick_capped_most_recent_first() {
        let hub = Arc::new(CursorHub::new(Tasks::new(), None));
        let mut watcher = join(&hub, settings(2));
        let movers: Vec<_> = (0..4).map(|_| join(&hub, settings(2))).collect();
        // Let the first tick (presence only) pass, then move within one tick.
        let first = watcher.next().await.expect("open").expect("not lagged");
        assert!(
            decode_frame(&first.datagrams[0])
                .expect("decodes")
                .cursors
                .is_empty()
        );
        for (i, mover) in movers.iter().enumerate() {
            assert_eq!(mover.apply(mv(1, i as u16)), UplinkOutcome::Accepted);
            tokio::time::advance(Duration::from_micros(100)).await;
        }
        let mut shown = Vec::new();
        while shown.len() < 4 {
            let frames = watcher.next().await.expect("open").expect("not lagged");
            for datagram in &frames.datagrams {
                let frame = decode_frame(datagram).expect("decodes");
                assert_eq!(frame.presence, 5);
                assert!(frame.cursors.len() <= 2, "interest cap");
                shown.extend(frame.cursors.iter().map(|c| c.x));
            }
        }
        assert_eq!(&shown[..2], &[3, 2], "most recently active first");
        assert_eq!(shown.len(), 4, "the rest follow on later ticks");
    }

    #[tokio::test]
    async fn stale_rate_limited_and_leaving_members() {
        let hub = Arc::new(CursorHub::new(Tasks::new(), None));
        let member = join(&hub, settings(8));
        assert_eq!(member.apply(mv(5, 1)), UplinkOutcome::Accepted);
        assert_eq!(member.apply(mv(4, 1)), UplinkOutcome::Stale);
        assert_eq!(member.uplink(&[9, 9, 9]), UplinkOutcome::Malformed);
        let mut limited = 0;
        for seq in 6..200 {
            if member.apply(mv(seq, 1)) == UplinkOutcome::RateLimited {
                limited += 1;
            }
        }
        // The window holds 60: seq 5, the stale 4 (it was received), and 58 more.
        assert_eq!(limited, 194 - 58, "60 per second");
        let id = member.id();
        let mut watcher = join(&hub, settings(8));
        drop(member);
        loop {
            let frames = watcher.next().await.expect("open").expect("not lagged");
            let frame = decode_frame(&frames.datagrams[0]).expect("decodes");
            if frame.removed.contains(&id) {
                assert_eq!(frame.presence, 1);
                break;
            }
        }
        drop(watcher);
        for _ in 0..100 {
            if hub.room_count() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("an empty room goes away");
    }

    #[tokio::test]
    async fn rosters_tell_members_who_is_here_reliably() {
        let hub = Arc::new(CursorHub::new(Tasks::new(), None));
        let mut first = join(&hub, settings(8));
        let ada = Uuid::now_v7();
        let second = hub.join(key(), settings(8), ada, Identity::of(ada, Some("Ada")));
        // The newcomer's snapshot: its own id, and everyone.
        let snapshot: Vec<_> = second
            .roster_snapshot()
            .iter()
            .map(|m| protocol::decode_roster(m).expect("decodes"))
            .collect();
        assert_eq!(snapshot[0].self_id, Some(second.id()));
        let named = snapshot[0]
            .joined
            .iter()
            .find(|m| m.id == second.id())
            .expect("lists itself");
        assert_eq!(named.name.as_deref(), Some("Ada"));
        assert_eq!(named.hue, identity::hue_of(ada));
        assert!(snapshot[0].joined.iter().any(|m| m.id == first.id()));
        // Members already in learn of the newcomer from a tick's roster.
        let second_id = second.id();
        let joined = loop {
            let frames = first.next().await.expect("open").expect("not lagged");
            let rosters: Vec<_> = frames
                .roster
                .iter()
                .map(|m| protocol::decode_roster(m).expect("decodes"))
                .collect();
            if let Some(m) = rosters
                .iter()
                .flat_map(|r| &r.joined)
                .find(|m| m.id == second_id)
            {
                break m.clone();
            }
        };
        assert_eq!(joined.name.as_deref(), Some("Ada"));
        drop(second);
        loop {
            let frames = first.next().await.expect("open").expect("not lagged");
            let left = frames
                .roster
                .iter()
                .map(|m| protocol::decode_roster(m).expect("decodes"))
                .any(|r| r.left.contains(&second_id) && r.self_id.is_none());
            if left {
                break;
            }
        }
    }

    /// Datagrams a [`DatagramSink`] was handed.
    #[derive(Default)]
    struct Collected(parking_lot::Mutex<Vec<Bytes>>);

    impl DatagramSink for Collected {
        fn send(&self, datagram: Bytes) {
            self.0.lock().push(datagram);
        }
    }

    #[tokio::test]
    async fn a_sink_gets_every_frame_from_the_tick_and_its_member_only_rosters() {
        let hub = Arc::new(CursorHub::new(Tasks::new(), None));
        let mut watcher = join(&hub, settings(8));
        let sink = Arc::new(Collected::default());
        watcher.send_to(sink.clone());
        let mover = join(&hub, settings(8));
        // The mover's arrival is a roster: the member's task is woken for it.
        let frames = tokio::time::timeout(Duration::from_secs(2), watcher.next())
            .await
            .expect("a roster tick")
            .expect("open")
            .expect("not lagged");
        assert!(!frames.roster.is_empty(), "woken only for rosters");
        for seq in 1..=3 {
            assert_eq!(mover.apply(mv(seq, seq as u16)), UplinkOutcome::Accepted);
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
        // Moves reach the sink without the member's task.
        let mut seen = Vec::new();
        for _ in 0..100 {
            seen = sink
                .0
                .lock()
                .iter()
                .flat_map(|d| decode_frame(d).expect("decodes").cursors)
                .map(|c| c.x)
                .collect();
            if seen.contains(&3) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            seen.contains(&3),
            "the last move reached the sink: {seen:?}"
        );
        let no_roster = tokio::time::timeout(Duration::from_millis(100), watcher.next()).await;
        assert!(
            no_roster.is_err(),
            "a tick without a roster does not wake the member"
        );
        // A member that leaves is no longer sent to.
        drop(watcher);
        let before = sink.0.lock().len();
        assert_eq!(mover.apply(mv(9, 9)), UplinkOutcome::Accepted);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(sink.0.lock().len(), before, "sent to a member that left");
    }

    #[tokio::test]
    async fn a_departed_member_is_not_a_malformed_uplink() {
        let hub = Arc::new(CursorHub::new(Tasks::new(), None));
        let _stays = join(&hub, settings(8));
        let member = join(&hub, settings(8));
        let handle = member.handle();
        assert_eq!(handle.apply(mv(1, 1)), Some(UplinkOutcome::Accepted));
        drop(member);
        assert_eq!(handle.apply(mv(2, 1)), Some(UplinkOutcome::Departed));
    }
}
