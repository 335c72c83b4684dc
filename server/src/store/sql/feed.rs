//! The back-office feed: outbox records numbered in commit order, read after
//! a position, and the positions its named consumers acknowledged.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Executor, FromRow};

use super::{Dialect, Param, SqlStore};
use crate::model::feed::{Acked, ConsumerScope, FeedConsumer, stored_scope};
use crate::model::outbox::OutboxEntry;
use crate::store::rows::{ConsumerRow, FeedRow};
use crate::store::{FeedStore, StoreError};

/// A position as stored (`BIGINT`).
fn stored(position: u64) -> i64 {
    i64::try_from(position).unwrap_or(i64::MAX)
}

/// A stored position.
fn read(position: i64) -> u64 {
    u64::try_from(position).unwrap_or(0)
}

/// A consumer with its campaign's slug; a `WHERE` follows.
const CONSUMERS: &str = "SELECT f.scope, f.name, f.position, f.updated_at, f.read_at,
            c.slug AS campaign
     FROM service_feed_consumer f
     LEFT JOIN service_campaign_main c ON c.id = f.scope";

#[async_trait]
impl<DB: Dialect> FeedStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: Param<DB>,
    for<'a> &'a str: Param<DB>,
    Option<i64>: Param<DB>,
    chrono::DateTime<Utc>: Param<DB>,
    FeedRow: for<'r> FromRow<'r, DB::Row>,
    ConsumerRow: for<'r> FromRow<'r, DB::Row>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    (i64, i64): for<'r> FromRow<'r, DB::Row>,
{
    async fn sequence_feed(&self, limit: u32) -> Result<u64, StoreError> {
        // A read first: most calls find nothing to number, and need no
        // write transaction for that.
        let waiting: Option<(i64,)> = self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT id FROM service_event_outbox
                     WHERE feed_position IS NULL AND target_url IS NULL LIMIT 1",
                )
                .fetch_optional(db)
                .await
            })
            .await?;
        if waiting.is_none() {
            return Ok(0);
        }
        self.transaction(async |mut tx| {
            let (last,): (i64,) = sqlx::query_as(DB::LOCK_FEED).fetch_one(&mut *tx).await?;
            // Only rows committed before the lock was taken are seen; one that
            // commits later is numbered after everything numbered here.
            let ids: Vec<(i64,)> = sqlx::query_as(
                "SELECT id FROM service_event_outbox
                 WHERE feed_position IS NULL AND target_url IS NULL
                 ORDER BY id LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
            let mut position = last;
            for (id,) in &ids {
                position += 1;
                sqlx::query("UPDATE service_event_outbox SET feed_position = $2 WHERE id = $1")
                    .bind(id)
                    .bind(position)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("UPDATE service_feed_state SET last_position = $1 WHERE id = 1")
                .bind(position)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(ids.len() as u64)
        })
        .await
    }

    async fn feed_after(
        &self,
        after: u64,
        campaign_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(u64, OutboxEntry)>, StoreError> {
        let rows: Vec<FeedRow> = self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT o.*, c.slug AS campaign_slug
                     FROM service_event_outbox o
                     LEFT JOIN service_campaign_main c ON c.id = o.campaign_id
                     WHERE o.feed_position > $1 AND ($2 IS NULL OR o.campaign_id = $2)
                     ORDER BY o.feed_position
                     LIMIT $3",
                )
                .bind(stored(after))
                .bind(campaign_id)
                .bind(i64::from(limit))
                .fetch_all(db)
                .await
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| (read(row.feed_position), row.entry.into()))
            .collect())
    }

    async fn feed_bounds(&self) -> Result<(u64, u64), StoreError> {
        let (pruned, last): (i64, i64) = self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT pruned_through, last_position FROM service_feed_state WHERE id = 1",
                )
                .fetch_one(db)
                .await
            })
            .await?;
        Ok((read(pruned), read(last)))
    }

    async fn feed_consumer(
        &self,
        scope: ConsumerScope,
        name: &str,
    ) -> Result<Option<FeedConsumer>, StoreError> {
        let row: Option<ConsumerRow> = self
            .read(async |db| {
                sqlx::query_as(AssertSqlSafe(format!(
                    "{CONSUMERS} WHERE f.scope = $1 AND f.name = $2"
                )))
                .bind(stored_scope(scope))
                .bind(name)
                .fetch_optional(db)
                .await
            })
            .await?;
        Ok(row.map(Into::into))
    }

    async fn touch_feed_consumer(
        &self,
        scope: ConsumerScope,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = self
            .write(async |db| {
                sqlx::query(
                    "UPDATE service_feed_consumer SET read_at = $3 WHERE scope = $1 AND name = $2",
                )
                .bind(stored_scope(scope))
                .bind(name)
                .bind(now)
                .execute(db)
                .await
            })
            .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn ack_feed(
        &self,
        scope: ConsumerScope,
        name: &str,
        position: u64,
        now: DateTime<Utc>,
    ) -> Result<Acked, StoreError> {
        self.transaction(async |mut tx| {
            let before: Option<(i64,)> = sqlx::query_as(
                "SELECT position FROM service_feed_consumer WHERE scope = $1 AND name = $2",
            )
            .bind(stored_scope(scope))
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
            let (after,): (i64,) = sqlx::query_as(
                "INSERT INTO service_feed_consumer (scope, name, position, updated_at, read_at)
                 VALUES ($1, $2, $3, $4, $4)
                 ON CONFLICT (scope, name) DO UPDATE SET
                     position = CASE WHEN excluded.position > service_feed_consumer.position
                                     THEN excluded.position ELSE service_feed_consumer.position END,
                     updated_at = excluded.updated_at,
                     read_at = excluded.read_at
                 RETURNING position",
            )
            .bind(stored_scope(scope))
            .bind(name)
            .bind(stored(position))
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Acked {
                before: before.map(|(p,)| read(p)),
                position: read(after),
            })
        })
        .await
    }

    async fn list_feed_consumers(
        &self,
        campaign_id: Option<i64>,
    ) -> Result<Vec<FeedConsumer>, StoreError> {
        let rows: Vec<ConsumerRow> = self
            .read(async |db| {
                sqlx::query_as(AssertSqlSafe(format!(
                    "{CONSUMERS} WHERE ($1 IS NULL OR f.scope = $1) ORDER BY f.scope, f.name"
                )))
                .bind(campaign_id)
                .fetch_all(db)
                .await
            })
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn delete_feed_consumer(
        &self,
        scope: ConsumerScope,
        name: &str,
    ) -> Result<Option<FeedConsumer>, StoreError> {
        self.transaction(async |mut tx| {
            let row: Option<ConsumerRow> = sqlx::query_as(AssertSqlSafe(format!(
                "{CONSUMERS} WHERE f.scope = $1 AND f.name = $2"
            )))
            .bind(stored_scope(scope))
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM service_feed_consumer WHERE scope = $1 AND name = $2")
                .bind(stored_scope(scope))
                .bind(name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(row.map(Into::into))
        })
        .await
    }
}
