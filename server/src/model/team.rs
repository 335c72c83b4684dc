//! The campaign team: named API keys with a role and an optional campaign
//! scope, and the audit log of what the team changed.
//!
//! A key is shown once, when it is made; the store keeps its SHA-256 only,
//! so a leaked database does not leak working keys.

use chrono::{DateTime, Utc};
use salvo_oapi::ToSchema;
use salvo_oapi::schema::{BasicType, Object};
use serde::{Deserialize, Serialize};

/// What a key may do, each role everything the one before may: viewer
/// reads; editor also acts (lead and campaign status, retries, overrides,
/// custom events); owner also configures (campaigns, erasure, keys)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything of its campaigns: leads, participants, deliveries,
    /// series, the audit log.
    Viewer,
    /// Also acts on them: lead and campaign status, delivery retries,
    /// translation overrides, custom events.
    Editor,
    /// Also changes what they are: campaign creation and configuration,
    /// erasure, keys.
    Owner,
}

impl Role {
    /// The stored and sent name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Editor => "editor",
            Self::Owner => "owner",
        }
    }

    /// The role named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "editor" => Some(Self::Editor),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }
}

/// What every key's text begins with: lets the server tell a team key from
/// a visitor's session token without asking the database, and lets secret
/// scanners recognise a leaked one.
pub(crate) const KEY_PREFIX: &str = "ovk_";

/// Characters of a key (after [`KEY_PREFIX`]) kept in the clear to tell keys
/// apart in lists.
pub(crate) const SHOWN_CHARS: usize = 6;

/// Longest key name.
pub(crate) const MAX_NAME_CHARS: usize = 80;

/// A stored key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ApiKey {
    /// Its id.
    pub id: i64,
    /// Who or what holds it ("Ada (marketing)").
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The one campaign it may see and act on; every campaign when `None`.
    #[salvo(schema(required = true))]
    pub campaign_id: Option<i64>,
    /// That campaign's slug.
    #[salvo(schema(required = true))]
    pub campaign: Option<String>,
    /// Its first characters (`ovk_a1b2c3…`), to recognise it.
    pub hint: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Who made it.
    pub created_by: String,
    /// When it was revoked; a revoked key opens nothing.
    #[salvo(schema(required = true))]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key to store.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// Its name (trimmed, 1–[`MAX_NAME_CHARS`] characters).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its campaign, if scoped.
    pub campaign_id: Option<i64>,
    /// SHA-256 (hex) of the whole key.
    pub token_hash: String,
    /// Its first characters ([`ApiKey::hint`]).
    pub hint: String,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The SHA-256 (hex) of a key's text: what the store keeps and looks up.
pub fn key_hash(token: &str) -> String {
    super::text::sha256_hex(token)
}

/// One change the team made, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Its id (entries are numbered in the order they were written).
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: the key's name, or `admin token` / `service token`.
    pub actor: String,
    /// The key, when a named key made the change.
    #[salvo(schema(required = true))]
    pub actor_key_id: Option<i64>,
    /// What kind of change.
    #[salvo(schema(schema_with = audit_action_schema))]
    pub action: String,
    /// The campaign it concerned, if one.
    #[salvo(schema(required = true))]
    pub campaign_id: Option<i64>,
    /// That campaign's slug.
    #[salvo(schema(required = true))]
    pub campaign: Option<String>,
    /// What changed: a lead id, a campaign slug, an outbox entry id, a key
    /// id; for an erasure, the hash the erasure log keeps.
    pub target: String,
    /// What it was before (null when it was made by the change).
    #[salvo(schema(value_type = serde_json::Value, required = true))]
    pub before: Option<serde_json::Value>,
    /// What it is after (null when the change removed it).
    #[salvo(schema(value_type = serde_json::Value, required = true))]
    pub after: Option<serde_json::Value>,
}

/// [`AuditEntry::action`]: one of [`AuditAction::ALL`]'s names.
fn audit_action_schema() -> Object {
    Object::with_type(BasicType::String).enum_values(AuditAction::ALL.map(AuditAction::as_str))
}

/// Every kind of change the audit log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// A lead's status changed.
    LeadStatus,
    /// A campaign was created (over the API or from its file).
    CampaignCreated,
    /// A campaign's status, dates, name or configuration changed.
    CampaignUpdated,
    /// A translation override was saved.
    TranslationOverride,
    /// An undelivered outbox entry was sent again.
    OutboxRetry,
    /// A person's data was erased (the entry names no one: counts only).
    Erasure,
    /// A key was made.
    KeyCreated,
    /// A key was revoked.
    KeyRevoked,
    /// A feed consumer was made (by its first acknowledgement).
    FeedConsumerCreated,
    /// A feed consumer's acknowledged position moved.
    FeedConsumerMoved,
    /// A feed consumer was deleted.
    FeedConsumerDeleted,
    /// A form submission held as spam was released ("not spam") and replayed.
    SpamReleased,
    /// A flagged referral was approved: it counts from then on.
    ReferralApproved,
    /// A flagged referral was rejected (final).
    ReferralRejected,
}

impl AuditAction {
    /// Every action (a new variant goes here too: the API description
    /// lists these).
    pub const ALL: [Self; 14] = [
        Self::LeadStatus,
        Self::CampaignCreated,
        Self::CampaignUpdated,
        Self::TranslationOverride,
        Self::OutboxRetry,
        Self::Erasure,
        Self::KeyCreated,
        Self::KeyRevoked,
        Self::FeedConsumerCreated,
        Self::FeedConsumerMoved,
        Self::FeedConsumerDeleted,
        Self::SpamReleased,
        Self::ReferralApproved,
        Self::ReferralRejected,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LeadStatus => "lead.status",
            Self::CampaignCreated => "campaign.created",
            Self::CampaignUpdated => "campaign.updated",
            Self::TranslationOverride => "translation.override",
            Self::OutboxRetry => "outbox.retry",
            Self::Erasure => "erasure",
            Self::KeyCreated => "key.created",
            Self::KeyRevoked => "key.revoked",
            Self::FeedConsumerCreated => "feed_consumer.created",
            Self::FeedConsumerMoved => "feed_consumer.moved",
            Self::FeedConsumerDeleted => "feed_consumer.deleted",
            Self::SpamReleased => "spam.released",
            Self::ReferralApproved => "referral.approved",
            Self::ReferralRejected => "referral.rejected",
        }
    }
}

/// An entry to write.
#[derive(Debug, Clone)]
pub struct NewAudit {
    /// Who.
    pub actor: String,
    /// Their key, if a named one.
    pub actor_key_id: Option<i64>,
    /// What.
    pub action: AuditAction,
    /// Which campaign, if one.
    pub campaign_id: Option<i64>,
    /// What was changed.
    pub target: String,
    /// Before.
    pub before: Option<serde_json::Value>,
    /// After.
    pub after: Option<serde_json::Value>,
    /// When.
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_named() {
        assert!(Role::Viewer < Role::Editor && Role::Editor < Role::Owner);
        for role in [Role::Viewer, Role::Editor, Role::Owner] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn keys_are_stored_as_their_hash() {
        let hash = key_hash("ovk_example");
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, key_hash("ovk_examplf"));
    }
}
