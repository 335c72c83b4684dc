//! What the campaign team reads back: participants, referrals and leads in
//! keyset pages, the leaderboard, the funnel per source, counts per hour (and
//! the minute samples of visitors those read).
//!
//! A few texts here are put together at run time, always from the fixed
//! pieces in this file (a sort order, a table name, the dialect's hour
//! expression), never from input: every value is a bound parameter
//! (`AssertSqlSafe` says so to sqlx).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::{AssertSqlSafe, Executor, FromRow};
use uuid::Uuid;

use super::{Dialect, Param, SqlStore};
use crate::model::attribution::{Attribution, UNKNOWN};
use crate::model::lead::{Lead, LeadStatus};
use crate::model::report::{
    FunnelRow, HourCounts, Participant, ParticipantFilter, ParticipantSort, Position, Referral,
    ReferralFilter, Standing,
};
use crate::store::rows::{LeadAttributionRow, ParticipantRow, ReferralRow};
use crate::store::{ReportStore, StoreError};

/// The first-touch columns of the visitor session `s`.
const SESSION_COLUMNS: &str = "s.utm_source, s.utm_medium, s.utm_campaign, s.utm_term, \
     s.utm_content, s.referrer, s.landing_page";

/// Participants with their referral count and first touch; filtered by
/// `$2`–`$5`, after the position `$6`–`$8` when `after` (the clause is left
/// out of a first page, so that a page is an index range scan of the
/// campaign's users by join time, not a scan from the start), at most `$9`.
/// A count is read per listed user from the referrals' index, never
/// aggregated over the campaign. (Sorted by count, every page sorts all the
/// campaign's users.)
fn participants_sql(sort: ParticipantSort, after: bool) -> String {
    let (inner_after, outer_after, order) = match sort {
        ParticipantSort::JoinedAsc => (
            "AND (u.created_at, u.master_id) > ($7, $8)",
            "",
            "p.created_at, p.master_id",
        ),
        ParticipantSort::JoinedDesc => (
            "AND (u.created_at, u.master_id) < ($7, $8)",
            "",
            "p.created_at DESC, p.master_id DESC",
        ),
        ParticipantSort::ReferralsDesc => (
            "",
            "AND (p.referral_count < $6 OR (p.referral_count = $6 AND (p.created_at, p.master_id) > ($7, $8)))",
            "p.referral_count DESC, p.created_at, p.master_id",
        ),
    };
    let (inner_after, outer_after) = if after {
        (inner_after, outer_after)
    } else {
        ("", "")
    };
    format!(
        "SELECT * FROM (
             SELECT u.*, {SESSION_COLUMNS},
                    (SELECT COUNT(*) FROM service_referral_counted r
                     WHERE r.campaign_id = u.campaign_id AND r.referrer_id = u.master_id)
                        AS referral_count
             FROM service_user_master u
             LEFT JOIN service_visitor_session s ON s.session_id = u.visitor_id
             WHERE u.campaign_id = $1
               AND ($2 IS NULL OR u.created_at >= $2)
               AND ($3 IS NULL OR u.created_at < $3)
               AND ($5 IS NULL OR u.email LIKE $5 ESCAPE '\\' OR LOWER(u.display_name) LIKE $5 ESCAPE '\\')
               {inner_after}
         ) p
         WHERE ($4 IS NULL OR (p.referral_count > 0) = $4)
           {outer_after}
         ORDER BY {order}
         LIMIT $9"
    )
}

/// `prefix%` for `LIKE`, its wildcards escaped.
fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

fn uuid_position(after: Option<&Position>) -> Result<Option<Uuid>, StoreError> {
    after
        .map(|p| Uuid::parse_str(&p.id).map_err(|_| StoreError::Corrupt("position id".into())))
        .transpose()
}

#[async_trait]
impl<DB: Dialect> ReportStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: Param<DB>,
    for<'a> &'a str: Param<DB>,
    Option<i64>: Param<DB>,
    Option<bool>: Param<DB>,
    Option<String>: Param<DB>,
    Option<&'static str>: Param<DB>,
    Option<Uuid>: Param<DB>,
    DateTime<Utc>: Param<DB>,
    Option<DateTime<Utc>>: Param<DB>,
    ParticipantRow: for<'r> FromRow<'r, DB::Row>,
    LeadAttributionRow: for<'r> FromRow<'r, DB::Row>,
    ReferralRow: for<'r> FromRow<'r, DB::Row>,
    Standing: for<'r> FromRow<'r, DB::Row>,
    (String, i64): for<'r> FromRow<'r, DB::Row>,
{
    async fn participants(
        &self,
        campaign_id: i64,
        filter: &ParticipantFilter,
        sort: ParticipantSort,
        after: Option<&Position>,
        limit: u32,
    ) -> Result<Vec<Participant>, StoreError> {
        let position = uuid_position(after)?;
        let rows: Vec<ParticipantRow> = self
            .read(async |db| {
                sqlx::query_as(AssertSqlSafe(participants_sql(sort, after.is_some())))
                    .bind(campaign_id)
                    .bind(filter.joined_since)
                    .bind(filter.joined_until)
                    .bind(filter.has_referrals)
                    .bind(filter.search.as_deref().map(like_prefix))
                    .bind(after.and_then(|p| p.count))
                    .bind(after.map(|p| p.at))
                    .bind(position)
                    .bind(i64::from(limit))
                    .fetch_all(db)
                    .await
            })
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn referrals(
        &self,
        campaign_id: i64,
        filter: &ReferralFilter,
        after: Option<&Position>,
        limit: u32,
    ) -> Result<Vec<Referral>, StoreError> {
        let after_id = after
            .map(|p| {
                p.id.parse::<i64>()
                    .map_err(|_| StoreError::Corrupt("position id".into()))
            })
            .transpose()?;
        let after_clause = if after.is_some() {
            "AND (r.created_at, r.id) > ($5, $6)"
        } else {
            ""
        };
        let rows: Vec<ReferralRow> = self
            .read(async |db| {
                sqlx::query_as(AssertSqlSafe(format!(
                    "SELECT r.id, r.code, r.created_at, r.status, r.signals,
                            r.reviewed_at, r.reviewed_by,
                            a.master_id AS referrer_id, a.display_name AS referrer_name,
                            a.email AS referrer_email,
                            b.master_id AS referred_id, b.display_name AS referred_name,
                            b.email AS referred_email,
                            (SELECT h.score FROM service_humanity h
                             WHERE h.subject = b.master_id OR h.subject = b.visitor_id
                             ORDER BY h.samples DESC LIMIT 1) AS humanity
                     FROM service_referral_main r
                     JOIN service_user_master a ON a.master_id = r.referrer_id
                     JOIN service_user_master b ON b.master_id = r.referred_id
                     WHERE r.campaign_id = $1
                       AND ($2 IS NULL OR r.created_at >= $2)
                       AND ($3 IS NULL OR r.created_at < $3)
                       AND ($4 IS NULL OR r.referrer_id = $4)
                       AND ($8 IS NULL OR r.status = $8)
                       {after_clause}
                     ORDER BY r.created_at, r.id
                     LIMIT $7"
                )))
                .bind(campaign_id)
                .bind(filter.since)
                .bind(filter.until)
                .bind(filter.referrer)
                .bind(after.map(|p| p.at))
                .bind(after_id)
                .bind(i64::from(limit))
                .bind(filter.status.map(|s| s.as_str()))
                .fetch_all(db)
                .await
            })
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn leads_with_attribution(
        &self,
        campaign_id: i64,
        status: Option<LeadStatus>,
        after: Option<&Position>,
        limit: u32,
    ) -> Result<Vec<(Lead, Attribution)>, StoreError> {
        let after_clause = if after.is_some() {
            "AND (q.created_at, q.id) > ($3, $4)"
        } else {
            ""
        };
        let position = uuid_position(after)?;
        let rows: Vec<LeadAttributionRow> = self
            .read(async |db| {
                sqlx::query_as(AssertSqlSafe(format!(
                    "SELECT q.*, {SESSION_COLUMNS}
                     FROM service_quote_main q
                     LEFT JOIN service_visitor_session s ON s.session_id = q.visitor_id
                     WHERE q.campaign_id = $1
                       AND ($2 IS NULL OR q.status = $2)
                       {after_clause}
                     ORDER BY q.created_at, q.id
                     LIMIT $5"
                )))
                .bind(campaign_id)
                .bind(status.map(LeadStatus::as_str))
                .bind(after.map(|p| p.at))
                .bind(position)
                .bind(i64::from(limit))
                .fetch_all(db)
                .await
            })
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn leaderboard(&self, campaign_id: i64, limit: u32) -> Result<Vec<Standing>, StoreError> {
        let rows: Vec<Standing> = self
            .read(async |db| {
                sqlx::query_as(
                    "SELECT u.display_name, COUNT(*) AS count
                     FROM service_referral_counted r
                     JOIN service_user_master u ON u.master_id = r.referrer_id
                     WHERE r.campaign_id = $1
                     GROUP BY u.master_id, u.display_name
                     ORDER BY COUNT(*) DESC, MAX(r.created_at), u.master_id
                     LIMIT $2",
                )
                .bind(campaign_id)
                .bind(i64::from(limit))
                .fetch_all(db)
                .await
            })
            .await?;
        Ok(rows)
    }

    async fn funnel(
        &self,
        campaign_id: i64,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<FunnelRow>, StoreError> {
        // Joins count once verified, as everywhere.
        let of = |table: &str, alias: &str, counted: &str| {
            format!(
                "SELECT COALESCE(s.source, $4) AS source, COUNT(*) AS n
                 FROM {table} {alias}
                 LEFT JOIN service_visitor_session s ON s.session_id = {alias}.visitor_id
                 WHERE {alias}.campaign_id = $1 AND {alias}.created_at >= $2
                   AND {alias}.created_at < $3 {counted}
                 GROUP BY COALESCE(s.source, $4)"
            )
        };
        let queries = [
            "SELECT COALESCE(source, $4) AS source, COUNT(*) AS n FROM service_visitor_session
             WHERE campaign_id = $1 AND created_at >= $2 AND created_at < $3
             GROUP BY COALESCE(source, $4)"
                .to_owned(),
            of("service_user_master", "u", "AND u.verified_at IS NOT NULL"),
            of("service_quote_main", "q", ""),
        ];
        let mut counts = Vec::with_capacity(queries.len());
        for sql in &queries {
            let list: Vec<(String, i64)> = self
                .read(async |db| {
                    sqlx::query_as(AssertSqlSafe(sql.as_str()))
                        .bind(campaign_id)
                        .bind(since)
                        .bind(until)
                        .bind(UNKNOWN)
                        .fetch_all(db)
                        .await
                })
                .await?;
            counts.push(list);
        }
        let [visitors, joins, leads]: [Vec<(String, i64)>; 3] = counts
            .try_into()
            .map_err(|_| StoreError::Corrupt("funnel".into()))?;
        let mut rows: BTreeMap<String, FunnelRow> = BTreeMap::new();
        let mut add = |list: Vec<(String, i64)>, field: fn(&mut FunnelRow) -> &mut i64| {
            for (source, n) in list {
                let row = rows.entry(source.clone()).or_insert_with(|| FunnelRow {
                    source,
                    ..FunnelRow::default()
                });
                *field(row) += n;
            }
        };
        add(visitors, |r| &mut r.visitors);
        add(joins, |r| &mut r.joins);
        add(leads, |r| &mut r.leads);
        let mut rows: Vec<FunnelRow> = rows.into_values().collect();
        rows.sort_by(|a, b| b.visitors.cmp(&a.visitors).then(a.source.cmp(&b.source)));
        Ok(rows)
    }

    async fn hourly(
        &self,
        campaign_id: i64,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<HourCounts>, StoreError> {
        let mut hours: BTreeMap<DateTime<Utc>, HourCounts> = BTreeMap::new();
        for (table, at, value, field) in [
            (
                "service_user_master",
                "created_at",
                "COUNT(*)",
                (|h: &mut HourCounts| &mut h.joins) as fn(&mut HourCounts) -> &mut i64,
            ),
            ("service_quote_main", "created_at", "COUNT(*)", |h| {
                &mut h.leads
            }),
            ("service_referral_counted", "created_at", "COUNT(*)", |h| {
                &mut h.referrals
            }),
            ("service_visitor_sample", "minute", "MAX(active)", |h| {
                &mut h.visitors
            }),
        ] {
            let sql = format!(
                "SELECT {hour} AS hour, {value} AS n FROM {table}
                 WHERE campaign_id = $1 AND {at} >= $2 AND {at} < $3
                 GROUP BY {hour}",
                hour = DB::hour_of(at),
            );
            let counts: Vec<(String, i64)> = self
                .read(async |db| {
                    sqlx::query_as(AssertSqlSafe(sql))
                        .bind(campaign_id)
                        .bind(since)
                        .bind(until)
                        .fetch_all(db)
                        .await
                })
                .await?;
            for (hour, n) in counts {
                let at = parse_hour(&hour)?;
                let entry = hours.entry(at).or_insert_with(|| HourCounts {
                    hour: at,
                    ..HourCounts::default()
                });
                *field(entry) += n;
            }
        }
        Ok(hours.into_values().collect())
    }

    async fn record_visitors(
        &self,
        minute: DateTime<Utc>,
        samples: &[(i64, i64)],
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO service_visitor_sample (campaign_id, minute, active) VALUES ($1, $2, $3)
             ON CONFLICT (campaign_id, minute) DO UPDATE SET active = {}",
            DB::greatest("service_visitor_sample.active", "excluded.active")
        );
        for &(campaign_id, active) in samples {
            self.write(async |db| {
                sqlx::query(AssertSqlSafe(sql.clone()))
                    .bind(campaign_id)
                    .bind(minute)
                    .bind(active)
                    .execute(db)
                    .await
            })
            .await?;
        }
        Ok(())
    }

    async fn prune_visitor_samples(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = self
            .write(async |db| {
                sqlx::query("DELETE FROM service_visitor_sample WHERE minute < $1")
                    .bind(before)
                    .execute(db)
                    .await
            })
            .await?;
        Ok(DB::rows_affected(&done))
    }

    async fn prune_visitor_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = self
            .write(async |db| {
                sqlx::query(
                    "DELETE FROM service_visitor_session
                     WHERE created_at < $1
                       AND session_id NOT IN (SELECT visitor_id FROM service_user_master
                                              WHERE visitor_id IS NOT NULL)
                       AND session_id NOT IN (SELECT visitor_id FROM service_quote_main
                                              WHERE visitor_id IS NOT NULL)",
                )
                .bind(before)
                .execute(db)
                .await
            })
            .await?;
        Ok(DB::rows_affected(&done))
    }
}

/// An hour as [`Dialect::hour_of`] names it: `2026-11-25T14`.
fn parse_hour(hour: &str) -> Result<DateTime<Utc>, StoreError> {
    NaiveDateTime::parse_from_str(
        &format!("{}:00:00", hour.replace(' ', "T")),
        "%Y-%m-%dT%H:%M:%S",
    )
    .map(|naive| naive.and_utc())
    .map_err(|_| StoreError::Corrupt(format!("hour {hour:?}")))
}
