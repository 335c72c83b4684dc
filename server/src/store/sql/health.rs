//! Whether the database answers, and saying so at once when it does not.
//!
//! A stopped PostgreSQL makes every query wait for a connection until the
//! pool gives up — seconds per request, with requests piling up behind.
//! [`Health`] classifies what the database answers: an outage (no
//! connection, a connection reset, the server shutting down) is
//! [`StoreError::Unavailable`] (503 `unavailable`), and once one is seen
//! every call fails at once for [`OUTAGE_PAUSE`], after which one call is
//! let through as a probe (so is every `ping`, which `/readyz` sends): the
//! first success ends the outage, without a restart. A write never
//! half-happens: each is one transaction, which an outage rolls back.
//!
//! The embedded SQLite database cannot be "down"; a locked one stays
//! [`StoreError::Busy`] (503 `busy`).
//!
//! [`SqlStore`](super::SqlStore) takes every connection (and hands every
//! lead to its lead writer) through [`Health::guard`], which sees both the
//! connection being taken (sqlx tests a pooled connection before handing
//! it out, so getting one means the database answered) and the result of
//! what ran on it.

use std::future::Future;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::store::StoreError;

/// How long calls fail at once after an outage was seen, before a probe.
pub(crate) const OUTAGE_PAUSE: Duration = Duration::from_millis(500);

/// What is known of the database's health.
#[derive(Debug)]
pub(super) struct Health {
    /// The embedded SQLite database: never "down", only busy.
    embedded: bool,
    /// Until when calls fail without asking (an outage is on).
    down_until: Mutex<Option<Instant>>,
    /// When a call last succeeded: a pool timing out while others succeed
    /// is a busy pool, not an outage.
    last_ok: Mutex<Instant>,
}

impl Health {
    /// The health of a database that answers so far; `embedded` when it is
    /// the embedded SQLite database.
    pub(super) fn new(embedded: bool) -> Self {
        Self {
            embedded,
            down_until: Mutex::new(None),
            last_ok: Mutex::new(Instant::now()),
        }
    }

    /// Runs `call` unless an outage is on (then it fails at once, but for
    /// one probe per [`OUTAGE_PAUSE`]); notes and classifies its result.
    pub(super) async fn guard<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        {
            let mut down = self.down_until.lock();
            if let Some(until) = *down {
                if Instant::now() < until {
                    return Err(StoreError::Unavailable(sqlx::Error::PoolClosed));
                }
                // This call is the probe; the others keep failing fast meanwhile.
                *down = Some(Instant::now() + OUTAGE_PAUSE);
            }
        }
        self.note(call.await)
    }

    /// Notes what a call (run whether or not an outage is on, such as
    /// `ping`) says about the database, and returns its result as the
    /// callers see it.
    pub(super) fn note<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        self.observe(&result);
        result.map_err(|e| self.classify(e))
    }

    /// An error as the callers see it: an outage of the server database is
    /// `Unavailable` (a pool timing out means no connection can be made).
    fn classify(&self, error: StoreError) -> StoreError {
        match error {
            StoreError::Busy(cause) if !self.embedded => StoreError::Unavailable(cause),
            StoreError::Database(cause) if !self.embedded && is_outage(&cause) => {
                StoreError::Unavailable(cause)
            }
            other => other,
        }
    }

    /// Notes what a call says about the database's health.
    fn observe<T>(&self, result: &Result<T, StoreError>) {
        if result.is_ok() {
            *self.last_ok.lock() = Instant::now();
        }
        let mut down = self.down_until.lock();
        match result {
            Ok(_) => {
                if down.take().is_some() {
                    tracing::info!("the database answers again");
                }
            }
            Err(e) if self.is_outage_error(e) => {
                if down.is_none() {
                    tracing::warn!(error = %e, "the database does not answer: failing fast");
                }
                *down = Some(Instant::now() + OUTAGE_PAUSE);
            }
            Err(_) => {}
        }
    }

    fn is_outage_error(&self, error: &StoreError) -> bool {
        if self.embedded {
            return false;
        }
        match error {
            // No connection in time: an outage unless other calls succeed.
            StoreError::Busy(_) => self.last_ok.lock().elapsed() > Duration::from_secs(1),
            StoreError::Unavailable(_) => true,
            StoreError::Database(cause) => is_outage(cause),
            _ => false,
        }
    }
}

/// Whether `error` says the database cannot be reached (rather than that a
/// query was wrong): I/O, TLS, a closed pool, a broken protocol stream, or
/// PostgreSQL's connection exceptions (class 08) and shutdown (57P01–57P03).
pub(crate) fn is_outage(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}
