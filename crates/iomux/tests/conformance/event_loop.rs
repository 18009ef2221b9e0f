//! The callback event loop, on every backend.
use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};

use iomux::{BackendKind, EventLoop, Interest};

/// The notes' selectors server: accept callback, read callback, upper-case + `_SB` reply.
pub fn loop_serves_accept_and_read_callbacks(kind: BackendKind) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut lp = EventLoop::with_backend(kind).unwrap();
    assert_eq!(lp.backend(), kind);
    lp.register(
        listener,
        Interest::READ,
        |lp, listener: &mut TcpListener, _| {
            while let Ok((conn, _)) = listener.accept() {
                conn.set_nonblocking(true).unwrap();
                lp.register(conn, Interest::READ, |lp, conn: &mut TcpStream, _| {
                    let mut buf = [0u8; 1024];
                    match conn.read(&mut buf) {
                        Ok(0) => lp.unregister_current(),
                        Ok(n) => {
                            let mut reply = buf[..n].to_ascii_uppercase();
                            reply.extend_from_slice(b"_SB");
                            conn.write_all(&reply).unwrap();
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => lp.unregister_current(),
                    }
                })
                .unwrap();
            }
        },
    )
    .unwrap();
    let stop = lp.stop_handle();
    let clients = thread::spawn(move || {
        let replies: Vec<String> = (0..5)
            .map(|i| {
                let mut c = TcpStream::connect(addr).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                c.write_all(format!("hello{i}").as_bytes()).unwrap();
                let mut buf = [0u8; 64];
                let n = c.read(&mut buf).unwrap();
                String::from_utf8_lossy(&buf[..n]).into_owned()
            })
            .collect();
        stop.stop();
        replies
    });
    lp.run().unwrap();
    let replies = clients.join().unwrap();
    assert_eq!(
        replies,
        (0..5).map(|i| format!("HELLO{i}_SB")).collect::<Vec<_>>()
    );
}

pub fn loop_timers_run_in_order_and_cancel(kind: BackendKind) {
    let mut lp = EventLoop::with_backend(kind).unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
    let started = Instant::now();
    lp.call_later(Duration::from_millis(30), move |lp| {
        l1.borrow_mut().push("30ms");
        lp.stop();
    });
    lp.call_later(Duration::from_millis(10), move |_| {
        l2.borrow_mut().push("10ms")
    });
    let cancelled = lp.call_later(Duration::from_millis(20), move |_| {
        l3.borrow_mut().push("cancelled")
    });
    assert!(lp.cancel(cancelled));
    assert!(!lp.cancel(cancelled));
    lp.run().unwrap();
    assert_eq!(*log.borrow(), ["10ms", "30ms"]);
    assert!(started.elapsed() >= Duration::from_millis(30));
}

pub fn loop_stop_handle_from_another_thread(kind: BackendKind) {
    let mut lp = EventLoop::with_backend(kind).unwrap();
    let stop = lp.stop_handle();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        stop.stop();
    });
    let started = Instant::now();
    lp.run().unwrap();
    assert!(started.elapsed() < crate::util::SOON);
    t.join().unwrap();
}

pub fn loop_unregister_in_callback_closes_source(kind: BackendKind) {
    let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let mut lp = EventLoop::with_backend(kind).unwrap();
    lp.register(
        a,
        Interest::READ,
        |lp, a: &mut std::os::unix::net::UnixStream, _| {
            let mut buf = [0u8; 8];
            assert_eq!(a.read(&mut buf).unwrap(), 3);
            lp.unregister_current();
            lp.stop();
        },
    )
    .unwrap();
    b.write_all(b"bye").unwrap();
    lp.run().unwrap();
    assert!(lp.is_empty());
    b.set_read_timeout(Some(crate::util::SOON)).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(
        b.read(&mut buf).unwrap(),
        0,
        "the loop dropped (closed) the source"
    );
}

/// A callback that runs rounds of its own loop: they serve the other ready sources and skip
/// the one whose callback is running (it cannot be called while it runs), and leave it the
/// running source for the rest of its callback.
pub fn loop_round_inside_a_callback_skips_the_running_source(kind: BackendKind) {
    use std::os::unix::net::UnixStream;
    let (a, mut a_peer) = UnixStream::pair().unwrap();
    let (b, mut b_peer) = UnixStream::pair().unwrap();
    let calls = Rc::new(RefCell::new(Vec::new()));
    let mut lp = EventLoop::with_backend(kind).unwrap();
    let seen = calls.clone();
    let mut b_writer = b_peer.try_clone().unwrap();
    lp.register(a, Interest::READ, move |lp, _: &mut UnixStream, _| {
        seen.borrow_mut().push("a");
        // `a` stays readable (nothing is read), and `b` becomes readable now.
        b_writer.write_all(b"b").unwrap();
        let started = Instant::now();
        while !seen.borrow().contains(&"b") && started.elapsed() < crate::util::SOON {
            lp.run_once(Some(Duration::from_millis(50))).unwrap();
        }
        seen.borrow_mut().push("a done");
        // The inner rounds left `a` the running source.
        lp.unregister_current();
        lp.stop();
    })
    .unwrap();
    let seen = calls.clone();
    let b_fd = lp
        .register(b, Interest::READ, move |lp, b: &mut UnixStream, _| {
            let mut buf = [0u8; 8];
            let _ = b.read(&mut buf);
            seen.borrow_mut().push("b");
            lp.unregister_current();
        })
        .unwrap();
    a_peer.write_all(b"a").unwrap();
    lp.run().unwrap();
    assert_eq!(*calls.borrow(), ["a", "b", "a done"]);
    assert!(
        !lp.registered_fds().contains(&b_fd),
        "b unregistered itself"
    );
    b_peer.set_read_timeout(Some(crate::util::SOON)).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(b_peer.read(&mut buf).unwrap(), 0, "and the loop closed it");
    assert!(
        lp.is_empty(),
        "a unregistered itself after its inner rounds"
    );
    a_peer.set_read_timeout(Some(crate::util::SOON)).unwrap();
    // Closed with the byte unread: an end of stream, or a reset.
    let closed = a_peer.read(&mut buf);
    assert!(
        matches!(&closed, Ok(0))
            || matches!(&closed, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "the loop closed a: {closed:?}"
    );
}

pub fn loop_notifier_runs_callback_from_another_thread(kind: BackendKind) {
    let mut lp = EventLoop::with_backend(kind).unwrap();
    let runs = Rc::new(RefCell::new(0));
    let seen = runs.clone();
    let notifier = lp
        .notifier(move |lp| {
            *seen.borrow_mut() += 1;
            lp.stop();
        })
        .unwrap();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        notifier.notify().unwrap();
        notifier.notify().unwrap();
    });
    lp.run().unwrap();
    t.join().unwrap();
    // Both notifications may land before the loop wakes (one run) or not (a second run later).
    lp.run_once(Some(Duration::from_millis(10))).unwrap();
    let runs = *runs.borrow();
    assert!((1..=2).contains(&runs), "ran {runs} times");
    assert_eq!(
        lp.registered_fds().len(),
        1,
        "the notifier is a registered source"
    );
}

pub fn loop_channel_carries_values_from_threads_in_order(kind: BackendKind) {
    let mut lp = EventLoop::with_backend(kind).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let seen = got.clone();
    let sender = lp
        .channel(move |lp, value: u32| {
            seen.borrow_mut().push(value);
            if value == 999 {
                lp.stop();
            }
        })
        .unwrap();
    let senders: Vec<_> = (0..2)
        .map(|t| {
            let sender = sender.clone();
            thread::spawn(move || {
                for i in 0..500 {
                    // Thread 0 sends evens, thread 1 odds; each thread's own order must hold.
                    sender.send(i * 2 + t).unwrap();
                }
            })
        })
        .collect();
    for t in senders {
        t.join().unwrap();
    }
    lp.run().unwrap();
    let got = got.borrow();
    assert_eq!(got.len(), 1000, "every value arrived once");
    for parity in 0..2 {
        let mine: Vec<u32> = got.iter().copied().filter(|v| v % 2 == parity).collect();
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "a thread's values stay in order"
        );
    }
    // Unregistering the channel's source ends it: a later send gives the value back.
    let fd = lp.registered_fds()[0];
    lp.unregister(fd).unwrap();
    assert_eq!(sender.send(7), Err(7));
}

/// A parked source (interest NONE) is not reported even while its peer's end of stream stays
/// readable; it keeps its callback, and watching it again (from a timer) brings the callback
/// back. Parking from inside its own callback keeps the callback too.
pub fn loop_parked_source_is_silent_until_watched_again(kind: BackendKind) {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    drop(theirs); // end of stream: readable for good
    let mut lp = EventLoop::with_backend(kind).unwrap();
    let calls = Rc::new(RefCell::new(0));
    let seen = calls.clone();
    let fd = lp
        .register(ours, Interest::READ, move |lp, _: &mut _, _| {
            *seen.borrow_mut() += 1;
            let me = lp.current_fd().unwrap();
            lp.modify(me, Interest::NONE).unwrap(); // park myself
        })
        .unwrap();
    assert_eq!(lp.run_once(Some(Duration::from_secs(1))).unwrap(), 1);
    assert_eq!(lp.len(), 1, "a parked source is still the loop's");
    assert_eq!(lp.registered_fds(), vec![fd]);
    for _ in 0..3 {
        lp.run_once(Some(Duration::from_millis(10))).unwrap();
    }
    assert_eq!(*calls.borrow(), 1, "a parked source was reported");
    lp.call_later(Duration::ZERO, move |lp| {
        lp.modify(fd, Interest::READ).unwrap()
    });
    lp.run_once(Some(Duration::ZERO)).unwrap(); // the timer watches it again
    lp.run_once(Some(Duration::from_secs(1))).unwrap();
    assert_eq!(*calls.borrow(), 2, "the callback came back with the source");
    lp.unregister(fd).unwrap(); // parked again by the callback: unregistering drops it
    assert!(lp.is_empty());
}

/// A callback that reads a share of what waits and says [`EventLoop::still_ready`] runs again
/// next round without blocking, until the socket is drained, on every backend: ten rounds of
/// ten bytes, not one round and a stall (edge) or a wait for news.
pub fn loop_still_ready_serves_a_source_again_next_round(kind: BackendKind) {
    let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    theirs.write_all(&[1u8; 100]).unwrap();
    let mut lp = EventLoop::with_backend(kind).unwrap();
    let got = Rc::new(RefCell::new(0usize));
    let seen = got.clone();
    lp.register(
        ours,
        Interest::READ,
        move |lp, ours: &mut std::os::unix::net::UnixStream, readiness| {
            let mut share = [0u8; 10];
            if let Ok(n) = ours.read(&mut share) {
                *seen.borrow_mut() += n;
                if n == share.len() {
                    lp.still_ready(lp.current_fd().unwrap(), readiness);
                }
            }
        },
    )
    .unwrap();
    let started = Instant::now();
    let mut rounds = 0;
    while *got.borrow() < 100 && started.elapsed() < Duration::from_secs(5) {
        rounds += lp.run_once(Some(Duration::from_secs(1))).unwrap();
    }
    assert_eq!(*got.borrow(), 100, "the source was drained");
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "no round waited for news: {:?}",
        started.elapsed()
    );
    assert_eq!(rounds, 10, "one share a round");
}
