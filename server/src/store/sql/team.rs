//! The campaign team's keys and the audit log.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Executor, FromRow};

use super::{Dialect, Param, SqlStore};
use crate::model::team::{ApiKey, AuditEntry, NewAudit, NewKey};
use crate::store::rows::{AuditRow, KeyRow};
use crate::store::{StoreError, TeamStore};

/// A key with its campaign's slug.
const KEY_COLUMNS: &str = "SELECT k.*, c.slug AS campaign
     FROM service_api_key k
     LEFT JOIN service_campaign_main c ON c.id = k.campaign_id";

impl<DB: Dialect> SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: Param<DB>,
    KeyRow: for<'r> FromRow<'r, DB::Row>,
{
    /// Key `id` with its campaign's slug, read on `db` (the writer, to read
    /// back what was just written whatever a reader has seen).
    async fn key_on(db: &mut DB::Connection, id: i64) -> Result<Option<ApiKey>, StoreError> {
        let row: Option<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{KEY_COLUMNS} WHERE k.id = $1"
        )))
        .bind(id)
        .fetch_optional(db)
        .await?;
        row.map(TryInto::try_into).transpose()
    }
}

#[async_trait]
impl<DB: Dialect> TeamStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: Param<DB>,
    for<'a> &'a str: Param<DB>,
    DateTime<Utc>: Param<DB>,
    Option<i64>: Param<DB>,
    Option<Json<serde_json::Value>>: Param<DB>,
    KeyRow: for<'r> FromRow<'r, DB::Row>,
    AuditRow: for<'r> FromRow<'r, DB::Row>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
{
    async fn insert_key(&self, key: &NewKey) -> Result<ApiKey, StoreError> {
        self.write(async |db| {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO service_api_key
                     (name, role, campaign_id, token_hash, hint, created_by, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 RETURNING id",
            )
            .bind(key.name.as_str())
            .bind(key.role.as_str())
            .bind(key.campaign_id)
            .bind(key.token_hash.as_str())
            .bind(key.hint.as_str())
            .bind(key.created_by.as_str())
            .bind(key.created_at)
            .fetch_one(&mut *db)
            .await?;
            Self::key_on(db, id).await
        })
        .await?
        .ok_or(StoreError::NotFound)
    }

    async fn live_key(&self, token_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let row: Option<KeyRow> = self
            .read(async |db| {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{KEY_COLUMNS} WHERE k.token_hash = $1 AND k.revoked_at IS NULL"
                )))
                .bind(token_hash)
                .fetch_optional(db)
                .await
            })
            .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn key_by_id(&self, id: i64) -> Result<Option<ApiKey>, StoreError> {
        self.read(async |db| Self::key_on(db, id).await).await
    }

    async fn list_keys(&self, campaign_id: Option<i64>) -> Result<Vec<ApiKey>, StoreError> {
        let rows: Vec<KeyRow> = self
            .read(async |db| {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{KEY_COLUMNS} WHERE ($1 IS NULL OR k.campaign_id = $1)
                     ORDER BY k.revoked_at IS NOT NULL, k.id DESC"
                )))
                .bind(campaign_id)
                .fetch_all(db)
                .await
            })
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn revoke_key(&self, id: i64, at: DateTime<Utc>) -> Result<Option<ApiKey>, StoreError> {
        self.write(async |db| {
            let revoked: Option<(i64,)> = sqlx::query_as(
                "UPDATE service_api_key SET revoked_at = $2
                 WHERE id = $1 AND revoked_at IS NULL
                 RETURNING id",
            )
            .bind(id)
            .bind(at)
            .fetch_optional(&mut *db)
            .await?;
            if revoked.is_none() {
                return Ok(None);
            }
            Self::key_on(db, id).await
        })
        .await
    }

    async fn record_audit(&self, entry: &NewAudit) -> Result<(), StoreError> {
        self.write(async |db| {
            sqlx::query(
                "INSERT INTO service_audit_log
                     (at, actor, actor_key_id, action, campaign_id, target, before, after)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(entry.at)
            .bind(entry.actor.as_str())
            .bind(entry.actor_key_id)
            .bind(entry.action.as_str())
            .bind(entry.campaign_id)
            .bind(entry.target.as_str())
            .bind(entry.before.clone().map(Json))
            .bind(entry.after.clone().map(Json))
            .execute(db)
            .await
        })
        .await?;
        Ok(())
    }

    async fn audit_log(
        &self,
        campaign_id: Option<i64>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<AuditRow> = self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT a.*, c.slug AS campaign
                     FROM service_audit_log a
                     LEFT JOIN service_campaign_main c ON c.id = a.campaign_id
                     WHERE ($1 IS NULL OR a.campaign_id = $1)
                       AND ($2 IS NULL OR a.id < $2)
                     ORDER BY a.id DESC LIMIT $3",
                )
                .bind(campaign_id)
                .bind(before)
                .bind(i64::from(limit))
                .fetch_all(db)
                .await
            })
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
