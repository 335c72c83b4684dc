//! The PostgreSQL store (production).

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::Backend;
use super::shared::{outbox_columns, quote_columns, shared_store_impl, user_columns};

/// Store on a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to and migrates the database at `url`.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        sqlx::migrate!("../migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Locks the referrer's row so that its referrals are counted one at a time.
    const LOCK_USER: &'static str =
        "SELECT 1 FROM service_user_master WHERE master_id = $1 FOR UPDATE";

    /// Translation memory rows of a list of hashes: the hashes are a JSON array, unrolled by `jsonb_array_elements_text`.
    const MEMORY_LOOKUP: &'static str =
        "SELECT campaign_id, source_lang, target_lang, context_key, source_hash,
                source_text, translated_text, origin
         FROM service_translation_memory
         WHERE campaign_id = $1 AND source_lang = $2 AND target_lang = $3 AND context_key = $4
           AND source_hash IN (SELECT jsonb_array_elements_text($5))";

    /// Begins a transaction that will write. A plain transaction: row locks
    /// serialize what must be.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}

shared_store_impl!(PgStore, sqlx::Postgres, Backend::Postgres, {});
