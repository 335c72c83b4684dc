//! The API description (`/api/openapi.json`) against the router it
//! describes: every route is in it and everything in it is a route, every
//! operation answers something, and its viewer is served.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{Db, spawn_app};

fn document() -> Value {
    serde_json::from_str(ovasabi_edge::http::openapi::DOCUMENT).expect("the document is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_described_and_every_description_is_a_route() {
    let app = spawn_app(Db::Sqlite).await;
    let router = ovasabi_edge::http::router(app.state.clone());
    let routes: BTreeSet<(String, String)> =
        ovasabi_edge::http::routes(&router).into_iter().collect();
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
    for endpoint in ovasabi_edge::campaign::catalogue::ENDPOINTS {
        let operation = &doc["paths"][endpoint.path][endpoint.method.to_lowercase()];
        assert!(
            operation.is_object(),
            "{} {} is in the catalogue but not in the description",
            endpoint.method,
            endpoint.path
        );
    }
}
