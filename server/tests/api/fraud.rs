//! Referral fraud review: each signal flags a referral on its own; a
//! flagged referral counts nowhere public until the team approves it; the
//! abuse run (one referrer farming their code) moves nothing public with the
//! defaults; strict refuses disposable domains; the humanity score separates
//! a person's pointer from three scripts.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::db_tests;
use crate::support::{As, Db, TestApp, spawn_app_with};

/// An app that trusts the loopback peer as its proxy: `X-Forwarded-For`
/// names each client.
async fn behind_proxy(db: Db) -> TestApp {
    spawn_app_with(db, |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await
}

/// Who sends a join: the address the proxy names, a User-Agent, and
/// optionally a session token.
struct From<'a> {
    address: &'a str,
    agent: &'a str,
    token: Option<&'a str>,
}

fn from<'a>(address: &'a str, agent: &'a str) -> From<'a> {
    From {
        address,
        agent,
        token: None,
    }
}

/// Joins `campaign` as `email` with `code`, from `sender`: the answer's body.
async fn join_from(
    app: &TestApp,
    campaign: &str,
    email: &str,
    code: Option<&str>,
    sender: &From<'_>,
) -> Value {
    let name = email.split('@').next().unwrap_or("someone");
    let mut body = json!({"campaign": campaign, "email": email, "name": name});
    if let Some(code) = code {
        body["referral_code"] = json!(code);
    }
    let mut request = app
        .client
        .post(app.url("/api/user/register"))
        .header("x-forwarded-for", sender.address)
        .header("user-agent", sender.agent)
        .json(&body);
    if let Some(token) = sender.token {
        request = request.bearer_auth(token);
    }
    let reply = request.send().await.expect("sent");
    let status = reply.status();
    let body: Value = reply.json().await.expect("json");
    assert_eq!(status, 201, "{email}: {body}");
    body
}

/// Ana, who refers the others, joined `campaign` from 203.0.113.1.
async fn referrer(app: &TestApp, campaign: &str) -> Value {
    let sender = from("203.0.113.1", "A");
    join_from(app, campaign, "ana@example.com", None, &sender).await
}

/// The campaign's referrals in `status` (`all` for every one).
async fn referrals(app: &TestApp, campaign: &str, status: &str) -> Vec<Value> {
    app.get(
        &format!("/api/campaign/{campaign}/referrals?status={status}&limit=500"),
        As::Admin,
    )
    .await
    .assert_status(200)["referrals"]
        .as_array()
        .expect("a list")
        .clone()
}

/// The signals of the referral of `email`.
async fn signals_of(app: &TestApp, campaign: &str, email: &str) -> (String, Vec<String>) {
    let all = referrals(app, campaign, "all").await;
    let referral = all
        .iter()
        .find(|r| r["referred_email"] == email)
        .unwrap_or_else(|| panic!("no referral of {email} in {all:?}"));
    let signals = referral["signals"]
        .as_array()
        .expect("signals")
        .iter()
        .map(|s| s.as_str().expect("a name").to_owned())
        .collect();
    (
        referral["status"].as_str().expect("status").to_owned(),
        signals,
    )
}

async fn review(app: &TestApp, campaign: &str, ids: &[i64], decision: &str) -> Vec<Value> {
    app.call(
        Method::POST,
        &format!("/api/campaign/{campaign}/referrals/review"),
        As::Admin,
        Some(json!({"ids": ids, "decision": decision})),
    )
    .await
    .assert_status(200)["results"]
        .as_array()
        .expect("results")
        .clone()
}

async fn each_signal_flags_a_referral_alone(db: Db) {
    let app = behind_proxy(db).await;
    app.open_campaign("c", json!({"leaderboard": {"enabled": true}}))
        .await;
    let (_, visit) = app.visitor("c").await;
    let ana = join_from(
        &app,
        "c",
        "ana.farm@gmail.com",
        None,
        &From {
            token: Some(&visit),
            ..from("203.0.113.10", "Firefox/1")
        },
    )
    .await;
    let code = ana["referral_code"].as_str();
    let cases: [(&str, From<'_>, &[&str]); 5] = [
        ("bea@example.com", from("198.51.100.1", "Safari/1"), &[]),
        (
            "cat@example.com",
            from("203.0.113.77", "Safari/2"),
            &["same_network"],
        ),
        (
            "dan@example.com",
            From {
                token: Some(&visit),
                ..from("192.0.2.5", "Safari/3")
            },
            &["same_device"],
        ),
        (
            "a.n.a.farm+x@googlemail.com",
            from("198.18.0.1", "Safari/4"),
            &["similar_email"],
        ),
        (
            "eve@mailinator.com",
            from("198.18.1.1", "Safari/5"),
            &["disposable_email"],
        ),
    ];
    for (email, sender, expected) in &cases {
        join_from(&app, "c", email, code, sender).await;
        let (status, signals) = signals_of(&app, "c", email).await;
        assert_eq!(signals, *expected, "{email}");
        let want = if expected.is_empty() {
            "counted"
        } else {
            "flagged"
        };
        assert_eq!(status, want, "{email}");
    }
    // The same rate-limit key and User-Agent as the referrer: their
    // device (and so their network too).
    join_from(
        &app,
        "c",
        "fay@example.com",
        code,
        &from("203.0.113.10", "Firefox/1"),
    )
    .await;
    let (_, signals) = signals_of(&app, "c", "fay@example.com").await;
    assert_eq!(signals, ["same_network", "same_device"]);
    // Only the clean one counts, everywhere public.
    assert_eq!(app.metrics("c").await["referrals"], 1);
    let board = app
        .get("/api/campaign/c/leaderboard", As::Anonymous)
        .await
        .assert_status(200)
        .clone();
    assert_eq!(board["top"][0]["count"], 1, "{board}");
    let me = app
        .call_as(
            Method::GET,
            "/api/me?campaign=c",
            ana["token"].as_str().expect("token"),
            None,
        )
        .await;
    assert_eq!(me.assert_status(200)["referral_count"], 1);

    // More referrals an hour than the campaign allows: the next is flagged.
    app.open_campaign("burst", json!({"referrals": {"max_per_hour": 2}}))
        .await;
    let gus = join_from(
        &app,
        "burst",
        "gus@example.com",
        None,
        &from("203.0.113.1", "A"),
    )
    .await;
    let code = gus["referral_code"].as_str();
    for (n, email) in ["h1@example.com", "h2@example.com", "h3@example.com"]
        .iter()
        .enumerate()
    {
        let address = format!("198.51.{n}.9");
        join_from(&app, "burst", email, code, &from(&address, "B")).await;
    }
    let (_, signals) = signals_of(&app, "burst", "h2@example.com").await;
    assert!(signals.is_empty(), "{signals:?}");
    let (status, signals) = signals_of(&app, "burst", "h3@example.com").await;
    assert_eq!(
        (status.as_str(), signals),
        ("flagged", vec!["too_many".to_owned()])
    );
}

async fn the_abuse_run_moves_nothing_public_until_approved(db: Db) {
    let app = behind_proxy(db).await;
    app.open_campaign(
        "c",
        json!({
            "leaderboard": {"enabled": true},
            "public_metrics": ["active", "users", "referrals"],
        }),
    )
    .await;
    let ana = join_from(
        &app,
        "c",
        "ana.farm@gmail.com",
        None,
        &from("203.0.113.10", "Firefox/1"),
    )
    .await;
    let code = ana["referral_code"].as_str();
    let mut events = app.watch_events("c");
    // 30 joins in seconds from 4 addresses outside Ana's /24: a third at
    // disposable domains, a third Gmail variants of Ana's own address, a
    // third plain addresses.
    let disposable = [
        "mailinator.com",
        "yopmail.com",
        "guerrillamail.com",
        "sharklasers.com",
    ];
    for n in 0..30 {
        let address = format!("198.51.100.{}", 1 + n % 4);
        let email = match n % 3 {
            0 => format!("farm{n}@{}", disposable[n % disposable.len()]),
            1 => format!(
                "ana.farm+{n}@{}",
                if n % 2 == 0 {
                    "gmail.com"
                } else {
                    "googlemail.com"
                }
            ),
            _ => format!("friend{n}@example.org"),
        };
        join_from(&app, "c", &email, code, &from(&address, "curl/8")).await;
    }
    let flagged = referrals(&app, "c", "flagged").await;
    assert_eq!(flagged.len(), 30, "every one waits for review");
    assert!(
        flagged
            .iter()
            .all(|r| !r["signals"].as_array().expect("signals").is_empty())
    );
    let public = app
        .get("/api/campaign/c/metrics", As::Anonymous)
        .await
        .assert_status(200)
        .clone();
    assert_eq!(public["referrals"], 0, "{public}");
    let board = app.get("/api/campaign/c/leaderboard", As::Anonymous).await;
    assert_eq!(board.assert_status(200)["top"], json!([]));
    tokio::time::sleep(Duration::from_millis(1500)).await; // a leaderboard tick
    let seen = events.drain(Duration::from_millis(300)).await;
    let kinds: Vec<&str> = seen.iter().map(|e| e.event.kind.as_str()).collect();
    assert!(!kinds.contains(&"referral.milestone"), "{kinds:?}");
    assert!(!kinds.contains(&"leaderboard"), "{kinds:?}");

    // Approved, they count: the leaderboard and the milestones move.
    let ids: Vec<i64> = flagged
        .iter()
        .map(|r| r["id"].as_i64().expect("id"))
        .collect();
    let results = review(&app, "c", &ids, "approve").await;
    assert!(
        results.iter().all(|r| r["outcome"] == "approved"),
        "{results:?}"
    );
    assert_eq!(results.last().expect("one")["count"], 30);
    let milestones = events.of_kind("referral.milestone").await;
    let reached: Vec<&Value> = milestones
        .iter()
        .map(|e| &e.event.data["milestone"])
        .collect();
    assert_eq!(reached, [&json!(1), &json!(10)]);
    let board = app.get("/api/campaign/c/leaderboard", As::Anonymous).await;
    assert_eq!(board.assert_status(200)["top"][0]["count"], 30);
    assert_eq!(
        app.get("/api/campaign/c/metrics", As::Anonymous)
            .await
            .assert_status(200)["referrals"],
        30
    );
}

async fn reviews_are_final_audited_and_scoped(db: Db) {
    let app = behind_proxy(db).await;
    app.open_campaign("c", json!({})).await;
    app.open_campaign("other", json!({})).await;
    let ana = referrer(&app, "c").await;
    let code = ana["referral_code"].as_str();
    for email in ["b@mailinator.com", "c@mailinator.com"] {
        join_from(&app, "c", email, code, &from("198.51.100.7", "B")).await;
    }
    let zed = join_from(
        &app,
        "other",
        "zed@example.com",
        None,
        &from("203.0.113.2", "A"),
    )
    .await;
    join_from(
        &app,
        "other",
        "y@mailinator.com",
        zed["referral_code"].as_str(),
        &from("198.51.100.8", "B"),
    )
    .await;
    let ids: Vec<i64> = referrals(&app, "c", "flagged")
        .await
        .iter()
        .map(|r| r["id"].as_i64().expect("id"))
        .collect();
    let theirs = referrals(&app, "other", "flagged").await[0]["id"]
        .as_i64()
        .expect("id");
    let rejected = review(&app, "c", &[ids[1]], "reject").await;
    assert_eq!(rejected, [json!({"outcome": "rejected", "id": ids[1]})]);
    let results = review(
        &app,
        "c",
        &[ids[0], ids[1], theirs, 999_999, ids[0]],
        "approve",
    )
    .await;
    assert_eq!(
        results,
        [
            json!({"outcome": "approved", "id": ids[0], "count": 1}),
            json!({"outcome": "not_flagged", "id": ids[1], "status": "rejected"}),
            json!({"outcome": "not_found", "id": theirs}),
            json!({"outcome": "not_found", "id": 999_999}),
        ],
        "a rejection is final; another campaign's referral is not found here"
    );
    assert_eq!(referrals(&app, "other", "flagged").await.len(), 1);
    // An id written as a float with no fraction is that id.
    let as_float = app
        .call(
            Method::POST,
            "/api/campaign/c/referrals/review",
            As::Admin,
            Some(json!({"ids": [999_999.0], "decision": "approve"})),
        )
        .await;
    assert_eq!(
        as_float.assert_status(200)["results"],
        json!([{"outcome": "not_found", "id": 999_999}])
    );
    assert_eq!(app.metrics("c").await["referrals"], 1);
    for bad in [
        json!({"ids": [], "decision": "approve"}),
        json!({"ids": [1], "decision": "maybe"}),
        json!({"ids": [1]}),
        json!({"ids": [1.5], "decision": "approve"}),
    ] {
        let reply = app
            .call(
                Method::POST,
                "/api/campaign/c/referrals/review",
                As::Admin,
                Some(bad),
            )
            .await;
        assert_eq!(reply.status, 422, "{}", reply.body);
    }
    app.call(
        Method::POST,
        "/api/campaign/c/referrals/review",
        As::Anonymous,
        Some(json!({"ids": [1], "decision": "approve"})),
    )
    .await
    .assert_error(401, "unauthorized");
    let audit = app.get("/api/admin/audit?limit=50", As::Admin).await;
    let actions: Vec<&str> = audit.assert_status(200)["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"referral.approved"), "{actions:?}");
    assert!(actions.contains(&"referral.rejected"), "{actions:?}");
    // Unknown statuses are refused.
    app.get("/api/campaign/c/referrals?status=maybe", As::Admin)
        .await
        .assert_error(422, "invalid_field");
}

async fn strict_refuses_disposable_domains_and_off_checks_nothing(db: Db) {
    let app = behind_proxy(db).await;
    app.open_campaign("strict", json!({"referrals": {"fraud": "strict"}}))
        .await;
    app.open_campaign("off", json!({"referrals": {"fraud": "off"}}))
        .await;
    let reply = app
        .call(
            Method::POST,
            "/api/user/register",
            As::Anonymous,
            Some(json!({"campaign": "strict", "email": "x@mailinator.com", "name": "X"})),
        )
        .await;
    assert_eq!(
        reply.assert_error(422, "disposable_email")["field"],
        "email"
    );
    assert_eq!(app.metrics("strict").await["users"], 0, "nothing written");
    let ana = referrer(&app, "off").await;
    join_from(
        &app,
        "off",
        "b@mailinator.com",
        ana["referral_code"].as_str(),
        &from("203.0.113.2", "A"),
    )
    .await;
    let (status, signals) = signals_of(&app, "off", "b@mailinator.com").await;
    assert_eq!((status.as_str(), signals.len()), ("counted", 0));
    let bad = app
        .create_campaign(
            json!({"slug": "bad", "name": "Bad", "config": {"referrals": {"max_per_hour": 0}}}),
        )
        .await;
    assert_eq!(
        bad.assert_error(422, "invalid_field")["field"],
        "config.referrals.max_per_hour"
    );
}

/// The committed pointer paths the humanity score is held to: a hand
/// (minimum-jerk reaches with tremor) and three scripts.
#[path = "../../src/cursor/humanity_paths.rs"]
pub(crate) mod paths;

/// Moves the pointer of the visitor of `token` along `path` on campaign
/// `campaign`'s page over the SSE fallback, at the path's own times, then
/// leaves the page.
pub(crate) async fn move_pointer(
    client: &reqwest::Client,
    base: &str,
    campaign: &str,
    token: &str,
    path: &[paths::Sample],
) {
    let ticket = crate::support::ticket(client, base, campaign, token).await;
    let url = format!("{base}/api/campaign/{campaign}/events?cursors=1&ticket={ticket}");
    let stream = crate::support::SseClient::open(client, &url, None).await;
    let started = tokio::time::Instant::now();
    for (seq, (at, x, y)) in path.iter().enumerate() {
        tokio::time::sleep_until(started + Duration::from_millis(*at)).await;
        let reply = client
            .post(format!("{base}/api/campaign/{campaign}/cursor"))
            .bearer_auth(token)
            .json(&json!({"seq": seq + 1, "kind": "move", "x": x, "y": y}))
            .send()
            .await
            .expect("posted");
        assert_eq!(reply.status(), 204);
    }
    drop(stream);
}

/// A visitor of campaign `c` who moved along `path`: their token.
async fn move_along(app: &TestApp, path: &[paths::Sample]) -> String {
    let (_, token) = app.visitor("c").await;
    move_pointer(&app.client, &app.url(""), "c", &token, path).await;
    token
}

async fn the_humanity_score_tells_a_hand_from_scripts(db: Db) {
    let app = behind_proxy(db).await;
    app.open_campaign(
        "c",
        json!({"cursor": {"sessions_per_ip": 500}, "rate_limits": {"streams_per_ip": 500}}),
    )
    .await;
    let ana = referrer(&app, "c").await;
    let code = ana["referral_code"].as_str();
    let fixtures = [
        ("hand", paths::human(7)),
        ("line", paths::straight_fixed(7)),
        ("jittered", paths::straight_random(7)),
        ("noisy", paths::piecewise_noise(7)),
    ];
    let tokens =
        futures::future::join_all(fixtures.iter().map(|(_, path)| move_along(&app, path))).await;
    // Scores are stored every 2 s, and when a member leaves.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // A visitor who never moved a pointer: unknown, not a bot.
    let (_, still) = app.visitor("c").await;
    let sessions = fixtures
        .iter()
        .map(|(name, _)| *name)
        .zip(tokens.iter().map(String::as_str))
        .chain([("keyboard", still.as_str())]);
    for (n, (name, token)) in sessions.enumerate() {
        let address = format!("198.51.{n}.1");
        let sender = From {
            token: Some(token),
            ..from(&address, "B")
        };
        join_from(&app, "c", &format!("{name}@example.com"), code, &sender).await;
    }
    let all = referrals(&app, "c", "all").await;
    let of = |name: &str| {
        all.iter()
            .find(|r| r["referred_email"] == format!("{name}@example.com"))
            .expect("a referral")
            .clone()
    };
    let hand = of("hand");
    assert_eq!(
        (&hand["status"], &hand["signals"]),
        (&json!("counted"), &json!([]))
    );
    assert!(hand["humanity"].as_f64().expect("a score") >= 0.7, "{hand}");
    for script in ["line", "jittered", "noisy"] {
        let referral = of(script);
        assert_eq!(referral["signals"], json!(["low_humanity"]), "{referral}");
        assert!(
            referral["humanity"].as_f64().expect("a score") <= 0.3,
            "{referral}"
        );
    }
    let keyboard = of("keyboard");
    assert_eq!(
        (&keyboard["status"], &keyboard["humanity"]),
        (&json!("counted"), &Value::Null)
    );
}

db_tests!(
    the_humanity_score_tells_a_hand_from_scripts,
    each_signal_flags_a_referral_alone,
    the_abuse_run_moves_nothing_public_until_approved,
    reviews_are_final_audited_and_scoped,
    strict_refuses_disposable_domains_and_off_checks_nothing,
);
