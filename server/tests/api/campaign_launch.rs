//! Launching a second campaign with commands and a file only: `campaigns new`,
//! `campaigns docs`, `campaigns check`, `campaigns apply` — and applying a
//! campaign file to a running deployment through the admin API.

use reqwest::StatusCode;
use serde_json::json;

use crate::db_tests;
use crate::support::{Db, RunningBinary, SseClient, binary_command, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_campaign_goes_live_with_commands_and_a_file() {
    let dir = tempfile::tempdir().expect("dir");
    let campaigns = dir.path().join("campaigns");
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&campaigns).expect("dir");
    std::fs::copy(
        crate::support::repo_root().join("campaigns/001_ovasabi_website.toml"),
        campaigns.join("001_ovasabi_website.toml"),
    )
    .expect("the first campaign");
    let database = format!("sqlite://{}", dir.path().join("edge.db").display());
    let env = [
        ("OVASABI_CAMPAIGNS_DIR", campaigns.to_str().expect("path")),
        ("DATABASE_URL", database.as_str()),
    ];
    let docs_arg = docs.to_str().expect("path");
    let run = |args: &[&str]| {
        binary_command(&env)
            .args(args)
            .output()
            .expect("binary runs")
    };

    let made = run(&["campaigns", "new", "spring-sale", "--docs", docs_arg]);
    assert!(made.status.success(), "{made:?}");
    let file = campaigns.join("002_spring_sale.toml");
    let text = std::fs::read_to_string(&file).expect("numbered after the first");
    assert!(text.contains("slug = \"spring-sale\""));
    assert!(docs.join("002_spring_sale.md").exists());
    // The first campaign has no document in this folder yet: check says so.
    let checked = run(&["campaigns", "check", "--docs", docs_arg]);
    assert!(!checked.status.success());
    assert!(String::from_utf8_lossy(&checked.stderr).contains("001_ovasabi_website.md is missing"));
    assert!(
        run(&["campaigns", "docs", "--docs", docs_arg])
            .status
            .success()
    );
    assert!(
        run(&["campaigns", "check", "--docs", docs_arg])
            .status
            .success()
    );

    // Put live: edited (a document now out of date), documented, applied.
    std::fs::write(
        &file,
        text.replace("status = \"draft\"", "status = \"active\""),
    )
    .expect("edit");
    let stale = run(&["campaigns", "check", "--docs", docs_arg]);
    assert!(!stale.status.success(), "a stale document fails the check");
    assert!(String::from_utf8_lossy(&stale.stderr).contains("002_spring_sale.md is out of date"));
    assert!(
        run(&["campaigns", "docs", "--docs", docs_arg])
            .status
            .success()
    );
    let doc = std::fs::read_to_string(docs.join("002_spring_sale.md")).expect("doc");
    assert!(doc.contains("| status | `active` |"), "{doc}");
    assert!(doc.contains("/api/campaign/spring-sale/events"), "{doc}");
    assert!(
        run(&["campaigns", "check", "--docs", docs_arg])
            .status
            .success()
    );
    let applied = run(&["campaigns", "apply"]);
    assert!(applied.status.success(), "{applied:?}");
    assert!(String::from_utf8_lossy(&applied.stdout).contains("spring-sale: Created"));

    // It serves joins and events, with no code changed.
    let server = RunningBinary::start(&[
        env[0],
        env[1],
        ("OVASABI_HTTP_ADDR", "127.0.0.1:0"),
        ("OVASABI_WT_ADDR", "127.0.0.1:0"),
    ])
    .await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let mut events = SseClient::open(
        &client,
        &format!("{base}/api/campaign/spring-sale/events"),
        None,
    )
    .await;
    let joined = client
        .post(format!("{base}/api/user/register"))
        .json(&json!({"campaign": "spring-sale", "email": "ada@example.com", "name": "Ada"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(joined.status(), StatusCode::CREATED);
    let event = events.next_of("user.joined").await;
    assert_eq!(event.json()["display_name"], "Ada");
    drop(events);
    assert!(server.stop("TERM").await.success());
}

db_tests!(a_campaign_file_applies_through_the_admin_api);

async fn a_campaign_file_applies_through_the_admin_api(db: Db) {
    let app = spawn_app(db).await;
    let file = "slug = \"autumn\"\nname = \"Autumn\"\nstatus = \"active\"\n[config]\nlocales = [\"en\", \"fr\"]\n";
    let post = |body: &str, content_type: &str, admin: bool| {
        let mut request = app
            .client
            .put(app.url("/api/campaign/autumn/file"))
            .header("content-type", content_type)
            .body(body.to_owned());
        if admin {
            request = request.bearer_auth(&app.admin_token);
        }
        request.send()
    };
    let created =
        crate::support::read(post(file, "application/toml", true).await.expect("sent")).await;
    assert_eq!(created.assert_status(200)["outcome"], "created");
    assert_eq!(created.body["slug"], "autumn");
    let again = crate::support::read(post(file, "text/plain", true).await.expect("sent")).await;
    assert_eq!(again.assert_status(200)["outcome"], "unchanged");
    let edited = file.replace("Autumn\"", "Autumn sale\"");
    let updated =
        crate::support::read(post(&edited, "application/toml", true).await.expect("sent")).await;
    assert_eq!(updated.assert_status(200)["outcome"], "updated");
    let campaign = app
        .get("/api/campaign/autumn", crate::support::As::Anonymous)
        .await;
    assert_eq!(campaign.assert_status(200)["name"], "Autumn sale");

    crate::support::read(post(file, "application/toml", false).await.expect("sent"))
        .await
        .assert_error(401, "unauthorized");
    crate::support::read(post(file, "application/json", true).await.expect("sent"))
        .await
        .assert_error(415, "unsupported_media_type");
    // A file of another campaign than the path's is refused.
    let other = file.replace("slug = \"autumn\"", "slug = \"winter\"");
    crate::support::read(post(&other, "application/toml", true).await.expect("sent"))
        .await
        .assert_error(422, "invalid_field");
    let bad = crate::support::read(
        post(
            "name = \"X\"\nstatus = \"sideways\"\n",
            "application/toml",
            true,
        )
        .await
        .expect("sent"),
    )
    .await;
    assert!(
        bad.assert_error(422, "invalid_field")["message"]
            .as_str()
            .is_some_and(|m| m.contains("status"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_the_campaign_documents_list_is_served() {
    use ovasabi_edge::internals::campaign::catalogue::ENDPOINTS;
    let app = spawn_app(Db::Sqlite).await;
    app.open_campaign("c", json!({})).await;
    for endpoint in ENDPOINTS {
        let path = endpoint.path.replace("{slug}", "c");
        let method = reqwest::Method::from_bytes(endpoint.method.as_bytes()).expect("method");
        let response = app
            .client
            .request(method, app.url(&path))
            .json(&json!({}))
            .send()
            .await
            .expect("answered");
        if response
            .headers()
            .get("content-type")
            .is_some_and(|t| t == "text/event-stream")
        {
            continue; // an event stream: served (its body never ends)
        }
        let answer = crate::support::read(response).await;
        // Whatever the answer to an empty body, it is not "no such endpoint".
        assert!(
            answer.status != StatusCode::METHOD_NOT_ALLOWED && answer.body["code"] != "not_found",
            "{} {path}: {} {}",
            endpoint.method,
            answer.status,
            answer.body
        );
    }
}
