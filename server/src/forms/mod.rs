//! The campaign's forms as a domain: users who join, their referrals, and
//! quote requests (leads) — their types and the rules their fields follow.
//! The HTTP handlers in `http::{user, referral, quote}` drive them.

use crate::model::campaign::ValidationError;

/// Longest email address accepted (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// Trims and lower-cases an email address and checks its shape.
pub fn normalize_email(field: &str, raw: &str) -> Result<String, ValidationError> {
    let email = raw.trim().to_lowercase();
    let invalid =
        || ValidationError::new(field, "must be an email address such as ada@example.com");
    if email.is_empty() || email.len() > MAX_EMAIL_LEN {
        return Err(invalid());
    }
    let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
    let local_ok = !local.is_empty() && local.len() <= 64 && !local.contains('@');
    let domain_ok = domain.len() >= 3
        && domain.contains('.')
        && !domain.starts_with(['.', '-'])
        && !domain.ends_with(['.', '-'])
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-');
    let no_odd_chars = !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if local_ok && domain_ok && no_odd_chars {
        Ok(email)
    } else {
        Err(invalid())
    }
}

/// Trims a required single-line text and checks its length in characters.
pub fn required_text(field: &str, raw: &str, max_chars: usize) -> Result<String, ValidationError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(ValidationError::new(field, "must not be blank"));
    }
    checked_text(field, text, max_chars, false).map(str::to_owned)
}

/// Trims an optional text: blank means absent.
pub fn optional_text(
    field: &str,
    raw: Option<&str>,
    max_chars: usize,
) -> Result<Option<String>, ValidationError> {
    match raw.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(text) => checked_text(field, text, max_chars, false).map(|t| Some(t.to_owned())),
    }
}

/// Trims a required multi-line text (newlines and tabs allowed).
pub fn required_message(
    field: &str,
    raw: &str,
    max_chars: usize,
) -> Result<String, ValidationError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(ValidationError::new(field, "must not be blank"));
    }
    checked_text(field, text, max_chars, true).map(str::to_owned)
}

fn checked_text<'a>(
    field: &str,
    text: &'a str,
    max_chars: usize,
    multiline: bool,
) -> Result<&'a str, ValidationError> {
    if text.chars().count() > max_chars {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    let bad = text
        .chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')));
    if bad {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized() {
        assert_eq!(
            normalize_email("email", "  Ada.Lovelace@Example.COM ").as_deref(),
            Ok("ada.lovelace@example.com")
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "ada@exa..mple.com",
            "ada@@example.com",
        ] {
            assert!(normalize_email("email", bad).is_err(), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(normalize_email("email", &long).is_err());
    }

    #[test]
    fn texts() {
        assert_eq!(required_text("name", "  Ada ", 10).as_deref(), Ok("Ada"));
        assert!(required_text("name", "   ", 10).is_err());
        assert!(required_text("name", "Ada\u{0}", 10).is_err());
        assert!(required_text("name", "line\nbreak", 20).is_err());
        assert!(required_message("message", "line\nbreak", 20).is_ok());
        assert!(required_text("name", &"é".repeat(11), 10).is_err());
        assert!(required_text("name", &"é".repeat(10), 10).is_ok());
        assert_eq!(optional_text("company", Some("  "), 10), Ok(None));
    }
}
