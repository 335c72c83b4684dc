//! The event streams of the soak: each a page's stream that lives the whole
//! run, reconnecting (to the next instance) with the last id it saw when its
//! connection ends, and keeping what the accounting needs: which joins'
//! `user.joined` it received, when it got `reset`, and whether its events
//! came in id order, each once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::Instant;

use super::forms::join_number;

/// An event id `<epoch>.<ms>-<seq>[-<sub>]`, as a sortable tuple.
pub fn parse_id(id: &str) -> Option<(u64, u64, u64, u64)> {
    let (epoch, rest) = id.split_once('.')?;
    let mut parts = rest.split('-').map(|p| p.parse::<u64>().ok());
    let (ms, seq) = (parts.next()??, parts.next()??);
    let sub = match parts.next() {
        None => 0,
        Some(sub) => sub?,
    };
    parts
        .next()
        .is_none()
        .then_some((epoch.parse().ok()?, ms, seq, sub))
}

/// A set of join numbers.
#[derive(Debug, Clone, Default)]
pub struct Seen(Vec<u64>);

impl Seen {
    /// Adds `n`; false when it was there already.
    fn insert(&mut self, n: usize) -> bool {
        let (word, bit) = (n / 64, 1u64 << (n % 64));
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        let fresh = self.0[word] & bit == 0;
        self.0[word] |= bit;
        fresh
    }

    /// Whether `n` is in.
    pub fn contains(&self, n: usize) -> bool {
        self.0.get(n / 64).is_some_and(|w| w & (1 << (n % 64)) != 0)
    }
}

/// What one stream received over the run.
#[derive(Debug, Clone)]
pub struct StreamLog {
    /// When it first opened (got its first frame).
    pub opened: Option<Instant>,
    /// When the run closed it.
    pub closed: Option<Instant>,
    /// Connections that opened, and of them resumes (with a last id).
    pub connects: u32,
    /// Connections opened with a last id.
    pub resumes: u32,
    /// Connection attempts that failed, by cause.
    pub failures: BTreeMap<String, u32>,
    /// Each `reset`: when, and the last join it had received before it.
    pub resets: Vec<(Instant, Option<usize>)>,
    /// The joins whose `user.joined` it received.
    pub joins: Seen,
    /// `user.joined` events received a second time.
    pub duplicates: u32,
    /// Events whose id was not above the one before.
    pub out_of_order: u32,
    /// The first of those, described.
    pub first_violation: Option<String>,
    /// Frames received.
    pub frames: u64,
    last_event: Option<(u64, u64, u64, u64)>,
    last_join: Option<usize>,
}

impl StreamLog {
    fn new() -> Self {
        Self {
            opened: None,
            closed: None,
            connects: 0,
            resumes: 0,
            failures: BTreeMap::new(),
            resets: Vec::new(),
            joins: Seen::default(),
            duplicates: 0,
            out_of_order: 0,
            first_violation: None,
            frames: 0,
            last_event: None,
            last_join: None,
        }
    }

    fn violation(&mut self, what: String) {
        self.out_of_order += 1;
        self.first_violation.get_or_insert(what);
    }

    /// Takes in one frame.
    fn frame(&mut self, id: Option<&str>, event: &str, data: &str) {
        self.frames += 1;
        match event {
            "presence" => {}
            "reset" => self.resets.push((Instant::now(), self.last_join)),
            _ => {
                match id.map(|i| (i, parse_id(i))) {
                    Some((_, Some(parsed))) if self.last_event.is_none_or(|l| parsed > l) => {
                        self.last_event = Some(parsed);
                    }
                    Some((raw, Some(_))) => {
                        self.violation(format!("{event} {raw} after {:?}", self.last_event));
                    }
                    Some((raw, None)) => self.violation(format!("{event} with id {raw:?}")),
                    None => self.violation(format!("{event} without an id")),
                }
                if event == "user.joined" {
                    let name = serde_json::from_str::<serde_json::Value>(data)
                        .ok()
                        .and_then(|v| v["display_name"].as_str().and_then(join_number));
                    if let Some(n) = name {
                        if !self.joins.insert(n) {
                            self.duplicates += 1;
                        }
                        self.last_join = Some(n);
                    }
                }
            }
        }
    }
}

/// Where the streams connect.
#[derive(Clone)]
pub struct StreamLoad {
    /// The instances' HTTP bases.
    pub bases: Arc<Vec<String>>,
    /// The campaign.
    pub campaign: String,
    /// Streams to keep open.
    pub streams: usize,
}

/// Opens the streams and keeps them open until `stop`; returns their logs.
pub fn start(
    load: StreamLoad,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Vec<Arc<Mutex<StreamLog>>>> {
    let clients = crate::target::spread_clients(load.streams)?;
    let mut logs = Vec::new();
    for i in 0..load.streams {
        let log = Arc::new(Mutex::new(StreamLog::new()));
        logs.push(log.clone());
        let http = clients[i / crate::target::CLIENTS_PER_ADDRESS].clone();
        tokio::spawn(follow(i, load.clone(), http, log, stop.clone()));
    }
    Ok(logs)
}

/// One stream over the run.
async fn follow(
    i: usize,
    load: StreamLoad,
    http: reqwest::Client,
    log: Arc<Mutex<StreamLog>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut last_id: Option<String> = None;
    let mut server = i;
    while !*stop.borrow() {
        let base = &load.bases[server % load.bases.len()];
        let mut request = http.get(format!("{base}/api/campaign/{}/events", load.campaign));
        if let Some(id) = &last_id {
            request = request.header("last-event-id", id);
        }
        let reply = tokio::select! {
            reply = request.send() => reply,
            () = super::stopped(&mut stop) => break,
        };
        match reply {
            Ok(r) if r.status().is_success() => {
                {
                    let mut log = log.lock();
                    log.connects += 1;
                    log.resumes += u32::from(last_id.is_some());
                }
                read(r, &log, &mut last_id, &mut stop).await;
            }
            Ok(r) => {
                let status = r.status().as_u16();
                *log.lock().failures.entry(status.to_string()).or_default() += 1;
            }
            Err(_) => *log.lock().failures.entry("connect".into()).or_default() += 1,
        }
        server += 1;
        let pause = 100 + rand::random::<u64>() % 400;
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(pause)) => {}
            () = super::stopped(&mut stop) => break,
        }
    }
    log.lock().closed = Some(Instant::now());
}

/// Reads one connection's frames until it ends, or `stop`.
async fn read(
    response: reqwest::Response,
    log: &Mutex<StreamLog>,
    last_id: &mut Option<String>,
    stop: &mut watch::Receiver<bool>,
) {
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    loop {
        let chunk = tokio::select! {
            chunk = tokio::time::timeout(Duration::from_secs(60), body.next()) => chunk,
            () = super::stopped(stop) => return,
        };
        let Ok(Some(Ok(chunk))) = chunk else { return };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (None, "message", "");
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = Some(v);
                } else if let Some(v) = line.strip_prefix("event: ") {
                    event = v;
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = v;
                }
            }
            if data.is_empty() && id.is_none() {
                continue; // a comment (heartbeat) or a retry hint
            }
            let mut log = log.lock();
            log.opened.get_or_insert_with(Instant::now);
            log.frame(id, event, data);
            if let Some(id) = id {
                *last_id = Some(id.to_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_and_order() {
        assert_eq!(parse_id("5.10-2"), Some((5, 10, 2, 0)));
        assert_eq!(parse_id("5.10-2-3"), Some((5, 10, 2, 3)));
        assert!(parse_id("5.10-2-1") < parse_id("5.10-3"));
        assert!(parse_id("5.99-9") < parse_id("6.1-0"));
        for bad in ["10-2", "5.10", "5.10-x", "5.1-2-3-4", ""] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_log_counts_repeats_and_disorder() {
        let mut log = StreamLog::new();
        let joined = |n: usize| format!("{{\"display_name\":\"Soak {n}\"}}");
        log.frame(Some("1.5-0"), "presence", "{}");
        log.frame(Some("1.6-0"), "user.joined", &joined(1));
        log.frame(Some("1.7-0"), "user.joined", &joined(2));
        assert_eq!((log.duplicates, log.out_of_order), (0, 0));
        log.frame(Some("1.7-0"), "user.joined", &joined(2));
        assert_eq!((log.duplicates, log.out_of_order), (1, 1));
        log.frame(Some("1.7-0"), "reset", "{}");
        assert_eq!(log.resets.last().map(|r| r.1), Some(Some(2)));
        assert!(log.joins.contains(1) && log.joins.contains(2) && !log.joins.contains(3));
    }
}
