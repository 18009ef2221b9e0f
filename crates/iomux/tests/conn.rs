//! The connection core (`iomux::conn`): its rules, byte by byte, without a server.
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use iomux::conn::{Connection, Protocol};
use iomux::{Interest, OutBuffer};
use proptest::prelude::*;

/// Echoes every byte.
struct Echo;
impl Protocol for Echo {
    fn on_bytes(&mut self, input: &[u8], out: &mut OutBuffer) {
        out.push(input);
    }
    fn answer_is_input(&self) -> bool {
        true
    }
}

/// Answers each complete line with its length; a line may span any number of reads. Stops
/// reading after a line `quit`, and answers `bye` to the end of stream.
#[derive(Default)]
struct LineLengths {
    line: Vec<u8>,
    quit: bool,
}
impl Protocol for LineLengths {
    fn on_bytes(&mut self, input: &[u8], out: &mut OutBuffer) {
        for &b in input {
            if b == b'\n' {
                out.push(format!("{}\n", self.line.len()).as_bytes());
                self.quit |= self.line == b"quit";
                self.line.clear();
            } else {
                self.line.push(b);
            }
        }
    }
    fn on_end(&mut self, out: &mut OutBuffer) {
        out.push(b"bye\n");
    }
    fn wants_read(&self) -> bool {
        !self.quit
    }
}

fn answer_of(chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut conn = Connection::new(LineLengths::default(), usize::MAX, Instant::now());
    for chunk in chunks {
        conn.receive(chunk, Instant::now());
    }
    conn.owed().to_vec()
}

proptest! {
    /// Framing across reads: however the stream is split, the answers are the same.
    #[test]
    fn any_split_of_the_stream_gives_the_same_answers(
        lines in prop::collection::vec("[a-z]{0,20}", 0..20),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
    ) {
        let stream: Vec<u8> = lines.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect();
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut from = 0;
        for p in points.into_iter().chain([stream.len()]) {
            chunks.push(stream[from..p].to_vec());
            from = p;
        }
        prop_assert_eq!(answer_of(&chunks), answer_of(&[stream]));
    }

    /// Partial writes: whatever the peer's socket takes, bytes in = bytes out + owed, in order.
    #[test]
    fn partial_writes_keep_every_byte_in_order(sizes in prop::collection::vec(1usize..70_000, 1..8)) {
        let (server, client) = UnixStream::pair().unwrap();
        server.set_nonblocking(true).unwrap();
        let mut conn = Connection::new(Echo, usize::MAX, Instant::now());
        let mut sent = Vec::new();
        let mut moved = 0;
        for (i, size) in sizes.iter().enumerate() {
            let chunk = vec![i as u8; *size];
            sent.extend_from_slice(&chunk);
            conn.receive(&chunk, Instant::now());
            let t = conn.write_owed(&server, Instant::now());
            prop_assert!(t.error.is_none());
            moved += t.bytes_out as usize;
            prop_assert_eq!(moved + conn.owed().len(), sent.len());
        }
        // The peer reads everything; the owed rest follows as the socket takes it.
        let reader = std::thread::spawn(move || {
            let mut got = vec![0; sent.len()];
            (&client).read_exact(&mut got).unwrap();
            (got, sent)
        });
        while !conn.owed().is_empty() {
            let t = conn.write_owed(&server, Instant::now());
            prop_assert!(t.error.is_none());
        }
        let (got, sent) = reader.join().unwrap();
        prop_assert!(got == sent, "bytes reordered or lost");
    }
}

#[test]
fn backpressure_stops_reading_past_the_limit_until_drained() {
    let mut conn = Connection::new(Echo, 10, Instant::now());
    assert_eq!(conn.interest(), Some(Interest::READ));
    conn.receive(b"0123456789", Instant::now());
    assert!(conn.wants_read(), "at the limit, not past it");
    assert_eq!(conn.interest(), Some(Interest::BOTH));
    conn.receive(b"x", Instant::now());
    assert!(!conn.wants_read());
    assert_eq!(conn.interest(), Some(Interest::WRITE));
    conn.sent(11, Instant::now());
    assert_eq!(conn.interest(), Some(Interest::READ));
}

proptest! {
    /// The completion driver's path: owed bytes taken out for a send, partial sends, more
    /// answers buffered meanwhile. The bytes delivered are the stream, in order, and the
    /// taken bytes count toward backpressure and finishing until reported sent.
    #[test]
    fn taken_bytes_sent_in_parts_keep_order_and_count_as_owed(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 1..10),
        takes in prop::collection::vec(1usize..200, 1..40),
    ) {
        let mut conn = Connection::new(Echo, 512, Instant::now());
        let stream: Vec<u8> = chunks.concat();
        let mut delivered = Vec::new();
        let mut in_flight: Option<(Vec<u8>, usize)> = None;
        let mut spare = Vec::new();
        let mut pending = chunks.into_iter();
        let mut takes = takes.into_iter().cycle();
        loop {
            if let Some(chunk) = pending.next() {
                conn.receive(&chunk, Instant::now());
            }
            prop_assert_eq!(conn.wants_read(), conn.owed_len() <= 512);
            if in_flight.is_none() && !conn.owed().is_empty() {
                in_flight = Some((conn.take_owed(std::mem::take(&mut spare)), 0));
            }
            if let Some((buf, offset)) = in_flight.take() {
                let n = takes.next().unwrap().min(buf.len() - offset);
                delivered.extend_from_slice(&buf[offset..offset + n]);
                conn.sent(n, Instant::now());
                if offset + n < buf.len() {
                    in_flight = Some((buf, offset + n));
                } else {
                    spare = buf;
                }
            }
            if in_flight.is_none() && conn.owed_len() == 0 && pending.len() == 0 {
                break;
            }
        }
        prop_assert!(delivered == stream, "bytes reordered or lost");
    }
}

proptest! {
    /// The completion driver answering an echo in place (io_uring's lent receive buffers):
    /// a chunk that arrives with nothing buffered may be kept where it landed, queued behind
    /// the send in flight and sent with the other kept chunks; one that may not (or arrives
    /// with bytes buffered) is buffered (copied). Kept chunks go before buffered bytes, a
    /// short send's rest before anything newer. The stream is delivered whole and in order,
    /// and the bytes in flight or kept count as owed throughout.
    #[test]
    fn answers_in_place_and_copies_interleave_without_reordering(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 1..12),
        takes in prop::collection::vec(1usize..200, 1..40),
        arrivals in prop::collection::vec(any::<bool>(), 1..40),
        lends in prop::collection::vec(any::<bool>(), 1..40),
    ) {
        let mut conn = Connection::new(Echo, usize::MAX, Instant::now());
        let stream: Vec<u8> = chunks.concat();
        let mut delivered = Vec::new();
        let mut kept: Vec<Vec<u8>> = Vec::new();
        let mut in_flight: Option<(Vec<u8>, usize)> = None;
        let mut pending = chunks.into_iter();
        let mut takes = takes.into_iter().cycle();
        let mut arrivals = arrivals.into_iter().cycle();
        let mut lends = lends.into_iter().cycle();
        for _ in 0..10_000 {
            if arrivals.next() == Some(true) || in_flight.is_none() {
                if let Some(chunk) = pending.next() {
                    if conn.answers_in_place() && lends.next() == Some(true) {
                        conn.receive_answered_in_place(chunk.len(), Instant::now());
                        kept.push(chunk);
                    } else {
                        conn.receive(&chunk, Instant::now());
                        prop_assert!(!conn.answers_in_place(), "bytes are buffered now");
                    }
                }
            }
            if in_flight.is_none() {
                if !kept.is_empty() {
                    in_flight = Some((kept.concat(), 0));
                    kept.clear();
                } else if !conn.owed().is_empty() {
                    in_flight = Some((conn.take_owed(Vec::new()), 0));
                }
            }
            let in_flight_len = in_flight.as_ref().map_or(0, |(b, o)| b.len() - o);
            let kept_len: usize = kept.iter().map(Vec::len).sum();
            prop_assert_eq!(conn.owed_len(), in_flight_len + kept_len + conn.owed().len());
            if let Some((buf, offset)) = in_flight.take() {
                let n = takes.next().unwrap().min(buf.len() - offset);
                delivered.extend_from_slice(&buf[offset..offset + n]);
                conn.sent(n, Instant::now());
                if offset + n < buf.len() {
                    in_flight = Some((buf, offset + n));
                }
            }
            if in_flight.is_none() && kept.is_empty() && conn.owed_len() == 0 && pending.len() == 0 {
                break;
            }
        }
        prop_assert!(delivered == stream, "bytes reordered or lost");
    }
}

#[test]
fn taken_bytes_keep_a_draining_connection_open_until_sent() {
    let mut conn = Connection::new(Echo, usize::MAX, Instant::now());
    conn.receive(b"abc", Instant::now());
    conn.start_draining();
    let taken = conn.take_owed(Vec::new());
    assert_eq!(taken, b"abc");
    assert!(conn.owed().is_empty());
    assert!(!conn.is_finished(), "3 bytes are still on their way");
    conn.sent(3, Instant::now());
    assert!(conn.is_finished());
}

#[test]
fn half_close_delivers_what_is_owed_then_finishes() {
    let mut conn = Connection::new(LineLengths::default(), usize::MAX, Instant::now());
    conn.receive(b"abc\n", Instant::now());
    conn.receive_end();
    assert_eq!(
        conn.owed(),
        b"3\nbye\n",
        "the end of stream is answered too"
    );
    assert_eq!(conn.interest(), Some(Interest::WRITE));
    assert!(!conn.is_finished());
    conn.sent(6, Instant::now());
    assert!(conn.is_finished());
    assert_eq!(conn.interest(), None);
}

#[test]
fn draining_stops_reading_and_finishes_once_delivered() {
    let mut conn = Connection::new(Echo, usize::MAX, Instant::now());
    conn.receive(b"owed", Instant::now());
    conn.start_draining();
    assert_eq!(conn.interest(), Some(Interest::WRITE));
    conn.sent(4, Instant::now());
    assert_eq!(conn.interest(), None);
}

#[test]
fn a_protocol_that_stops_reading_finishes_after_its_answer() {
    let mut conn = Connection::new(LineLengths::default(), usize::MAX, Instant::now());
    conn.receive(b"quit\nignored", Instant::now());
    assert!(!conn.wants_read());
    assert_eq!(conn.interest(), Some(Interest::WRITE));
    conn.sent(2, Instant::now());
    assert_eq!(conn.interest(), None);
}

#[test]
fn read_available_answers_counts_and_reports_resets() {
    let (server, mut client) = UnixStream::pair().unwrap();
    server.set_nonblocking(true).unwrap();
    let mut conn = Connection::new(Echo, usize::MAX, Instant::now());
    let mut buf = [0u8; 4];
    client.write_all(b"hello, world").unwrap();
    let t = conn.read_available(&server, &mut buf, Instant::now(), false);
    assert!(t.error.is_none());
    assert_eq!(
        (t.bytes_in, t.bytes_out, t.more_to_read),
        (4, 4, true),
        "one full buffer a call: its budget, and it says more may wait"
    );
    let mut calls = 1;
    while conn
        .read_available(&server, &mut buf, Instant::now(), false)
        .more_to_read
    {
        calls += 1;
    }
    assert_eq!(calls, 3, "12 bytes: three full buffers, then WouldBlock");
    let mut echoed = [0u8; 12];
    client.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"hello, world");
    // The peer goes away: end of stream, and the connection is finished.
    drop(client);
    let t = conn.read_available(&server, &mut buf, Instant::now(), true);
    assert!(t.error.is_none());
    assert!(conn.is_finished());
}

/// Answers each chunk later (as if a worker thread computed it): one answer awaited at a time.
#[derive(Default)]
struct Deferred {
    waiting: Option<Vec<u8>>,
}

impl Protocol for Deferred {
    fn on_bytes(&mut self, input: &[u8], _out: &mut OutBuffer) {
        self.waiting = Some(input.to_ascii_uppercase());
    }
    fn awaiting(&self) -> bool {
        self.waiting.is_some()
    }
}

#[test]
fn an_awaited_answer_parks_the_connection_until_it_is_handed_in() {
    let mut conn = Connection::new(Deferred::default(), 1 << 20, Instant::now());
    conn.receive(b"hi", Instant::now());
    assert!(!conn.wants_read(), "no reading while an answer is awaited");
    assert!(!conn.is_finished());
    assert_eq!(
        conn.interest(),
        Some(Interest::NONE),
        "parked: nothing owed, nothing to read"
    );
    // The peer ends its stream meanwhile: still not finished, the answer is owed.
    conn.receive_end();
    assert!(!conn.is_finished());
    conn.answer_later(|p, out| out.push(&p.waiting.take().unwrap()));
    assert_eq!(conn.owed(), b"HI");
    assert_eq!(conn.interest(), Some(Interest::WRITE));
    conn.sent(2, Instant::now());
    assert!(conn.is_finished());
}

/// An echo is sent straight from the read buffer while nothing is queued; when the socket
/// takes only part, the rest is queued and goes out first, before any later answer: the peer
/// gets every byte, in order.
#[test]
fn an_echo_sent_from_the_read_buffer_keeps_order_across_a_short_write() {
    let (server, client) = UnixStream::pair().unwrap();
    server.set_nonblocking(true).unwrap();
    client.set_nonblocking(true).unwrap();
    let mut conn = Connection::new(Echo, 1 << 30, Instant::now());
    let mut buf = vec![0u8; 16 * 1024];
    let pattern: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let (mut sent, mut received) = (Vec::new(), Vec::new());
    let mut queued_once = false;
    // The client sends and does not read: the server's answers fill its socket, and an echo
    // comes back short.
    for _ in 0..200 {
        if let Ok(n) = (&client).write(&pattern[sent.len() % pattern.len()..]) {
            sent.extend_from_slice(&pattern[sent.len() % pattern.len()..][..n]);
        }
        let t = conn.read_available(&server, &mut buf, Instant::now(), false);
        assert!(t.error.is_none());
        if conn.owed_len() > 0 {
            queued_once = true;
            break;
        }
    }
    assert!(queued_once, "the socket never refused part of an echo");
    // Now the client reads: the queue goes first, then whatever arrives after.
    let mut chunk = vec![0u8; 64 * 1024];
    for _ in 0..10_000 {
        let w = conn.write_owed(&server, Instant::now());
        assert!(w.error.is_none());
        let r = conn.read_available(&server, &mut buf, Instant::now(), false);
        assert!(r.error.is_none());
        if let Ok(n) = (&client).read(&mut chunk) {
            received.extend_from_slice(&chunk[..n]);
        }
        if received.len() == sent.len() && conn.owed_len() == 0 {
            break;
        }
    }
    assert_eq!(received.len(), sent.len());
    assert!(received == sent, "the echo came back out of order");
}
