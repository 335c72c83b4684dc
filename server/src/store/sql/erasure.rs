//! Erasing a person: every row that names them scrubbed in one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Executor, FromRow};
use uuid::Uuid;

use super::{Dialect, Param, SqlStore};
use crate::model::erasure::{ERASED, ErasureReport, ErasureSubject, concerns, erased_email, scrub};
use crate::store::{ErasureStore, StoreError};

/// The address an erased lead keeps (the column cannot be empty).
const ERASED_EMAIL: &str = "erased@erased.invalid";

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
    (Uuid, String): for<'r> FromRow<'r, DB::Row>,
    (i64, Json<serde_json::Value>): for<'r> FromRow<'r, DB::Row>,
{
    async fn erase(
        &self,
        subject: &ErasureSubject,
        now: DateTime<Utc>,
    ) -> Result<ErasureReport, StoreError> {
        let mut tx = self.begin_write().await?;
        // Who: the users the subject names, and every email to scrub.
        let users: Vec<(Uuid, String)> = match subject {
            ErasureSubject::User(id) => {
                sqlx::query_as(
                    "SELECT master_id, email FROM service_user_master WHERE master_id = $1",
                )
                .bind(id)
                .fetch_all(&mut *tx)
                .await?
            }
            ErasureSubject::Email {
                email,
                campaign_id: Some(campaign),
            } => {
                sqlx::query_as(
                    "SELECT master_id, email FROM service_user_master
                     WHERE email = $1 AND campaign_id = $2",
                )
                .bind(email)
                .bind(campaign)
                .fetch_all(&mut *tx)
                .await?
            }
            ErasureSubject::Email {
                email,
                campaign_id: None,
            } => {
                sqlx::query_as("SELECT master_id, email FROM service_user_master WHERE email = $1")
                    .bind(email)
                    .fetch_all(&mut *tx)
                    .await?
            }
        };
        let mut emails: Vec<String> = users.iter().map(|(_, e)| e.clone()).collect();
        let campaign = match subject {
            ErasureSubject::Email { email, campaign_id } => {
                emails.push(email.clone());
                *campaign_id
            }
            ErasureSubject::User(_) => None,
        };
        emails.sort();
        emails.dedup();
        let ids: Vec<Uuid> = users.iter().map(|(id, _)| *id).collect();
        let mut report = ErasureReport::default();
        for id in &ids {
            let done = sqlx::query(
                "UPDATE service_user_master SET email = $2, display_name = $3, locale = NULL,
                     consent_version = NULL, consent_at = NULL
                 WHERE master_id = $1",
            )
            .bind(id)
            .bind(erased_email(*id))
            .bind(ERASED)
            .execute(&mut *tx)
            .await?;
            report.users += DB::rows_affected(&done);
        }
        let blank = Json(serde_json::json!({}));
        // Leads sent with one of the emails, and leads of the users sent
        // with another; first the first touch of the sessions they came
        // from (whose URLs may name the person; the source stays, for counts).
        for email in &emails {
            sqlx::query(
                "UPDATE service_visitor_session SET referrer = NULL, landing_page = NULL,
                     utm_term = NULL, utm_content = NULL
                 WHERE session_id IN (SELECT visitor_id FROM service_quote_main
                                      WHERE email = $1 AND ($2 IS NULL OR campaign_id = $2))",
            )
            .bind(email)
            .bind(campaign)
            .execute(&mut *tx)
            .await?;
            let done = sqlx::query(
                "UPDATE service_quote_main
                 SET name = $3, email = $4, company = NULL, phone = NULL, message = $3,
                     budget = NULL, details = $5, updated_at = $6,
                     consent_version = NULL, consent_at = NULL
                 WHERE email = $1 AND ($2 IS NULL OR campaign_id = $2)",
            )
            .bind(email)
            .bind(campaign)
            .bind(ERASED)
            .bind(ERASED_EMAIL)
            .bind(&blank)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            report.leads += DB::rows_affected(&done);
        }
        for id in &ids {
            let done = sqlx::query(
                "UPDATE service_quote_main
                 SET name = $2, email = $3, company = NULL, phone = NULL, message = $2,
                     budget = NULL, details = $4, updated_at = $5,
                     consent_version = NULL, consent_at = NULL
                 WHERE master_id = $1 AND email <> $3",
            )
            .bind(id)
            .bind(ERASED)
            .bind(ERASED_EMAIL)
            .bind(&blank)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            report.leads += DB::rows_affected(&done);
        }
        // The first touch of the sessions the users joined from, likewise.
        for id in &ids {
            sqlx::query(
                "UPDATE service_visitor_session SET referrer = NULL, landing_page = NULL,
                     utm_term = NULL, utm_content = NULL
                 WHERE session_id IN (SELECT visitor_id FROM service_user_master
                                      WHERE master_id = $1)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        // Outbox payloads that are about the person: undelivered ones, and
        // delivered ones too, which the back-office feed still serves until
        // retention removes them.
        let pending: Vec<(i64, Json<serde_json::Value>)> =
            sqlx::query_as("SELECT id, payload FROM service_event_outbox")
                .fetch_all(&mut *tx)
                .await?;
        for (id, Json(mut payload)) in pending {
            if !concerns(&payload, &emails, &ids) {
                continue;
            }
            scrub(&mut payload);
            sqlx::query("UPDATE service_event_outbox SET payload = $2 WHERE id = $1")
                .bind(id)
                .bind(Json(&payload))
                .execute(&mut *tx)
                .await?;
            report.outbox_entries += 1;
        }
        sqlx::query(
            "INSERT INTO service_erasure_log (subject_hash, users, quotes, outbox, erased_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(subject.hash())
        .bind(i64::try_from(report.users).unwrap_or(i64::MAX))
        .bind(i64::try_from(report.leads).unwrap_or(i64::MAX))
        .bind(i64::try_from(report.outbox_entries).unwrap_or(i64::MAX))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(report)
    }
}
