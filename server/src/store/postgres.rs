//! The PostgreSQL store (production).

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgPoolOptions, PgQueryResult};
use sqlx::types::Json;
use sqlx::{PgPool, Postgres};
use tokio::sync::Notify;

use super::StoreError;
use super::lead_writer::{LeadJob, LeadWriter, WriteLeads};
use super::migrations::{Migrations, prepare, tolerant};
use super::rows::LeadRow;
use super::sql::{Dialect, SqlStore};
use crate::model::lead::Lead;
use crate::tasks::Tasks;

/// Writes groups of leads, each group one statement.
struct PgLeads(PgPool);

/// The migrations of the PostgreSQL schema.
fn migrator() -> sqlx::migrate::Migrator {
    tolerant(sqlx::migrate!("../migrations/postgres"))
}

/// Migrates the database at `url`; returns the migrations applied now.
pub(super) async fn migrate(url: &str) -> anyhow::Result<Vec<String>> {
    let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
    let applied = prepare(&migrator(), &mut *pool.acquire().await?, Migrations::Apply).await;
    pool.close().await;
    applied
}

/// Connects to the database at `url`, migrated as `migrations` says; reads
/// and writes share one pool (PostgreSQL takes concurrent writers).
pub(super) async fn connect(
    url: &str,
    max_connections: u32,
    tasks: &Tasks,
    outbox_written: Arc<Notify>,
    migrations: Migrations,
) -> anyhow::Result<SqlStore<Postgres>> {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        // A stopped server makes every acquire retry until this runs
        // out: short, so that an outage is answered (503) within a second.
        .acquire_timeout(Duration::from_secs(1))
        .connect(url)
        .await?;
    let applied = prepare(&migrator(), &mut *pool.acquire().await?, migrations).await?;
    if !applied.is_empty() {
        tracing::info!(?applied, "database migrated");
    }
    let leads = LeadWriter::start(PgLeads(pool.clone()), tasks);
    Ok(SqlStore::new(
        pool.clone(),
        pool,
        leads,
        outbox_written,
        Arc::new(()),
    ))
}

impl Dialect for Postgres {
    /// A server of its own, which can be down: an outage is told apart.
    const EMBEDDED: bool = false;

    /// Locks the referrer's row so that its referrals are counted one at a time.
    const LOCK_USER: &'static str =
        "SELECT 1 FROM service_user_master WHERE master_id = $1 FOR UPDATE";

    /// The hashes are a JSON array, unrolled by `jsonb_array_elements_text`.
    const MEMORY_LOOKUP: &'static str = "SELECT * FROM service_translation_memory
         WHERE campaign_id = $1 AND source_lang = $2 AND target_lang = $3 AND context_key = $4
           AND source_hash IN (SELECT jsonb_array_elements_text($5))";

    const MEMORY_TOUCH: &'static str = "UPDATE service_translation_memory SET last_used_at = $6
         WHERE campaign_id = $1 AND source_lang = $2 AND target_lang = $3 AND context_key = $4
           AND source_hash IN (SELECT jsonb_array_elements_text($5))
           AND (last_used_at IS NULL OR last_used_at < $7)";

    const LOCK_FEED: &'static str =
        "SELECT last_position FROM service_feed_state WHERE id = 1 FOR UPDATE";

    /// A plain transaction: row locks serialize what must be.
    const BEGIN_WRITE: &'static str = "BEGIN";

    /// PostgreSQL keeps old row versions in the table itself until VACUUM
    /// (documented in the README), with nothing to truncate here.
    const TRUNCATE_LOG: Option<&'static str> = None;

    fn hour_of(column: &str) -> String {
        format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24')")
    }

    fn greatest(a: &str, b: &str) -> String {
        format!("GREATEST({a}, {b})")
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }
}

/// A group of leads and their outbox entries, inserted by one statement (one
/// round trip, atomic on its own): the leads' columns and the entries' rows
/// arrive as arrays, unrolled by `UNNEST`. A lead whose idempotency key was
/// used before is skipped, and so are its entries (they join the inserted rows).
const INSERT_LEADS: &str = "WITH quote AS (
         INSERT INTO service_quote_main
             (id, campaign_id, master_id, session_id, name, email, company, phone,
              message, budget, details, status, idempotency_key, request_fingerprint,
              created_at, visitor_id, consent_version, consent_at, updated_at)
         SELECT l.*, l.created_at FROM UNNEST(
             $1::uuid[], $2::bigint[], $3::uuid[], $4::uuid[], $5::text[], $6::text[],
             $7::text[], $8::text[], $9::text[], $10::text[], $11::jsonb[], $12::text[],
             $13::text[], $14::text[], $15::timestamptz[], $21::uuid[], $22::text[],
             $23::timestamptz[])
             AS l (id, campaign_id, master_id, session_id, name, email, company, phone,
                   message, budget, details, status, idempotency_key, request_fingerprint,
                   created_at, visitor_id, consent_version, consent_at)
         ON CONFLICT (campaign_id, idempotency_key) DO NOTHING
         RETURNING *
     ), outbox AS (
         INSERT INTO service_event_outbox
             (campaign_id, event_type, target_url, payload, attempts, next_attempt_at,
              created_at, kind)
         SELECT e.campaign_id, e.event_type, e.target_url, e.payload, 0, quote.created_at,
                quote.created_at, e.kind
         FROM quote
         JOIN UNNEST($16::uuid[], $17::bigint[], $18::text[], $19::text[], $20::jsonb[],
                     $24::text[])
             AS e (quote_id, campaign_id, event_type, target_url, payload, kind)
           ON e.quote_id = quote.id
     )
     SELECT * FROM quote";

#[async_trait::async_trait]
impl WriteLeads for PgLeads {
    async fn write_leads(&self, jobs: &[LeadJob]) -> Result<Vec<Option<LeadRow>>, StoreError> {
        let leads = jobs.iter().map(|j| &j.lead);
        let column = |f: fn(&Lead) -> Option<&str>| leads.clone().map(f).collect::<Vec<_>>();
        let entries: Vec<_> = jobs
            .iter()
            .flat_map(|job| {
                job.outbox.iter().flat_map(move |message| {
                    message
                        .targets
                        .iter()
                        .map(move |target| (job.lead.id, message, target.as_deref()))
                })
            })
            .collect();
        let inserted: Vec<LeadRow> = sqlx::query_as(INSERT_LEADS)
            .bind(leads.clone().map(|q| q.id).collect::<Vec<_>>())
            .bind(leads.clone().map(|q| q.campaign_id).collect::<Vec<_>>())
            .bind(leads.clone().map(|q| q.master_id).collect::<Vec<_>>())
            .bind(leads.clone().map(|q| q.session_id).collect::<Vec<_>>())
            .bind(column(|q| Some(q.name.as_str())))
            .bind(column(|q| Some(q.email.as_str())))
            .bind(column(|q| q.company.as_deref()))
            .bind(column(|q| q.phone.as_deref()))
            .bind(column(|q| Some(q.message.as_str())))
            .bind(column(|q| q.budget.as_deref()))
            .bind(leads.clone().map(|q| Json(&q.details)).collect::<Vec<_>>())
            .bind(column(|q| Some(q.status.as_str())))
            .bind(column(|q| q.idempotency_key.as_deref()))
            .bind(column(|q| q.request_fingerprint.as_deref()))
            .bind(leads.clone().map(|q| q.created_at).collect::<Vec<_>>())
            .bind(entries.iter().map(|(id, _, _)| *id).collect::<Vec<_>>())
            .bind(
                entries
                    .iter()
                    .map(|(_, m, _)| m.campaign_id)
                    .collect::<Vec<_>>(),
            )
            .bind(
                entries
                    .iter()
                    .map(|(_, m, _)| m.event_type.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(entries.iter().map(|(_, _, t)| *t).collect::<Vec<_>>())
            .bind(
                entries
                    .iter()
                    .map(|(_, m, _)| Json(&m.payload))
                    .collect::<Vec<_>>(),
            )
            .bind(leads.clone().map(|q| q.visitor_id).collect::<Vec<_>>())
            .bind(column(|q| q.consent.as_ref().map(|c| c.version.as_str())))
            .bind(
                leads
                    .clone()
                    .map(|q| q.consent.as_ref().map(|c| c.at))
                    .collect::<Vec<_>>(),
            )
            .bind(
                entries
                    .iter()
                    .map(|(_, m, _)| m.kind.as_str())
                    .collect::<Vec<_>>(),
            )
            .fetch_all(&self.0)
            .await?;
        let mut by_id: std::collections::HashMap<_, _> =
            inserted.into_iter().map(|row| (row.id, row)).collect();
        Ok(jobs.iter().map(|job| by_id.remove(&job.lead.id)).collect())
    }
}
