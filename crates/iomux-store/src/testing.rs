//! A throwaway MariaDB server for tests: its own data directory, port and socket, created
//! with `mariadb-install-db` and gone when the test process ends (even if it is killed).
//!
//! When the server binaries are not installed the tests that need one are skipped with a
//! note, unless [`REQUIRE_ENV`] is set (`.ci/run` sets it, having installed `mariadb-server`):
//! then a missing server is a failure, never a silent skip.
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;

/// A folder for one test, removed when dropped, whether the test passed or not.
pub struct Scratch(PathBuf);

impl Scratch {
    /// A new empty folder `iomux-PREFIX-PID-NAME` in the temporary directory.
    pub fn new(prefix: &str, name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("iomux-{prefix}-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a test folder can be made");
        Scratch(dir)
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A made-up testbed named `host`: tests that need runs of distinct machines.
pub fn testbed(host: &str) -> crate::record::Testbed {
    crate::record::Testbed {
        host: host.into(),
        cpu_model: "Test CPU".into(),
        cores: 2,
        kernel: "6.18".into(),
        nofile_limit: 20_000,
        server_cpu: Some(0),
        load_cpu: Some(1),
        virtualized: false,
    }
}

/// Set (to anything) to make a missing MariaDB a test failure.
pub const REQUIRE_ENV: &str = "IOMUX_REQUIRE_MARIADB";

/// A running throwaway server. Root may connect without a password, over TCP or the socket.
pub struct MariaDb {
    /// The server's folder: data directory, socket, error log.
    pub dir: PathBuf,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    /// Its Unix socket.
    pub socket: PathBuf,
    /// The shell that started the server and stops it (and deletes `dir`) when this pipe
    /// closes, which happens when the test process exits, however it exits.
    _lifeline: Mutex<ChildStdin>,
    _shell: Mutex<Child>,
    names: Mutex<u32>,
}

fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

impl MariaDb {
    /// The server shared by all tests of this process, started on first use. `None` when
    /// MariaDB is not installed and not required; panics when it is required and missing, or
    /// installed but unable to start.
    pub fn shared() -> Option<&'static MariaDb> {
        static SERVER: OnceLock<Option<MariaDb>> = OnceLock::new();
        SERVER
            .get_or_init(|| match MariaDb::start() {
                Ok(server) => server,
                Err(e) => panic!("the throwaway MariaDB server did not start: {e}"),
            })
            .as_ref()
    }

    /// Starts a server; `Ok(None)` when the binaries are missing and not required.
    pub fn start() -> Result<Option<MariaDb>, String> {
        let (Some(server), Some(install)) = (find("mariadbd"), find("mariadb-install-db")) else {
            if std::env::var_os(REQUIRE_ENV).is_some() {
                return Err(format!(
                    "{REQUIRE_ENV} is set but mariadbd or mariadb-install-db is not installed (apt-get install mariadb-server)"
                ));
            }
            eprintln!("note: MariaDB is not installed: the MySQL store tests are skipped (set {REQUIRE_ENV}=1 to make this a failure)");
            return Ok(None);
        };
        let dir = std::env::temp_dir().join(format!(
            "iomux-mariadb-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let root = is_root();
        if root {
            // mariadbd refuses to run as root; its user must own the folder.
            run(Command::new("chown").arg("mysql:mysql").arg(&dir))?;
        }
        let data = dir.join("data");
        let mut setup = Command::new(install);
        setup
            .arg(format!("--datadir={}", data.display()))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db");
        if root {
            setup.arg("--user=mysql");
        }
        run(&mut setup)?;
        let socket = dir.join("s");
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            let mut args = vec![
                server.display().to_string(),
                "--no-defaults".into(),
                format!("--datadir={}", data.display()),
                format!("--socket={}", socket.display()),
                format!("--port={port}"),
                "--bind-address=127.0.0.1".into(),
                "--skip-name-resolve".into(),
                format!("--log-error={}", dir.join("err").display()),
                format!("--pid-file={}", dir.join("pid").display()),
                "--innodb-buffer-pool-size=64M".into(),
                "--innodb-flush-log-at-trx-commit=2".into(),
                "--max-connections=300".into(),
            ];
            if root {
                args.push("--user=mysql".into());
            }
            let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
            let script = format!(
                "{} & pid=$!; cat >/dev/null; kill $pid 2>/dev/null; wait $pid; rm -rf '{}'",
                quoted.join(" "),
                dir.display()
            );
            let mut shell = Command::new("sh")
                .args(["-c", &script])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot run sh: {e}"))?;
            let lifeline = shell.stdin.take().expect("piped");
            let server = MariaDb {
                dir: dir.clone(),
                port,
                socket: socket.clone(),
                _lifeline: Mutex::new(lifeline),
                _shell: Mutex::new(shell),
                names: Mutex::new(0),
            };
            match server.wait_ready(Duration::from_secs(30)) {
                Ok(()) => return Ok(Some(server)),
                Err(e) => {
                    last_error = e;
                    // Dropping `server` closes the lifeline: that attempt's server stops.
                    let log = std::fs::read_to_string(dir.join("err")).unwrap_or_default();
                    if !log.contains("Address already in use") {
                        return Err(format!("{last_error}; its log:\n{log}"));
                    }
                }
            }
        }
        Err(last_error)
    }

    fn wait_ready(&self, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if self.root().is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self._shell.lock().unwrap().try_wait() {
                return Err(format!("mariadbd exited ({status})"));
            }
            if start.elapsed() > limit {
                return Err(format!("mariadbd did not answer within {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A root connection over the socket.
    pub fn root(&self) -> Result<mysql::Conn, String> {
        let opts = mysql::OptsBuilder::new()
            .socket(Some(self.socket.display().to_string()))
            .user(Some("root"));
        mysql::Conn::new(opts).map_err(|e| e.to_string())
    }

    /// Runs statements as root.
    pub fn admin(&self, statements: &[&str]) {
        let mut conn = self.root().expect("root connects");
        for sql in statements {
            conn.query_drop(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    /// A new empty database, unique in this server; its name.
    pub fn fresh_database(&self, prefix: &str) -> String {
        let name = {
            let mut n = self.names.lock().unwrap();
            *n += 1;
            // MySQL names are at most 64 characters; the number keeps a cut prefix unique.
            let prefix: String = prefix.chars().take(50).collect();
            format!("{prefix}_{}", *n)
        };
        self.admin(&[&format!("CREATE DATABASE `{name}`")]);
        name
    }

    /// `mysql://USER[:PASSWORD]@127.0.0.1:PORT/DATABASE`.
    pub fn url(&self, user: &str, password: Option<&str>, database: &str) -> String {
        match password {
            Some(p) => format!("mysql://{user}:{p}@127.0.0.1:{}/{database}", self.port),
            None => format!("mysql://{user}@127.0.0.1:{}/{database}", self.port),
        }
    }
}

fn run(command: &mut Command) -> Result<(), String> {
    let out = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}
