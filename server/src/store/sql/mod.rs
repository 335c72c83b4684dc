//! The store both databases share: one text per query, generic over the database.
//!
//! Both sqlx drivers bind `$1`-style numbered parameters, both databases speak
//! `RETURNING` and `ON CONFLICT`, and UUIDs, JSON and timestamps encode through
//! the same Rust types, so one SQL text serves both. [`SqlStore`] holds the
//! pools; the few real differences (how a row is locked, how a JSON array
//! parameter is unrolled, how a writing transaction begins) are the items of
//! [`Dialect`], implemented by `sqlx::Sqlite` in `sqlite.rs` and by
//! `sqlx::Postgres` in `postgres.rs`.
//!
//! Each file here implements one part of the [`Store`](super::Store). The
//! `where` clause of each part lists the types its queries bind and read:
//! Rust does not carry such bounds from a trait to its users, so each part
//! states its own.
//!
//! Rows are read by column name (`sqlx::FromRow`), so `SELECT *` and
//! `RETURNING *` read exactly the columns a row type names.

mod campaigns;
mod erasure;
mod feed;
mod leads;
mod memory;
mod outbox;
mod reports;
mod team;
mod users;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, IntoArguments, Pool, Transaction, Type};
use tokio::sync::Notify;

use super::lead_writer::LeadWriter;
use super::{
    CampaignStore, ErasureStore, FeedStore, LeadStore, MemoryStore, OutboxStore, ReportStore,
    Store, StoreError, TeamStore, UserStore,
};
use crate::model::outbox::NewOutbox;

/// What differs between the two databases, as far as the shared queries go.
/// (Its arguments bound, `IntoArguments`, is what every query needs to run;
/// stated here once, it holds wherever `DB: Dialect` does.)
pub(crate) trait Dialect: Database<Arguments: IntoArguments<Self>> {
    /// Locks a user row (`$1` = `master_id`) until the transaction ends.
    const LOCK_USER: &'static str;
    /// Translation memory rows of a campaign, languages and context (`$1`–`$4`)
    /// whose source hash is in the JSON array `$5`.
    const MEMORY_LOOKUP: &'static str;
    /// Marks the rows [`MEMORY_LOOKUP`](Self::MEMORY_LOOKUP) reads as served
    /// at `$6`, unless marked since `$7`.
    const MEMORY_TOUCH: &'static str;
    /// Locks the feed's state row until the transaction ends (the feed's
    /// numbering and pruning take turns under it).
    const LOCK_FEED: &'static str;
    /// The statement that begins a transaction that will write.
    const BEGIN_WRITE: &'static str;
    /// A statement that empties the database's write-ahead log after an
    /// erasure, answering `(busy, log pages, checkpointed pages)`, where
    /// the log keeps old pages in a file of its own (SQLite's WAL).
    const TRUNCATE_LOG: Option<&'static str>;

    /// An SQL expression naming the hour (UTC) of timestamp `column` as
    /// text: `2026-11-25T14`.
    fn hour_of(column: &str) -> String;

    /// An SQL expression for the greater of two numbers.
    fn greatest(a: &str, b: &str) -> String;

    /// How many rows a statement changed.
    fn rows_affected(done: &Self::QueryResult) -> u64;
}

/// A value the shared queries bind, encoded for `DB` whatever the query's lifetime.
pub(crate) trait Param<DB: Database>: for<'q> Encode<'q, DB> + Type<DB> {}

impl<DB: Database, T: for<'q> Encode<'q, DB> + Type<DB>> Param<DB> for T {}

/// Store on an SQL database: reads on `pool`, writes on `writer`.
pub(crate) struct SqlStore<DB: Database> {
    /// Readers.
    pool: Pool<DB>,
    /// Where writes go: one dedicated connection on SQLite, the same pool on PostgreSQL.
    writer: Pool<DB>,
    /// The group commit of leads.
    leads: LeadWriter,
    /// Notified after a commit that wrote outbox rows.
    outbox_written: Arc<Notify>,
    /// Held while the store lives: its background tasks (SQLite's
    /// checkpoints) end when the last handle is gone.
    _alive: Arc<()>,
}

impl<DB: Database> SqlStore<DB> {
    /// A store on these pools, whose lead writer is already started.
    pub(super) fn new(
        pool: Pool<DB>,
        writer: Pool<DB>,
        leads: LeadWriter,
        outbox_written: Arc<Notify>,
        alive: Arc<()>,
    ) -> Self {
        Self {
            pool,
            writer,
            leads,
            outbox_written,
            _alive: alive,
        }
    }

    /// Tells whoever delivers the outbox that entries were committed: the
    /// one place the store signals it, after every commit that wrote (or put
    /// back) outbox rows.
    fn outbox_committed(&self, written: bool) {
        if written {
            self.outbox_written.notify_one();
        }
    }
}

impl<DB: Dialect> SqlStore<DB> {
    /// Begins a transaction that will write, as the dialect begins one.
    async fn begin_write(&self) -> Result<Transaction<'static, DB>, sqlx::Error> {
        self.writer.begin_with(DB::BEGIN_WRITE).await
    }
}

#[async_trait]
impl<DB: Dialect> Store for SqlStore<DB>
where
    Self: CampaignStore
        + UserStore
        + LeadStore
        + OutboxStore
        + MemoryStore
        + ErasureStore
        + ReportStore
        + FeedStore
        + TeamStore,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

impl<DB: Database> std::fmt::Debug for SqlStore<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("database", &DB::NAME)
            .finish_non_exhaustive()
    }
}

/// Writes one outbox row per message and target, in the caller's transaction.
pub(super) async fn insert_outbox<DB: Dialect>(
    tx: &mut Transaction<'_, DB>,
    outbox: &[NewOutbox],
    now: DateTime<Utc>,
) -> Result<(), StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    String: Param<DB>,
    DateTime<Utc>: Param<DB>,
    Option<i64>: Param<DB>,
    Option<String>: Param<DB>,
    for<'a> sqlx::types::Json<&'a serde_json::Value>: Param<DB>,
{
    for message in outbox {
        for target in &message.targets {
            sqlx::query(
                "INSERT INTO service_event_outbox
                     (campaign_id, event_type, target_url, payload, attempts,
                      next_attempt_at, created_at)
                 VALUES ($1, $2, $3, $4, 0, $5, $5)",
            )
            .bind(message.campaign_id)
            .bind(&message.event_type)
            .bind(target)
            .bind(sqlx::types::Json(&message.payload))
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}
