//! The ring's safe operations against a real kernel, each pitfall provoked on purpose.
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::*;

/// A ring as the server makes one: entered by its registered index.
fn ring() -> Ring {
    let ring = Ring::new(&RingOptions {
        register_ring_fd: true,
        ..RingOptions::default()
    })
    .expect("io_uring is available on the test machines");
    assert!(ring.ring_fd_registered(), "the kernel registers it (5.18+)");
    ring
}

/// One poll of a socket with data waiting, submitted and reaped on `ring`.
fn poll_round_trip(ring: &mut Ring) {
    let (a, mut b) = UnixStream::pair().unwrap();
    b.write_all(b"x").unwrap();
    ring.poll_add(a.as_raw_fd(), libc::POLLIN as u32, false, 5)
        .unwrap();
    let done = reap(ring);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].user_data, 5);
}

/// Waits until a completion arrives and returns every one that is ready.
fn reap(ring: &mut Ring) -> Vec<Completion> {
    let mut all = Vec::new();
    for _ in 0..50 {
        ring.submit_and_wait(Some(Duration::from_millis(100)))
            .unwrap();
        while let Some(c) = ring.next_completion() {
            all.push(c);
        }
        if !all.is_empty() {
            break;
        }
    }
    all
}

#[test]
fn a_setup_the_kernel_refuses_falls_back_to_the_next_and_says_why() {
    // DEFER_TASKRUN without SINGLE_ISSUER is refused (EINVAL) by every kernel that has it.
    let refused = Setup {
        defer_taskrun: true,
        ..Setup::PLAIN
    };
    let ring = Ring::new(&RingOptions {
        setups: vec![refused, Setup::PLAIN],
        ..RingOptions::default()
    })
    .unwrap();
    assert_eq!(ring.setup(), Setup::PLAIN);
    assert_eq!(ring.refused().len(), 1);
    assert_eq!(ring.refused()[0].0, refused);
    assert_eq!(ring.refused()[0].1.raw_os_error(), Some(libc::EINVAL));
    let err = Ring::new(&RingOptions {
        setups: vec![refused],
        ..RingOptions::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("DEFER_TASKRUN"), "{err}");
}

#[test]
fn poll_add_reports_readiness_and_a_timeout_is_not_an_error() {
    let mut ring = ring();
    let (a, mut b) = UnixStream::pair().unwrap();
    ring.poll_add(a.as_raw_fd(), libc::POLLIN as u32, false, 7)
        .unwrap();
    ring.submit_and_wait(Some(Duration::from_millis(10)))
        .unwrap();
    assert!(ring.next_completion().is_none());
    b.write_all(b"x").unwrap();
    let done = reap(&mut ring);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].user_data, 7);
    assert!(done[0].result as i16 & libc::POLLIN != 0);
    assert_eq!(ring.in_flight(), 0);
    let c = ring.counters();
    assert_eq!((c.submissions, c.completions), (1, 1));
    assert!(
        c.enters >= 1,
        "a ready completion needs no enter of its own"
    );
}

#[test]
fn a_send_hands_its_buffer_back_with_the_callers_tag() {
    let mut ring = ring();
    let (a, mut b) = UnixStream::pair().unwrap();
    ring.send(a.as_raw_fd(), b"xxhello".to_vec(), 2, 42)
        .unwrap();
    let done = reap(&mut ring);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].user_data, 42);
    assert_eq!(done[0].result, 5);
    assert_eq!(done[0].sent_buffer.as_deref(), Some(&b"xxhello"[..]));
    let mut got = [0u8; 5];
    b.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello");
    assert!(ring
        .send(a.as_raw_fd(), vec![1], 0, RESERVED_USER_DATA)
        .is_err());
    assert!(ring.send(a.as_raw_fd(), vec![1], 2, 1).is_err());
}

#[test]
fn an_exhausted_buffer_group_ends_the_multishot_recv_and_loses_nothing() {
    let mut ring = ring();
    let group = ring.add_buffer_group(1, 4).unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    b.write_all(b"0123456789").unwrap();
    ring.recv_multi(a.as_raw_fd(), group, 1).unwrap();
    let mut received = Vec::new();
    let mut saw_enobufs = false;
    let mut rounds = 0;
    while received.len() < 10 {
        rounds += 1;
        assert!(rounds < 100, "got only {received:?}");
        // Reap one batch before recycling, so the single buffer really runs dry.
        let batch = reap(&mut ring);
        for c in &batch {
            if c.result == -libc::ENOBUFS {
                saw_enobufs = true;
            } else {
                ring.take_buffer(group, c, |bytes| received.extend_from_slice(bytes));
            }
            if !c.more() {
                ring.recv_multi(a.as_raw_fd(), group, 1).unwrap();
            }
        }
    }
    assert_eq!(received, b"0123456789");
    assert!(
        saw_enobufs,
        "one buffer of 4 bytes cannot take 10 bytes in one go"
    );
}

#[test]
fn cancel_and_close_ends_operations_before_the_number_is_free_again() {
    let mut ring = ring();
    let group = ring.add_buffer_group(4, 64).unwrap();
    let (a, _b) = UnixStream::pair().unwrap();
    let fd = a.as_raw_fd();
    // What the number names now (`socket:[inode]`): other tests' threads may take the number
    // as soon as it is free, so "closed" means "no longer this socket".
    let identity = |fd: i32| std::fs::read_link(format!("/proc/self/fd/{fd}")).ok();
    let socket = identity(fd);
    assert!(socket.is_some());
    ring.recv_multi(fd, group, 1).unwrap();
    ring.submit().unwrap();
    ring.cancel_and_close(OwnedFd::from(a), 2).unwrap();
    let mut tags = Vec::new();
    while tags.len() < 3 {
        for c in reap(&mut ring) {
            tags.push((c.user_data, c.result));
        }
    }
    tags.sort();
    assert_eq!(tags, [(1, -libc::ECANCELED), (2, 0), (2, 1)]);
    assert_ne!(identity(fd), socket, "the ring closed it");
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn completions_beyond_a_tiny_completion_queue_are_kept_by_the_kernel() {
    let mut ring = Ring::new(&RingOptions {
        entries: 4,
        cq_entries: Some(4),
        setups: vec![Setup::PLAIN],
        register_ring_fd: true,
    })
    .unwrap();
    let pairs: Vec<_> = (0..32).map(|_| UnixStream::pair().unwrap()).collect();
    for (i, (a, _)) in pairs.iter().enumerate() {
        ring.poll_add(a.as_raw_fd(), libc::POLLOUT as u32, false, i as u64)
            .unwrap();
    }
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..50 {
        ring.submit_and_wait(Some(Duration::from_millis(20)))
            .unwrap();
        while let Some(c) = ring.next_completion() {
            seen.insert(c.user_data);
        }
        if seen.len() == 32 {
            break;
        }
    }
    assert_eq!(seen.len(), 32, "every completion arrives, overflow or not");
}

#[test]
fn take_overflow_hands_over_every_completion_held_back_without_waiting_again() {
    let mut ring = Ring::new(&RingOptions {
        entries: 4,
        cq_entries: Some(4),
        setups: vec![Setup::PLAIN],
        register_ring_fd: true,
    })
    .unwrap();
    assert!(!ring.take_overflow().unwrap(), "nothing held back yet");
    let pairs: Vec<_> = (0..32).map(|_| UnixStream::pair().unwrap()).collect();
    for (i, (a, _)) in pairs.iter().enumerate() {
        ring.poll_add(a.as_raw_fd(), libc::POLLOUT as u32, false, i as u64)
            .unwrap();
    }
    ring.submit_and_wait(Some(Duration::from_millis(20)))
        .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut overflows = 0;
    loop {
        while let Some(c) = ring.next_completion() {
            seen.insert(c.user_data);
        }
        if !ring.take_overflow().unwrap() {
            break;
        }
        overflows += 1;
    }
    assert_eq!(seen.len(), 32, "every completion, after one wait");
    assert!(!ring.cq_overflowed());
    let c = ring.counters();
    assert!(
        overflows >= 32 / 4 - 1,
        "{overflows} hand-overs of a 4-entry queue"
    );
    assert_eq!(
        c.cq_overflows,
        overflows + 1,
        "the wait found it overflowed too"
    );
    assert_eq!((c.submissions, c.completions), (32, 32));
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn many_connections_share_large_buffers_and_each_stream_stays_whole() {
    let mut ring = ring();
    let group = ring.add_buffer_group(2, 64 * 1024).unwrap();
    let pairs: Vec<_> = (0..8).map(|_| UnixStream::pair().unwrap()).collect();
    for (i, (a, _)) in pairs.iter().enumerate() {
        ring.recv_multi(a.as_raw_fd(), group, i as u64).unwrap();
    }
    let mut expected = vec![Vec::new(); pairs.len()];
    let mut received = vec![Vec::new(); pairs.len()];
    for round in 0..50u8 {
        for (i, (_, b)) in pairs.iter().enumerate() {
            let msg = vec![
                round.wrapping_mul(7).wrapping_add(i as u8);
                1 + (round as usize * 13 + i) % 200
            ];
            (&*b).write_all(&msg).unwrap();
            expected[i].extend_from_slice(&msg);
        }
        let batch = reap(&mut ring);
        receive_into(&mut ring, group, &pairs, batch, &mut received);
    }
    while received != expected {
        let batch = reap(&mut ring);
        assert!(!batch.is_empty(), "bytes missing");
        receive_into(&mut ring, group, &pairs, batch, &mut received);
    }
}

/// Appends each receive completion's bytes to its connection's stream (the tag is the
/// connection's index) and re-arms receives that ended.
fn receive_into(
    ring: &mut Ring,
    group: BufGroup,
    pairs: &[(UnixStream, UnixStream)],
    batch: Vec<Completion>,
    received: &mut [Vec<u8>],
) {
    for c in batch {
        let i = c.user_data as usize;
        if c.result > 0 {
            ring.take_buffer(group, &c, |bytes| received[i].extend_from_slice(bytes));
        }
        if !c.more() {
            ring.recv_multi(pairs[i].0.as_raw_fd(), group, i as u64)
                .unwrap();
        }
    }
}

#[test]
fn dropping_a_ring_with_an_accept_in_flight_takes_no_descriptor_it_does_not_own() {
    // The drop cancels the accept; that cancellation's result (the count cancelled: 1) must
    // not be taken for an accepted descriptor, which would close this process's stdout.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stdout_before = std::fs::read_link("/proc/self/fd/1").unwrap();
    for _ in 0..20 {
        let mut ring = ring();
        // Tag 0, the tag a caller is most likely to give its accept.
        ring.accept_multi(listener.as_raw_fd(), 0).unwrap();
        ring.submit().unwrap();
        drop(ring);
    }
    let stdout_after = std::fs::read_link("/proc/self/fd/1");
    assert_eq!(
        stdout_after.ok(),
        Some(stdout_before),
        "fd 1 was closed (or replaced)"
    );
}

#[test]
fn a_zero_copy_send_reports_its_result_then_hands_the_buffer_back() {
    let mut ring = ring();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut b, _) = listener.accept().unwrap();
    let payload: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    ring.send_zero_copy(a.as_raw_fd(), payload.clone(), 0, 9)
        .unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = vec![0u8; 100_000];
        b.read_exact(&mut got).map(|_| got)
    });
    let (mut result, mut returned) = (None, None);
    while returned.is_none() {
        for c in reap(&mut ring) {
            assert_eq!(c.user_data, 9);
            if c.is_notification() {
                returned = c.sent_buffer;
            } else {
                assert!(
                    c.sent_buffer.is_none() || !c.more(),
                    "buffer back before the kernel is done"
                );
                result = Some(c.result);
                if !c.more() {
                    returned = c.sent_buffer; // no notification follows (the send failed)
                }
            }
        }
    }
    assert_eq!(result, Some(100_000));
    assert_eq!(returned.as_deref(), Some(&payload[..]));
    assert_eq!(reader.join().unwrap().unwrap(), payload);
    assert_eq!(ring.in_flight(), 0);
}

/// A batched wait (`set_min_wait`) waits up to its minimum for the batch, then settles for the
/// one completion there is; a plain wait returns at once. A kernel without
/// `IORING_FEAT_MIN_TIMEOUT` refuses the setting with one clear error.
#[test]
fn a_batched_wait_waits_its_minimum_then_settles_for_what_came() {
    let mut ring = ring();
    let min_wait = Duration::from_millis(40);
    match ring.set_min_wait(min_wait) {
        Ok(()) => {}
        Err(e) => {
            assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{e}");
            assert!(e.to_string().contains("Linux 6.12"), "{e}");
            assert!(
                std::env::var_os("IOMUX_REQUIRE_BACKENDS").is_none() || !ring_has_min_timeout(),
                "the kernel has min_wait, yet it was refused: {e}"
            );
            return;
        }
    }
    let (a, mut b) = UnixStream::pair().unwrap();
    // One completion, ready before the wait: a readable socket's poll.
    b.write_all(b"x").unwrap();
    ring.poll_add(a.as_raw_fd(), libc::POLLIN as u32, false, 1)
        .unwrap();
    let started = std::time::Instant::now();
    ring.submit_and_wait_batched(Some(Duration::from_secs(5)), 8)
        .unwrap();
    let waited = started.elapsed();
    let mut got = Vec::new();
    while let Some(c) = ring.next_completion() {
        got.push(c.user_data);
    }
    assert_eq!(got, vec![1]);
    assert!(
        waited >= min_wait.mul_f64(0.9) && waited < Duration::from_secs(2),
        "a batch of 8 with one completion should wait about {min_wait:?}, waited {waited:?}"
    );
    // A batch of one does not wait for more.
    let mut c = [0u8; 1];
    (&a).read_exact(&mut c).unwrap();
    b.write_all(b"y").unwrap();
    ring.poll_add(a.as_raw_fd(), libc::POLLIN as u32, false, 2)
        .unwrap();
    let started = std::time::Instant::now();
    ring.submit_and_wait_batched(Some(Duration::from_secs(5)), 1)
        .unwrap();
    assert!(started.elapsed() < min_wait, "{:?}", started.elapsed());
    assert_eq!(ring.next_completion().map(|c| c.user_data), Some(2));
}

/// Whether this kernel offers `IORING_FEAT_MIN_TIMEOUT` (6.12+), read from its release.
fn ring_has_min_timeout() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor) >= (6, 12)
}

/// Receives once on `a` into `group` and returns the completion (its buffer not yet taken).
fn receive_one(ring: &mut Ring, group: BufGroup, a: &UnixStream) -> Completion {
    ring.recv_multi(a.as_raw_fd(), group, 1).unwrap();
    let mut batch = reap(ring);
    assert_eq!(batch.len(), 1, "{batch:?}");
    let c = batch.pop().unwrap();
    assert!(c.result > 0, "{c:?}");
    c
}

#[test]
fn received_bytes_are_sent_from_their_buffers_which_go_back_after() {
    let mut ring = ring();
    let group = ring.add_buffer_group(4, 4096).unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    let mut lents = Vec::new();
    for part in [&b"hello"[..], b", ", b"world"] {
        b.write_all(part).unwrap();
        let c = receive_one(&mut ring, group, &a);
        lents.push(ring.lend(group, &c).expect("room to lend"));
    }
    assert!(ring.lent_buffers(group) >= 1);
    // Three loans, one send (a sendmsg of three slices), in order.
    ring.send_lent(a.as_raw_fd(), &mut lents, 7).unwrap();
    assert!(lents.is_empty(), "taken by the send");
    let done: Vec<_> = reap(&mut ring)
        .into_iter()
        .filter(|c| c.user_data == 7)
        .collect();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].result, 12);
    assert_eq!(done[0].lent_unsent.as_deref(), Some(&b""[..]));
    assert!(done[0].sent_buffer.is_none());
    assert_eq!(ring.lent_buffers(group), 0, "the loans ended with the send");
    let mut echoed = [0; 12];
    b.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"hello, world");
    // One loan: a plain send.
    b.write_all(b"!").unwrap();
    let c = receive_one(&mut ring, group, &a);
    let mut one = vec![ring.lend(group, &c).unwrap()];
    ring.send_lent(a.as_raw_fd(), &mut one, 8).unwrap();
    assert_eq!(
        reap(&mut ring)
            .iter()
            .find(|c| c.user_data == 8)
            .unwrap()
            .result,
        1
    );
    b.read_exact(&mut echoed[..1]).unwrap();
    assert_eq!(&echoed[..1], b"!");
}

#[test]
fn a_peer_that_does_not_read_gets_the_rest_copied_and_pins_no_buffer() {
    let mut ring = ring();
    let group = ring.add_buffer_group(2, 64 * 1024).unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    // Fill a's way to b until it takes nothing more: b does not read.
    a.set_nonblocking(true).unwrap();
    let mut filled = 0;
    while let Ok(n) = (&a).write(&[b'f'; 4096]) {
        filled += n;
    }
    let message: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
    b.write_all(&message).unwrap();
    let c = receive_one(&mut ring, group, &a);
    let received = c.result as usize;
    let mut lents = vec![ring.lend(group, &c).unwrap()];
    ring.send_lent(a.as_raw_fd(), &mut lents, 7).unwrap();
    let mut done: Vec<_> = reap(&mut ring)
        .into_iter()
        .filter(|c| c.user_data == 7)
        .collect();
    assert_eq!(done.len(), 1, "the send did not wait for the reader");
    let done = done.pop().unwrap();
    assert!(done.result >= 0, "EAGAIN is 0 bytes sent: {done:?}");
    let sent = done.result as usize;
    assert!(sent < received, "the socket had no room");
    assert_eq!(
        done.lent_unsent.as_deref(),
        Some(&message[sent..received]),
        "the rest, copied"
    );
    assert_eq!(ring.lent_buffers(group), 0, "no buffer stays pinned");
    // Once b reads, what was sent follows the filler, in order.
    let mut got = vec![0; filled + sent];
    b.read_exact(&mut got).unwrap();
    assert!(got[..filled].iter().all(|&x| x == b'f'));
    assert_eq!(&got[filled..], &message[..sent]);
}

#[test]
fn lend_declines_what_it_cannot_lend_and_takes_nothing() {
    let mut ring = ring();
    let group = ring.add_buffer_group(2, 4096).unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    b.write_all(b"x").unwrap();
    let c = receive_one(&mut ring, group, &a);
    let no_bytes = Completion {
        user_data: 1,
        result: 0,
        flags: c.flags,
        sent_buffer: None,
        lent_unsent: None,
        accepted: None,
    };
    assert!(ring.lend(group, &no_bytes).is_none());
    let mut lents = vec![ring.lend(group, &c).unwrap()];
    assert!(
        ring.send_lent(a.as_raw_fd(), &mut lents, RESERVED_USER_DATA)
            .is_err(),
        "a reserved tag"
    );
    assert_eq!(lents.len(), 1, "nothing taken");
    let mut too_many: Vec<Lent> = Vec::new();
    for _ in 0..=MAX_LENT_PER_SEND {
        b.write_all(b"y").unwrap();
        let c = receive_one(&mut ring, group, &a);
        too_many.push(ring.lend(group, &c).unwrap());
    }
    assert!(
        ring.send_lent(a.as_raw_fd(), &mut too_many, 9).is_err(),
        "more slices than one send takes"
    );
    assert_eq!(too_many.len(), MAX_LENT_PER_SEND + 1, "nothing taken");
    for lent in too_many {
        ring.give_back(lent);
    }
    ring.give_back(lents.pop().unwrap());
    assert_eq!(ring.lent_buffers(group), 0, "given back unsent");
}

#[test]
fn a_registered_ring_gives_its_slot_back_when_dropped() {
    // A thread has 16 slots: without the unregistration on drop the 17th ring would enter
    // by its descriptor (and every dropped ring would live on in the kernel).
    for _ in 0..40 {
        let mut ring = ring();
        poll_round_trip(&mut ring);
    }
}

#[test]
fn past_the_threads_sixteen_registrations_a_ring_enters_by_its_descriptor() {
    let mut rings: Vec<Ring> = (0..16).map(|_| ring()).collect();
    let mut extra = Ring::new(&RingOptions {
        register_ring_fd: true,
        ..RingOptions::default()
    })
    .unwrap();
    assert!(!extra.ring_fd_registered(), "the kernel allows 16 a thread");
    poll_round_trip(&mut extra);
    for ring in &mut rings {
        poll_round_trip(ring);
    }
}

#[test]
fn a_ring_moved_to_another_thread_enters_by_its_descriptor() {
    let mut moved = ring();
    std::thread::spawn(move || {
        // This thread's own registered ring takes the same slot: entering by the moved
        // ring's index here would wait on this one instead.
        let mut own = ring();
        poll_round_trip(&mut moved);
        poll_round_trip(&mut own);
        drop(moved); // cannot unregister here; freed when the creating thread ends
    })
    .join()
    .unwrap();
}
