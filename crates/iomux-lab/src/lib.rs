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
use std::io;
use std::path::{Path, PathBuf};

pub mod chart;
pub mod db;
pub mod experiments;
mod lab;
pub mod process;
mod registry;
mod report;
pub mod runner;
pub mod subjects;
pub mod table;
pub mod tools;
pub mod trace_point;
pub mod trace_summary;
pub mod units;

pub use iomux_store::record;
use record::{Point, Run, RunRecords};

pub use crate::db::DbArg;
pub use crate::lab::Lab;
pub use crate::registry::{all_defaults, headline, reference, Chosen, Experiment, Kind, KINDS};
pub use crate::report::Report;

/// Options of the lab itself, shared by every experiment.
#[derive(clap::Args, Clone, Debug)]
pub struct LabArgs {
    /// Folder for results.jsonl, summary.txt and the charts (default: a new one under bench-results/).
    #[arg(long, global = true)]
    pub out: Option<PathBuf>,
    /// A smoke run: the same parameters, but every point measured briefly (tens of ms), at most
    /// 300 descriptors and 20 connections, no strace or callgrind passes. For checking that the
    /// lab works, not for figures (the run record says so).
    #[arg(long, global = true)]
    pub quick: bool,
    /// Print the run record (testbed, each experiment's parameters) as JSON and measure nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// The results store the run is recorded into.
    #[command(flatten)]
    pub store: DbArg,
    /// Do not record the run into the results store (results.jsonl is written all the same).
    #[arg(long, global = true)]
    pub no_db: bool,
}

/// Runs `experiments` with the lab's options; returns the folder the results went to (`None`
/// for a dry run, which measures nothing).
pub fn run(lab_args: &LabArgs, experiments: &[Box<dyn Chosen>]) -> io::Result<Option<PathBuf>> {
    let name = match experiments {
        [one] => one.name(),
        _ => "all",
    };
    let mut lab = Lab::new(lab_args, name, experiments)?;
    if lab_args.dry_run {
        println!(
            "{}",
            serde_json::to_string_pretty(lab.run_record()).map_err(io::Error::other)?
        );
        return Ok(None);
    }
    for (i, experiment) in experiments.iter().enumerate() {
        if i > 0 {
            lab.report.say("");
        }
        experiment.measure(&mut lab)?;
        let points = lab.points_of(experiment.name());
        experiment.render(&mut lab.report, &points)?;
    }
    lab.finish().map(Some)
}

/// A `Params` type's defaults: its command line with no flags. The one source of them.
pub fn defaults<T: clap::Args + clap::FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new("defaults").no_binary_name(true));
    let matches = command
        .try_get_matches_from(std::iter::empty::<String>())
        .expect("every parameter has a default");
    T::from_arg_matches(&matches).expect("defaults parse")
}

/// `iomux bench show DIR`: the stored run's tables and charts, rendered again.
pub fn show(dir: &Path) -> io::Result<()> {
    let path = dir.join("results.jsonl");
    let jsonl = record::read_jsonl(&path)?;
    if jsonl.runs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} holds no run record", path.display()),
        ));
    }
    let mut report = Report::new(dir.to_path_buf());
    for records in &jsonl.runs {
        render_run(&mut report, records)?;
    }
    Ok(())
}

/// A recorded run's description, tables and charts, rendered from its records.
pub fn render_run(report: &mut Report, records: &RunRecords) -> io::Result<()> {
    report.say(&describe_run(&records.run));
    for (i, experiment) in records.run.experiments.iter().enumerate() {
        if i > 0 {
            report.say("");
        }
        let mine: Vec<Point> = records
            .points
            .iter()
            .filter(|p| p.experiment == experiment.experiment)
            .cloned()
            .collect();
        registry::from_record(experiment)?.render(report, &mine)?;
    }
    Ok(())
}

/// One line on a run: id, build, testbed, pinning.
pub fn describe_run(run: &Run) -> String {
    let t = &run.testbed;
    let pinning = match (t.server_cpu, t.load_cpu) {
        (Some(s), Some(l)) => format!("server pinned to CPU {s}, load generator to CPU {l}"),
        _ => "one CPU: server and load generator share it (ratios are squeezed)".into(),
    };
    format!(
        "iomux bench run {}: iomux {} ({}); {} ({} cores{}), Linux {}, RLIMIT_NOFILE {}; {pinning}{}",
        run.id,
        run.iomux_version,
        run.git_commit,
        t.cpu_model,
        t.cores,
        if t.virtualized { ", virtualised" } else { "" },
        t.kernel,
        t.nofile_limit,
        if run.quick { "; --quick: a smoke run, not figures" } else { "" }
    )
}

/// The median of some measurements (the lab repeats points and keeps the median): the store's
/// rule, so that a median recorded and a median recomputed from stored repeats agree.
pub use iomux_store::compare::median;

pub use crate::table::{aligned_table, cell, table};

/// The descriptors this process may use, after raising the soft limit to the hard one.
pub fn fd_budget() -> io::Result<u64> {
    iomux_sys::process::raise_nofile_limit()
}

/// The limits of a `--quick` run.
pub mod quick {
    use std::time::Duration;
    /// Measured time per point.
    pub const DURATION: Duration = Duration::from_millis(40);
    /// Warm-up per point.
    pub const WARMUP: Duration = Duration::from_millis(20);
    /// At most this many descriptors per point.
    pub const MAX_FDS: usize = 300;
    /// At most this many connections per point.
    pub const MAX_CONNS: usize = 20;

    /// A quick run's connection counts: each at most [`MAX_CONNS`].
    pub fn conns(declared: &[usize]) -> Vec<usize> {
        declared.iter().map(|&c| c.min(MAX_CONNS)).collect()
    }
}
