//! Queries whose SQL text is the same on both databases.
//!
//! Both sqlx drivers bind `$1`-style numbered parameters, both databases speak
//! `RETURNING` and `ON CONFLICT`, and UUIDs, JSON and timestamps encode through
//! the same Rust types, so one text serves both. [`shared_store_impl!`] writes
//! the [`Store`](super::Store) implementation for a store type with `pool` and
//! `writer` fields; what really differs per database is passed in as extra methods.

/// Implements [`Store`](super::Store) for `$store` (which has a `pool` field
/// for reads, a `writer` field for statements that write outside a
/// transaction and a `leads` [`LeadWriter`](super::leads::LeadWriter)): the
/// shared queries plus the backend-specific `$extra` methods.
macro_rules! shared_store_impl {
    ($store:ty, $db:ty, $backend:expr, { $($extra:tt)* }) => {
        impl $store {
            /// Tells whoever delivers the outbox that entries were committed:
            /// the one place the store signals it, after every commit that
            /// wrote (or put back) outbox rows.
            fn outbox_committed(&self, written: bool) {
                if written {
                    self.outbox_written.notify_one();
                }
            }

            /// Inserts the referral row and returns the referrer's new count. Runs
            /// inside a transaction that holds the referrer's lock.
            async fn credit_referral(
                tx: &mut sqlx::Transaction<'static, $db>,
                referrer: &$crate::model::user::User,
                referred: &$crate::model::user::User,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<$crate::model::user::ReferralCredit, $crate::store::StoreError> {
                sqlx::query(
                    "INSERT INTO service_referral_main
                         (campaign_id, referrer_id, referred_id, code, created_at)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(referrer.campaign_id)
                .bind(referrer.master_id)
                .bind(referred.master_id)
                .bind(&referrer.referral_code)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                let (count,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM service_referral_main
                     WHERE campaign_id = $1 AND referrer_id = $2",
                )
                .bind(referrer.campaign_id)
                .bind(referrer.master_id)
                .fetch_one(&mut **tx)
                .await?;
                Ok($crate::model::user::ReferralCredit {
                    referrer: referrer.clone(),
                    count,
                })
            }

            /// Writes one outbox row per message and target.
            async fn insert_outbox(
                tx: &mut sqlx::Transaction<'static, $db>,
                outbox: &[$crate::model::outbox::NewOutbox],
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::store::StoreError> {
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
        }

        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            fn backend(&self) -> $crate::store::Backend {
                $backend
            }

            async fn ping(&self) -> Result<(), $crate::store::StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn insert_campaign(
                &self,
                spec: &$crate::model::campaign::NewCampaign,
            ) -> Result<$crate::model::campaign::Campaign, $crate::store::StoreError> {
                let row: $crate::store::CampaignRow = sqlx::query_as(
                    "INSERT INTO service_campaign_main
                         (slug, name, status, starts_at, ends_at, config, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
                     RETURNING id, slug, name, status, starts_at, ends_at, config,
                               created_at, updated_at",
                )
                .bind(&spec.slug)
                .bind(&spec.name)
                .bind(spec.status.as_str())
                .bind(spec.starts_at)
                .bind(spec.ends_at)
                .bind(sqlx::types::Json(&spec.config))
                .bind(chrono::Utc::now())
                .fetch_one(&self.writer)
                .await?;
                row.try_into()
            }

            async fn campaign_by_slug(
                &self,
                slug: &str,
            ) -> Result<Option<$crate::model::campaign::Campaign>, $crate::store::StoreError> {
                let row: Option<$crate::store::CampaignRow> = sqlx::query_as(
                    "SELECT id, slug, name, status, starts_at, ends_at, config,
                            created_at, updated_at
                     FROM service_campaign_main WHERE slug = $1",
                )
                .bind(slug)
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::model::campaign::Campaign::try_from).transpose()
            }

            async fn campaign_file_hash(
                &self,
                slug: &str,
            ) -> Result<Option<String>, $crate::store::StoreError> {
                let hash: Option<(String,)> =
                    sqlx::query_as("SELECT hash FROM service_campaign_file WHERE slug = $1")
                        .bind(slug)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(hash.map(|(hash,)| hash))
            }

            async fn record_campaign_file(
                &self,
                slug: &str,
                hash: &str,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "INSERT INTO service_campaign_file (slug, hash, applied_at) VALUES ($1, $2, $3)
                     ON CONFLICT (slug) DO UPDATE SET hash = excluded.hash,
                                                      applied_at = excluded.applied_at",
                )
                .bind(slug)
                .bind(hash)
                .bind(chrono::Utc::now())
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn campaign_by_id(
                &self,
                id: i64,
            ) -> Result<Option<$crate::model::campaign::Campaign>, $crate::store::StoreError> {
                let row: Option<$crate::store::CampaignRow> = sqlx::query_as(
                    "SELECT id, slug, name, status, starts_at, ends_at, config,
                            created_at, updated_at
                     FROM service_campaign_main WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::model::campaign::Campaign::try_from).transpose()
            }

            async fn update_campaign(
                &self,
                campaign: &$crate::model::campaign::Campaign,
            ) -> Result<$crate::model::campaign::Campaign, $crate::store::StoreError> {
                let row: Option<$crate::store::CampaignRow> = sqlx::query_as(
                    "UPDATE service_campaign_main
                     SET name = $2, status = $3, starts_at = $4, ends_at = $5, config = $6,
                         updated_at = $7
                     WHERE id = $1
                     RETURNING id, slug, name, status, starts_at, ends_at, config,
                               created_at, updated_at",
                )
                .bind(campaign.id)
                .bind(&campaign.name)
                .bind(campaign.status.as_str())
                .bind(campaign.starts_at)
                .bind(campaign.ends_at)
                .bind(sqlx::types::Json(&campaign.config))
                .bind(chrono::Utc::now())
                .fetch_optional(&self.writer)
                .await?;
                row.ok_or($crate::store::StoreError::NotFound)?.try_into()
            }

            async fn list_campaigns(
                &self,
                page: $crate::store::Page,
            ) -> Result<Vec<$crate::model::campaign::Campaign>, $crate::store::StoreError> {
                let rows: Vec<$crate::store::CampaignRow> = sqlx::query_as(
                    "SELECT id, slug, name, status, starts_at, ends_at, config,
                            created_at, updated_at
                     FROM service_campaign_main ORDER BY id LIMIT $1 OFFSET $2",
                )
                .bind(i64::from(page.limit))
                .bind(i64::from(page.offset))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::model::campaign::Campaign::try_from).collect()
            }

            async fn campaign_counts(
                &self,
                campaign_id: i64,
            ) -> Result<$crate::store::CampaignCounts, $crate::store::StoreError> {
                let (users, leads, referrals): (i64, i64, i64) = sqlx::query_as(
                    "SELECT
                         (SELECT COUNT(*) FROM service_user_master WHERE campaign_id = $1),
                         (SELECT COUNT(*) FROM service_quote_main WHERE campaign_id = $1),
                         (SELECT COUNT(*) FROM service_referral_main WHERE campaign_id = $1)",
                )
                .bind(campaign_id)
                .fetch_one(&self.pool)
                .await?;
                Ok($crate::store::CampaignCounts { users, leads, referrals })
            }

            async fn user_by_referral_code(
                &self,
                campaign_id: i64,
                code: &str,
            ) -> Result<Option<$crate::model::user::User>, $crate::store::StoreError> {
                let row: Option<$crate::store::UserRow> = sqlx::query_as(concat!(
                    "SELECT ", user_columns!(), " FROM service_user_master
                     WHERE campaign_id = $1 AND referral_code = $2"
                ))
                .bind(campaign_id)
                .bind(code)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn user_by_id(
                &self,
                master_id: uuid::Uuid,
            ) -> Result<Option<$crate::model::user::User>, $crate::store::StoreError> {
                let row: Option<$crate::store::UserRow> = sqlx::query_as(concat!(
                    "SELECT ", user_columns!(), " FROM service_user_master WHERE master_id = $1"
                ))
                .bind(master_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn register_user(
                &self,
                user: &$crate::model::user::User,
                referrer: Option<&$crate::model::user::User>,
                outbox: &[$crate::model::outbox::NewOutbox],
            ) -> Result<Option<$crate::model::user::ReferralCredit>, $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                if let Some(referrer) = referrer {
                    sqlx::query(Self::LOCK_USER).bind(referrer.master_id).execute(&mut *tx).await?;
                }
                sqlx::query(
                    "INSERT INTO service_user_master
                         (master_id, campaign_id, email, display_name, locale, referral_code,
                          referred_by, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(user.master_id)
                .bind(user.campaign_id)
                .bind(&user.email)
                .bind(&user.display_name)
                .bind(&user.locale)
                .bind(&user.referral_code)
                .bind(user.referred_by)
                .bind(user.created_at)
                .execute(&mut *tx)
                .await?;
                let credit = match referrer {
                    Some(referrer) => {
                        Some(Self::credit_referral(&mut tx, referrer, user, user.created_at).await?)
                    }
                    None => None,
                };
                Self::insert_outbox(&mut tx, outbox, user.created_at).await?;
                tx.commit().await?;
                self.outbox_committed(!outbox.is_empty());
                Ok(credit)
            }

            async fn record_referral(
                &self,
                referrer: &$crate::model::user::User,
                referred: &$crate::model::user::User,
                outbox: &[$crate::model::outbox::NewOutbox],
            ) -> Result<$crate::model::user::ReferralCredit, $crate::store::StoreError> {
                let now = chrono::Utc::now();
                let mut tx = self.begin_write().await?;
                sqlx::query(Self::LOCK_USER).bind(referrer.master_id).execute(&mut *tx).await?;
                let credit = Self::credit_referral(&mut tx, referrer, referred, now).await?;
                sqlx::query(
                    "UPDATE service_user_master SET referred_by = $2
                     WHERE master_id = $1 AND referred_by IS NULL",
                )
                .bind(referred.master_id)
                .bind(referrer.master_id)
                .execute(&mut *tx)
                .await?;
                Self::insert_outbox(&mut tx, outbox, now).await?;
                tx.commit().await?;
                self.outbox_committed(!outbox.is_empty());
                Ok(credit)
            }

            async fn insert_quote(
                &self,
                quote: &$crate::model::quote::Quote,
                outbox: &[$crate::model::outbox::NewOutbox],
            ) -> Result<($crate::model::quote::Quote, bool), $crate::store::StoreError> {
                if let Some(row) = self.leads.insert(quote, outbox).await? {
                    self.outbox_committed(!outbox.is_empty());
                    return Ok((row.try_into()?, true));
                }
                // The key was used before: that request's quote (committed, as
                // the insert waited for any writer of the same key).
                let existing: $crate::store::QuoteRow = sqlx::query_as(concat!(
                    "SELECT ", quote_columns!(), " FROM service_quote_main
                     WHERE campaign_id = $1 AND idempotency_key = $2"
                ))
                .bind(quote.campaign_id)
                .bind(&quote.idempotency_key)
                .fetch_one(&self.writer)
                .await?;
                Ok((existing.try_into()?, false))
            }

            async fn quote_by_id(
                &self,
                id: uuid::Uuid,
            ) -> Result<Option<$crate::model::quote::Quote>, $crate::store::StoreError> {
                let row: Option<$crate::store::QuoteRow> = sqlx::query_as(concat!(
                    "SELECT ", quote_columns!(), " FROM service_quote_main WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn list_quotes(
                &self,
                campaign_id: i64,
                status: Option<$crate::model::quote::QuoteStatus>,
                page: $crate::store::Page,
            ) -> Result<Vec<$crate::model::quote::Quote>, $crate::store::StoreError> {
                let rows: Vec<$crate::store::QuoteRow> = sqlx::query_as(concat!(
                    "SELECT ", quote_columns!(), " FROM service_quote_main
                     WHERE campaign_id = $1 AND ($2 IS NULL OR status = $2)
                     ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
                ))
                .bind(campaign_id)
                .bind(status.map(|s| s.as_str()))
                .bind(i64::from(page.limit))
                .bind(i64::from(page.offset))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn set_quote_status(
                &self,
                id: uuid::Uuid,
                from: $crate::model::quote::QuoteStatus,
                to: $crate::model::quote::QuoteStatus,
                outbox: &[$crate::model::outbox::NewOutbox],
            ) -> Result<Option<$crate::model::quote::Quote>, $crate::store::StoreError> {
                let now = chrono::Utc::now();
                let mut tx = self.begin_write().await?;
                let row: Option<$crate::store::QuoteRow> = sqlx::query_as(concat!(
                    "UPDATE service_quote_main SET status = $3, updated_at = $4
                     WHERE id = $1 AND status = $2
                     RETURNING ", quote_columns!()
                ))
                .bind(id)
                .bind(from.as_str())
                .bind(to.as_str())
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                Self::insert_outbox(&mut tx, outbox, now).await?;
                tx.commit().await?;
                self.outbox_committed(!outbox.is_empty());
                Ok(Some(row.try_into()?))
            }

            async fn due_outbox(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                with_default_target: bool,
                limit: u32,
            ) -> Result<Vec<$crate::model::outbox::OutboxEntry>, $crate::store::StoreError> {
                // Two texts, so that each can use its partial index: without a
                // default target, entries without their own wait unread.
                let query = if with_default_target {
                    concat!(
                        "SELECT ", outbox_columns!(), "
                         FROM service_event_outbox o
                         LEFT JOIN service_campaign_main c ON c.id = o.campaign_id
                         WHERE o.delivered_at IS NULL AND o.dead_at IS NULL
                           AND o.next_attempt_at <= $1
                         ORDER BY o.next_attempt_at, o.id LIMIT $2"
                    )
                } else {
                    concat!(
                        "SELECT ", outbox_columns!(), "
                         FROM service_event_outbox o
                         LEFT JOIN service_campaign_main c ON c.id = o.campaign_id
                         WHERE o.delivered_at IS NULL AND o.dead_at IS NULL
                           AND o.target_url IS NOT NULL
                           AND o.next_attempt_at <= $1
                         ORDER BY o.next_attempt_at, o.id LIMIT $2"
                    )
                };
                let rows: Vec<$crate::store::OutboxRow> = sqlx::query_as(query)
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn claim_outbox(
                &self,
                id: i64,
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, $crate::store::StoreError> {
                let done = sqlx::query(
                    "UPDATE service_event_outbox SET next_attempt_at = $3
                     WHERE id = $1 AND next_attempt_at <= $2
                       AND delivered_at IS NULL AND dead_at IS NULL",
                )
                .bind(id)
                .bind(now)
                .bind(lease_until)
                .execute(&self.writer)
                .await?;
                let redriven = done.rows_affected() == 1;
                self.outbox_committed(redriven);
                Ok(redriven)
            }

            async fn outbox_delivered(
                &self,
                id: i64,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "UPDATE service_event_outbox
                     SET delivered_at = $2, attempts = attempts + 1, last_error = NULL
                     WHERE id = $1",
                )
                .bind(id)
                .bind(at)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn outbox_failed(
                &self,
                id: i64,
                attempts: i32,
                error: &str,
                retry_at: Option<chrono::DateTime<chrono::Utc>>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "UPDATE service_event_outbox
                     SET attempts = $2, last_error = $3,
                         next_attempt_at = COALESCE($4, next_attempt_at),
                         dead_at = CASE WHEN $4 IS NULL THEN $5 ELSE NULL END
                     WHERE id = $1",
                )
                .bind(id)
                .bind(attempts)
                .bind(error)
                .bind(retry_at)
                .bind(now)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn list_outbox(
                &self,
                state: $crate::model::outbox::OutboxState,
                campaign_id: Option<i64>,
                page: $crate::store::Page,
            ) -> Result<Vec<$crate::model::outbox::OutboxEntry>, $crate::store::StoreError> {
                let rows: Vec<$crate::store::OutboxRow> = sqlx::query_as(concat!(
                    "SELECT ", outbox_columns!(), "
                     FROM service_event_outbox o
                     LEFT JOIN service_campaign_main c ON c.id = o.campaign_id
                     WHERE ($1 = 'all'
                            OR ($1 = 'pending' AND o.delivered_at IS NULL AND o.dead_at IS NULL)
                            OR ($1 = 'delivered' AND o.delivered_at IS NOT NULL)
                            OR ($1 = 'dead' AND o.dead_at IS NOT NULL))
                       AND ($2 IS NULL OR o.campaign_id = $2)
                     ORDER BY o.id DESC LIMIT $3 OFFSET $4"
                ))
                .bind(state.as_str())
                .bind(campaign_id)
                .bind(i64::from(page.limit))
                .bind(i64::from(page.offset))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn redrive_outbox(
                &self,
                id: i64,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, $crate::store::StoreError> {
                let done = sqlx::query(
                    "UPDATE service_event_outbox
                     SET dead_at = NULL, attempts = 0, next_attempt_at = $2
                     WHERE id = $1 AND delivered_at IS NULL",
                )
                .bind(id)
                .bind(now)
                .execute(&self.writer)
                .await?;
                let redriven = done.rows_affected() == 1;
                self.outbox_committed(redriven);
                Ok(redriven)
            }

            async fn prune_outbox(
                &self,
                before: chrono::DateTime<chrono::Utc>,
                untargeted_too: bool,
            ) -> Result<u64, $crate::store::StoreError> {
                let done = sqlx::query(
                    "DELETE FROM service_event_outbox
                     WHERE created_at < $1
                       AND (delivered_at IS NOT NULL
                            OR ($2 AND dead_at IS NULL AND target_url IS NULL))",
                )
                .bind(before)
                .bind(untargeted_too)
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected())
            }

            async fn erase(
                &self,
                subject: &$crate::model::erasure::ErasureSubject,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<$crate::model::erasure::ErasureReport, $crate::store::StoreError> {
                use $crate::model::erasure::{ErasureSubject, ERASED, erased_email, concerns, scrub};
                let mut tx = self.begin_write().await?;
                // Who: the users the subject names, and every email to scrub.
                let users: Vec<(uuid::Uuid, String)> = match subject {
                    ErasureSubject::User(id) => sqlx::query_as(
                        "SELECT master_id, email FROM service_user_master WHERE master_id = $1",
                    )
                    .bind(id)
                    .fetch_all(&mut *tx)
                    .await?,
                    ErasureSubject::Email { email, campaign_id: Some(campaign) } => sqlx::query_as(
                        "SELECT master_id, email FROM service_user_master
                         WHERE email = $1 AND campaign_id = $2",
                    )
                    .bind(email)
                    .bind(campaign)
                    .fetch_all(&mut *tx)
                    .await?,
                    ErasureSubject::Email { email, campaign_id: None } => sqlx::query_as(
                        "SELECT master_id, email FROM service_user_master WHERE email = $1",
                    )
                    .bind(email)
                    .fetch_all(&mut *tx)
                    .await?,
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
                let ids: Vec<uuid::Uuid> = users.iter().map(|(id, _)| *id).collect();
                let mut report = $crate::model::erasure::ErasureReport::default();
                for id in &ids {
                    let done = sqlx::query(
                        "UPDATE service_user_master SET email = $2, display_name = $3, locale = NULL
                         WHERE master_id = $1",
                    )
                    .bind(id)
                    .bind(erased_email(*id))
                    .bind(ERASED)
                    .execute(&mut *tx)
                    .await?;
                    report.users += done.rows_affected();
                }
                let blank = sqlx::types::Json(serde_json::json!({}));
                for email in &emails {
                    let done = sqlx::query(
                        "UPDATE service_quote_main
                         SET name = $3, email = $4, company = NULL, phone = NULL, message = $3,
                             budget = NULL, details = $5, updated_at = $6
                         WHERE email = $1 AND ($2 IS NULL OR campaign_id = $2)",
                    )
                    .bind(email)
                    .bind(campaign)
                    .bind(ERASED)
                    .bind("erased@erased.invalid")
                    .bind(&blank)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    report.quotes += done.rows_affected();
                }
                for id in &ids {
                    let done = sqlx::query(
                        "UPDATE service_quote_main
                         SET name = $2, email = $3, company = NULL, phone = NULL, message = $2,
                             budget = NULL, details = $4, updated_at = $5
                         WHERE master_id = $1 AND email <> $3",
                    )
                    .bind(id)
                    .bind(ERASED)
                    .bind("erased@erased.invalid")
                    .bind(&blank)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    report.quotes += done.rows_affected();
                }
                // Undelivered outbox payloads that are about the person.
                let pending: Vec<(i64, sqlx::types::Json<serde_json::Value>)> = sqlx::query_as(
                    "SELECT id, payload FROM service_event_outbox WHERE delivered_at IS NULL",
                )
                .fetch_all(&mut *tx)
                .await?;
                for (id, sqlx::types::Json(mut payload)) in pending {
                    if !concerns(&payload, &emails, &ids) {
                        continue;
                    }
                    scrub(&mut payload);
                    sqlx::query("UPDATE service_event_outbox SET payload = $2 WHERE id = $1")
                        .bind(id)
                        .bind(sqlx::types::Json(&payload))
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
                .bind(i64::try_from(report.quotes).unwrap_or(i64::MAX))
                .bind(i64::try_from(report.outbox_entries).unwrap_or(i64::MAX))
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(report)
            }

            async fn memory_store(
                &self,
                entries: &[$crate::model::translation::MemoryEntry],
            ) -> Result<(), $crate::store::StoreError> {
                let now = chrono::Utc::now();
                let mut tx = self.begin_write().await?;
                for entry in entries {
                    sqlx::query(
                        "INSERT INTO service_translation_memory
                             (campaign_id, source_lang, target_lang, context_key, source_hash,
                              source_text, translated_text, origin, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
                         ON CONFLICT (campaign_id, source_lang, target_lang, context_key, source_hash)
                         DO UPDATE SET translated_text = excluded.translated_text,
                                       source_text = excluded.source_text,
                                       origin = excluded.origin,
                                       updated_at = excluded.updated_at
                         WHERE service_translation_memory.origin = 'machine'
                            OR excluded.origin = 'override'",
                    )
                    .bind(entry.campaign_id)
                    .bind(&entry.source_lang)
                    .bind(&entry.target_lang)
                    .bind(&entry.context_key)
                    .bind(&entry.source_hash)
                    .bind(&entry.source_text)
                    .bind(&entry.translated_text)
                    .bind(entry.origin.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn memory_lookup(
                &self,
                campaign_id: i64,
                source_lang: &str,
                target_lang: &str,
                context_key: &str,
                hashes: &[String],
            ) -> Result<Vec<$crate::model::translation::MemoryEntry>, $crate::store::StoreError> {
                if hashes.is_empty() {
                    return Ok(Vec::new());
                }
                let rows: Vec<$crate::store::MemoryRow> = sqlx::query_as(Self::MEMORY_LOOKUP)
                    .bind(campaign_id)
                    .bind(source_lang)
                    .bind(target_lang)
                    .bind(context_key)
                    .bind(sqlx::types::Json(hashes))
                    .fetch_all(&self.pool)
                    .await?;
                // Served: marked for eviction order, at most hourly per row, so
                // that serving is a write only now and then.
                let now = chrono::Utc::now();
                let hour = chrono::Duration::hours(1);
                if rows.iter().any(|row| row.stale(now, hour)) {
                    let touched = sqlx::query(Self::MEMORY_TOUCH)
                        .bind(campaign_id)
                        .bind(source_lang)
                        .bind(target_lang)
                        .bind(context_key)
                        .bind(sqlx::types::Json(hashes))
                        .bind(now)
                        .bind(now - hour)
                        .execute(&self.writer)
                        .await;
                    if let Err(e) = touched {
                        tracing::debug!(error = %e, "translation memory not marked as served");
                    }
                }
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn prune_memory(&self, keep: u64) -> Result<u64, $crate::store::StoreError> {
                let (machine,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM service_translation_memory WHERE origin = 'machine'",
                )
                .fetch_one(&self.pool)
                .await?;
                let excess = u64::try_from(machine).unwrap_or(0).saturating_sub(keep);
                if excess == 0 {
                    return Ok(0);
                }
                let done = sqlx::query(
                    "DELETE FROM service_translation_memory WHERE id IN (
                         SELECT id FROM service_translation_memory WHERE origin = 'machine'
                         ORDER BY COALESCE(last_used_at, updated_at), id LIMIT $1)",
                )
                .bind(i64::try_from(excess).unwrap_or(i64::MAX))
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected())
            }

            $($extra)*
        }
    };
}

/// Columns of a [`UserRow`](super::UserRow).
macro_rules! user_columns {
    () => {
        "master_id, campaign_id, email, display_name, locale, referral_code, referred_by, created_at"
    };
}

/// Columns of a [`QuoteRow`](super::QuoteRow).
macro_rules! quote_columns {
    () => {
        "id, campaign_id, master_id, session_id, name, email, company, phone, message, budget,
         details, status, idempotency_key, request_fingerprint, created_at, updated_at"
    };
}

/// Inserts a quote unless its idempotency key was used (`$1`…`$15`, bound
/// by [`bind_quote!`]), returning its row.
macro_rules! quote_insert {
    () => {
        concat!(
            "INSERT INTO service_quote_main
                 (id, campaign_id, master_id, session_id, name, email, company, phone,
                  message, budget, details, status, idempotency_key, request_fingerprint,
                  created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)
             ON CONFLICT (campaign_id, idempotency_key) DO NOTHING
             RETURNING ",
            quote_columns!()
        )
    };
}

/// Binds a quote's fields to a query built on [`quote_insert!`].
macro_rules! bind_quote {
    ($query:expr, $quote:expr) => {
        $query
            .bind($quote.id)
            .bind($quote.campaign_id)
            .bind($quote.master_id)
            .bind($quote.session_id)
            .bind(&$quote.name)
            .bind(&$quote.email)
            .bind(&$quote.company)
            .bind(&$quote.phone)
            .bind(&$quote.message)
            .bind(&$quote.budget)
            .bind(sqlx::types::Json(&$quote.details))
            .bind($quote.status.as_str())
            .bind(&$quote.idempotency_key)
            .bind(&$quote.request_fingerprint)
            .bind($quote.created_at)
    };
}

/// Columns of an [`OutboxRow`](super::OutboxRow), from `service_event_outbox o`
/// joined with `service_campaign_main c`.
macro_rules! outbox_columns {
    () => {
        "o.id, o.campaign_id, c.slug AS campaign_slug, o.event_type, o.target_url, o.payload,
         o.attempts, o.next_attempt_at, o.delivered_at, o.dead_at, o.last_error, o.created_at"
    };
}

pub(crate) use {
    bind_quote, outbox_columns, quote_columns, quote_insert, shared_store_impl, user_columns,
};
