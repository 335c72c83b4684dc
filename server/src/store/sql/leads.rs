//! Leads: written in groups by the lead writer, read and moved
//! through their statuses here.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Executor, FromRow};
use uuid::Uuid;

use super::{Dialect, Param, SqlStore, insert_outbox};
use crate::model::lead::{Lead, LeadStatus};
use crate::model::outbox::NewOutbox;
use crate::store::rows::LeadRow;
use crate::store::{LeadStore, Page, StoreError};

#[async_trait]
impl<DB: Dialect> LeadStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: Param<DB>,
    String: Param<DB>,
    for<'a> &'a str: Param<DB>,
    Uuid: Param<DB>,
    DateTime<Utc>: Param<DB>,
    Option<String>: Param<DB>,
    Option<&'static str>: Param<DB>,
    Option<i64>: Param<DB>,
    for<'a> Json<&'a serde_json::Value>: Param<DB>,
    LeadRow: for<'r> FromRow<'r, DB::Row>,
{
    async fn insert_lead(
        &self,
        lead: &Lead,
        outbox: &[NewOutbox],
    ) -> Result<(Lead, bool), StoreError> {
        // The lead writer takes its own connection: the whole hand-off is guarded.
        if let Some(row) = self.health.guard(self.leads.insert(lead, outbox)).await? {
            self.outbox_committed(!outbox.is_empty());
            return Ok((row.try_into()?, true));
        }
        // The key was used before: that request's lead (committed, as the
        // insert waited for any writer of the same key).
        let existing: LeadRow = self
            .write(async |db| {
                sqlx::query_as(
                    "SELECT * FROM service_quote_main
                     WHERE campaign_id = $1 AND idempotency_key = $2",
                )
                .bind(lead.campaign_id)
                .bind(&lead.idempotency_key)
                .fetch_one(db)
                .await
            })
            .await?;
        Ok((existing.try_into()?, false))
    }

    async fn lead_by_id(&self, id: Uuid) -> Result<Option<Lead>, StoreError> {
        let row: Option<LeadRow> = self
            .read(async |db| {
                sqlx::query_as("SELECT * FROM service_quote_main WHERE id = $1")
                    .bind(id)
                    .fetch_optional(db)
                    .await
            })
            .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn leads_of_session(
        &self,
        session_id: Uuid,
        limit: u32,
    ) -> Result<Vec<Lead>, StoreError> {
        let rows: Vec<LeadRow> = self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT * FROM service_quote_main WHERE session_id = $1
                     ORDER BY created_at DESC, id DESC LIMIT $2",
                )
                .bind(session_id)
                .bind(i64::from(limit))
                .fetch_all(db)
                .await
            })
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn list_leads(
        &self,
        campaign_id: i64,
        status: Option<LeadStatus>,
        page: Page,
    ) -> Result<Vec<Lead>, StoreError> {
        let rows: Vec<LeadRow> = self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT * FROM service_quote_main
                     WHERE campaign_id = $1 AND ($2 IS NULL OR status = $2)
                     ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
                )
                .bind(campaign_id)
                .bind(status.map(|s| s.as_str()))
                .bind(i64::from(page.limit))
                .bind(i64::from(page.offset))
                .fetch_all(db)
                .await
            })
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn set_lead_status(
        &self,
        id: Uuid,
        from: LeadStatus,
        to: LeadStatus,
        outbox: &[NewOutbox],
    ) -> Result<Option<Lead>, StoreError> {
        let now = Utc::now();
        self.transaction(async |mut tx| {
            let row: Option<LeadRow> = sqlx::query_as(
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
        })
        .await
    }
}
