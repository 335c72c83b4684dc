//! The embedded SQLite store (the default): one file, WAL journal, foreign keys on.

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::Backend;
use super::shared::{outbox_columns, quote_columns, shared_store_impl, user_columns};

/// Store on an SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating file and folder if missing) and migrates the database at `url`.
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
        // Every connection to `:memory:` is a database of its own: keep one.
        let max_connections = if in_memory { 1 } else { max_connections };
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
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

    /// Begins a transaction that will write. It takes SQLite's write lock up
    /// front (`BEGIN IMMEDIATE`), so it never fails half-way on a lock upgrade,
    /// and writers are serialized — which also serializes each referrer's count.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

shared_store_impl!(SqliteStore, sqlx::Sqlite, Backend::Sqlite, {});
