//! `iomux bench http`: what `iomux web` costs per request, against nginx. Both serve the same
//! small static file (one of the front end's own, written to disk for nginx) to Debian's wrk
//! with 100 keep-alive connections; the server is pinned to one CPU, wrk (one thread) to the
//! other. nginx runs with one worker process (`master_process off`), tuned for this job as its
//! documentation advises: access log off, `sendfile`, an `open_file_cache` (no open, stat and
//! close per request), no `tcp_nopush` (two `setsockopt` calls per response for a file that
//! fits one segment), and `keepalive_requests` set to iomux's per-connection limit, so both
//! close connections equally rarely.
//!
//! A third subject is the yardstick of the other experiments: the epoll model echoing 64-byte
//! messages on as many connections, measured by the lab's own load generator. Its CPU per
//! message says what an HTTP request costs over a bare read and write.
//!
//! The servers take turns, in a rotated order each repeat (runs of one server drift over
//! minutes on a virtual machine), and the median of the repeats is reported.
use std::io::{self, BufRead};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::arms::ArmsArgs;
use crate::chart::bar_chart;
use crate::experiment::Experiment;
use crate::lab::Lab;
use crate::params::quick;
use crate::process::{CpuSample, ServerProc, ServerSpec};
use crate::report::Report;
use crate::runner::measure_server;
use crate::subjects::Subject;
use crate::table::table;
use crate::tools::{attach_strace, strace_total};
use crate::units::parse_seconds;
use iomux_http::client;
use iomux_load as load;
use iomux_metadata::Model;
use iomux_store::record::Point;

/// The experiment's name, in records and on the command line.
pub const NAME: &str = "http";
/// The subject the others are compared with across testbeds.
pub const REFERENCE: &str = "nginx";

/// The servers this experiment knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HttpServer {
    /// `iomux web` on its callback event loop (epoll).
    IomuxWeb,
    /// Debian's nginx, one worker process.
    Nginx,
    /// The epoll model echoing 64-byte messages (the other experiments' yardstick).
    EpollEcho,
}

impl HttpServer {
    /// Its name, as `--servers` takes it and the tables show it.
    pub fn name(self) -> &'static str {
        match self {
            HttpServer::IomuxWeb => "iomux-web",
            HttpServer::Nginx => "nginx",
            HttpServer::EpollEcho => "epoll-echo",
        }
    }
}

impl std::fmt::Display for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for HttpServer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        <Self as clap::ValueEnum>::from_str(s, false)
    }
}

/// `iomux bench http` parameters; their defaults are the flags' defaults.
#[derive(clap::Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Servers to measure.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "iomux-web,nginx,epoll-echo"
    )]
    #[serde(with = "crate::units::names")]
    pub servers: Vec<HttpServer>,
    /// Keep-alive connections (wrk -c).
    #[arg(long, default_value_t = 100)]
    pub conns: usize,
    /// The file fetched: one of the front end's (index.html, app.js, style.css, favicon.svg).
    #[arg(long, default_value = "style.css")]
    pub file: String,
    /// Measured seconds per repeat (whole seconds: wrk's unit).
    #[arg(long, value_parser = parse_seconds, default_value = "5", value_name = "SECS")]
    #[serde(with = "crate::units::secs")]
    pub duration: Duration,
    /// Repeats per server, in rotated order; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// The interleaved mode (`--against`, `--pairs`): iomux web and the echo yardstick in
    /// both arms, nginx in both as the control. Each window is --duration seconds after a
    /// second of warm-up, so 40 pairs of three servers at 1 s take about 8 minutes.
    #[command(flatten)]
    #[serde(flatten)]
    pub arms: ArmsArgs,
}

impl Experiment for Params {
    const NAME: &'static str = NAME;
    const REFERENCE: &'static str = REFERENCE;
    const PEERS: &'static [&'static str] = &[REFERENCE];
    const HEADLINE: &'static str = "server_cpu_us_per_req";

    fn measure(&self, lab: &mut Lab) -> io::Result<()> {
        let p = self;
        if let Some(against) = &p.arms.against {
            check_web(against)?;
            if p.servers.contains(&HttpServer::EpollEcho) {
                crate::arms::check_against(
                    against,
                    &[Model::Readiness(iomux::BackendKind::Epoll).name()],
                )?;
            }
        }
        need("wrk", "wrk")?;
        if p.servers.contains(&HttpServer::Nginx) {
            need("nginx", "nginx-light")?;
        }
        // The servers' files (nginx's root, config, logs and temp folders; iomux web's empty
        // store) live in a scratch folder, removed at the end; nginx.conf is kept beside the results.
        let scratch = std::env::temp_dir().join(format!("iomux-bench-http-{}", std::process::id()));
        let result =
            fetch_file(lab, &scratch, &p.file).and_then(|body| measure_in(lab, p, &body, &scratch));
        if scratch.join("nginx.conf").exists() {
            let _ = std::fs::copy(scratch.join("nginx.conf"), lab.out().join("nginx.conf"));
        }
        let _ = std::fs::remove_dir_all(&scratch);
        result
    }

    fn render(&self, report: &mut Report, points: &[Point]) -> io::Result<()> {
        let p = self;
        if let Some(against) = &p.arms.against {
            report.say(&format!(
                "http, interleaved: A = {}, B = this build; wrk -t1 -c{} against /assets/{}; {} pairs, {} s windows after 1 s of warm-up",
                against.display(),
                p.conns,
                p.file,
                p.arms.pairs,
                p.duration.as_secs().max(1)
            ));
            let subjects = iomux_store::compare::Subjects {
                reference: &|_| Some(REFERENCE),
                peers: &|_| &[REFERENCE],
            };
            crate::arms::render(report, points, &subjects);
            return Ok(());
        }
        report.say(&format!(
            "http: wrk -t1 -c{} for {} s against /assets/{} (keep-alive); server pinned to one CPU, wrk to the other; median of {} rotated repeats",
            p.conns,
            p.duration.as_secs().max(1),
            p.file,
            p.repeat
        ));
        let medians: Vec<&Point> = p
            .servers
            .iter()
            .filter_map(|s| {
                points.iter().find(|pt| {
                    pt.subject == s.name() && pt.repeat.is_none() && !pt.params.contains_key("pass")
                })
            })
            .collect();
        let cost = |pt: &Point| {
            pt.get("server_cpu_us_per_req")
                .or_else(|| pt.get("server_cpu_us_per_msg"))
        };
        let nginx = medians
            .iter()
            .find(|pt| pt.subject == REFERENCE)
            .and_then(|pt| cost(pt));
        let echo = medians
            .iter()
            .find(|pt| pt.subject == HttpServer::EpollEcho.name())
            .and_then(|pt| cost(pt));
        let fmt = crate::table::cell;
        let ratio = |v: Option<f64>, base: Option<f64>| match (v, base) {
            (Some(v), Some(b)) if b > 0.0 => format!("{:.2}x", v / b),
            _ => "".to_owned(),
        };
        let syscalls = |subject: &str| {
            points
                .iter()
                .find(|pt| pt.subject == subject && pt.params.contains_key("pass"))
                .and_then(|pt| pt.get("syscalls_per_req"))
        };
        let rows: Vec<Vec<String>> = medians
            .iter()
            .map(|pt| {
                let per_s = pt.get("requests_per_s").or_else(|| pt.get("msgs_per_s"));
                vec![
                    pt.subject.clone(),
                    fmt(per_s, 0),
                    fmt(cost(pt), 2),
                    ratio(cost(pt), nginx),
                    ratio(cost(pt), echo),
                    fmt(pt.get("p50_us"), 0),
                    fmt(pt.get("p99_us"), 0),
                    syscalls(&pt.subject).map_or(String::new(), |n| format!("{n:.2}")),
                    fmt(pt.get("errors"), 0),
                ]
            })
            .collect();
        report.say(&table(
            &[
                "server",
                "req/s (msg/s)",
                "CPU us/req",
                "vs nginx",
                "vs echo msg",
                "p50 us",
                "p99 us",
                "syscalls/req",
                "errors",
            ],
            &rows,
        ));
        let names: Vec<String> = medians.iter().map(|pt| pt.subject.clone()).collect();
        let values: Vec<Vec<f64>> = medians
            .iter()
            .map(|pt| vec![cost(pt).unwrap_or(f64::NAN)])
            .collect();
        report.write_chart(
            "http",
            &bar_chart(
                "Server CPU per request: iomux web vs nginx (lower is better)",
                "microseconds of server CPU per request (echo: per message)",
                &["CPU us per request".to_owned()],
                &names,
                &values,
            ),
        )
    }
}

/// One wrk run's figures.
#[derive(Debug, Default)]
struct WrkResult {
    requests: u64,
    requests_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    errors: u64,
}

/// Checks that a program the experiment needs is installed.
fn need(program: &str, package: &str) -> io::Result<()> {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        || Path::new(&format!("/usr/sbin/{program}")).exists();
    if found {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("bench http needs {program} (apt-get install {package})"),
        ))
    }
}

fn measure_in(lab: &mut Lab, p: &Params, body: &[u8], scratch: &Path) -> io::Result<()> {
    let duration = if lab.quick {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(p.duration.as_secs().max(1))
    };
    let conns = if lab.quick {
        p.conns.min(quick::MAX_CONNS)
    } else {
        p.conns
    };
    let repeat = if lab.quick { 1 } else { p.repeat.max(1) };
    let path = format!("/assets/{}", p.file);
    std::fs::create_dir_all(scratch.join("root/assets"))?;
    std::fs::write(scratch.join("root/assets").join(&p.file), body)?;
    if let Some(against) = &p.arms.against {
        let arms = HttpArms {
            servers: &p.servers,
            against: std::fs::canonicalize(against)?,
            scratch,
            path: &path,
            conns,
            duration,
            warmup: Duration::from_millis(if lab.quick { 100 } else { 500 }),
        };
        lab.progress
            .expect((p.servers.len() * (2 * p.arms.pairs + 2)) as u64);
        let point = |name: &str| {
            Point::new(NAME, name)
                .param("conns", conns)
                .param("file", p.file.as_str())
        };
        return crate::arms::measure_point(lab, &arms, p.arms.pairs, &point);
    }
    let mut repeats: Vec<Vec<Point>> = vec![Vec::new(); p.servers.len()];
    for r in 0..repeat {
        for k in 0..p.servers.len() {
            let i = (k + r) % p.servers.len();
            let server = p.servers[i];
            let point = Point::new(NAME, server.name())
                .param("conns", conns)
                .param("file", p.file.as_str());
            let point = match server {
                HttpServer::IomuxWeb => {
                    let proc = start_web(lab, scratch)?;
                    let m = run_wrk(lab, proc.addr, &path, conns, duration, proc.pid())?;
                    drop(proc.stop());
                    wrk_point(point, &m)
                }
                HttpServer::Nginx => {
                    let nginx = Nginx::start(lab, scratch, &scratch.join("root"))?;
                    let m = run_wrk(lab, nginx.addr, &path, conns, duration, nginx.pid())?;
                    drop(nginx);
                    wrk_point(point, &m)
                }
                HttpServer::EpollEcho => {
                    let proc = ServerSpec::new(Subject::Model(Model::Readiness(
                        iomux::BackendKind::Epoll,
                    )))?
                    .start(&lab.pinning)?;
                    let config = load::Config::closed_loop(
                        proc.addr,
                        conns,
                        64,
                        1,
                        duration,
                        Duration::from_millis(if lab.quick { 100 } else { 500 }),
                    );
                    let m = measure_server(&proc, &config, 1)?;
                    drop(proc.stop());
                    m.into_point(point)
                }
            };
            lab.point(point.clone().repeat(r))?;
            repeats[i].push(point);
        }
    }
    for points in repeats {
        if let Some(median) = median_point(&points) {
            lab.point(median)?;
        }
    }
    if !lab.quick && strace_installed() {
        for &server in &p.servers {
            let point = Point::new(NAME, server.name())
                .param("conns", conns)
                .param("file", p.file.as_str())
                .param("pass", "strace");
            let counted = match server {
                HttpServer::IomuxWeb => {
                    let proc = start_web(lab, scratch)?;
                    let n = count_syscalls(lab, server, proc.addr, &path, conns, proc.pid())?;
                    drop(proc.stop());
                    n
                }
                HttpServer::Nginx => {
                    let nginx = Nginx::start(lab, scratch, &scratch.join("root"))?;
                    count_syscalls(lab, server, nginx.addr, &path, conns, nginx.pid())?
                }
                // Counted by `bench echo` (about two per message from 100 connections on).
                HttpServer::EpollEcho => continue,
            };
            lab.point(point.metric("syscalls_per_req", counted))?;
        }
    }
    Ok(())
}

fn strace_installed() -> bool {
    Command::new("strace")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Syscalls per request: strace attached to the server while wrk runs for two seconds (a pass
/// of its own: strace slows the server, so it is kept out of the timings).
fn count_syscalls(
    lab: &Lab,
    server: HttpServer,
    addr: SocketAddr,
    path: &str,
    conns: usize,
    pid: u32,
) -> io::Result<f64> {
    lab.pinning.pin_load_thread();
    let url = format!("http://{addr}{path}");
    wrk(&url, conns, Duration::from_secs(1))?;
    let file = lab.out().join(format!("strace-{}.txt", server.name()));
    let mut strace = attach_strace(pid, &file)?;
    let result = wrk(&url, conns, Duration::from_secs(2));
    // strace writes its table when interrupted.
    let _ = iomux_sys::process::kill(strace.id(), libc::SIGINT);
    let _ = strace.wait();
    let result = result?;
    let text = std::fs::read_to_string(&file)?;
    let calls = strace_total(&text)
        .ok_or_else(|| io::Error::other(format!("no total in {}", file.display())))?;
    Ok(calls as f64 / result.requests.max(1) as f64)
}

/// The file's bytes as `iomux web` serves them (so nginx serves exactly the same), fetched
/// from a server started for it.
fn fetch_file(lab: &Lab, scratch: &Path, name: &str) -> io::Result<Vec<u8>> {
    let web = start_web(lab, scratch)?;
    let mut s = TcpStream::connect(web.addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let answer = client::get(&mut s, &format!("/assets/{name}"), 16 << 20);
    drop(web.stop());
    let answer = answer?;
    match answer.status {
        200 => Ok(answer.body),
        status => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "--file {name} is not one of the front end's files (index.html, app.js, style.css, favicon.svg): iomux web answered {status} {}",
                String::from_utf8_lossy(&answer.body)
            ),
        )),
    }
}

/// `iomux web` (this build) on a store of its own in the scratch folder.
fn start_web(lab: &Lab, scratch: &Path) -> io::Result<ServerProc> {
    start_web_of(lab, &std::env::current_exe()?, scratch, "runs.db")
}

/// `iomux web` of the binary `exe`, on the store `db` in the scratch folder.
fn start_web_of(lab: &Lab, exe: &Path, scratch: &Path, db: &str) -> io::Result<ServerProc> {
    std::fs::create_dir_all(scratch)?;
    let db = scratch.join(db);
    let args = ["web", "--db", db.to_str().unwrap_or("runs.db")];
    ServerProc::start(&lab.pinning, HttpServer::IomuxWeb.name(), exe, &args)
}

/// Checks that `against` has `iomux web`, in one line when not.
fn check_web(against: &Path) -> io::Result<()> {
    let ok = Command::new(against)
        .args(["web", "--help"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "--against {}: `web --help` failed: is it an iomux binary?",
            against.display()
        )))
    }
}

/// A server of the interleaved mode, started for one arm.
enum HttpRunning {
    /// `iomux web` or the echo yardstick.
    Iomux(ServerProc),
    /// nginx, the control.
    Nginx(Nginx),
}

/// The interleaved mode of `bench http` (see [`crate::arms`]): iomux web and the echo
/// yardstick run on the `--against` binary in arm A; nginx, the same program in both arms, is
/// the control. Each arm's servers keep their own files (a store, nginx's folder).
struct HttpArms<'a> {
    servers: &'a [HttpServer],
    against: std::path::PathBuf,
    scratch: &'a Path,
    path: &'a str,
    conns: usize,
    duration: Duration,
    /// The echo yardstick's warm-up.
    warmup: Duration,
}

impl crate::arms::Arms for HttpArms<'_> {
    type Server = HttpRunning;

    fn names(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.name().to_owned()).collect()
    }

    fn start(&self, lab: &Lab, subject: usize, arm: usize) -> io::Result<HttpRunning> {
        let arm_name = crate::arms::ARMS[arm];
        let exe = if arm == 0 {
            self.against.clone()
        } else {
            std::env::current_exe()?
        };
        Ok(match self.servers[subject] {
            HttpServer::IomuxWeb => HttpRunning::Iomux(start_web_of(
                lab,
                &exe,
                self.scratch,
                &format!("runs-{arm_name}.db"),
            )?),
            HttpServer::Nginx => HttpRunning::Nginx(Nginx::start(
                lab,
                &self.scratch.join(format!("nginx-{arm_name}")),
                &self.scratch.join("root"),
            )?),
            HttpServer::EpollEcho => {
                let spec =
                    ServerSpec::new(Subject::Model(Model::Readiness(iomux::BackendKind::Epoll)))?;
                let armed = crate::arms::Armed::new(spec, &self.against)?;
                HttpRunning::Iomux(armed.arm(arm).start(&lab.pinning)?)
            }
        })
    }

    fn measure(&self, lab: &Lab, server: &HttpRunning, point: Point) -> io::Result<Point> {
        match server {
            HttpRunning::Nginx(nginx) => Ok(wrk_point(
                point,
                &run_wrk(
                    lab,
                    nginx.addr,
                    self.path,
                    self.conns,
                    self.duration,
                    nginx.pid(),
                )?,
            )),
            HttpRunning::Iomux(proc) if point.subject == HttpServer::EpollEcho.name() => {
                let config = load::Config::closed_loop(
                    proc.addr,
                    self.conns,
                    64,
                    1,
                    self.duration,
                    self.warmup,
                );
                Ok(measure_server(proc, &config, 1)?.into_point(point))
            }
            HttpRunning::Iomux(proc) => Ok(wrk_point(
                point,
                &run_wrk(
                    lab,
                    proc.addr,
                    self.path,
                    self.conns,
                    self.duration,
                    proc.pid(),
                )?,
            )),
        }
    }

    fn stop(&self, server: HttpRunning) {
        match server {
            HttpRunning::Iomux(proc) => drop(proc.stop()),
            HttpRunning::Nginx(nginx) => drop(nginx),
        }
    }
}

/// The point whose headline figure is the median of the repeats (its other figures go with it).
fn median_point(points: &[Point]) -> Option<Point> {
    let key = |p: &Point| {
        p.get("server_cpu_us_per_req")
            .or_else(|| p.get("server_cpu_us_per_msg"))
            .unwrap_or(f64::NAN)
    };
    let mut sorted: Vec<&Point> = points.iter().collect();
    sorted.sort_by(|a, b| key(a).total_cmp(&key(b)));
    sorted.get(sorted.len() / 2).map(|p| (*p).clone())
}

fn wrk_point(point: Point, m: &(WrkResult, f64)) -> Point {
    let (w, cpu_us) = m;
    let requests = w.requests.max(1) as f64;
    point
        .metric("requests_per_s", w.requests_per_s)
        .metric("server_cpu_us_per_req", cpu_us / requests)
        .metric("p50_us", w.p50_us)
        .metric("p99_us", w.p99_us)
        .metric("errors", w.errors as f64)
}

/// Runs wrk (one thread, on the load generator's CPU) against `addr`; returns its figures and
/// the server's CPU time meanwhile, in microseconds.
fn run_wrk(
    lab: &Lab,
    addr: SocketAddr,
    path: &str,
    conns: usize,
    duration: Duration,
    server_pid: u32,
) -> io::Result<(WrkResult, f64)> {
    lab.pinning.pin_load_thread();
    let url = format!("http://{addr}{path}");
    // A short warm-up, so connection setup and first-touch costs are not measured.
    wrk(&url, conns, Duration::from_secs(1))?;
    let before = CpuSample::of(server_pid);
    let result = wrk(&url, conns, duration)?;
    let (user, system) = CpuSample::of(server_pid).since(&before);
    Ok((result, (user + system).as_secs_f64() * 1e6))
}

fn wrk(url: &str, conns: usize, duration: Duration) -> io::Result<WrkResult> {
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{conns}"),
            &format!("-d{}s", duration.as_secs()),
        ])
        .args(["--latency", url])
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run wrk: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "wrk failed: {}{}",
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    parse_wrk(&text)
        .ok_or_else(|| io::Error::other(format!("cannot read wrk's report: {}", text.trim())))
}

/// Reads wrk's report: requests, requests/s, the 50% and 99% latencies, errors.
fn parse_wrk(text: &str) -> Option<WrkResult> {
    let mut r = WrkResult::default();
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [n, "requests", "in", ..] => r.requests = n.parse().ok()?,
            ["Requests/sec:", n] => r.requests_per_s = n.parse().ok()?,
            ["50%", t] => r.p50_us = wrk_time_us(t)?,
            ["99%", t] => r.p99_us = wrk_time_us(t)?,
            ["Non-2xx", "or", "3xx", "responses:", n] => r.errors += n.parse::<u64>().ok()?,
            ["Socket", "errors:", rest @ ..] => {
                r.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    (r.requests > 0).then_some(r)
}

/// wrk's `1.23ms`, `456.00us`, `2.00s` in microseconds.
fn wrk_time_us(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60e6)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1e6)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

/// nginx with one worker, serving `root` on a loopback port, its files in `dir`; stopped on
/// drop.
struct Nginx {
    child: Child,
    addr: SocketAddr,
}

impl Nginx {
    fn start(lab: &Lab, dir: &Path, root: &Path) -> io::Result<Nginx> {
        // A free port: bound and let go (nginx binds it a moment later).
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let conf = format!(
            "worker_processes 1;\nmaster_process off;\ndaemon off;\npid {dir}/nginx.pid;\nerror_log {dir}/nginx-error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  open_file_cache max=64 inactive=600s;\n  open_file_cache_valid 600s;\n  keepalive_requests {keep};\n  keepalive_timeout 60s;\n\
               client_body_temp_path {dir}/tmp;\n  proxy_temp_path {dir}/tmp;\n  fastcgi_temp_path {dir}/tmp;\n  uwsgi_temp_path {dir}/tmp;\n  scgi_temp_path {dir}/tmp;\n\
               types {{ text/css css; text/javascript js; text/html html; image/svg+xml svg; }}\n\
               server {{ listen {addr}; root {root}; }}\n}}\n",
            dir = dir.display(),
            root = root.display(),
            keep = iomux_http::Limits::default().requests_per_conn,
        );
        std::fs::create_dir_all(dir.join("tmp"))?;
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        let mut cmd = Command::new("nginx");
        cmd.arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("nginx-error.log"))
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = lab.pinning.spawn_pinned(&mut cmd)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(addr).is_err() {
            if let Some(status) = child.try_wait()? {
                let mut why = String::new();
                if let Some(err) = child.stderr.take() {
                    for line in io::BufReader::new(err).lines().map_while(Result::ok) {
                        why.push_str(&line);
                    }
                }
                return Err(io::Error::other(format!(
                    "nginx exited ({status}): {why} (see {})",
                    dir.join("nginx-error.log").display()
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other("nginx did not start listening within 5 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Nginx { child, addr })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = iomux_sys::process::kill(self.pid(), libc::SIGQUIT);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrks_report() {
        let report = "Running 5s test @ http://127.0.0.1:8080/assets/style.css
  1 threads and 100 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10ms  200.00us   5.00ms   90.00%
  Latency Distribution
     50%    1.05ms
     75%    1.20ms
     90%    1.40ms
     99%  812.00us
  452311 requests in 5.00s, 1.20GB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  90458.12
Transfer/sec:    245.12MB
";
        let r = parse_wrk(report).unwrap();
        assert_eq!(r.requests, 452_311);
        assert!((r.requests_per_s - 90_458.12).abs() < 1e-6);
        assert!((r.p50_us - 1050.0).abs() < 1e-6);
        assert!((r.p99_us - 812.0).abs() < 1e-6);
        assert_eq!(r.errors, 7);
        assert!(parse_wrk("nothing").is_none());
    }
}
