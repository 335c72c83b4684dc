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

pub mod describe;

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use wtransport::endpoint::IncomingSession;
use wtransport::endpoint::endpoint_side::Server;
use wtransport::{Endpoint, Identity, ServerConfig};

use crate::admission::{
    AdmissionRequest, Channel, Credential, RequestOrigin, admit, handshake_status, member_identity,
    protocol_version,
};
use crate::config::CertificateSource;
use crate::cursor::{RoomKey, RoomSettings};
use crate::state::AppState;
use describe::PublishedEndpoint;

/// The WebTransport application close code of a session ended by the
/// server's shutdown: reconnect (to another instance).
pub const GOING_AWAY: u32 = 1;

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
                    serve_session(state.clone(), incoming, shutdown.clone(), slots)
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

/// How long opening the roster stream, or a roster write, may wait for the
/// client: a client that does not take or read its roster stream is not served.
const ROSTER_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Writes roster messages on the session's roster stream, each after its
/// length ([`protocol::write_length`]).
async fn write_roster(
    stream: &mut wtransport::SendStream,
    messages: &[bytes::Bytes],
) -> anyhow::Result<()> {
    let mut out = Vec::with_capacity(messages.iter().map(|m| m.len() + 3).sum());
    for message in messages {
        protocol::write_length(&mut out, message.len());
        out.extend_from_slice(message);
    }
    tokio::time::timeout(ROSTER_WRITE_TIMEOUT, stream.write_all(&out))
        .await
        .context("the client does not read its roster stream")??;
    Ok(())
}

/// A session's datagrams, queued by its room's tick task.
struct SessionSink(Arc<wtransport::Connection>);

impl crate::cursor::DatagramSink for SessionSink {
    fn send(&self, datagram: bytes::Bytes) {
        // A full or closed send queue loses this tick only.
        let _ = self.0.send_datagram(datagram);
    }
}

/// One browser session: logs how it ended.
async fn serve_session(
    state: Arc<AppState>,
    incoming: IncomingSession,
    shutdown: CancellationToken,
    _slots: Vec<crate::limit::ConnectionSlot>,
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
    // The QUIC handshake and the session request, within the deadline: a
    // client that connects and says nothing is dropped, not kept.
    let deadline = state.config.handshake_timeout;
    let request = match tokio::time::timeout(deadline, incoming).await {
        Ok(request) => request?,
        Err(_) => {
            state.counters.quic_connections_refused.inc();
            anyhow::bail!("no session request within {deadline:?}");
        }
    };
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
    // Only a ticket: a long-lived session token never travels in a URL.
    let ticket = query("ticket");
    let credential = ticket
        .as_deref()
        .map_or(Credential::None, Credential::Ticket);
    // UDP through a balancer comes from the balancer: then the address the
    // ticket recorded over HTTP is the client's.
    let client = state.config.wt_udp_direct.then(|| {
        crate::client::client_address(
            Some(request.remote_address().ip()),
            &Default::default(),
            crate::client::ProxyTrust::NONE,
        )
    });
    let origin = request.origin().map(str::to_owned);
    let admitted = admit(
        &state,
        Channel::CursorSession,
        AdmissionRequest {
            slug: &slug,
            credential,
            admin: false,
            client: client.flatten(),
            bind_ticket: false,
            origin: RequestOrigin {
                origin: origin.as_deref(),
                // A page is never served from the WebTransport endpoint.
                same_origin: false,
            },
        },
    )
    .await;
    let admission = match admitted {
        Ok(admission) => admission,
        Err(refusal) => {
            let status = handshake_status(&refusal);
            let refused = if status == 429 {
                request.too_many_requests().await;
                &state.counters.webtransport_refused_429
            } else {
                request.forbidden().await;
                &state.counters.webtransport_refused_403
            };
            refused.inc();
            anyhow::bail!("refused ({status}): {refusal}");
        }
    };
    let (campaign, _slot) = (admission.campaign, admission.slot);
    let session = admission
        .session
        .context("a cursor session is admitted with a session")?;
    let key = RoomKey::new(&campaign.slug, query("page").as_deref());
    let version = protocol_version(query("v").as_deref());
    let identity = member_identity(&state, &campaign, Some(&session)).await;
    let connection = Arc::new(request.accept().await?);
    let _open = crate::telemetry::Gauge::hold(&state.counters.webtransport_open);
    let _presence = state.presence.join(&campaign.slug, session.sub);
    let mut member = state
        .cursors
        .join(key, RoomSettings::from(&campaign), session.sub, identity);
    tracing::debug!(campaign = %campaign.slug, member = member.id(), version, "cursor session open");
    // Each tick's frame is queued by the room's task, not this one's. Before
    // the roster snapshot below, so that no roster tick falls between it
    // and the ones this task then waits for.
    member.send_to(Arc::new(SessionSink(connection.clone())));
    // Version 2: who is in the room, reliably, on a stream of the server's.
    let mut roster = if version >= 2 {
        // A client that takes no stream of ours is not served (not waited for).
        let opening = async { anyhow::Ok(connection.open_uni().await?.await?) };
        let mut stream = tokio::time::timeout(ROSTER_WRITE_TIMEOUT, opening)
            .await
            .context("the client takes no roster stream")??;
        write_roster(&mut stream, &member.roster_snapshot()).await?;
        Some(stream)
    } else {
        None
    };
    for datagram in member.snapshot() {
        connection.send_datagram(datagram)?;
    }
    let mut revocations = state.revocations.changed();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                connection.close(GOING_AWAY.into(), b"server shutting down");
                return Ok(());
            }
            changed = revocations.changed() => {
                if changed.is_err() || state.revocations.session_ended(session.sub) {
                    connection.close(SESSION_ENDED.into(), b"session ended");
                    return Ok(());
                }
            }
            received = connection.receive_datagram() => {
                member.uplink(&received?);
            }
            // Only the ticks with a roster wake this task (their
            // datagrams went to the sink).
            frames = member.next() => match frames {
                Ok(Some(frames)) => {
                    if let Some(stream) = &mut roster
                        && !frames.roster.is_empty()
                    {
                        write_roster(stream, &frames.roster).await?;
                    }
                }
                Ok(None) => {
                    tracing::debug!("cursor session lagged; skipped ahead");
                    // Rosters may have been skipped too: a whole one, which
                    // replaces what the client knew.
                    if let Some(stream) = &mut roster {
                        write_roster(stream, &member.roster_snapshot()).await?;
                    }
                }
                Err(_) => return Ok(()),
            },
        }
    }
}
