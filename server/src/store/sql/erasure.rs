//! Erasing a person: every row that names them scrubbed in one transaction,
//! within the campaign the erasure names (a user's own, for a user), and
//! their sessions recorded as ended. On SQLite the freed space is zeroed
//! (`secure_delete`, set on every connection) and the WAL, which still
//! holds the old pages, is checkpointed and truncated after the commit.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Executor, FromRow};
use uuid::Uuid;

use super::{Dialect, Param, SqlStore, WriteTx};
use crate::model::erasure::{
    ERASED, ERASED_EMAIL, Erased, ErasureSubject, concerns, erased_email, replace_mentions, scrub,
};
use crate::store::{ErasureStore, StoreError};

/// Who an erasure is about, as found in the database.
#[derive(Default)]
struct Person {
    /// The campaign the erasure is limited to.
    campaign: Option<i64>,
    /// Users' ids.
    ids: Vec<Uuid>,
    /// Every (canonical) email to scrub.
    emails: Vec<String>,
    /// What else named them, for the live events' history.
    names: Vec<String>,
    /// Sessions to end.
    sessions: Vec<Uuid>,
    /// Their leads' ids.
    leads: Vec<Uuid>,
    /// The users' campaigns.
    campaigns: Vec<i64>,
}

impl Person {
    /// What a query matching an email or an id binds, one pair a row: each
    /// email (with an id nothing has), then each of `ids` (with no email).
    fn emails_and(&self, ids: &[Uuid]) -> Vec<(String, Uuid)> {
        let nobody = Uuid::nil();
        let emails = self.emails.iter().map(|email| (email.clone(), nobody));
        emails
            .chain(ids.iter().map(|id| (String::new(), *id)))
            .collect()
    }
}

/// A user the subject names: id, campaign, email, display name and the
/// visitor session they joined from.
type UserFound = (Uuid, i64, String, String, Option<Uuid>);

#[async_trait]
impl<DB: Dialect> ErasureStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: Param<DB>,
    String: Param<DB>,
    for<'a> &'a str: Param<DB>,
    Uuid: Param<DB>,
    DateTime<Utc>: Param<DB>,
    Option<i64>: Param<DB>,
    Json<serde_json::Value>: Param<DB>,
    for<'a> Json<&'a serde_json::Value>: Param<DB>,
    UserFound: for<'r> FromRow<'r, DB::Row>,
    (Uuid, String, Option<Uuid>, Option<Uuid>): for<'r> FromRow<'r, DB::Row>,
    (i64, Json<serde_json::Value>): for<'r> FromRow<'r, DB::Row>,
    (i64, String, String): for<'r> FromRow<'r, DB::Row>,
    (Uuid, DateTime<Utc>): for<'r> FromRow<'r, DB::Row>,
    (i64, i64, i64): for<'r> FromRow<'r, DB::Row>,
{
    async fn erase(
        &self,
        subject: &ErasureSubject,
        subject_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Erased, StoreError> {
        let (mut erased, mut person) = self
            .transaction(async |mut tx| {
                let mut person = find::<DB>(&mut tx, subject).await?;
                let mut erased = Erased {
                    campaign_id: person.campaign,
                    ..Erased::default()
                };
                erased.report.users = erase_users::<DB>(&mut tx, &person).await?;
                erased.report.leads = erase_leads::<DB>(&mut tx, &mut person, now).await?;
                erased.report.outbox_entries = scrub_outbox::<DB>(&mut tx, &person, now).await?;
                erased.report.spam = erase_spam::<DB>(&mut tx, &person).await?;
                scrub_live_state::<DB>(&mut tx, &person).await?;
                person.sessions.sort_unstable();
                person.sessions.dedup();
                for session in &person.sessions {
                    sqlx::query(
                    "INSERT INTO service_session_revoked (session_id, revoked_at) VALUES ($1, $2)
                     ON CONFLICT (session_id) DO UPDATE SET revoked_at = excluded.revoked_at",
                )
                .bind(session)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                    // The first touch of a visitor session they joined or sent a
                    // lead from: its URLs may name the person; the source stays,
                    // for counts. (A user's id names no visitor session: nothing.)
                    sqlx::query(
                        "UPDATE service_visitor_session SET referrer = NULL, landing_page = NULL,
                             utm_term = NULL, utm_content = NULL
                         WHERE session_id = $1",
                    )
                    .bind(session)
                    .execute(&mut *tx)
                    .await?;
                    // How the session's pointer moved (a score).
                    sqlx::query("DELETE FROM service_humanity WHERE subject = $1")
                        .bind(session)
                        .execute(&mut *tx)
                        .await?;
                }
                let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                sqlx::query(
                "INSERT INTO service_erasure_log (subject_hash, users, quotes, outbox, erased_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(subject_hash)
            .bind(count(erased.report.users))
            .bind(count(erased.report.leads))
            .bind(count(erased.report.outbox_entries))
            .bind(now)
            .execute(&mut *tx)
            .await?;
                tx.commit().await?;
                Ok((erased, person))
            })
            .await?;
        if let Some(truncate) = DB::TRUNCATE_LOG {
            self.truncate_log(truncate).await;
        }
        erased.sessions = person.sessions;
        person.campaigns.sort_unstable();
        person.campaigns.dedup();
        erased.user_campaigns = person.campaigns;
        erased.subjects = person.ids;
        erased.subjects.append(&mut person.leads);
        erased.names = person.emails;
        erased.names.append(&mut person.names);
        erased.names.sort_unstable();
        erased.names.dedup();
        Ok(erased)
    }

    async fn ended_sessions_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(Uuid, DateTime<Utc>)>, StoreError> {
        Ok(self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT session_id, revoked_at FROM service_session_revoked
                     WHERE revoked_at >= $1",
                )
                .bind(since)
                .fetch_all(db)
                .await
            })
            .await?)
    }

    async fn prune_ended_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = self
            .write(async |db| {
                sqlx::query("DELETE FROM service_session_revoked WHERE revoked_at < $1")
                    .bind(before)
                    .execute(db)
                    .await
            })
            .await?;
        Ok(DB::rows_affected(&done))
    }
}

/// The users `subject` names, and so the campaign, emails, names and
/// sessions of the person.
async fn find<DB: Dialect>(
    tx: &mut WriteTx<DB>,
    subject: &ErasureSubject,
) -> Result<Person, StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    String: Param<DB>,
    Uuid: Param<DB>,
    Option<i64>: Param<DB>,
    UserFound: for<'r> FromRow<'r, DB::Row>,
{
    const USERS: &str = "SELECT master_id, campaign_id, email, display_name, visitor_id
                         FROM service_user_master";
    let (users, mut person): (Vec<UserFound>, Person) = match subject {
        ErasureSubject::User(id) => {
            let users: Vec<UserFound> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("{USERS} WHERE master_id = $1")))
                    .bind(id)
                    .fetch_all(&mut **tx)
                    .await?;
            // A user belongs to one campaign: the erasure stays in it.
            let campaign = users.first().map(|u| u.1);
            (
                users,
                Person {
                    campaign,
                    ..Person::default()
                },
            )
        }
        ErasureSubject::Email { email, campaign_id } => {
            let users = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{USERS} WHERE email = $1 AND ($2 IS NULL OR campaign_id = $2)"
            )))
            .bind(email)
            .bind(*campaign_id)
            .fetch_all(&mut **tx)
            .await?;
            let person = Person {
                campaign: *campaign_id,
                emails: vec![email.clone()],
                ..Person::default()
            };
            (users, person)
        }
    };
    for (id, campaign, email, display_name, visitor) in users {
        person.ids.push(id);
        person.campaigns.push(campaign);
        person.sessions.push(id);
        person.sessions.extend(visitor);
        person.emails.push(email);
        person.names.push(display_name);
    }
    person.emails.sort_unstable();
    person.emails.dedup();
    Ok(person)
}

/// Replaces the users' email, names and consent, and forgets what their
/// referrals were checked against (keyed hashes, the email's key); how many.
async fn erase_users<DB: Dialect>(tx: &mut WriteTx<DB>, person: &Person) -> Result<u64, StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    String: Param<DB>,
    for<'a> &'a str: Param<DB>,
    Uuid: Param<DB>,
{
    let mut users = 0;
    for id in &person.ids {
        let done = sqlx::query(
            "UPDATE service_user_master SET email = $2, display_name = $3, locale = NULL,
                 consent_version = NULL, consent_at = NULL,
                 network_hash = NULL, device_hash = NULL, email_key = NULL
             WHERE master_id = $1",
        )
        .bind(id)
        .bind(erased_email(*id))
        .bind(ERASED)
        .execute(&mut **tx)
        .await?;
        users += DB::rows_affected(&done);
    }
    Ok(users)
}

/// Replaces the contact details, message, details and idempotency key of
/// the leads sent with one of the emails or by one of the users (in the
/// campaign); notes their senders' names and sessions (whose first touch
/// the erasure clears with the rest of the person's sessions). How many
/// leads.
async fn erase_leads<DB: Dialect>(
    tx: &mut WriteTx<DB>,
    person: &mut Person,
    now: DateTime<Utc>,
) -> Result<u64, StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    String: Param<DB>,
    for<'a> &'a str: Param<DB>,
    Uuid: Param<DB>,
    DateTime<Utc>: Param<DB>,
    Option<i64>: Param<DB>,
    Json<serde_json::Value>: Param<DB>,
    (Uuid, String, Option<Uuid>, Option<Uuid>): for<'r> FromRow<'r, DB::Row>,
{
    // Leads sent with one of the emails, or by one of the users with another.
    const WHOSE: &str = "(email = $1 OR master_id = $2) AND ($3 IS NULL OR campaign_id = $3)";
    let whose = person.emails_and(&person.ids);
    let blank = Json(serde_json::json!({}));
    let mut leads = 0;
    for (email, id) in &whose {
        let senders: Vec<(Uuid, String, Option<Uuid>, Option<Uuid>)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT id, name, session_id, visitor_id FROM service_quote_main
                 WHERE {WHOSE} AND email <> '{ERASED_EMAIL}'"
            )))
            .bind(email)
            .bind(id)
            .bind(person.campaign)
            .fetch_all(&mut **tx)
            .await?;
        for (lead, name, session, visitor) in senders {
            person.leads.push(lead);
            person.names.push(name);
            person.sessions.extend(session);
            person.sessions.extend(visitor);
        }
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE service_quote_main
             SET name = $4, email = $5, company = NULL, phone = NULL, message = $4,
                 budget = NULL, details = $6, updated_at = $7, idempotency_key = NULL,
                 request_fingerprint = NULL, consent_version = NULL, consent_at = NULL
             WHERE {WHOSE} AND email <> $5"
        )))
        .bind(email)
        .bind(id)
        .bind(person.campaign)
        .bind(ERASED)
        .bind(ERASED_EMAIL)
        .bind(&blank)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        leads += DB::rows_affected(&done);
    }
    Ok(leads)
}

/// Removes the submissions listed as spam (in the campaign) that one of
/// the emails sent, or that became one of the users or leads; how many.
async fn erase_spam<DB: Dialect>(tx: &mut WriteTx<DB>, person: &Person) -> Result<u64, StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    String: Param<DB>,
    Uuid: Param<DB>,
    Option<i64>: Param<DB>,
{
    let ids: Vec<Uuid> = person.ids.iter().chain(&person.leads).copied().collect();
    let whose = person.emails_and(&ids);
    let mut removed = 0;
    for (email, id) in whose {
        let done = sqlx::query(
            "DELETE FROM service_spam
             WHERE (email = $1 OR id = $2) AND ($3 IS NULL OR campaign_id = $3)",
        )
        .bind(email)
        .bind(id)
        .bind(person.campaign)
        .execute(&mut **tx)
        .await?;
        removed += DB::rows_affected(&done);
    }
    Ok(removed)
}

/// Scrubs the outbox payloads (of the campaign) that are about the person:
/// undelivered ones, and delivered ones too, which the back-office feed
/// still serves until retention removes them. How many.
async fn scrub_outbox<DB: Dialect>(
    tx: &mut WriteTx<DB>,
    person: &Person,
    now: DateTime<Utc>,
) -> Result<u64, StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: Param<DB>,
    String: Param<DB>,
    DateTime<Utc>: Param<DB>,
    Option<i64>: Param<DB>,
    for<'a> Json<&'a serde_json::Value>: Param<DB>,
    (i64, Json<serde_json::Value>): for<'r> FromRow<'r, DB::Row>,
{
    let entries: Vec<(i64, Json<serde_json::Value>)> = sqlx::query_as(
        "SELECT id, payload FROM service_event_outbox WHERE $1 IS NULL OR campaign_id = $1",
    )
    .bind(person.campaign)
    .fetch_all(&mut **tx)
    .await?;
    let mut scrubbed = 0;
    for (id, Json(mut payload)) in entries {
        if !concerns(&payload, &person.emails, &person.ids) {
            continue;
        }
        scrub(&mut payload);
        // A mail about the person is not sent any more, and keeps neither
        // their address nor anything it would have said.
        sqlx::query(
            "UPDATE service_event_outbox SET payload = $2,
                 target_url = CASE WHEN kind = 'mail' THEN $3 ELSE target_url END,
                 dead_at = CASE WHEN kind = 'mail' AND delivered_at IS NULL
                                THEN COALESCE(dead_at, $4) ELSE dead_at END,
                 last_error = CASE WHEN kind = 'mail' AND delivered_at IS NULL
                                   THEN 'not sent: the person was erased' ELSE last_error END
             WHERE id = $1",
        )
        .bind(id)
        .bind(Json(&payload))
        .bind(format!("mailto:{ERASED_EMAIL}"))
        .bind(now)
        .execute(&mut **tx)
        .await?;
        scrubbed += 1;
    }
    // Nor is their address kept on a suppression list.
    for email in &person.emails {
        sqlx::query(
            "DELETE FROM service_mail_suppression
             WHERE email = $2 AND ($1 IS NULL OR campaign_id = $1)",
        )
        .bind(person.campaign)
        .bind(email.clone())
        .execute(&mut **tx)
        .await?;
    }
    Ok(scrubbed)
}

/// Blanks the person's names in what was last announced of a campaign's
/// live state (its leaderboard, JSON text); the next look announces the
/// board anew.
async fn scrub_live_state<DB: Dialect>(
    tx: &mut WriteTx<DB>,
    person: &Person,
) -> Result<(), StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: Param<DB>,
    String: Param<DB>,
    for<'a> &'a str: Param<DB>,
    Option<i64>: Param<DB>,
    (i64, String, String): for<'r> FromRow<'r, DB::Row>,
{
    if person.names.is_empty() {
        return Ok(());
    }
    let states: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT campaign_id, kind, value FROM service_campaign_live_state
         WHERE $1 IS NULL OR campaign_id = $1",
    )
    .bind(person.campaign)
    .fetch_all(&mut **tx)
    .await?;
    for (campaign, kind, text) in states {
        let mut value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        // Blank, not [erased]: what the users' rows now say differs from
        // it, so the next look announces the board anew (its `seq` goes on).
        if !replace_mentions(&mut value, &person.names, "") {
            continue;
        }
        sqlx::query(
            "UPDATE service_campaign_live_state SET value = $3 WHERE campaign_id = $1 AND kind = $2",
        )
        .bind(campaign)
        .bind(kind.as_str())
        .bind(value.to_string())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl<DB: Dialect> SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    (i64, i64, i64): for<'r> FromRow<'r, DB::Row>,
{
    /// Copies the log's pages into the database file and empties the log
    /// (SQLite's WAL still holds the pages as they were before the erasure),
    /// retried while readers hold it.
    async fn truncate_log(&self, statement: &'static str) {
        for attempt in 0..10u32 {
            let answer = self
                .write(async |db| {
                    sqlx::query_as::<_, (i64, i64, i64)>(statement)
                        .fetch_one(db)
                        .await
                })
                .await;
            match answer {
                Ok((0, _, _)) => return,
                Ok(_) => tracing::debug!(attempt, "the log is in use; truncating again"),
                Err(e) => {
                    tracing::warn!(error = ?e, "the log was not truncated after an erasure");
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        tracing::warn!("the log was not truncated after an erasure: readers held it for too long");
    }
}
