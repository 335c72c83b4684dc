//! Outbox delivery to a real local receiver: signed, retried with backoff, at
//! least once, dead after the last attempt, re-drivable, never lost.

use std::time::Duration;

use ovasabi_edge::internals::outbox::signature;
use serde_json::json;

use crate::db_tests;
use crate::support::fake_receiver::{Received, Receiver};
use crate::support::{As, Db, poll_until, scrape_metrics, spawn_app_with};

fn delivered(received: &[Received], event: &str) -> Vec<Received> {
    received
        .iter()
        .filter(|r| r.header("ovasabi-event") == event && (200..300).contains(&r.answered))
        .cloned()
        .collect()
}

/// The test receivers listen on loopback over plain http: development's allowances.
fn local_receivers(config: &mut ovasabi_edge::Config) {
    config.webhook_allow_http = true;
    config.webhook_allow_private = true;
}

async fn a_visitor_journey_reaches_the_crm_once_despite_failures(db: Db) {
    // The CRM fails twice, then recovers.
    let crm = Receiver::start(&[500, 503]).await;
    let url = crm.url("/crm");
    let app = spawn_app_with(db, |c| {
        c.webhook_url = Some(url.parse().expect("url"));
        local_receivers(c);
        c.webhook_secret.value = "crm-shared-secret".into();
        c.webhook_backoff = Duration::from_millis(20);
    })
    .await;
    app.open_campaign("c", json!({})).await;
    let (_, ada_code, _) = app.joined("c", "ada@example.com", "Ada", None).await;
    let (_, _, token) = app
        .joined("c", "grace@example.com", "Grace", Some(&ada_code))
        .await;
    let lead =
        json!({"campaign": "c", "name": "Grace", "email": "grace@example.com", "message": "Hello"});
    let first = app.submit_lead(&lead, Some("k1"), Some(&token)).await;
    let again = app.submit_lead(&lead, Some("k1"), Some(&token)).await;
    assert_eq!(
        first.assert_status(201)["id"],
        again.assert_status(201)["id"]
    );

    let received = crm
        .wait_for("every entry delivered", |r| {
            delivered(r, "lead.created").len() == 1
                && delivered(r, "user.registered").len() == 2
                && delivered(r, "referral.created").len() == 1
        })
        .await;
    let leads = delivered(&received, "lead.created");
    assert_eq!(leads.len(), 1, "exactly one lead webhook accepted");
    let lead = &leads[0];
    assert_eq!(lead.path, "/crm");
    let body = lead.json();
    assert_eq!(body["type"], "lead.created");
    assert_eq!(body["campaign"], "c");
    assert_eq!(body["data"]["email"], "grace@example.com");
    assert_eq!(lead.header("ovasabi-delivery"), body["id"].to_string());

    // The signature verifies with the shared secret over "<t>.<body>".
    let header = lead.header("ovasabi-signature");
    let t: i64 = header
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .expect("timestamp")
        .parse()
        .expect("number");
    assert_eq!(header, signature("crm-shared-secret", t, &lead.body));
    assert_ne!(header, signature("another secret", t, &lead.body));
    // And off the shelf: the Standard Webhooks library verifies it.
    assert_eq!(lead.header("webhook-id"), body["id"].to_string());
    if standard_webhooks_library() {
        let verifies =
            |secret: &str, body: &[u8]| verified_by_standard_webhooks(secret, lead, body);
        assert!(verifies("crm-shared-secret", &lead.body));
        assert!(!verifies("another secret", &lead.body));
        let mut tampered = lead.body.clone();
        tampered.extend_from_slice(b" ");
        assert!(!verifies("crm-shared-secret", &tampered));
    }

    // The two failures were real attempts, retried.
    let failures = received.iter().filter(|r| r.answered >= 500).count();
    assert_eq!(failures, 2);
    // The receiver records a request before answering it; the worker marks the
    // entry delivered after the answer: wait for that.
    let outbox = poll_until(
        || app.outbox(),
        |outbox| outbox.iter().all(|e| e.delivered_at.is_some()),
    )
    .await;
    assert!(
        outbox.iter().all(|e| e.delivered_at.is_some()),
        "{outbox:#?}"
    );
    assert!(
        outbox.iter().any(|e| e.attempts > 1),
        "retried: {outbox:#?}"
    );
}

async fn a_dead_entry_is_visible_and_can_be_redriven(db: Db) {
    let crm = Receiver::start(&[500, 500, 500]).await;
    let url = crm.url("/hook");
    let app = spawn_app_with(db, |c| {
        c.webhook_url = Some(url.parse().expect("url"));
        local_receivers(c);
        c.webhook_max_attempts = 3;
        c.webhook_backoff = Duration::from_millis(10);
    })
    .await;
    // No welcome mail: it would wait (no SMTP server) among the pending.
    app.open_campaign("c", json!({"mail": {"welcome": false}}))
        .await;
    app.joined("c", "ada@example.com", "Ada", None).await;
    crm.wait_for("three failed attempts", |r| r.len() == 3)
        .await;

    let dead = poll_until(
        || async {
            let reply = app
                .get("/api/outbox?state=dead&campaign=c", As::Admin)
                .await;
            reply.assert_status(200)["entries"]
                .as_array()
                .expect("entries")
                .clone()
        },
        |entries| !entries.is_empty(),
    )
    .await;
    assert_eq!(dead.len(), 1, "the entry is dead, not lost");
    assert_eq!(dead[0]["attempts"], 3);
    assert!(
        dead[0]["last_error"]
            .as_str()
            .expect("error")
            .contains("500")
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(crm.received().len(), 3, "no attempt after the last one");
    // Operators see it too: the dead entry, and the attempts by outcome.
    let metrics = scrape_metrics(&app.client, &app.url("")).await;
    assert_eq!(metrics[r#"ovasabi_outbox_entries{state="dead"}"#], 1.0);
    assert_eq!(metrics[r#"ovasabi_outbox_entries{state="pending"}"#], 0.0);
    assert_eq!(
        metrics[r#"ovasabi_webhook_attempts_total{outcome="dead"}"#],
        1.0
    );
    assert_eq!(
        metrics[r#"ovasabi_webhook_attempts_total{outcome="retrying"}"#],
        2.0
    );

    app.get("/api/outbox", As::Anonymous)
        .await
        .assert_error(401, "unauthorized");
    let id = dead[0]["id"].as_i64().expect("id");
    app.call(
        reqwest::Method::POST,
        "/api/outbox/999999/retry",
        As::Admin,
        None,
    )
    .await
    .assert_error(404, "outbox_entry_not_found");
    app.call(
        reqwest::Method::POST,
        &format!("/api/outbox/{id}/retry"),
        As::Admin,
        None,
    )
    .await
    .assert_status(200);
    crm.wait_for("the re-driven delivery", |r| {
        delivered(r, "user.registered").len() == 1
    })
    .await;
    // Marked delivered once the receiver's answer is in.
    let delivered_list = poll_until(
        || async {
            let reply = app.get("/api/outbox?state=delivered", As::Admin).await;
            reply.assert_status(200)["entries"].clone()
        },
        |entries| entries[0]["id"] == id,
    )
    .await;
    assert_eq!(delivered_list[0]["id"], id);
    // Delivered entries cannot be re-driven.
    app.call(
        reqwest::Method::POST,
        &format!("/api/outbox/{id}/retry"),
        As::Admin,
        None,
    )
    .await
    .assert_error(404, "outbox_entry_not_found");
}

async fn without_a_receiver_entries_wait(db: Db) {
    let campaign_hook = Receiver::start(&[]).await;
    let app = spawn_app_with(db, |c| {
        c.webhook_backoff = Duration::from_millis(10);
        local_receivers(c);
    })
    .await;
    app.open_campaign(
        "c",
        json!({"webhooks": [campaign_hook.url("/campaign-hook")]}),
    )
    .await;
    app.joined("c", "ada@example.com", "Ada", None).await;
    // The campaign's own receiver is served; the default one is not configured.
    campaign_hook
        .wait_for("the campaign webhook", |r| r.len() == 1)
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 2, "{outbox:#?}");
    let waiting: Vec<_> = outbox.iter().filter(|e| e.target_url.is_none()).collect();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].attempts, 0, "never tried");
    assert!(
        waiting[0].delivered_at.is_none() && waiting[0].dead_at.is_none(),
        "kept, not lost"
    );
}

db_tests!(
    a_visitor_journey_reaches_the_crm_once_despite_failures,
    a_dead_entry_is_visible_and_can_be_redriven,
    without_a_receiver_entries_wait,
);

/// Whether Python's `standardwebhooks` is installed; without it the check is
/// skipped, with a notice (a failure under `OVASABI_REQUIRE_ALL`, as in CI).
fn standard_webhooks_library() -> bool {
    let installed = std::process::Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .output()
        .is_ok_and(|o| o.status.success());
    crate::support::tool_present(
        installed,
        "the standardwebhooks Python package",
        "python3 -m pip install standardwebhooks",
    )
}

/// Whether the reference Standard Webhooks library (Python's
/// `standardwebhooks`, from PyPI) accepts `body` with `request`'s
/// `webhook-*` headers, for the secret `secret` (given to it, as it expects,
/// as `whsec_` and the secret's base64).
fn verified_by_standard_webhooks(secret: &str, request: &Received, body: &[u8]) -> bool {
    use base64::Engine;
    const VERIFY: &str = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
secret, headers = sys.argv[1], json.loads(sys.argv[2])
try:
    Webhook(secret).verify(sys.stdin.buffer.read(), headers)
except Exception as e:
    print(e, file=sys.stderr)
    sys.exit(1)
"#;
    let headers = serde_json::json!({
        "webhook-id": request.header("webhook-id"),
        "webhook-timestamp": request.header("webhook-timestamp"),
        "webhook-signature": request.header("webhook-signature"),
    });
    let key = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(secret)
    );
    let mut child = std::process::Command::new("python3")
        .args(["-c", VERIFY, &key, &headers.to_string()])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 runs");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), body).expect("written");
    child.wait().expect("python3 ends").success()
}
