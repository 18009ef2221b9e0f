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
use std::time::Instant;

use iomux::{BackendKind, Events, Interest, Selector};
use tracing::{debug, warn};

use super::{Counters, Shared, ACCEPT_RETRY};
use crate::proto::Protocol;

type Registry = Arc<Mutex<HashMap<u64, (Arc<TcpStream>, Option<JoinHandle<Counters>>)>>>;

pub fn serve(listener: TcpListener, shared: &Arc<Shared>) -> io::Result<Counters> {
    let mut selector: Selector<()> = Selector::with_backend(BackendKind::Poll)?;
    let waker = selector.waker()?;
    shared.shutdown.on_request(move || {
        let _ = waker.wake();
    });
    selector.register(&listener, Interest::READ, ())?;
    let registry: Registry = Arc::default();
    let mut finished = Counters::default();
    let mut next_id = 0u64;
    let mut events = Events::with_capacity(4);
    let mut warned = false;
    while !shared.shutdown.is_requested() {
        let paused = shared.limit.is_full();
        selector.select(&mut events, paused.then_some(ACCEPT_RETRY))?;
        reap(&registry, &mut finished);
        if shared.shutdown.is_requested() || shared.limit.is_full() {
            continue;
        }
        loop {
            if shared.limit.is_full() {
                break;
            }
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if iomux_sys::socket::is_fd_exhaustion(&e) => {
                    if !warned {
                        warn!("accept: {e}; pausing accepts until descriptors are free");
                        warned = true;
                    }
                    // Wait out the shortage without spinning; a wake still ends it early.
                    selector.unregister(&listener)?;
                    selector.select(&mut events, Some(ACCEPT_RETRY))?;
                    selector.register(&listener, Interest::READ, ())?;
                    reap(&registry, &mut finished);
                    break;
                }
                Err(e) => {
                    debug!("accept: {e}");
                    continue;
                }
            };
            warned = false;
            finished.accepted += 1;
            next_id += 1;
            if let Err(e) = start_connection(next_id, stream, shared, &registry) {
                warn!("cannot start a connection thread: {e}");
                finished.refused += 1;
            }
        }
    }
    drop(listener);
    // Stop reading on every connection; each thread then finishes its writes and exits.
    let handles: Vec<_> = {
        let mut map = registry.lock().unwrap_or_else(|e| e.into_inner());
        map.values_mut()
            .map(|(stream, handle)| {
                let _ = stream.set_write_timeout(Some(shared.config.grace));
                let _ = stream.shutdown(Direction::Read);
                handle.take()
            })
            .collect()
    };
    for handle in handles.into_iter().flatten() {
        if let Ok(counters) = handle.join() {
            finished.add(&counters);
        }
    }
    Ok(finished)
}

/// Joins the threads of connections that have ended, adding their counters.
fn reap(registry: &Registry, total: &mut Counters) {
    let done: Vec<JoinHandle<Counters>> = {
        let mut map = registry.lock().unwrap_or_else(|e| e.into_inner());
        let ended: Vec<u64> = map
            .iter()
            .filter(|(_, (_, h))| h.as_ref().is_some_and(|h| h.is_finished()))
            .map(|(id, _)| *id)
            .collect();
        ended
            .into_iter()
            .filter_map(|id| map.remove(&id).and_then(|(_, h)| h))
            .collect()
    };
    for handle in done {
        if let Ok(counters) = handle.join() {
            total.add(&counters);
        }
    }
}

fn start_connection(
    id: u64,
    stream: TcpStream,
    shared: &Arc<Shared>,
    registry: &Registry,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    let _ = stream.set_nodelay(true);
    stream.set_read_timeout(shared.config.idle_timeout)?;
    let stream = Arc::new(stream);
    let mut map = registry.lock().unwrap_or_else(|e| e.into_inner());
    let thread_stream = stream.clone();
    let thread_shared = shared.clone();
    shared.limit.opened();
    let handle = std::thread::Builder::new()
        .name(format!("iomux-conn-{id}"))
        .stack_size(128 * 1024)
        .spawn(move || {
            let counters = serve_connection(&thread_stream, &thread_shared.config.proto);
            thread_shared.limit.closed();
            debug!(id, "connection closed");
            counters
        });
    match handle {
        Ok(handle) => {
            map.insert(id, (stream, Some(handle)));
            debug!(id, "connection opened");
            Ok(())
        }
        Err(e) => {
            shared.limit.closed();
            Err(e)
        }
    }
}

fn serve_connection(stream: &TcpStream, proto: &Protocol) -> Counters {
    let mut counters = Counters::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut scratch = Vec::new();
    let started = Instant::now();
    loop {
        let n = match (&*stream).read(&mut buf) {
            Ok(0) => break, // end of stream: every answer was written already
            Ok(n) => n,
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
        };
        counters.bytes_in += n as u64;
        let answer = proto.answer(&buf[..n], &mut scratch);
        if let Err(e) = (&*stream).write_all(answer) {
            debug!("write: {e}");
            break;
        }
        counters.bytes_out += answer.len() as u64;
    }
    counters
}
