//! Level-triggered re-reports while ready; edge-triggered reports each new readiness once.
use std::io::Read;
use std::time::Duration;

use iomux::{BackendKind, Interest, Selector};

use crate::util::*;

pub fn level_or_edge_after_partial_read(kind: BackendKind) {
    let (a, b) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(&a, Interest::READ, ()).unwrap();
    send(&b, &[7u8; 100]);
    assert!(expect_event_for(&mut sel, &a).is_readable());
    let mut part = [0u8; 10];
    (&a).read_exact(&mut part).unwrap();
    let again = select_ready(&mut sel, Some(Duration::from_millis(20)));
    if kind.is_edge_triggered() {
        assert!(
            again.is_empty(),
            "edge-triggered: no new data, no new report"
        );
    } else {
        assert_eq!(
            again.len(),
            1,
            "level-triggered: 90 bytes still wait, so it is reported again"
        );
    }
}

pub fn edge_reports_once_per_new_data(kind: BackendKind) {
    let (a, b) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(&a, Interest::READ, ()).unwrap();
    let mut reports = 0;
    for round in 0..3 {
        send(&b, &[round as u8]);
        for _ in 0..2 {
            reports += select_ready(&mut sel, Some(Duration::from_millis(10))).len();
        }
    }
    if kind.is_edge_triggered() {
        assert_eq!(
            reports, 3,
            "one report per write, none for the unread remainder"
        );
    } else {
        assert_eq!(reports, 6, "every wait reports the unread data");
    }
}

// Edge-triggered and one-shot *registrations* (`Interest::edge`, `Interest::oneshot`): the
// same semantics on every backend, native on epoll and io_uring, emulated on select and poll.

pub fn edge_registration_reports_once_per_new_data(kind: BackendKind) {
    let (a, b) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(&a, Interest::READ.edge(), ()).unwrap();
    let mut reports = 0;
    for round in 0..3 {
        send(&b, &[round as u8]);
        for _ in 0..2 {
            reports += select_ready(&mut sel, Some(Duration::from_millis(10))).len();
        }
    }
    assert_eq!(
        reports, 3,
        "one report per write, none for the unread remainder"
    );
}

pub fn edge_registration_after_partial_read_reports_nothing_new(kind: BackendKind) {
    let (a, b) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(&a, Interest::READ.edge(), ()).unwrap();
    send(&b, &[7u8; 100]);
    assert!(expect_event_for(&mut sel, &a).is_readable());
    let mut part = [0u8; 10];
    (&a).read_exact(&mut part).unwrap();
    assert!(select_ready(&mut sel, Some(Duration::from_millis(20))).is_empty());
    send(&b, b"more");
    assert!(
        expect_event_for(&mut sel, &a).is_readable(),
        "new data is a new edge"
    );
}

/// The liveness an edge-triggered program relies on: a socket drained before the wait is
/// reported when data arrives *during* the wait (on select and poll this is what the
/// emulation must not lose).
pub fn edge_registration_wakes_a_blocked_wait_for_a_drained_socket(kind: BackendKind) {
    let (a, b) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(&a, Interest::READ.edge(), ()).unwrap();
    send(&b, b"first");
    assert!(expect_event_for(&mut sel, &a).is_readable());
    let mut buf = [0u8; 64];
    while (&a).read(&mut buf).is_ok() {} // drained: WouldBlock
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        send(&b, b"second");
        b
    });
    let started = std::time::Instant::now();
    let ready = select_ready(&mut sel, Some(Duration::from_secs(5)));
    assert_eq!(ready.len(), 1, "woken by the new data");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "not by the timeout"
    );
    drop(writer.join());
}

pub fn edge_registration_reports_writable_again_after_the_buffer_drains(kind: BackendKind) {
    let (a, b) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(&a, Interest::WRITE.edge(), ()).unwrap();
    assert!(expect_event_for(&mut sel, &a).is_writable());
    assert!(
        select_ready(&mut sel, Some(Duration::from_millis(10))).is_empty(),
        "still writable: no new edge"
    );
    // Fill the buffer, then let the peer take it all: new space is a new edge.
    let chunk = [0u8; 4096];
    while std::io::Write::write(&mut &a, &chunk).is_ok() {}
    assert!(
        select_ready(&mut sel, Some(Duration::from_millis(10))).is_empty(),
        "full"
    );
    let mut sink = [0u8; 65536];
    while (&b).read(&mut sink).is_ok() {}
    assert!(expect_event_for(&mut sel, &a).is_writable());
}

pub fn oneshot_registration_reports_once_until_modified(kind: BackendKind) {
    let (a, b) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(&a, Interest::READ.oneshot(), "a").unwrap();
    send(&b, b"data");
    assert!(expect_event_for(&mut sel, &a).is_readable());
    // Still readable, but spent: silent.
    assert!(select_ready(&mut sel, Some(Duration::from_millis(20))).is_empty());
    send(&b, b"more");
    assert!(select_ready(&mut sel, Some(Duration::from_millis(20))).is_empty());
    // Modified to the same interest: armed again, and reported again (the data is there).
    sel.set_interest(&a, Interest::READ.oneshot()).unwrap();
    assert!(expect_event_for(&mut sel, &a).is_readable());
    assert!(select_ready(&mut sel, Some(Duration::from_millis(20))).is_empty());
    // Modified to a plain interest: the backend's own triggering from then on.
    sel.set_interest(&a, Interest::READ).unwrap();
    assert!(expect_event_for(&mut sel, &a).is_readable());
    if !kind.is_edge_triggered() {
        assert!(
            expect_event_for(&mut sel, &a).is_readable(),
            "level: again and again"
        );
    }
}

// `still_ready`: a program that stopped reading before the socket was drained (its budget)
// is served again at the next wait, whatever the triggering.

/// Reported once more at the next wait, at once, however triggered; then as the triggering
/// says (level: again while data waits; edge: not until new data).
pub fn still_ready_reports_an_undrained_socket_once_more(kind: BackendKind) {
    let (a, b) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(&a, Interest::READ, ()).unwrap();
    send(&b, &[7u8; 100]);
    let readiness = expect_event_for(&mut sel, &a);
    let mut part = [0u8; 10];
    (&a).read_exact(&mut part).unwrap();
    sel.still_ready(&a, readiness);
    sel.still_ready(&a, readiness); // said twice in a round: still one report
    let started = std::time::Instant::now();
    let again = select_ready(&mut sel, Some(Duration::from_secs(5)));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the wait only looked"
    );
    assert_eq!(again.len(), 1, "one report, not one per call: {again:?}");
    assert!(again[0].2.is_readable());
    let after = select_ready(&mut sel, Some(Duration::from_millis(20)));
    if kind.is_edge_triggered() {
        assert!(after.is_empty(), "edge: said once, reported once");
    } else {
        assert_eq!(after.len(), 1, "level: 90 bytes still wait");
    }
}

/// On an edge registration (native or emulated), the same: once more, then nothing new.
pub fn still_ready_on_an_edge_registration_reports_once_more(kind: BackendKind) {
    let (a, b) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(&a, Interest::READ.edge(), ()).unwrap();
    send(&b, &[7u8; 100]);
    let readiness = expect_event_for(&mut sel, &a);
    let mut part = [0u8; 10];
    (&a).read_exact(&mut part).unwrap();
    sel.still_ready(&a, readiness);
    let again = select_ready(&mut sel, Some(Duration::from_secs(5)));
    assert_eq!(again.len(), 1, "{again:?}");
    assert!(select_ready(&mut sel, Some(Duration::from_millis(20))).is_empty());
}

/// Said twice before the wait with different readiness (an edge backend can report one fd twice
/// in a wait: io_uring's multishot polls post a completion per wake-up), it is handed back once
/// with both: the peer's end of stream, which the kernel reports once, is not lost because a
/// plain "readable" was said first. (Found by a stress client: an io-uring-et server that
/// echoed everything and never closed, its socket in CLOSE_WAIT.)
pub fn still_ready_said_twice_hands_back_every_condition(kind: BackendKind) {
    let (a, b) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    // A readiness with the peer's end of stream in it, where the backend can report that
    // (select cannot), taken from another socket whose peer shut its writing side.
    let (c, d) = unix_pair();
    d.shutdown(std::net::Shutdown::Write).unwrap();
    sel.register(&c, Interest::READ, ()).unwrap();
    let closed = expect_event_for(&mut sel, &c);
    sel.unregister(&c).unwrap();
    sel.register(&a, Interest::READ.edge(), ()).unwrap();
    send(&b, &[7u8; 100]);
    let readable = expect_event_for(&mut sel, &a);
    assert!(!readable.is_read_closed(), "{readable:?}");
    sel.still_ready(&a, readable);
    sel.still_ready(&a, closed);
    let again = select_ready(&mut sel, Some(Duration::from_secs(5)));
    assert_eq!(again.len(), 1, "{again:?}");
    let handed = again[0].2;
    assert!(handed.is_readable(), "{handed:?}");
    assert_eq!(
        handed.is_read_closed(),
        closed.is_read_closed(),
        "said: {readable:?}, then {closed:?}; handed back: {handed:?}"
    );
}

/// Said, then unregistered before the wait: the event is stale and not delivered, also to a
/// socket registered since on the same fd number.
pub fn still_ready_for_an_unregistered_fd_is_not_delivered(kind: BackendKind) {
    let (a, b) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(&a, Interest::READ.edge(), "old").unwrap();
    send(&b, b"x");
    let readiness = expect_event_for(&mut sel, &a);
    sel.still_ready(&a, readiness);
    sel.unregister(&a).unwrap();
    sel.register(&a, Interest::READ.edge(), "new").unwrap();
    let ready = select_ready(&mut sel, Some(Duration::from_millis(20)));
    assert!(
        ready.iter().all(|(_, data, _)| *data == "new"),
        "the old registration's event was dropped: {ready:?}"
    );
    assert!(ready.len() <= 1, "{ready:?}");
}
