//! What [`App::build`](super::App::build) puts together: the listeners,
//! what instances share (over Redis or here), the LibreTranslate client,
//! the session keys, and the services built from the configuration and
//! the handles each needs.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;

use crate::bus::{EventBus, LocalBus, RedisBus};
use crate::campaign::cache::CampaignCache;
use crate::campaign::changes::LeaderboardChanges;
use crate::config::Config;
use crate::cursor::relay::CursorRelay;
use crate::forms::{Forms, FormsHandles, Publisher};
use crate::limit::RateLimiter;
use crate::live::{Live, LiveHandles};
use crate::presence::Presence;
use crate::revocation::Revocations;
use crate::session::SessionKeys;
use crate::store::SharedStore;
use crate::tasks::Tasks;
use crate::team::{Team, TeamHandles};
use crate::telemetry::metrics::Counters;
use crate::translate::{LibreTranslate, LibreTranslateSettings};
use crate::transport::webtransport::WebTransportServer;

/// The listeners an app serves on, bound before anything is served.
pub(super) struct Listeners {
    pub(super) http: tokio::net::TcpListener,
    pub(super) http_addr: SocketAddr,
    pub(super) grpc: Option<(tokio::net::TcpListener, SocketAddr)>,
    pub(super) metrics: Option<(tokio::net::TcpListener, SocketAddr)>,
    pub(super) webtransport: Arc<WebTransportServer>,
}

impl Listeners {
    /// Binds every listener `config` asks for.
    pub(super) async fn bind(config: &Config) -> anyhow::Result<Self> {
        let http_listener = tokio::net::TcpListener::bind(config.http_addr)
            .await
            .with_context(|| {
                format!("cannot listen on {} (OVASABI_HTTP_ADDR)", config.http_addr)
            })?;
        let http_addr = http_listener.local_addr()?;
        let grpc_listener = bind_optional(config.grpc_addr, "OVASABI_GRPC_ADDR").await?;
        let metrics_listener = bind_optional(config.metrics_addr, "OVASABI_METRICS_ADDR").await?;
        let webtransport =
            Arc::new(WebTransportServer::bind(config.wt_addr, config.wt_certificate()).await?);
        Ok(Self {
            http: http_listener,
            http_addr,
            grpc: grpc_listener,
            metrics: metrics_listener,
            webtransport,
        })
    }
}

/// The connection cap the open-file limit allows: nine in ten of the
/// descriptors left after a reserve for the database, Redis, files and logs.
pub(super) fn derived_max_connections() -> u32 {
    let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap_or((1024, 1024));
    let usable = soft.saturating_sub(256) / 10 * 9;
    u32::try_from(usable).unwrap_or(u32::MAX).max(64)
}

/// A listener of its own on `addr`, when one is configured (by `variable`),
/// with the address it is bound to.
async fn bind_optional(
    addr: Option<SocketAddr>,
    variable: &str,
) -> anyhow::Result<Option<(tokio::net::TcpListener, SocketAddr)>> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} ({variable})"))?;
    let bound = listener.local_addr()?;
    Ok(Some((listener, bound)))
}

/// What instances share, over Redis when it is configured (else held in
/// this process): the event bus, presence, the cursor relay, rate limits.
pub(super) struct Shared {
    pub(super) bus: Arc<dyn EventBus>,
    pub(super) presence: Arc<Presence>,
    pub(super) cursor_relay: Option<Arc<CursorRelay>>,
    pub(super) limiter: Arc<RateLimiter>,
}

impl Shared {
    /// Connects what instances share through `redis`, or keeps it here.
    pub(super) async fn connect(
        config: &Config,
        redis: Option<&redis::Client>,
    ) -> anyhow::Result<Self> {
        let Some(client) = redis else {
            return Ok(Self {
                bus: Arc::new(LocalBus::new(config.event_history, config.sse_buffer)),
                presence: Arc::new(Presence::local()),
                cursor_relay: None,
                limiter: Arc::new(RateLimiter::default()),
            });
        };
        let bus = RedisBus::connect(
            client.clone(),
            &config.redis_prefix,
            config.event_history,
            config.sse_buffer,
        )
        .await?;
        let conn = redis::aio::ConnectionManager::new(client.clone())
            .await
            .context("cannot reach Redis (REDIS_URL)")?;
        let relay = CursorRelay::new(client.clone(), conn.clone(), &config.redis_prefix);
        Ok(Self {
            bus: Arc::new(bus),
            presence: Arc::new(Presence::shared(
                conn.clone(),
                &config.redis_prefix,
                config.presence_ttl,
            )),
            cursor_relay: Some(Arc::new(relay)),
            limiter: Arc::new(RateLimiter::shared(conn, &config.redis_prefix)),
        })
    }
}

/// The LibreTranslate client, when `LIBRETRANSLATE_URL` is set.
pub(super) fn libretranslate(config: &Config) -> anyhow::Result<Option<Arc<LibreTranslate>>> {
    config
        .libretranslate_url
        .clone()
        .map(|url| {
            LibreTranslate::new(LibreTranslateSettings {
                url: url.0,
                api_key: config
                    .libretranslate_api_key
                    .as_ref()
                    .map(|key| key.value.clone()),
                timeout: config.translate_timeout,
                concurrency: 4,
                failure_threshold: config.translate_breaker_threshold,
                open_for: config.translate_breaker_open,
            })
            .map(Arc::new)
        })
        .transpose()
}

/// The session keys of `config` (the previous secret too, while sessions
/// signed with it live), which `revocations` can end.
pub(super) fn session_keys(config: &Config, revocations: &Arc<Revocations>) -> SessionKeys {
    let sessions = SessionKeys::new(
        config.session_secret.value.as_bytes(),
        config.session_ttl,
        config.visitor_ttl,
    )
    .with_revocations(revocations.clone());
    match &config.session_secret_previous {
        Some(previous) => sessions.with_previous(previous.value.as_bytes()),
        None => sessions,
    }
}

/// The shared handles the services are built from.
pub(super) struct Handles<'a> {
    pub(super) store: &'a SharedStore,
    pub(super) campaigns: &'a Arc<CampaignCache>,
    pub(super) bus: &'a Arc<dyn EventBus>,
    pub(super) sessions: &'a Arc<SessionKeys>,
    pub(super) revocations: &'a Arc<Revocations>,
    pub(super) leaderboard_changes: &'a Arc<LeaderboardChanges>,
    pub(super) limiter: &'a Arc<RateLimiter>,
    pub(super) presence: &'a Arc<Presence>,
    pub(super) counters: &'a Arc<Counters>,
    pub(super) tasks: &'a Tasks,
    pub(super) cursors: &'a Arc<crate::cursor::CursorHub>,
}

/// The team's, the forms' and the live events' services, each built from
/// `config` and the handles it needs.
pub(super) fn services(config: &Config, h: &Handles<'_>) -> (Team, Forms, Live) {
    let publisher = Publisher::new(h.bus.clone(), h.counters.clone());
    let team = Team::new(
        config,
        TeamHandles {
            store: h.store.clone(),
            campaigns: h.campaigns.clone(),
            bus: h.bus.clone(),
            sessions: h.sessions.clone(),
            revocations: h.revocations.clone(),
            leaderboard_changes: h.leaderboard_changes.clone(),
            tasks: h.tasks.clone(),
        },
    );
    let forms = Forms::new(
        config,
        FormsHandles {
            store: h.store.clone(),
            campaigns: h.campaigns.clone(),
            sessions: h.sessions.clone(),
            limiter: h.limiter.clone(),
            leaderboard_changes: h.leaderboard_changes.clone(),
            publisher: publisher.clone(),
            team: team.clone(),
        },
    );
    let live = Live::new(
        config,
        LiveHandles {
            store: h.store.clone(),
            campaigns: h.campaigns.clone(),
            presence: h.presence.clone(),
            leaderboard_changes: h.leaderboard_changes.clone(),
            publisher,
            tasks: h.tasks.clone(),
            cursors: h.cursors.clone(),
        },
    );
    (team, forms, live)
}
