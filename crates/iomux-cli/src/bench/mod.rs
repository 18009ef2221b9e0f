//! `iomux bench`: the lab that turns the course notes' claims into numbers on this machine.
//!
//! Each experiment starts the servers it measures (the `iomux serve` models, and for `echo` the
//! reference peers), pins server and load generator to different CPUs when there are two or
//! more, drives them with the in-process load generator, and prints tables with ratios. Into
//! `--out` (default: a new folder under `bench-results/`) it writes `results.jsonl` (one JSON
//! object per measured point), `summary.txt` (the tables) and SVG charts.
//!
//! The figure that does not depend on which side was the bottleneck is **server CPU time per
//! message**: the server's CPU time during the measured window (summed over its threads from
//! `/proc/PID/task/*/schedstat`, nanosecond resolution) divided by the messages completed.
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, SystemTime};

pub mod busy;
pub mod chart;
pub mod echo;
pub mod idle;
pub mod wait;

/// Where results go, and the record of what was printed.
pub struct Lab {
    pub out: PathBuf,
    summary: String,
    jsonl: File,
    pub pinning: Pinning,
}

impl Lab {
    pub fn new(out: Option<PathBuf>, experiment: &str) -> io::Result<Lab> {
        let out = out.unwrap_or_else(|| {
            PathBuf::from("bench-results").join(format!("{}-{experiment}", timestamp()))
        });
        fs::create_dir_all(&out).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot create {}: {e}", out.display()))
        })?;
        let jsonl = File::options()
            .create(true)
            .append(true)
            .open(out.join("results.jsonl"))?;
        let pinning = Pinning::detect();
        // The load generator runs on this thread and the threads it starts (they inherit this).
        pinning.pin_load_thread();
        let mut lab = Lab {
            out,
            summary: String::new(),
            jsonl,
            pinning,
        };
        lab.say(&format!(
            "iomux bench {experiment}: {}; results in {}",
            lab.pinning.describe(),
            lab.out.display()
        ));
        Ok(lab)
    }

    /// Prints a line and keeps it for `summary.txt`.
    pub fn say(&mut self, line: &str) {
        println!("{line}");
        self.summary.push_str(line);
        self.summary.push('\n');
    }

    /// Appends one measured point to `results.jsonl`.
    pub fn record(&mut self, value: &serde_json::Value) -> io::Result<()> {
        writeln!(self.jsonl, "{value}")
    }

    /// Writes a chart into the output folder as `NAME.svg` and, rendered, `NAME.png`.
    pub fn write_chart(&mut self, name: &str, svg: &str) -> io::Result<()> {
        fs::write(self.out.join(format!("{name}.svg")), svg)?;
        match chart::to_png(svg) {
            Ok(png) => fs::write(self.out.join(format!("{name}.png")), png),
            Err(e) => {
                self.say(&format!(
                    "({name}.png not written: {e}; the SVG has the same chart)"
                ));
                Ok(())
            }
        }
    }

    pub fn finish(self) -> io::Result<PathBuf> {
        let mut existing = fs::read_to_string(self.out.join("summary.txt")).unwrap_or_default();
        existing.push_str(&self.summary);
        fs::write(self.out.join("summary.txt"), existing)?;
        Ok(self.out)
    }
}

/// `YYYYMMDD-HHMMSS` in UTC, for folder names.
fn timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
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

    fn describe(&self) -> String {
        match (self.server, self.load) {
            (Some(s), Some(l)) => format!("server pinned to CPU {s}, load generator to CPU {l}"),
            _ => "one CPU: server and load generator share it (ratios are squeezed)".into(),
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
    fn spawn_pinned(&self, cmd: &mut Command) -> io::Result<Child> {
        if let Some(cpu) = self.server {
            iomux_sys::process::pin_current_thread(&[cpu])?;
        }
        let child = cmd.spawn();
        self.pin_load_thread();
        child
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

    /// CPU time used so far by all of the server's threads.
    pub fn cpu_time(&self) -> Duration {
        process_cpu(self.pid())
    }

    /// SIGTERM, wait, and return what it printed after `listening on` (its summary).
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut self.stdout, &mut rest);
        let _ = self.child.wait();
        rest
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sum of the on-CPU time of every thread of `pid`, from `/proc/PID/task/*/schedstat`.
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

/// The median of some measurements (the lab repeats points and keeps the median).
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// A plain text table with right-aligned columns after the first.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == 0 {
                let _ = write!(out, "{cell:<w$}");
            } else {
                let _ = write!(out, "  {cell:>w$}");
            }
        }
        out.push('\n');
    };
    line(
        &headers.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
        &mut out,
    );
    line(
        &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
        &mut out,
    );
    for row in rows {
        line(row, &mut out);
    }
    out.pop();
    out
}

/// The descriptors this process may use, after raising the soft limit to the hard one.
pub fn fd_budget() -> io::Result<u64> {
    iomux_sys::process::raise_nofile_limit()
}
