//! Cursor load: WebTransport sessions in one room, each moving at a rate.
//!
//! Each uplink carries its send time in `x` (milliseconds since the run
//! started, modulo 65 536) and the session's index in `y`, so an observer that
//! sees a cursor knows how long ago it moved. Observers (the first sessions)
//! read every datagram: latency, size and decodability are checked there.
//! With several servers, session `i` uses server `i mod n`, so an observer
//! tells a cursor moved on its own instance from one relayed from another.
//!
//! Sessions come from many loopback addresses (20 a address, each its own
//! UDP socket, [`crate::target::loopback_source`]), so a server's per-address
//! caps stay on. Only the first `moving` sessions move; the rest are present
//! and idle (a real page: most visitors still). The report says whether the
//! load generator itself kept up — its own CPU, and the share of moves sent
//! on time — since a late or saturated load generator measures itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use futures::StreamExt;
use protocol::{PointerKind, Uplink, VERSION, decode_frame, encode_uplink};
use serde::Serialize;
use tokio::sync::Mutex;
use wtransport::endpoint::endpoint_side::Client;
use wtransport::tls::Sha256Digest;
use wtransport::{ClientConfig, Endpoint};

use crate::stats::{Latencies, Summary};

/// What the sessions of a cursor run do, whichever transport carries them.
#[derive(Debug, Clone)]
pub struct Sessions {
    /// Campaign slug.
    pub campaign: String,
    /// Session tokens, one per session.
    pub tokens: Vec<String>,
    /// Moves per second per session.
    pub hz: u32,
    /// How long to move.
    pub duration: Duration,
    /// Sessions that read and measure.
    pub observers: usize,
    /// Sessions that move (the first ones); the others stay idle.
    pub moving: usize,
}

/// A cursor run over WebTransport.
#[derive(Debug, Clone)]
pub struct CursorLoad {
    /// Servers to spread sessions over (round robin): two for cross-instance.
    pub bases: Vec<String>,
    /// The sessions.
    pub sessions: Sessions,
    /// Send the sessions' QUIC packets here instead of to the servers'
    /// WebTransport address (an [impaired link](crate::impair); one server).
    pub udp_via: Option<std::net::SocketAddr>,
}

/// What a cursor run measured.
#[derive(Debug, Clone, Serialize)]
pub struct CursorReport {
    /// Sessions connected.
    pub sessions: usize,
    /// Sessions that failed to connect.
    pub connect_errors: usize,
    /// Uplinks sent.
    pub moves_sent: u64,
    /// Move → seen latency at the observers, of sessions on the same instance.
    pub latency: Summary,
    /// Move → seen latency of sessions on another instance (several servers).
    pub cross_latency: Option<Summary>,
    /// Datagrams the observers received.
    pub datagrams_received: u64,
    /// Datagrams over 1 200 bytes.
    pub oversized: u64,
    /// Datagrams that did not decode.
    pub decode_errors: u64,
    /// Cursors the observers saw per second.
    pub cursors_seen_per_second: f64,
    /// The share of other sessions' moves the observers saw. Moves can be
    /// lost, or superseded by the same pointer's next move within one tick
    /// (a frame carries a pointer's latest position).
    pub seen_share: f64,
    /// Sessions that moved (the others were present and idle).
    pub moving: usize,
    /// Whether the load generator kept up (see [`Pace`]).
    pub pace: Pace,
}

/// How the load generator itself did: a run where it used most of its core,
/// or sent moves late, measured itself as much as the server.
#[derive(Debug, Clone, Serialize)]
pub struct Pace {
    /// Its own CPU over the moving phase, in cores (pinned to one: at most 1).
    pub cores: f64,
    /// Moves sent within half a period of when they were due.
    pub on_time_ratio: f64,
    /// Whether the run counts as a server figure: under 0.9 core and at
    /// least 99 % of moves on time.
    pub valid: bool,
}

/// Most of its core the load generator may use in a run that counts.
pub const MAX_LOADGEN_CORES: f64 = 0.9;
/// Least share of moves on time in a run that counts.
pub const MIN_ON_TIME: f64 = 0.99;

impl Pace {
    /// The verdict on `cores` and `on_time_ratio`.
    pub fn judge(cores: f64, on_time_ratio: f64) -> Self {
        Self {
            cores,
            on_time_ratio,
            valid: cores <= MAX_LOADGEN_CORES && on_time_ratio >= MIN_ON_TIME,
        }
    }
}

/// The server's WebTransport URL and certificate hashes.
pub(crate) async fn endpoint_info(
    http: &reqwest::Client,
    base: &str,
) -> anyhow::Result<(String, Vec<Sha256Digest>)> {
    let info: serde_json::Value = http
        .get(format!("{base}/api/webtransport"))
        .send()
        .await?
        .json()
        .await?;
    let url = info["url"].as_str().context("no url")?.to_owned();
    let hashes: Vec<Sha256Digest> = info["certificate_hashes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["value"].as_str())
        .filter_map(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .filter_map(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .map(Sha256Digest::new)
        .collect();
    Ok((url, hashes))
}

/// A client endpoint (one UDP socket) on loopback address `source`, trusting `hashes`.
pub(crate) fn client_endpoint(
    source: std::net::IpAddr,
    hashes: &[Sha256Digest],
) -> anyhow::Result<Endpoint<Client>> {
    let bind = ClientConfig::builder().with_bind_address(std::net::SocketAddr::new(source, 0));
    let config = if hashes.is_empty() {
        bind.with_native_certs().build()
    } else {
        bind.with_server_certificate_hashes(hashes.to_vec()).build()
    };
    Ok(Endpoint::client(config)?)
}

/// What a run counted, across its sessions.
#[derive(Default)]
pub(crate) struct Counts {
    pub(crate) moves: AtomicU64,
    pub(crate) late: AtomicU64,
    pub(crate) datagrams: AtomicU64,
    pub(crate) oversized: AtomicU64,
    pub(crate) decode_errors: AtomicU64,
    pub(crate) seen: AtomicU64,
}

impl Counts {
    /// The load generator's pace over a run of `wall` seconds that began
    /// when its process had used `cpu_before` seconds.
    pub(crate) fn pace(&self, cpu_before: f64, wall: f64) -> anyhow::Result<Pace> {
        let own = crate::stats::read_process(std::process::id())?;
        let moves = self.moves.load(Ordering::Relaxed);
        let late = self.late.load(Ordering::Relaxed);
        Ok(Pace::judge(
            (own.cpu_seconds - cpu_before) / wall.max(1e-9),
            if moves == 0 {
                1.0
            } else {
                1.0 - late as f64 / moves as f64
            },
        ))
    }

    /// The report of a run of `sessions` over `wall` seconds.
    pub(crate) fn report(
        &self,
        sessions: usize,
        connect_errors: usize,
        (moving, observers): (usize, usize),
        latencies: (&mut Latencies, Option<&mut Latencies>),
        wall: f64,
        pace: Pace,
    ) -> CursorReport {
        CursorReport {
            sessions,
            connect_errors,
            moves_sent: self.moves.load(Ordering::Relaxed),
            latency: latencies.0.summary(),
            cross_latency: latencies.1.map(Latencies::summary),
            datagrams_received: self.datagrams.load(Ordering::Relaxed),
            oversized: self.oversized.load(Ordering::Relaxed),
            decode_errors: self.decode_errors.load(Ordering::Relaxed),
            cursors_seen_per_second: self.seen.load(Ordering::Relaxed) as f64 / wall,
            seen_share: {
                // Each observer can see the moves of every mover but itself.
                let moves = self.moves.load(Ordering::Relaxed) as f64;
                let (movers, observers) = (moving.min(sessions), observers.min(sessions));
                let own = observers.min(movers) as f64 * moves / movers.max(1) as f64;
                let expected = observers as f64 * moves - own;
                if expected > 0.0 {
                    self.seen.load(Ordering::Relaxed) as f64 / expected
                } else {
                    0.0
                }
            },
            moving: moving.min(sessions),
            pace,
        }
    }
}

/// Moves session `index` every `period` until `deadline`, each uplink
/// carrying its send time (`clock`, run milliseconds) in `x` and the index in
/// `y`, handed to `send` (true when sent); counts moves and late ones.
pub(crate) async fn move_until(
    index: usize,
    period: Duration,
    deadline: Instant,
    counts: &Counts,
    clock: impl Fn() -> u16,
    mut send: impl FnMut(Uplink) -> bool,
) {
    // Spread the sessions' phases over one period, evenly however few
    // there are (a run's sessions all near one phase would all meet the
    // server's tick alike, and runs would differ by where that fell).
    tokio::time::sleep(period.mul_f64((index * 61 % 97) as f64 / 97.0)).await;
    let mut ticker = tokio::time::interval(period);
    let mut seq = 0u32;
    while Instant::now() < deadline {
        let due = ticker.tick().await;
        if due.elapsed() > period / 2 {
            counts.late.fetch_add(1, Ordering::Relaxed);
        }
        seq = seq.wrapping_add(1);
        let uplink = Uplink {
            version: VERSION,
            seq,
            kind: PointerKind::Move,
            x: clock(),
            y: index as u16,
        };
        if send(uplink) {
            counts.moves.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// An observing session: which one it is, of how many servers.
#[derive(Clone, Copy)]
pub(crate) struct Observer {
    /// The session's index (cursors carry it in `y`; its own are skipped).
    pub(crate) index: usize,
    /// Servers the sessions are spread over (session `i` is on `i mod servers`).
    pub(crate) servers: usize,
}

impl Observer {
    /// Records a frame received at `now` (run milliseconds): each other
    /// session's cursor in it, by how long ago it moved, in `local` when it
    /// moved on this session's instance, else in `cross`.
    pub(crate) fn frame(
        self,
        datagram: &[u8],
        now: u16,
        counts: &Counts,
        local: &mut Latencies,
        cross: &mut Latencies,
    ) {
        counts.datagrams.fetch_add(1, Ordering::Relaxed);
        if datagram.len() > 1200 {
            counts.oversized.fetch_add(1, Ordering::Relaxed);
        }
        let Ok(frame) = decode_frame(datagram) else {
            counts.decode_errors.fetch_add(1, Ordering::Relaxed);
            return;
        };
        for cursor in frame
            .cursors
            .iter()
            .filter(|c| usize::from(c.y) != self.index)
        {
            counts.seen.fetch_add(1, Ordering::Relaxed);
            let age = now.wrapping_sub(cursor.x);
            let same = usize::from(cursor.y) % self.servers == self.index % self.servers;
            let bucket = if same { &mut *local } else { &mut *cross };
            if age < 10_000 {
                bucket.record(Duration::from_millis(u64::from(age)));
            }
        }
    }
}

/// Runs the load and reports.
pub async fn run(load: CursorLoad) -> anyhow::Result<CursorReport> {
    let plan = &load.sessions;
    let http = reqwest::Client::new();
    let mut servers_info = Vec::new();
    for base in &load.bases {
        let (mut url, hashes) = endpoint_info(&http, base).await?;
        if let Some(via) = load.udp_via {
            let mut parsed = url::Url::parse(&url)?;
            parsed
                .set_ip_host(via.ip())
                .map_err(|()| anyhow::anyhow!("cannot send to {via}"))?;
            parsed
                .set_port(Some(via.port()))
                .map_err(|()| anyhow::anyhow!("cannot send to {via}"))?;
            url = parsed.as_str().trim_end_matches('/').to_owned();
        }
        servers_info.push((url, hashes));
    }
    // Each session comes from a loopback address of its own group of 20 —
    // its ticket asked from there over HTTP, its QUIC packets sent from
    // there — so the server's per-address caps count it as they would count
    // a visitor: one UDP socket (one client endpoint) per address and server.
    let per = crate::target::CLIENTS_PER_ADDRESS;
    let sources = crate::target::spread_clients(plan.tokens.len())?;
    let mut endpoints = Vec::new();
    for group in 0..plan.tokens.len().div_ceil(per) {
        let source = crate::target::loopback_source(group * per);
        let mut per_server = Vec::new();
        for (_, hashes) in &servers_info {
            per_server.push(client_endpoint(source, hashes)?);
        }
        endpoints.push(per_server);
    }
    let connects = plan.tokens.iter().enumerate().map(|(i, token)| {
        let server = i % load.bases.len();
        let endpoint = &endpoints[i / per][server];
        let url = &servers_info[server].0;
        let base = &load.bases[server];
        let http = &sources[i / per];
        let campaign = &plan.campaign;
        async move {
            let ticket = crate::target::connect_ticket(http, base, campaign, token).await?;
            let target = format!("{url}/{campaign}?page=/&ticket={ticket}");
            endpoint.connect(target).await.map_err(anyhow::Error::from)
        }
    });
    let connections: Vec<_> = futures::stream::iter(connects).buffered(32).collect().await;
    let connect_errors = connections.iter().filter(|c| c.is_err()).count();
    // Each keeps its index: it says which server the session is on.
    let connections: Vec<_> = connections
        .into_iter()
        .enumerate()
        .filter_map(|(i, c)| Some((i, c.ok()?)))
        .collect();
    let servers = load.bases.len();

    let own_before = crate::stats::read_process(std::process::id())?;
    let start = Instant::now();
    let ms = move || (start.elapsed().as_millis() as u64 & 0xFFFF) as u16;
    let counts = Arc::new(Counts::default());
    let latencies = Arc::new(Mutex::new((Latencies::default(), Latencies::default())));
    let deadline = start + plan.duration;
    let period = Duration::from_secs_f64(1.0 / f64::from(plan.hz.max(1)));
    let mut tasks = Vec::new();
    for (index, connection) in connections {
        let counts = counts.clone();
        let latencies = latencies.clone();
        let observer = index < plan.observers;
        let moves = index < plan.moving;
        tasks.push(tokio::spawn(async move {
            let connection = Arc::new(connection);
            let reader = observer.then(|| {
                let connection = connection.clone();
                let counts = counts.clone();
                tokio::spawn(async move {
                    let (mut local, mut cross) = (Latencies::default(), Latencies::default());
                    while let Ok(Ok(datagram)) =
                        tokio::time::timeout_at(deadline.into(), connection.receive_datagram())
                            .await
                    {
                        let seen = Observer { index, servers };
                        seen.frame(&datagram, ms(), &counts, &mut local, &mut cross);
                    }
                    (local, cross)
                })
            });
            if moves {
                move_until(index, period, deadline, &counts, ms, |uplink| {
                    connection.send_datagram(encode_uplink(&uplink)).is_ok()
                })
                .await;
            } else {
                tokio::time::sleep_until(deadline.into()).await;
            }
            if let Some(reader) = reader
                && let Ok((local, cross)) = reader.await
            {
                let mut all = latencies.lock().await;
                all.0.merge(local);
                all.1.merge(cross);
            }
        }));
    }
    let sessions = tasks.len();
    for task in tasks {
        let _ = task.await;
    }
    let wall = start.elapsed().as_secs_f64();
    let pace = counts.pace(own_before.cpu_seconds, wall)?;
    let (mut latencies, mut cross) = std::mem::take(&mut *latencies.lock().await);
    Ok(counts.report(
        sessions,
        connect_errors,
        (plan.moving, plan.observers),
        (&mut latencies, (servers > 1).then_some(&mut cross)),
        wall,
        pace,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_counts_only_when_the_load_generator_kept_up() {
        assert!(Pace::judge(0.5, 1.0).valid);
        assert!(Pace::judge(0.9, 0.99).valid);
        assert!(!Pace::judge(0.95, 1.0).valid, "its core was nearly full");
        assert!(!Pace::judge(0.3, 0.98).valid, "it sent late");
    }
}
