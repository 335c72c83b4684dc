//! The chaos soak: the whole system under mixed load while its parts fail,
//! counting at the end what every client was promised.
//!
//! Three server instances on one PostgreSQL (through a proxy the soak cuts)
//! and one Redis (the soak's own, killed and started empty), with clients
//! spread over the three and over loopback source addresses (20 an address,
//! as every other scenario, so the per-address caps stay at their defaults):
//! joins in referral chains and leads with idempotency keys, both retried on
//! any failure; event streams that resume with their last id; cursor
//! sessions over WebTransport; a webhook receiver; a gRPC feed follower.
//!
//! Faults, at fixed times from the start of the load: an instance killed
//! with SIGKILL and started again every 20 s (round robin); Redis killed and
//! started empty once; PostgreSQL cut for 5 s once. Then the load stops, the
//! deliveries drain, and [`report`] checks every acknowledged operation.
//!
//! - [`cluster`]: the instances, the Redis, the cuttable proxy.
//! - [`forms`]: joins and leads, and what was acknowledged.
//! - [`streams`]: the event streams and what each received.
//! - [`feed`]: the webhook receiver and the gRPC follower.
//! - [`cursors`]: the cursor sessions.
//! - [`report`]: the accounting, the table and the verdict.

pub mod cluster;
pub mod cursors;
pub mod feed;
pub mod forms;
pub mod report;
pub mod streams;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use cluster::{CuttableProxy, Instance, Launch, OwnRedis, progress};

/// Resolves once `stop` says the run is over.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// A soak run.
#[derive(Debug, Clone)]
pub struct SoakPlan {
    /// The server binary.
    pub server: PathBuf,
    /// An empty PostgreSQL database (the instances reach it through the
    /// soak's proxy).
    pub database_url: String,
    /// How long the load and the faults last.
    pub duration: Duration,
    /// Server instances.
    pub instances: usize,
    /// Joins a second.
    pub joins_per_second: f64,
    /// Leads a second.
    pub leads_per_second: f64,
    /// Event streams.
    pub streams: usize,
    /// Cursor sessions.
    pub cursors: usize,
    /// Where the instances' logs go.
    pub logs: PathBuf,
}

/// The faults, at seconds from the start of the load.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Instance `n` killed with SIGKILL and started again.
    Kill(usize),
    /// Redis killed and started empty.
    RedisLost,
    /// PostgreSQL cut (`true`) or let through again.
    PostgresCut(bool),
}

/// Kills every 20 s (round robin); Redis lost once, 10 s after a kill, at
/// about 40 % of the run; PostgreSQL cut for 5 s, from 5 s after a kill, at
/// about 60 % — so that the faults never coincide.
pub fn schedule(duration: Duration, instances: usize) -> Vec<(f64, Fault)> {
    let total = duration.as_secs_f64();
    let mut faults: Vec<(f64, Fault)> = (1..)
        .map(|k| f64::from(k) * 20.0)
        .take_while(|t| *t < total)
        .enumerate()
        .map(|(k, t)| (t, Fault::Kill(k % instances.max(1))))
        .collect();
    let after_kill = |share: f64, offset: f64| (total * share / 20.0).floor() * 20.0 + offset;
    faults.push((after_kill(0.4, 10.0), Fault::RedisLost));
    let cut = after_kill(0.6, 5.0);
    faults.push((cut, Fault::PostgresCut(true)));
    faults.push((cut + 5.0, Fault::PostgresCut(false)));
    faults.retain(|(t, _)| *t < total);
    faults.sort_by(|a, b| a.0.total_cmp(&b.0));
    faults
}

/// Makes the soak's campaign: its per-minute limits out of the way of the
/// load (resumes included), its leads and leaderboard public.
async fn campaign(http: &reqwest::Client, base: &str, admin: &str) -> anyhow::Result<String> {
    let slug = format!("soak-{}", std::process::id());
    let body = json!({
        "slug": slug, "name": "Soak", "status": "active",
        "config": {
            "events": {"public_leads": true},
            "leaderboard": {"enabled": true},
            "cursor": {"tick_hz": 10},
            "rate_limits": {
                "joins_per_minute": 10_000, "quotes_per_minute": 10_000,
                "resumes_per_minute": 10_000
            }
        }
    });
    let response = http
        .post(format!("{base}/api/campaign"))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("cannot create the campaign: {}", response.text().await?);
    }
    Ok(slug)
}

/// Every page of a team list (`key` in each page's answer).
async fn pages(
    http: &reqwest::Client,
    url: &str,
    admin: &str,
    key: &str,
) -> anyhow::Result<Vec<Value>> {
    let mut all = Vec::new();
    loop {
        let page: Value = http
            .get(format!("{url}&limit=500&offset={}", all.len()))
            .bearer_auth(admin)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let rows = page[key].as_array().cloned().unwrap_or_default();
        if rows.is_empty() {
            return Ok(all);
        }
        all.extend(rows);
    }
}

/// Runs the soak and reports.
pub async fn run(plan: SoakPlan) -> anyhow::Result<report::SoakReport> {
    let deliveries = Arc::new(feed::Deliveries::default());
    let webhook_url = feed::webhook_receiver(deliveries.clone()).await?;
    let mut redis = OwnRedis::start().await?;
    let mut database = url::Url::parse(&plan.database_url).context("the database URL")?;
    let upstream = format!(
        "{}:{}",
        database.host_str().unwrap_or("127.0.0.1"),
        database.port().unwrap_or(5432)
    );
    let proxy = CuttableProxy::start(upstream).await?;
    database
        .set_port(Some(proxy.port))
        .map_err(|()| anyhow::anyhow!("cannot proxy {}", plan.database_url))?;
    let admin = format!("soak-admin-{:x}", rand::random::<u64>());
    let launch = Arc::new(Launch {
        server: plan.server.clone(),
        database_url: database.to_string(),
        redis_url: redis.url(),
        admin_token: admin.clone(),
        webhook_url,
        logs: plan.logs.clone(),
    });
    let instances: Vec<Arc<Instance>> = (0..plan.instances)
        .map(|slot| Instance::new(slot).map(Arc::new))
        .collect::<anyhow::Result<_>>()?;
    // One at a time: the first migrates the database.
    for instance in &instances {
        instance
            .start(&launch, Instant::now() + Duration::from_secs(120))
            .await?;
    }
    let bases = Arc::new(instances.iter().map(|i| i.base()).collect::<Vec<_>>());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let slug = campaign(&http, &bases[0], &admin).await?;
    progress(&format!(
        "{} instances up, campaign {slug}; opening streams",
        instances.len()
    ));

    let (stop, stopped) = watch::channel(false);
    let streams = streams::start(
        streams::StreamLoad {
            bases: bases.clone(),
            campaign: slug.clone(),
            streams: plan.streams,
        },
        stopped.clone(),
    )?;
    let cursor_counts = Arc::new(cursors::CursorCounts::default());
    cursors::start(
        cursors::CursorLoad {
            bases: bases.clone(),
            campaign: slug.clone(),
            sessions: plan.cursors,
            first_client: plan.streams.div_ceil(crate::target::CLIENTS_PER_ADDRESS)
                * crate::target::CLIENTS_PER_ADDRESS,
            hz: 10,
        },
        cursor_counts.clone(),
        &stopped,
    )?;
    let feed = Arc::new(feed::Feed::default());
    let follow = feed::Follow {
        grpc: Arc::new(instances.iter().map(|i| i.grpc()).collect()),
        token: admin.clone(),
        campaign: slug.clone(),
    };
    tokio::spawn(feed::follow(follow, feed.clone(), stopped.clone()));
    let opening = Instant::now() + Duration::from_secs(60);
    while streams.iter().any(|s| s.lock().opened.is_none()) && Instant::now() < opening {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The load, and the faults beside it.
    let start = Instant::now();
    let until = start + plan.duration;
    let form_clients: Vec<reqwest::Client> = (0..4)
        .map(|k| {
            let index = (plan.streams + plan.cursors + 40) / 20 * 20 + k * 20;
            reqwest::Client::builder()
                .local_address(crate::target::loopback_source(index))
                .timeout(Duration::from_secs(10))
                .build()
        })
        .collect::<Result<_, _>>()?;
    let load = forms::FormLoad {
        bases: bases.clone(),
        clients: Arc::new(form_clients),
        campaign: slug.clone(),
        until,
        retry_until: until + Duration::from_secs(30),
    };
    let joins = Arc::new(forms::Joins::default());
    let leads = Arc::new(forms::Leads::default());
    let join_task = tokio::spawn(forms::run_joins(
        load.clone(),
        joins.clone(),
        plan.joins_per_second,
    ));
    let lead_task = tokio::spawn(forms::run_leads(load, leads.clone(), plan.leads_per_second));
    let sampler = {
        let instances = instances.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let at = start.elapsed().as_secs_f64();
                for instance in &instances {
                    instance.sample(at);
                }
            }
        })
    };
    let injected = Arc::new(Mutex::new(Vec::new()));
    let mut restarts = Vec::new();
    for (at, fault) in schedule(plan.duration, instances.len()) {
        tokio::time::sleep_until(start + Duration::from_secs_f64(at)).await;
        let line = match &fault {
            Fault::Kill(n) => {
                let instance = instances[*n].clone();
                instance.kill().await;
                let (launch, injected) = (launch.clone(), injected.clone());
                restarts.push(tokio::spawn(async move {
                    let up = instance
                        .start(&launch, until + Duration::from_secs(60))
                        .await;
                    let back = start.elapsed().as_secs_f64();
                    injected.lock().push(match up {
                        Ok(()) => format!("{back:.1} s: instance {} back", instance.slot),
                        Err(e) => format!(
                            "{back:.1} s: instance {} did not come back: {e:#}",
                            instance.slot
                        ),
                    });
                }));
                format!("{at:.1} s: instance {n} killed (SIGKILL)")
            }
            Fault::RedisLost => {
                redis.kill().await;
                tokio::time::sleep(Duration::from_secs(1)).await;
                redis.restart().await?;
                format!("{at:.1} s: Redis killed (SIGKILL), started empty 1 s later")
            }
            Fault::PostgresCut(cut) => {
                proxy.set_cut(*cut);
                let what = if *cut { "cut" } else { "let through again" };
                format!("{at:.1} s: PostgreSQL {what}")
            }
        };
        progress(&line);
        injected.lock().push(line);
    }
    tokio::time::sleep_until(until).await;
    progress("load ends; retries go on for 30 s, then the deliveries drain");
    let _ = join_task.await;
    let _ = lead_task.await;
    for restart in restarts {
        let _ = restart.await;
    }
    sampler.abort();

    // The deliveries drain: every outbox entry at the receiver (a killed
    // instance's claims are handed out again after their lease), every
    // acknowledged lead at the follower.
    let acked_leads: Vec<String> = leads
        .list
        .lock()
        .iter()
        .filter_map(|l| l.id.clone())
        .collect();
    let outbox_url = format!("{}/api/outbox?campaign={slug}&state=all", bases[0]);
    let drained_by = Instant::now() + Duration::from_secs(120);
    let mut outbox = Vec::new();
    let mut mails = 0;
    while Instant::now() < drained_by {
        // Mails are outbox entries too (a lead's confirmation): they wait,
        // the soak running no SMTP server; the webhooks are accounted.
        let entries = pages(&http, &outbox_url, &admin, "entries")
            .await
            .unwrap_or_default();
        mails = entries.iter().filter(|e| e["kind"] == "mail").count();
        outbox = entries
            .into_iter()
            .filter(|e| e["kind"] != "mail")
            .collect();
        let received = {
            let by_id = deliveries.by_id.lock();
            outbox
                .iter()
                .all(|e| e["id"].as_u64().is_some_and(|id| by_id.contains_key(&id)))
        };
        let followed = {
            let seen = feed.leads.lock();
            acked_leads.iter().all(|id| seen.contains_key(id))
        };
        if received && followed && !outbox.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let _ = stop.send(true);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stored = pages(
        &http,
        &format!("{}/api/quote?campaign={slug}", bases[0]),
        &admin,
        "quotes",
    )
    .await?;
    for instance in &instances {
        instance.kill().await;
    }
    redis.kill().await;

    let accounts = report::Accounts {
        started: start,
        seconds: plan.duration.as_secs_f64(),
        faults: std::mem::take(&mut *injected.lock()),
        joins: &joins,
        leads: &leads,
        stored_leads: &stored,
        outbox: &outbox,
        mails,
        deliveries: &deliveries,
        feed: &feed,
        streams: &streams,
        cursors: &cursor_counts,
        cursor_sessions: plan.cursors,
        instances: &instances,
    };
    Ok(accounts.report())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_never_coincide() {
        let two = schedule(Duration::from_secs(120), 3);
        let kills: Vec<f64> = two
            .iter()
            .filter(|(_, f)| matches!(f, Fault::Kill(_)))
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(kills, [20.0, 40.0, 60.0, 80.0, 100.0]);
        assert!(two.contains(&(50.0, Fault::RedisLost)));
        assert!(two.contains(&(65.0, Fault::PostgresCut(true))));
        assert!(two.contains(&(70.0, Fault::PostgresCut(false))));
        let ten = schedule(Duration::from_secs(600), 3);
        assert_eq!(
            ten.iter()
                .filter(|(_, f)| matches!(f, Fault::Kill(_)))
                .count(),
            29
        );
        assert!(ten.contains(&(250.0, Fault::RedisLost)));
        assert!(ten.contains(&(365.0, Fault::PostgresCut(true))));
        // Round robin.
        assert_eq!(ten[0].1, Fault::Kill(0));
        assert_eq!(ten[1].1, Fault::Kill(1));
        assert_eq!(ten[2].1, Fault::Kill(2));
    }
}
