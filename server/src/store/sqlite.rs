//! The embedded SQLite store (the default): one file, WAL journal, foreign keys on.
//!
//! SQLite lets one writer in at a time. Rather than have several pooled
//! connections race for the file lock (SQLite's busy handler sleeps and
//! retries, unfairly: under load some writers sleep for seconds and then fail
//! with "database is locked"), every write goes through one dedicated
//! connection, which writers wait for in order; reads use the other
//! connections and never wait for a writer (WAL).

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::Backend;
use super::shared::{
    bind_quote, outbox_columns, quote_columns, quote_insert, shared_store_impl, user_columns,
};
use super::{QuoteRow, StoreError};
use crate::forms::quote::Quote;
use crate::outbox::NewOutbox;

/// How long a write waits for the writer connection before the request is
/// answered `503 busy` (a queue this long means the disk cannot keep up).
const WRITE_QUEUE_TIMEOUT: Duration = Duration::from_secs(5);

/// Store on an SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Readers.
    pool: SqlitePool,
    /// The one writer connection (the same pool as `pool` for `:memory:`).
    writer: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating file and folder if missing) and migrates the database
    /// at `url`: one writer connection and up to `max_connections` readers.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory
            && let Some(parent) = options.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", parent.display()))?;
        }
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(WRITE_QUEUE_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("../migrations/sqlite").run(&writer).await?;
        // Every connection to `:memory:` is a database of its own: share the writer.
        let pool = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options.read_only(true))
                .await?
        };
        Ok(Self { pool, writer })
    }

    /// Nothing to lock: the write transaction already excludes every other writer.
    const LOCK_USER: &'static str = "SELECT 1 FROM service_user_master WHERE master_id = $1";

    /// Translation memory rows of a list of hashes: the hashes are a JSON array, unrolled by `json_each`.
    const MEMORY_LOOKUP: &'static str =
        "SELECT campaign_id, source_lang, target_lang, context_key, source_hash,
                source_text, translated_text, origin
         FROM service_translation_memory
         WHERE campaign_id = $1 AND source_lang = $2 AND target_lang = $3 AND context_key = $4
           AND source_hash IN (SELECT value FROM json_each($5))";

    /// Begins a transaction that will write, on the writer connection. It
    /// takes SQLite's write lock up front (`BEGIN IMMEDIATE`, in case another
    /// process writes too), so it never fails half-way on a lock upgrade, and
    /// writers are serialized — which also serializes each referrer's count.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }

    /// Inserts a quote and its outbox entries in one transaction; `None` when
    /// its idempotency key was used before (nothing written).
    async fn insert_quote_row(
        &self,
        quote: &Quote,
        outbox: &[NewOutbox],
    ) -> Result<Option<QuoteRow>, StoreError> {
        let mut tx = self.begin_write().await?;
        let inserted: Option<QuoteRow> = bind_quote!(sqlx::query_as(quote_insert!()), quote)
            .fetch_optional(&mut *tx)
            .await?;
        if inserted.is_some() {
            Self::insert_outbox(&mut tx, outbox, quote.created_at).await?;
            tx.commit().await?;
        }
        Ok(inserted)
    }
}

shared_store_impl!(SqliteStore, sqlx::Sqlite, Backend::Sqlite, {});
