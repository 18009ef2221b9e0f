//! What the lab, `iomux runs` and the web front end ask of a results store: the [`Store`]
//! trait and the records it answers with. One implementation, over every engine: `sql.rs`.
use crate::error::Result;
use crate::record::{self, Calibration, Point, PointKey, Run, RunRecords, Testbed};

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
    /// Its testbed's fingerprint ([`Testbed::fingerprint`](crate::record::Testbed::fingerprint)).
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
    /// The testbed's fingerprint ([`Testbed::fingerprint`](crate::record::Testbed::fingerprint)).
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

    /// Records noise bands learned on a testbed, each replacing any stored for its
    /// experiment, settings and metric.
    fn save_calibrations(&mut self, testbed: &Testbed, bands: &[Calibration]) -> Result<()>;

    /// The noise bands stored for a testbed (by fingerprint), newest first.
    fn calibrations(&mut self, testbed: &str) -> Result<Vec<Calibration>>;
}
