//! Property tests for OutBuffer: whatever the writer accepts, bytes come out whole and in order.
#![allow(missing_docs)]
use std::io::{self, Write};

use iomux::{Flush, OutBuffer};
use proptest::prelude::*;

/// A writer that takes at most the next scripted amount per call (0 = WouldBlock), and
/// sometimes reports EINTR.
struct Stingy {
    out: Vec<u8>,
    script: Vec<usize>,
    step: usize,
}

impl Write for Stingy {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let allowance = self.script[self.step % self.script.len()];
        self.step += 1;
        match allowance {
            0 => Err(io::ErrorKind::WouldBlock.into()),
            1 if self.step.is_multiple_of(7) => Err(io::ErrorKind::Interrupted.into()),
            n => {
                let n = n.min(buf.len());
                self.out.extend_from_slice(&buf[..n]);
                Ok(n)
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

proptest! {
    #[test]
    fn bytes_arrive_whole_and_in_order(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..3000), 0..40),
        script in prop::collection::vec(0usize..5000, 1..20),
    ) {
        let mut script = script;
        if script.iter().all(|&n| n == 0) { script.push(100); }
        let mut w = Stingy { out: Vec::new(), script, step: 0 };
        let mut buf = OutBuffer::with_limit(4096);
        let mut expected = Vec::new();
        for chunk in &chunks {
            expected.extend_from_slice(chunk);
            buf.write_or_buffer(&mut w, chunk).unwrap();
            prop_assert_eq!(w.out.len() + buf.len(), expected.len());
            prop_assert_eq!(buf.is_over_limit(), buf.len() > 4096);
        }
        let mut rounds = 0;
        while buf.flush_to(&mut w).unwrap() == Flush::Blocked {
            rounds += 1;
            prop_assert!(rounds < 100_000);
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(w.out, expected);
    }

    #[test]
    fn consume_and_push_keep_fifo_order(ops in prop::collection::vec((any::<bool>(), 0usize..9000), 0..60)) {
        let mut buf = OutBuffer::with_limit(1 << 20);
        let mut model = std::collections::VecDeque::new();
        let mut next = 0u8;
        for (push, n) in ops {
            if push {
                let bytes: Vec<u8> = (0..n).map(|_| { next = next.wrapping_add(1); next }).collect();
                buf.push(&bytes);
                model.extend(bytes);
            } else {
                let n = n.min(model.len());
                buf.consume(n);
                model.drain(..n);
            }
            let expected: Vec<u8> = model.iter().copied().collect();
            prop_assert_eq!(buf.as_slice(), expected.as_slice());
        }
    }
}

#[test]
fn a_hard_error_keeps_the_bytes() {
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut buf = OutBuffer::with_limit(10);
    buf.push(b"abc");
    assert_eq!(
        buf.flush_to(&mut Broken).unwrap_err().kind(),
        io::ErrorKind::BrokenPipe
    );
    assert_eq!(buf.as_slice(), b"abc");
}

#[test]
fn a_write_of_nothing_is_write_zero_and_keeps_the_bytes() {
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Ok(0)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut buf = OutBuffer::with_limit(10);
    buf.push(b"abc");
    assert_eq!(
        buf.flush_to(&mut Full).unwrap_err().kind(),
        io::ErrorKind::WriteZero
    );
    assert_eq!(buf.as_slice(), b"abc");
    // An empty buffer writes nothing and is done.
    buf.consume(3);
    assert_eq!(buf.flush_to(&mut Full).unwrap(), Flush::Done);
}
