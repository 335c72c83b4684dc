//! The mails' texts: a campaign's templates (`config.mail.templates`) or
//! the built-in ones, translated into the person's language through the
//! translation memory, its glossary and its overrides (the template's
//! own tags kept out of translation), then rendered with minijinja, whose
//! HTML body escapes every value it inserts.

use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use super::MailKind;
use crate::model::campaign::Campaign;
use crate::model::campaign::mail::MailTemplate;
use crate::translate::{TranslationRequest, Translator, context_key};

/// A mail ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rendered {
    /// The subject line (on one line).
    pub(crate) subject: String,
    /// The plain-text body.
    pub(crate) text: String,
    /// The HTML body, when the template has one.
    pub(crate) html: Option<String>,
}

/// The built-in template of `kind` (English).
fn built_in(kind: MailKind) -> MailTemplate {
    let (subject, text, html) = match kind {
        MailKind::Verify => (
            "Confirm your email for {{ campaign }}",
            "Hi {{ name }},\n\nPlease confirm your email address to complete your registration for {{ campaign }}:\n\n{{ verify_url }}\n\nThe link is valid for {{ valid_hours }} hours. If you did not sign up, ignore this mail: nothing happens without the link.\n",
            "<p>Hi {{ name }},</p>\n<p>Please confirm your email address to complete your registration for {{ campaign }}:</p>\n<p><a href=\"{{ verify_url }}\">Confirm my email</a></p>\n<p>The link is valid for {{ valid_hours }} hours. If you did not sign up, ignore this mail: nothing happens without the link.</p>\n",
        ),
        MailKind::AlreadyIn => (
            "You are already registered for {{ campaign }}",
            "Hi {{ name }},\n\nSomeone, probably you, registered this address for {{ campaign }} again. You are already in: there is nothing more to do.\n\nIf it was not you, ignore this mail.\n",
            "<p>Hi {{ name }},</p>\n<p>Someone, probably you, registered this address for {{ campaign }} again. You are already in: there is nothing more to do.</p>\n<p>If it was not you, ignore this mail.</p>\n",
        ),
        MailKind::Welcome => (
            "Welcome to {{ campaign }}",
            "Hi {{ name }},\n\nWelcome to {{ campaign }}! Your referral code is {{ referral_code }}: every friend who joins with it counts for you.\n\nTo receive no more of these mails: {{ unsubscribe_url }}\n",
            "<p>Hi {{ name }},</p>\n<p>Welcome to {{ campaign }}! Your referral code is <strong>{{ referral_code }}</strong>: every friend who joins with it counts for you.</p>\n<p><a href=\"{{ unsubscribe_url }}\">Receive no more of these mails</a></p>\n",
        ),
        MailKind::LeadConfirmation => (
            "We received your message: {{ campaign }}",
            "Hi {{ name }},\n\nThank you for your message. The {{ campaign }} team will get back to you.\n\nFollow its status here: {{ status_url }}\n",
            "<p>Hi {{ name }},</p>\n<p>Thank you for your message. The {{ campaign }} team will get back to you.</p>\n<p><a href=\"{{ status_url }}\">Follow its status</a></p>\n",
        ),
        MailKind::LeadNotify => (
            "New lead for {{ campaign }}: {{ lead.name }}",
            "A new lead arrived for {{ campaign }}.\n\nName: {{ lead.name }}\nEmail: {{ lead.email }}\n{% if lead.company %}Company: {{ lead.company }}\n{% endif %}{% if lead.phone %}Phone: {{ lead.phone }}\n{% endif %}{% if lead.budget %}Budget: {{ lead.budget }}\n{% endif %}\n{{ lead.message }}\n",
            "<p>A new lead arrived for {{ campaign }}.</p>\n<ul>\n<li>Name: {{ lead.name }}</li>\n<li>Email: {{ lead.email }}</li>\n{% if lead.company %}<li>Company: {{ lead.company }}</li>\n{% endif %}{% if lead.phone %}<li>Phone: {{ lead.phone }}</li>\n{% endif %}{% if lead.budget %}<li>Budget: {{ lead.budget }}</li>\n{% endif %}</ul>\n<p style=\"white-space: pre-wrap\">{{ lead.message }}</p>\n",
        ),
    };
    MailTemplate {
        subject: subject.to_owned(),
        text: text.to_owned(),
        html: Some(html.to_owned()),
    }
}

/// The template `campaign` sends for `kind`: its own, or the built-in one.
pub(crate) fn template(campaign: &Campaign, kind: MailKind) -> MailTemplate {
    campaign
        .config
        .mail
        .templates
        .get(kind.name())
        .cloned()
        .unwrap_or_else(|| built_in(kind))
}

/// The tags of a template (`{{ … }}`, `{% … %}`, `{# … #}`), each once:
/// kept out of machine translation as the glossary's terms are.
fn tags(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find(['{']) {
        let after = &rest[start..];
        let close = match after.get(..2) {
            Some("{{") => "}}",
            Some("{%") => "%}",
            Some("{#") => "#}",
            _ => {
                rest = &after[1..];
                continue;
            }
        };
        let Some(end) = after.find(close) else { break };
        let tag = &after[..end + 2];
        if !found.iter().any(|t| t == tag) {
            found.push(tag.to_owned());
        }
        rest = &after[end + 2..];
    }
    found
}

/// The locale of `campaign` a mail to someone who prefers `wanted` is
/// written in: theirs when the campaign is offered in it (or in its
/// language), else the campaign's first.
pub(crate) fn mail_locale<'c>(campaign: &'c Campaign, wanted: Option<&str>) -> &'c str {
    let locales = &campaign.config.locales;
    let language = |tag: &str| tag.split('-').next().unwrap_or(tag).to_owned();
    wanted
        .and_then(|wanted| {
            locales
                .iter()
                .find(|l| l.as_str() == wanted)
                .or_else(|| locales.iter().find(|l| language(l) == language(wanted)))
        })
        .unwrap_or(&locales[0])
}

/// `template` in `locale`: each part through the translator (memory,
/// overrides, then LibreTranslate), tags and glossary protected. When a
/// part cannot be translated (LibreTranslate down, not configured), it
/// stays in the campaign's language: a mail is never held for it.
pub(crate) async fn translated(
    translator: &Translator,
    campaign: &Campaign,
    kind: MailKind,
    template: MailTemplate,
    locale: &str,
) -> MailTemplate {
    let source = &campaign.config.locales[0];
    if locale == source {
        return template;
    }
    let mut translated = template.clone();
    let parts: [(&str, &mut String); 2] = [
        ("text", &mut translated.subject),
        ("text", &mut translated.text),
    ];
    let html = translated.html.as_mut().map(|html| ("html", html));
    for (format, part) in parts.into_iter().chain(html) {
        let mut glossary = campaign.config.glossary.clone();
        glossary.extend(tags(part));
        let request = TranslationRequest {
            campaign_id: campaign.id,
            glossary,
            source: source.clone(),
            target: locale.to_owned(),
            format: format.to_owned(),
            context_key: context_key(format, Some(&format!("mail/{}", kind.name())), None),
            texts: vec![part.clone()],
        };
        match translator.translate(&request).await {
            Ok(outcome) => {
                if let Some(first) = outcome.translations.into_iter().next() {
                    *part = first.text;
                }
            }
            Err(e) => {
                tracing::info!(error = %e, mail = kind.name(), locale, "mail left untranslated");
            }
        }
    }
    // A translation that broke a tag is not sent: the campaign's language is.
    let compiles = |t: &MailTemplate| {
        let env = Environment::new();
        [Some(&t.subject), Some(&t.text), t.html.as_ref()]
            .into_iter()
            .flatten()
            .all(|part| env.template_from_str(part).is_ok())
    };
    if compiles(&translated) {
        translated
    } else {
        template
    }
}

/// Renders `template` with `values`: the HTML body escaped, the subject on
/// one line. An error names the part that failed.
pub(crate) fn render<V: Serialize>(
    template: &MailTemplate,
    values: &V,
) -> Result<Rendered, String> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    let mut add = |name: &'static str, source: &str| {
        env.add_template_owned(name, source.to_owned())
            .map_err(|e| format!("{name}: {e}"))
    };
    add("subject.txt", &template.subject)?;
    add("body.txt", &template.text)?;
    if let Some(html) = &template.html {
        add("body.html", html)?;
    }
    let part = |name: &str| -> Result<String, String> {
        env.get_template(name)
            .and_then(|t| t.render(values))
            .map_err(|e| format!("{name}: {e}"))
    };
    let subject = part("subject.txt")?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Rendered {
        subject,
        text: part("body.txt")?,
        html: template
            .html
            .as_ref()
            .map(|_| part("body.html"))
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_found_once_each() {
        assert_eq!(
            tags("Hi {{ name }}, {% if x %}{{ name }}{% endif %} { not } {# c #}"),
            ["{{ name }}", "{% if x %}", "{% endif %}", "{# c #}"]
        );
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let template = MailTemplate {
            subject: "Hello\n{{ name }}".into(),
            text: "{{ name }}".into(),
            html: Some("<p>{{ name }}</p>".into()),
        };
        let values = serde_json::json!({"name": "<b>Ada</b> & co"});
        let rendered = render(&template, &values).expect("renders");
        assert_eq!(rendered.subject, "Hello <b>Ada</b> & co");
        assert_eq!(rendered.text, "<b>Ada</b> & co");
        assert_eq!(
            rendered.html.as_deref(),
            Some("<p>&lt;b&gt;Ada&lt;&#x2f;b&gt; &amp; co</p>")
        );
    }

    #[test]
    fn every_built_in_template_renders() {
        for kind in MailKind::ALL {
            let values = serde_json::json!({
                "campaign": "C", "name": "N", "verify_url": "https://x/v/t", "valid_hours": 24,
                "referral_code": "ABCD2345", "unsubscribe_url": "https://x/u", "status_url": "https://x/s",
                "lead": {"name": "N", "email": "e@x.io", "company": null, "message": "m"},
            });
            let rendered = render(&built_in(kind), &values).expect("renders");
            assert!(
                !rendered.subject.is_empty() && !rendered.text.is_empty(),
                "{kind:?}"
            );
        }
    }
}
