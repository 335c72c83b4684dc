//! Storage: the only place SQL lives.
//!
//! [`Store`] is the one interface the rest of the server uses. One generic
//! implementation (`sql/`) serves both databases: SQLite (`sqlite.rs`, the
//! embedded default) and PostgreSQL (`postgres.rs`, production), against the
//! same tables, created by the migrations under `migrations/sqlite` and
//! `migrations/postgres`. It tells an outage of the server database apart and
//! answers it at once (`sql/health.rs`).
//!
//! The parts of the interface are in `parts.rs`, what can go wrong in
//! `error.rs`.

mod error;
mod lead_writer;
pub(crate) mod mail;
mod migrations;
mod parts;
mod postgres;
mod rows;
pub(crate) mod spam;
mod sql;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::tasks::Tasks;

pub(crate) use error::StoreError;
pub(crate) use mail::MailStore;
pub use migrations::Migrations;
pub(crate) use parts::{
    CampaignStore, ErasureStore, FeedStore, LeadStore, MemoryStore, OutboxStore, ReportStore,
    TeamStore, UserStore,
};
pub(crate) use spam::SpamStore;

/// Row counts shown on a campaign's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[allow(missing_docs)] // fields named for what they hold
pub struct CampaignCounts {
    /// Registered users.
    pub users: i64,
    pub leads: i64,
    pub referrals: i64,
}

/// How many outbox entries wait, and how many were given up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxCounts {
    /// Not delivered yet, still tried.
    pub pending: i64,
    /// Failed for the last time; waiting for a re-drive.
    pub dead: i64,
}

/// Paging of a list.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// Most rows returned.
    pub limit: u32,
    /// Rows skipped.
    pub offset: u32,
}

/// The one storage interface: every part (`parts.rs`), plus a health check.
///
/// The parts are separate traits so that each can be implemented (and read)
/// on its own; a caller imports the part whose methods it calls.
#[async_trait]
pub trait Store:
    CampaignStore
    + UserStore
    + LeadStore
    + OutboxStore
    + MemoryStore
    + ErasureStore
    + ReportStore
    + FeedStore
    + TeamStore
    + MailStore
    + SpamStore
{
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// A shared store handle.
pub(crate) type SharedStore = Arc<dyn Store>;

/// Connects to `database_url` (`sqlite:…` or `postgres://…`), migrated as
/// `migrations` says.
///
/// The store's own tasks (the lead writer; SQLite's WAL checkpoints) run in
/// `tasks`: they finish what they were handed once `tasks` is drained.
/// `outbox_written` is notified after every commit that wrote outbox rows
/// (whoever delivers the outbox waits on it; the store knows nothing of it).
pub async fn connect(
    database_url: &str,
    max_connections: u32,
    tasks: &Tasks,
    outbox_written: Arc<tokio::sync::Notify>,
    migrations: Migrations,
) -> anyhow::Result<SharedStore> {
    Ok(if is_embedded(database_url) {
        Arc::new(
            sqlite::connect(
                database_url,
                max_connections,
                tasks,
                outbox_written,
                migrations,
            )
            .await?,
        )
    } else {
        Arc::new(
            postgres::connect(
                database_url,
                max_connections,
                tasks,
                outbox_written,
                migrations,
            )
            .await?,
        )
    })
}

/// Applies the migrations `database_url` lacks (creating an SQLite file and
/// its folder if missing) and returns them (`version description`); the
/// step `ovasabi-edge migrate` runs.
pub async fn migrate(database_url: &str) -> anyhow::Result<Vec<String>> {
    if is_embedded(database_url) {
        sqlite::migrate(database_url).await
    } else {
        postgres::migrate(database_url).await
    }
}

fn is_embedded(database_url: &str) -> bool {
    database_url.starts_with("sqlite:")
}
