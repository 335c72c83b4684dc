//! Storage: the only place SQL lives.
//!
//! [`Store`] is the one interface the rest of the server uses; [`SqliteStore`]
//! (the embedded default) and [`PgStore`] (production) implement it against the
//! same tables, created by the migrations under `migrations/sqlite` and
//! `migrations/postgres`.

mod postgres;
mod shared;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;

use crate::campaign::{Campaign, CampaignConfig, CampaignStatus, NewCampaign};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use shared::shared_store_impl;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; `field` names the client-facing field.
    #[error("{field} is already taken")]
    Conflict {
        /// The field whose value is taken.
        field: &'static str,
    },
    /// The row to change does not exist.
    #[error("row not found")]
    NotFound,
    /// A stored value could not be read back.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match unique_violation_field(&err) {
            Some(field) => Self::Conflict { field },
            None => Self::Database(err),
        }
    }
}

/// Unique constraints, as PostgreSQL names them and as SQLite describes them,
/// with the request field each one protects.
const UNIQUE_CONSTRAINTS: &[(&str, &str, &str)] = &[
    (
        "service_campaign_main_slug_key",
        "service_campaign_main.slug",
        "slug",
    ),
    (
        "service_user_master_campaign_email_key",
        "service_user_master.campaign_id, service_user_master.email",
        "email",
    ),
    (
        "service_user_master_referral_code_key",
        "service_user_master.referral_code",
        "referral_code",
    ),
    (
        "service_quote_main_idempotency_key",
        "service_quote_main.campaign_id, service_quote_main.idempotency_key",
        "idempotency_key",
    ),
    (
        "service_referral_main_referred_key",
        "service_referral_main.campaign_id, service_referral_main.referred_id",
        "referred",
    ),
];

fn unique_violation_field(err: &sqlx::Error) -> Option<&'static str> {
    let db = err.as_database_error()?;
    if !db.is_unique_violation() {
        return None;
    }
    let constraint = db.constraint();
    let message = db.message();
    UNIQUE_CONSTRAINTS
        .iter()
        .find(|(name, columns, _)| {
            constraint == Some(*name) || message.ends_with(&format!("failed: {columns}"))
        })
        .map(|(_, _, field)| *field)
}

/// Row counts shown on a campaign's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct CampaignCounts {
    /// Registered users.
    pub users: i64,
    /// Quote requests.
    pub leads: i64,
    /// Referrals.
    pub referrals: i64,
}

/// Paging of a list.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// Most rows returned.
    pub limit: u32,
    /// Rows skipped.
    pub offset: u32,
}

/// The one storage interface.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which database this is.
    fn backend(&self) -> Backend;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Inserts a validated campaign; a taken slug is a `Conflict { field: "slug" }`.
    async fn insert_campaign(&self, spec: &NewCampaign) -> Result<Campaign, StoreError>;

    /// The campaign with this slug.
    async fn campaign_by_slug(&self, slug: &str) -> Result<Option<Campaign>, StoreError>;

    /// Writes every writable field of `campaign` (found by id) and returns the stored row.
    async fn update_campaign(&self, campaign: &Campaign) -> Result<Campaign, StoreError>;

    /// Campaigns, oldest first.
    async fn list_campaigns(&self, page: Page) -> Result<Vec<Campaign>, StoreError>;

    /// Users, leads and referrals of a campaign.
    async fn campaign_counts(&self, campaign_id: i64) -> Result<CampaignCounts, StoreError>;
}

/// A shared store handle.
pub type SharedStore = Arc<dyn Store>;

/// Connects to `database_url` (`sqlite:…` or `postgres://…`) and runs the migrations.
pub async fn connect(database_url: &str, max_connections: u32) -> anyhow::Result<SharedStore> {
    if database_url.starts_with("sqlite:") {
        Ok(Arc::new(
            SqliteStore::connect(database_url, max_connections).await?,
        ))
    } else {
        Ok(Arc::new(
            PgStore::connect(database_url, max_connections).await?,
        ))
    }
}

/// A campaign row as both databases return it.
#[derive(sqlx::FromRow)]
pub(crate) struct CampaignRow {
    id: i64,
    slug: String,
    name: String,
    status: String,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    config: Json<CampaignConfig>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<CampaignRow> for Campaign {
    type Error = StoreError;

    fn try_from(row: CampaignRow) -> Result<Self, StoreError> {
        let status = CampaignStatus::parse(&row.status)
            .ok_or_else(|| StoreError::Corrupt(format!("campaign status {:?}", row.status)))?;
        Ok(Campaign {
            id: row.id,
            slug: row.slug,
            name: row.name,
            status,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            config: row.config.0,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}
