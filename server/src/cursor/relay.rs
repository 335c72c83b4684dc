//! Cursors between instances, over one Redis stream (`<prefix>:cursors`).
//!
//! Once per tick, a room with local changes appends them — its local members'
//! moves and leaves, and its local visitor count — as protocol frames (the same
//! encoding as the downlink, local ids) with the instance's id. Each instance
//! follows the stream with `XREAD` and merges other instances' changes into its
//! own rooms, where remote visitors get local ids. A room with local visitors
//! re-announces its count every [`HEARTBEAT`]; remote visitors of an instance
//! not heard from for [`REMOTE_EXPIRY`] are removed (a crashed instance).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use redis::aio::ConnectionManager;
use redis::streams::StreamReadReply;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::RoomKey;
use crate::tasks::Tasks;

/// How often a room with local visitors announces itself even when still.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(2);
/// Remote visitors of an instance silent this long are removed.
pub(crate) const REMOTE_EXPIRY: Duration = Duration::from_secs(6);

/// Where the relay hands what other instances publish: the rooms of this
/// instance (the [hub](super::CursorHub)).
pub trait RemoteRooms: Send + Sync + 'static {
    /// Merges another instance's frame into room `key`.
    fn merge_remote(&self, key: &RoomKey, origin: Uuid, frame: &protocol::Frame);
    /// Merges another instance's roster into room `key`.
    fn merge_remote_roster(&self, key: &RoomKey, origin: Uuid, roster: &protocol::Roster);
}
/// Entries kept in the stream (approximately).
const MAX_LEN: usize = 10_000;
/// Outgoing changes queued before new ones are dropped (a stalled Redis).
const QUEUE: usize = 4096;

/// A room's local changes of one tick.
#[allow(missing_docs)] // fields named for what they hold
pub struct Outgoing {
    pub room: RoomKey,
    /// Encoded rosters of local members (local ids), published before the frames.
    pub rosters: Vec<Vec<u8>>,
    /// Encoded frames (local ids, local visitor count).
    pub frames: Vec<Vec<u8>>,
}

/// The Redis side of cross-instance cursors.
pub struct CursorRelay {
    client: redis::Client,
    conn: ConnectionManager,
    key: String,
    /// This instance's id in the stream.
    pub instance: Uuid,
    outgoing: mpsc::Sender<Outgoing>,
    queue: parking_lot::Mutex<Option<mpsc::Receiver<Outgoing>>>,
}

fn room_field(room: &RoomKey) -> String {
    format!("{}\n{}", room.campaign, room.page)
}

impl CursorRelay {
    /// A relay on `<prefix>:cursors`.
    pub fn new(client: redis::Client, conn: ConnectionManager, prefix: &str) -> Self {
        let (outgoing, queue) = mpsc::channel(QUEUE);
        Self {
            client,
            conn,
            key: format!("{prefix}:cursors"),
            instance: Uuid::now_v7(),
            outgoing,
            queue: parking_lot::Mutex::new(Some(queue)),
        }
    }

    /// Queues a room's changes for publishing; false (dropped) when the queue is full.
    pub fn send(&self, outgoing: Outgoing) -> bool {
        self.outgoing.try_send(outgoing).is_ok()
    }

    /// Starts publishing and following, until `shutdown`.
    pub fn start(self: Arc<Self>, rooms: Arc<dyn RemoteRooms>, tasks: &Tasks) {
        let shutdown = tasks.shutdown().clone();
        let queue = self.queue.lock().take();
        if let Some(queue) = queue {
            tasks.spawn(
                "cursor relay publisher",
                self.clone().publish_loop(queue, shutdown.clone()),
            );
        }
        tasks.spawn("cursor relay follower", self.follow_loop(rooms, shutdown));
    }

    async fn publish_loop(
        self: Arc<Self>,
        mut queue: mpsc::Receiver<Outgoing>,
        shutdown: CancellationToken,
    ) {
        let instance = self.instance.to_string();
        loop {
            let first = tokio::select! {
                () = shutdown.cancelled() => return,
                next = queue.recv() => match next { Some(o) => o, None => return },
            };
            let mut pipe = redis::pipe();
            let mut batch = vec![first];
            while batch.len() < 256 {
                match queue.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            for outgoing in &batch {
                let rosters = outgoing.rosters.iter().map(|r| ("m", r));
                let frames = outgoing.frames.iter().map(|f| ("f", f));
                for (field, message) in rosters.chain(frames) {
                    pipe.cmd("XADD")
                        .arg(&self.key)
                        .arg("MAXLEN")
                        .arg("~")
                        .arg(MAX_LEN)
                        .arg("*")
                        .arg("i")
                        .arg(&instance)
                        .arg("r")
                        .arg(room_field(&outgoing.room))
                        .arg(field)
                        .arg(message.as_slice())
                        .ignore();
                }
            }
            // Cursor frames are fresh or worthless: a batch Redis does not
            // take within a second is dropped (the rooms here go on).
            let mut conn = self.conn.clone();
            let sent =
                tokio::time::timeout(Duration::from_secs(1), pipe.query_async::<()>(&mut conn))
                    .await;
            match sent {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, "cursor relay publish failed"),
                Err(_) => tracing::debug!("cursor relay publish timed out"),
            }
        }
    }

    async fn follow_loop(
        self: Arc<Self>,
        rooms: Arc<dyn RemoteRooms>,
        shutdown: CancellationToken,
    ) {
        let mut position: Option<String> = None;
        loop {
            if let Err(e) = self.follow_impl(&rooms, &mut position, &shutdown).await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "cursor relay reader failed; reconnecting"
                );
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
            if shutdown.is_cancelled() {
                return;
            }
        }
    }

    async fn follow_impl(
        &self,
        rooms: &Arc<dyn RemoteRooms>,
        position: &mut Option<String>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let config =
            redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(6)));
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        // Only what is published from now on: cursors have no history worth replaying.
        let mut from = position.clone().unwrap_or_else(|| "$".to_owned());
        let instance = self.instance.to_string();
        loop {
            let mut xread = redis::cmd("XREAD");
            xread
                .arg("COUNT")
                .arg(1024)
                .arg("BLOCK")
                .arg(1000)
                .arg("STREAMS")
                .arg(&self.key)
                .arg(&from);
            let read = xread.query_async::<Option<StreamReadReply>>(&mut conn);
            let reply = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                reply = read => reply.context("XREAD cursors")?,
            };
            for entry in reply.iter().flat_map(|r| &r.keys).flat_map(|k| &k.ids) {
                from.clone_from(&entry.id);
                let (Some(origin), Some(room)) =
                    (entry.get::<String>("i"), entry.get::<String>("r"))
                else {
                    continue;
                };
                if origin == instance {
                    continue;
                }
                let (Ok(origin), Some((campaign, page))) =
                    (origin.parse::<Uuid>(), room.split_once('\n'))
                else {
                    continue;
                };
                let key = RoomKey {
                    campaign: campaign.to_owned(),
                    page: page.to_owned(),
                };
                if let Some(frame) = entry.get::<Vec<u8>>("f") {
                    if let Ok(frame) = protocol::decode_frame(&frame) {
                        rooms.merge_remote(&key, origin, &frame);
                    }
                } else if let Some(roster) = entry.get::<Vec<u8>>("m")
                    && let Ok(roster) = protocol::decode_roster(&roster)
                {
                    rooms.merge_remote_roster(&key, origin, &roster);
                }
            }
            *position = Some(from.clone());
        }
    }
}
