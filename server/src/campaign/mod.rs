//! Campaigns as the server serves them: recently loaded ones kept in memory
//! ([`cache`]), campaigns kept as numbered files (`campaigns/NNN_slug.toml`,
//! [`files`]), what a campaign's front end talks to ([`catalogue`]) and the
//! commands that launch one and document it ([`scaffold`]). What a campaign
//! is lives in [`crate::model::campaign`].

pub(crate) mod cache;
pub(crate) mod catalogue;
pub(crate) mod changes;
pub(crate) mod files;
pub(crate) mod scaffold;
