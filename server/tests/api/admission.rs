//! Admission to the live channels: the same failure is refused with the same
//! status and code on the event stream, the cursor fallback's uplink and the
//! WebTransport connect information, and the WebTransport handshake itself is
//! refused with the documented bare status (403, or 429 over the cap).

use reqwest::Method;
use serde_json::{Value, json};

use crate::db_tests;
use crate::support::{As, Db, TestApp, poll_until, read, scrape_metrics, spawn_app};

/// The status and error code of each channel that answers with a body, for
/// `token` on campaign `slug`: event stream, fallback uplink, connect info.
async fn refusals(app: &TestApp, slug: &str, token: &str) -> Vec<(&'static str, u16, Value)> {
    let stream = crate::support::SseClient::send(
        app.client
            .get(app.url(&format!("/api/campaign/{slug}/events")))
            .bearer_auth(token),
    )
    .await;
    let uplink = read(
        app.client
            .post(app.url(&format!("/api/campaign/{slug}/cursor")))
            .bearer_auth(token)
            .json(&json!({"seq": 1, "kind": "move", "x": 1, "y": 1}))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    let connect_info = read(
        app.client
            .get(app.url(&format!("/api/campaign/{slug}/webtransport?page=/")))
            .bearer_auth(token)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    vec![
        (
            "event stream",
            stream.status.as_u16(),
            stream.error["code"].clone(),
        ),
        (
            "fallback uplink",
            uplink.status.as_u16(),
            uplink.body["code"].clone(),
        ),
        (
            "connect info",
            connect_info.status.as_u16(),
            connect_info.body["code"].clone(),
        ),
    ]
}

/// The WebTransport handshakes refused so far with `status`, as `/metrics` counts them.
async fn refused_handshakes(app: &TestApp, status: u16) -> f64 {
    let metrics = scrape_metrics(&app.client, &app.url("")).await;
    metrics
        .get(&format!(
            "ovasabi_webtransport_refused_total{{status=\"{status}\"}}"
        ))
        .copied()
        .unwrap_or_default()
}

/// Connects over WebTransport and expects the handshake refused with `status`.
async fn assert_handshake_refused(app: &TestApp, slug: &str, token: &str, status: u16, case: &str) {
    let before = refused_handshakes(app, status).await;
    let connected = app.wt_on(slug, "/", Some(token)).await;
    assert!(connected.is_err(), "{case}: the handshake is refused");
    let after = poll_until(|| refused_handshakes(app, status), |count| *count > before).await;
    assert_eq!(after, before + 1.0, "{case}: refused with {status}");
}

async fn the_same_failure_is_refused_alike_on_every_live_channel(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign(
        "c",
        json!({
            "rate_limits": {"streams_per_ip": 1, "cursor_per_second": 1},
            "cursor": {"sessions_per_ip": 1}
        }),
    )
    .await;
    app.create_campaign(json!({"slug": "draft", "name": "Draft"}))
        .await
        .assert_status(201);
    let campaign_id = app.campaign_id("c").await;
    let (_, valid) = app.visitor("c").await;
    let (expired, _) = app.state.sessions.issue(
        uuid::Uuid::now_v7(),
        campaign_id,
        ovasabi_edge::internals::session::SessionKind::Visitor,
        chrono::Utc::now() - chrono::Duration::days(400),
    );
    let forged = "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl";

    let cases = [
        ("forged token", "c", forged, 401, "invalid_token"),
        ("expired token", "c", expired.as_str(), 401, "token_expired"),
        (
            "draft campaign",
            "draft",
            valid.as_str(),
            404,
            "campaign_not_found",
        ),
        (
            "unknown campaign",
            "nope",
            valid.as_str(),
            404,
            "campaign_not_found",
        ),
    ];
    for (case, slug, token, status, code) in cases {
        for (channel, got_status, got_code) in refusals(&app, slug, token).await {
            assert_eq!(
                (got_status, got_code),
                (status, json!(code)),
                "{case} on the {channel}"
            );
        }
        assert_handshake_refused(&app, slug, token, 403, case).await;
    }

    // Over the per-address cap: one event stream, one cursor session.
    let _stream = app
        .events(
            "c",
            &format!("?cursors=1&page=/&ticket={}", app.ticket("c", &valid).await),
            None,
        )
        .await;
    assert_eq!(_stream.status, 200);
    let second = app.events("c", "", None).await;
    assert_eq!(
        (second.status.as_u16(), &second.error["code"]),
        (429, &json!("rate_limited")),
        "a second event stream"
    );
    assert!(second.error["message"].is_string());
    let _session = app
        .wt(&valid)
        .await
        .expect("the first cursor session is admitted");
    let info = app
        .call(
            Method::GET,
            &format!(
                "/api/campaign/c/webtransport?page=/&ticket={}",
                app.ticket("c", &valid).await
            ),
            As::Anonymous,
            None,
        )
        .await;
    info.assert_error(429, "rate_limited");
    assert!(info.headers.contains_key("retry-after"));
    assert_handshake_refused(&app, "c", &valid, 429, "a second cursor session").await;
    // The uplink holds no connection: its cap is its rate, refused alike.
    let uplinks: Vec<u16> = {
        let mut statuses = Vec::new();
        for seq in 1..=3 {
            let reply = read(
                app.client
                    .post(app.url("/api/campaign/c/cursor?page=/"))
                    .bearer_auth(&valid)
                    .json(&json!({"seq": seq, "kind": "move", "x": 1, "y": 1}))
                    .send()
                    .await
                    .expect("sent"),
            )
            .await;
            if reply.status == 429 {
                assert_eq!(reply.body["code"], "rate_limited");
            }
            statuses.push(reply.status.as_u16());
        }
        statuses
    };
    assert_eq!(uplinks[0], 204, "{uplinks:?}");
    assert!(uplinks.contains(&429), "{uplinks:?}");
}

async fn the_connect_information_names_the_session_url(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let (_, token) = app.visitor("c").await;
    let info = app
        .call(
            Method::GET,
            &format!(
                "/api/campaign/c/webtransport?page=/pricing&ticket={}",
                app.ticket("c", &token).await
            ),
            As::Anonymous,
            None,
        )
        .await;
    let body = info.assert_status(200);
    let port = app.webtransport.local_addr().port();
    assert_eq!(
        body["session_url"],
        format!("https://127.0.0.1:{port}/wt/c?page=%2Fpricing")
    );
    assert_eq!(body["certificate_hashes"][0]["algorithm"], "sha-256");
    app.call(
        Method::GET,
        "/api/campaign/c/webtransport",
        As::Anonymous,
        None,
    )
    .await
    .assert_error(401, "unauthorized");
}

db_tests!(
    the_same_failure_is_refused_alike_on_every_live_channel,
    the_connect_information_names_the_session_url,
);
