//! Cursors on a lossy link: the same sessions, moves and observers over
//! WebTransport datagrams (through an impaired [UDP proxy](impair::udp_proxy))
//! and over the SSE + POST fallback (through an impaired
//! [TCP proxy](impair::tcp_proxy)), one after the other, on one server.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;

use crate::cursors::{self, CursorLoad, CursorReport, Sessions};
use crate::fallback::{self, FallbackLoad};
use crate::impair::{self, Impairment};
use crate::target::user_tokens;

/// A lossy-link run.
pub struct LossyLoad<'a> {
    /// For setting up (joins): not through the link.
    pub http: &'a reqwest::Client,
    /// The server.
    pub base: &'a str,
    /// Campaign slug.
    pub campaign: &'a str,
    /// The link between the sessions and the server, each way.
    pub link: Impairment,
    /// Sessions per transport (all move).
    pub sessions: usize,
    /// Moves per second per session.
    pub hz: u32,
    /// How long each transport moves.
    pub duration: Duration,
    /// Sessions that measure.
    pub observers: usize,
}

/// Both transports' figures on one link.
#[derive(Debug, Serialize)]
pub struct LossyReport {
    /// Loss probability, each way.
    pub loss: f64,
    /// One-way delay and its jitter, ms.
    pub delay_ms: u64,
    #[allow(missing_docs)]
    pub jitter_ms: u64,
    /// Seed of the losses and delays.
    pub seed: u64,
    /// Cursors over WebTransport datagrams.
    pub webtransport: CursorReport,
    /// Cursors over the event stream and POSTs.
    pub sse: CursorReport,
}

/// `host:port` of a URL.
fn socket_of(url: &str) -> anyhow::Result<SocketAddr> {
    let url = url::Url::parse(url)?;
    url.socket_addrs(|| None)?
        .into_iter()
        .next()
        .with_context(|| format!("{url} names no address"))
}

/// Runs both transports through the link and reports.
pub async fn run(load: LossyLoad<'_>) -> anyhow::Result<LossyReport> {
    let any: SocketAddr = "127.0.0.1:0".parse()?;
    let (wt_url, _) = cursors::endpoint_info(load.http, load.base).await?;
    let udp = impair::udp_proxy(any, socket_of(&wt_url)?, load.link).await?;
    // Each transport has sessions of its own, all moving.
    let sessions = async || -> anyhow::Result<Sessions> {
        Ok(Sessions {
            campaign: load.campaign.to_owned(),
            tokens: user_tokens(load.http, load.base, load.campaign, load.sessions).await?,
            hz: load.hz,
            duration: load.duration,
            observers: load.observers,
            moving: load.sessions,
        })
    };
    let webtransport = cursors::run(CursorLoad {
        bases: vec![load.base.to_owned()],
        sessions: sessions().await?,
        udp_via: Some(udp),
    })
    .await?;

    let tcp = impair::tcp_proxy(any, socket_of(load.base)?, load.link).await?;
    let sse = fallback::run(FallbackLoad {
        base: format!("http://{tcp}"),
        sessions: sessions().await?,
    })
    .await?;
    Ok(LossyReport {
        loss: load.link.loss,
        delay_ms: load.link.delay.as_millis() as u64,
        jitter_ms: load.link.jitter.as_millis() as u64,
        seed: load.link.seed,
        webtransport,
        sse,
    })
}
