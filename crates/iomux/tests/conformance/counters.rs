//! The cost counters move as each mechanism's cost model says.
use std::time::Duration;

use iomux::{BackendKind, Events, Interest, Selector};

use crate::util::*;

pub fn counters_move_as_they_should(kind: BackendKind) {
    let pairs: Vec<_> = (0..10).map(|_| unix_pair()).collect();
    let mut sel = Selector::with_backend(kind).unwrap();
    for (i, (a, _)) in pairs.iter().enumerate() {
        sel.register(a, Interest::READ, i).unwrap();
    }
    sel.set_interest(&pairs[0].0, Interest::BOTH).unwrap();
    sel.set_interest(&pairs[0].0, Interest::BOTH).unwrap(); // unchanged: no syscall
    send(&pairs[3].1, b"x");
    let mut events = Events::with_capacity(16);
    sel.select(&mut events, Some(Duration::ZERO)).unwrap();
    sel.select(&mut events, Some(Duration::ZERO)).unwrap();
    let s = sel.stats();
    // Under `interrupted::`, an interrupted wait is retried: a wait call more, unless it had
    // events to deliver all the same (a ring's completions reaped after the interruption).
    let calls = s.wait_calls;
    let interrupted = interrupted_waits();
    assert!(
        (2..=2 + interrupted).contains(&calls),
        "{calls} wait calls, {interrupted} interrupted"
    );
    match kind {
        BackendKind::Select | BackendKind::Poll => {
            assert_eq!(
                s.fds_passed,
                10 * calls,
                "the whole set of 10, on each call"
            );
            assert_eq!(s.ctl_calls, 0, "registration is bookkeeping only");
        }
        _ => {
            assert_eq!(s.fds_passed, 0, "epoll passes no fds per wait");
            assert_eq!(s.ctl_calls, 11, "10 adds and 1 modify");
        }
    }
    let per_wait = if kind.is_edge_triggered() {
        [2, 0]
    } else {
        [2, 2]
    }; // fd 0 writable, fd 3 readable
    assert_eq!(s.events_returned, (per_wait[0] + per_wait[1]) as u64);
    sel.reset_stats();
    assert_eq!(sel.stats(), iomux::Stats::default());
}

pub fn wait_time_is_counted(kind: BackendKind) {
    let mut sel = Selector::<()>::with_backend(kind).unwrap();
    let (a, _b) = unix_pair();
    sel.register(&a, Interest::READ, ()).unwrap();
    let mut events = Events::with_capacity(4);
    sel.select(&mut events, Some(Duration::from_millis(20)))
        .unwrap();
    assert!(sel.stats().wait_time >= Duration::from_millis(20));
    assert!(sel.stats().fds_per_wait() >= 0.0);
}
