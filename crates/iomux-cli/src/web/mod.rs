//! `iomux web`: the front end. The lab's stored runs as tables and charts, comparisons with
//! their verdicts, a point's history, a live view of a running `iomux serve --stats-addr`,
//! and trace files (`iomux serve --trace`) drawn as timelines, over HTTP/1.1 served by
//! iomux's own callback event loop ([`crate::http`]).
//!
//! The pages are plain HTML, CSS and JS built into the binary ([`assets`]); every page gets
//! its data from a JSON API under `/api/` ([`routes`]), which answers from the results store
//! on worker threads ([`queries`]) and from watched servers ([`live`]).
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::http::{self, server};
use crate::shutdown::Shutdown;
use crate::store::DbArg;

pub mod assets;
pub mod live;
pub mod queries;
pub mod routes;
pub mod traces;

/// `iomux web` flags.
#[derive(clap::Args, Debug)]
pub struct WebArgs {
    /// Address to serve on. Loopback by default: the front end has no login, and anyone who
    /// reaches it can delete nothing but can read every stored run.
    #[arg(long, default_value = "127.0.0.1:8700")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub db: DbArg,
    /// A running `iomux serve --stats-addr ADDR` to list on the live page (repeatable; any
    /// loopback address can also be typed there).
    #[arg(long, value_name = "ADDR")]
    pub watch: Vec<SocketAddr>,
    /// A trace file (`iomux serve --trace FILE`) to draw as a timeline on the traces page, or
    /// a folder whose trace*.json files are listed (a `bench echo --trace-point` run's folder,
    /// looked at again on each visit). Repeatable.
    #[arg(long, value_name = "PATH")]
    pub trace: Vec<PathBuf>,
    /// Serve the pages' files from this folder instead of the copies built in (to work on
    /// them without rebuilding).
    #[arg(long, value_name = "DIR")]
    pub assets: Option<PathBuf>,
    /// A request must arrive whole within this many seconds of its first byte (else 408 and
    /// the connection is closed: a slowloris client holds nothing for long).
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub head_timeout: f64,
    /// A keep-alive connection with no request in progress is closed after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub idle_timeout: f64,
}

/// Runs the front end until SIGINT or SIGTERM.
pub fn run(args: WebArgs) -> io::Result<()> {
    let seconds = |flag: &str, value: f64| {
        Duration::try_from_secs_f64(value)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{flag} must be a positive number of seconds, not {value}"),
                )
            })
    };
    let limits = http::Limits {
        head_timeout: seconds("--head-timeout", args.head_timeout)?,
        idle_timeout: seconds("--idle-timeout", args.idle_timeout)?,
        ..http::Limits::default()
    };
    let url = args.db.url()?;
    let store = iomux_store::open(&url)?;
    let described = store.describe();
    let listener = TcpListener::bind(args.addr)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {}: {e}", args.addr)))?;
    let local = listener.local_addr()?;
    if let Err(e) = iomux_sys::process::raise_nofile_limit() {
        tracing::warn!("could not raise RLIMIT_NOFILE: {e}");
    }
    let shutdown = Arc::new(Shutdown::default());
    stop_on_signals(&shutdown)?;
    // Built once and kept for the life of the process: the files are answered without copies.
    let assets: &'static assets::Assets =
        Box::leak(Box::new(assets::Assets::new(args.assets.as_deref())));
    // The first line as `iomux serve` says it (the lab and scripts read it), then the link.
    // A reader that stopped reading (closed the pipe) must not stop the server.
    let mut stdout = io::stdout();
    let _ = writeln!(stdout, "listening on {local}");
    let _ = writeln!(
        stdout,
        "iomux web: open http://{local}/ (runs from {described})"
    );
    let _ = stdout.flush();
    let watch = args.watch;
    let traces = Arc::new(traces::TraceSources::new(args.trace));
    server::run(listener, limits, &shutdown, |deliveries| {
        routes::Web::new(store, url, deliveries, assets, watch, traces)
    })
}

/// SIGINT or SIGTERM requests the shutdown (from a thread that waits for them).
fn stop_on_signals(shutdown: &Arc<Shutdown>) -> io::Result<()> {
    let (mut rx, tx) = UnixStream::pair()?;
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::low_level::pipe::register(signal, tx.try_clone()?)?;
    }
    let shutdown = shutdown.clone();
    std::thread::Builder::new()
        .name("iomux-web-signals".into())
        .spawn(move || {
            let mut byte = [0u8; 1];
            if rx.read(&mut byte).is_ok() {
                shutdown.request();
            }
            // A second signal while draining: exit at once.
            if rx.read(&mut byte).is_ok() {
                std::process::exit(130);
            }
        })?;
    Ok(())
}
