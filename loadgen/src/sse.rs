//! Event-stream load: many idle subscribers, then broadcasts.
//!
//! Each broadcast is a join whose display name carries its publish time
//! (microseconds since the run started), so each subscriber knows how long the
//! `user.joined` event took to reach it — from the moment the join was sent,
//! so the join's request and database write are included. The server's own
//! share (its publish → each stream's connection) is read from its `/metrics`
//! before and after. Publishing may go to another instance than subscribing
//! (the cross-instance case).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use serde_json::json;
use tokio::sync::Mutex;

use crate::stats::{BucketSummary, Latencies, Summary, scrape_histogram};

/// An event-stream run.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // fields named for what they hold
pub struct SseLoad {
    /// Server the subscribers connect to.
    pub base: String,
    /// Server the broadcasts are published on (default: `base`).
    pub publish_base: Option<String>,
    /// Campaign slug.
    pub campaign: String,
    pub subscribers: usize,
    pub broadcasts: usize,
    /// Broadcasts per second.
    pub rate: f64,
    /// Server process to read memory from before and after connecting.
    pub server_pid: Option<u32>,
}

/// What an event-stream run measured.
#[derive(Debug, Clone, Serialize)]
pub struct SseReport {
    /// Subscribers whose stream opened.
    pub connected: usize,
    /// Subscribers that failed.
    pub errors: usize,
    /// Publish → receive latency.
    pub latency: Summary,
    /// Events received of those expected.
    pub delivered: u64,
    /// `subscribers × broadcasts`.
    pub expected: u64,
    /// `reset` events received.
    pub resets: u64,
    /// Broadcasts whose publishing failed.
    pub publish_errors: u64,
    /// Server memory growth per subscriber, KiB (with `server_pid`).
    pub rss_per_subscriber_kib: Option<f64>,
    /// The first publish failure, as the server answered it.
    pub first_publish_error: Option<String>,
    /// Server side, from its `/metrics` (`ovasabi_sse_delivery_seconds`):
    /// publish → handed to each stream's connection, during the broadcasts.
    pub server_delivery: Option<BucketSummary>,
}

/// Runs the load and reports.
pub async fn run(load: SseLoad) -> anyhow::Result<SseReport> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let start = Instant::now();
    let before = load
        .server_pid
        .and_then(|pid| crate::stats::read_process(pid).ok());
    let connected = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let delivered = Arc::new(AtomicU64::new(0));
    let resets = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Latencies::default()));
    let expected = (load.subscribers * load.broadcasts) as u64;
    let url = format!("{}/api/campaign/{}/events", load.base, load.campaign);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    // 20 subscribers per loopback address: the default per-address cap holds.
    let sources = crate::target::spread_clients(load.subscribers)?;
    for i in 0..load.subscribers {
        let mut stopped = stopped.clone();
        let (http, url) = (
            sources[i / crate::target::CLIENTS_PER_ADDRESS].clone(),
            url.clone(),
        );
        let (connected, errors, delivered, resets, latencies) = (
            connected.clone(),
            errors.clone(),
            delivered.clone(),
            resets.clone(),
            latencies.clone(),
        );
        let broadcasts = load.broadcasts;
        tasks.push(tokio::spawn(async move {
            let response = match http.get(&url).send().await {
                Ok(r) if r.status().is_success() => r,
                _ => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            let mut body = response.bytes_stream();
            let mut buffer = String::new();
            let mut local = Latencies::default();
            let mut got = 0;
            let mut opened = false;
            while got < broadcasts {
                let chunk = tokio::select! {
                    _ = stopped.wait_for(|s| *s) => break,
                    chunk = body.next() => chunk,
                };
                let Some(Ok(chunk)) = chunk else {
                    break;
                };
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    let event = block
                        .lines()
                        .find_map(|l| l.strip_prefix("event: "))
                        .unwrap_or("");
                    let data = block
                        .lines()
                        .find_map(|l| l.strip_prefix("data: "))
                        .unwrap_or("");
                    match event {
                        "presence" if !opened => {
                            opened = true;
                            connected.fetch_add(1, Ordering::Relaxed);
                        }
                        "reset" => {
                            resets.fetch_add(1, Ordering::Relaxed);
                        }
                        "user.joined" => {
                            let sent_us = serde_json::from_str::<serde_json::Value>(data)
                                .ok()
                                .and_then(|v| {
                                    v["display_name"]
                                        .as_str()?
                                        .rsplit(' ')
                                        .next()?
                                        .parse::<u64>()
                                        .ok()
                                });
                            if let Some(sent_us) = sent_us {
                                let now = start.elapsed().as_micros() as u64;
                                local.record(Duration::from_micros(now.saturating_sub(sent_us)));
                                got += 1;
                                delivered.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        _ => {}
                    }
                }
            }
            latencies.lock().await.merge(local);
        }));
    }
    // Wait until every subscriber is in (or has failed).
    let wait_until = Instant::now() + Duration::from_secs(60);
    while connected.load(Ordering::Relaxed) + errors.load(Ordering::Relaxed) < load.subscribers
        && Instant::now() < wait_until
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after_connect = load
        .server_pid
        .and_then(|pid| crate::stats::read_process(pid).ok());
    let rss_per_subscriber_kib = match (before, after_connect) {
        (Some(b), Some(a)) if load.subscribers > 0 => {
            Some((a.rss_kib as f64 - b.rss_kib as f64) / load.subscribers as f64)
        }
        _ => None,
    };
    let publish = load
        .publish_base
        .clone()
        .unwrap_or_else(|| load.base.clone());
    let publish_errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    const DELIVERY: &str = "ovasabi_sse_delivery_seconds";
    let delivery_before = scrape_histogram(&http, &load.base, DELIVERY).await;
    let period = Duration::from_secs_f64(1.0 / load.rate.max(0.001));
    let mut ticker = tokio::time::interval(period);
    let mut publishes = Vec::new();
    for k in 0..load.broadcasts {
        ticker.tick().await;
        let (http, publish, campaign, publish_errors, first_error) = (
            http.clone(),
            publish.clone(),
            load.campaign.clone(),
            publish_errors.clone(),
            first_error.clone(),
        );
        let sent_us = start.elapsed().as_micros() as u64;
        publishes.push(tokio::spawn(async move {
            let result = http
                .post(format!("{publish}/api/user/register"))
                .json(&json!({
                    "campaign": campaign,
                    "email": format!("b{k}-{sent_us}@bench.test"),
                    "name": format!("b {sent_us}"),
                }))
                .send()
                .await;
            let failure = match result {
                Ok(r) if r.status().is_success() => None,
                Ok(r) => Some(format!(
                    "{} {}",
                    r.status(),
                    r.text().await.unwrap_or_default()
                )),
                Err(e) => Some(e.to_string()),
            };
            if let Some(failure) = failure {
                publish_errors.fetch_add(1, Ordering::Relaxed);
                first_error.lock().await.get_or_insert(failure);
            }
        }));
    }
    for p in publishes {
        let _ = p.await;
    }
    let give_up = Instant::now() + Duration::from_secs(10);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivery_after = scrape_histogram(&http, &load.base, DELIVERY).await;
    let server_delivery = delivery_before
        .zip(delivery_after)
        .map(|(before, after)| after.since(&before).summary())
        .filter(|s| s.count > 0);
    // Subscribers still waiting hand in what they measured and stop.
    let _ = stop.send(true);
    for task in tasks {
        let _ = task.await;
    }
    let mut latencies = std::mem::take(&mut *latencies.lock().await);
    Ok(SseReport {
        connected: connected.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        latency: latencies.summary(),
        delivered: delivered.load(Ordering::Relaxed),
        expected,
        resets: resets.load(Ordering::Relaxed),
        publish_errors: publish_errors.load(Ordering::Relaxed),
        rss_per_subscriber_kib,
        first_publish_error: first_error.lock().await.clone(),
        server_delivery,
    })
}
