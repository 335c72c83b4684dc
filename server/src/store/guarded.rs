//! A store that knows when its database is down, and says so at once.
//!
//! A stopped PostgreSQL makes every query wait for a connection until the
//! pool gives up — seconds per request, with requests piling up behind. This
//! wrapper classifies what the database answers: an outage (no connection,
//! a connection reset, the server shutting down) is [`StoreError::Unavailable`]
//! (503 `unavailable`), and once one is seen every call fails at once for
//! [`OUTAGE_PAUSE`], after which one call is let through as a probe (so is
//! every `ping`, which `/readyz` sends): the first success ends the outage,
//! without a restart. A write never half-happens: each is one transaction,
//! which an outage rolls back.
//!
//! The embedded SQLite database cannot be "down"; a locked one stays
//! [`StoreError::Busy`] (503 `busy`).

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    CampaignCounts, CampaignStore, ErasureStore, FeedStore, LeadStore, MemoryStore, OutboxCounts,
    OutboxStore, Page, ReportStore, SharedStore, Store, StoreError, TeamStore, UserStore,
};
use crate::model::attribution::{Attribution, VisitorSession};
use crate::model::campaign::{Campaign, NewCampaign};
use crate::model::erasure::{Erased, ErasureSubject};
use crate::model::feed::{Acked, ConsumerScope, FeedConsumer};
use crate::model::lead::{Lead, LeadStatus};
use crate::model::outbox::{NewOutbox, OutboxEntry, OutboxState};
use crate::model::report::{
    FunnelRow, HourCounts, Participant, ParticipantFilter, ParticipantSort, Position, Referral,
    ReferralFilter, Standing,
};
use crate::model::team::{ApiKey, AuditEntry, NewAudit, NewKey};
use crate::model::translation::{MemoryEntry, MemoryOrigin, MemoryRecord};
use crate::model::user::{ReferralCredit, User};

/// How long calls fail at once after an outage was seen, before a probe.
pub const OUTAGE_PAUSE: Duration = Duration::from_millis(500);

/// A store whose outages are told apart and answered at once.
pub struct Guarded {
    inner: SharedStore,
    /// The embedded SQLite database: never "down", only busy.
    embedded: bool,
    /// Until when calls fail without asking (an outage is on).
    down_until: Mutex<Option<Instant>>,
    /// When a call last succeeded: a pool timing out while others succeed
    /// is a busy pool, not an outage.
    last_ok: Mutex<Instant>,
}

impl Guarded {
    /// Wraps `inner`; `embedded` when it is the embedded SQLite database.
    pub fn new(inner: SharedStore, embedded: bool) -> Self {
        Self {
            inner,
            embedded,
            down_until: Mutex::new(None),
            last_ok: Mutex::new(Instant::now()),
        }
    }

    /// An error as the callers see it: an outage of the server database is
    /// `Unavailable` (a pool timing out means no connection can be made).
    fn classify(&self, error: StoreError) -> StoreError {
        match error {
            StoreError::Busy(cause) if !self.embedded => StoreError::Unavailable(cause),
            StoreError::Database(cause) if !self.embedded && is_outage(&cause) => {
                StoreError::Unavailable(cause)
            }
            other => other,
        }
    }

    /// Notes what a call says about the database's health.
    fn observe<T>(&self, result: &Result<T, StoreError>) {
        if result.is_ok() {
            *self.last_ok.lock() = Instant::now();
        }
        let mut down = self.down_until.lock();
        match result {
            Ok(_) => {
                if down.take().is_some() {
                    tracing::info!("the database answers again");
                }
            }
            Err(e) if self.is_outage_error(e) => {
                if down.is_none() {
                    tracing::warn!(error = %e, "the database does not answer: failing fast");
                }
                *down = Some(Instant::now() + OUTAGE_PAUSE);
            }
            Err(_) => {}
        }
    }

    fn is_outage_error(&self, error: &StoreError) -> bool {
        if self.embedded {
            return false;
        }
        match error {
            // No connection in time: an outage unless other calls succeed.
            StoreError::Busy(_) => self.last_ok.lock().elapsed() > Duration::from_secs(1),
            StoreError::Unavailable(_) => true,
            StoreError::Database(cause) => is_outage(cause),
            _ => false,
        }
    }

    async fn guard<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        {
            let mut down = self.down_until.lock();
            if let Some(until) = *down {
                if Instant::now() < until {
                    return Err(StoreError::Unavailable(sqlx::Error::PoolClosed));
                }
                // This call is the probe; the others keep failing fast meanwhile.
                *down = Some(Instant::now() + OUTAGE_PAUSE);
            }
        }
        let result = call.await;
        self.observe(&result);
        result.map_err(|e| self.classify(e))
    }
}

/// Whether `error` says the database cannot be reached (rather than that a
/// query was wrong): I/O, TLS, a closed pool, a broken protocol stream, or
/// PostgreSQL's connection exceptions (class 08) and shutdown (57P01–57P03).
pub fn is_outage(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

#[async_trait]
impl Store for Guarded {
    async fn ping(&self) -> Result<(), StoreError> {
        // The probe: always asks the database, and its answer decides.
        let result = self.inner.ping().await;
        self.observe(&result);
        result.map_err(|e| self.classify(e))
    }
}

#[async_trait]
impl CampaignStore for Guarded {
    async fn insert_campaign(&self, spec: &NewCampaign) -> Result<Campaign, StoreError> {
        self.guard(self.inner.insert_campaign(spec)).await
    }

    async fn campaign_by_slug(&self, slug: &str) -> Result<Option<Campaign>, StoreError> {
        self.guard(self.inner.campaign_by_slug(slug)).await
    }

    async fn campaign_by_id(&self, id: i64) -> Result<Option<Campaign>, StoreError> {
        self.guard(self.inner.campaign_by_id(id)).await
    }

    async fn update_campaign(&self, campaign: &Campaign) -> Result<Campaign, StoreError> {
        self.guard(self.inner.update_campaign(campaign)).await
    }

    async fn campaign_file_hash(&self, slug: &str) -> Result<Option<String>, StoreError> {
        self.guard(self.inner.campaign_file_hash(slug)).await
    }

    async fn record_campaign_file(&self, slug: &str, hash: &str) -> Result<(), StoreError> {
        self.guard(self.inner.record_campaign_file(slug, hash))
            .await
    }

    async fn list_campaigns(&self, page: Page) -> Result<Vec<Campaign>, StoreError> {
        self.guard(self.inner.list_campaigns(page)).await
    }

    async fn campaign_counts(&self, campaign_id: i64) -> Result<CampaignCounts, StoreError> {
        self.guard(self.inner.campaign_counts(campaign_id)).await
    }

    async fn live_state(&self, campaign_id: i64, kind: &str) -> Result<Option<String>, StoreError> {
        self.guard(self.inner.live_state(campaign_id, kind)).await
    }

    async fn swap_live_state(
        &self,
        campaign_id: i64,
        kind: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, StoreError> {
        self.guard(
            self.inner
                .swap_live_state(campaign_id, kind, expected, value),
        )
        .await
    }
}

#[async_trait]
impl UserStore for Guarded {
    async fn user_by_referral_code(
        &self,
        campaign_id: i64,
        code: &str,
    ) -> Result<Option<User>, StoreError> {
        self.guard(self.inner.user_by_referral_code(campaign_id, code))
            .await
    }

    async fn user_by_id(&self, master_id: Uuid) -> Result<Option<User>, StoreError> {
        self.guard(self.inner.user_by_id(master_id)).await
    }

    async fn register_user(
        &self,
        user: &User,
        referrer: Option<&User>,
        outbox: &[NewOutbox],
    ) -> Result<Option<ReferralCredit>, StoreError> {
        self.guard(self.inner.register_user(user, referrer, outbox))
            .await
    }

    async fn record_referral(
        &self,
        referrer: &User,
        referred: &User,
        outbox: &[NewOutbox],
    ) -> Result<ReferralCredit, StoreError> {
        self.guard(self.inner.record_referral(referrer, referred, outbox))
            .await
    }

    async fn record_visitor_session(&self, session: &VisitorSession) -> Result<(), StoreError> {
        self.guard(self.inner.record_visitor_session(session)).await
    }

    async fn update_profile(
        &self,
        master_id: Uuid,
        display_name: &str,
        locale: Option<&str>,
    ) -> Result<Option<User>, StoreError> {
        self.guard(self.inner.update_profile(master_id, display_name, locale))
            .await
    }

    async fn referral_count(&self, user: &User) -> Result<i64, StoreError> {
        self.guard(self.inner.referral_count(user)).await
    }
}

#[async_trait]
impl FeedStore for Guarded {
    async fn sequence_feed(&self, limit: u32) -> Result<u64, StoreError> {
        self.guard(self.inner.sequence_feed(limit)).await
    }

    async fn feed_after(
        &self,
        after: u64,
        campaign_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(u64, OutboxEntry)>, StoreError> {
        self.guard(self.inner.feed_after(after, campaign_id, limit))
            .await
    }

    async fn feed_bounds(&self) -> Result<(u64, u64), StoreError> {
        self.guard(self.inner.feed_bounds()).await
    }

    async fn feed_consumer(
        &self,
        scope: ConsumerScope,
        name: &str,
    ) -> Result<Option<FeedConsumer>, StoreError> {
        self.guard(self.inner.feed_consumer(scope, name)).await
    }

    async fn touch_feed_consumer(
        &self,
        scope: ConsumerScope,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.guard(self.inner.touch_feed_consumer(scope, name, now))
            .await
    }

    async fn ack_feed(
        &self,
        scope: ConsumerScope,
        name: &str,
        position: u64,
        now: DateTime<Utc>,
    ) -> Result<Acked, StoreError> {
        self.guard(self.inner.ack_feed(scope, name, position, now))
            .await
    }

    async fn list_feed_consumers(
        &self,
        campaign_id: Option<i64>,
    ) -> Result<Vec<FeedConsumer>, StoreError> {
        self.guard(self.inner.list_feed_consumers(campaign_id))
            .await
    }

    async fn delete_feed_consumer(
        &self,
        scope: ConsumerScope,
        name: &str,
    ) -> Result<Option<FeedConsumer>, StoreError> {
        self.guard(self.inner.delete_feed_consumer(scope, name))
            .await
    }
}

#[async_trait]
impl ReportStore for Guarded {
    async fn participants(
        &self,
        campaign_id: i64,
        filter: &ParticipantFilter,
        sort: ParticipantSort,
        after: Option<&Position>,
        limit: u32,
    ) -> Result<Vec<Participant>, StoreError> {
        self.guard(
            self.inner
                .participants(campaign_id, filter, sort, after, limit),
        )
        .await
    }

    async fn referrals(
        &self,
        campaign_id: i64,
        filter: &ReferralFilter,
        after: Option<&Position>,
        limit: u32,
    ) -> Result<Vec<Referral>, StoreError> {
        self.guard(self.inner.referrals(campaign_id, filter, after, limit))
            .await
    }

    async fn leads_with_attribution(
        &self,
        campaign_id: i64,
        status: Option<LeadStatus>,
        after: Option<&Position>,
        limit: u32,
    ) -> Result<Vec<(Lead, Attribution)>, StoreError> {
        self.guard(
            self.inner
                .leads_with_attribution(campaign_id, status, after, limit),
        )
        .await
    }

    async fn leaderboard(&self, campaign_id: i64, limit: u32) -> Result<Vec<Standing>, StoreError> {
        self.guard(self.inner.leaderboard(campaign_id, limit)).await
    }

    async fn funnel(
        &self,
        campaign_id: i64,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<FunnelRow>, StoreError> {
        self.guard(self.inner.funnel(campaign_id, since, until))
            .await
    }

    async fn hourly(
        &self,
        campaign_id: i64,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<HourCounts>, StoreError> {
        self.guard(self.inner.hourly(campaign_id, since, until))
            .await
    }

    async fn record_visitors(
        &self,
        minute: DateTime<Utc>,
        samples: &[(i64, i64)],
    ) -> Result<(), StoreError> {
        self.guard(self.inner.record_visitors(minute, samples))
            .await
    }

    async fn prune_visitor_samples(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.guard(self.inner.prune_visitor_samples(before)).await
    }

    async fn prune_visitor_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.guard(self.inner.prune_visitor_sessions(before)).await
    }
}

#[async_trait]
impl LeadStore for Guarded {
    async fn insert_lead(
        &self,
        lead: &Lead,
        outbox: &[NewOutbox],
    ) -> Result<(Lead, bool), StoreError> {
        self.guard(self.inner.insert_lead(lead, outbox)).await
    }

    async fn lead_by_id(&self, id: Uuid) -> Result<Option<Lead>, StoreError> {
        self.guard(self.inner.lead_by_id(id)).await
    }

    async fn leads_of_session(
        &self,
        session_id: Uuid,
        limit: u32,
    ) -> Result<Vec<Lead>, StoreError> {
        self.guard(self.inner.leads_of_session(session_id, limit))
            .await
    }

    async fn list_leads(
        &self,
        campaign_id: i64,
        status: Option<LeadStatus>,
        page: Page,
    ) -> Result<Vec<Lead>, StoreError> {
        self.guard(self.inner.list_leads(campaign_id, status, page))
            .await
    }

    async fn set_lead_status(
        &self,
        id: Uuid,
        from: LeadStatus,
        to: LeadStatus,
        outbox: &[NewOutbox],
    ) -> Result<Option<Lead>, StoreError> {
        self.guard(self.inner.set_lead_status(id, from, to, outbox))
            .await
    }
}

#[async_trait]
impl OutboxStore for Guarded {
    async fn insert_outbox(&self, outbox: &[NewOutbox]) -> Result<(), StoreError> {
        self.guard(self.inner.insert_outbox(outbox)).await
    }

    async fn due_outbox(
        &self,
        now: DateTime<Utc>,
        with_default_target: bool,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.guard(self.inner.due_outbox(now, with_default_target, limit))
            .await
    }

    async fn claim_outbox(
        &self,
        id: i64,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.guard(self.inner.claim_outbox(id, now, lease_until))
            .await
    }

    async fn outbox_delivered(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.guard(self.inner.outbox_delivered(id, at)).await
    }

    async fn outbox_failed(
        &self,
        id: i64,
        attempts: i32,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.guard(self.inner.outbox_failed(id, attempts, error, retry_at, now))
            .await
    }

    async fn list_outbox(
        &self,
        state: OutboxState,
        campaign_id: Option<i64>,
        page: Page,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.guard(self.inner.list_outbox(state, campaign_id, page))
            .await
    }

    async fn outbox_entry(&self, id: i64) -> Result<Option<OutboxEntry>, StoreError> {
        self.guard(self.inner.outbox_entry(id)).await
    }

    async fn redrive_outbox(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.guard(self.inner.redrive_outbox(id, now)).await
    }

    async fn prune_outbox(
        &self,
        before: DateTime<Utc>,
        untargeted_too: bool,
        consumers_read_since: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.guard(
            self.inner
                .prune_outbox(before, untargeted_too, consumers_read_since),
        )
        .await
    }

    async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        self.guard(self.inner.outbox_counts()).await
    }
}

#[async_trait]
impl MemoryStore for Guarded {
    async fn memory_lookup(
        &self,
        campaign_id: i64,
        source_lang: &str,
        target_lang: &str,
        context_key: &str,
        hashes: &[String],
    ) -> Result<Vec<MemoryEntry>, StoreError> {
        self.guard(self.inner.memory_lookup(
            campaign_id,
            source_lang,
            target_lang,
            context_key,
            hashes,
        ))
        .await
    }

    async fn memory_store(&self, entries: &[MemoryEntry]) -> Result<(), StoreError> {
        self.guard(self.inner.memory_store(entries)).await
    }

    async fn memory_list(
        &self,
        campaign_id: i64,
        target_lang: Option<&str>,
        origin: Option<MemoryOrigin>,
        page: Page,
    ) -> Result<Vec<MemoryRecord>, StoreError> {
        self.guard(
            self.inner
                .memory_list(campaign_id, target_lang, origin, page),
        )
        .await
    }

    async fn prune_memory(&self, keep: u64) -> Result<u64, StoreError> {
        self.guard(self.inner.prune_memory(keep)).await
    }
}

#[async_trait]
impl ErasureStore for Guarded {
    async fn erase(
        &self,
        subject: &ErasureSubject,
        subject_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Erased, StoreError> {
        self.guard(self.inner.erase(subject, subject_hash, now))
            .await
    }

    async fn ended_sessions_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(Uuid, DateTime<Utc>)>, StoreError> {
        self.guard(self.inner.ended_sessions_since(since)).await
    }

    async fn prune_ended_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.guard(self.inner.prune_ended_sessions(before)).await
    }
}

#[async_trait]
impl TeamStore for Guarded {
    async fn insert_key(&self, key: &NewKey) -> Result<ApiKey, StoreError> {
        self.guard(self.inner.insert_key(key)).await
    }

    async fn live_key(&self, token_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        self.guard(self.inner.live_key(token_hash)).await
    }

    async fn key_by_id(&self, id: i64) -> Result<Option<ApiKey>, StoreError> {
        self.guard(self.inner.key_by_id(id)).await
    }

    async fn list_keys(&self, campaign_id: Option<i64>) -> Result<Vec<ApiKey>, StoreError> {
        self.guard(self.inner.list_keys(campaign_id)).await
    }

    async fn revoke_key(&self, id: i64, at: DateTime<Utc>) -> Result<Option<ApiKey>, StoreError> {
        self.guard(self.inner.revoke_key(id, at)).await
    }

    async fn record_audit(&self, entry: &NewAudit) -> Result<(), StoreError> {
        self.guard(self.inner.record_audit(entry)).await
    }

    async fn audit_log(
        &self,
        campaign_id: Option<i64>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.guard(self.inner.audit_log(campaign_id, before, limit))
            .await
    }
}
