//! What iomux's processes say to each other, each message written and read by one type or one
//! function pair, so that the writer (a server) and the reader (the lab, the front end) cannot
//! drift apart.
//!
//! - [`Model`]: the I/O models `iomux serve` offers, by the names `--model` takes;
//! - [`announce`]: the lines a server prints when it is ready (`listening on ADDR`, `stats on
//!   URL`);
//! - [`Summary`]: what a server prints when it stops (`--summary json`);
//! - [`Snapshot`]: a server's live counters (`--stats-addr`, `GET /stats`);
//! - [`trace`]: trace files (`--trace FILE`), written and read back.
//!
//! Like nextest's `nextest-metadata`, this crate is the servers' machine-readable face: the lab
//! and the front end depend on it, never on the servers' code, so they cannot call a server
//! in-process (a crate boundary keeps that rule; see ARCHITECTURE.md).
pub mod announce;
pub mod model;
pub mod snapshot;
pub mod summary;
pub mod trace;

pub use model::Model;

/// Where a server listens unless told otherwise, and so where the clients and the load
/// generator go unless told otherwise: `iomux serve & iomux load` just works.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9000";
pub use snapshot::Snapshot;
pub use summary::{SelectorSummary, Summary};
