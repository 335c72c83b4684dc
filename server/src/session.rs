//! Session tokens: compact JWTs (HS256) naming who is calling — a registered
//! user (`master_id`) or an anonymous visitor — and for which campaign.
//!
//! Only `HS256` is accepted (the header is checked, so `alg: none` and key
//! confusion are refused), the signature is compared in constant time, and every
//! token expires.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::error::ApiError;
use crate::model::campaign::Campaign;

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
}

const HEADER_JSON: &[u8] = br#"{"alg":"HS256","typ":"JWT"}"#;

/// Issues and checks session tokens with one secret.
pub struct SessionKeys {
    secret: Vec<u8>,
    ttl: Duration,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl SessionKeys {
    /// Keys with `secret`; tokens live for `ttl`.
    pub fn new(secret: &[u8], ttl: std::time::Duration) -> Self {
        Self {
            secret: secret.to_vec(),
            ttl: Duration::from_std(ttl).unwrap_or(Duration::days(30)),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .expect("HMAC accepts any key length")
    }

    /// A token for `sub` in campaign `cid`, and when it expires.
    pub fn issue(
        &self,
        sub: Uuid,
        cid: i64,
        kind: SessionKind,
        now: DateTime<Utc>,
    ) -> (String, DateTime<Utc>) {
        let expires = now + self.ttl;
        let claims = SessionClaims {
            sub,
            cid,
            kind,
            iat: now.timestamp(),
            exp: expires.timestamp(),
        };
        let payload = serde_json::to_vec(&claims).expect("claims serialize");
        let signing_input = format!("{}.{}", B64.encode(HEADER_JSON), B64.encode(payload));
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let signature = B64.encode(mac.finalize().into_bytes());
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
        let signature = B64.decode(signature).map_err(|_| TokenError::Invalid)?;
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::Invalid)?;
        let payload = B64.decode(payload).map_err(|_| TokenError::Invalid)?;
        let claims: SessionClaims =
            serde_json::from_slice(&payload).map_err(|_| TokenError::Invalid)?;
        if claims.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// Checks a session token for `campaign`: not ours, expired, or of another
/// campaign is 401 (`invalid_token`, `token_expired`).
pub fn verify_session(
    keys: &SessionKeys,
    token: &str,
    campaign: &Campaign,
) -> Result<SessionClaims, ApiError> {
    let claims = keys
        .verify(token, chrono::Utc::now())
        .map_err(|e| ApiError::Unauthorized {
            code: match e {
                TokenError::Invalid => "invalid_token",
                TokenError::Expired => "token_expired",
            },
            message: e.to_string(),
        })?;
    if claims.cid != campaign.id {
        return Err(ApiError::Unauthorized {
            code: "invalid_token",
            message: "the session token belongs to another campaign".into(),
        });
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SessionKeys {
        SessionKeys::new(
            b"0123456789abcdef0123456789abcdef",
            std::time::Duration::from_secs(3600),
        )
    }

    #[test]
    fn round_trip() {
        let now = Utc::now();
        let id = Uuid::now_v7();
        let (token, expires) = keys().issue(id, 7, SessionKind::User, now);
        let claims = keys().verify(&token, now).expect("valid");
        assert_eq!(
            (claims.sub, claims.cid, claims.kind),
            (id, 7, SessionKind::User)
        );
        assert_eq!(claims.exp, expires.timestamp());
    }

    #[test]
    fn expired_forged_and_malformed_are_refused() {
        let now = Utc::now();
        let (token, _) = keys().issue(Uuid::now_v7(), 1, SessionKind::Visitor, now);
        assert_eq!(
            keys().verify(&token, now + Duration::hours(2)),
            Err(TokenError::Expired)
        );

        let other = SessionKeys::new(
            b"another secret of enough length!",
            std::time::Duration::from_secs(3600),
        );
        assert_eq!(other.verify(&token, now), Err(TokenError::Invalid));

        // Changing the claims breaks the signature.
        let parts: Vec<&str> = token.split('.').collect();
        let forged_claims = B64.encode(
            serde_json::to_vec(&serde_json::json!({"sub": Uuid::nil(), "cid": 1, "kind": "user", "iat": 0, "exp": i64::MAX}))
                .expect("json"),
        );
        let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
        assert_eq!(keys().verify(&forged, now), Err(TokenError::Invalid));

        // alg: none is refused even without a signature.
        let none = format!("{}.{}.", B64.encode(br#"{"alg":"none"}"#), parts[1]);
        assert_eq!(keys().verify(&none, now), Err(TokenError::Invalid));

        for junk in ["", "a.b", "a.b.c.d", "....", "%%%.%%%.%%%"] {
            assert_eq!(keys().verify(junk, now), Err(TokenError::Invalid), "{junk}");
        }
    }
}
