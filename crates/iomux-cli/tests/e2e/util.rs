//! Starting and stopping `iomux serve`, and client helpers.
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_iomux");

/// A running `iomux serve`; killed on drop if the test did not stop it.
pub struct Server {
    child: Child,
    stdout: BufReader<ChildStdout>,
    stderr_path: std::path::PathBuf,
    pub addr: SocketAddr,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

impl Server {
    pub fn start(model: &str, proto: &str, extra: &[&str]) -> Server {
        Self::start_with(Command::new(BIN), model, proto, extra)
    }

    /// Starts the server with `IOMUX_BACKEND` set (for the callbacks model).
    pub fn start_on_backend(backend: &str, model: &str, proto: &str, extra: &[&str]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.env("IOMUX_BACKEND", backend);
        Self::start_with(cmd, model, proto, extra)
    }

    /// Starts the server with extra environment variables (e.g. `IOMUX_FAULTS`).
    pub fn start_with_env(
        env: &[(&str, &str)],
        model: &str,
        proto: &str,
        extra: &[&str],
    ) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.envs(env.iter().copied());
        Self::start_with(cmd, model, proto, extra)
    }

    /// Starts the server with the fd limit lowered by the shell first (`ulimit -n` lowers both
    /// the soft and hard limit, so the server cannot raise it back).
    pub fn start_with_fd_limit(limit: u32, model: &str, proto: &str, extra: &[&str]) -> Server {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
            .arg(BIN);
        Self::start_with(cmd, model, proto, extra)
    }

    /// Starts `iomux serve ARGS... --addr 127.0.0.1:0` (no `--model` or `--proto` of its own).
    pub fn start_args(args: &[&str]) -> Server {
        Self::launch(Command::new(BIN), args)
    }

    fn start_with(cmd: Command, model: &str, proto: &str, extra: &[&str]) -> Server {
        let mut args = vec!["--model", model, "--proto", proto];
        args.extend_from_slice(extra);
        Self::launch(cmd, &args)
    }

    fn launch(mut cmd: Command, args: &[&str]) -> Server {
        let stderr_path = std::env::temp_dir().join(format!(
            "iomux-e2e-{}-{}.stderr",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let stderr = File::create(&stderr_path).unwrap();
        let mut child = cmd
            .arg("serve")
            .args(args)
            .args(["--addr", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start iomux serve");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line {line:?}; stderr: {}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                )
            })
            .trim()
            .parse()
            .unwrap();
        Server {
            child,
            stdout,
            stderr_path,
            addr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line the server prints on stdout.
    pub fn next_line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Sends SIGTERM and waits; returns the exit status and the rest of stdout.
    pub fn stop(self) -> (ExitStatus, String) {
        self.signal("TERM");
        self.wait_exit()
    }

    /// Sends SIGTERM and waits; returns the exit status and everything it wrote to stderr
    /// (including what its threads wrote as they ended).
    pub fn stop_for_stderr(mut self) -> (ExitStatus, String) {
        self.signal("TERM");
        let status = self.child.wait().unwrap();
        (status, self.stderr()) // read before drop removes the file
    }

    /// Waits for the server to exit on its own (after a signal sent earlier: a second one
    /// would mean "exit now"); returns the exit status and the rest of stdout.
    pub fn wait_exit(mut self) -> (ExitStatus, String) {
        let status = self.child.wait().unwrap();
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        (status, rest)
    }

    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Resident memory, in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// User + system CPU time so far, in clock ticks (1/100 s), from /proc.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}

/// A small deterministic PRNG (xorshift64*), so failures can be replayed from the seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Sends `payload`, half-closes, and reads the whole answer until the server closes.
pub fn exchange(addr: SocketAddr, payload: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let reader = {
        let mut r = s.try_clone()?;
        std::thread::spawn(move || {
            let mut got = Vec::new();
            r.read_to_end(&mut got).map(|_| got)
        })
    };
    s.write_all(payload)?;
    s.shutdown(Shutdown::Write)?;
    reader.join().unwrap()
}

/// One echo round trip on an open connection.
pub fn round_trip(s: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
    let mut got = vec![0u8; msg.len()];
    if let Err(e) = s.write_all(msg).and_then(|()| s.read_exact(&mut got)) {
        panic!("round trip of {:?}: {e}", String::from_utf8_lossy(msg));
    }
    got
}

/// Whether the server has closed this connection (EOF or reset) within `within`.
pub fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 64];
    let deadline = Instant::now() + within;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::ConnectionReset) => return true,
            Err(_) => return false,
        }
        if Instant::now() >= deadline {
            return false;
        }
    }
}
