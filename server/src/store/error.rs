//! What went wrong in the store, as its callers see it.

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; `field` names the client-facing field.
    #[error("{field} is already taken")]
    Conflict {
        /// The field whose value is taken.
        field: &'static str,
    },
    /// The row to change does not exist.
    #[error("row not found")]
    NotFound,
    /// A stored value could not be read back.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The store's own task that does this write has stopped: the server is
    /// shutting down.
    #[error("the store is shutting down")]
    Stopped,
    /// The database is locked by other writers beyond its wait, or no connection
    /// was free in time; retryable.
    #[error("database busy")]
    Busy(#[source] sqlx::Error),
    /// The database server cannot be reached (stopped, restarting, the
    /// network down); retryable, and answered at once while it lasts.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// The database failed.
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if let Some(field) = unique_violation_field(&err) {
            return Self::Conflict { field };
        }
        // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with or without extended bits,
        // or no connection free in time (the SQLite writer queue is too long).
        let busy = matches!(err, sqlx::Error::PoolTimedOut)
            || err
                .as_database_error()
                .and_then(|db| db.code())
                .and_then(|code| code.parse::<i32>().ok())
                .is_some_and(|code| matches!(code & 0xff, 5 | 6));
        if busy {
            Self::Busy(err)
        } else {
            Self::Database(err)
        }
    }
}

/// Unique constraints, as PostgreSQL names them and as SQLite describes them,
/// with the request field each one protects.
const UNIQUE_CONSTRAINTS: &[(&str, &str, &str)] = &[
    (
        "service_campaign_main_slug_key",
        "service_campaign_main.slug",
        "slug",
    ),
    (
        "service_user_master_campaign_email_key",
        "service_user_master.campaign_id, service_user_master.email",
        "email",
    ),
    (
        "service_user_master_referral_code_key",
        "service_user_master.referral_code",
        "referral_code",
    ),
    (
        "service_quote_main_idempotency_key",
        "service_quote_main.campaign_id, service_quote_main.idempotency_key",
        "idempotency_key",
    ),
    (
        "service_api_key_live_name_idx",
        "service_api_key.name",
        "name",
    ),
    (
        "service_referral_main_referred_key",
        "service_referral_main.campaign_id, service_referral_main.referred_id",
        "referred",
    ),
];

fn unique_violation_field(err: &sqlx::Error) -> Option<&'static str> {
    let db = err.as_database_error()?;
    if !db.is_unique_violation() {
        return None;
    }
    let constraint = db.constraint();
    let message = db.message();
    UNIQUE_CONSTRAINTS
        .iter()
        .find(|(name, columns, _)| {
            constraint == Some(*name) || message.ends_with(&format!("failed: {columns}"))
        })
        .map(|(_, _, field)| *field)
}
