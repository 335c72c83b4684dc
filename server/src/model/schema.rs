//! Schemas the derives cannot say from a Rust type alone, each written once
//! from the rule the server applies: a slug, an email, text that reaches
//! other people ([`crate::model::text`]). Fields use them with
//! `#[salvo(schema(schema_with = …))]`.

use salvo_oapi::schema::{AnyOf, BasicType, KnownFormat, Object, Schema, SchemaFormat, SchemaType};
use salvo_oapi::{Components, RefOr, ToSchema};

use super::text::INVISIBLE;

/// Longest campaign slug.
pub(crate) const SLUG_MAX: usize = 64;
/// Longest email address.
pub(crate) const EMAIL_MAX: usize = 254;

/// A campaign slug: lower-case words of letters and digits joined by `-`.
pub(crate) fn slug() -> Object {
    Object::with_type(BasicType::String)
        .pattern("^[a-z0-9]+(-[a-z0-9]+)*$")
        .min_length(1)
        .max_length(SLUG_MAX)
}

/// A campaign slug where the description names a parameter's type
/// (`("campaign" = Slug, Query)`); the value is read as a `String`.
pub(crate) struct Slug;

impl ToSchema for Slug {
    fn to_schema(_components: &mut Components) -> RefOr<Schema> {
        slug().into()
    }
}

/// A list's `format` parameter: `json` (pages) or `csv` (the whole list).
pub(crate) struct ListFormat;

impl ToSchema for ListFormat {
    fn to_schema(_components: &mut Components) -> RefOr<Schema> {
        Object::with_type(BasicType::String)
            .enum_values(["json", "csv"])
            .into()
    }
}

/// An email address.
pub(crate) fn email() -> Object {
    Object::with_type(BasicType::String)
        .format(SchemaFormat::KnownFormat(KnownFormat::Email))
        .max_length(EMAIL_MAX)
}

/// Text shown to other people, at most `max` characters: no control
/// (line breaks and tabs allowed where `multiline`), bidirectional or
/// invisible format character, and not blank. (The pattern says the
/// characters of the Basic Multilingual Plane; the server refuses the
/// others of [`INVISIBLE`] too.)
pub(crate) fn text(max: usize, multiline: bool) -> Object {
    let refused = refused(multiline);
    Object::with_type(BasicType::String)
        .min_length(1)
        .pattern(format!("^[^{refused}]*[^\\s{refused}][^{refused}]*$"))
        .description(
            "Text without control, bidirectional or invisible format characters, and not blank",
        )
        .max_length(max)
}

/// Optional one-line text, at most `max` characters: as [`text`], but
/// `null` or blank means none.
pub(crate) fn optional_text(max: usize) -> Object {
    let refused = refused(false);
    Object::with_type(SchemaType::Array(vec![BasicType::String, BasicType::Null]))
        .pattern(format!("^[^{refused}]*$"))
        .description(
            "Text without control, bidirectional or invisible format characters; blank means none",
        )
        .max_length(max)
}

/// A pattern for a value the server trims first (`str::trim`): what
/// `inner` matches, or nothing (blank), with white space around it.
pub(crate) fn trimmed(inner: &str) -> String {
    const WHITE_SPACE: &str =
        r"\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
    format!("^[{WHITE_SPACE}]*({inner})?[{WHITE_SPACE}]*$")
}

/// The characters refused in text, as the inside of a pattern's `[…]`.
fn refused(multiline: bool) -> String {
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
    refused
}

/// Any string: a JSON body's strings never hold NUL
/// ([`crate::request::body`] refuses it), so that much is said.
pub(crate) fn string() -> Object {
    Object::with_type(BasicType::String).pattern(r"^[^\u0000]*$")
}

/// `schema`, or `null`.
pub(crate) fn nullable(schema: impl Into<Schema>) -> Schema {
    Schema::AnyOf(
        AnyOf::new()
            .item(schema.into())
            .item(Object::with_type(BasicType::Null)),
    )
}
