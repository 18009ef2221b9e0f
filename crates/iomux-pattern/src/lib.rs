//! What `iomux load` and `iomux bench soak` send, and how they check what comes back.
//!
//! [`stream`] is the byte stream a load connection sends (a window of a fixed table, so sending
//! costs no generation and checking is one `memcmp`); [`EchoCheck`] follows one connection of
//! an echo protocol: what it sent, what came back and was right, which messages that
//! completes. It holds no socket, so the fuzz target `load_verify` can feed it any bytes split
//! anywhere.
pub mod stream;

pub use stream::PERIOD;

/// An echoed chunk that is not what was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// Bytes differ from the stream at this offset.
    Wrong {
        /// Stream offset of the chunk's first byte.
        offset: u64,
    },
    /// More came back than was sent.
    TooMuch {
        /// Bytes sent so far.
        sent: u64,
        /// Bytes received, counting the chunk.
        received: u64,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Wrong { offset } => write!(f, "wrong bytes at stream offset {offset}"),
            Mismatch::TooMuch { sent, received } => {
                write!(f, "{received} bytes came back where {sent} were sent")
            }
        }
    }
}

/// One connection of an echo protocol with fixed-size messages: the stream offset of the next
/// byte to send and of the next byte expected back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EchoCheck {
    start: u64,
    message: u64,
    sent: u64,
    received: u64,
}

impl EchoCheck {
    /// Connection number `id`, sending messages of `message` bytes (at least 1).
    pub fn new(id: usize, message: usize) -> EchoCheck {
        EchoCheck {
            start: stream::start_for(id),
            message: message.max(1) as u64,
            sent: 0,
            received: 0,
        }
    }

    /// The next `len` bytes to send (at most [`PERIOD`]), counted as sent.
    pub fn send(&mut self, len: usize) -> &'static [u8] {
        let bytes = stream::window(self.start, self.sent, len.min(PERIOD));
        self.sent += bytes.len() as u64;
        bytes
    }

    /// Bytes sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Bytes that came back and were right.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Whether everything sent has come back.
    pub fn is_answered(&self) -> bool {
        self.received == self.sent
    }

    /// Takes a chunk that came back: how many messages it completed, or why it is wrong (then
    /// nothing of it is counted, and the connection should be given up).
    pub fn take(&mut self, chunk: &[u8]) -> Result<u64, Mismatch> {
        let received = self.received + chunk.len() as u64;
        if received > self.sent {
            return Err(Mismatch::TooMuch {
                sent: self.sent,
                received,
            });
        }
        if !stream::matches(self.start, self.received, chunk) {
            return Err(Mismatch::Wrong {
                offset: self.received,
            });
        }
        let completed = received / self.message - self.received / self.message;
        self.received = received;
        Ok(completed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_split_of_the_echo_completes_each_message_once(
            id in 0usize..1000,
            size in 1usize..300,
            messages in 1usize..40,
            cuts in prop::collection::vec(1usize..500, 1..60),
        ) {
            let mut check = EchoCheck::new(id, size);
            let sent: Vec<u8> = check.send(size * messages).to_vec();
            let mut at = 0;
            let mut completed = 0;
            for cut in cuts.iter().cycle() {
                if at == sent.len() {
                    break;
                }
                let end = (at + cut).min(sent.len());
                completed += check.take(&sent[at..end]).unwrap();
                prop_assert_eq!(completed, (end / size) as u64);
                at = end;
            }
            prop_assert!(check.is_answered());
            prop_assert_eq!(check.take(&[sent[0]]), Err(Mismatch::TooMuch { sent: sent.len() as u64, received: sent.len() as u64 + 1 }));
        }
    }

    #[test]
    fn a_wrong_byte_counts_nothing() {
        let mut check = EchoCheck::new(3, 8);
        let mut sent = check.send(16).to_vec();
        sent[9] ^= 1;
        assert_eq!(check.take(&sent[..8]), Ok(1));
        assert_eq!(check.take(&sent[8..]), Err(Mismatch::Wrong { offset: 8 }));
        assert_eq!(check.received(), 8);
    }
}
