//! Registered users and their referrals.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Executor, FromRow};
use uuid::Uuid;

use super::referrals::{credit_referral, review};
use super::{Dialect, Param, SqlStore, WriteTx, insert_outbox};
use crate::model::attribution::VisitorSession;
use crate::model::outbox::NewOutbox;
use crate::model::referral::{FraudPolicy, HumanityScore, Reviewed};
use crate::model::user::{ReferralCredit, User};
use crate::store::rows::UserRow;
use crate::store::{StoreError, UserStore};

#[async_trait]
impl<DB: Dialect> UserStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: Param<DB>,
    String: Param<DB>,
    for<'a> &'a str: Param<DB>,
    Uuid: Param<DB>,
    DateTime<Utc>: Param<DB>,
    Option<String>: Param<DB>,
    Option<Uuid>: Param<DB>,
    Option<i64>: Param<DB>,
    Option<DateTime<Utc>>: Param<DB>,
    for<'a> Json<&'a serde_json::Value>: Param<DB>,
    UserRow: for<'r> FromRow<'r, DB::Row>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    (i64, i64, i64, Option<f64>): for<'r> FromRow<'r, DB::Row>,
    f64: Param<DB>,
    (Uuid, Uuid, String): for<'r> FromRow<'r, DB::Row>,
{
    async fn user_by_referral_code(
        &self,
        campaign_id: i64,
        code: &str,
    ) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT * FROM service_user_master
                     WHERE campaign_id = $1 AND referral_code = $2",
                )
                .bind(campaign_id)
                .bind(code)
                .fetch_optional(db)
                .await
            })
            .await?;
        Ok(row.map(Into::into))
    }

    async fn user_by_id(&self, master_id: Uuid) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = self
            .read(async |db| {
                sqlx::query_as("SELECT * FROM service_user_master WHERE master_id = $1")
                    .bind(master_id)
                    .fetch_optional(db)
                    .await
            })
            .await?;
        Ok(row.map(Into::into))
    }

    async fn register_user(
        &self,
        user: &User,
        referrer: Option<&User>,
        policy: FraudPolicy,
        outbox: &[NewOutbox],
    ) -> Result<Option<ReferralCredit>, StoreError> {
        self.transaction(async |mut tx| {
            if let Some(referrer) = referrer {
                sqlx::query(DB::LOCK_USER)
                    .bind(referrer.master_id)
                    .execute(&mut *tx)
                    .await?;
            }
            insert_user(&mut tx, user).await?;
            // A referral counts once both ends are verified (see `verify_user`).
            let credit = match referrer {
                Some(referrer)
                    if user.verified_at.is_some() && verified(&mut tx, referrer).await? =>
                {
                    credit_referral(&mut tx, referrer, user, policy, user.created_at).await?
                }
                _ => None,
            };
            insert_outbox(&mut tx, outbox, user.created_at).await?;
            tx.commit().await?;
            self.outbox_committed(!outbox.is_empty());
            Ok(credit)
        })
        .await
    }

    async fn record_visitor_session(&self, session: &VisitorSession) -> Result<(), StoreError> {
        let first = &session.attribution;
        self.write(async |db| {
            sqlx::query(
                "INSERT INTO service_visitor_session
                     (session_id, campaign_id, source, utm_source, utm_medium, utm_campaign,
                      utm_term, utm_content, referrer, landing_page, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (session_id) DO NOTHING",
            )
            .bind(session.session_id)
            .bind(session.campaign_id)
            .bind(first.source())
            .bind(&first.utm_source)
            .bind(&first.utm_medium)
            .bind(&first.utm_campaign)
            .bind(&first.utm_term)
            .bind(&first.utm_content)
            .bind(&first.referrer)
            .bind(&first.landing_page)
            .bind(session.created_at)
            .execute(db)
            .await
        })
        .await?;
        Ok(())
    }

    async fn update_profile(
        &self,
        master_id: Uuid,
        display_name: &str,
        locale: Option<&str>,
    ) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = self
            .write(async |db| {
                sqlx::query_as(
                    "UPDATE service_user_master SET display_name = $2, locale = $3
                     WHERE master_id = $1 RETURNING *",
                )
                .bind(master_id)
                .bind(display_name)
                .bind(locale.map(str::to_owned))
                .fetch_optional(db)
                .await
            })
            .await?;
        Ok(row.map(Into::into))
    }

    async fn referral_count(&self, user: &User) -> Result<i64, StoreError> {
        let (count,): (i64,) = self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT COUNT(*) FROM service_referral_counted
                     WHERE campaign_id = $1 AND referrer_id = $2",
                )
                .bind(user.campaign_id)
                .bind(user.master_id)
                .fetch_one(db)
                .await
            })
            .await?;
        Ok(count)
    }

    async fn record_referral(
        &self,
        referrer: &User,
        referred: &User,
        policy: FraudPolicy,
        outbox: &[NewOutbox],
    ) -> Result<Option<ReferralCredit>, StoreError> {
        let now = Utc::now();
        self.transaction(async |mut tx| {
            sqlx::query(DB::LOCK_USER)
                .bind(referrer.master_id)
                .execute(&mut *tx)
                .await?;
            // Counted once both ends are verified (see `verify_user`).
            let credit =
                if verified(&mut tx, referred).await? && verified(&mut tx, referrer).await? {
                    credit_referral(&mut tx, referrer, referred, policy, now).await?
                } else {
                    None
                };
            let set = sqlx::query(
                "UPDATE service_user_master SET referred_by = $2
                 WHERE master_id = $1 AND referred_by IS NULL",
            )
            .bind(referred.master_id)
            .bind(referrer.master_id)
            .execute(&mut *tx)
            .await?;
            if DB::rows_affected(&set) == 0 {
                return Err(StoreError::Conflict { field: "referred" });
            }
            insert_outbox(&mut tx, outbox, now).await?;
            tx.commit().await?;
            self.outbox_committed(!outbox.is_empty());
            Ok(credit)
        })
        .await
    }
    async fn review_referral(
        &self,
        campaign_id: i64,
        id: i64,
        approve: bool,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Reviewed, StoreError> {
        self.transaction(async |mut tx| {
            let reviewed = review(&mut tx, campaign_id, id, approve, by, now).await?;
            tx.commit().await?;
            Ok(reviewed)
        })
        .await
    }

    async fn save_humanity(&self, scores: &[HumanityScore]) -> Result<(), StoreError> {
        if scores.is_empty() {
            return Ok(());
        }
        self.transaction(async |mut tx| {
            for score in scores {
                sqlx::query(
                    "INSERT INTO service_humanity (subject, campaign_id, score, samples, updated_at)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (subject) DO UPDATE
                     SET score = excluded.score, samples = excluded.samples,
                         updated_at = excluded.updated_at
                     WHERE excluded.samples >= service_humanity.samples",
                )
                .bind(score.subject)
                .bind(score.campaign_id)
                .bind(score.score)
                .bind(i64::from(score.samples))
                .bind(score.at)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn prune_humanity(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = self
            .write(async |db| {
                sqlx::query("DELETE FROM service_humanity WHERE updated_at < $1")
                    .bind(before)
                    .execute(db)
                    .await
            })
            .await?;
        Ok(DB::rows_affected(&done))
    }
}

/// Inserts `user`, in the caller's transaction.
pub(super) async fn insert_user<DB: Dialect>(
    tx: &mut WriteTx<DB>,
    user: &User,
) -> Result<(), StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: Param<DB>,
    String: Param<DB>,
    Uuid: Param<DB>,
    DateTime<Utc>: Param<DB>,
    Option<String>: Param<DB>,
    Option<Uuid>: Param<DB>,
    Option<DateTime<Utc>>: Param<DB>,
{
    sqlx::query(
        "INSERT INTO service_user_master
             (master_id, campaign_id, email, display_name, locale, referral_code,
              referred_by, created_at, visitor_id, consent_version, consent_at,
              verified_at, network_hash, device_hash, email_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(user.master_id)
    .bind(user.campaign_id)
    .bind(&user.email)
    .bind(&user.display_name)
    .bind(&user.locale)
    .bind(&user.referral_code)
    .bind(user.referred_by)
    .bind(user.created_at)
    .bind(user.visitor_id)
    .bind(user.consent.as_ref().map(|c| c.version.clone()))
    .bind(user.consent.as_ref().map(|c| c.at))
    .bind(user.verified_at)
    .bind(user.origin.network.clone())
    .bind(user.origin.device.clone())
    .bind(crate::model::referral::email_key(&user.email))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Whether `user` is verified now, in the caller's transaction (which holds its lock).
async fn verified<DB: Dialect>(tx: &mut WriteTx<DB>, user: &User) -> Result<bool, StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    Uuid: Param<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
{
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM service_user_master
         WHERE master_id = $1 AND verified_at IS NOT NULL",
    )
    .bind(user.master_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(count > 0)
}
