//! The waker: another thread interrupts a blocked select.
use std::thread;
use std::time::{Duration, Instant};

use iomux::{BackendKind, Events, Interest, Selector};

use crate::util::*;

pub fn waker_interrupts_blocked_select_from_another_thread(kind: BackendKind) {
    let (a, _b) = unix_pair();
    let mut sel = Selector::<()>::with_backend(kind).unwrap();
    sel.register(&a, Interest::READ, ()).unwrap();
    let waker = sel.waker().unwrap();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        waker.wake().unwrap();
    });
    let mut events = Events::with_capacity(8);
    let started = Instant::now();
    assert_eq!(
        sel.select(&mut events, None).unwrap(),
        0,
        "a wake is not an event"
    );
    assert!(started.elapsed() < SOON);
    t.join().unwrap();
}

pub fn wake_before_select_returns_at_once_and_only_once(kind: BackendKind) {
    let mut sel = Selector::<()>::with_backend(kind).unwrap();
    let waker = sel.waker().unwrap();
    waker.wake().unwrap();
    waker.clone().wake().unwrap(); // several wakes collapse into one
    let mut events = Events::with_capacity(8);
    let started = Instant::now();
    assert_eq!(sel.select(&mut events, Some(SOON)).unwrap(), 0);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a pending wake returns at once"
    );
    let wait = Duration::from_millis(30);
    let started = Instant::now();
    assert_eq!(sel.select(&mut events, Some(wait)).unwrap(), 0);
    assert!(
        started.elapsed() >= wait,
        "the wake was consumed, so this wait runs its course"
    );
}

pub fn waker_is_not_a_registered_key(kind: BackendKind) {
    let mut sel = Selector::<()>::with_backend(kind).unwrap();
    let _w = sel.waker().unwrap();
    assert_eq!(sel.len(), 0);
    assert_eq!(sel.keys().count(), 0);
}
