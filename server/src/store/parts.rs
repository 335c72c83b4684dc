//! The parts of the [`Store`](super::Store): one trait each, so that each
//! can be implemented (and read) on its own; a caller imports the part
//! whose methods it calls. `sql/` implements each once, in a file of the
//! same name.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{CampaignCounts, OutboxCounts, Page, StoreError};
use crate::model::attribution::{Attribution, VisitorSession};
use crate::model::campaign::{Campaign, NewCampaign};
use crate::model::erasure::{Erased, ErasureSubject};
use crate::model::feed::{Acked, ConsumerScope, FeedConsumer};
use crate::model::lead::{Lead, LeadStatus};
use crate::model::outbox::{NewOutbox, OutboxEntry, OutboxState};
use crate::model::referral::{FraudPolicy, HumanityScore, Reviewed};
use crate::model::report::{
    FunnelRow, HourCounts, Participant, ParticipantFilter, ParticipantSort, Position, Referral,
    ReferralFilter, Standing,
};
use crate::model::team::{ApiKey, AuditEntry, NewAudit, NewKey};
use crate::model::translation::{MemoryEntry, MemoryOrigin, MemoryRecord};
use crate::model::user::{ReferralCredit, User};

/// Campaigns, and which campaign files were applied.
#[async_trait]
pub trait CampaignStore: Send + Sync + 'static {
    /// Inserts a validated campaign; a taken slug is a `Conflict { field: "slug" }`.
    async fn insert_campaign(&self, spec: &NewCampaign) -> Result<Campaign, StoreError>;

    /// The campaign with this slug.
    async fn campaign_by_slug(&self, slug: &str) -> Result<Option<Campaign>, StoreError>;

    /// The campaign with this id.
    async fn campaign_by_id(&self, id: i64) -> Result<Option<Campaign>, StoreError>;

    /// Writes every writable field of `campaign` (found by id) and returns the stored row.
    async fn update_campaign(&self, campaign: &Campaign) -> Result<Campaign, StoreError>;

    /// The hash of the campaign file last applied for `slug`, if any.
    async fn campaign_file_hash(&self, slug: &str) -> Result<Option<String>, StoreError>;

    /// Records that the campaign file of `slug` with this hash was applied.
    async fn record_campaign_file(&self, slug: &str, hash: &str) -> Result<(), StoreError>;

    /// Campaigns, oldest first.
    async fn list_campaigns(&self, page: Page) -> Result<Vec<Campaign>, StoreError>;

    /// Users, leads and referrals of a campaign.
    async fn campaign_counts(&self, campaign_id: i64) -> Result<CampaignCounts, StoreError>;

    /// The last announced value of a campaign's derived live state `kind`
    /// (`leaderboard`, `status`).
    async fn live_state(&self, campaign_id: i64, kind: &str) -> Result<Option<String>, StoreError>;

    /// Sets live state `kind` to `value` if it still is `expected` (`None`:
    /// not set yet); true when this call made the change. Every instance
    /// swaps before it announces, so each change is announced once.
    async fn swap_live_state(
        &self,
        campaign_id: i64,
        kind: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, StoreError>;
}

/// Registered users and their referrals.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// The user with this referral code in this campaign.
    async fn user_by_referral_code(
        &self,
        campaign_id: i64,
        code: &str,
    ) -> Result<Option<User>, StoreError>;

    /// The user with this id.
    async fn user_by_id(&self, master_id: Uuid) -> Result<Option<User>, StoreError>;

    /// In one transaction: inserts `user`, credits `referrer` (when given,
    /// and both are verified) with a referral row — counted, or flagged by
    /// the signals it raises under `policy` (no credit then) — and writes
    /// `outbox`. A taken email is `Conflict { field: "email" }`, a taken
    /// code `Conflict { field: "referral_code" }`.
    async fn register_user(
        &self,
        user: &User,
        referrer: Option<&User>,
        policy: FraudPolicy,
        outbox: &[NewOutbox],
    ) -> Result<Option<ReferralCredit>, StoreError>;

    /// Records a visitor session's first touch.
    async fn record_visitor_session(&self, session: &VisitorSession) -> Result<(), StoreError>;

    /// Changes a user's display name and locale; `None` when there is no such user.
    async fn update_profile(
        &self,
        master_id: Uuid,
        display_name: &str,
        locale: Option<&str>,
    ) -> Result<Option<User>, StoreError>;

    /// How many referrals count for the user (flagged and rejected ones do not).
    async fn referral_count(&self, user: &User) -> Result<i64, StoreError>;

    /// In one transaction: records that `referrer` referred `referred` (once per
    /// referred user: else `Conflict { field: "referred" }`), sets `referred_by`,
    /// and writes `outbox`. The referral counts (a credit, returned) when both
    /// are verified and it raises no signal under `policy` (else it is
    /// flagged for review); else when the second of them verifies.
    /// Referrals of one referrer are serialized, so each count is returned
    /// exactly once.
    async fn record_referral(
        &self,
        referrer: &User,
        referred: &User,
        policy: FraudPolicy,
        outbox: &[NewOutbox],
    ) -> Result<Option<ReferralCredit>, StoreError>;

    /// Approves (it counts from now: the referrer's count after it is
    /// returned) or rejects (final) flagged referral `id` of
    /// `campaign_id`, as `by`, at `now`.
    async fn review_referral(
        &self,
        campaign_id: i64,
        id: i64,
        approve: bool,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Reviewed, StoreError>;

    /// Keeps each session's latest humanity score (of the connection that
    /// took the most samples).
    async fn save_humanity(&self, scores: &[HumanityScore]) -> Result<(), StoreError>;

    /// Removes humanity scores last updated before `before`; how many.
    async fn prune_humanity(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Leads and their status.
#[async_trait]
pub trait LeadStore: Send + Sync + 'static {
    /// In one transaction: inserts `lead` and writes `outbox`, unless a lead with
    /// the same idempotency key exists in the campaign: then that one is returned
    /// (`Ok((existing, false))`) and nothing is written.
    async fn insert_lead(
        &self,
        lead: &Lead,
        outbox: &[NewOutbox],
    ) -> Result<(Lead, bool), StoreError>;

    /// The lead with this id.
    async fn lead_by_id(&self, id: Uuid) -> Result<Option<Lead>, StoreError>;

    /// The leads a session (a user's `master_id` or a visitor id) sent, newest first.
    async fn leads_of_session(&self, session_id: Uuid, limit: u32)
    -> Result<Vec<Lead>, StoreError>;

    /// A campaign's leads, newest first, optionally of one status.
    async fn list_leads(
        &self,
        campaign_id: i64,
        status: Option<LeadStatus>,
        page: Page,
    ) -> Result<Vec<Lead>, StoreError>;

    /// In one transaction: moves lead `id` from `from` to `to` and writes `outbox`.
    /// `None` when the lead was not (or no longer) in status `from`.
    async fn set_lead_status(
        &self,
        id: Uuid,
        from: LeadStatus,
        to: LeadStatus,
        outbox: &[NewOutbox],
    ) -> Result<Option<Lead>, StoreError>;
}

/// The outbox: events waiting to leave the building, their delivery and retention.
#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// In one transaction: writes `outbox` on its own (an event that leaves
    /// the building with no row of its own, such as a campaign's custom event).
    async fn insert_outbox(&self, outbox: &[NewOutbox]) -> Result<(), StoreError>;

    /// Outbox entries due at `now`, oldest first; entries for the default receiver
    /// only when `with_default_target`.
    async fn due_outbox(
        &self,
        now: DateTime<Utc>,
        with_default_target: bool,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Claims a due entry for delivery until `lease_until`; false when another
    /// worker claimed it first.
    async fn claim_outbox(
        &self,
        id: i64,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Marks an entry delivered.
    async fn outbox_delivered(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Records a failed attempt: the next try at `retry_at`, or dead when `None`.
    async fn outbox_failed(
        &self,
        id: i64,
        attempts: i32,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Outbox entries in `state`, newest first.
    async fn list_outbox(
        &self,
        state: OutboxState,
        campaign_id: Option<i64>,
        page: Page,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// The entry `id`.
    async fn outbox_entry(&self, id: i64) -> Result<Option<OutboxEntry>, StoreError>;

    /// Puts a dead (or pending) entry back in line with fresh attempts. False when
    /// there is no such undelivered entry.
    async fn redrive_outbox(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Entries waiting for delivery (pending) and given up on (dead), now.
    async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError>;

    /// Deletes outbox entries created before `before` that need nothing more:
    /// delivered ones, and — when `untargeted_too` (no default receiver is
    /// configured) — pending ones waiting for the default receiver. Dead
    /// entries stay until handled, and so do the feed's records until they
    /// are numbered and every named consumer read since
    /// `consumers_read_since` acknowledged them (an idle consumer holds
    /// nothing back; the last position removed is kept). Returns how many
    /// went.
    async fn prune_outbox(
        &self,
        before: DateTime<Utc>,
        untargeted_too: bool,
        consumers_read_since: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
}

/// The translation memory.
#[async_trait]
pub trait MemoryStore: Send + Sync + 'static {
    /// Translation memory rows of these source hashes.
    async fn memory_lookup(
        &self,
        campaign_id: i64,
        source_lang: &str,
        target_lang: &str,
        context_key: &str,
        hashes: &[String],
    ) -> Result<Vec<MemoryEntry>, StoreError>;

    /// Stores translations in one transaction. A machine translation never
    /// replaces a human override; an override replaces anything.
    async fn memory_store(&self, entries: &[MemoryEntry]) -> Result<(), StoreError>;

    /// A page of a campaign's memory, most recently changed first: of one
    /// target language and origin when given.
    async fn memory_list(
        &self,
        campaign_id: i64,
        target_lang: Option<&str>,
        origin: Option<MemoryOrigin>,
        page: Page,
    ) -> Result<Vec<MemoryRecord>, StoreError>;

    /// Evicts the least recently served machine translations beyond `keep`
    /// of them (overrides are never evicted); returns how many went.
    async fn prune_memory(&self, keep: u64) -> Result<u64, StoreError>;
}

/// What the campaign team reads back: lists in keyset pages (each starts
/// after the [`Position`] the previous ended at, so concurrent inserts never
/// shift a page), the leaderboard, the funnel and hourly counts.
#[async_trait]
pub trait ReportStore: Send + Sync + 'static {
    /// A page of a campaign's participants, after `after`.
    async fn participants(
        &self,
        campaign_id: i64,
        filter: &ParticipantFilter,
        sort: ParticipantSort,
        after: Option<&Position>,
        limit: u32,
    ) -> Result<Vec<Participant>, StoreError>;

    /// A page of a campaign's referrals, oldest first, after `after`.
    async fn referrals(
        &self,
        campaign_id: i64,
        filter: &ReferralFilter,
        after: Option<&Position>,
        limit: u32,
    ) -> Result<Vec<Referral>, StoreError>;

    /// A page of a campaign's leads, oldest first, after `after`, with the
    /// first touch of the session each came from.
    async fn leads_with_attribution(
        &self,
        campaign_id: i64,
        status: Option<LeadStatus>,
        after: Option<&Position>,
        limit: u32,
    ) -> Result<Vec<(Lead, Attribution)>, StoreError>;

    /// The top `limit` referrers: most referrals first; of equal counts, who
    /// reached it first.
    async fn leaderboard(&self, campaign_id: i64, limit: u32) -> Result<Vec<Standing>, StoreError>;

    /// Visitors, joins and leads per source, made in `since..until`.
    async fn funnel(
        &self,
        campaign_id: i64,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<FunnelRow>, StoreError>;

    /// Visitors (the peak of the minute samples), joins, leads and
    /// referrals per hour (UTC) in `since..until`; hours with none are left out.
    async fn hourly(
        &self,
        campaign_id: i64,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<HourCounts>, StoreError>;

    /// Records how many visitors each campaign (`(campaign_id, active)`) had
    /// in `minute`: one row per campaign and minute, keeping the most of the
    /// samples taken in it (every instance samples; with Redis they agree).
    async fn record_visitors(
        &self,
        minute: DateTime<Utc>,
        samples: &[(i64, i64)],
    ) -> Result<(), StoreError>;

    /// Removes the visitor samples of minutes before `before`; how many went.
    async fn prune_visitor_samples(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Removes the visitor sessions begun before `before` that no join and
    /// no lead came from (those are the first touch of a person's record,
    /// which erasure clears); how many went.
    async fn prune_visitor_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// The back-office feed: the outbox records of the default receiver (one per
/// event), numbered in commit order, and its named consumers' positions.
#[async_trait]
pub trait FeedStore: Send + Sync + 'static {
    /// Numbers up to `limit` committed records that have no position yet, in
    /// one transaction under the feed's lock (so a position is never given
    /// to a row that commits later than one numbered after it); how many.
    async fn sequence_feed(&self, limit: u32) -> Result<u64, StoreError>;

    /// Up to `limit` numbered records after `after`, of `campaign_id` when
    /// given, in position order.
    async fn feed_after(
        &self,
        after: u64,
        campaign_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(u64, OutboxEntry)>, StoreError>;

    /// The last position retention removed (0: none yet) and the last one
    /// given.
    async fn feed_bounds(&self) -> Result<(u64, u64), StoreError>;

    /// The consumer `name` of `scope`, if there is one.
    async fn feed_consumer(
        &self,
        scope: ConsumerScope,
        name: &str,
    ) -> Result<Option<FeedConsumer>, StoreError>;

    /// Notes that the consumer `name` of `scope` was read at `now` (a
    /// follow began); false when there is no such consumer.
    async fn touch_feed_consumer(
        &self,
        scope: ConsumerScope,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Stores `position` for the consumer `name` of `scope` (making it when
    /// new) unless it had a later one, read at `now`.
    async fn ack_feed(
        &self,
        scope: ConsumerScope,
        name: &str,
        position: u64,
        now: DateTime<Utc>,
    ) -> Result<Acked, StoreError>;

    /// Every consumer, or those of campaign `campaign_id` only, by scope and
    /// name.
    async fn list_feed_consumers(
        &self,
        campaign_id: Option<i64>,
    ) -> Result<Vec<FeedConsumer>, StoreError>;

    /// Deletes the consumer `name` of `scope`; what it was, if it was.
    async fn delete_feed_consumer(
        &self,
        scope: ConsumerScope,
        name: &str,
    ) -> Result<Option<FeedConsumer>, StoreError>;
}

/// Erasing a person on request.
#[async_trait]
pub trait ErasureStore: Send + Sync + 'static {
    /// In one transaction, within the campaign the subject names (a user's
    /// own for a user; every campaign for an email without one): replaces
    /// what names `subject` in users, leads (idempotency keys included) and
    /// outbox payloads — delivered ones too, which the back-office feed
    /// serves until retention — and in the last announced live state (rows,
    /// counts and statuses stay), records the person's sessions as ended,
    /// and the erasure in the erasure log (`subject_hash`, a keyed hash of
    /// the subject, only).
    async fn erase(
        &self,
        subject: &ErasureSubject,
        subject_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Erased, StoreError>;

    /// Sessions ended (by erasures) at or after `since`, with when.
    async fn ended_sessions_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(Uuid, DateTime<Utc>)>, StoreError>;

    /// Forgets sessions ended before `before` (their tokens have expired);
    /// how many.
    async fn prune_ended_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// The campaign team's keys and the audit log of its changes.
#[async_trait]
pub trait TeamStore: Send + Sync + 'static {
    /// Stores a new key; `Conflict { field: "name" }` when a live key has its name.
    async fn insert_key(&self, key: &NewKey) -> Result<ApiKey, StoreError>;

    /// The live (not revoked) key whose SHA-256 is `token_hash`.
    async fn live_key(&self, token_hash: &str) -> Result<Option<ApiKey>, StoreError>;

    /// The key `id`, revoked or not.
    async fn key_by_id(&self, id: i64) -> Result<Option<ApiKey>, StoreError>;

    /// Every key (of `campaign_id` only, when given), live first, newest first.
    async fn list_keys(&self, campaign_id: Option<i64>) -> Result<Vec<ApiKey>, StoreError>;

    /// Revokes the live key `id` at `at`; `None` when there is none.
    async fn revoke_key(&self, id: i64, at: DateTime<Utc>) -> Result<Option<ApiKey>, StoreError>;

    /// Appends an entry to the audit log.
    async fn record_audit(&self, entry: &NewAudit) -> Result<(), StoreError>;

    /// Up to `limit` entries, newest first, with ids below `before` when
    /// given, of `campaign_id` only when given.
    async fn audit_log(
        &self,
        campaign_id: Option<i64>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError>;
}
