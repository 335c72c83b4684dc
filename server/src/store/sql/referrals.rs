//! Crediting a referral, with the fraud signals it raises
//! ([`crate::model::referral`]), and the team's review of those it
//! flagged. Everything here runs in the caller's transaction, which holds
//! the referrer's lock: one referrer's referrals are checked, counted and
//! reviewed one at a time, so each count is returned exactly once.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Executor, FromRow};
use uuid::Uuid;

use super::{Dialect, Param, WriteTx};
use crate::model::referral::{
    DEVICE_WINDOW, FraudPolicy, LOW_HUMANITY, ReferralStatus, Reviewed, Signal, is_disposable,
};
use crate::model::user::{ReferralCredit, User};
use crate::store::StoreError;

/// Inserts the referral of `referred` by `referrer`, counted or flagged by
/// the signals it raises under `policy`; the referrer's new count when it
/// counts (`None` when flagged).
pub(super) async fn credit_referral<DB: Dialect>(
    tx: &mut WriteTx<DB>,
    referrer: &User,
    referred: &User,
    policy: FraudPolicy,
    now: DateTime<Utc>,
) -> Result<Option<ReferralCredit>, StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: Param<DB>,
    String: Param<DB>,
    for<'a> &'a str: Param<DB>,
    Uuid: Param<DB>,
    DateTime<Utc>: Param<DB>,
    Option<String>: Param<DB>,
    for<'a> Json<&'a serde_json::Value>: Param<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    (i64, i64, i64, Option<f64>): for<'r> FromRow<'r, DB::Row>,
{
    let signals = if policy.checked {
        signals(tx, referrer, referred, policy, now).await?
    } else {
        Vec::new()
    };
    let status = if signals.is_empty() {
        "counted"
    } else {
        "flagged"
    };
    let names: Vec<&str> = signals.iter().map(|s| s.as_str()).collect();
    let names = serde_json::json!(names);
    sqlx::query(
        "INSERT INTO service_referral_main
             (campaign_id, referrer_id, referred_id, code, created_at, status, signals)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(referrer.campaign_id)
    .bind(referrer.master_id)
    .bind(referred.master_id)
    .bind(&referrer.referral_code)
    .bind(now)
    .bind(status)
    .bind(Json(&names))
    .execute(&mut **tx)
    .await?;
    if !signals.is_empty() {
        tracing::info!(
            referrer = %referrer.master_id, referred = %referred.master_id,
            signals = ?names, "referral flagged for review"
        );
        return Ok(None);
    }
    Ok(Some(counted(tx, referrer, referred.master_id).await?))
}

/// The referrer's count of counted referrals, in the caller's transaction.
pub(super) async fn counted<DB: Dialect>(
    tx: &mut WriteTx<DB>,
    referrer: &User,
    referred: Uuid,
) -> Result<ReferralCredit, StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: Param<DB>,
    Uuid: Param<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
{
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM service_referral_counted
         WHERE campaign_id = $1 AND referrer_id = $2",
    )
    .bind(referrer.campaign_id)
    .bind(referrer.master_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(ReferralCredit {
        referrer: referrer.clone(),
        referred,
        count,
    })
}

/// What the signals are read from, in one statement (the crediting
/// transaction holds the database's writer: one round trip, not four).
/// `$1` campaign, `$2` the joiner's email key, `$3` the joiner, `$4` the
/// referrer, `$5` an hour ago, `$6` a day ago, `$7` the joiner's network
/// hash (null: none), `$8` the joiner's visitor session.
const SIGNAL_FACTS: &str = "SELECT
    (SELECT COUNT(*) FROM service_user_master
     WHERE campaign_id = $1 AND email_key = $2 AND master_id <> $3),
    (SELECT COUNT(*) FROM service_referral_main
     WHERE campaign_id = $1 AND referrer_id = $4 AND created_at > $5),
    (SELECT COUNT(*) FROM service_referral_main r
     JOIN service_user_master u ON u.master_id = r.referred_id
     WHERE r.campaign_id = $1 AND r.referrer_id = $4 AND r.created_at >= $6
       AND u.network_hash = $7),
    (SELECT score FROM service_humanity
     WHERE subject = $3 OR subject = $8
     ORDER BY samples DESC LIMIT 1)";

/// The signals the referral of `referred` by `referrer` raises.
async fn signals<DB: Dialect>(
    tx: &mut WriteTx<DB>,
    referrer: &User,
    referred: &User,
    policy: FraudPolicy,
    now: DateTime<Utc>,
) -> Result<Vec<Signal>, StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: Param<DB>,
    String: Param<DB>,
    Uuid: Param<DB>,
    DateTime<Utc>: Param<DB>,
    Option<String>: Param<DB>,
    (i64, i64, i64, Option<f64>): for<'r> FromRow<'r, DB::Row>,
{
    let (similar, last_hour, siblings, humanity): (i64, i64, i64, Option<f64>) =
        sqlx::query_as(SIGNAL_FACTS)
            .bind(referrer.campaign_id)
            .bind(crate::model::referral::email_key(&referred.email))
            .bind(referred.master_id)
            .bind(referrer.master_id)
            .bind(now - chrono::Duration::hours(1))
            .bind(now - DEVICE_WINDOW)
            .bind(referred.origin.network.clone())
            .bind(referred.visitor_id.unwrap_or(referred.master_id))
            .fetch_one(&mut **tx)
            .await?;
    let network = referred.origin.network.is_some()
        && (referred.origin.network == referrer.origin.network || siblings > 0);
    let same_session = referred.visitor_id.is_some() && referred.visitor_id == referrer.visitor_id;
    let same_device = referred.origin.device.is_some()
        && referred.origin.device == referrer.origin.device
        && (referred.created_at - referrer.created_at).abs() <= DEVICE_WINDOW;
    Ok([
        (network, Signal::SameNetwork),
        (same_session || same_device, Signal::SameDevice),
        (similar > 0, Signal::SimilarEmail),
        (is_disposable(&referred.email), Signal::DisposableEmail),
        (last_hour >= i64::from(policy.max_per_hour), Signal::TooMany),
        (
            humanity.is_some_and(|score| score < LOW_HUMANITY),
            Signal::LowHumanity,
        ),
    ]
    .into_iter()
    .filter_map(|(raised, signal)| raised.then_some(signal))
    .collect())
}

/// Reviews flagged referral `id` of `campaign_id` in the caller's
/// transaction: approved (counted from now) or rejected, by `by` at `now`.
pub(super) async fn review<DB: Dialect>(
    tx: &mut WriteTx<DB>,
    campaign_id: i64,
    id: i64,
    approve: bool,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Reviewed, StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: Param<DB>,
    String: Param<DB>,
    for<'a> &'a str: Param<DB>,
    Uuid: Param<DB>,
    DateTime<Utc>: Param<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    (Uuid, Uuid, String): for<'r> FromRow<'r, DB::Row>,
    crate::store::rows::UserRow: for<'r> FromRow<'r, DB::Row>,
{
    let read = || {
        sqlx::query_as::<DB, (Uuid, Uuid, String)>(
            "SELECT referrer_id, referred_id, status FROM service_referral_main
             WHERE id = $1 AND campaign_id = $2",
        )
        .bind(id)
        .bind(campaign_id)
    };
    let Some((referrer_id, _, _)) = read().fetch_optional(&mut **tx).await? else {
        return Ok(Reviewed::Missing);
    };
    sqlx::query(DB::LOCK_USER)
        .bind(referrer_id)
        .execute(&mut **tx)
        .await?;
    // Read again under the lock: another review may have come first.
    let Some((_, referred, status)) = read().fetch_optional(&mut **tx).await? else {
        return Ok(Reviewed::Missing);
    };
    let status = ReferralStatus::parse(&status)
        .ok_or_else(|| StoreError::Corrupt(format!("referral status {status:?}")))?;
    if status != ReferralStatus::Flagged {
        return Ok(Reviewed::NotFlagged(status));
    }
    sqlx::query(
        "UPDATE service_referral_main SET status = $2, reviewed_at = $3, reviewed_by = $4
         WHERE id = $1",
    )
    .bind(id)
    .bind(if approve { "counted" } else { "rejected" })
    .bind(now)
    .bind(by)
    .execute(&mut **tx)
    .await?;
    if !approve {
        return Ok(Reviewed::Rejected);
    }
    let referrer: crate::store::rows::UserRow =
        sqlx::query_as("SELECT * FROM service_user_master WHERE master_id = $1")
            .bind(referrer_id)
            .fetch_one(&mut **tx)
            .await?;
    Ok(Reviewed::Approved(Box::new(
        counted(tx, &referrer.into(), referred).await?,
    )))
}
