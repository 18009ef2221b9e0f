//! Thousands of fds, and select's FD_SETSIZE wall.
use std::io::{PipeReader, PipeWriter, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use iomux::{BackendKind, Error, Events, Interest, Selector, FD_SETSIZE};

use crate::util::*;

fn pipes(n: usize) -> Vec<(PipeReader, PipeWriter)> {
    let limit = iomux_sys::process::raise_nofile_limit().unwrap();
    assert!(
        limit as usize > 2 * n + 64,
        "RLIMIT_NOFILE {limit} is too low for {n} pipes"
    );
    (0..n).map(|_| std::io::pipe().unwrap()).collect()
}

/// poll and epoll watch 5,000 fds at once; select watches as many as fit below FD_SETSIZE.
pub fn thousands_of_fds(kind: BackendKind) {
    let pipes = pipes(5_000);
    let mut sel = Selector::with_backend(kind).unwrap();
    let mut registered = Vec::new();
    for (i, (reader, _)) in pipes.iter().enumerate() {
        if kind == BackendKind::Select && reader.as_raw_fd() as usize >= FD_SETSIZE {
            continue;
        }
        sel.register(reader, Interest::READ, i).unwrap();
        registered.push(i);
    }
    if kind.scans_every_fd() && kind == BackendKind::Select {
        assert!(
            registered.len() > 400,
            "select watched {} fds",
            registered.len()
        );
    } else {
        assert_eq!(registered.len(), 5_000);
    }
    let mut want: Vec<usize> = registered.iter().copied().step_by(97).collect();
    for &i in &want {
        (&pipes[i].1).write_all(b"!").unwrap();
    }
    let mut got: Vec<usize> = Vec::new();
    let mut events = iomux::Events::with_capacity(64); // epoll: fewer slots than ready fds
    while got.len() < want.len() {
        sel.select(&mut events, Some(SOON)).unwrap();
        assert!(
            !events.is_empty(),
            "lost events: got {} of {}",
            got.len(),
            want.len()
        );
        for (key, _) in sel.ready(&events) {
            got.push(*key.data());
        }
        for &i in &got {
            if sel.get_key(&pipes[i].0).is_some() {
                sel.unregister(&pipes[i].0).unwrap();
            }
        }
    }
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

/// Every end of this many socket pairs is registered for writing, all ready at once: more than
/// an io_uring backend's submission queue (1,024) and completion queue (2,048) hold.
const READY_PAIRS: usize = 2_500;

/// One select() reports every ready registration, however many (CPython's
/// test_above_fd_setsize asks this of every scalable selector), when the events buffer has
/// room: io_uring must submit every queued poll, in as many rounds as its submission queue
/// needs, and take the completions the kernel kept back when its completion queue overflowed.
/// select watches as many as fit below FD_SETSIZE.
pub fn one_select_reports_thousands_of_ready_fds(kind: BackendKind) {
    let limit = iomux_sys::process::raise_nofile_limit().unwrap();
    assert!(
        limit as usize > 2 * READY_PAIRS + 64,
        "RLIMIT_NOFILE {limit} is too low for {READY_PAIRS} socket pairs"
    );
    let pairs: Vec<(UnixStream, UnixStream)> = (0..READY_PAIRS).map(|_| unix_pair()).collect();
    let mut sel = Selector::with_backend(kind).unwrap();
    let mut want = Vec::new();
    for (end, fd) in pairs.iter().flat_map(|(a, b)| [a, b]).enumerate() {
        if kind == BackendKind::Select && fd.as_raw_fd() as usize >= FD_SETSIZE {
            continue;
        }
        sel.register(fd, Interest::WRITE, end).unwrap();
        want.push(end);
    }
    if kind != BackendKind::Select {
        assert_eq!(want.len(), 2 * READY_PAIRS);
    }
    let mut events = Events::with_capacity(want.len());
    let reported = |sel: &mut Selector<usize>, events: &mut Events| {
        sel.select(events, Some(SOON)).unwrap();
        let mut got: Vec<usize> = sel
            .ready(events)
            .inspect(|(_, readiness)| assert!(readiness.is_writable()))
            .map(|(key, _)| *key.data())
            .collect();
        got.sort();
        got
    };
    let got = reported(&mut sel, &mut events);
    assert_eq!(got.len(), want.len(), "one select() reports every ready fd");
    assert_eq!(got, want);
    if matches!(kind, BackendKind::IoUring | BackendKind::IoUringEdge) {
        let stats = sel.stats();
        assert_eq!(stats.submissions, want.len() as u64, "every poll submitted");
        assert!(stats.completions >= want.len() as u64, "{stats:?}");
        assert!(
            stats.enter_calls > (want.len() / 1024) as u64,
            "a submission queue's worth per io_uring_enter: {stats:?}"
        );
    }
    if !kind.is_edge_triggered() {
        // Still ready: level-triggering reports them all again (io_uring re-arms every poll,
        // more than its submission queue holds, before this wait).
        assert_eq!(reported(&mut sel, &mut events), want, "and again");
    }
}

/// select refuses an fd at or above FD_SETSIZE with a clear error; poll and epoll take it.
pub fn fd_at_or_above_fd_setsize(kind: BackendKind) {
    let pipes = pipes(FD_SETSIZE / 2 + 20);
    let (high, _) = pipes.iter().max_by_key(|(r, _)| r.as_raw_fd()).unwrap();
    assert!(high.as_raw_fd() as usize >= FD_SETSIZE);
    let (low, _) = &pipes[0];
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(low, Interest::READ, "low").unwrap();
    let result = sel.register(high, Interest::READ, "high");
    if kind == BackendKind::Select {
        let err = result.unwrap_err();
        assert!(
            matches!(err, Error::FdTooLarge { limit: 1024, .. }),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains("FD_SETSIZE") && message.contains("poll") && message.contains("epoll"),
            "{message}"
        );
        assert_eq!(sel.len(), 1, "a refused registration changes nothing");
        assert!(sel.get_key(high).is_none());
        // still works for the rest
        (&pipes[0].1).write_all(b"x").unwrap();
        assert!(expect_event_for(&mut sel, low).is_readable());
    } else {
        result.unwrap();
        (&pipes
            .iter()
            .find(|(r, _)| r.as_raw_fd() == high.as_raw_fd())
            .unwrap()
            .1)
            .write_all(b"x")
            .unwrap();
        assert!(expect_event_for(&mut sel, high).is_readable());
    }
}
