//! `GET /metrics` as an operator's Prometheus scrapes it: labelled series
//! (route templates, statuses, kinds, outcomes), process metrics, a
//! document `promtool` accepts, and a separate admin address.

use std::net::SocketAddr;

use reqwest::Method;
use serde_json::json;

use crate::db_tests;
use crate::support::fake_libretranslate::FakeLibreTranslate;
use crate::support::{As, Db, scrape_metrics, spawn_app_with};

db_tests!(a_journey_is_counted_by_route_status_and_kind);

async fn a_journey_is_counted_by_route_status_and_kind(db: Db) {
    let translator = FakeLibreTranslate::start().await;
    let url = translator.url();
    let app = spawn_app_with(db, |c| c.libretranslate_url = Some(url.into())).await;
    app.open_campaign(
        "c",
        json!({"locales": ["en", "fr"], "rate_limits": {"joins_per_minute": 1}}),
    )
    .await;
    let (_, _, token) = app.joined("c", "ada@example.com", "Ada", None).await;
    app.join("c", "grace@example.com", "Grace", None)
        .await
        .assert_error(429, "rate_limited");
    let lead = json!({"campaign": "c", "name": "Ada", "email": "ada@example.com", "message": "Hi"});
    let id = app
        .submit_lead(&lead, None, Some(&token))
        .await
        .assert_status(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.call(
        Method::PATCH,
        &format!("/api/quote/{id}"),
        As::Admin,
        Some(json!({"status": "in_review"})),
    )
    .await
    .assert_status(200);
    app.call(
        Method::GET,
        "/api/campaign/nope/metrics",
        As::Anonymous,
        None,
    )
    .await
    .assert_error(404, "campaign_not_found");
    for _ in 0..2 {
        app.call(
            Method::POST,
            "/api/translate",
            As::Anonymous,
            Some(json!({"campaign": "c", "target": "fr", "texts": ["Hello world"]})),
        )
        .await
        .assert_status(200);
    }

    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("scraped")
        .text()
        .await
        .expect("text");
    let metrics = scrape_metrics(&app.client, &app.url("")).await;
    let value = |sample: &str| metrics.get(sample).copied().unwrap_or_default();
    assert_eq!(
        value(
            r#"ovasabi_http_requests_total{method="POST",route="/api/user/register",status="201"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            r#"ovasabi_http_requests_total{method="POST",route="/api/user/register",status="429"}"#
        ),
        1.0
    );
    // The route template, never the path with its id.
    assert_eq!(
        value(
            r#"ovasabi_http_requests_total{method="PATCH",route="/api/quote/{id}",status="200"}"#
        ),
        1.0
    );
    assert!(!text.contains(&id), "a lead id became a label");
    assert_eq!(
        value(
            r#"ovasabi_http_requests_total{method="GET",route="/api/campaign/{slug}/metrics",status="404"}"#
        ),
        1.0
    );
    assert!(
        value(r#"ovasabi_http_request_duration_seconds_count{method="POST",route="/api/quote"}"#)
            >= 1.0
    );
    assert_eq!(value(r#"ovasabi_rate_limited_total{kind="join"}"#), 1.0);
    assert!(
        value("ovasabi_events_published_total") >= 2.0,
        "joined, lead"
    );
    assert_eq!(
        value(r#"ovasabi_translation_memory_total{result="miss"}"#),
        1.0
    );
    assert_eq!(
        value(r#"ovasabi_translation_memory_total{result="hit"}"#),
        1.0
    );
    assert_eq!(
        value(r#"ovasabi_translation_machine_calls_total{outcome="ok"}"#),
        1.0
    );
    assert_eq!(value("ovasabi_translation_breaker_open"), 0.0);
    assert!(metrics.contains_key(r#"ovasabi_connections{transport="sse"}"#));
    assert!(
        value("process_resident_memory_bytes") > 0.0,
        "process metrics"
    );
    promtool_accepts(&text);
}

/// `promtool check metrics` (Debian's `prometheus` package) accepts `text`:
/// a failure under `OVASABI_REQUIRE_ALL` (CI) when it is not installed.
fn promtool_accepts(text: &str) {
    use std::io::Write;
    let spawned = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    if !crate::support::tool_present(spawned.is_ok(), "promtool", "apt-get install prometheus") {
        return;
    }
    let mut child = spawned.expect("promtool runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("written");
    let out = child.wait_with_output().expect("promtool ends");
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_live_on_an_admin_address_only() {
    let admin: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let app = spawn_app_with(Db::Sqlite, |c| c.metrics_addr = Some(admin)).await;
    let public = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("answered");
    assert_eq!(public.status(), 404);
    let bound = app.metrics_addr.expect("bound");
    let private = scrape_metrics(&app.client, &format!("http://{bound}")).await;
    assert!(private.contains_key("ovasabi_cursor_rooms"), "{private:?}");
}
