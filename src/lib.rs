//! feedmill: fetch feeds on a schedule, store and deduplicate their articles, and republish
//! boolean topic feeds as RSS 2.0, Atom 1.0 and JSON Feed.

pub mod model;
pub mod topics;
