//! The outbox: entries due for delivery, their claims, attempts and retention.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Executor, FromRow};

use super::{Dialect, Param, SqlStore, insert_outbox};
use crate::model::outbox::{NewOutbox, OutboxEntry, OutboxState};
use crate::store::rows::OutboxRow;
use crate::store::{FeedStore, OutboxCounts, OutboxStore, Page, StoreError};

/// Entries of the default receiver and of their own, due at `$1` (at most `$2`).
const DUE_ANY_TARGET: &str = "SELECT o.*, c.slug AS campaign_slug
     FROM service_event_outbox o
     LEFT JOIN service_campaign_main c ON c.id = o.campaign_id
     WHERE o.delivered_at IS NULL AND o.dead_at IS NULL
       AND o.kind = 'webhook'
       AND o.next_attempt_at <= $1
     ORDER BY o.next_attempt_at, o.id LIMIT $2";

/// Entries with a receiver of their own, due at `$1` (at most `$2`).
const DUE_OWN_TARGET: &str = "SELECT o.*, c.slug AS campaign_slug
     FROM service_event_outbox o
     LEFT JOIN service_campaign_main c ON c.id = o.campaign_id
     WHERE o.delivered_at IS NULL AND o.dead_at IS NULL
       AND o.target_url IS NOT NULL AND o.kind = 'webhook'
       AND o.next_attempt_at <= $1
     ORDER BY o.next_attempt_at, o.id LIMIT $2";

#[async_trait]
impl<DB: Dialect> OutboxStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: Param<DB>,
    i32: Param<DB>,
    bool: Param<DB>,
    for<'a> &'a str: Param<DB>,
    DateTime<Utc>: Param<DB>,
    Option<DateTime<Utc>>: Param<DB>,
    Option<i64>: Param<DB>,
    String: Param<DB>,
    Option<String>: Param<DB>,
    for<'a> sqlx::types::Json<&'a serde_json::Value>: Param<DB>,
    OutboxRow: for<'r> FromRow<'r, DB::Row>,
    (i64, i64): for<'r> FromRow<'r, DB::Row>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    Self: crate::store::FeedStore,
{
    async fn insert_outbox(&self, outbox: &[NewOutbox]) -> Result<(), StoreError> {
        self.transaction(async |mut tx| {
            insert_outbox(&mut tx, outbox, Utc::now()).await?;
            tx.commit().await?;
            self.outbox_committed(!outbox.is_empty());
            Ok(())
        })
        .await
    }

    async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        // Undelivered entries only: few, however large the outbox grew.
        let (pending, dead): (i64, i64) = self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT COUNT(*) FILTER (WHERE dead_at IS NULL),
                            COUNT(*) FILTER (WHERE dead_at IS NOT NULL)
                     FROM service_event_outbox WHERE delivered_at IS NULL",
                )
                .fetch_one(db)
                .await
            })
            .await?;
        Ok(OutboxCounts { pending, dead })
    }

    async fn due_outbox(
        &self,
        now: DateTime<Utc>,
        with_default_target: bool,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        // Two texts, so that each can use its partial index: without a
        // default target, entries without their own wait unread.
        let query = if with_default_target {
            DUE_ANY_TARGET
        } else {
            DUE_OWN_TARGET
        };
        let rows: Vec<OutboxRow> = self
            .read(async |db| {
                sqlx::query_as(query)
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(db)
                    .await
            })
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn claim_outbox(
        &self,
        id: i64,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = self
            .write(async |db| {
                sqlx::query(
                    "UPDATE service_event_outbox SET next_attempt_at = $3
                     WHERE id = $1 AND next_attempt_at <= $2
                       AND delivered_at IS NULL AND dead_at IS NULL",
                )
                .bind(id)
                .bind(now)
                .bind(lease_until)
                .execute(db)
                .await
            })
            .await?;
        let claimed = DB::rows_affected(&done) == 1;
        // A claim wakes the delivery worker once more: a full batch may have
        // left more entries due.
        self.outbox_committed(claimed);
        Ok(claimed)
    }

    async fn outbox_delivered(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.write(async |db| {
            sqlx::query(
                "UPDATE service_event_outbox
                 SET delivered_at = $2, attempts = attempts + 1, last_error = NULL
                 WHERE id = $1",
            )
            .bind(id)
            .bind(at)
            .execute(db)
            .await
        })
        .await?;
        Ok(())
    }

    async fn outbox_failed(
        &self,
        id: i64,
        attempts: i32,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write(async |db| {
            sqlx::query(
                "UPDATE service_event_outbox
                 SET attempts = $2, last_error = $3,
                     next_attempt_at = COALESCE($4, next_attempt_at),
                     dead_at = CASE WHEN $4 IS NULL THEN $5 ELSE NULL END
                 WHERE id = $1",
            )
            .bind(id)
            .bind(attempts)
            .bind(error)
            .bind(retry_at)
            .bind(now)
            .execute(db)
            .await
        })
        .await?;
        Ok(())
    }

    async fn list_outbox(
        &self,
        state: OutboxState,
        campaign_id: Option<i64>,
        page: Page,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows: Vec<OutboxRow> = self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT o.*, c.slug AS campaign_slug
                     FROM service_event_outbox o
                     LEFT JOIN service_campaign_main c ON c.id = o.campaign_id
                     WHERE ($1 = 'all'
                            OR ($1 = 'pending' AND o.delivered_at IS NULL AND o.dead_at IS NULL)
                            OR ($1 = 'delivered' AND o.delivered_at IS NOT NULL)
                            OR ($1 = 'dead' AND o.dead_at IS NOT NULL))
                       AND ($2 IS NULL OR o.campaign_id = $2)
                     ORDER BY o.id DESC LIMIT $3 OFFSET $4",
                )
                .bind(state.as_str())
                .bind(campaign_id)
                .bind(i64::from(page.limit))
                .bind(i64::from(page.offset))
                .fetch_all(db)
                .await
            })
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn outbox_entry(&self, id: i64) -> Result<Option<OutboxEntry>, StoreError> {
        let row: Option<OutboxRow> = self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT o.*, c.slug AS campaign_slug
                     FROM service_event_outbox o
                     LEFT JOIN service_campaign_main c ON c.id = o.campaign_id
                     WHERE o.id = $1",
                )
                .bind(id)
                .fetch_optional(db)
                .await
            })
            .await?;
        Ok(row.map(Into::into))
    }

    async fn redrive_outbox(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = self
            .write(async |db| {
                sqlx::query(
                    "UPDATE service_event_outbox
                     SET dead_at = NULL, attempts = 0, next_attempt_at = $2
                     WHERE id = $1 AND delivered_at IS NULL",
                )
                .bind(id)
                .bind(now)
                .execute(db)
                .await
            })
            .await?;
        let redriven = DB::rows_affected(&done) == 1;
        self.outbox_committed(redriven);
        Ok(redriven)
    }

    async fn prune_outbox(
        &self,
        before: DateTime<Utc>,
        untargeted_too: bool,
        consumers_read_since: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        // What may go: done with, and — a record of the feed — numbered and
        // acknowledged by every named consumer read lately ($3; -1: there
        // are none).
        const PRUNABLE: &str = "created_at < $1
               AND (delivered_at IS NOT NULL
                    OR ($2 AND dead_at IS NULL AND target_url IS NULL))
               AND (target_url IS NOT NULL
                    OR (feed_position IS NOT NULL AND ($3 < 0 OR feed_position <= $3)))";
        // Every committed record numbered first: an unnumbered one is never
        // removed, and would otherwise wait for the numbering task.
        while self.sequence_feed(1000).await? > 0 {}
        self.transaction(async |mut tx| {
            sqlx::query(DB::LOCK_FEED).execute(&mut *tx).await?;
            let (slowest,): (i64,) = sqlx::query_as(
                "SELECT COALESCE(MIN(position), -1) FROM service_feed_consumer WHERE read_at >= $1",
            )
            .bind(consumers_read_since)
            .fetch_one(&mut *tx)
            .await?;
            let (last_removed,): (i64,) = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT COALESCE(MAX(feed_position), 0) FROM service_event_outbox WHERE {PRUNABLE}"
            )))
            .bind(before)
            .bind(untargeted_too)
            .bind(slowest)
            .fetch_one(&mut *tx)
            .await?;
            let done = sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM service_event_outbox WHERE {PRUNABLE}"
            )))
            .bind(before)
            .bind(untargeted_too)
            .bind(slowest)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE service_feed_state SET pruned_through = $1
                 WHERE id = 1 AND pruned_through < $1",
            )
            .bind(last_removed)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(DB::rows_affected(&done))
        })
        .await
    }
}
