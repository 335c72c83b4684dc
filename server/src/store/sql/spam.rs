//! Spam: submissions held by the honeypot or the minimum time, and those
//! let through while the CAPTCHA provider was down.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Executor, FromRow};
use uuid::Uuid;

use super::{Dialect, Param, SqlStore};
use crate::model::spam::{NewSpam, Spam, SpamForm, SpamReason, SpamState};
use crate::store::spam::{SpamCounts, SpamStore};
use crate::store::{Page, StoreError};

/// A listed submission as both databases return it.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct SpamRow {
    id: Uuid,
    campaign_id: i64,
    form: String,
    reason: String,
    state: String,
    email: String,
    submission: Json<serde_json::Value>,
    created_at: DateTime<Utc>,
    released_at: Option<DateTime<Utc>>,
    released_by: Option<String>,
}

impl TryFrom<SpamRow> for Spam {
    type Error = StoreError;

    fn try_from(row: SpamRow) -> Result<Self, StoreError> {
        let corrupt =
            |what: &str, value: &str| StoreError::Corrupt(format!("spam {what} {value:?}"));
        Ok(Spam {
            id: row.id,
            campaign_id: row.campaign_id,
            form: SpamForm::parse(&row.form).ok_or_else(|| corrupt("form", &row.form))?,
            reason: SpamReason::parse(&row.reason).ok_or_else(|| corrupt("reason", &row.reason))?,
            state: SpamState::parse(&row.state).ok_or_else(|| corrupt("state", &row.state))?,
            email: row.email,
            submission: row.submission.0,
            created_at: row.created_at,
            released_at: row.released_at,
            released_by: row.released_by,
        })
    }
}

#[async_trait]
impl<DB: Dialect> SpamStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: Param<DB>,
    String: Param<DB>,
    for<'a> &'a str: Param<DB>,
    Uuid: Param<DB>,
    DateTime<Utc>: Param<DB>,
    Option<String>: Param<DB>,
    Json<serde_json::Value>: Param<DB>,
    SpamRow: for<'r> FromRow<'r, DB::Row>,
    (String, i64): for<'r> FromRow<'r, DB::Row>,
{
    async fn hold_spam(&self, spam: &NewSpam) -> Result<(), StoreError> {
        let submission = serde_json::to_value(&spam.submission)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.write(async |db| {
            sqlx::query(
                "INSERT INTO service_spam
                     (id, campaign_id, form, reason, state, email, submission, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(spam.id)
            .bind(spam.campaign_id)
            .bind(spam.form().as_str())
            .bind(spam.reason.as_str())
            .bind(spam.state.as_str())
            .bind(&spam.email)
            .bind(Json(submission))
            .bind(spam.created_at)
            .execute(db)
            .await
        })
        .await?;
        Ok(())
    }

    async fn spam(
        &self,
        campaign_id: i64,
        state: Option<SpamState>,
        page: Page,
    ) -> Result<Vec<Spam>, StoreError> {
        let rows: Vec<SpamRow> = self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT * FROM service_spam
                     WHERE campaign_id = $1 AND ($2 IS NULL OR state = $2)
                     ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
                )
                .bind(campaign_id)
                .bind(state.map(|s| s.as_str().to_owned()))
                .bind(i64::from(page.limit))
                .bind(i64::from(page.offset))
                .fetch_all(db)
                .await
            })
            .await?;
        rows.into_iter().map(Spam::try_from).collect()
    }

    async fn spam_by_id(&self, id: Uuid) -> Result<Option<Spam>, StoreError> {
        let row: Option<SpamRow> = self
            .read(async |db| {
                sqlx::query_as("SELECT * FROM service_spam WHERE id = $1")
                    .bind(id)
                    .fetch_optional(db)
                    .await
            })
            .await?;
        row.map(Spam::try_from).transpose()
    }

    async fn release_spam(
        &self,
        id: Uuid,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = self
            .write(async |db| {
                sqlx::query(
                    "UPDATE service_spam SET state = 'released', released_at = $2, released_by = $3
                     WHERE id = $1 AND state = 'held'",
                )
                .bind(id)
                .bind(at)
                .bind(by)
                .execute(db)
                .await
            })
            .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn spam_counts(&self, campaign_id: i64) -> Result<SpamCounts, StoreError> {
        let rows: Vec<(String, i64)> = self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT state, COUNT(*) FROM service_spam WHERE campaign_id = $1 GROUP BY state",
                )
                .bind(campaign_id)
                .fetch_all(db)
                .await
            })
            .await?;
        let mut counts = SpamCounts::default();
        for (state, n) in rows {
            let n = u64::try_from(n).unwrap_or(0);
            match SpamState::parse(&state) {
                Some(SpamState::Held) => counts.held = n,
                Some(SpamState::Released) => counts.released = n,
                Some(SpamState::Passed) => counts.passed = n,
                None => return Err(StoreError::Corrupt(format!("spam state {state:?}"))),
            }
        }
        Ok(counts)
    }

    async fn prune_spam(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = self
            .write(async |db| {
                sqlx::query("DELETE FROM service_spam WHERE created_at < $1")
                    .bind(before)
                    .execute(db)
                    .await
            })
            .await?;
        Ok(DB::rows_affected(&done))
    }
}
