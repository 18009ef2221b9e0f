//! What the lab measures, as data: a [`Run`] (when, which build, which command, on which
//! testbed, with which parameters per experiment) and its [`Point`]s (one subject — a model, a
//! backend or a peer — at one set of point parameters, with its metrics). Every experiment
//! emits these through a [`Sink`]; the tables and charts are rendered from them (see
//! `bench show` and `runs show`), so a stored run can be rendered again later. The JSONL file
//! ([`JsonlSink`]) and the results store ([`crate::Store`]) hold the same records.
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// One invocation of `iomux bench`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Run {
    /// Unique across the machines sharing a store: the start time (`YYYYMMDD-HHMMSS`), the
    /// start of the testbed fingerprint and the process id (older runs lack the fingerprint).
    pub id: String,
    /// Seconds since the Unix epoch.
    pub started: f64,
    /// When it finished, in seconds since the Unix epoch; `None` while it runs (or if it was
    /// interrupted).
    pub finished: Option<f64>,
    /// The `iomux` version that ran it (the crate version).
    pub iomux_version: String,
    /// The commit the binary was built from (`unknown` outside a git checkout).
    pub git_commit: String,
    /// The process's arguments, program name first, with any password redacted
    /// ([`redact_command_line`](crate::redact::redact_command_line)).
    pub command_line: Vec<String>,
    /// The machine it ran on.
    pub testbed: Testbed,
    /// `--quick`: every point measured briefly and sizes capped, for checking, not figures.
    pub quick: bool,
    /// Each experiment's parameters, in the order run.
    pub experiments: Vec<ExperimentParams>,
}

/// One experiment's parameters (its `Params`, as JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExperimentParams {
    /// The experiment's name.
    pub experiment: String,
    /// Its parameters, as the experiment serializes them.
    pub params: serde_json::Value,
}

/// A noise band learned for one testbed (`runs compare`'s calibration; table
/// `iomux_calibrations`): how far one metric of one experiment moves between two runs of the
/// same clean commit with the same settings. Learned by `compare::calibration`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The experiment.
    pub experiment: String,
    /// Its measurement settings ([`compare::settings`](crate::compare::settings)).
    pub settings: String,
    /// The metric.
    pub metric: String,
    /// The band, relative: a change B/A beyond 1 ± band (on the log scale) is not this
    /// testbed's noise.
    pub band: f64,
    /// How many same-commit changes it was learned from.
    pub samples: usize,
    /// How many runs they came from.
    pub runs: usize,
    /// The (newest) commit those runs were built from.
    pub commit: String,
    /// When it was learned, in seconds since the Unix epoch: trusted for
    /// [`MAX_AGE`](crate::compare::calibration::MAX_AGE) around a run's start.
    pub learned: f64,
}

impl Calibration {
    /// A short hash of the settings (16 hex digits): the table's key for them.
    pub fn settings_key(&self) -> String {
        format!("{:016x}", fnv1a(self.settings.as_bytes()))
    }
}

/// The machine a run measured: what a comparison between runs must hold equal.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Testbed {
    /// The host name (`/proc/sys/kernel/hostname`).
    pub host: String,
    /// The CPU's model name from `/proc/cpuinfo` (`unknown` if it has none).
    pub cpu_model: String,
    /// How many CPUs the process could run on.
    pub cores: usize,
    /// The kernel release (`/proc/sys/kernel/osrelease`, as `uname -r` prints it).
    pub kernel: String,
    /// The hard `RLIMIT_NOFILE`: how far the open-descriptor limit can be raised (0 if unknown).
    pub nofile_limit: u64,
    /// The CPU the server was pinned to (`None`: not pinned).
    pub server_cpu: Option<usize>,
    /// The CPU the load generator was pinned to (`None`: not pinned).
    pub load_cpu: Option<usize>,
    /// Running under a hypervisor (the CPU's `hypervisor` flag).
    pub virtualized: bool,
}

impl Testbed {
    /// What identifies this testbed across runs and machines: a hash of every field (16 hex
    /// digits). Two runs compare absolutely only when their fingerprints are equal.
    pub fn fingerprint(&self) -> String {
        let canonical = serde_json::to_string(self).expect("a testbed serializes");
        format!("{:016x}", fnv1a(canonical.as_bytes()))
    }

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
    /// The name of the experiment that measured it.
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
    /// A point of `experiment` for `subject`, with no parameters or metrics yet, not a repeat.
    pub fn new(experiment: &str, subject: &str) -> Point {
        Point {
            experiment: experiment.to_owned(),
            subject: subject.to_owned(),
            params: BTreeMap::new(),
            metrics: BTreeMap::new(),
            repeat: None,
        }
    }

    /// Sets a point parameter (replacing one of the same name).
    pub fn param(mut self, name: &str, value: impl Into<serde_json::Value>) -> Point {
        self.params.insert(name.to_owned(), value.into());
        self
    }

    /// Records a metric; `None` records that it could not be had.
    pub fn metric(mut self, name: &str, value: impl Into<Option<f64>>) -> Point {
        self.metrics.insert(name.to_owned(), value.into());
        self
    }

    /// Marks this as repeat `index` (0-based) rather than the median.
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

    /// [`Point::key`] as text, without building the key (what comparisons index points by).
    pub fn key_text(&self) -> String {
        let mut text = String::with_capacity(48);
        write_key(&mut text, &self.experiment, &self.subject, &self.params)
            .expect("writing to a String cannot fail");
        text
    }

    /// Which point this is, whatever the run: experiment, subject and parameters.
    pub fn key(&self) -> PointKey {
        PointKey {
            experiment: self.experiment.clone(),
            subject: self.subject.clone(),
            params: self.params.clone(),
        }
    }
}

/// A point's identity across runs, written `experiment/subject/name=value,name=value` (the
/// parameters in name order; a value that is not a number is a string).
#[derive(Clone, Debug, PartialEq)]
pub struct PointKey {
    /// The experiment's name.
    pub experiment: String,
    /// The model, backend or peer measured.
    pub subject: String,
    /// The point's parameters.
    pub params: BTreeMap<String, serde_json::Value>,
}

impl PointKey {
    /// The parameters as canonical JSON (names sorted): how the store keeps them.
    pub fn params_json(&self) -> String {
        serde_json::to_string(&self.params).expect("parameters serialize")
    }

    /// A short hash of the whole key (16 hex digits), the store's index for history lookups.
    pub fn hash(&self) -> String {
        let text = self.to_string();
        format!("{:016x}", fnv1a(text.as_bytes()))
    }
}

impl fmt::Display for PointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_key(f, &self.experiment, &self.subject, &self.params)
    }
}

/// The one way a point key is written: `experiment/subject/name=value,...`.
fn write_key(
    f: &mut dyn fmt::Write,
    experiment: &str,
    subject: &str,
    params: &BTreeMap<String, serde_json::Value>,
) -> fmt::Result {
    write!(f, "{experiment}/{subject}/")?;
    write_params(f, params)
}

/// A point key's last part: `name=value,...`, in name order.
pub fn write_params(
    f: &mut dyn fmt::Write,
    params: &BTreeMap<String, serde_json::Value>,
) -> fmt::Result {
    for (i, (name, value)) in params.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        match value {
            serde_json::Value::String(s) => write!(f, "{sep}{name}={s}")?,
            serde_json::Value::Number(n) => write!(f, "{sep}{name}={n}")?,
            other => write!(f, "{sep}{name}={other}")?,
        }
    }
    Ok(())
}

impl std::str::FromStr for PointKey {
    type Err = String;

    fn from_str(text: &str) -> Result<PointKey, String> {
        let shape = || {
            format!("{text:?} is not a point: write experiment/subject/name=value,... (e.g. echo/epoll/conns=100,pipeline=1,size=64)")
        };
        let mut parts = text.splitn(3, '/');
        let (Some(experiment), Some(subject)) = (parts.next(), parts.next()) else {
            return Err(shape());
        };
        if experiment.is_empty() || subject.is_empty() {
            return Err(shape());
        }
        let mut params = BTreeMap::new();
        for pair in parts
            .next()
            .unwrap_or("")
            .split(',')
            .filter(|p| !p.is_empty())
        {
            let (name, value) = pair.split_once('=').ok_or_else(shape)?;
            let value = match serde_json::from_str::<serde_json::Value>(value) {
                Ok(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => v,
                _ => serde_json::Value::String(value.to_owned()),
            };
            params.insert(name.to_owned(), value);
        }
        Ok(PointKey {
            experiment: experiment.to_owned(),
            subject: subject.to_owned(),
            params,
        })
    }
}

/// FNV-1a, 64 bits: a stable hash for identifiers (not for security).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One line of `results.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Record {
    /// A run began or finished (`{"run": ...}`).
    Run(Run),
    /// A point of the latest run was measured (`{"point": ...}`).
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
    /// Opens `path` for appending, creating it if missing.
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

/// A run's figures in the form a comparison reads them: each point's key text built once and
/// shared, metric names by index. Reading a large run this way costs two allocations a point,
/// where [`RunRecords`] costs one per parameter and per metric (`runs compare` reads two runs of
/// 10,000 points, and earlier ones for its history rule).
#[derive(Clone, Debug)]
pub struct Figures {
    /// The run.
    pub run: Run,
    /// Metric names; [`FigurePoint::values`] index into this.
    pub names: Vec<Arc<str>>,
    /// The points, in the order measured.
    pub points: Vec<FigurePoint>,
}

/// One point of [`Figures`].
#[derive(Clone, Debug)]
pub struct FigurePoint {
    /// `experiment/subject/params`, as [`PointKey`] writes it.
    pub key: Arc<str>,
    /// The experiment.
    pub experiment: Arc<str>,
    /// The subject.
    pub subject: Arc<str>,
    /// The key's last part, `name=value,...`.
    pub params: Arc<str>,
    /// Which repeat; `None` for the median.
    pub repeat: Option<usize>,
    /// Each figure: an index into [`Figures::names`], and the value (`None`: not had).
    pub values: Vec<(u32, Option<f64>)>,
}

impl Figures {
    /// The figures of records already read.
    pub fn of(records: &RunRecords) -> Figures {
        let mut interned = Interner::default();
        let mut names: Vec<Arc<str>> = Vec::new();
        let mut index: HashMap<String, u32> = HashMap::new();
        let points = records
            .points
            .iter()
            .map(|point| {
                let mut params = String::new();
                write_params(&mut params, &point.params).expect("writing to a String");
                let values = point
                    .metrics
                    .iter()
                    .map(|(name, value)| {
                        let at = *index.entry(name.clone()).or_insert_with(|| {
                            names.push(Arc::from(name.as_str()));
                            (names.len() - 1) as u32
                        });
                        (at, *value)
                    })
                    .collect();
                FigurePoint {
                    key: Arc::from(point.key_text()),
                    experiment: interned.get(&point.experiment),
                    subject: interned.get(&point.subject),
                    params: Arc::from(params),
                    repeat: point.repeat,
                    values,
                }
            })
            .collect();
        Figures {
            run: records.run.clone(),
            names,
            points,
        }
    }
}

/// Shared copies of repeated strings (subjects, experiments, parameter texts).
#[derive(Default)]
pub struct Interner {
    known: crate::fasthash::FastMap<String, Arc<str>>,
}

impl Interner {
    /// The shared copy of `text`.
    pub fn get(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.known.get(text) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(text);
        self.known.insert(text.to_owned(), shared.clone());
        shared
    }
}

/// A run and the points measured in it.
#[derive(Clone, Debug, Serialize)]
pub struct RunRecords {
    /// The run.
    pub run: Run,
    /// Its points, in the order measured.
    pub points: Vec<Point>,
}

/// A `results.jsonl` read back.
#[derive(Debug)]
pub struct Jsonl {
    /// Its runs in the order they began, each with its points. A run record written again
    /// (when the run finishes) replaces the first; a point belongs to the run that began last
    /// before it.
    pub runs: Vec<RunRecords>,
    /// The last line was cut short (the writer was killed mid-line); it was left out.
    pub truncated_tail: bool,
}

/// Reads a `results.jsonl` back. A malformed line is an error naming it, except a cut-short
/// last line, which a killed writer leaves: it is skipped and reported in
/// [`Jsonl::truncated_tail`], so that everything measured before it can still be read.
pub fn read_jsonl(path: &Path) -> io::Result<Jsonl> {
    let file = File::open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display())))?;
    let lines: Vec<String> = BufReader::new(file).lines().collect::<io::Result<_>>()?;
    let mut runs: Vec<RunRecords> = Vec::new();
    let mut current: Option<usize> = None;
    let mut truncated_tail = false;
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = match serde_json::from_str(line) {
            Ok(record) => record,
            Err(e) if i + 1 == lines.len() && e.is_eof() => {
                truncated_tail = true;
                break;
            }
            Err(e) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} line {}: not a lab record: {e}", path.display(), i + 1),
                ))
            }
        };
        match record {
            Record::Run(run) => match runs.iter().position(|r| r.run.id == run.id) {
                Some(known) => runs[known].run = run,
                None => {
                    runs.push(RunRecords {
                        run,
                        points: Vec::new(),
                    });
                    current = Some(runs.len() - 1);
                }
            },
            Record::Point(point) => match current {
                Some(run) => runs[run].points.push(point),
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{} line {}: a point before any run record",
                            path.display(),
                            i + 1
                        ),
                    ))
                }
            },
        }
    }
    Ok(Jsonl {
        runs,
        truncated_tail,
    })
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

    proptest::proptest! {
        /// Every figure reads back from JSON as the very f64 written (serde_json's
        /// `float_roundtrip`): a table rendered again from the records prints the same digits.
        #[test]
        fn figures_round_trip_exactly(bits in proptest::prelude::any::<u64>()) {
            let value = f64::from_bits(bits);
            proptest::prop_assume!(value.is_finite());
            let point = Point::new("wait", "epoll").metric("round_us", value);
            let text = serde_json::to_string(&point).unwrap();
            let back: Point = serde_json::from_str(&text).unwrap();
            proptest::prop_assert_eq!(back.get("round_us").map(f64::to_bits), Some(bits));
        }
    }

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
        let read = read_jsonl(&path).unwrap();
        assert_eq!(read.runs.len(), 1);
        assert_eq!(read.runs[0].run.finished, Some(2.0));
        assert_eq!(read.runs[0].points, vec![point.clone()]);
        assert!(!read.truncated_tail);
        // A writer killed mid-line leaves half a record: everything before it still reads.
        let mut file = File::options().append(true).open(&path).unwrap();
        write!(file, "{{\"point\":{{\"experiment\":\"ec").unwrap();
        let read = read_jsonl(&path).unwrap();
        assert!(read.truncated_tail);
        assert_eq!(read.runs[0].points, vec![point]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn point_keys_print_and_parse_back() {
        let point = Point::new("echo", "epoll")
            .param("size", 64)
            .param("conns", 100)
            .param("pass", "strace");
        let key = point.key();
        assert_eq!(key.to_string(), "echo/epoll/conns=100,pass=strace,size=64");
        assert_eq!(key.to_string().parse::<PointKey>().unwrap(), key);
        assert_eq!(key.hash().len(), 16);
        assert!("echo".parse::<PointKey>().is_err());
        assert!("echo/epoll/conns".parse::<PointKey>().is_err());
    }

    #[test]
    fn a_testbed_fingerprint_is_stable_and_sees_every_field() {
        let a = Testbed::detect(Some(0), Some(1));
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
        let mut b = a.clone();
        b.kernel.push('+');
        assert_ne!(a.fingerprint(), b.fingerprint());
    }
}
