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

mod admission;
mod app;
mod bus;
mod campaign;
mod client;
mod config;
mod cursor;
mod error;
mod forms;
mod grpc;
mod http;
mod limit;
mod live;
mod mail;
mod model;
mod origin;
mod outbox;
mod presence;
mod request;
mod retention;
mod revocation;
mod session;
mod state;
mod store;
mod tasks;
mod team;
mod telemetry;
mod translate;
mod transport;

pub use app::{App, raise_open_file_limit};
pub use config::Config;
pub use state::AppState;

/// What the binary, the integration tests and the fuzz targets reach inside
/// the crate, at the paths the modules have inside it; nothing else of it
/// is public (each module's own items are `pub(crate)` or narrower unless
/// listed here).
#[doc(hidden)]
pub mod internals {
    pub mod bus {
        pub use crate::bus::{Audience, Envelope, Event, EventBus, EventId, RedisBus, Since};
    }
    pub mod campaign {
        pub mod catalogue {
            pub use crate::campaign::catalogue::ENDPOINTS;
        }
        pub mod files {
            pub use crate::campaign::files::{ApplyOutcome, apply_dir, read_file};
        }
        pub mod scaffold {
            pub use crate::campaign::scaffold::{campaign_doc, check, new_campaign, write_docs};
        }
    }
    pub mod client {
        pub use crate::client::ProxyTrust;
    }
    pub mod config {
        pub use crate::config::{
            CampaignsAction, Cli, Command, DevCertificatePolicy, ReadError, Secret, SecretSource,
        };
    }
    pub mod forms {
        pub mod join {
            pub use crate::forms::join::JoinRequest;
        }
        pub mod lead {
            pub use crate::forms::lead::LeadRequest;
        }
    }
    pub mod grpc {
        pub use crate::grpc::proto;
    }
    pub mod http {
        pub use crate::http::{routes, routes_tree};
        pub mod openapi {
            pub use crate::http::openapi::document;
        }
        pub mod web {
            pub use crate::http::web::CLIENT_VERSION;
        }
    }
    pub mod model {
        pub mod campaign {
            pub use crate::model::campaign::{Campaign, CampaignConfig, CampaignStatus};
            pub mod event_types {
                pub use crate::model::campaign::event_types::{
                    EventTypeDecl, is_reserved, validate,
                };
            }
        }
        pub mod events {
            pub use crate::model::events::{
                Audience, BROWSER_NAMES, BUILT_IN, BuiltIn, PRESENCE, RESET, TEAM_PREFIX,
                markdown_table,
            };
            pub mod payload {
                pub use crate::model::events::payload::{
                    CampaignStatus, LeadCreated, LeadStatus, Leaderboard, Payload, Presence,
                    ReferralMilestone, UserJoined,
                };
            }
        }
        pub mod lead {
            pub use crate::model::lead::{Lead, LeadStatus};
        }
        pub mod outbox {
            pub use crate::model::outbox::{NewOutbox, OutboxEntry, OutboxKind, OutboxState};
        }
        pub mod team {
            pub use crate::model::team::key_hash;
        }
        pub mod translation {
            pub use crate::model::translation::{MemoryEntry, MemoryOrigin};
        }
    }
    pub mod outbox {
        pub use crate::outbox::signature;
    }
    pub mod request {
        pub use crate::request::parse_json;
    }
    pub mod session {
        pub use crate::session::SessionKind;
    }
    pub mod store {
        pub use crate::store::{Migrations, Page, connect, migrate};
    }
    pub mod tasks {
        pub use crate::tasks::Tasks;
    }
    pub mod telemetry {
        pub use crate::telemetry::{init, init_for_tests};
    }
    pub mod translate {
        pub use crate::translate::{context_key, text_hash};
    }
    pub mod transport {
        pub mod sse {
            pub mod lean {
                pub use crate::transport::sse::lean::event_stream_request;
            }
        }
        pub mod webtransport {
            pub use crate::transport::webtransport::{SESSION_ENDED, WebTransportServer};
        }
    }
}
