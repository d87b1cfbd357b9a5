//! feeds.toml configuration (being built: units first).

pub mod units;
