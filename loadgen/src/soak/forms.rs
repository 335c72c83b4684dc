//! The form load: joins in referral chains and leads with idempotency keys,
//! each retried on any failure (on the next instance), each remembered with
//! when it was sent and when — if ever — it was acknowledged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::Rng;
use serde_json::{Value, json};
use tokio::time::Instant;

/// How one attempt ended.
enum Attempt {
    /// The server acknowledged it (its answer).
    Done(Value),
    /// It failed in a way a retry may fix (the cause, for the table).
    Retry(String),
    /// It failed for good (the cause).
    Final(String),
}

/// Posts `body` to `url` once.
async fn attempt(http: &reqwest::Client, url: &str, body: &Value, key: Option<&str>) -> Attempt {
    let mut request = http.post(url).json(body);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return Attempt::Retry("timeout".into()),
        Err(_) => return Attempt::Retry("connection".into()),
    };
    let status = response.status();
    let reply: Value = match response.json().await {
        Ok(v) => v,
        Err(_) => return Attempt::Retry(format!("{} (body cut)", status.as_u16())),
    };
    let code = reply["code"].as_str().unwrap_or_default().to_owned();
    match status.as_u16() {
        200..=299 => Attempt::Done(reply),
        429 | 500..=599 => Attempt::Retry(format!("{} {code}", status.as_u16())),
        _ => Attempt::Final(format!("{} {code}", status.as_u16())),
    }
}

/// The causes of retries and failures, counted.
#[derive(Default)]
pub struct Causes(Mutex<BTreeMap<String, u64>>);

impl Causes {
    fn add(&self, cause: String) {
        *self.0.lock().entry(cause).or_default() += 1;
    }

    /// Each cause and its count.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.0.lock().clone()
    }
}

/// One join.
#[derive(Debug, Clone)]
pub struct Join {
    /// When it was first sent.
    pub sent: Instant,
    /// When the server acknowledged it.
    pub acked: Option<Instant>,
    /// Refused as taken after an attempt whose answer was lost: it
    /// committed, but was never acknowledged.
    pub committed_unacked: bool,
    /// Made with a referral code.
    pub referred: bool,
    /// The first retryable failure: when, and what.
    pub first_failure: Option<(Instant, String)>,
}

/// The joins of a run: join `n` is "Soak n", soak-n@soak.test.
#[derive(Default)]
pub struct Joins {
    /// Every join, by number.
    pub list: Mutex<Vec<Join>>,
    /// Referral codes of acknowledged joins, in order.
    codes: Mutex<Vec<String>>,
    /// Retries by cause.
    pub retries: Causes,
    /// Joins that failed for good, by cause.
    pub failures: Causes,
}

/// The display name of join `n`, which its `user.joined` event carries.
pub fn join_name(n: usize) -> String {
    format!("Soak {n}")
}

/// The join number a `user.joined` event's display name names.
pub fn join_number(display_name: &str) -> Option<usize> {
    display_name.strip_prefix("Soak ")?.parse().ok()
}

/// One lead.
#[derive(Debug, Clone, Default)]
pub struct Lead {
    /// The id the server acknowledged it with.
    pub id: Option<String>,
    /// Attempts made.
    pub attempts: u32,
}

/// The leads of a run: lead `n` is named "Soak lead n".
#[derive(Default)]
pub struct Leads {
    /// Every lead, by number.
    pub list: Mutex<Vec<Lead>>,
    /// Retries by cause.
    pub retries: Causes,
    /// Leads that failed for good, by cause.
    pub failures: Causes,
}

/// The name of lead `n`.
pub fn lead_name(n: usize) -> String {
    format!("Soak lead {n}")
}

/// Where and how long the form load runs.
#[derive(Clone)]
pub struct FormLoad {
    /// The instances' HTTP bases.
    pub bases: Arc<Vec<String>>,
    /// HTTP clients, each on a loopback address of its own.
    pub clients: Arc<Vec<reqwest::Client>>,
    /// The campaign.
    pub campaign: String,
    /// New operations stop here…
    pub until: Instant,
    /// …and retries here.
    pub retry_until: Instant,
}

impl FormLoad {
    /// Tries `body` until it is acknowledged, it fails for good, or retries
    /// end, each attempt on the next instance; `attempted` hears of each
    /// attempt and of each retryable failure.
    async fn send(
        &self,
        n: usize,
        path: &str,
        body: &Value,
        key: Option<&str>,
        retries: &Causes,
        mut attempted: impl FnMut(u32, Option<&str>),
    ) -> Result<Value, String> {
        let http = &self.clients[n % self.clients.len()];
        let mut tries = 0u32;
        loop {
            let base = &self.bases[(n + tries as usize) % self.bases.len()];
            tries += 1;
            attempted(tries, None);
            match attempt(http, &format!("{base}{path}"), body, key).await {
                Attempt::Done(reply) => return Ok(reply),
                Attempt::Final(cause) => return Err(cause),
                Attempt::Retry(cause) => {
                    attempted(tries, Some(&cause));
                    retries.add(cause.clone());
                    if Instant::now() > self.retry_until {
                        return Err(format!("gave up: {cause}"));
                    }
                    let pause = 100 * u64::from(tries.min(10));
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            }
        }
    }
}

/// Sends `per_second` joins until the load ends: most with the referral
/// code of a recent join (chains), some with one of the first joins' (they
/// climb the leaderboard and reach milestones).
pub async fn run_joins(load: FormLoad, joins: Arc<Joins>, per_second: f64) {
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second));
    let mut tasks = tokio::task::JoinSet::new();
    while Instant::now() < load.until {
        ticker.tick().await;
        let code = {
            let codes = joins.codes.lock();
            let mut rng = rand::rng();
            match (codes.len(), rng.random_range(0..10)) {
                (0, _) | (_, 0..=2) => None,
                (len, 3) => Some(codes[rng.random_range(0..len.min(5))].clone()),
                (len, _) => Some(codes[rng.random_range(len.saturating_sub(50)..len)].clone()),
            }
        };
        let n = {
            let mut list = joins.list.lock();
            list.push(Join {
                sent: Instant::now(),
                acked: None,
                committed_unacked: false,
                referred: code.is_some(),
                first_failure: None,
            });
            list.len() - 1
        };
        let (load, joins) = (load.clone(), joins.clone());
        tasks.spawn(async move {
            let mut body = json!({
                "campaign": load.campaign,
                "email": format!("soak-{n}@soak.test"),
                "name": join_name(n),
            });
            if let Some(code) = code {
                body["referral_code"] = json!(code);
            }
            let mut tries = 0;
            let mut first_failure = None;
            let sent = load
                .send(
                    n,
                    "/api/user/register",
                    &body,
                    None,
                    &joins.retries,
                    |t, failure| {
                        tries = t;
                        if let Some(cause) = failure {
                            first_failure.get_or_insert_with(|| (Instant::now(), cause.to_owned()));
                        }
                    },
                )
                .await;
            joins.list.lock()[n].first_failure = first_failure;
            match sent {
                Ok(reply) => {
                    joins.list.lock()[n].acked = Some(Instant::now());
                    if let Some(code) = reply["referral_code"].as_str() {
                        joins.codes.lock().push(code.to_owned());
                    }
                }
                // Taken after an attempt that got no answer: that one committed.
                Err(cause) if tries > 1 && cause == "409 email_taken" => {
                    joins.list.lock()[n].committed_unacked = true;
                }
                Err(cause) => joins.failures.add(cause),
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Sends `per_second` leads until the load ends, each with an idempotency
/// key of its own, retried on any failure until acknowledged.
pub async fn run_leads(load: FormLoad, leads: Arc<Leads>, per_second: f64) {
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second));
    let mut tasks = tokio::task::JoinSet::new();
    let run: u32 = rand::random();
    while Instant::now() < load.until {
        ticker.tick().await;
        let n = {
            let mut list = leads.list.lock();
            list.push(Lead::default());
            list.len() - 1
        };
        let (load, leads) = (load.clone(), leads.clone());
        tasks.spawn(async move {
            let body = json!({
                "campaign": load.campaign,
                "name": lead_name(n),
                "email": format!("lead-{n}@soak.test"),
                "message": "A lead from the soak: please call back.",
            });
            let key = format!("soak-{run}-{n}");
            let sent = load
                .send(
                    n,
                    "/api/quote",
                    &body,
                    Some(&key),
                    &leads.retries,
                    |t, _| {
                        leads.list.lock()[n].attempts = t;
                    },
                )
                .await;
            match sent {
                Ok(reply) => {
                    leads.list.lock()[n].id = reply["id"].as_str().map(str::to_owned);
                }
                Err(cause) => leads.failures.add(cause),
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}
