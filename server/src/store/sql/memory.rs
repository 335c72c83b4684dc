//! The translation memory: lookups (marking rows served), stores and eviction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Executor, FromRow};

use super::{Dialect, Param, SqlStore};
use crate::model::translation::{MemoryEntry, MemoryOrigin, MemoryRecord};
use crate::store::rows::MemoryRow;
use crate::store::{MemoryStore, Page, StoreError};

#[async_trait]
impl<DB: Dialect> MemoryStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: Param<DB>,
    String: Param<DB>,
    for<'a> &'a str: Param<DB>,
    Option<String>: Param<DB>,
    DateTime<Utc>: Param<DB>,
    for<'a> Json<&'a [String]>: Param<DB>,
    MemoryRow: for<'r> FromRow<'r, DB::Row>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
{
    async fn memory_lookup(
        &self,
        campaign_id: i64,
        source_lang: &str,
        target_lang: &str,
        context_key: &str,
        hashes: &[String],
    ) -> Result<Vec<MemoryEntry>, StoreError> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<MemoryRow> = self
            .read(async |db| {
                sqlx::query_as(DB::MEMORY_LOOKUP)
                    .bind(campaign_id)
                    .bind(source_lang)
                    .bind(target_lang)
                    .bind(context_key)
                    .bind(Json(hashes))
                    .fetch_all(db)
                    .await
            })
            .await?;
        // Served: marked for eviction order, at most hourly per row, so that
        // serving is a write only now and then.
        let now = Utc::now();
        let hour = chrono::Duration::hours(1);
        if rows.iter().any(|row| row.stale(now, hour)) {
            let touched = self
                .write(async |db| {
                    sqlx::query(DB::MEMORY_TOUCH)
                        .bind(campaign_id)
                        .bind(source_lang)
                        .bind(target_lang)
                        .bind(context_key)
                        .bind(Json(hashes))
                        .bind(now)
                        .bind(now - hour)
                        .execute(db)
                        .await
                })
                .await;
            if let Err(e) = touched {
                tracing::debug!(error = ?e, "translation memory not marked as served");
            }
        }
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn memory_list(
        &self,
        campaign_id: i64,
        target_lang: Option<&str>,
        origin: Option<MemoryOrigin>,
        page: Page,
    ) -> Result<Vec<MemoryRecord>, StoreError> {
        let rows: Vec<MemoryRow> = self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT * FROM service_translation_memory
                     WHERE campaign_id = $1
                       AND ($2 IS NULL OR target_lang = $2)
                       AND ($3 IS NULL OR origin = $3)
                     ORDER BY updated_at DESC, id DESC LIMIT $4 OFFSET $5",
                )
                .bind(campaign_id)
                .bind(target_lang.map(str::to_owned))
                .bind(origin.map(|o| o.as_str().to_owned()))
                .bind(i64::from(page.limit))
                .bind(i64::from(page.offset))
                .fetch_all(db)
                .await
            })
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn memory_store(&self, entries: &[MemoryEntry]) -> Result<(), StoreError> {
        let now = Utc::now();
        self.transaction(async |mut tx| {
            for entry in entries {
                sqlx::query(
                    "INSERT INTO service_translation_memory
                         (campaign_id, source_lang, target_lang, context_key, source_hash,
                          source_text, translated_text, origin, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
                     ON CONFLICT (campaign_id, source_lang, target_lang, context_key, source_hash)
                     DO UPDATE SET translated_text = excluded.translated_text,
                                   source_text = excluded.source_text,
                                   origin = excluded.origin,
                                   updated_at = excluded.updated_at
                     WHERE service_translation_memory.origin = 'machine'
                        OR excluded.origin = 'override'",
                )
                .bind(entry.campaign_id)
                .bind(&entry.source_lang)
                .bind(&entry.target_lang)
                .bind(&entry.context_key)
                .bind(&entry.source_hash)
                .bind(&entry.source_text)
                .bind(&entry.translated_text)
                .bind(entry.origin.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn prune_memory(&self, keep: u64) -> Result<u64, StoreError> {
        let (machine,): (i64,) = self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT COUNT(*) FROM service_translation_memory WHERE origin = 'machine'",
                )
                .fetch_one(db)
                .await
            })
            .await?;
        let excess = u64::try_from(machine).unwrap_or(0).saturating_sub(keep);
        if excess == 0 {
            return Ok(0);
        }
        let done = self
            .write(async |db| {
                sqlx::query(
                    "DELETE FROM service_translation_memory WHERE id IN (
                         SELECT id FROM service_translation_memory WHERE origin = 'machine'
                         ORDER BY COALESCE(last_used_at, updated_at), id LIMIT $1)",
                )
                .bind(i64::try_from(excess).unwrap_or(i64::MAX))
                .execute(db)
                .await
            })
            .await?;
        Ok(DB::rows_affected(&done))
    }
}
