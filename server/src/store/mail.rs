//! The part of the [`Store`](super::Store) that mail needs: the mail
//! entries due, the addresses that refused mail, what was sent to an
//! address lately, and the verification of a join. Implemented in
//! `sql/mail.rs`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{Page, StoreError};
use crate::model::outbox::{NewOutbox, OutboxEntry};
use crate::model::user::{ReferralCredit, User};

/// An address a campaign sends no more mail to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, salvo_oapi::ToSchema)]
pub struct Suppression {
    /// The address.
    pub email: String,
    /// Why: the receiving server's refusal.
    pub reason: String,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

/// How a join's write went, when the campaign verifies emails.
#[derive(Debug, Clone, PartialEq)]
pub enum PendingJoin {
    /// A new pending join was stored (replacing an unverified one of the
    /// same address, if there was one).
    Stored,
    /// The address has a verified join already: nothing was stored.
    AlreadyIn(Box<User>),
}

/// What a verification did.
#[derive(Debug, Clone, PartialEq)]
pub enum Verification {
    /// The user is verified now: the referrals this completed, each with
    /// its referrer's count after it.
    Verified {
        /// The user, verified.
        user: User,
        /// Referrals that count from now on.
        credits: Vec<ReferralCredit>,
    },
    /// Verified before.
    AlreadyVerified(User),
    /// No such user (replaced by a newer join of the address, or erased).
    Unknown,
}

/// Mail, suppressions and verified joins.
#[async_trait]
pub trait MailStore: Send + Sync + 'static {
    /// Mail entries due at `now`, oldest first (at most `limit`).
    async fn due_mail(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Marks mail entry `id` dead after a permanent refusal (`error`) and
    /// adds `email` to its campaign's suppression list, in one transaction.
    async fn suppress(
        &self,
        entry: &OutboxEntry,
        email: &str,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Whether `email` is on campaign `campaign_id`'s suppression list.
    async fn is_suppressed(&self, campaign_id: i64, email: &str) -> Result<bool, StoreError>;

    /// A campaign's suppression list, newest first.
    async fn suppressions(
        &self,
        campaign_id: i64,
        page: Page,
    ) -> Result<Vec<Suppression>, StoreError>;

    /// How many mails answering a join (a verification, "already in") were
    /// written to `email` (in any campaign) since `hour_ago`, and how many
    /// of them since `gap_ago`.
    async fn recent_mails(
        &self,
        email: &str,
        hour_ago: DateTime<Utc>,
        gap_ago: DateTime<Utc>,
    ) -> Result<(i64, i64), StoreError>;

    /// The join of `email` in campaign `campaign_id`, verified or not.
    async fn join_of(&self, campaign_id: i64, email: &str) -> Result<Option<User>, StoreError>;

    /// In one transaction: stores `user`, a join waiting for its email to
    /// be verified — replacing an unverified join of the same address in
    /// the campaign (whose referrals follow the new one) — and writes
    /// `outbox`; unless the address's join is verified, when nothing is
    /// written.
    async fn register_pending(
        &self,
        user: &User,
        outbox: &[NewOutbox],
    ) -> Result<PendingJoin, StoreError>;

    /// In one transaction: verifies user `master_id` at `now` — crediting
    /// their referrer (if verified) and the verified users they referred,
    /// or flagging those referrals under `policy` — and writes what
    /// `outbox` makes of the result.
    async fn verify_user(
        &self,
        master_id: Uuid,
        policy: crate::model::referral::FraudPolicy,
        now: DateTime<Utc>,
        outbox: &(dyn for<'u> Fn(&'u User, &'u [ReferralCredit]) -> Vec<NewOutbox> + Sync),
    ) -> Result<Verification, StoreError>;

    /// Records that user `master_id` wants no more marketing mail (once;
    /// the first time is kept); whether there is such a user.
    async fn unsubscribe(&self, master_id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Removes the mails written before `before` that were never tried
    /// (no SMTP server is configured); how many.
    async fn prune_unsent_mail(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Removes joins never verified that were made before `before`; how many.
    async fn prune_pending_joins(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
