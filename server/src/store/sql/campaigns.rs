//! Campaigns, their counts, and the campaign files applied.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Executor, FromRow};

use super::{Dialect, Param, SqlStore};
use crate::model::campaign::{Campaign, CampaignConfig, NewCampaign};
use crate::store::rows::CampaignRow;
use crate::store::{CampaignCounts, CampaignStore, Page, StoreError};

#[async_trait]
impl<DB: Dialect> CampaignStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: Param<DB>,
    String: Param<DB>,
    for<'a> &'a str: Param<DB>,
    DateTime<Utc>: Param<DB>,
    Option<DateTime<Utc>>: Param<DB>,
    for<'a> Json<&'a CampaignConfig>: Param<DB>,
    CampaignRow: for<'r> FromRow<'r, DB::Row>,
    (String,): for<'r> FromRow<'r, DB::Row>,
    (i64, i64, i64): for<'r> FromRow<'r, DB::Row>,
{
    async fn insert_campaign(&self, spec: &NewCampaign) -> Result<Campaign, StoreError> {
        let row: CampaignRow = self
            .write(async |db| {
                sqlx::query_as(
                    "INSERT INTO service_campaign_main
                         (slug, name, status, starts_at, ends_at, config, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
                     RETURNING *",
                )
                .bind(&spec.slug)
                .bind(&spec.name)
                .bind(spec.status.as_str())
                .bind(spec.starts_at)
                .bind(spec.ends_at)
                .bind(Json(&spec.config))
                .bind(Utc::now())
                .fetch_one(db)
                .await
            })
            .await?;
        row.try_into()
    }

    async fn campaign_by_slug(&self, slug: &str) -> Result<Option<Campaign>, StoreError> {
        let row: Option<CampaignRow> = self
            .read(async |db| {
                sqlx::query_as("SELECT * FROM service_campaign_main WHERE slug = $1")
                    .bind(slug)
                    .fetch_optional(db)
                    .await
            })
            .await?;
        row.map(Campaign::try_from).transpose()
    }

    async fn campaign_by_id(&self, id: i64) -> Result<Option<Campaign>, StoreError> {
        let row: Option<CampaignRow> = self
            .read(async |db| {
                sqlx::query_as("SELECT * FROM service_campaign_main WHERE id = $1")
                    .bind(id)
                    .fetch_optional(db)
                    .await
            })
            .await?;
        row.map(Campaign::try_from).transpose()
    }

    async fn update_campaign(&self, campaign: &Campaign) -> Result<Campaign, StoreError> {
        let row: Option<CampaignRow> = self
            .write(async |db| {
                sqlx::query_as(
                    "UPDATE service_campaign_main
                     SET name = $2, status = $3, starts_at = $4, ends_at = $5, config = $6,
                         updated_at = $7
                     WHERE id = $1
                     RETURNING *",
                )
                .bind(campaign.id)
                .bind(&campaign.name)
                .bind(campaign.status.as_str())
                .bind(campaign.starts_at)
                .bind(campaign.ends_at)
                .bind(Json(&campaign.config))
                .bind(Utc::now())
                .fetch_optional(db)
                .await
            })
            .await?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    async fn campaign_file_hash(&self, slug: &str) -> Result<Option<String>, StoreError> {
        let hash: Option<(String,)> = self
            .read(async |db| {
                sqlx::query_as("SELECT hash FROM service_campaign_file WHERE slug = $1")
                    .bind(slug)
                    .fetch_optional(db)
                    .await
            })
            .await?;
        Ok(hash.map(|(hash,)| hash))
    }

    async fn record_campaign_file(&self, slug: &str, hash: &str) -> Result<(), StoreError> {
        self.write(async |db| {
            sqlx::query(
                "INSERT INTO service_campaign_file (slug, hash, applied_at) VALUES ($1, $2, $3)
                 ON CONFLICT (slug) DO UPDATE SET hash = excluded.hash,
                                                  applied_at = excluded.applied_at",
            )
            .bind(slug)
            .bind(hash)
            .bind(Utc::now())
            .execute(db)
            .await
        })
        .await?;
        Ok(())
    }

    async fn list_campaigns(&self, page: Page) -> Result<Vec<Campaign>, StoreError> {
        let rows: Vec<CampaignRow> = self
            .read(async |db| {
                sqlx::query_as("SELECT * FROM service_campaign_main ORDER BY id LIMIT $1 OFFSET $2")
                    .bind(i64::from(page.limit))
                    .bind(i64::from(page.offset))
                    .fetch_all(db)
                    .await
            })
            .await?;
        rows.into_iter().map(Campaign::try_from).collect()
    }

    async fn campaign_counts(&self, campaign_id: i64) -> Result<CampaignCounts, StoreError> {
        let (users, leads, referrals): (i64, i64, i64) = self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT
                         (SELECT COUNT(*) FROM service_user_master
                          WHERE campaign_id = $1 AND verified_at IS NOT NULL),
                         (SELECT COUNT(*) FROM service_quote_main WHERE campaign_id = $1),
                         (SELECT COUNT(*) FROM service_referral_counted WHERE campaign_id = $1)",
                )
                .bind(campaign_id)
                .fetch_one(db)
                .await
            })
            .await?;
        Ok(CampaignCounts {
            users,
            leads,
            referrals,
        })
    }

    async fn live_state(&self, campaign_id: i64, kind: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT value FROM service_campaign_live_state
                     WHERE campaign_id = $1 AND kind = $2",
                )
                .bind(campaign_id)
                .bind(kind)
                .fetch_optional(db)
                .await
            })
            .await?;
        Ok(row.map(|(value,)| value))
    }

    async fn swap_live_state(
        &self,
        campaign_id: i64,
        kind: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, StoreError> {
        let done = self
            .write(async |db| match expected {
                None => {
                    sqlx::query(
                        "INSERT INTO service_campaign_live_state
                             (campaign_id, kind, value, updated_at)
                         VALUES ($1, $2, $3, $4)
                         ON CONFLICT (campaign_id, kind) DO NOTHING",
                    )
                    .bind(campaign_id)
                    .bind(kind)
                    .bind(value)
                    .bind(Utc::now())
                    .execute(db)
                    .await
                }
                Some(expected) => {
                    sqlx::query(
                        "UPDATE service_campaign_live_state SET value = $3, updated_at = $4
                         WHERE campaign_id = $1 AND kind = $2 AND value = $5",
                    )
                    .bind(campaign_id)
                    .bind(kind)
                    .bind(value)
                    .bind(Utc::now())
                    .bind(expected)
                    .execute(db)
                    .await
                }
            })
            .await?;
        Ok(DB::rows_affected(&done) == 1)
    }
}
