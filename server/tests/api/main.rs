//! HTTP integration tests: each test starts the real app on port 0 with a fresh
//! database, and most run twice, on SQLite and on PostgreSQL (see `support`).

mod support;

mod admission;
mod attribution;
mod binary;
mod campaign;
mod campaign_files;
mod campaign_launch;
mod certificates;
mod continuity;
mod cursors;
mod custom_events;
mod edge;
mod erasure;
mod event_catalogue;
mod events;
mod faults;
mod fraud;
mod grpc;
mod hardening;
mod health;
mod hostile;
mod identity;
mod join;
mod lead;
mod leaderboard;
mod loadgen_smoke;
mod logs;
mod mail;
mod me;
mod metrics;
mod migrations;
mod openapi;
mod participants;
mod proxy;
mod referral;
mod scale_out;
mod shutdown;
mod spam;
mod team;
mod tenant_bounds;
mod translate;
mod webhooks;
