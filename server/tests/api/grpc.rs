//! The back-office gRPC API with a tonic client generated from the same
//! `.proto`: the leads feed from the start, after a position, for a named
//! consumer that resumes where it acknowledged, live, and never skipping a
//! record that committed out of id order; retention's bound (OUT_OF_RANGE);
//! quotes, campaigns and events through the same rules as REST; tokens;
//! health and reflection.

use std::time::Duration;

use ovasabi_edge::internals::grpc::proto;
use ovasabi_edge::internals::grpc::proto::campaigns_client::CampaignsClient;
use ovasabi_edge::internals::grpc::proto::events_client::EventsClient;
use ovasabi_edge::internals::grpc::proto::leads_client::LeadsClient;
use ovasabi_edge::internals::grpc::proto::quotes_client::QuotesClient;
use serde_json::json;
use tonic::transport::Channel;
use tonic::{Code, Status, Streaming};

use crate::db_tests;
use crate::support::{As, Db, TestApp, spawn_app_with};

pub(crate) async fn app(db: Db) -> TestApp {
    spawn_app_with(db, |config| {
        config.grpc_addr = Some("127.0.0.1:0".parse().expect("address"));
    })
    .await
}

pub(crate) async fn channel(app: &TestApp) -> Channel {
    let addr = app.grpc_addr.expect("the gRPC listener");
    Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connected")
}

/// `message` with the admin token.
fn authorized<T>(app: &TestApp, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", app.admin_token)
            .parse()
            .expect("metadata"),
    );
    request
}

pub(crate) fn code_of(status: &Status) -> &str {
    status
        .metadata()
        .get("ovasabi-code")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn follow(app: &TestApp, request: proto::FollowRequest) -> Streaming<proto::Record> {
    LeadsClient::new(channel(app).await)
        .follow(authorized(app, request))
        .await
        .expect("following")
        .into_inner()
}

pub(crate) async fn next(stream: &mut Streaming<proto::Record>) -> proto::Record {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("a record within 10 s")
        .expect("no error")
        .expect("the stream goes on")
}

fn lead(email: &str) -> serde_json::Value {
    json!({"campaign": "c", "name": "Lead", "email": email, "message": "Hello"})
}

async fn the_feed_streams_resumes_and_follows_live(db: Db) {
    let app = app(db).await;
    app.open_campaign("c", json!({})).await;
    app.joined("c", "ada@example.com", "Ada", None).await;
    app.submit_lead(&lead("a@example.com"), None, None)
        .await
        .assert_status(201);
    app.submit_lead(&lead("b@example.com"), None, None)
        .await
        .assert_status(201);

    // From the start, in order.
    let mut all = follow(&app, proto::FollowRequest::default()).await;
    let first = [
        next(&mut all).await,
        next(&mut all).await,
        next(&mut all).await,
    ];
    let types: Vec<&str> = first.iter().map(|r| r.r#type.as_str()).collect();
    assert_eq!(types, ["user.registered", "lead.created", "lead.created"]);
    assert!(first.windows(2).all(|w| w[0].position < w[1].position));
    assert_eq!(first[0].campaign, "c");
    let payload: serde_json::Value = serde_json::from_str(&first[1].payload_json).expect("JSON");
    assert_eq!(payload["email"], "a@example.com");

    // Live: a lead sent now arrives.
    app.submit_lead(&lead("live@example.com"), None, None)
        .await
        .assert_status(201);
    let live = next(&mut all).await;
    assert_eq!(live.r#type, "lead.created");
    assert!(live.position > first[2].position);

    // After a position, and of some types only.
    let mut after = follow(
        &app,
        proto::FollowRequest {
            after: Some(first[1].position),
            types: vec!["lead.created".into()],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(next(&mut after).await.position, first[2].position);
    assert_eq!(next(&mut after).await.position, live.position);

    // A named consumer resumes after what it acknowledged.
    let mut leads = LeadsClient::new(channel(&app).await);
    let acked = leads
        .ack(authorized(
            &app,
            proto::AckRequest {
                consumer: "crm-sync".into(),
                position: first[1].position,
                ..Default::default()
            },
        ))
        .await
        .expect("acked")
        .into_inner();
    assert_eq!(acked.position, first[1].position);
    // It never moves back.
    let kept = leads
        .ack(authorized(
            &app,
            proto::AckRequest {
                consumer: "crm-sync".into(),
                position: first[0].position,
                ..Default::default()
            },
        ))
        .await
        .expect("acked")
        .into_inner();
    assert_eq!(kept.position, first[1].position);
    let mut resumed = follow(
        &app,
        proto::FollowRequest {
            consumer: "crm-sync".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(next(&mut resumed).await.position, first[2].position);
    // A position no record has yet cannot be acknowledged.
    let refused = leads
        .ack(authorized(
            &app,
            proto::AckRequest {
                consumer: "crm-sync".into(),
                position: 1_000_000,
                ..Default::default()
            },
        ))
        .await
        .expect_err("refused");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(code_of(&refused), "invalid_field");
}

/// PostgreSQL hands out ids before commit: a row can commit after a row
/// with a higher id was read. The feed numbers rows as they commit, so the
/// late one comes after, not never.
async fn a_record_that_commits_late_is_not_skipped(db: Db) {
    let postgres = matches!(db, Db::Postgres(_));
    let app = app(db).await;
    app.open_campaign("c", json!({})).await;
    let mut stream = follow(&app, proto::FollowRequest::default()).await;
    if !postgres {
        // SQLite commits one writer at a time: ids are in commit order.
        app.submit_lead(&lead("a@example.com"), None, None)
            .await
            .assert_status(201);
        assert_eq!(next(&mut stream).await.r#type, "lead.created");
        return;
    }
    use sqlx::Connection;
    let mut late = sqlx::PgConnection::connect(&app.db_url())
        .await
        .expect("connected");
    let mut tx = late.begin().await.expect("begun");
    sqlx::query(
        "INSERT INTO service_event_outbox
             (event_type, payload, attempts, next_attempt_at, created_at)
         VALUES ('late.record', '{}', 0, now(), now())",
    )
    .execute(&mut *tx)
    .await
    .expect("inserted, not committed");
    // A lead takes the next id and commits first; the feed sends it.
    app.submit_lead(&lead("a@example.com"), None, None)
        .await
        .assert_status(201);
    let early = next(&mut stream).await;
    assert_eq!(early.r#type, "lead.created");
    tx.commit().await.expect("committed late");
    let late_record = next(&mut stream).await;
    assert_eq!(late_record.r#type, "late.record");
    assert!(late_record.position > early.position);
}

async fn retention_keeps_what_consumers_need_and_says_what_it_removed(db: Db) {
    let app = app(db).await;
    app.open_campaign("c", json!({})).await;
    for i in 0..4 {
        app.submit_lead(&lead(&format!("{i}@example.com")), None, None)
            .await
            .assert_status(201);
    }
    let store = &app.state.store;
    while store.sequence_feed(100).await.expect("numbered") > 0 {}
    let (_, last) = store.feed_bounds().await.expect("bounds");
    assert!(last >= 4);
    store
        .ack_feed(None, "slow-consumer", last - 2, chrono::Utc::now())
        .await
        .expect("acked");
    // Everything is old enough to go, and no default receiver is configured:
    // only what the slow consumer has not acknowledged stays.
    let future = chrono::Utc::now() + chrono::Duration::days(1);
    let read_since = chrono::Utc::now() - chrono::Duration::days(30);
    store
        .prune_outbox(future, true, read_since)
        .await
        .expect("pruned");
    let (pruned, _) = store.feed_bounds().await.expect("bounds");
    assert_eq!(pruned, last - 2);
    let mut resumed = follow(
        &app,
        proto::FollowRequest {
            consumer: "slow-consumer".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(next(&mut resumed).await.position, last - 1);
    assert_eq!(next(&mut resumed).await.position, last);
    // An older position is refused, not skipped ahead silently.
    let refused = LeadsClient::new(channel(&app).await)
        .follow(authorized(
            &app,
            proto::FollowRequest {
                after: Some(1),
                ..Default::default()
            },
        ))
        .await
        .expect_err("too old");
    assert_eq!(refused.code(), Code::OutOfRange);
    assert_eq!(code_of(&refused), "position_pruned");
}

/// An erased person leaves the feed too, even from records already
/// delivered to the webhook receiver.
async fn an_erased_person_leaves_the_feed(db: Db) {
    let app = app(db).await;
    app.open_campaign("c", json!({})).await;
    app.submit_lead(&lead("ada@example.com"), None, None)
        .await
        .assert_status(201);
    let entry = app.outbox().await.remove(0);
    app.state
        .store
        .outbox_delivered(entry.id, chrono::Utc::now())
        .await
        .expect("delivered");
    app.erase_email("ada@example.com").await.assert_status(200);
    let mut stream = follow(&app, proto::FollowRequest::default()).await;
    let record = next(&mut stream).await;
    assert!(
        !record.payload_json.contains("ada@example.com"),
        "{}",
        record.payload_json
    );
}

async fn quotes_campaigns_and_events_follow_the_rest_rules(db: Db) {
    let app = app(db).await;
    let channel = channel(&app).await;
    let mut campaigns = CampaignsClient::new(channel.clone());
    let created = campaigns
        .create(authorized(
            &app,
            proto::CreateCampaignRequest {
                slug: "c".into(),
                name: "Back office".into(),
                status: "active".into(),
                config_json: json!({"event_types": {"announcement": {"fields": {"title": {"type": "string", "required": true}}}}}).to_string(),
                ..Default::default()
            },
        ))
        .await
        .expect("created")
        .into_inner();
    assert_eq!(created.slug, "c");
    let taken = campaigns
        .create(authorized(
            &app,
            proto::CreateCampaignRequest {
                slug: "c".into(),
                name: "Again".into(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("taken");
    assert_eq!(taken.code(), Code::AlreadyExists);
    let bad = campaigns
        .create(authorized(
            &app,
            proto::CreateCampaignRequest {
                slug: "d".into(),
                name: "D".into(),
                config_json: json!({"cursor": {"tick_herz": 5}}).to_string(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("unknown key");
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(code_of(&bad), "invalid_field");
    let updated = campaigns
        .update(authorized(
            &app,
            proto::UpdateCampaignRequest {
                slug: "c".into(),
                name: Some("Renamed".into()),
                ..Default::default()
            },
        ))
        .await
        .expect("updated")
        .into_inner();
    assert_eq!(updated.name, "Renamed");
    let rest = app.get("/api/campaign/c", As::Anonymous).await;
    assert_eq!(rest.assert_status(200)["name"], "Renamed");

    // A visitor's lead, its status moved over gRPC: REST and the visitor's
    // event stream see it.
    let (_, token) = app.visitor("c").await;
    let ticket = app.ticket("c", &token).await;
    let mut page = app.events("c", &format!("?ticket={ticket}"), None).await;
    let sent = app
        .submit_lead(&lead("v@example.com"), None, Some(&token))
        .await;
    let id = sent.assert_status(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut quotes = QuotesClient::new(channel.clone());
    let moved = quotes
        .update_status(authorized(
            &app,
            proto::UpdateStatusRequest {
                id: id.clone(),
                status: "in_review".into(),
            },
        ))
        .await
        .expect("moved")
        .into_inner();
    assert_eq!(moved.status, "in_review");
    assert_eq!(
        page.next_of("lead.status").await.json()["status"],
        "in_review"
    );
    let listed = app.get("/api/quote?campaign=c", As::Admin).await;
    assert_eq!(
        listed.assert_status(200)["quotes"][0]["status"],
        "in_review"
    );
    let illegal = quotes
        .update_status(authorized(
            &app,
            proto::UpdateStatusRequest {
                id: id.clone(),
                status: "new".into(),
            },
        ))
        .await
        .expect_err("illegal");
    assert_eq!(illegal.code(), Code::FailedPrecondition);
    assert_eq!(code_of(&illegal), "illegal_transition");
    let unknown = quotes
        .update_status(authorized(
            &app,
            proto::UpdateStatusRequest {
                id,
                status: "maybe".into(),
            },
        ))
        .await
        .expect_err("bad status");
    assert_eq!(unknown.code(), Code::InvalidArgument);
    assert_eq!(
        unknown
            .metadata()
            .get("ovasabi-field")
            .and_then(|v| v.to_str().ok()),
        Some("status")
    );
    let metrics = campaigns
        .metrics(authorized(
            &app,
            proto::CampaignRequest { slug: "c".into() },
        ))
        .await
        .expect("metrics")
        .into_inner();
    assert_eq!(metrics.leads, 1);

    // A campaign's own event, published over gRPC, on the page.
    let mut events = EventsClient::new(channel);
    events
        .publish(authorized(
            &app,
            proto::PublishRequest {
                campaign: "c".into(),
                r#type: "announcement".into(),
                data_json: json!({"title": "Hello"}).to_string(),
                recipient: None,
            },
        ))
        .await
        .expect("published");
    assert_eq!(
        page.next_of("announcement").await.json(),
        json!({"title": "Hello"})
    );
    let refused = events
        .publish(authorized(
            &app,
            proto::PublishRequest {
                campaign: "c".into(),
                r#type: "nope".into(),
                data_json: "{}".into(),
                recipient: None,
            },
        ))
        .await
        .expect_err("undeclared");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(code_of(&refused), "unknown_event_type");
}

async fn calls_need_a_token_and_health_and_reflection_answer(db: Db) {
    let app = app(db).await;
    let channel = channel(&app).await;
    let refused = CampaignsClient::new(channel.clone())
        .list(proto::ListCampaignsRequest::default())
        .await
        .expect_err("no token");
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(code_of(&refused), "unauthorized");
    let mut wrong = tonic::Request::new(proto::ListCampaignsRequest::default());
    wrong.metadata_mut().insert(
        "authorization",
        "Bearer not-the-token".parse().expect("metadata"),
    );
    let refused = CampaignsClient::new(channel.clone())
        .list(wrong)
        .await
        .expect_err("wrong token");
    assert_eq!(refused.code(), Code::Unauthenticated);

    let health = tonic_health::pb::health_client::HealthClient::new(channel.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: "ovasabi.edge.v1.Leads".into(),
        })
        .await
        .expect("health answers")
        .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = ServerReflectionClient::new(channel)
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .expect("reflection answers")
        .into_inner();
    let answer = answers.message().await.expect("ok").expect("an answer");
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("not a service list: {answer:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for name in [
        "ovasabi.edge.v1.Leads",
        "ovasabi.edge.v1.Quotes",
        "ovasabi.edge.v1.Campaigns",
        "ovasabi.edge.v1.Events",
        "grpc.health.v1.Health",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
}

/// A named consumer resumes after a restart of the server: nothing it did
/// not acknowledge is lost, what it acknowledged does not come again.
async fn a_consumer_resumes_across_a_restart(db: Db) {
    ovasabi_edge::internals::telemetry::init_for_tests();
    let database = crate::support::fresh_database(&db).await;
    let start = || async {
        let mut config = ovasabi_edge::Config::for_database(database.url.clone());
        config.grpc_addr = Some("127.0.0.1:0".parse().expect("address"));
        config.service_token = Some(ovasabi_edge::internals::config::Secret::configured(
            "service-token-of-the-crm-sync",
        ));
        let app = ovasabi_edge::App::build(config).await.expect("app builds");
        let grpc = app.grpc_addr().expect("gRPC");
        let state = app.state();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let running = tokio::spawn(app.run(shutdown.clone()));
        (grpc, state, shutdown, running)
    };
    let consume = |grpc: std::net::SocketAddr, request: proto::FollowRequest| async move {
        let channel = Channel::from_shared(format!("http://{grpc}"))
            .expect("uri")
            .connect()
            .await
            .expect("connected");
        let mut call = tonic::Request::new(request);
        call.metadata_mut().insert(
            "authorization",
            "Bearer service-token-of-the-crm-sync"
                .parse()
                .expect("metadata"),
        );
        (
            LeadsClient::new(channel.clone()),
            LeadsClient::new(channel)
                .follow(call)
                .await
                .expect("following")
                .into_inner(),
        )
    };
    let (grpc, state, shutdown, running) = start().await;
    for i in 1..=3 {
        state
            .store
            .insert_outbox(&[ovasabi_edge::internals::model::outbox::NewOutbox {
                kind: Default::default(),
                campaign_id: None,
                event_type: "lead.created".into(),
                payload: json!({"n": i}),
                targets: vec![None],
            }])
            .await
            .expect("written");
    }
    let (mut leads, mut stream) = consume(
        grpc,
        proto::FollowRequest {
            consumer: "crm-sync".into(),
            ..Default::default()
        },
    )
    .await;
    let first = next(&mut stream).await;
    assert_eq!(first.payload_json, r#"{"n":1}"#);
    let mut ack = tonic::Request::new(proto::AckRequest {
        consumer: "crm-sync".into(),
        position: first.position,
        ..Default::default()
    });
    ack.metadata_mut().insert(
        "authorization",
        "Bearer service-token-of-the-crm-sync"
            .parse()
            .expect("metadata"),
    );
    leads.ack(ack).await.expect("acked");
    // The second is read but not acknowledged when the server stops.
    assert_eq!(next(&mut stream).await.payload_json, r#"{"n":2}"#);
    shutdown.cancel();
    running.await.expect("joined").expect("stopped");

    let (grpc, state, shutdown, running) = start().await;
    state
        .store
        .insert_outbox(&[ovasabi_edge::internals::model::outbox::NewOutbox {
            kind: Default::default(),
            campaign_id: None,
            event_type: "lead.created".into(),
            payload: json!({"n": 4}),
            targets: vec![None],
        }])
        .await
        .expect("written");
    let (_, mut stream) = consume(
        grpc,
        proto::FollowRequest {
            consumer: "crm-sync".into(),
            ..Default::default()
        },
    )
    .await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(next(&mut stream).await.payload_json);
    }
    assert_eq!(seen, [r#"{"n":2}"#, r#"{"n":3}"#, r#"{"n":4}"#]);
    shutdown.cancel();
    running.await.expect("joined").expect("stopped");
}

/// With a certificate and key, the listener speaks TLS (and only TLS).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_speaks_tls_when_given_a_certificate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = (dir.path().join("grpc.pem"), dir.path().join("grpc.key"));
    crate::support::end_entity_certificate(&cert, &key, "localhost");
    let app = spawn_app_with(Db::Sqlite, |config| {
        config.grpc_addr = Some("127.0.0.1:0".parse().expect("address"));
        config.grpc_cert = Some(cert.clone());
        config.grpc_key = Some(key.clone());
    })
    .await;
    let addr = app.grpc_addr.expect("gRPC");
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(
            std::fs::read(&cert).expect("cert"),
        ))
        .domain_name("localhost");
    let secure = Channel::from_shared(format!("https://{addr}"))
        .expect("uri")
        .tls_config(tls)
        .expect("TLS config")
        .connect()
        .await
        .expect("a TLS connection");
    let listed = CampaignsClient::new(secure)
        .list(authorized(&app, proto::ListCampaignsRequest::default()))
        .await
        .expect("answered over TLS");
    assert!(listed.into_inner().campaigns.is_empty());
    let plain = CampaignsClient::new(channel(&app).await)
        .list(authorized(&app, proto::ListCampaignsRequest::default()))
        .await;
    assert!(plain.is_err(), "plain HTTP/2 is not served: {plain:?}");
}

/// The README's consumer, in Python from the server's reflection alone:
/// it follows as a named consumer, acknowledges, and resumes after a stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_consumer_built_from_reflection_follows_and_resumes() {
    let python = std::process::Command::new("python3")
        .args(["-c", "import grpc, grpc_reflection"])
        .status()
        .is_ok_and(|s| s.success());
    if !crate::support::tool_present(
        python,
        "Python's grpcio and grpcio-reflection",
        "python3 -m pip install grpcio grpcio-reflection",
    ) {
        return;
    }
    let app = app(Db::Sqlite).await;
    app.open_campaign("c", json!({})).await;
    for i in 0..3 {
        app.submit_lead(&lead(&format!("{i}@example.com")), None, None)
            .await
            .assert_status(201);
    }
    let addr = app.grpc_addr.expect("gRPC").to_string();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/grpc-consumer.py");
    let run = |count: &str| {
        let output = std::process::Command::new("python3")
            .args([script, "--addr", &addr, "--token", &app.admin_token])
            .args(["--consumer", "py-crm", "--count", count])
            .output()
            .expect("the consumer ran");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .expect("UTF-8")
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON line"))
            .collect::<Vec<_>>()
    };
    let first = tokio::task::block_in_place(|| run("2"));
    assert_eq!(first.len(), 2);
    assert_eq!(first[0]["type"], "lead.created");
    assert_eq!(first[0]["payload"]["email"], "0@example.com");
    let again = tokio::task::block_in_place(|| run("1"));
    assert_eq!(
        again[0]["payload"]["email"], "2@example.com",
        "resumed after its ack"
    );
}

/// `message` with `token`.
pub(crate) fn with_token<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("metadata"),
    );
    request
}

/// Team keys reach gRPC with the same roles and scopes as REST: a viewer
/// lists, only an editor moves a lead, a campaign's key sees its campaign,
/// a revoked key is refused at once, and the change is in the audit log.
async fn team_keys_hold_over_grpc(db: Db) {
    let app = app(db).await;
    app.open_campaign("c", json!({})).await;
    app.open_campaign("d", json!({})).await;
    let mut keys = Vec::new();
    for (name, role, campaign) in [
        ("viewer", "viewer", None),
        ("editor", "editor", None),
        ("d only", "owner", Some("d")),
    ] {
        let made = app
            .call(
                reqwest::Method::POST,
                "/api/admin/keys",
                As::Admin,
                Some(json!({"name": name, "role": role, "campaign": campaign})),
            )
            .await;
        let made = made.assert_status(201);
        keys.push((
            made["key"]["id"].as_i64().expect("id"),
            made["token"].as_str().expect("token").to_owned(),
        ));
    }
    let [(_, viewer), (_, editor), (scoped_id, scoped)] =
        <[(i64, String); 3]>::try_from(keys).expect("three");
    let id = app
        .submit_lead(&lead("a@example.com"), None, None)
        .await
        .assert_status(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut quotes = QuotesClient::new(channel(&app).await);
    let listed = quotes
        .list(with_token(
            &viewer,
            proto::ListQuotesRequest {
                campaign: "c".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("a viewer lists")
        .into_inner();
    assert_eq!(listed.quotes.len(), 1);
    let move_to = |token: &str| {
        with_token(
            token,
            proto::UpdateStatusRequest {
                id: id.clone(),
                status: "in_review".into(),
            },
        )
    };
    let refused = quotes
        .update_status(move_to(&viewer))
        .await
        .expect_err("a viewer");
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(code_of(&refused), "role_required");
    let refused = quotes
        .update_status(move_to(&scoped))
        .await
        .expect_err("another campaign");
    assert_eq!(code_of(&refused), "campaign_out_of_scope");
    let moved = quotes
        .update_status(move_to(&editor))
        .await
        .expect("an editor moves it")
        .into_inner();
    assert_eq!(moved.status, "in_review");
    let campaigns = CampaignsClient::new(channel(&app).await)
        .list(with_token(&scoped, proto::ListCampaignsRequest::default()))
        .await
        .expect("listed")
        .into_inner();
    let slugs: Vec<String> = campaigns.campaigns.into_iter().map(|c| c.slug).collect();
    assert_eq!(slugs, ["d"]);
    app.call(
        reqwest::Method::DELETE,
        &format!("/api/admin/keys/{scoped_id}"),
        As::Admin,
        None,
    )
    .await
    .assert_status(200);
    let refused = CampaignsClient::new(channel(&app).await)
        .list(with_token(&scoped, proto::ListCampaignsRequest::default()))
        .await
        .expect_err("revoked");
    assert_eq!(refused.code(), Code::Unauthenticated);
    let log = app.get("/api/admin/audit?campaign=c", As::Admin).await;
    let entry = log.assert_status(200)["entries"][0].clone();
    assert_eq!(entry["action"], "lead.status");
    assert_eq!(entry["actor"], "editor");
}

db_tests!(
    team_keys_hold_over_grpc,
    the_feed_streams_resumes_and_follows_live,
    a_record_that_commits_late_is_not_skipped,
    a_consumer_resumes_across_a_restart,
    retention_keeps_what_consumers_need_and_says_what_it_removed,
    an_erased_person_leaves_the_feed,
    quotes_campaigns_and_events_follow_the_rest_rules,
    calls_need_a_token_and_health_and_reflection_answer,
);
