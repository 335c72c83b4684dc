//! Session tokens: compact JWTs (HS256) naming who is calling — a registered
//! user (`master_id`) or an anonymous visitor — and for which campaign.
//!
//! Only `HS256` is accepted (the header is checked, so `alg: none` and key
//! confusion are refused), the signature is compared in constant time, and every
//! token expires.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::error::ApiError;
use crate::model::campaign::Campaign;
use crate::revocation::Revocations;

/// Who a session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// A user who joined; `sub` is their `master_id`.
    User,
    /// An anonymous visitor; `sub` is a random visitor id.
    Visitor,
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    /// The session id: a user's `master_id` or a visitor id.
    pub sub: Uuid,
    /// The campaign id.
    pub cid: i64,
    /// User or visitor.
    pub kind: SessionKind,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token of ours: wrong shape, algorithm or signature.
    #[error("the session token is not valid")]
    Invalid,
    /// A real token, but past its expiry.
    #[error("the session token has expired")]
    Expired,
    /// A real token of a session an erasure ended.
    #[error("the session was ended: its person's data was erased")]
    Ended,
}

const HEADER_JSON: &[u8] = br#"{"alg":"HS256","typ":"JWT"}"#;

/// Issues and checks session tokens and connect tickets. One secret signs;
/// during a rotation the previous one still verifies.
pub struct SessionKeys {
    /// The signing secret first, then the previous one, if any.
    secrets: Vec<Vec<u8>>,
    user_ttl: Duration,
    visitor_ttl: Duration,
    /// Sessions ended before their tokens expire (erasures).
    revocations: Arc<Revocations>,
    /// The key of [`SessionKeys::pseudonym`], derived from the signing secret.
    pseudonym_key: [u8; 32],
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeys")
            .field("user_ttl", &self.user_ttl)
            .field("visitor_ttl", &self.visitor_ttl)
            .finish_non_exhaustive()
    }
}

/// How long a connect ticket is valid.
pub(crate) const TICKET_TTL: std::time::Duration = std::time::Duration::from_secs(60);

impl SessionKeys {
    /// Keys signing with `secret`; tokens of users live for `user_ttl`,
    /// those of anonymous visitors for `visitor_ttl`.
    pub fn new(
        secret: &[u8],
        user_ttl: std::time::Duration,
        visitor_ttl: std::time::Duration,
    ) -> Self {
        let ttl = |d| Duration::from_std(d).unwrap_or(Duration::days(30));
        Self {
            secrets: vec![secret.to_vec()],
            user_ttl: ttl(user_ttl),
            visitor_ttl: ttl(visitor_ttl),
            revocations: Revocations::new(),
            pseudonym_key: derive_key(secret, PSEUDONYM_LABEL),
        }
    }

    /// Refuses the tokens and tickets of the sessions `revocations` ended.
    pub fn with_revocations(mut self, revocations: Arc<Revocations>) -> Self {
        self.revocations = revocations;
        self
    }

    /// A keyed hash (HMAC-SHA-256, hex) of `text` for `purpose`: what is
    /// kept of a value that must be matched again but never read back — an
    /// erased person (in the audit and erasure logs), a client's
    /// idempotency key. Unlike a plain SHA-256, whoever reads the database
    /// cannot test a list of guesses against it. Its key is derived from the
    /// signing secret (HKDF-SHA-256 under a fixed label), so no new secret is
    /// needed; it changes when that secret is rotated.
    pub fn pseudonym(&self, purpose: &str, text: &str) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.pseudonym_key)
            .expect("HMAC accepts any key length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(text.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The longest a token lives: sessions an erasure ended are refused
    /// for this long.
    pub fn longest_ttl(&self) -> Duration {
        self.user_ttl.max(self.visitor_ttl)
    }

    /// Also accepts what `previous` signed (a rotation in progress).
    pub fn with_previous(mut self, previous: &[u8]) -> Self {
        self.secrets.truncate(1);
        self.secrets.push(previous.to_vec());
        self
    }

    fn mac(secret: &[u8], purpose: &[u8]) -> Hmac<Sha256> {
        // HMAC takes keys of any length. Tickets are signed with a key of
        // their own, so neither kind can pass for the other.
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC accepts any key length");
        if !purpose.is_empty() {
            mac.update(purpose);
            let key = mac.finalize().into_bytes();
            mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
                .expect("HMAC accepts any key length");
        }
        mac
    }

    fn sign(&self, purpose: &[u8], input: &[u8]) -> String {
        let mut mac = Self::mac(&self.secrets[0], purpose);
        mac.update(input);
        B64.encode(mac.finalize().into_bytes())
    }

    /// Whether `signature` of `input` was made with any of the secrets.
    fn signed(&self, purpose: &[u8], input: &[u8], signature: &[u8]) -> bool {
        self.secrets.iter().any(|secret| {
            let mut mac = Self::mac(secret, purpose);
            mac.update(input);
            mac.verify_slice(signature).is_ok()
        })
    }

    /// `payload` signed for `purpose`, as URL-safe text: what a client
    /// holds and hands back unchanged (a list cursor). Not encrypted.
    pub fn seal(&self, purpose: &[u8], payload: &[u8]) -> String {
        let body = B64.encode(payload);
        let signature = self.sign(purpose, body.as_bytes());
        format!("{body}.{signature}")
    }

    /// The payload of what [`seal`](Self::seal) made for `purpose`; `None`
    /// when it was changed, made for another purpose or not ours.
    pub fn unseal(&self, purpose: &[u8], sealed: &str) -> Option<Vec<u8>> {
        if sealed.len() > 4096 {
            return None;
        }
        let (body, signature) = sealed.split_once('.')?;
        let signature = B64.decode(signature).ok()?;
        self.signed(purpose, body.as_bytes(), &signature)
            .then(|| B64.decode(body).ok())
            .flatten()
    }

    /// A token for `sub` in campaign `cid`, and when it expires.
    pub fn issue(
        &self,
        sub: Uuid,
        cid: i64,
        kind: SessionKind,
        now: DateTime<Utc>,
    ) -> (String, DateTime<Utc>) {
        let expires = now
            + match kind {
                SessionKind::User => self.user_ttl,
                SessionKind::Visitor => self.visitor_ttl,
            };
        let claims = SessionClaims {
            sub,
            cid,
            kind,
            iat: now.timestamp(),
            exp: expires.timestamp(),
        };
        let payload = serde_json::to_vec(&claims).expect("claims serialize");
        let signing_input = format!("{}.{}", B64.encode(HEADER_JSON), B64.encode(payload));
        let signature = self.sign(b"", signing_input.as_bytes());
        (format!("{signing_input}.{signature}"), expires)
    }

    /// Checks `token` at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<SessionClaims, TokenError> {
        if token.len() > 2048 {
            return Err(TokenError::Invalid);
        }
        let (signing_input, signature) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
        let (header, payload) = signing_input.split_once('.').ok_or(TokenError::Invalid)?;
        if payload.contains('.') {
            return Err(TokenError::Invalid);
        }
        let header = B64.decode(header).map_err(|_| TokenError::Invalid)?;
        let header: serde_json::Value =
            serde_json::from_slice(&header).map_err(|_| TokenError::Invalid)?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return Err(TokenError::Invalid);
        }
        let claims: SessionClaims = self.opened(b"", signing_input, payload, signature)?;
        self.still_valid(claims.sub, claims.exp, now)?;
        Ok(claims)
    }

    /// The claims in `payload` (base64), once `signature` (base64) is found
    /// to be ours over `signed` for `purpose`.
    fn opened<T: serde::de::DeserializeOwned>(
        &self,
        purpose: &[u8],
        signed: &str,
        payload: &str,
        signature: &str,
    ) -> Result<T, TokenError> {
        let signature = B64.decode(signature).map_err(|_| TokenError::Invalid)?;
        if !self.signed(purpose, signed.as_bytes(), &signature) {
            return Err(TokenError::Invalid);
        }
        let payload = B64.decode(payload).map_err(|_| TokenError::Invalid)?;
        serde_json::from_slice(&payload).map_err(|_| TokenError::Invalid)
    }

    /// Whether what was signed for session `sub`, expiring at `exp`, still
    /// holds at `now`: not expired, and the session not ended by an erasure.
    fn still_valid(&self, sub: Uuid, exp: i64, now: DateTime<Utc>) -> Result<(), TokenError> {
        if exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        if self.revocations.session_ended(sub) {
            return Err(TokenError::Ended);
        }
        Ok(())
    }

    /// A connect ticket for the session `claims`, bound to the client's
    /// rate-limit key and the page origin it was asked from; valid for
    /// [`TICKET_TTL`] and reusable within it.
    pub fn issue_ticket(
        &self,
        claims: &SessionClaims,
        client: &str,
        origin: Option<&str>,
        now: DateTime<Utc>,
    ) -> (String, DateTime<Utc>) {
        let expires = now + Duration::from_std(TICKET_TTL).unwrap_or(Duration::minutes(1));
        let ticket = TicketClaims {
            sub: claims.sub,
            cid: claims.cid,
            kind: claims.kind,
            client: client.to_owned(),
            origin: origin.map(str::to_owned),
            exp: expires.timestamp(),
        };
        let payload = B64.encode(serde_json::to_vec(&ticket).expect("ticket serializes"));
        let signature = self.sign(TICKET_PURPOSE, payload.as_bytes());
        (format!("{payload}.{signature}"), expires)
    }

    /// Checks a connect ticket at `now`.
    pub fn verify_ticket(
        &self,
        ticket: &str,
        now: DateTime<Utc>,
    ) -> Result<TicketClaims, TokenError> {
        if ticket.len() > 2048 {
            return Err(TokenError::Invalid);
        }
        let (payload, signature) = ticket.split_once('.').ok_or(TokenError::Invalid)?;
        let claims: TicketClaims = self.opened(TICKET_PURPOSE, payload, payload, signature)?;
        self.still_valid(claims.sub, claims.exp, now)?;
        Ok(claims)
    }
}

const TICKET_PURPOSE: &[u8] = b"ovasabi connect ticket v1";

/// The HKDF label of the pseudonym key.
const PSEUDONYM_LABEL: &[u8] = b"ovasabi-edge pseudonyms v1";

/// A 32-byte key for `label`, derived from `secret` (HKDF-SHA-256, no salt).
fn derive_key(secret: &[u8], label: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    hkdf::Hkdf::<Sha256>::new(None, secret)
        .expand(label, &mut key)
        .expect("32 bytes is a valid HKDF-SHA-256 output length");
    key
}

/// What a connect ticket says: the session it stands for, the client
/// address it was issued to and the page origin that asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketClaims {
    /// The session id.
    pub sub: Uuid,
    /// The campaign id.
    pub cid: i64,
    /// User or visitor.
    pub kind: SessionKind,
    /// The rate-limit key of the client it was issued to.
    pub client: String,
    /// The `Origin` of the page that asked for it, if sent.
    pub origin: Option<String>,
    /// Expires at (Unix seconds).
    pub exp: i64,
}

impl TicketClaims {
    /// The session the ticket stands for.
    pub fn session(&self) -> SessionClaims {
        SessionClaims {
            sub: self.sub,
            cid: self.cid,
            kind: self.kind,
            iat: 0,
            exp: self.exp,
        }
    }
}

/// Checks a session token for `campaign`: not ours, expired, or of another
/// campaign is 401 (`invalid_token`, `token_expired`).
pub(crate) fn verify_session(
    keys: &SessionKeys,
    token: &str,
    campaign: &Campaign,
) -> Result<SessionClaims, ApiError> {
    let claims = verify_token(keys, token)?;
    if claims.cid != campaign.id {
        return Err(ApiError::Unauthorized {
            code: "invalid_token",
            message: "the session token belongs to another campaign".into(),
        });
    }
    Ok(claims)
}

/// Checks a session token of any campaign: not ours is 401
/// `invalid_token`, expired 401 `token_expired`.
pub(crate) fn verify_token(keys: &SessionKeys, token: &str) -> Result<SessionClaims, ApiError> {
    keys.verify(token, chrono::Utc::now())
        .map_err(|e| ApiError::Unauthorized {
            code: match e {
                TokenError::Invalid => "invalid_token",
                TokenError::Expired => "token_expired",
                TokenError::Ended => "session_ended",
            },
            message: e.to_string(),
        })
}

/// Checks a connect ticket for `campaign`: not ours or of another campaign
/// is 401 `invalid_ticket`, expired 401 `ticket_expired`.
pub(crate) fn verify_ticket(
    keys: &SessionKeys,
    ticket: &str,
    campaign: &Campaign,
) -> Result<TicketClaims, ApiError> {
    let claims = keys
        .verify_ticket(ticket, chrono::Utc::now())
        .map_err(|e| ApiError::Unauthorized {
            code: match e {
                TokenError::Invalid => "invalid_ticket",
                TokenError::Expired => "ticket_expired",
                TokenError::Ended => "session_ended",
            },
            message: match e {
                TokenError::Invalid => "the connect ticket is not valid".into(),
                TokenError::Ended => TokenError::Ended.to_string(),
                TokenError::Expired => {
                    "the connect ticket has expired; get a fresh one from POST /api/connect".into()
                }
            },
        })?;
    if claims.cid != campaign.id {
        return Err(ApiError::Unauthorized {
            code: "invalid_ticket",
            message: "the connect ticket belongs to another campaign".into(),
        });
    }
    Ok(claims)
}

#[cfg(test)]
mod tests;
