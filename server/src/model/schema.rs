//! Schemas the derives cannot say from a Rust type alone, each written once
//! from the rule the server applies: a slug, an email, text that reaches
//! other people ([`crate::model::text`]). Fields use them with
//! `#[salvo(schema(schema_with = …))]`.

use salvo_oapi::schema::{AnyOf, BasicType, KnownFormat, Object, Schema, SchemaFormat};
use salvo_oapi::{Components, RefOr, ToSchema};

use super::text::INVISIBLE;

/// Longest campaign slug.
pub const SLUG_MAX: usize = 64;
/// Longest email address.
pub const EMAIL_MAX: usize = 254;

/// A campaign slug: lower-case words of letters and digits joined by `-`.
pub fn slug() -> Object {
    Object::with_type(BasicType::String)
        .pattern("^[a-z0-9]+(-[a-z0-9]+)*$")
        .min_length(1)
        .max_length(SLUG_MAX)
}

/// A campaign slug where the description names a parameter's type
/// (`("campaign" = Slug, Query)`); the value is read as a `String`.
pub struct Slug;

impl ToSchema for Slug {
    fn to_schema(_components: &mut Components) -> RefOr<Schema> {
        slug().into()
    }
}

/// A list's `format` parameter: `json` (pages) or `csv` (the whole list).
pub struct ListFormat;

impl ToSchema for ListFormat {
    fn to_schema(_components: &mut Components) -> RefOr<Schema> {
        Object::new().enum_values(["json", "csv"]).into()
    }
}

/// An email address.
pub fn email() -> Object {
    Object::with_type(BasicType::String)
        .format(SchemaFormat::KnownFormat(KnownFormat::Email))
        .max_length(EMAIL_MAX)
}

/// Text shown to other people, at most `max` characters: no control
/// (line breaks and tabs allowed where `multiline`), bidirectional or
/// invisible format character, and not blank. (The pattern says the
/// characters of the Basic Multilingual Plane; the server refuses the
/// others of [`INVISIBLE`] too.)
pub fn text(max: usize, multiline: bool) -> Object {
    let controls = if multiline {
        r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f"
    } else {
        r"\u0000-\u001f\u007f-\u009f"
    };
    let mut refused = controls.to_owned();
    for &(first, last) in INVISIBLE
        .iter()
        .filter(|(_, last)| u32::from(*last) <= 0xFFFF)
    {
        refused.push_str(&format!("\\u{:04x}", u32::from(first)));
        if last != first {
            refused.push_str(&format!("-\\u{:04x}", u32::from(last)));
        }
    }
    Object::with_type(BasicType::String)
        .min_length(1)
        .pattern(format!("^[^{refused}]*[^\\s{refused}][^{refused}]*$"))
        .description(
            "Text without control, bidirectional or invisible format characters, and not blank",
        )
        .max_length(max)
}

/// `schema`, or `null`.
pub fn nullable(schema: impl Into<Schema>) -> Schema {
    Schema::AnyOf(
        AnyOf::new()
            .item(schema.into())
            .item(Object::with_type(BasicType::Null)),
    )
}
