//! Sending mail: the worker that takes the mail entries due, renders each
//! in its recipient's language and sends it over SMTP (lettre), paced to
//! `OVASABI_MAIL_PER_SECOND`, and records how it went.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use parking_lot::Mutex;
use serde_json::json;
use tokio::time::Instant;

use super::templates::{mail_locale, render, template, translated};
use super::{MailData, MailKind, links};
use crate::bus::EventBus;
use crate::campaign::cache::CampaignCache;
use crate::config::Config;
use crate::model::campaign::Campaign;
use crate::model::outbox::OutboxEntry;
use crate::outbox::{Retries, announce_delivery};
use crate::session::SessionKeys;
use crate::store::SharedStore;
use crate::tasks::Tasks;
use crate::telemetry::Counters;
use crate::translate::Translator;

/// How mail is sent: the SMTP server (none: mails wait), the sender, the
/// pace, the retries and the links' base.
pub struct MailSettings {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Option<Mailbox>,
    public_url: Option<url::Url>,
    interval: Duration,
    retries: Retries,
    verify_ttl: chrono::Duration,
}

impl MailSettings {
    /// The settings `config` gives (`OVASABI_SMTP_URL`, `OVASABI_MAIL_*`,
    /// `OVASABI_PUBLIC_URL`).
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let mail = &config.mail;
        let transport = match &mail.smtp_url {
            None => None,
            Some(url) => {
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.as_str())?
                    .timeout(Some(mail.mail_timeout));
                if let Some(password) = &mail.smtp_password {
                    let user = url::Url::parse(url.as_str())?.username().to_owned();
                    builder = builder.credentials(Credentials::new(
                        percent_decoded(&user),
                        password.value.clone(),
                    ));
                }
                Some(builder.build())
            }
        };
        Ok(Self {
            transport,
            from: mail.mail_from.as_deref().map(str::parse).transpose()?,
            public_url: mail.public_url.as_ref().map(|u| u.0.clone()),
            interval: Duration::from_secs(1) / mail.mail_per_second.max(1),
            retries: Retries {
                max_attempts: mail.mail_max_attempts,
                base: config.webhook_backoff,
                cap: Duration::from_secs(3600),
            },
            verify_ttl: chrono::Duration::from_std(mail.verify_ttl)?,
        })
    }
}

fn percent_decoded(text: &str) -> String {
    url::form_urlencoded::parse(format!("u={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `List-Unsubscribe` (RFC 2369): the one-click link.
#[derive(Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// `List-Unsubscribe-Post` (RFC 8058): the link unsubscribes with one POST.
#[derive(Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

/// How one mail's attempt ended.
enum Outcome {
    Sent,
    /// Failed; tried again later, unless it was the last attempt.
    Failed(String),
    /// Refused for good: dead, and the address suppressed.
    Refused(String),
    /// Not to be sent (the person is gone, unsubscribed or suppressed): dead.
    Dropped(String),
}

/// Whether an SMTP error is a refusal of the recipient or the message for
/// good: a 5xx of the mail system (55x: no such mailbox, refused, policy).
/// Other permanent replies (500–504 syntax, 530/535 authentication) are
/// the sending side's to fix, and are retried.
fn refusal(error: &lettre::transport::smtp::Error) -> bool {
    error.is_permanent()
        && error
            .status()
            .is_some_and(|code| (550..=559).contains(&u16::from(code)))
}

/// Sends the mail entries.
#[derive(Clone)]
pub struct MailWorker {
    store: SharedStore,
    campaigns: Arc<CampaignCache>,
    translator: Arc<Translator>,
    keys: Arc<SessionKeys>,
    bus: Arc<dyn EventBus>,
    settings: Arc<MailSettings>,
    counters: Arc<Counters>,
    next_slot: Arc<Mutex<Instant>>,
}

/// Most mails one look takes.
const BATCH: u32 = 32;
/// SMTP conversations in flight at once (lettre's pool keeps as many
/// connections open).
const CONVERSATIONS: usize = 8;
/// How often the worker looks.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

impl MailWorker {
    /// A worker sending with `settings`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: SharedStore,
        campaigns: Arc<CampaignCache>,
        translator: Arc<Translator>,
        keys: Arc<SessionKeys>,
        bus: Arc<dyn EventBus>,
        settings: Arc<MailSettings>,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            store,
            campaigns,
            translator,
            keys,
            bus,
            settings,
            counters,
            next_slot: Arc::new(Mutex::new(Instant::now())),
        }
    }

    /// Sends what is due, batch after batch, until nothing is; how many
    /// mails were tried. Without an SMTP server, nothing (mails wait).
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let Some(transport) = &self.settings.transport else {
            return Ok(0);
        };
        let mut tried = 0;
        loop {
            let now = Utc::now();
            let due = self.store.due_mail(now, BATCH).await?;
            if due.is_empty() {
                return Ok(tried);
            }
            let lease = chrono::Duration::seconds(600);
            // Several conversations at once: one SMTP conversation waits on
            // the network most of its time (a mail's body goes in several
            // writes, each waiting for the last one's acknowledgement).
            let outcomes: Vec<anyhow::Result<bool>> = futures::stream::iter(due)
                .map(|entry| async move {
                    if !self.store.claim_outbox(entry.id, now, now + lease).await? {
                        return Ok(false); // another instance has it
                    }
                    let outcome = match self.prepare(&entry).await {
                        Ok(message) => {
                            self.pace().await;
                            match transport.send(message).await {
                                Ok(_) => Outcome::Sent,
                                Err(e) if refusal(&e) => Outcome::Refused(e.to_string()),
                                Err(e) => Outcome::Failed(e.to_string()),
                            }
                        }
                        Err(dropped) => dropped,
                    };
                    self.record(entry, outcome).await?;
                    Ok(true)
                })
                .buffer_unordered(CONVERSATIONS)
                .collect()
                .await;
            for outcome in outcomes {
                tried += usize::from(outcome?);
            }
        }
    }

    /// Waits for the next sending slot (`OVASABI_MAIL_PER_SECOND`).
    async fn pace(&self) {
        let slot = {
            let mut next = self.next_slot.lock();
            let slot = (*next).max(Instant::now());
            *next = slot + self.settings.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// The message of `entry`, or why it is not to be sent.
    async fn prepare(&self, entry: &OutboxEntry) -> Result<Message, Outcome> {
        let drop = |why: &str| Outcome::Dropped(format!("not sent: {why}"));
        let kind = MailKind::of_event_type(&entry.event_type)
            .ok_or_else(|| drop("not a mail this server sends"))?;
        let data: MailData = serde_json::from_value(entry.payload.clone())
            .map_err(|_| drop("its entry was erased or is unreadable"))?;
        let store_failed = |e: crate::store::StoreError| Outcome::Failed(e.to_string());
        let campaign = match &entry.campaign_slug {
            Some(slug) => self
                .campaigns
                .by_slug(self.store.as_ref(), slug)
                .await
                .map_err(store_failed)?,
            None => None,
        }
        .ok_or_else(|| drop("its campaign is gone"))?;
        let to: Mailbox = data
            .to
            .parse()
            .map_err(|_| drop("the address cannot be mailed"))?;
        if self
            .store
            .is_suppressed(campaign.id, &data.to)
            .await
            .map_err(store_failed)?
        {
            return Err(drop("the address refused mail before (suppressed)"));
        }
        let data = self.current(&campaign, kind, data).await?;
        let values = self.values(&campaign, kind, &data, entry);
        let locale = mail_locale(&campaign, data.locale.as_deref()).to_owned();
        let text = translated(
            &self.translator,
            &campaign,
            kind,
            template(&campaign, kind),
            &locale,
        )
        .await;
        let rendered = render(&text, &values).map_err(|e| drop(&format!("template {e}")))?;
        let from = self
            .settings
            .from
            .clone()
            .ok_or_else(|| drop("no sender"))?;
        let domain = from.email.domain().to_owned();
        let mut message = Message::builder()
            .from(from)
            .to(to)
            .subject(rendered.subject)
            // The same on every attempt: a receiver drops a duplicate.
            .message_id(Some(format!(
                "<{}.{}@{domain}>",
                entry.id,
                entry.created_at.timestamp_millis()
            )));
        if kind.marketing()
            && let Some(url) = values["unsubscribe_url"].as_str()
        {
            message = message
                .header(ListUnsubscribe(url.to_owned()))
                .header(ListUnsubscribePost);
        }
        let text_part = SinglePart::plain(rendered.text);
        let built = match rendered.html {
            Some(html) => message.multipart(
                MultiPart::alternative()
                    .singlepart(text_part)
                    .singlepart(SinglePart::html(html)),
            ),
            None => message.singlepart(text_part),
        };
        built.map_err(|e| drop(&format!("the message cannot be built: {e}")))
    }

    /// `data` as it stands now, or why the mail is not to be sent: a
    /// verification goes to the address's join as it is when sent (a newer
    /// join of the address replaced the one that wrote it, its link names
    /// the newer one; a verified one needs none); a mail about a user needs
    /// the user, and a marketing one their consent still.
    async fn current(
        &self,
        campaign: &Campaign,
        kind: MailKind,
        mut data: MailData,
    ) -> Result<MailData, Outcome> {
        let drop = |why: &str| Outcome::Dropped(format!("not sent: {why}"));
        let store_failed = |e: crate::store::StoreError| Outcome::Failed(e.to_string());
        if let Some(id) = data.lead_id {
            let lead = self.store.lead_by_id(id).await.map_err(store_failed)?;
            let lead = lead
                .filter(|lead| !crate::model::erasure::is_erased_email(&lead.email))
                .ok_or_else(|| drop("the lead was erased"))?;
            data.name.clone_from(&lead.name);
            if kind == MailKind::LeadNotify {
                data.lead = Some(super::lead_summary(&lead));
            }
        }
        let Some(master_id) = data.master_id else {
            return Ok(data);
        };
        let user = if kind == MailKind::Verify {
            let join = self.store.join_of(campaign.id, &data.to).await;
            let join = join.map_err(store_failed)?;
            let join = join.ok_or_else(|| drop("the join was removed"))?;
            if join.verified_at.is_some() {
                return Err(drop("the address is verified already"));
            }
            join
        } else {
            let user = self
                .store
                .user_by_id(master_id)
                .await
                .map_err(store_failed)?;
            user.ok_or_else(|| drop("the join was removed"))?
        };
        if kind.marketing() && user.unsubscribed_at.is_some() {
            return Err(drop("the person unsubscribed"));
        }
        data.master_id = Some(user.master_id);
        data.name = user.display_name;
        data.locale = user.locale;
        Ok(data)
    }

    /// What the template of `kind` is given: the entry's data, the
    /// campaign's name and the links, made now from the public URL.
    fn values(
        &self,
        campaign: &Campaign,
        kind: MailKind,
        data: &MailData,
        entry: &OutboxEntry,
    ) -> serde_json::Value {
        let link = |path: String| match &self.settings.public_url {
            Some(base) => format!("{}{path}", base.as_str().trim_end_matches('/')),
            None => path,
        };
        let mut values = json!({
            "campaign": campaign.name,
            "name": data.name,
            "referral_code": data.referral_code,
            "lead": data.lead,
            "valid_hours": self.settings.verify_ttl.num_hours(),
        });
        if let Some(master_id) = data.master_id {
            if kind == MailKind::Verify {
                let expires = entry.created_at + self.settings.verify_ttl;
                let token = links::verify_token(&self.keys, master_id, expires);
                values["verify_url"] = json!(link(format!("/v/{token}")));
            }
            let token = links::unsubscribe_token(&self.keys, master_id);
            values["unsubscribe_url"] = json!(link(format!("/api/unsubscribe/{token}")));
        }
        if let Some(lead) = data.lead_id {
            let signature = links::lead_status_signature(&self.keys, lead);
            values["status_url"] = json!(link(format!(
                "/api/quote/{lead}/status?sig={}",
                url::form_urlencoded::byte_serialize(signature.as_bytes()).collect::<String>()
            )));
        }
        values
    }

    /// Records how `entry`'s attempt went, and tells the campaign's team.
    async fn record(&self, mut entry: OutboxEntry, outcome: Outcome) -> anyhow::Result<()> {
        let now = Utc::now();
        let attempt = entry.attempts + 1;
        let label = match &outcome {
            Outcome::Sent => {
                self.store.outbox_delivered(entry.id, now).await?;
                entry.delivered_at = Some(now);
                "sent"
            }
            Outcome::Failed(error) => {
                entry.last_error = Some(error.clone());
                let retried = self
                    .settings
                    .retries
                    .record(self.store.as_ref(), &entry, attempt, error)
                    .await?;
                // The server's words quote the address: they stay in the entry.
                tracing::info!(id = entry.id, attempt, retried, "mail not sent");
                if retried {
                    "retrying"
                } else {
                    entry.dead_at = Some(now);
                    "dead"
                }
            }
            Outcome::Refused(error) | Outcome::Dropped(error) => {
                let refused = matches!(outcome, Outcome::Refused(_));
                let address = entry
                    .target_url
                    .as_deref()
                    .and_then(|t| t.strip_prefix("mailto:"))
                    .unwrap_or_default()
                    .to_owned();
                if refused {
                    self.store.suppress(&entry, &address, error, now).await?;
                } else {
                    self.store
                        .outbox_failed(entry.id, attempt, error, None, now)
                        .await?;
                }
                tracing::info!(id = entry.id, refused, "mail dead");
                entry.last_error = Some(error.clone());
                entry.dead_at = Some(now);
                if refused { "suppressed" } else { "dead" }
            }
        };
        entry.attempts = attempt;
        self.counters
            .mail_attempts
            .with_label_values(&[label])
            .inc();
        announce_delivery(self.bus.as_ref(), &entry).await;
        Ok(())
    }

    /// Sends until shutdown, as the task `mail delivery`.
    pub fn start(self, tasks: &Tasks) {
        let worker = Arc::new(self);
        tasks.periodic("mail delivery", POLL_INTERVAL, None, move || {
            let worker = worker.clone();
            async move {
                if let Err(e) = worker.run_once().await {
                    tracing::warn!(error = format!("{e:#}"), "mail pass failed");
                }
            }
        });
    }
}
