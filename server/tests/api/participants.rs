//! The campaign team's lists: participants (filters, sorting, cursor pages
//! that stay stable while people keep joining, CSV export parsed back) and
//! referrals; refused to anyone but the admin, tampered cursors refused.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};

use crate::db_tests;
use crate::support::{As, Db, TestApp, spawn_app};

/// Users joined in campaign `c`: `(email, master_id, referral code)`, in order.
async fn join_many(app: &TestApp, from: usize, to: usize, code: Option<&str>) -> Vec<String> {
    let mut ids = Vec::new();
    for i in from..to {
        let (id, _, _) = app
            .joined(
                "c",
                &format!("user{i:03}@example.com"),
                &format!("User {i:03}"),
                code,
            )
            .await;
        ids.push(id);
    }
    ids
}

/// Every participant id of `path`, following `next_cursor` to the end;
/// `between` runs after each page (to change the list while it is read).
async fn page_through(
    app: &TestApp,
    path: &str,
    mut between: impl AsyncFnMut(usize),
) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0.. {
        let url = match &cursor {
            None => path.to_owned(),
            Some(c) => format!("{path}&cursor={c}"),
        };
        let reply = app.get(&url, As::Admin).await;
        let body = reply.assert_status(200);
        rows.extend(
            body["participants"]
                .as_array()
                .expect("participants")
                .iter()
                .cloned(),
        );
        between(page).await;
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    rows
}

async fn participants_are_listed_filtered_paged_and_exported(db: Db) {
    let app = spawn_app(db).await;
    // Counting, not fraud review: each referrer may refer all of theirs at once.
    app.open_campaign("c", json!({"referrals": {"max_per_hour": 1000}}))
        .await;
    // 3 referrers; 240 users, a third of them referred by one of the three.
    let mut referrers = Vec::new();
    for i in 0..3 {
        referrers.push(
            app.joined(
                "c",
                &format!("ref{i}@example.com"),
                &format!("Referrer {i}"),
                None,
            )
            .await,
        );
    }
    let mut everyone: Vec<String> = referrers.iter().map(|r| r.0.clone()).collect();
    for chunk in 0..6 {
        let code = referrers[chunk % 3].1.clone();
        everyone.extend(join_many(&app, chunk * 40, chunk * 40 + 13, Some(&code)).await);
        everyone.extend(join_many(&app, chunk * 40 + 13, chunk * 40 + 40, None).await);
    }
    assert_eq!(everyone.len(), 243);

    // Pages of 50, oldest first, while 30 more people join between pages:
    // everyone who was there is listed exactly once.
    let mut next = 1000;
    let rows = page_through(&app, "/api/campaign/c/participants?limit=50", async |_| {
        join_many(&app, next, next + 5, None).await;
        next += 5;
    })
    .await;
    let listed: Vec<String> = rows
        .iter()
        .map(|p| p["master_id"].as_str().expect("id").to_owned())
        .collect();
    let unique: BTreeSet<_> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "nobody listed twice");
    for id in &everyone {
        assert!(unique.contains(id), "{id} missing from the pages");
    }
    let times: Vec<&str> = rows
        .iter()
        .map(|p| p["joined_at"].as_str().expect("time"))
        .collect();
    let parsed: Vec<chrono::DateTime<chrono::Utc>> =
        times.iter().map(|t| t.parse().expect("RFC 3339")).collect();
    assert!(parsed.windows(2).all(|w| w[0] <= w[1]), "oldest first");

    // Filters.
    let with = app
        .get("/api/campaign/c/participants?has_referrals=true", As::Admin)
        .await;
    let with = with.assert_status(200)["participants"].clone();
    let counts: HashMap<String, i64> = with
        .as_array()
        .expect("list")
        .iter()
        .map(|p| {
            (
                p["display_name"].as_str().expect("name").to_owned(),
                p["referral_count"].as_i64().expect("count"),
            )
        })
        .collect();
    assert_eq!(
        counts,
        HashMap::from([
            ("Referrer 0".to_owned(), 26),
            ("Referrer 1".to_owned(), 26),
            ("Referrer 2".to_owned(), 26)
        ])
    );
    let top = app
        .get(
            "/api/campaign/c/participants?sort=-referrals&limit=1",
            As::Admin,
        )
        .await;
    assert_eq!(
        top.assert_status(200)["participants"][0]["display_name"],
        "Referrer 0",
        "most referrals, then the earliest"
    );
    let search = app
        .get("/api/campaign/c/participants?search=USER01", As::Admin)
        .await;
    let found: Vec<&str> = search.assert_status(200)["participants"]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["email"].as_str().expect("email"))
        .collect();
    assert_eq!(found.len(), 10, "{found:?}");
    assert!(found.iter().all(|e| e.starts_with("user01")));
    let by_name = app
        .get(
            "/api/campaign/c/participants?search=referrer%202",
            As::Admin,
        )
        .await;
    assert_eq!(
        by_name.assert_status(200)["participants"][0]["email"],
        "ref2@example.com"
    );
    let wildcard = app
        .get("/api/campaign/c/participants?search=%25", As::Admin)
        .await;
    assert_eq!(
        wildcard.assert_status(200)["participants"],
        json!([]),
        "% is a character, not a wildcard"
    );
    let future = app
        .get(
            "/api/campaign/c/participants?joined_since=2100-01-01T00:00:00Z",
            As::Admin,
        )
        .await;
    assert_eq!(future.assert_status(200)["participants"], json!([]));

    // The CSV export holds every participant, as the JSON does.
    let exported = app.csv("/api/campaign/c/participants").await;
    let total = everyone.len() + 30;
    assert_eq!(exported.len(), total);
    let json_all = page_through(&app, "/api/campaign/c/participants?limit=500", async |_| {}).await;
    for (row, json) in exported.iter().zip(&json_all) {
        assert_eq!(row["master_id"], json["master_id"].as_str().expect("id"));
        assert_eq!(row["email"], json["email"].as_str().expect("email"));
        assert_eq!(
            row["display_name"],
            json["display_name"].as_str().expect("name")
        );
        assert_eq!(
            row["referral_code"],
            json["referral_code"].as_str().expect("code")
        );
        assert_eq!(
            row["referral_count"],
            json["referral_count"].as_i64().expect("count").to_string()
        );
    }
    let filtered = app
        .csv("/api/campaign/c/participants?format=csv&has_referrals=true")
        .await;
    assert_eq!(filtered.len(), 3);
}

async fn bad_list_requests_are_refused(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    join_many(&app, 0, 3, None).await;
    app.get("/api/campaign/c/participants", As::Anonymous)
        .await
        .assert_error(401, "unauthorized");
    app.get("/api/campaign/c/referrals", As::Anonymous)
        .await
        .assert_error(401, "unauthorized");
    let first = app
        .get("/api/campaign/c/participants?limit=1", As::Admin)
        .await;
    let cursor = first.assert_status(200)["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    // The cursor works as handed out...
    app.get(
        &format!("/api/campaign/c/participants?limit=1&cursor={cursor}"),
        As::Admin,
    )
    .await
    .assert_status(200);
    // ...and not once changed, nor for another order or list.
    let (body, signature) = cursor.split_once('.').expect("two parts");
    let mut tampered = body.as_bytes().to_vec();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = format!(
        "{}.{signature}",
        String::from_utf8(tampered).expect("ascii")
    );
    for (path, what) in [
        (
            format!("/api/campaign/c/participants?cursor={tampered}"),
            "changed",
        ),
        (
            format!("/api/campaign/c/participants?sort=-joined_at&cursor={cursor}"),
            "another order",
        ),
        (
            format!("/api/campaign/c/referrals?cursor={cursor}"),
            "another list",
        ),
        (
            "/api/campaign/c/participants?cursor=garbage".to_owned(),
            "not ours",
        ),
        (
            "/api/campaign/c/participants?format=csv&cursor=garbage".to_owned(),
            "not ours, for an export",
        ),
    ] {
        let reply = app.get(&path, As::Admin).await;
        assert_eq!(
            reply.assert_error(422, "invalid_cursor")["field"],
            "cursor",
            "{what}"
        );
    }
    for (query, field) in [
        ("sort=name", "sort"),
        ("has_referrals=yes", "has_referrals"),
        ("joined_since=last-week", "joined_since"),
        ("limit=501", "limit"),
        ("format=xml", "format"),
        ("format=csv&limit=-1", "limit"),
    ] {
        let reply = app
            .get(&format!("/api/campaign/c/participants?{query}"), As::Admin)
            .await;
        assert_eq!(reply.assert_error(422, "invalid_field")["field"], field);
    }
    app.get("/api/campaign/nope/participants", As::Admin)
        .await
        .assert_error(404, "campaign_not_found");
}

async fn referrals_are_listed_in_pages(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let (ada, code, _) = app.joined("c", "ada@example.com", "Ada", None).await;
    join_many(&app, 0, 7, Some(&code)).await;
    let (_, _, late) = app.joined("c", "late@example.com", "Late", None).await;
    let (_, grace_code, _) = app.joined("c", "grace@example.com", "Grace", None).await;
    app.refer("c", &grace_code, Some(&late))
        .await
        .assert_status(201);
    let mut seen = Vec::new();
    let mut path = "/api/campaign/c/referrals?limit=3".to_owned();
    loop {
        let reply = app.get(&path, As::Admin).await;
        let body = reply.assert_status(200).clone();
        seen.extend(body["referrals"].as_array().expect("list").iter().cloned());
        match body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/campaign/c/referrals?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8);
    assert!(seen[..7].iter().all(|r| r["referrer_id"] == ada.as_str()));
    assert_eq!(seen[7]["referrer_name"], "Grace");
    assert_eq!(seen[7]["referred_email"], "late@example.com");
    let of_ada = app
        .get(
            &format!("/api/campaign/c/referrals?referrer={ada}"),
            As::Admin,
        )
        .await;
    assert_eq!(
        of_ada.assert_status(200)["referrals"]
            .as_array()
            .map(Vec::len),
        Some(7)
    );
    let exported = app.csv("/api/campaign/c/referrals").await;
    assert_eq!(exported.len(), 8);
    assert_eq!(exported[7]["code"], grace_code);
}

db_tests!(
    participants_are_listed_filtered_paged_and_exported,
    bad_list_requests_are_refused,
    referrals_are_listed_in_pages,
);
