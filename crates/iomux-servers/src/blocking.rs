//! A thread per connection with blocking sockets: the model the others are measured against.
//! Simple and correct by construction for partial writes (a blocking `write_all` waits) and for
//! slow readers (the writing thread blocks, so memory stays bounded by the kernel's buffers),
//! but each connection costs a thread: a stack, a context switch per wake-up, and scheduler
//! work that grows with the number of clients.
//!
//! The acceptor waits on a small selector (the listener plus a waker) so that shutdown can
//! interrupt it; connection threads are stopped by shutting down their read side, after which
//! they finish writing and close.
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown as Direction, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use iomux::conn::Connection;
use iomux::{BackendKind, Events, Interest, ReadBuffer, Selector};
use iomux_sys::socket::DirectStream;
use tracing::{debug, warn};

use crate::accept::{Accepted, Acceptor};
use crate::answer::Answer;
use crate::counters::Counters;
use crate::shared::Shared;

/// The open connections, so shutdown can stop their reads. A connection thread removes its own
/// entry when it ends, which drops the last `Arc` and closes the socket at once.
type Registry = Arc<Mutex<HashMap<u64, Arc<DirectStream>>>>;

/// Accepts on `listener`, a thread per connection, until shutdown, then lets the connections
/// finish writing; returns what they did.
pub fn serve(listener: TcpListener, shared: &Arc<Shared>) -> io::Result<Counters> {
    let mut selector: Selector<()> = Selector::with_backend(BackendKind::Poll)?;
    let waker = selector.waker()?;
    shared.shutdown.on_request(move || {
        let _ = waker.wake();
    });
    selector.register(&listener, Interest::READ, ())?;
    let registry: Registry = Arc::default();
    let mut threads: Vec<JoinHandle<Counters>> = Vec::new();
    let mut total = Counters::default();
    let mut acceptor = Acceptor::default();
    let mut next_id = 0u64;
    let mut events = Events::with_capacity(4);
    while !shared.shutdown.is_requested() {
        // Wake up now and then to join finished connection threads, and when a pause ends.
        let timeout = acceptor
            .retry_at()
            .map_or(REAP_EVERY, |t| t.saturating_duration_since(Instant::now()));
        selector.select(&mut events, Some(timeout))?;
        let now = Instant::now();
        if reap(&mut threads, &mut total) > 0 {
            acceptor.on_close(now);
        }
        if shared.shutdown.is_requested() {
            break;
        }
        if acceptor.resume_due(now) {
            selector.register(&listener, Interest::READ, ())?;
        }
        if acceptor.is_paused() {
            continue;
        }
        loop {
            let stream = match acceptor.accept(&listener, &shared.limit, now) {
                Accepted::Conn(stream) => stream,
                Accepted::Drained => break,
                Accepted::Paused => {
                    // Stop watching the listener (it stays readable) until the pause ends.
                    selector.unregister(&listener)?;
                    break;
                }
            };
            next_id += 1;
            match start_connection(next_id, stream, shared, &registry) {
                Ok(handle) => {
                    total.accepted += 1;
                    threads.push(handle);
                }
                Err(e) => {
                    warn!("cannot start a connection thread: {e}");
                    total.refused += 1;
                }
            }
        }
    }
    drop(listener);
    // Stop reading on every connection; each thread then finishes its writes and exits.
    for stream in registry.lock().unwrap_or_else(|e| e.into_inner()).values() {
        let _ = stream.stream().set_write_timeout(Some(shared.config.grace));
        let _ = stream.stream().shutdown(Direction::Read);
    }
    for handle in threads {
        if let Ok(counters) = handle.join() {
            total.add(&counters);
        }
    }
    Ok(total)
}

const REAP_EVERY: Duration = Duration::from_secs(1);

/// Joins the connection threads that have ended, adding their counters; returns how many.
fn reap(threads: &mut Vec<JoinHandle<Counters>>, total: &mut Counters) -> usize {
    let mut reaped = 0;
    let mut i = 0;
    while i < threads.len() {
        if threads[i].is_finished() {
            if let Ok(counters) = threads.swap_remove(i).join() {
                total.add(&counters);
            }
            reaped += 1;
        } else {
            i += 1;
        }
    }
    reaped
}

fn start_connection(
    id: u64,
    stream: TcpStream,
    shared: &Arc<Shared>,
    registry: &Registry,
) -> io::Result<JoinHandle<Counters>> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(shared.config.idle_timeout)?;
    // The bare syscalls, as the other models make them (and where test builds inject faults).
    let stream = Arc::new(DirectStream::new(stream));
    // Registered before the thread starts, so the thread's removal always finds it.
    registry
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, stream.clone());
    let thread_registry = registry.clone();
    let thread_shared = shared.clone();
    shared.limit.opened();
    let spawned = std::thread::Builder::new()
        .name(format!("iomux-conn-{id}"))
        .stack_size(128 * 1024)
        .spawn(move || {
            let counters = serve_connection(&stream, thread_shared.config.proto.clone());
            thread_registry
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            drop(stream); // the last reference: closes the socket
            thread_shared.limit.closed();
            debug!(id, "connection closed");
            counters
        });
    if spawned.is_err() {
        registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        shared.limit.closed();
    } else {
        debug!(id, "connection opened");
    }
    spawned
}
/// How much one read of a connection's thread takes at most. One buffer per connection here,
/// not per loop, so it stays at 64 KiB (memory grows with the connections); there is no loop
/// to be unfair in: the kernel schedules the threads.
const READ_BUFFER: usize = 64 * 1024;

/// Serves one connection with blocking calls, through the same connection core as the other
/// models (its protocol state and buffer); a blocking write needs no backpressure of its own.
fn serve_connection(stream: &DirectStream, proto: Answer) -> Counters {
    let mut counters = Counters::default();
    let mut buf = ReadBuffer::new(READ_BUFFER);
    let started = Instant::now();
    let mut conn = Connection::new(proto, usize::MAX, started);
    while conn.wants_read() {
        match (&*stream).read(&mut buf) {
            Ok(0) => conn.receive_end(),
            Ok(n) => {
                counters.bytes_in += n as u64;
                counters.reads += 1;
                crate::plant::per_message(1);
                let now = Instant::now();
                if conn.answers_in_place() {
                    // An echo: sent from the read buffer, not copied into the queue first (a
                    // blocking write takes all of it; BENCHMARKS §23).
                    conn.receive_answered_in_place(n, now);
                    if let Err(e) = (&*stream).write_all(&buf[..n]) {
                        debug!("write: {e}");
                        break;
                    }
                    conn.sent(n, Instant::now());
                    counters.bytes_out += n as u64;
                    continue;
                }
                conn.receive(&buf[..n], now);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                debug!("idle timeout after {:?}", started.elapsed());
                break;
            }
            Err(e) => {
                debug!("read: {e}");
                break;
            }
        }
        let owed = conn.owed().len();
        if owed > 0 {
            if let Err(e) = (&*stream).write_all(conn.owed()) {
                debug!("write: {e}");
                break;
            }
            conn.sent(owed, Instant::now());
            counters.bytes_out += owed as u64;
        }
    }
    counters
}
