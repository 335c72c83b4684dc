//! The golden vectors in `vectors.json`: every message encodes to exactly its
//! bytes and decodes back; every invalid one is refused. The JavaScript client's
//! tests read the same file.

use protocol::{
    Frame, Roster, Uplink, decode_frame, decode_roster, decode_uplink, encode_frame, encode_roster,
    encode_uplink,
};
use serde_json::Value;

fn vectors() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/vectors.json"))
        .expect("vectors.json is readable");
    serde_json::from_str(&text).expect("vectors.json is JSON")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn cases<'a>(vectors: &'a Value, kind: &str) -> &'a [Value] {
    vectors[kind].as_array().expect("a list of cases")
}

#[test]
fn uplinks_match_their_bytes() {
    let vectors = vectors();
    assert_eq!(vectors["version"], protocol::PROTOCOL_VERSION);
    for case in cases(&vectors, "uplinks") {
        let message: Uplink = serde_json::from_value(case["message"].clone()).expect("message");
        let bytes = unhex(case["hex"].as_str().expect("hex"));
        assert_eq!(
            hex(&encode_uplink(&message)),
            hex(&bytes),
            "{}",
            case["name"]
        );
        assert_eq!(decode_uplink(&bytes), Ok(message), "{}", case["name"]);
    }
}

#[test]
fn frames_match_their_bytes() {
    let vectors = vectors();
    for case in cases(&vectors, "frames") {
        let message: Frame = serde_json::from_value(case["message"].clone()).expect("message");
        let bytes = unhex(case["hex"].as_str().expect("hex"));
        assert_eq!(
            hex(&encode_frame(&message)),
            hex(&bytes),
            "{}",
            case["name"]
        );
        assert_eq!(decode_frame(&bytes), Ok(message), "{}", case["name"]);
    }
}

#[test]
fn rosters_match_their_bytes() {
    let vectors = vectors();
    for case in cases(&vectors, "rosters") {
        let message: Roster = serde_json::from_value(case["message"].clone()).expect("message");
        let bytes = unhex(case["hex"].as_str().expect("hex"));
        assert_eq!(
            hex(&encode_roster(&message)),
            hex(&bytes),
            "{}",
            case["name"]
        );
        assert_eq!(decode_roster(&bytes), Ok(message), "{}", case["name"]);
    }
}

#[test]
fn invalid_messages_are_refused() {
    let vectors = vectors();
    for case in cases(&vectors, "invalid") {
        let bytes = unhex(case["hex"].as_str().expect("hex"));
        let refused = match case["kind"].as_str().expect("kind") {
            "uplink" => decode_uplink(&bytes).is_err(),
            "roster" => decode_roster(&bytes).is_err(),
            _ => decode_frame(&bytes).is_err(),
        };
        assert!(refused, "{}", case["name"]);
    }
}
