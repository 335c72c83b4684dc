//! The lean path's reading of request heads, and its whole error responses.

use super::head::{bare_lf, head_ended};
use super::*;

fn request(head: &str) -> Option<StreamRequest> {
    event_stream_request(
        head.as_bytes(),
        Some([127, 0, 0, 1].into()),
        crate::client::ProxyTrust::NONE,
    )
}

#[test]
fn a_head_ends_at_its_empty_line_whatever_its_line_endings() {
    assert!(head_ended(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert!(head_ended(b"GET / HTTP/1.1\nHost: x\n\n"));
    assert!(!head_ended(b"GET / HTTP/1.1\r\nHost: x\r\n"));
    assert!(bare_lf(b"GET / HTTP/1.1\nHost: x\n\n") && bare_lf(b"\nGET"));
    assert!(!bare_lf(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
}

#[test]
fn only_plain_event_stream_gets_are_taken() {
    let taken = request(
        "GET /api/campaign/ovasabi-website/events?cursors=1&page=%2Fpricing&ticket=t HTTP/1.1\r\n\
         Host: x\r\nLast-Event-ID: 7.5-1\r\n\r\n",
    )
    .expect("taken");
    assert_eq!(taken.slug, "ovasabi-website");
    assert_eq!(taken.credential, StreamCredential::Ticket("t".into()));
    assert!(!taken.token_in_url);
    assert!(taken.cursors);
    assert_eq!(taken.page.as_deref(), Some("/pricing"));
    assert_eq!(taken.resume, Some(Ok("7.5-1".parse().expect("id"))));
    for other in [
        "GET /api/campaign/a/events HTTP/1.1\r\nHost: x\r\n", // incomplete
        "POST /api/campaign/a/events HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /api/campaign/a/events HTTP/1.0\r\n\r\n",
        "GET /api/campaign/a/b/events HTTP/1.1\r\n\r\n",
        "GET /api/campaign//events HTTP/1.1\r\n\r\n",
        "GET /api/campaign/a HTTP/1.1\r\n\r\n",
        "GET /healthz HTTP/1.1\r\n\r\n",
        "GET /api/campaign/a/events HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
        "GET /api/campaign/a/events HTTP/1.1\r\nUpgrade: h2c\r\n\r\n",
        "GET /api/campaign/a/events HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n",
        "GET /api/campaign/a/events HTTP/1.1\nHost: x\n\n", // bare LF: Salvo's
        "GET /api/campaign/a/events HTTP/1.1\r\nHost: x\n\r\n",
        "GET /api/campaign/a/events HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ] {
        assert!(request(other).is_none(), "{other:?}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Whatever a client sends first, reading it never panics, and what
    /// is taken is a well-formed event-stream request.
    #[test]
    fn any_head_is_read_without_panic(head in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
        if let Some(taken) = event_stream_request(&head, None, crate::client::ProxyTrust::NONE) {
            proptest::prop_assert!(!taken.slug.is_empty() && !taken.slug.contains('/'));
        }
    }

    /// Plausible heads with arbitrary paths, queries and headers.
    #[test]
    fn plausible_heads_are_read_without_panic(
        path in "[ -~]{0,200}",
        query in "[ -~]{0,200}",
        name in "[!-~]{1,40}",
        value in "[ -~]{0,200}",
    ) {
        let head = format!("GET /api/campaign/{path}/events?{query} HTTP/1.1\r\n{name}: {value}\r\n\r\n");
        let _ = event_stream_request(head.as_bytes(), Some([127, 0, 0, 1].into()), crate::client::ProxyTrust::NONE);
    }
}

#[test]
fn errors_are_whole_json_responses() {
    let text = String::from_utf8(error_response(
        &ApiError::TooManyRequests {
            retry_after_secs: 5,
        },
        Some("req-1"),
    ))
    .expect("utf-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    assert!(
        head.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
        "{head}"
    );
    assert!(head.contains("retry-after: 5"), "{head}");
    assert!(head.lines().any(|l| l == "x-request-id: req-1"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    assert!(
        head.contains(&format!("content-length: {}", body.len())),
        "{head}"
    );
    let json: serde_json::Value = serde_json::from_str(body).expect("json");
    assert_eq!(json["code"], "rate_limited");
}
