//! The API description (`/api/openapi.json`) against the router it
//! describes: every route is in it and everything in it is a route, every
//! operation answers something, and its viewer is served.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::support::{Db, spawn_app};

fn document() -> Value {
    serde_json::from_str(ovasabi_edge::internals::http::openapi::document())
        .expect("the document is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_described_and_every_description_is_a_route() {
    let router = ovasabi_edge::internals::http::routes_tree();
    let routes: BTreeSet<(String, String)> = ovasabi_edge::internals::http::routes(&router)
        .into_iter()
        .collect();
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut described = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            described.insert((method.to_uppercase(), path.clone()));
            let responses = operation["responses"].as_object().expect("responses");
            assert!(
                responses
                    .keys()
                    .any(|status| status.starts_with('2') || status.starts_with('3')),
                "{method} {path} answers nothing successful (nor a redirect)"
            );
            for (status, answer) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &answer["content"]["application/json"]["schema"]["$ref"];
                    assert!(
                        schema == "#/components/schemas/Error" || path == "/readyz",
                        "{method} {path} {status} is not an Error body"
                    );
                }
            }
        }
    }
    let missing: Vec<_> = routes.difference(&described).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the document: {missing:?}"
    );
    let stale: Vec<_> = described.difference(&routes).collect();
    assert!(stale.is_empty(), "described but not served: {stale:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_and_its_viewer_are_served() {
    let app = spawn_app(Db::Sqlite).await;
    let served: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("json");
    assert_eq!(served, document());
    for (path, content_type) in [
        ("/api/docs", "text/html; charset=utf-8"),
        ("/api/docs/viewer.js", "text/javascript; charset=utf-8"),
    ] {
        let answer = app
            .client
            .get(app.url(path))
            .send()
            .await
            .expect("answered");
        assert_eq!(answer.status(), 200, "{path}");
        assert_eq!(answer.headers()["content-type"], content_type, "{path}");
    }
}

/// The campaign documents (`campaigns docs`) and this description speak of
/// the same endpoints: every one a campaign document lists is described.
#[test]
fn the_campaign_catalogue_is_in_the_description() {
    let doc = document();
    for endpoint in ovasabi_edge::internals::campaign::catalogue::ENDPOINTS {
        let operation = &doc["paths"][endpoint.path][endpoint.method.to_lowercase()];
        assert!(
            operation.is_object(),
            "{} {} is in the catalogue but not in the description",
            endpoint.method,
            endpoint.path
        );
    }
}

/// The description as it was written by hand (frozen when it became
/// generated; never edited): what each of its operations promised.
const BEFORE: &str = include_str!("openapi_before.json");

/// What a client relies on in one operation: its status codes, the error
/// `code` values each error status names, the required fields of its JSON
/// body, the least role (`x-role`).
#[derive(Debug, PartialEq)]
struct Promise {
    statuses: BTreeSet<String>,
    codes: BTreeMap<String, BTreeSet<String>>,
    required: BTreeSet<String>,
    role: Option<String>,
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

fn promises(doc: &Value) -> BTreeMap<(String, String), Promise> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            let responses = operation["responses"].as_object().expect("responses");
            let codes = responses
                .iter()
                .filter(|(status, _)| status.starts_with('4') || status.starts_with('5'))
                .map(|(status, answer)| {
                    let description = answer["description"].as_str().unwrap_or_default();
                    let listed = description
                        .split_once("(`code`:")
                        .map(|(_, codes)| codes)
                        .unwrap_or_default()
                        .split('`')
                        .skip(1)
                        .step_by(2)
                        .map(str::to_owned)
                        .collect();
                    (status.clone(), listed)
                })
                .collect();
            let body = resolve(
                doc,
                &operation["requestBody"]["content"]["application/json"]["schema"],
            );
            let required = body["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            out.insert(
                (method.to_uppercase(), path.clone()),
                Promise {
                    statuses: responses.keys().cloned().collect(),
                    codes,
                    required,
                    role: operation["x-role"].as_str().map(str::to_owned),
                },
            );
        }
    }
    out
}

/// Every operation the hand-written description had is generated, and
/// keeps what it promised: the same status codes (more may be added), the
/// same error codes per status (more may be added), the same required body
/// fields and the same least role; and every live event type it listed.
#[test]
fn the_generated_description_keeps_every_promise_of_the_written_one() {
    let before: Value = serde_json::from_str(BEFORE).expect("the frozen description is JSON");
    let now = document();
    let now_promises = promises(&now);
    let mut broken = Vec::new();
    for (operation, promised) in promises(&before) {
        let Some(kept) = now_promises.get(&operation) else {
            broken.push(format!("{operation:?} is no longer described"));
            continue;
        };
        if !promised.statuses.is_subset(&kept.statuses) {
            broken.push(format!(
                "{operation:?} statuses {:?} became {:?}",
                promised.statuses, kept.statuses
            ));
        }
        for (status, codes) in &promised.codes {
            let now_codes = kept.codes.get(status).cloned().unwrap_or_default();
            if !codes.is_subset(&now_codes) {
                broken.push(format!(
                    "{operation:?} {status} codes {codes:?} became {now_codes:?}"
                ));
            }
        }
        if promised.required != kept.required {
            broken.push(format!(
                "{operation:?} required body fields {:?} became {:?}",
                promised.required, kept.required
            ));
        }
        if promised.role != kept.role {
            broken.push(format!(
                "{operation:?} x-role {:?} became {:?}",
                promised.role, kept.role
            ));
        }
    }
    for event in before["x-events"].as_object().expect("x-events").keys() {
        if now["x-events"].get(event).is_none() {
            broken.push(format!("event {event} is no longer described"));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// `x-events` is the event catalogue: every built-in type, with the schema
/// of its data where it is JSON, and the campaign's own; nothing else.
#[test]
fn the_live_events_described_are_the_catalogue() {
    let doc = document();
    let described: BTreeSet<&str> = doc["x-events"]
        .as_object()
        .expect("x-events")
        .keys()
        .map(String::as_str)
        .collect();
    let mut catalogue: BTreeSet<&str> = ovasabi_edge::internals::model::events::BUILT_IN
        .iter()
        .map(|event| event.name)
        .collect();
    catalogue.insert("<the campaign's own>");
    assert_eq!(described, catalogue);
    for event in ovasabi_edge::internals::model::events::BUILT_IN {
        let entry = &doc["x-events"][event.name];
        assert_eq!(
            entry["audience"],
            serde_json::to_value(event.audience).expect("json")
        );
        match &entry["schema"]["$ref"] {
            Value::String(reference) => {
                let name = reference.trim_start_matches("#/components/schemas/");
                assert!(
                    doc["components"]["schemas"][name].is_object(),
                    "{}: its schema {name} is missing",
                    event.name
                );
            }
            _ => assert!(event.schema.is_none(), "{} has no schema", event.name),
        }
    }
}
