//! The lab (`iomux bench`): experiments that turn the course notes' claims into numbers on this
//! machine.
//!
//! Each experiment starts the servers it measures (the `iomux serve` models, and for `echo` the
//! reference peers), pins server and load generator to different CPUs when there are two or
//! more, drives them with the in-process load generator, and prints tables with ratios.
//!
//! What it measures is data first ([`record`]): a `Run` record and one `Point` record per
//! subject and point, sent as each is measured to `results.jsonl` under `--out` (default a new
//! folder under `bench-results/`) and to the results store (`--db`, default a SQLite file;
//! `--no-db` skips it). The tables (`summary.txt`) and the SVG/PNG charts are rendered from
//! those records by each experiment's `render`, so `iomux bench show DIR` and
//! `iomux runs show RUN` render a stored run again.
//!
//! Each experiment's parameters are one `Params` type beside it, which is both its command
//! line (`clap::Args`, with the defaults) and its `Default` (parsed from an empty command line,
//! so `bench all` and the subcommand cannot disagree).
//!
//! The figure that does not depend on which side was the bottleneck is **server CPU time per
//! message**: the server's CPU time during the measured window (summed over its threads from
//! `/proc/PID/task/*/schedstat`, nanosecond resolution) divided by the messages completed.
pub mod arms;
pub mod chart;
pub mod db;
pub mod evenness;
pub mod experiment;
pub mod experiments;
pub mod lab;
pub mod params;
pub mod process;
pub mod profile;
pub mod progress;
pub mod registry;
pub mod report;
pub mod runner;
pub mod session;
pub mod spread;
pub mod subjects;
pub mod table;
pub mod tools;
pub mod trace_point;
pub mod trace_summary;
pub mod units;
pub mod window;

pub use iomux_store::record;

pub use crate::db::DbArg;
pub use crate::experiment::{Chosen, Experiment};
pub use crate::lab::{describe_run, Lab, LabArgs};
pub use crate::params::defaults;
pub use crate::registry::{all_defaults, headline, peers, reference, Kind, KINDS, SUBJECTS};
pub use crate::report::Report;
pub use crate::session::{render_run, run, show};
pub use crate::table::aligned_table;
