//! Mail: the mail entries due, the suppression list, what an address was
//! sent lately, and joins waiting for their email to be verified.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Executor, FromRow};
use uuid::Uuid;

use super::referrals::credit_referral;
use super::users::insert_user;
use super::{Dialect, Param, SqlStore, WriteTx, insert_outbox};
use crate::model::outbox::{NewOutbox, OutboxEntry, mail_target};
use crate::model::referral::FraudPolicy;
use crate::model::user::{ReferralCredit, User};
use crate::store::mail::{MailStore, PendingJoin, Suppression, Verification};
use crate::store::rows::{OutboxRow, UserRow};
use crate::store::{Page, StoreError};

/// Mails due at `$1` (at most `$2`).
const DUE_MAIL: &str = "SELECT o.*, c.slug AS campaign_slug
     FROM service_event_outbox o
     LEFT JOIN service_campaign_main c ON c.id = o.campaign_id
     WHERE o.delivered_at IS NULL AND o.dead_at IS NULL
       AND o.kind = 'mail'
       AND o.next_attempt_at <= $1
     ORDER BY o.next_attempt_at, o.id LIMIT $2";

/// Detaches what points at user `$1` before it is removed: the users it
/// referred (not credited: it was never verified) follow `$2`, or none;
/// its session's leads keep their session only.
async fn detach_user<DB: Dialect>(
    tx: &mut WriteTx<DB>,
    old: Uuid,
    successor: Option<Uuid>,
) -> Result<(), StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    Uuid: Param<DB>,
    Option<Uuid>: Param<DB>,
{
    sqlx::query("UPDATE service_user_master SET referred_by = $2 WHERE referred_by = $1")
        .bind(old)
        .bind(successor)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE service_quote_main SET master_id = NULL WHERE master_id = $1")
        .bind(old)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM service_user_master WHERE master_id = $1")
        .bind(old)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[async_trait]
impl<DB: Dialect> MailStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: Param<DB>,
    i32: Param<DB>,
    String: Param<DB>,
    for<'a> &'a str: Param<DB>,
    Uuid: Param<DB>,
    DateTime<Utc>: Param<DB>,
    Option<String>: Param<DB>,
    Option<Uuid>: Param<DB>,
    Option<i64>: Param<DB>,
    Option<DateTime<Utc>>: Param<DB>,
    for<'a> Json<&'a serde_json::Value>: Param<DB>,
    OutboxRow: for<'r> FromRow<'r, DB::Row>,
    UserRow: for<'r> FromRow<'r, DB::Row>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    (i64, i64): for<'r> FromRow<'r, DB::Row>,
    (String, String, DateTime<Utc>): for<'r> FromRow<'r, DB::Row>,
    (i64, i64, i64, Option<f64>): for<'r> FromRow<'r, DB::Row>,
{
    async fn due_mail(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows: Vec<OutboxRow> = self
            .read(async |db| {
                sqlx::query_as(DUE_MAIL)
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(db)
                    .await
            })
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn suppress(
        &self,
        entry: &OutboxEntry,
        email: &str,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.transaction(async |mut tx| {
            sqlx::query(
                "UPDATE service_event_outbox
                 SET attempts = attempts + 1, last_error = $2, dead_at = $3
                 WHERE id = $1",
            )
            .bind(entry.id)
            .bind(error)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if let Some(campaign) = entry.campaign_id {
                sqlx::query(
                    "INSERT INTO service_mail_suppression (campaign_id, email, reason, created_at)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (campaign_id, email) DO NOTHING",
                )
                .bind(campaign)
                .bind(email)
                .bind(error)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn is_suppressed(&self, campaign_id: i64, email: &str) -> Result<bool, StoreError> {
        let (count,): (i64,) = self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT COUNT(*) FROM service_mail_suppression
                     WHERE campaign_id = $1 AND email = $2",
                )
                .bind(campaign_id)
                .bind(email)
                .fetch_one(db)
                .await
            })
            .await?;
        Ok(count > 0)
    }

    async fn suppressions(
        &self,
        campaign_id: i64,
        page: Page,
    ) -> Result<Vec<Suppression>, StoreError> {
        let rows: Vec<(String, String, DateTime<Utc>)> = self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT email, reason, created_at FROM service_mail_suppression
                     WHERE campaign_id = $1 ORDER BY created_at DESC, email
                     LIMIT $2 OFFSET $3",
                )
                .bind(campaign_id)
                .bind(i64::from(page.limit))
                .bind(i64::from(page.offset))
                .fetch_all(db)
                .await
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|(email, reason, created_at)| Suppression {
                email,
                reason,
                created_at,
            })
            .collect())
    }

    async fn recent_mails(
        &self,
        email: &str,
        hour_ago: DateTime<Utc>,
        gap_ago: DateTime<Utc>,
    ) -> Result<(i64, i64), StoreError> {
        let counts: (i64, i64) = self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT COUNT(*), COUNT(*) FILTER (WHERE created_at >= $3)
                     FROM service_event_outbox
                     WHERE kind = 'mail' AND event_type IN ('mail.verify', 'mail.already_in')
                       AND target_url = $1 AND created_at >= $2",
                )
                .bind(mail_target(email))
                .bind(hour_ago)
                .bind(gap_ago)
                .fetch_one(db)
                .await
            })
            .await?;
        Ok(counts)
    }

    async fn join_of(&self, campaign_id: i64, email: &str) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT * FROM service_user_master WHERE campaign_id = $1 AND email = $2",
                )
                .bind(campaign_id)
                .bind(email)
                .fetch_optional(db)
                .await
            })
            .await?;
        Ok(row.map(Into::into))
    }

    async fn register_pending(
        &self,
        user: &User,
        outbox: &[NewOutbox],
    ) -> Result<PendingJoin, StoreError> {
        self.transaction(async |mut tx| {
            let existing: Option<UserRow> = sqlx::query_as(
                "SELECT * FROM service_user_master WHERE campaign_id = $1 AND email = $2",
            )
            .bind(user.campaign_id)
            .bind(&user.email)
            .fetch_optional(&mut *tx)
            .await?;
            let existing: Option<User> = existing.map(Into::into);
            if let Some(old) = &existing {
                if old.verified_at.is_some() {
                    return Ok(PendingJoin::AlreadyIn(Box::new(old.clone())));
                }
                sqlx::query(DB::LOCK_USER)
                    .bind(old.master_id)
                    .execute(&mut *tx)
                    .await?;
                // Frees the address for the new join; the old row goes below.
                sqlx::query("UPDATE service_user_master SET email = $2 WHERE master_id = $1")
                    .bind(old.master_id)
                    .bind(format!("replaced:{}", old.master_id))
                    .execute(&mut *tx)
                    .await?;
            }
            insert_user(&mut tx, user).await?;
            if let Some(old) = existing {
                detach_user(&mut tx, old.master_id, Some(user.master_id)).await?;
            }
            insert_outbox(&mut tx, outbox, user.created_at).await?;
            tx.commit().await?;
            self.outbox_committed(!outbox.is_empty());
            Ok(PendingJoin::Stored)
        })
        .await
    }

    async fn verify_user(
        &self,
        master_id: Uuid,
        policy: FraudPolicy,
        now: DateTime<Utc>,
        outbox: &(dyn for<'u> Fn(&'u User, &'u [ReferralCredit]) -> Vec<NewOutbox> + Sync),
    ) -> Result<Verification, StoreError> {
        self.transaction(async |mut tx| {
            let found = |id: Uuid| {
                sqlx::query_as::<DB, UserRow>(
                    "SELECT * FROM service_user_master WHERE master_id = $1",
                )
                .bind(id)
            };
            let Some(user) = found(master_id).fetch_optional(&mut *tx).await? else {
                return Ok(Verification::Unknown);
            };
            let user: User = user.into();
            // The referrer first, then the user: a referrer verifying at the
            // same time waits for this (or this for it), so the referral
            // between them is credited by whichever commits second.
            if let Some(referrer) = user.referred_by {
                sqlx::query(DB::LOCK_USER)
                    .bind(referrer)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(DB::LOCK_USER)
                .bind(master_id)
                .execute(&mut *tx)
                .await?;
            let Some(user) = found(master_id).fetch_optional(&mut *tx).await? else {
                return Ok(Verification::Unknown);
            };
            let mut user: User = user.into();
            if user.verified_at.is_some() {
                return Ok(Verification::AlreadyVerified(user));
            }
            sqlx::query("UPDATE service_user_master SET verified_at = $2 WHERE master_id = $1")
                .bind(master_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            user.verified_at = Some(now);
            let mut credits = Vec::new();
            if let Some(referrer) = user.referred_by {
                let referrer: Option<User> = found(referrer)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(Into::into);
                if let Some(referrer) = referrer.filter(|r| r.verified_at.is_some()) {
                    credits.extend(credit_referral(&mut tx, &referrer, &user, policy, now).await?);
                }
            }
            // Those this user referred who verified first count now.
            let waiting: Vec<UserRow> = sqlx::query_as(
                "SELECT u.* FROM service_user_master u
                 WHERE u.referred_by = $1 AND u.verified_at IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM service_referral_main r
                                   WHERE r.campaign_id = u.campaign_id
                                     AND r.referred_id = u.master_id)
                 ORDER BY u.verified_at, u.master_id",
            )
            .bind(master_id)
            .fetch_all(&mut *tx)
            .await?;
            for referred in waiting {
                let referred: User = referred.into();
                credits.extend(credit_referral(&mut tx, &user, &referred, policy, now).await?);
            }
            let outbox = outbox(&user, &credits);
            insert_outbox(&mut tx, &outbox, now).await?;
            tx.commit().await?;
            self.outbox_committed(!outbox.is_empty());
            Ok(Verification::Verified { user, credits })
        })
        .await
    }

    async fn unsubscribe(&self, master_id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = self
            .write(async |db| {
                sqlx::query(
                    "UPDATE service_user_master
                     SET unsubscribed_at = COALESCE(unsubscribed_at, $2)
                     WHERE master_id = $1",
                )
                .bind(master_id)
                .bind(now)
                .execute(db)
                .await
            })
            .await?;
        Ok(DB::rows_affected(&done) > 0)
    }

    async fn prune_unsent_mail(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = self
            .write(async |db| {
                sqlx::query(
                    "DELETE FROM service_event_outbox
                     WHERE kind = 'mail' AND delivered_at IS NULL AND dead_at IS NULL
                       AND attempts = 0 AND created_at < $1",
                )
                .bind(before)
                .execute(db)
                .await
            })
            .await?;
        Ok(DB::rows_affected(&done))
    }

    async fn prune_pending_joins(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.transaction(async |mut tx| {
            let stale: Vec<UserRow> = sqlx::query_as(
                "SELECT * FROM service_user_master
                 WHERE verified_at IS NULL AND created_at < $1 LIMIT 1000",
            )
            .bind(before)
            .fetch_all(&mut *tx)
            .await?;
            let pruned = stale.len() as u64;
            for user in stale {
                let user: User = user.into();
                detach_user(&mut tx, user.master_id, None).await?;
            }
            tx.commit().await?;
            Ok(pruned)
        })
        .await
    }
}
