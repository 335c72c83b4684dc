//! The PostgreSQL store (production).

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::Backend;
use super::shared::{
    bind_quote, outbox_columns, quote_columns, quote_insert, shared_store_impl, user_columns,
};
use super::{QuoteRow, StoreError};
use crate::forms::quote::Quote;
use crate::outbox::NewOutbox;

/// Store on a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The same pool: PostgreSQL takes concurrent writers.
    writer: PgPool,
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
        Ok(Self {
            writer: pool.clone(),
            pool,
        })
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
        self.writer.begin().await
    }

    /// Inserts a quote and its outbox entries in one statement (so one round
    /// trip, atomic on its own); `None` when its idempotency key was used
    /// before (nothing written: the entries come from the inserted row).
    async fn insert_quote_row(
        &self,
        quote: &Quote,
        outbox: &[NewOutbox],
    ) -> Result<Option<QuoteRow>, StoreError> {
        let entries = outbox
            .iter()
            .flat_map(|m| m.targets.iter().map(move |target| (m, target.as_deref())));
        let (mut campaigns, mut kinds, mut targets, mut payloads) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (message, target) in entries {
            campaigns.push(message.campaign_id);
            kinds.push(message.event_type.as_str());
            targets.push(target);
            payloads.push(sqlx::types::Json(&message.payload));
        }
        let query = concat!(
            "WITH quote AS (",
            quote_insert!(),
            "), outbox AS (
                 INSERT INTO service_event_outbox
                     (campaign_id, event_type, target_url, payload, attempts,
                      next_attempt_at, created_at)
                 SELECT e.campaign_id, e.event_type, e.target_url, e.payload, 0, $15, $15
                 FROM quote,
                      UNNEST($16::bigint[], $17::text[], $18::text[], $19::jsonb[])
                          AS e (campaign_id, event_type, target_url, payload)
             )
             SELECT ",
            quote_columns!(),
            " FROM quote"
        );
        let row = bind_quote!(sqlx::query_as(query), quote)
            .bind(campaigns)
            .bind(kinds)
            .bind(targets)
            .bind(payloads)
            .fetch_optional(&self.writer)
            .await?;
        Ok(row)
    }
}

shared_store_impl!(PgStore, sqlx::Postgres, Backend::Postgres, {});
