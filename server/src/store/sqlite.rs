//! The embedded SQLite store (the default): one file, WAL journal, foreign keys on.
//!
//! SQLite lets one writer in at a time. Rather than have several pooled
//! connections race for the file lock (SQLite's busy handler sleeps and
//! retries, unfairly: under load some writers sleep for seconds and then fail
//! with "database is locked"), every write goes through one dedicated
//! connection, which writers wait for in order; reads use the other
//! connections and never wait for a writer (WAL).
//!
//! Leads are written in groups ([`super::lead_writer`]): two statements each, plus
//! one BEGIN and one COMMIT per group, on the writer connection.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};
use sqlx::types::Json;
use sqlx::{Sqlite, SqlitePool};
use tokio::sync::Notify;

use super::StoreError;
use super::lead_writer::{LeadJob, LeadWriter, WriteLeads};
use super::migrations::{Migrations, prepare, tolerant};
use super::rows::LeadRow;
use super::sql::{Dialect, SqlStore, WriteTx, insert_outbox_rows};
use crate::model::lead::Lead;
use crate::tasks::Tasks;

/// How long a write waits for the writer connection before the request is
/// answered `503 busy` (a queue this long means the disk cannot keep up).
const WRITE_QUEUE_TIMEOUT: Duration = Duration::from_secs(5);

/// Writes groups of leads on the writer connection.
struct SqliteLeads(SqlitePool);

/// The options of the database at `url`, and whether it lives in memory;
/// with `create`, a missing file (and its folder) is created.
fn options(url: &str, create: bool) -> anyhow::Result<(SqliteConnectOptions, bool)> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(create)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        // Deleted and overwritten content is zeroed, not left in free
        // space: an erased person is gone from the file, not just unlinked.
        .pragma("secure_delete", "ON");
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if create
        && !in_memory
        && let Some(parent) = options.get_filename().parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", parent.display()))?;
    }
    Ok((options, in_memory))
}

/// The migrations of the SQLite schema.
fn migrator() -> sqlx::migrate::Migrator {
    tolerant(sqlx::migrate!("../migrations/sqlite"))
}

/// Creates (with its folder) and migrates the database at `url`; returns
/// the migrations applied now.
pub(super) async fn migrate(url: &str) -> anyhow::Result<Vec<String>> {
    let (options, _) = options(url, true)?;
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    let applied = prepare(&migrator(), &mut *pool.acquire().await?, Migrations::Apply).await;
    pool.close().await;
    applied
}

/// Opens the database at `url`, migrated as `migrations` says (creating file
/// and folder if missing, unless only checking): one writer connection and
/// up to `max_connections` readers.
pub(super) async fn connect(
    url: &str,
    max_connections: u32,
    tasks: &Tasks,
    outbox_written: Arc<Notify>,
    migrations: Migrations,
) -> anyhow::Result<SqlStore<Sqlite>> {
    let (options, in_memory) = options(url, migrations == Migrations::Apply)?;
    // The writer never checkpoints the WAL itself (a checkpoint in a commit
    // holds up every write behind it); a task of its own does, every second.
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(WRITE_QUEUE_TIMEOUT)
        .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
        .await
        .map_err(|e| match migrations {
            Migrations::Require => anyhow::anyhow!(
                "cannot open the database (OVASABI_MIGRATE=false does not create it; \
                 run `ovasabi-edge migrate` first): {e}"
            ),
            Migrations::Apply => e.into(),
        })?;
    let applied = prepare(&migrator(), &mut *writer.acquire().await?, migrations).await?;
    if !applied.is_empty() {
        tracing::info!(?applied, "database migrated");
    }
    // Every connection to `:memory:` is a database of its own: share the writer.
    let pool = if in_memory {
        writer.clone()
    } else {
        SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone().read_only(true))
            .await?
    };
    let alive = std::sync::Arc::new(());
    if !in_memory {
        let checkpointer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        tasks.spawn(
            "sqlite checkpoint",
            checkpoint_wal(
                checkpointer,
                std::sync::Arc::downgrade(&alive),
                tasks.drained().clone(),
            ),
        );
    }
    let leads = LeadWriter::start(SqliteLeads(writer.clone()), tasks);
    Ok(SqlStore::new(pool, writer, leads, outbox_written, alive))
}

impl Dialect for Sqlite {
    /// In the process: never "down", only busy (locked).
    const EMBEDDED: bool = true;

    /// Nothing to lock: the write transaction already excludes every other writer.
    const LOCK_USER: &'static str = "SELECT 1 FROM service_user_master WHERE master_id = $1";

    /// The hashes are a JSON array, unrolled by `json_each`.
    const MEMORY_LOOKUP: &'static str = "SELECT * FROM service_translation_memory
         WHERE campaign_id = $1 AND source_lang = $2 AND target_lang = $3 AND context_key = $4
           AND source_hash IN (SELECT value FROM json_each($5))";

    const MEMORY_TOUCH: &'static str = "UPDATE service_translation_memory SET last_used_at = $6
         WHERE campaign_id = $1 AND source_lang = $2 AND target_lang = $3 AND context_key = $4
           AND source_hash IN (SELECT value FROM json_each($5))
           AND (last_used_at IS NULL OR last_used_at < $7)";

    /// Takes SQLite's write lock up front (in case another process writes
    /// too), so a transaction never fails half-way on a lock upgrade, and
    /// writers are serialized — which also serializes each referrer's count.
    /// `BEGIN IMMEDIATE` already serializes every writer.
    const LOCK_FEED: &'static str = "SELECT last_position FROM service_feed_state WHERE id = 1";

    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    /// The WAL keeps the pages as they were before a change until it is
    /// checkpointed and truncated.
    const TRUNCATE_LOG: Option<&'static str> = Some("PRAGMA wal_checkpoint(TRUNCATE)");

    /// Timestamps are RFC 3339 text: the hour is their first 13 characters.
    fn hour_of(column: &str) -> String {
        format!("substr({column}, 1, 13)")
    }

    /// SQLite's `max` of two arguments is the scalar one.
    fn greatest(a: &str, b: &str) -> String {
        format!("max({a}, {b})")
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Copies the WAL's committed pages into the database file, beside the
/// writer rather than inside one of its commits (`PASSIVE`: it never waits
/// for or blocks a writer or reader), until the store is dropped or the app
/// is drained (after one last checkpoint).
async fn checkpoint_wal(
    connection: SqlitePool,
    store: std::sync::Weak<()>,
    drained: tokio_util::sync::CancellationToken,
) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let last = tokio::select! {
            () = drained.cancelled() => true,
            _ = every.tick() => false,
        };
        if store.strong_count() == 0 {
            connection.close().await;
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&connection)
            .await
        {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
        if last {
            connection.close().await;
            return;
        }
    }
}

/// Inserts a lead unless its idempotency key was used, returning its row.
const INSERT_QUOTE: &str = "INSERT INTO service_quote_main
         (id, campaign_id, master_id, session_id, name, email, company, phone,
          message, budget, details, status, idempotency_key, request_fingerprint,
          created_at, updated_at, visitor_id, consent_version, consent_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16, $17, $18)
     ON CONFLICT (campaign_id, idempotency_key) DO NOTHING
     RETURNING *";

#[async_trait::async_trait]
impl WriteLeads for SqliteLeads {
    async fn write_leads(&self, jobs: &[LeadJob]) -> Result<Vec<Option<LeadRow>>, StoreError> {
        let mut tx = WriteTx::begin(&self.0).await?;
        let mut rows = Vec::with_capacity(jobs.len());
        // The outbox rows of every lead stored, written at the end at once.
        let mut outbox = Vec::new();
        for job in jobs {
            let lead: &Lead = &job.lead;
            let inserted: Option<LeadRow> = sqlx::query_as(INSERT_QUOTE)
                .bind(lead.id)
                .bind(lead.campaign_id)
                .bind(lead.master_id)
                .bind(lead.session_id)
                .bind(&lead.name)
                .bind(&lead.email)
                .bind(&lead.company)
                .bind(&lead.phone)
                .bind(&lead.message)
                .bind(&lead.budget)
                .bind(Json(&lead.details))
                .bind(lead.status.as_str())
                .bind(&lead.idempotency_key)
                .bind(&lead.request_fingerprint)
                .bind(lead.created_at)
                .bind(lead.visitor_id)
                .bind(lead.consent.as_ref().map(|c| c.version.as_str()))
                .bind(lead.consent.as_ref().map(|c| c.at))
                .fetch_optional(&mut *tx)
                .await?;
            if inserted.is_some() {
                outbox.extend(job.outbox.iter().map(|m| (m, lead.created_at)));
            }
            rows.push(inserted);
        }
        insert_outbox_rows(&mut tx, &outbox).await?;
        tx.commit().await?;
        Ok(rows)
    }
}
