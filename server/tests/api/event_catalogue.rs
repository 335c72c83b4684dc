//! The built-in event types are declared once (`ovasabi_edge::internals::model::events`)
//! and everything that names them agrees with that declaration: the names a
//! campaign may not declare, `GET /api/campaign/{slug}/event-types`, the
//! campaign documents, the README's event table and the browser client's
//! list and types (`web-client/src/ovasabi.js`).
//!
//! The README's table is generated: `UPDATE_EXPECT=1 cargo test -p
//! ovasabi-edge --test api event_catalogue` writes it again.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ovasabi_edge::internals::model::campaign::CampaignConfig;
use ovasabi_edge::internals::model::events::payload::{self, Payload};
use ovasabi_edge::internals::model::events::{
    self, Audience, BROWSER_NAMES, BUILT_IN, BuiltIn, PRESENCE, RESET, TEAM_PREFIX,
};
use serde_json::{Value, json};

use crate::support::{As, Db, spawn_app};

fn repository(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repository(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A campaign configuration with every optional event turned on, and one
/// with all of them off.
fn configs() -> [(&'static str, Value); 2] {
    [
        (
            "all-on",
            json!({
                "milestones": [1, 10],
                "events": {"public_leads": true},
                "leaderboard": {"enabled": true},
                "cursor": {"enabled": true},
                "presence": {"members": true},
            }),
        ),
        (
            "all-off",
            json!({
                "milestones": [5],
                "events": {"public_leads": false},
                "leaderboard": {"enabled": false},
                "cursor": {"enabled": false},
                "presence": {"members": false},
            }),
        ),
    ]
}

fn config(value: &Value) -> CampaignConfig {
    serde_json::from_value(value.clone()).expect("a campaign configuration")
}

#[test]
fn a_campaign_may_not_declare_a_built_in_name() {
    use ovasabi_edge::internals::model::campaign::event_types::{
        EventTypeDecl, is_reserved, validate,
    };
    let decl: EventTypeDecl = serde_json::from_value(json!({})).expect("a declaration");
    let refused = |name: &str| {
        let types = [(name.to_owned(), decl.clone())].into_iter().collect();
        validate(&types).err().map(|e| e.message)
    };
    for event in BUILT_IN {
        let message = refused(event.name).unwrap_or_else(|| panic!("{} accepted", event.name));
        if event.name.starts_with(TEAM_PREFIX) {
            assert!(message.contains("team"), "{}: {message}", event.name);
        } else {
            assert!(is_reserved(event.name), "{}", event.name);
            assert_eq!(message, "is the name of a built-in event", "{}", event.name);
        }
    }
    for name in BROWSER_NAMES {
        assert!(is_reserved(name), "{name}");
        assert_eq!(
            refused(name).as_deref(),
            Some("is the name of a built-in event")
        );
    }
    assert!(refused("team.anything").is_some());
    assert_eq!(refused("onboarding.completed"), None);
    assert!(!is_reserved("onboarding.completed"));

    // The names refused before the catalogue existed are refused still.
    for name in [
        "presence",
        "user.joined",
        "referral.milestone",
        "lead.created",
        "lead.status",
        "leaderboard",
        "campaign.status",
        "cursors",
        "roster",
        "members",
        "reset",
        "message",
        "error",
        "event",
        "status",
        "open",
    ] {
        assert!(is_reserved(name), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_types_endpoint_lists_what_the_catalogue_says_is_sent() {
    let app = spawn_app(Db::Sqlite).await;
    for (slug, settings) in configs() {
        app.open_campaign(slug, settings).await;
        let campaign = app
            .get(&format!("/api/campaign/{slug}"), As::Anonymous)
            .await;
        let config = config(&campaign.assert_status(200)["config"]);
        let expected: Vec<Value> = config
            .built_in_events()
            .map(|e| json!({"name": e.name, "built_in": true, "who": e.who, "data": e.data}))
            .collect();
        let listed = app
            .get(&format!("/api/campaign/{slug}/event-types"), As::Anonymous)
            .await;
        let built_in: Vec<Value> = listed.assert_status(200)["event_types"]
            .as_array()
            .expect("a list")
            .iter()
            .filter(|t| t["built_in"] == true)
            .cloned()
            .collect();
        assert_eq!(built_in, expected, "{slug}");
        // The condition texts say when an event is not always sent.
        for event in BUILT_IN {
            let sent = expected.iter().any(|e| e["name"] == event.name);
            let always = event.condition.is_empty();
            match slug {
                "all-on" => assert!(sent, "{} is sent with everything on", event.name),
                _ => assert_eq!(
                    sent, always,
                    "{}: condition {:?}",
                    event.name, event.condition
                ),
            }
        }
    }

    // `presence` (and `reset`, the same snapshot) carries its payload type.
    let mut stream = app.events("all-on", "", None).await;
    let first = stream.next().await;
    assert_eq!(first.event, PRESENCE.name);
    assert_eq!(
        keys(&first.json()),
        keys(&json!(payload::Presence { active: 0 }))
    );
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("an object: {value}"))
        .keys()
        .cloned()
        .collect()
}

#[test]
fn campaign_documents_list_the_catalogue() {
    use ovasabi_edge::internals::campaign::{files, scaffold};
    // The committed documents are what the catalogue makes of their files.
    let problems = scaffold::check(&repository("campaigns"), &repository("docs/campaign"));
    assert!(problems.is_empty(), "{problems:?}");

    let dir = tempfile::tempdir().expect("tempdir");
    for (slug, settings) in configs() {
        let table: toml::Value = serde_json::from_value(settings.clone()).expect("as TOML");
        let mut file = toml::map::Map::new();
        file.insert("slug".into(), slug.into());
        file.insert("name".into(), slug.into());
        file.insert("config".into(), table);
        let path = dir
            .path()
            .join(format!("001_{}.toml", slug.replace('-', "_")));
        std::fs::write(&path, toml::to_string(&file).expect("TOML")).expect("written");
        let doc = scaffold::campaign_doc(&files::read_file(&path).expect("a campaign file"));
        let section = doc
            .split("## Live events")
            .nth(1)
            .and_then(|rest| rest.split("## Configuration in force").next())
            .expect("a Live events section");
        let rows: Vec<&str> = section.lines().filter(|l| l.starts_with("| `")).collect();
        let expected: Vec<String> = config(&settings)
            .built_in_events()
            .map(|e| format!("| `{}` | {} | {} |", e.name, e.data, e.who))
            .collect();
        assert_eq!(rows, expected, "{slug}:\n{doc}");
    }
}

const BEGIN: &str = "<!-- events:begin -->\n";
const END: &str = "<!-- events:end -->";

#[test]
fn the_readme_event_table_is_the_catalogue_s() {
    let readme = read("README.md");
    let start = readme
        .find(BEGIN)
        .expect("README has <!-- events:begin -->")
        + BEGIN.len();
    let end = start
        + readme[start..]
            .find(END)
            .expect("README has <!-- events:end -->");
    let expected = events::markdown_table();
    if readme[start..end] == expected {
        return;
    }
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        let written = format!("{}{expected}{}", &readme[..start], &readme[end..]);
        std::fs::write(repository("README.md"), written).expect("README written");
        return;
    }
    panic!(
        "README.md's event table differs from the catalogue (server/src/model/events); \
         run `UPDATE_EXPECT=1 cargo test -p ovasabi-edge --test api event_catalogue` \
         or paste between the markers:\n{expected}"
    );
}

/// The client's source: `EVENT_TYPES` (the names it listens for) and the
/// `CampaignEvents` typedef (name → data type).
struct Client {
    source: String,
}

impl Client {
    fn read() -> Self {
        Self {
            source: read("web-client/src/ovasabi.js"),
        }
    }

    /// The names listed in `export const EVENT_TYPES = … ([…]);`.
    fn event_types(&self) -> BTreeSet<String> {
        let from = self
            .source
            .find("export const EVENT_TYPES")
            .expect("ovasabi.js exports EVENT_TYPES");
        let text = &self.source[from..];
        let list = &text[text.find('[').expect("[")..text.find(']').expect("]")];
        list.split('\'')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    /// The keys and types of the `@typedef {{ … }} name` block.
    fn typedef_map(&self, name: &str) -> Vec<(String, String)> {
        let end = self
            .source
            .find(&format!("}} {name}\n"))
            .unwrap_or_else(|| panic!("ovasabi.js has typedef {name}"));
        let start = self.source[..end]
            .rfind("@typedef {{")
            .expect("@typedef {{")
            + 11;
        self.source[start..end]
            .lines()
            .filter_map(|line| {
                let line = line.trim().trim_start_matches('*').trim();
                let (key, value) = line.split_once(':')?;
                Some((
                    key.trim().trim_matches('\'').to_owned(),
                    value.trim().trim_end_matches(',').to_owned(),
                ))
            })
            .collect()
    }

    /// The top-level field names of the one-line `/** @typedef {{ … }} name … */`.
    fn fields(&self, name: &str) -> BTreeSet<String> {
        let line = self
            .source
            .lines()
            .find(|l| {
                l.starts_with("/** @typedef {{")
                    && (l.contains(&format!("}} {name} ")) || l.contains(&format!("}} {name}*/")))
            })
            .unwrap_or_else(|| panic!("ovasabi.js has a one-line typedef {name}"));
        let body = &line[line.find("{{").expect("{{") + 2..line.rfind("}}").expect("}}")];
        let (mut depth, mut fields, mut part) = (0, BTreeSet::new(), String::new());
        for c in body.chars().chain([',']) {
            match c {
                '{' | '[' | '(' => depth += 1,
                '}' | ']' | ')' => depth -= 1,
                ',' if depth == 0 => {
                    let key = part.split(':').next().unwrap_or_default();
                    fields.insert(key.trim().trim_end_matches('?').to_owned());
                    part.clear();
                    continue;
                }
                _ => {}
            }
            part.push(c);
        }
        fields
    }
}

/// One value of each payload type the browser client types, by event name.
fn payload_samples() -> Vec<(&'static str, Value)> {
    let at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    let id = uuid::Uuid::nil();
    let status = ovasabi_edge::internals::model::lead::LeadStatus::New;
    let samples = [
        (
            payload::UserJoined::EVENT,
            payload::UserJoined {
                display_name: "Ada".into(),
            }
            .data(),
        ),
        (
            payload::ReferralMilestone::EVENT,
            payload::ReferralMilestone {
                user: "Ada".into(),
                count: 1,
                milestone: 1,
            }
            .data(),
        ),
        (
            payload::LeadCreated::EVENT,
            payload::LeadCreated {
                service: None,
                created_at: at,
            }
            .data(),
        ),
        (
            payload::LeadStatus::EVENT,
            payload::LeadStatus {
                quote_id: id,
                status,
            }
            .data(),
        ),
        (
            payload::Leaderboard::EVENT,
            payload::Leaderboard {
                seq: 1,
                top: Vec::new(),
            }
            .data(),
        ),
        (
            payload::CampaignStatus::EVENT,
            payload::CampaignStatus {
                status: ovasabi_edge::internals::model::campaign::CampaignStatus::Active,
                open: true,
                starts_at: None,
                ends_at: None,
            }
            .data(),
        ),
    ];
    samples
        .into_iter()
        .map(|(event, data): (&BuiltIn, Value)| (event.name, data))
        .collect()
}

#[test]
fn the_browser_client_lists_and_types_the_campaign_events() {
    let client = Client::read();
    let exposed: BTreeSet<String> = BUILT_IN
        .iter()
        .filter(|e| e.browser_client)
        .map(|e| e.name.to_owned())
        .collect();
    assert_eq!(
        client.event_types(),
        exposed,
        "web-client/src/ovasabi.js EVENT_TYPES against the catalogue's browser_client events"
    );
    let typed = client.typedef_map("CampaignEvents");
    assert_eq!(
        typed
            .iter()
            .map(|(k, _)| k.clone())
            .collect::<BTreeSet<_>>(),
        exposed,
        "web-client/src/ovasabi.js CampaignEvents against the catalogue's browser_client events"
    );
    // Each type's fields are its payload type's.
    let samples = payload_samples();
    for (name, type_name) in &typed {
        let (_, sample) = samples
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name}: add its payload type to payload_samples()"));
        assert_eq!(
            client.fields(type_name),
            keys(sample),
            "{name}: the fields of typedef {type_name} against its payload type"
        );
    }
    // `presence` and `reset` reach a page as the client's own events, typed
    // as the payload they carry.
    let own = client.typedef_map("ClientEvents");
    for event in [PRESENCE, RESET] {
        assert_eq!(event.audience, Audience::Connection);
        let (_, type_name) = own
            .iter()
            .find(|(k, _)| k == event.name)
            .unwrap_or_else(|| panic!("ClientEvents has {}", event.name));
        assert_eq!(
            client.fields(type_name),
            keys(&json!(payload::Presence { active: 0 })),
            "{}",
            event.name
        );
    }
}
