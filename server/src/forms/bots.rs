//! Bot defence on the public forms (join and lead): the campaign's
//! honeypot field, its minimum time after the visitor's first touch, and
//! its CAPTCHA. A submission the honeypot or the minimum time catches is
//! answered like a success and held as spam ([`crate::model::spam`]) for
//! the team to release ([`super::spam`]); a missing, invalid or reused
//! CAPTCHA token is refused.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::Forms;
use super::captcha::CaptchaCheck;
use crate::error::ApiError;
use crate::model::campaign::Campaign;
use crate::model::campaign::bots::OnOutage;
use crate::model::events::payload;
use crate::model::spam::{NewSpam, SpamReason};
use crate::session::{SessionClaims, SessionKind};

/// Who sent a form, and what it carried besides its own fields.
#[derive(Debug, Default)]
pub(crate) struct Sender {
    /// The client's rate-limit key ([`crate::client::rate_limit_key`]).
    pub key: String,
    /// The client's address (told to the CAPTCHA provider).
    pub address: Option<IpAddr>,
    /// Its `User-Agent` (a join keeps a keyed hash of it with the key).
    pub user_agent: Option<String>,
    /// Top-level fields the form does not have: the campaign's honeypot,
    /// or mistakes (422).
    pub extra: Map<String, Value>,
}

/// What the bot defence made of a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Written as usual.
    Pass,
    /// Written as usual, and listed (the CAPTCHA provider was down).
    Marked(SpamReason),
    /// Held: answered like a success, written nowhere else.
    Spam(SpamReason),
}

/// Whether a honeypot's value is filled: anything but nothing, blank text
/// or `false`.
fn filled(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => false,
        Value::String(text) => !text.trim().is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(fields) => !fields.is_empty(),
        Value::Bool(true) | Value::Number(_) => true,
    }
}

/// When a visitor session began: its id is a UUID v7 drawn at its first
/// touch (its `iat` otherwise).
pub(crate) fn session_start(session: &SessionClaims) -> DateTime<Utc> {
    uuid_time(session.sub)
        .or_else(|| DateTime::from_timestamp(session.iat, 0))
        .unwrap_or_else(Utc::now)
}

/// When a user first touched the campaign: the start of the visitor
/// session they joined from, or their join when they joined without one.
pub(crate) fn user_start(user: &crate::model::user::User) -> DateTime<Utc> {
    user.visitor_id
        .and_then(uuid_time)
        .unwrap_or(user.created_at)
}

/// The time a UUID v7 was drawn.
fn uuid_time(id: Uuid) -> Option<DateTime<Utc>> {
    let (secs, nanos) = id.get_timestamp()?.to_unix();
    DateTime::from_timestamp(i64::try_from(secs).ok()?, nanos)
}

impl Forms {
    /// Judges a submission to `campaign` from `sender`, whose visitor
    /// session began at `first_touch` (none without a session): 422 naming
    /// a field the form does not have (the honeypot aside); 422
    /// `captcha_required`, `captcha_invalid` or `captcha_reused` for the
    /// CAPTCHA token, and 503 `captcha_unavailable` when its provider is
    /// down and the campaign refuses then. The CAPTCHA is checked first:
    /// what it refuses is refused to everyone alike.
    pub(crate) async fn screen(
        &self,
        campaign: &Campaign,
        sender: &Sender,
        captcha_token: Option<&str>,
        first_touch: Option<DateTime<Utc>>,
    ) -> Result<Verdict, ApiError> {
        let forms = &campaign.config.forms;
        if captcha_token.is_some_and(|t| t.chars().count() > MAX_CAPTCHA_TOKEN) {
            return Err(ApiError::invalid_field(
                "captcha_token",
                format!("must be at most {MAX_CAPTCHA_TOKEN} characters"),
            ));
        }
        let mut honeypot = false;
        for (field, value) in &sender.extra {
            if forms.honeypot.as_deref() == Some(field.as_str()) {
                honeypot = filled(value);
            } else {
                return Err(ApiError::invalid_field(
                    field.clone(),
                    format!("unknown field `{field}`: not a field of this form"),
                ));
            }
        }
        let mut verdict = Verdict::Pass;
        if let Some(captcha) = &forms.captcha {
            let token = captcha_token.map(str::trim).filter(|t| !t.is_empty());
            let Some(token) = token else {
                return Err(captcha_error(
                    "captcha_required",
                    "this form needs the CAPTCHA's token: send it as \"captcha_token\"",
                ));
            };
            let check = self
                .captcha
                .check(
                    captcha.provider,
                    token,
                    sender.address,
                    self.publisher.counters(),
                )
                .await;
            match (check, captcha.on_outage) {
                (CaptchaCheck::Valid, _) => {}
                (CaptchaCheck::Invalid, _) => {
                    return Err(captcha_error(
                        "captcha_invalid",
                        "the CAPTCHA's token is not valid; solve it again",
                    ));
                }
                (CaptchaCheck::Reused, _) => {
                    return Err(captcha_error(
                        "captcha_reused",
                        "the CAPTCHA's token was used already or expired; solve it again",
                    ));
                }
                (CaptchaCheck::Unavailable(_), OnOutage::Allow) => {
                    verdict = Verdict::Marked(SpamReason::CaptchaUnavailable);
                }
                (CaptchaCheck::Unavailable(_), OnOutage::Refuse) => {
                    return Err(ApiError::Unavailable {
                        code: "captcha_unavailable",
                        message: "the CAPTCHA cannot be checked right now; try again shortly"
                            .into(),
                    });
                }
            }
        }
        if honeypot {
            return Ok(Verdict::Spam(SpamReason::Honeypot));
        }
        if forms.min_seconds > 0 {
            let soon = first_touch.is_none_or(|start| {
                Utc::now() - start < chrono::Duration::seconds(i64::from(forms.min_seconds))
            });
            if soon {
                return Ok(Verdict::Spam(SpamReason::TooFast));
            }
        }
        Ok(verdict)
    }

    /// When the visitor behind `session` first touched the campaign: a
    /// visitor session's start, or, for a user's, the start of the session
    /// they joined from (their join, when they joined without one). None
    /// without a session, or for a user who is not (a join held as spam).
    pub(crate) async fn first_touch(
        &self,
        session: Option<&SessionClaims>,
    ) -> Result<Option<DateTime<Utc>>, ApiError> {
        Ok(match session {
            None => None,
            Some(s) if s.kind == SessionKind::Visitor => Some(session_start(s)),
            Some(s) => self.store.user_by_id(s.sub).await?.as_ref().map(user_start),
        })
    }

    /// Lists `spam` of `campaign`, counted in metrics and told to the team.
    pub(crate) async fn list_spam(
        &self,
        campaign: &Campaign,
        spam: &NewSpam,
    ) -> Result<(), ApiError> {
        self.store.hold_spam(spam).await?;
        self.tell_team(
            campaign,
            payload::TeamSpam {
                id: spam.id,
                form: spam.form(),
                reason: spam.reason,
                state: spam.state,
                at: spam.created_at,
            },
        )
        .await;
        self.publisher
            .counters()
            .spam
            .with_label_values(&[spam.form().as_str(), spam.reason.as_str()])
            .inc();
        tracing::info!(
            spam = %spam.id,
            campaign = spam.campaign_id,
            form = spam.form().as_str(),
            reason = spam.reason.as_str(),
            state = spam.state.as_str(),
            "form submission listed as spam"
        );
        Ok(())
    }
}

/// The schema of a form's `captcha_token`.
pub(crate) fn captcha_token_schema() -> salvo_oapi::schema::Schema {
    crate::model::schema::nullable(
        crate::model::schema::string()
            .max_length(MAX_CAPTCHA_TOKEN)
            .description("The CAPTCHA widget's token; required when the campaign has one (`config.forms.captcha`)"),
    )
}

impl Forms {
    /// Publishes `team.spam` to `campaign`'s team.
    pub(crate) async fn tell_team(&self, campaign: &Campaign, spam: payload::TeamSpam) {
        let event = crate::bus::Event::built_in(&spam, crate::bus::Audience::Team);
        self.publisher.publish(campaign, event).await;
    }
}

/// Longest CAPTCHA token sent to a provider (Turnstile's are at most 2048
/// characters).
const MAX_CAPTCHA_TOKEN: usize = 4096;

fn captcha_error(code: &'static str, message: &str) -> ApiError {
    ApiError::Unprocessable {
        code,
        message: message.to_owned(),
        field: Some("captcha_token".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_honeypot_is_filled_by_anything_but_nothing() {
        for empty in [
            Value::Null,
            Value::Bool(false),
            Value::from(""),
            Value::from("  "),
        ] {
            assert!(!filled(&empty), "{empty}");
        }
        for something in [
            Value::from("https://spam.example"),
            Value::from(1),
            Value::Bool(true),
        ] {
            assert!(filled(&something), "{something}");
        }
    }

    #[test]
    fn a_session_began_when_its_id_was_drawn() {
        let id = Uuid::now_v7();
        let at = uuid_time(id).expect("a v7 id has a time");
        assert!((Utc::now() - at).num_seconds().abs() < 5);
        assert_eq!(uuid_time(Uuid::from_u128(0x1234)), None);
    }
}
