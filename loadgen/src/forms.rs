//! Form load: leads (`POST /api/quote`) at a fixed concurrency, each with a
//! unique email; or joins (`POST /api/user/register`), each with a referral
//! code of one of a set of referrers ([`referrers`]).
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
    /// Visitor session tokens ([`sessions`]): worker N sends its leads
    /// with the Nth, as a page does (none: without a session).
    pub tokens: Vec<String>,
    /// A honeypot field sent blank with every lead, as a page sends it.
    pub honeypot: Option<String>,
    /// Referral codes: when there are any, the load is joins, the Nth
    /// referred by the Nth code (round robin), instead of leads.
    pub referral_codes: Vec<String>,
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

/// Opens `count` visitor sessions of `campaign` at `base` (spread over
/// `addresses` as the load is), then waits until they are `age` old (a
/// campaign's minimum time); their tokens.
pub async fn sessions(
    base: &str,
    campaign: &str,
    count: usize,
    addresses: u8,
    age: Duration,
) -> anyhow::Result<Vec<String>> {
    let clients = loopback_clients(addresses, 1)?;
    let mut tokens = Vec::with_capacity(count);
    for n in 0..count {
        let answer: serde_json::Value = clients[n % clients.len()]
            .post(format!("{base}/api/session"))
            .json(&json!({"campaign": campaign}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = answer["token"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("a session without a token: {answer}"))?;
        tokens.push(token.to_owned());
    }
    tokio::time::sleep(age).await;
    Ok(tokens)
}

/// Joins `count` referrers to `campaign` at `base` (spread over
/// `addresses` as the load is); their referral codes.
pub async fn referrers(
    base: &str,
    campaign: &str,
    count: usize,
    addresses: u8,
) -> anyhow::Result<Vec<String>> {
    let clients = loopback_clients(addresses, 1)?;
    let run = std::process::id();
    let mut codes = Vec::with_capacity(count);
    for n in 0..count {
        let answer: serde_json::Value = clients[n % clients.len()]
            .post(format!("{base}/api/user/register"))
            .json(&json!({"campaign": campaign, "email": format!("r{run}-{n}@bench.test"), "name": "Referrer"}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let code = answer["referral_code"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("a join without a code: {answer}"))?;
        codes.push(code.to_owned());
    }
    Ok(codes)
}

/// The request of form `i` of the run `run`: a join referred by one of
/// `load.referral_codes`, or a lead.
fn form_request(
    http: &reqwest::Client,
    load: &FormLoad,
    run: u128,
    i: u64,
) -> reqwest::RequestBuilder {
    if !load.referral_codes.is_empty() {
        let code = &load.referral_codes[i as usize % load.referral_codes.len()];
        return http
            .post(format!("{}/api/user/register", load.base))
            .json(&json!({
                "campaign": load.campaign,
                "name": "Load Test",
                "email": format!("j{run}-{i}@bench.test"),
                "referral_code": code,
            }));
    }
    let mut body = json!({
        "campaign": load.campaign,
        "name": "Load Test",
        "email": format!("q{run}-{i}@bench.test"),
        "message": "A campaign site for the spring launch, please.",
    });
    if let Some(field) = &load.honeypot {
        body[field] = json!("");
    }
    http.post(format!("{}/api/quote", load.base)).json(&body)
}

/// One client per loopback source address (127.0.0.1…; one, the default
/// address, for 1), each keeping `idle` connections.
fn loopback_clients(addresses: u8, idle: usize) -> anyhow::Result<Vec<reqwest::Client>> {
    Ok((1..=addresses.max(1))
        .map(|n| {
            let builder = reqwest::Client::builder().pool_max_idle_per_host(idle);
            let builder = if addresses > 1 {
                builder.local_address(std::net::IpAddr::from([127, 0, 0, n]))
            } else {
                builder
            };
            builder.build()
        })
        .collect::<Result<Vec<_>, _>>()?)
}

/// Runs the load and reports.
pub async fn run(load: FormLoad) -> anyhow::Result<FormReport> {
    let clients = loopback_clients(load.addresses, load.concurrency)?;
    let next = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Latencies::default()));
    let start = Instant::now();
    let run = start.elapsed().as_nanos() ^ u128::from(std::process::id());
    let workers: Vec<_> = (0..load.concurrency.max(1))
        .map(|worker| {
            let token = load.tokens.get(worker).cloned();
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
                    let mut request = form_request(&http, &load, run, i);
                    if let Some(token) = &token {
                        request = request.bearer_auth(token);
                    }
                    let result = request.send().await;
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
