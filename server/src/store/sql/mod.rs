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
//!
//! A query takes its connection from the store, never from a pool itself:
//! [`SqlStore::read`], [`SqlStore::write`] and [`SqlStore::transaction`] run
//! it on a reader, on the writer, or in a writing transaction, through the
//! store's [`Health`] — which fails at once while the server database is
//! down, and tells an outage apart in what comes back (`health.rs`).

mod campaigns;
mod erasure;
mod feed;
mod health;
mod leads;
mod mail;
mod memory;
mod outbox;
mod referrals;
mod reports;
mod spam;
mod team;
mod users;

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, IntoArguments, Pool, Transaction, Type};
use tokio::sync::Notify;

use self::health::Health;
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
    /// Whether the database is embedded in the process (SQLite): it is
    /// never "down", only busy.
    const EMBEDDED: bool;
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
    /// Whether the database answers: every connection is taken through it.
    health: Health,
    /// Notified after a commit that wrote outbox rows.
    outbox_written: Arc<Notify>,
    /// Held while the store lives: its background tasks (SQLite's
    /// checkpoints) end when the last handle is gone.
    _alive: Arc<()>,
}

impl<DB: Dialect> SqlStore<DB> {
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
            health: Health::new(DB::EMBEDDED),
            outbox_written,
            _alive: alive,
        }
    }

    /// Runs `query` on a reader connection.
    async fn read<T, E: Into<StoreError>>(
        &self,
        query: impl AsyncFnOnce(&mut DB::Connection) -> Result<T, E>,
    ) -> Result<T, StoreError> {
        self.health
            .guard(async {
                let mut connection = self.pool.acquire().await?;
                query(&mut *connection).await.map_err(Into::into)
            })
            .await
    }

    /// Runs `query` on the writer connection: a statement that writes on
    /// its own, or a read that must see what was just written.
    async fn write<T, E: Into<StoreError>>(
        &self,
        query: impl AsyncFnOnce(&mut DB::Connection) -> Result<T, E>,
    ) -> Result<T, StoreError> {
        self.health
            .guard(async {
                let mut connection = self.writer.acquire().await?;
                query(&mut *connection).await.map_err(Into::into)
            })
            .await
    }

    /// Runs `work` in a transaction that will write; `work` commits it
    /// (dropped uncommitted, it rolls back).
    async fn transaction<T>(
        &self,
        work: impl AsyncFnOnce(WriteTx<DB>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.health
            .guard(async { work(WriteTx::begin(&self.writer).await?).await })
            .await
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

/// A transaction that will write, begun as the dialect begins one: the
/// connection it runs on (`&mut *tx`) until [`commit`](Self::commit);
/// dropped uncommitted, it rolls back. (A type without the lifetime of
/// sqlx's `Transaction`, so that a query's closure can take it by value.)
pub(super) struct WriteTx<DB: Database>(Transaction<'static, DB>);

impl<DB: Dialect> WriteTx<DB> {
    /// Begins a writing transaction on a connection of `writer`.
    pub(super) async fn begin(writer: &Pool<DB>) -> Result<Self, sqlx::Error> {
        Ok(Self(writer.begin_with(DB::BEGIN_WRITE).await?))
    }

    /// Commits what the transaction wrote.
    pub(super) async fn commit(self) -> Result<(), sqlx::Error> {
        self.0.commit().await
    }
}

impl<DB: Database> Deref for WriteTx<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        &self.0
    }
}

impl<DB: Database> DerefMut for WriteTx<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.0
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
        + TeamStore
        + super::MailStore
        + super::SpamStore,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    async fn ping(&self) -> Result<(), StoreError> {
        // The probe: always asks the database, and its answer decides.
        let answer = sqlx::query("SELECT 1").execute(&self.pool).await;
        self.health.note(answer.map(drop).map_err(StoreError::from))
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
    tx: &mut WriteTx<DB>,
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
    let rows: Vec<OutboxRowToWrite<'_>> = outbox.iter().map(|m| (m, now)).collect();
    insert_outbox_rows(tx, &rows).await
}

/// A message of the outbox and when it was written.
pub(super) type OutboxRowToWrite<'a> = (&'a NewOutbox, DateTime<Utc>);

/// Most outbox rows one statement writes (6 parameters each, under
/// SQLite's limit of 32 766).
const OUTBOX_ROWS_PER_STATEMENT: usize = 500;

/// Writes one outbox row per message and target of `messages`, in the
/// caller's transaction, in as few statements as the parameter limit
/// allows (a statement is a round trip to the database's worker).
pub(super) async fn insert_outbox_rows<DB: Dialect>(
    tx: &mut WriteTx<DB>,
    messages: &[OutboxRowToWrite<'_>],
) -> Result<(), StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    String: Param<DB>,
    DateTime<Utc>: Param<DB>,
    Option<i64>: Param<DB>,
    Option<String>: Param<DB>,
    for<'a> sqlx::types::Json<&'a serde_json::Value>: Param<DB>,
{
    let rows: Vec<(&NewOutbox, &Option<String>, DateTime<Utc>)> = messages
        .iter()
        .flat_map(|(message, at)| message.targets.iter().map(move |t| (*message, t, *at)))
        .collect();
    for chunk in rows.chunks(OUTBOX_ROWS_PER_STATEMENT) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let p = i * 6;
                format!(
                    "(${}, ${}, ${}, ${}, 0, ${}, ${}, ${})",
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5,
                    p + 5,
                    p + 6
                )
            })
            .collect();
        let text = format!(
            "INSERT INTO service_event_outbox
                 (campaign_id, event_type, target_url, payload, attempts,
                  next_attempt_at, created_at, kind)
             VALUES {}",
            values.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(text));
        for (message, target, at) in chunk {
            query = query
                .bind(message.campaign_id)
                .bind(message.event_type.clone())
                .bind((*target).clone())
                .bind(sqlx::types::Json(&message.payload))
                .bind(*at)
                .bind(message.kind.as_str().to_owned());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}
