//! One integration-test binary: the real app on 127.0.0.1:0 against an origin server on
//! 127.0.0.1:0, a real SQLite store in a temp dir.

mod helpers;

mod admin;
mod backup;
mod cli;
mod config_errors;
mod container;
mod daemon;
mod fetch_guard;
mod hostile;
mod https;
mod logs;
mod publishing;
mod readers;
mod readyz;
mod reload;
mod schedule;
mod shutdown;
mod sources_cli;
mod stories;
mod topics;
