//! feedmill: fetch feeds on a schedule, store and deduplicate their articles, and republish
//! boolean topic feeds as RSS 2.0, Atom 1.0 and JSON Feed.
//!
//! # Layout
//! The pipeline (DESIGN §2), one module per stage:
//!
//! ```text
//! feeds.toml → config → schedule → pipeline::refresh_source
//!    fetch → parse → normalize → dedup → store → topics → publish (catalog) → http
//! ```
//!
//! - [`config`]: `feeds.toml` read (raw serde mirror) then validated and compiled.
//! - [`schedule`]: which source is due; one cron job per source; `tick(now)` for tests.
//! - [`pipeline`]: the only module that knows the order of the stages.
//! - [`fetch`]: conditional HTTP GET with limits, redirects, per-host politeness and the SSRF guard.
//! - [`politeness`]: when a source may be fetched next (ttl, max-age, backoff, Retry-After); pure.
//! - [`parse`], [`normalize`], [`dedup`], [`topics`], [`publish`]: pure, no I/O, no clock.
//! - [`store`]: SQLite (WAL): sources, articles, stories, topic membership and versions.
//! - [`catalog`]: topic feeds as served: read from the store, rendered once per change.
//! - [`http`]: axum endpoints, with cached feed polls answered ahead of the router; never
//!   fetches.
//! - [`app`]: builds and wires everything, reloads feeds.toml live, shuts down in bounded time;
//!   [`cli`]: the commands.
//! - [`reload`]: notices edits of feeds.toml (a debounced watch on its directory).
//! - [`status`]: what the daemon says about itself: the configuration in use, a rejected
//!   edit, readiness.
//! - [`model`]: plain data shared by the stages.
//! - Operating it: [`telemetry`] (Prometheus metrics), [`redact`] (credentials in source URLs
//!   never shown); [`discover`], [`feeds_file`] and [`opml`] for `feedmill add` and
//!   `feedmill opml import|export`.

pub mod app;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod dedup;
pub mod discover;
pub mod feeds_file;
pub mod fetch;
pub mod http;
pub mod model;
pub mod normalize;
pub mod opml;
pub mod parse;
pub mod pipeline;
pub mod politeness;
pub mod publish;
pub mod redact;
pub mod reload;
pub mod schedule;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod topics;

#[cfg(test)]
mod testkit;
