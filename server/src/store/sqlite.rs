//! The embedded SQLite store (the default): one file, WAL journal, foreign keys on.
//!
//! SQLite lets one writer in at a time. Rather than have several pooled
//! connections race for the file lock (SQLite's busy handler sleeps and
//! retries, unfairly: under load some writers sleep for seconds and then fail
//! with "database is locked"), every write goes through one dedicated
//! connection, which writers wait for in order; reads use the other
//! connections and never wait for a writer (WAL).
//!
//! Leads are the busiest write, and each statement is a hand-off to the
//! connection's thread and back. So leads are committed in groups: one task
//! takes every lead waiting, writes them all in one transaction (two
//! statements each, plus one BEGIN and one COMMIT for the group) and answers
//! each. When nothing else waits, a group is one lead and nothing waits for
//! company.

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::{mpsc, oneshot};

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
    /// Leads waiting for the group-commit task.
    leads: mpsc::Sender<LeadJob>,
}

/// A lead waiting to be written, and who waits for it.
struct LeadJob {
    quote: Quote,
    outbox: Vec<NewOutbox>,
    reply: oneshot::Sender<Result<Option<QuoteRow>, StoreError>>,
}

/// Most leads in one transaction.
const MAX_LEAD_GROUP: usize = 64;

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
        let (leads, waiting) = mpsc::channel(1024);
        tokio::spawn(commit_leads(writer.clone(), waiting));
        Ok(Self {
            pool,
            writer,
            leads,
        })
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

    /// Inserts a quote and its outbox entries, atomically, in the next group
    /// commit; `None` when its idempotency key was used before (nothing written).
    async fn insert_quote_row(
        &self,
        quote: &Quote,
        outbox: &[NewOutbox],
    ) -> Result<Option<QuoteRow>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = LeadJob {
            quote: quote.clone(),
            outbox: outbox.to_vec(),
            reply,
        };
        let stopped = || StoreError::Corrupt("the lead writer stopped".into());
        self.leads.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Writes `jobs` in one transaction: all of them, or none (error).
    async fn write_leads(
        writer: &SqlitePool,
        jobs: &[LeadJob],
    ) -> Result<Vec<Option<QuoteRow>>, StoreError> {
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let mut rows = Vec::with_capacity(jobs.len());
        for job in jobs {
            let inserted: Option<QuoteRow> =
                bind_quote!(sqlx::query_as(quote_insert!()), job.quote)
                    .fetch_optional(&mut *tx)
                    .await?;
            if inserted.is_some() {
                Self::insert_outbox(&mut tx, &job.outbox, job.quote.created_at).await?;
            }
            rows.push(inserted);
        }
        tx.commit().await?;
        Ok(rows)
    }
}

/// The group-commit task: takes every lead waiting (up to [`MAX_LEAD_GROUP`]),
/// writes them in one transaction and answers each. If the group fails, each
/// lead is tried again alone, so one bad lead fails only itself.
async fn commit_leads(writer: SqlitePool, mut waiting: mpsc::Receiver<LeadJob>) {
    let mut group = Vec::with_capacity(MAX_LEAD_GROUP);
    while waiting.recv_many(&mut group, MAX_LEAD_GROUP).await > 0 {
        match SqliteStore::write_leads(&writer, &group).await {
            Ok(rows) => {
                for (job, row) in group.drain(..).zip(rows) {
                    let _ = job.reply.send(Ok(row));
                }
            }
            Err(StoreError::Busy(cause)) => {
                // The writer was not free in time: trying each alone would only
                // make the last one wait longer. Every lead of the group is told.
                tracing::warn!(error = %cause, leads = group.len(), "lead group not written");
                for job in group.drain(..) {
                    let _ = job
                        .reply
                        .send(Err(StoreError::Busy(sqlx::Error::PoolTimedOut)));
                }
            }
            Err(error) if group.len() == 1 => {
                let job = group.pop().expect("one lead");
                let _ = job.reply.send(Err(error));
            }
            Err(_) => {
                for job in group.drain(..) {
                    let result = SqliteStore::write_leads(&writer, std::slice::from_ref(&job))
                        .await
                        .map(|mut rows| rows.pop().flatten());
                    let _ = job.reply.send(result);
                }
            }
        }
    }
}

shared_store_impl!(SqliteStore, sqlx::Sqlite, Backend::Sqlite, {});
