//! Who the cursors are (protocol version 2): each member learns its own
//! cursor id and every member's colour and name over a reliable channel — the
//! WebTransport session's roster stream, or `event: roster` on the SSE
//! fallback — while version-1 sessions go on exactly as before.

use std::time::Duration;

use crate::support::wt::shows;
use crate::support::{Db, TestApp, spawn_app};
use protocol::{PointerKind, Roster, RosterMember};
use serde_json::json;

async fn named_campaign(app: &TestApp, slug: &str, names: bool) {
    app.open_campaign(
        slug,
        json!({"cursor": {"sessions_per_ip": 100, "names": names}, "rate_limits": {"streams_per_ip": 100}}),
    )
    .await;
}

fn member(roster: &Roster, id: u32) -> Option<&RosterMember> {
    roster.joined.iter().find(|m| m.id == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webtransport_members_learn_their_id_and_each_others_names() {
    let app = spawn_app(Db::Sqlite).await;
    named_campaign(&app, "c", true).await;
    let (_, _, ada_token) = app.joined("c", "ada@example.com", "Ada", None).await;
    let (_, grace_token) = app.visitor("c").await;

    let grace = app
        .wt_v2("c", "/", &grace_token)
        .await
        .expect("grace connects");
    let (mut grace_rosters, first) = grace.first_roster().await;
    let grace_id = first
        .self_id
        .expect("the first roster names the member itself");
    let grace_self = member(&first, grace_id).expect("lists itself");
    assert_eq!(
        grace_self.name, None,
        "a visitor who did not join has no name"
    );
    assert!(grace_self.hue < 360);

    let mut ada = app.wt_v2("c", "/", &ada_token).await.expect("ada connects");
    let (ada_rosters, ada_first) = ada.first_roster().await;
    let ada_id = ada_first.self_id.expect("own id");
    assert_eq!(
        member(&ada_first, ada_id).and_then(|m| m.name.as_deref()),
        Some("Ada")
    );
    assert!(
        member(&ada_first, grace_id).is_some(),
        "the snapshot lists who was there"
    );

    // Grace learns of Ada, reliably, with her name; her moves carry that id.
    let joined = grace_rosters
        .wait_for("Ada joining", |r| member(r, ada_id).is_some())
        .await;
    assert_eq!(
        member(&joined, ada_id).and_then(|m| m.name.as_deref()),
        Some("Ada")
    );
    assert_eq!(
        joined.self_id, None,
        "only the first roster names the receiver"
    );
    ada.send(PointerKind::Move, 1234, 4321);
    let (frame, _) = grace
        .wait_for("Ada's move", |f| shows(f, 1234, 4321).is_some())
        .await;
    assert_eq!(shows(&frame, 1234, 4321), Some(ada_id));

    // Ada leaves: Grace's roster says so.
    drop(ada_rosters);
    drop(ada);
    grace_rosters
        .wait_for("Ada leaving", |r| r.left.contains(&ada_id))
        .await;

    // A version-1 session gets no roster stream and its frames as before.
    let mut old = app
        .wt_on("c", "/", Some(&grace_token))
        .await
        .expect("v1 connects");
    assert!(
        old.roster_stream(Duration::from_millis(700))
            .await
            .is_none()
    );
    old.send(PointerKind::Move, 77, 88);
    grace
        .wait_for("the v1 move", |f| shows(f, 77, 88).is_some())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_stay_off_unless_the_campaign_shows_them() {
    let app = spawn_app(Db::Sqlite).await;
    named_campaign(&app, "quiet", false).await;
    let (_, _, ada_token) = app.joined("quiet", "ada@example.com", "Ada", None).await;
    let ada = app.wt_v2("quiet", "/", &ada_token).await.expect("connects");
    let (_, first) = ada.first_roster().await;
    let id = first.self_id.expect("own id");
    let me = member(&first, id).expect("lists itself");
    assert_eq!(me.name, None, "names are off");
    assert!(me.hue < 360, "a colour all the same");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fallback_stream_carries_rosters_as_events() {
    let app = spawn_app(Db::Sqlite).await;
    named_campaign(&app, "c", true).await;
    let (_, visitor) = app.visitor("c").await;
    let (_, _, ada_token) = app.joined("c", "ada@example.com", "Ada", None).await;
    let ticket = app.ticket("c", &visitor).await;
    let mut stream = app
        .events("c", &format!("?cursors=1&page=/&v=2&ticket={ticket}"), None)
        .await;
    let first = stream.next_of("roster").await.roster();
    let own = first.self_id.expect("own id first");
    assert!(member(&first, own).is_some());

    let ada = app.wt_v2("c", "/", &ada_token).await.expect("ada connects");
    let ada_id = ada.first_roster().await.1.self_id.expect("ada's id");
    loop {
        let roster = stream.next_of("roster").await.roster();
        if let Some(m) = member(&roster, ada_id) {
            assert_eq!(m.name.as_deref(), Some("Ada"));
            break;
        }
    }

    // Without `v=2`, a fallback stream has cursors and no rosters.
    let ticket = app.ticket("c", &visitor).await;
    let mut old = app
        .events("c", &format!("?cursors=1&page=/&ticket={ticket}"), None)
        .await;
    let mut kinds = Vec::new();
    while let Some(event) = old.next_within(Duration::from_millis(800)).await {
        kinds.push(event.event);
    }
    assert!(kinds.iter().any(|k| k == "cursors"), "{kinds:?}");
    assert!(!kinds.iter().any(|k| k == "roster"), "{kinds:?}");
}

/// The `members` events of a stream, decoded, until `done` holds for one.
async fn members_until(
    stream: &mut crate::support::sse::SseClient,
    what: &str,
    done: impl Fn(&Roster) -> bool,
) -> Roster {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let Some(event) = stream.next_within(Duration::from_millis(500)).await else {
            continue;
        };
        if event.event != "members" {
            continue;
        }
        let roster = event.roster();
        if done(&roster) {
            return roster;
        }
    }
    panic!("no members event with {what} within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_that_ask_learn_who_is_on_which_page() {
    let app = spawn_app(Db::Sqlite).await;
    app.open_campaign(
        "c",
        json!({"cursor": {"names": true}, "presence": {"members": true, "pages": true}}),
    )
    .await;
    let (_, grace) = app.visitor("c").await;
    let (_, _, ada) = app.joined("c", "ada@example.com", "Ada", None).await;
    let ticket = app.ticket("c", &grace).await;
    let mut home = app
        .events("c", &format!("?members=1&page=/&ticket={ticket}"), None)
        .await;
    let first = members_until(&mut home, "a first roster", |r| r.self_id.is_some()).await;
    let grace_id = first.self_id.expect("own id");
    let me = member(&first, grace_id).expect("lists itself");
    assert_eq!(me.page.as_deref(), Some("/"));
    assert_eq!(me.name, None);

    let ticket = app.ticket("c", &ada).await;
    let pricing = app
        .events(
            "c",
            &format!("?members=1&page=/pricing&ticket={ticket}"),
            None,
        )
        .await;
    let joined = members_until(&mut home, "Ada joining", |r| {
        r.joined.iter().any(|m| m.name.as_deref() == Some("Ada"))
    })
    .await;
    let ada_entry = joined
        .joined
        .iter()
        .find(|m| m.name.as_deref() == Some("Ada"))
        .expect("Ada");
    assert_eq!(ada_entry.page.as_deref(), Some("/pricing"));
    assert_eq!(joined.self_id, None);
    let ada_id = ada_entry.id;
    drop(pricing);
    members_until(&mut home, "Ada leaving", |r| r.left.contains(&ada_id)).await;

    // A stream that does not ask gets no members events.
    let ticket = app.ticket("c", &grace).await;
    let mut quiet = app.events("c", &format!("?ticket={ticket}"), None).await;
    while let Some(event) = quiet.next_within(Duration::from_millis(600)).await {
        assert_ne!(event.event, "members");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_and_pages_stay_off_unless_the_campaign_shows_them() {
    let app = spawn_app(Db::Sqlite).await;
    app.open_campaign("off", json!({})).await;
    app.open_campaign("nopages", json!({"presence": {"members": true}}))
        .await;
    let (_, visitor) = app.visitor("off").await;
    let ticket = app.ticket("off", &visitor).await;
    let mut off = app
        .events("off", &format!("?members=1&page=/&ticket={ticket}"), None)
        .await;
    while let Some(event) = off.next_within(Duration::from_millis(600)).await {
        assert_ne!(
            event.event, "members",
            "the campaign does not show who is here"
        );
    }
    let (_, visitor) = app.visitor("nopages").await;
    let ticket = app.ticket("nopages", &visitor).await;
    let mut nopages = app
        .events(
            "nopages",
            &format!("?members=1&page=/secret&ticket={ticket}"),
            None,
        )
        .await;
    let first = members_until(&mut nopages, "a first roster", |r| r.self_id.is_some()).await;
    let me = member(&first, first.self_id.expect("own id")).expect("itself");
    assert_eq!(me.page, None, "pages are off");
}
