//! The API's description: `GET /api/openapi.json` (OpenAPI 3.1, generated
//! from the handlers' `#[endpoint]` declarations and their types when the
//! HTTP service is built; a test holds it against the router) and `GET /api/docs`, a
//! viewer of it served by the server itself.
//!
//! What the framework does not say, this module adds once, by rule: the
//! `operationId` (`{method}_{path}`), the least role an operation needs
//! (`x-role`, from its `adminToken` security scope), and the live event
//! types (`x-events`, from the event catalogue, [`crate::model::events`]).

use std::sync::LazyLock;

use salvo::http::{HeaderValue, header};
use salvo::prelude::*;
use salvo_oapi::security::{Http, HttpAuthScheme, SecurityScheme};
use salvo_oapi::{Components, Info, License, OpenApi, endpoint};
use serde_json::{Map, Value, json};

use crate::model::events::BUILT_IN;

/// The OpenAPI document, made once (the HTTP service makes it when it is
/// built, so a description that cannot be made stops the start).
pub fn document() -> &'static str {
    static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
        serde_json::to_string_pretty(&describe(&super::routes_tree()))
            .expect("a JSON value serializes")
    });
    &DOCUMENT
}

/// The description of `router`'s routes.
pub(crate) fn describe(router: &Router) -> Value {
    // Schemas by their type's name (`Lead`), not its path.
    salvo_oapi::naming::set_namer(salvo_oapi::naming::FlexNamer::new().short_mode(true));
    let mut api = OpenApi::new("Ovasabi Edge", env!("CARGO_PKG_VERSION"))
        .info(
            Info::new("Ovasabi Edge", env!("CARGO_PKG_VERSION"))
                .description(
                    "The real-time backend of a campaign website. Errors are `{code, message, \
                     field?}` with stable codes (README, API). Live events: `x-events`. The \
                     cursor channel's datagrams: protocol/README.md.",
                )
                .license(License::new("MIT").identifier("MIT")),
        )
        .add_security_scheme(
            "adminToken",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer).description(
                "A team key (`ovk_…`, made by an owner with POST /api/admin/keys: a role — \
                 viewer, editor, owner — and an optional campaign scope), or \
                 OVASABI_ADMIN_TOKEN (an owner of everything). Each operation names the least \
                 role it needs in `x-role`.",
            )),
        )
        .add_security_scheme(
            "sessionToken",
            SecurityScheme::Http(
                Http::new(HttpAuthScheme::Bearer)
                    .description("A session token (join or POST /api/session)"),
            ),
        )
        .merge_router(router);
    let events = live_events(&mut api.components);
    let mut doc = serde_json::to_value(&api).expect("the description serializes");
    doc["x-events"] = events;
    for (method, path, operation) in operations(&mut doc) {
        finish(&method, &path, operation);
    }
    doc
}

/// `x-events`: every live event type of a campaign's stream, from the
/// catalogue ([`crate::model::events`]), its data's schema among the
/// components; then the campaign's own.
fn live_events(components: &mut Components) -> Value {
    let mut events = Map::new();
    for event in BUILT_IN {
        let who = match event.condition {
            "" => event.who.to_owned(),
            condition => format!("{}, {condition}", event.who),
        };
        let mut entry = json!({
            "data": event.data,
            "who": who,
            "audience": event.audience,
        });
        if !event.description.is_empty() {
            entry["description"] = json!(event.description);
        }
        if let Some(schema) = event.schema {
            entry["schema"] =
                serde_json::to_value(schema(components)).expect("a schema serializes");
        }
        events.insert(event.name.to_owned(), entry);
    }
    events.insert(
        "<the campaign's own>".to_owned(),
        json!({
            "data": "the declared fields (`config.event_types`; `GET /api/campaign/{slug}/event-types`)",
            "who": "everyone, or the one session named, for a private type",
        }),
    );
    Value::Object(events)
}

/// Every operation of `doc`, with its method and path.
fn operations(doc: &mut Value) -> Vec<(String, String, &mut Map<String, Value>)> {
    let mut out = Vec::new();
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths {
            if let Some(item) = item.as_object_mut() {
                for (method, operation) in item {
                    if let Some(operation) = operation.as_object_mut() {
                        out.push((method.clone(), path.clone(), operation));
                    }
                }
            }
        }
    }
    out
}

/// What every operation gets by rule.
fn finish(method: &str, path: &str, operation: &mut Map<String, Value>) {
    let id = format!(
        "{method}_{}",
        path.trim_start_matches('/')
            .replace('/', "_")
            .replace(['{', '}'], "")
    );
    operation.insert("operationId".into(), Value::String(id));
    // A handler that writes its own answer returns `Result<(), ApiError>`,
    // which the framework describes as a bare 200 "Ok": dropped where the
    // operation declares its own success.
    if let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    {
        let other_success = responses
            .keys()
            .any(|status| status != "200" && (status.starts_with('2') || status.starts_with('3')));
        if other_success && responses.get("200") == Some(&json!({"description": "Ok"})) {
            responses.remove("200");
        }
    }
    let role = operation
        .get("security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|requirement| requirement["adminToken"].as_array())
        .flatten()
        .find_map(Value::as_str)
        .map(str::to_owned);
    if let Some(role) = role {
        operation.insert("x-role".into(), Value::String(role));
    }
}

/// Routes of this resource.
pub(crate) fn router() -> Router {
    Router::new()
        .push(Router::with_path("api/openapi.json").get(served_document))
        .push(
            Router::with_path("api/docs")
                .get(viewer_page)
                .push(Router::with_path("viewer.js").get(viewer_script)),
        )
}

fn send(res: &mut Response, content_type: &'static str, body: &'static str) {
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res.body(body);
}

/// This document
#[endpoint(
    tags("operations"),
    responses((status_code = 200, description = "OpenAPI 3.1", content(("application/json" = Value))))
)]
async fn served_document(res: &mut Response) {
    send(res, "application/json", document());
}

/// A viewer of this document, served by the server itself (no CDN)
#[endpoint(
    tags("operations"),
    responses((status_code = 200, description = "HTML", content(("text/html" = String))))
)]
async fn viewer_page(res: &mut Response) {
    // Its own script and the document, nothing else.
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; \
             frame-ancestors 'none'",
        ),
    );
    send(res, "text/html; charset=utf-8", include_str!("docs.html"));
}

/// The viewer's script
#[endpoint(
    tags("operations"),
    responses((status_code = 200, description = "JavaScript", content(("text/javascript" = String))))
)]
async fn viewer_script(res: &mut Response) {
    send(
        res,
        "text/javascript; charset=utf-8",
        include_str!("viewer.js"),
    );
}
