//! Quote requests (leads): written in groups by the lead writer, read and moved
//! through their statuses here.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Executor, FromRow, IntoArguments};
use uuid::Uuid;

use super::{Dialect, Param, SqlStore, insert_outbox};
use crate::model::outbox::NewOutbox;
use crate::model::quote::{Quote, QuoteStatus};
use crate::store::rows::QuoteRow;
use crate::store::{Page, QuoteStore, StoreError};

#[async_trait]
impl<DB: Dialect> QuoteStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    i64: Param<DB>,
    String: Param<DB>,
    for<'a> &'a str: Param<DB>,
    Uuid: Param<DB>,
    DateTime<Utc>: Param<DB>,
    Option<String>: Param<DB>,
    Option<&'static str>: Param<DB>,
    Option<i64>: Param<DB>,
    for<'a> Json<&'a serde_json::Value>: Param<DB>,
    QuoteRow: for<'r> FromRow<'r, DB::Row>,
{
    async fn insert_quote(
        &self,
        quote: &Quote,
        outbox: &[NewOutbox],
    ) -> Result<(Quote, bool), StoreError> {
        if let Some(row) = self.leads.insert(quote, outbox).await? {
            self.outbox_committed(!outbox.is_empty());
            return Ok((row.try_into()?, true));
        }
        // The key was used before: that request's quote (committed, as the
        // insert waited for any writer of the same key).
        let existing: QuoteRow = sqlx::query_as(
            "SELECT * FROM service_quote_main WHERE campaign_id = $1 AND idempotency_key = $2",
        )
        .bind(quote.campaign_id)
        .bind(&quote.idempotency_key)
        .fetch_one(&self.writer)
        .await?;
        Ok((existing.try_into()?, false))
    }

    async fn quote_by_id(&self, id: Uuid) -> Result<Option<Quote>, StoreError> {
        let row: Option<QuoteRow> =
            sqlx::query_as("SELECT * FROM service_quote_main WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn list_quotes(
        &self,
        campaign_id: i64,
        status: Option<QuoteStatus>,
        page: Page,
    ) -> Result<Vec<Quote>, StoreError> {
        let rows: Vec<QuoteRow> = sqlx::query_as(
            "SELECT * FROM service_quote_main
             WHERE campaign_id = $1 AND ($2 IS NULL OR status = $2)
             ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
        )
        .bind(campaign_id)
        .bind(status.map(|s| s.as_str()))
        .bind(i64::from(page.limit))
        .bind(i64::from(page.offset))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn set_quote_status(
        &self,
        id: Uuid,
        from: QuoteStatus,
        to: QuoteStatus,
        outbox: &[NewOutbox],
    ) -> Result<Option<Quote>, StoreError> {
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        let row: Option<QuoteRow> = sqlx::query_as(
            "UPDATE service_quote_main SET status = $3, updated_at = $4
             WHERE id = $1 AND status = $2
             RETURNING *",
        )
        .bind(id)
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        insert_outbox(&mut tx, outbox, now).await?;
        tx.commit().await?;
        self.outbox_committed(!outbox.is_empty());
        Ok(Some(row.try_into()?))
    }
}
