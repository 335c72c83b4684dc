//! Erasure as the README promises it: complete — the person's values are
//! found nowhere afterwards, not in any table, the SQLite file or its WAL,
//! the Redis event stream, nor the server's log — and scoped: an erasure in
//! one campaign leaves another campaign's rows alone. Also: webhook
//! receivers' credentials are never shown to the team.
//!
//! Later issues that store more of a person extend
//! [`an_erasure_leaves_no_trace`] with what they store (held spam, too).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::db_tests;
use crate::support::{
    As, Db, RunningBinary, TestDb, fresh_database, open_campaign_body, redis_url, spawn_app,
};
use crate::team::make_key;

const ADMIN: &str = "admin-token-of-the-erasure-test";

/// What names the person in the no-trace test: every one must be found
/// before the erasure, and nowhere after it.
const VALUES: &[&str] = &[
    "zelda.quartermain@example.com",
    "Zelda Quartermain",
    "Zelda Q. Contact",
    "Please call Zelda about the orangery",
    "Orangery for Zelda",
    "Zelda's spring timeline",
    "+44 7700 900123",
    "Quartermain Orangeries Ltd",
    "zelda-key-8d1f3",
    "Zelda's second thoughts, caught by the honeypot",
];

/// A request to the binary, as admin or with a session token; the JSON answer.
async fn call(
    client: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut request = client.request(method, format!("{base}{path}")).json(&body);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Which of [`VALUES`] `haystack` holds (compared without case).
fn found_in(haystack: &str) -> Vec<&'static str> {
    let haystack = haystack.to_lowercase();
    VALUES
        .iter()
        .copied()
        .filter(|v| haystack.contains(&v.to_lowercase()))
        .collect()
}

/// Everything the database holds, as text: every row of every table on
/// PostgreSQL; the database file and its WAL, byte for byte, on SQLite.
async fn database_text(db: &TestDb) -> String {
    use sqlx::Connection;
    if let Some(path) = db.url.strip_prefix("sqlite://") {
        let mut text = String::new();
        for file in [path.to_owned(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                text.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        return text;
    }
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("tables");
    let mut text = String::new();
    for (table,) in tables {
        let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT t::text FROM \"{table}\" t"
        )))
        .fetch_all(&mut conn)
        .await
        .expect("rows");
        for (row,) in rows {
            text.push_str(&table);
            text.push_str(&row);
            text.push('\n');
        }
    }
    text
}

/// What `sql` (a `SELECT COUNT(*)`) counts in the test's database.
async fn count_rows(db: &TestDb, sql: &str) -> i64 {
    use sqlx::Connection;
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    let (count,): (i64,) = if db.url.starts_with("sqlite://") {
        let mut conn = sqlx::SqliteConnection::connect(&db.url)
            .await
            .expect("connect");
        sqlx::query_as(sql)
            .fetch_one(&mut conn)
            .await
            .expect("count")
    } else {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
        sqlx::query_as(sql)
            .fetch_one(&mut conn)
            .await
            .expect("count")
    };
    count
}

/// Every entry of every stream under `prefix` in Redis, as text.
async fn redis_text(redis: &str, prefix: &str) -> String {
    let client = redis::Client::open(redis).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .expect("keys");
    let mut text = String::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("type");
        let mut command = match kind.as_str() {
            "stream" => redis::cmd("XRANGE"),
            "string" => redis::cmd("GET"),
            "hash" => redis::cmd("HGETALL"),
            "zset" => redis::cmd("ZRANGE"),
            _ => continue,
        };
        command.arg(&key);
        match kind.as_str() {
            "stream" => command.arg("-").arg("+"),
            "zset" => command.arg(0).arg(-1),
            _ => &mut command,
        };
        let value: redis::Value = command.query_async(&mut conn).await.expect("read");
        text.push_str(&format!("{key}: {value:?}\n"));
    }
    text
}

/// A person who joined (through a referrer, from a visitor session whose
/// landing page named them), referred someone, sent a lead with details,
/// a phone, a company and an idempotency key, and was announced live
/// (joined, a milestone, the leaderboard) — then erased. Before: each of
/// their values is somewhere. After: none is in any table, the SQLite file
/// or its WAL, the Redis stream, or the server's log.
async fn an_erasure_leaves_no_trace(db: Db) {
    let Some(redis) = redis_url() else {
        return;
    };
    let test_db = fresh_database(&db).await;
    let prefix = format!("ovasabi-test-{}", uuid::Uuid::now_v7().simple());
    let logs = tempfile::NamedTempFile::new().expect("log file");
    let server = RunningBinary::start_logging_to(
        &[
            ("OVASABI_HTTP_ADDR", "127.0.0.1:0"),
            ("OVASABI_WT_ADDR", "127.0.0.1:0"),
            ("DATABASE_URL", &test_db.url),
            ("REDIS_URL", &redis),
            ("OVASABI_REDIS_PREFIX", &prefix),
            ("OVASABI_ADMIN_TOKEN", ADMIN),
            (
                "OVASABI_SESSION_SECRET",
                "session-secret-of-the-erasure-test",
            ),
            (
                "OVASABI_WEBHOOK_SECRET",
                "webhook-secret-of-the-erasure-test",
            ),
            ("RUST_LOG", "debug"),
            // Zelda's join comes through a proxy: her network and device
            // are kept (as keyed hashes) for the referral checks.
            ("OVASABI_TRUSTED_PROXIES", "127.0.0.1/32"),
        ],
        logs.reopen().expect("log file"),
    )
    .await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let mut campaign = open_campaign_body("spring");
    campaign["config"]["milestones"] = json!([1]);
    campaign["config"]["leaderboard"] = json!({"enabled": true});
    // Mails wait in the outbox (no SMTP server here): a welcome, a lead's
    // confirmation, the team's notification — each names the person.
    campaign["config"]["notify"] = json!({"leads": ["team@example.com"]});
    // A lead held as spam keeps what it was sent, to be released.
    campaign["config"]["forms"] = json!({"honeypot": "fax"});
    let (status, body) = call(
        &client,
        &base,
        Method::POST,
        "/api/campaign",
        Some(ADMIN),
        campaign,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let join = |email: &str, name: &str, code: Option<&str>| {
        let mut body = json!({"campaign": "spring", "email": email, "name": name});
        if let Some(code) = code {
            body["referral_code"] = json!(code);
        }
        body
    };
    let (_, xavier) = call(
        &client,
        &base,
        Method::POST,
        "/api/user/register",
        None,
        join("xavier@example.com", "Xavier", None),
    )
    .await;
    let (status, visit) = call(
        &client,
        &base,
        Method::POST,
        "/api/session",
        None,
        json!({
            "campaign": "spring",
            "landing_page": "https://spring.example/?utm_term=zelda.quartermain%40example.com&utm_content=Zelda%20Quartermain",
            "utm_term": "zelda.quartermain@example.com",
            "utm_content": "Zelda Quartermain",
        }),
    )
    .await;
    assert_eq!(status, 201, "{visit}");
    // Her pointer moved on the page: her session has a humanity score.
    let visit_token = visit["token"].as_str().expect("token");
    crate::fraud::move_pointer(
        &client,
        &base,
        "spring",
        visit_token,
        &crate::fraud::paths::human(3),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await; // stored every 2 s
    let zelda = client
        .post(format!("{base}/api/user/register"))
        .bearer_auth(visit_token)
        .header("x-forwarded-for", "198.51.100.23")
        .header("user-agent", "Zelda's browser")
        .json(&join(
            VALUES[0],
            VALUES[1],
            xavier["referral_code"].as_str(),
        ))
        .send()
        .await
        .expect("sent");
    assert_eq!(zelda.status(), 201);
    let zelda: Value = zelda.json().await.expect("json");
    let token = zelda["token"].as_str().expect("token").to_owned();
    let (status, _) = call(
        &client,
        &base,
        Method::POST,
        "/api/user/register",
        None,
        join(
            "yannick@example.com",
            "Yannick",
            zelda["referral_code"].as_str(),
        ),
    )
    .await;
    assert_eq!(status, 201);
    let lead = client
        .post(format!("{base}/api/quote"))
        .bearer_auth(&token)
        .header("idempotency-key", VALUES[8])
        .json(&json!({
            "campaign": "spring",
            "name": VALUES[2],
            "email": VALUES[0],
            "message": VALUES[3],
            "details": {"service": VALUES[4], "timeline": VALUES[5]},
            "phone": VALUES[6],
            "company": VALUES[7],
        }))
        .send()
        .await
        .expect("sent");
    assert_eq!(lead.status(), 201);
    let (status, held) = call(
        &client,
        &base,
        Method::POST,
        "/api/quote",
        None,
        json!({"campaign": "spring", "name": VALUES[1], "email": VALUES[0],
               "message": VALUES[9], "fax": "0"}),
    )
    .await;
    assert_eq!(status, 201, "{held}");

    // Before: every value is somewhere, and the live events carried the name.
    let before = crate::support::poll_until(
        || async { redis_text(&redis, &prefix).await },
        |text| text.contains("referral.milestone") && text.contains("leaderboard"),
    )
    .await;
    // Their display name (joined, milestone, leaderboard) and their lead's
    // service (lead.created).
    assert_eq!(
        found_in(&before),
        [VALUES[1], VALUES[4]],
        "the live events carried the person's values"
    );
    // What her referrals are checked against, and her session's score.
    let kept = [
        "SELECT COUNT(*) FROM service_humanity",
        "SELECT COUNT(*) FROM service_user_master
         WHERE network_hash IS NOT NULL OR device_hash IS NOT NULL",
    ];
    for sql in kept {
        assert_eq!(count_rows(&test_db, sql).await, 1, "before: {sql}");
    }
    let stored = database_text(&test_db).await;
    for value in VALUES[..8].iter().chain([&VALUES[9]]) {
        assert!(
            found_in(&stored).contains(value),
            "{value} is stored before"
        );
    }

    let (status, report) = call(
        &client,
        &base,
        Method::POST,
        "/api/erasure",
        Some(ADMIN),
        json!({"email": VALUES[0]}),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["users"], 1);
    assert_eq!(report["quotes"], 1);
    assert_eq!(report["spam"], 1);
    assert!(
        report["history_entries"].as_u64().is_some_and(|n| n >= 2),
        "{report}"
    );
    // The announcements that follow (the leaderboard anew) have happened.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    assert_eq!(
        found_in(&database_text(&test_db).await),
        Vec::<&str>::new(),
        "in the database"
    );
    for sql in kept {
        assert_eq!(count_rows(&test_db, sql).await, 0, "after: {sql}");
    }
    assert_eq!(
        found_in(&redis_text(&redis, &prefix).await),
        Vec::<&str>::new(),
        "in Redis"
    );
    let log = std::fs::read_to_string(logs.path()).expect("log");
    assert!(log.contains("personal data erased"), "the log is read");
    assert_eq!(found_in(&log), Vec::<&str>::new(), "in the server's log");
    // What stays are counts: the referrer still has one referral.
    let (_, board) = call(
        &client,
        &base,
        Method::GET,
        "/api/campaign/spring/leaderboard",
        None,
        Value::Null,
    )
    .await;
    assert!(found_in(&board.to_string()).is_empty(), "{board}");
    drop(server);
}

/// An erasure in campaign A (by A's owner) changes A's rows and outbox
/// entries only: the same address in campaign B keeps its user, lead and
/// outbox payload; a scoped owner cannot erase across campaigns.
async fn an_erasure_stays_in_its_campaign(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("a", json!({})).await;
    app.open_campaign("b", json!({})).await;
    let lead = |campaign: &str| {
        json!({"campaign": campaign, "name": "Ada Lovelace", "email": "ada@example.com",
               "message": "Hello", "details": {"service": "Engines"}})
    };
    for campaign in ["a", "b"] {
        app.joined(campaign, "ada@example.com", "Ada", None).await;
        app.submit_lead(&lead(campaign), None, None)
            .await
            .assert_status(201);
    }
    let (_, owner_a) = make_key(&app, "a owner", "owner", Some("a")).await;
    app.call_as(
        Method::POST,
        "/api/erasure",
        &owner_a,
        Some(json!({"email": "ada@example.com"})),
    )
    .await
    .assert_error(403, "campaign_out_of_scope");
    app.call_as(
        Method::POST,
        "/api/erasure",
        &owner_a,
        Some(json!({"email": "ada@example.com", "campaign": "b"})),
    )
    .await
    .assert_error(403, "campaign_out_of_scope");
    let erased = app
        .call_as(
            Method::POST,
            "/api/erasure",
            &owner_a,
            Some(json!({"email": "ada@example.com", "campaign": "a"})),
        )
        .await;
    let report = erased.assert_status(200);
    assert_eq!(
        (report["users"].clone(), report["quotes"].clone()),
        (json!(1), json!(1))
    );
    for (campaign, kept) in [("a", false), ("b", true)] {
        let names = |v: &Value| v.to_string().contains("ada@example.com");
        let participants = app
            .get(&format!("/api/campaign/{campaign}/participants"), As::Admin)
            .await;
        assert_eq!(
            names(participants.assert_status(200)),
            kept,
            "{campaign}: {}",
            participants.body
        );
        let leads = app
            .get(&format!("/api/quote?campaign={campaign}"), As::Admin)
            .await;
        let leads = leads.assert_status(200).clone();
        assert_eq!(names(&leads), kept, "{campaign}: {leads}");
        assert_eq!(
            leads.to_string().contains("Engines"),
            kept,
            "{campaign}: {leads}"
        );
        let outbox: Vec<Value> = app
            .outbox()
            .await
            .into_iter()
            .filter(|e| e.campaign_slug.as_deref() == Some(campaign))
            .map(|e| e.payload)
            .collect();
        assert!(!outbox.is_empty());
        assert!(
            outbox.iter().all(|p| names(p) == kept),
            "{campaign}: {outbox:?}"
        );
    }
}

/// A receiver's user and password never leave the server: not in the
/// campaign as any role reads it (REST or gRPC), nor in the audit log; a
/// configuration sent back as it was shown keeps them.
async fn webhook_credentials_are_hidden(db: Db) {
    let app = spawn_app(db).await;
    let secret = "https://crm:s3cret-pass@hooks.example.com/in";
    let shown = "https://****@hooks.example.com/in";
    let created = app.open_campaign("c", json!({"webhooks": [secret]})).await;
    assert_eq!(created["config"]["webhooks"], json!([shown]), "{created}");
    for role in ["viewer", "editor", "owner"] {
        let (_, key) = make_key(&app, role, role, None).await;
        let read = app
            .call_as(Method::GET, "/api/campaign/c", &key, None)
            .await;
        assert_eq!(
            read.assert_status(200)["config"]["webhooks"],
            json!([shown]),
            "{role}"
        );
        let listed = app.call_as(Method::GET, "/api/campaign", &key, None).await;
        assert!(
            !listed.assert_status(200).to_string().contains("s3cret"),
            "{role}"
        );
    }
    // Sent back as shown, with another change: the credentials stay.
    let mut config = created["config"].clone();
    config["milestones"] = json!([5, 10]);
    let patched = app
        .patch_campaign("c", As::Admin, json!({"config": config}))
        .await;
    assert_eq!(
        patched.assert_status(200)["config"]["webhooks"],
        json!([shown])
    );
    let stored = app
        .state
        .store
        .campaign_by_slug("c")
        .await
        .expect("read")
        .expect("c");
    assert_eq!(stored.config.webhooks, [secret]);
    assert_eq!(stored.config.milestones, [5, 10]);
    let log = app.get("/api/admin/audit", As::Admin).await;
    let log = log.assert_status(200).to_string();
    assert!(
        log.contains("hooks.example.com") && !log.contains("s3cret"),
        "{log}"
    );
}

db_tests!(
    an_erasure_leaves_no_trace,
    an_erasure_stays_in_its_campaign,
    webhook_credentials_are_hidden,
);
