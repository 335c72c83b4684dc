//! The outbox's signatures and backoff.

use super::*;

#[test]
fn signature_is_hmac_of_timestamp_and_body() {
    // Reference value computed independently:
    // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
    assert_eq!(
        signature("secret", 1_700_000_000, br#"{"a":1}"#),
        "t=1700000000,v1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
    );
}

#[test]
fn standard_signature_is_base64_hmac_of_id_timestamp_and_body() {
    // Reference value computed independently:
    // printf '42.1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret -binary | base64
    assert_eq!(
        standard_signature("secret", "42", 1_700_000_000, br#"{"a":1}"#),
        "v1,ZZ5ET4bSEcOkPYOmoeWwcsIDbdwRKeTTXtxUqlD1YEU="
    );
}

#[test]
fn backoff_grows_is_capped_and_jittered() {
    let base = Duration::from_secs(2);
    let cap = Duration::from_secs(3600);
    for attempt in 1..=20 {
        let ceiling = (base * 2u32.pow(attempt - 1)).min(cap);
        let d = backoff(attempt, base, cap);
        assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt}: {d:?}");
    }
    let samples: std::collections::HashSet<_> = (0..20).map(|_| backoff(5, base, cap)).collect();
    assert!(samples.len() > 1, "jittered");
}
