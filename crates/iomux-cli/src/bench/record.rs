//! What the lab measures, as data: a [`Run`] (when, which build, which command, on which
//! testbed, with which parameters per experiment) and its [`Point`]s (one subject — a model, a
//! backend or a peer — at one set of point parameters, with its metrics). Every experiment
//! emits these through a [`Sink`]; the tables and charts are rendered from them (see
//! `bench show`), so a stored run can be rendered again later and a store can keep them.
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// One invocation of `iomux bench`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Run {
    /// Unique within a machine: the start time, `YYYYMMDD-HHMMSS`, and the process id.
    pub id: String,
    /// Seconds since the Unix epoch.
    pub started: f64,
    pub finished: Option<f64>,
    pub iomux_version: String,
    /// The commit the binary was built from (`unknown` outside a git checkout).
    pub git_commit: String,
    pub command_line: Vec<String>,
    pub testbed: Testbed,
    /// `--quick`: every point measured briefly and sizes capped, for checking, not figures.
    pub quick: bool,
    /// Each experiment's parameters, in the order run.
    pub experiments: Vec<ExperimentParams>,
}

/// One experiment's parameters (its `Params`, as JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExperimentParams {
    pub experiment: String,
    pub params: serde_json::Value,
}

/// The machine a run measured: what a comparison between runs must hold equal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Testbed {
    pub host: String,
    pub cpu_model: String,
    pub cores: usize,
    pub kernel: String,
    pub nofile_limit: u64,
    /// The CPUs server and load generator were pinned to (`None`: not pinned).
    pub server_cpu: Option<usize>,
    pub load_cpu: Option<usize>,
    /// Running under a hypervisor (the CPU's `hypervisor` flag).
    pub virtualized: bool,
}

impl Testbed {
    /// This machine, read from `/proc`.
    pub fn detect(server_cpu: Option<usize>, load_cpu: Option<usize>) -> Testbed {
        let read = |path: &str| fs::read_to_string(path).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let field = |name: &str| {
            cpuinfo
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        };
        Testbed {
            host: read("/proc/sys/kernel/hostname").trim().to_owned(),
            cpu_model: field("model name").unwrap_or_else(|| "unknown".into()),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            nofile_limit: iomux_sys::process::nofile_limit().map_or(0, |l| l.1),
            server_cpu,
            load_cpu,
            virtualized: field("flags").is_some_and(|f| f.split(' ').any(|x| x == "hypervisor")),
        }
    }
}

/// One subject measured at one point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub experiment: String,
    /// What was measured: a model, a backend or a peer, by its name.
    pub subject: String,
    /// Where: the point's parameters (`conns`, `size`, `fds`, ...).
    pub params: BTreeMap<String, serde_json::Value>,
    /// The figures; `None` where a figure could not be had (a tool missing, a wall hit).
    pub metrics: BTreeMap<String, Option<f64>>,
    /// Which repeat this is (0-based); `None` for the median of all repeats.
    pub repeat: Option<usize>,
}

impl Point {
    pub fn new(experiment: &str, subject: &str) -> Point {
        Point {
            experiment: experiment.to_owned(),
            subject: subject.to_owned(),
            params: BTreeMap::new(),
            metrics: BTreeMap::new(),
            repeat: None,
        }
    }

    pub fn param(mut self, name: &str, value: impl Into<serde_json::Value>) -> Point {
        self.params.insert(name.to_owned(), value.into());
        self
    }

    pub fn metric(mut self, name: &str, value: impl Into<Option<f64>>) -> Point {
        self.metrics.insert(name.to_owned(), value.into());
        self
    }

    pub fn repeat(mut self, index: usize) -> Point {
        self.repeat = Some(index);
        self
    }

    /// A metric, if recorded and known.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.metrics.get(name).copied().flatten()
    }

    /// A point parameter as a number.
    pub fn at(&self, name: &str) -> Option<u64> {
        self.params.get(name).and_then(|v| v.as_u64())
    }
}

/// One line of `results.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Record {
    Run(Run),
    Point(Point),
}

/// Where the lab's records go. The JSONL file under `--out` is the first engine; a results
/// store is another.
pub trait Sink {
    /// The run began (or its record changed: written again when it finishes).
    fn run(&mut self, run: &Run) -> io::Result<()>;
    /// A point was measured: written at once, so an interrupted run keeps what it measured.
    fn point(&mut self, point: &Point) -> io::Result<()>;
}

/// `results.jsonl`: one [`Record`] per line, appended.
pub struct JsonlSink {
    file: File,
}

impl JsonlSink {
    pub fn create(path: &Path) -> io::Result<JsonlSink> {
        let file = File::options().create(true).append(true).open(path)?;
        Ok(JsonlSink { file })
    }

    fn write(&mut self, record: &Record) -> io::Result<()> {
        let line = serde_json::to_string(record).map_err(io::Error::other)?;
        writeln!(self.file, "{line}")
    }
}

impl Sink for JsonlSink {
    fn run(&mut self, run: &Run) -> io::Result<()> {
        self.write(&Record::Run(run.clone()))
    }

    fn point(&mut self, point: &Point) -> io::Result<()> {
        self.write(&Record::Point(point.clone()))
    }
}

/// Reads a `results.jsonl` back: its run records (the last of each id wins, since a run is
/// written again when it finishes) and its points, in order.
pub fn read_jsonl(path: &Path) -> io::Result<(Vec<Run>, Vec<Point>)> {
    let file = File::open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display())))?;
    let mut runs: Vec<Run> = Vec::new();
    let mut points = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(&line).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} line {}: not a lab record: {e}", path.display(), i + 1),
            )
        })?;
        match record {
            Record::Run(run) => match runs.iter_mut().find(|r| r.id == run.id) {
                Some(old) => *old = run,
                None => runs.push(run),
            },
            Record::Point(point) => points.push(point),
        }
    }
    Ok((runs, points))
}

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_jsonl() {
        let dir = std::env::temp_dir().join(format!("iomux-record-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("results.jsonl");
        let _ = fs::remove_file(&path);
        let mut run = Run {
            id: "r1".into(),
            started: 1.0,
            finished: None,
            iomux_version: "0".into(),
            git_commit: "abc".into(),
            command_line: vec!["iomux".into()],
            testbed: Testbed::detect(None, None),
            quick: true,
            experiments: vec![],
        };
        let point = Point::new("echo", "epoll")
            .param("conns", 100)
            .metric("msgs_per_s", 5.0)
            .metric("syscalls_per_msg", None)
            .repeat(2);
        let mut sink = JsonlSink::create(&path).unwrap();
        sink.run(&run).unwrap();
        sink.point(&point).unwrap();
        run.finished = Some(2.0);
        sink.run(&run).unwrap();
        let (runs, points) = read_jsonl(&path).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].finished, Some(2.0));
        assert_eq!(points, vec![point]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
