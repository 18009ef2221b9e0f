//! The lab's results store: every `iomux bench` run kept, so that a user can see how a change,
//! a kernel or a machine moved each model's cost, and a team can pool the runs of many
//! machines in one database.
//!
//! - [`record`]: what the lab measures, as data (`Run`, `Point`, `Testbed`), and the JSONL
//!   file every run also writes.
//! - [`Store`]: what the CLI and the web front end ask of a store. One implementation over a
//!   database [`engine::Engine`]: [`sqlite`] (embedded, the default) and [`mysql`]
//!   (MySQL/MariaDB). The queries are written once ([`sql`]); the engines differ only in
//!   connection, error translation and a few words of DDL. The schema is in `schema.md`.
//! - [`compare`]: the verdicts of `runs compare` and the change points of `runs history`,
//!   pure functions of the stored records.
//! - [`export`]: Bencher Metric Format and CSV.
//! - [`url`]: `--db` addresses; [`redact`]: the one rule that keeps passwords out of output.
//! - [`testing`]: a throwaway MariaDB server for the tests of this crate and its users.
pub mod compare;
pub mod engine;
pub mod error;
pub mod export;
pub mod fasthash;
pub mod history;
pub mod metric;
pub mod mysql;
pub mod record;
pub mod redact;
pub mod schema;
pub mod snapshot;
pub mod sql;
pub mod sqlite;
pub mod store;
pub mod testing;
pub mod url;

pub use error::{Error, ErrorKind, Result};
pub use record::{Point, PointKey, Run, RunRecords, Testbed};
pub use store::{HistoryEntry, RunFilter, RunSummary, Store, TestbedUse};
pub use url::DbUrl;

/// Opens (creating and migrating it if needed) the store at `url`.
pub fn open(url: &DbUrl) -> Result<Box<dyn Store>> {
    match url {
        DbUrl::Sqlite(path) => {
            let engine = sqlite::Sqlite::open(path)?;
            Ok(Box::new(sql::SqlStore::new(engine, url.to_string())?))
        }
        DbUrl::Mysql(address) => {
            let engine = mysql::Mysql::connect(address)?;
            Ok(Box::new(sql::SqlStore::new(engine, url.to_string())?))
        }
    }
}
