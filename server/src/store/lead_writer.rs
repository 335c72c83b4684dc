//! Group commit of leads.
//!
//! A lead is the busiest write, and what a write costs is mostly per
//! transaction: hand-offs to SQLite's connection thread and back, or round
//! trips and a WAL flush on PostgreSQL. So leads are written in groups: one task
//! per store takes every lead waiting (up to [`MAX_LEAD_GROUP`]), writes them in
//! one transaction and answers each. When nothing else waits, a group is one
//! lead, and nobody waits for company. If a group fails, each of its leads is
//! tried again alone, so one bad lead fails only itself.

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::rows::LeadRow;
use crate::model::lead::Lead;
use crate::model::outbox::NewOutbox;
use crate::tasks::Tasks;
use tokio_util::sync::CancellationToken;

/// Most leads in one transaction.
pub(super) const MAX_LEAD_GROUP: usize = 64;

/// A lead waiting to be written, and who waits for it.
pub(super) struct LeadJob {
    pub(super) lead: Lead,
    /// Its outbox entries, written with it.
    pub(super) outbox: Vec<NewOutbox>,
    reply: oneshot::Sender<Result<Option<LeadRow>, StoreError>>,
}

/// How a database writes a group of leads.
#[async_trait]
pub(super) trait WriteLeads: Send + Sync + 'static {
    /// Writes every lead of `jobs` with its outbox entries, atomically: all or
    /// nothing. One row per job, in order: `None` where the lead's idempotency
    /// key was used before (that lead wrote nothing).
    async fn write_leads(&self, jobs: &[LeadJob]) -> Result<Vec<Option<LeadRow>>, StoreError>;
}

/// The door to a store's group-commit task.
#[derive(Debug, Clone)]
pub(super) struct LeadWriter {
    waiting: mpsc::Sender<LeadJob>,
}

impl LeadWriter {
    /// Starts the group-commit task (`lead writer`), writing with `database`;
    /// it ends when the last clone of the writer is dropped, or once `tasks`
    /// is drained and every lead already handed to it is written.
    pub(super) fn start(database: impl WriteLeads, tasks: &Tasks) -> Self {
        let (waiting, jobs) = mpsc::channel(1024);
        tasks.spawn(
            "lead writer",
            commit_groups(database, jobs, tasks.drained().clone()),
        );
        Self { waiting }
    }

    /// Writes a lead and its outbox entries in the next group; `None` when its
    /// idempotency key was used before (nothing written).
    pub(super) async fn insert(
        &self,
        lead: &Lead,
        outbox: &[NewOutbox],
    ) -> Result<Option<LeadRow>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = LeadJob {
            lead: lead.clone(),
            outbox: outbox.to_vec(),
            reply,
        };
        self.waiting
            .send(job)
            .await
            .map_err(|_| StoreError::Stopped)?;
        answer.await.map_err(|_| StoreError::Stopped)?
    }
}

async fn commit_groups(
    database: impl WriteLeads,
    mut jobs: mpsc::Receiver<LeadJob>,
    drained: CancellationToken,
) {
    let mut group = Vec::with_capacity(MAX_LEAD_GROUP);
    loop {
        let received = tokio::select! {
            // No new lead can come: take no more, write what is queued, end.
            () = drained.cancelled(), if !drained.is_cancelled() => {
                jobs.close();
                continue;
            }
            received = jobs.recv_many(&mut group, MAX_LEAD_GROUP) => received,
        };
        if received == 0 {
            return;
        }
        match database.write_leads(&group).await {
            Ok(rows) => {
                for (job, row) in group.drain(..).zip(rows) {
                    let _ = job.reply.send(Ok(row));
                }
            }
            Err(StoreError::Busy(cause)) => {
                // The database was not free in time: trying each alone would
                // only make the last one wait longer. Every lead is told.
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
                    let result = database
                        .write_leads(std::slice::from_ref(&job))
                        .await
                        .map(|mut rows| rows.pop().flatten());
                    let _ = job.reply.send(result);
                }
            }
        }
    }
}
