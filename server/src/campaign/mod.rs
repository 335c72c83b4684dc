//! Campaigns as the server serves them: recently loaded ones kept in memory
//! ([`cache`]) and campaigns kept as numbered files (`campaigns/NNN_slug.toml`,
//! [`files`]). What a campaign is lives in [`crate::model::campaign`].

pub mod cache;
pub mod files;
