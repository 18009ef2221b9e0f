//! No event reaches a registration that was removed or replaced earlier in the same round.
use std::os::fd::AsRawFd;

use iomux::{BackendKind, Events, Interest, Selector};

use crate::util::*;

pub fn unregistered_earlier_in_round_is_not_delivered(kind: BackendKind) {
    let (a, a_peer) = unix_pair();
    let (b, b_peer) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(&a, Interest::READ, "a").unwrap();
    sel.register(&b, Interest::READ, "b").unwrap();
    send(&a_peer, b"1");
    send(&b_peer, b"2");
    let mut events = Events::with_capacity(8);
    assert_eq!(sel.select(&mut events, Some(SOON)).unwrap(), 2);

    // The first handler closes `b` and a newcomer may take its fd number.
    let b_fd = b.as_raw_fd();
    sel.unregister(&b).unwrap();
    drop(b);
    drop(b_peer);
    let (newcomer, newcomer_peer) = unix_pair();
    sel.register(&newcomer, Interest::READ, "newcomer").unwrap();
    send(&newcomer_peer, b"3");

    let delivered: Vec<_> = sel.ready(&events).map(|(k, _)| *k.data()).collect();
    assert_eq!(
        delivered,
        ["a"],
        "b's event must not reach the newcomer (fd reused: {})",
        newcomer.as_raw_fd() == b_fd
    );
}

pub fn readiness_masked_by_interest_changed_in_round(kind: BackendKind) {
    let (a, a_peer) = unix_pair();
    send(&a_peer, b"x");
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(&a, Interest::BOTH, ()).unwrap();
    let mut events = Events::with_capacity(8);
    sel.select(&mut events, Some(SOON)).unwrap();
    sel.set_interest(&a, Interest::WRITE).unwrap();
    let (_, r) = sel.ready(&events).next().expect("still writable");
    assert!(
        r.is_writable() && !r.is_readable(),
        "READ was dropped from the interest: {r:?}"
    );
}
