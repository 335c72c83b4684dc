//! Rows as both databases return them, and how each becomes a model value.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::StoreError;
use crate::model::attribution::{Attribution, Consent};
use crate::model::campaign::{Campaign, CampaignConfig, CampaignStatus};
use crate::model::feed::{FeedConsumer, read_scope};
use crate::model::lead::{Lead, LeadStatus};
use crate::model::outbox::OutboxEntry;
use crate::model::referral::{ReferralStatus, Signal};
use crate::model::report::{Participant, Referral};
use crate::model::team::{ApiKey, AuditEntry, Role};
use crate::model::translation::{MemoryEntry, MemoryOrigin, MemoryRecord};
use crate::model::user::{JoinOrigin, User};

/// A campaign row as both databases return it.
#[derive(sqlx::FromRow)]
pub(super) struct CampaignRow {
    id: i64,
    slug: String,
    name: String,
    status: String,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    config: Json<CampaignConfig>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<CampaignRow> for Campaign {
    type Error = StoreError;

    fn try_from(row: CampaignRow) -> Result<Self, StoreError> {
        let status = CampaignStatus::parse(&row.status)
            .ok_or_else(|| StoreError::Corrupt(format!("campaign status {:?}", row.status)))?;
        Ok(Campaign {
            id: row.id,
            slug: row.slug,
            name: row.name,
            status,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            config: row.config.0,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A user row as both databases return it.
#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    master_id: Uuid,
    campaign_id: i64,
    email: String,
    display_name: String,
    locale: Option<String>,
    referral_code: String,
    referred_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    visitor_id: Option<Uuid>,
    consent_version: Option<String>,
    consent_at: Option<DateTime<Utc>>,
    verified_at: Option<DateTime<Utc>>,
    unsubscribed_at: Option<DateTime<Utc>>,
    network_hash: Option<String>,
    device_hash: Option<String>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            master_id: row.master_id,
            campaign_id: row.campaign_id,
            email: row.email,
            display_name: row.display_name,
            locale: row.locale,
            referral_code: row.referral_code,
            referred_by: row.referred_by,
            created_at: row.created_at,
            visitor_id: row.visitor_id,
            consent: consent(row.consent_version, row.consent_at),
            verified_at: row.verified_at,
            unsubscribed_at: row.unsubscribed_at,
            origin: JoinOrigin {
                network: row.network_hash,
                device: row.device_hash,
            },
        }
    }
}

/// A lead row as both databases return it.
#[derive(sqlx::FromRow)]
pub(super) struct LeadRow {
    pub(super) id: Uuid,
    campaign_id: i64,
    master_id: Option<Uuid>,
    session_id: Option<Uuid>,
    name: String,
    email: String,
    company: Option<String>,
    phone: Option<String>,
    message: String,
    budget: Option<String>,
    details: Json<serde_json::Map<String, serde_json::Value>>,
    status: String,
    idempotency_key: Option<String>,
    request_fingerprint: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    visitor_id: Option<Uuid>,
    consent_version: Option<String>,
    consent_at: Option<DateTime<Utc>>,
}

impl TryFrom<LeadRow> for Lead {
    type Error = StoreError;

    fn try_from(row: LeadRow) -> Result<Self, StoreError> {
        let status = LeadStatus::parse(&row.status)
            .ok_or_else(|| StoreError::Corrupt(format!("lead status {:?}", row.status)))?;
        Ok(Self {
            id: row.id,
            campaign_id: row.campaign_id,
            master_id: row.master_id,
            session_id: row.session_id,
            name: row.name,
            email: row.email,
            company: row.company,
            phone: row.phone,
            message: row.message,
            budget: row.budget,
            details: row.details.0,
            status,
            idempotency_key: row.idempotency_key,
            request_fingerprint: row.request_fingerprint,
            created_at: row.created_at,
            updated_at: row.updated_at,
            visitor_id: row.visitor_id,
            consent: consent(row.consent_version, row.consent_at),
        })
    }
}

/// Consent as stored: a version and a time, both or neither.
fn consent(version: Option<String>, at: Option<DateTime<Utc>>) -> Option<Consent> {
    Some(Consent {
        version: version?,
        at: at?,
    })
}

/// The first-touch columns of a visitor session, as a join reads them
/// (all absent when there is no session).
#[derive(sqlx::FromRow)]
pub(super) struct AttributionRow {
    utm_source: Option<String>,
    utm_medium: Option<String>,
    utm_campaign: Option<String>,
    utm_term: Option<String>,
    utm_content: Option<String>,
    referrer: Option<String>,
    landing_page: Option<String>,
}

impl From<AttributionRow> for Attribution {
    fn from(row: AttributionRow) -> Self {
        Self {
            utm_source: row.utm_source,
            utm_medium: row.utm_medium,
            utm_campaign: row.utm_campaign,
            utm_term: row.utm_term,
            utm_content: row.utm_content,
            referrer: row.referrer,
            landing_page: row.landing_page,
        }
    }
}

/// A user with their referral count and first touch.
#[derive(sqlx::FromRow)]
pub(super) struct ParticipantRow {
    #[sqlx(flatten)]
    user: UserRow,
    referral_count: i64,
    #[sqlx(flatten)]
    attribution: AttributionRow,
}

impl From<ParticipantRow> for Participant {
    fn from(row: ParticipantRow) -> Self {
        Self {
            user: row.user.into(),
            referral_count: row.referral_count,
            attribution: row.attribution.into(),
        }
    }
}

/// A lead with the first touch of its session.
#[derive(sqlx::FromRow)]
pub(super) struct LeadAttributionRow {
    #[sqlx(flatten)]
    lead: LeadRow,
    #[sqlx(flatten)]
    attribution: AttributionRow,
}

impl TryFrom<LeadAttributionRow> for (Lead, Attribution) {
    type Error = StoreError;

    fn try_from(row: LeadAttributionRow) -> Result<Self, StoreError> {
        Ok((row.lead.try_into()?, row.attribution.into()))
    }
}

/// An outbox row (with its campaign's slug) as both databases return it.
#[derive(sqlx::FromRow)]
pub(super) struct OutboxRow {
    id: i64,
    kind: String,
    campaign_id: Option<i64>,
    campaign_slug: Option<String>,
    event_type: String,
    target_url: Option<String>,
    payload: Json<serde_json::Value>,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    dead_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<OutboxRow> for OutboxEntry {
    fn from(row: OutboxRow) -> Self {
        Self {
            id: row.id,
            kind: crate::model::outbox::OutboxKind::parse(&row.kind),
            campaign_id: row.campaign_id,
            campaign_slug: row.campaign_slug,
            event_type: row.event_type,
            target_url: row.target_url,
            payload: row.payload.0,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at,
            delivered_at: row.delivered_at,
            dead_at: row.dead_at,
            last_error: row.last_error,
            created_at: row.created_at,
        }
    }
}

/// An outbox row with its place in the feed.
#[derive(sqlx::FromRow)]
pub(super) struct FeedRow {
    pub(super) feed_position: i64,
    #[sqlx(flatten)]
    pub(super) entry: OutboxRow,
}

/// A feed consumer (with its campaign's slug) as both databases return it.
#[derive(sqlx::FromRow)]
pub(super) struct ConsumerRow {
    scope: i64,
    name: String,
    position: i64,
    updated_at: DateTime<Utc>,
    read_at: DateTime<Utc>,
    campaign: Option<String>,
}

impl From<ConsumerRow> for FeedConsumer {
    fn from(row: ConsumerRow) -> Self {
        Self {
            name: row.name,
            scope: read_scope(row.scope),
            campaign: row.campaign,
            position: u64::try_from(row.position).unwrap_or(0),
            updated_at: row.updated_at,
            read_at: row.read_at,
        }
    }
}

/// A translation memory row as both databases return it.
#[derive(sqlx::FromRow)]
pub(super) struct MemoryRow {
    campaign_id: i64,
    source_lang: String,
    target_lang: String,
    context_key: String,
    source_hash: String,
    source_text: String,
    translated_text: String,
    origin: String,
    /// When it was last served (marked at most hourly).
    last_used_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl MemoryRow {
    /// Whether this row was not marked as served within `fresh`.
    pub(super) fn stale(&self, now: DateTime<Utc>, fresh: chrono::Duration) -> bool {
        self.last_used_at.is_none_or(|at| at < now - fresh)
    }
}

impl From<MemoryRow> for MemoryRecord {
    fn from(row: MemoryRow) -> Self {
        Self {
            created_at: row.created_at,
            updated_at: row.updated_at,
            last_used_at: row.last_used_at,
            entry: row.into(),
        }
    }
}

impl From<MemoryRow> for MemoryEntry {
    fn from(row: MemoryRow) -> Self {
        Self {
            campaign_id: row.campaign_id,
            source_lang: row.source_lang,
            target_lang: row.target_lang,
            context_key: row.context_key,
            source_hash: row.source_hash,
            source_text: row.source_text,
            translated_text: row.translated_text,
            origin: if row.origin == "override" {
                MemoryOrigin::Override
            } else {
                MemoryOrigin::Machine
            },
        }
    }
}

/// A key row (with its campaign's slug) as both databases return it.
#[derive(sqlx::FromRow)]
pub(super) struct KeyRow {
    id: i64,
    name: String,
    role: String,
    campaign_id: Option<i64>,
    campaign: Option<String>,
    hint: String,
    created_by: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<KeyRow> for ApiKey {
    type Error = StoreError;

    fn try_from(row: KeyRow) -> Result<Self, StoreError> {
        let role = Role::parse(&row.role)
            .ok_or_else(|| StoreError::Corrupt(format!("key role {:?}", row.role)))?;
        Ok(Self {
            id: row.id,
            name: row.name,
            role,
            campaign_id: row.campaign_id,
            campaign: row.campaign,
            hint: row.hint,
            created_at: row.created_at,
            created_by: row.created_by,
            revoked_at: row.revoked_at,
        })
    }
}

/// An audit log row (with its campaign's slug) as both databases return it.
#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    id: i64,
    at: DateTime<Utc>,
    actor: String,
    actor_key_id: Option<i64>,
    action: String,
    campaign_id: Option<i64>,
    campaign: Option<String>,
    target: String,
    before: Option<Json<serde_json::Value>>,
    after: Option<Json<serde_json::Value>>,
}

impl From<AuditRow> for AuditEntry {
    fn from(row: AuditRow) -> Self {
        Self {
            id: row.id,
            at: row.at,
            actor: row.actor,
            actor_key_id: row.actor_key_id,
            action: row.action,
            campaign_id: row.campaign_id,
            campaign: row.campaign,
            target: row.target,
            before: row.before.map(|j| j.0),
            after: row.after.map(|j| j.0),
        }
    }
}

/// A referral row as both databases return it (its people joined in).
#[derive(sqlx::FromRow)]
pub(super) struct ReferralRow {
    id: i64,
    code: String,
    created_at: DateTime<Utc>,
    status: String,
    signals: Json<Vec<String>>,
    reviewed_at: Option<DateTime<Utc>>,
    reviewed_by: Option<String>,
    referrer_id: Uuid,
    referrer_name: String,
    referrer_email: String,
    referred_id: Uuid,
    referred_name: String,
    referred_email: String,
    humanity: Option<f64>,
}

impl TryFrom<ReferralRow> for Referral {
    type Error = StoreError;

    fn try_from(row: ReferralRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("referral {}: {what}", row.id));
        let status = ReferralStatus::parse(&row.status).ok_or_else(|| corrupt("status"))?;
        let signals = row
            .signals
            .0
            .iter()
            .map(|name| serde_json::from_value(serde_json::Value::String(name.clone())))
            .collect::<Result<Vec<Signal>, _>>()
            .map_err(|_| corrupt("signals"))?;
        Ok(Self {
            id: row.id,
            referrer_id: row.referrer_id,
            referrer_name: row.referrer_name,
            referrer_email: row.referrer_email,
            referred_id: row.referred_id,
            referred_name: row.referred_name,
            referred_email: row.referred_email,
            code: row.code,
            created_at: row.created_at,
            status,
            signals,
            humanity: row.humanity,
            reviewed_at: row.reviewed_at,
            reviewed_by: row.reviewed_by,
        })
    }
}
