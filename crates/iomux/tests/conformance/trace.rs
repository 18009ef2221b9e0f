//! Trace mode: each wait is a turn with its wake reason and counts; the syscalls made between
//! two waits belong to the first one's turn.
use std::io::Read;
use std::time::Duration;

use iomux::trace::Wake;
use iomux::{BackendKind, Events, Interest, Selector};
use iomux_sys::socket::TracedStream;

use crate::util::*;

pub fn trace_records_each_turn_with_its_wake_reason_and_syscalls(kind: BackendKind) {
    let (a, b) = tcp_pair();
    let a = TracedStream::from(a);
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.enable_trace(1000);
    let waker = sel.waker().unwrap();
    sel.register(std::os::fd::AsRawFd::as_raw_fd(&a), Interest::READ, ())
        .unwrap();
    let mut events = Events::with_capacity(8);
    send(&b, b"hello");
    sel.select(&mut events, Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert_eq!((&a).read(&mut buf).unwrap(), 5);
    // Drained: an edge-triggered backend reports nothing more, a level-triggered one nothing
    // either (the data is read).
    sel.select(&mut events, Some(Duration::from_millis(5)))
        .unwrap();
    waker.wake().unwrap();
    sel.select(&mut events, Some(Duration::from_secs(5)))
        .unwrap();
    let trace = sel.take_trace().unwrap();
    let turns: Vec<_> = trace.turns().collect();
    let wakes: Vec<Wake> = turns.iter().map(|t| t.wait.woke).collect();
    assert_eq!(wakes, [Wake::Fd, Wake::Timeout, Wake::Waker]);
    assert_eq!(turns[0].wait.events, 1);
    assert_eq!(turns[1].wait.timeout, Some(Duration::from_millis(5)));
    assert!(turns[1].wait.blocked >= Duration::from_millis(5));
    // The read made after the first wait is the first turn's.
    let calls: Vec<_> = turns[0]
        .syscalls
        .iter()
        .map(|c| (c.op.name(), c.fd, c.result))
        .collect();
    assert_eq!(
        calls,
        [("recvfrom", std::os::fd::AsRawFd::as_raw_fd(&a), 5)]
    );
    assert!(turns[1].syscalls.is_empty() && turns[2].syscalls.is_empty());
    match kind {
        BackendKind::Select | BackendKind::Poll => assert!(turns[0].wait.fds_passed >= 2),
        _ => assert_eq!(turns[0].wait.fds_passed, 0),
    }
    // Off again: no more turns are kept.
    assert!(sel.trace().is_none());
}
