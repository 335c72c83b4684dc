//! Ovasabi Edge: the real-time backend a campaign website talks to.
//!
//! REST for the campaign's forms, Server-Sent Events for what the page shows
//! live, WebTransport datagrams for every visitor's cursor, and Redis Streams
//! between instances. SQLite is embedded by default; PostgreSQL in production.
//!
//! # Layout
//! - `config`: flags and environment, validated once.
//! - `app`: builds state and listeners, serves until shutdown.
//! - `state`: the shared application state every handler and worker sees.
//! - `model`: the domain's data (campaigns and their configuration and event
//!   types, users, leads, attribution and consent, outbox entries,
//!   translation memory rows, reports): types and their rules.
//! - `campaign`: loaded campaigns (cached) and campaign files.
//! - `client`: who is calling: the client address (through trusted proxies)
//!   and its rate-limit key.
//! - `origin`: web origins, compared and matched against allowed lists.
//! - `error`: the one API error type and its JSON body.
//! - `forms`: the form services (join, referral, lead; a visitor's own
//!   profile): their rules, whole.
//! - `live`: a campaign's own event types, and the live events the server
//!   derives (leaderboard, campaign status), announced once per cluster.
//! - `session`: signed session tokens (users and anonymous visitors).
//! - `revocation`: credentials ended while in use (revoked keys, erased
//!   people's sessions), which open streams and follows watch.
//! - `bus`: the live event bus, in process or over Redis Streams.
//! - `presence`: live visitors per campaign, across instances.
//! - `outbox`: events that must leave the building, and their delivery.
//! - `limit`: per-client rate limits.
//! - `cursor`: cursor rooms (hub, room, tick task, members), their interest
//!   management and the relay between instances.
//! - `admission`: whether a live channel may open (origin, credential,
//!   connection caps), the one rule every transport and REST's origin check use.
//! - `request`: what every HTTP entry reads from a request (state, bearer,
//!   client address, origin, the campaign in the path, JSON bodies), and the
//!   access log.
//! - `transport`: the live channels, one module per transport: the event
//!   stream (routed and lean paths), the cursor fallback's uplink, connect
//!   tickets, and the WebTransport endpoint with its description.
//! - `translate`: translation memory, glossary and the LibreTranslate client.
//! - `http`: the REST API, one module per resource, and the one router.
//! - `grpc`: the back-office gRPC API (leads feed, quotes, campaigns, events).
//! - `store`: the only place SQL lives; one generic implementation for SQLite
//!   and PostgreSQL, the differences in a small `Dialect` trait.
//! - `team`: who calls the admin API (named keys with roles and a campaign
//!   scope, the admin token), what they may do, and the audit log.
//! - `retention`: the hourly removal of what must not grow forever.
//! - `tasks`: every background task, named, tracked and awaited at shutdown.
//! - `telemetry`: logs, and the counters, gauges and histograms `/metrics` shows.

pub mod admission;
pub mod app;
pub mod bus;
pub mod campaign;
pub mod client;
pub mod config;
pub mod cursor;
pub mod error;
pub mod forms;
pub mod grpc;
pub mod http;
pub mod limit;
pub mod live;
pub mod model;
pub mod origin;
pub mod outbox;
pub mod presence;
pub mod request;
pub mod retention;
pub mod revocation;
pub mod session;
pub mod state;
pub mod store;
pub mod tasks;
pub mod team;
pub mod telemetry;
pub mod translate;
pub mod transport;

pub use app::App;
pub use config::Config;
pub use state::AppState;
