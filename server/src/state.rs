//! The application's shared state: one value, built by [`crate::app::App`],
//! handed to every handler (through Salvo's depot), transport and worker.
//! It sits below the transports and the handlers, and imports none of them.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::bus::EventBus;
use crate::campaign::cache::CampaignCache;
use crate::campaign::changes::LeaderboardChanges;
use crate::config::Config;
use crate::cursor::CursorHub;
use crate::cursor::fallback::FallbackMembers;
use crate::forms::Forms;
use crate::limit::{ConnectionLimiter, RateLimiter};
use crate::live::Live;
use crate::presence::Presence;
use crate::revocation::Revocations;
use crate::session::SessionKeys;
use crate::store::SharedStore;
use crate::tasks::Tasks;
use crate::team::Team;
use crate::telemetry::Counters;
use crate::translate::Translator;

/// Everything a request handler or worker needs, shared.
pub struct AppState {
    /// The validated configuration.
    pub config: Config,
    /// The database.
    pub store: SharedStore,
    /// Campaigns recently loaded from the database.
    pub campaigns: Arc<CampaignCache>,
    /// Campaigns whose leaderboard this instance may have changed.
    pub leaderboard_changes: Arc<LeaderboardChanges>,
    /// Redis, when scaling out.
    pub redis: Option<redis::Client>,
    /// The event bus.
    pub bus: Arc<dyn EventBus>,
    /// Session token keys.
    pub sessions: Arc<SessionKeys>,
    /// Keys revoked and sessions ended while in use (what open streams and
    /// follows watch).
    pub revocations: Arc<Revocations>,
    /// Live visitors per campaign.
    pub presence: Arc<Presence>,
    /// Per-client rate limits.
    pub limiter: Arc<RateLimiter>,
    /// Open event streams per client address.
    pub streams: ConnectionLimiter,
    /// Open cursor sessions per client address.
    pub cursor_sessions: ConnectionLimiter,
    /// Open gRPC follows per key (or token).
    pub follows: ConnectionLimiter,
    /// Open connections (HTTP and QUIC) per peer address, and in all
    /// (counted before anything is read: see [`AppState::admit_connection`]).
    pub connections: ConnectionLimiter,
    /// Most connections held open at once ([`crate::config::Config::max_connections`],
    /// or derived from the open-file limit).
    pub max_connections: u32,
    /// Cursor rooms.
    pub cursors: Arc<CursorHub>,
    /// The SSE fallback's cursor members, which `POST …/cursor` feeds.
    pub cursor_fallback: FallbackMembers,
    /// The team's service (callers, keys, consumers, erasure, the audit log).
    pub(crate) team: Team,
    /// The form services (join, referral, lead, profile, campaign writes).
    pub(crate) forms: Forms,
    /// The live events' service (derived, custom, visitor samples).
    pub(crate) live: Live,
    /// Translation memory and LibreTranslate.
    pub translator: Arc<Translator>,
    /// What the server did.
    pub counters: Arc<Counters>,
    /// Every metric of this instance, which `/metrics` renders.
    pub metrics: prometheus::Registry,
    /// Every background task, and the shutdown signal they watch.
    pub tasks: Tasks,
    /// Notified by the store after every commit that wrote outbox entries;
    /// the outbox worker waits on it.
    pub outbox_wake: Arc<Notify>,
}

/// Why a new connection was refused before anything was read from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionRefusal {
    /// The instance holds as many connections as it may.
    Full,
    /// The peer address holds as many as one address may.
    PerAddress,
}

/// The key all connections are counted under, besides their address's.
const ALL_CONNECTIONS: &str = "*";

impl AppState {
    /// Counts a new connection from `peer` against the total cap and, unless
    /// the peer is a trusted proxy (many visitors), the per-address cap; the
    /// slots are released when dropped, with the connection.
    pub fn admit_connection(
        &self,
        peer: std::net::IpAddr,
    ) -> Result<Vec<crate::limit::ConnectionSlot>, ConnectionRefusal> {
        let all = self
            .connections
            .acquire(ALL_CONNECTIONS, self.max_connections)
            .ok_or(ConnectionRefusal::Full)?;
        let peer = peer.to_canonical();
        if self
            .config
            .trusted_proxies
            .iter()
            .any(|net| net.contains(&peer))
        {
            return Ok(vec![all]);
        }
        let key = crate::client::rate_limit_key(Some(peer));
        let own = self
            .connections
            .acquire(&key, self.config.connections_per_ip)
            .ok_or(ConnectionRefusal::PerAddress)?;
        Ok(vec![all, own])
    }
}
