//! `POST /api/referral`: entering a friend's code, and milestones announced once.

use chrono::{Duration, Utc};
use ovasabi_edge::internals::session::SessionKind;
use serde_json::json;

use crate::db_tests;
use crate::support::{Db, spawn_app};

async fn a_referral_counts_and_names_the_referrer(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let (_, ada_code, _) = app.joined("c", "ada@example.com", "Ada", None).await;
    let (_, _, grace_token) = app.joined("c", "grace@example.com", "Grace", None).await;
    let mut events = app.watch_events("c");
    let reply = app.refer("c", &ada_code, Some(&grace_token)).await;
    assert_eq!(
        reply.assert_status(201),
        &json!({"referrer": "Ada", "count": 1, "counted": true})
    );
    let (_, _, linus_token) = app.joined("c", "linus@example.com", "Linus", None).await;
    let reply = app.refer("c", &ada_code, Some(&linus_token)).await;
    assert_eq!(reply.assert_status(201)["count"], 2);
    assert_eq!(app.metrics("c").await["referrals"], 2);
    let milestones = events.of_kind("referral.milestone").await;
    assert_eq!(milestones.len(), 1, "1 is a milestone by default, 2 is not");
}

async fn bad_referrals_are_refused_and_write_nothing(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    app.open_campaign("other", json!({})).await;
    let (_, ada_code, ada_token) = app.joined("c", "ada@example.com", "Ada", None).await;
    let (grace_id, _, grace_token) = app
        .joined("c", "grace@example.com", "Grace", Some(&ada_code))
        .await;
    let (_, linus_code, _) = app.joined("c", "linus@example.com", "Linus", None).await;
    let (_, other_code, other_token) = app.joined("other", "ada@example.com", "Ada", None).await;
    let campaign_id = app.campaign_id("c").await;
    let now = Utc::now();
    let (expired, _) = app.state.sessions.issue(
        grace_id.parse().expect("uuid"),
        campaign_id,
        SessionKind::User,
        now - Duration::days(400), // past any session lifetime (at most a year)
    );
    let (visitor, _) =
        app.state
            .sessions
            .issue(uuid::Uuid::now_v7(), campaign_id, SessionKind::Visitor, now);
    // A signature byte changed (to one it is not).
    let at = ada_token.len() - 5;
    let swap = if &ada_token[at..=at] == "x" { "y" } else { "x" };
    let forged = format!("{}{swap}{}", &ada_token[..at], &ada_token[at + 1..]);
    let before = app.metrics("c").await;
    let outbox_before = app.outbox().await.len();

    app.refer("c", &linus_code, None)
        .await
        .assert_error(401, "unauthorized");
    app.refer("c", &linus_code, Some(&forged))
        .await
        .assert_error(401, "invalid_token");
    app.refer("c", &linus_code, Some("not.a.token"))
        .await
        .assert_error(401, "invalid_token");
    app.refer("c", &linus_code, Some(&expired))
        .await
        .assert_error(401, "token_expired");
    app.refer("c", &linus_code, Some(&other_token))
        .await
        .assert_error(401, "invalid_token");
    app.refer("c", &linus_code, Some(&visitor))
        .await
        .assert_error(403, "join_first");
    app.refer("c", "ZZZZZZZZ", Some(&ada_token))
        .await
        .assert_error(404, "unknown_code");
    app.refer("c", &other_code, Some(&ada_token))
        .await
        .assert_error(404, "unknown_code");
    app.refer("c", &ada_code, Some(&ada_token))
        .await
        .assert_error(422, "self_referral");
    app.refer("c", &linus_code, Some(&grace_token))
        .await
        .assert_error(409, "already_referred");
    app.refer("nope", &linus_code, Some(&ada_token))
        .await
        .assert_error(404, "campaign_not_found");

    assert_eq!(app.metrics("c").await, before, "nothing written");
    assert_eq!(app.outbox().await.len(), outbox_before, "nothing written");
}

async fn each_milestone_is_announced_once_under_concurrency(db: Db) {
    let app = spawn_app(db).await;
    // More referrals at once than the hourly allowance: counting is tested
    // here, the allowance in fraud.rs.
    app.open_campaign(
        "c",
        json!({"milestones": [1, 5, 10], "referrals": {"max_per_hour": 1000}}),
    )
    .await;
    let (_, ada_code, _) = app.joined("c", "ada@example.com", "Ada", None).await;
    let mut tokens = Vec::new();
    for i in 0..12 {
        let (_, _, token) = app
            .joined(
                "c",
                &format!("friend{i}@example.com"),
                &format!("Friend {i}"),
                None,
            )
            .await;
        tokens.push(token);
    }
    let mut events = app.watch_events("c");
    let replies =
        futures::future::join_all(tokens.iter().map(|t| app.refer("c", &ada_code, Some(t)))).await;
    let mut counts: Vec<i64> = replies
        .iter()
        .map(|r| r.assert_status(201)["count"].as_i64().expect("count"))
        .collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=12).collect::<Vec<_>>(),
        "every count handed out once"
    );
    let mut announced: Vec<i64> = events
        .of_kind("referral.milestone")
        .await
        .iter()
        .map(|e| e.event.data["milestone"].as_i64().expect("milestone"))
        .collect();
    announced.sort_unstable();
    assert_eq!(announced, [1, 5, 10], "each milestone exactly once");
    assert_eq!(app.metrics("c").await["referrals"], 12);
}

db_tests!(
    a_referral_counts_and_names_the_referrer,
    bad_referrals_are_refused_and_write_nothing,
    each_milestone_is_announced_once_under_concurrency,
);
