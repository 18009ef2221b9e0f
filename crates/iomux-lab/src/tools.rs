//! The counting passes: syscalls per message under `strace -f -c` attached to a running
//! server, and user-space instructions per message under `valgrind --tool=callgrind`. Each runs
//! the servers one at a time at one point, outside the timed windows (the tools slow a server
//! down), and records a point per server with a `pass` parameter.
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use iomux_load::{self as load, WindowEdge};

use crate::lab::Lab;
use crate::process::{ServerProc, ServerSpec};
use iomux_store::record::Point;

/// What a counting pass counts, per message, for each server.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Syscalls, under `strace -f -c` attached to the running server. strace slows the server,
    /// which is why this is a pass of its own, outside the timings.
    Syscalls,
    /// User-space instructions, under `valgrind --tool=callgrind`: deterministic, blind to the
    /// kernel's share and to the machine's noise, so it shows what each server's own code costs.
    Instructions,
}

impl Counter {
    /// What it counts, as the report names it.
    pub fn noun(self) -> &'static str {
        match self {
            Counter::Syscalls => "syscalls (strace -f -c)",
            Counter::Instructions => {
                "user-space instructions (callgrind; a long run less a short one, so start-up and connecting cancel out)"
            }
        }
    }

    /// The `pass` parameter of its points.
    pub fn pass(self) -> &'static str {
        match self {
            Counter::Syscalls => "strace",
            Counter::Instructions => "callgrind",
        }
    }

    /// The program that counts.
    pub fn tool(self) -> &'static str {
        match self {
            Counter::Syscalls => "strace",
            Counter::Instructions => "valgrind",
        }
    }

    /// The tool's report for one server at one point (`tag` names the point).
    pub fn file(self, lab: &Lab, server: &str, tag: &str) -> PathBuf {
        match self {
            Counter::Syscalls => lab.out().join(format!("strace-{server}-{tag}.txt")),
            Counter::Instructions => lab.out().join(format!("callgrind-{server}-{tag}.out")),
        }
    }

    /// The total the tool wrote: strace's `total` line (calls column), callgrind's `summary:`.
    pub fn total(self, text: &str) -> Option<u64> {
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

/// Whether the counter's tool is installed; if not, says that its pass is skipped.
pub fn tool_available(lab: &mut Lab, counter: Counter) -> bool {
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
pub fn count_at(
    lab: &mut Lab,
    experiment: &str,
    specs: &[ServerSpec],
    counter: Counter,
    point: (usize, usize, usize),
    duration: Duration,
) -> io::Result<()> {
    let (conns, size, pipeline) = point;
    let tag = format!("{conns}c-{size}B-p{pipeline}");
    // The point a pass records for one server.
    let pass_point = |name: &str| {
        Point::new(experiment, name)
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
                // The window's edges cut through up to conns x pipeline messages in flight,
                // so it must hold many more than that for the count's edge error to stay
                // under a few percent: at least WINDOW_MESSAGES times as many. strace slows
                // the server (with 1,000 connections a short window would be a third edge),
                // so a window that fell short is measured again, longer, up to MAX_WINDOW.
                let target = (WINDOW_MESSAGES * conns * pipeline) as u64;
                let mut window = duration.max(ATTACH)
                    + Duration::from_millis((3 * conns * pipeline).min(5_000) as u64);
                loop {
                    let messages = strace_window(lab, spec, &file, point, window, &progress)?;
                    if messages >= target || window >= MAX_WINDOW {
                        break messages;
                    }
                    let scale = target as f64 / messages.max(1) as f64 * 1.2;
                    window = window.mul_f64(scale.min(100.0)).min(MAX_WINDOW);
                }
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

/// How many times the messages in flight (conns x pipeline) a strace window must hold.
const WINDOW_MESSAGES: usize = 50;

/// The longest strace window: past it, a window is kept with what it holds.
const MAX_WINDOW: Duration = Duration::from_secs(30);

/// strace needs a moment to attach; a window is lengthened by it.
const ATTACH: Duration = Duration::from_millis(100);

/// One strace window: starts `spec`, loads it at `point`, attaches `strace -f -c` (writing
/// `file`) for about `window`; returns the messages answered while strace was attached.
fn strace_window(
    lab: &Lab,
    spec: &ServerSpec,
    file: &Path,
    (conns, size, pipeline): (usize, usize, usize),
    window: Duration,
    progress: &Arc<AtomicU64>,
) -> io::Result<u64> {
    let server = spec.start(&lab.pinning)?;
    let config = load::Config {
        drain: Duration::from_secs(10),
        ..load::Config::closed_loop(
            server.addr,
            conns,
            size,
            pipeline,
            window + ATTACH,
            Duration::from_millis(200),
        )
    };
    let mut strace: Option<Child> = None;
    let mut counted = [0u64; 2];
    let mut failure = None;
    load::run_observed(&config, progress, &mut |edge| match edge {
        WindowEdge::Start => match attach_strace(server.pid(), file) {
            Ok(child) => {
                // Attached (strace said so): count messages from here.
                counted[0] = progress.load(Ordering::Relaxed);
                strace = Some(child);
            }
            Err(e) => failure = Some(e),
        },
        WindowEdge::End => {
            counted[1] = progress.load(Ordering::Relaxed);
            if let Some(child) = strace.as_mut() {
                let _ = iomux_sys::process::kill(child.id(), libc::SIGINT);
                let _ = child.wait();
            }
        }
    })?;
    drop(server.stop());
    match failure {
        Some(e) => Err(e),
        None => Ok(counted[1] - counted[0]),
    }
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
    let config = crate::process::pass_load(server.addr, (conns, size, pipeline), load);
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
    .start(&lab.pinning)
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
