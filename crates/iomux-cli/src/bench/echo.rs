//! `iomux bench echo`: every `iomux serve` model and the reference peers under the same load.
//!
//! Peers: an echo server on tokio's current-thread runtime, one on mio, and the floor, a bare
//! level-triggered epoll loop (`crates/iomux-peers`). For each point of the matrix (connections
//! x message size x pipeline depth) it reports messages/s, the server's CPU time per message
//! and its ratio to tokio's and to the floor's, and p50/p99 latency. With strace present it
//! also counts the server's syscalls per message, at one point or (`--syscalls every`) at each,
//! in passes of their own (strace slows the server, so they are kept out of the timings).
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::chart::bar_chart;
use super::{median, sibling_binary, table, Lab, ServerProc};
use crate::load::{self, WindowEdge};

/// A server to measure: a name and the command that starts it (`--addr` is appended).
#[derive(Clone, Debug)]
pub struct ServerSpec {
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl ServerSpec {
    /// An `iomux serve --model MODEL --proto echo` server.
    pub fn model(model: &str, extra: &[&str]) -> io::Result<ServerSpec> {
        let mut args: Vec<String> = ["serve", "--model", model, "--proto", "echo"]
            .map(String::from)
            .to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        Ok(ServerSpec {
            name: model.to_owned(),
            program: std::env::current_exe()?,
            args,
        })
    }

    /// A reference peer binary from `iomux-peers`.
    pub fn peer(name: &str, binary: &str) -> io::Result<ServerSpec> {
        Ok(ServerSpec {
            name: name.to_owned(),
            program: sibling_binary(binary)?,
            args: Vec::new(),
        })
    }

    pub fn start(&self, lab: &Lab) -> io::Result<ServerProc> {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        ServerProc::start(lab, &self.name, &self.program, &args)
    }
}

/// The peers, by the names the tables use.
pub const TOKIO: &str = "tokio";
pub const FLOOR: &str = "floor";

#[derive(Clone, Debug)]
pub struct Params {
    pub servers: Vec<ServerSpec>,
    pub conns: Vec<usize>,
    pub sizes: Vec<usize>,
    pub pipelines: Vec<usize>,
    pub duration: Duration,
    pub warmup: Duration,
    pub repeat: usize,
    pub syscalls: SyscallCount,
    pub callgrind: bool,
}

/// Where `bench echo` counts syscalls per message (under strace, in passes of their own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
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
    pub p50_us: f64,
    pub p99_us: f64,
    pub load_cpu_us_per_msg: f64,
    pub errors: u64,
    pub mismatches: u64,
}

/// Runs `config` against `server` `repeat` times and returns the medians.
pub fn measure(server: &ServerProc, config: &load::Config, repeat: usize) -> io::Result<Measured> {
    let mut runs = Vec::new();
    for _ in 0..repeat.max(1) {
        let progress = Arc::new(AtomicU64::new(0));
        let mut cpu = [Duration::ZERO; 2];
        let report = load::run_observed(config, &progress, &mut |edge| {
            cpu[usize::from(edge == WindowEdge::End)] = server.cpu_time();
        })?;
        let messages = report.messages.max(1) as f64;
        runs.push(Measured {
            msgs_per_s: report.msgs_per_s,
            cpu_us_per_msg: (cpu[1].saturating_sub(cpu[0])).as_secs_f64() * 1e6 / messages,
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
fn merge(runs: &[Measured]) -> Measured {
    let pick = |f: fn(&Measured) -> f64| median(runs.iter().map(f).collect());
    Measured {
        msgs_per_s: pick(|m| m.msgs_per_s),
        cpu_us_per_msg: pick(|m| m.cpu_us_per_msg),
        p50_us: pick(|m| m.p50_us),
        p99_us: pick(|m| m.p99_us),
        load_cpu_us_per_msg: pick(|m| m.load_cpu_us_per_msg),
        errors: runs.iter().map(|m| m.errors).sum(),
        mismatches: runs.iter().map(|m| m.mismatches).sum(),
    }
}

pub fn run(lab: &mut Lab, p: &Params) -> io::Result<()> {
    lab.say(&format!(
        "echo: {} servers; conns {:?} x size {:?} x pipeline {:?}; {:.1} s measured after {:.1} s warm-up, median of {}",
        p.servers.len(),
        p.conns,
        p.sizes,
        p.pipelines,
        p.duration.as_secs_f64(),
        p.warmup.as_secs_f64(),
        p.repeat
    ));
    let budget = super::fd_budget()?;
    let points: Vec<(usize, usize, usize)> = p
        .conns
        .iter()
        .flat_map(|&c| {
            p.sizes
                .iter()
                .flat_map(move |&s| p.pipelines.iter().map(move |&d| (c, s, d)))
        })
        .collect();
    if let Some(&(c, _, _)) = points.iter().find(|(c, _, _)| *c as u64 + 64 > budget) {
        return Err(io::Error::other(format!("{c} connections need more descriptors than RLIMIT_NOFILE ({budget}) allows; lower --conns")));
    }
    // All servers run at once (idle ones cost nothing), so each point can visit them in turn,
    // a different order every repeat: drift on a noisy machine then spreads over all servers
    // instead of landing on whichever happened to run during it.
    let servers = p
        .servers
        .iter()
        .map(|spec| spec.start(lab))
        .collect::<io::Result<Vec<_>>>()?;
    // results[server][point]
    let mut results: Vec<Vec<Measured>> = vec![Vec::new(); servers.len()];
    for &(conns, size, pipeline) in &points {
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
                runs[si].push(measure(&servers[si], &config, 1)?);
            }
        }
        for (si, spec) in p.servers.iter().enumerate() {
            let m = merge(&runs[si]);
            lab.record(&json!({
                "experiment": "echo", "server": spec.name, "conns": conns, "size": size, "pipeline": pipeline, "repeat": p.repeat,
                "msgs_per_s": m.msgs_per_s, "server_cpu_us_per_msg": m.cpu_us_per_msg, "p50_us": m.p50_us, "p99_us": m.p99_us,
                "load_cpu_us_per_msg": m.load_cpu_us_per_msg, "errors": m.errors, "mismatches": m.mismatches,
                "server_cpu_us_per_msg_runs": runs[si].iter().map(|r| r.cpu_us_per_msg).collect::<Vec<_>>(),
            }))?;
            results[si].push(m);
        }
    }
    for server in servers {
        drop(server.stop());
    }
    // syscalls[server][point], when counted at every point.
    let mut syscalls: Vec<Vec<Option<f64>>> = vec![Vec::new(); p.servers.len()];
    let every = p.syscalls == SyscallCount::Every && tool_available(lab, Counter::Syscalls);
    if every {
        for &point in &points {
            for (si, (total, messages)) in count_at(lab, p, Counter::Syscalls, point)?
                .into_iter()
                .enumerate()
            {
                syscalls[si].push(total.map(|t| t as f64 / messages as f64));
            }
        }
    }
    let index = |name: &str| p.servers.iter().position(|s| s.name == name);
    let (tokio, floor) = (index(TOKIO), index(FLOOR));
    for (pi, &(conns, size, pipeline)) in points.iter().enumerate() {
        let rows: Vec<Vec<String>> = p
            .servers
            .iter()
            .enumerate()
            .map(|(si, spec)| {
                let m = &results[si][pi];
                let ratio = |to: Option<usize>| {
                    to.map_or("-".into(), |t| {
                        format!("{:.2}", m.cpu_us_per_msg / results[t][pi].cpu_us_per_msg)
                    })
                };
                let mut row = vec![
                    spec.name.clone(),
                    format!("{:.0}", m.msgs_per_s),
                    format!("{:.2}", m.cpu_us_per_msg),
                    ratio(tokio),
                    ratio(floor),
                    format!("{:.0}", m.p50_us),
                    format!("{:.0}", m.p99_us),
                    format!("{:.2}", m.load_cpu_us_per_msg),
                    if m.errors + m.mismatches > 0 {
                        format!("{}/{}", m.errors, m.mismatches)
                    } else {
                        "0".into()
                    },
                ];
                if every {
                    row.push(syscalls[si][pi].map_or("?".into(), |v| format!("{v:.2}")));
                }
                row
            })
            .collect();
        lab.say(&format!("\n{conns} conns, {size} B, pipeline {pipeline}"));
        let mut headers = vec![
            "server",
            "msg/s",
            "CPU us/msg",
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
        lab.say(&table(&headers, &rows));
    }
    if let Some(t) = tokio {
        let rows: Vec<Vec<String>> = p
            .servers
            .iter()
            .enumerate()
            .map(|(si, spec)| {
                let ratios: Vec<f64> = (0..points.len())
                    .map(|pi| results[si][pi].cpu_us_per_msg / results[t][pi].cpu_us_per_msg)
                    .collect();
                let geomean =
                    (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
                let worst = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                vec![
                    spec.name.clone(),
                    format!("{geomean:.2}"),
                    format!("{worst:.2}"),
                ]
            })
            .collect();
        lab.say("\nserver CPU per message relative to tokio, over all points");
        lab.say(&table(&["server", "geomean", "worst"], &rows));
    }
    let groups: Vec<String> = points
        .iter()
        .map(|(c, s, d)| format!("{c}c {s}B p{d}"))
        .collect();
    let names: Vec<String> = p.servers.iter().map(|s| s.name.clone()).collect();
    let values: Vec<Vec<f64>> = results
        .iter()
        .map(|row| row.iter().map(|m| m.cpu_us_per_msg).collect())
        .collect();
    lab.write_chart(
        "echo",
        &bar_chart(
            "Server CPU time per message (lower is better)",
            "microseconds of server CPU per message",
            &groups,
            &names,
            &values,
        ),
    )?;
    if p.syscalls == SyscallCount::Probe {
        count_per_message(lab, p, Counter::Syscalls)?;
    }
    if p.callgrind {
        count_per_message(lab, p, Counter::Instructions)?;
    }
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
                "user-space instructions (callgrind; whole run, start-up included)"
            }
        }
    }

    fn experiment(self) -> &'static str {
        match self {
            Counter::Syscalls => "echo-syscalls",
            Counter::Instructions => "echo-callgrind",
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
            Counter::Syscalls => lab.out.join(format!("strace-{server}-{tag}.txt")),
            Counter::Instructions => lab.out.join(format!("callgrind-{server}-{tag}.out")),
        }
    }

    /// The total the tool wrote: strace's `total` line (calls column), callgrind's `summary:`.
    fn total(self, text: &str) -> Option<u64> {
        match self {
            Counter::Syscalls => {
                let line = text
                    .lines()
                    .rev()
                    .find(|l| l.trim_end().ends_with("total"))?;
                // % time, seconds, usecs/call, calls, [errors], "total"
                line.split_whitespace().nth(3)?.parse().ok()
            }
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
/// Instructions cover callgrind's whole run, start-up included.
fn count_at(
    lab: &mut Lab,
    p: &Params,
    counter: Counter,
    (conns, size, pipeline): (usize, usize, usize),
) -> io::Result<Vec<(Option<u64>, u64)>> {
    // strace needs a moment to attach; the run is lengthened by it.
    const ATTACH: Duration = Duration::from_millis(100);
    let tag = format!("{conns}c-{size}B-p{pipeline}");
    let mut counts = Vec::new();
    for spec in &p.servers {
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
                        p.duration.max(ATTACH) + ATTACH + edge,
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
                            let _ = Command::new("kill")
                                .arg("-INT")
                                .arg(child.id().to_string())
                                .status();
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
                let server = start_under_callgrind(lab, spec, &file)?;
                let config = load::Config {
                    drain: Duration::from_secs(10),
                    ..load::Config::closed_loop(
                        server.addr,
                        conns,
                        size,
                        pipeline,
                        Duration::from_secs(2),
                        Duration::ZERO,
                    )
                };
                load::run(&config, &progress)?;
                drop(server.stop());
                progress.load(Ordering::Relaxed)
            }
        };
        let total = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| counter.total(&t));
        let messages = messages.max(1);
        lab.record(&json!({
            "experiment": counter.experiment(), "server": spec.name, "conns": conns, "size": size, "pipeline": pipeline,
            "total": total, "messages": messages, "per_msg": total.map(|t| t as f64 / messages as f64),
        }))?;
        counts.push((total, messages));
    }
    Ok(counts)
}

/// Attaches `strace -f -c` to every thread of `pid`, returning once strace reports it attached.
fn attach_strace(pid: u32, file: &Path) -> io::Result<Child> {
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
        program: PathBuf::from("valgrind"),
        args,
    }
    .start(lab)
}

/// The counter at the probe point, as a table of its own (with the ratio to tokio).
fn count_per_message(lab: &mut Lab, p: &Params, counter: Counter) -> io::Result<()> {
    if !tool_available(lab, counter) {
        return Ok(());
    }
    let (conns, size, pipeline) = probe_point(p);
    let counts = count_at(lab, p, counter, (conns, size, pipeline))?;
    let per_msg: Vec<Option<f64>> = counts
        .iter()
        .map(|(t, m)| t.map(|t| t as f64 / *m as f64))
        .collect();
    let tokio = p
        .servers
        .iter()
        .position(|s| s.name == TOKIO)
        .and_then(|t| per_msg[t]);
    let rows: Vec<Vec<String>> = p
        .servers
        .iter()
        .zip(counts.iter().zip(&per_msg))
        .map(|(spec, ((total, messages), each))| {
            vec![
                spec.name.clone(),
                total.map_or("?".into(), |c| c.to_string()),
                messages.to_string(),
                each.map_or("?".into(), |v| format!("{v:.2}")),
                match (each, tokio) {
                    (Some(e), Some(t)) => format!("{:.2}", e / t),
                    _ => "-".into(),
                },
            ]
        })
        .collect();
    lab.say(&format!(
        "\n{} per message ({conns} conns, {size} B, pipeline {pipeline}; each tool report is in the output folder)",
        counter.noun()
    ));
    lab.say(&table(
        &["server", "total", "messages", "per message", "x tokio"],
        &rows,
    ));
    Ok(())
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
