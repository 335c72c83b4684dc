//! The nasty list, sent to every endpoint that takes input: each answer is a
//! 4xx (with the JSON error body whenever the request reached the app), and
//! nothing changes in any table.

use reqwest::Method;
use serde_json::{Value, json};

use crate::db_tests;
use crate::support::{As, Db, TestApp, spawn_app};

/// What the tables hold, as far as the API and the store can count it.
async fn snapshot(app: &TestApp) -> Value {
    let campaigns = app
        .state
        .store
        .list_campaigns(ovasabi_edge::internals::store::Page {
            limit: 500,
            offset: 0,
        })
        .await
        .expect("campaigns");
    let mut counts = Vec::new();
    for campaign in &campaigns {
        let c = app
            .state
            .store
            .campaign_counts(campaign.id)
            .await
            .expect("counts");
        counts.push(json!([
            campaign.slug,
            campaign.updated_at,
            c.users,
            c.leads,
            c.referrals
        ]));
    }
    let leads: Vec<Value> = app
        .state
        .store
        .list_leads(
            campaigns[0].id,
            None,
            ovasabi_edge::internals::store::Page {
                limit: 500,
                offset: 0,
            },
        )
        .await
        .expect("quotes")
        .into_iter()
        .map(|q| json!([q.id, q.status.as_str()]))
        .collect();
    json!({"campaigns": counts, "quotes": leads, "outbox": app.outbox().await.len()})
}

/// Bodies that no endpoint may take.
fn nasty_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let long = "x".repeat(100 * 1024);
    let emoji = "🎉".repeat(20_000);
    vec![
        ("huge number", br#"{"campaign": 1e400}"#.to_vec()),
        ("negative size", br#"{"campaign": "c", "limit": -1}"#.to_vec()),
        ("NUL", b"{\"campaign\": \"c\\u0000\", \"name\": \"a\\u0000b\"}".to_vec()),
        ("invalid UTF-8", b"{\"campaign\": \"\xff\xfe\"}".to_vec()),
        ("lone surrogate", br#"{"campaign": "\ud800"}"#.to_vec()),
        ("10 MB", vec![b' '; 10 * 1024 * 1024]),
        ("5000 deep", deep.into_bytes()),
        (
            "SQL",
            br#"{"campaign": "c'; DROP TABLE service_user_master; --", "email": "' OR 1=1 --", "name": "x", "message": "x", "code": "' OR '1'='1"}"#.to_vec(),
        ),
        (
            "script",
            br#"{"campaign": "<script>alert(1)</script>", "email": "<script>@x", "name": "x", "message": "x"}"#.to_vec(),
        ),
        (
            "100 KB string",
            format!(r#"{{"campaign": "c", "name": "{long}", "email": "a@b.co", "message": "x"}}"#).into_bytes(),
        ),
        (
            "emoji flood",
            format!(r#"{{"campaign": "c", "name": "{emoji}", "email": "a@b.co", "message": "{emoji}"}}"#).into_bytes(),
        ),
        ("not an object", b"[1, 2, 3]".to_vec()),
        ("empty", Vec::new()),
        ("truncated", br#"{"campaign": "c", "na"#.to_vec()),
    ]
}

async fn the_nasty_list_is_refused_everywhere_and_writes_nothing(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({"cursor": {"enabled": true}}))
        .await;
    let (_, _, user) = app.joined("c", "ada@example.com", "Ada", None).await;
    let lead = app
        .submit_lead(
            &json!({"campaign": "c", "name": "Ada", "email": "ada@example.com", "message": "Hi"}),
            None,
            None,
        )
        .await;
    let quote_id = lead.assert_status(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let before = snapshot(&app).await;

    let endpoints: Vec<(Method, String, As)> = vec![
        (Method::POST, "/api/session".into(), As::Anonymous),
        (Method::POST, "/api/connect".into(), As::Anonymous),
        (Method::POST, "/api/user/register".into(), As::Anonymous),
        (Method::POST, "/api/quote".into(), As::Anonymous),
        (Method::POST, "/api/referral".into(), As::Anonymous),
        (Method::POST, "/api/translate".into(), As::Anonymous),
        (Method::PUT, "/api/translate/override".into(), As::Admin),
        (Method::POST, "/api/campaign".into(), As::Admin),
        (Method::PATCH, "/api/campaign/c".into(), As::Admin),
        (Method::PATCH, format!("/api/quote/{quote_id}"), As::Admin),
        (
            Method::POST,
            "/api/campaign/c/cursor?page=/".into(),
            As::Anonymous,
        ),
    ];
    for (method, path, who) in &endpoints {
        for (name, body) in nasty_bodies() {
            for content_type in ["application/json", "text/plain"] {
                let mut request = app
                    .client
                    .request(method.clone(), app.url(path))
                    .header("content-type", content_type)
                    .body(body.clone());
                request = match who {
                    As::Admin => request.bearer_auth(&app.admin_token),
                    As::Anonymous
                        if path.ends_with("cursor?page=/")
                            || path == "/api/connect"
                            || path == "/api/referral" =>
                    {
                        request.bearer_auth(&user)
                    }
                    As::Anonymous => request,
                };
                let response =
                    tokio::time::timeout(std::time::Duration::from_secs(20), request.send())
                        .await
                        .unwrap_or_else(|_| {
                            panic!(
                                "{method} {path} with {name} as {content_type}: no answer in 20 s"
                            )
                        })
                        .expect("answered");
                let status = response.status().as_u16();
                let json = response
                    .headers()
                    .get("content-type")
                    .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
                let text = response.text().await.unwrap_or_default();
                assert!(
                    (400..500).contains(&status),
                    "{method} {path} with {name} as {content_type}: {status} {text:.200}"
                );
                assert!(
                    json,
                    "{method} {path} with {name}: a JSON error, got {text:.200}"
                );
                let error: Value = serde_json::from_str(&text).expect("JSON");
                assert!(
                    error["code"].is_string(),
                    "{method} {path} with {name}: {error}"
                );
            }
        }
    }

    // Queries and headers.
    let long_query = format!("/api/campaign?limit={}", "9".repeat(30_000));
    for (path, who) in [
        ("/api/campaign?limit=-1", As::Admin),
        ("/api/campaign?limit=99999999999999999999", As::Admin),
        ("/api/campaign?offset=1e9", As::Admin),
        (long_query.as_str(), As::Admin),
        ("/api/campaign/%00", As::Anonymous),
        ("/api/campaign/'%3B%20DROP%20TABLE%20x", As::Anonymous),
    ] {
        let reply = tokio::time::timeout(std::time::Duration::from_secs(10), app.get(path, who))
            .await
            .unwrap_or_else(|_| panic!("GET {path:.80}: no answer in 10 s"));
        let status = reply.status.as_u16();
        assert!((400..500).contains(&status), "GET {path:.80}: {status}");
    }
    let overlong = app
        .client
        .post(app.url("/api/quote"))
        .header("x-junk", "x".repeat(200 * 1024))
        .json(&json!({"campaign": "nope"}))
        .send()
        .await;
    if let Ok(response) = overlong {
        let status = response.status().as_u16();
        assert!((400..500).contains(&status), "overlong header: {status}");
    }

    assert_eq!(snapshot(&app).await, before, "no table changed");
}

db_tests!(the_nasty_list_is_refused_everywhere_and_writes_nothing);
