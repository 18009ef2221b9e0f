//! The lab's side of a server process: which CPU it runs on ([`Pinning`]), the command that
//! starts it ([`ServerSpec`]), the running process ([`ServerProc`]: its ready line, its CPU time,
//! its descriptors, its summary when stopped), and where the binaries are.
use std::fs;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use iomux_metadata::{announce, Summary};

/// Which CPUs the server and the load generator run on.
#[derive(Clone, Debug)]
pub struct Pinning {
    /// The server's CPU (`None`: not pinned).
    pub server: Option<usize>,
    /// The load generator's CPU (`None`: not pinned).
    pub load: Option<usize>,
}

impl Pinning {
    pub(crate) fn detect() -> Pinning {
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
pub fn pass_load(
    addr: SocketAddr,
    (conns, size, pipeline): (usize, usize, usize),
    duration: Duration,
) -> iomux_load::Config {
    iomux_load::Config {
        drain: Duration::from_secs(10),
        ..iomux_load::Config::closed_loop(addr, conns, size, pipeline, duration, Duration::ZERO)
    }
}

/// A server to measure: a name and the command that starts it (`--addr` is appended).
#[derive(Clone, Debug)]
pub struct ServerSpec {
    /// The server's name in tables and records.
    pub name: String,
    /// It waits in `io_uring_enter` (see [`crate::subjects::Subject::uses_io_uring`]).
    pub io_uring: bool,
    /// The program to run.
    pub program: PathBuf,
    /// Its arguments (before the appended `--addr`).
    pub args: Vec<String>,
}

impl ServerSpec {
    /// Starts it on the server's CPU and waits for its `listening on` line.
    pub fn start(&self, pinning: &Pinning) -> io::Result<ServerProc> {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        ServerProc::start(pinning, &self.name, &self.program, &args)
    }
}

/// A server process under measurement; killed on drop.
pub struct ServerProc {
    child: Child,
    stdout: BufReader<ChildStdout>,
    /// The address the server announced it listens on.
    pub addr: SocketAddr,
}

impl ServerProc {
    /// Starts `program args... --addr 127.0.0.1:0` and waits for its `listening on` line.
    pub fn start(
        pinning: &Pinning,
        name: &str,
        program: &Path,
        args: &[&str],
    ) -> io::Result<ServerProc> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .args(["--addr", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = pinning.spawn_pinned(&mut cmd).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot start {}: {e}", program.display()))
        })?;
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let addr = announce::listening_on(&line)
            .ok_or_else(|| io::Error::other(format!("{name} did not start (said {line:?})")))?;
        Ok(ServerProc {
            child,
            stdout,
            addr,
        })
    }

    /// A server started by other means, whose ready line (naming `addr`) has been read from
    /// `stdout` (the Python servers announce themselves in a line of their own).
    pub fn started(child: Child, stdout: BufReader<ChildStdout>, addr: SocketAddr) -> ServerProc {
        ServerProc {
            child,
            stdout,
            addr,
        }
    }

    /// The server's process id.
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
    pub fn stop(mut self) -> Option<Summary> {
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

/// A process's CPU time at one moment: the total from the scheduler (nanoseconds, exact) and
/// the user and system clock ticks (1/100 s) that split it.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuSample {
    /// On-CPU time of all its threads, from the scheduler.
    pub total: Duration,
    /// User CPU time, in clock ticks (1/100 s).
    pub user_ticks: u64,
    /// System CPU time, in clock ticks (1/100 s).
    pub system_ticks: u64,
    /// Times its threads went to sleep (voluntary context switches, summed over threads): a
    /// server's wake-ups, which batching makes fewer per message.
    pub sleeps: u64,
}

impl CpuSample {
    /// Samples process `pid`'s CPU time now (zero for what cannot be read).
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
            sleeps: voluntary_switches(pid),
        }
    }

    /// The sleeps (voluntary context switches) from `earlier` to this sample.
    pub fn sleeps_since(&self, earlier: &CpuSample) -> u64 {
        self.sleeps.saturating_sub(earlier.sleeps)
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

/// The voluntary context switches of every thread of `pid` (0 for what cannot be read): a
/// thread switches voluntarily when it blocks, in a wait or a read.
fn voluntary_switches(pid: u32) -> u64 {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| fs::read_to_string(task.path().join("status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|n| n.trim().parse::<u64>().ok())
        })
        .sum()
}
