//! Timeouts: none blocks, zero polls, anything else waits at least that long; EINTR is retried.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use iomux::{BackendKind, Events, Interest, Selector};

use crate::util::*;

pub fn zero_timeout_returns_at_once(kind: BackendKind) {
    let (a, _b) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(&a, Interest::READ, ()).unwrap();
    let started = Instant::now();
    let mut events = Events::with_capacity(8);
    assert_eq!(sel.select(&mut events, Some(Duration::ZERO)).unwrap(), 0);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a zero timeout must not wait"
    );
}

pub fn bounded_timeout_waits_at_least_that_long(kind: BackendKind) {
    let (a, _b) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(&a, Interest::READ, ()).unwrap();
    let mut events = Events::with_capacity(8);
    for wait in [Duration::from_micros(300), Duration::from_millis(30)] {
        let started = Instant::now();
        assert_eq!(sel.select(&mut events, Some(wait)).unwrap(), 0);
        let took = started.elapsed();
        assert!(
            took >= wait,
            "returned after {took:?}, before the {wait:?} timeout"
        );
    }
}

pub fn blocking_select_returns_on_event(kind: BackendKind) {
    let (a, b) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(&a, Interest::READ, ()).unwrap();
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        send(&b, b"late");
        b
    });
    let mut events = Events::with_capacity(8);
    assert_eq!(sel.select(&mut events, None).unwrap(), 1);
    let _b = writer.join().unwrap();
}

pub fn eintr_is_retried_with_remaining_time(kind: BackendKind) {
    let got_signal = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(libc::SIGUSR2, got_signal.clone()).unwrap();
    let (a, _b) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(&a, Interest::READ, ()).unwrap();
    let me = iomux_sys::process::ThreadHandle::current();
    let signaller = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        me.signal(libc::SIGUSR2).unwrap();
    });
    let wait = Duration::from_millis(150);
    let started = Instant::now();
    let mut events = Events::with_capacity(8);
    assert_eq!(sel.select(&mut events, Some(wait)).unwrap(), 0);
    let took = started.elapsed();
    signaller.join().unwrap();
    assert!(
        got_signal.load(Ordering::SeqCst),
        "the signal was delivered"
    );
    assert!(took >= wait, "the wait was cut short by EINTR: {took:?}");
    assert!(
        sel.stats().wait_calls >= 2,
        "the interrupted wait was resumed"
    );
}
