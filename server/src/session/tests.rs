//! Session tokens, tickets, sealed cursors and pseudonyms: what verifies,
//! what is refused, and rotation.

use super::*;

const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

fn keys() -> SessionKeys {
    SessionKeys::new(b"0123456789abcdef0123456789abcdef", HOUR, HOUR)
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

    let other = SessionKeys::new(b"another secret of enough length!", HOUR, HOUR);
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

#[test]
fn rotation_keeps_old_tokens_valid() {
    let now = Utc::now();
    let old = keys();
    let (token, _) = old.issue(Uuid::now_v7(), 1, SessionKind::User, now);
    let (ticket, _) = old.issue_ticket(
        &old.verify(&token, now).expect("valid"),
        "192.0.2.1",
        None,
        now,
    );
    let rotated = SessionKeys::new(b"the new secret, also long enough!", HOUR, HOUR)
        .with_previous(b"0123456789abcdef0123456789abcdef");
    assert!(
        rotated.verify(&token, now).is_ok(),
        "signed by the previous secret"
    );
    assert!(rotated.verify_ticket(&ticket, now).is_ok());
    let (fresh, _) = rotated.issue(Uuid::now_v7(), 1, SessionKind::User, now);
    assert_eq!(
        old.verify(&fresh, now),
        Err(TokenError::Invalid),
        "signed by the new one"
    );
    let unrelated = SessionKeys::new(b"the new secret, also long enough!", HOUR, HOUR);
    assert_eq!(unrelated.verify(&token, now), Err(TokenError::Invalid));
}

#[test]
fn tickets_and_tokens_are_not_interchangeable() {
    let now = Utc::now();
    let keys = SessionKeys::new(
        b"0123456789abcdef0123456789abcdef",
        HOUR,
        std::time::Duration::from_secs(2 * 3600),
    );
    let (token, expires) = keys.issue(Uuid::now_v7(), 3, SessionKind::Visitor, now);
    assert_eq!(
        (expires - now).num_hours(),
        2,
        "visitor tokens have their own lifetime"
    );
    let claims = keys.verify(&token, now).expect("valid");
    let (ticket, expires) = keys.issue_ticket(
        &claims,
        "2001:db8::/64",
        Some("https://www.example.com"),
        now,
    );
    assert_eq!((expires - now).num_seconds(), 60);
    let read = keys.verify_ticket(&ticket, now).expect("valid ticket");
    assert_eq!(
        (read.sub, read.cid, read.client.as_str()),
        (claims.sub, 3, "2001:db8::/64")
    );
    assert_eq!(read.origin.as_deref(), Some("https://www.example.com"));
    assert_eq!(keys.verify(&ticket, now), Err(TokenError::Invalid));
    assert_eq!(keys.verify_ticket(&token, now), Err(TokenError::Invalid));
    assert_eq!(
        keys.verify_ticket(&ticket, now + Duration::seconds(61)),
        Err(TokenError::Expired)
    );
}
