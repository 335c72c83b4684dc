//! The `ovasabi-edge` binary as a newcomer runs it.

use crate::support::{RunningBinary, binary_command, repo_root};

#[test]
fn bad_config_exits_non_zero_with_a_one_line_reason() {
    let cases = [
        ("OVASABI_HTTP_ADDR", "not-an-address"),
        ("DATABASE_URL", "mysql://nope"),
        ("OVASABI_ADMIN_TOKEN", "short"),
        ("OVASABI_WEBHOOK_URL", "crm.example"),
    ];
    for (name, value) in cases {
        let out = binary_command(&[(name, value)])
            .output()
            .expect("binary runs");
        assert_eq!(out.status.code(), Some(2), "{name}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(name), "names the setting: {stderr}");
    }
}

#[test]
fn generated_secrets_are_refused_when_scaled_out() {
    // Redis set (another instance may share it), secrets not: refused, exit 2.
    let out = binary_command(&[
        ("REDIS_URL", "redis://127.0.0.1:9"),
        ("OVASABI_HTTP_ADDR", "127.0.0.1:0"),
        ("OVASABI_WT_ADDR", "127.0.0.1:0"),
    ])
    .output()
    .expect("binary runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    for name in ["OVASABI_SESSION_SECRET", "OVASABI_ADMIN_TOKEN", "REDIS_URL"] {
        assert!(stderr.contains(name), "names {name}: {stderr}");
    }
    // A secret file that is too short is named as the setting it is.
    let dir = tempfile::tempdir().expect("dir");
    let short = dir.path().join("secret");
    std::fs::write(&short, "short\n").expect("written");
    let out = binary_command(&[("OVASABI_SESSION_SECRET_FILE", short.to_str().expect("path"))])
        .output()
        .expect("binary runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("OVASABI_SESSION_SECRET_FILE"));
}

#[tokio::test]
async fn secrets_can_come_from_files() {
    let dir = tempfile::tempdir().expect("dir");
    let file = |name: &str, value: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{value}\n")).expect("written");
        path.to_str().expect("path").to_owned()
    };
    let admin = file("admin", "admin-token-from-a-mounted-file");
    let session = file("session", "session-secret-from-a-mounted-file-32+");
    let webhook = file("webhook", "webhook-secret-from-a-file");
    let db = format!("sqlite://{}/edge.db", dir.path().display());
    let server = RunningBinary::start(&[
        ("DATABASE_URL", &db),
        (
            "REDIS_URL",
            &crate::support::redis_url().unwrap_or_else(|| "redis://127.0.0.1:6379".into()),
        ),
        (
            "OVASABI_REDIS_PREFIX",
            &format!("ovasabi-test-{}", uuid::Uuid::now_v7().simple()),
        ),
        ("OVASABI_HTTP_ADDR", "127.0.0.1:0"),
        ("OVASABI_WT_ADDR", "127.0.0.1:0"),
        ("OVASABI_ADMIN_TOKEN_FILE", &admin),
        ("OVASABI_SESSION_SECRET_FILE", &session),
        ("OVASABI_WEBHOOK_SECRET_FILE", &webhook),
    ])
    .await;
    let listed = reqwest::Client::new()
        .get(format!("{}/api/campaign", server.base))
        .bearer_auth("admin-token-from-a-mounted-file")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        listed.status(),
        200,
        "the admin token from the file is the one"
    );
    server.stop("TERM").await;
}

#[tokio::test]
async fn default_run_serves_the_shipped_campaign_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = format!("sqlite://{}", dir.path().join("edge.db").display());
    let server = RunningBinary::start(&[
        ("OVASABI_HTTP_ADDR", "127.0.0.1:0"),
        ("OVASABI_WT_ADDR", "127.0.0.1:0"),
        ("DATABASE_URL", &database),
    ])
    .await;
    let reply = reqwest::get(format!("{}/api/campaign/ovasabi-website", server.base))
        .await
        .expect("request");
    assert_eq!(reply.status(), 200);
    let status = server.stop("TERM").await;
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_what_is_in_flight_and_tells_clients() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}/edge.db", dir.path().display());
    let env = [
        ("DATABASE_URL", db.as_str()),
        ("OVASABI_HTTP_ADDR", "127.0.0.1:0"),
        ("OVASABI_WT_ADDR", "127.0.0.1:0"),
        ("OVASABI_ADMIN_TOKEN", "sigterm-test-admin-token"),
        (
            "OVASABI_SESSION_SECRET",
            "sigterm-test-session-secret-32-chars!",
        ),
    ];
    let server = RunningBinary::start(&env).await;
    let base = server.base.clone();
    // The lead below is sent at once, as no page does.
    crate::support::without_minimum_time(&base, "sigterm-test-admin-token").await;
    let client = reqwest::Client::new();
    let session: serde_json::Value = client
        .post(format!("{base}/api/session"))
        .json(&serde_json::json!({"campaign": "ovasabi-website"}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let token = session["token"].as_str().expect("token").to_owned();
    // A live event stream and a cursor session.
    let mut stream = client
        .get(format!("{base}/api/campaign/ovasabi-website/events"))
        .send()
        .await
        .expect("stream");
    let _first = stream.chunk().await.expect("reads");
    let cursor = crate::support::wt::WtClient::connect(&base, "ovasabi-website", "/", Some(&token))
        .await
        .expect("cursor session");
    // A lead in flight: its head and half its body sent.
    let body = br#"{"campaign":"ovasabi-website","name":"Ada","email":"ada@example.com","message":"Sent while the server stops"}"#;
    let address = base.trim_start_matches("http://").to_owned();
    let mut post = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connects");
    let head = format!(
        "POST /api/quote HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    post.write_all(head.as_bytes()).await.expect("head");
    post.write_all(&body[..20]).await.expect("half");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let started = std::time::Instant::now();
    let stopping = tokio::spawn(server.stop("TERM"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    post.write_all(&body[20..]).await.expect("the rest");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        post.read_to_end(&mut answer),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "the request in flight is finished: {answer}"
    );

    let status = stopping.await.expect("joins");
    assert!(status.success(), "exit 0: {status:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let mut rest = String::new();
    while let Ok(Some(chunk)) = stream.chunk().await {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        rest.contains("retry: "),
        "the stream was told to come back: {rest:?}"
    );
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        cursor.connection.closed(),
    )
    .await
    .expect("the cursor session was closed");
    assert!(
        format!("{closed:?}").contains("pplication"),
        "closed by the server: {closed:?}"
    );

    // Nothing accepted is lost: the lead is there after a restart.
    let again = RunningBinary::start(&env).await;
    let leads: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/quote?campaign=ovasabi-website", again.base))
        .bearer_auth("sigterm-test-admin-token")
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert!(
        leads.to_string().contains("Sent while the server stops"),
        "{leads}"
    );
    again.stop("TERM").await;
}

/// The demo campaign as shipped (a honeypot, a minimum time) against a
/// scripted form bot (`scripts/form-bot`: it reads the demo page, fills
/// every input and posts at once): every post is answered 201, and the
/// Spam view fills instead of the public figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_bot_fills_the_spam_view_not_the_figures() {
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}/edge.db", dir.path().display());
    let admin = "form-bot-test-admin-token";
    let server = RunningBinary::start(&[
        ("DATABASE_URL", db.as_str()),
        ("OVASABI_HTTP_ADDR", "127.0.0.1:0"),
        ("OVASABI_WT_ADDR", "127.0.0.1:0"),
        ("OVASABI_ADMIN_TOKEN", admin),
    ])
    .await;
    let base = server.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(repo_root().join("scripts/form-bot"))
            .args(["--base", &base, "--count", "4", "--admin-token", admin])
            .output()
            .expect("python3 runs scripts/form-bot")
    })
    .await
    .expect("joined");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(
        report["answered"],
        serde_json::json!({"/api/user/register 201": 4, "/api/quote 201": 4}),
        "{report}"
    );
    assert_eq!(
        report["counted"],
        serde_json::json!({"users": 0, "leads": 0, "referrals": 0})
    );
    assert_eq!(report["spam"]["held"], 8, "{report}");
    server.stop("TERM").await;
}
