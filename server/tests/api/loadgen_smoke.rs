//! The load generator at tiny size, against the real server: every scenario
//! runs without errors and really measures (non-empty histograms). Timings are
//! for BENCHMARKS.md, not asserted here.

use std::time::Duration;

use loadgen::target::{bench_campaign, user_tokens};
use loadgen::{cursors, forms, impair, lossy, sse};

use serde_json::json;

use crate::support::{As, Db, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cursor_scenario_runs_and_measures() {
    let app = spawn_app(Db::Sqlite).await;
    let base = app.url("");
    let slug = bench_campaign(&app.client, &base, &app.admin_token, 30, 64)
        .await
        .expect("campaign");
    // 45 sessions: three loopback addresses (20 a address), 15 of them moving.
    let tokens = user_tokens(&app.client, &base, &slug, 45)
        .await
        .expect("tokens");
    let report = cursors::run(cursors::CursorLoad {
        bases: vec![base],
        sessions: cursors::Sessions {
            campaign: slug,
            tokens,
            hz: 30,
            duration: Duration::from_secs(2),
            observers: 5,
            moving: 15,
        },
        udp_via: None,
    })
    .await
    .expect("runs");
    assert_eq!((report.sessions, report.connect_errors), (45, 0));
    assert_eq!(report.moving, 15);
    assert!(report.moves_sent > 15 * 30, "{report:?}");
    assert!(
        report.moves_sent < 15 * 30 * 3,
        "only the moving sessions move: {report:?}"
    );
    assert!(report.latency.count > 0, "latency was measured: {report:?}");
    assert_eq!((report.oversized, report.decode_errors), (0, 0));
    assert!(
        report.pace.cores > 0.0 && report.pace.on_time_ratio > 0.0,
        "the load generator reports its own pace: {report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lossy_link_scenario_runs_both_transports_through_the_link() {
    let app = spawn_app(Db::Sqlite).await;
    let base = app.url("");
    let slug = bench_campaign(&app.client, &base, &app.admin_token, 30, 64)
        .await
        .expect("campaign");
    let report = lossy::run(lossy::LossyLoad {
        http: &app.client,
        base: &base,
        campaign: &slug,
        link: impair::Impairment {
            loss: 0.05,
            delay: Duration::from_millis(30),
            jitter: Duration::from_millis(5),
            seed: 3,
        },
        sessions: 6,
        hz: 30,
        duration: Duration::from_secs(2),
        observers: 2,
    })
    .await
    .expect("runs");
    for (transport, run) in [("webtransport", &report.webtransport), ("sse", &report.sse)] {
        assert_eq!(
            (run.sessions, run.connect_errors),
            (6, 0),
            "{transport}: {run:?}"
        );
        assert!(run.latency.count > 0, "{transport} measured: {run:?}");
        // Up and down through the link: never under twice its shortest
        // delay (25 ms), less the clock's millisecond truncation.
        assert!(
            run.latency.p50_ms >= 45.0,
            "{transport} did not go through the link: {run:?}"
        );
        assert!(
            run.seen_share > 0.3 && run.seen_share <= 1.0,
            "{transport}: {run:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sse_scenario_runs_and_measures() {
    let app = spawn_app(Db::Sqlite).await;
    let base = app.url("");
    let slug = bench_campaign(&app.client, &base, &app.admin_token, 30, 64)
        .await
        .expect("campaign");
    let report = sse::run(sse::SseLoad {
        base,
        publish_base: None,
        campaign: slug,
        subscribers: 200,
        broadcasts: 5,
        rate: 20.0,
        server_pid: Some(std::process::id()),
    })
    .await
    .expect("runs");
    assert_eq!(
        (report.connected, report.errors, report.publish_errors),
        (200, 0, 0)
    );
    assert_eq!(report.delivered, report.expected, "{report:?}");
    assert_eq!(report.latency.count, 1000);
    assert_eq!(report.resets, 0);
    assert!(report.rss_per_subscriber_kib.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forms_scenario_runs_and_every_lead_is_in_the_outbox() {
    let app = spawn_app(Db::Sqlite).await;
    let base = app.url("");
    let slug = bench_campaign(&app.client, &base, &app.admin_token, 30, 64)
        .await
        .expect("campaign");
    let report = forms::run(forms::FormLoad {
        base,
        campaign: slug.clone(),
        concurrency: 8,
        requests: 100,
        addresses: 2,
        tokens: Vec::new(),
        honeypot: None,
        referral_codes: Vec::new(),
    })
    .await
    .expect("runs");
    assert_eq!((report.ok, report.errors), (100, 0));
    assert_eq!(report.latency.count, 100);
    assert_eq!(app.metrics(&slug).await["leads"], 100);
    let leads = app
        .outbox()
        .await
        .iter()
        .filter(|e| e.event_type == "lead.created")
        .count();
    assert_eq!(leads, 100, "every lead in the outbox");

    // Behind a honeypot and a minimum time, the load is a page's: sessions
    // old enough, the honeypot blank. Every lead counts; none is spam.
    app.open_campaign(
        "bots",
        json!({"forms": {"honeypot": "website", "min_seconds": 1},
               "rate_limits": {"quotes_per_minute": 10000}}),
    )
    .await;
    let tokens = forms::sessions(&app.url(""), "bots", 8, 2, Duration::from_millis(1100))
        .await
        .expect("sessions");
    let report = forms::run(forms::FormLoad {
        base: app.url(""),
        campaign: "bots".into(),
        concurrency: 8,
        requests: 100,
        addresses: 2,
        tokens,
        honeypot: Some("website".into()),
        referral_codes: Vec::new(),
    })
    .await
    .expect("runs");
    assert_eq!((report.ok, report.errors), (100, 0));
    assert_eq!(app.metrics("bots").await["leads"], 100);
    let spam = app.get("/api/spam?campaign=bots", As::Admin).await;
    assert_eq!(spam.assert_status(200)["counts"]["held"], 0);

    // Joins with referral codes, as many as the fraud checks allow one
    // referrer an hour: every one joins, and counts.
    let codes = forms::referrers(&app.url(""), &slug, 10, 2)
        .await
        .expect("referrers");
    let report = forms::run(forms::FormLoad {
        base: app.url(""),
        campaign: slug.clone(),
        concurrency: 8,
        requests: 100,
        addresses: 2,
        tokens: Vec::new(),
        honeypot: None,
        referral_codes: codes,
    })
    .await
    .expect("runs");
    assert_eq!((report.ok, report.errors), (100, 0));
    assert_eq!(app.metrics(&slug).await["referrals"], 100);
}
