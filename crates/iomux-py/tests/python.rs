//! `iomux.selectors` tested from Python, so that `cargo test --workspace` covers it.
//!
//! The extension is built once per run with maturin, as `pip install` would build it, into its
//! own directory under the workspace's target directory (`target/iomux-py/`: maturin's cargo
//! runs with PyO3 configured for the interpreter, so sharing `target/debug` would rebuild PyO3
//! for every alternating `cargo test` and maturin build), and the wheel is unpacked there
//! (`target/iomux-py/site`, put on `PYTHONPATH`). Then, with `python3`:
//! - CPython's own selector tests (`test.test_selectors`, the interpreter's copy) against every
//!   iomux class, compared with the standard module's classes on this machine
//!   (`tests/python/cpython_selectors.py` has the rule and the deliberate differences);
//! - the course notes' selectors server (`seed/python/selectors_server.py`, unchanged) on each
//!   backend, its `selectors` import pointed at iomux, against the notes' own clients;
//! - an asyncio echo server on asyncio's selector loop with each level-triggered backend,
//!   checked byte for byte over many pipelined connections.
//!
//! Without `python3`, maturin (`maturin` on PATH or `python3 -m maturin`) or CPython's test
//! package, each test says why and passes; with `IOMUX_REQUIRE_PYTHON` set (as `.ci/run` does)
//! it fails instead.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use iomux::BackendKind;

const REQUIRE_ENV: &str = "IOMUX_REQUIRE_PYTHON";

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn seed_program(name: &str) -> PathBuf {
    crate_dir().join("../../seed/python").join(name)
}

fn test_script(name: &str) -> PathBuf {
    crate_dir().join("tests/python").join(name)
}

/// The workspace's target directory: `CARGO_TARGET_DIR`, else the one this test binary is in
/// (`<target>/debug/deps/python-<hash>`).
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors()
        .nth(3)
        .expect("the test binary is in <target>/<profile>/deps")
        .to_path_buf()
}

/// A prerequisite is missing: a failure under `IOMUX_REQUIRE_PYTHON`, else a note (the
/// caller then returns, passing).
fn missing(what: &str) {
    assert!(
        std::env::var_os(REQUIRE_ENV).is_none(),
        "{REQUIRE_ENV} is set but {what}"
    );
    eprintln!("skipped: {what} (set {REQUIRE_ENV}=1 to make this a failure)");
}

fn runs(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// maturin as a command: the `maturin` executable, else the Python module.
fn maturin() -> Option<Command> {
    if runs(Command::new("maturin").arg("--version")) {
        return Some(Command::new("maturin"));
    }
    if runs(Command::new("python3").args(["-m", "maturin", "--version"])) {
        let mut command = Command::new("python3");
        command.args(["-m", "maturin"]);
        return Some(command);
    }
    None
}

/// Runs `command` to its end, but for at most `limit`: a client that hangs (a server that lost
/// its connection) fails the test with what it printed instead of hanging the test run.
fn output_within(command: &mut Command, limit: Duration) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    wait_within(child, limit)
}

/// Waits for `child` (its output piped) for at most `limit`; see [`output_within`].
fn wait_within(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child
        .try_wait()
        .expect("the child can be waited for")
        .is_none()
    {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("the killed child ends");
            panic!(
                "still running after {limit:?}, killed: {}",
                describe(&output)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("the child ended")
}

fn describe(output: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Builds the wheel and unpacks it; the directory to put on `PYTHONPATH`, or why not.
fn build() -> Result<PathBuf, String> {
    if !runs(Command::new("python3").arg("--version")) {
        return Err("python3 is not installed".into());
    }
    let mut maturin = maturin().ok_or(
        "maturin is not installed (pip install maturin, in a virtual environment on Debian)",
    )?;
    let root = target_dir().join("iomux-py");
    let wheels = root.join("wheels");
    let _ = std::fs::remove_dir_all(&wheels);
    let output = maturin
        .arg("build")
        .arg("--manifest-path")
        .arg(crate_dir().join("Cargo.toml"))
        .args(["--profile", "dev", "--quiet"])
        .arg("--target-dir")
        .arg(root.join("cargo"))
        .arg("--out")
        .arg(&wheels)
        .output()
        .map_err(|e| format!("maturin did not start: {e}"))?;
    assert!(
        output.status.success(),
        "maturin build failed: {}",
        describe(&output)
    );
    let wheel = std::fs::read_dir(&wheels)
        .expect("maturin's output directory")
        .map(|entry| entry.expect("a directory entry").path())
        .find(|path| path.extension().is_some_and(|e| e == "whl"))
        .expect("maturin built a wheel");
    // A wheel is a zip laid out as site-packages: unpacking it installs it, without pip
    // (which Debian's python3 may lack, or refuse outside a virtual environment).
    let site = root.join("site");
    let _ = std::fs::remove_dir_all(&site);
    let output = Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(&site)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "unpacking {wheel:?}: {}",
        describe(&output)
    );
    Ok(site)
}

/// The unpacked package, built once for all the tests of this binary; `None` (after the note
/// or the failure of [`missing`]) when a prerequisite is missing.
fn package() -> Option<&'static Path> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BUILT.get_or_init(build) {
        Ok(site) => Some(site),
        Err(why) => {
            missing(why);
            None
        }
    }
}

/// `python3` with the package importable.
fn python(site: &Path) -> Command {
    let mut command = Command::new("python3");
    command.env("PYTHONPATH", site).env_remove("IOMUX_BACKEND");
    command
}

/// A Python server process, killed and reaped when dropped.
struct Server {
    child: Child,
    stdout: BufReader<ChildStdout>,
    /// The words after `LISTENING` in its first line: the port first.
    announced: Vec<String>,
}

impl Server {
    fn start(mut command: Command) -> Server {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("the server's first line");
        let announced: Vec<String> = match line.strip_prefix("LISTENING ") {
            Some(rest) => rest.split_whitespace().map(str::to_owned).collect(),
            None => {
                let _ = child.kill();
                panic!("the server did not start: {line:?}");
            }
        };
        Server {
            child,
            stdout,
            announced,
        }
    }

    fn port(&self) -> u16 {
        self.announced[0].parse().expect("a port number")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn cpython_selector_tests_pass_for_every_iomux_selector() {
    let Some(site) = package() else { return };
    let output = output_within(
        python(site).arg(test_script("cpython_selectors.py")),
        Duration::from_secs(600),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    if output.status.code() == Some(3) {
        missing(
            "python3 has no CPython test package (test.test_selectors; on Debian: apt-get \
             install libpython3.X-testsuite, X the minor version)",
        );
        return;
    }
    // The per-class counts and the deliberate differences, shown with --nocapture.
    for line in stdout.lines() {
        if ["STANDARD", "RESULT", "DIFFERENCE"]
            .iter()
            .any(|p| line.starts_with(p))
        {
            println!("{line}");
        }
    }
    assert!(output.status.success(), "{}", describe(&output));
    // Every backend this kernel runs was tested.
    for kind in BackendKind::supported() {
        assert!(
            stdout.contains(&format!("({}) vs", kind.name())),
            "{} was not tested: {stdout}",
            kind.name()
        );
    }
}

#[test]
fn notes_selectors_server_runs_on_every_level_triggered_backend_with_the_notes_clients() {
    let Some(site) = package() else { return };
    for kind in BackendKind::supported() {
        // The notes' server accepts one connection and reads once per report: code for a
        // level-triggered selector. On an edge-triggered one, two connections arriving
        // together raise one edge, and the second waits for ever (found under CI's load).
        if kind.is_edge_triggered() {
            continue;
        }
        let mut command = python(site);
        command
            .arg(test_script("seed_shim.py"))
            .arg(seed_program("selectors_server.py"))
            .args(["127.0.0.1", "0"])
            .env("IOMUX_BACKEND", kind.name());
        let server = Server::start(command);
        assert!(
            server.announced[1].starts_with("iomux.selectors.")
                && server.announced[2] == kind.name(),
            "the notes' server runs on iomux's {kind} selector: {:?}",
            server.announced
        );
        let port = server.port().to_string();

        let out = output_within(
            python(site)
                .arg(seed_program("nonblocking_clients.py"))
                .args(["127.0.0.1", &port]),
            Duration::from_secs(30),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{kind}: {}", describe(&out));
        // Its two threads print at the same moment, so their lines may interleave.
        assert_eq!(
            stdout.matches("b'HELLO_SB'").count(),
            2,
            "{kind}: {stdout:?}"
        );
        assert_eq!(
            stdout.replace("b'HELLO_SB'", "").trim(),
            "",
            "{kind}: {stdout:?}"
        );

        let mut client = python(site)
            .arg(seed_program("interactive_client.py"))
            .args(["127.0.0.1", &port])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 starts");
        client
            .stdin
            .take()
            .expect("piped")
            .write_all(b"hello\n\nselectors\n")
            .expect("the client reads its input");
        let out = wait_within(client, Duration::from_secs(30));
        // As in the notes, the client ends with an EOFError traceback when its input runs out.
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            ">>: HELLO_SB\n>>: >>: SELECTORS_SB\n>>: ",
            "{kind}"
        );
    }
}

/// Connections, and messages of 64 bytes each sends before reading the echoes back, per round.
const ECHO_CONNECTIONS: usize = 100;
const ECHO_PIPELINE: usize = 16;
const ECHO_ROUNDS: usize = 5;

#[test]
fn asyncio_echo_server_runs_on_every_level_triggered_backend() {
    let Some(site) = package() else { return };
    for kind in BackendKind::supported() {
        // asyncio reads a ready socket once and waits for the next report: it needs a
        // selector that reports what is still unread, i.e. a level-triggered one.
        if kind.is_edge_triggered() {
            continue;
        }
        let mut command = python(site);
        command
            .arg(test_script("asyncio_echo_server.py"))
            .args(["--stop-on-eof", kind.name()])
            .stdin(Stdio::piped());
        let mut server = Server::start(command);
        let mut conns: Vec<TcpStream> = (0..ECHO_CONNECTIONS)
            .map(|_| {
                let conn = TcpStream::connect(("127.0.0.1", server.port())).expect("connects");
                conn.set_read_timeout(Some(Duration::from_secs(20)))
                    .expect("a read timeout");
                conn
            })
            .collect();
        for round in 0..ECHO_ROUNDS {
            let messages: Vec<Vec<u8>> = (0..conns.len())
                .map(|c| message_batch(kind, round, c))
                .collect();
            for (conn, batch) in conns.iter_mut().zip(&messages) {
                conn.write_all(batch).expect("the server reads");
            }
            for (c, (conn, batch)) in conns.iter_mut().zip(&messages).enumerate() {
                let mut echoed = vec![0; batch.len()];
                conn.read_exact(&mut echoed)
                    .unwrap_or_else(|e| panic!("{kind}: connection {c}, round {round}: {e}"));
                assert!(
                    echoed == *batch,
                    "{kind}: connection {c}, round {round}: wrong bytes"
                );
            }
        }
        drop(conns);
        // Its stdin closed, the server stops and prints the selector's counters, which show
        // that iomux's selector served.
        drop(server.child.stdin.take());
        let mut rest = String::new();
        server
            .stdout
            .read_to_string(&mut rest)
            .expect("the server's output");
        assert!(
            rest.starts_with("STATS {'wait_calls': "),
            "{kind}: {rest:?}"
        );
    }
}

/// One round's pipelined messages for connection `c`: distinct bytes per backend, round,
/// connection and message, so that a mixed-up echo shows.
fn message_batch(kind: BackendKind, round: usize, c: usize) -> Vec<u8> {
    (0..ECHO_PIPELINE)
        .flat_map(|m| {
            let tag = format!("{kind} r{round} c{c} m{m} ");
            tag.into_bytes().into_iter().cycle().take(64)
        })
        .collect()
}
