//! `iomux bench`: the lab that turns the course notes' claims into numbers on this machine.
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
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde::de::DeserializeOwned;

pub mod busy;
pub mod chart;
pub mod echo;
pub mod http;
pub mod idle;
pub mod python;
pub mod soak;
pub mod store;
pub mod trace_point;
pub mod wait;

pub use iomux_store::record;
use record::{ExperimentParams, JsonlSink, Point, Run, RunRecords, Sink, Testbed};

use crate::store::{DbArg, StoreSink};

/// `iomux bench ...`
#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// select/poll/epoll wait cost vs number of fds: the libevent bench.c chain, per backend.
    Wait {
        #[command(flatten)]
        params: wait::Params,
        #[command(flatten)]
        lab: LabArgs,
    },
    /// Every serve model and the tokio, mio and bare-epoll peers under the same echo load.
    Echo {
        #[command(flatten)]
        params: echo::Params,
        #[command(flatten)]
        lab: LabArgs,
    },
    /// Active throughput while thousands of idle connections are open, per readiness model.
    Idle {
        #[command(flatten)]
        params: idle::Params,
        #[command(flatten)]
        lab: LabArgs,
    },
    /// The busy-polling model vs epoll with idle clients and a trickle of messages.
    Busy {
        #[command(flatten)]
        params: busy::Params,
        #[command(flatten)]
        lab: LabArgs,
    },
    /// What the results store costs: import rate, recording per point, compare time, per engine.
    Store {
        #[command(flatten)]
        params: store::Params,
        #[command(flatten)]
        lab: LabArgs,
    },
    /// iomux web vs nginx (one worker) under wrk: requests/s and server CPU per request.
    Http {
        #[command(flatten)]
        params: http::Params,
        #[command(flatten)]
        lab: LabArgs,
    },
    /// The notes' selectors server and an asyncio server in Python, on the standard library vs
    /// iomux's selectors (and uvloop): server CPU per message.
    Python {
        #[command(flatten)]
        params: python::Params,
        #[command(flatten)]
        lab: LabArgs,
    },
    /// Each readiness model and the completion model under churn (up to 15,000 connections
    /// opened and closed all the time): RSS, descriptors and queued bytes must end where they
    /// started, no byte lost.
    Soak {
        #[command(flatten)]
        params: soak::Params,
        #[command(flatten)]
        lab: LabArgs,
    },
    /// All four experiments, each with exactly its subcommand's defaults (about two minutes on 2 cores).
    All {
        #[command(flatten)]
        lab: LabArgs,
    },
    /// Render a stored run's tables and charts again from its results.jsonl.
    Show {
        /// The run's folder (the one holding results.jsonl).
        dir: PathBuf,
    },
}

/// Options of the lab itself, shared by every experiment.
#[derive(clap::Args, Clone, Debug)]
pub struct LabArgs {
    /// Folder for results.jsonl, summary.txt and the charts (default: a new one under bench-results/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A smoke run: the same parameters, but every point measured briefly (tens of ms), at most
    /// 300 descriptors and 20 connections, no strace or callgrind passes. For checking that the
    /// lab works, not for figures (the run record says so).
    #[arg(long)]
    pub quick: bool,
    /// Print the run record (testbed, each experiment's parameters) as JSON and measure nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub store: DbArg,
    /// Do not record the run into the results store (results.jsonl is written all the same).
    #[arg(long)]
    pub no_db: bool,
}

/// Runs a `bench` subcommand; returns the folder the results went to.
pub fn main(command: BenchCommand) -> io::Result<Option<PathBuf>> {
    let (lab_args, experiments): (LabArgs, Vec<Experiment>) = match command {
        BenchCommand::Wait { params, lab } => (lab, vec![Experiment::Wait(params)]),
        BenchCommand::Echo { params, lab } => (lab, vec![Experiment::Echo(params)]),
        BenchCommand::Idle { params, lab } => (lab, vec![Experiment::Idle(params)]),
        BenchCommand::Busy { params, lab } => (lab, vec![Experiment::Busy(params)]),
        BenchCommand::Store { params, lab } => (lab, vec![Experiment::Store(params)]),
        BenchCommand::Http { params, lab } => (lab, vec![Experiment::Http(params)]),
        BenchCommand::Python { params, lab } => (lab, vec![Experiment::Python(params)]),
        BenchCommand::Soak { params, lab } => (lab, vec![Experiment::Soak(params)]),
        // Not `bench python`: it needs python3, a maturin build of the extension and uvloop,
        // and its defaults take minutes (its module doc says more).
        BenchCommand::All { lab } => (
            lab,
            vec![
                Experiment::Wait(Default::default()),
                Experiment::Echo(Default::default()),
                Experiment::Idle(Default::default()),
                Experiment::Busy(Default::default()),
            ],
        ),
        BenchCommand::Show { dir } => {
            show(&dir)?;
            return Ok(None);
        }
    };
    let name = match experiments.as_slice() {
        [one] => one.name(),
        _ => "all",
    };
    let mut lab = Lab::new(&lab_args, name, &experiments)?;
    if lab_args.dry_run {
        println!(
            "{}",
            serde_json::to_string_pretty(&lab.run).map_err(io::Error::other)?
        );
        return Ok(None);
    }
    for (i, experiment) in experiments.iter().enumerate() {
        if i > 0 {
            lab.report.say("");
        }
        experiment.measure(&mut lab)?;
        let points: Vec<Point> = lab
            .points
            .iter()
            .filter(|p| p.experiment == experiment.name())
            .cloned()
            .collect();
        experiment.render(&mut lab.report, &points)?;
    }
    lab.finish().map(Some)
}

/// One experiment with its parameters.
pub enum Experiment {
    Wait(wait::Params),
    Echo(echo::Params),
    Idle(idle::Params),
    Busy(busy::Params),
    Store(store::Params),
    Http(http::Params),
    Python(python::Params),
    Soak(soak::Params),
}

impl Experiment {
    pub fn name(&self) -> &'static str {
        match self {
            Experiment::Wait(_) => wait::NAME,
            Experiment::Echo(_) => echo::NAME,
            Experiment::Idle(_) => idle::NAME,
            Experiment::Busy(_) => busy::NAME,
            Experiment::Store(_) => store::NAME,
            Experiment::Http(_) => http::NAME,
            Experiment::Python(_) => python::NAME,
            Experiment::Soak(_) => soak::NAME,
        }
    }

    fn params_json(&self) -> serde_json::Value {
        let value = match self {
            Experiment::Wait(p) => serde_json::to_value(p),
            Experiment::Echo(p) => serde_json::to_value(p),
            Experiment::Idle(p) => serde_json::to_value(p),
            Experiment::Busy(p) => serde_json::to_value(p),
            Experiment::Store(p) => serde_json::to_value(p),
            Experiment::Http(p) => serde_json::to_value(p),
            Experiment::Python(p) => serde_json::to_value(p),
            Experiment::Soak(p) => serde_json::to_value(p),
        };
        value.expect("parameters serialize")
    }

    /// The subject an experiment's other subjects are compared with across testbeds (the
    /// ratios the tables print).
    pub fn reference(experiment: &str) -> Option<&'static str> {
        match experiment {
            echo::NAME => Some(echo::REFERENCE),
            wait::NAME => Some(wait::REFERENCE),
            idle::NAME => Some(idle::REFERENCE),
            busy::NAME => Some(busy::REFERENCE),
            store::NAME => Some(store::REFERENCE),
            http::NAME => Some(http::REFERENCE),
            python::NAME => Some(python::REFERENCE),
            soak::NAME => Some(soak::REFERENCE),
            _ => None,
        }
    }

    /// The metric an experiment is about (what `runs history` shows unless told otherwise).
    pub fn headline(experiment: &str) -> &'static str {
        match experiment {
            wait::NAME => "wait_us",
            store::NAME => "compare_ms",
            http::NAME => "server_cpu_us_per_req",
            soak::NAME => "fds_end",
            _ => "server_cpu_us_per_msg",
        }
    }

    /// The experiment a run record names, with its recorded parameters.
    fn from_record(record: &ExperimentParams) -> io::Result<Experiment> {
        fn params<T: DeserializeOwned>(record: &ExperimentParams) -> io::Result<T> {
            serde_json::from_value(record.params.clone()).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the {} parameters cannot be read: {e}", record.experiment),
                )
            })
        }
        Ok(match record.experiment.as_str() {
            wait::NAME => Experiment::Wait(params(record)?),
            echo::NAME => Experiment::Echo(params(record)?),
            idle::NAME => Experiment::Idle(params(record)?),
            busy::NAME => Experiment::Busy(params(record)?),
            store::NAME => Experiment::Store(params(record)?),
            http::NAME => Experiment::Http(params(record)?),
            python::NAME => Experiment::Python(params(record)?),
            soak::NAME => Experiment::Soak(params(record)?),
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unknown experiment {other:?} in the run record"),
                ))
            }
        })
    }

    fn measure(&self, lab: &mut Lab) -> io::Result<()> {
        match self {
            Experiment::Wait(p) => wait::measure(lab, p),
            Experiment::Echo(p) => echo::measure(lab, p),
            Experiment::Idle(p) => idle::measure(lab, p),
            Experiment::Busy(p) => busy::measure(lab, p),
            Experiment::Store(p) => store::measure(lab, p),
            Experiment::Http(p) => http::measure(lab, p),
            Experiment::Python(p) => python::measure(lab, p),
            Experiment::Soak(p) => soak::measure(lab, p),
        }
    }

    fn render(&self, report: &mut Report, points: &[Point]) -> io::Result<()> {
        match self {
            Experiment::Wait(p) => wait::render(report, p, points),
            Experiment::Echo(p) => echo::render(report, p, points),
            Experiment::Idle(p) => idle::render(report, p, points),
            Experiment::Busy(p) => busy::render(report, p, points),
            Experiment::Store(p) => store::render(report, p, points),
            Experiment::Http(p) => http::render(report, p, points),
            Experiment::Python(p) => python::render(report, p, points),
            Experiment::Soak(p) => soak::render(report, p, points),
        }
    }
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
fn show(dir: &Path) -> io::Result<()> {
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
        Experiment::from_record(experiment)?.render(report, &mine)?;
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

/// Where rendered tables and charts go: printed, kept for `summary.txt`, charts into a folder;
/// or, for the web front end, only kept ([`Report::in_memory`]).
pub struct Report {
    pub dir: PathBuf,
    text: String,
    /// `Some`: nothing is printed or written; charts are kept here as (name, SVG).
    kept_charts: Option<Vec<(String, String)>>,
}

impl Report {
    /// A report whose charts go into `dir` (created if missing).
    pub fn new(dir: PathBuf) -> Report {
        Report {
            dir,
            text: String::new(),
            kept_charts: None,
        }
    }

    /// A report that prints and writes nothing: its text and charts are kept for the caller.
    pub fn in_memory() -> Report {
        Report {
            dir: PathBuf::new(),
            text: String::new(),
            kept_charts: Some(Vec::new()),
        }
    }

    /// Everything said so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The charts kept by an [`in_memory`](Self::in_memory) report, as (name, SVG).
    pub fn into_charts(self) -> Vec<(String, String)> {
        self.kept_charts.unwrap_or_default()
    }

    /// Prints a line and keeps it for `summary.txt`.
    pub fn say(&mut self, line: &str) {
        if self.kept_charts.is_none() {
            // A closed stdout (`| head`) must not end the run: the line is still kept.
            let _ = writeln!(io::stdout(), "{line}");
        }
        self.text.push_str(line);
        self.text.push('\n');
    }

    /// Writes a chart into the folder as `NAME.svg` and, rendered, `NAME.png`.
    pub fn write_chart(&mut self, name: &str, svg: &str) -> io::Result<()> {
        if let Some(kept) = &mut self.kept_charts {
            kept.push((name.to_owned(), svg.to_owned()));
            return Ok(());
        }
        fs::create_dir_all(&self.dir)?;
        fs::write(self.dir.join(format!("{name}.svg")), svg)?;
        match chart::to_png(svg) {
            Ok(png) => fs::write(self.dir.join(format!("{name}.png")), png),
            Err(e) => {
                self.say(&format!(
                    "({name}.png not written: {e}; the SVG has the same chart)"
                ));
                Ok(())
            }
        }
    }
}

/// A lab run in progress: where results go, the run record, the points so far.
pub struct Lab {
    pub report: Report,
    pub pinning: Pinning,
    pub quick: bool,
    run: Run,
    jsonl: Box<dyn Sink>,
    store: Option<StoreSink>,
    points: Vec<Point>,
}

impl Lab {
    fn new(args: &LabArgs, name: &str, experiments: &[Experiment]) -> io::Result<Lab> {
        let stamp = timestamp();
        let out = args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("bench-results").join(format!("{stamp}-{name}")));
        let pinning = Pinning::detect();
        let testbed = Testbed::detect(pinning.server, pinning.load);
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
            git_commit: option_env!("IOMUX_GIT_COMMIT")
                .unwrap_or("unknown")
                .to_owned(),
            command_line: iomux_store::url::redact_command_line(
                &std::env::args().collect::<Vec<_>>(),
            ),
            testbed,
            quick: args.quick,
            experiments: experiments
                .iter()
                .map(|e| ExperimentParams {
                    experiment: e.name().to_owned(),
                    params: e.params_json(),
                })
                .collect(),
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
        self.jsonl.point(&point)?;
        if let Some(store) = &mut self.store {
            store.point(&point)?;
        }
        self.points.push(point);
        Ok(())
    }

    /// Prints a line and keeps it for `summary.txt` (progress notes that are not results).
    pub fn say(&mut self, line: &str) {
        self.report.say(line);
    }

    /// The output folder.
    pub fn out(&self) -> &Path {
        &self.report.dir
    }

    fn finish(mut self) -> io::Result<PathBuf> {
        self.run.finished = Some(record::now_unix());
        self.jsonl.run(&self.run)?;
        if let Some(store) = &mut self.store {
            store.run(&self.run)?;
            if let Some(place) = store.recorded_in() {
                let line = format!("recorded as run {} in {place}", self.run.id);
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

/// `YYYYMMDD-HHMMSS` in UTC, for folder names and run ids.
fn timestamp() -> String {
    crate::units::Utc::of(record::now_unix()).stamp()
}

/// Which CPUs the server and the load generator run on.
#[derive(Clone, Debug)]
pub struct Pinning {
    pub server: Option<usize>,
    pub load: Option<usize>,
}

impl Pinning {
    fn detect() -> Pinning {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cpus >= 2 {
            Pinning {
                server: Some(0),
                load: Some(1),
            }
        } else {
            Pinning {
                server: None,
                load: None,
            }
        }
    }

    /// Pins the calling thread to the load generator's CPU.
    pub fn pin_load_thread(&self) {
        if let Some(cpu) = self.load {
            let _ = iomux_sys::process::pin_current_thread(&[cpu]);
        }
    }

    /// Spawns `cmd` on the server's CPU: the calling thread moves there for the fork (the child
    /// and all its threads inherit the affinity), then back.
    pub fn spawn_pinned(&self, cmd: &mut Command) -> io::Result<Child> {
        if let Some(cpu) = self.server {
            iomux_sys::process::pin_current_thread(&[cpu])?;
        }
        let child = cmd.spawn();
        self.pin_load_thread();
        child
    }
}

/// The load of a pass that runs a server on its own at one point (callgrind, a trace): closed
/// loop from the first message, every message answered before the server is stopped.
pub(crate) fn pass_load(
    addr: std::net::SocketAddr,
    (conns, size, pipeline): (usize, usize, usize),
    duration: Duration,
) -> crate::load::Config {
    crate::load::Config {
        drain: Duration::from_secs(10),
        ..crate::load::Config::closed_loop(addr, conns, size, pipeline, duration, Duration::ZERO)
    }
}

/// A server to measure: a name and the command that starts it (`--addr` is appended).
#[derive(Clone, Debug)]
pub struct ServerSpec {
    pub name: String,
    /// It waits in `io_uring_enter` (see [`echo::Subject::uses_io_uring`]).
    pub io_uring: bool,
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl ServerSpec {
    pub fn start(&self, lab: &Lab) -> io::Result<ServerProc> {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        ServerProc::start(lab, &self.name, &self.program, &args)
    }
}

/// A server process under measurement; killed on drop.
pub struct ServerProc {
    child: Child,
    stdout: BufReader<ChildStdout>,
    pub addr: SocketAddr,
}

impl ServerProc {
    /// Starts `program args... --addr 127.0.0.1:0` and waits for its `listening on` line.
    pub fn start(lab: &Lab, name: &str, program: &Path, args: &[&str]) -> io::Result<ServerProc> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .args(["--addr", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = lab.pinning.spawn_pinned(&mut cmd).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot start {}: {e}", program.display()))
        })?;
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| io::Error::other(format!("{name} did not start (said {line:?})")))?;
        Ok(ServerProc {
            child,
            stdout,
            addr,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line the server prints (after `listening on`: `stats on ...` with
    /// `--stats-addr`).
    pub fn next_line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        Ok(line)
    }

    /// CPU time used so far by all of the server's threads, with the user/system split.
    pub fn cpu_sample(&self) -> CpuSample {
        CpuSample::of(self.pid())
    }

    /// The descriptors the server holds now (before any client: its own).
    pub fn open_fds(&self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, |d| d.count())
    }

    /// SIGTERM, wait, and return its summary (`iomux serve --summary json` prints one JSON
    /// object; the peers print nothing, which is `None`).
    pub fn stop(mut self) -> Option<serde_json::Value> {
        let _ = iomux_sys::process::kill(self.pid(), libc::SIGTERM);
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut self.stdout, &mut rest);
        let _ = self.child.wait();
        serde_json::from_str(rest.trim()).ok()
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sum of the on-CPU time of every thread of `pid`, from `/proc/PID/task/*/schedstat`.
/// A process's CPU time at one moment: the total from the scheduler (nanoseconds, exact) and
/// the user and system clock ticks (1/100 s) that split it.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuSample {
    pub total: Duration,
    pub user_ticks: u64,
    pub system_ticks: u64,
}

impl CpuSample {
    pub fn of(pid: u32) -> CpuSample {
        let (user_ticks, system_ticks) = fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                // utime and stime: fields 14 and 15, the 12th and 13th after the name.
                let after = &stat[stat.rfind(')')? + 2..];
                let mut fields = after.split_whitespace().skip(11);
                Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
            })
            .unwrap_or((0, 0));
        CpuSample {
            total: process_cpu(pid),
            user_ticks,
            system_ticks,
        }
    }

    /// The CPU time from `earlier` to this sample, split into (user, system): the exact total
    /// divided as the ticks were (a tick is 10 ms, so short windows split roughly).
    pub fn since(&self, earlier: &CpuSample) -> (Duration, Duration) {
        let total = self.total.saturating_sub(earlier.total);
        let user = self.user_ticks.saturating_sub(earlier.user_ticks);
        let system = self.system_ticks.saturating_sub(earlier.system_ticks);
        if user + system == 0 {
            return (total, Duration::ZERO);
        }
        let user_share = user as f64 / (user + system) as f64;
        let user_time = total.mul_f64(user_share);
        (user_time, total - user_time)
    }
}

pub fn process_cpu(pid: u32) -> Duration {
    let mut total = 0u64;
    if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(stat) = fs::read_to_string(task.path().join("schedstat")) {
                total += stat
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    Duration::from_nanos(total)
}

/// Where the `iomux` binary and its sibling peer binaries are.
pub fn sibling_binary(name: &str) -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{} not found beside {}: build the peers with `cargo build --release --workspace`",
                name,
                exe.display()
            ),
        ))
    }
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
}
