//! Where a visitor came from (the first touch of a session: UTM parameters,
//! referrer, landing page) and the consent a person gave on a form.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::campaign::ValidationError;

/// Longest UTM value accepted, in characters.
pub(crate) const MAX_UTM_CHARS: usize = 200;
/// Longest referrer or landing page URL accepted, in characters.
pub(crate) const MAX_URL_CHARS: usize = 2000;

/// A visitor session's first touch (POST /api/session), as its page
/// reported it; all null when unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, salvo_oapi::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // fields named for the UTM parameters they hold
pub struct Attribution {
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_term: Option<String>,
    pub utm_content: Option<String>,
    /// The page that linked to the landing page (`document.referrer`).
    pub referrer: Option<String>,
    /// The page the visitor landed on (`location.href`).
    pub landing_page: Option<String>,
}

impl Attribution {
    /// The source a funnel groups by: `utm_source`, else the referrer's
    /// host, else `(direct)`.
    pub fn source(&self) -> String {
        if let Some(source) = &self.utm_source {
            return source.clone();
        }
        self.referrer
            .as_deref()
            .and_then(|r| url::Url::parse(r).ok())
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| DIRECT.to_owned())
    }

    /// Whether nothing is known.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Checks what a page reported, field by field (the error names the
    /// field): URLs absolute `http(s)`, texts without control or invisible
    /// characters, each within its limit; blank means absent. UTM parameters
    /// not given are read from the landing page's query string.
    pub fn checked(mut self) -> Result<Self, ValidationError> {
        for (field, value) in [
            ("utm_source", &mut self.utm_source),
            ("utm_medium", &mut self.utm_medium),
            ("utm_campaign", &mut self.utm_campaign),
            ("utm_term", &mut self.utm_term),
            ("utm_content", &mut self.utm_content),
        ] {
            *value = text(field, value.take(), MAX_UTM_CHARS)?;
        }
        for (field, value) in [
            ("referrer", &mut self.referrer),
            ("landing_page", &mut self.landing_page),
        ] {
            *value = text(field, value.take(), MAX_URL_CHARS)?;
            if let Some(url) = value.as_deref() {
                let ok = url::Url::parse(url)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
                if !ok {
                    return Err(ValidationError::new(
                        field,
                        "must be an absolute http(s) URL",
                    ));
                }
            }
        }
        if let Some(landing) = self
            .landing_page
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
        {
            for (key, found) in landing.query_pairs() {
                let slot = match key.as_ref() {
                    "utm_source" => &mut self.utm_source,
                    "utm_medium" => &mut self.utm_medium,
                    "utm_campaign" => &mut self.utm_campaign,
                    "utm_term" => &mut self.utm_term,
                    "utm_content" => &mut self.utm_content,
                    _ => continue,
                };
                if slot.is_none() {
                    let found: String = found.chars().take(MAX_UTM_CHARS).collect();
                    *slot = text(&key, Some(found), MAX_UTM_CHARS).ok().flatten();
                }
            }
        }
        Ok(self)
    }
}

fn text(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, ValidationError> {
    let Some(value) = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if crate::model::text::forbidden_char(&value, false).is_some() {
        return Err(ValidationError::new(
            field,
            "must not contain control, bidirectional or invisible characters",
        ));
    }
    Ok(Some(value))
}

/// The source of visits with neither UTM parameters nor a referrer.
pub(crate) const DIRECT: &str = "(direct)";
/// The source of joins and leads made without a recorded visitor session.
pub(crate) const UNKNOWN: &str = "(unknown)";

/// A recorded visitor session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // fields named for what they hold
pub struct VisitorSession {
    /// The visitor id (the session token's subject).
    pub session_id: Uuid,
    pub campaign_id: i64,
    pub attribution: Attribution,
    pub created_at: DateTime<Utc>,
}

/// Consent given on a form: the version of the text agreed to, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, salvo_oapi::ToSchema)]
#[allow(missing_docs)] // fields named for what they hold
pub struct Consent {
    pub version: String,
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utm_parameters_come_from_the_landing_page_unless_given() {
        let first = Attribution {
            utm_medium: Some(" email ".into()),
            landing_page: Some(
                "https://www.example.com/?utm_source=news&utm_medium=cpc&utm_campaign=launch"
                    .into(),
            ),
            ..Attribution::default()
        }
        .checked()
        .expect("valid");
        assert_eq!(first.utm_source.as_deref(), Some("news"));
        assert_eq!(first.utm_medium.as_deref(), Some("email"));
        assert_eq!(first.utm_campaign.as_deref(), Some("launch"));
        assert_eq!(first.source(), "news");
    }

    #[test]
    fn the_source_falls_back_to_the_referrer_host() {
        let from_search = Attribution {
            referrer: Some("https://www.google.com/search?q=ovasabi".into()),
            ..Attribution::default()
        };
        assert_eq!(from_search.source(), "www.google.com");
        assert_eq!(Attribution::default().source(), DIRECT);
    }

    #[test]
    fn bad_values_are_refused_by_field() {
        for (bad, field) in [
            (
                Attribution {
                    referrer: Some("javascript:alert(1)".into()),
                    ..Attribution::default()
                },
                "referrer",
            ),
            (
                Attribution {
                    utm_source: Some("x".repeat(MAX_UTM_CHARS + 1)),
                    ..Attribution::default()
                },
                "utm_source",
            ),
            (
                Attribution {
                    utm_term: Some("a\u{0}b".into()),
                    ..Attribution::default()
                },
                "utm_term",
            ),
        ] {
            assert_eq!(bad.checked().expect_err("refused").field, field);
        }
    }
}
