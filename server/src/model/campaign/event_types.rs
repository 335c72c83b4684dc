//! A campaign's own live event types (`config.event_types`): declared in its
//! configuration, published by its back office (`POST
//! /api/campaign/{slug}/events`), carried like the built-in events.
//!
//! A declaration names who receives the event, whether it also leaves the
//! building as a webhook, and the fields its data may hold, with their types
//! and limits. [`EventTypeDecl::check`] holds a payload against it. A
//! declaration may not take a built-in event's name (the catalogue,
//! [`crate::model::events`]), nor one the browser uses for its own.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ValidationError;
use crate::model::events::{self, BROWSER_NAMES, TEAM_PREFIX};

/// Whether a campaign may not declare `name`: a built-in event's
/// ([`crate::model::events::BUILT_IN`]), or one `EventSource` and the
/// browser client use for their own ([`BROWSER_NAMES`]). Names beginning with
/// [`TEAM_PREFIX`] are refused apart, with their own message.
pub fn is_reserved(name: &str) -> bool {
    events::built_in(name).is_some() || BROWSER_NAMES.contains(&name)
}

/// Most event types one campaign declares.
pub(crate) const MAX_EVENT_TYPES: usize = 32;
/// Most fields one event type declares.
pub(crate) const MAX_FIELDS: usize = 16;
/// Longest string field a declaration may allow, in characters.
pub(crate) const MAX_STRING_CHARS: u32 = 2000;
/// Longest string field, when a declaration does not say.
pub(crate) const DEFAULT_STRING_CHARS: u32 = 200;

/// Who receives an event of a type.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, salvo_oapi::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EventAudience {
    /// Every visitor of the campaign.
    #[default]
    Public,
    /// One session (a user or an anonymous visitor), named when it is published.
    Private,
}

/// The type of a field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, salvo_oapi::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// Text, at most `max_chars` characters.
    String,
    /// A whole number, within `min`..=`max` when given.
    Integer,
    /// Any number, within `min`..=`max` when given.
    Number,
    /// `true` or `false`.
    Boolean,
}

/// A field of a campaign's own event type
/// (`config.event_types.<name>.fields`)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, salvo_oapi::ToSchema)]
#[serde(deny_unknown_fields)]
#[salvo(schema(name = EventFieldDecl))]
pub struct FieldDecl {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: FieldKind,
    /// Whether every event of the type must carry it.
    #[serde(default)]
    #[salvo(schema(required = true))]
    pub required: bool,
    /// Longest text (strings only; default [`DEFAULT_STRING_CHARS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[salvo(schema(schema_with = max_chars_schema))]
    pub max_chars: Option<u32>,
    /// Least value (numbers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    /// Greatest value (numbers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
}

/// [`FieldDecl::max_chars`]: 1-[`MAX_STRING_CHARS`].
fn max_chars_schema() -> salvo_oapi::schema::Object {
    use salvo_oapi::schema::{BasicType, Object};
    Object::with_type(BasicType::Integer)
        .minimum(1)
        .maximum(MAX_STRING_CHARS)
        .description(format!(
            "Longest text (strings only; default {DEFAULT_STRING_CHARS})"
        ))
}

/// A campaign's own event type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventTypeDecl {
    /// Who receives it.
    #[serde(default)]
    pub audience: EventAudience,
    /// Whether each event of the type is also written to the outbox (webhooks).
    #[serde(default)]
    pub webhook: bool,
    /// What it means, for the campaign's documents and catalogue.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The fields its data may hold; no other field is accepted.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldDecl>,
}

/// Longest event type name, in bytes.
pub(crate) const MAX_EVENT_NAME_LEN: usize = 64;

/// Whether `name` may name an event type: dot-separated words of lower-case
/// letters, digits and `_`, each starting with a letter; at most
/// [`MAX_EVENT_NAME_LEN`] bytes.
pub(crate) fn is_event_name(name: &str) -> bool {
    name.len() <= MAX_EVENT_NAME_LEN
        && name.split('.').all(|word| {
            let mut bytes = word.bytes();
            bytes.next().is_some_and(|b| b.is_ascii_lowercase())
                && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

fn is_field_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Checks the declarations of `config.event_types`.
pub fn validate(types: &BTreeMap<String, EventTypeDecl>) -> Result<(), ValidationError> {
    let invalid = |field: String, message: &str| {
        ValidationError::new(format!("config.event_types{field}"), message)
    };
    if types.len() > MAX_EVENT_TYPES {
        return Err(invalid(
            String::new(),
            &format!("at most {MAX_EVENT_TYPES} event types"),
        ));
    }
    for (name, decl) in types {
        let at = format!("[{name:?}]");
        if !is_event_name(name) {
            return Err(invalid(
                at,
                "an event type name is dot-separated lower-case words (letters, digits, '_'), such as onboarding.completed",
            ));
        }
        if name.starts_with(TEAM_PREFIX) {
            return Err(invalid(
                at,
                "team.… names are the server's events for the campaign's team",
            ));
        }
        if is_reserved(name) {
            return Err(invalid(at, "is the name of a built-in event"));
        }
        if decl.description.chars().count() > 500 {
            return Err(invalid(
                format!("{at}.description"),
                "at most 500 characters",
            ));
        }
        if decl.fields.len() > MAX_FIELDS {
            return Err(invalid(
                format!("{at}.fields"),
                &format!("at most {MAX_FIELDS} fields"),
            ));
        }
        for (field, rule) in &decl.fields {
            let at = format!("{at}.fields.{field}");
            if !is_field_name(field) {
                return Err(invalid(
                    at,
                    "a field name is 1-64 lower-case letters, digits or '_', starting with a letter",
                ));
            }
            let numeric = matches!(rule.kind, FieldKind::Integer | FieldKind::Number);
            if rule.max_chars.is_some() && rule.kind != FieldKind::String {
                return Err(invalid(at, "max_chars is for string fields only"));
            }
            if (rule.min.is_some() || rule.max.is_some()) && !numeric {
                return Err(invalid(at, "min and max are for number fields only"));
            }
            if let Some(max_chars) = rule.max_chars
                && !(1..=MAX_STRING_CHARS).contains(&max_chars)
            {
                return Err(invalid(
                    at,
                    &format!("max_chars must be between 1 and {MAX_STRING_CHARS}"),
                ));
            }
            if let (Some(min), Some(max)) = (rule.min, rule.max)
                && min > max
            {
                return Err(invalid(at, "min must not be above max"));
            }
        }
    }
    Ok(())
}

impl EventTypeDecl {
    /// Holds `data` against the declaration: an object of declared fields,
    /// each of its type and within its limits, the required ones present.
    /// The error names the offending field as `data.<name>`.
    pub fn check(&self, data: &Map<String, Value>) -> Result<(), ValidationError> {
        for name in data.keys() {
            if !self.fields.contains_key(name) {
                return Err(ValidationError::new(
                    format!("data.{name}"),
                    "is not a field of this event type",
                ));
            }
        }
        for (name, rule) in &self.fields {
            let field = format!("data.{name}");
            let Some(value) = data.get(name).filter(|v| !v.is_null()) else {
                if rule.required {
                    return Err(ValidationError::new(field, "is required"));
                }
                continue;
            };
            rule.check(&field, value)?;
        }
        Ok(())
    }
}

impl FieldDecl {
    fn check(&self, field: &str, value: &Value) -> Result<(), ValidationError> {
        let wrong = |what: &str| ValidationError::new(field, format!("must be {what}"));
        match self.kind {
            FieldKind::String => {
                let text = value.as_str().ok_or_else(|| wrong("a string"))?;
                let max = self.max_chars.unwrap_or(DEFAULT_STRING_CHARS) as usize;
                if text.chars().count() > max {
                    return Err(wrong(&format!("at most {max} characters")));
                }
                if let Some(c) = crate::model::text::forbidden_char(text, true) {
                    return Err(wrong(&format!(
                        "free of control, bidirectional and invisible characters (found U+{:04X})",
                        u32::from(c)
                    )));
                }
            }
            FieldKind::Boolean => {
                value.as_bool().ok_or_else(|| wrong("true or false"))?;
            }
            FieldKind::Integer | FieldKind::Number => {
                let number = if self.kind == FieldKind::Integer {
                    value
                        .as_i64()
                        .map(|n| n as f64)
                        .ok_or_else(|| wrong("a whole number"))?
                } else {
                    value.as_f64().ok_or_else(|| wrong("a number"))?
                };
                if let Some(min) = self.min
                    && number < min as f64
                {
                    return Err(wrong(&format!("at least {min}")));
                }
                if let Some(max) = self.max
                    && number > max as f64
                {
                    return Err(wrong(&format!("at most {max}")));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_built_in_name_is_a_wellformed_event_name() {
        for event in events::BUILT_IN {
            assert!(is_event_name(event.name), "{}", event.name);
        }
    }

    fn decl() -> EventTypeDecl {
        serde_json::from_value(json!({
            "audience": "private",
            "fields": {
                "step": {"type": "string", "required": true, "max_chars": 5},
                "score": {"type": "integer", "min": 0, "max": 10},
                "ratio": {"type": "number"},
                "done": {"type": "boolean"}
            }
        }))
        .expect("declaration parses")
    }

    fn data(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn payloads_are_held_to_the_declaration() {
        let decl = decl();
        assert_eq!(
            decl.check(&data(json!({"step": "one", "score": 3}))),
            Ok(())
        );
        for (bad, field) in [
            (json!({}), "data.step"),
            (json!({"step": 1}), "data.step"),
            (json!({"step": "toolong"}), "data.step"),
            (json!({"step": "a", "score": 11}), "data.score"),
            (json!({"step": "a", "score": 1.5}), "data.score"),
            (json!({"step": "a", "done": "yes"}), "data.done"),
            (json!({"step": "a", "extra": 1}), "data.extra"),
            (json!({"step": "a\u{202e}"}), "data.step"),
        ] {
            assert_eq!(
                decl.check(&data(bad.clone())).expect_err("refused").field,
                field,
                "{bad}"
            );
        }
    }

    #[test]
    fn declarations_are_checked() {
        let mut types = BTreeMap::new();
        types.insert("onboarding.completed".to_owned(), decl());
        assert_eq!(validate(&types), Ok(()));
        for bad in [
            "user.joined",
            "roster",
            "members",
            "team.lead",
            "team.anything",
            "Onboarding",
            "a..b",
            "1st",
            "",
        ] {
            let mut types = BTreeMap::new();
            types.insert(bad.to_owned(), decl());
            assert!(validate(&types).is_err(), "{bad}");
        }
        let mut wrong = decl();
        wrong.fields.get_mut("done").expect("field").max_chars = Some(3);
        types.insert("x".to_owned(), wrong);
        assert!(validate(&types).is_err());
        assert!(
            serde_json::from_value::<EventTypeDecl>(json!({"fields": {"a": {"type": "date"}}}))
                .is_err()
        );
    }
}
