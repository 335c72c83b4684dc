//! The domain's data: what is stored and what the services, the store and the
//! API all speak of. Types and their own rules only — no I/O, no imports of
//! the modules above (the store, the services, the transports).

pub mod attribution;
pub mod campaign;
pub mod erasure;
pub mod events;
pub mod feed;
pub mod lead;
pub mod outbox;
pub mod report;
pub mod schema;
pub mod team;
pub mod text;
pub mod translation;
pub mod user;
