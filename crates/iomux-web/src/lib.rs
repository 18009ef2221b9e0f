//! `iomux web`: the front end. The lab's stored runs as tables and charts, comparisons with
//! their verdicts, a point's history, a live view of a running `iomux serve --stats-addr`,
//! and trace files (`iomux serve --trace`) drawn as timelines, over HTTP/1.1 served by
//! iomux's own callback event loop (`iomux_servers::http`).
//!
//! The pages are plain HTML, CSS and JS built into the binary ([`assets`]); every page gets
//! its data from a JSON API under `/api/` ([`routes`]), which answers from the results store
//! on worker threads ([`queries`]) and from watched servers ([`live`]).
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;

use iomux_http::Limits;
use iomux_metadata::announce;
use iomux_servers::shutdown::{self, Shutdown};
use iomux_store::DbUrl;

pub mod assets;
pub mod live;
pub mod queries;
pub mod routes;
pub mod tables;
pub mod traces;

/// What the front end serves, and where.
#[derive(Debug)]
pub struct Config {
    /// Address to serve on.
    pub addr: SocketAddr,
    /// The results store whose runs it shows.
    pub db: DbUrl,
    /// Running servers (`iomux serve --stats-addr ADDR`) listed on the live page.
    pub watch: Vec<SocketAddr>,
    /// Trace files, or folders of them, listed on the traces page.
    pub trace: Vec<PathBuf>,
    /// A folder to serve the pages' files from instead of the copies built in.
    pub assets: Option<PathBuf>,
    /// The HTTP limits (the request head's and the keep-alive idle timeouts among them).
    pub limits: Limits,
}

/// Runs the front end until SIGINT or SIGTERM.
pub fn run(config: Config) -> io::Result<()> {
    let store = iomux_store::open(&config.db)?;
    let described = store.describe();
    let listener = TcpListener::bind(config.addr)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {}: {e}", config.addr)))?;
    let local = listener.local_addr()?;
    if let Err(e) = iomux_sys::process::raise_nofile_limit() {
        tracing::warn!("could not raise RLIMIT_NOFILE: {e}");
    }
    let shutdown = Arc::new(Shutdown::default());
    shutdown::stop_on_signals(&shutdown)?;
    // Built once and kept for the life of the process: the files are answered without copies.
    let assets: &'static assets::Assets =
        Box::leak(Box::new(assets::Assets::new(config.assets.as_deref())));
    // The first line as `iomux serve` says it (the lab and scripts read it), then the link.
    // A reader that stopped reading (closed the pipe) must not stop the server.
    let mut stdout = io::stdout();
    let _ = writeln!(stdout, "{}", announce::listening(local));
    let _ = writeln!(
        stdout,
        "iomux web: open http://{local}/ (runs from {described})"
    );
    let _ = stdout.flush();
    let (url, watch) = (config.db, config.watch);
    let traces = Arc::new(traces::TraceSources::new(config.trace));
    iomux_servers::http::run(listener, config.limits, &shutdown, |deliveries| {
        routes::Web::new(store, url, deliveries, assets, watch, traces)
    })
}
