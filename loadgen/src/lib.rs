//! `ovasabi-load`: drives an Ovasabi Edge server with the real protocols and
//! measures what its users would feel.
//!
//! # Layout
//! - [`stats`]: latency histograms and the server's CPU time and memory.
//! - [`target`]: the server under test — loopback only unless allowed — and a
//!   benchmark campaign with limits that let the load through.
//! - [`cursors`]: WebTransport cursor sessions moving at a rate; move→seen latency.
//! - [`sse`]: idle event-stream subscribers; publish→receive latency of broadcasts.
//! - [`forms`]: leads at a concurrency; request latency and throughput.
//! - [`fallback`]: cursor sessions over the SSE + POST fallback.
//! - [`impair`]: UDP and TCP proxies that delay and lose traffic.
//! - [`lossy`]: cursors over WebTransport and over the fallback on one impaired link.
//! - [`resume`]: what resuming an event stream costs the server beside opening one.
//! - [`soak`]: the chaos soak — three instances under mixed load while they,
//!   Redis and PostgreSQL fail, and an account of every acknowledged operation.

pub mod cursors;
pub mod fallback;
pub mod forms;
pub mod impair;
pub mod lossy;
pub mod resume;
pub mod soak;
pub mod sse;
pub mod stats;
pub mod target;
