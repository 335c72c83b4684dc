//! What a resume costs the server beside a plain open: `opens` event
//! streams of the benchmark campaign opened plainly, then as many resumed
//! from the start of the history (`<epoch>.0-1`) while another campaign has
//! `others` events in it, each stream read to its first event and closed
//! (the bench campaign's per-address resume limit is raised out of the way);
//! the server's CPU seconds of each phase, read from `/proc` (its process
//! id is required).

use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use serde::Serialize;
use serde_json::json;

use crate::stats::read_process;

/// A resume run.
#[derive(Debug, Clone)]
pub struct ResumeLoad {
    /// The server.
    pub base: String,
    /// The benchmark campaign (whose streams are opened and resumed).
    pub campaign: String,
    /// Another campaign (whose events fill the history).
    pub other: String,
    /// Streams opened in each phase.
    pub opens: usize,
    /// Each phase is run this many times, its CPU averaged (the kernel
    /// counts a process's CPU in 10 ms ticks).
    pub rounds: usize,
    /// Events published in the other campaign first.
    pub others: usize,
    /// The server's process.
    pub server_pid: u32,
}

/// What a resume run measured.
#[derive(Debug, Clone, Serialize)]
pub struct ResumeReport {
    /// Server CPU of `opens` plain opens, milliseconds (mean of the rounds).
    pub open_cpu_ms: f64,
    /// Server CPU of `opens` resumes, milliseconds (mean of the rounds).
    pub resume_cpu_ms: f64,
    /// Resumes over plain opens.
    pub ratio: f64,
    /// The event each resume began with (`presence`: replayed; `reset`:
    /// no history read).
    pub resume_first_events: std::collections::BTreeMap<String, usize>,
}

/// The first event of the stream at `url` (its `event` and `id`).
async fn first_event(http: &reqwest::Client, url: &str) -> anyhow::Result<(String, String)> {
    let response = http.get(url).send().await?;
    if !response.status().is_success() {
        bail!("{url}: {}", response.status());
    }
    let mut body = response.bytes_stream();
    let mut text = String::new();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(5), body.next())
        .await
        .context("the stream's first event")?
    {
        text.push_str(&String::from_utf8_lossy(&chunk?));
        for block in text.split("\n\n") {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::to_owned)
            };
            if let (Some(event), Some(id)) = (field("event: "), field("id: ")) {
                return Ok((event, id));
            }
        }
    }
    bail!("{url}: the stream ended before its first event")
}

/// Server CPU seconds spent while `opens` streams of `url` were opened and
/// read to their first event, one after the other; and those events.
async fn phase(
    http: &reqwest::Client,
    url: &str,
    opens: usize,
    pid: u32,
) -> anyhow::Result<(f64, Vec<String>)> {
    let before = read_process(pid)?;
    let mut firsts = Vec::with_capacity(opens);
    for _ in 0..opens {
        firsts.push(first_event(http, url).await?.0);
    }
    let after = read_process(pid)?;
    Ok((after.cpu_seconds - before.cpu_seconds, firsts))
}

/// Runs the load and reports.
pub async fn run(load: ResumeLoad) -> anyhow::Result<ResumeReport> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let events = format!("{}/api/campaign/{}/events", load.base, load.campaign);
    let (_, head) = first_event(&http, &events).await?;
    // The start of the history: `<epoch>.0-1` (`0-1` for a server of the
    // format before epochs, for an A/B run with BENCH_SERVER).
    let start = match head.split_once('.') {
        Some((epoch, _)) => format!("{epoch}.0-1"),
        None => "0-1".to_owned(),
    };
    for i in 0..load.others {
        let joined = http
            .post(format!("{}/api/user/register", load.base))
            .json(&json!({"campaign": load.other, "email": format!("other-{i}@example.com"), "name": format!("Other {i}")}))
            .send()
            .await?;
        if !joined.status().is_success() {
            bail!("a join of the other campaign: {}", joined.status());
        }
    }
    // Let the reader take them in (they are in the history either way).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rounds = load.rounds.max(1);
    let (open, _) = phase(&http, &events, load.opens * rounds, load.server_pid).await?;
    let resumed = format!("{events}?last_event_id={start}");
    let (resume, firsts) = phase(&http, &resumed, load.opens * rounds, load.server_pid).await?;
    let (open, resume) = (open / rounds as f64, resume / rounds as f64);
    let mut resume_first_events = std::collections::BTreeMap::new();
    for event in firsts {
        *resume_first_events.entry(event).or_insert(0) += 1;
    }
    Ok(ResumeReport {
        open_cpu_ms: open * 1000.0,
        resume_cpu_ms: resume * 1000.0,
        ratio: resume / open.max(1e-9),
        resume_first_events,
    })
}
