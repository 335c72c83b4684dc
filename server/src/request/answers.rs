//! The error answers an operation may give, each declared once: its status,
//! what it means, and the stable `code` values it carries (the body is
//! always an [`ErrorBody`](crate::error::ErrorBody)). An operation lists the
//! ones it gives in its `#[endpoint(responses(…))]`, e.g.
//! `responses(answers::Body, answers::Unavailable)`.

use salvo_oapi::schema::{AdditionalProperties, BasicType, Object, Ref};
use salvo_oapi::{
    Components, EndpointOutRegister, Operation, RefOr, Response, Responses, Schema, ToResponses,
    ToSchema,
};

use crate::error::{ApiError, ErrorBody};

/// The body of every error answer, `Error` among the document's schemas.
impl ToSchema for ErrorBody<'_> {
    fn to_schema(components: &mut Components) -> RefOr<Schema> {
        let text = || Object::with_type(BasicType::String);
        let schema = Object::new()
            .property("code", text().description("Stable, machine-readable code"))
            .property("message", text().description("For a person"))
            .property(
                "field",
                text().description("The request field concerned, when there is one"),
            )
            .required("code")
            .required("message")
            .additional_properties(AdditionalProperties::FreeForm(false));
        components.schemas.insert("Error", schema);
        Ref::from_schema_name("Error").into()
    }
}

/// A handler returning `Result<…, ApiError>` declares its error answers
/// itself (the sets below), not through its return type.
impl EndpointOutRegister for ApiError {
    fn register(_components: &mut Components, _operation: &mut Operation) {}
}

/// One error answer: a status, its meaning and the codes it carries.
pub(crate) struct ErrorAnswer {
    /// The HTTP status.
    pub status: u16,
    /// What it means, for a person.
    pub meaning: &'static str,
    /// The `code` values of its bodies.
    pub codes: &'static [&'static str],
}

impl ErrorAnswer {
    /// The description of the answer: its meaning and its codes.
    pub(crate) fn description(&self) -> String {
        let codes: Vec<String> = self.codes.iter().map(|c| format!("`{c}`")).collect();
        format!("{} (`code`: {})", self.meaning, codes.join(", "))
    }

    fn response(&self, components: &mut Components) -> Response {
        let schema = ErrorBody::to_schema(components);
        Response::new(self.description()).add_content("application/json", schema)
    }
}

/// Declares a set of error answers an operation lists as one.
macro_rules! answers {
    ($($(#[$doc:meta])* $name:ident => [$($answer:expr),+ $(,)?];)+) => {
        $(
            $(#[$doc])*
            pub(crate) struct $name;

            impl $name {
                /// The answers of this set.
                pub(crate) const ANSWERS: &[&ErrorAnswer] = &[$(&$answer),+];
            }

            impl ToResponses for $name {
                fn to_responses(components: &mut Components) -> Responses {
                    Self::ANSWERS
                        .iter()
                        .map(|answer| (answer.status.to_string(), answer.response(components)))
                        .collect()
                }
            }
        )+

        /// Every set, for the test that holds the codes to the code.
        #[cfg(test)]
        pub(crate) const ALL: &[&[&ErrorAnswer]] = &[$($name::ANSWERS),+];
    };
}

/// 400 for a request whose query or body is malformed.
pub(crate) const MALFORMED: ErrorAnswer = ErrorAnswer {
    status: 400,
    meaning: "Malformed request",
    codes: &["malformed_json", "unreadable_body", "token_in_url"],
};
/// 400 for a mail's link the server did not make (or whose body is malformed).
pub(crate) const BAD_LINK: ErrorAnswer = ErrorAnswer {
    status: 400,
    meaning: "A link the server did not make (changed, or whose join was replaced by a newer one or removed), or a malformed body",
    codes: &["invalid_token", "malformed_json", "unreadable_body"],
};
/// 410 for a mail's link past its time.
pub(crate) const EXPIRED_LINK: ErrorAnswer = ErrorAnswer {
    status: 410,
    meaning: "The link has expired",
    codes: &["token_expired"],
};
/// 408 for a body that trickled in.
pub(crate) const TIMEOUT: ErrorAnswer = ErrorAnswer {
    status: 408,
    meaning: "The body came too slowly",
    codes: &["request_timeout"],
};
/// 413 for a body over the limit.
pub(crate) const TOO_LARGE: ErrorAnswer = ErrorAnswer {
    status: 413,
    meaning: "Body too large",
    codes: &["payload_too_large"],
};
/// 415 for a body of another type.
pub(crate) const MEDIA_TYPE: ErrorAnswer = ErrorAnswer {
    status: 415,
    meaning: "Not a JSON (or, for campaign files, TOML) body",
    codes: &["unsupported_media_type"],
};
const CREDENTIAL_CODES: &[&str] = &[
    "unauthorized",
    "invalid_token",
    "token_expired",
    "invalid_ticket",
    "ticket_expired",
    "session_ended",
];
/// 401 for a visitor's missing or bad session token or ticket.
pub(crate) const SESSION_CREDENTIAL: ErrorAnswer = ErrorAnswer {
    status: 401,
    meaning: "Missing, forged or expired credential",
    codes: CREDENTIAL_CODES,
};
/// 401 for a team member's missing, bad or revoked key.
pub(crate) const KEY_CREDENTIAL: ErrorAnswer = ErrorAnswer {
    status: 401,
    meaning: "Missing, forged, revoked or expired credential",
    codes: CREDENTIAL_CODES,
};
/// 403 for a key whose role or scope falls short.
pub(crate) const ROLE: ErrorAnswer = ErrorAnswer {
    status: 403,
    meaning: "The key's role is too small, or the key is of another campaign",
    codes: &["role_required", "campaign_out_of_scope"],
};
/// 403 for a visitor's request the campaign does not allow now or from there.
pub(crate) const NOT_ALLOWED: ErrorAnswer = ErrorAnswer {
    status: 403,
    meaning: "Not allowed from this origin, not for this session, or closed",
    codes: &[
        "origin_not_allowed",
        "join_first",
        "campaign_closed",
        "referrals_closed",
    ],
};
/// 404 for anything named that does not exist.
pub(crate) const NOT_FOUND: ErrorAnswer = ErrorAnswer {
    status: 404,
    meaning: "No such campaign or thing",
    codes: &[
        "campaign_not_found",
        "unknown_code",
        "quote_not_found",
        "outbox_entry_not_found",
        "spam_not_found",
        "cursors_disabled",
        "leaderboard_disabled",
        "not_found",
    ],
};
/// 404 for an unknown campaign.
pub(crate) const NO_CAMPAIGN: ErrorAnswer = ErrorAnswer {
    status: 404,
    meaning: "No such campaign",
    codes: &["campaign_not_found"],
};
/// 404 for a campaign without a public leaderboard.
pub(crate) const NO_LEADERBOARD: ErrorAnswer = ErrorAnswer {
    status: 404,
    meaning: "No such campaign, or it shows no leaderboard",
    codes: &["campaign_not_found", "leaderboard_disabled"],
};
/// 404 for a key id no live key has.
pub(crate) const NO_KEY: ErrorAnswer = ErrorAnswer {
    status: 404,
    meaning: "No live key with that id",
    codes: &["key_not_found"],
};
/// 404 for a feed consumer that does not exist.
pub(crate) const NO_CONSUMER: ErrorAnswer = ErrorAnswer {
    status: 404,
    meaning: "No such consumer in that scope, or no such campaign",
    codes: &["consumer_not_found", "campaign_not_found"],
};
/// 409 for what conflicts with what is stored.
pub(crate) const CONFLICT: ErrorAnswer = ErrorAnswer {
    status: 409,
    meaning: "Conflicts with what is stored",
    codes: &[
        "email_taken",
        "already_referred",
        "idempotency_conflict",
        "idempotency_key_reused",
        "slug_taken",
        "illegal_transition",
        "no_cursor_stream",
        "not_held",
        "conflict",
    ],
};
/// 409 for a campaign status move its life does not allow.
pub(crate) const ILLEGAL_TRANSITION: ErrorAnswer = ErrorAnswer {
    status: 409,
    meaning: "A status move the campaign's life does not allow: draft → active; active ⇄ paused; \
              active or paused → ended; ended is final",
    codes: &["illegal_transition"],
};
/// 409 for a key name already in use.
pub(crate) const KEY_NAME_TAKEN: ErrorAnswer = ErrorAnswer {
    status: 409,
    meaning: "A live key already has that name",
    codes: &["key_name_taken"],
};
/// 422 for a field breaking a rule.
pub(crate) const INVALID: ErrorAnswer = ErrorAnswer {
    status: 422,
    meaning: "A field breaks a rule; nothing was written",
    codes: &[
        "invalid_field",
        "consent_required",
        "invalid_cursor",
        "unknown_event_type",
        "self_referral",
        "unsupported_locale",
        "captcha_required",
        "captcha_invalid",
        "captcha_reused",
        "disposable_email",
    ],
};
/// 422 for a name that cannot be a feed consumer's.
pub(crate) const INVALID_NAME: ErrorAnswer = ErrorAnswer {
    status: 422,
    meaning: "The name is not a consumer's name",
    codes: &["invalid_field"],
};
/// 429 for a client over a limit.
pub(crate) const LIMITED: ErrorAnswer = ErrorAnswer {
    status: 429,
    meaning: "Over a rate limit or an address's connection cap; see Retry-After",
    codes: &["rate_limited"],
};
/// 503 for a dependency that cannot answer now.
pub(crate) const UNAVAILABLE: ErrorAnswer = ErrorAnswer {
    status: 503,
    meaning: "The database, the server or (for a form with a CAPTCHA whose campaign refuses then) the CAPTCHA provider cannot answer now; retry",
    codes: &["unavailable", "busy", "overloaded", "captcha_unavailable"],
};

answers! {
    /// 400: a malformed query.
    Malformed => [MALFORMED];
    /// What reading a JSON body may answer (400, 408, 413, 415).
    Body => [MALFORMED, TIMEOUT, TOO_LARGE, MEDIA_TYPE];
    /// 401 for a visitor's credential.
    SessionCredential => [SESSION_CREDENTIAL];
    /// 401 and 403 for a team key.
    Key => [KEY_CREDENTIAL, ROLE];
    /// 401 for a team key (any role will do).
    KeyCredential => [KEY_CREDENTIAL];
    /// 403 for a visitor's request.
    NotAllowed => [NOT_ALLOWED];
    /// 404 for anything named.
    NotFound => [NOT_FOUND];
    /// 404 for an unknown campaign.
    NoCampaign => [NO_CAMPAIGN];
    /// 404 for a campaign without a leaderboard.
    NoLeaderboard => [NO_LEADERBOARD];
    /// 404 for an unknown key.
    NoKey => [NO_KEY];
    /// 404 for an unknown feed consumer.
    NoConsumer => [NO_CONSUMER];
    /// 409 for a conflict.
    Conflict => [CONFLICT];
    /// 409 for a campaign status move not allowed.
    IllegalTransition => [ILLEGAL_TRANSITION];
    /// 409 for a key name in use.
    KeyNameTaken => [KEY_NAME_TAKEN];
    /// 422 for a field breaking a rule.
    Invalid => [INVALID];
    /// 422 for a bad consumer name.
    InvalidName => [INVALID_NAME];
    /// 429 for a client over a limit.
    Limited => [LIMITED];
    /// 503 for a dependency down.
    Unavailable => [UNAVAILABLE];
    /// A mail's link followed.
    Link => [BAD_LINK, EXPIRED_LINK, UNAVAILABLE];
    /// A mail's link posted back in a body.
    LinkBody => [BAD_LINK, TIMEOUT, TOO_LARGE, MEDIA_TYPE, EXPIRED_LINK, INVALID_NAME, UNAVAILABLE];
    /// What a visitor's form may answer besides its credential and
    /// conflicts: not allowed, not found, a bad body, a rule broken, over a
    /// limit, a dependency down.
    Form => [NOT_ALLOWED, NOT_FOUND, MALFORMED, TIMEOUT, TOO_LARGE, MEDIA_TYPE, INVALID, LIMITED, UNAVAILABLE];
    /// What a team member's write may answer besides its conflicts: a bad
    /// body, the key, not found, a rule broken, over a limit, a dependency
    /// down.
    TeamWrite => [MALFORMED, TIMEOUT, TOO_LARGE, MEDIA_TYPE, KEY_CREDENTIAL, ROLE, NOT_FOUND, INVALID, LIMITED, UNAVAILABLE];
    /// What a team member's read of a campaign's list may answer: a
    /// malformed query, the key, the campaign not found, a parameter
    /// breaking a rule, a dependency down.
    TeamList => [MALFORMED, KEY_CREDENTIAL, ROLE, NOT_FOUND, INVALID, UNAVAILABLE];
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::ALL;

    /// The text of every Rust file of the server but this one.
    fn sources(dir: &Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).expect("a source folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("answers.rs") {
                out.push_str(&std::fs::read_to_string(&path).expect("a source file"));
            }
        }
    }

    /// The error codes the answers document and the ones the server writes
    /// (`code: "…"`) are the same: a new code must be documented, a
    /// documented one must exist. (gRPC statuses are not HTTP answers.)
    #[test]
    fn every_error_code_written_is_documented_and_every_documented_one_is_written() {
        let mut text = String::new();
        sources(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut text,
        );
        let documented: BTreeSet<&str> = ALL
            .iter()
            .flat_map(|set| set.iter())
            .flat_map(|answer| answer.codes.iter().copied())
            .collect();
        let mut written = BTreeSet::new();
        for piece in text.split("code: \"").skip(1) {
            let code = piece.split('"').next().unwrap_or_default();
            if code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                written.insert(code);
            }
        }
        let grpc_only = ["key_revoked"];
        let undocumented: Vec<_> = written
            .iter()
            .filter(|code| !documented.contains(*code) && !grpc_only.contains(code))
            .collect();
        assert!(
            undocumented.is_empty(),
            "codes written but not documented: {undocumented:?}"
        );
        let stale: Vec<_> = documented
            .iter()
            .filter(|code| !text.contains(&format!("\"{code}\"")))
            .collect();
        assert!(
            stale.is_empty(),
            "codes documented but never written: {stale:?}"
        );
    }
}
