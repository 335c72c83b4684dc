//! CSV exports, streamed a page at a time: whether a request asks for one,
//! its cells (a cell a spreadsheet would run as a formula is defused), and
//! the streaming itself. The participants, referrals, leads and audit log
//! exports are each an [`Export`] of their own rows.

use chrono::{DateTime, Utc};
use salvo::http::header::{self, HeaderValue};
use salvo::prelude::*;

use super::ApiError;
use crate::model::attribution::Attribution;
use crate::model::report::Position;
use crate::store::StoreError;

/// Rows one page of an export reads.
pub(super) const EXPORT_PAGE: u32 = 500;

/// Whether the request asks for CSV (`?format=csv`, or `Accept: text/csv`
/// without `?format=json`); 422 for another `format`.
pub(super) fn wants_csv(req: &Request) -> Result<bool, ApiError> {
    match req.query::<String>("format").as_deref() {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(_) => Err(ApiError::invalid_field("format", "must be json or csv")),
        None => Ok(req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| {
                accept.split(',').any(|part| {
                    part.split(';')
                        .next()
                        .is_some_and(|m| m.trim() == "text/csv")
                })
            })),
    }
}

/// A text cell that a spreadsheet would run as a formula (`=`, `+`, `-`,
/// `@`, tab, carriage return first) gets a leading `'`, as OWASP advises.
pub(super) fn cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

pub(super) fn opt(text: &Option<String>) -> String {
    text.as_deref().map(cell).unwrap_or_default()
}

pub(super) fn time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The attribution columns every export ends with.
pub(super) const ATTRIBUTION_HEADER: [&str; 7] = [
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "referrer",
    "landing_page",
];

pub(super) fn attribution_cells(a: &Attribution) -> [String; 7] {
    [
        opt(&a.utm_source),
        opt(&a.utm_medium),
        opt(&a.utm_campaign),
        opt(&a.utm_term),
        opt(&a.utm_content),
        opt(&a.referrer),
        opt(&a.landing_page),
    ]
}

/// One page of a list: its rows, after a position.
pub(super) type PageFuture<T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<T>, StoreError>> + Send>>;

/// How an export reads and writes its rows.
pub(super) struct Export<T> {
    /// The file name offered (`participants-<slug>.csv`).
    pub(super) filename: String,
    /// The header row.
    pub(super) header: Vec<&'static str>,
    /// A page of at most so many rows after a position.
    pub(super) page: Box<dyn FnMut(Option<Position>, u32) -> PageFuture<T> + Send>,
    /// Where a row stands, to continue after it.
    pub(super) position: fn(&T) -> Position,
    /// A row's cells.
    pub(super) cells: fn(&T) -> Vec<String>,
}

/// Answers with `export` as CSV (the rows after `after`, or all), streamed a
/// page at a time. A failure after the first byte ends the stream early
/// (logged); before it, it is the answer.
pub(super) async fn stream_csv<T: Send + 'static>(
    res: &mut Response,
    mut export: Export<T>,
    after: Option<Position>,
) -> Result<(), ApiError> {
    // The first page is read before answering, so that a failing database
    // is a 503 rather than an empty file.
    let first = (export.page)(after, EXPORT_PAGE).await?;
    let header = csv_bytes(std::iter::once(
        export.header.iter().map(|h| (*h).to_owned()).collect(),
    ));
    let filename = export.filename.clone();
    let stream = futures::stream::unfold(
        (Some(header), Some(first), export),
        |(header, pending, mut export)| async move {
            if let Some(header) = header {
                return Some((Ok(header), (None, pending, export)));
            }
            let rows = match pending {
                Some(rows) => rows,
                None => return None,
            };
            if rows.is_empty() {
                return None;
            }
            let bytes = csv_bytes(rows.iter().map(export.cells));
            let next = if rows.len() < EXPORT_PAGE as usize {
                None
            } else {
                let after = rows.last().map(export.position);
                match (export.page)(after, EXPORT_PAGE).await {
                    Ok(rows) => Some(rows),
                    Err(e) => {
                        tracing::warn!(error = %e, "export cut short");
                        return Some((
                            Err(std::io::Error::other(
                                "the export could not be read to its end",
                            )),
                            (None, None, export),
                        ));
                    }
                }
            };
            Some((Ok(bytes), (None, next, export)))
        },
    );
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    res.stream(stream);
    Ok(())
}

fn csv_bytes(rows: impl Iterator<Item = Vec<String>>) -> bytes::Bytes {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        // Writing to memory cannot fail.
        let _ = writer.write_record(&row);
    }
    bytes::Bytes::from(writer.into_inner().unwrap_or_default())
}
