//! Logs an operator can ship: JSON lines, one access line per request with
//! its route template, a request id echoed to the client and carried by
//! every line of the request, and nothing a visitor typed or holds.

use serde_json::{Value, json};

use crate::support::RunningBinary;
use crate::support::fake_libretranslate::FakeLibreTranslate;

const ADMIN: &str = "admin-token-for-the-log-test";
const SESSION_SECRET: &str = "session-secret-for-the-log-test-0123456789";

/// What the journey sends that must never reach a log line.
const PRIVATE: &[&str] = &[
    "ada.lovelace@example.com",
    "grace.hopper@example.com",
    "Ada Lovelace",
    "Grace Hopper",
    "Analytical Engine Ltd",
    "+44 20 7946 0000",
    "a secret project about looms",
    "Hello from the engine room",
    ADMIN,
    SESSION_SECRET,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journey_logs_json_with_request_ids_and_nothing_private() {
    let translator = FakeLibreTranslate::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let log_path = dir.path().join("edge.log");
    let log_file = std::fs::File::create(&log_path).expect("log file");
    let database = format!("sqlite://{}", dir.path().join("edge.db").display());
    let libretranslate = translator.url().to_string();
    let server = RunningBinary::start_logging_to(
        &[
            ("DATABASE_URL", &database),
            ("OVASABI_LOG_FORMAT", "json"),
            ("OVASABI_ADMIN_TOKEN", ADMIN),
            ("OVASABI_SESSION_SECRET", SESSION_SECRET),
            ("LIBRETRANSLATE_URL", &libretranslate),
            ("OVASABI_HTTP_ADDR", "127.0.0.1:0"),
            ("OVASABI_WT_ADDR", "127.0.0.1:0"),
            ("RUST_LOG", "info"),
        ],
        log_file,
    )
    .await;
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| http.post(format!("{base}{path}")).json(&body);

    let created = post(
        "/api/campaign",
        json!({"slug": "logs", "name": "Logs", "status": "active",
               "config": {"locales": ["en", "fr"]}}),
    )
    .bearer_auth(ADMIN)
    .send()
    .await
    .expect("sent");
    assert_eq!(created.status(), 201);
    let ada: Value = post(
        "/api/user/register",
        json!({"campaign": "logs", "email": PRIVATE[0], "name": PRIVATE[2]}),
    )
    .header("x-request-id", "journey-42")
    .send()
    .await
    .inspect(|r| {
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["x-request-id"], "journey-42", "echoed");
    })
    .expect("sent")
    .json()
    .await
    .expect("json");
    let token = ada["token"].as_str().expect("token").to_owned();
    let code = ada["referral_code"]
        .as_str()
        .expect("referral code")
        .to_owned();
    let grace = post(
        "/api/user/register",
        json!({"campaign": "logs", "email": PRIVATE[1], "name": PRIVATE[3], "referral_code": code}),
    )
    .send()
    .await
    .expect("sent");
    assert_eq!(grace.status(), 201);
    let generated = grace.headers()["x-request-id"]
        .to_str()
        .expect("text")
        .to_owned();
    assert!(!generated.is_empty(), "an id is made when none is sent");
    let lead: Value = post(
        "/api/quote",
        json!({"campaign": "logs", "name": PRIVATE[2], "email": PRIVATE[0],
               "company": PRIVATE[4], "phone": PRIVATE[5], "message": PRIVATE[6]}),
    )
    .bearer_auth(&token)
    .send()
    .await
    .expect("sent")
    .json()
    .await
    .expect("json");
    let lead_id = lead["id"].as_str().expect("lead id").to_owned();
    let moved = http
        .patch(format!("{base}/api/quote/{lead_id}"))
        .bearer_auth(ADMIN)
        .json(&json!({"status": "in_review"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(moved.status(), 200);
    let translated = post(
        "/api/translate",
        json!({"campaign": "logs", "target": "fr", "texts": [PRIVATE[7]]}),
    )
    .send()
    .await
    .expect("sent");
    assert_eq!(translated.status(), 200);
    // Refusals are logged too, and the event stream (the lean path) as well.
    let refused = post(
        "/api/quote",
        json!({"campaign": "logs", "email": PRIVATE[0]}),
    )
    .send()
    .await
    .expect("sent");
    assert_eq!(refused.status(), 422);
    let ticket = crate::support::ticket(&http, &base, "logs", &token).await;
    let stream = http
        .get(format!("{base}/api/campaign/logs/events?ticket={ticket}"))
        .header("x-request-id", "stream-7")
        .send()
        .await
        .expect("stream opens");
    assert_eq!(stream.headers()["x-request-id"], "stream-7");
    drop(stream);
    assert!(server.stop("TERM").await.success());

    let logs = std::fs::read_to_string(&log_path).expect("logs");
    let lines: Vec<Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    for secret in PRIVATE.iter().chain([&token.as_str(), &ticket.as_str()]) {
        assert!(!logs.contains(secret), "{secret:?} was logged");
    }
    let access: Vec<&Value> = lines.iter().filter(|l| l["target"] == "access").collect();
    let route_of = |id: &str| {
        access
            .iter()
            .find(|l| l["span"]["id"] == id)
            .unwrap_or_else(|| panic!("no access line for {id}: {access:#?}"))
    };
    let joined = route_of("journey-42");
    assert_eq!(joined["span"]["route"], "/api/user/register");
    assert_eq!(joined["span"]["method"], "POST");
    assert_eq!(joined["fields"]["status"], 201);
    assert!(joined["fields"]["duration_ms"].as_f64().is_some());
    assert_eq!(joined["fields"]["client"], "127.0.0.1");
    // The service's own line of that request carries the same id.
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "user joined" && l["span"]["id"] == "journey-42"),
        "{logs}"
    );
    assert_eq!(route_of(&generated)["fields"]["status"], 201);
    let patched = access
        .iter()
        .find(|l| l["span"]["method"] == "PATCH")
        .expect("the status change");
    assert_eq!(patched["span"]["route"], "/api/quote/{id}", "the template");
    assert!(
        access
            .iter()
            .any(|l| l["fields"]["status"] == 422 && l["span"]["route"] == "/api/quote")
    );
    let streamed = route_of("stream-7");
    assert_eq!(streamed["span"]["route"], "/api/campaign/{slug}/events");
    assert_eq!(streamed["fields"]["status"], 200);
}
