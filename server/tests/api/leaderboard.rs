//! The referral leaderboard (opt-in), its `leaderboard` event after a
//! referral (coalesced), which campaign metrics the public sees, and the
//! admin's hourly series (visitors sampled each minute).

use std::time::Duration;

use serde_json::json;

use crate::db_tests;
use crate::support::{As, Db, poll_until, spawn_app, spawn_app_with};

async fn the_leaderboard_ranks_referrers_and_announces_changes(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({"leaderboard": {"enabled": true, "size": 2}}))
        .await;
    assert_eq!(
        app.get("/api/campaign/c/leaderboard", As::Anonymous)
            .await
            .assert_status(200),
        &json!({"top": []})
    );
    let mut page = app.events("c", "", None).await;
    assert_eq!(page.next().await.event, "presence");
    let (_, ada, _) = app.joined("c", "ada@example.com", "Ada", None).await;
    let (_, grace, _) = app.joined("c", "grace@example.com", "Grace", None).await;
    let (_, linus, _) = app.joined("c", "linus@example.com", "Linus", None).await;
    // Grace first reaches 1, then Ada 2, Linus 1.
    app.joined("c", "g1@example.com", "G1", Some(&grace)).await;
    let first = page.next_of("leaderboard").await.json();
    assert_eq!(
        first,
        json!({"seq": 1, "top": [{"display_name": "Grace", "count": 1}]})
    );
    for (i, code) in [&ada, &ada, &linus].into_iter().enumerate() {
        app.joined("c", &format!("x{i}@example.com"), "X", Some(code))
            .await;
    }
    // The three referrals of that burst are announced at most twice (once a
    // second), and the last announcement is the final standing.
    let mut last = None;
    while let Some(event) = page.next_within(Duration::from_millis(2500)).await {
        if event.event == "leaderboard" {
            last = Some(event.json());
        }
    }
    let last = last.expect("a leaderboard event after the burst");
    assert_eq!(
        last["top"],
        json!([{"display_name": "Ada", "count": 2}, {"display_name": "Grace", "count": 1}])
    );
    assert!(last["seq"].as_u64().expect("seq") <= 3, "{last}");
    // The list answers the same, with no email in it; `limit` asks for more.
    let listed = app
        .get("/api/campaign/c/leaderboard?limit=10", As::Anonymous)
        .await;
    assert_eq!(
        listed.assert_status(200),
        &json!({"top": [
            {"display_name": "Ada", "count": 2},
            {"display_name": "Grace", "count": 1},
            {"display_name": "Linus", "count": 1}
        ]})
    );
    app.get("/api/campaign/c/leaderboard?limit=101", As::Anonymous)
        .await
        .assert_error(422, "invalid_field");
    // An erased referrer's name leaves the board, announced live.
    app.erase_email("ada@example.com").await.assert_status(200);
    let after = page.next_of("leaderboard").await.json();
    assert_ne!(after["top"][0]["display_name"], "Ada", "{after}");
    assert_eq!(after["top"][0]["count"], 2);
}

async fn the_leaderboard_is_opt_in(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    app.get("/api/campaign/c/leaderboard", As::Anonymous)
        .await
        .assert_error(404, "leaderboard_disabled");
    let mut watch = app.watch_events("c");
    let (_, code, _) = app.joined("c", "ada@example.com", "Ada", None).await;
    app.joined("c", "b@example.com", "B", Some(&code)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(watch.of_kind("leaderboard").await.is_empty());
}

async fn metrics_show_the_public_only_what_the_campaign_chooses(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    app.joined("c", "ada@example.com", "Ada", None).await;
    let public = app.get("/api/campaign/c/metrics", As::Anonymous).await;
    assert_eq!(public.assert_status(200), &json!({"active": 0}));
    let all = app.get("/api/campaign/c/metrics", As::Admin).await;
    let all = all.assert_status(200);
    assert_eq!(
        (
            &all["active"],
            &all["users"],
            &all["leads"],
            &all["referrals"]
        ),
        (&json!(0), &json!(1), &json!(0), &json!(0))
    );
    let series = all["series"].as_array().expect("series");
    let joins: i64 = series
        .iter()
        .map(|h| h["joins"].as_i64().expect("joins"))
        .sum();
    assert_eq!(joins, 1, "{series:?}");
    let last_hour = series.last().expect("this hour");
    assert_eq!(last_hour["joins"], 1);
    // The campaign shows its counts of joins and leads, and nothing live.
    app.patch_campaign(
        "c",
        As::Admin,
        json!({"config": {"public_metrics": ["users", "leads"]}}),
    )
    .await
    .assert_status(200);
    let public = app.get("/api/campaign/c/metrics", As::Anonymous).await;
    assert_eq!(public.assert_status(200), &json!({"users": 1, "leads": 0}));
    let reply = app
        .patch_campaign(
            "c",
            As::Admin,
            json!({"config": {"public_metrics": ["visits"]}}),
        )
        .await;
    assert_eq!(reply.status, 422, "{}", reply.body);
}

/// Visitors are sampled into the database, so the hourly series shows them
/// for hours nobody was watching; an hour keeps its peak after they leave.
async fn visitors_are_sampled_into_the_hourly_series(db: Db) {
    let app = spawn_app_with(db, |c| c.visitor_sample_every = Duration::from_millis(100)).await;
    app.open_campaign("c", json!({})).await;
    let this_hour = || async {
        let all = app.get("/api/campaign/c/metrics", As::Admin).await;
        let series = all.assert_status(200)["series"].clone();
        series
            .as_array()
            .and_then(|s| s.last().cloned())
            .expect("this hour")
    };
    assert_eq!(this_hour().await["visitors"], 0, "nobody yet");
    let mut visitors = Vec::new();
    for _ in 0..3 {
        // Three visitors, each on a connection of its own.
        let client = reqwest::Client::new();
        let url = app.url("/api/campaign/c/events");
        visitors.push(crate::support::SseClient::open(&client, &url, None).await);
    }
    let hour = poll_until(this_hour, |h| h["visitors"] == 3).await;
    assert_eq!(hour["visitors"], 3, "{hour}");
    drop(visitors);
    let mut watcher = app.events("c", "", None).await;
    watcher.presence_reaches(1).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(this_hour().await["visitors"], 3, "the hour keeps its peak");

    // Hours are the peak of their minutes; retention removes old minutes.
    let store = app.state.store.as_ref();
    let campaign = store
        .campaign_by_slug("c")
        .await
        .expect("read")
        .expect("campaign");
    let hour = chrono::DateTime::parse_from_rfc3339("2026-01-05T10:00:00Z")
        .expect("time")
        .to_utc();
    let minute = |m: i64| hour + chrono::TimeDelta::minutes(m);
    for (at, active) in [(5, 5), (40, 8), (40, 6), (62, 2)] {
        store
            .record_visitors(minute(at), &[(campaign.id, active)])
            .await
            .expect("recorded");
    }
    let hours = |since, until| store.hourly(campaign.id, since, until);
    let counted = hours(hour, minute(120)).await.expect("hourly");
    let visitors: Vec<(i64, i64)> = counted
        .iter()
        .map(|h| ((h.hour - hour).num_hours(), h.visitors))
        .collect();
    assert_eq!(
        visitors,
        [(0, 8), (1, 2)],
        "the greater sample of a minute, the peak of an hour"
    );
    let pruned = store
        .prune_visitor_samples(minute(60))
        .await
        .expect("pruned");
    assert_eq!(pruned, 2);
    let counted = hours(hour, minute(120)).await.expect("hourly");
    assert_eq!(counted.len(), 1);
    assert_eq!(counted[0].visitors, 2);
}

db_tests!(
    the_leaderboard_ranks_referrers_and_announces_changes,
    the_leaderboard_is_opt_in,
    metrics_show_the_public_only_what_the_campaign_chooses,
    visitors_are_sampled_into_the_hourly_series,
);
