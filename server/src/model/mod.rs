//! The domain's data: what is stored and what the services, the store and the
//! API all speak of. Types and their own rules only — no I/O, no imports of
//! the modules above (the store, the services, the transports).

pub(crate) mod attribution;
pub(crate) mod campaign;
pub(crate) mod erasure;
pub(crate) mod events;
pub(crate) mod feed;
pub(crate) mod lead;
pub(crate) mod outbox;
pub(crate) mod referral;
pub(crate) mod report;
pub(crate) mod schema;
pub(crate) mod spam;
pub(crate) mod team;
pub(crate) mod text;
pub(crate) mod translation;
pub(crate) mod user;
