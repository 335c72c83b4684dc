//! The application: builds its state and listeners from a [`Config`], reports the
//! addresses it really bound, and runs until a shutdown signal.

mod parts;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use salvo::conn::tcp::TcpAcceptor;
use salvo::prelude::*;
use tokio_util::sync::CancellationToken;

use tokio::sync::Notify;

use crate::bus::EventBus;
use crate::campaign::cache::CampaignCache;
use crate::campaign::changes::LeaderboardChanges;
use crate::config::Config;
use crate::cursor::CursorHub;
use crate::cursor::fallback::FallbackMembers;
use crate::limit::{ConnectionLimiter, RateLimiter};
use crate::mail::{MailSettings, MailWorker};
use crate::outbox::{OutboxWorker, WebhookSettings};
use crate::revocation::Revocations;
use crate::state::AppState;
use crate::store::{self};
use crate::tasks::Tasks;
use crate::telemetry::metrics::{self, Counters, Registered};
use crate::translate::{LibreTranslate, Translator};
use crate::transport::webtransport::WebTransportServer;
use crate::{campaign, http};
use parts::{
    Handles, Listeners, Shared, derived_max_connections, libretranslate, services, session_keys,
};

/// A built application, listening but not yet serving.
pub struct App {
    state: Arc<AppState>,
    webtransport: Arc<WebTransportServer>,
    http_listener: tokio::net::TcpListener,
    http_addr: SocketAddr,
    metrics_listener: Option<(tokio::net::TcpListener, SocketAddr)>,
    grpc_listener: Option<(tokio::net::TcpListener, SocketAddr)>,
}

impl App {
    /// Connects the database (running migrations), applies the campaign files and
    /// binds the listeners.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let tasks = Tasks::new();
        let outbox_wake = Arc::new(Notify::new());
        let store = store::connect(
            config.database_url.as_str(),
            config.db_max_connections,
            &tasks,
            outbox_wake.clone(),
            store::Migrations::applied_if(config.migrate),
        )
        .await
        .context("cannot open the database (DATABASE_URL)")?;
        if let Some(dir) = &config.campaigns_dir {
            campaign::files::apply_dir(store.as_ref(), dir, config.webhook_policy(), false)
                .await
                .context("cannot apply the campaign files")?;
        }
        let redis = config
            .redis_url
            .as_ref()
            .map(|url| redis::Client::open(url.as_str()))
            .transpose()
            .context("REDIS_URL")?;
        let Shared {
            bus,
            presence,
            cursor_relay,
            limiter,
        } = Shared::connect(&config, redis.as_ref()).await?;
        let listeners = Listeners::bind(&config).await?;
        let machine = libretranslate(&config)?;
        let max_connections = match config.max_connections {
            0 => derived_max_connections(),
            set => set,
        };
        tracing::info!(max_connections, "connection cap");
        let counters = Arc::new(Counters::default());
        let translator = Arc::new(Translator::new(
            store.clone(),
            machine,
            config.translate_timeout,
            counters.clone(),
        ));
        let revocations = Revocations::new();
        let sessions = Arc::new(session_keys(&config, &revocations));
        let campaigns = Arc::new(CampaignCache::default());
        let leaderboard_changes = Arc::new(LeaderboardChanges::default());
        let cursors = Arc::new(CursorHub::new(tasks.clone(), cursor_relay));
        let (team, forms, live) = services(
            &config,
            &Handles {
                store: &store,
                campaigns: &campaigns,
                bus: &bus,
                sessions: &sessions,
                revocations: &revocations,
                leaderboard_changes: &leaderboard_changes,
                limiter: &limiter,
                presence: &presence,
                counters: &counters,
                tasks: &tasks,
                cursors: &cursors,
            },
        );
        let metrics = registry(&counters, &cursors, &limiter, bus.as_ref());
        Ok(Self {
            state: Arc::new(AppState {
                config,
                store,
                redis,
                bus,
                presence,
                sessions,
                revocations,
                limiter,
                streams: ConnectionLimiter::default(),
                cursor_sessions: ConnectionLimiter::default(),
                follows: ConnectionLimiter::default(),
                connections: ConnectionLimiter::default(),
                max_connections,
                cursors,
                cursor_fallback: FallbackMembers::default(),
                translator,
                counters,
                metrics,
                campaigns,
                leaderboard_changes,
                team,
                forms,
                live,
                tasks,
                outbox_wake,
            }),
            webtransport: listeners.webtransport,
            http_listener: listeners.http,
            http_addr: listeners.http_addr,
            metrics_listener: listeners.metrics,
            grpc_listener: listeners.grpc,
        })
    }

    /// The address the HTTP listener is bound to (the real port when 0 was asked).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The address of the separate metrics listener (`OVASABI_METRICS_ADDR`), if any.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().map(|(_, addr)| *addr)
    }

    /// The address of the back-office gRPC listener (`OVASABI_GRPC_ADDR`), if any.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_listener.as_ref().map(|(_, addr)| *addr)
    }

    /// The UDP address of the WebTransport endpoint (the real port when 0 was asked).
    pub fn webtransport_addr(&self) -> SocketAddr {
        self.webtransport.local_addr()
    }

    /// The WebTransport endpoint.
    pub fn webtransport(&self) -> Arc<WebTransportServer> {
        self.webtransport.clone()
    }

    /// The shared state.
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// The outbox delivery worker of this app (started by [`App::run`] unless
    /// `outbox_worker` is off).
    pub fn outbox_worker(&self) -> anyhow::Result<OutboxWorker> {
        let config = &self.state.config;
        OutboxWorker::new(
            self.state.store.clone(),
            self.state.bus.clone(),
            WebhookSettings {
                default_url: config.webhook_url.as_ref().map(|url| url.0.clone()),
                secret: config.webhook_secret.value.clone(),
                policy: config.webhook_policy(),
                max_attempts: config.webhook_max_attempts,
                backoff_base: config.webhook_backoff,
                backoff_cap: std::time::Duration::from_secs(3600),
                timeout: config.webhook_timeout,
            },
            self.state.outbox_wake.clone(),
            self.state.counters.clone(),
        )
    }

    /// The mail worker of this app (started by [`App::run`] unless
    /// `outbox_worker` is off; without an SMTP server it sends nothing).
    pub fn mail_worker(&self) -> anyhow::Result<MailWorker> {
        let state = &self.state;
        Ok(MailWorker::new(
            state.store.clone(),
            state.campaigns.clone(),
            state.translator.clone(),
            state.sessions.clone(),
            state.bus.clone(),
            Arc::new(MailSettings::from_config(&state.config)?),
            state.counters.clone(),
        ))
    }

    /// Serves until `shutdown` is cancelled, then gives open connections the
    /// configured grace period, and returns once every background task ended
    /// (or the grace period ran out again: the stragglers are logged).
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let state = self.state.clone();
        let tasks = state.tasks.clone();
        if state.config.outbox_worker {
            self.outbox_worker()?.start(&tasks);
            self.mail_worker()?.start(&tasks);
        }
        state.bus.clone().start(&tasks);
        state.presence.clone().start(&tasks);
        state.team.start_revocations();
        state.cursors.start();
        state.live.start();
        if let Some((listener, addr)) = self.grpc_listener {
            tracing::info!(%addr, "serving the back-office gRPC API");
            crate::grpc::start(&state, listener)?;
        } else {
            crate::grpc::feed::start_numbering(&state);
        }
        start_periodic(&state);
        self.webtransport.clone().start(state.clone());
        let acceptor = crate::transport::sse::lean::LeanAcceptor::new(
            TcpAcceptor::try_from(self.http_listener)?,
            state.clone(),
        );
        // Salvo's fuse: the header timeout it keeps by default, plus: no
        // connection idles (nothing read, nothing written) or stalls on a
        // client that stopped reading past OVASABI_IDLE_TIMEOUT_SECS.
        let idle = state.config.idle_timeout;
        let server = Server::new(acceptor).fuse_config(
            salvo::fuse::FuseConfig::default()
                .with_connection_idle_timeout(idle)
                .with_write_stall_timeout(idle),
        );
        let handle = server.handle();
        let grace = state.config.shutdown_timeout;
        let drain = state.config.shutdown_drain;
        let app_shutdown = tasks.shutdown().clone();
        let draining = tasks.draining().clone();
        tasks.spawn("shutdown signal", async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = app_shutdown.cancelled() => {}
            }
            // Not ready any more, still serving: the balancer stops sending.
            draining.cancel();
            if !drain.is_zero() {
                tracing::info!(?drain, "draining: /readyz answers 503");
                tokio::select! {
                    () = tokio::time::sleep(drain) => {}
                    () = app_shutdown.cancelled() => {}
                }
            }
            tracing::info!(?grace, "shutting down");
            // Streams and workers end first, so that open connections can finish.
            app_shutdown.cancel();
            handle.stop_graceful(grace);
        });
        if let Some((listener, addr)) = self.metrics_listener {
            let service = http::metrics::admin_service(state.clone());
            let stop = tasks.drained().clone();
            tracing::info!(%addr, "serving metrics");
            tasks.spawn("metrics listener", async move {
                let acceptor = match TcpAcceptor::try_from(listener) {
                    Ok(acceptor) => acceptor,
                    Err(e) => {
                        tracing::warn!(error = %e, "metrics listener not started");
                        return;
                    }
                };
                let server = Server::new(acceptor);
                tokio::select! {
                    () = server.serve(service) => {}
                    () = stop.cancelled() => {}
                }
            });
        }
        tracing::info!(addr = %self.http_addr, "serving HTTP");
        tracing::info!(addr = %self.webtransport.local_addr(), "serving WebTransport (UDP)");
        server
            .serve(http::service(state.clone(), self.webtransport.published()))
            .await;
        self.webtransport.close(Duration::from_secs(1)).await;
        if tasks.stop(grace).await {
            tracing::info!("stopped");
        }
        Ok(())
    }
}

/// Raises this process's open-file limit to its hard limit (each connection
/// is a descriptor); returns the limit now in force.
pub fn raise_open_file_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(0, |(soft, _)| soft)
        }
    }
}

/// How often old outbox entries and surplus machine translations are removed.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// How often rate-limit buckets that are full again are forgotten.
const RATE_LIMIT_SWEEP: Duration = Duration::from_secs(10);

/// How often the languages LibreTranslate offers are asked for again.
const LANGUAGES_REFRESH: Duration = Duration::from_secs(600);

/// Learns which languages LibreTranslate offers.
async fn refresh_languages(machine: Arc<LibreTranslate>) {
    match machine.refresh_languages().await {
        Ok(count) => tracing::info!(count, "LibreTranslate languages refreshed"),
        Err(e) => tracing::warn!(error = %e, "cannot list LibreTranslate languages"),
    }
}

/// Starts the periodic work: LibreTranslate's languages (when it is
/// configured), retention, and the rate limits' sweep.
fn start_periodic(state: &Arc<AppState>) {
    let tasks = &state.tasks;
    if let Some(machine) = state.translator.machine().cloned() {
        tasks.periodic(
            "libretranslate languages",
            LANGUAGES_REFRESH,
            None,
            move || refresh_languages(machine.clone()),
        );
    }
    let pruning = state.clone();
    tasks.periodic("retention", RETENTION_EVERY, None, move || {
        let state = pruning.clone();
        async move { crate::retention::step(&state).await }
    });
    let limits = state.clone();
    tasks.periodic("rate limit sweep", RATE_LIMIT_SWEEP, None, move || {
        limits.limiter.sweep();
        std::future::ready(())
    });
}

/// Every metric of this instance, in one registry (`GET /metrics`).
fn registry(
    counters: &Counters,
    cursors: &CursorHub,
    limiter: &RateLimiter,
    bus: &dyn EventBus,
) -> prometheus::Registry {
    let metrics = prometheus::Registry::new();
    counters.register(&metrics);
    cursors.counters.register(&metrics);
    limiter.register(&metrics);
    metrics::register(&metrics, bus.delivery_lag().clone());
    metrics::register_process(&metrics);
    metrics
}
