//! [`Lab`]: a lab run in progress, from its run record to `summary.txt`.
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::db::{DbArg, StoreSink};
use crate::process::Pinning;
use crate::progress::Progress;
use crate::report::Report;
use iomux_store::compare::Subjects;
use iomux_store::record::{
    self, Calibration, ExperimentParams, JsonlSink, Point, Run, Sink, Testbed,
};

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
    /// Calibrate this testbed: run the experiments K times in a row, each a run of its own
    /// with fresh servers, and keep the noise bands their changes teach (per experiment,
    /// settings and metric) for `iomux runs compare`. Needs a clean build and the store. (Any
    /// two recorded runs of one clean commit with the same settings teach them too.)
    #[arg(long, global = true, value_name = "K")]
    pub calibrate: Option<usize>,
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

/// A lab run in progress: where results go, the run record, the points so far.
pub struct Lab {
    /// Where rendered tables and charts go.
    pub report: Report,
    /// Which CPUs the servers and the load generator run on.
    pub pinning: Pinning,
    /// A `--quick` smoke run: every point measured briefly, with few descriptors and connections.
    pub quick: bool,
    run: Run,
    jsonl: Box<dyn Sink>,
    store: Option<StoreSink>,
    points: Vec<Point>,
    /// Where the run is, on a terminal.
    pub progress: Progress,
    /// The headline metric of the experiment being measured (the figure the progress shows).
    pub headline: &'static str,
    /// One of `--calibrate K`'s runs.
    calibrating: bool,
}

impl Lab {
    pub(crate) fn new(
        args: &LabArgs,
        name: &str,
        experiments: Vec<ExperimentParams>,
    ) -> io::Result<Lab> {
        let stamp = timestamp();
        let out = args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("bench-results").join(format!("{stamp}-{name}")));
        let (pinning, testbed) = machine();
        let run = Run {
            // Unique across the machines that share a store: the time, the testbed, the process.
            id: format!(
                "{stamp}-{}-{}",
                &testbed.fingerprint()[..6],
                std::process::id()
            ),
            started: record::now_unix(),
            finished: None,
            iomux_version: env!("CARGO_PKG_VERSION").to_owned(),
            git_commit: commit_measured(),
            command_line: iomux_store::redact::redact_command_line(
                &std::env::args().collect::<Vec<_>>(),
            ),
            testbed,
            quick: args.quick,
            experiments,
        };
        if args.dry_run {
            return Ok(Lab {
                report: Report::new(out),
                pinning,
                quick: args.quick,
                run,
                jsonl: Box::new(NoSink),
                store: None,
                points: Vec::new(),
                progress: Progress::hidden(),
                headline: "",
                calibrating: false,
            });
        }
        // Opened, and the run recorded, before anything is measured: a store that cannot be
        // used stops the run here, with nothing lost.
        let store = if args.no_db {
            None
        } else {
            let sink = args
                .store
                .open()
                .and_then(|store| StoreSink::start(store, &run, &out))
                .map_err(|e| {
                    io::Error::other(format!(
                        "cannot record into the results store: {e} (--no-db measures without it)"
                    ))
                })?;
            Some(sink)
        };
        fs::create_dir_all(&out).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot create {}: {e}", out.display()))
        })?;
        let mut jsonl = JsonlSink::create(&out.join("results.jsonl"))?;
        jsonl.run(&run)?;
        // The load generator runs on this thread and the threads it starts (they inherit this).
        pinning.pin_load_thread();
        let mut lab = Lab {
            report: Report::new(out),
            pinning,
            quick: args.quick,
            run,
            jsonl: Box::new(jsonl),
            store,
            points: Vec::new(),
            progress: Progress::on_terminal(),
            headline: "",
            calibrating: args.calibrate.is_some(),
        };
        let line = format!(
            "{}; results in {}",
            describe_run(&lab.run),
            lab.report.dir.display()
        );
        lab.report.say(&line);
        Ok(lab)
    }

    /// Records one measured point (written at once) and keeps it for rendering.
    pub fn point(&mut self, point: Point) -> io::Result<()> {
        self.progress.recorded(&point, self.headline);
        self.jsonl.point(&point)?;
        if let Some(store) = &mut self.store {
            store.point(&point)?;
        }
        self.points.push(point);
        Ok(())
    }

    /// The run record (what a dry run prints).
    pub fn run_record(&self) -> &Run {
        &self.run
    }

    /// The points recorded so far for `experiment`.
    pub fn points_of(&self, experiment: &str) -> Vec<Point> {
        self.points
            .iter()
            .filter(|p| p.experiment == experiment)
            .cloned()
            .collect()
    }

    /// Prints a line and keeps it for `summary.txt` (progress notes that are not results).
    pub fn say(&mut self, line: &str) {
        let report = &mut self.report;
        self.progress.suspend(|| report.say(line));
    }

    /// The output folder.
    pub fn out(&self) -> &Path {
        &self.report.dir
    }

    /// Records the run's end; then, recorded in a store, what the runs of its commit teach
    /// about this testbed's noise (`subjects` says which subjects are peers).
    pub(crate) fn finish(mut self, subjects: &Subjects) -> io::Result<PathBuf> {
        self.progress.finish();
        self.run.finished = Some(record::now_unix());
        self.jsonl.run(&self.run)?;
        if let Some(store) = &mut self.store {
            store.run(&self.run)?;
            if let Some(place) = store.recorded_in() {
                let line = format!("recorded as run {} in {place}", self.run.id);
                self.report.say(&line);
            }
            let bands = store.learn_calibration(subjects);
            for line in calibrated(&bands) {
                self.report.say(&line);
            }
            if bands.is_empty() && self.calibrating {
                let line = format!(
                    "no noise band yet: the runs of this commit give fewer than {} changes per metric; more runs (--calibrate N) or more points teach one",
                    iomux_store::compare::CALIBRATION_MIN_SAMPLES
                );
                self.report.say(&line);
            }
        }
        let dir = self.report.dir.clone();
        let mut existing = fs::read_to_string(dir.join("summary.txt")).unwrap_or_default();
        existing.push_str(&self.report.text);
        fs::write(dir.join("summary.txt"), existing)?;
        Ok(dir)
    }
}

/// One line per experiment on the noise bands just learned (none when nothing was).
fn calibrated(bands: &[Calibration]) -> Vec<String> {
    let mut experiments: Vec<&str> = bands.iter().map(|b| b.experiment.as_str()).collect();
    experiments.dedup();
    experiments
        .into_iter()
        .map(|experiment| {
            let mine: Vec<&Calibration> =
                bands.iter().filter(|b| b.experiment == experiment).collect();
            let widths: Vec<String> = mine
                .iter()
                .map(|b| format!("{} ±{:.1}%", b.metric, b.band * 100.0))
                .collect();
            format!(
                "{experiment}: this testbed's noise, learned from {} changes in {} runs of {}: {}; `iomux runs compare` judges runs with these settings by it",
                mine[0].samples,
                mine[0].runs,
                mine[0].commit,
                widths.join(", ")
            )
        })
        .collect()
}

/// Why `--calibrate K` cannot run as asked, if it cannot: calibrating needs at least two
/// runs, recorded, of a clean build, with real figures.
pub(crate) fn calibration_refused(args: &LabArgs, runs: usize) -> Option<String> {
    let commit = commit_measured();
    let clean = iomux_store::compare::clean_commit(&Run {
        git_commit: commit.clone(),
        ..Run::default()
    })
    .is_some();
    if runs < 2 {
        Some("--calibrate needs at least 2 runs (noise is what moves between runs)".into())
    } else if args.no_db {
        Some("--calibrate keeps what it learns in the results store: drop --no-db".into())
    } else if args.quick {
        Some("--calibrate measures real figures: drop --quick".into())
    } else if !clean {
        Some(format!("--calibrate needs a clean build of a commit (this one is {commit}): noise learned from modified code would be kept under a commit it does not match"))
    } else {
        None
    }
}

/// The pinning and the testbed, as the process found them before its first run pinned this
/// thread (a second run in one process, `--calibrate`, would otherwise see one CPU).
fn machine() -> (Pinning, Testbed) {
    static MACHINE: std::sync::OnceLock<(Pinning, Testbed)> = std::sync::OnceLock::new();
    MACHINE
        .get_or_init(|| {
            let pinning = Pinning::detect();
            let testbed = Testbed::detect(pinning.server, pinning.load);
            (pinning, testbed)
        })
        .clone()
}

/// The sink of a dry run: nothing is measured, so nothing is written.
struct NoSink;

impl Sink for NoSink {
    fn run(&mut self, _: &Run) -> io::Result<()> {
        Ok(())
    }
    fn point(&mut self, _: &Point) -> io::Result<()> {
        Ok(())
    }
}

/// The commit the servers run: this build's, marked `+planted(...)` when `IOMUX_PLANT` gives
/// them a planted cost (a test build's servers read it), so that such a run is never taken for
/// a clean run of its commit (an A/A comparison, a calibration).
fn commit_measured() -> String {
    let commit = option_env!("IOMUX_GIT_COMMIT").unwrap_or("unknown");
    match std::env::var("IOMUX_PLANT") {
        Ok(plant) if !plant.is_empty() => format!("{commit}+planted({plant})"),
        _ => commit.to_owned(),
    }
}

/// `YYYYMMDD-HHMMSS` in UTC, for folder names and run ids.
fn timestamp() -> String {
    crate::units::Utc::of(record::now_unix()).stamp()
}
