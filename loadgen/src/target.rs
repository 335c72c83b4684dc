//! The server under test.

use std::net::IpAddr;

use anyhow::{Context, bail};
use serde_json::json;

/// Refuses a base URL that is not on this machine unless `allow_remote`.
pub fn check_loopback(base: &str, allow_remote: bool) -> anyhow::Result<url::Url> {
    let url = url::Url::parse(base).with_context(|| format!("not a URL: {base}"))?;
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback && !allow_remote {
        bail!("{base} is not a loopback address; pass --allow-remote to load a server elsewhere");
    }
    Ok(url)
}

/// Clients one loopback address stands for: the campaigns' default
/// per-address caps (20 event streams, 20 cursor sessions) stay on, and each
/// address stays under them.
pub const CLIENTS_PER_ADDRESS: usize = 20;

/// The loopback address client `i` sends from: 127.0.0.1 for the first
/// [`CLIENTS_PER_ADDRESS`], then 127.0.0.2, … (Linux routes all of 127/8 to
/// the loopback), so a benchmark runs with every per-address cap on.
pub fn loopback_source(i: usize) -> IpAddr {
    let n = i / CLIENTS_PER_ADDRESS;
    let third = u8::try_from(n / 250).unwrap_or(u8::MAX);
    let fourth = u8::try_from(n % 250 + 1).unwrap_or(1);
    IpAddr::from([127, 0, third, fourth])
}

/// Raises this process's open-file limit as far as it may go.
pub fn raise_fd_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0)
}

/// Creates an active campaign whose limits let the load through, and returns
/// its slug. `tick_hz` and `interest_cap` shape the cursor rooms.
pub async fn bench_campaign(
    http: &reqwest::Client,
    base: &str,
    admin_token: &str,
    tick_hz: u32,
    interest_cap: u32,
) -> anyhow::Result<String> {
    let slug = format!(
        "bench-{}",
        std::process::id() as u64 * 1000 + u64::from(rand_suffix())
    );
    let mut body = json!({
        "slug": slug,
        "name": "Benchmark",
        "status": "active",
        "config": {
            "events": {"public_leads": false},
            "cursor": {"tick_hz": tick_hz, "interest_cap": interest_cap},
            "rate_limits": {
                "joins_per_minute": 10000, "quotes_per_minute": 10000,
                "cursor_per_second": 240, "resumes_per_minute": 100000
            }
        }
    });
    let mut response = http
        .post(format!("{base}/api/campaign"))
        .bearer_auth(admin_token)
        .json(&body)
        .send()
        .await?;
    if response.status() == reqwest::StatusCode::UNPROCESSABLE_ENTITY {
        // A server from before resume limits (an A/B run with
        // BENCH_SERVER) knows no such setting, and has no such limit.
        body["config"]["rate_limits"]
            .as_object_mut()
            .map(|limits| limits.remove("resumes_per_minute"));
        response = http
            .post(format!("{base}/api/campaign"))
            .bearer_auth(admin_token)
            .json(&body)
            .send()
            .await?;
    }
    if !response.status().is_success() {
        bail!(
            "cannot create the benchmark campaign: {} {}",
            response.status(),
            response.text().await?
        );
    }
    Ok(slug)
}

fn rand_suffix() -> u16 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u16)
        .unwrap_or(0)
}

/// One HTTP client per loopback source address, for `clients` clients
/// ([`loopback_source`]); client `i` uses `result[i / CLIENTS_PER_ADDRESS]`.
pub fn spread_clients(clients: usize) -> anyhow::Result<Vec<reqwest::Client>> {
    (0..clients.max(1))
        .step_by(CLIENTS_PER_ADDRESS)
        .map(|i| {
            reqwest::Client::builder()
                .local_address(loopback_source(i))
                .pool_max_idle_per_host(4)
                .build()
                .map_err(anyhow::Error::from)
        })
        .collect()
}

/// A connect ticket for session `token` in `campaign`, asked with `http`
/// (the ticket records the address it was asked from).
pub async fn connect_ticket(
    http: &reqwest::Client,
    base: &str,
    campaign: &str,
    token: &str,
) -> anyhow::Result<String> {
    let reply: serde_json::Value = http
        .post(format!("{base}/api/connect"))
        .bearer_auth(token)
        .json(&json!({ "campaign": campaign }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    reply["ticket"]
        .as_str()
        .map(str::to_owned)
        .context("connect answered no ticket")
}

/// Joins `count` users to `campaign` and returns their session tokens.
pub async fn user_tokens(
    http: &reqwest::Client,
    base: &str,
    campaign: &str,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    let run = rand_suffix();
    let joins = (0..count).map(|i| {
        let http = http.clone();
        let base = base.to_owned();
        let campaign = campaign.to_owned();
        async move {
            let reply: serde_json::Value = http
                .post(format!("{base}/api/user/register"))
                .json(&json!({"campaign": campaign, "email": format!("load{run}-{i}@bench.test"), "name": format!("Load {i}")}))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            reply["token"]
                .as_str()
                .map(str::to_owned)
                .context("join answered no token")
        }
    });
    futures::stream::iter(joins)
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

use futures::StreamExt;
