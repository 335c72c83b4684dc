//! The outbox: events that must leave the building (the CRM's webhooks,
//! welcome notifications) are written in the same transaction as the row they
//! describe, then delivered by [`OutboxWorker`] — signed, retried with
//! exponential backoff and jitter, at least once, never lost.
//!
//! Each delivery is a `POST` of JSON
//! `{"id", "type", "campaign", "created_at", "attempt", "data"}` with headers
//! `ovasabi-event`, `ovasabi-delivery` (the outbox id: receivers de-duplicate
//! with it) and `ovasabi-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>">`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sha2::Sha256;
use tokio::sync::Notify;

use crate::bus::{Audience, Event, EventBus};
use crate::model::events::payload::{DeliveryState, TeamDelivery};
use crate::model::outbox::{OutboxEntry, OutboxKind};
use crate::store::SharedStore;
use crate::tasks::Tasks;
use crate::telemetry::Counters;

/// How deliveries are made.
#[derive(Clone)]
pub struct WebhookSettings {
    /// The default receiver.
    pub default_url: Option<url::Url>,
    /// HMAC secret of the signature header.
    pub secret: String,
    /// Which receivers may be called (checked again at every delivery, after DNS).
    pub policy: crate::config::TargetPolicy,
    /// Attempts before an entry is dead.
    pub max_attempts: u32,
    /// First retry delay; doubles each attempt.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_cap: Duration,
    /// Timeout of one delivery.
    pub timeout: Duration,
}

/// Most characters of a receiver's error body kept with a failed attempt.
pub(crate) const EXCERPT_CHARS: usize = 200;

/// The start of a refused delivery's response body: at most
/// [`EXCERPT_CHARS`] characters of text, controls replaced, read with a cap
/// (a receiver's body is theirs, and may be large or hostile).
async fn body_excerpt(mut response: reqwest::Response) -> String {
    let mut raw = Vec::new();
    while raw.len() < 4 * EXCERPT_CHARS {
        match response.chunk().await {
            Ok(Some(chunk)) => raw.extend_from_slice(&chunk),
            _ => break,
        }
    }
    sanitize_excerpt(&String::from_utf8_lossy(&raw))
}

/// `text` on one line, without control or invisible characters, cut to
/// [`EXCERPT_CHARS`].
pub(crate) fn sanitize_excerpt(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_control() || crate::model::text::is_invisible(c) {
                ' '
            } else {
                c
            }
        })
        .collect();
    let words: Vec<&str> = clean.split_whitespace().collect();
    let line = words.join(" ");
    match line.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// An error and its causes, on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Resolves receivers' names and refuses those that lead to an address the
/// policy does not allow (a public name pointing at 127.0.0.1, the cloud
/// metadata service or the private network): checked after resolution, on
/// the addresses really connected to.
struct PublicResolver(crate::config::TargetPolicy);

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(bad) = addrs.iter().find(|a| policy.check_address(a.ip()).is_err()) {
                return Err(
                    format!("{host} resolves to {}, not a public address", bad.ip()).into(),
                );
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The signature header value for `body` sent at `timestamp`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={timestamp},v1={hex}")
}

/// The Standard Webhooks (standardwebhooks.com) signature of message `id`
/// with `body` sent at `timestamp`: `v1,` and the base64 of the HMAC-SHA256
/// of `{id}.{timestamp}.{body}`, keyed with the secret's bytes (which the
/// receiver's library takes as `whsec_` followed by their base64).
pub(crate) fn standard_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    use base64::Engine;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// Delay before retry number `attempt` (1-based): exponential from `base`, capped,
/// with full jitter over its upper half so that retries of many entries spread out.
pub(crate) fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let exp = base.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(30)));
    let ceiling = exp.min(cap);
    let half = ceiling / 2;
    half + half.mul_f64(rand::rng().random::<f64>())
}

/// Where an outbox entry stands, as the campaign's team hears it
/// (`team.delivery`): `delivered`, `dead`, `retrying` (failed, to be tried
/// again) or `pending` (not tried yet, or put back in line).
pub(crate) fn delivery_state(entry: &OutboxEntry) -> TeamDelivery {
    let state = if entry.delivered_at.is_some() {
        DeliveryState::Delivered
    } else if entry.dead_at.is_some() {
        DeliveryState::Dead
    } else if entry.attempts > 0 {
        DeliveryState::Retrying
    } else {
        DeliveryState::Pending
    };
    // A mail's address, and its server's words quoting it, stay out of the
    // event history (an erasure cannot reach it): the outbox shows them.
    let shown = |text: &Option<String>| match entry.kind {
        OutboxKind::Mail => None,
        OutboxKind::Webhook => text
            .as_deref()
            .map(crate::model::text::mask_url_credentials),
    };
    TeamDelivery {
        id: entry.id,
        event_type: entry.event_type.clone(),
        target: shown(&entry.target_url),
        state,
        attempts: entry.attempts,
        last_error: shown(&entry.last_error),
    }
}

/// Tells `entry`'s campaign team where it stands now (`team.delivery`);
/// an entry of no campaign has no team to tell. A bus failure is logged: the
/// delivery itself is done.
pub(crate) async fn announce_delivery(bus: &dyn EventBus, entry: &OutboxEntry) {
    let Some(campaign) = &entry.campaign_slug else {
        return;
    };
    let event = Event::built_in(&delivery_state(entry), Audience::Team);
    if let Err(e) = bus.publish(campaign, event).await {
        tracing::debug!(
            error = format!("{e:#}"),
            id = entry.id,
            "team not told of a delivery"
        );
    }
}

/// What one pass of the worker did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Delivered now.
    pub delivered: usize,
    /// Failed, to be retried.
    pub retrying: usize,
    /// Failed for the last time.
    pub dead: usize,
}

/// Most entries one pass takes.
const BATCH: u32 = 64;
/// Deliveries in flight at once.
const CONCURRENCY: usize = 8;
/// How often the worker looks without being woken.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Delivers the outbox.
#[derive(Clone)]
pub struct OutboxWorker {
    store: SharedStore,
    /// Where the campaign's team hears of each outcome (`team.delivery`).
    bus: Arc<dyn EventBus>,
    http: reqwest::Client,
    settings: Arc<WebhookSettings>,
    wake: Arc<Notify>,
    counters: Arc<Counters>,
}

/// How an attempt ended (with the failure's text).
enum Outcome {
    /// Not attempted: no receiver (the entry stays due).
    Skipped,
    Delivered,
    Retrying(String),
    Dead(String),
}

impl OutboxWorker {
    /// A worker on `store`; `wake` is notified when new entries are written;
    /// attempts are counted in `counters`.
    pub fn new(
        store: SharedStore,
        bus: Arc<dyn EventBus>,
        settings: WebhookSettings,
        wake: Arc<Notify>,
        counters: Arc<Counters>,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("ovasabi-edge/", env!("CARGO_PKG_VERSION")))
            // A redirect is a failed attempt: following one could lead anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(PublicResolver(settings.policy))
            .build()?;
        Ok(Self {
            store,
            bus,
            http,
            settings: Arc::new(settings),
            wake,
            counters,
        })
    }

    /// One pass: claims what is due and tries to deliver it.
    pub async fn run_once(&self) -> anyhow::Result<DeliveryReport> {
        let now = Utc::now();
        let due = self
            .store
            .due_outbox(now, self.settings.default_url.is_some(), BATCH)
            .await?;
        let lease = chrono::Duration::from_std(self.settings.timeout + Duration::from_secs(30))?;
        let outcomes: Vec<anyhow::Result<Option<Outcome>>> = futures::stream::iter(due)
            .map(|entry| async move {
                if !self.store.claim_outbox(entry.id, now, now + lease).await? {
                    return Ok(None); // another worker has it
                }
                let mut after = entry.clone();
                let outcome = self.deliver(entry).await?;
                self.tell_team(&mut after, &outcome).await;
                let label = match outcome {
                    Outcome::Delivered => "delivered",
                    Outcome::Retrying(_) | Outcome::Skipped => "retrying",
                    Outcome::Dead(_) => "dead",
                };
                self.counters
                    .webhook_attempts
                    .with_label_values(&[label])
                    .inc();
                Ok(Some(outcome))
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut report = DeliveryReport::default();
        for outcome in outcomes {
            match outcome? {
                Some(Outcome::Delivered) => report.delivered += 1,
                Some(Outcome::Retrying(_) | Outcome::Skipped) => report.retrying += 1,
                Some(Outcome::Dead(_)) => report.dead += 1,
                None => {}
            }
        }
        Ok(report)
    }

    async fn deliver(&self, entry: OutboxEntry) -> anyhow::Result<Outcome> {
        let target = match (&entry.target_url, &self.settings.default_url) {
            (Some(url), _) => url.clone(),
            (None, Some(url)) => url.to_string(),
            // Not selected without one.
            (None, None) => return Ok(Outcome::Skipped),
        };
        let attempt = entry.attempts + 1;
        let body = serde_json::to_vec(&serde_json::json!({
            "id": entry.id,
            "type": entry.event_type,
            "campaign": entry.campaign_slug,
            "created_at": entry.created_at,
            "attempt": attempt,
            "data": entry.payload,
        }))?;
        let timestamp = Utc::now().timestamp();
        let refused = url::Url::parse(&target)
            .map_err(|e| e.to_string())
            .and_then(|url| self.settings.policy.check_url(&url));
        if let Err(reason) = refused {
            return self
                .failed(&entry, attempt, &format!("receiver refused: {reason}"))
                .await;
        }
        // The same across retries: receivers deduplicate on it.
        let message_id = entry.id.to_string();
        let result = self
            .http
            .post(&target)
            .header("content-type", "application/json")
            .header("ovasabi-event", &entry.event_type)
            .header("ovasabi-delivery", &message_id)
            .header(
                "ovasabi-signature",
                signature(&self.settings.secret, timestamp, &body),
            )
            // Standard Webhooks, for receivers that verify with its libraries.
            .header("webhook-id", &message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                standard_signature(&self.settings.secret, &message_id, timestamp, &body),
            )
            .body(body)
            .send()
            .await;
        let error = match result {
            Ok(response) if response.status().is_success() => {
                let delivered_at = Utc::now();
                self.store.outbox_delivered(entry.id, delivered_at).await?;
                let waited = (delivered_at - entry.created_at)
                    .to_std()
                    .unwrap_or_default();
                self.counters.webhook_delivery.observe(waited.as_secs_f64());
                tracing::debug!(id = entry.id, event = %entry.event_type, "webhook delivered");
                return Ok(Outcome::Delivered);
            }
            Ok(response) if response.status().is_redirection() => format!(
                "receiver answered {} (redirects are not followed)",
                response.status()
            ),
            Ok(response) => {
                let status = response.status();
                let excerpt = body_excerpt(response).await;
                if excerpt.is_empty() {
                    format!("receiver answered {status}")
                } else {
                    format!("receiver answered {status}: {excerpt}")
                }
            }
            Err(e) if e.is_timeout() => "receiver timed out".to_owned(),
            Err(e) => format!("receiver unreachable: {}", error_chain(&e)),
        };
        self.failed(&entry, attempt, &error).await
    }

    /// Tells the campaign's team where `entry` stands after an attempt
    /// that ended with `outcome` (`team.delivery`).
    async fn tell_team(&self, entry: &mut OutboxEntry, outcome: &Outcome) {
        let now = Utc::now();
        entry.attempts += 1;
        match outcome {
            Outcome::Skipped => return,
            Outcome::Delivered => entry.delivered_at = Some(now),
            Outcome::Retrying(error) => entry.last_error = Some(error.clone()),
            Outcome::Dead(error) => {
                entry.last_error = Some(error.clone());
                entry.dead_at = Some(now);
            }
        }
        announce_delivery(self.bus.as_ref(), entry).await;
    }

    /// Records a failed attempt: retried later, or dead after the last one.
    async fn failed(
        &self,
        entry: &OutboxEntry,
        attempt: i32,
        error: &str,
    ) -> anyhow::Result<Outcome> {
        // An error may quote the receiver's URL: never its credentials.
        let error = crate::model::text::mask_url_credentials(error);
        let retries = Retries {
            max_attempts: self.settings.max_attempts,
            base: self.settings.backoff_base,
            cap: self.settings.backoff_cap,
        };
        if retries
            .record(self.store.as_ref(), entry, attempt, &error)
            .await?
        {
            tracing::info!(id = entry.id, attempt, error, "webhook failed; will retry");
            Ok(Outcome::Retrying(error))
        } else {
            tracing::warn!(
                id = entry.id,
                attempt,
                error,
                "webhook failed for the last time"
            );
            Ok(Outcome::Dead(error))
        }
    }

    /// Delivers until shutdown, as the task `outbox delivery`: a pass whenever
    /// woken, and at least every second.
    pub fn start(self, tasks: &Tasks) {
        let wake = self.wake.clone();
        let worker = Arc::new(self);
        tasks.periodic("outbox delivery", POLL_INTERVAL, Some(wake), move || {
            let worker = worker.clone();
            async move {
                match worker.run_once().await {
                    Ok(report) if report != DeliveryReport::default() => {
                        tracing::debug!(?report, "outbox pass");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = format!("{e:#}"), "outbox pass failed"),
                }
            }
        });
    }
}

mod retries;
#[cfg(test)]
mod tests;

pub(crate) use retries::Retries;
