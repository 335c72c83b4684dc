//! The soak's cursor sessions: visitors moving their pointer over
//! WebTransport the whole run, reconnecting to the next instance (a fresh
//! ticket and the instance's current certificate) when their session ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use protocol::{PointerKind, Uplink, VERSION, encode_uplink};
use serde_json::json;
use tokio::sync::watch;

use crate::cursors::{client_endpoint, endpoint_info};
use crate::target::{connect_ticket, loopback_source};

/// What the cursor sessions did.
#[derive(Default)]
pub struct CursorCounts {
    /// Sessions opened (the first of each included).
    pub connects: AtomicU64,
    /// Attempts to open one that failed.
    pub connect_failures: AtomicU64,
    /// Moves sent.
    pub moves: AtomicU64,
    /// Frames received.
    pub frames: AtomicU64,
    /// Sessions open now.
    pub open: AtomicU64,
}

/// Where the sessions connect.
#[derive(Clone)]
pub struct CursorLoad {
    /// The instances' HTTP bases.
    pub bases: Arc<Vec<String>>,
    /// The campaign.
    pub campaign: String,
    /// Sessions.
    pub sessions: usize,
    /// Their first client index (their loopback addresses follow on from
    /// the streams').
    pub first_client: usize,
    /// Moves a second of each.
    pub hz: u32,
}

/// Starts the sessions; they run until `stop`.
pub fn start(
    load: CursorLoad,
    counts: Arc<CursorCounts>,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let clients = crate::target::spread_clients(load.first_client + load.sessions)?;
    for i in 0..load.sessions {
        let index = load.first_client + i;
        let http = clients[index / crate::target::CLIENTS_PER_ADDRESS].clone();
        tokio::spawn(session(i, load.clone(), http, counts.clone(), stop.clone()));
    }
    Ok(())
}

/// One visitor's sessions over the run.
async fn session(
    i: usize,
    load: CursorLoad,
    http: reqwest::Client,
    counts: Arc<CursorCounts>,
    mut stop: watch::Receiver<bool>,
) {
    let source = loopback_source(load.first_client + i);
    let mut token = None;
    let mut server = i;
    while !*stop.borrow() {
        let base = &load.bases[server % load.bases.len()];
        server += 1;
        let opened = async {
            if token.is_none() {
                let reply: serde_json::Value = http
                    .post(format!("{base}/api/session"))
                    .json(&json!({"campaign": load.campaign}))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                token = reply["token"].as_str().map(str::to_owned);
            }
            let token = token.as_deref().unwrap_or_default();
            let ticket = connect_ticket(&http, base, &load.campaign, token).await?;
            let (url, hashes) = endpoint_info(&http, base).await?;
            let endpoint = client_endpoint(source, &hashes)?;
            let target = format!("{url}/{}?page=/&ticket={ticket}", load.campaign);
            anyhow::Ok(endpoint.connect(target).await?)
        };
        let connection = tokio::select! {
            c = opened => c,
            () = super::stopped(&mut stop) => return,
        };
        let Ok(connection) = connection else {
            counts.connect_failures.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        };
        counts.connects.fetch_add(1, Ordering::Relaxed);
        counts.open.fetch_add(1, Ordering::Relaxed);
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(load.hz)));
        let mut seq = 0u32;
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    seq = seq.wrapping_add(1);
                    let uplink = Uplink {
                        version: VERSION,
                        seq,
                        kind: PointerKind::Move,
                        x: (seq % 1000) as u16,
                        y: i as u16,
                    };
                    if connection.send_datagram(encode_uplink(&uplink)).is_err() {
                        break;
                    }
                    counts.moves.fetch_add(1, Ordering::Relaxed);
                }
                datagram = connection.receive_datagram() => {
                    if datagram.is_err() {
                        break;
                    }
                    counts.frames.fetch_add(1, Ordering::Relaxed);
                }
                () = super::stopped(&mut stop) => {
                    counts.open.fetch_sub(1, Ordering::Relaxed);
                    return;
                }
            }
        }
        counts.open.fetch_sub(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
