//! Outbox entries: events that must leave the building, written in the same
//! transaction as the row they describe (delivered by [`crate::outbox`]).

use chrono::{DateTime, Utc};
use salvo_oapi::ToSchema;
use serde::Serialize;
use serde_json::Value;

use crate::model::campaign::Campaign;

/// What an outbox entry is: a webhook (posted to its receivers, numbered
/// in the back-office feed) or a mail (sent over SMTP to one address,
/// `mailto:` in its target).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[salvo(schema(rename_all = "lowercase"))]
pub enum OutboxKind {
    /// A webhook event.
    #[default]
    Webhook,
    /// A mail.
    Mail,
}

impl OutboxKind {
    /// The name stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Mail => "mail",
        }
    }

    /// Parses a stored name (anything else is a webhook, as before kinds).
    pub fn parse(s: &str) -> Self {
        if s == "mail" {
            Self::Mail
        } else {
            Self::Webhook
        }
    }
}

/// The target of a mail entry to `address`.
pub(crate) fn mail_target(address: &str) -> String {
    format!("mailto:{address}")
}

/// A message to write to the outbox: one row per target.
#[derive(Debug, Clone)]
pub struct NewOutbox {
    /// Webhook or mail.
    pub kind: OutboxKind,
    /// The campaign it belongs to.
    pub campaign_id: Option<i64>,
    /// Event type, e.g. `lead.created`.
    pub event_type: String,
    /// The data delivered.
    pub payload: Value,
    /// Receivers: `None` is the default receiver (`OVASABI_WEBHOOK_URL`).
    pub targets: Vec<Option<String>>,
}

impl NewOutbox {
    /// A message for the default receiver and each of the campaign's own.
    pub fn for_campaign(campaign: &Campaign, event_type: &str, payload: Value) -> Self {
        let mut targets = vec![None];
        targets.extend(campaign.config.webhooks.iter().cloned().map(Some));
        Self {
            kind: OutboxKind::Webhook,
            campaign_id: Some(campaign.id),
            event_type: event_type.to_owned(),
            payload,
            targets,
        }
    }

    /// A mail of `campaign` to `address` (its type names the template,
    /// e.g. `mail.verify`; `payload` is what the template is given).
    pub fn mail(campaign: &Campaign, event_type: &str, address: &str, payload: Value) -> Self {
        Self {
            kind: OutboxKind::Mail,
            campaign_id: Some(campaign.id),
            event_type: event_type.to_owned(),
            payload,
            targets: vec![Some(mail_target(address))],
        }
    }
}

/// A stored outbox entry.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OutboxEntry {
    /// Id, also the delivery id receivers de-duplicate with.
    pub id: i64,
    /// Webhook or mail.
    pub kind: OutboxKind,
    /// The campaign it belongs to.
    pub campaign_id: Option<i64>,
    /// That campaign's slug.
    pub campaign_slug: Option<String>,
    /// Event type, e.g. `lead.created`.
    pub event_type: String,
    /// Receiver (null: the default one, `OVASABI_WEBHOOK_URL`), without
    /// the credentials of its URL; a mail's is `mailto:` its address.
    pub target_url: Option<String>,
    /// The data delivered.
    #[salvo(schema(value_type = Object))]
    pub payload: Value,
    /// Attempts made.
    pub attempts: i32,
    /// When the next attempt is due.
    pub next_attempt_at: DateTime<Utc>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When it was given up.
    pub dead_at: Option<DateTime<Utc>>,
    /// The last failure (without the credentials of any URL in it).
    pub last_error: Option<String>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

impl OutboxEntry {
    /// The entry as the team is shown it: its receiver's address and last
    /// error without the credentials of any URL in them.
    pub fn team_view(mut self) -> Self {
        let mask = |text: &mut Option<String>| {
            if let Some(text) = text {
                *text = super::text::mask_url_credentials(text);
            }
        };
        mask(&mut self.target_url);
        mask(&mut self.last_error);
        self
    }
}

/// Which entries to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[salvo(schema(rename_all = "lowercase"))]
pub enum OutboxState {
    /// Not yet delivered nor given up.
    Pending,
    /// Delivered.
    Delivered,
    /// Given up after the last attempt.
    Dead,
    /// All of them.
    All,
}

impl OutboxState {
    /// The name used in queries and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
            Self::All => "all",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "delivered" => Self::Delivered,
            "dead" => Self::Dead,
            "all" => Self::All,
            _ => return None,
        })
    }
}
