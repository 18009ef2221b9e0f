//! `iomux bench python`: the Python package (`crates/iomux-py`) against the standard library.
//!
//! Two groups of echo servers in Python, each compared with its own reference:
//! - the course notes' selectors server (`crates/iomux-py/bench/selectors_echo_server.py`) on
//!   the standard `selectors.EpollSelector` (the reference), on `iomux.selectors.EpollSelector`
//!   and on `iomux.selectors.IoUringSelector`;
//! - an asyncio echo server (`bench/asyncio_echo_server.py`) on asyncio's standard loop (the
//!   reference), on `asyncio.SelectorEventLoop(iomux.selectors.EpollSelector())`, and on uvloop,
//!   the anchor for a native loop.
//!
//! Each runs under the lab's verified load generator, as `bench echo`'s servers do (and is
//! measured by the same code: [`measure_server`]), pinned to one CPU with the load on the
//! other; all run at once, visited in a rotated order each repeat, medians reported.
//!
//! The `iomux` package is built by maturin with the release profile into
//! `<target>/iomux-py-release/` (as `tests/python.rs` builds its dev-profile copy), unless
//! `--python-site` names an unpacked one. What is not installed (python3, maturin, uvloop) or
//! not supported here (io_uring) skips the subjects that need it, with the reason said and
//! recorded; anything else that stops a server is an error.
//!
//! Not part of `bench all`: it needs python3, a maturin build of the extension and uvloop from
//! PyPI, none of which the other experiments need, and its defaults take minutes.
use std::fmt;
use std::fs;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::chart::bar_chart;
use crate::experiment::Experiment;
use crate::lab::Lab;
use crate::params::quick;
use crate::process::ServerProc;
use crate::report::Report;
use crate::runner::{measure_server, merge, Measured};
use crate::table::table;
use crate::units::parse_seconds;
use iomux_load as load;
use iomux_store::record::Point;

/// The experiment's name, in records and on the command line.
pub const NAME: &str = "python";
/// The subject the others are compared with across testbeds: the notes' server on the
/// standard module. (The asyncio group's tables use [`PyServer::AsyncioStd`].)
pub const REFERENCE: &str = "py-std-epoll";

/// The Python echo servers this experiment knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PyServer {
    /// The notes' selectors server on the standard `selectors.EpollSelector`.
    PyStdEpoll,
    /// The same server on `iomux.selectors.EpollSelector`.
    PyIomuxEpoll,
    /// The same server on `iomux.selectors.IoUringSelector`.
    PyIomuxUring,
    /// An asyncio echo server on asyncio's standard loop.
    AsyncioStd,
    /// The same on `asyncio.SelectorEventLoop(iomux.selectors.EpollSelector())`.
    AsyncioIomux,
    /// The same on uvloop.
    AsyncioUvloop,
}

impl PyServer {
    /// Every server, in the order the tables show them.
    pub const ALL: [PyServer; 6] = [
        PyServer::PyStdEpoll,
        PyServer::PyIomuxEpoll,
        PyServer::PyIomuxUring,
        PyServer::AsyncioStd,
        PyServer::AsyncioIomux,
        PyServer::AsyncioUvloop,
    ];

    /// Its name, as `--servers` takes it and the tables show it.
    pub const fn name(self) -> &'static str {
        match self {
            PyServer::PyStdEpoll => "py-std-epoll",
            PyServer::PyIomuxEpoll => "py-iomux-epoll",
            PyServer::PyIomuxUring => "py-iomux-uring",
            PyServer::AsyncioStd => "asyncio-std",
            PyServer::AsyncioIomux => "asyncio-iomux",
            PyServer::AsyncioUvloop => "asyncio-uvloop",
        }
    }

    /// The subject its ratios are to: the same program on the standard library.
    pub fn reference(self) -> PyServer {
        match self {
            PyServer::PyStdEpoll | PyServer::PyIomuxEpoll | PyServer::PyIomuxUring => {
                PyServer::PyStdEpoll
            }
            _ => PyServer::AsyncioStd,
        }
    }

    /// The script (in `crates/iomux-py/bench/`) and its arguments after `--stop-on-eof`.
    fn command(self) -> (&'static str, &'static [&'static str]) {
        const SELECTORS: &str = "selectors_echo_server.py";
        const ASYNCIO: &str = "asyncio_echo_server.py";
        match self {
            PyServer::PyStdEpoll => (SELECTORS, &["selectors", "127.0.0.1", "0", "EpollSelector"]),
            PyServer::PyIomuxEpoll => (
                SELECTORS,
                &["iomux.selectors", "127.0.0.1", "0", "EpollSelector"],
            ),
            PyServer::PyIomuxUring => (
                SELECTORS,
                &["iomux.selectors", "127.0.0.1", "0", "IoUringSelector"],
            ),
            PyServer::AsyncioStd => (ASYNCIO, &["std"]),
            PyServer::AsyncioIomux => (ASYNCIO, &["iomux"]),
            PyServer::AsyncioUvloop => (ASYNCIO, &["uvloop"]),
        }
    }

    /// Whether it imports the `iomux` package (and so needs it built).
    fn needs_package(self) -> bool {
        matches!(
            self,
            PyServer::PyIomuxEpoll | PyServer::PyIomuxUring | PyServer::AsyncioIomux
        )
    }
}

impl fmt::Display for PyServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PyServer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        <Self as clap::ValueEnum>::from_str(s, false)
    }
}

/// `iomux bench python` parameters; their defaults are the flags' defaults.
#[derive(clap::Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Servers to measure.
    #[arg(long, value_delimiter = ',', value_enum, default_values_t = PyServer::ALL)]
    #[serde(with = "crate::units::names")]
    pub servers: Vec<PyServer>,
    /// Connection counts.
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    pub conns: Vec<usize>,
    /// Message sizes in bytes.
    #[arg(long, value_delimiter = ',', default_value = "64")]
    pub sizes: Vec<usize>,
    /// Pipeline depths.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pub pipelines: Vec<usize>,
    /// Measured seconds per point. Longer than `bench echo`'s: with 1,000 connections x 16 in
    /// flight a Python server takes about a tenth of a second to answer them all once.
    #[arg(long, value_parser = parse_seconds, default_value = "1", value_name = "SECS")]
    #[serde(with = "crate::units::secs")]
    pub duration: Duration,
    /// Warm-up seconds per point.
    #[arg(long, value_parser = parse_seconds, default_value = "0.5", value_name = "SECS")]
    #[serde(with = "crate::units::secs")]
    pub warmup: Duration,
    /// Runs per point, each visiting the servers in a rotated order (the median is reported;
    /// every run is recorded).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// The Python interpreter that runs the servers (and maturin, if it is a module of it).
    #[arg(long, default_value = "python3", value_name = "PROGRAM")]
    pub python: String,
    /// An unpacked `iomux` package (the folder to put on PYTHONPATH) to use instead of building
    /// one with maturin.
    #[arg(long, value_name = "DIR")]
    pub python_site: Option<PathBuf>,
}

impl Experiment for Params {
    const NAME: &'static str = NAME;
    const REFERENCE: &'static str = REFERENCE;
    const PEERS: &'static [&'static str] = &[
        PyServer::PyStdEpoll.name(),
        PyServer::AsyncioStd.name(),
        PyServer::AsyncioUvloop.name(),
    ];

    fn measure(&self, lab: &mut Lab) -> io::Result<()> {
        let declared = self;
        let p = &if lab.quick {
            declared.quick()
        } else {
            declared.clone()
        };
        // Raised before the servers start: they inherit the limit (and raise their own soft one).
        crate::params::fd_budget()?;
        let scripts = py_crate().join("bench");
        if !scripts.join("peer.py").exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "bench python runs the scripts of the source tree it was built from, and {} is missing",
                    scripts.display()
                ),
            ));
        }
        let servers = start_all(lab, p, &scripts)?;
        let record = |server: PyServer, (conns, size, pipeline): (usize, usize, usize)| {
            Point::new(NAME, server.name())
                .param("conns", conns)
                .param("size", size)
                .param("pipeline", pipeline)
        };
        let running: Vec<(PyServer, &ServerProc)> = servers
            .iter()
            .filter_map(|(s, proc)| Some((*s, proc.as_ref().ok()?)))
            .collect();
        for point in p.matrix() {
            let runs = measure_point(p, &running, point)?;
            for ((server, _), runs) in running.iter().zip(runs) {
                if p.repeat > 1 {
                    for (rep, m) in runs.iter().enumerate() {
                        lab.point(m.clone().into_point(record(*server, point).repeat(rep)))?;
                    }
                }
                lab.point(merge(&runs).into_point(record(*server, point)))?;
            }
            for (server, started) in &servers {
                if let Err(why) = started {
                    lab.point(record(*server, point).param("skipped", why.as_str()))?;
                }
            }
        }
        for (_, started) in servers {
            if let Ok(proc) = started {
                drop(proc.stop());
            }
        }
        Ok(())
    }

    /// The tables (one per point, then each server's CPU per message relative to its group's
    /// reference at every point) and the chart, from the recorded points.
    fn render(&self, report: &mut Report, points: &[Point]) -> io::Result<()> {
        let p = self;
        // The matrix as measured (a --quick run caps the connections).
        let mut matrix: Vec<(usize, usize, usize)> = Vec::new();
        for pt in points {
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
            "python: {} servers; conns {:?} x size {:?} x pipeline {:?}; {:.1} s measured after {:.1} s warm-up, median of {} rotated repeats; \
             \"x ref\" is server CPU per message relative to {} (selectors servers) or {} (asyncio servers)",
            p.servers.len(),
            p.conns,
            p.sizes,
            p.pipelines,
            p.duration.as_secs_f64(),
            p.warmup.as_secs_f64(),
            p.repeat,
            PyServer::PyStdEpoll,
            PyServer::AsyncioStd,
        ));
        let at = |server: PyServer, (c, s, d): (usize, usize, usize)| {
            points.iter().find(|pt| {
                pt.subject == server.name()
                    && pt.repeat.is_none()
                    && pt.at("conns") == Some(c as u64)
                    && pt.at("size") == Some(s as u64)
                    && pt.at("pipeline") == Some(d as u64)
            })
        };
        let cpu = |server: PyServer, point| {
            at(server, point).and_then(|pt| pt.get("server_cpu_us_per_msg"))
        };
        let ratio = |server: PyServer, point| {
            let reference = server.reference();
            if !p.servers.contains(&reference) {
                return None;
            }
            Some(cpu(server, point)? / cpu(reference, point)?)
        };
        let fmt = crate::table::cell;
        for &point in &matrix {
            let (conns, size, pipeline) = point;
            let rows: Vec<Vec<String>> = p
                .servers
                .iter()
                .filter_map(|&server| {
                    let pt = at(server, point)?;
                    if pt.params.contains_key("skipped") {
                        let mut row = vec![server.name().to_owned(), "skipped".to_owned()];
                        row.resize(8, "-".to_owned());
                        return Some(row);
                    }
                    let (errors, mismatches) = (
                        pt.get("errors").unwrap_or(0.0),
                        pt.get("mismatches").unwrap_or(0.0),
                    );
                    Some(vec![
                        server.name().to_owned(),
                        fmt(pt.get("msgs_per_s"), 0),
                        fmt(pt.get("server_cpu_us_per_msg"), 2),
                        format!(
                            "{}/{}",
                            fmt(pt.get("server_user_us_per_msg"), 2),
                            fmt(pt.get("server_system_us_per_msg"), 2)
                        ),
                        ratio(server, point).map_or("-".to_owned(), |r| format!("{r:.2}")),
                        fmt(pt.get("p50_us"), 0),
                        fmt(pt.get("p99_us"), 0),
                        if errors + mismatches > 0.0 {
                            format!("{errors}/{mismatches}")
                        } else {
                            "0".into()
                        },
                    ])
                })
                .collect();
            report.say(&format!("\n{conns} conns, {size} B, pipeline {pipeline}"));
            report.say(&table(
                &[
                    "server",
                    "msg/s",
                    "CPU us/msg",
                    "usr/sys us",
                    "x ref",
                    "p50 us",
                    "p99 us",
                    "err/mism",
                ],
                &rows,
            ));
        }
        // Why each skipped server was skipped, once (the tables only say that it was).
        let mut skipped: Vec<(&str, &str)> = Vec::new();
        for pt in points {
            if let Some(why) = pt.params.get("skipped").and_then(|v| v.as_str()) {
                if !skipped.iter().any(|(name, _)| *name == pt.subject) {
                    skipped.push((&pt.subject, why));
                }
            }
        }
        for (name, why) in skipped {
            report.say(&format!("{name}: skipped, {why}"));
        }
        let groups: Vec<String> = matrix
            .iter()
            .map(|(c, s, d)| format!("{c}c {s}B p{d}"))
            .collect();
        let summary: Vec<Vec<String>> =
            p.servers
                .iter()
                .map(|&server| {
                    let mut row = vec![server.name().to_owned()];
                    row.extend(matrix.iter().map(|&pt| {
                        ratio(server, pt).map_or("-".to_owned(), |r| format!("{r:.2}"))
                    }));
                    row
                })
                .collect();
        let mut headers = vec!["server"];
        headers.extend(groups.iter().map(String::as_str));
        report.say("\nserver CPU per message relative to the group's reference, at each point");
        report.say(&table(&headers, &summary));
        let names: Vec<String> = p.servers.iter().map(|s| s.name().to_owned()).collect();
        let values: Vec<Vec<f64>> = p
            .servers
            .iter()
            .map(|&server| {
                matrix
                    .iter()
                    .map(|&pt| cpu(server, pt).unwrap_or(f64::NAN))
                    .collect()
            })
            .collect();
        report.write_chart(
            NAME,
            &bar_chart(
                "Python echo servers: server CPU time per message (lower is better)",
                "microseconds of server CPU per message",
                &groups,
                &names,
                &values,
            ),
        )
    }
}

impl Params {
    /// The matrix of (connections, size, pipeline), in table order.
    fn matrix(&self) -> Vec<(usize, usize, usize)> {
        crate::runner::matrix(&self.conns, &self.sizes, &self.pipelines)
    }

    /// What a `--quick` run measures instead: the same points with few connections, briefly.
    fn quick(&self) -> Params {
        Params {
            conns: quick::conns(&self.conns),
            duration: quick::DURATION,
            warmup: quick::WARMUP,
            repeat: 1,
            ..self.clone()
        }
    }
}

/// The workspace this binary was built from: the scripts and the package's sources are read
/// from its source tree.
fn workspace() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    dir.canonicalize().unwrap_or(dir)
}

/// The `iomux-py` crate's folder.
fn py_crate() -> PathBuf {
    workspace().join("crates/iomux-py")
}

/// Cargo's target folder for the workspace: `CARGO_TARGET_DIR`, else `<workspace>/target`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

/// Why a subject is not measured (something not installed or not supported here).
type Skip = String;

/// Starts every server asked for, or says why it is skipped: the interpreter is found, and the
/// package built, once for all of them.
fn start_all(
    lab: &mut Lab,
    p: &Params,
    scripts: &Path,
) -> io::Result<Vec<(PyServer, Result<ServerProc, Skip>)>> {
    let python = interpreter(&p.python);
    // `None`: no server imports iomux, so it is neither built nor put on PYTHONPATH.
    let package = match &python {
        Ok(_) if p.servers.iter().any(|s| s.needs_package()) => Some(package(lab, p)?),
        _ => None,
    };
    if let Ok(version) = &python {
        let site = match &package {
            Some(Ok(site)) => format!("; the iomux package from {}", site.display()),
            _ => String::new(),
        };
        lab.say(&format!("{} {version}{site}", p.python));
    }
    let max_conns = p.conns.iter().copied().max().unwrap_or(0);
    let mut servers = Vec::new();
    for &server in &p.servers {
        let started = match (&python, &package) {
            (Err(why), _) => Err(why.clone()),
            (_, Some(Err(why))) if server.needs_package() => Err(why.clone()),
            (_, package) => {
                let site = package.as_ref().and_then(|built| built.as_deref().ok());
                start(lab, p, server, scripts, site, max_conns)?
            }
        };
        servers.push((server, started));
    }
    Ok(servers)
}

/// Every repeat of one point for every running server (one measurement each per repeat, the
/// order rotated each time: drift on a noisy machine then spreads over all of them).
fn measure_point(
    p: &Params,
    running: &[(PyServer, &ServerProc)],
    (conns, size, pipeline): (usize, usize, usize),
) -> io::Result<Vec<Vec<Measured>>> {
    let mut runs: Vec<Vec<Measured>> = vec![Vec::new(); running.len()];
    for rep in 0..p.repeat.max(1) {
        for k in 0..running.len() {
            let i = (k + rep) % running.len();
            let (server, proc) = running[i];
            let config =
                load::Config::closed_loop(proc.addr, conns, size, pipeline, p.duration, p.warmup);
            let measured = measure_server(proc, &config, 1).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("{server} at {conns} conns, pipeline {pipeline}: {e}"),
                )
            })?;
            runs[i].push(measured);
            settle(proc);
        }
    }
    Ok(runs)
}

/// Waits until the server has stopped using CPU (at most 2 s). All servers share one CPU, and a
/// Python server still closing the last run's 1,000 connections would otherwise steal it from
/// the next server's warm-up.
fn settle(server: &ServerProc) {
    const QUIET: Duration = Duration::from_millis(1);
    const STEP: Duration = Duration::from_millis(20);
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut last = server.cpu_sample().total;
    while Instant::now() < deadline {
        std::thread::sleep(STEP);
        let now = server.cpu_sample().total;
        if now.saturating_sub(last) < QUIET {
            return;
        }
        last = now;
    }
}

/// The interpreter's version, or why it cannot run.
fn interpreter(python: &str) -> Result<String, Skip> {
    let output = Command::new(python)
        .args(["-c", "import sys; print(sys.version.split()[0])"])
        .output()
        .map_err(|e| format!("{python} cannot be run: {e}"))?;
    if !output.status.success() {
        return Err(format!("{python} failed: {}", tail(&output.stderr)));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The last lines of a program's output, for an error message.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// The folder holding the unpacked `iomux` package, to put on PYTHONPATH: `--python-site`, or
/// the wheel maturin builds (release profile) unpacked under the target folder. `Ok(Err(why))`
/// when maturin is missing; a build that fails is an error.
fn package(lab: &mut Lab, p: &Params) -> io::Result<Result<PathBuf, Skip>> {
    if let Some(site) = &p.python_site {
        return Ok(Ok(site.clone()));
    }
    let Some(mut maturin) = maturin(&p.python) else {
        return Ok(Err(
            "maturin is not installed (pip install maturin, in a virtual environment on Debian)"
                .to_owned(),
        ));
    };
    // Its own folder, as tests/python.rs has: maturin's cargo configures PyO3 for the
    // interpreter, so sharing target/release would rebuild PyO3 on every alternation.
    let root = target_dir().join("iomux-py-release");
    // This run's own folders (another run may be building at the same time).
    let wheels = root.join(format!("wheels.{}", std::process::id()));
    let fresh = root.join(format!("site.{}", std::process::id()));
    let _ = fs::remove_dir_all(&wheels);
    lab.say("building the iomux Python package (maturin build --release)");
    let output = maturin
        .arg("build")
        .arg("--release")
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(py_crate().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(root.join("cargo"))
        .arg("--out")
        .arg(&wheels)
        .output()?;
    check(&output, "maturin build")?;
    let wheel = fs::read_dir(&wheels)?
        .filter_map(|entry| Some(entry.ok()?.path()))
        .find(|path| path.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| {
            io::Error::other(format!("maturin wrote no wheel into {}", wheels.display()))
        })?;
    // A wheel is a zip laid out as site-packages: unpacking it installs it, without pip (which
    // Debian's python3 may lack, or refuse outside a virtual environment). Unpacked beside the
    // old copy and swapped in, so a server starting meanwhile never sees half a package.
    let site = root.join("site");
    let _ = fs::remove_dir_all(&fresh);
    let output = Command::new(&p.python)
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(&fresh)
        .output()?;
    let _ = fs::remove_dir_all(&wheels);
    check(&output, "unpacking the wheel")?;
    let _ = fs::remove_dir_all(&site);
    fs::rename(&fresh, &site)?;
    Ok(Ok(site))
}

/// maturin as a command: the `maturin` executable, else the interpreter's module.
fn maturin(python: &str) -> Option<Command> {
    let runs = |command: &mut Command| {
        command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if runs(Command::new("maturin").arg("--version")) {
        return Some(Command::new("maturin"));
    }
    let mut module = Command::new(python);
    module.args(["-m", "maturin"]);
    if runs(Command::new(python).args(["-m", "maturin", "--version"])) {
        return Some(module);
    }
    None
}

fn check(output: &Output, what: &str) -> io::Result<()> {
    if output.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{what} failed ({}):\n{}\n{}",
        output.status,
        tail(&output.stdout),
        tail(&output.stderr)
    )))
}

/// Starts one server on the server's CPU: `Ok(Err(why))` if it says it cannot run here.
/// Its standard input is a pipe this process holds: if the lab dies, the server's input ends
/// and it stops. Its standard error goes to `python-<server>.log` in the output folder.
fn start(
    lab: &Lab,
    p: &Params,
    server: PyServer,
    scripts: &Path,
    site: Option<&Path>,
    max_conns: usize,
) -> io::Result<Result<ServerProc, Skip>> {
    let (script, args) = server.command();
    let log_path = lab.out().join(format!("python-{server}.log"));
    let mut cmd = Command::new(&p.python);
    cmd.arg(scripts.join(script))
        .arg("--stop-on-eof")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(fs::File::create(&log_path)?);
    if let Some(site) = site {
        cmd.env("PYTHONPATH", python_path(site));
    }
    let mut child = lab.pinning.spawn_pinned(&mut cmd)?;
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["LISTENING", port, _what, nofile] => {
            let port: u16 = port
                .parse()
                .map_err(|_| io::Error::other(format!("{server} said {line:?}")))?;
            let nofile: usize = nofile
                .strip_prefix("nofile=")
                .and_then(|n| n.parse().ok())
                .unwrap_or(usize::MAX);
            // Its listening socket, the selector's and the interpreter's own descriptors.
            let needed = max_conns + 16;
            let proc = ServerProc::started(child, stdout, ([127, 0, 0, 1], port).into());
            if nofile < needed {
                return Err(io::Error::other(format!(
                    "{server}: its RLIMIT_NOFILE is {nofile} (after raising its soft limit to the hard one), \
                     and {max_conns} connections need about {needed}: lower --conns, or raise the hard limit \
                     (e.g. `ulimit -Hn {needed}` as root)"
                )));
            }
            Ok(Ok(proc))
        }
        ["UNAVAILABLE", ..] => {
            let _ = child.wait();
            Ok(Err(line["UNAVAILABLE".len()..].trim().to_owned()))
        }
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            let log = fs::read(&log_path).unwrap_or_default();
            Err(io::Error::other(format!(
                "{server} did not start (said {line:?}): {}",
                tail(&log)
            )))
        }
    }
}

/// PYTHONPATH with `site` first (and what the environment had after it).
fn python_path(site: &Path) -> std::ffi::OsString {
    let mut paths = vec![site.to_path_buf()];
    if let Some(existing) = std::env::var_os("PYTHONPATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    std::env::join_paths(paths).unwrap_or_else(|_| site.as_os_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names the tables and records use are the ones `--servers` parses (clap's), so a
    /// recorded run's parameters read back.
    #[test]
    fn server_names_round_trip_and_every_server_is_a_default() {
        for server in PyServer::ALL {
            assert_eq!(server.name().parse::<PyServer>(), Ok(server));
        }
        let defaults = crate::params::defaults::<Params>();
        assert_eq!(defaults.servers, PyServer::ALL);
        let json = serde_json::to_value(&defaults).unwrap();
        assert_eq!(serde_json::from_value::<Params>(json).unwrap(), defaults);
    }
}
