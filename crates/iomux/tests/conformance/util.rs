//! Helpers named after what they assert.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use iomux::{Events, Readiness, Selector};

static FDS: RwLock<()> = RwLock::new(());

/// Taken by tests that open a few fds.
pub fn shared_fds() -> RwLockReadGuard<'static, ()> {
    FDS.read().unwrap_or_else(|e| e.into_inner())
}

/// Taken by tests that open thousands of fds or rely on fd numbers being free.
pub fn exclusive_fds() -> RwLockWriteGuard<'static, ()> {
    FDS.write().unwrap_or_else(|e| e.into_inner())
}

/// Waits interrupted in a thousand, under [`with_interrupted_waits`].
const INTERRUPTED_PER_MILLE: u32 = 300;

/// Runs `body` with this thread's waits interrupted (`EINTR`, at the sys layer) about three
/// times in ten, in an order seeded from the clock, or from `IOMUX_FAULT_SEED` to replay a
/// failure (whose seed is printed).
pub fn with_interrupted_waits(name: &str, body: impl FnOnce()) {
    use iomux_sys::fault::{install, Mix, Schedule};
    struct SaySeed<'a>(&'a str, u64);
    impl Drop for SaySeed<'_> {
        fn drop(&mut self) {
            install(None);
            if std::thread::panicking() {
                eprintln!(
                    "{} failed with its waits interrupted: IOMUX_FAULT_SEED={} replays it",
                    self.0, self.1
                );
            }
        }
    }
    let seed = std::env::var("IOMUX_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
    let mix = Mix {
        interrupts_only: true,
        ..Mix::default()
    };
    install(Some(Schedule::new(seed, INTERRUPTED_PER_MILLE, mix)));
    let _say = SaySeed(name, seed);
    body();
}

/// How many of this thread's waits the fault schedule has interrupted (0 outside
/// [`with_interrupted_waits`]).
pub fn interrupted_waits() -> u64 {
    iomux_sys::fault::current().map_or(0, |s| s.injected(iomux_sys::fault::Call::Wait))
}

/// Whether the backend runs on this machine. If not, says why on stderr and returns false
/// (the test is skipped), or fails when `IOMUX_REQUIRE_BACKENDS` is set.
pub fn available(kind: iomux::BackendKind) -> bool {
    match kind.probe() {
        Ok(()) => true,
        Err(why) => {
            let required = std::env::var_os("IOMUX_REQUIRE_BACKENDS").is_some_and(|v| v != "0");
            assert!(
                !required,
                "the {kind} backend is required (IOMUX_REQUIRE_BACKENDS) but unavailable: {why}"
            );
            eprintln!("SKIPPED: the {kind} backend is not available here: {why}");
            false
        }
    }
}

/// A generous bound for "should arrive soon" waits; never reached when things work.
pub const SOON: Duration = Duration::from_secs(5);

/// A connected, non-blocking Unix stream pair.
pub fn unix_pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// A connected, non-blocking TCP pair over loopback: (client, server side).
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    client.set_nonblocking(true).unwrap();
    server.set_nonblocking(true).unwrap();
    (client, server)
}

/// Waits up to `timeout` and returns the (fd, data, readiness) of each live event.
pub fn select_ready<T: Clone>(
    sel: &mut Selector<T>,
    timeout: Option<Duration>,
) -> Vec<(RawFd, T, Readiness)> {
    let mut events = Events::with_capacity(256);
    sel.select(&mut events, timeout).unwrap();
    sel.ready(&events)
        .map(|(k, r)| (k.fd(), k.data().clone(), r))
        .collect()
}

/// Asserts a zero-timeout wait reports nothing.
pub fn expect_no_events<T: Clone + std::fmt::Debug>(sel: &mut Selector<T>) {
    let ready = select_ready(sel, Some(Duration::ZERO));
    assert!(ready.is_empty(), "expected no events, got {ready:?}");
}

/// Asserts that a wait reports `fd`, and returns its readiness.
pub fn expect_event_for<T: Clone>(sel: &mut Selector<T>, fd: &impl AsRawFd) -> Readiness {
    let fd = fd.as_raw_fd();
    let ready = select_ready(sel, Some(SOON));
    ready
        .iter()
        .find(|(f, _, _)| *f == fd)
        .map(|(_, _, r)| *r)
        .unwrap_or_else(|| {
            panic!(
                "expected an event for fd {fd}, got fds {:?}",
                ready.iter().map(|e| e.0).collect::<Vec<_>>()
            )
        })
}

/// Reads everything available from a non-blocking stream.
pub fn drain(mut s: impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return out,
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

/// Writes all of `bytes` to a stream that has room for them.
pub fn send(mut s: impl Write, bytes: &[u8]) {
    s.write_all(bytes).unwrap();
}
