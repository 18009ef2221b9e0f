//! What the threads of one server share: the shutdown request, the `--max-conns` count, and
//! the drain that every model runs on shutdown.
use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::warn;

/// The shutdown request, shared by the main thread and every server thread.
#[derive(Default)]
pub struct Shutdown {
    requested: AtomicBool,
    notify: Mutex<Vec<Box<dyn Fn() + Send>>>,
}

impl Shutdown {
    /// Whether the shutdown has been requested.
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// Asks every thread to stop accepting, deliver what it owes, and finish.
    pub fn request(&self) {
        self.requested.store(true, Ordering::Release);
        for notify in self.notify.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            notify();
        }
    }

    /// Runs `notify` on [`request`](Self::request) (at once, if it was requested already).
    pub fn on_request(&self, notify: impl Fn() + Send + 'static) {
        let mut list = self.notify.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_requested() {
            notify();
        }
        list.push(Box::new(notify));
    }
}

/// SIGINT or SIGTERM requests the shutdown; a second one while draining means "now": the
/// process exits at once with status 130, without delivering what is still owed. The signals
/// arrive as bytes on a socket pair that a thread of its own reads, so nothing runs in a
/// signal handler, and the pair and the thread exist before any client can take the last
/// descriptor. The one signal rule of every iomux server (`iomux serve`, `iomux web`).
pub fn stop_on_signals(shutdown: &Arc<Shutdown>) -> io::Result<()> {
    let (mut signals, writer) = UnixStream::pair()?;
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::low_level::pipe::register(signal, writer.try_clone()?)?;
    }
    let shutdown = shutdown.clone();
    std::thread::Builder::new()
        .name("iomux-signals".into())
        .spawn(move || {
            let mut byte = [0u8; 1];
            if !matches!(signals.read(&mut byte), Ok(1)) {
                return;
            }
            shutdown.request();
            if matches!(signals.read(&mut byte), Ok(1)) {
                eprintln!("iomux: second signal: exiting without delivering what is still owed");
                std::process::exit(130);
            }
        })?;
    Ok(())
}

/// Connections open now, across threads, for `--max-conns`.
#[derive(Default)]
pub struct ConnLimit {
    open: AtomicUsize,
    max: Option<usize>,
}

impl ConnLimit {
    /// At most `max` connections at once (`None`: no limit).
    pub fn new(max: Option<usize>) -> Self {
        ConnLimit {
            open: AtomicUsize::new(0),
            max,
        }
    }
    /// Whether no connection may be accepted now.
    pub fn is_full(&self) -> bool {
        self.max
            .is_some_and(|max| self.open.load(Ordering::Acquire) >= max)
    }
    /// Counts a connection opened.
    pub fn opened(&self) {
        self.open.fetch_add(1, Ordering::AcqRel);
    }
    /// Counts a connection closed.
    pub fn closed(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

/// A model's shutdown drain: no more accepting or reading; what is owed is delivered for at
/// most the grace period, then whatever is left is closed anyway (and said so).
#[derive(Clone, Copy, Debug)]
pub struct Drain {
    deadline: Instant,
}

impl Drain {
    /// A drain that started at `now` and may deliver for `grace`.
    pub fn start(now: Instant, grace: Duration) -> Drain {
        Drain {
            deadline: now + grace,
        }
    }

    /// When the grace period ends (a deadline for the model's wait).
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the model is done: nothing is open any more, or the grace period is over (then
    /// the connections still open lose what they were owed, and a warning says how many).
    pub fn is_over(&self, now: Instant, open: usize) -> bool {
        if open == 0 {
            return true;
        }
        if now >= self.deadline {
            give_up(open);
            return true;
        }
        false
    }
}

/// The warning for connections closed at the end of the grace period with data still owed.
pub fn give_up(open: usize) {
    if open > 0 {
        warn!(
            "shutdown: {open} connection(s) still owed data after the grace period; closing them"
        );
    }
}
