//! Cursor load over the fallback a browser without WebTransport uses: each
//! session's event stream (`?cursors=1`) brings its room's frames as
//! `event: cursors` (base64), and each move is a `POST …/cursor` of the same
//! bincode uplink, sent as the web client sends it — one per tick, without
//! waiting for the one before. Like a browser on HTTP/1.1, each session has
//! at most [`BROWSER_CONNECTIONS`] connections to the server, its event
//! stream one of them, kept alive: a post waits for a free one.
//!
//! Measured as [`crate::cursors`] measures datagrams (the same uplinks, the
//! same observers), so the two transports compare on one link.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use futures::StreamExt;
use protocol::encode_uplink;
use tokio::sync::Mutex;

use crate::cursors::{Counts, CursorReport, Observer, Sessions, move_until};
use crate::stats::Latencies;

/// Connections a browser opens to one host over HTTP/1.1.
pub const BROWSER_CONNECTIONS: usize = 6;

/// A session's HTTP client, from its loopback address, keeping its
/// connections.
fn session_client(index: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .local_address(crate::target::loopback_source(index))
        .pool_max_idle_per_host(BROWSER_CONNECTIONS)
        .build()?)
}

/// A fallback cursor run (one server).
#[derive(Debug, Clone)]
pub struct FallbackLoad {
    /// The server, or a proxy in front of it.
    pub base: String,
    /// The sessions.
    pub sessions: Sessions,
}

/// The `data:` of each `event: cursors` in a chunk of an event stream,
/// carried over in `pending` until its block is complete.
fn cursor_frames(pending: &mut String, chunk: &[u8]) -> Vec<Vec<u8>> {
    pending.push_str(&String::from_utf8_lossy(chunk));
    let mut frames = Vec::new();
    while let Some(end) = pending.find("\n\n") {
        let block: String = pending.drain(..end + 2).collect();
        if block.lines().any(|l| l == "event: cursors")
            && let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: "))
            && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data)
        {
            frames.push(bytes);
        }
    }
    frames
}

/// Runs the load and reports.
pub async fn run(load: FallbackLoad) -> anyhow::Result<CursorReport> {
    let plan = &load.sessions;
    let counts = Arc::new(Counts::default());
    let latencies = Arc::new(Mutex::new(Latencies::default()));
    let opened = Arc::new(tokio::sync::Semaphore::new(0));
    let connect_errors = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (start_tx, start_rx) = tokio::sync::watch::channel(None::<Instant>);
    let mut tasks = Vec::new();
    for (index, token) in plan.tokens.iter().cloned().enumerate() {
        let http = session_client(index)?;
        // The connections left beside the event stream.
        let posts = Arc::new(tokio::sync::Semaphore::new(BROWSER_CONNECTIONS - 1));
        let (base, campaign) = (load.base.clone(), plan.campaign.clone());
        let (counts, latencies, opened, connect_errors) = (
            counts.clone(),
            latencies.clone(),
            opened.clone(),
            connect_errors.clone(),
        );
        let mut start_rx = start_rx.clone();
        let (observer, moves) = (index < plan.observers, index < plan.moving);
        let (duration, period) = (
            plan.duration,
            Duration::from_secs_f64(1.0 / f64::from(plan.hz.max(1))),
        );
        tasks.push(tokio::spawn(async move {
            let stream = async {
                let ticket = crate::target::connect_ticket(&http, &base, &campaign, &token).await?;
                let url = format!(
                    "{base}/api/campaign/{campaign}/events?cursors=1&page=/&ticket={ticket}"
                );
                anyhow::Ok(http.get(url).send().await?.error_for_status()?)
            };
            let response = match stream.await {
                Ok(response) => response,
                Err(_) => {
                    connect_errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    opened.add_permits(1);
                    return;
                }
            };
            opened.add_permits(1);
            let Ok(start) = start_rx.wait_for(Option::is_some).await.map(|s| s.unwrap()) else {
                return;
            };
            let deadline = start + duration;
            let ms = move || (start.elapsed().as_millis() as u64 & 0xFFFF) as u16;
            let reader = {
                let counts = counts.clone();
                async move {
                    let (mut local, mut cross) = (Latencies::default(), Latencies::default());
                    let mut body = response.bytes_stream();
                    let mut pending = String::new();
                    let seen = Observer { index, servers: 1 };
                    while let Ok(Some(Ok(chunk))) =
                        tokio::time::timeout_at(deadline.into(), body.next()).await
                    {
                        if !observer {
                            continue; // read, so that the stream keeps flowing
                        }
                        for frame in cursor_frames(&mut pending, &chunk) {
                            seen.frame(&frame, ms(), &counts, &mut local, &mut cross);
                        }
                    }
                    local
                }
            };
            let uplink = format!("{base}/api/campaign/{campaign}/cursor?page=/");
            let mover = async {
                if !moves {
                    return;
                }
                move_until(index, period, deadline, &counts, ms, |uplink_sample| {
                    let request = http
                        .post(&uplink)
                        .bearer_auth(&token)
                        .header("content-type", "application/octet-stream")
                        .body(encode_uplink(&uplink_sample));
                    // Not waited for: the next sample goes at the next tick.
                    let posts = posts.clone();
                    tokio::spawn(async move {
                        let Ok(_connection) = posts.acquire().await else {
                            return;
                        };
                        let _ = request.send().await;
                    });
                    true
                })
                .await;
            };
            let (local, ()) = tokio::join!(reader, mover);
            latencies.lock().await.merge(local);
        }));
    }
    // Every stream open (or failed) before anyone moves.
    let _ = opened.acquire_many(plan.tokens.len() as u32).await?;
    let own_before = crate::stats::read_process(std::process::id())?;
    let start = Instant::now();
    start_tx.send_replace(Some(start));
    let sessions = tasks.len();
    for task in tasks {
        let _ = task.await;
    }
    let wall = start.elapsed().as_secs_f64();
    let pace = counts.pace(own_before.cpu_seconds, wall)?;
    let mut latencies = std::mem::take(&mut *latencies.lock().await);
    let failed = connect_errors.load(std::sync::atomic::Ordering::Relaxed);
    Ok(counts.report(
        sessions - failed,
        failed,
        (plan.moving, plan.observers),
        (&mut latencies, None),
        wall,
        pace,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_frames_are_read_across_chunks_and_other_events_skipped() {
        let mut pending = String::new();
        let frame = base64::engine::general_purpose::STANDARD.encode([1u8, 2, 3]);
        let text = format!(
            "id: 1\nevent: presence\ndata: {{}}\n\nevent: cursors\ndata: {frame}\n\nevent: cur"
        );
        assert_eq!(
            cursor_frames(&mut pending, text.as_bytes()),
            vec![vec![1, 2, 3]]
        );
        let rest = format!("sors\ndata: {frame}\n\n");
        assert_eq!(
            cursor_frames(&mut pending, rest.as_bytes()),
            vec![vec![1, 2, 3]]
        );
        assert!(pending.is_empty());
    }
}
