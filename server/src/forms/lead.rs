//! Leads: the rules of a submission (the campaign's required
//! fields and details, idempotency) and of a lead's status changes. Every
//! status change reaches the submitter's session as `lead.status` and the CRM
//! through the outbox.

use chrono::Utc;
use salvo_oapi::ToSchema;
use salvo_oapi::schema::{Object, Schema};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Forms;
use super::bots::{Sender, Verdict};
use super::{consent, normalize_email, optional_text, required_message, required_text};
use crate::bus::{Audience, Event};
use crate::error::ApiError;
use crate::model::campaign::Campaign;
use crate::model::campaign::settings::{LeadField, LeadRules};
use crate::model::events::payload;
use crate::model::lead::{Lead, LeadStatus};
use crate::model::outbox::NewOutbox;
use crate::model::schema;
use crate::session::{SessionKind, verify_session};

/// A budget as sent: text ("10-20k EUR") or a number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
#[allow(missing_docs)] // variants named for what they are
pub enum Budget {
    /// Free text.
    Text(String),
    Number(serde_json::Number),
}

impl ToSchema for Budget {
    fn to_schema(_components: &mut salvo_oapi::Components) -> salvo_oapi::RefOr<Schema> {
        use salvo_oapi::schema::{BasicType, SchemaType};
        Object::with_type(SchemaType::Array(vec![
            BasicType::String,
            BasicType::Number,
        ]))
        .max_length(MAX_BUDGET)
        .into()
    }
}

/// Body of `POST /api/quote`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadRequest {
    /// Campaign slug.
    #[salvo(schema(schema_with = schema::slug))]
    pub campaign: String,
    /// Contact name.
    #[salvo(schema(schema_with = name_schema))]
    pub name: String,
    /// Contact email.
    #[salvo(schema(schema_with = schema::email))]
    pub email: String,
    /// What they want (at most the campaign's `forms.quote.max_message_chars`).
    #[salvo(schema(schema_with = message_schema))]
    pub message: String,
    /// Company.
    #[serde(default)]
    #[salvo(schema(schema_with = company_schema))]
    pub company: Option<String>,
    /// Phone.
    #[serde(default)]
    #[salvo(schema(schema_with = phone_schema))]
    pub phone: Option<String>,
    /// Budget.
    #[serde(default)]
    pub budget: Option<Budget>,
    /// Free-form details; keys allowed by the campaign.
    #[serde(default)]
    pub details: Option<Map<String, Value>>,
    /// The version of the consent text agreed to: required (422
    /// `consent_required`) when the campaign asks for it
    /// (`config.forms.quote.consent`), refused when it asks none.
    #[serde(default)]
    pub consent: Option<String>,
    /// The submitter's preferred locale: the language of the confirmation
    /// mail (a user's own locale when absent).
    #[serde(default)]
    #[salvo(schema(schema_with = locale_schema))]
    pub locale: Option<String>,
    /// The CAPTCHA widget's token: required (422 `captcha_required`) when
    /// the campaign has one (`config.forms.captcha`).
    #[serde(default)]
    #[salvo(schema(schema_with = super::bots::captcha_token_schema))]
    pub captcha_token: Option<String>,
}

impl super::Form for LeadRequest {
    const FIELDS: &'static [&'static str] = &[
        "campaign",
        "name",
        "email",
        "message",
        "company",
        "phone",
        "budget",
        "details",
        "consent",
        "locale",
        "captcha_token",
    ];
}

fn locale_schema() -> Object {
    super::locale_schema("blank means the user's, or the campaign's first")
}

fn name_schema() -> Object {
    schema::text(MAX_NAME, false)
}

fn message_schema() -> Object {
    schema::text(MAX_MESSAGE, true)
}

fn company_schema() -> Schema {
    schema::nullable(schema::text(MAX_NAME, false))
}

fn phone_schema() -> Schema {
    schema::nullable(schema::text(MAX_PHONE, false))
}

/// A submission as the handler read it.
#[derive(Debug)]
#[allow(missing_docs)] // fields named for what they hold
pub(crate) struct Submission<'a> {
    pub form: LeadRequest,
    /// The session token sent, if any (`Authorization: Bearer`).
    pub token: Option<&'a str>,
    /// The `Idempotency-Key` header as sent, if any.
    pub idempotency_key: Option<&'a [u8]>,
    /// Who sent it, and what else it carried.
    pub sender: &'a Sender,
}

/// A submission's outcome.
#[derive(Debug)]
pub(crate) struct Submitted {
    /// The stored lead (the earlier one when the request was replayed).
    pub lead: Lead,
    /// True when the same request was already stored under its idempotency key.
    pub replayed: bool,
}

/// Longest name, company and budget texts.
const MAX_NAME: usize = 200;
const MAX_PHONE: usize = 40;
/// Longest message any campaign accepts.
const MAX_MESSAGE: usize = crate::model::campaign::settings::MAX_MESSAGE_CHARS as usize;
const MAX_BUDGET: usize = 100;
const MAX_DETAIL_VALUE: usize = 1000;
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The request's fields after every rule of the campaign was applied.
struct ValidLead {
    name: String,
    email: String,
    message: String,
    company: Option<String>,
    phone: Option<String>,
    budget: Option<String>,
    details: Map<String, Value>,
}

fn validate(body: LeadRequest, rules: &LeadRules) -> Result<ValidLead, ApiError> {
    let name = required_text("name", &body.name, MAX_NAME)?;
    let email = normalize_email("email", &body.email)?;
    let message = required_message("message", &body.message, rules.max_message_chars as usize)?;
    let company = optional_text("company", body.company.as_deref(), MAX_NAME)?;
    let phone = optional_text("phone", body.phone.as_deref(), MAX_PHONE)?;
    if let Some(phone) = &phone {
        let ok = phone.chars().any(|c| c.is_ascii_digit())
            && phone
                .chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c));
        if !ok {
            return Err(ApiError::invalid_field("phone", "must be a phone number"));
        }
    }
    let budget = match &body.budget {
        None => None,
        Some(Budget::Text(text)) => optional_text("budget", Some(text), MAX_BUDGET)?,
        Some(Budget::Number(n)) => Some(n.to_string()),
    };
    for field in &rules.required {
        let (missing, name) = match field {
            LeadField::Company => (company.is_none(), "company"),
            LeadField::Phone => (phone.is_none(), "phone"),
            LeadField::Budget => (budget.is_none(), "budget"),
        };
        if missing {
            return Err(ApiError::invalid_field(
                name,
                "is required by this campaign",
            ));
        }
    }
    let details = body.details.unwrap_or_default();
    for (key, value) in &details {
        let field = format!("details.{key}");
        if !rules.details_keys.iter().any(|k| k == key) {
            return Err(ApiError::invalid_field(
                field,
                format!(
                    "is not one of the accepted details: {}",
                    rules.details_keys.join(", ")
                ),
            ));
        }
        let ok = match value {
            // The text rules of every other field (a service name reaches
            // every visitor in `lead.created`).
            Value::String(s) => {
                super::checked_text(&field, s, MAX_DETAIL_VALUE, false)?;
                true
            }
            Value::Number(_) | Value::Bool(_) | Value::Null => true,
            Value::Array(_) | Value::Object(_) => false,
        };
        if !ok {
            return Err(ApiError::invalid_field(
                field,
                format!(
                    "must be a text of at most {MAX_DETAIL_VALUE} characters, a number or a boolean"
                ),
            ));
        }
    }
    Ok(ValidLead {
        name,
        email,
        message,
        company,
        phone,
        budget,
        details,
    })
}

/// The purpose of the keyed hash an idempotency key is kept as.
pub(crate) const IDEMPOTENCY_PURPOSE: &str = "idempotency key";

fn idempotency_key(header: Option<&[u8]>) -> Result<Option<String>, ApiError> {
    let Some(value) = header else {
        return Ok(None);
    };
    let key = std::str::from_utf8(value)
        .ok()
        .map(str::trim)
        .filter(|k| {
            !k.is_empty()
                && k.len() <= MAX_IDEMPOTENCY_KEY
                && k.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            ApiError::invalid_field(
                "Idempotency-Key",
                format!("must be 1-{MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
            )
        })?;
    Ok(Some(key.to_owned()))
}

/// Where a lead comes from.
struct Origin {
    /// The visitor session: the sender's, or the one the user joined from.
    visitor_id: Option<Uuid>,
    /// The user who sent it.
    master_id: Option<Uuid>,
    /// The language of its mails.
    locale: Option<String>,
    /// When its visitor first touched the campaign.
    first_touch: Option<chrono::DateTime<Utc>>,
}

/// What identifies a request for idempotency: its validated content and sender.
fn fingerprint(lead: &ValidLead, session: Option<Uuid>) -> String {
    let canonical = json!({
        "name": lead.name, "email": lead.email, "message": lead.message,
        "company": lead.company, "phone": lead.phone, "budget": lead.budget,
        "details": lead.details, "session": session,
    });
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn lead_summary(campaign: &Campaign, lead: &Lead) -> Option<Event> {
    campaign.config.events.public_leads.then(|| {
        let summary = payload::LeadCreated {
            service: lead
                .details
                .get("service")
                .and_then(Value::as_str)
                .map(str::to_owned),
            created_at: lead.created_at,
        };
        Event::built_in(&summary, Audience::Everyone).about(lead.id)
    })
}

impl Forms {
    /// Submits a lead: 404/403 unless the campaign takes submissions, 401 for a
    /// bad session token, 429 past the rate limit, 422 naming a field that breaks
    /// a rule, 409 `idempotency_key_reused` for a key sent before with other
    /// content. Stored with its outbox entry; `lead.created` is published when the
    /// campaign makes leads public.
    pub(crate) async fn submit_lead(
        &self,
        submission: Submission<'_>,
    ) -> Result<Submitted, ApiError> {
        let body = submission.form;
        let campaign = self.open_campaign(&body.campaign).await?;
        let session = submission
            .token
            .map(|token| verify_session(&self.sessions, token, &campaign))
            .transpose()?;
        self.rate_limit(
            "quote",
            &campaign,
            &submission.sender.key,
            campaign.config.rate_limits.quotes_per_minute,
        )
        .await?;
        // Kept only as a keyed hash: a client's key may carry what it was
        // made from (an address, a name), and must not outlive an erasure.
        let key = idempotency_key(submission.idempotency_key)?
            .map(|key| self.sessions.pseudonym(IDEMPOTENCY_PURPOSE, &key));
        let now = Utc::now();
        let consent = consent(
            campaign.config.forms.lead.consent.as_deref(),
            body.consent.as_deref(),
            now,
        )?;
        let locale = super::optional_locale(body.locale.as_deref())?;
        let captcha_token = body.captcha_token.clone();
        let valid = validate(body, &campaign.config.forms.lead)?;
        let session_id = session.as_ref().map(|s| s.sub);
        let origin = self.lead_origin(session.as_ref(), locale).await?;
        let verdict = self
            .screen(
                &campaign,
                submission.sender,
                captcha_token.as_deref(),
                origin.first_touch,
            )
            .await?;
        let locale = origin.locale;
        let lead = Lead {
            id: Uuid::now_v7(),
            campaign_id: campaign.id,
            master_id: origin.master_id,
            session_id,
            request_fingerprint: key.as_ref().map(|_| fingerprint(&valid, session_id)),
            name: valid.name,
            email: valid.email,
            company: valid.company,
            phone: valid.phone,
            message: valid.message,
            budget: valid.budget,
            details: valid.details,
            status: LeadStatus::New,
            idempotency_key: key,
            created_at: now,
            updated_at: now,
            visitor_id: origin.visitor_id,
            consent,
        };
        let fingerprint = lead.request_fingerprint.clone();
        let (stored, created) = match verdict {
            Verdict::Spam(reason) => {
                let held = self.hold_lead(&campaign, reason, lead, locale).await?;
                (held, true)
            }
            Verdict::Pass => self.write_lead(&campaign, &lead, locale.as_deref()).await?,
            Verdict::Marked(reason) => {
                let written = self.write_lead(&campaign, &lead, locale.as_deref()).await?;
                if written.1 {
                    self.mark_lead(&campaign, reason, &written.0, locale).await;
                }
                written
            }
        };
        if created {
            return Ok(Submitted {
                lead: stored,
                replayed: false,
            });
        }
        if stored.request_fingerprint != fingerprint {
            return Err(ApiError::Conflict {
                code: "idempotency_key_reused",
                message: "this Idempotency-Key was already used for a different request".into(),
                field: Some("Idempotency-Key".into()),
            });
        }
        Ok(Submitted {
            lead: stored,
            replayed: true,
        })
    }

    /// Writes `lead` with its outbox entries (`lead.created`, its mails in
    /// `locale`) and, when it is new, publishes it: the stored lead, and
    /// whether it was new (false: its idempotency key was used before).
    pub(crate) async fn write_lead(
        &self,
        campaign: &Campaign,
        lead: &Lead,
        locale: Option<&str>,
    ) -> Result<(Lead, bool), ApiError> {
        let mut payload = serde_json::to_value(lead).map_err(anyhow::Error::from)?;
        payload["campaign"] = json!(campaign.slug);
        // The webhook's type: a contract with the CRM, named like the live
        // event (`model::events::LEAD_CREATED`) but not it.
        let mut outbox = vec![NewOutbox::for_campaign(campaign, "lead.created", payload)];
        outbox.extend(crate::mail::lead_mails(campaign, lead, locale));
        let (stored, created) = self.store.insert_lead(lead, &outbox).await?;
        if created {
            tracing::info!(lead = %stored.id, campaign = %campaign.slug, "lead created");
            if let Some(event) = lead_summary(campaign, &stored) {
                self.publisher.publish(campaign, event).await;
            }
            let team = payload::TeamLead {
                id: stored.id,
                status: stored.status,
                previous: None,
                at: stored.created_at,
            };
            self.publisher
                .publish(campaign, Event::built_in(&team, Audience::Team))
                .await;
        }
        Ok((stored, created))
    }

    /// Where a lead sent with `session` comes from ([`Origin`]); its
    /// mails are in `locale`, else the user's.
    async fn lead_origin(
        &self,
        session: Option<&crate::session::SessionClaims>,
        locale: Option<String>,
    ) -> Result<Origin, ApiError> {
        Ok(match session {
            Some(s) if s.kind == SessionKind::Visitor => Origin {
                visitor_id: Some(s.sub),
                master_id: None,
                locale,
                first_touch: Some(super::bots::session_start(s)),
            },
            Some(s) => match self.store.user_by_id(s.sub).await? {
                Some(user) => Origin {
                    visitor_id: user.visitor_id,
                    master_id: Some(user.master_id),
                    first_touch: Some(super::bots::user_start(&user)),
                    locale: locale.or(user.locale),
                },
                // A join's token whose user is not (held as spam, or
                // erased): a lead of nobody's.
                None => Origin {
                    visitor_id: None,
                    master_id: None,
                    locale,
                    first_touch: None,
                },
            },
            None => Origin {
                visitor_id: None,
                master_id: None,
                locale,
                first_touch: None,
            },
        })
    }
}
