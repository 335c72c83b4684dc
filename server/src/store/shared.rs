//! Queries whose SQL text is the same on both databases.
//!
//! Both sqlx drivers bind `$1`-style numbered parameters, both databases speak
//! `RETURNING` and `ON CONFLICT`, and UUIDs, JSON and timestamps encode through
//! the same Rust types, so one text serves both. [`shared_store_impl!`] writes
//! the [`Store`](super::Store) implementation for a store type with a `pool`
//! field; what really differs per database is passed in as extra methods.

/// Implements [`Store`](super::Store) for `$store` (which has a `pool` field):
/// the shared queries plus the backend-specific `$extra` methods.
macro_rules! shared_store_impl {
    ($store:ty, $backend:expr, { $($extra:tt)* }) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            fn backend(&self) -> $crate::store::Backend {
                $backend
            }

            async fn ping(&self) -> Result<(), $crate::store::StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn insert_campaign(
                &self,
                spec: &$crate::campaign::NewCampaign,
            ) -> Result<$crate::campaign::Campaign, $crate::store::StoreError> {
                let row: $crate::store::CampaignRow = sqlx::query_as(
                    "INSERT INTO service_campaign_main
                         (slug, name, status, starts_at, ends_at, config, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
                     RETURNING id, slug, name, status, starts_at, ends_at, config,
                               created_at, updated_at",
                )
                .bind(&spec.slug)
                .bind(&spec.name)
                .bind(spec.status.as_str())
                .bind(spec.starts_at)
                .bind(spec.ends_at)
                .bind(sqlx::types::Json(&spec.config))
                .bind(chrono::Utc::now())
                .fetch_one(&self.pool)
                .await?;
                row.try_into()
            }

            async fn campaign_by_slug(
                &self,
                slug: &str,
            ) -> Result<Option<$crate::campaign::Campaign>, $crate::store::StoreError> {
                let row: Option<$crate::store::CampaignRow> = sqlx::query_as(
                    "SELECT id, slug, name, status, starts_at, ends_at, config,
                            created_at, updated_at
                     FROM service_campaign_main WHERE slug = $1",
                )
                .bind(slug)
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::campaign::Campaign::try_from).transpose()
            }

            async fn update_campaign(
                &self,
                campaign: &$crate::campaign::Campaign,
            ) -> Result<$crate::campaign::Campaign, $crate::store::StoreError> {
                let row: Option<$crate::store::CampaignRow> = sqlx::query_as(
                    "UPDATE service_campaign_main
                     SET name = $2, status = $3, starts_at = $4, ends_at = $5, config = $6,
                         updated_at = $7
                     WHERE id = $1
                     RETURNING id, slug, name, status, starts_at, ends_at, config,
                               created_at, updated_at",
                )
                .bind(campaign.id)
                .bind(&campaign.name)
                .bind(campaign.status.as_str())
                .bind(campaign.starts_at)
                .bind(campaign.ends_at)
                .bind(sqlx::types::Json(&campaign.config))
                .bind(chrono::Utc::now())
                .fetch_optional(&self.pool)
                .await?;
                row.ok_or($crate::store::StoreError::NotFound)?.try_into()
            }

            async fn list_campaigns(
                &self,
                page: $crate::store::Page,
            ) -> Result<Vec<$crate::campaign::Campaign>, $crate::store::StoreError> {
                let rows: Vec<$crate::store::CampaignRow> = sqlx::query_as(
                    "SELECT id, slug, name, status, starts_at, ends_at, config,
                            created_at, updated_at
                     FROM service_campaign_main ORDER BY id LIMIT $1 OFFSET $2",
                )
                .bind(i64::from(page.limit))
                .bind(i64::from(page.offset))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::campaign::Campaign::try_from).collect()
            }

            async fn campaign_counts(
                &self,
                campaign_id: i64,
            ) -> Result<$crate::store::CampaignCounts, $crate::store::StoreError> {
                let (users, leads, referrals): (i64, i64, i64) = sqlx::query_as(
                    "SELECT
                         (SELECT COUNT(*) FROM service_user_master WHERE campaign_id = $1),
                         (SELECT COUNT(*) FROM service_quote_main WHERE campaign_id = $1),
                         (SELECT COUNT(*) FROM service_referral_main WHERE campaign_id = $1)",
                )
                .bind(campaign_id)
                .fetch_one(&self.pool)
                .await?;
                Ok($crate::store::CampaignCounts { users, leads, referrals })
            }

            $($extra)*
        }
    };
}

pub(crate) use shared_store_impl;
