//! register / modify / unregister and their errors.
use std::io::{Read, Write};
use std::os::fd::AsRawFd;

use iomux::{BackendKind, Error, Interest, Selector};

use crate::util::*;

pub fn register_returns_key_and_lookup_finds_it(kind: BackendKind) {
    let (a, _b) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    assert_eq!(sel.backend(), kind);
    let key = sel.register(&a, Interest::READ, "a").unwrap();
    assert_eq!(
        (key.fd(), key.interest(), *key.data()),
        (a.as_raw_fd(), Interest::READ, "a")
    );
    assert_eq!(sel.len(), 1);
    assert_eq!(*sel.get_key(&a).unwrap().data(), "a");
    let key = sel.unregister(&a).unwrap();
    assert_eq!(key.into_data(), "a");
    assert!(sel.is_empty() && sel.get_key(&a).is_none());
}

pub fn register_twice_is_refused_and_changes_nothing(kind: BackendKind) {
    let (a, _b) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(&a, Interest::READ, 1).unwrap();
    let err = sel.register(&a, Interest::WRITE, 2).unwrap_err();
    assert!(
        matches!(err, Error::AlreadyRegistered { fd } if fd == a.as_raw_fd()),
        "{err}"
    );
    let key = sel.get_key(&a).unwrap();
    assert_eq!(
        (key.interest(), *key.data(), sel.len()),
        (Interest::READ, 1, 1)
    );
}

pub fn empty_interest_is_refused(kind: BackendKind) {
    let (a, _b) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    let empty = Interest::READ.remove(Interest::READ);
    assert!(matches!(
        sel.register(&a, empty, ()),
        Err(Error::EmptyInterest { .. })
    ));
    assert!(sel.is_empty());
    sel.register(&a, Interest::READ, ()).unwrap();
    assert!(matches!(
        sel.set_interest(&a, empty),
        Err(Error::EmptyInterest { .. })
    ));
    assert_eq!(sel.get_key(&a).unwrap().interest(), Interest::READ);
}

pub fn negative_fd_is_refused(kind: BackendKind) {
    let mut sel = Selector::<()>::with_backend(kind).unwrap();
    assert!(matches!(
        sel.register(-1, Interest::READ, ()),
        Err(Error::InvalidFd { fd: -1 })
    ));
    assert!(sel.is_empty());
}

pub fn closed_fd_is_refused(kind: BackendKind) {
    // fd 999 is below FD_SETSIZE, so select's refusal must be about the fd being closed. This
    // test runs alone, so no other test can open fd 999 meanwhile.
    let fd = 999;
    assert!(!iomux_sys::fd::is_open(fd), "fd 999 is unexpectedly open");
    let mut sel = Selector::<()>::with_backend(kind).unwrap();
    let err = sel.register(fd, Interest::READ, ()).unwrap_err();
    assert!(matches!(err, Error::InvalidFd { fd: 999 }), "{err}");
    assert!(sel.is_empty());
}

pub fn unregister_after_close_succeeds(kind: BackendKind) {
    let (a, _b) = unix_pair();
    let fd = a.as_raw_fd();
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(fd, Interest::READ, 7).unwrap();
    drop(a);
    assert_eq!(sel.unregister(fd).unwrap().into_data(), 7);
    assert!(sel.is_empty());
}

pub fn modify_changes_interest_and_data(kind: BackendKind) {
    let (a, _b) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(&a, Interest::READ, "reading").unwrap();
    expect_no_events(&mut sel);
    let key = sel.modify(&a, Interest::WRITE, "writing").unwrap();
    assert_eq!((key.interest(), *key.data()), (Interest::WRITE, "writing"));
    let ready = select_ready(&mut sel, Some(SOON));
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].1, "writing");
    assert!(ready[0].2.is_writable());
    sel.set_interest(&a, Interest::READ).unwrap();
    expect_no_events(&mut sel);
    assert_eq!(*sel.get_key(&a).unwrap().data(), "writing");
}

pub fn modify_or_unregister_unknown_fd_is_refused(kind: BackendKind) {
    let (a, _b) = unix_pair();
    let mut sel = Selector::<()>::with_backend(kind).unwrap();
    let fd = a.as_raw_fd();
    assert!(
        matches!(sel.modify(&a, Interest::READ, ()), Err(Error::NotRegistered { fd: f }) if f == fd)
    );
    assert!(matches!(
        sel.set_interest(&a, Interest::READ),
        Err(Error::NotRegistered { .. })
    ));
    assert!(matches!(
        sel.unregister(&a),
        Err(Error::NotRegistered { .. })
    ));
    sel.register(&a, Interest::READ, ()).unwrap();
    sel.unregister(&a).unwrap();
    assert!(matches!(
        sel.unregister(&a),
        Err(Error::NotRegistered { .. })
    ));
}

pub fn keys_iterate_in_fd_order(kind: BackendKind) {
    let pairs: Vec<_> = (0..5).map(|_| unix_pair()).collect();
    let mut sel = Selector::with_backend(kind).unwrap();
    for (i, (a, _)) in pairs.iter().enumerate().rev() {
        sel.register(a, Interest::READ, i).unwrap();
    }
    let fds: Vec<_> = sel.keys().map(|k| k.fd()).collect();
    let mut sorted = fds.clone();
    sorted.sort();
    assert_eq!(fds, sorted);
    assert_eq!(fds.len(), 5);
}

pub fn drop_releases_everything(kind: BackendKind) {
    use std::rc::Rc;
    let data = Rc::new(());
    let (a, _b) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(&a, Interest::READ, data.clone()).unwrap();
    let _ = sel.waker().unwrap();
    assert_eq!(Rc::strong_count(&data), 2);
    drop(sel);
    assert_eq!(
        Rc::strong_count(&data),
        1,
        "the key's data is dropped with the selector"
    );
}

/// A registration modified many times while the peer keeps waking it, then unregistered and
/// closed: the socket really closes (the peer reads its end of stream). On io_uring a poll
/// removed while its wake-up was being handled used to live on and hold the file open.
pub fn modified_while_woken_then_closed_really_closes(kind: BackendKind) {
    let (mut client, server) = tcp_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(&server, Interest::READ, ()).unwrap();
    for i in 0..200 {
        client.write_all(b"x").unwrap();
        let interest = if i % 2 == 0 {
            Interest::BOTH
        } else {
            Interest::READ
        };
        sel.set_interest(&server, interest).unwrap();
        select_ready(&mut sel, Some(std::time::Duration::ZERO));
    }
    sel.unregister(&server).unwrap();
    drop(server);
    client.set_nonblocking(false).unwrap();
    client.set_read_timeout(Some(SOON)).unwrap();
    let mut rest = Vec::new();
    let end = client.read_to_end(&mut rest);
    assert!(
        end.is_ok() || matches!(&end, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "the closed socket was kept open: {end:?}"
    );
}

/// `kernel_fd` names the kernel object the backend waits on (epoll's or io_uring's), which
/// Python's `EpollSelector.fileno()` shows; select and poll have none.
pub fn kernel_fd_names_the_backends_kernel_object(kind: BackendKind) {
    let sel = Selector::<()>::with_backend(kind).unwrap();
    let expected = match kind {
        BackendKind::Select | BackendKind::Poll => None,
        BackendKind::Epoll | BackendKind::EpollEdge => Some("anon_inode:[eventpoll]"),
        BackendKind::IoUring | BackendKind::IoUringEdge => Some("anon_inode:[io_uring]"),
        other => panic!("a new backend, {other}: say what its kernel object is"),
    };
    let named = sel.kernel_fd().map(|fd| {
        std::fs::read_link(format!("/proc/self/fd/{fd}"))
            .unwrap()
            .display()
            .to_string()
    });
    assert_eq!(named.as_deref(), expected);
}
