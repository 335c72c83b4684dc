//! Campaigns: what a campaign is and the rules its fields follow.

pub(crate) mod bots;
pub(crate) mod event_types;
pub(crate) mod mail;
pub(crate) mod referrals;
pub(crate) mod settings;
mod validate;

use chrono::{DateTime, Utc};
use salvo_oapi::schema::{BasicType, KnownFormat, Object, Schema, SchemaFormat};
use salvo_oapi::{Components, RefOr, ToSchema};
use serde::{Deserialize, Serialize};

use super::schema;

pub use settings::CampaignConfig;

/// A field that failed validation, named as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The field path, such as `slug` or `config.cursor.tick_hz`.
    pub field: String,
    /// What is wrong with it, for a person.
    pub message: String,
}

impl ValidationError {
    /// A new error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Where a campaign is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Being prepared; hidden from the public.
    #[default]
    Draft,
    /// Live: forms and live channels are open.
    Active,
    /// Temporarily closed to new submissions.
    Paused,
    /// Over.
    Ended,
}

impl CampaignStatus {
    /// The name stored in the database and used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Ended => "ended",
        }
    }

    /// Whether a campaign may move from this status to `to`: draft →
    /// active; active ⇄ paused; active or paused → ended; ended is final.
    /// Staying where it is is no move, and always allowed.
    pub fn can_become(self, to: Self) -> bool {
        self == to
            || matches!(
                (self, to),
                (Self::Draft, Self::Active)
                    | (Self::Active, Self::Paused | Self::Ended)
                    | (Self::Paused, Self::Active | Self::Ended)
            )
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "draft" => Self::Draft,
            "active" => Self::Active,
            "paused" => Self::Paused,
            "ended" => Self::Ended,
            _ => return None,
        })
    }
}

/// A stored campaign.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Campaign {
    /// Database id.
    pub id: i64,
    /// Unique, URL-safe name.
    pub slug: String,
    /// Human name.
    pub name: String,
    /// Life-cycle status.
    pub status: CampaignStatus,
    /// When the campaign opens, if scheduled.
    pub starts_at: Option<DateTime<Utc>>,
    /// When the campaign closes, if scheduled.
    pub ends_at: Option<DateTime<Utc>>,
    /// The campaign's settings (README, Campaigns as code).
    #[salvo(schema(value_type = Object))]
    pub config: CampaignConfig,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Campaign {
    /// Whether forms and live channels accept visitors at `now`.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.status == CampaignStatus::Active
            && self.starts_at.is_none_or(|t| t <= now)
            && self.ends_at.is_none_or(|t| now < t)
    }

    /// Whether `spec` would change nothing if applied to this campaign.
    pub fn matches(&self, spec: &NewCampaign) -> bool {
        self.slug == spec.slug
            && self.name == spec.name
            && self.status == spec.status
            && self.starts_at == spec.starts_at
            && self.ends_at == spec.ends_at
            && self.config == spec.config
    }

    /// The campaign as anyone may see it (no webhook receivers).
    pub fn public_view(&self) -> Self {
        Self {
            config: self.config.public_view(),
            ..self.clone()
        }
    }

    /// The campaign as its team is shown it: webhook receivers without
    /// their credentials ([`CampaignConfig::team_view`]).
    pub fn team_view(&self) -> Self {
        Self {
            config: self.config.team_view(),
            ..self.clone()
        }
    }

    /// Applies a partial update, validating the result as a whole.
    pub fn patched(&self, patch: CampaignPatch) -> Result<Self, ValidationError> {
        let mut next = self.clone();
        if let Some(name) = patch.name {
            next.name = name;
        }
        if let Some(status) = patch.status {
            next.status = status;
        }
        next.starts_at = patch.starts_at.apply(next.starts_at);
        next.ends_at = patch.ends_at.apply(next.ends_at);
        if let Some(mut config) = patch.config {
            // A receiver sent back as the team was shown it keeps its
            // credentials.
            config.keep_webhook_credentials(&self.config);
            next.config = config;
        }
        next.spec().validate()?;
        Ok(next)
    }

    /// The writable fields of this campaign.
    pub fn spec(&self) -> NewCampaign {
        NewCampaign {
            slug: self.slug.clone(),
            name: self.name.clone(),
            status: self.status,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            config: self.config.clone(),
        }
    }
}

/// The writable fields of a campaign: what a create request or a campaign file holds.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCampaign {
    /// Unique, URL-safe name: lower-case letters, digits and single dashes.
    #[salvo(schema(schema_with = schema::slug))]
    pub slug: String,
    /// Human name.
    #[salvo(schema(schema_with = name_schema))]
    pub name: String,
    /// Life-cycle status (default `draft`).
    #[serde(default)]
    pub status: CampaignStatus,
    /// Opening time.
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    /// Closing time.
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// The campaign's settings (README, Campaigns as code; defaults for
    /// what is left out).
    #[serde(default)]
    #[salvo(schema(value_type = Object))]
    pub config: CampaignConfig,
}

/// Longest slug accepted.
pub(crate) const MAX_SLUG_LEN: usize = 64;
/// Longest campaign name accepted, in characters.
pub(crate) const MAX_NAME_CHARS: usize = 200;

fn name_schema() -> Object {
    schema::text(MAX_NAME_CHARS, false)
}

fn patch_name_schema() -> Schema {
    schema::nullable(name_schema())
}

/// Whether `slug` is 1-64 of `a-z`, `0-9` and inner single dashes.
pub(crate) fn is_valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= MAX_SLUG_LEN
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
        && !slug.contains("--")
}

impl NewCampaign {
    /// Checks every field and their combination.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if !is_valid_slug(&self.slug) {
            return Err(ValidationError::new(
                "slug",
                "must be 1-64 lower-case letters, digits and single inner dashes",
            ));
        }
        let name_chars = self.name.chars().count();
        if self.name.trim().is_empty() || name_chars > MAX_NAME_CHARS {
            return Err(ValidationError::new(
                "name",
                format!("must be 1-{MAX_NAME_CHARS} characters and not blank"),
            ));
        }
        if self.name.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "name",
                "must not contain control characters",
            ));
        }
        if let (Some(starts), Some(ends)) = (self.starts_at, self.ends_at)
            && ends <= starts
        {
            return Err(ValidationError::new("ends_at", "must be after starts_at"));
        }
        self.config.validate()
    }
}

/// A partial update: absent fields stay as they are; `null` clears a date.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignPatch {
    /// New name.
    #[serde(default)]
    #[salvo(schema(schema_with = patch_name_schema))]
    pub name: Option<String>,
    /// New status.
    #[serde(default)]
    pub status: Option<CampaignStatus>,
    /// New opening time (`null` clears it).
    #[serde(default)]
    pub starts_at: DatePatch,
    /// New closing time (`null` clears it).
    #[serde(default)]
    pub ends_at: DatePatch,
    /// New settings, replacing the old ones whole (README, Campaigns as
    /// code).
    #[serde(default)]
    #[salvo(schema(value_type = Object))]
    pub config: Option<CampaignConfig>,
}

/// What a patch does to a date: a field left out keeps it, `null` clears
/// it, a date sets it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DatePatch {
    /// Left out: unchanged.
    #[default]
    Keep,
    /// `null`: no date.
    Clear,
    /// A new date.
    Set(DateTime<Utc>),
}

impl DatePatch {
    /// The date after the patch, from the one before.
    pub fn apply(self, current: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        match self {
            Self::Keep => current,
            Self::Clear => None,
            Self::Set(date) => Some(date),
        }
    }
}

/// A date-time, or `null`.
impl ToSchema for DatePatch {
    fn to_schema(_components: &mut Components) -> RefOr<Schema> {
        schema::nullable(
            Object::with_type(BasicType::String)
                .format(SchemaFormat::KnownFormat(KnownFormat::DateTime)),
        )
        .into()
    }
}

impl<'de> Deserialize<'de> for DatePatch {
    /// Called only for a field that is present (a missing one is the default).
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        Ok(Option::<DateTime<Utc>>::deserialize(de)?.map_or(Self::Clear, Self::Set))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for good in ["ovasabi-website", "a", "spring-2027", "x1"] {
            assert!(is_valid_slug(good), "{good}");
        }
        for bad in ["", "-a", "a-", "a--b", "A", "a b", "a_b", &"a".repeat(65)] {
            assert!(!is_valid_slug(bad), "{bad}");
        }
    }

    #[test]
    fn patch_tells_null_from_absent() {
        let patch: CampaignPatch =
            serde_json::from_str(r#"{"starts_at": null}"#).expect("patch parses");
        assert_eq!(patch.starts_at, DatePatch::Clear);
        assert_eq!(patch.ends_at, DatePatch::Keep);
    }

    #[test]
    fn dates_must_be_ordered() {
        let now = Utc::now();
        let spec = NewCampaign {
            slug: "s".into(),
            name: "S".into(),
            status: CampaignStatus::Active,
            starts_at: Some(now),
            ends_at: Some(now),
            config: CampaignConfig::default(),
        };
        assert_eq!(spec.validate().expect_err("same instant").field, "ends_at");
    }
}
