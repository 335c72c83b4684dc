//! The WebTransport endpoint of the cursor channel (UDP, `OVASABI_WT_ADDR`).
//!
//! A browser opens `new WebTransport("https://HOST:PORT/wt/<campaign>?page=/&ticket=…")`
//! with a connect ticket (`POST /api/connect`); a page whose `Origin` is not
//! allowed is refused before the session is accepted.
//! The session is [admitted](crate::admission) before it is accepted; a refused
//! handshake is answered 429 when the address is over its cap and 403 for any
//! other reason (the browser learns which from
//! `GET /api/campaign/{slug}/webtransport`, which runs the same checks). Each
//! datagram from the browser is an uplink; each tick of its room arrives as
//! datagrams.
//!
//! In development the endpoint makes its own ECDSA P-256 certificate, valid for
//! less than the 14 days browsers accept for `serverCertificateHashes`, and
//! replaces it before it expires without a restart; its SHA-256 hash is
//! published by `GET /api/webtransport`. In production it loads a certificate
//! and key from PEM files and publishes no hash.

pub(crate) mod describe;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use wtransport::endpoint::endpoint_side::Server;
use wtransport::{Endpoint, Identity, ServerConfig};

use crate::config::CertificateSource;
use crate::state::AppState;
use describe::PublishedEndpoint;

/// The WebTransport application close code of a session ended by the
/// server's shutdown: reconnect (to another instance).
pub(crate) const GOING_AWAY: u32 = 1;

/// The WebTransport application close code of a session that was ended (its
/// person erased): do not reconnect with it.
pub const SESSION_ENDED: u32 = 2;

/// The running endpoint.
pub struct WebTransportServer {
    endpoint: Endpoint<Server>,
    addr: SocketAddr,
    source: CertificateSource,
    expires: Mutex<std::time::Instant>,
    published: Arc<PublishedEndpoint>,
    /// SHA-256 of the certificate and key files last loaded (`Files` only).
    files_hash: Mutex<Option<String>>,
    /// SHA-256 of the files last found unloadable (warned about once).
    failed_hash: Mutex<Option<String>>,
    /// Tells the accept loop to stop, before [`Self::close`] closes the endpoint.
    stop_accepting: CancellationToken,
    /// Held by the accept loop while it may wait in `accept`: wtransport's
    /// `accept` panics if the endpoint is closed under it, so
    /// [`Self::close`] takes it (the loop has stopped) before closing.
    accepting: tokio::sync::Mutex<()>,
}

/// How often certificate files are looked at for a change.
const CERT_FILES_CHECK: Duration = Duration::from_secs(2);

/// SHA-256 of the certificate and key files' bytes, as they are now.
async fn hash_files(cert: &std::path::Path, key: &std::path::Path) -> std::io::Result<String> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(tokio::fs::read(cert).await?);
    hasher.update(tokio::fs::read(key).await?);
    Ok(B64.encode(hasher.finalize()))
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
        let files_hash = match &source {
            CertificateSource::Files { cert, key } => hash_files(cert, key).await.ok(),
            CertificateSource::Development(_) => None,
        };
        let endpoint = Endpoint::server(server_config(addr, identity))
            .with_context(|| format!("cannot listen on UDP {addr} (OVASABI_WT_ADDR)"))?;
        let addr = endpoint.local_addr()?;
        Ok(Self {
            endpoint,
            addr,
            source,
            expires: Mutex::new(std::time::Instant::now() + lifetime),
            published: Arc::new(PublishedEndpoint::new(addr, hashes)),
            files_hash: Mutex::new(files_hash),
            failed_hash: Mutex::new(None),
            stop_accepting: CancellationToken::new(),
            accepting: tokio::sync::Mutex::new(()),
        })
    }

    /// Loads the certificate files again when they changed since last
    /// loaded (a renewed certificate, a rotated secret); true when it did.
    /// A pair that does not load (say, the key written after the
    /// certificate) leaves the current one serving, and is tried again.
    pub async fn reload_files_if_changed(&self) -> anyhow::Result<bool> {
        let CertificateSource::Files { cert, key } = &self.source else {
            return Ok(false);
        };
        let hash = hash_files(cert, key)
            .await
            .with_context(|| format!("cannot read {} and {}", cert.display(), key.display()))?;
        if self.files_hash.lock().as_deref() == Some(hash.as_str())
            || self.failed_hash.lock().as_deref() == Some(hash.as_str())
        {
            return Ok(false);
        }
        let identity = match Identity::load_pemfiles(cert, key).await {
            Ok(identity) => identity,
            Err(e) => {
                *self.failed_hash.lock() = Some(hash);
                return Err(anyhow::Error::from(e).context(format!(
                    "cannot load {} and {}",
                    cert.display(),
                    key.display()
                )));
            }
        };
        self.endpoint
            .reload_config(server_config(self.addr, identity), false)
            .context("cannot install the new certificate")?;
        *self.files_hash.lock() = Some(hash);
        tracing::info!(cert = %cert.display(), "WebTransport certificate reloaded");
        Ok(true)
    }

    /// The UDP address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where browsers reach it, and the certificate hashes they pin.
    pub fn published(&self) -> Arc<PublishedEndpoint> {
        self.published.clone()
    }

    /// Replaces the development certificate when it is due; true when it did.
    pub fn rotate_if_due(&self) -> anyhow::Result<bool> {
        let CertificateSource::Development(policy) = &self.source else {
            return Ok(false);
        };
        let expires = *self.expires.lock();
        let due =
            expires.saturating_duration_since(std::time::Instant::now()) <= policy.renew_before;
        if !due {
            return Ok(false);
        }
        let identity = development_identity(policy.validity)?;
        let hashes = hashes_of(&identity);
        self.endpoint
            .reload_config(server_config(self.addr, identity), false)
            .context("cannot install the new certificate")?;
        *self.expires.lock() = std::time::Instant::now() + policy.validity;
        self.published.set_certificate_hashes(hashes);
        tracing::info!("development WebTransport certificate renewed");
        Ok(true)
    }

    /// Reloads the certificate files when they change (looked at every
    /// [`CERT_FILES_CHECK`], and at once on SIGHUP), until `shutdown`.
    async fn watch_files(&self, shutdown: tokio_util::sync::CancellationToken) {
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut every = tokio::time::interval(CERT_FILES_CHECK);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let hangup_received = async {
                match hangup.as_mut() {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hangup_received = std::future::pending::<()>();
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = every.tick() => {}
                () = hangup_received => {}
            }
            if let Err(e) = self.reload_files_if_changed().await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "certificate files not reloaded; the current certificate still serves"
                );
            }
        }
    }

    /// Accepts sessions (`webtransport accept`, each one a `cursor session`)
    /// and renews the development certificate (`certificate renewal`), until
    /// shutdown.
    pub fn start(self: Arc<Self>, state: Arc<AppState>) {
        let tasks = state.tasks.clone();
        if let CertificateSource::Development(policy) = self.source {
            let server = self.clone();
            tasks.periodic("certificate renewal", policy.check_every, None, move || {
                let renewed = server.rotate_if_due();
                async move {
                    if let Err(e) = renewed {
                        tracing::error!(error = format!("{e:#}"), "certificate renewal failed");
                    }
                }
            });
        }
        if let CertificateSource::Files { .. } = self.source {
            let server = self.clone();
            let shutdown = tasks.shutdown().clone();
            tasks.spawn("certificate reload", async move {
                server.watch_files(shutdown).await;
            });
        }
        let shutdown = tasks.shutdown().clone();
        tasks.clone().spawn("webtransport accept", async move {
            let accepting = self.accepting.lock().await;
            loop {
                let incoming = tokio::select! {
                    biased;
                    () = shutdown.cancelled() => break,
                    () = self.stop_accepting.cancelled() => break,
                    incoming = self.endpoint.accept() => incoming,
                };
                let remote = incoming.remote_address();
                // Counted before the handshake: a peer cannot hold more than
                // its share of connections by never asking for a session.
                let slots = match state.admit_connection(remote.ip()) {
                    Ok(slots) => slots,
                    Err(_) => {
                        state.counters.quic_connections_refused.inc();
                        incoming.refuse();
                        continue;
                    }
                };
                let span = tracing::debug_span!("webtransport", %remote);
                tasks.spawn(
                    "cursor session",
                    session::serve(state.clone(), incoming, shutdown.clone(), slots)
                        .instrument(span),
                );
            }
            self.endpoint.close(0u32.into(), b"shutting down");
            drop(accepting);
        });
    }

    /// Closes every session and waits (at most `grace`) until browsers were told,
    /// so that they reconnect at once instead of waiting for a timeout.
    pub async fn close(&self, grace: Duration) {
        self.stop_accepting.cancel();
        let _stopped = self.accepting.lock().await;
        self.endpoint.close(0u32.into(), b"shutting down");
        let _ = tokio::time::timeout(grace, self.endpoint.wait_idle()).await;
    }
}
