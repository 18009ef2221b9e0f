//! `iomux bench echo`: every `iomux serve` model and the reference peers under the same load.
//!
//! Peers: an echo server on tokio's current-thread runtime, one on mio, and the floor, a bare
//! level-triggered epoll loop (`crates/iomux-peers`). For each point of the matrix (connections
//! x message size x pipeline depth) it reports messages/s, the server's CPU time per message
//! and its ratio to tokio's and to the floor's, and p50/p99 latency. With strace present it
//! also counts the server's syscalls per message, at one point or (`--syscalls every`) at each,
//! in passes of their own (strace slows the server, so they are kept out of the timings).
use std::fmt;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use iomux::BackendKind;
use serde::{Deserialize, Serialize};

use super::chart::bar_chart;
use super::record::Point;
use super::CpuSample;
use super::{median, quick, sibling_binary, table, Lab, Report, ServerProc, ServerSpec};
use crate::load::{self, WindowEdge};
use crate::serve::Model;
use crate::units::parse_seconds;

pub const NAME: &str = "echo";
/// The subject the others are compared with across testbeds: tokio, the anchor peer.
pub const REFERENCE: &str = "tokio";

/// The reference servers `bench echo` compares the models with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// tokio's current-thread runtime, a task per connection.
    Tokio,
    /// mio, one event loop.
    Mio,
    /// The floor: a bare level-triggered epoll loop with no abstraction.
    Floor,
    /// monoio, a published io_uring runtime: the completion model's peer.
    Monoio,
}

impl Peer {
    pub const ALL: [Peer; 4] = [Peer::Tokio, Peer::Mio, Peer::Floor, Peer::Monoio];

    pub fn name(self) -> &'static str {
        match self {
            Peer::Tokio => "tokio",
            Peer::Mio => "mio",
            Peer::Floor => "floor",
            Peer::Monoio => "monoio",
        }
    }

    fn binary(self) -> &'static str {
        match self {
            Peer::Tokio => "peer-tokio",
            Peer::Mio => "peer-mio",
            Peer::Floor => "peer-epoll",
            Peer::Monoio => "peer-monoio",
        }
    }
}

/// A server `bench echo` measures: an `iomux serve` model or a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    Model(Model),
    Peer(Peer),
}

impl Subject {
    /// Every model, then every peer.
    pub fn all() -> &'static [Subject] {
        static ALL: OnceLock<Vec<Subject>> = OnceLock::new();
        ALL.get_or_init(|| {
            let models = Model::all().iter().copied().map(Subject::Model);
            models.chain(Peer::ALL.map(Subject::Peer)).collect()
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Subject::Model(m) => m.name(),
            Subject::Peer(p) => p.name(),
        }
    }

    /// Whether the server waits in `io_uring_enter`: valgrind (3.19 and older) cannot run
    /// those, since a thread blocked there keeps valgrind's lock and the others never run.
    pub fn uses_io_uring(self) -> bool {
        match self {
            Subject::Model(Model::Uring) => true,
            Subject::Model(Model::Readiness(kind)) => {
                matches!(kind, BackendKind::IoUring | BackendKind::IoUringEdge)
            }
            Subject::Model(_) => false,
            Subject::Peer(peer) => peer == Peer::Monoio,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Subject {
    type Err = String;
    fn from_str(name: &str) -> Result<Subject, String> {
        Subject::all()
            .iter()
            .copied()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                let names: Vec<_> = Subject::all().iter().map(|s| s.name()).collect();
                format!(
                    "unknown server {name:?}: name a serve model or a peer ({})",
                    names.join(", ")
                )
            })
    }
}

/// (The struct and its `start` live with the lab, in `bench/mod.rs`: every experiment starts
/// servers; which commands run which subjects is this experiment's knowledge.)
impl ServerSpec {
    /// The command that runs `subject` as an echo server.
    pub fn new(subject: Subject) -> io::Result<ServerSpec> {
        match subject {
            Subject::Model(model) => Ok(ServerSpec {
                name: model.name().to_owned(),
                io_uring: subject.uses_io_uring(),
                program: std::env::current_exe()?,
                args: [
                    "serve",
                    "--model",
                    model.name(),
                    "--proto",
                    "echo",
                    "--summary",
                    "json",
                ]
                .map(String::from)
                .to_vec(),
            }),
            Subject::Peer(peer) => Ok(ServerSpec {
                name: peer.name().to_owned(),
                io_uring: subject.uses_io_uring(),
                program: sibling_binary(peer.binary())?,
                args: Vec::new(),
            }),
        }
    }
}

/// `iomux bench echo` parameters; their defaults are the flags' defaults.
#[derive(clap::Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Servers: serve models (`iomux serve --list-models`) and the peers tokio, mio, floor and monoio
    /// (default: every model, then every peer).
    #[arg(long, value_delimiter = ',')]
    #[serde(with = "crate::units::names")]
    pub servers: Vec<Subject>,
    /// Connection counts.
    #[arg(long, value_delimiter = ',', default_value = "1,100,1000")]
    pub conns: Vec<usize>,
    /// Message sizes in bytes.
    #[arg(long, value_delimiter = ',', default_value = "64,4096,16384")]
    pub sizes: Vec<usize>,
    /// Pipeline depths.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pub pipelines: Vec<usize>,
    /// Measured seconds per point.
    #[arg(long, value_parser = parse_seconds, default_value = "0.3", value_name = "SECS")]
    #[serde(with = "crate::units::secs")]
    pub duration: Duration,
    /// Warm-up seconds per point.
    #[arg(long, value_parser = parse_seconds, default_value = "0.1", value_name = "SECS")]
    #[serde(with = "crate::units::secs")]
    pub warmup: Duration,
    /// Runs per point (the median is reported; every run is recorded).
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Where to count syscalls per message under strace: off, at one probe point, or at every point.
    #[arg(long, value_enum, default_value = "probe")]
    pub syscalls: SyscallCount,
    /// Also count each server's user-space instructions per message under callgrind (slow).
    #[arg(long)]
    pub callgrind: bool,
    /// Also record a trace of the probe point (`iomux serve --trace`) for each iomux model that
    /// waits on a selector: trace-SERVER-POINT.json in the output folder, added up in a table.
    #[arg(long)]
    #[serde(default)]
    pub trace_point: bool,
}

impl Default for Params {
    fn default() -> Self {
        super::defaults()
    }
}

impl Params {
    fn subjects(&self) -> Vec<Subject> {
        if self.servers.is_empty() {
            Subject::all().to_vec()
        } else {
            self.servers.clone()
        }
    }

    /// The matrix of (connections, size, pipeline), in table order.
    fn matrix(&self) -> Vec<(usize, usize, usize)> {
        self.conns
            .iter()
            .flat_map(|&c| {
                self.sizes
                    .iter()
                    .flat_map(move |&s| self.pipelines.iter().map(move |&d| (c, s, d)))
            })
            .collect()
    }

    /// What a `--quick` run measures instead: the same points with few connections, briefly,
    /// without the counting passes.
    fn quick(&self) -> Params {
        Params {
            conns: self
                .conns
                .iter()
                .map(|&c| c.min(quick::MAX_CONNS))
                .collect(),
            duration: quick::DURATION,
            warmup: quick::WARMUP,
            repeat: 1,
            syscalls: SyscallCount::Off,
            callgrind: false,
            trace_point: false,
            ..self.clone()
        }
    }
}

/// Where `bench echo` counts syscalls per message (under strace, in passes of their own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyscallCount {
    /// Not at all.
    Off,
    /// At one point (100 connections, 64 B, pipeline 1), in a table of its own.
    Probe,
    /// At every point, as a column of each point's table (about 1 s per server and point).
    Every,
}

/// One measured point of one server (medians over the repeats).
#[derive(Clone, Debug, Default)]
pub struct Measured {
    pub msgs_per_s: f64,
    pub cpu_us_per_msg: f64,
    pub user_us_per_msg: f64,
    pub system_us_per_msg: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub load_cpu_us_per_msg: f64,
    pub errors: u64,
    pub mismatches: u64,
}

impl Measured {
    /// As a point's metrics.
    pub fn into_point(self, point: Point) -> Point {
        point
            .metric("msgs_per_s", self.msgs_per_s)
            .metric("server_cpu_us_per_msg", self.cpu_us_per_msg)
            .metric("server_user_us_per_msg", self.user_us_per_msg)
            .metric("server_system_us_per_msg", self.system_us_per_msg)
            .metric("p50_us", self.p50_us)
            .metric("p99_us", self.p99_us)
            .metric("load_cpu_us_per_msg", self.load_cpu_us_per_msg)
            .metric("errors", self.errors as f64)
            .metric("mismatches", self.mismatches as f64)
    }
}

/// Runs `config` against `server` `repeat` times and returns the medians.
pub fn measure_server(
    server: &ServerProc,
    config: &load::Config,
    repeat: usize,
) -> io::Result<Measured> {
    let mut runs = Vec::new();
    for _ in 0..repeat.max(1) {
        let progress = Arc::new(AtomicU64::new(0));
        let mut cpu = [CpuSample::default(); 2];
        let report = load::run_observed(config, &progress, &mut |edge| {
            cpu[usize::from(edge == WindowEdge::End)] = server.cpu_sample();
        })?;
        let messages = report.messages.max(1) as f64;
        let (user, system) = cpu[1].since(&cpu[0]);
        let per_msg = |d: Duration| d.as_secs_f64() * 1e6 / messages;
        runs.push(Measured {
            msgs_per_s: report.msgs_per_s,
            cpu_us_per_msg: per_msg(user + system),
            user_us_per_msg: per_msg(user),
            system_us_per_msg: per_msg(system),
            p50_us: report.p50_us,
            p99_us: report.p99_us,
            load_cpu_us_per_msg: report.load_cpu_s * 1e6
                / (report.msgs_per_s * (config.duration + config.warmup).as_secs_f64()).max(1.0),
            errors: report.errors + report.unanswered,
            mismatches: report.mismatches,
        });
    }
    Ok(merge(&runs))
}

/// Medians of the measurements; errors and mismatches are summed.
pub(crate) fn merge(runs: &[Measured]) -> Measured {
    let pick = |f: fn(&Measured) -> f64| median(runs.iter().map(f).collect());
    Measured {
        msgs_per_s: pick(|m| m.msgs_per_s),
        cpu_us_per_msg: pick(|m| m.cpu_us_per_msg),
        user_us_per_msg: pick(|m| m.user_us_per_msg),
        system_us_per_msg: pick(|m| m.system_us_per_msg),
        p50_us: pick(|m| m.p50_us),
        p99_us: pick(|m| m.p99_us),
        load_cpu_us_per_msg: pick(|m| m.load_cpu_us_per_msg),
        errors: runs.iter().map(|m| m.errors).sum(),
        mismatches: runs.iter().map(|m| m.mismatches).sum(),
    }
}

/// Measures every server at every point, in a rotating order, and records the points.
pub fn measure(lab: &mut Lab, declared: &Params) -> io::Result<()> {
    let p = &if lab.quick {
        declared.quick()
    } else {
        declared.clone()
    };
    let budget = super::fd_budget()?;
    let points = p.matrix();
    if let Some(&(c, _, _)) = points.iter().find(|(c, _, _)| *c as u64 + 64 > budget) {
        return Err(io::Error::other(format!("{c} connections need more descriptors than RLIMIT_NOFILE ({budget}) allows; lower --conns")));
    }
    let specs = p
        .subjects()
        .into_iter()
        .map(ServerSpec::new)
        .collect::<io::Result<Vec<_>>>()?;
    // All servers run at once (idle ones cost nothing), so each point can visit them in turn,
    // a different order every repeat: drift on a noisy machine then spreads over all servers
    // instead of landing on whichever happened to run during it.
    let servers = specs
        .iter()
        .map(|spec| spec.start(lab))
        .collect::<io::Result<Vec<_>>>()?;
    let record = |name: &str, (conns, size, pipeline): (usize, usize, usize)| {
        Point::new(NAME, name)
            .param("conns", conns)
            .param("size", size)
            .param("pipeline", pipeline)
    };
    for &point in &points {
        let (conns, size, pipeline) = point;
        let mut runs: Vec<Vec<Measured>> = vec![Vec::new(); servers.len()];
        for rep in 0..p.repeat.max(1) {
            for k in 0..servers.len() {
                let si = (k + rep) % servers.len();
                let config = load::Config::closed_loop(
                    servers[si].addr,
                    conns,
                    size,
                    pipeline,
                    p.duration,
                    p.warmup,
                );
                runs[si].push(measure_server(&servers[si], &config, 1)?);
            }
        }
        for (si, spec) in specs.iter().enumerate() {
            if p.repeat > 1 {
                for (rep, m) in runs[si].iter().enumerate() {
                    lab.point(m.clone().into_point(record(&spec.name, point).repeat(rep)))?;
                }
            }
            lab.point(merge(&runs[si]).into_point(record(&spec.name, point)))?;
        }
    }
    for server in servers {
        drop(server.stop());
    }
    if p.syscalls == SyscallCount::Every && tool_available(lab, Counter::Syscalls) {
        for &point in &points {
            count_at(lab, &specs, Counter::Syscalls, point, p.duration)?;
        }
    }
    if p.syscalls == SyscallCount::Probe && tool_available(lab, Counter::Syscalls) {
        count_at(lab, &specs, Counter::Syscalls, probe_point(p), p.duration)?;
    }
    if p.callgrind && tool_available(lab, Counter::Instructions) {
        count_at(
            lab,
            &specs,
            Counter::Instructions,
            probe_point(p),
            p.duration,
        )?;
    }
    if p.trace_point {
        let traceable: Vec<ServerSpec> = p
            .subjects()
            .into_iter()
            .zip(&specs)
            .filter(|(subject, _)| matches!(subject, Subject::Model(m) if m.traces()))
            .map(|(_, spec)| spec.clone())
            .collect();
        super::trace_point::measure(lab, NAME, &traceable, probe_point(p), p.duration)?;
    }
    Ok(())
}

/// The tables (one per point, the ratios to tokio over all points, the counting passes) and
/// the chart, from the recorded points.
pub fn render(report: &mut Report, declared: &Params, points: &[Point]) -> io::Result<()> {
    let subjects = declared.subjects();
    let names: Vec<&str> = subjects.iter().map(|s| s.name()).collect();
    // The matrix as measured (a --quick run caps the connections).
    let mut matrix: Vec<(usize, usize, usize)> = Vec::new();
    for pt in points.iter().filter(|pt| !pt.params.contains_key("pass")) {
        let key = (
            pt.at("conns").unwrap_or(0) as usize,
            pt.at("size").unwrap_or(0) as usize,
            pt.at("pipeline").unwrap_or(0) as usize,
        );
        if !matrix.contains(&key) {
            matrix.push(key);
        }
    }
    report.say(&format!(
        "echo: {} servers; conns {:?} x size {:?} x pipeline {:?}; {:.1} s measured after {:.1} s warm-up, median of {}",
        names.len(),
        declared.conns,
        declared.sizes,
        declared.pipelines,
        declared.duration.as_secs_f64(),
        declared.warmup.as_secs_f64(),
        declared.repeat
    ));
    let at = |name: &str, (c, s, d): (usize, usize, usize), pass: Option<&str>| {
        points.iter().find(|pt| {
            pt.subject == name
                && pt.repeat.is_none()
                && pt.at("conns") == Some(c as u64)
                && pt.at("size") == Some(s as u64)
                && pt.at("pipeline") == Some(d as u64)
                && pt.params.get("pass").and_then(|v| v.as_str()) == pass
        })
    };
    let cpu =
        |name: &str, point| at(name, point, None).and_then(|pt| pt.get("server_cpu_us_per_msg"));
    let every = declared.syscalls == SyscallCount::Every;
    let fmt = super::cell;
    for &point in &matrix {
        let (conns, size, pipeline) = point;
        let rows: Vec<Vec<String>> = names
            .iter()
            .filter_map(|&name| {
                let pt = at(name, point, None)?;
                let mine = pt.get("server_cpu_us_per_msg");
                let ratio = |to: &str| match (mine, cpu(to, point)) {
                    (Some(a), Some(b)) if names.contains(&to) => format!("{:.2}", a / b),
                    _ => "-".into(),
                };
                let (errors, mismatches) = (
                    pt.get("errors").unwrap_or(0.0),
                    pt.get("mismatches").unwrap_or(0.0),
                );
                let mut row = vec![
                    name.to_owned(),
                    fmt(pt.get("msgs_per_s"), 0),
                    fmt(mine, 2),
                    format!(
                        "{}/{}",
                        fmt(pt.get("server_user_us_per_msg"), 2),
                        fmt(pt.get("server_system_us_per_msg"), 2)
                    ),
                    ratio(Peer::Tokio.name()),
                    ratio(Peer::Floor.name()),
                    fmt(pt.get("p50_us"), 0),
                    fmt(pt.get("p99_us"), 0),
                    fmt(pt.get("load_cpu_us_per_msg"), 2),
                    if errors + mismatches > 0.0 {
                        format!("{errors}/{mismatches}")
                    } else {
                        "0".into()
                    },
                ];
                if every {
                    row.push(fmt(
                        at(name, point, Some(Counter::Syscalls.pass()))
                            .and_then(|pt| pt.get("per_msg")),
                        2,
                    ));
                }
                Some(row)
            })
            .collect();
        report.say(&format!("\n{conns} conns, {size} B, pipeline {pipeline}"));
        let mut headers = vec![
            "server",
            "msg/s",
            "CPU us/msg",
            "usr/sys us",
            "x tokio",
            "x floor",
            "p50 us",
            "p99 us",
            "load us/msg",
            "err/mism",
        ];
        if every {
            headers.push("syscalls/msg");
        }
        report.say(&table(&headers, &rows));
    }
    if names.contains(&Peer::Tokio.name()) && !matrix.is_empty() {
        let rows: Vec<Vec<String>> = names
            .iter()
            .map(|&name| {
                let ratios: Vec<f64> = matrix
                    .iter()
                    .filter_map(|&pt| Some(cpu(name, pt)? / cpu(Peer::Tokio.name(), pt)?))
                    .collect();
                let geomean =
                    (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
                let worst = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                vec![
                    name.to_owned(),
                    format!("{geomean:.2}"),
                    format!("{worst:.2}"),
                ]
            })
            .collect();
        report.say("\nserver CPU per message relative to tokio, over all points");
        report.say(&table(&["server", "geomean", "worst"], &rows));
    }
    let groups: Vec<String> = matrix
        .iter()
        .map(|(c, s, d)| format!("{c}c {s}B p{d}"))
        .collect();
    let values: Vec<Vec<f64>> = names
        .iter()
        .map(|&name| {
            matrix
                .iter()
                .map(|&pt| cpu(name, pt).unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    report.write_chart(
        "echo",
        &bar_chart(
            "Server CPU time per message (lower is better)",
            "microseconds of server CPU per message",
            &groups,
            &names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            &values,
        ),
    )?;
    for counter in [Counter::Syscalls, Counter::Instructions] {
        if counter == Counter::Syscalls && every {
            continue; // a column of each table already
        }
        let passes: Vec<&Point> = points
            .iter()
            .filter(|pt| pt.params.get("pass").and_then(|v| v.as_str()) == Some(counter.pass()))
            .collect();
        let Some(first) = passes.first() else {
            continue;
        };
        let per_msg = |name: &str| {
            passes
                .iter()
                .find(|pt| pt.subject == name)
                .and_then(|pt| pt.get("per_msg"))
        };
        let tokio = per_msg(Peer::Tokio.name());
        let rows: Vec<Vec<String>> = passes
            .iter()
            .map(|pt| {
                let each = pt.get("per_msg");
                if let Some(why) = pt.params.get("skipped").and_then(|v| v.as_str()) {
                    return vec![
                        pt.subject.clone(),
                        format!("skipped: {why}"),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                    ];
                }
                vec![
                    pt.subject.clone(),
                    fmt(pt.get("total"), 0),
                    fmt(pt.get("messages"), 0),
                    fmt(each, 2),
                    match (each, tokio) {
                        (Some(e), Some(t)) => format!("{:.2}", e / t),
                        _ => "-".into(),
                    },
                ]
            })
            .collect();
        report.say(&format!(
            "\n{} per message ({} conns, {} B, pipeline {}; each tool report is in the output folder)",
            counter.noun(),
            first.at("conns").unwrap_or(0),
            first.at("size").unwrap_or(0),
            first.at("pipeline").unwrap_or(0),
        ));
        report.say(&table(
            &["server", "total", "messages", "per message", "x tokio"],
            &rows,
        ));
    }
    super::trace_point::render(report, points);
    Ok(())
}

/// The point the strace and callgrind passes measure: 100 connections (or the nearest asked
/// for), 64-byte messages, pipeline 1.
fn probe_point(p: &Params) -> (usize, usize, usize) {
    (
        p.conns
            .iter()
            .copied()
            .find(|&c| c >= 100)
            .unwrap_or(p.conns[0]),
        64,
        1,
    )
}

/// What a counting pass counts, per message, for each server.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Counter {
    /// Syscalls, under `strace -f -c` attached to the running server. strace slows the server,
    /// which is why this is a pass of its own, outside the timings.
    Syscalls,
    /// User-space instructions, under `valgrind --tool=callgrind`: deterministic, blind to the
    /// kernel's share and to the machine's noise, so it shows what each server's own code costs.
    Instructions,
}

impl Counter {
    fn noun(self) -> &'static str {
        match self {
            Counter::Syscalls => "syscalls (strace -f -c)",
            Counter::Instructions => {
                "user-space instructions (callgrind; a long run less a short one, so start-up and connecting cancel out)"
            }
        }
    }

    /// The `pass` parameter of its points.
    fn pass(self) -> &'static str {
        match self {
            Counter::Syscalls => "strace",
            Counter::Instructions => "callgrind",
        }
    }

    fn tool(self) -> &'static str {
        match self {
            Counter::Syscalls => "strace",
            Counter::Instructions => "valgrind",
        }
    }

    /// The tool's report for one server at one point (`tag` names the point).
    fn file(self, lab: &Lab, server: &str, tag: &str) -> PathBuf {
        match self {
            Counter::Syscalls => lab.out().join(format!("strace-{server}-{tag}.txt")),
            Counter::Instructions => lab.out().join(format!("callgrind-{server}-{tag}.out")),
        }
    }

    /// The total the tool wrote: strace's `total` line (calls column), callgrind's `summary:`.
    fn total(self, text: &str) -> Option<u64> {
        match self {
            Counter::Syscalls => strace_total(text),
            Counter::Instructions => {
                let line = text
                    .lines()
                    .find(|l| l.starts_with("summary:") || l.starts_with("totals:"))?;
                line.split_whitespace().nth(1)?.parse().ok()
            }
        }
    }
}

fn tool_available(lab: &mut Lab, counter: Counter) -> bool {
    let ok = Command::new(counter.tool())
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        lab.say(&format!(
            "\n{} per message: skipped ({} is not installed)",
            counter.noun(),
            counter.tool()
        ));
    }
    ok
}

/// Runs each server at one point under the counter's tool; returns (total, messages) per server.
///
/// Syscalls are counted inside the load's measured window only: strace attaches at its start,
/// the message count is read once strace is attached, and strace detaches at its end, so the
/// setup and teardown of connections (accept4, setsockopt, epoll_ctl, close) stay out of it.
/// Instructions are counted over callgrind's whole run, twice: with a long load and with a short
/// one. The difference divided by the difference in messages is what a message costs; start-up,
/// connecting and shutting down are in both runs and cancel out (counted whole, they favoured
/// the servers that answer more messages under callgrind in the same time).
fn count_at(
    lab: &mut Lab,
    specs: &[ServerSpec],
    counter: Counter,
    point: (usize, usize, usize),
    duration: Duration,
) -> io::Result<()> {
    let (conns, size, pipeline) = point;
    // strace needs a moment to attach; the run is lengthened by it.
    const ATTACH: Duration = Duration::from_millis(100);
    let tag = format!("{conns}c-{size}B-p{pipeline}");
    // The point a pass records for one server.
    let pass_point = |name: &str| {
        Point::new(NAME, name)
            .param("conns", conns)
            .param("size", size)
            .param("pipeline", pipeline)
            .param("pass", counter.pass())
    };
    for spec in specs {
        if counter == Counter::Instructions && spec.io_uring {
            lab.point(pass_point(&spec.name).param(
                "skipped",
                "valgrind cannot run a server that blocks in io_uring_enter",
            ))?;
            continue;
        }
        let file = counter.file(lab, &spec.name, &tag);
        let progress = Arc::new(AtomicU64::new(0));
        let messages = match counter {
            Counter::Syscalls => {
                let server = spec.start(lab)?;
                // The window's edges cut through up to conns x pipeline messages in flight, so it must
                // hold many more than that: strace slows the server, and with 1,000 connections a
                // short window would be a third edge. 3 ms per message in flight, at most 5 s.
                let edge = Duration::from_millis((3 * conns * pipeline).min(5_000) as u64);
                let config = load::Config {
                    drain: Duration::from_secs(10),
                    ..load::Config::closed_loop(
                        server.addr,
                        conns,
                        size,
                        pipeline,
                        duration.max(ATTACH) + ATTACH + edge,
                        Duration::from_millis(200),
                    )
                };
                let mut strace: Option<Child> = None;
                let mut window = [0u64; 2];
                let mut failure = None;
                load::run_observed(&config, &progress, &mut |edge| match edge {
                    WindowEdge::Start => match attach_strace(server.pid(), &file) {
                        Ok(child) => {
                            // Attached (strace said so): count messages from here.
                            window[0] = progress.load(Ordering::Relaxed);
                            strace = Some(child);
                        }
                        Err(e) => failure = Some(e),
                    },
                    WindowEdge::End => {
                        window[1] = progress.load(Ordering::Relaxed);
                        if let Some(child) = strace.as_mut() {
                            let _ = iomux_sys::process::kill(child.id(), libc::SIGINT);
                            let _ = child.wait();
                        }
                    }
                })?;
                if let Some(e) = failure {
                    return Err(e);
                }
                drop(server.stop());
                window[1] - window[0]
            }
            Counter::Instructions => {
                let short_file = file.with_extension("short.out");
                let short = run_under_callgrind(lab, spec, &short_file, point, SHORT_LOAD)?;
                let long = run_under_callgrind(lab, spec, &file, point, LONG_LOAD)?;
                let (Some(short_total), Some(long_total)) = (short.0, long.0) else {
                    lab.point(pass_point(&spec.name).metric("per_msg", None))?;
                    continue;
                };
                // Both counts are exact; a difference that is not positive means the long run
                // answered no more messages than the short one, which says nothing per message.
                let total = long_total.saturating_sub(short_total);
                let messages = long.1.saturating_sub(short.1);
                lab.point(
                    pass_point(&spec.name)
                        .metric("total", total as f64)
                        .metric("messages", messages as f64)
                        .metric(
                            "per_msg",
                            (total > 0 && messages > 0).then(|| total as f64 / messages as f64),
                        )
                        .metric("base_total", short_total as f64)
                        .metric("base_messages", short.1 as f64),
                )?;
                continue;
            }
        };
        let total = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| counter.total(&t));
        let messages = messages.max(1);
        lab.point(
            pass_point(&spec.name)
                .metric("total", total.map(|t| t as f64))
                .metric("messages", messages as f64)
                .metric("per_msg", total.map(|t| t as f64 / messages as f64)),
        )?;
    }
    Ok(())
}

/// How long the short and the long callgrind runs load the server (see [`count_at`]).
const SHORT_LOAD: Duration = Duration::from_millis(500);
const LONG_LOAD: Duration = Duration::from_secs(2);

/// Starts a server under callgrind, loads it for `load`, stops it; returns callgrind's whole
/// count (`None` if it wrote none) and the messages answered.
fn run_under_callgrind(
    lab: &Lab,
    spec: &ServerSpec,
    file: &Path,
    (conns, size, pipeline): (usize, usize, usize),
    load: Duration,
) -> io::Result<(Option<u64>, u64)> {
    let server = start_under_callgrind(lab, spec, file)?;
    let config = super::pass_load(server.addr, (conns, size, pipeline), load);
    let progress = Arc::new(AtomicU64::new(0));
    load::run(&config, &progress)?;
    drop(server.stop());
    let total = std::fs::read_to_string(file)
        .ok()
        .and_then(|t| Counter::Instructions.total(&t));
    Ok((total, progress.load(Ordering::Relaxed)))
}

/// Attaches `strace -f -c` to every thread of `pid`, returning once strace reports it attached.
/// The calls on the `total` line of an `strace -c` report.
pub fn strace_total(text: &str) -> Option<u64> {
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_end().ends_with("total"))?;
    // % time, seconds, usecs/call, calls, [errors], "total"
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Attaches `strace -f -c -o FILE` to a running process; returns once it is attached.
pub fn attach_strace(pid: u32, file: &Path) -> io::Result<Child> {
    let mut child = Command::new("strace")
        .args(["-f", "-c", "-o"])
        .arg(file)
        .args(["-p", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
    let mut line = String::new();
    loop {
        line.clear();
        if stderr.read_line(&mut line)? == 0 {
            let _ = child.wait();
            return Err(io::Error::other(format!(
                "strace could not attach to process {pid}"
            )));
        }
        if line.contains("attached") {
            // Keep draining its stderr (the detach messages) so strace never blocks on it.
            std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
            return Ok(child);
        }
    }
}

/// Starts a server under callgrind, which writes its count to `file` when the server exits.
/// (strace, by contrast, attaches to a running server: see [`count_at`].)
fn start_under_callgrind(lab: &Lab, spec: &ServerSpec, file: &Path) -> io::Result<ServerProc> {
    let mut args = vec![
        "--tool=callgrind".to_owned(),
        format!("--callgrind-out-file={}", file.display()),
    ];
    args.push(spec.program.display().to_string());
    args.extend(spec.args.iter().cloned());
    ServerSpec {
        name: spec.name.clone(),
        io_uring: spec.io_uring,
        program: PathBuf::from("valgrind"),
        args,
    }
    .start(lab)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_strace_totals() {
        let text = "% time     seconds  usecs/call     calls    errors syscall\n------ ----------- ----------- --------- --------- ----------------\n 60.00    0.006000           1      4000           read\n------ ----------- ----------- --------- --------- ----------------\n100.00    0.010000           1      8123        12 total\n";
        assert_eq!(super::Counter::Syscalls.total(text), Some(8123));
        assert_eq!(
            super::Counter::Syscalls.total("100.00    0.010000           1      777 total"),
            Some(777)
        );
    }
}
