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
//! - [`url`]: `--db` addresses, and the one rule that keeps passwords out of output.
//! - [`testing`]: a throwaway MariaDB server for the tests of this crate and its users.
pub mod compare;
pub mod engine;
pub mod error;
pub mod export;
pub mod fasthash;
pub mod metric;
pub mod mysql;
pub mod record;
pub mod schema;
pub mod sql;
pub mod sqlite;
pub mod testing;
pub mod url;

pub use error::{Error, ErrorKind, Result};
pub use record::{Point, PointKey, Run, RunRecords, Testbed};
pub use url::DbUrl;

/// Which runs `runs list` shows.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    /// Runs that measured this experiment.
    pub experiment: Option<String>,
    /// Runs on a testbed whose fingerprint starts with this, or whose host is this.
    pub testbed: Option<String>,
    /// Runs of a commit starting with this.
    pub commit: Option<String>,
    /// Runs started at or after this (seconds since the epoch).
    pub since: Option<f64>,
    /// At most this many, newest first.
    pub limit: Option<usize>,
}

/// One line of `runs list`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunSummary {
    /// The run's id ([`Run::id`]).
    pub id: String,
    /// When it started, in seconds since the Unix epoch.
    pub started: f64,
    /// When it finished, in seconds since the Unix epoch; `None` if it never recorded an end
    /// (still running, or interrupted).
    pub finished: Option<f64>,
    /// The commit its binary was built from.
    pub git_commit: String,
    /// Run with `--quick`: figures for checking, not for comparing.
    pub quick: bool,
    /// The names of the experiments it measured, in the order run.
    pub experiments: Vec<String>,
    /// How many points the store holds for it (repeats and medians alike).
    pub points: u64,
    /// Its testbed's fingerprint ([`Testbed::fingerprint`]).
    pub testbed: String,
    /// Its testbed's host name.
    pub host: String,
}

/// One run's records of one point, for `runs history`.
#[derive(Clone, Debug)]
pub struct HistoryEntry {
    /// The run's id.
    pub run: String,
    /// When the run started, in seconds since the Unix epoch.
    pub started: f64,
    /// The commit the run's binary was built from.
    pub git_commit: String,
    /// The median point (`repeat: None`), if the run recorded one.
    pub median: Option<Point>,
    /// The repeats.
    pub repeats: Vec<Point>,
}

/// A testbed that holds a point, for choosing which history to show.
#[derive(Clone, Debug)]
pub struct TestbedUse {
    /// The testbed's fingerprint ([`Testbed::fingerprint`]).
    pub fingerprint: String,
    /// The testbed's host name.
    pub host: String,
    /// How many of its runs hold the point.
    pub runs: u64,
    /// When the newest of those runs started, in seconds since the Unix epoch.
    pub last_started: f64,
}

/// What the lab, `iomux runs` and the web front end ask of a results store.
pub trait Store: Send {
    /// The store's address for messages (never with a password).
    fn describe(&self) -> String;

    /// Records a run, or updates it (a run is recorded when it starts and again when it
    /// ends). A run id already stored from another testbed is refused.
    fn save_run(&mut self, run: &Run) -> Result<()>;

    /// Records points of a stored run; `first_seq` is the first point's index in the run
    /// (points are numbered in the order measured, so that importing a run's JSONL again adds
    /// only what the store lacks). Returns how many were new.
    fn save_points(&mut self, run_id: &str, first_seq: usize, points: &[Point]) -> Result<usize>;

    /// Runs, newest first.
    fn runs(&mut self, filter: &RunFilter) -> Result<Vec<RunSummary>>;

    /// The id of the run a user named: an id, a unique prefix of one, `latest` or `latest~N`.
    fn find_run(&mut self, reference: &str) -> Result<String>;

    /// A run and all its points, in the order measured.
    fn load_run(&mut self, id: &str) -> Result<RunRecords>;

    /// A run's figures in the lighter form comparisons read ([`record::Figures`]).
    fn load_figures(&mut self, id: &str) -> Result<record::Figures>;

    /// A second connection to the same store (to read two runs at once on two cores).
    fn try_clone(&self) -> Result<Box<dyn Store>>;

    /// Deletes a run and its points.
    fn remove_run(&mut self, id: &str) -> Result<()>;

    /// Earlier runs (not `--quick` ones) on a testbed that measured an experiment, newest first.
    fn earlier_runs(
        &mut self,
        testbed: &str,
        experiment: &str,
        before: f64,
        limit: usize,
    ) -> Result<Vec<String>>;

    /// The testbeds whose runs hold a point.
    fn point_testbeds(&mut self, key: &PointKey) -> Result<Vec<TestbedUse>>;

    /// One point's records on one testbed, oldest run first.
    fn history(&mut self, testbed: &str, key: &PointKey) -> Result<Vec<HistoryEntry>>;
}

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
