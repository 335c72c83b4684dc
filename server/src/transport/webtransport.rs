//! The WebTransport endpoint of the cursor channel (UDP, `OVASABI_WT_ADDR`).
//!
//! A browser opens `new WebTransport("https://HOST:PORT/wt/<campaign>?page=/&token=…")`.
//! The session token is checked before the session is accepted. Each datagram
//! from the browser is an uplink; each tick of its room arrives as datagrams.
//!
//! In development the endpoint makes its own ECDSA P-256 certificate, valid for
//! less than the 14 days browsers accept for `serverCertificateHashes`, and
//! replaces it before it expires without a restart; its SHA-256 hash is
//! published by `GET /api/webtransport`. In production it loads a certificate
//! and key from PEM files and publishes no hash.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use wtransport::endpoint::IncomingSession;
use wtransport::endpoint::endpoint_side::Server;
use wtransport::{Endpoint, Identity, ServerConfig};

use super::normalize_page;
use crate::app::AppState;
use crate::campaign::CampaignStatus;
use crate::cursor::{RoomKey, RoomSettings};

/// How the development certificate is kept fresh.
#[derive(Debug, Clone, Copy)]
pub struct DevCertificatePolicy {
    /// Validity of each certificate (browsers accept at most 14 days).
    pub validity: Duration,
    /// Replace a certificate this long before it expires.
    pub renew_before: Duration,
    /// How often to check.
    pub check_every: Duration,
}

impl Default for DevCertificatePolicy {
    fn default() -> Self {
        Self {
            validity: Duration::from_secs(13 * 24 * 3600),
            renew_before: Duration::from_secs(2 * 24 * 3600),
            check_every: Duration::from_secs(3600),
        }
    }
}

/// Where the endpoint's certificate comes from.
#[derive(Debug, Clone)]
pub enum CertificateSource {
    /// Self-signed, rotated by this policy.
    Development(DevCertificatePolicy),
    /// PEM files (certificate chain, private key).
    Files {
        /// Certificate chain.
        cert: std::path::PathBuf,
        /// Private key.
        key: std::path::PathBuf,
    },
}

struct Current {
    hashes: Vec<String>,
    expires: std::time::Instant,
}

/// The running endpoint.
pub struct WebTransportServer {
    endpoint: Endpoint<Server>,
    addr: SocketAddr,
    source: CertificateSource,
    current: RwLock<Current>,
}

/// Outgoing datagram bytes a session may queue (quinn's default is 1 MiB).
/// Frames wait here only while the visitor's connection is congested, and a
/// cursor frame a few ticks old is worth less than nothing: past this, the
/// oldest are dropped. Sixteen KiB is at least a dozen full frames.
const DATAGRAM_SEND_BUFFER: usize = 16 * 1024;
/// Incoming datagram bytes a session may queue before the room reads them
/// (uplinks are a dozen bytes; quinn's default is 1.25 MB).
const DATAGRAM_RECEIVE_BUFFER: usize = 64 * 1024;

fn server_config(addr: SocketAddr, identity: Identity) -> ServerConfig {
    let mut config = ServerConfig::builder()
        .with_bind_address(addr)
        .with_identity(identity)
        .keep_alive_interval(Some(Duration::from_secs(3)))
        .max_idle_timeout(Some(Duration::from_secs(15)))
        .expect("15 s is a valid idle timeout")
        .build();
    match Arc::get_mut(&mut config.quic_config_mut().transport) {
        Some(transport) => {
            transport
                .datagram_send_buffer_size(DATAGRAM_SEND_BUFFER)
                .datagram_receive_buffer_size(Some(DATAGRAM_RECEIVE_BUFFER));
        }
        None => {
            tracing::warn!("QUIC transport settings are shared: datagram buffers left as they are")
        }
    }
    config
}

fn development_identity(validity: Duration) -> anyhow::Result<Identity> {
    let days = u32::try_from(validity.as_secs().div_ceil(24 * 3600))
        .unwrap_or(13)
        .clamp(1, 14);
    Identity::self_signed_builder()
        .subject_alt_names(["localhost", "127.0.0.1", "::1"])
        .from_now_utc()
        .validity_days(days)
        .build()
        .context("cannot make the development certificate")
}

fn hashes_of(identity: &Identity) -> Vec<String> {
    identity
        .certificate_chain()
        .as_slice()
        .first()
        .map(|cert| B64.encode(cert.hash().as_ref()))
        .into_iter()
        .collect()
}

impl WebTransportServer {
    /// Binds the endpoint on `addr` with a certificate from `source`.
    pub async fn bind(addr: SocketAddr, source: CertificateSource) -> anyhow::Result<Self> {
        let (identity, hashes, lifetime) = match &source {
            CertificateSource::Development(policy) => {
                let identity = development_identity(policy.validity)?;
                let hashes = hashes_of(&identity);
                (identity, hashes, policy.validity)
            }
            CertificateSource::Files { cert, key } => {
                let identity = Identity::load_pemfiles(cert, key).await.with_context(|| {
                    format!("cannot load {} and {}", cert.display(), key.display())
                })?;
                (identity, Vec::new(), Duration::MAX / 4)
            }
        };
        let endpoint = Endpoint::server(server_config(addr, identity))
            .with_context(|| format!("cannot listen on UDP {addr} (OVASABI_WT_ADDR)"))?;
        let addr = endpoint.local_addr()?;
        Ok(Self {
            endpoint,
            addr,
            source,
            current: RwLock::new(Current {
                hashes,
                expires: std::time::Instant::now() + lifetime,
            }),
        })
    }

    /// The UDP address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base64 SHA-256 hashes of the development certificate (none in production).
    pub fn certificate_hashes(&self) -> Vec<String> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .hashes
            .clone()
    }

    /// Replaces the development certificate when it is due; true when it did.
    pub fn rotate_if_due(&self) -> anyhow::Result<bool> {
        let CertificateSource::Development(policy) = &self.source else {
            return Ok(false);
        };
        let due = {
            let current = self.current.read().unwrap_or_else(|p| p.into_inner());
            current
                .expires
                .saturating_duration_since(std::time::Instant::now())
                <= policy.renew_before
        };
        if !due {
            return Ok(false);
        }
        let identity = development_identity(policy.validity)?;
        let hashes = hashes_of(&identity);
        self.endpoint
            .reload_config(server_config(self.addr, identity), false)
            .context("cannot install the new certificate")?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Current {
            hashes,
            expires: std::time::Instant::now() + policy.validity,
        };
        tracing::info!("development WebTransport certificate renewed");
        Ok(true)
    }

    /// Accepts sessions (and renews the development certificate) until `shutdown`.
    pub fn start(self: Arc<Self>, state: Arc<AppState>, shutdown: CancellationToken) {
        if let CertificateSource::Development(policy) = self.source {
            let server = self.clone();
            let stop = shutdown.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(policy.check_every) => {}
                    }
                    if let Err(e) = server.rotate_if_due() {
                        tracing::error!(error = format!("{e:#}"), "certificate renewal failed");
                    }
                }
            });
        }
        tokio::spawn(async move {
            loop {
                let incoming = tokio::select! {
                    () = shutdown.cancelled() => break,
                    incoming = self.endpoint.accept() => incoming,
                };
                let span =
                    tracing::debug_span!("webtransport", remote = %incoming.remote_address());
                tokio::spawn(
                    serve_session(state.clone(), incoming, shutdown.clone()).instrument(span),
                );
            }
            self.endpoint.close(0u32.into(), b"shutting down");
        });
    }

    /// Closes every session and waits (at most `grace`) until browsers were told,
    /// so that they reconnect at once instead of waiting for a timeout.
    pub async fn close(&self, grace: Duration) {
        self.endpoint.close(0u32.into(), b"shutting down");
        let _ = tokio::time::timeout(grace, self.endpoint.wait_idle()).await;
    }
}

/// One browser session: logs how it ended.
async fn serve_session(
    state: Arc<AppState>,
    incoming: IncomingSession,
    shutdown: CancellationToken,
) {
    match serve_session_impl(state, incoming, shutdown).await {
        Ok(()) => tracing::debug!("session ended"),
        Err(e) => tracing::debug!(error = format!("{e:#}"), "session ended with an error"),
    }
}

async fn serve_session_impl(
    state: Arc<AppState>,
    incoming: IncomingSession,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let request = incoming.await?;
    let url = url::Url::parse(&format!("https://edge{}", request.path()))?;
    let mut segments = url.path_segments().into_iter().flatten();
    let slug = match (segments.next(), segments.next(), segments.next()) {
        (Some("wt"), Some(slug), None) => slug.to_owned(),
        _ => {
            request.not_found().await;
            anyhow::bail!("unknown path {}", url.path());
        }
    };
    let query = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let campaign = state.campaigns.by_slug(state.store.as_ref(), &slug).await?;
    let Some(campaign) =
        campaign.filter(|c| c.status != CampaignStatus::Draft && c.config.cursor.enabled)
    else {
        request.not_found().await;
        anyhow::bail!("no cursor channel for {slug:?}");
    };
    let claims = query("token").and_then(|t| state.sessions.verify(&t, chrono::Utc::now()).ok());
    let Some(claims) = claims.filter(|c| c.cid == campaign.id) else {
        request.forbidden().await;
        anyhow::bail!("missing or invalid session token");
    };
    let ip = request.remote_address().ip().to_string();
    let Some(_slot) = state
        .cursor_sessions
        .acquire(&ip, campaign.config.cursor.sessions_per_ip)
    else {
        request.too_many_requests().await;
        anyhow::bail!("too many cursor sessions from {ip}");
    };
    let key = RoomKey {
        campaign: campaign.slug.clone(),
        page: normalize_page(query("page").as_deref()),
    };
    let connection = request.accept().await?;
    let _open = crate::telemetry::Gauge::hold(state.clone(), |c| &c.webtransport_open);
    let _presence = state.presence.join(&campaign.slug, claims.sub);
    let mut member = state
        .cursors
        .join(key, room_settings(&campaign), claims.sub);
    tracing::debug!(campaign = %campaign.slug, member = member.id(), "cursor session open");
    for datagram in member.snapshot() {
        connection.send_datagram(datagram)?;
    }
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                connection.close(0u32.into(), b"server shutting down");
                return Ok(());
            }
            received = connection.receive_datagram() => {
                member.uplink(&received?);
            }
            frames = member.next() => match frames {
                Ok(Some(frames)) => {
                    for datagram in &frames.datagrams {
                        // A full or closed send queue loses this tick only.
                        let _ = connection.send_datagram(datagram.clone());
                    }
                }
                Ok(None) => tracing::debug!("cursor session lagged; skipped ahead"),
                Err(_) => return Ok(()),
            },
        }
    }
}

/// A room's settings from its campaign.
pub fn room_settings(campaign: &crate::campaign::Campaign) -> RoomSettings {
    RoomSettings {
        tick: Duration::from_secs_f64(1.0 / f64::from(campaign.config.cursor.tick_hz.max(1))),
        interest_cap: campaign.config.cursor.interest_cap as usize,
        uplinks_per_second: campaign.config.rate_limits.cursor_per_second,
    }
}
