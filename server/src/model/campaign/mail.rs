//! A campaign's mail: which mails it sends, their templates, who on the
//! team hears of new leads, and whether a join waits for its email to be
//! verified.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// The mails a server sends, by the name a campaign's templates use.
pub(crate) const MAIL_NAMES: [&str; 5] = [
    "verify",
    "already_in",
    "welcome",
    "lead_confirmation",
    "lead_notify",
];

/// Most team addresses told of each lead.
pub(crate) const MAX_NOTIFY: usize = 20;
/// Longest template part accepted, in bytes.
pub(crate) const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

/// The campaign's mail (`config.mail`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailSettings {
    /// Send the welcome mail after a (verified) join. A marketing mail:
    /// only with the consent the join form asks, and never after an
    /// unsubscribe.
    pub welcome: bool,
    /// Send the submitter of a lead a confirmation with a link to its status.
    pub lead_confirmation: bool,
    /// The campaign's own templates, by mail (`verify`, `already_in`,
    /// `welcome`, `lead_confirmation`, `lead_notify`); the built-in one
    /// for any other.
    pub templates: BTreeMap<String, MailTemplate>,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            welcome: true,
            lead_confirmation: true,
            templates: BTreeMap::new(),
        }
    }
}

/// One mail's template (minijinja; the HTML body escapes what it inserts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailTemplate {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body (optional: without one, the mail is plain text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

/// Who on the campaign's team is told of what (`config.notify`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    /// Addresses that get a mail for each new lead.
    pub leads: Vec<String>,
}

/// Whether a join waits for its email to be verified
/// (`config.forms.join.verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Verify {
    /// A join counts at once.
    #[default]
    None,
    /// A join counts once the link mailed to its address is opened.
    Email,
}

impl MailSettings {
    /// Checks every template compiles, and the names are the server's mails.
    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        for (name, template) in &self.templates {
            let field = format!("config.mail.templates.{name}");
            if !MAIL_NAMES.contains(&name.as_str()) {
                return Err(ValidationError::new(
                    field,
                    format!("is not a mail; the mails are {}", MAIL_NAMES.join(", ")),
                ));
            }
            let parts = [
                ("subject", Some(&template.subject)),
                ("text", Some(&template.text)),
                ("html", template.html.as_ref()),
            ];
            for (part, source) in parts {
                let Some(source) = source else { continue };
                let field = format!("{field}.{part}");
                if source.trim().is_empty() || source.len() > MAX_TEMPLATE_BYTES {
                    return Err(ValidationError::new(
                        field,
                        format!("must be a template of 1 to {MAX_TEMPLATE_BYTES} bytes"),
                    ));
                }
                let env = minijinja::Environment::new();
                if let Err(e) = env.template_from_str(source) {
                    return Err(ValidationError::new(
                        field,
                        format!("is not a template: {e}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl NotifySettings {
    /// Checks the addresses.
    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        if self.leads.len() > MAX_NOTIFY {
            return Err(ValidationError::new(
                "config.notify.leads",
                format!("must list at most {MAX_NOTIFY} addresses"),
            ));
        }
        for (i, address) in self.leads.iter().enumerate() {
            if address.parse::<lettre::Address>().is_err() {
                return Err(ValidationError::new(
                    format!("config.notify.leads[{i}]"),
                    "must be an email address",
                ));
            }
        }
        Ok(())
    }
}
