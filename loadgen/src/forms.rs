//! Form load: leads (`POST /api/quote`) at a fixed concurrency, each with a unique email.
//!
//! A campaign limits leads per minute per client address; to send more than
//! that in a run, the load can come from several loopback addresses
//! (127.0.0.1, 127.0.0.2, …; Linux routes all of 127/8 to the loopback).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use tokio::sync::Mutex;

use crate::stats::{Latencies, Summary};

/// A form run.
#[derive(Debug, Clone)]
pub struct FormLoad {
    /// Server.
    pub base: String,
    /// Campaign slug.
    pub campaign: String,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Requests in all.
    pub requests: usize,
    /// Loopback source addresses to spread the requests over (1: the default one).
    pub addresses: u8,
}

/// What a form run measured.
#[derive(Debug, Clone, Serialize)]
pub struct FormReport {
    /// Requests answered 201.
    pub ok: u64,
    /// Requests that failed or were answered otherwise.
    pub errors: u64,
    /// Request latency.
    pub latency: Summary,
    /// Requests per second.
    pub per_second: f64,
}

/// Runs the load and reports.
pub async fn run(load: FormLoad) -> anyhow::Result<FormReport> {
    let clients = (1..=load.addresses.max(1))
        .map(|n| {
            let builder = reqwest::Client::builder().pool_max_idle_per_host(load.concurrency);
            let builder = if load.addresses > 1 {
                builder.local_address(std::net::IpAddr::from([127, 0, 0, n]))
            } else {
                builder
            };
            builder.build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let next = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Latencies::default()));
    let start = Instant::now();
    let run = start.elapsed().as_nanos() ^ u128::from(std::process::id());
    let workers: Vec<_> = (0..load.concurrency.max(1))
        .map(|worker| {
            let (http, next, ok, errors, latencies, load) = (
                clients[worker % clients.len()].clone(),
                next.clone(),
                ok.clone(),
                errors.clone(),
                latencies.clone(),
                load.clone(),
            );
            tokio::spawn(async move {
                let mut local = Latencies::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= load.requests as u64 {
                        break;
                    }
                    let sent = Instant::now();
                    let result = http
                        .post(format!("{}/api/quote", load.base))
                        .json(&json!({
                            "campaign": load.campaign,
                            "name": "Load Test",
                            "email": format!("q{run}-{i}@bench.test"),
                            "message": "A campaign site for the spring launch, please.",
                        }))
                        .send()
                        .await;
                    local.record(sent.elapsed());
                    if result.is_ok_and(|r| r.status().as_u16() == 201) {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                latencies.lock().await.merge(local);
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    let wall = start.elapsed().max(Duration::from_micros(1));
    let mut latencies = std::mem::take(&mut *latencies.lock().await);
    let ok = ok.load(Ordering::Relaxed);
    Ok(FormReport {
        ok,
        errors: errors.load(Ordering::Relaxed),
        latency: latencies.summary(),
        per_second: ok as f64 / wall.as_secs_f64(),
    })
}
